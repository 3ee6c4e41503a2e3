"""SecretReader: reads through the cache, credentials, references and change events."""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Union

from . import config, credentials, references, store
from .cache import Answer, Key, Outcome, SecretCache
from .credentials import Credentials
from .crypto import Item, KeyRing
from .errors import NotFound, ReaderError
from .events import parse_event
from .names import check_key, check_org
from .references import ResolvedDocument
from .values import Secret, SecretValue

LOGGER_NAME = "org_secrets_reader"


class SecretReader:
    """Reads secrets of the org-secrets table, as docs/storage-contract.md ("Reading a value")
    says: only the live item, strongly consistent, bound and decrypted under one of the keys;
    cached in memory. Thread-safe: share one reader in a process.

    ``client`` is a low-level boto3 DynamoDB client (``boto3.client("dynamodb")`` by default);
    ``clock`` measures the cache's ages (monotonic seconds); ``logger`` gets the WARNING of a
    stale value served (never a value)."""

    def __init__(
        self,
        table_name: str,
        encryption_key: str,
        *,
        client: Any = None,
        ttl_seconds: float = config.DEFAULT_TTL_SECONDS,
        max_entries: int = config.DEFAULT_MAX_ENTRIES,
        max_stale_seconds: float = config.DEFAULT_MAX_STALE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        logger: Optional[logging.Logger] = None,
    ) -> None:
        config.check_table_name(table_name, "table_name")
        self._keys = KeyRing(config.check_key_list(encryption_key, "encryption_key"))
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self._store = store.Store(client, table_name)
        self._cache = SecretCache(
            ttl_seconds=config.check_seconds(ttl_seconds, "ttl_seconds", config.MAX_TTL_SECONDS),
            max_entries=config.check_entries(max_entries, "max_entries"),
            max_stale_seconds=config.check_seconds(
                max_stale_seconds, "max_stale_seconds", config.MAX_STALE_SECONDS
            ),
            clock=clock,
            logger=logger or logging.getLogger(LOGGER_NAME),
        )

    @classmethod
    def from_env(cls, **overrides: Any) -> "SecretReader":
        """From SECRETS_TABLE_NAME, ENCRYPTION_KEY and the optional SECRETS_CACHE_TTL_SECONDS,
        SECRETS_CACHE_MAX_ENTRIES and SECRETS_CACHE_MAX_STALE_SECONDS; ``overrides`` (any
        argument of the constructor) take precedence. ValueError names a variable that is
        missing or invalid."""
        settings = config.from_environment(os.environ, given=overrides.keys())
        settings.update(overrides)
        return cls(**settings)

    def __repr__(self) -> str:
        return f"SecretReader(table_name={self._store.table_name!r}, cached={len(self._cache)})"

    # Reads.

    def get(self, org_id: str, name: str) -> Secret:
        """The secret, from the cache while fresh; raises its ReaderError."""
        # Only checked keys are ever cached, so a hit needs no check of its own (the checks
        # of a name cost more than the hit itself).
        if type(org_id) is str and type(name) is str:
            hit = self._cache.fresh((org_id, name))
            if hit is not None:
                return hit
        return _raised(self._cache.get(self._key(org_id, name), lambda: self._read(org_id, name)))

    def refresh(self, org_id: str, name: str) -> Secret:
        """Read now, whatever the cache holds (served stale if the store is unavailable)."""
        key = self._key(org_id, name)
        return _raised(self._cache.get(key, lambda: self._read(org_id, name), force=True))

    def get_many(self, org_id: str, names: Iterable[str]) -> Dict[str, Union[Secret, ReaderError]]:
        """Each distinct name's secret or error; what the cache lacks read in one
        BatchGetItem per 100 names (a GetItem for a single name)."""
        if isinstance(names, str):
            raise TypeError("get_many() takes an iterable of names, not one name")
        names = list(dict.fromkeys(names))
        for name in names:
            check_key(org_id, name)

        def read_many(keys: List[Key]) -> Dict[Key, Outcome]:
            found = self._store.get_many(org_id, [name for _, name in keys])
            return {key: self._open(org_id, key[1], found[key[1]]) for key in keys}

        answers = self._cache.get_many([(org_id, name) for name in names], read_many)
        return {name: answers[(org_id, name)] for name in names}

    def invalidate(self, org_id: str, name: str) -> None:
        """Drop the cached value: the next read goes to the store."""
        self._cache.invalidate(self._key(org_id, name))

    def apply_change_event(self, event: Union[Mapping[str, Any], str, bytes]) -> bool:
        """Drop the cached value an EventBridge change event makes out of date (a change of
        the live secret, newer than the cached version). True if one was dropped."""
        change = parse_event(event)
        if not change.changes_live_secret:
            return False
        return self._cache.drop_older((change.org_id, change.name), change.version)

    # What is built from reads.

    def credentials(self, org_id: str, auth: object) -> Credentials:
        """The headers or query parameters of an ``api_call`` auth block."""
        check_org(org_id)
        plan = credentials.parse_auth(auth, org_id)
        if plan.secret_ref is None:
            return Credentials()
        secret = self.get(org_id, plan.secret_ref)
        return credentials.build(plan, org_id, secret.value)

    def resolve(self, org_id: str, text: str) -> SecretValue:
        """``text`` with each ``{{SECRET.name}}``/``{{secrets.name}}`` replaced, one batch read
        for all of them."""
        check_org(org_id)
        return SecretValue(references.resolve_text(text, org_id, lambda n: self.get_many(org_id, n)))

    def resolve_document(self, org_id: str, document: object) -> ResolvedDocument:
        """As resolve(), in every string of a JSON-like document (not in its keys)."""
        check_org(org_id)
        return references.resolve_document(document, org_id, lambda n: self.get_many(org_id, n))

    # The parts.

    def _key(self, org_id: str, name: str) -> Key:
        check_key(org_id, name)
        return (org_id, name)

    def _read(self, org_id: str, name: str) -> Outcome:
        return self._open(org_id, name, self._store.get(org_id, name))

    def _open(self, org_id: str, name: str, found: store.Outcome) -> Outcome:
        """What the store gave for org_id/name, checked: the value and version, or the error."""
        if isinstance(found, ReaderError):
            return found
        if found is None:
            return NotFound("no such secret", org_id=org_id, secret=name)
        item: Item = found
        try:
            value, version = self._keys.open_item(org_id, name, item)
        except ReaderError as refusal:
            return refusal
        return SecretValue(value), version


def _raised(answer: Answer) -> Secret:
    if isinstance(answer, ReaderError):
        raise answer
    return answer
