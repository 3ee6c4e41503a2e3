#!/usr/bin/env bash
# `make bench-reader`: the readers services use, on DynamoDB Local (in memory, free port):
# the Rust reader (benches/reader.rs, release) and then the Python package
# (python/benchmarks/bench_reader.py), each side by side with the GetItem-and-decrypt-per-use
# a consumer writes today, and the change events' end-to-end freshness (an update through
# the API until a reader wired to the events serves it: tests/api/reader_freshness.rs, which
# make test leaves out as ignored). Prints figures; asserts nothing about time. Figures and how to
# read them: docs/benchmarks.md ("The readers").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

source scripts/test-services.sh
export AWS_DEFAULT_REGION="${AWS_REGION:-us-east-1}"

echo "== Rust reader (cargo bench --bench reader)"
cargo bench --bench reader -- --bench
echo
echo "== Python reader (python/benchmarks/bench_reader.py)"
.local/venv/bin/python python/benchmarks/bench_reader.py
echo
echo "== Change events, end to end (tests/api/reader_freshness.rs)"
cargo test --test api reader_freshness -- --ignored --nocapture 2>&1 | grep -E "^change events|test result"
