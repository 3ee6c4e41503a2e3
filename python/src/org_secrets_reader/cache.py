"""The reader's cache (docs/storage-contract.md, "The cache"): fresh for the TTL, LRU-bounded,
serve-stale-on-unavailable, and one read per miss (single flight). Thread-safe: one lock
guards the entries, the reads in flight and the count of store reads begun; no read of the
store happens under it.

Reads are ordered by a sequence number, one per store read (a batch chunk's names share
it), taken as the read begins: clocks tie, the counter does not. An entry keeps the
sequence of the read that cached it; a read never caches its value over an entry of a
read begun after it, and a refusal drops only an entry of a read begun before it."""

from __future__ import annotations

import copy
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from .errors import ReaderError, Unavailable
from .store import BATCH_LIMIT
from .values import Secret, SecretValue

Key = Tuple[str, str]  # (organization, name)
Read = Tuple[SecretValue, Optional[int]]  # a value the store gave, and its version
Outcome = Union[Read, ReaderError]
Answer = Union[Secret, ReaderError]
# Errors after which the store has said what the item is: the cached value goes.
_DROPPING = frozenset({"not_found", "not_bound", "undecryptable", "malformed"})
# Entries too old to be served fresh or stale are swept out once per this many inserts.
SWEEP_EVERY = 256


@dataclass
class _Entry:
    value: SecretValue
    version: Optional[int]
    read_at: float  # when the read that cached it began (clock seconds): its age
    sequence: int  # that read's place in the order store reads began


class _Failed:
    """What those waiting for a read are given when its leader failed with an exception that
    is no ReaderError: the exception's class name only. Each waiter raises a new exception
    of its own, never the leader's object (its traceback, locals and message stay with the
    leader)."""

    def __init__(self, error: BaseException) -> None:
        self.kind = type(error).__name__

    def error(self) -> RuntimeError:
        return RuntimeError(f"the read this call waited for failed: {self.kind}")


class _Flight:
    """One read of the store in progress, which other callers of its key wait for."""

    def __init__(self, started: float) -> None:
        # When its store read began (clock seconds); the claim's reading until then.
        self.started = started
        # Its store read's sequence number, given as that read begins (None before).
        self.sequence: Optional[int] = None
        self.done = threading.Event()
        self.answer: Union[Answer, _Failed, None] = None
        # Set while it runs by invalidate() and change events: its value may be older.
        self.invalidated = False
        self.newer_than: Optional[int] = None
        # Set once its read of the store has returned (before it is settled).
        self.read_done = False

    @property
    def joinable(self) -> bool:
        """Whether a read that starts now may take its answer: not once invalidate() or a
        change event has said that the value it reads may be older than the store's, nor
        once its read of the store has returned (a read begun now would be newer)."""
        return not self.invalidated and self.newer_than is None and not self.read_done

    def keeps(self, version: Optional[int]) -> bool:
        """Whether the value it read may be cached."""
        if self.invalidated:
            return False
        return self.newer_than is None or (version is not None and version >= self.newer_than)

    def wait(self) -> Answer:
        self.done.wait()
        answer = self.answer
        if isinstance(answer, ReaderError):
            return copy.copy(answer)  # each waiter raises its own
        if isinstance(answer, _Failed):
            raise answer.error()  # outside any except block: no context, no cause
        assert answer is not None
        return answer


