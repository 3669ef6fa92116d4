//! One run's results (bench/results.json, which the plot reads) and their table
//! (bench/results.md).

use std::fmt::Write as _;

use serde::Serialize;

use crate::measure::Samples;
use crate::stats::{Summary, ratio};

/// Targets of issue 11.
const INIT_VS_BOTO3: f64 = 1.0 / 25.0;
const INIT_VS_FLOOR: f64 = 2.0;
const RSS_LIMIT_MB: f64 = 16.0;
const ZIP_LIMIT_MB: f64 = 4.0;
const CHECKOUT_P50_OVERHEAD_MS: f64 = 0.5;
const CHECKOUT_P99_OVERHEAD_MS: f64 = 2.0;
const CHECKOUT_OVERHEAD_VS_BOTO3: f64 = 5.0;
const SWEEP_VS_IDEAL: f64 = 1.3;

/// Where and when it ran.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// `nproc`.
    pub cpus: usize,
    /// CPU model (`/proc/cpuinfo`).
    pub cpu_model: String,
    /// Kernel release.
    pub kernel: String,
    /// Architecture.
    pub arch: String,
    /// Load average (1, 5, 15 min) before the measurements.
    pub load_before: String,
    /// Load average after them.
    pub load_after: String,
    /// UTC date and time of the run.
    pub date: String,
    /// `git describe --always --dirty` of the measured tree.
    pub commit: String,
}

/// One function: its bootstrap and the boto3 baseline doing the same work.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionResult {
    /// The function package.
    pub function: String,
    /// What each invocation does.
    pub work: String,
    /// `bootstrap.zip` of `cargo lambda build --release --output-format zip`.
    pub zip_bytes: Option<u64>,
    /// The release bootstrap; `None` when the package is not on this commit.
    pub rust: Option<Samples>,
    /// The boto3 baseline.
    pub boto3: Samples,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// The machine.
    pub machine: Machine,
    /// Fresh processes per side.
    pub cold: usize,
    /// Warm invocations per side (sweeping functions).
    pub warm: usize,
    /// Checkouts per path.
    pub checkouts: usize,
    /// The functions, by name.
    pub functions: Vec<FunctionResult>,
    /// The bare lambda_runtime hello world.
    pub floor: Samples,
    /// `bootstrap.zip` of the floor.
    pub floor_zip_bytes: Option<u64>,
    /// CheckoutLicense straight to the emulator through the Rust SDK.
    pub raw_checkout_ms: Vec<f64>,
    /// The same followed by the state table's PutItem (what checkout-proxy calls).
    pub raw_checkout_link_ms: Vec<f64>,
    /// The sweep benchmarks' tables (function, lines as printed).
    pub sweeps: Vec<(String, Vec<String>)>,
    /// What was not measured, and why.
    pub skipped: Vec<String>,
    /// Seconds the measurements took, sweeps included (builds excluded).
    pub measured_seconds: f64,
    /// Seconds the builds took before, when the caller timed them.
    pub build_seconds: Option<f64>,
}

