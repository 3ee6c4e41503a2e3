#!/usr/bin/env bash
# `make fuzz`: each cargo-fuzz target for FUZZ_SECONDS (default 60) on nightly, with the
# event corpus seeded from events/. Exits non-zero on the first crash; libFuzzer leaves the
# crashing input under fuzz/artifacts/<target>/ (turn it into a regression test).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

mkdir -p corpus/event_to_request corpus/whole_event corpus/body_parser corpus/permission_parser
for events_corpus in corpus/event_to_request corpus/whole_event; do
  cp ../events/*.json "$events_corpus/"
  rm -f "$events_corpus/expected-status.json"
done

for target in event_to_request whole_event body_parser permission_parser; do
  seeds=()
  [[ -d "seeds/$target" ]] && seeds=("seeds/$target")
  echo "fuzz: $target for ${SECONDS_PER_TARGET}s"
  cargo +nightly fuzz run "$target" "corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 -print_final_stats=1
done
echo "fuzz: no crash in any target"
