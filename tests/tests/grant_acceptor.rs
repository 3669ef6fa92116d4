//! grant-acceptor's real bootstrap in the local stack, fed by the emulator's own events:
//! an ISV's grant is accepted and activated through the `Grant Change` event path, an
//! untrusted one is left and reported once, and the sweep fired on demand finds nothing new.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use aws_sdk_licensemanager::types::GrantStatus;
use common::TestStack;
use local_test_kit::bus;
use local_test_kit::clients::{Account, CUSTOMER_ACCOUNT};
use local_test_kit::licenses::{grant_from, grant_status};
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(10);

async fn status(customer: &Account, grant_arn: &str) -> GrantStatus {
    grant_status(customer, grant_arn).await.unwrap()
}

/// The detail-types of grant-acceptor's events (license-events, in the same stack, emits
/// its own about the same licenses).
fn detail_types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|event| {
            event["detail-type"]
                .as_str()
                .is_some_and(|kind| kind.starts_with("Grant "))
        })
        .map(|event| event["detail-type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_are_decided_from_the_emulators_events_and_the_sweep_adds_nothing() {
    let mut stack = TestStack::start("template.yaml", &[]).await;
    let url = stack.stack.license_manager_url();
    let acme = Account::connect("111122223333", &url).await;
    let globex = Account::connect("444455556666", &url).await;
    let customer = Account::connect(CUSTOMER_ACCOUNT, &url).await;
    let events_queue = stack.infra().events_queue_url.clone();
    let sqs = stack.clients().sqs.clone();

    // The trusted ISV's grant: the Grant Change event alone gets it accepted and activated.
    let trusted = grant_from(&acme, "Acme", "acme-analytics", CUSTOMER_ACCOUNT)
        .await
        .unwrap();
    let record = stack.invocation_of("GrantAcceptorFunction", PATIENCE).await;
    assert_eq!(record.trigger, "GrantChange");
    assert_eq!(record.payload["source"], json!("aws.license-manager"));
    let summary = record
        .invocation
        .result
        .as_ref()
        .expect("the function succeeded");
    assert_eq!(summary["accepted"], json!(1), "{summary}");
    assert_eq!(summary["activated"], json!(1), "{summary}");
    assert!(
        record.invocation.cold(),
        "the first invocation is a cold start"
    );
    assert_eq!(status(&customer, &trusted).await, GrantStatus::Active);
    let events = bus::receive(&sqs, &events_queue, 1, PATIENCE)
        .await
        .unwrap();
    assert_eq!(detail_types(&events), ["Grant Accepted"]);
    let accepted = events
        .iter()
        .find(|event| event["detail-type"] == "Grant Accepted")
        .unwrap();
    assert_eq!(accepted["detail"]["grantArn"], json!(trusted));

    // An issuer the local trust policy does not name: left pending, reported once.
    let untrusted = grant_from(&globex, "Globex", "globex-reports", CUSTOMER_ACCOUNT)
        .await
        .unwrap();
    let events = bus::receive(&sqs, &events_queue, 1, PATIENCE)
        .await
        .unwrap();
    assert_eq!(detail_types(&events), ["Grant Not Trusted"]);
    let not_trusted = events
        .iter()
        .find(|event| event["detail-type"] == "Grant Not Trusted")
        .unwrap();
    assert_eq!(not_trusted["detail"]["outcome"], json!("ignored"));
    assert_eq!(
        status(&customer, &untrusted).await,
        GrantStatus::PendingAccept
    );

    // The sweep, fired on demand: it sees the pending grant, and has nothing new to say.
    let fired = stack
        .app()
        .runtime
        .fire("grant-acceptor", &sqs)
        .await
        .unwrap();
    let summary = fired[0].invocation.result.as_ref().unwrap();
    assert_eq!(summary["trigger"], json!("sweep"), "{summary}");
    assert_eq!(summary["left"], json!(1), "{summary}");
    assert_eq!(summary["accepted"], json!(0), "{summary}");
    let events = bus::receive(&sqs, &events_queue, 0, Duration::from_secs(2))
        .await
        .unwrap();
    assert!(
        detail_types(&events).is_empty(),
        "the sweep emitted {events:?}"
    );
    assert_eq!(status(&customer, &trusted).await, GrantStatus::Active);
    stack.stop().await;
}
