"""Draws bench/results.png from bench/results.json: the distributions behind results.md's
cold-start, warm-latency and checkout-latency columns. Usage: plot.py RESULTS_JSON OUT_PNG"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"rust": "#b7410e", "boto3": "#3572a5", "floor": "#888888", "raw": "#2e8b57"}


def rows(results, key):
    """(label, side, samples) of every side that has samples under `key`."""
    out = []
    for function in results["functions"]:
        for side in ("rust", "boto3"):
            samples = function.get(side)
            if samples and samples[key]:
                out.append((f"{function['function']} ({side})", side, samples[key]))
    if results["floor"][key]:
        out.append(("floor (rust)", "floor", results["floor"][key]))
    return out


def boxes(axis, data, title, xlabel):
    if not data:
        axis.set_visible(False)
        return
    labels = [label for label, _, _ in data]
    plot = axis.boxplot(
        [samples for _, _, samples in data],
        orientation="horizontal", whis=(1, 99), showfliers=True, patch_artist=True,
        flierprops={"markersize": 2, "alpha": 0.4},
    )
    for patch, (_, side, _) in zip(plot["boxes"], data):
        patch.set_facecolor(COLORS[side])
        patch.set_alpha(0.7)
    axis.set_yticks(range(1, len(labels) + 1), labels)
    axis.set_xscale("log")
    axis.set_title(title)
    axis.set_xlabel(xlabel)
    axis.grid(axis="x", which="both", alpha=0.3)


def main():
    source, target = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as handle:
        results = json.load(handle)
    checkout = [("raw round trip (Rust SDK)", "raw", results["raw_checkout_ms"])]
    if results.get("raw_checkout_link_ms"):
        checkout.append(("raw + state PutItem (Rust SDK)", "raw", results["raw_checkout_link_ms"]))
    for function in results["functions"]:
        if function["function"] == "checkout-proxy":
            for side in ("rust", "boto3"):
                if function.get(side):
                    checkout.append((f"checkout-proxy ({side})", side, function[side]["warm_ms"]))
    warm = [row for row in rows(results, "warm_ms") if not row[0].startswith("checkout-proxy")]
    figure, axes = plt.subplots(3, 1, figsize=(10, 13), constrained_layout=True)
    machine = results["machine"]
    figure.suptitle(
        f"{machine['date']} UTC, {machine['commit']}, {machine['cpus']} CPUs "
        f"({machine['cpu_model']}); boxes: quartiles, whiskers: 1st-99th percentile"
    , fontsize=9)
    boxes(axes[0], rows(results, "init_ms"), f"Cold start: init ({results['cold']} fresh processes each)", "ms (log)")
    boxes(axes[1], warm, f"Warm invocation ({results['warm']} each)", "ms (log)")
    boxes(axes[2], checkout, f"Checkout latency ({results['checkouts']} each)", "ms (log)")
    figure.savefig(target, dpi=100)


if __name__ == "__main__":
    main()
