"""The parts on their own, without a store: values, errors, names, keys and items, the parsers
of auth blocks, references and events, and the cache's rules with reads made up here."""

from __future__ import annotations

import base64
import copy
import logging
import pathlib
import pickle
import threading
import time
from typing import Any, Dict, List, Optional

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError
from cryptography.fernet import Fernet

import org_secrets_reader
from conftest import CANARY, KEYS, ORG
from org_secrets_reader import (
    Credentials,
    InvalidAuth,
    InvalidEvent,
    InvalidReference,
    Malformed,
    NotBound,
    NotFound,
    ReaderError,
    Secret,
    SecretReader,
    SecretValue,
    Undecryptable,
    Unavailable,
)
from org_secrets_reader import credentials, references, store
from org_secrets_reader.cache import SecretCache
from org_secrets_reader.crypto import KeyRing, binding_for, binding_key, parse_key_list
from org_secrets_reader.events import parse_event
from org_secrets_reader.names import is_header_name, is_header_value, secret_name_problem

KEY, OLD_KEY = KEYS.split(",")
VALUE = f"value-{CANARY}"


# Values and errors.


def test_a_secret_value_is_redacted_everywhere_but_reveal() -> None:
    value = SecretValue(VALUE)
    assert repr(value) == str(value) == f"{value}" == "SecretValue('**********')"
    assert value.reveal() == VALUE
    assert value == SecretValue(VALUE) and value != SecretValue("other")
    assert value != VALUE  # only another SecretValue compares equal
    with pytest.raises(TypeError):
        hash(value)
    with pytest.raises(TypeError):
        SecretValue(b"bytes")  # type: ignore[arg-type]
    secret = Secret(value, False, 0.0, 3)
    assert repr(secret) == "Secret(value=SecretValue('**********'), stale=False, age_seconds=0.0, version=3)"


def test_errors_name_kind_and_secret_and_survive_pickling() -> None:
    error = NotFound("no such secret", org_id="org_a", secret="x")
    assert str(error) == "org_a/x: no such secret (not_found)"
    assert repr(error) == "NotFound('org_a/x: no such secret (not_found)')"
    auth = InvalidAuth("missing_key", org_id="org_a")
    assert (auth.kind, auth.reason, auth.secret, str(auth)) == (
        "invalid_auth", "missing_key", None, "org_a: the auth block is invalid: missing_key (invalid_auth)",
    )
    for original in (error, auth, Unavailable("ThrottlingException", org_id="o", secret="s")):
        for clone in (pickle.loads(pickle.dumps(original)), copy.copy(original)):
            assert type(clone) is type(original) and clone.__dict__ == original.__dict__
            assert str(clone) == str(original)
    assert isinstance(error, ReaderError) and isinstance(error, Exception)


# Names, headers.


@pytest.mark.parametrize(
    "name, problem",
    [
        ("a" * 100, None),
        ("clé d’accès ✓", None),
        (" leading and trailing ", None),
        ("", "empty"),
        ("a" * 101, "longer than 100 characters"),
        ("cle\u0301", "not in Unicode NFC"),
        ("a\u200bb", "holds a control, format or line/paragraph separator character"),  # Cf
        ("a\u2028b", "holds a control, format or line/paragraph separator character"),  # Zl
        ("a\u2029b", "holds a control, format or line/paragraph separator character"),  # Zp
        ("a\x7fb", "holds a control, format or line/paragraph separator character"),  # Cc
        ("a\ud800b", "holds a control, format or line/paragraph separator character"),  # lone surrogate
        (7, "not a string"),
    ],
)
def test_secret_names(name: Any, problem: Optional[str]) -> None:
    assert secret_name_problem(name) == problem


def test_header_names_and_values() -> None:
    assert is_header_name("X-API-Key") and is_header_name("!#$%&'*+-.^_`|~09azAZ")
    for bad in ("", "X API", "X-Token:", "Authorizätion", "a\n", "a\tb", "(x)"):
        assert not is_header_name(bad)
    assert is_header_value("Bearer a\tb ~") and is_header_value("")
    for bad in ("a\nb", "a\x7f", "é", "a\x00"):
        assert not is_header_value(bad)


