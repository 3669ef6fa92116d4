# Everyday commands. The first two are the README's: `make demo` and `make test`.
# Python tools (moto, cargo-lambda, cfn-lint, aws-sam-cli) are installed from PyPI into
# project venvs by scripts/venv.sh on first use; nothing else needs installing by hand.

SHELL := bash
.DEFAULT_GOAL := help

# Function packages are the directories under functions/ (README, Layout).
FUNCTIONS := $(notdir $(wildcard functions/*))

.PHONY: help test test-rust test-crash test-fuzz lint fmt clippy cycles validate build deploy venv venv-dev venv-fuzz coverage-doc deploy-check deploy-org test-deploy-org

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

include mk/local.mk

venv: ## create or refresh the Python tool venvs
	scripts/venv.sh all

venv-dev: ## create or refresh .venv only (moto, boto3, pytest, cargo-lambda)
	scripts/venv.sh dev

venv-fuzz: ## create or refresh .venv-schemathesis only (schemathesis, openapi-spec-validator)
	scripts/venv.sh fuzz

test: venv cycles test-rust test-boto3 test-fuzz test-deploy-org validate ## everything CI tests: import circles, Rust, boto3, the checkout API fuzz, deploy-org on moto and the template lint

test-rust: venv-dev venv-fuzz ## all Rust tests (unit, emulator through the real SDK, moto-backed adapters)
	# The end-to-end tests run every package's binary (bootstraps, license-client); `cargo test`
	# builds a package's executable only for that package's own integration tests.
	cargo build --workspace --bins
	cargo test --workspace --all-targets
	cargo test --workspace --doc

# The crash-point suites (tests/tests/crash_*.rs) are also part of test-rust; this runs only them.
CRASH_SUITES := $(basename $(notdir $(wildcard tests/tests/crash_*.rs)))

test-crash: venv-dev ## crash points: every function's bootstrap dies before and after each call, then retries and sweeps run (CRASH_TIMEOUT_SECONDS, CRASH_PARALLEL)
	cargo build --workspace --bins
	cargo test -p integration-tests $(addprefix --test ,$(CRASH_SUITES)) -- --nocapture

test-fuzz: ## schemathesis against checkout-proxy behind the local HTTP API (about a minute)
	scripts/fuzz-checkout-api.sh

test-deploy-org: venv ## scripts/deploy-org.py against moto (Organizations, StackSets, EventBridge, S3) and deploy-check's checks, about 30 s
	.venv/bin/python -m pytest -q -p no:cacheprovider scripts/tests

lint: fmt clippy cycles validate ## formatting, clippy, import circles and the template lint

fmt: ## check formatting
	cargo fmt --all -- --check

clippy: ## clippy with warnings as errors
	cargo clippy --workspace --all-targets -- -D warnings

cycles: ## no Rust module imports a module that imports it back (scripts/module-cycles.py)
	scripts/module-cycles.py

validate: ## cfn-lint (newest, <1.54, and on the SAM transform), sam validate --lint and checkov, zero warnings
	scripts/lint-template.sh

coverage-doc: ## regenerate docs/emulator-coverage.md from the model and the emulator
	cargo run -q -p license-manager-local -- coverage > docs/emulator-coverage.md

build: venv ## build the Lambda functions for deployment (cargo lambda build --release)
	@if [ -z "$(FUNCTIONS)" ]; then echo "no functions under functions/ yet"; else \
	  PATH="$(CURDIR)/.venv/bin:$$PATH" cargo lambda build --release $(addprefix -p ,$(FUNCTIONS)); fi

deploy: venv ## sam build && sam deploy --guided into the account of your AWS credentials
	PATH="$(CURDIR)/.venv/bin:$$PATH" .venv-sam/bin/sam build
	PATH="$(CURDIR)/.venv/bin:$$PATH" .venv-sam/bin/sam deploy --guided

deploy-check: venv ## prove the deploy path offline: sam build (x86_64, arm64), sam package to S3 on moto, checks of the zips and the transformed template
	.venv/bin/python scripts/deploy-check.py

deploy-org: venv ## deploy to an organization (central stack + StackSet): make deploy-org ARGS="--organizational-unit ou-... --region ... --s3-bucket ..."; without ARGS, its --help
	.venv/bin/python scripts/deploy-org.py $(or $(ARGS),--help)
