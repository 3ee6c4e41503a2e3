# org-secrets: the two commands are `make run` and `make test`.
.PHONY: run test lint ci build clean-local help

help:
	@echo "make run    - serve the API on http://127.0.0.1:3000 (DynamoDB Local, local API Gateway)"
	@echo "make test   - start DynamoDB Local, run every test (unit, integration, Lambda binary, make-run smoke), stop it"
	@echo "make lint   - cargo fmt --check and clippy with warnings as errors"
	@echo "make ci     - what CI runs (.ci/run)"
	@echo "make build  - release build of the Lambda binary (target/release/bootstrap)"

run:
	scripts/run-local.sh

test:
	scripts/test.sh
	scripts/smoke-local.sh

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

ci:
	bash .ci/run

build:
	cargo build --release --bin bootstrap

# Removes DynamoDB Local's data and the local key (the download stays).
clean-local:
	rm -rf .local/dynamodb-data .local/encryption.key .local/run