# Keys and items.


def item(token: Any = None, binding: Any = None, name: str = "x", version: Any = None) -> Dict[str, Any]:
    result: Dict[str, Any] = {"org_id": {"S": ORG}, "secret_name": {"S": name}}
    if token is not None:
        result["encrypted_value"] = token
    if binding is not None:
        result["binding"] = binding
    if version is not None:
        result["version"] = version
    return result


def written(value: str, key: str = KEY, name: str = "x", at: Optional[int] = None) -> Dict[str, Any]:
    token = (Fernet(key).encrypt_at_time(value.encode(), at) if at else Fernet(key).encrypt(value.encode())).decode()
    bound = binding_for(binding_key(key), ORG, name, token)
    return item({"S": token}, {"S": bound}, name, {"N": "7"})


def test_an_item_opens_under_any_key_of_the_list() -> None:
    keys = KeyRing(KEYS)
    assert keys.open_item(ORG, "x", written(VALUE)) == (VALUE, 7)
    assert keys.open_item(ORG, "x", written(VALUE, key=OLD_KEY)) == (VALUE, 7)
    assert KeyRing(f" {OLD_KEY} ,\t{KEY}\n").open_item(ORG, "x", written(VALUE))[0] == VALUE
    legacy = written(VALUE)
    del legacy["version"]
    assert keys.open_item(ORG, "x", legacy) == (VALUE, None)


def with_binding(binding: Any) -> Dict[str, Any]:
    stored = written(VALUE)
    if binding is None:
        del stored["binding"]
    else:
        stored["binding"] = binding
    return stored


def test_what_a_read_checks_in_order() -> None:
    keys = KeyRing(KEYS)
    cases = [
        (item(), Malformed, "encrypted_value is missing"),
        (item({"N": "1"}), Malformed, "encrypted_value is a number (N), not a string"),
        (item({"NULL": True}), Malformed, "encrypted_value is null (NULL), not a string"),
        (item({"B": b"x"}, {"S": "v1:x"}), Malformed, "encrypted_value is a binary (B), not a string"),
        # Decryption comes before the binding: a wrong key is named as such.
        (item({"S": "not a token"}), Undecryptable, "no configured key opens the token"),
        (item({"S": "gAAAAAé"}), Undecryptable, "no configured key opens the token"),
        (written(VALUE, key=Fernet.generate_key().decode()), Undecryptable, "no configured key opens the token"),
        (item({"S": Fernet(KEY).encrypt(b"\xff").decode()}), Undecryptable, "the decrypted value is not UTF-8"),
        (with_binding(None), NotBound, "the binding is missing"),
        (with_binding({"NULL": True}), NotBound, "the binding is null (NULL), not a string"),
        (with_binding({"N": "1"}), NotBound, "the binding is a number (N), not a string"),
        (with_binding({"S": "v1:AAAA"}), NotBound, "the binding does not match"),
        (written(VALUE, name="y"), NotBound, "the binding does not match"),
    ]
    for stored, error, detail in cases:
        with pytest.raises(error) as raised:
            keys.open_item(ORG, "x", stored)
        assert raised.value.detail.startswith(detail), (stored, raised.value)
        assert (raised.value.org_id, raised.value.secret) == (ORG, "x")
        assert CANARY not in str(raised.value)


def test_a_token_stamped_more_than_60_seconds_ahead_is_undecryptable() -> None:
    keys = KeyRing(KEY)
    assert keys.open_item(ORG, "x", written(VALUE, at=int(time.time()) + 30))[0] == VALUE
    with pytest.raises(Undecryptable):
        keys.open_item(ORG, "x", written(VALUE, at=int(time.time()) + 3600))