class SecretCache:
    def __init__(
        self,
        *,
        ttl_seconds: float,
        max_entries: int,
        max_stale_seconds: float,
        clock: Callable[[], float],
        logger: logging.Logger,
    ) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._max_stale = max_stale_seconds
        self._clock = clock
        self._logger = logger
        self._lock = threading.Lock()
        self._entries: "OrderedDict[Key, _Entry]" = OrderedDict()
        self._inserts = 0  # since the last sweep
        self._reads_begun = 0  # the last sequence number given to a store read
        # Every read in flight per key, oldest first; a miss joins the newest if it is still
        # joinable, else starts its own.
        self._flights: Dict[Key, List[_Flight]] = {}

    def fresh(self, key: Key) -> Optional[Secret]:
        """The cached value if it is fresh, else None: the hit path, with nothing else."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            age = self._clock() - entry.read_at
            if age >= self._ttl:
                return None
            self._entries.move_to_end(key)
            return Secret(entry.value, False, age, entry.version)

    def get(self, key: Key, read: Callable[[], Outcome], *, force: bool = False) -> Answer:
        """The cached value while fresh (unless ``force``), else what ``read`` gives, read
        once however many callers miss at the same time."""
        claim = self._claim(key, force)
        if not isinstance(claim, tuple):
            return claim
        flight, leads = claim
        if not leads:
            return flight.wait()
        try:
            self._begin([flight], None)
            outcome = read()
            flight.read_done = True
            return self._settle(key, flight, outcome)
        except BaseException as error:
            # Those waiting get an error of their own; the leader raises its exception.
            self._abandon(key, flight, error)
            raise

    def get_many(
        self, keys: Sequence[Key], read_many: Callable[[List[Key]], Dict[Key, Outcome]]
    ) -> Dict[Key, Answer]:
        """As get() for each key, with one ``read_many`` per chunk of up to BATCH_LIMIT keys
        no one else is reading. Each chunk is read and settled (its flights leave the
        joinable set) before the next is read, so a caller of one of its keys never waits on
        a later chunk."""
        keys = list(dict.fromkeys(keys))  # a key twice would wait for itself
        answers: Dict[Key, Answer] = {}
        waiting: Dict[Key, _Flight] = {}
        leading: Dict[Key, _Flight] = {}
        failure: Optional[BaseException] = None
        try:
            for key in keys:
                claim = self._claim(key, False)
                if not isinstance(claim, tuple):
                    answers[key] = claim
                elif claim[1]:
                    leading[key] = claim[0]
                else:
                    waiting[key] = claim[0]
            led = list(leading.items())
            for start in range(0, len(led), BATCH_LIMIT):
                chunk = led[start : start + BATCH_LIMIT]
                # The first chunk begins as the claims end (their clock readings stand);
                # a later one reads the clock as it begins.
                self._begin([flight for _, flight in chunk], self._clock() if start else None)
                outcomes = read_many([key for key, _ in chunk])
                for _, flight in chunk:
                    flight.read_done = True
                for key, flight in chunk:
                    answers[key] = self._settle(key, flight, outcomes[key])
        except BaseException as error:
            failure = error
            raise
        finally:
            # Whatever failed, and wherever (the claims, a read, a settle part-way), every
            # flight this call leads and has not settled ends, so that no waiter blocks.
            for key, flight in leading.items():
                if not flight.done.is_set():
                    self._abandon(key, flight, failure or RuntimeError())
            failure = None  # the leader's exception is not kept in this frame
        # Only after settling what this call leads: two calls never wait for each other.
        for key, flight in waiting.items():
            answers[key] = flight.wait()
        return {key: answers[key] for key in keys}

    def invalidate(self, key: Key) -> bool:
        with self._lock:
            for flight in self._flights.get(key, ()):
                flight.invalidated = True
            return self._entries.pop(key, None) is not None

    def drop_older(self, key: Key, version: int) -> bool:
        """Drop the cached value if ``version`` is newer than it (or it has none)."""
        with self._lock:
            for flight in self._flights.get(key, ()):
                flight.newer_than = max(flight.newer_than or version, version)
            entry = self._entries.get(key)
            if entry is None or (entry.version is not None and entry.version >= version):
                return False
            del self._entries[key]
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _claim(self, key: Key, force: bool) -> Union[Secret, Tuple[_Flight, bool]]:
        """A fresh value; or the flight to wait for (False): the key's newest, if nothing
        marked it and its read has not returned yet; or a new one to lead (True): always
        with ``force`` (refresh), and when the newest flight cannot be joined."""
        with self._lock:
            now = self._clock()
            if not force:
                entry = self._entries.get(key)
                if entry is not None and now - entry.read_at < self._ttl:
                    self._entries.move_to_end(key)
                    return Secret(entry.value, False, now - entry.read_at, entry.version)
                # The newest read only (the last claimed: a refresh's, if there is one),
                # never an older one, as in the Rust reader. When it is marked, so are all
                # older ones; when its read has returned, a new read is newer than it.
                flights = self._flights.get(key)
                if flights and flights[-1].joinable:
                    return flights[-1], False
            flight = _Flight(now)
            self._flights.setdefault(key, []).append(flight)
            return flight, True

    def _begin(self, flights: List[_Flight], now: Optional[float]) -> None:
        """Numbers one store read, about to begin, for the flights it answers (one for a
        get, a chunk's for get_many): the next sequence number, and ``now`` as their start
        when given (else the claim's clock reading, taken just before)."""
        with self._lock:
            self._reads_begun += 1
            for flight in flights:
                flight.sequence = self._reads_begun
                if now is not None:
                    flight.started = now

    def _finish(self, key: Key, flight: _Flight, answer: Union[Answer, _Failed]) -> None:
        flights = self._flights[key]
        flights.remove(flight)
        if not flights:
            del self._flights[key]
        flight.answer = answer
        flight.done.set()

    def _abandon(self, key: Key, flight: _Flight, error: BaseException) -> None:
        """Ends a flight whose leader failed (unless it was settled already): those waiting
        get a new exception naming the failure's class, never the leader's exception."""
        with self._lock:
            if not flight.done.is_set():
                self._finish(key, flight, _Failed(error))

    def _settle(self, key: Key, flight: _Flight, outcome: Outcome) -> Answer:
        answer: Answer
        sequence = flight.sequence
        assert sequence is not None  # settled only after its read began
        with self._lock:
            now = self._clock()
            cached = self._entries.get(key)
            if isinstance(outcome, tuple):
                value, version = outcome
                # A read begun later (a refresh that overtook this one) already cached its
                # value: by sequence, not by clock, whose readings can be equal.
                overtaken = cached is not None and cached.sequence > sequence
                if flight.keeps(version) and not overtaken:
                    self._entries[key] = _Entry(value, version, flight.started, sequence)
                    self._entries.move_to_end(key)
                    while len(self._entries) > self._max_entries:
                        self._entries.popitem(last=False)
                    self._inserts += 1
                    if self._inserts >= SWEEP_EVERY:
                        self._sweep(now)
                answer = Secret(value, False, max(0.0, now - flight.started), version)
            elif isinstance(outcome, Unavailable):
                answer = self._stale(key, now, outcome)
            else:
                # The store has said what the item is: the cached value goes, unless a read
                # begun after this one cached it (an older not_found never drops a newer value).
                if outcome.kind in _DROPPING and cached is not None and cached.sequence < sequence:
                    del self._entries[key]
                answer = outcome
            self._finish(key, flight, answer)
        if isinstance(answer, Secret) and answer.stale:
            assert isinstance(outcome, Unavailable)
            self._logger.warning(
                "serving a stale value of %s/%s, read %.3f s ago: the store is unavailable (%s)",
                key[0],
                key[1],
                answer.age_seconds,
                outcome.cause,
            )
        return answer

    def _sweep(self, now: float) -> None:
        """Drops (under the lock) every entry that can be served neither fresh (its age is
        at least the TTL) nor stale (its age is over the stale bound): a value is not kept
        in memory past its use. Run once per SWEEP_EVERY inserts, so its cost is spread."""
        self._inserts = 0
        expired = [
            key
            for key, entry in self._entries.items()
            if now - entry.read_at >= self._ttl and now - entry.read_at > self._max_stale
        ]
        for key in expired:
            del self._entries[key]

    def _stale(self, key: Key, now: float, error: Unavailable) -> Answer:
        """The cached value, marked stale, if it is at most the stale bound old; else error.
        A stale bound of 0 never serves a stale value, not even one of age 0."""
        entry = self._entries.get(key)
        if entry is None or self._max_stale <= 0 or now - entry.read_at > self._max_stale:
            return error
        self._entries.move_to_end(key)
        return Secret(entry.value, True, now - entry.read_at, entry.version)
