"""``python -m org_secrets_reader [--sha256] ORG_ID SECRET_NAME``: read one secret with the
environment's settings (SECRETS_TABLE_NAME, ENCRYPTION_KEY; AWS access as boto3 finds it).

It prints ``ok <org>/<name> version <N or none>`` on stdout (never the value, nor anything
computed from it) and exits 0; or ``refused: <why>`` on stderr, exit 1. A missing or invalid
setting, or a wrong command line, exits 2.

``--sha256`` (before, between or after the two arguments; for tests) prints instead the
SHA-256 hex of the value's UTF-8 bytes. That digest is unsalted, so it **reveals the value**
to anyone who can guess it (a dictionary attack finds a low-entropy value): use it only with
test values. After ``--``, every argument is positional (a secret named ``--sha256``)."""

from __future__ import annotations

import hashlib
import sys
from typing import List, Optional

from botocore.exceptions import BotoCoreError

from .errors import ReaderError
from .reader import SecretReader

USAGE = "usage: python -m org_secrets_reader [--sha256] ORG_ID SECRET_NAME"
SHA256_FLAG = "--sha256"


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    digest = False
    positional: List[str] = []
    options_end = False
    for arg in args:
        if not options_end and arg == "--":
            options_end = True
        elif not options_end and arg == SHA256_FLAG:
            digest = True
        else:
            positional.append(arg)  # names may start with "-": only the flag is an option
    if len(positional) != 2:
        print(USAGE, file=sys.stderr)
        return 2
    org_id, name = positional
    try:
        reader = SecretReader.from_env()
    except (ValueError, BotoCoreError) as err:  # a setting, or no AWS region configured
        print(f"org_secrets_reader: {err}", file=sys.stderr)
        return 2
    try:
        secret = reader.get(org_id, name)
    except (ReaderError, ValueError) as err:
        print(f"refused: {err}", file=sys.stderr)
        return 1
    if digest:
        print(hashlib.sha256(secret.value.reveal().encode("utf-8")).hexdigest())
    else:
        version = "none" if secret.version is None else str(secret.version)
        print(f"ok {org_id}/{name} version {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
