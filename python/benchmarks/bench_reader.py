"""The Python reader's figures on DynamoDB Local (scripts/bench-reader.sh runs it, after the
Rust reader's): side by side, what a consumer writes today (a GetItem and the checks and
decrypt per use) and the caching reader (cold, cached, and get_many of 100 names). Prints
p50/p99; asserts nothing about time.

    python bench_reader.py TABLE    (the table the Rust bench seeded is not reused: it seeds
                                     its own, named TABLE)
"""

import os
import statistics
import sys
import time

import boto3
from cryptography.fernet import Fernet

from org_secrets_reader import SecretReader
from org_secrets_reader.crypto import KeyRing, binding_for, binding_key

KEY = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="
ORG = "org_bench"
NAMES = [f"service_{n:03}_api_key" for n in range(100)]
PER_USE, CACHED, BATCHES = 500, 100_000, 100


def percentiles(samples):
    ordered = sorted(samples)
    pick = lambda pct: ordered[round((len(ordered) - 1) * pct)]  # noqa: E731
    return pick(0.5), pick(0.99)


def show(label, samples):
    p50, p99 = percentiles(samples)
    print(f"{label:<44} p50 {p50 * 1e6:>10.3f} µs   p99 {p99 * 1e6:>10.3f} µs   (n = {len(samples)})")
    return p50


def main(table):
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "org_id", "KeyType": "HASH"}, {"AttributeName": "secret_name", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "org_id", "AttributeType": "S"}, {"AttributeName": "secret_name", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    mac_key = binding_key(KEY)
    for name in NAMES:
        token = Fernet(KEY).encrypt(f"sk_live_{name}_0123456789abcdef".encode()).decode()
        client.put_item(TableName=table, Item={
            "org_id": {"S": ORG}, "secret_name": {"S": name},
            "encrypted_value": {"S": token}, "binding": {"S": binding_for(mac_key, ORG, name, token)},
        })
    try:
        keys = KeyRing(KEY)
        samples = []
        for i in range(PER_USE):
            name = NAMES[i % len(NAMES)]
            started = time.perf_counter()
            item = client.get_item(
                TableName=table, Key={"org_id": {"S": ORG}, "secret_name": {"S": name}}, ConsistentRead=True
            )["Item"]
            keys.open_item(ORG, name, item)
            samples.append(time.perf_counter() - started)
        per_use = show("GetItem + checks + decrypt per use", samples)

        reader = SecretReader(table, KEY, client=client)
        samples = []
        for i in range(PER_USE):
            name = NAMES[i % len(NAMES)]
            reader.invalidate(ORG, name)
            started = time.perf_counter()
            reader.get(ORG, name)
            samples.append(time.perf_counter() - started)
        cold = show("SecretReader.get, cold (a miss)", samples)

        reader.get(ORG, NAMES[0])
        samples = []
        for _ in range(CACHED):
            started = time.perf_counter()
            reader.get(ORG, NAMES[0])
            samples.append(time.perf_counter() - started)
        cached = show("SecretReader.get, cached", samples)

        calls = []
        client.meta.events.register("before-send.dynamodb.BatchGetItem", lambda **_: calls.append(1))
        samples, round_trips = [], []
        for _ in range(BATCHES):
            for name in NAMES:
                reader.invalidate(ORG, name)
            before = len(calls)
            started = time.perf_counter()
            answers = reader.get_many(ORG, NAMES)
            samples.append(time.perf_counter() - started)
            round_trips.append(len(calls) - before)
            assert all(not isinstance(a, Exception) for a in answers.values()), "every name is read"
        batch = show("SecretReader.get_many, 100 names cold", samples)
        print()
        print(f"targets: cached get p50 {cached * 1e6:.3f} µs (target ≤ 10 µs); get_many(100) cold p50 = "
              f"{batch / cold:.2f}× a cold get (target ≤ 2×), round trips per call: {max(round_trips)}")
        print(f"per use vs cached: GetItem + decrypt p50 is {per_use / cached:.0f}× the cached get's")
    finally:
        client.delete_table(TableName=table)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else f"bench-reader-py-{os.getpid()}")
