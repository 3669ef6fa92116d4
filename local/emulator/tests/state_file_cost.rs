//! The cost of `--state-file` under many checkouts (run with `--ignored --nocapture`):
//! 3,000 checkouts then 3,000 check-ins, sequentially, each persisted; prints the time
//! per call and the size of the state file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_licensemanager::types::CheckoutType;
use common::*;
use std::time::Instant;

#[tokio::test]
#[ignore = "a measurement, not a check"]
async fn three_thousand_checkouts_with_a_state_file() {
    let n: usize = std::env::var("LML_CHECKOUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let path =
        std::env::temp_dir().join(format!("lml-cost-{}.json", uuid::Uuid::new_v4().simple()));
    let h = Harness::with_state_file(&path).await;
    let isv = h.client(ISV).await;
    users_license(&isv, "acme-pro", 1_000_000).await;
    let started = Instant::now();
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        let out = checkout_request(&isv, "acme-pro", CheckoutType::Provisional, users(1))
            .client_token(format!("c{i}"))
            .send()
            .await
            .unwrap();
        tokens.push(out.license_consumption_token.unwrap());
    }
    let checkouts = started.elapsed();
    let size_after_checkouts = std::fs::metadata(&path).unwrap().len();
    let started = Instant::now();
    for t in &tokens {
        check_in(&isv, t).await.unwrap();
    }
    let check_ins = started.elapsed();
    let size_after_check_ins = std::fs::metadata(&path).unwrap().len();
    println!(
        "{n} checkouts: {:.1} s ({:.2} ms each); state file {} KiB",
        checkouts.as_secs_f64(),
        checkouts.as_secs_f64() * 1000.0 / n as f64,
        size_after_checkouts / 1024
    );
    println!(
        "{n} check-ins: {:.1} s ({:.2} ms each); state file {} KiB",
        check_ins.as_secs_f64(),
        check_ins.as_secs_f64() * 1000.0 / n as f64,
        size_after_check_ins / 1024
    );
    h.emulator.shutdown().await;
    let _ = std::fs::remove_file(&path);
}
