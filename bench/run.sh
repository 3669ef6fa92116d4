#!/usr/bin/env bash
# make bench: builds what is measured (timed apart), runs the sweep benchmarks, then the bench
# runner (cold starts, warm latency, RSS, zip sizes, checkout latency of every function under
# functions/, the boto3 baseline and the floor), draws the plot, then the load benchmark
# (bench-load: customer apps at once through the HTTP API). Writes bench/results.md,
# bench/results.json, bench/results.png, bench/load.json and bench/load.svg.
# Env: BENCH_COLD (30), BENCH_WARM (300), BENCH_CHECKOUTS (1000), BENCH_SWEEPS (1; 0 skips the
# sweeps), SWEEP_CONFIGURATIONS (10000), BENCH_LOAD_APPS (50,200: apps at once, one run each), BENCH_OUT (bench: where the results go), MOTO_SERVER
# (default: .venv's), CARGO_TARGET_DIR and CARGO_PROFILE_RELEASE_* (bench/release-profile).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z ${MOTO_SERVER:-} ]]; then
  scripts/venv.sh dev
  export MOTO_SERVER=$PWD/.venv/bin/moto_server
fi
scripts/venv.sh bench
# cargo-lambda (and its zig) come from the dev venv.
export PATH="$PWD/.venv/bin:$PATH"
command -v cargo-lambda >/dev/null || { echo "cargo-lambda is missing: run scripts/venv.sh dev" >&2; exit 1; }

target_dir=$(cargo metadata --format-version 1 --no-deps | .venv-bench/bin/python -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
work_dir=$target_dir/bench
out=${BENCH_OUT:-bench}
mkdir -p "$work_dir"
functions=()
for dir in functions/*/; do
  [[ -f $dir/Cargo.toml ]] && functions+=("$(basename "$dir")")
done
packages=()
for function in "${functions[@]}" lambda-floor; do packages+=(-p "$function"); done
sweeps=()
for function in grant-acceptor soft-limit-monitor; do
  [[ -f functions/$function/tests/sweep_benchmark.rs ]] && sweeps+=("$function")
done

echo "==> building (release): ${functions[*]}, the floor, the emulator, the runner, the sweep benchmarks" >&2
build_start=$SECONDS
cargo lambda build --release --output-format zip "${packages[@]}"
# The bootstrap that is measured is the one in the zip whose size is reported.
for function in "${functions[@]}" lambda-floor; do
  .venv-bench/bin/python -m zipfile -e "$target_dir/lambda/$function/bootstrap.zip" "$target_dir/lambda/$function/"
  chmod +x "$target_dir/lambda/$function/bootstrap"
done
cargo build --release -p license-manager-local -p bench
if [[ ${BENCH_SWEEPS:-1} != 0 ]]; then
  for function in "${sweeps[@]}"; do
    cargo test --release -p "$function" --test sweep_benchmark --no-run
  done
fi
build_seconds=$((SECONDS - build_start))

measure_start=$SECONDS
sweep_logs=()
if [[ ${BENCH_SWEEPS:-1} != 0 ]]; then
  for function in "${sweeps[@]}"; do
    echo "==> sweep benchmark of $function" >&2
    log=$work_dir/sweep-$function.log
    cargo test -q --release -p "$function" --test sweep_benchmark -- --ignored --nocapture | tee "$log"
    sweep_logs+=(--sweep-log "$function=$log")
  done
fi

sweep_seconds=$((SECONDS - measure_start))

echo "==> cold starts, latency, memory, size" >&2
"$target_dir/release/bench" \
  --repo . \
  --lambda-dir "$target_dir/lambda" \
  --emulator "$target_dir/release/license-manager-local" \
  --python .venv-bench/bin/python \
  --cold "${BENCH_COLD:-30}" --warm "${BENCH_WARM:-300}" --checkouts "${BENCH_CHECKOUTS:-1000}" \
  --work-dir "$work_dir" --out-dir "$out" \
  --build-seconds "$build_seconds" --sweep-seconds "$sweep_seconds" \
  "${sweep_logs[@]}"
.venv-bench/bin/python bench/plot.py "$out/results.json" "$out/results.png"

echo "==> load: customer apps at once through the HTTP API, without and with License Manager quotas" >&2
"$target_dir/release/bench-load" \
  --repo . \
  --lambda-dir "$target_dir/lambda" \
  --emulator "$target_dir/release/license-manager-local" \
  --python .venv-bench/bin/python \
  --apps "${BENCH_LOAD_APPS:-50,200}" \
  --work-dir "$work_dir/load" --out-dir "$out"
echo "==> $out/results.md, $out/results.png ($((SECONDS - measure_start)) s of measurement, $build_seconds s of builds)" >&2
