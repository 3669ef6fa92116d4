//! license-events through the real SDK: an ISV issues licenses in license-manager-local and
//! grants them to the customer account, where the function runs; the state table and the
//! project's bus are moto's. Each fixture of `events/license-events/` is used here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_licensemanager::types::{
    CheckoutType, EntitlementData, EntitlementDataUnit, LicenseStatus,
};
use common::*;
use license_events::{EventOutcome, LicenseEventsError};
use license_manager_local::{Config as EmulatorConfig, Fault};

/// A license issued by Acme, granted to the customer, accepted and activated.
async fn received_license(world: &World, spec: &LicenseSpec) -> String {
    let acme = world.lm(ACME_ACCOUNT).await;
    let customer = world.lm(CUSTOMER).await;
    let license = issue_license(&acme, spec).await;
    grant_to_customer(&acme, &customer, &license).await;
    license
}

#[tokio::test]
async fn a_deactivated_license_is_reported_once_with_its_previous_status() {
    let world = World::start().await;
    let license = received_license(&world, &LicenseSpec::default()).await;
    set_status(
        &world.lm(ACME_ACCOUNT).await,
        &license,
        LicenseStatus::Deactivated,
    )
    .await;
    let handler = world.handler(CUSTOMER, &[]).await;
    let event = event_about("license-change.json", &license);

    let summary = invoke(&handler, event.clone()).await.unwrap();

    assert_eq!(summary.outcome, EventOutcome::Processed);
    assert_eq!(summary.emitted, vec!["License Status Changed"]);
    assert_eq!(summary.licenses[0].status.as_deref(), Some("DEACTIVATED"));
    settle().await;
    let events = world.emitted().await;
    assert_eq!(events.len(), 1, "{events:?}");
    let detail = &events[0].1;
    assert_eq!(events[0].0, "License Status Changed");
    assert_eq!(detail["licenseArn"], license.as_str());
    assert_eq!(detail["account"], CUSTOMER);
    assert_eq!(detail["status"], "DEACTIVATED");
    assert_eq!(detail["previousStatus"], "AVAILABLE");
    assert_eq!(detail["version"], "2");

    // The same event again (EventBridge delivers at least once): nothing new.
    let replay = invoke(&handler, event).await.unwrap();
    assert_eq!(replay.outcome, EventOutcome::Replayed);
    // Another event about the unchanged license: read back, nothing new.
    let again = invoke(&handler, event_about("license-change.json", &license))
        .await
        .unwrap();
    assert_eq!(again.outcome, EventOutcome::Processed);
    assert!(again.emitted.is_empty(), "{again:?}");
    settle().await;
    assert!(world.emitted().await.is_empty());
}

#[tokio::test]
async fn a_license_change_without_an_arn_checks_every_license_of_the_account() {
    let world = World::start().await;
    let license = received_license(&world, &LicenseSpec::default()).await;
    set_status(
        &world.lm(ACME_ACCOUNT).await,
        &license,
        LicenseStatus::Suspended,
    )
    .await;
    let handler = world.handler(CUSTOMER, &[]).await;

    let summary = invoke(&handler, fixture("license-change-without-hint.json"))
        .await
        .unwrap();

    assert!(summary.hinted_arns.is_empty());
    assert_eq!(summary.emitted, vec!["License Status Changed"]);
    settle().await;
    let events = world.emitted().await;
    let changed = of_type(&events, "License Status Changed");
    assert_eq!(changed.len(), 1, "{events:?}");
    assert_eq!(changed[0]["licenseArn"], license.as_str());
    assert_eq!(changed[0]["status"], "SUSPENDED");
}

