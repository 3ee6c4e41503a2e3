#!/usr/bin/env bash
# `make bench-cold`: cold start, first invoke, warm latency and memory of the release
# bootstrap against a local Runtime API and DynamoDB Local (in memory, free port).
# Prints figures; asserts nothing about time. Arguments go to bench-cold (--spawns, --invokes).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

cargo build --release -p org-secrets --bin bootstrap
cargo build --release -p org-secrets-local --bin bench-cold

scripts/dynamodb-local.sh install
PORT=$(scripts/dynamodb-local.sh free-port)
trap 'scripts/dynamodb-local.sh stop "$PORT"' EXIT
scripts/dynamodb-local.sh start "$PORT"

source scripts/local-aws-env.sh "$PORT"
export SECRETS_TABLE_NAME=bench-cold
ENCRYPTION_KEY="$(target/release/secrets-admin generate-key 2>/dev/null || cargo run -q --release --bin secrets-admin -- generate-key)"
export ENCRYPTION_KEY
cargo run -q --release --bin secrets-admin -- create-table >/dev/null

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
target/release/bench-cold --bootstrap target/release/bootstrap "$@"
