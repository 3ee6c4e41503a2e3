#!/usr/bin/env bash
# `make test`: start what the tests need, run every test, stop it again.
# DynamoDB Local runs in memory on a free loopback port; nothing is left behind. (Plain
# `cargo test` works too: the tests' support then starts DynamoDB Local and prepares the
# Python venv itself; see tests/api/support/services.rs.)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

source scripts/test-services.sh

# Arguments narrow the run: the integration tests are one binary, `api`, with a module per
# area, so e.g. `scripts/test.sh --test api lambda_binary::`. None runs everything.
if [[ $# -eq 0 ]]; then
  cargo test --workspace --all-targets
  # The documentation examples (the reader's) must keep compiling.
  cargo test --workspace --doc
  # The Python reader (python/): the shared case table and its own tests.
  scripts/test-python.sh
else
  cargo test "$@"
fi
