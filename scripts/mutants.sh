#!/usr/bin/env bash
# `make mutants`: cargo-mutants on the code that decides who may do what and what is valid
# (claims, permissions, domain types, body/path/header parsing, the event sanitizer, the
# ENCRYPTION_KEY parser, configuration and the create/replay decisions).
#
# Two stages, because building and linking every test binary for each of several hundred
# mutants takes hours on two cores:
#   1. every mutant against the library's unit tests (fast: one test binary);
#   2. the mutants stage 1 missed, against the integration suites that exercise these
#      modules through the handler and DynamoDB Local.
# A mutant that survives both is reported; mutants.out/ (git-ignored) keeps the details.
# MUTANTS_JOBS (default 1) sets cargo-mutants' parallelism.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked --version 27.1.0

FILES=(src/auth.rs src/domain.rs src/api/body.rs src/api/mod.rs src/event.rs src/crypto.rs src/config.rs)
# In crypto.rs only the key-list parser decides what is valid (the rest is Fernet itself).
EXCLUDE_RE='crypto.rs.*(encrypt|decrypt|reencrypt|is_current|generate_key|token_timestamp|fmt|into_string|as_str|from_stored|key_count)|logging'
file_args=()
for file in "${FILES[@]}"; do file_args+=(--file "$file"); done

scripts/dynamodb-local.sh install
scripts/python-env.sh
export ORG_SECRETS_PYTHON="$ROOT/.local/venv/bin/python"
PORT=$(scripts/dynamodb-local.sh free-port)
trap 'scripts/dynamodb-local.sh stop "$PORT"' EXIT
scripts/dynamodb-local.sh start "$PORT"
source scripts/local-aws-env.sh "$PORT"

jobs="${MUTANTS_JOBS:-1}"
echo "mutants: stage 1, unit tests" >&2
cargo mutants --no-shuffle -j "$jobs" "${file_args[@]}" --exclude-re "$EXCLUDE_RE" \
  --output mutants.out/stage1 -- --lib || true

missed="mutants.out/stage1/mutants.out/missed.txt"
if [[ ! -s "$missed" ]]; then
  echo "mutants: every mutant caught by the unit tests" >&2
  exit 0
fi
# One exact-match regex per missed mutant, for stage 2.
re_args=()
while IFS= read -r line; do
  re_args+=(--re "^$(printf '%s' "$line" | sed -e 's/[][\.*^$(){}?+|/]/\\&/g')\$")
done <"$missed"
echo "mutants: stage 2, $(wc -l <"$missed") survivors of stage 1 against the integration suites" >&2
cargo mutants --no-shuffle -j "$jobs" "${file_args[@]}" "${re_args[@]}" \
  --output mutants.out/stage2 -- --lib --test hardening --test create_secret \
  --test adversarial --test lifecycle --test python_interop --test openapi
