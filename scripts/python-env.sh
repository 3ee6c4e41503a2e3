#!/usr/bin/env bash
# A git-ignored venv with the Python consumers' Fernet library (for the interop tests), the
# project's Python-distributed tools, and the Python reader package (python/). Created once;
# the pins are installed again when they change, the package when its sources change.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.local/venv"
REQUIREMENTS="$ROOT/scripts/requirements-dev.txt"
STAMP="$VENV/.requirements"

if ! { [[ -f "$STAMP" ]] && cmp -s "$STAMP" "$REQUIREMENTS"; }; then
  command -v python3 >/dev/null || { echo "python-env: python3 is required" >&2; exit 1; }
  [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$STAMP"
fi

# The reader package, installed as a user installs it (not editable: the tests import what
# `pip install` built), only when its sources changed; the stamp is in the venv, so a new
# venv installs it again.
PACKAGE_STAMP="$VENV/.org-secrets-reader"
sources_digest() {
  (cd "$ROOT" && find python/pyproject.toml python/README.md python/src -type f \
    ! -path '*/__pycache__/*' ! -path '*.egg-info/*' -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}
digest=$(sources_digest)
if [[ ! -f "$PACKAGE_STAMP" || "$(cat "$PACKAGE_STAMP")" != "$digest" ]]; then
  # Built from a copy, so that setuptools leaves no build/ or *.egg-info in the tree. With the
  # venv's setuptools (there for aws-lambda-builders) and its pinned boto3 and cryptography,
  # nothing is downloaded; without setuptools, pip fetches it for the build.
  build=$(mktemp -d)
  trap 'rm -rf "$build"' EXIT
  cp -R "$ROOT/python/." "$build"
  rm -rf "$build/tests"
  isolation=(--no-build-isolation)
  "$VENV/bin/python" -c 'import setuptools' 2>/dev/null || isolation=()
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps ${isolation[@]+"${isolation[@]}"} \
    --force-reinstall "$build"
  echo "$digest" >"$PACKAGE_STAMP"
fi
