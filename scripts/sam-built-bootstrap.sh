#!/usr/bin/env bash
# Prints the bootstrap `sam build` made for the functions. SecretsFunction and
# PublisherFunction have identical build properties, so SAM builds them once, into
# .aws-sam/build/SecretsFunction-Shared, and the built template points both at it; this
# fails unless it does (a second cargo lambda build would double the build's time).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BUILT=.aws-sam/build
[[ -f "$BUILT/template.yaml" ]] || { echo "sam-built-bootstrap: no $BUILT; run sam build" >&2; exit 1; }
uris=$(grep -E '^ +CodeUri: ' "$BUILT/template.yaml" | awk '{print $2}' | sort -u)
if [[ "$(grep -cE '^ +CodeUri: ' "$BUILT/template.yaml")" -ne 2 || "$(wc -l <<<"$uris")" -ne 1 ]]; then
  echo "sam-built-bootstrap: the two functions were not built once, together: CodeUri $uris" >&2
  exit 1
fi
[[ -x "$BUILT/$uris/bootstrap" ]] || { echo "sam-built-bootstrap: no $BUILT/$uris/bootstrap" >&2; exit 1; }
echo "$BUILT/$uris/bootstrap"
