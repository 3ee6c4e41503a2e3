#!/usr/bin/env bash
# `make test`: start what the tests need, run every test, stop it again.
# DynamoDB Local runs in memory on a free loopback port; nothing is left behind.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

source scripts/test-services.sh

# Arguments narrow the run (e.g. `scripts/test.sh --test lambda_binary`); none runs everything.
if [[ $# -eq 0 ]]; then
  cargo test --workspace --all-targets
  # The documentation examples (the SecretReader one) must keep compiling.
  cargo test --workspace --doc
else
  cargo test "$@"
fi
