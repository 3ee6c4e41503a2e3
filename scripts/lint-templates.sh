#!/usr/bin/env bash
# `make lint`, the templates: every CloudFormation/SAM template in the repository
# (template.yaml and examples/**/template.yaml, never a build's .aws-sam copy) through
#   - cfn-lint;
#   - sam validate --lint (the SAM transform itself);
#   - cfn-lint on the CloudFormation the SAM transform makes of it (scripts/sam-transform.py):
#     some errors exist only there, such as a dependency cycle through a role SAM generates;
#   - checkov, before and after the transform (the resources SAM generates, such as the
#     function's invoke permissions and the API stage, exist only after it); it fails on any
#     failed check that the template does not skip. A skip is
#     `Metadata: {checkov: {skip: [{id: CKV_..., comment: why}]}}` on the resource (the
#     transform keeps it), and this script refuses a skip without a reason.
# Offline: checkov runs with --skip-download and SAM with telemetry off.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/python-env.sh
BIN="$ROOT/.local/venv/bin"
export SAM_CLI_TELEMETRY=0

templates=(template.yaml)
if [[ -d examples ]]; then
  while IFS= read -r -d '' found; do
    templates+=("$found")
  done < <(find examples \( -name .aws-sam -o -name node_modules \) -prune -o \
    \( -name template.yaml -o -name template.yml \) -type f -print0 | sort -z)
fi

# One template's checks; the templates are checked side by side (each tool is a
# single-threaded Python process), their output printed in order.
lint_one() {
  local template="$1" transformed
  echo "lint-templates: $template"
  "$BIN/cfn-lint" "$template" || return 1
  "$BIN/sam" validate --lint --template "$template" --region us-east-1 || return 1
  "$BIN/checkov" --file "$template" --framework cloudformation --quiet --compact --skip-download || return 1
  transformed="$(mktemp --suffix=.json)"
  "$BIN/python" scripts/sam-transform.py "$template" "$transformed" || { rm -f "$transformed"; return 1; }
  { "$BIN/cfn-lint" "$transformed" &&
    "$BIN/checkov" --file "$transformed" --framework cloudformation --quiet --compact --skip-download; } ||
    { rm -f "$transformed"; echo "lint-templates: $template, after the SAM transform (above)" >&2; return 1; }
  rm -f "$transformed"
}

pids=()
logs=()
for template in "${templates[@]}"; do
  log="$(mktemp)"
  logs+=("$log")
  lint_one "$template" >"$log" 2>&1 &
  pids+=("$!")
done
status=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || status=1
  cat "${logs[$i]}"
  rm -f "${logs[$i]}"
done
[[ "$status" -eq 0 ]] || exit 1

"$BIN/python" - "${templates[@]}" <<'PY'
import sys
from cfnlint.decode import decode

bad = []
for path in sys.argv[1:]:
    template, errors = decode(path)
    if errors or template is None:
        sys.exit(f"lint-templates: {path} does not parse: {errors}")
    for name, resource in (template.get("Resources") or {}).items():
        metadata = resource.get("Metadata") or {}
        for skip in (metadata.get("checkov") or {}).get("skip") or []:
            if len(str(skip.get("comment") or "").strip()) < 20:
                bad.append(f"{path}: {name} skips {skip.get('id')} without a reason")
if bad:
    sys.exit("\n".join(bad))
PY
echo "lint-templates: ${#templates[@]} template(s) passed cfn-lint and checkov (before and after the SAM transform) and sam validate --lint"
