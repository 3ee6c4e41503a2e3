#!/usr/bin/env bash
# A git-ignored venv with the Python consumers' Fernet library (for the interop tests) and
# the project's Python-distributed tools. Created once; re-run after changing the pins.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.local/venv"
REQUIREMENTS="$ROOT/scripts/requirements-dev.txt"
STAMP="$VENV/.requirements"

if [[ -f "$STAMP" ]] && cmp -s "$STAMP" "$REQUIREMENTS"; then exit 0; fi
command -v python3 >/dev/null || { echo "python-env: python3 is required" >&2; exit 1; }
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
cp "$REQUIREMENTS" "$STAMP"
