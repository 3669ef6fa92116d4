# Local stack targets (included by the Makefile).

.PHONY: bootstraps demo demo-keep demo-org test-boto3 bench bench-emulator

# The functions' bootstraps the local stack runs (target/debug/<name>), and license-client,
# which the demo's customer app runs under.
bootstraps:
	@if [ -n "$(FUNCTIONS)" ]; then cargo build -q $(addprefix -p ,$(FUNCTIONS)) -p license-client; fi

demo: bootstraps ## the local stack: moto, license-manager-local, the template's functions; seeded scenario, flows, stop
	scripts/venv.sh dev
	cargo run -q -p local-stack

demo-keep: bootstraps ## the demo, then leave the stack running and print how to use it
	scripts/venv.sh dev
	cargo run -q -p local-stack -- --keep-running --schedules

# Member accounts of `make demo-org` (`ACCOUNTS=20 make demo-org` to time a larger organization).
ACCOUNTS ?= 5

demo-org: bootstraps ## the organization locally: central stack, ACCOUNTS member stacks (default 5), org grant, central bus and topic
	scripts/venv.sh dev
	cargo run -q -p local-stack -- --accounts $(ACCOUNTS)

test-boto3: ## build license-manager-local and run the boto3 suite against the binary
	local/emulator/tests/boto3/run.sh

bench: ## benchmarks beside a boto3 baseline and a floor: cold start, latency, RSS, zip, checkout, sweeps (bench/results.md)
	bench/run.sh

bench-emulator: ## CheckoutLicense requests/second of the release emulator on loopback (wrk)
	bench/emulator/run.sh
