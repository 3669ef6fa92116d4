#!/usr/bin/env bash
# CheckoutLicense requests/second of the release license-manager-local on loopback.
# Builds the release binary, starts it on a free port (in memory, no faults), seeds one
# unlimited license, then runs wrk (2 threads, 50 connections, 15 s) with checkout.lua.
# Env: BENCH_THREADS, BENCH_CONNECTIONS, BENCH_DURATION, LICENSE_MANAGER_LOCAL_BIN.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v wrk >/dev/null; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  else
    echo "wrk is missing: install it (Debian/Ubuntu: apt-get install wrk)" >&2
    exit 1
  fi
fi
scripts/venv.sh dev

if [[ -z ${LICENSE_MANAGER_LOCAL_BIN:-} ]]; then
  cargo build -q --release -p license-manager-local
  target_dir=$(cargo metadata --format-version 1 --no-deps | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  LICENSE_MANAGER_LOCAL_BIN=$target_dir/release/license-manager-local
fi

account=123456789012
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
log=$(mktemp)
"$LICENSE_MANAGER_LOCAL_BIN" --host 127.0.0.1 --port "$port" --account-id "$account" >"$log" 2>&1 &
emulator=$!
# `|| true`: errexit applies inside traps, and the killed emulator's status (143) would
# otherwise become the script's.
trap 'kill "$emulator" 2>/dev/null; wait "$emulator" 2>/dev/null || true; rm -f "$log"' EXIT

for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

echo "license: $(.venv/bin/python bench/emulator/seed.py "$url" "$account")"
echo "wrk -t${BENCH_THREADS:-2} -c${BENCH_CONNECTIONS:-50} -d${BENCH_DURATION:-15s} on $(nproc) CPUs"
BENCH_ACCOUNT=$account wrk -t"${BENCH_THREADS:-2}" -c"${BENCH_CONNECTIONS:-50}" -d"${BENCH_DURATION:-15s}" \
  --latency -s bench/emulator/checkout.lua "$url"
