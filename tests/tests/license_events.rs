//! license-events' real bootstrap in the local stack, fed by the emulator's own events: the
//! ISV deactivates a license it granted to the customer and the customer's stack emits
//! `License Status Changed`; a license near its end is reported `License Expiring` once, and
//! the daily sweep fired on demand (twice) adds nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use aws_sdk_licensemanager::types::{
    AllowedOperation, ConsumptionConfiguration, DatetimeRange, Entitlement, EntitlementUnit,
    GrantStatus, Issuer, LicenseStatus,
};
use common::TestStack;
use local_test_kit::bus;
use local_test_kit::clients::{CUSTOMER_ACCOUNT, ISV_ACCOUNT, REGION, sdk_config};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const PATIENCE: Duration = Duration::from_secs(15);

async fn license_manager(stack: &TestStack, account: &str) -> aws_sdk_licensemanager::Client {
    aws_sdk_licensemanager::Client::from_conf(
        aws_sdk_licensemanager::config::Builder::from(&sdk_config(account).await)
            .endpoint_url(stack.stack.license_manager_url())
            .build(),
    )
}

/// Acme issues a license for the customer ending `days` from now and grants it to the
/// customer; the license and grant ARNs.
async fn grant_license(
    acme: &aws_sdk_licensemanager::Client,
    sku: &str,
    days: i64,
) -> (String, String) {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let license = acme
        .create_license()
        .license_name(format!("Acme {sku}"))
        .product_name(sku)
        .product_sku(sku)
        .issuer(Issuer::builder().name("Acme").build().unwrap())
        .home_region(REGION)
        .validity(
            DatetimeRange::builder()
                .begin(now.format(&Rfc3339).unwrap())
                .end((now + time::Duration::days(days)).format(&Rfc3339).unwrap())
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
        .unwrap()
        .license_arn
        .unwrap();
    let grant = acme
        .create_grant()
        .grant_name(format!("{sku} for the customer"))
        .license_arn(&license)
        .principals(format!("arn:aws:iam::{CUSTOMER_ACCOUNT}:root"))
        .home_region(REGION)
        .allowed_operations(AllowedOperation::CheckoutLicense)
        .client_token(format!("grant{sku}").replace('-', ""))
        .send()
        .await
        .unwrap()
        .grant_arn
        .unwrap();
    (license, grant)
}

/// Waits until grant-acceptor has activated `grant` (the stack's trust policy trusts Acme).
async fn wait_active(customer: &aws_sdk_licensemanager::Client, grant: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let status = customer
            .get_grant()
            .grant_arn(grant)
            .send()
            .await
            .unwrap()
            .grant
            .unwrap()
            .grant_status()
            .clone();
        if status == GrantStatus::Active {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "grant {grant} is still {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Reads the project's bus until an event of `detail_type` about `license` arrived (other
/// functions publish there too); every license-events event read, in order.
async fn receive_until(
    stack: &TestStack,
    detail_type: &str,
    license: &str,
) -> Vec<(String, Value)> {
    let sqs = &stack.clients().sqs;
    let queue = &stack.infra().events_queue_url;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut ours = Vec::new();
    while tokio::time::Instant::now() < deadline {
        for event in bus::receive(sqs, queue, 1, Duration::from_secs(2))
            .await
            .unwrap()
        {
            let kind = event["detail-type"].as_str().unwrap_or_default().to_owned();
            if kind.starts_with("License") || kind == "Entitlement Overage" {
                ours.push((kind, event["detail"].clone()));
            }
        }
        if ours
            .iter()
            .any(|(kind, detail)| kind == detail_type && detail["licenseArn"] == json!(license))
        {
            return ours;
        }
    }
    panic!("no {detail_type} about {license} within {PATIENCE:?}; saw {ours:?}");
}

/// license-events' events still arriving within a short wait.
async fn more_events(stack: &TestStack) -> Vec<Value> {
    bus::receive(
        &stack.clients().sqs,
        &stack.infra().events_queue_url,
        0,
        Duration::from_secs(3),
    )
    .await
    .unwrap()
    .into_iter()
    .filter(|event| {
        event["detail-type"]
            .as_str()
            .is_some_and(|kind| kind.starts_with("License"))
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn license_manager_events_become_typed_events_once() {
    let stack = TestStack::start("template.yaml", &[]).await;
    let acme = license_manager(&stack, ISV_ACCOUNT).await;
    let customer = license_manager(&stack, CUSTOMER_ACCOUNT).await;

    // A license well within its validity, granted and activated, then deactivated by the ISV:
    // the emulator's License Change reaches license-events in the customer's account.
    let (license, grant) = grant_license(&acme, "acme-deactivated", 365).await;
    wait_active(&customer, &grant).await;
    let current = acme
        .get_license()
        .license_arn(&license)
        .send()
        .await
        .unwrap()
        .license
        .unwrap();
    acme.create_license_version()
        .license_arn(&license)
        .source_version(current.version().unwrap())
        .license_name(current.license_name().unwrap())
        .product_name(current.product_name().unwrap())
        .issuer(Issuer::builder().name("Acme").build().unwrap())
        .home_region(REGION)
        .validity(current.validity().unwrap().clone())
        .set_entitlements(Some(current.entitlements().to_vec()))
        .consumption_configuration(current.consumption_configuration().unwrap().clone())
        .status(LicenseStatus::Deactivated)
        .client_token("deactivate1")
        .send()
        .await
        .unwrap();
    let events = receive_until(&stack, "License Status Changed", &license).await;
    let changed: Vec<&Value> = events
        .iter()
        .filter(|(kind, _)| kind == "License Status Changed")
        .map(|(_, detail)| detail)
        .collect();
    assert_eq!(changed.len(), 1, "{events:?}");
    assert_eq!(changed[0]["status"], json!("DEACTIVATED"));
    assert_eq!(changed[0]["previousStatus"], json!("AVAILABLE"));
    assert_eq!(changed[0]["account"], json!(CUSTOMER_ACCOUNT));

    // A license ending in ten days: reported once, from the events of its grant's activation.
    let (expiring, grant) = grant_license(&acme, "acme-expiring", 10).await;
    wait_active(&customer, &grant).await;
    let events = receive_until(&stack, "License Expiring", &expiring).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1["productSku"], json!("acme-expiring"));

    // The daily sweep, fired on demand twice: it sees both licenses and has nothing new.
    for _ in 0..2 {
        let fired = stack
            .app()
            .runtime
            .fire("license-events", &stack.clients().sqs)
            .await
            .unwrap();
        let summary = fired[0]
            .invocation
            .result
            .as_ref()
            .expect("the sweep succeeded");
        assert_eq!(summary["outcome"], json!("processed"), "{summary}");
        assert!(
            summary["licenses"].as_array().unwrap().len() >= 2,
            "{summary}"
        );
        assert_eq!(summary["emitted"], json!([]), "{summary}");
    }
    let late = more_events(&stack).await;
    assert!(late.is_empty(), "repeated events: {late:?}");
    stack.stop().await;
}
