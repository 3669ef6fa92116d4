//! A sweep over many soft-limited license configurations (default 10,000; `SWEEP_CONFIGURATIONS`
//! overrides) against the emulator with 20 ms latency per call at MAX_CONCURRENCY 16: wall
//! time of the first sweep (one configuration in ten at 1 of 1 alerts) and of a repeated one
//! (nothing new), the License Manager calls made, and the ideal (calls x 20 ms / 16) beside
//! it. Run it in release mode:
//!
//! ```sh
//! cargo test --release -p soft-limit-monitor --test sweep_benchmark -- --ignored --nocapture
//! ```
//!
//! License Manager is cheap here: ListLicenseConfigurations pages of 100 (serial, since each
//! page needs the previous page's token) plus one ListLicenses and one ListReceivedLicenses.
//! The rest is one state-table read per configuration (moto's DynamoDB, single-threaded
//! Python) and one conditional write and PutEvents per alert. Results are in the README.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt as _;

const LATENCY: Duration = Duration::from_millis(20);
const CONCURRENCY: usize = 16;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: takes minutes; run it in release mode with --ignored --nocapture"]
async fn sweep_of_ten_thousand_configurations() {
    let configurations: u32 = std::env::var("SWEEP_CONFIGURATIONS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(10_000);
    let world = World::with_emulator(license_manager_local::Config {
        latency: LATENCY,
        ..license_manager_local::Config::default()
    })
    .await;
    // Measure the sweep, not moto's delivery of every event to SQS.
    world
        .events
        .remove_targets()
        .event_bus_name(BUS)
        .rule("emitted")
        .ids("local-host")
        .send()
        .await
        .unwrap();
    let customer = world.lm(CUSTOMER).await;
    let setup = Instant::now();
    futures_util::stream::iter(0..configurations)
        .map(|n| {
            let customer = &customer;
            async move {
                // One configuration in ten at 1 of 1 (a warning): few associations, since the
                // emulator counts consumption by scanning every association of the account.
                let count = if n % 10 == 0 { 1 } else { 10 };
                let arn = configuration(customer, &format!("c{n}"), Some(count), false).await;
                if n % 10 == 0 {
                    consume(customer, &arn, n..n + 1).await;
                }
            }
        })
        .buffer_unordered(256)
        .collect::<Vec<()>>()
        .await;
    println!(
        "set up {configurations} configurations in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    let alerts = usize::try_from(configurations.div_ceil(10)).unwrap();
    println!(
        "| sweep | configurations | alerts | time | License Manager calls | ideal (calls x 20 ms / {CONCURRENCY}) | time / ideal |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (label, expected) in [("first", alerts), ("repeated", 0)] {
        let monitor = world
            .monitor(&[("MAX_CONCURRENCY", &CONCURRENCY.to_string())])
            .await;
        let started = Instant::now();
        let summary = invoke(&monitor, sweep_event()).await.unwrap();
        let elapsed = started.elapsed();
        assert_eq!(
            (summary.configurations, summary.alerted),
            (usize::try_from(configurations).unwrap(), expected)
        );
        let stats = monitor.license_manager().stats();
        assert!(stats.peak_in_flight() <= CONCURRENCY);
        let calls = stats.calls();
        let ideal = LATENCY * u32::try_from(calls).unwrap() / u32::try_from(CONCURRENCY).unwrap();
        println!(
            "| {label} | {configurations} | {expected} | {:.2} s | {calls} | {:.2} s | {:.2} |",
            elapsed.as_secs_f64(),
            ideal.as_secs_f64(),
            elapsed.as_secs_f64() / ideal.as_secs_f64(),
        );
    }
}