#[tokio::test]
async fn consumption_past_max_count_of_an_overage_entitlement_is_reported_once() {
    let world = World::start().await;
    let spec = LicenseSpec {
        overage: true,
        ..LicenseSpec::default()
    };
    let license = received_license(&world, &spec).await;
    let customer = world.lm(CUSTOMER).await;
    let handler = world.handler(CUSTOMER, &[]).await;
    let checkout = |units: i64| {
        let customer = customer.clone();
        async move {
            customer
                .checkout_license()
                .product_sku("acme-pro")
                .key_fingerprint(format!("aws:{ACME_ACCOUNT}:Acme:issuer-fingerprint"))
                .checkout_type(CheckoutType::Provisional)
                .entitlements(
                    EntitlementData::builder()
                        .name("Users")
                        .value(units.to_string())
                        .unit(EntitlementDataUnit::Count)
                        .build()
                        .unwrap(),
                )
                .beneficiary(CUSTOMER)
                .client_token(uuid::Uuid::new_v4().to_string())
                .send()
                .await
                .expect("checkout (overage allowed)")
        }
    };

    checkout(8).await;
    let within = invoke(
        &handler,
        event_about("license-consumption-change.json", &license),
    )
    .await
    .unwrap();
    assert!(within.emitted.is_empty(), "8 of 10: {within:?}");
    assert_eq!(within.licenses[0].usage[0].consumed, "8");

    checkout(3).await;
    let over = invoke(
        &handler,
        event_about("license-consumption-change.json", &license),
    )
    .await
    .unwrap();
    assert_eq!(over.emitted, vec!["Entitlement Overage"]);
    checkout(1).await;
    let still_over = invoke(
        &handler,
        event_about("license-consumption-change.json", &license),
    )
    .await
    .unwrap();
    assert!(still_over.emitted.is_empty(), "still over: {still_over:?}");

    settle().await;
    let events = world.emitted().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "Entitlement Overage");
    let detail = &events[0].1;
    assert_eq!(detail["licenseArn"], license.as_str());
    assert_eq!(detail["entitlementName"], "Users");
    assert_eq!(detail["unit"], "Count");
    assert_eq!(detail["account"], CUSTOMER);
    assert_eq!(detail["maxCount"], 10);
    assert_eq!(detail["consumed"], 11);
}

#[tokio::test]
async fn a_token_change_is_audited_with_the_tokens_read_back() {
    let world = World::start().await;
    let license = received_license(&world, &LicenseSpec::default()).await;
    let customer = world.lm(CUSTOMER).await;
    customer
        .create_token()
        .license_arn(&license)
        .client_token(uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .unwrap();
    let handler = world.handler(CUSTOMER, &[]).await;
    // The fixture names the license only deep inside `detail`.
    let mut event = fixture("license-token-change.json");
    event["detail"]["token"]["licenseArn"] = license.clone().into();

    let summary = invoke(&handler, event).await.unwrap();

    assert_eq!(summary.outcome, EventOutcome::Processed);
    assert_eq!(summary.hinted_arns, vec![license.clone()]);
    assert_eq!(summary.licenses[0].tokens, Some(1));
    assert!(summary.emitted.is_empty());
}

#[tokio::test]
async fn a_grant_change_is_followed_to_its_license() {
    let world = World::start().await;
    let acme = world.lm(ACME_ACCOUNT).await;
    let customer = world.lm(CUSTOMER).await;
    let spec = LicenseSpec {
        validity_end: days_from_now(10),
        ..LicenseSpec::default()
    };
    let license = issue_license(&acme, &spec).await;
    let grant = grant_to_customer(&acme, &customer, &license).await;
    let handler = world.handler(CUSTOMER, &[]).await;
    let mut event = fixture("grant-change.json");
    event["resources"] = serde_json::json!([grant]);
    event["detail"] = serde_json::json!({ "grantArn": grant });

    let summary = invoke(&handler, event).await.unwrap();

    assert_eq!(summary.grants.len(), 1);
    assert_eq!(summary.grants[0].status.as_deref(), Some("ACTIVE"));
    assert_eq!(
        summary.grants[0].license_arn.as_deref(),
        Some(license.as_str())
    );
    assert_eq!(summary.emitted, vec!["License Expiring"]);
    settle().await;
    let events = world.emitted().await;
    let expiring = of_type(&events, "License Expiring");
    assert_eq!(expiring.len(), 1, "{events:?}");
    assert_eq!(expiring[0]["licenseArn"], license.as_str());
    assert_eq!(expiring[0]["productSku"], "acme-pro");
    assert_eq!(expiring[0]["warningDays"], 30);
    assert!(matches!(
        expiring[0]["daysRemaining"].as_i64(),
        Some(9 | 10)
    ));
}

#[tokio::test]
async fn arns_that_no_longer_resolve_are_recorded_and_acknowledged() {
    let world = World::start().await;
    let handler = world.handler(CUSTOMER, &[]).await;

    // The fixtures name a license and a grant that this emulator has never seen.
    let license = invoke(&handler, fixture("license-change.json"))
        .await
        .unwrap();
    let grant = invoke(&handler, fixture("grant-change.json"))
        .await
        .unwrap();

    assert_eq!(license.outcome, EventOutcome::Unresolved);
    assert!(!license.licenses[0].resolved);
    assert!(license.licenses[0].note.is_some());
    assert_eq!(grant.outcome, EventOutcome::Unresolved);
    assert!(!grant.grants[0].resolved);
    assert!(grant.licenses.is_empty());
    settle().await;
    assert!(world.emitted().await.is_empty());
}

#[tokio::test]
async fn a_deleted_license_is_reported_to_its_issuer() {
    let world = World::start().await;
    let acme = world.lm(ACME_ACCOUNT).await;
    let license = issue_license(&acme, &LicenseSpec::default()).await;
    let handler = world.handler(ACME_ACCOUNT, &[]).await;
    // The issuer's function has seen the license available before.
    invoke(&handler, event_about("license-change.json", &license))
        .await
        .unwrap();
    acme.delete_license()
        .license_arn(&license)
        .source_version("1")
        .send()
        .await
        .unwrap();

    let summary = invoke(&handler, event_about("license-change.json", &license))
        .await
        .unwrap();

    assert_eq!(summary.emitted, vec!["License Status Changed"]);
    settle().await;
    let events = world.emitted().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1["status"], "DELETED");
    assert_eq!(events[0].1["previousStatus"], "AVAILABLE");
}