@pytest.mark.parametrize(
    "key_list, problem",
    [
        ("", "is empty"),
        (" , ", "entry 1 of 2 is empty (a doubled or trailing comma?)"),
        (f"{KEY},", "entry 2 of 2 is empty (a doubled or trailing comma?)"),
        (KEY.replace("-", "+"), "entry 1 of 1 uses the standard base64 alphabet"),
        (KEY[:-1], "entry 1 of 1 is not a Fernet key"),
        (KEY[:-2] + "==", "entry 1 of 1 is not a Fernet key"),
        (f"{KEY} {KEY}", "entry 1 of 1 is not a Fernet key"),
        (KEY[:42] + "B=", "entry 1 of 1 is not canonical base64"),
    ],
)
def test_an_invalid_key_list_says_which_entry_and_never_quotes_it(key_list: str, problem: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_key_list(key_list)
    assert str(raised.value).startswith(problem)
    assert KEY[2:12] not in str(raised.value)


# The store's failures.


def client_error(code: str, status: int) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": CANARY}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "GetItem")


@pytest.mark.parametrize(
    "error, kind, cause",
    [
        (client_error("ProvisionedThroughputExceededException", 400), "unavailable", "ProvisionedThroughputExceededException"),
        (client_error("ThrottlingException", 400), "unavailable", "ThrottlingException"),
        (client_error("RequestLimitExceeded", 400), "unavailable", "RequestLimitExceeded"),
        (client_error("InternalServerError", 500), "unavailable", "InternalServerError"),
        (client_error("ServiceUnavailable", 503), "unavailable", "ServiceUnavailable"),
        (client_error("", 502), "unavailable", "HTTP 502"),
        (client_error("AccessDeniedException", 400), "storage", "AccessDeniedException"),
        (client_error("ResourceNotFoundException", 400), "storage", "ResourceNotFoundException"),
        (EndpointConnectionError(endpoint_url="http://x"), "unavailable", "EndpointConnectionError"),
        (ReadTimeoutError(endpoint_url="http://x"), "unavailable", "ReadTimeoutError"),
        (NoCredentialsError(), "storage", "NoCredentialsError"),
    ],
)
def test_store_failures(error: Exception, kind: str, cause: str) -> None:
    failure = store.failure(error, ORG, "x")
    assert (failure.kind, getattr(failure, "cause"), failure.secret) == (kind, cause, "x")
    assert CANARY not in str(failure)
    with pytest.raises(KeyError):
        store.failure(KeyError("not the SDK's"), ORG, "x")


# Auth blocks.


@pytest.mark.parametrize(
    "block, reason",
    [
        ([], "not_an_object"),
        ({"type": None}, "missing_type"),
        ({"type": 7}, "unknown_type"),
        ({"type": "bearer", "secret_ref": None}, "missing_secret_ref"),
        ({"type": "basic", "secret_ref": "a" * 101}, "invalid_secret_ref"),
        ({"type": "api_key", "secret_ref": "s", "location": "body"}, "invalid_location"),
        ({"type": "api_key", "secret_ref": "s", "location": 1, "key": "k"}, "invalid_location"),
        ({"type": "api_key", "secret_ref": "s", "location": "query"}, "missing_key"),
        ({"type": "api_key", "secret_ref": "s", "location": "query", "key": ""}, "invalid_key"),
        ({"type": "custom_header", "secret_ref": "s", "key": None}, "missing_key"),
        ({"type": "custom_header", "secret_ref": "s", "key": "a b", "location": "query"}, "invalid_key"),
    ],
)
def test_auth_blocks_are_checked_in_order(block: Any, reason: str) -> None:
    with pytest.raises(InvalidAuth) as raised:
        credentials.parse_auth(block, ORG)
    assert raised.value.reason == reason


def test_auth_blocks_that_read_nothing_or_ignore_fields() -> None:
    assert credentials.parse_auth({"type": "none", "secret_ref": 7, "key": []}, ORG).secret_ref is None
    plan = credentials.parse_auth({"type": "custom_header", "secret_ref": "s", "key": "X-K", "location": "body"}, ORG)
    assert (plan.key, plan.location) == ("X-K", "header")
    plan = credentials.parse_auth({"type": "api_key", "secret_ref": "s", "key": "X-K", "location": None}, ORG)
    assert plan.location == "header"  # a null field counts as missing


def test_credentials_apply_replaces_a_header_of_any_case() -> None:
    creds = Credentials({"Authorization": SecretValue("Bearer t")}, {"k": SecretValue("v")})
    headers: Dict[str, Any] = {"authorization": "old", "AUTHORIZATION": "older", "Accept": "x"}
    params: Dict[str, Any] = {"k": "old", "other": "1"}
    creds.apply(headers, params)
    assert headers == {"Accept": "x", "Authorization": "Bearer t"}
    assert params == {"k": "v", "other": "1"}
    assert repr(creds) == "Credentials(headers=['Authorization'], query=['k'])"


def test_basic_credentials_encode_the_utf8_value() -> None:
    plan = credentials.parse_auth({"type": "basic", "secret_ref": "s"}, ORG)
    built = credentials.build(plan, ORG, SecretValue("ü:p"))
    assert built.headers["Authorization"].reveal() == "Basic " + base64.b64encode("ü:p".encode()).decode()


# References.


def test_references_are_parsed_with_their_positions() -> None:
    parsed = references.parse("{{{SECRET.a}}} {{  secrets.b c  }}{{SECRET. d}}", ORG)
    assert [(r.start, r.end, r.name) for r in parsed] == [(1, 13, "a"), (15, 34, "b c"), (34, 47, " d")]
    assert references.parse("{{ SECRET .a}} {{secret.a}} {{ {{x}} }}", ORG) == []


@pytest.mark.parametrize(
    "text, position, detail",
    [
        ("ab {{SECRET.}}", 3, "does not name a valid secret (empty)"),
        ("ab {{SECRET.   }}", 3, "does not name a valid secret (empty)"),
        ("é {{secrets.x", 2, "has no closing '}}'"),
        ("{{SECRET.a}} {{SECRET." + "n" * 101 + "}}", 13, "longer than 100 characters"),
        ("{{SECRET.a\nb}}", 0, "line/paragraph separator"),
    ],
)
def test_an_invalid_reference_gives_its_position_never_its_text(text: str, position: int, detail: str) -> None:
    with pytest.raises(InvalidReference) as raised:
        references.parse(CANARY + text, ORG)
    assert raised.value.position == position + len(CANARY)
    assert detail in str(raised.value) and CANARY not in str(raised.value)
    assert raised.value.secret is None


def fake_get_many(values: Dict[str, Any], calls: List[List[str]]) -> Any:
    def get_many(names: List[str]) -> Dict[str, Any]:
        calls.append(names)
        return {n: values[n] if isinstance(values[n], ReaderError) else Secret(SecretValue(values[n]), False, 0.0, 1) for n in names}

    return get_many


def test_a_document_is_resolved_with_one_read_and_keeps_its_shape() -> None:
    calls: List[List[str]] = []
    get_many = fake_get_many({"a": "A{{SECRET.b}}", "b": "B"}, calls)
    document = {"z": ("{{SECRET.a}}", 1.5), "y": {"{{SECRET.b}}": ["{{secrets.b}}", None, True]}}
    resolved = references.resolve_document(document, ORG, get_many)
    assert resolved.reveal() == {"z": ("A{{SECRET.b}}", 1.5), "y": {"{{SECRET.b}}": ["B", None, True]}}
    assert list(resolved.reveal()) == ["z", "y"]
    assert calls == [["b", "a"]]  # one read, names in reading order (keys in code-point order)
    assert repr(resolved) == "ResolvedDocument('**********')"
    assert references.resolve_document({"n": 1}, ORG, get_many).reveal() == {"n": 1} and len(calls) == 1


def test_the_first_failing_reference_in_reading_order_is_the_error() -> None:
    missing = NotFound("no such secret", org_id=ORG, secret="missing")
    refused = NotBound("the binding does not match", org_id=ORG, secret="refused")
    get_many = fake_get_many({"missing": missing, "refused": refused, "ok": "v"}, [])
    # Objects are read by key in code-point order, as the Rust reader reads them.
    document = {"b": "{{SECRET.missing}}", "a": ["{{SECRET.ok}}", "{{SECRET.refused}}"]}
    with pytest.raises(NotBound):
        references.resolve_document(document, ORG, get_many)
    with pytest.raises(NotFound):
        references.resolve_text("{{SECRET.ok}}{{SECRET.missing}} {{SECRET.refused}}", ORG, get_many)
    # A syntax error anywhere comes before any read.
    calls: List[List[str]] = []
    with pytest.raises(InvalidReference, match="string 2"):
        references.resolve_document({"a": "{{SECRET.ok}}", "b": "{{SECRET.x"}, ORG, fake_get_many({}, calls))
    assert calls == []


# Change events.


def event(**detail: Any) -> Dict[str, Any]:
    return {"detail-type": "Secret Updated", "detail": {"organization": ORG, "name": "x", "version": 2, **detail}}


def test_change_events_are_parsed() -> None:
    import json

    parsed = parse_event(json.dumps(event()).encode())
    assert (parsed.org_id, parsed.name, parsed.version, parsed.changes_live_secret) == (ORG, "x", 2, True)
    assert parse_event(json.dumps(event())) == parsed
    expired = parse_event({**event(), "detail-type": "Deleted Secret Expired"})
    assert not expired.changes_live_secret


@pytest.mark.parametrize(
    "bad",
    [
        b"\xff", "not json", "[]", {"detail": event()["detail"]}, {**event(), "detail": "{}"},
        event(organization=""), event(organization=" org"), event(name=""), event(name="a\x00"),
        event(version=0), event(version=True), event(version=2.0), event(version="2"), event(version=2**64),
    ],
)
def test_invalid_change_events(bad: Any) -> None:
    with pytest.raises(InvalidEvent) as raised:
        parse_event(bad)
    assert raised.value.kind == "invalid_event" and raised.value.secret is None


# The cache, with reads made up here.


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def new_cache(clock: Clock, **settings: Any) -> SecretCache:
    config = {"ttl_seconds": 60.0, "max_entries": 10, "max_stale_seconds": 600.0, **settings}
    return SecretCache(clock=clock, logger=logging.getLogger("test"), **config)


def value(text: str, version: Optional[int] = 1) -> Any:
    return lambda: (SecretValue(text), version)


def test_the_ttl_is_exclusive_and_the_stale_bound_inclusive() -> None:
    clock = Clock()
    cache = new_cache(clock)
    key = (ORG, "x")
    assert cache.get(key, value("a")).value.reveal() == "a"  # type: ignore[union-attr]
    clock.now += 59.999
    assert cache.get(key, value("b")).value.reveal() == "a"  # type: ignore[union-attr]
    clock.now = 1060.0
    assert cache.get(key, value("b")).value.reveal() == "b"  # type: ignore[union-attr]
    down = lambda: Unavailable("X", org_id=ORG, secret="x")  # noqa: E731
    clock.now = 1660.0
    stale = cache.get(key, down)
    assert isinstance(stale, Secret) and (stale.stale, stale.age_seconds) == (True, 600.0)
    clock.now = 1660.5
    assert isinstance(cache.get(key, down), Unavailable)
    # A storage error is the error, and the cached value stays for a later unavailability.
    assert cache.get(key, lambda: store.failure(client_error("AccessDeniedException", 400), ORG, "x")).kind == "storage"  # type: ignore[union-attr]
    assert len(cache) == 1


def test_a_read_superseded_while_in_flight_is_served_but_not_kept() -> None:
    clock = Clock()
    cache = new_cache(clock)
    key = (ORG, "x")

    def read_then(action: Any, version: Optional[int]) -> Any:
        def read() -> Any:
            action()
            return SecretValue("old"), version

        return read

    assert cache.get(key, read_then(lambda: cache.invalidate(key), 3)).value.reveal() == "old"  # type: ignore[union-attr]
    assert len(cache) == 0
    # A change event newer than what the read returns: not kept; one no newer: kept.
    cache.get(key, read_then(lambda: cache.drop_older(key, 4), 3))
    assert len(cache) == 0
    cache.get(key, read_then(lambda: cache.drop_older(key, 4), None))
    assert len(cache) == 0
    cache.get(key, read_then(lambda: cache.drop_older(key, 4), 4))
    assert len(cache) == 1
    assert cache.drop_older(key, 4) is False and cache.drop_older(key, 5) is True


def test_least_recently_used_goes_first_a_hit_counts_as_use() -> None:
    clock = Clock()
    cache = new_cache(clock, max_entries=2)
    for name in ("a", "b", "a", "c"):
        cache.get((ORG, name), value(name))
    down = lambda: Unavailable("X")  # noqa: E731
    clock.now += 61
    assert isinstance(cache.get((ORG, "a"), down), Secret)
    assert isinstance(cache.get((ORG, "c"), down), Secret)
    assert isinstance(cache.get((ORG, "b"), down), Unavailable)


def test_a_read_that_raises_releases_those_waiting() -> None:
    clock = Clock()
    cache = new_cache(clock)
    started = threading.Event()
    release = threading.Event()
    outcomes: List[Any] = []

    def failing() -> Any:
        started.set()
        release.wait(5)
        raise RuntimeError("bug")

    def leader() -> None:
        try:
            cache.get((ORG, "x"), failing)
        except RuntimeError as error:
            outcomes.append(error)

    def waiter() -> None:
        try:
            cache.get((ORG, "x"), value("never read"))
        except RuntimeError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=leader)]
    threads[0].start()
    started.wait(5)
    threads += [threading.Thread(target=waiter) for _ in range(3)]
    for thread in threads[1:]:
        thread.start()
    time.sleep(0.05)
    release.set()
    for thread in threads:
        thread.join(5)
    # The leader raises its own exception; each waiter a new one that names only its class.
    assert sorted(str(e) for e in outcomes) == ["bug"] + ["the read this call waited for failed: RuntimeError"] * 3
    assert cache.get((ORG, "x"), value("read")).value.reveal() == "read"  # type: ignore[union-attr]


