//! The load benchmark's results: load.json, a self-contained SVG (load.svg) and the "Load"
//! section of results.md (replaced when present, else appended).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use crate::load::apps::{Phase, Sample};
use crate::load::runs::{Run, Side};
use crate::results::Machine;

/// Where the section starts and ends in results.md.
const BEGIN: &str = "<!-- load benchmark: written by bench-load -->";
const END: &str = "<!-- end of the load benchmark -->";

/// Nearest-rank percentile of the samples' times, in ms.
fn percentile(samples: &[&Sample], p: f64) -> f64 {
    let mut ms: Vec<f64> = samples.iter().map(|sample| sample.ms).collect();
    if ms.is_empty() {
        return 0.0;
    }
    ms.sort_by(f64::total_cmp);
    let rank = (p / 100.0 * ms.len() as f64).ceil().max(1.0) as usize;
    ms[rank.min(ms.len()) - 1]
}

fn label(run: &Run) -> String {
    format!(
        "{} · {} apps · {}",
        match run.side {
            Side::Rust => "rust",
            Side::Boto3 => "boto3",
        },
        run.apps,
        if run.quotas.is_empty() {
            "no quotas"
        } else {
            "quotas"
        }
    )
}

/// Whether the run kept the invariant: seats drawn equal successful checkouts, and after the
/// check-ins equal the leases whose check-in never succeeded (zero when every one did).
pub fn invariant_holds(run: &Run) -> bool {
    seats_match(run.seats_after_checkout, run.checkouts)
        && seats_match(run.seats_after_checkin, run.leases_held)
}

/// Whether License Manager counts `seats` drawn for `leases` leases of one seat each.
fn seats_match(seats: i64, leases: usize) -> bool {
    i64::try_from(leases).is_ok_and(|leases| leases == seats)
}

fn verdict(seats: i64, leases: usize) -> &'static str {
    if seats_match(seats, leases) {
        "holds"
    } else {
        "**broken**"
    }
}

/// One line per run for the console.
pub fn summary_line(run: &Run) -> String {
    format!(
        "    {}: {} of {} apps completed in {:.1} s, {} requests, {} cold starts, {} throttled, seats {} after checkout ({} checkouts), {} after check-in ({} leases still held): invariant {}",
        label(run),
        run.completed_apps,
        run.apps,
        run.seconds,
        run.samples.len(),
        run.cold_starts,
        run.throttles,
        run.seats_after_checkout,
        run.checkouts,
        run.seats_after_checkin,
        run.leases_held,
        if invariant_holds(run) {
            "holds"
        } else {
            "BROKEN"
        }
    )
}

/// Writes load.json, load.svg and the results.md section.
pub fn write(out_dir: &Path, machine: &Machine, took: Duration, runs: &[Run]) -> Result<()> {
    std::fs::create_dir_all(out_dir)?;
    std::fs::write(
        out_dir.join("load.json"),
        serde_json::to_string(&json!({"machine": machine, "runs": runs}))?,
    )?;
    std::fs::write(out_dir.join("load.svg"), svg(runs))?;
    let path = out_dir.join("results.md");
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let section = markdown(machine, took, runs);
    let updated = match (existing.find(BEGIN), existing.find(END)) {
        (Some(begin), Some(end)) if begin < end => format!(
            "{}{section}{}",
            &existing[..begin],
            &existing[end + END.len()..]
        ),
        _ => format!("{}\n{section}\n", existing.trim_end()),
    };
    std::fs::write(&path, updated)?;
    Ok(())
}