impl Results {
    /// The markdown report.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "# Benchmarks\n\n\
             Written by `make bench` (bench/run.sh, bench/runner); not edited by hand. \
             Raw samples: [results.json](results.json); distributions: \
             [results.png](results.png).\n\n\
             - date: {} UTC; commit: `{}`\n\
             - machine: {} {} CPUs ({}), Linux {}\n\
             - load average (1/5/15 min): {} before, {} after\n\
             - per side: {} fresh processes (cold starts), {} warm invocations of the last; \
             {} checkouts per path\n\
             - measurements took {:.0} s{}\n",
            m.date,
            m.commit,
            m.arch,
            m.cpus,
            m.cpu_model,
            m.kernel,
            m.load_before,
            m.load_after,
            self.cold,
            self.warm,
            self.checkouts,
            self.measured_seconds,
            self.build_seconds
                .map(|s| format!("; the release builds before them {s:.0} s"))
                .unwrap_or_default(),
        );
        out.push_str(
            "Every side runs through lambda-host (the Runtime API, one process at a time): \
             **rust** is the function's `bootstrap` from `cargo lambda build --release` (the \
             same build as its zip), **boto3** is `bench/baseline/handler.py` under \
             `awslambdaric`, creating the same clients at init and making the same calls per \
             event, **floor** a bare `lambda_runtime` hello world with the same release \
             profile. Init is spawn until the process's first `next` (Lambda's init \
             duration); first invocation is the host's duration of the first event of a \
             fresh process; warm is an invocation as its caller sees it through the host \
             (handing the event over, the answer back); RSS is the process's peak \
             (`VmHWM`). All times in ms: min / median / p99.\n\n",
        );
        self.table(&mut out);
        self.targets(&mut out);
        self.checkout(&mut out);
        self.sweep_section(&mut out);
        if !self.skipped.is_empty() {
            out.push_str("## Not measured\n\n");
            for line in &self.skipped {
                let _ = writeln!(out, "- {line}");
            }
            out.push('\n');
        }
        out.push_str("![cold start and latency distributions](results.png)\n");
        out
    }

    fn table(&self, out: &mut String) {
        out.push_str(
            "## Cold start, latency, memory, size\n\n\
             | function | side | work per invocation | init | first invocation | warm | peak RSS | zip |\n\
             |---|---|---|---|---|---|---|---|\n",
        );
        for function in &self.functions {
            let rows = [
                ("rust", function.rust.as_ref(), function.zip_bytes),
                ("boto3", Some(&function.boto3), None),
            ];
            for (side, samples, zip) in rows {
                match samples {
                    Some(samples) => {
                        row(out, &function.function, side, &function.work, samples, zip)
                    }
                    None => {
                        let _ = writeln!(
                            out,
                            "| {} | {side} | not on this commit | | | | | |",
                            function.function
                        );
                    }
                }
            }
        }
        row(
            out,
            "floor",
            "rust",
            "hello world, no SDK",
            &self.floor,
            self.floor_zip_bytes,
        );
        out.push('\n');
    }

    fn targets(&self, out: &mut String) {
        out.push_str(
            "## Ratios and the targets of issue 11\n\n\
             | function | init rust / boto3 (≤ 1/25) | init rust / floor (≤ 2×) | peak RSS (≤ 16 MB) | zip (≤ 4 MB) | warm median boto3 / rust |\n\
             |---|---|---|---|---|---|\n",
        );
        let floor_init = Summary::of(&self.floor.init_ms).map(|s| s.median);
        for function in &self.functions {
            let Some(rust) = &function.rust else {
                continue;
            };
            let init = Summary::of(&rust.init_ms).map(|s| s.median);
            let boto3_init = Summary::of(&function.boto3.init_ms).map(|s| s.median);
            let vs_boto3 = init.zip(boto3_init).and_then(|(r, b)| ratio(r, b));
            let vs_floor = init.zip(floor_init).and_then(|(r, f)| ratio(r, f));
            let rss = rust.peak_rss_kib.map(|kib| kib as f64 / 1024.0);
            let zip = function.zip_bytes.map(|bytes| bytes as f64 / 1_048_576.0);
            let warm = Summary::of(&rust.warm_ms)
                .zip(Summary::of(&function.boto3.warm_ms))
                .and_then(|(r, b)| ratio(b.median, r.median));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                function.function,
                judged(
                    vs_boto3.map(|v| format!("1/{:.0}", 1.0 / v)),
                    vs_boto3.map(|v| v <= INIT_VS_BOTO3)
                ),
                judged(
                    vs_floor.map(|v| format!("{v:.2}×")),
                    vs_floor.map(|v| v <= INIT_VS_FLOOR)
                ),
                judged(
                    rss.map(|v| format!("{v:.1} MB")),
                    rss.map(|v| v <= RSS_LIMIT_MB)
                ),
                judged(
                    zip.map(|v| format!("{v:.2} MB")),
                    zip.map(|v| v <= ZIP_LIMIT_MB)
                ),
                warm.map(|v| format!("{v:.1}×"))
                    .unwrap_or_else(|| "-".to_owned()),
            );
        }
        out.push('\n');
    }

    fn checkout(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "## Checkout latency ({} requests per path, one at a time)\n\n\
             A checkout through checkout-proxy is a CheckoutLicense (most of its time is the \
             emulator's RSA-PSS signature of the answer) and a conditional PutItem linking \
             the consumption token to its customer (moto's DynamoDB); the boto3 baseline \
             makes both. Overhead is a path's percentile minus that of the same calls made \
             straight from the Rust SDK (**base** below), so it is what the function adds: \
             its runtime, parsing and answer, and lambda-host's hand-over of the event and \
             the answer, which the floor's row shows alone.\n\n\
             | path | n | min | median | p99 | overhead p50 | overhead p99 |\n\
             |---|---|---|---|---|---|---|",
            self.checkouts
        );
        let Some(raw) = Summary::of(&self.raw_checkout_ms) else {
            out.push_str("\nno raw round trip was measured\n\n");
            return;
        };
        // The base: the calls the proxy makes, when measured; else CheckoutLicense alone.
        let linked = Summary::of(&self.raw_checkout_link_ms);
        let base = linked.unwrap_or(raw);
        let rows = [
            (
                "raw CheckoutLicense (Rust SDK)",
                Some(raw),
                linked.is_none(),
            ),
            (
                "raw CheckoutLicense + the state table's PutItem (Rust SDK)",
                linked,
                true,
            ),
        ];
        for (label, summary, is_base) in rows {
            let Some(s) = summary else { continue };
            let (label, p50, p99) = if is_base {
                (format!("{label}: **base**"), "-".to_owned(), "-".to_owned())
            } else {
                (
                    label.to_owned(),
                    format!("{:+.3}", s.median - base.median),
                    format!("{:+.3}", s.p99 - base.p99),
                )
            };
            let _ = writeln!(
                out,
                "| {label} | {} | {:.3} | {:.3} | {:.3} | {p50} | {p99} |",
                s.count, s.min, s.median, s.p99
            );
        }
        if let Some(floor) = Summary::of(&self.floor.warm_ms) {
            // What any function pays for the hand-over alone: part of every overhead below.
            let _ = writeln!(
                out,
                "| for reference: the floor's warm invocation (host hand-over, no work) | {} | {:.3} | {:.3} | {:.3} | - | - |",
                floor.count, floor.min, floor.median, floor.p99
            );
        }
        let checkout = self
            .functions
            .iter()
            .find(|f| f.function == crate::cases::CHECKOUT_PROXY);
        let overhead = |samples: &Samples| {
            Summary::of(&samples.warm_ms).map(|s| (s, s.median - base.median, s.p99 - base.p99))
        };
        let mut proxy_overhead = None;
        let mut boto3_overhead = None;
        if let Some(checkout) = checkout {
            let paths = [
                (
                    "checkout-proxy through lambda-host",
                    checkout.rust.as_ref(),
                    &mut proxy_overhead,
                ),
                (
                    "boto3 baseline through lambda-host",
                    Some(&checkout.boto3),
                    &mut boto3_overhead,
                ),
            ];
            for (label, samples, slot) in paths {
                match samples.and_then(overhead) {
                    Some((s, p50, p99)) => {
                        *slot = Some((p50, p99));
                        let _ = writeln!(
                            out,
                            "| {label} | {} | {:.3} | {:.3} | {:.3} | {p50:+.3} | {p99:+.3} |",
                            s.count, s.min, s.median, s.p99
                        );
                    }
                    None => {
                        let _ =
                            writeln!(out, "| {label} | skipped: not on this commit | | | | | |");
                    }
                }
            }
        }
        out.push('\n');
        match (proxy_overhead, boto3_overhead) {
            (Some((p50, p99)), Some((b50, _))) => {
                let times = ratio(b50, p50);
                let _ = writeln!(
                    out,
                    "Targets: checkout-proxy adds {p50:.3} ms at p50 (≤ {CHECKOUT_P50_OVERHEAD_MS}: {}) \
                     and {p99:.3} ms at p99 (≤ {CHECKOUT_P99_OVERHEAD_MS}: {}); the boto3 baseline \
                     adds {b50:.3} ms at p50, {} the proxy's (≥ {CHECKOUT_OVERHEAD_VS_BOTO3}×: {}).\n",
                    verdict(p50 <= CHECKOUT_P50_OVERHEAD_MS),
                    verdict(p99 <= CHECKOUT_P99_OVERHEAD_MS),
                    times
                        .map(|t| format!("{t:.1}×"))
                        .unwrap_or_else(|| "n/a".to_owned()),
                    verdict(
                        times.is_some_and(|t| t >= CHECKOUT_OVERHEAD_VS_BOTO3)
                            || (p50 <= 0.0 && b50 > 0.0)
                    ),
                );
            }
            _ => out.push_str(
                "Targets of checkout-proxy: not measured, the package is not on this commit \
                 (the raw round trip and the boto3 baseline above are).\n\n",
            ),
        }
    }

    fn sweep_section(&self, out: &mut String) {
        if self.sweeps.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "## Sweeps with 20 ms injected latency\n\n\
             From each function's `tests/sweep_benchmark.rs` (release, the emulator's \
             `--latency-ms` 20 in process, moto for DynamoDB and EventBridge). Ideal = \
             License Manager calls × 20 ms / MAX_CONCURRENCY; target: time / ideal ≤ {SWEEP_VS_IDEAL}.\n"
        );
        for (function, lines) in &self.sweeps {
            let _ = writeln!(out, "### {function}\n");
            for line in lines {
                let _ = writeln!(out, "{line}");
            }
            out.push('\n');
        }
    }
}

