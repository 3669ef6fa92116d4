#!/usr/bin/env bash
# Builds license-manager-local and runs the boto3 suite against the binary.
# Usage: local/emulator/tests/boto3/run.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/../../../.."
scripts/venv.sh dev
cargo build -q -p license-manager-local
target_dir=$(cargo metadata --format-version 1 --no-deps | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
export LICENSE_MANAGER_LOCAL_BIN="${LICENSE_MANAGER_LOCAL_BIN:-$target_dir/debug/license-manager-local}"
exec .venv/bin/pytest -q local/emulator/tests/boto3 "$@"
