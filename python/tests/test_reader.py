"""What the case table cannot say, against DynamoDB Local: one read per miss across threads,
batches of 100 and unprocessed keys, store errors, the environment, and the command line."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List

import pytest

from conftest import CANARY, KEYS, ORG, REGION, CallCounter, StoreSwitch, Table, assert_no_canary, new_client
from org_secrets_reader import (
    NotFound,
    ReaderError,
    Secret,
    SecretReader,
    StorageError,
    Unavailable,
)
from org_secrets_reader import store as store_module

STRIPE = "sk_live_CANARY-7f3a_51H"
LEGACY = "legacy-CANARY-7f3a"


def slow(client: Any, operation: str, seconds: float = 0.2) -> None:
    """Every `operation` request waits before it is sent, so that callers pile up behind it."""
    client.meta.events.register(f"before-send.dynamodb.{operation}", lambda **_: time.sleep(seconds))


def run_threads(count: int, work: Any) -> List[Any]:
    barrier = threading.Barrier(count)
    results: List[Any] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work()
        except ReaderError as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_concurrent_misses_of_one_secret_make_one_read(seeded_table: Table) -> None:
    client = new_client()
    calls = CallCounter(client)
    slow(client, "GetItem")
    reader = SecretReader(seeded_table.name, KEYS, client=client)
    results = run_threads(10, lambda: reader.get(ORG, "stripe_api_key"))
    assert calls.count("GetItem") == 1
    assert all(isinstance(r, Secret) and r.value.reveal() == STRIPE for r in results)
    # A miss that ends in an error is shared too, each caller raising its own exception.
    errors = run_threads(10, lambda: reader.get(ORG, "never_written"))
    assert calls.count("GetItem") == 2
    assert all(isinstance(e, NotFound) and e.secret == "never_written" for e in errors)
    assert len({id(e) for e in errors}) == 10


def test_a_get_waits_for_the_batch_read_of_its_secret(seeded_table: Table) -> None:
    client = new_client()
    calls = CallCounter(client)
    slow(client, "BatchGetItem", 0.3)
    reader = SecretReader(seeded_table.name, KEYS, client=client)
    batch: Dict[str, Any] = {}
    thread = threading.Thread(target=lambda: batch.update(reader.get_many(ORG, ["stripe_api_key", "legacy_token"])))
    thread.start()
    time.sleep(0.1)
    assert reader.get(ORG, "legacy_token").value.reveal() == LEGACY
    thread.join()
    assert (calls.count("BatchGetItem"), calls.count("GetItem")) == (1, 0)
    assert batch["stripe_api_key"].value.reveal() == STRIPE


def test_get_many_reads_100_names_per_batch_consistently(seeded_table: Table) -> None:
    client = new_client()
    calls = CallCounter(client)
    reader = SecretReader(seeded_table.name, KEYS, client=client)
    names = ["stripe_api_key", "legacy_token"] + [f"absent_{n:03}" for n in range(248)]
    results = reader.get_many(ORG, names + ["stripe_api_key"])
    batches = [params for operation, params in calls.calls if operation == "BatchGetItem"]
    assert [len(b["RequestItems"][seeded_table.name]["Keys"]) for b in batches] == [100, 100, 50]
    assert all(b["RequestItems"][seeded_table.name]["ConsistentRead"] is True for b in batches)
    assert list(results) == names
    assert results["stripe_api_key"].value.reveal() == STRIPE  # type: ignore[union-attr]
    assert results["legacy_token"].value.reveal() == LEGACY  # type: ignore[union-attr]
    assert all(isinstance(results[n], NotFound) for n in names[2:])
    # Now cached: nothing is read again.
    reader.get_many(ORG, names[:2])
    assert calls.count("BatchGetItem") == 3


def leave_unprocessed(client: Any, table: str, names: List[str], times: int) -> None:
    """DynamoDB Local never leaves keys unprocessed: the first `times` answers move `names`
    from Responses into UnprocessedKeys, as throttling would."""
    state = {"left": times}

    def after_call(parsed: Dict[str, Any], **_: Any) -> None:
        if state["left"] == 0:
            return
        state["left"] -= 1
        found = parsed.get("Responses", {}).get(table, [])
        parsed["Responses"][table] = [i for i in found if i["secret_name"]["S"] not in names]
        keys = [{"org_id": {"S": ORG}, "secret_name": {"S": n}} for n in names]
        parsed["UnprocessedKeys"] = {table: {"Keys": keys, "ConsistentRead": True}}

    client.meta.events.register("after-call.dynamodb.BatchGetItem", after_call)


def test_unprocessed_keys_are_sent_again_with_backoff(seeded_table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: List[float] = []
    monkeypatch.setattr(store_module, "_sleep", pauses.append)
    client = new_client()
    calls = CallCounter(client)
    leave_unprocessed(client, seeded_table.name, ["stripe_api_key", "never_written"], times=2)
    reader = SecretReader(seeded_table.name, KEYS, client=client)
    results = reader.get_many(ORG, ["stripe_api_key", "legacy_token", "never_written"])
    assert calls.count("BatchGetItem") == 3
    resent = [p["RequestItems"][seeded_table.name]["Keys"] for o, p in calls.calls if o == "BatchGetItem"][1:]
    assert [[k["secret_name"]["S"] for k in keys] for keys in resent] == [["stripe_api_key", "never_written"]] * 2
    assert pauses == [0.02, 0.04]
    assert results["stripe_api_key"].value.reveal() == STRIPE  # type: ignore[union-attr]
    assert results["legacy_token"].value.reveal() == LEGACY  # type: ignore[union-attr]
    assert isinstance(results["never_written"], NotFound)


def test_keys_left_unprocessed_after_every_resend_are_unavailable(
    seeded_table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses: List[float] = []
    monkeypatch.setattr(store_module, "_sleep", pauses.append)
    client = new_client()
    calls = CallCounter(client)
    leave_unprocessed(client, seeded_table.name, ["stripe_api_key"], times=100)
    reader = SecretReader(seeded_table.name, KEYS, client=client)
    results = reader.get_many(ORG, ["stripe_api_key", "legacy_token"])
    assert calls.count("BatchGetItem") == 1 + store_module.MAX_RESENDS
    assert pauses == [0.02 * 2**n for n in range(store_module.MAX_RESENDS)]
    error = results["stripe_api_key"]
    assert isinstance(error, Unavailable) and error.secret == "stripe_api_key"
    assert results["legacy_token"].value.reveal() == LEGACY  # type: ignore[union-attr]


def test_a_store_error_that_is_not_unavailability_is_storage() -> None:
    reader = SecretReader("no-such-table", KEYS, client=new_client())
    with pytest.raises(StorageError) as raised:
        reader.get(ORG, "stripe_api_key")
    assert raised.value.kind == "storage" and raised.value.cause == "ResourceNotFoundException"
    assert isinstance(reader.get_many(ORG, ["x"])["x"], StorageError)


def test_an_unreachable_store_is_unavailable_for_get_and_get_many(seeded_table: Table) -> None:
    client = new_client()
    StoreSwitch(client).unreachable = True
    reader = SecretReader(seeded_table.name, KEYS, client=client)
    with pytest.raises(Unavailable) as raised:
        reader.get(ORG, "stripe_api_key")
    assert raised.value.cause == "EndpointConnectionError"
    assert str(raised.value) == (
        f"{ORG}/stripe_api_key: the store is unavailable (EndpointConnectionError) (unavailable)"
    )
    assert isinstance(reader.get_many(ORG, ["a", "b"])["b"], Unavailable)


def test_a_stale_value_is_logged_as_a_warning_without_the_value(
    seeded_table: Table, caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]
    client = new_client()
    switch = StoreSwitch(client)
    reader = SecretReader(seeded_table.name, KEYS, client=client, ttl_seconds=1, clock=lambda: now[0])
    reader.get(ORG, "stripe_api_key")
    switch.unreachable = True
    now[0] = 5.0
    secret = reader.get(ORG, "stripe_api_key")
    assert (secret.stale, secret.age_seconds) == (True, 5.0)
    warnings = [r for r in caplog.records if r.name == "org_secrets_reader" and r.levelname == "WARNING"]
    assert [r.getMessage() for r in warnings] == [
        f"serving a stale value of {ORG}/stripe_api_key, read 5.000 s ago: "
        "the store is unavailable (EndpointConnectionError)"
    ]


# The environment.

ENV = ("SECRETS_TABLE_NAME", "ENCRYPTION_KEY", "SECRETS_CACHE_TTL_SECONDS",
       "SECRETS_CACHE_MAX_ENTRIES", "SECRETS_CACHE_MAX_STALE_SECONDS")


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, reader_client: Any) -> Any:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRETS_TABLE_NAME", "org-secrets")
    monkeypatch.setenv("ENCRYPTION_KEY", KEYS)

    def from_env(**overrides: Any) -> SecretReader:
        return SecretReader.from_env(client=reader_client, **overrides)

    return from_env


def test_from_env_reads_the_settings(environment: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = environment()
    assert repr(reader) == "SecretReader(table_name='org-secrets', cached=0)"
    monkeypatch.setenv("SECRETS_TABLE_NAME", " org-secrets-2 ")
    monkeypatch.setenv("SECRETS_CACHE_TTL_SECONDS", "0")
    monkeypatch.setenv("SECRETS_CACHE_MAX_ENTRIES", " 5 ")
    monkeypatch.setenv("SECRETS_CACHE_MAX_STALE_SECONDS", "604800")
    cache = environment()._cache
    assert (cache._ttl, cache._max_entries, cache._max_stale) == (0, 5, 604800)
    # Arguments win over the environment, and need none of it.
    monkeypatch.delenv("SECRETS_TABLE_NAME")
    monkeypatch.setenv("SECRETS_CACHE_TTL_SECONDS", "nonsense")
    assert environment(table_name="given", ttl_seconds=1.5)._cache._ttl == 1.5


@pytest.mark.parametrize(
    "variable, raw",
    [
        ("SECRETS_TABLE_NAME", ""),
        ("SECRETS_TABLE_NAME", "  "),
        ("SECRETS_TABLE_NAME", "a/b"),
        ("ENCRYPTION_KEY", ""),
        ("ENCRYPTION_KEY", KEYS + ","),
        ("ENCRYPTION_KEY", KEYS.replace("-", "+")),
        ("ENCRYPTION_KEY", KEYS[:-2] + "="),
        ("SECRETS_CACHE_TTL_SECONDS", "-1"),
        ("SECRETS_CACHE_TTL_SECONDS", "1.5"),
        ("SECRETS_CACHE_TTL_SECONDS", "86401"),
        ("SECRETS_CACHE_TTL_SECONDS", ""),
        ("SECRETS_CACHE_MAX_ENTRIES", "0"),
        ("SECRETS_CACHE_MAX_ENTRIES", "1_000"),
        ("SECRETS_CACHE_MAX_STALE_SECONDS", "inf"),
        ("SECRETS_CACHE_MAX_STALE_SECONDS", "604801"),
    ],
)
def test_from_env_names_an_invalid_variable_and_never_quotes_a_key(
    environment: Any, monkeypatch: pytest.MonkeyPatch, variable: str, raw: str
) -> None:
    monkeypatch.setenv(variable, raw)
    with pytest.raises(ValueError) as raised:
        environment()
    message = str(raised.value)
    assert message.startswith(variable), message
    for key in KEYS.split(","):
        assert key[5:20] not in message


def test_from_env_says_which_required_variable_is_missing(environment: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("SECRETS_TABLE_NAME", "ENCRYPTION_KEY"):
        with monkeypatch.context() as patch:
            patch.delenv(variable)
            with pytest.raises(ValueError, match=f"^{variable} is not set$"):
                environment()


# The command line, as the recipe's (examples/python/read_secret.py).


def cli(table: Table, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ, SECRETS_TABLE_NAME=table.name, ENCRYPTION_KEY=KEYS, AWS_DEFAULT_REGION=REGION)
    environ.update(env)
    result = subprocess.run(
        [sys.executable, "-m", "org_secrets_reader", *args],
        env=environ, capture_output=True, text=True, timeout=60,
    )
    assert CANARY not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result


def test_the_command_line_prints_the_sha256_of_the_value_only_when_asked(seeded_table: Table) -> None:
    result = cli(seeded_table, "--sha256", ORG, "clé d’accès ✓")
    expected = hashlib.sha256("pässwörd-CANARY-7f3a-✓".encode("utf-8")).hexdigest()
    assert (result.returncode, result.stdout, result.stderr) == (0, expected + "\n", "")
    plain = cli(seeded_table, ORG, "clé d’accès ✓")
    assert (plain.returncode, plain.stdout, plain.stderr) == (0, f"ok {ORG}/clé d’accès ✓ version 1\n", "")


def test_the_command_line_names_a_refusal(seeded_table: Table) -> None:
    refused = cli(seeded_table, ORG, "copied_token")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == (
        f"refused: {ORG}/copied_token: the binding does not match this organization, name and "
        "token (not_bound)\n"
    )
    misconfigured = cli(seeded_table, ORG, "x", ENCRYPTION_KEY="")
    assert misconfigured.returncode == 2
    assert misconfigured.stderr == "org_secrets_reader: ENCRYPTION_KEY is not set\n"
    assert cli(seeded_table, ORG).returncode == 2


def test_results_and_errors_never_show_a_value(seeded_table: Table, reader_client: Any) -> None:
    reader = SecretReader(seeded_table.name, KEYS, client=reader_client)
    secret = reader.get(ORG, "stripe_api_key")
    creds = reader.credentials(ORG, {"type": "bearer", "secret_ref": "stripe_api_key"})
    document = reader.resolve_document(ORG, {"a": "{{SECRET.stripe_api_key}}"})
    text = reader.resolve(ORG, "{{SECRET.stripe_api_key}}")
    assert_no_canary(secret, secret.value, creds, document, text, reader, f"{secret.value}")
    assert repr(creds) == "Credentials(headers=['Authorization'], query=[])"
