#!/usr/bin/env bash
# `make test`: start what the tests need, run every test, stop it again.
# DynamoDB Local runs in memory on a free loopback port; nothing is left behind.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/dynamodb-local.sh install
scripts/python-env.sh
export ORG_SECRETS_PYTHON="$ROOT/.local/venv/bin/python"
PORT=$(scripts/dynamodb-local.sh free-port)
trap 'scripts/dynamodb-local.sh stop "$PORT"' EXIT
scripts/dynamodb-local.sh start "$PORT"

source scripts/local-aws-env.sh "$PORT"

# Arguments narrow the run (e.g. `scripts/test.sh --test lambda_binary`); none runs everything.
if [[ $# -eq 0 ]]; then
  cargo test --workspace --all-targets
  # The documentation examples (the SecretReader one) must keep compiling.
  cargo test --workspace --doc
else
  cargo test "$@"
fi
