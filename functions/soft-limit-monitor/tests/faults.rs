//! Failures: under 30% injected throttling every crossing is alerted exactly once (the
//! function's own retries and Lambda's retries of failed invocations); an alert that cannot be
//! published fails the invocation and is sent by the retry; without the state table alerts are
//! repeated rather than lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;

use common::*;
use license_manager_local::{Config as EmulatorConfig, Fault};
use soft_limit_monitor::SoftLimitMonitorError;

/// Lambda retries a failed asynchronous invocation twice, the next sweep goes on; the test
/// allows more so that it does not depend on the luck of the draw.
const INVOCATIONS: usize = 10;

/// Fewer in-invocation retries than the default, so that invocations do fail now and then
/// and the retries of whole invocations are exercised too.
fn few_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        initial_backoff: std::time::Duration::from_millis(10),
        max_backoff: std::time::Duration::from_millis(50),
    }
}

#[tokio::test]
async fn thirty_percent_throttling_loses_no_alert_and_doubles_none() {
    let dir = std::env::temp_dir().join(format!("soft-limit-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state_file = dir.join("lm.json");
    let _ = std::fs::remove_file(&state_file);
    let mut world = World::with_emulator(EmulatorConfig {
        state_file: Some(state_file.clone()),
        ..EmulatorConfig::default()
    })
    .await;
    let customer = world.lm(CUSTOMER).await;
    let mut expected = HashMap::new();
    for n in 0..30u32 {
        let arn = configuration(&customer, &format!("c{n}"), Some(10), false).await;
        let (used, alert) = match n % 3 {
            0 => (9, Some("Soft Limit Warning")),
            1 => (11, Some("Soft Limit Exceeded")),
            _ => (3, None),
        };
        consume(&customer, &arn, n * 100..n * 100 + used).await;
        if let Some(alert) = alert {
            expected.insert(arn, alert);
        }
    }
    let license = issue_license(&customer, "initech-tps", 1, true).await;
    check_out(&customer, "initech-tps", 2).await;

    world
        .restart_emulator(EmulatorConfig {
            fault_rate: 0.3,
            faults: vec![Fault::Throttle],
            seed: Some(11),
            ..EmulatorConfig::default()
        })
        .await;
    let monitor = world.monitor_with_retry(&[], Some(few_retries())).await;
    let mut failures = 0;
    let mut succeeded = false;
    for _ in 0..INVOCATIONS {
        match invoke(&monitor, sweep_event()).await {
            Ok(_) => {
                succeeded = true;
                break;
            }
            Err(error) => {
                failures += 1;
                eprintln!("invocation failed (Lambda retries it): {error}");
            }
        }
    }
    assert!(succeeded, "no invocation succeeded in {INVOCATIONS}");
    eprintln!("{failures} invocation(s) failed before one succeeded");
    settle().await;
    let events = world.emitted().await;
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    for (kind, detail) in &events {
        let resource = detail["resourceArn"]
            .as_str()
            .or(detail["licenseArn"].as_str())
            .unwrap()
            .to_owned();
        seen.entry(resource).or_default().push(kind.clone());
    }
    for (arn, alert) in &expected {
        assert_eq!(seen.remove(arn).unwrap_or_default(), [*alert], "{arn}");
    }
    assert_eq!(
        seen.remove(&license).unwrap_or_default(),
        ["Entitlement Overage"]
    );
    assert!(seen.is_empty(), "unexpected alerts: {seen:?}");

    // A fault-free sweep afterwards finds nothing new.
    world.restart_emulator(EmulatorConfig::default()).await;
    let monitor = world.monitor(&[]).await;
    assert_eq!(sweep(&monitor).await.alerted, 0);
    settle().await;
    assert!(world.emitted().await.is_empty());
}

#[tokio::test]
async fn an_alert_that_cannot_be_published_fails_the_invocation_and_the_retry_sends_it() {
    let world = World::start().await;
    let customer = world.lm(CUSTOMER).await;
    let arn = configuration(&customer, "analytics", Some(10), false).await;
    consume(&customer, &arn, 0..9).await;
    let broken = world.monitor(&[("EVENT_BUS_NAME", "no-such-bus")]).await;
    // A missing bus needs a person: the sweep fails naming it.
    let error = invoke(&broken, sweep_event()).await.unwrap_err();
    assert_eq!(error.error_type(), "NeedsAttention");
    let message = error.to_string();
    assert!(
        message.contains(&arn) && message.contains("ResourceNotFoundException"),
        "{message}"
    );

    // The crossing was recorded with its alert in the outbox: the retry delivers that alert
    // (re-driven, the same occurrence) and finds no new crossing.
    let monitor = world.monitor(&[]).await;
    let summary = sweep(&monitor).await;
    assert_eq!((summary.alerted, summary.redriven), (0, 1));
    settle().await;
    assert_eq!(types(&world.emitted().await), ["Soft Limit Warning"]);
    assert_eq!(sweep(&monitor).await.redriven, 0, "delivered once");
}

#[tokio::test]
async fn without_the_state_table_alerts_repeat_rather_than_go_silent() {
    let world = World::start().await;
    let customer = world.lm(CUSTOMER).await;
    let arn = configuration(&customer, "analytics", Some(10), false).await;
    consume(&customer, &arn, 0..9).await;
    let monitor = world.monitor(&[("STATE_TABLE", "no-such-table")]).await;
    // Each sweep alerts, then fails naming the missing table (the DLQ's alarm calls a person).
    for _ in 0..2 {
        let error = invoke(&monitor, sweep_event()).await.unwrap_err();
        let SoftLimitMonitorError::NeedsAttention { summary, .. } = &error else {
            panic!("{error}");
        };
        assert_eq!(summary.alerted, 1);
        assert!(
            summary.needs_attention[0].contains("no-such-table"),
            "{summary:?}"
        );
    }
    settle().await;
    assert_eq!(
        types(&world.emitted().await),
        ["Soft Limit Warning", "Soft Limit Warning"]
    );
}
