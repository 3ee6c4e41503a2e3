"""Every case of tests/data/reader-contract/cases.json, against DynamoDB Local seeded with the
items the Rust side wrote (seeds.json). tests/api/reader_contract.rs runs the same table
against the Rust reader."""

from __future__ import annotations

from typing import Any, Callable, Dict, Union

import pytest

from conftest import CASES, KEYS, ORG, CallCounter, FakeClock, StoreSwitch, Table, assert_no_canary, new_client
from org_secrets_reader import Credentials, ReaderError, Secret, SecretReader

KNOWN_SECTIONS = {
    "about", "canary", "org_id", "encryption_key", "unknown_key", "seeds",
    "reads", "batch_reads", "credentials", "templates", "documents", "cache",
}


def test_every_section_of_the_case_table_is_run() -> None:
    assert set(CASES) == KNOWN_SECTIONS, "cases.json has a section these tests do not run"


def outcome(call: Callable[[], Any]) -> Any:
    """What call returns, or the ReaderError it raises; neither may show the canary."""
    try:
        result = call()
    except ReaderError as error:
        result = error
    assert_no_canary(result)
    return result


def check_error(result: object, expect: Dict[str, Any]) -> None:
    assert isinstance(result, ReaderError), f"expected {expect['error']}, got {result!r}"
    assert result.kind == expect["error"], repr(result)
    assert result.secret == expect.get("secret"), repr(result)
    if "reason" in expect:
        assert getattr(result, "reason", None) == expect["reason"], repr(result)
    if result.secret is not None:
        assert result.org_id == ORG and result.secret in str(result)
    assert result.kind in str(result)


def check_secret(result: Union[Secret, ReaderError], expect: Dict[str, Any]) -> None:
    assert_no_canary(result)
    if "error" in expect:
        check_error(result, expect)
        return
    assert isinstance(result, Secret), repr(result)
    assert result.value.reveal() == expect["value"]
    if "stale" in expect:
        assert result.stale is expect["stale"]
    if "age_seconds" in expect:
        assert result.age_seconds == expect["age_seconds"]


def check_credentials(result: Union[Credentials, ReaderError], expect: Dict[str, Any]) -> None:
    if "error" in expect:
        check_error(result, expect)
        return
    assert isinstance(result, Credentials), repr(result)
    assert {name.lower(): value.reveal() for name, value in result.headers.items()} == expect["headers"]
    assert {name: value.reveal() for name, value in result.query.items()} == expect["query"]
    headers: Dict[str, Any] = {"AUTHORIZATION": "replaced", "Accept": "*/*"}
    params: Dict[str, Any] = {}
    result.apply(headers, params)
    applied = {name.lower(): value for name, value in headers.items()}
    assert applied == {"accept": "*/*", "authorization": "replaced", **expect["headers"]}
    assert params == expect["query"]


def check_text(result: Any, expect: Dict[str, Any], key: str = "text") -> None:
    if "error" in expect:
        check_error(result, expect)
        return
    assert not isinstance(result, ReaderError), repr(result)
    assert result.reveal() == expect[key]


@pytest.fixture
def reader(seeded_table: Table, reader_client: Any) -> SecretReader:
    """A new reader (empty cache) on the table seeded once."""
    return SecretReader(seeded_table.name, KEYS, client=reader_client)


@pytest.mark.parametrize("case", CASES["reads"], ids=lambda case: case["name"])
def test_reads(reader: SecretReader, case: Dict[str, Any]) -> None:
    check_secret(outcome(lambda: reader.get(ORG, case["name"])), case["expect"])


@pytest.mark.parametrize("case", CASES["batch_reads"], ids=lambda case: ",".join(case["names"]) or "none")
def test_batch_reads(reader: SecretReader, case: Dict[str, Any]) -> None:
    results = reader.get_many(ORG, case["names"])
    assert list(results) == list(case["expect"])
    for name, expect in case["expect"].items():
        check_secret(results[name], expect)


@pytest.mark.parametrize("case", CASES["credentials"], ids=lambda case: str(case["auth"]))
def test_credentials(reader: SecretReader, case: Dict[str, Any]) -> None:
    check_credentials(outcome(lambda: reader.credentials(ORG, case["auth"])), case["expect"])


@pytest.mark.parametrize("case", CASES["templates"], ids=lambda case: case["template"] or "empty")
def test_templates(reader: SecretReader, case: Dict[str, Any]) -> None:
    check_text(outcome(lambda: reader.resolve(ORG, case["template"])), case["expect"])


@pytest.mark.parametrize("case", CASES["documents"], ids=lambda case: str(case["document"])[:40])
def test_documents(reader: SecretReader, case: Dict[str, Any]) -> None:
    result = outcome(lambda: reader.resolve_document(ORG, case["document"]))
    check_text(result, case["expect"], key="document")


@pytest.mark.parametrize("scenario", CASES["cache"], ids=lambda scenario: scenario["about"][:60])
def test_cache(seeds: Dict[str, Dict[str, Any]], table: Table, scenario: Dict[str, Any]) -> None:
    table.seed(seeds)
    client = new_client()
    switch = StoreSwitch(client)
    CallCounter(client)
    clock = FakeClock(1000.0)
    reader = SecretReader(table.name, KEYS, client=client, clock=clock, **scenario["config"])
    for number, step in enumerate(scenario["steps"], start=1):
        try:
            run_step(step, reader, table, seeds, switch, clock)
        except AssertionError as failure:
            raise AssertionError(f"step {number} {step}: {failure}") from None
    assert_no_canary(reader)


def run_step(
    step: Dict[str, Any],
    reader: SecretReader,
    table: Table,
    seeds: Dict[str, Dict[str, Any]],
    switch: StoreSwitch,
    clock: FakeClock,
) -> None:
    expect = step.get("expect", {})
    if "get" in step:
        check_secret(outcome(lambda: reader.get(ORG, step["get"])), expect)
    elif "refresh" in step:
        check_secret(outcome(lambda: reader.refresh(ORG, step["refresh"])), expect)
    elif "get_many" in step:
        results = reader.get_many(ORG, step["get_many"])
        assert list(results) == list(expect)
        for name, expected in expect.items():
            check_secret(results[name], expected)
    elif "resolve" in step:
        check_text(outcome(lambda: reader.resolve(ORG, step["resolve"])), expect)
    elif "credentials" in step:
        check_credentials(outcome(lambda: reader.credentials(ORG, step["credentials"])), expect)
    elif "advance_seconds" in step:
        clock.advance(step["advance_seconds"])
    elif "store" in step:
        assert step["store"] in ("unreachable", "reachable")
        switch.unreachable = step["store"] == "unreachable"
    elif "put" in step:
        item = dict(seeds[step["put"]])
        if "as" in step:
            item["secret_name"] = {"S": step["as"]}
        table.put(item)
    elif "delete" in step:
        table.delete(ORG, step["delete"])
    elif "invalidate" in step:
        reader.invalidate(ORG, step["invalidate"])
    elif "event" in step:
        result = outcome(lambda: reader.apply_change_event(step["event"]))
        if "error" in expect:
            check_error(result, expect)
        else:
            assert result is expect["dropped"]
    else:
        pytest.fail(f"a step these tests do not know: {sorted(step)}")
