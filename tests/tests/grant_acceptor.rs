//! grant-acceptor's real bootstrap in the local stack, fed by the emulator's own events:
//! an ISV's grant is accepted and activated through the `Grant Change` event path, an
//! untrusted one is left and reported once, and the sweep fired on demand finds nothing new.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use aws_sdk_licensemanager::types::{
    AllowedOperation, ConsumptionConfiguration, DatetimeRange, Entitlement, EntitlementUnit,
    GrantStatus, Issuer,
};
use common::TestStack;
use local_stack::clients::{Account, CUSTOMER_ACCOUNT, REGION, sdk_config};
use local_stack::flows::bus;
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(10);

async fn account(stack: &TestStack, id: &'static str) -> Account {
    Account {
        id,
        license_manager: aws_sdk_licensemanager::Client::from_conf(
            aws_sdk_licensemanager::config::Builder::from(&sdk_config(id).await)
                .endpoint_url(stack.stack.license_manager_url())
                .build(),
        ),
    }
}

/// `isv` issues a license under `issuer` and grants it to the customer.
async fn grant(isv: &Account, issuer: &str, sku: &str) -> String {
    let license = isv
        .license_manager
        .create_license()
        .license_name(format!("{issuer} {sku}"))
        .product_name(sku)
        .product_sku(sku)
        .issuer(Issuer::builder().name(issuer).build().unwrap())
        .home_region(REGION)
        .validity(
            DatetimeRange::builder()
                .begin("2026-01-01T00:00:00Z")
                .end("2036-01-01T00:00:00Z")
                .build()
                .unwrap(),
        )
        .entitlements(
            Entitlement::builder()
                .name("Users")
                .unit(EntitlementUnit::Count)
                .max_count(10)
                .build()
                .unwrap(),
        )
        .beneficiary(CUSTOMER_ACCOUNT)
        .consumption_configuration(ConsumptionConfiguration::builder().build())
        .client_token(format!("license{sku}").replace('-', ""))
        .send()
        .await
        .unwrap();
    isv.license_manager
        .create_grant()
        .grant_name(format!("{sku} for the customer"))
        .license_arn(license.license_arn().unwrap())
        .principals(format!("arn:aws:iam::{CUSTOMER_ACCOUNT}:root"))
        .home_region(REGION)
        .allowed_operations(AllowedOperation::CheckoutLicense)
        .client_token(format!("grant{sku}").replace('-', ""))
        .send()
        .await
        .unwrap()
        .grant_arn()
        .unwrap()
        .to_owned()
}

async fn status(customer: &Account, grant_arn: &str) -> GrantStatus {
    customer
        .license_manager
        .get_grant()
        .grant_arn(grant_arn)
        .send()
        .await
        .unwrap()
        .grant
        .unwrap()
        .grant_status()
        .clone()
}

fn detail_types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|event| event["detail-type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_are_decided_from_the_emulators_events_and_the_sweep_adds_nothing() {
    let mut stack = TestStack::start("template.yaml", &[]).await;
    let acme = account(&stack, "111122223333").await;
    let globex = account(&stack, "444455556666").await;
    let customer = account(&stack, CUSTOMER_ACCOUNT).await;
    let events_queue = stack.infra().events_queue_url.clone();
    let sqs = stack.clients().sqs.clone();

    // The trusted ISV's grant: the Grant Change event alone gets it accepted and activated.
    let trusted = grant(&acme, "Acme", "acme-analytics").await;
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
    assert_eq!(events[0]["detail"]["grantArn"], json!(trusted));

    // An issuer the local trust policy does not name: left pending, reported once.
    let untrusted = grant(&globex, "Globex", "globex-reports").await;
    let events = bus::receive(&sqs, &events_queue, 1, PATIENCE)
        .await
        .unwrap();
    assert_eq!(detail_types(&events), ["Grant Not Trusted"]);
    assert_eq!(events[0]["detail"]["outcome"], json!("ignored"));
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
    assert!(events.is_empty(), "the sweep emitted {events:?}");
    assert_eq!(status(&customer, &trusted).await, GrantStatus::Active);
    stack.stop().await;
}
