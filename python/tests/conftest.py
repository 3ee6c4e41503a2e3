"""The tests' DynamoDB Local tables, the shared case table and its seeds, a fake clock, a switch
that makes the store unreachable, and the canary check on every log record."""

from __future__ import annotations

import json
import logging
import os
import pathlib
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from org_secrets_reader import SecretReader

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "tests" / "data" / "reader-contract"
CASES: Dict[str, Any] = json.loads((CONTRACT / "cases.json").read_text(encoding="utf-8"))
CANARY: str = CASES["canary"]
ORG: str = CASES["org_id"]
KEYS: str = CASES["encryption_key"]
# One attempt: an unreachable store is unavailable at once, without the SDK's backoff.
# boto3 reads AWS_DEFAULT_REGION; scripts/local-aws-env.sh sets AWS_REGION (as the Rust SDK reads).
REGION = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
FAST = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=5)


def load_seeds() -> Dict[str, Dict[str, Any]]:
    """seeds.json, written by the Rust side: label -> item in DynamoDB's low-level JSON."""
    path = CONTRACT / "seeds.json"
    if not path.exists():
        pytest.fail(
            f"{path.relative_to(ROOT)} is missing: the Rust side writes it "
            "(cargo test --test api reader_contract::regenerate_seeds -- --ignored)",
            pytrace=False,
        )
    items = {entry["label"]: entry["item"] for entry in json.loads(path.read_text(encoding="utf-8"))["items"]}
    labels = {seed["label"] for seed in CASES["seeds"]}
    if set(items) != labels:
        pytest.fail(f"seeds.json has labels {sorted(items)}, cases.json {sorted(labels)}", pytrace=False)
    return items


def new_client() -> Any:
    if not os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"):
        pytest.fail(
            "AWS_ENDPOINT_URL_DYNAMODB is not set: run scripts/test-python.sh with DynamoDB "
            "Local's environment (source scripts/test-services.sh)",
            pytrace=False,
        )
    endpoint = os.environ["AWS_ENDPOINT_URL_DYNAMODB"]  # given, for a botocore that predates the variable
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION, config=FAST)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class StoreSwitch:
    """Makes a client's requests fail as an unreachable endpoint does, before they are sent."""

    def __init__(self, client: Any) -> None:
        self.unreachable = False
        client.meta.events.register("before-send.dynamodb", self._before_send)

    def _before_send(self, request: Any, **_: Any) -> None:
        if self.unreachable:
            raise EndpointConnectionError(endpoint_url=request.url)


class CallCounter:
    """Counts a client's API calls (not retries) by operation, with their parameters."""

    def __init__(self, client: Any) -> None:
        self.calls: List[Tuple[str, Dict[str, Any]]] = []
        client.meta.events.register("before-parameter-build.dynamodb", self._count)

    def _count(self, model: Any, params: Dict[str, Any], **_: Any) -> None:
        self.calls.append((model.name, json.loads(json.dumps(params))))

    def count(self, operation: str) -> int:
        return sum(1 for name, _ in self.calls if name == operation)


class Table:
    """A fresh table in DynamoDB Local with the function's key schema."""

    def __init__(self, admin: Any) -> None:
        self.admin = admin
        self.name = f"reader-{uuid.uuid4().hex[:12]}"
        admin.create_table(
            TableName=self.name,
            AttributeDefinitions=[
                {"AttributeName": "org_id", "AttributeType": "S"},
                {"AttributeName": "secret_name", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "org_id", "KeyType": "HASH"},
                {"AttributeName": "secret_name", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )

    def put(self, item: Dict[str, Any]) -> None:
        self.admin.put_item(TableName=self.name, Item=item)

    def delete(self, org_id: str, name: str) -> None:
        self.admin.delete_item(
            TableName=self.name, Key={"org_id": {"S": org_id}, "secret_name": {"S": name}}
        )

    def seed(self, seeds: Dict[str, Dict[str, Any]]) -> None:
        """Every seed but those marked "initial": false."""
        for seed in CASES["seeds"]:
            if seed.get("initial", True):
                self.put(seeds[seed["label"]])

    def drop(self) -> None:
        self.admin.delete_table(TableName=self.name)


@pytest.fixture(scope="session")
def seeds() -> Dict[str, Dict[str, Any]]:
    return load_seeds()


@pytest.fixture(scope="session")
def admin() -> Any:
    """A client for setting tables up, never made unreachable."""
    return new_client()


@pytest.fixture
def table(admin: Any) -> Iterator[Table]:
    table = Table(admin)
    yield table
    table.drop()


@pytest.fixture(scope="session")
def seeded_table(admin: Any, seeds: Dict[str, Dict[str, Any]]) -> Iterator[Table]:
    """One table seeded once, for the cases that never change it."""
    table = Table(admin)
    table.seed(seeds)
    yield table
    table.drop()


@pytest.fixture(scope="session")
def reader_client() -> Any:
    """A shared client for readers that need no switch or counter."""
    return new_client()


ReaderFactory = Callable[..., SecretReader]


@pytest.fixture
def make_reader() -> ReaderFactory:
    def make(table: Table, client: Optional[Any] = None, **settings: Any) -> SecretReader:
        return SecretReader(table.name, KEYS, client=client or new_client(), **settings)

    return make


@pytest.fixture(autouse=True)
def canary_never_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test runs with everything logged at DEBUG (botocore included); no record may
    hold the canary."""
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        assert CANARY not in record.getMessage(), f"a log record of {record.name} holds the canary"
    assert CANARY not in caplog.text


def assert_no_canary(*things: object) -> None:
    for thing in things:
        assert CANARY not in repr(thing), f"repr of {type(thing).__name__} holds the canary"
        assert CANARY not in str(thing), f"str of {type(thing).__name__} holds the canary"
