#!/usr/bin/env bash
# Writes the `sam local invoke --env-vars` file, which holds the local ENCRYPTION_KEY and so
# is git-ignored: local/sam-local-env.json (tracked, no key) plus
#   ENCRYPTION_KEY             the contents of .local/encryption.key (the key `make run` uses;
#                              created with `secrets-admin generate-key` if missing),
#   SECRETS_TABLE_NAME         --table (default org-secrets-local, the table of `make run`),
#   AWS_ENDPOINT_URL_DYNAMODB  http://host.docker.internal:PORT, DynamoDB Local on the host
#                              (--port, default 8000, the port of `make run`),
# and any NAME=VALUE arguments (e.g. ORG_ID_CLAIM=custom:org_id). SAM applies only variables
# template.yaml declares for the function; an undeclared NAME is refused here.
#
#   scripts/sam-local-env.sh [--port PORT] [--table NAME] [--out FILE] [NAME=VALUE ...]
#
# Prints the file's path (default .local/sam-local-env.json). Honours ORG_SECRETS_LOCAL_DIR
# (.local) like `make run`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

STATE_DIR="${ORG_SECRETS_LOCAL_DIR:-$ROOT/.local}"
PORT=8000
TABLE=org-secrets-local
OUT="$STATE_DIR/sam-local-env.json"
OVERRIDES=()
die() {
  echo "sam-local-env: $*" >&2
  exit 1
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --port) PORT="${2:?--port needs a value}"; shift 2 ;;
    --table) TABLE="${2:?--table needs a value}"; shift 2 ;;
    --out) OUT="${2:?--out needs a value}"; shift 2 ;;
    *=*) OVERRIDES+=("$1"); shift ;;
    *) die "usage: $0 [--port PORT] [--table NAME] [--out FILE] [NAME=VALUE ...]" ;;
  esac
done
[[ "$PORT" =~ ^[0-9]+$ ]] || die "--port must be a number"

KEY_FILE="$STATE_DIR/encryption.key"
if [[ ! -s "$KEY_FILE" ]]; then
  mkdir -p "$STATE_DIR"
  [[ -x target/debug/secrets-admin ]] || cargo build --quiet --workspace --bins --tests
  (umask 077 && target/debug/secrets-admin generate-key >"$KEY_FILE.tmp" && mv "$KEY_FILE.tmp" "$KEY_FILE")
  echo "sam-local-env: created a local ENCRYPTION_KEY in $KEY_FILE (kept for next time)" >&2
fi

# SAM's own YAML reader (CloudFormation tags) reads the template: the venv that has `sam`.
PYTHON="$ROOT/.local/venv/bin/python"
[[ -x "$PYTHON" ]] || scripts/python-env.sh
mkdir -p "$(dirname "$OUT")"
# The key reaches python through its environment only, never its arguments.
(umask 077 && ENCRYPTION_KEY="$(cat "$KEY_FILE")" "$PYTHON" - "$ROOT" "$OUT" "$PORT" "$TABLE" "${OVERRIDES[@]}" <<'PY'
import json, os, sys

root, out, port, table, *overrides = sys.argv[1:]
with open(os.path.join(root, "local", "sam-local-env.json")) as f:
    env_file = json.load(f)
function_env = env_file["SecretsFunction"]

# The variables template.yaml declares for SecretsFunction (the only ones SAM overrides).
from samcli.yamlhelper import yaml_parse
with open(os.path.join(root, "template.yaml")) as f:
    template = yaml_parse(f.read())
declared = set()
for holder in (template.get("Globals", {}).get("Function", {}),
               template["Resources"]["SecretsFunction"]["Properties"]):
    declared |= set((holder.get("Environment") or {}).get("Variables") or {})

function_env["ENCRYPTION_KEY"] = os.environ["ENCRYPTION_KEY"].strip()
function_env["SECRETS_TABLE_NAME"] = table
function_env["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://host.docker.internal:{port}"
for item in overrides:
    name, value = item.split("=", 1)
    function_env[name] = value

undeclared = sorted(set(function_env) - declared)
if undeclared:
    sys.exit(f"sam-local-env: template.yaml does not declare {', '.join(undeclared)} for "
             "SecretsFunction, so `sam local invoke --env-vars` would silently ignore it")

tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(env_file, f, indent=2)
    f.write("\n")
os.replace(tmp, out)
PY
)
echo "$OUT"
