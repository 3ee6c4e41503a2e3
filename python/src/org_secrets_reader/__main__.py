"""``python -m org_secrets_reader ORG_ID SECRET_NAME``: read one secret with the environment's
settings (SECRETS_TABLE_NAME, ENCRYPTION_KEY; AWS access as boto3 finds it) and print the
SHA-256 of its value (never the value), exit 0; or ``refused: <why>`` on stderr, exit 1. A
missing or invalid setting, or a wrong command line, exits 2."""

from __future__ import annotations

import hashlib
import sys
from typing import List, Optional

from botocore.exceptions import BotoCoreError

from .errors import ReaderError
from .reader import SecretReader

USAGE = "usage: python -m org_secrets_reader ORG_ID SECRET_NAME"


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(USAGE, file=sys.stderr)
        return 2
    org_id, name = args
    try:
        reader = SecretReader.from_env()
    except (ValueError, BotoCoreError) as err:  # a setting, or no AWS region configured
        print(f"org_secrets_reader: {err}", file=sys.stderr)
        return 2
    try:
        value = reader.get(org_id, name).value.reveal()
    except (ReaderError, ValueError) as err:
        print(f"refused: {err}", file=sys.stderr)
        return 1
    print(hashlib.sha256(value.encode("utf-8")).hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main())
