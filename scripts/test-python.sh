#!/usr/bin/env bash
# The Python reader's tests (python/tests): the shared case table and the package's own tests,
# against DynamoDB Local. Expects DynamoDB Local's environment (AWS_ENDPOINT_URL_DYNAMODB and
# dummy credentials) exported, as `source scripts/test-services.sh` (scripts/test.sh) does.
# scripts/python-env.sh installs python/ into .local/venv; arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

[[ -n "${AWS_ENDPOINT_URL_DYNAMODB:-}" ]] || {
  echo "test-python: AWS_ENDPOINT_URL_DYNAMODB is not set: source scripts/test-services.sh first" >&2
  exit 1
}
scripts/python-env.sh
VENV="$ROOT/.local/venv"

# boto3 reads AWS_DEFAULT_REGION; scripts/local-aws-env.sh sets AWS_REGION.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-${AWS_REGION:-us-east-1}}"
export PYTHONDONTWRITEBYTECODE=1
"$VENV/bin/python" -m pytest -q -p no:cacheprovider python/tests "$@"
