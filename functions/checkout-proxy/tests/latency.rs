//! For issue 8's note: p50/p99 handler latency over 1,000 checkouts against the emulator,
//! beside the raw emulator round trip (the same CheckoutLicense through the SDK). Ignored by
//! default (it measures, it does not judge); run it with
//! `cargo test -p checkout-proxy --test latency -- --ignored --nocapture` (add `--release`
//! for optimised numbers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_licensemanager::types::{CheckoutType, EntitlementData, EntitlementDataUnit};
use common::*;

const CHECKOUTS: usize = 1000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name}: n={} p50={:.2} ms p99={:.2} ms max={:.2} ms",
        samples.len(),
        percentile(&samples, 50.0).as_secs_f64() * 1000.0,
        percentile(&samples, 99.0).as_secs_f64() * 1000.0,
        samples.last().unwrap().as_secs_f64() * 1000.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement for the issue's note; run with --ignored --nocapture"]
async fn handler_latency_over_a_thousand_checkouts_beside_the_raw_emulator_round_trip() {
    let world = World::start().await;
    let lm = world.lm(ISSUER_ACCOUNT).await;
    issue_license(&lm, ALICE, 10 * CHECKOUTS as i64).await;
    let proxy = world.proxy().await;

    let mut handler = Vec::with_capacity(CHECKOUTS);
    for n in 0..CHECKOUTS {
        let key = format!("latency-{n}");
        let event = checkout_event(ALICE, checkout_body(1, None), Some(&key));
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        let started = Instant::now();
        let response = proxy.handle(request).await;
        handler.push(started.elapsed());
        assert_eq!(response.status(), 200);
    }

    let mut raw = Vec::with_capacity(CHECKOUTS);
    for n in 0..CHECKOUTS {
        let started = Instant::now();
        lm.checkout_license()
            .product_sku(SKU)
            .checkout_type(CheckoutType::Provisional)
            .key_fingerprint(fingerprint())
            .beneficiary(ALICE)
            .entitlements(
                EntitlementData::builder()
                    .name("Users")
                    .unit(EntitlementDataUnit::Count)
                    .value("1")
                    .build()
                    .unwrap(),
            )
            .client_token(format!("raw-{n}"))
            .send()
            .await
            .unwrap();
        raw.push(started.elapsed());
    }
    // What the handler adds on top: one conditional PutItem (the token's link) to moto.
    let mut put = Vec::with_capacity(CHECKOUTS);
    for n in 0..CHECKOUTS {
        let started = Instant::now();
        world
            .dynamodb
            .put_item()
            .table_name(TABLE)
            .item("pk", AttributeValue::S(format!("latency#{n}")))
            .item("state", AttributeValue::S("{}".into()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .unwrap();
        put.push(started.elapsed());
    }
    println!(
        "checkout-proxy, {} build, emulator in-process, state table on moto's server:",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    report("handler (POST /v1/checkout, Idempotency-Key)", handler);
    report("raw emulator CheckoutLicense round trip", raw);
    report("state table PutItem round trip (moto)", put);
}
