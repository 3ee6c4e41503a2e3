"""The reader's settings, checked, from arguments or the environment. A ValueError names the
setting (the variable, for the environment) and what is wrong, never what a key holds."""

from __future__ import annotations

import re
from typing import Any, Collection, Dict, Mapping

from .crypto import parse_key_list

DEFAULT_TTL_SECONDS = 300.0
DEFAULT_MAX_ENTRIES = 1000
DEFAULT_MAX_STALE_SECONDS = 3600.0
# The ranges src/config.rs (cache_config_from) allows.
MAX_TTL_SECONDS = 86_400
MAX_ENTRIES = 1_000_000
MAX_STALE_SECONDS = 604_800
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_WHOLE = re.compile(r"\+?[0-9]+")  # as Rust parses an unsigned integer

# Variable, argument, (lowest, highest), unit.
ENVIRONMENT = (
    ("SECRETS_CACHE_TTL_SECONDS", "ttl_seconds", (0, MAX_TTL_SECONDS), " of seconds"),
    ("SECRETS_CACHE_MAX_ENTRIES", "max_entries", (1, MAX_ENTRIES), ""),
    ("SECRETS_CACHE_MAX_STALE_SECONDS", "max_stale_seconds", (0, MAX_STALE_SECONDS), " of seconds"),
)


def check_table_name(name: object, setting: str) -> str:
    if not isinstance(name, str) or not _TABLE_NAME.fullmatch(name):
        raise ValueError(f"{setting} must be 3-255 characters of A-Z, a-z, 0-9, '_', '-', '.'")
    return name


def check_key_list(key_list: object, setting: str) -> str:
    if not isinstance(key_list, str):
        raise ValueError(f"{setting} must be a string: the comma-separated Fernet keys")
    try:
        parse_key_list(key_list)
    except ValueError as problem:
        raise ValueError(f"{setting} {problem}") from None
    return key_list


def check_seconds(value: object, setting: str, highest: int) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= highest:
        raise ValueError(f"{setting} must be a number of seconds from 0 to {highest}")
    return float(value)


def check_entries(value: object, setting: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ENTRIES:
        raise ValueError(f"{setting} must be a whole number from 1 to {MAX_ENTRIES}")
    return value


def from_environment(environ: Mapping[str, str], given: Collection[str] = ()) -> Dict[str, Any]:
    """The constructor's arguments from the environment, except those ``given`` otherwise.
    The table and keys are required; the cache's settings have defaults."""
    settings: Dict[str, Any] = {}
    if "table_name" not in given:
        table_name = environ.get("SECRETS_TABLE_NAME", "").strip()
        if not table_name:
            raise ValueError("SECRETS_TABLE_NAME is not set")
        settings["table_name"] = check_table_name(table_name, "SECRETS_TABLE_NAME")
    if "encryption_key" not in given:
        key_list = environ.get("ENCRYPTION_KEY", "")
        if not key_list.strip():
            raise ValueError("ENCRYPTION_KEY is not set")
        settings["encryption_key"] = check_key_list(key_list, "ENCRYPTION_KEY")
    for variable, argument, (lowest, highest), unit in ENVIRONMENT:
        raw = environ.get(variable)
        if raw is None or argument in given:
            continue
        raw = raw.strip()
        if not _WHOLE.fullmatch(raw) or not lowest <= int(raw) <= highest:
            raise ValueError(f"{variable} must be a whole number{unit} from {lowest} to {highest}")
        settings[argument] = int(raw)
    return settings