#[tokio::test]
async fn an_event_of_another_type_is_acknowledged() {
    let world = World::start().await;
    let handler = world.handler(CUSTOMER, &[]).await;

    let summary = invoke(&handler, fixture("unrecognized.json"))
        .await
        .unwrap();

    assert_eq!(summary.outcome, EventOutcome::Ignored);
    assert_eq!(summary.detail_type, "AWS API Call via CloudTrail");
    assert_eq!(handler.license_manager().stats().calls(), 0);
}

#[tokio::test]
async fn a_malformed_envelope_fails_clearly_and_emits_nothing() {
    let world = World::start().await;
    let handler = world.handler(CUSTOMER, &[]).await;

    let error = invoke(&handler, fixture("malformed.json"))
        .await
        .unwrap_err();

    assert!(matches!(error, LicenseEventsError::MalformedEvent(_)));
    assert_eq!(error.error_type(), "MalformedEvent");
    assert!(error.to_string().contains("account"), "{error}");
    assert_eq!(handler.license_manager().stats().calls(), 0);
    settle().await;
    assert!(world.emitted().await.is_empty());
}

#[tokio::test]
async fn the_daily_sweep_warns_once_per_license_version_about_licenses_near_their_end() {
    let world = World::start().await;
    let soon = received_license(
        &world,
        &LicenseSpec {
            sku: "acme-soon",
            validity_end: days_from_now(10),
            ..LicenseSpec::default()
        },
    )
    .await;
    received_license(
        &world,
        &LicenseSpec {
            sku: "acme-later",
            validity_end: days_from_now(100),
            ..LicenseSpec::default()
        },
    )
    .await;
    // A license offered through a grant the customer has not accepted is not its concern.
    let acme = world.lm(ACME_ACCOUNT).await;
    let offered = issue_license(
        &acme,
        &LicenseSpec {
            sku: "acme-offered",
            validity_end: days_from_now(5),
            ..LicenseSpec::default()
        },
    )
    .await;
    acme.create_grant()
        .client_token(uuid::Uuid::new_v4().to_string())
        .grant_name("offered")
        .license_arn(&offered)
        .principals(format!("arn:aws:iam::{CUSTOMER}:root"))
        .home_region("us-east-1")
        .allowed_operations(aws_sdk_licensemanager::types::AllowedOperation::CheckoutLicense)
        .send()
        .await
        .unwrap();
    let handler = world.handler(CUSTOMER, &[]).await;

    let first = invoke(&handler, sweep_event()).await.unwrap();
    let second = invoke(&handler, sweep_event()).await.unwrap();

    assert_eq!(first.licenses.len(), 2, "{first:?}");
    assert_eq!(first.emitted, vec!["License Expiring"]);
    assert!(second.emitted.is_empty(), "{second:?}");
    settle().await;
    let events = world.emitted().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1["licenseArn"], soon.as_str());
    assert_eq!(events[0].1["account"], CUSTOMER);
    assert_eq!(events[0].1["productSku"], "acme-soon");

    // A wider window changes nothing for the license already warned about.
    let wide = world
        .handler(CUSTOMER, &[("EXPIRY_WARNING_DAYS", "365")])
        .await;
    let third = invoke(&wide, sweep_event()).await.unwrap();
    assert_eq!(third.emitted, vec!["License Expiring"]);
    settle().await;
    let events = world.emitted().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1["productSku"], "acme-later");
}

