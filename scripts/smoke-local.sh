#!/usr/bin/env bash
# Runs `make run` on free ports with a throw-away state folder and checks the README's curl
# commands give the statuses the README promises, including after a restart.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

STATE=$(mktemp -d)
API_PORT=$(scripts/dynamodb-local.sh free-port)
DDB_PORT=$(scripts/dynamodb-local.sh free-port)
BASE="http://127.0.0.1:$API_PORT"
passed=0
failed=0
pid=""

start() {
  ORG_SECRETS_LOCAL_DIR="$STATE" API_ADDR="127.0.0.1:$API_PORT" DYNAMODB_LOCAL_PORT="$DDB_PORT" \
    setsid scripts/run-local.sh >>"$STATE/run.log" 2>&1 &
  pid=$!
  # Generous: on a loaded two-core machine DynamoDB Local (Java) alone can take a minute.
  for _ in $(seq 1 900); do
    if curl -s -o /dev/null "$BASE/"; then return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  echo "smoke: make run did not come up; its log:" >&2
  cat "$STATE/run.log" >&2
  return 1
}

stop() {
  [[ -n "$pid" ]] || return 0
  kill -TERM -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
}

cleanup() { stop; rm -rf "$STATE"; }
trap cleanup EXIT

# expect LABEL STATUS curl-args...: the status, and the body never echoing a value.
expect() {
  local label="$1" want="$2"
  shift 2
  local got
  got=$(curl -s -o "$STATE/body" -w '%{http_code}' "$@")
  if [[ "$got" == "$want" ]] && ! grep -q 'sk_test_local_123\|sk_test_other_456' "$STATE/body"; then
    echo "smoke: ok   $label -> $got"
    passed=$((passed + 1))
  else
    echo "smoke: FAIL $label -> $got (wanted $want): $(cat "$STATE/body")"
    failed=$((failed + 1))
  fi
}

