//! A sweep over 1,000 pending grants against the emulator with 20 ms latency per call, at
//! MAX_CONCURRENCY 8 and 16: wall time, License Manager calls made, and the ideal
//! (calls x 20 ms / concurrency) beside it; and the same sweep without latency, which is what
//! the rest costs (moto's DynamoDB and EventBridge, SigV4, the emulator itself) on this
//! machine. Run it in release mode:
//!
//! ```sh
//! cargo test --release -p grant-acceptor --test sweep_benchmark -- --ignored --nocapture
//! ```
//!
//! On the 2-core development machine (release, emulator in-process, moto for DynamoDB and
//! EventBridge without the queue target), 1,000 pending trusted grants per sweep:
//!
//! | latency | MAX_CONCURRENCY | time | License Manager calls | ideal | time / ideal |
//! |---|---|---|---|---|---|
//! | 20 ms | 8 | 8.58 s | 3020 | 7.55 s | 1.14 |
//! | 20 ms | 16 | 4.64 s | 3020 | 3.77 s | 1.23 |
//! | 0 ms | 8 | 2.97 s | 3020 | - | - |
//!
//! 3020 calls = 10 ListReceivedGrants pages + 10 GetLicense (one per license) + GetGrant,
//! AcceptGrant and CreateGrantVersion per grant. The 0 ms row is the fixed cost of the rest
//! (1,000 state-table writes and 100 PutEvents to moto, SigV4, the emulator) on two cores.
//! With moto delivering every event to an SQS queue, its PutEvents alone takes about 15 ms
//! per event and bounds a sweep at about 16-19 s whatever the latency.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt as _;
use serde_json::json;

const GRANTS: usize = 1000;
const LATENCY: Duration = Duration::from_millis(20);
/// Whether emitted events are delivered to the test queue (set to see moto's cost).
const DELIVER_EVENTS: bool = false;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: takes about a minute; run it in release mode with --ignored --nocapture"]
async fn sweep_of_a_thousand_pending_grants() {
    println!(
        "| latency | MAX_CONCURRENCY | grants | time | License Manager calls | ideal (calls x latency / concurrency) | time / ideal |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (latency, concurrencies) in [(LATENCY, &[8usize, 16][..]), (Duration::ZERO, &[8][..])] {
        sweeps(latency, concurrencies).await;
    }
}

async fn sweeps(latency: Duration, concurrencies: &[usize]) {
    let world = World::with_emulator(license_manager_local::Config {
        latency,
        ..license_manager_local::Config::default()
    })
    .await;
    // Measure License Manager, not moto: without the rule's queue target, moto's PutEvents
    // stops costing about 15 ms per event (its delivery to SQS, single-threaded Python).
    if !DELIVER_EVENTS {
        world
            .events
            .remove_targets()
            .event_bus_name(BUS)
            .rule("emitted")
            .ids("local-host")
            .send()
            .await
            .unwrap();
    }
    let acme = world.lm(ACME_ACCOUNT).await;
    let rules = [json!({"keyFingerprint": fingerprint(ACME_ACCOUNT, "Acme")})];
    let policy = policy(&rules, "ignore");
    for &concurrency in concurrencies {
        // Ten licenses of 100 grants each, created concurrently.
        let mut licenses = Vec::new();
        for index in 0..10 {
            licenses
                .push(issue_license(&acme, "Acme", &format!("acme-{concurrency}-{index}")).await);
        }
        let created: Vec<String> = futures_util::stream::iter(0..GRANTS)
            .map(|index| {
                let acme = &acme;
                let license = &licenses[index % licenses.len()];
                async move { grant_to_customer(acme, license).await }
            })
            .buffer_unordered(64)
            .collect()
            .await;
        assert_eq!(created.len(), GRANTS);

        let acceptor = world
            .acceptor(&policy, &[("MAX_CONCURRENCY", &concurrency.to_string())])
            .await;
        let started = Instant::now();
        let summary = invoke(&acceptor, sweep_event()).await.unwrap();
        let elapsed = started.elapsed();
        assert_eq!((summary.examined, summary.activated), (GRANTS, GRANTS));
        let stats = acceptor.license_manager().stats();
        assert!(stats.peak_in_flight() <= concurrency);
        let calls = stats.calls();
        let ideal = latency * u32::try_from(calls).unwrap() / u32::try_from(concurrency).unwrap();
        let ratio = if ideal.is_zero() {
            "-".to_owned()
        } else {
            format!("{:.2}", elapsed.as_secs_f64() / ideal.as_secs_f64())
        };
        println!(
            "| {} ms | {concurrency} | {GRANTS} | {:.2} s | {calls} | {:.2} s | {ratio} |",
            latency.as_millis(),
            elapsed.as_secs_f64(),
            ideal.as_secs_f64(),
        );
    }
}
