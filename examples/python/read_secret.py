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
from decimal import Decimal

import boto3
from boto3.dynamodb.types import Binary
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

BINDING_INFO = b"org-secrets/token-binding/v1"
# Tokens never expire; a TTL this long only turns on the clock-skew check.
NO_EXPIRY_TTL = 2**63


class Refused(Exception):
    """The item exists but is not this secret's: copied, tampered with, or unbound."""


class Malformed(Refused):
    """The item's encrypted_value or binding is not a string (or the token is missing): not
    something the function writes, so refused like any other tampering."""


def string_attribute(item: dict, name: str, where: str) -> str:
    """item[name] if it is a string; Malformed names its type (never its contents) if not."""
    if name not in item:
        raise Malformed(f"{where}: {name} is missing")
    value = item[name]
    if not isinstance(value, str):
        raise Malformed(f"{where}: {name} is {dynamodb_type(value)}, not a string")
    return value


def dynamodb_type(value) -> str:
    """The DynamoDB type boto3's resource API turned into this Python value."""
    for python_type, dynamodb in (
        (bool, "a boolean (BOOL)"),  # before numbers: bool is an int
        (Decimal, "a number (N)"),
        ((Binary, bytes, bytearray), "a binary (B)"),
        (list, "a list (L)"),
        (dict, "a map (M)"),
        (set, "a set (SS, NS or BS)"),
        (type(None), "null (NULL)"),
    ):
        if isinstance(value, python_type):
            return dynamodb
    return type(value).__name__


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
    where = f"{org_id}/{secret_name}"
    if item is None:
        raise KeyError(f"{where}: no such secret")
    token = string_attribute(item, "encrypted_value", where)
    # No binding at all is the ordinary refusal below; a binding of another type is malformed.
    stored = string_attribute(item, "binding", where).encode("utf-8") if "binding" in item else b""
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
        raise Refused(f"{where}: the binding is missing or does not match")
    try:
        # A TTL far beyond any token's age, so that `cryptography` also applies the Fernet
        # spec's 60-second clock-skew rule (it checks skew only with a TTL), as the Rust
        # reader does: a token stamped in the future is refused by both.
        return (
            MultiFernet([Fernet(k) for k in keys])
            .decrypt(token.encode("ascii"), ttl=NO_EXPIRY_TTL)
            .decode("utf-8")
        )
    except (InvalidToken, UnicodeError):
        raise Refused(f"{where}: no configured key opens the token") from None


if __name__ == "__main__":
    org_id, secret_name = sys.argv[1], sys.argv[2]
    table = boto3.resource("dynamodb").Table(os.environ["SECRETS_TABLE_NAME"])
    try:
        value = read_secret(table, os.environ["ENCRYPTION_KEY"], org_id, secret_name)
    except (KeyError, Refused) as err:
        print(f"refused: {err}", file=sys.stderr)
        sys.exit(1)
    print(hashlib.sha256(value.encode("utf-8")).hexdigest())
