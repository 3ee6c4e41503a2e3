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

export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$PORT"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN

# Arguments narrow the run (e.g. `scripts/test.sh --test lambda_binary`); none runs everything.
if [[ $# -eq 0 ]]; then
  cargo test --workspace --all-targets
  # The documentation examples (the SecretReader one) must keep compiling.
  cargo test --workspace --doc
else
  cargo test "$@"
fi
