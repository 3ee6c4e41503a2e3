#!/usr/bin/env bash
# `sam build`'s bootstrap must be the very binary `make build` packages, byte for byte.
#
# The SAM CLI (rust-cargolambda) runs `cargo lambda build --release --arm64 --bin bootstrap`
# in this folder, naming no package; `make build` names `-p org-secrets`. Without a package,
# cargo selects both default members (Cargo.toml) and unifies their features, so the deployed
# bootstrap got local's hyper "server" feature. Cargo.toml's [workspace.metadata.lambda.build]
# `packages` gives cargo-lambda the package instead. This runs scripts/build-lambda.sh (after
# a `sam build` of the same packages and features cargo finds its work done: a zip and its
# checks), then compares the bootstrap sam build made (scripts/sam-built-bootstrap.sh) with
# bootstrap.zip's.
# scripts/sam-local-test.sh runs it after `sam build`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SAM_BOOTSTRAP=$(scripts/sam-built-bootstrap.sh)

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! scripts/build-lambda.sh >"$log" 2>&1; then
  cat "$log" >&2
  echo "check-sam-build: make build (scripts/build-lambda.sh) failed" >&2
  exit 1
fi

if python3 - "$SAM_BOOTSTRAP" bootstrap.zip <<'PY'; then exit 0; fi
import hashlib
import sys
import zipfile

sam = open(sys.argv[1], "rb").read()
make = zipfile.ZipFile(sys.argv[2]).read("bootstrap")


def describe(data):
    return f"{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}"


if sam == make:
    print(f"check-sam-build: ok: sam build's bootstrap is make build's ({describe(sam)})")
    sys.exit(0)
print(
    "check-sam-build: FAIL: sam build's bootstrap is not make build's:\n"
    f"  sam build  ({sys.argv[1]}): {describe(sam)} ({len(sam) - len(make):+d} bytes)\n"
    f"  make build (bootstrap.zip, -p org-secrets): {describe(make)}",
    file=sys.stderr,
)
sys.exit(1)
PY

# Why they can differ: what cargo resolves with no package named (SAM's command line) against
# -p org-secrets (make build's). Lines marked ">" are features (and crates) only the former
# builds; they reach the bootstrap if cargo-lambda stops reading Cargo.toml's
# [workspace.metadata.lambda.build] packages.
features() {
  cargo tree --quiet -e normal,build,features --target aarch64-unknown-linux-gnu --prefix none -f '{p} {f}' "$@" \
    | sed 's/ (\*)$//' | grep -v '^$' | sort -u
}
difference=$(diff <(features -p org-secrets) <(features) || true)
{
  echo "check-sam-build: cargo's feature sets, -p org-secrets (<) and no package named (>):"
  grep '^[<>]' <<<"$difference" | sed 's/^/  /' || echo "  (the same)"
  echo "check-sam-build: with SAM_SKIP_BUILD=1, .aws-sam/build may be older than the sources: run sam build."
  echo "check-sam-build: otherwise see Cargo.toml's [workspace.metadata.lambda.build] and docs/development.md."
} >&2
exit 1
