"""The key list, the binding, and what a read checks of an item (docs/storage-contract.md,
"The binding" and "What a read checks"). src/crypto/binding.rs is the Rust side."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from typing import Any, List, Mapping, Optional, Tuple

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import Malformed, NotBound, Undecryptable

BINDING_INFO = b"org-secrets/token-binding/v1"
# Tokens never expire; a TTL this long only turns on the Fernet spec's 60 s clock-skew check
# (cryptography checks the skew only when given a TTL), as the Rust reader does.
NO_EXPIRY_TTL = 2**63
_FERNET_KEY = re.compile(r"[A-Za-z0-9_-]{43}=")
# What a token may be made of: URL-safe base64 with its padding (the length is checked by
# decoding and encoding again).
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_U64_TEXT = re.compile(r"\+?[0-9]+")
MAX_VERSION = 2**64 - 1  # the largest u64

Item = Mapping[str, Any]  # an item in DynamoDB's low-level JSON: {"name": {"S": "..."}}
_TYPE_NAMES = {
    "S": "a string (S)",
    "N": "a number (N)",
    "B": "a binary (B)",
    "BOOL": "a boolean (BOOL)",
    "NULL": "null (NULL)",
    "L": "a list (L)",
    "M": "a map (M)",
    "SS": "a string set (SS)",
    "NS": "a number set (NS)",
    "BS": "a binary set (BS)",
}


def parse_key_list(key_list: str) -> List[str]:
    """``ENCRYPTION_KEY`` split on ``,``, each entry stripped, as the function does; each must
    be a Fernet key in its canonical form. ValueError says which entry is wrong and how, never
    what it holds."""
    if not isinstance(key_list, str):
        raise ValueError("is not a string")
    entries = [entry.strip() for entry in key_list.split(",")]
    if entries == [""]:
        raise ValueError("is empty")
    for position, entry in enumerate(entries, start=1):
        where = f"entry {position} of {len(entries)}"
        if not entry:
            raise ValueError(f"{where} is empty (a doubled or trailing comma?)")
        if "+" in entry or "/" in entry:
            raise ValueError(
                f"{where} uses the standard base64 alphabet ('+' or '/'); Fernet keys are URL-safe"
            )
        if not _FERNET_KEY.fullmatch(entry):
            raise ValueError(f"{where} is not a Fernet key (43 URL-safe base64 characters and '=')")
        if base64.urlsafe_b64encode(base64.urlsafe_b64decode(entry)).decode("ascii") != entry:
            raise ValueError(f"{where} is not canonical base64 (its last character carries spare bits)")
    return entries


def binding_key(fernet_key: str) -> bytes:
    """The binding's MAC key: HKDF-SHA256 of the Fernet key's 32 bytes, for this purpose only."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=BINDING_INFO)
    return hkdf.derive(base64.urlsafe_b64decode(fernet_key))


def binding_for(mac_key: bytes, org_id: str, secret_name: str, token: str) -> str:
    """``v1:`` + URL-safe base64 of HMAC-SHA256(u32be(len(org)) org u32be(len(name)) name token)."""
    mac = hmac.new(mac_key, digestmod=hashlib.sha256)
    for part in (org_id.encode("utf-8"), secret_name.encode("utf-8")):
        mac.update(struct.pack(">I", len(part)) + part)
    mac.update(token.encode("ascii"))
    return "v1:" + base64.urlsafe_b64encode(mac.digest()).decode("ascii")


def _type_of(attribute: object) -> str:
    if isinstance(attribute, Mapping) and len(attribute) == 1:
        (tag,) = attribute.keys()
        return _TYPE_NAMES.get(tag, "of an unknown type")
    return "of an unknown type"


def _string(attribute: object) -> Optional[str]:
    if isinstance(attribute, Mapping) and set(attribute) == {"S"} and isinstance(attribute["S"], str):
        return attribute["S"]
    return None


def _version(item: Item) -> Optional[int]:
    """The item's version: a number (N) that is a whole number from 1 to 2^64 - 1, as the
    Rust reader reads a u64 and ignores 0; else None (missing or anything else: legacy)."""
    attribute = item.get("version")
    if not (isinstance(attribute, Mapping) and isinstance(attribute.get("N"), str)):
        return None
    text = attribute["N"]
    # What Rust's u64 parse takes: ASCII digits, an optional leading "+" (int() would also
    # take whitespace, "_" and non-ASCII digits).
    if not _U64_TEXT.fullmatch(text):
        return None
    version = int(text)
    return version if 1 <= version <= MAX_VERSION else None