fn row(
    out: &mut String,
    function: &str,
    side: &str,
    work: &str,
    samples: &Samples,
    zip: Option<u64>,
) {
    let triple = |values: &[f64]| {
        Summary::of(values)
            .map(|s| format!("{:.2} / {:.2} / {:.2}", s.min, s.median, s.p99))
            .unwrap_or_else(|| "-".to_owned())
    };
    let first = Summary::of(&samples.first_ms)
        .map(|s| format!("{:.2}", s.median))
        .unwrap_or_else(|| "-".to_owned());
    let _ = writeln!(
        out,
        "| {function} | {side} | {work} | {} | {first} | {} | {} | {} |",
        triple(&samples.init_ms),
        triple(&samples.warm_ms),
        samples
            .peak_rss_kib
            .or_else(|| samples.cold_rss_kib.iter().copied().max())
            .map(|kib| format!("{:.1} MB", kib as f64 / 1024.0))
            .unwrap_or_else(|| "-".to_owned()),
        zip.map(|bytes| format!("{:.2} MB", bytes as f64 / 1_048_576.0))
            .unwrap_or_else(|| "-".to_owned()),
    );
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**not met**" }
}

fn judged(value: Option<String>, met: Option<bool>) -> String {
    match (value, met) {
        (Some(value), Some(met)) => format!("{value} ({})", verdict(met)),
        _ => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(init: f64, warm: f64, rss_kib: u64) -> Samples {
        Samples {
            init_ms: vec![init; 3],
            first_ms: vec![warm; 3],
            warm_ms: vec![warm; 5],
            duration_ms: vec![warm; 5],
            cold_rss_kib: vec![rss_kib; 3],
            peak_rss_kib: Some(rss_kib),
        }
    }

    fn results(functions: Vec<FunctionResult>) -> Results {
        Results {
            machine: Machine {
                cpus: 2,
                cpu_model: "cpu".into(),
                kernel: "6".into(),
                arch: "x86_64".into(),
                load_before: "0.1 0.1 0.1".into(),
                load_after: "0.2 0.2 0.2".into(),
                date: "2026-11-23 18:00".into(),
                commit: "abc".into(),
            },
            cold: 3,
            warm: 5,
            checkouts: 5,
            functions,
            floor: samples(2.0, 0.1, 4096),
            floor_zip_bytes: Some(1_000_000),
            raw_checkout_ms: vec![1.0; 5],
            raw_checkout_link_ms: vec![],
            sweeps: vec![],
            skipped: vec![],
            measured_seconds: 1.0,
            build_seconds: None,
        }
    }

    #[test]
    fn targets_are_judged_from_the_medians() {
        let report = results(vec![FunctionResult {
            function: "grant-acceptor".into(),
            work: "sweep".into(),
            zip_bytes: Some(5 * 1_048_576),
            rust: Some(samples(3.0, 1.0, 10 * 1024)),
            boto3: samples(300.0, 2.0, 80 * 1024),
        }])
        .markdown();
        assert!(report.contains("| grant-acceptor | 1/100 (met) | 1.50× (met) | 10.0 MB (met) | 5.00 MB (**not met**) | 2.0× |"), "{report}");
    }

    #[test]
    fn a_missing_checkout_proxy_is_reported_as_skipped_beside_the_baseline() {
        let report = results(vec![FunctionResult {
            function: "checkout-proxy".into(),
            work: "checkout".into(),
            zip_bytes: None,
            rust: None,
            boto3: samples(300.0, 4.0, 80 * 1024),
        }])
        .markdown();
        assert!(report.contains("| checkout-proxy | rust | not on this commit |"));
        assert!(
            report.contains("| checkout-proxy through lambda-host | skipped: not on this commit |")
        );
        assert!(report.contains(
            "| boto3 baseline through lambda-host | 5 | 4.000 | 4.000 | 4.000 | +3.000 | +3.000 |"
        ));
        assert!(report.contains("Targets of checkout-proxy: not measured"));
    }

    #[test]
    fn checkout_overheads_are_compared_with_the_baseline() {
        let report = results(vec![FunctionResult {
            function: "checkout-proxy".into(),
            work: "checkout".into(),
            zip_bytes: Some(1),
            rust: Some(samples(3.0, 1.2, 1024)),
            boto3: samples(300.0, 3.0, 80 * 1024),
        }])
        .markdown();
        assert!(
            report.contains("adds 0.200 ms at p50 (≤ 0.5: met)"),
            "{report}"
        );
        assert!(
            report.contains("adds 2.000 ms at p50, 10.0× the proxy's (≥ 5×: met)"),
            "{report}"
        );
    }

    #[test]
    fn with_the_state_write_measured_overheads_are_over_both_calls() {
        let mut results = results(vec![FunctionResult {
            function: "checkout-proxy".into(),
            work: "checkout".into(),
            zip_bytes: Some(1),
            rust: Some(samples(3.0, 3.2, 1024)),
            boto3: samples(300.0, 5.0, 80 * 1024),
        }]);
        results.raw_checkout_link_ms = vec![3.0; 5];
        let report = results.markdown();
        assert!(
            report.contains(
                "| raw CheckoutLicense (Rust SDK) | 5 | 1.000 | 1.000 | 1.000 | -2.000 | -2.000 |"
            ),
            "{report}"
        );
        assert!(
            report.contains("PutItem (Rust SDK): **base** |"),
            "{report}"
        );
        assert!(
            report.contains("adds 0.200 ms at p50 (≤ 0.5: met)"),
            "{report}"
        );
        assert!(
            report.contains("adds 2.000 ms at p50, 10.0× the proxy's (≥ 5×: met)"),
            "{report}"
        );
    }
}
