//! Failures: under 30% injected throttling every trusted grant still ends ACTIVE exactly once
//! with one event (the function's own retries and Lambda's retries of failed invocations); an
//! outage fails the invocation so that Lambda retries it; an unpublished event is sent by the
//! retry; without the state table decisions are reported again rather than not at all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_licensemanager::types::GrantStatus;
use common::*;
use grant_acceptor::GrantAcceptorError;
use license_manager_local::{Config as EmulatorConfig, Fault};
use serde_json::json;

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
async fn thirty_percent_throttling_still_activates_every_trusted_grant_exactly_once() {
    let dir = std::env::temp_dir().join(format!("grant-acceptor-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state_file = dir.join("lm.json");
    let _ = std::fs::remove_file(&state_file);
    let mut world = World::with_emulator(EmulatorConfig {
        state_file: Some(state_file.clone()),
        ..EmulatorConfig::default()
    })
    .await;
    let acme = world.lm(ACME_ACCOUNT).await;
    let initech = world.lm("777788889999").await;
    let mut trusted = Vec::new();
    for sku in ["acme-a", "acme-b", "acme-c"] {
        let license = issue_license(&acme, "Acme", sku).await;
        for _ in 0..5 {
            trusted.push(grant_to_customer(&acme, &license).await);
        }
    }
    let mut untrusted = Vec::new();
    for _ in 0..3 {
        untrusted.push(pending_grant(&initech, "Initech", "tps").await);
    }

    world
        .restart_emulator(EmulatorConfig {
            fault_rate: 0.3,
            faults: vec![Fault::Throttle],
            seed: Some(7),
            ..EmulatorConfig::default()
        })
        .await;
    let rules = [json!({"keyFingerprint": fingerprint(ACME_ACCOUNT, "Acme")})];
    let acceptor = world
        .acceptor_with_retry(&policy(&rules, "ignore"), &[], Some(few_retries()))
        .await;
    let mut failures = 0;
    let mut succeeded = false;
    for _ in 0..INVOCATIONS {
        match invoke(&acceptor, sweep_event()).await {
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
    assert!(
        acceptor.license_manager().stats().calls() > 15 * 3,
        "throttled calls were retried"
    );
    eprintln!("failed invocations before success: {failures}");

    world.restart_emulator(EmulatorConfig::default()).await;
    let customer = world.lm(CUSTOMER).await;
    for grant in &trusted {
        assert_eq!(
            grant_history(&customer, grant).await,
            [GrantStatus::Disabled, GrantStatus::Active],
            "{grant}"
        );
    }
    for grant in &untrusted {
        assert_eq!(
            grant_state(&customer, grant).await.0,
            GrantStatus::PendingAccept
        );
    }
    settle().await;
    let events = world.emitted().await;
    let mut accepted: Vec<&str> = events
        .iter()
        .filter(|(kind, _)| kind == "Grant Accepted")
        .map(|(_, detail)| detail["grantArn"].as_str().unwrap())
        .collect();
    accepted.sort_unstable();
    let mut expected: Vec<&str> = trusted.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(accepted, expected, "one Grant Accepted per trusted grant");
    let not_trusted = events
        .iter()
        .filter(|(kind, _)| kind == "Grant Not Trusted")
        .count();
    assert_eq!(not_trusted, untrusted.len());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_grant_failing_transiently_fails_the_invocation_after_the_others_and_the_retry_finishes_it()
 {
    let dir = std::env::temp_dir().join(format!("grant-acceptor-outage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state_file = dir.join("lm.json");
    let _ = std::fs::remove_file(&state_file);
    let mut world = World::with_emulator(EmulatorConfig {
        state_file: Some(state_file),
        ..EmulatorConfig::default()
    })
    .await;
    let acme = world.lm(ACME_ACCOUNT).await;
    let grant = pending_grant(&acme, "Acme", "acme-pro").await;
    let rules = [json!({"keyFingerprint": fingerprint(ACME_ACCOUNT, "Acme")})];
    let policy = policy(&rules, "ignore");

    // License Manager is down (every call throttled): the invocation fails, retriably.
    world
        .restart_emulator(EmulatorConfig {
            fault_rate: 1.0,
            faults: vec![Fault::Throttle],
            ..EmulatorConfig::default()
        })
        .await;
    let acceptor = world
        .acceptor_with_retry(&policy, &[], Some(few_retries()))
        .await;
    let error = invoke(&acceptor, grant_change(&grant)).await.unwrap_err();
    assert_eq!(error.error_type(), "TransientGrantFailures");
    assert!(error.to_string().contains(&grant), "{error}");
    assert!(
        error.to_string().contains("RateLimitExceededException"),
        "{error}"
    );
    let error = invoke(&acceptor, sweep_event()).await.unwrap_err();
    assert_eq!(error.error_type(), "ListReceivedGrantsFailed");

    // Lambda's retry, once License Manager is back, finishes the work.
    world.restart_emulator(EmulatorConfig::default()).await;
    let acceptor = world.acceptor(&policy, &[]).await;
    let summary = invoke(&acceptor, grant_change(&grant)).await.unwrap();
    assert_eq!((summary.accepted, summary.activated), (1, 1));
    let customer = world.lm(CUSTOMER).await;
    assert_eq!(grant_state(&customer, &grant).await.0, GrantStatus::Active);
    settle().await;
    assert_eq!(world.emitted().await.len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_event_that_cannot_be_published_fails_the_invocation_and_the_retry_sends_it() {
    let world = World::start().await;
    let initech = world.lm("777788889999").await;
    let grant = pending_grant(&initech, "Initech", "tps").await;
    let rules = [json!({"keyFingerprint": fingerprint(ACME_ACCOUNT, "Acme")})];
    let policy = policy(&rules, "ignore");

    // The bus does not exist: the decision is made, its event is not published, and the
    // invocation fails as one that needs a person (its retries end in the DLQ).
    let misconfigured = world
        .acceptor(&policy, &[("EVENT_BUS_NAME", "no-such-bus")])
        .await;
    let error = invoke(&misconfigured, grant_change(&grant))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "NeedsAttention");
    let message = error.to_string();
    assert!(
        message.contains("Grant Not Trusted not published")
            && message.contains("ResourceNotFoundException"),
        "{message}"
    );

    // The retry (here with the bus in place) publishes it, once.
    let acceptor = world.acceptor(&policy, &[]).await;
    invoke(&acceptor, grant_change(&grant)).await.unwrap();
    invoke(&acceptor, grant_change(&grant)).await.unwrap();
    settle().await;
    let events = world.emitted().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1["grantArn"], grant.as_str());
}

#[tokio::test]
async fn without_the_state_table_decisions_are_still_reported_rather_than_silenced() {
    let world = World::start().await;
    let initech = world.lm("777788889999").await;
    pending_grant(&initech, "Initech", "tps").await;
    let rules = [json!({"keyFingerprint": fingerprint(ACME_ACCOUNT, "Acme")})];
    let acceptor = world
        .acceptor(
            &policy(&rules, "ignore"),
            &[("STATE_TABLE", "no-such-table")],
        )
        .await;

    // Each sweep reports again (one repeated event per sweep), never nothing, and fails
    // naming the missing table, so that the DLQ's alarm calls a person.
    for _ in 0..2 {
        let error = invoke(&acceptor, sweep_event()).await.unwrap_err();
        let GrantAcceptorError::NeedsAttention { summary, .. } = &error else {
            panic!("{error}");
        };
        assert_eq!((summary.left, summary.failed), (1, 0));
        assert!(
            summary.needs_attention[0].contains("no-such-table")
                && summary.needs_attention[0].contains("ResourceNotFoundException"),
            "{summary:?}"
        );
        settle().await;
        assert_eq!(world.emitted().await.len(), 1);
    }
}
