#!/usr/bin/env bash
# Creates or refreshes the project's Python environments from PyPI, idempotently:
#   .venv                  moto[server], boto3, pytest, cargo-lambda (brings zig), newest cfn-lint
#   .venv-sam              aws-sam-cli (with the cfn-lint it pins)
#   .venv-cfn-lint-legacy  cfn-lint<1.54, which still lints inside the SAM transform
#   .venv-schemathesis     schemathesis and openapi-spec-validator (the checkout API's document)
#   .venv-checkov          checkov and aws-sam-translator (IaC scan, the SAM-transformed template)
#   .venv-bench            awslambdaric, boto3, matplotlib (make bench: the boto3 baseline, the plot)
# A venv is rebuilt only when its requirements file changed (a stamp holds its hash).
# Usage: scripts/venv.sh [dev|sam|legacy|fuzz|checkov|bench|all]   (default: all = every one but bench)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  echo "venv.sh: $python cannot create venvs; on Debian: apt-get install python3-venv" >&2
  exit 1
fi

ensure() {
  local dir=$1 req=$2
  local stamp="$dir/.requirements.sha256"
  local want
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [[ -x "$dir/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  echo "==> installing $req into $dir" >&2
  [[ -x "$dir/bin/python" ]] || "$python" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade -r "$req"
  echo "$want" >"$stamp"
}

case "${1:-all}" in
  dev) ensure .venv requirements/dev.txt ;;
  sam) ensure .venv-sam requirements/sam.txt ;;
  legacy) ensure .venv-cfn-lint-legacy requirements/cfn-lint-legacy.txt ;;
  fuzz) ensure .venv-schemathesis requirements/schemathesis.txt ;;
  checkov) ensure .venv-checkov requirements/checkov.txt ;;
  bench) ensure .venv-bench requirements/bench.txt ;;
  all)
    ensure .venv requirements/dev.txt
    ensure .venv-sam requirements/sam.txt
    ensure .venv-cfn-lint-legacy requirements/cfn-lint-legacy.txt
    ensure .venv-schemathesis requirements/schemathesis.txt
    ensure .venv-checkov requirements/checkov.txt
    ;;
  *) echo "usage: $0 [dev|sam|legacy|fuzz|checkov|bench|all]" >&2; exit 2 ;;
esac
