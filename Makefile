# org-secrets: the two commands are `make run` and `make test`.
.PHONY: run test lint ci build bench bench-cold bench-reader fuzz mutants sam-local-test clean-local help

help:
	@echo "make run    - serve the API on http://127.0.0.1:3000 (DynamoDB Local, local API Gateway)"
	@echo "make test   - start DynamoDB Local, run every test (unit, integration, Lambda binary, make-run smoke), stop it"
	@echo "make lint   - Markdown links and repository paths exist, cargo fmt --check, clippy (warnings as errors), every template (cfn-lint, sam validate --lint, checkov), Step Functions definitions (asl-validator), OpenAPI validation"
	@echo "make ci     - what CI runs (.ci/run)"
	@echo "make build  - bootstrap.zip for Lambda (arm64, cargo-lambda from PyPI)"
	@echo "make fuzz   - cargo-fuzz (nightly): event path, whole handler, body and permission parsers, FUZZ_SECONDS each (60)"
	@echo "make mutants - cargo-mutants on the auth, validation and event-sanitizing code (two stages; see scripts/mutants.sh)"
	@echo "make bench  - cargo bench: the handler with DynamoDB in-process, and its pieces"
	@echo "make bench-reader - the Rust and Python readers on DynamoDB Local: cached and cold get, get_many of 100, vs a GetItem and decrypt per use; change-event freshness end to end"
	@echo "make bench-cold - release bootstrap vs local Runtime API + DynamoDB Local: init, first invoke, warm p50/p99, RSS"
	@echo "make sam-local-test - sam build, then every events/ file through sam local invoke (Docker) against DynamoDB Local; needs root the first time (see docs/development.md)"

run:
	scripts/run-local.sh

test:
	scripts/test.sh
	scripts/smoke-local.sh

# The checks that need no cargo first: .ci/run runs this beside make sam-local-test, whose
# few cargo calls then find target/ free instead of waiting for clippy's lock.
lint:
	scripts/python-env.sh
	scripts/check-doc-links.py --self-test
	scripts/check-doc-links.py
	scripts/lint-templates.sh
	scripts/validate-asl.sh
	.local/venv/bin/openapi-spec-validator openapi.yaml
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p org-secrets --no-default-features --lib --bin secrets-admin -- -D warnings

ci:
	bash .ci/run

build:
	scripts/build-lambda.sh

bench:
	cargo bench --bench handler

fuzz:
	scripts/fuzz.sh

bench-cold:
	scripts/bench-cold.sh

bench-reader:
	scripts/bench-reader.sh

mutants:
	scripts/mutants.sh

sam-local-test:
	scripts/sam-local-test.sh

# Removes DynamoDB Local's data and the local key (the download stays).
clean-local:
	rm -rf .local/dynamodb-data .local/encryption.key .local/sam-local-env.json .local/run
