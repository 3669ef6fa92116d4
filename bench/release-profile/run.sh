#!/usr/bin/env bash
# Measures the release profile's opt-level for a function-like binary (bench/lambda-probe):
# stripped size, cold-start init (SDK config + clients), handler latency (parse an event, one
# License Manager call through the SDK to license-manager-local on loopback) and peak RSS.
# Each opt-level is built into its own target directory so the choices do not overwrite
# each other.  Usage: bench/release-profile/run.sh [opt-levels...]   (default: 3 2 s z)
set -euo pipefail
cd "$(dirname "$0")/../.."
levels=("${@:-3 2 s z}")
read -r -a levels <<<"${levels[*]}"
runs=${RUNS:-15}

cargo build -q --release -p license-manager-local
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/release/license-manager-local --port "$port" >/dev/null 2>&1 &
emulator=$!
trap 'kill $emulator 2>/dev/null' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done

export AWS_ENDPOINT_URL_LICENSE_MANAGER="http://127.0.0.1:$port" AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=123456789012 AWS_SECRET_ACCESS_KEY=x ITERATIONS=${ITERATIONS:-200}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '| opt-level | size (bytes) | init µs (median of %s) | p50 µs | p99 µs | peak RSS KiB |\n|---|---|---|---|---|---|\n' "$runs"
for level in "${levels[@]}"; do
  dir="target/profile-opt-$level"
  CARGO_PROFILE_RELEASE_OPT_LEVEL=$level CARGO_TARGET_DIR=$dir cargo build -q --release -p lambda-probe
  binary="$dir/release/lambda-probe"
  size=$(stat -c %s "$binary")
  inits=() p50s=() p99s=() rss=()
  for _ in $(seq "$runs"); do
    line=$(/usr/bin/time -f 'rss=%M' "$binary" 2>/tmp/probe-time.$$)
    rss+=("$(sed -n 's/^rss=//p' /tmp/probe-time.$$)")
    inits+=("$(sed -E 's/.*"initMicros":([0-9]+).*/\1/' <<<"$line")")
    p50s+=("$(sed -E 's/.*"p50Micros":([0-9]+).*/\1/' <<<"$line")")
    p99s+=("$(sed -E 's/.*"p99Micros":([0-9]+).*/\1/' <<<"$line")")
  done
  rm -f /tmp/probe-time.$$
  printf '| %s | %s | %s | %s | %s | %s |\n' "$level" "$size" \
    "$(printf '%s\n' "${inits[@]}" | median)" "$(printf '%s\n' "${p50s[@]}" | median)" \
    "$(printf '%s\n' "${p99s[@]}" | median)" "$(printf '%s\n' "${rss[@]}" | median)"
done