# `make run` builds the binaries first (scripts/run-local.sh, with the tests' features, so
# after `cargo test` it finds its work done); do it here, outside the wait for the service.
cargo build --quiet --workspace --bins --tests
start || exit 1
# The README's "Try it" requests, then describe, the list of deleted secrets and a history.
expect "admin creates"         201 -X POST "$BASE/v1/organizations/secrets" -H 'Authorization: Bearer dev-admin-acme' -H 'Content-Type: application/json' -d '{"secret_name": "stripe_api_key", "secret_value": "sk_test_local_123"}'
expect "same name again"       409 -X POST "$BASE/v1/organizations/secrets" -H 'Authorization: Bearer dev-admin-acme' -H 'Content-Type: application/json' -d '{"secret_name": "stripe_api_key", "secret_value": "sk_test_other_456"}'
expect "invalid body"          422 -X POST "$BASE/v1/organizations/secrets" -H 'Authorization: Bearer dev-admin-acme' -H 'Content-Type: application/json' -d '{"secret_name": ""}'
expect "no token"              401 -X POST "$BASE/v1/organizations/secrets" -H 'Content-Type: application/json' -d '{"secret_name": "stripe_api_key", "secret_value": "sk_test_local_123"}'
expect "read-only member"      403 -X POST "$BASE/v1/organizations/secrets" -H 'Authorization: Bearer dev-reader-acme' -H 'Content-Type: application/json' -d '{"secret_name": "stripe_api_key", "secret_value": "sk_test_local_123"}'
expect "second org, same name" 201 -X POST "$BASE/v1/organizations/secrets" -H 'Authorization: Bearer dev-admin-globex' -H 'Content-Type: application/json' -d '{"secret_name": "stripe_api_key", "secret_value": "sk_test_other_456"}'
expect "wrong method"          405 -X PATCH "$BASE/v1/organizations/secrets" -H 'Authorization: Bearer dev-admin-acme'
expect "reader lists"          200 "$BASE/v1/organizations/secrets" -H 'Authorization: Bearer dev-reader-acme'
if grep -q '"secrets":\["stripe_api_key"\]' "$STATE/body"; then passed=$((passed + 1)); else echo "smoke: FAIL list body: $(cat "$STATE/body")"; failed=$((failed + 1)); fi
expect "admin updates"         200 -X PUT "$BASE/v1/organizations/secrets/stripe_api_key" -H 'Authorization: Bearer dev-admin-acme' -H 'Content-Type: application/json' -d '{"secret_value": "sk_test_other_456"}'
expect "reader cannot update"  403 -X PUT "$BASE/v1/organizations/secrets/stripe_api_key" -H 'Authorization: Bearer dev-reader-acme' -H 'Content-Type: application/json' -d '{"secret_value": "sk_test_other_456"}'
expect "idempotent create"     201 -X POST "$BASE/v1/organizations/secrets" -H 'Authorization: Bearer dev-admin-acme' -H 'Idempotency-Key: run-42' -H 'Content-Type: application/json' -d '{"secret_name": "github_token", "secret_value": "sk_test_local_123"}'
expect "same key, retried"     201 -X POST "$BASE/v1/organizations/secrets" -H 'Authorization: Bearer dev-admin-acme' -H 'Idempotency-Key: run-42' -H 'Content-Type: application/json' -d '{"secret_name": "github_token", "secret_value": "sk_test_local_123"}'
expect "non-UTF-8 header"      422 -X POST "$BASE/v1/organizations/secrets" -H 'Authorization: Bearer dev-admin-acme' -H $'Idempotency-Key: k\xff' -H 'Content-Type: application/json' -d '{"secret_name": "other_token", "secret_value": "sk_test_local_123"}'
expect "admin deletes"         200 -X DELETE "$BASE/v1/organizations/secrets/github_token" -H 'Authorization: Bearer dev-admin-acme'
expect "delete again"          404 -X DELETE "$BASE/v1/organizations/secrets/github_token" -H 'Authorization: Bearer dev-admin-acme'
expect "restore"               200 -X POST "$BASE/v1/organizations/secrets/github_token/restore" -H 'Authorization: Bearer dev-admin-acme'
expect "restore again"         404 -X POST "$BASE/v1/organizations/secrets/github_token/restore" -H 'Authorization: Bearer dev-admin-acme'
expect "previous value back"   200 -X POST "$BASE/v1/organizations/secrets/stripe_api_key/restore?version=previous" -H 'Authorization: Bearer dev-admin-acme'
expect "reader describes"      200 "$BASE/v1/organizations/secrets/stripe_api_key" -H 'Authorization: Bearer dev-reader-acme'
if grep -q '"restored_by":"dev-admin-acme\|"restored_at":"' "$STATE/body" && grep -q '"previous_restorable_until":"' "$STATE/body"; then passed=$((passed + 1)); else echo "smoke: FAIL describe body: $(cat "$STATE/body")"; failed=$((failed + 1)); fi
expect "delete for the list"   200 -X DELETE "$BASE/v1/organizations/secrets/github_token" -H 'Authorization: Bearer dev-admin-acme'
expect "admin lists deleted"   200 "$BASE/v1/organizations/secrets?state=deleted" -H 'Authorization: Bearer dev-admin-acme'
if grep -q '"secret_name":"github_token"' "$STATE/body"; then passed=$((passed + 1)); else echo "smoke: FAIL deleted list body: $(cat "$STATE/body")"; failed=$((failed + 1)); fi
expect "reader cannot"         403 "$BASE/v1/organizations/secrets?state=deleted" -H 'Authorization: Bearer dev-reader-acme'
# github_token: created, deleted, restored, deleted again: four versions, newest first.
expect "admin reads history"   200 "$BASE/v1/organizations/secrets/github_token/history" -H 'Authorization: Bearer dev-admin-acme'
if grep -q '"changes":\[{"changed_at":"[^"]*","changed_by":"[^"]*","operation":"delete","request_id":"[^"]*","version":4}' "$STATE/body" && grep -q '"operation":"restore_deleted"' "$STATE/body"; then passed=$((passed + 1)); else echo "smoke: FAIL history body: $(cat "$STATE/body")"; failed=$((failed + 1)); fi
expect "reader cannot history" 403 "$BASE/v1/organizations/secrets/github_token/history" -H 'Authorization: Bearer dev-reader-acme'
stop

# Data and key survive a restart: the name is still taken.
start || exit 1
expect "after restart"         409 -X POST "$BASE/v1/organizations/secrets" -H 'Authorization: Bearer dev-admin-acme' -H 'Content-Type: application/json' -d '{"secret_name": "stripe_api_key", "secret_value": "sk_test_local_123"}'
stop

if grep -q 'sk_test_local_123\|sk_test_other_456' "$STATE/run.log"; then
  echo "smoke: FAIL a secret value appeared in the make run log"
  failed=$((failed + 1))
else
  passed=$((passed + 1))
fi
echo "smoke: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
