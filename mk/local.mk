# Local stack targets (included by the Makefile).

.PHONY: demo demo-keep test-boto3 bench-emulator

demo: ## start moto + license-manager-local, seed a scenario, run AWS's sample flows, stop
	scripts/venv.sh dev
	cargo run -q -p local-stack

demo-keep: ## the demo, then leave the stack running and print the variables to use it
	scripts/venv.sh dev
	cargo run -q -p local-stack -- --keep-running

test-boto3: ## build license-manager-local and run the boto3 suite against the binary
	local/emulator/tests/boto3/run.sh

bench-emulator: ## CheckoutLicense requests/second of the release emulator on loopback (wrk)
	bench/emulator/run.sh
