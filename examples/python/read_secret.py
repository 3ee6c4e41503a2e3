"""Read one secret from the org-secrets table, as an internal Python service does.

The recipe of docs/storage-contract.md, runnable (tests/api/binding.rs runs it against
DynamoDB Local). It needs boto3 and cryptography, ENCRYPTION_KEY (the function's key list)
and SECRETS_TABLE_NAME; AWS access comes from boto3's usual configuration.

    python read_secret.py ORG_ID SECRET_NAME

prints the SHA-256 of the value (never the value) and exits 0, or names the refusal on
stderr and exits 1. In a service, call read_secret() and use the value.
"""

import base64
import hashlib
import hmac as constant_time
import os
import struct
import sys

import boto3
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

BINDING_INFO = b"org-secrets/token-binding/v1"


class Refused(Exception):
    """The item exists but is not this secret's: copied, tampered with, or unbound."""


def binding_for(key: str, org_id: str, secret_name: str, token: str) -> str:
    """The binding of token to org_id/secret_name under one Fernet key (see src/crypto/binding.rs)."""
    mac_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=BINDING_INFO).derive(
        base64.urlsafe_b64decode(key)
    )
    mac = hmac.HMAC(mac_key, hashes.SHA256())
    for part in (org_id.encode("utf-8"), secret_name.encode("utf-8")):
        mac.update(struct.pack(">I", len(part)) + part)
    mac.update(token.encode("ascii"))
    return "v1:" + base64.urlsafe_b64encode(mac.finalize()).decode("ascii")


def read_secret(table, key_list: str, org_id: str, secret_name: str) -> str:
    keys = [k.strip() for k in key_list.split(",")]
    item = table.get_item(
        Key={"org_id": org_id, "secret_name": secret_name}, ConsistentRead=True
    ).get("Item")
    if item is None:
        raise KeyError(f"{org_id}/{secret_name}: no such secret")
    token = item.get("encrypted_value", "")
    stored = item.get("binding", "").encode("utf-8")
    try:
        bound = any(
            constant_time.compare_digest(
                stored, binding_for(k, org_id, secret_name, token).encode("ascii")
            )
            for k in keys
        )
    except UnicodeEncodeError:  # a token that is not ASCII is not a Fernet token
        bound = False
    if not bound:
        raise Refused(f"{org_id}/{secret_name}: the binding is missing or does not match")
    try:
        return MultiFernet([Fernet(k) for k in keys]).decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise Refused(f"{org_id}/{secret_name}: no configured key opens the token") from None


if __name__ == "__main__":
    org_id, secret_name = sys.argv[1], sys.argv[2]
    table = boto3.resource("dynamodb").Table(os.environ["SECRETS_TABLE_NAME"])
    try:
        value = read_secret(table, os.environ["ENCRYPTION_KEY"], org_id, secret_name)
    except (KeyError, Refused) as err:
        print(f"refused: {err}", file=sys.stderr)
        sys.exit(1)
    print(hashlib.sha256(value.encode("utf-8")).hexdigest())