class KeyRing:
    """The configured keys: every one opens tokens and verifies bindings."""

    def __init__(self, key_list: str) -> None:
        keys = parse_key_list(key_list)
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        self._mac_keys = [binding_key(key) for key in keys]

    def __repr__(self) -> str:
        return f"KeyRing({len(self._mac_keys)} keys)"

    def open_item(self, org_id: str, name: str, item: Item) -> Tuple[str, Optional[int]]:
        """The value and version of a found item, checked in the contract's order: the token
        is a string (else Malformed), some key opens it to UTF-8 (else Undecryptable), and
        the binding is a string equal to the binding under some key (else NotBound).

        No frame an error is raised from holds the plaintext (error trackers capture a
        traceback's locals): the binding is judged before the token is opened, opening
        happens in a helper that raises nothing, and the errors are raised here, outside
        any ``except`` block, so that they keep no context either."""
        where = {"org_id": org_id, "secret": name}
        if "encrypted_value" not in item:
            raise Malformed("encrypted_value is missing", **where)
        token = _string(item["encrypted_value"])
        if token is None:
            raise Malformed(
                f"encrypted_value is {_type_of(item['encrypted_value'])}, not a string", **where
            )
        if not _is_canonical_token(token):
            # cryptography's base64 decoder skips characters outside the alphabet; the Rust
            # reader's does not: both refuse what is not canonical padded URL-safe base64.
            raise Undecryptable("no configured key opens the token", **where)
        version = _version(item)
        unbound = self._binding_problem(org_id, name, token, item)
        if unbound is not None:
            # Undecryptable comes first in the contract's order, so the token is opened
            # still, in a helper that gives back only why it does not open.
            undecryptable = self._decryption_problem(token)
            if undecryptable is not None:
                raise Undecryptable(undecryptable, **where)
            raise NotBound(unbound, **where)
        value, why_not = self._decrypt(token)
        if value is None:
            raise Undecryptable(why_not, **where)
        return value, version

    def _binding_problem(self, org_id: str, name: str, token: str, item: Item) -> Optional[str]:
        """Why the item's binding does not bind the token to org_id/name, or None."""
        if "binding" not in item:
            return "the binding is missing (an item not yet bound)"
        stored = _string(item["binding"])
        if stored is None:
            return f"the binding is {_type_of(item['binding'])}, not a string"
        expected = [binding_for(key, org_id, name, token).encode("ascii") for key in self._mac_keys]
        stored_bytes = stored.encode("utf-8", "surrogatepass")
        if not any(hmac.compare_digest(stored_bytes, binding) for binding in expected):
            return "the binding does not match this organization, name and token"
        return None

    def _decrypt(self, token: str) -> Tuple[Optional[str], str]:
        """(the value, "") if some key opens the (canonical) token to UTF-8 text, else
        (None, why not). Nothing is raised: an error's context would hold the bytes."""
        try:
            plaintext = self._fernet.decrypt(token.encode("ascii"), ttl=NO_EXPIRY_TTL)
        except InvalidToken:
            return None, "no configured key opens the token"
        try:
            return plaintext.decode("utf-8"), ""
        except UnicodeDecodeError:  # its .object is the plaintext: it ends with this frame
            return None, "the decrypted value is not UTF-8"

    def _decryption_problem(self, token: str) -> Optional[str]:
        """Why the token does not open to UTF-8 text, or None: a verdict, never the value."""
        return self._decrypt(token)[1] or None


def _is_canonical_token(token: str) -> bool:
    """Whether ``token`` is canonical padded URL-safe base64: only A-Z, a-z, 0-9, ``-`` and
    ``_``, then the ``=`` padding its length needs (a multiple of 4), and no spare bits set
    in its last character; what encoding its bytes gives again."""
    if not _BASE64URL.fullmatch(token):
        return False
    try:
        decoded = base64.urlsafe_b64decode(token)
    except ValueError:  # binascii.Error: wrong padding
        return False
    return base64.urlsafe_b64encode(decoded).decode("ascii") == token
