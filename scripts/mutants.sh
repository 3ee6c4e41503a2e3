#!/usr/bin/env bash
# `make mutants`: cargo-mutants on the code that decides who may do what and what is valid
# (claims, permissions, domain types, body/path/header parsing, the event sanitizer, the
# ENCRYPTION_KEY parser, configuration and the create/replay decisions).
#
# Two stages, because building and linking every test binary for each of ~300 mutants takes
# hours on two cores:
#   1. every mutant against the library's unit tests (one test binary, ~10 s a mutant);
#   2. the mutants stage 1 missed, against the integration tests that exercise these
#      modules through the handler and DynamoDB Local (the `api` test binary, narrowed to
#      the modules below).
# A mutant that survives both is listed at the end; mutants.out/ (git-ignored) keeps the
# details. MUTANTS_JOBS (default 1) sets cargo-mutants' parallelism.
set -euo pipefail

FILES=(src/auth.rs src/domain.rs src/api/body.rs src/api/mod.rs src/event.rs src/crypto.rs src/config.rs)
# In crypto.rs only the key-list parser decides what is valid; the rest is Fernet itself,
# covered by the spec vectors and the Python interop tests.
EXCLUDE_RE='crypto\.rs.*(encrypt|decrypt|reencrypt|is_current|generate_key|token_timestamp|fmt|into_string|as_str|from_stored|key_count)'
# As cargo arguments for both the build and the run, so only these test binaries are built.
STAGE1_TARGETS=(--cargo-arg=--lib)
# Stage 2 runs the integration test binary, filtered to these modules (test names are
# `module::test`; the filters go to the test binary, after `--`). The unit tests are left
# out: every stage-2 mutant already survived them. lambda_binary: the audit lines, which
# only the compiled bootstrap's log shows.
STAGE2_TARGETS=(--cargo-arg=--test --cargo-arg=api --cargo-test-arg=--)
for module in authorization create list update delete restore routing malformed_events storage_faults change_records::identity change_records::replay contracts::python_interop contracts::openapi contracts::sample_events lambda_binary; do
  STAGE2_TARGETS+=("--cargo-test-arg=$module::")
done

# cargo-mutants exits 0 when every mutant was caught, 2 when some were missed and 3 when
# some timed out (a hang counts as caught); anything else means the run itself failed.
run_mutants() {
  local rc=0
  cargo mutants --no-shuffle --gitignore=true -j "${MUTANTS_JOBS:-1}" "$@" || rc=$?
  if [[ "$rc" -ne 0 && "$rc" -ne 2 && "$rc" -ne 3 ]]; then
    echo "mutants: cargo-mutants failed to run (exit $rc)" >&2
    exit "$rc"
  fi
  return 0
}

# A regex for one mutant of missed.txt without its line and column, so it still names the
# same mutant if lines move between the stages.
mutant_regex() {
  local file="${1%%:*}" rest="${1#*: }"
  printf '^%s:[0-9]+:[0-9]+: %s$' "$(escape "$file")" "$(escape "$rest")"
}
escape() { printf '%s' "$1" | sed -e 's/[][\\.*^$(){}?+|]/\\&/g'; }

main() {
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  cd "$root"
  command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked --version 27.1.0

  local file_args=()
  for file in "${FILES[@]}"; do file_args+=(--file "$file"); done

  source scripts/test-services.sh

  rm -rf mutants.out
  mkdir -p mutants.out
  echo "mutants: stage 1, every mutant against the unit tests" >&2
  run_mutants "${file_args[@]}" --exclude-re "$EXCLUDE_RE" --output mutants.out/stage1 \
    "${STAGE1_TARGETS[@]}"

  local missed="mutants.out/stage1/mutants.out/missed.txt"
  if [[ ! -s "$missed" ]]; then
    echo "mutants: every mutant caught by the unit tests" >&2
    return 0
  fi
  local re_args=()
  while IFS= read -r line; do
    re_args+=(--re "$(mutant_regex "$line")")
  done <"$missed"
  echo "mutants: stage 2, $(wc -l <"$missed") survivors of stage 1 against the integration suites" >&2
  run_mutants "${file_args[@]}" "${re_args[@]}" --exclude-re "$EXCLUDE_RE" \
    --output mutants.out/stage2 "${STAGE2_TARGETS[@]}"

  local survivors="mutants.out/stage2/mutants.out/missed.txt"
  if [[ -s "$survivors" ]]; then
    echo "mutants: $(wc -l <"$survivors") survivors:" >&2
    cat "$survivors" >&2
    return 2
  fi
  echo "mutants: every mutant caught" >&2
}

main "$@"