fn markdown(machine: &Machine, took: Duration, runs: &[Run]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "{BEGIN}");
    let _ = writeln!(md, "## Load: customer apps at once through the HTTP API\n");
    let _ = writeln!(
        md,
        "Written by `bench-load` (bench/runner/src/load.rs, run by `make bench`). Each app is a customer with its own token and a one-seat license; all apps check out (one seat, PROVISIONAL, their node), then all extend, then all check in, through the local HTTP API (the template's JWT authorizer) to checkout-proxy on lambda-host with the template's reserved concurrency (`CheckoutProxyConcurrency`), against the release license-manager-local. An app retries 429/5xx as license-client does (`Retry-After`, else backoff; at most 6 attempts); an app whose check-in still failed tries twice more after the others. The invariant: the seats License Manager counts after the checkouts equal the successful checkouts, and after the check-ins equal the leases still held (those whose check-in never succeeded; zero when all did). **quotas**: the emulator rate-limits `{}` per second per account (`--rate-limit`; chosen for the benchmark, not AWS's published quotas). **boto3**: the same routes served by bench/baseline/handler.py under awslambdaric, with the same concurrency. Raw samples: [load.json](load.json); plot: [load.svg](load.svg).\n",
        runs.iter()
            .find(|run| !run.quotas.is_empty())
            .map(|run| run.quotas.join(", "))
            .unwrap_or_default()
    );
    let _ = writeln!(
        md,
        "- machine: {} {} CPUs ({}), Linux {}; commit `{}`",
        machine.arch, machine.cpus, machine.cpu_model, machine.kernel, machine.commit
    );
    let _ = writeln!(
        md,
        "- load average (1/5/15 min): {} before, {} after; measured in {:.0} s under the project's cargo lock (no build ran meanwhile)\n",
        machine.load_before,
        crate::load_average(),
        took.as_secs_f64()
    );
    let _ = writeln!(
        md,
        "| run | apps done | time | requests/s | checkout p50 / p99 | extend p50 / p99 | check-in p50 / p99 | answers | cold starts | throttled (429) | peak at once | peak RSS per environment | seats after checkout = checkouts | seats after check-in = leases still held |"
    );
    let _ = writeln!(
        md,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for run in runs {
        let route = |phase: Phase| {
            let samples: Vec<&Sample> = run.samples.iter().filter(|s| s.phase == phase).collect();
            format!(
                "{:.1} / {:.1}",
                percentile(&samples, 50.0),
                percentile(&samples, 99.0)
            )
        };
        let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
        for sample in &run.samples {
            *statuses.entry(sample.status).or_default() += 1;
        }
        let answers = statuses
            .iter()
            .map(|(status, count)| {
                if *status == 0 {
                    format!("none: {count}")
                } else {
                    format!("{status}: {count}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let rss = run.environment_rss_kib.iter().copied().max().unwrap_or(0);
        let rss_min = run.environment_rss_kib.iter().copied().min().unwrap_or(0);
        let _ = writeln!(
            md,
            "| {} | {} / {} | {:.1} s | {:.0} | {} | {} | {} | {} | {} | {} | {} of {} | {:.1}-{:.1} MB ({} environments) | {} = {} ({}) | {} = {} ({}) |",
            label(run),
            run.completed_apps,
            run.apps,
            run.seconds,
            run.samples.len() as f64 / run.seconds.max(f64::EPSILON),
            route(Phase::Checkout),
            route(Phase::Extend),
            route(Phase::CheckIn),
            answers,
            run.cold_starts,
            run.throttles,
            run.peak_running,
            run.concurrency,
            rss_min as f64 / 1024.0,
            rss as f64 / 1024.0,
            run.environment_rss_kib.len(),
            run.seats_after_checkout,
            run.checkouts,
            verdict(run.seats_after_checkout, run.checkouts),
            run.seats_after_checkin,
            run.leases_held,
            verdict(run.seats_after_checkin, run.leases_held),
        );
    }
    let _ = writeln!(
        md,
        "\nTimes in ms (every attempt, retries included), as the app sees them through the HTTP API. A 429 is the host's throttle (past the reserved concurrency) or, with quotas, License Manager's `RateLimitExceededException` as the function answers it.\n\n![load: p50 and p99 per route](load.svg)"
    );
    let _ = writeln!(md, "{END}");
    md
}

/// Horizontal bars: p50 (solid) and p99 (light) per route for each run.
fn svg(runs: &[Run]) -> String {
    const WIDTH: f64 = 900.0;
    const LEFT: f64 = 260.0;
    const BAR: f64 = 12.0;
    let rows: Vec<(String, f64, f64)> = runs
        .iter()
        .flat_map(|run| {
            Phase::ALL.into_iter().map(move |phase| {
                let samples: Vec<&Sample> =
                    run.samples.iter().filter(|s| s.phase == phase).collect();
                (
                    format!("{} · {}", label(run), phase.route()),
                    percentile(&samples, 50.0),
                    percentile(&samples, 99.0),
                )
            })
        })
        .collect();
    let max = rows.iter().map(|(_, _, p99)| *p99).fold(1.0_f64, f64::max);
    let height = 40.0 + rows.len() as f64 * (BAR + 6.0) + 30.0;
    let scale = (WIDTH - LEFT - 80.0) / max;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"10\" y=\"20\" font-size=\"14\">Load through the HTTP API: p50 (dark) and p99 (light) per route, ms</text>\n"
    );
    for (index, (name, p50, p99)) in rows.iter().enumerate() {
        let y = 40.0 + index as f64 * (BAR + 6.0);
        let color = if name.starts_with("rust") {
            ("#1f77b4", "#aec7e8")
        } else {
            ("#ff7f0e", "#ffbb78")
        };
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n<rect x=\"{LEFT}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{BAR}\" fill=\"{}\"/>\n<rect x=\"{LEFT}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{BAR}\" fill=\"{}\"/>\n<text x=\"{:.1}\" y=\"{:.1}\">{p50:.1} / {p99:.1}</text>\n",
            LEFT - 6.0,
            y + BAR - 2.0,
            name.replace('&', "&amp;"),
            (p99 * scale).max(1.0),
            color.1,
            (p50 * scale).max(1.0),
            color.0,
            LEFT + p99 * scale + 4.0,
            y + BAR - 2.0,
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn run(checkouts: usize, after_checkout: i64, after_checkin: i64) -> Run {
        Run {
            side: Side::Rust,
            apps: 2,
            quotas: Vec::new(),
            concurrency: 50,
            seconds: 1.0,
            samples: vec![
                Sample {
                    phase: Phase::Checkout,
                    status: 429,
                    ms: 1.0,
                    last: false,
                },
                Sample {
                    phase: Phase::Checkout,
                    status: 200,
                    ms: 3.0,
                    last: true,
                },
            ],
            completed_apps: 2,
            checkouts,
            seats_after_checkout: after_checkout,
            seats_after_checkin: after_checkin,
            leases_held: 0,
            cold_starts: 2,
            throttles: 1,
            peak_running: 2,
            environment_rss_kib: vec![9_000, 10_240],
        }
    }

    fn machine() -> Machine {
        Machine {
            cpus: 2,
            cpu_model: "cpu".into(),
            kernel: "6".into(),
            arch: "x86_64".into(),
            load_before: "1 1 1".into(),
            load_after: "1 1 1".into(),
            date: "today".into(),
            commit: "abc".into(),
        }
    }

    #[test]
    fn the_invariant_is_seats_equal_checkouts_then_zero() {
        assert!(invariant_holds(&run(2, 2, 0)));
        assert!(!invariant_holds(&run(2, 3, 0)), "a seat drawn twice");
        assert!(
            !invariant_holds(&run(2, 1, 0)),
            "a checkout without its seat"
        );
        assert!(
            !invariant_holds(&run(2, 2, 1)),
            "a seat left after check-in"
        );
    }

    #[test]
    fn the_section_replaces_the_last_one_and_keeps_the_rest_of_results_md() {
        let dir = std::env::temp_dir().join(format!("bench-load-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("results.md"),
            "# Benchmarks\n\nthe runner's tables\n",
        )
        .unwrap();
        for _ in 0..2 {
            write(&dir, &machine(), Duration::from_secs(3), &[run(2, 2, 0)]).unwrap();
        }
        let md = std::fs::read_to_string(dir.join("results.md")).unwrap();
        assert!(md.starts_with("# Benchmarks\n\nthe runner's tables\n"));
        assert_eq!(md.matches(BEGIN).count(), 1, "{md}");
        assert!(md.contains("| rust · 2 apps · no quotas | 2 / 2 |"), "{md}");
        assert!(md.contains("200: 1, 429: 1"), "{md}");
        assert!(md.contains("2 = 2 (holds) | 0 = 0 (holds) |"), "{md}");
        let svg = std::fs::read_to_string(dir.join("load.svg")).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("POST /v1/checkout"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
