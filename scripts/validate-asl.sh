#!/usr/bin/env bash
# Validates every Step Functions definition (*.asl.json) under examples/ with asl-validator
# (npm), pinned and installed once into the git-ignored .local/asl-validator. Run it from
# `make lint`. The definitions keep their ${...} DefinitionSubstitutions placeholders; the
# validator checks structure, state transitions, JSONPath and intrinsic-function syntax.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VERSION="4.0.0"
PREFIX="$ROOT/.local/asl-validator"
BIN="$PREFIX/node_modules/.bin/asl-validator"

if [[ ! -x "$BIN" ]] || [[ "$("$BIN" --version 2>/dev/null)" != "$VERSION" ]]; then
  command -v npm >/dev/null || { echo "validate-asl: npm is required" >&2; exit 1; }
  npm install --silent --no-audit --no-fund --prefix "$PREFIX" "asl-validator@$VERSION" >/dev/null
fi

mapfile -t definitions < <(find examples -name '*.asl.json' | sort)
if [[ ${#definitions[@]} -eq 0 ]]; then
  echo "validate-asl: no *.asl.json under examples/" >&2
  exit 1
fi
args=()
for definition in "${definitions[@]}"; do args+=(--json-path "$definition"); done
"$BIN" "${args[@]}"