#[tokio::test]
async fn a_transient_failure_fails_the_invocation_and_its_retry_does_the_work() {
    let dir = std::env::temp_dir().join(format!("license-events-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state_file = dir.join("lm.json");
    let _ = std::fs::remove_file(&state_file);
    let mut world = World::with_emulator(EmulatorConfig {
        state_file: Some(state_file),
        ..EmulatorConfig::default()
    })
    .await;
    let license = received_license(&world, &LicenseSpec::default()).await;
    set_status(
        &world.lm(ACME_ACCOUNT).await,
        &license,
        LicenseStatus::Deactivated,
    )
    .await;
    let event = event_about("license-change.json", &license);

    world
        .restart_emulator(EmulatorConfig {
            fault_rate: 1.0,
            faults: vec![Fault::Internal],
            ..EmulatorConfig::default()
        })
        .await;
    let failing = world.handler(CUSTOMER, &[]).await;
    let error = invoke(&failing, event.clone()).await.unwrap_err();
    assert_eq!(error.error_type(), "TransientFailures", "{error}");

    world.restart_emulator(EmulatorConfig::default()).await;
    let handler = world.handler(CUSTOMER, &[]).await;
    let retry = invoke(&handler, event).await.unwrap();
    assert_eq!(
        retry.outcome,
        EventOutcome::Processed,
        "not taken for a replay"
    );
    assert_eq!(retry.emitted, vec!["License Status Changed"]);
    settle().await;
    assert_eq!(world.emitted().await.len(), 1);
}

#[tokio::test]
async fn a_license_offered_through_a_pending_grant_is_not_checked() {
    let world = World::start().await;
    let acme = world.lm(ACME_ACCOUNT).await;
    let license = issue_license(
        &acme,
        &LicenseSpec {
            validity_end: days_from_now(5),
            ..LicenseSpec::default()
        },
    )
    .await;
    acme.create_grant()
        .client_token(uuid::Uuid::new_v4().to_string())
        .grant_name("offered")
        .license_arn(&license)
        .principals(format!("arn:aws:iam::{CUSTOMER}:root"))
        .home_region("us-east-1")
        .allowed_operations(aws_sdk_licensemanager::types::AllowedOperation::CheckoutLicense)
        .send()
        .await
        .unwrap();
    let handler = world.handler(CUSTOMER, &[]).await;

    let summary = invoke(&handler, event_about("license-change.json", &license))
        .await
        .unwrap();

    assert!(summary.emitted.is_empty(), "{summary:?}");
    let note = summary.licenses[0].note.as_deref().unwrap_or_default();
    assert!(note.contains("PENDING_ACCEPT"), "{note}");
}

#[tokio::test]
async fn an_event_that_cannot_be_published_is_sent_by_the_retry_once() {
    let world = World::start().await;
    let license = received_license(&world, &LicenseSpec::default()).await;
    set_status(
        &world.lm(ACME_ACCOUNT).await,
        &license,
        LicenseStatus::Expired,
    )
    .await;
    let event = event_about("license-change.json", &license);
    // A bus that does not exist: PutEvents fails for the entry.
    let misconfigured = world
        .handler(CUSTOMER, &[("EVENT_BUS_NAME", "no-such-bus")])
        .await;

    // A missing bus needs a person: the invocation fails naming it (its retries end in the
    // DLQ and its alarm).
    let error = invoke(&misconfigured, event.clone()).await.unwrap_err();
    assert_eq!(error.error_type(), "NeedsAttention", "{error}");
    assert!(
        error.to_string().contains("ResourceNotFoundException"),
        "{error}"
    );

    let handler = world.handler(CUSTOMER, &[]).await;
    let retry = invoke(&handler, event.clone()).await.unwrap();
    assert_eq!(retry.emitted, vec!["License Status Changed"]);
    assert_eq!(
        invoke(&handler, event).await.unwrap().outcome,
        EventOutcome::Replayed
    );
    settle().await;
    let events = world.emitted().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1["status"], "EXPIRED");
}
