#!/usr/bin/env bash
# `make build`: bootstrap.zip for Lambda (provided.al2023, arm64), built by cargo-lambda
# (installed from PyPI into .local/venv if missing), then checked: one entry named
# `bootstrap`, mode 0755, an aarch64 ELF executable, aws-lc built without its jitter entropy
# source (scripts/check-entropy-build.py).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/python-env.sh
export PATH="$ROOT/.local/venv/bin:$PATH"
rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu \
  || rustup target add aarch64-unknown-linux-gnu

# `-p org-secrets`: features of the local tools (hyper's server half) stay out of the artifact.
# `sam build`, which names no package, gets the same one from Cargo.toml's
# [workspace.metadata.lambda.build]; scripts/check-sam-build.sh compares the two binaries.
cargo lambda build --release --arm64 -p org-secrets --bin bootstrap --output-format zip
cp target/lambda/bootstrap/bootstrap.zip bootstrap.zip

"$ROOT/.local/venv/bin/python" - bootstrap.zip <<'PY'
import sys, zipfile
archive = zipfile.ZipFile(sys.argv[1])
entries = archive.infolist()
assert [e.filename for e in entries] == ["bootstrap"], [e.filename for e in entries]
mode = entries[0].external_attr >> 16
assert mode & 0o111 == 0o111, f"bootstrap is not executable (mode {oct(mode)})"
head = archive.read("bootstrap")[:20]
assert head[:4] == b"\x7fELF" and head[18:20] == b"\xb7\x00", "not an aarch64 ELF executable"
size = entries[0].file_size
import os
print(f"build: bootstrap.zip ok: bootstrap {size} bytes, mode {oct(mode & 0o777)}, zip {os.path.getsize(sys.argv[1])} bytes")
PY
# cargo lambda read .cargo/config.toml: aws-lc without its jitter entropy source
# (docs/decisions/0001-randomness-and-tls-start-up.md).
scripts/check-entropy-build.py bootstrap.zip
