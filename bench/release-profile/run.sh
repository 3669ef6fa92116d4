#!/usr/bin/env bash
# Compares opt-levels of the release profile on the real functions: for each level, the whole
# bench (bench/run.sh, without the sweeps) with CARGO_PROFILE_RELEASE_OPT_LEVEL set, built into
# its own target directory so the levels do not overwrite each other; then one table of zip
# size, init, warm latency and peak RSS per function and level.
# Usage: bench/release-profile/run.sh [opt-levels...]   (default: 3 2 s z)
# Env: BENCH_COLD, BENCH_WARM, BENCH_CHECKOUTS as for bench/run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
levels=("${@:-3 2 s z}")
read -r -a levels <<<"${levels[*]}"

for level in "${levels[@]}"; do
  dir=$PWD/target/profile-opt-$level
  mkdir -p "$dir/results"
  echo "==> opt-level $level" >&2
  CARGO_PROFILE_RELEASE_OPT_LEVEL=$level CARGO_TARGET_DIR=$dir BENCH_SWEEPS=0 \
    BENCH_OUT=$dir/results bench/run.sh >&2
done

.venv-bench/bin/python - "${levels[@]}" <<'PY'
import json, statistics, sys

print("| opt-level | function | zip (bytes) | init median (ms) | warm median (ms) | warm p99 (ms) | peak RSS (KiB) |")
print("|---|---|---|---|---|---|---|")
for level in sys.argv[1:]:
    with open(f"target/profile-opt-{level}/results/results.json", encoding="utf-8") as handle:
        results = json.load(handle)
    sides = [(f["function"], f["zip_bytes"], f["rust"]) for f in results["functions"] if f["rust"]]
    sides.append(("floor", results["floor_zip_bytes"], results["floor"]))
    for name, zip_bytes, samples in sides:
        warm = sorted(samples["warm_ms"])
        p99 = warm[max(0, -(-len(warm) * 99 // 100) - 1)] if warm else float("nan")
        print(f"| {level} | {name} | {zip_bytes} | {statistics.median(samples['init_ms']):.2f} | "
              f"{statistics.median(warm) if warm else float('nan'):.3f} | {p99:.3f} | {samples['peak_rss_kib']} |")
PY
