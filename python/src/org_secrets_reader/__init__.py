"""Read org-secrets values directly from its DynamoDB table, as docs/storage-contract.md
("Reading a value (internal services)") says; the Rust reader (``org_secrets::reader``)
behaves the same.

    from org_secrets_reader import SecretReader
    reader = SecretReader.from_env()  # SECRETS_TABLE_NAME, ENCRYPTION_KEY, SECRETS_CACHE_*
    secret = reader.get("org_acme", "stripe_api_key")  # secret.value.reveal()
"""

from .credentials import Credentials
from .errors import (
    BasicWithoutColon,
    InvalidAuth,
    InvalidEvent,
    InvalidHeaderValue,
    InvalidReference,
    Malformed,
    NotBound,
    NotFound,
    ReaderError,
    StorageError,
    Unavailable,
    Undecryptable,
)
from .reader import SecretReader
from .references import ResolvedDocument
from .values import Secret, SecretValue

__all__ = [
    "BasicWithoutColon",
    "Credentials",
    "InvalidAuth",
    "InvalidEvent",
    "InvalidHeaderValue",
    "InvalidReference",
    "Malformed",
    "NotBound",
    "NotFound",
    "ReaderError",
    "ResolvedDocument",
    "Secret",
    "SecretReader",
    "SecretValue",
    "StorageError",
    "Unavailable",
    "Undecryptable",
]
