"""What counts as a secret name, an organization id, an HTTP header name and header value.

The problem functions return why a text is refused (in words that never quote it), or
``None`` when it is valid.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Optional

MAX_NAME_CHARS = 100
MAX_ORG_ID_BYTES = 256
# Control, format, line and paragraph separators; and, in Python only, lone surrogates,
# which are no Unicode text (they cannot be stored).
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
MAX_HEADER_NAME_BYTES = 65_535  # the Rust reader's http crate takes no longer name


def _has_invisible(text: str) -> bool:
    return any(unicodedata.category(c) in _INVISIBLE for c in text)


def secret_name_problem(name: object) -> Optional[str]:
    """1-100 characters (code points) in Unicode NFC, no Cc, Cf, Zl or Zp character."""
    if not isinstance(name, str):
        return "not a string"
    if not name:
        return "empty"
    if len(name) > MAX_NAME_CHARS:
        return f"longer than {MAX_NAME_CHARS} characters"
    if _has_invisible(name):
        return "holds a control, format or line/paragraph separator character"
    if not unicodedata.is_normalized("NFC", name):
        return "not in Unicode NFC"
    return None


def org_id_problem(org_id: object) -> Optional[str]:
    """As the function takes an organization from claims: 1-256 bytes of UTF-8, no
    surrounding whitespace, no invisible character."""
    if not isinstance(org_id, str):
        return "not a string"
    if not org_id:
        return "empty"
    if _has_invisible(org_id):
        return "holds a control, format or line/paragraph separator character"
    if len(org_id.encode("utf-8")) > MAX_ORG_ID_BYTES:
        return f"longer than {MAX_ORG_ID_BYTES} bytes"
    if org_id[0].isspace() or org_id[-1].isspace():
        return "starts or ends with whitespace"
    return None


def check_org(org_id: str) -> None:
    """ValueError (a caller's mistake, not a read's outcome) unless it is valid."""
    problem = org_id_problem(org_id)
    if problem is not None:
        raise ValueError(f"not a valid organization id: {problem}")


def check_key(org_id: str, name: str) -> None:
    """ValueError (a caller's mistake, not a read's outcome) unless both are valid."""
    check_org(org_id)
    problem = secret_name_problem(name)
    if problem is not None:
        raise ValueError(f"not a valid secret name: {problem}")


def is_header_name(name: str) -> bool:
    """An RFC 9110 token: one or more of ``!#$%&'*+-.^_`|~``, digits and ASCII letters, at
    most 65,535 of them (bytes: they are ASCII), as the Rust reader's ``http::HeaderName``."""
    return len(name) <= MAX_HEADER_NAME_BYTES and _HEADER_NAME.fullmatch(name) is not None


def is_header_value(value: str) -> bool:
    """Printable ASCII (space to ``~``) and tab."""
    return all(c == "\t" or " " <= c <= "~" for c in value)