def test_many_threads_on_a_small_cache_stay_consistent() -> None:
    cache = SecretCache(ttl_seconds=0.001, max_entries=3, max_stale_seconds=1.0, clock=time.monotonic, logger=logging.getLogger("t"))
    errors: List[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(300):
                name = f"s{(n + i) % 7}"
                if i % 50 == 0:
                    cache.invalidate((ORG, name))
                got = cache.get_many([(ORG, name), (ORG, "s0")], lambda keys: {k: (SecretValue(k[1]), 1) for k in keys})
                assert got[(ORG, name)].value.reveal() == name  # type: ignore[union-attr]
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and len(cache) <= 3 and cache._flights == {}


# The reader's arguments.


def test_a_reader_refuses_invalid_arguments_before_any_read() -> None:
    reader = SecretReader("table", KEYS, client=object())  # never called
    for org, name in [("", "x"), (" org", "x"), ("org\x00", "x"), ("o" * 257, "x"), (ORG, ""), (ORG, "a\u200bb")]:
        with pytest.raises(ValueError):
            reader.get(org, name)
    with pytest.raises(TypeError):
        reader.get_many(ORG, "stripe_api_key")
    with pytest.raises(ValueError, match="^not a valid secret name: empty$"):
        reader.get_many(ORG, ["ok", ""])
    with pytest.raises(ValueError, match="^not a valid organization id"):
        reader.resolve(" org", "text")
    for bad in ({"ttl_seconds": -1}, {"ttl_seconds": True}, {"ttl_seconds": 86_401}, {"max_entries": 0},
                {"max_entries": 1.5}, {"max_stale_seconds": float("nan")}):
        with pytest.raises(ValueError, match=f"^{next(iter(bad))} must be"):
            SecretReader("table", KEYS, client=object(), **bad)
    with pytest.raises(ValueError, match="^table_name must be"):
        SecretReader("t", KEYS, client=object())
    with pytest.raises(ValueError, match="^encryption_key entry 2 of 2 is not a Fernet key"):
        SecretReader("table", f"{KEY},x", client=object())


def test_the_installed_package_is_typed() -> None:
    assert (pathlib.Path(org_secrets_reader.__file__).parent / "py.typed").is_file()
