#!/usr/bin/env bash
# `make run`: the API on http://127.0.0.1:3000 without AWS.
#
# DynamoDB Local keeps its data under .local/dynamodb-data (git-ignored) across restarts, a
# local ENCRYPTION_KEY is made once in .local/encryption.key, the table is created if
# missing, and the real `bootstrap` serves requests behind a local API Gateway (HTTP API,
# payload 2.0) whose dev authorizer reads local/dev-identities.json.
#
# Overridable: API_ADDR (127.0.0.1:3000), DYNAMODB_LOCAL_PORT (8000),
# ORG_SECRETS_LOCAL_DIR (.local), SECRETS_TABLE_NAME (org-secrets-local).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

STATE_DIR="${ORG_SECRETS_LOCAL_DIR:-$ROOT/.local}"
API_ADDR="${API_ADDR:-127.0.0.1:3000}"
DDB_PORT="${DYNAMODB_LOCAL_PORT:-8000}"
export SECRETS_TABLE_NAME="${SECRETS_TABLE_NAME:-org-secrets-local}"

# With the tests' features (`--tests` turns on the dev-dependencies' features, e.g. tokio's
# test-util, which change no behaviour): `make run` after `make test`, and the reverse, reuse
# one build of the dependencies instead of compiling them twice.
cargo build --quiet --workspace --bins --tests
mkdir -p "$STATE_DIR"

KEY_FILE="$STATE_DIR/encryption.key"
if [[ ! -s "$KEY_FILE" ]]; then
  (umask 077 && target/debug/secrets-admin generate-key >"$KEY_FILE.tmp" && mv "$KEY_FILE.tmp" "$KEY_FILE")
  echo "run-local: created a local ENCRYPTION_KEY in $KEY_FILE (kept for next time)" >&2
fi

GATEWAY_PID=""
cleanup() {
  if [[ -n "$GATEWAY_PID" ]]; then
    # The gateway's child is the bootstrap process; stop both.
    pkill -TERM -P "$GATEWAY_PID" 2>/dev/null || true
    kill -TERM "$GATEWAY_PID" 2>/dev/null || true
    wait "$GATEWAY_PID" 2>/dev/null || true
  fi
  scripts/dynamodb-local.sh stop "$DDB_PORT"
}
scripts/dynamodb-local.sh start "$DDB_PORT" "$STATE_DIR/dynamodb-data"
trap cleanup EXIT
trap 'exit 130' INT TERM

source scripts/local-aws-env.sh "$DDB_PORT"
ENCRYPTION_KEY="$(cat "$KEY_FILE")"
export ENCRYPTION_KEY

target/debug/secrets-admin create-table
# In the background so that a TERM or Ctrl-C reaches our trap at once.
target/debug/local-gateway \
  --bootstrap target/debug/bootstrap \
  --identities local/dev-identities.json \
  --listen "$API_ADDR" &
GATEWAY_PID=$!
wait "$GATEWAY_PID"
