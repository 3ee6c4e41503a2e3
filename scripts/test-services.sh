# Sourced by scripts/test.sh and scripts/mutants.sh (with the project root as the working
# directory): what the tests need, started for this shell and stopped when it exits.
# DynamoDB Local in memory on a free loopback port, its AWS environment, and the Python venv
# for the interop tests (ORG_SECRETS_PYTHON).
scripts/dynamodb-local.sh install
scripts/python-env.sh
export ORG_SECRETS_PYTHON="$PWD/.local/venv/bin/python"
TEST_DYNAMODB_PORT=$(scripts/dynamodb-local.sh free-port)
trap 'scripts/dynamodb-local.sh stop "$TEST_DYNAMODB_PORT"' EXIT
scripts/dynamodb-local.sh start "$TEST_DYNAMODB_PORT"
# shellcheck source=/dev/null
source scripts/local-aws-env.sh "$TEST_DYNAMODB_PORT"
