# Local stack targets (included by the Makefile).
#   make demo            start moto + license-manager-local, seed a scenario, run the samples' flows
#   make demo-keep       the same, then leave the stack running and print the variables to use it
#   make test-boto3      build license-manager-local and run the boto3 suite against the binary
#   make bench-emulator  CheckoutLicense requests/second of the release binary on loopback (wrk)

.PHONY: demo demo-keep test-boto3 bench-emulator

demo:
	scripts/venv.sh dev
	cargo run -q -p local-stack

demo-keep:
	scripts/venv.sh dev
	cargo run -q -p local-stack -- --keep-running

test-boto3:
	local/emulator/tests/boto3/run.sh

bench-emulator:
	bench/emulator/run.sh
