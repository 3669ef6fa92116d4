//! Regressions from the code review, through the real SDK: bounded state, cursor paging,
//! ClientToken reuse, rollback of a failed save, the state file's mode, history kept by
//! DeleteLicense, configuration checks, AMI associations, overflow-proof expirations and
//! error cases of checkout, check-in and CreateLicenseVersion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_licensemanager::Client;
use aws_sdk_licensemanager::types::{
    CheckoutType, Entitlement, EntitlementUnit, GrantStatus, LicenseCountingType, LicenseStatus,
};
use common::*;
use license_manager_local::{Config, Emulator, StartError};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("lml-{name}-{}", uuid::Uuid::new_v4().simple()))
}

/// A PROVISIONAL checkout of `n` Users of `sku` with `token`; the output or the error code.
async fn checkout(
    client: &Client,
    sku: &str,
    n: i64,
    token: &str,
) -> Result<aws_sdk_licensemanager::operation::checkout_license::CheckoutLicenseOutput, String> {
    checkout_request(client, sku, CheckoutType::Provisional, users(n))
        .client_token(token)
        .send()
        .await
        .map_err(|e| code(&e))
}

fn read_state(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn count(state: &Value, member: &str) -> usize {
    state[member].as_object().map_or(0, serde_json::Map::len)
}

async fn consumed(client: &Client, arn: &str) -> String {
    get_license_usage(client, arn)
        .await
        .license_usage()
        .unwrap()
        .entitlement_usages()[0]
        .consumed_value()
        .to_string()
}

#[tokio::test]
async fn settled_checkouts_and_old_client_tokens_leave_the_state() {
    let path = temp("bounded.json");
    let h = Harness::with_state_file(&path).await;
    let isv = h.client(ISV).await;
    let arn = users_license(&isv, "acme-pro", 1000).await;
    let mut tokens = Vec::new();
    for i in 0..40 {
        let out = checkout(&isv, "acme-pro", 1, &format!("c{i}"))
            .await
            .unwrap();
        tokens.push(out.license_consumption_token.unwrap());
    }
    for t in &tokens[..20] {
        check_in(&isv, t).await.unwrap();
    }
    // Checked in twice: still told apart from an unknown token.
    assert_eq!(
        check_in(&isv, &tokens[0]).await,
        Err("ConflictException".into())
    );
    assert_eq!(consumed(&isv, &arn).await, "20");
    let state = read_state(&path);
    assert_eq!(
        count(&state, "consumptions"),
        20,
        "checked-in checkouts are gone"
    );

    // The other 20 expire after the 60-minute TTL; ClientTokens after 10 minutes.
    h.advance_minutes(61);
    let last = checkout(&isv, "acme-pro", 1, "c0").await.unwrap();
    assert_ne!(
        last.license_consumption_token(),
        Some(tokens[0].as_str()),
        "a ClientToken older than 10 minutes starts a new checkout"
    );
    assert_eq!(consumed(&isv, &arn).await, "1");
    let state = read_state(&path);
    assert_eq!(count(&state, "consumptions"), 1);
    assert_eq!(count(&state, "client_tokens"), 1);
    assert_eq!(count(&state, "checked_in"), 0);
    h.emulator.shutdown().await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn next_token_is_a_cursor_bound_to_its_operation_and_filters() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let a = users_license(&isv, "acme-pro", 1).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let out = isv
            .create_token()
            .license_arn(&a)
            .client_token(format!("t{i}"))
            .send()
            .await
            .unwrap();
        ids.push(out.token_id.unwrap());
    }
    let first = isv.list_tokens().max_results(2).send().await.unwrap();
    let page1: Vec<String> = first
        .tokens()
        .iter()
        .filter_map(|t| t.token_id().map(str::to_string))
        .collect();
    assert_eq!(page1, ids[..2]);
    let next = first.next_token().unwrap().to_string();
    // A list-then-delete loop: page 2 still returns every remaining token.
    for id in &page1 {
        isv.delete_token().token_id(id).send().await.unwrap();
    }
    let second = isv
        .list_tokens()
        .max_results(10)
        .next_token(&next)
        .send()
        .await
        .unwrap();
    let page2: Vec<String> = second
        .tokens()
        .iter()
        .filter_map(|t| t.token_id().map(str::to_string))
        .collect();
    assert_eq!(page2, ids[2..]);
    assert!(second.next_token().is_none());

    // Not accepted by another operation, nor with other filters.
    let err = isv
        .list_licenses()
        .next_token(&next)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValueException");
    let err = isv
        .list_tokens()
        .filters(
            aws_sdk_licensemanager::types::Filter::builder()
                .name("LicenseArns")
                .values(&a)
                .build(),
        )
        .next_token(&next)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
}

#[tokio::test]
async fn a_client_token_reused_with_other_parameters_is_refused_and_replays_are_identical() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let arn = users_license(&isv, "acme-pro", 5).await;
    let first = checkout(&isv, "acme-pro", 1, "same").await.unwrap();
    let replay = checkout(&isv, "acme-pro", 1, "same").await.unwrap();
    assert_eq!(
        replay.license_consumption_token(),
        first.license_consumption_token()
    );
    assert_eq!(
        replay.signed_token(),
        first.signed_token(),
        "a replay answers the signed response it answered first"
    );
    // CheckoutLicense declares no ConflictException: ValidationException.
    assert_eq!(
        checkout(&isv, "acme-pro", 2, "same").await.err(),
        Some("ValidationException".into())
    );
    assert_eq!(consumed(&isv, &arn).await, "1");

    // CreateLicenseVersion declares ConflictException.
    let version = |status: LicenseStatus| {
        license_version_request(
            &isv,
            &arn,
            "acme-pro license",
            "Acme Widget",
            5,
            Some("2030-01-01T00:00:00Z"),
        )
        .status(status)
        .client_token("v")
    };
    let v2 = version(LicenseStatus::Available).send().await.unwrap();
    assert_eq!(v2.version(), Some("2"));
    let err = version(LicenseStatus::Suspended).send().await.unwrap_err();
    assert_eq!(code(&err), "ConflictException");
}

#[tokio::test]
async fn a_failed_save_changes_nothing_and_the_state_file_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = temp("dir");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    let h = Harness::with_state_file(&path).await;
    let isv = h.client(ISV).await;
    users_license(&isv, "acme-pro", 1).await;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the state file holds the signing key");

    // Make the rename fail: a non-empty directory where the state file was.
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir_all(path.join("blocker")).unwrap();
    let err = isv
        .create_license()
        .license_name("second")
        .product_name("Acme Widget")
        .product_sku("acme-lite")
        .beneficiary("customer-1")
        .issuer(acme_issuer())
        .home_region("us-east-1")
        .validity(valid_from_2025(None))
        .entitlements(counted("Users", 1, false))
        .consumption_configuration(provisional(60))
        .client_token("second")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ServerInternalException", "{}", message(&err));
    assert_eq!(
        checkout(&isv, "acme-pro", 1, "x").await.err(),
        Some("ServerInternalException".into())
    );
    let listed = isv.list_licenses().send().await.unwrap();
    assert_eq!(
        listed.licenses().len(),
        1,
        "the failed create was rolled back"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Once the file can be written again, the checkout that failed was never applied.
    std::fs::remove_dir_all(&path).unwrap();
    checkout(&isv, "acme-pro", 1, "y").await.unwrap();
    h.emulator.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn delete_license_keeps_the_history_of_its_versions() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let arn = users_license(&isv, "acme-pro", 1).await;
    delete_license(&isv, &arn, "1").await.unwrap();
    let current = isv.get_license().license_arn(&arn).send().await.unwrap();
    assert_eq!(
        current.license().unwrap().status(),
        Some(&LicenseStatus::Deleted)
    );
    let v1 = isv
        .get_license()
        .license_arn(&arn)
        .version("1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        v1.license().unwrap().status(),
        Some(&LicenseStatus::Available)
    );
    let versions = isv
        .list_license_versions()
        .license_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        versions.licenses()[0].status(),
        Some(&LicenseStatus::Available)
    );
    // Deleted all the same: no checkout, no second delete.
    assert_eq!(
        checkout(&isv, "acme-pro", 1, "d").await.err(),
        Some("ResourceNotFoundException".into())
    );
    assert_eq!(
        delete_license(&isv, &arn, "1").await.err(),
        Some("ConflictException".into())
    );
}

#[tokio::test]
async fn an_invalid_configuration_is_refused_at_start() {
    let addr = "127.0.0.1:0".parse().unwrap();
    for config in [
        Config {
            account_id: "abc".into(),
            ..Config::default()
        },
        Config {
            fault_rate: 5.0,
            ..Config::default()
        },
        Config {
            fault_rate: f64::NAN,
            ..Config::default()
        },
    ] {
        match Emulator::start(config, addr).await {
            Err(StartError::Config(message)) => assert!(!message.is_empty()),
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }
    assert!(Config::default().validate().is_ok());
}

#[tokio::test]
async fn an_ami_association_consumes_nothing() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let config = isv
        .create_license_configuration()
        .name("sql")
        .license_counting_type(LicenseCountingType::Instance)
        .license_count(1)
        .license_count_hard_limit(true)
        .send()
        .await
        .unwrap()
        .license_configuration_arn
        .unwrap();
    let ami = "arn:aws:ec2:us-east-1::image/ami-0123456789abcdef0".to_string();
    associate(&isv, &ami, &config).await.unwrap();
    let instance = format!("arn:aws:ec2:us-east-1:{ISV}:instance/i-0123456789abcdef0");
    associate(&isv, &instance, &config).await.unwrap();
    let got = get_license_configuration(&isv, &config).await;
    assert_eq!(got.consumed_licenses(), Some(1));
    let listed = isv
        .list_associations_for_license_configuration()
        .license_configuration_arn(&config)
        .send()
        .await
        .unwrap();
    let arns: Vec<&str> = listed
        .license_configuration_associations()
        .iter()
        .filter_map(|a| a.resource_arn())
        .collect();
    assert!(arns.contains(&ami.as_str()), "{arns:?}");
    assert_eq!(arns.len(), 2);
}

#[tokio::test]
async fn huge_ttls_from_a_state_file_give_a_clamped_expiration() {
    let path = temp("huge.json");
    let config = || Config {
        state_file: Some(path.clone()),
        ..Config::default()
    };
    let first = Harness::with_config(config()).await;
    let isv = first.client(ISV).await;
    users_license(&isv, "acme-pro", 5).await;
    first.emulator.shutdown().await;
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replace(
        "\"MaxTimeToLiveInMinutes\":60",
        &format!("\"MaxTimeToLiveInMinutes\":{}", i64::MAX),
    );
    assert_ne!(text, edited, "the TTL is in the state file");
    std::fs::write(&path, edited).unwrap();
    let second = Harness::with_config(config()).await;
    let isv = second.client(ISV).await;
    let out = checkout(&isv, "acme-pro", 1, "huge").await.unwrap();
    assert_eq!(out.expiration(), Some("9999-12-31T23:59:59Z"));
    let token = out.license_consumption_token.unwrap();
    assert_eq!(
        extend(&isv, &token).await,
        Ok("9999-12-31T23:59:59Z".into())
    );
    second.emulator.shutdown().await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn check_in_is_refused_for_another_beneficiary_and_without_allow_check_in() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    users_license(&isv, "acme-pro", 5).await;
    let out = checkout_request(&isv, "acme-pro", CheckoutType::Provisional, users(1))
        .beneficiary("customer-1")
        .client_token("b")
        .send()
        .await
        .unwrap();
    let token = out.license_consumption_token.unwrap();
    let err = isv
        .check_in_license()
        .license_consumption_token(&token)
        .beneficiary("someone-else")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    isv.check_in_license()
        .license_consumption_token(&token)
        .beneficiary("customer-1")
        .send()
        .await
        .unwrap();

    let no_check_in = Entitlement::builder()
        .name("Users")
        .unit(EntitlementUnit::Count)
        .max_count(5)
        .allow_check_in(false)
        .build()
        .unwrap();
    create_license(&isv, "acme-fixed", vec![no_check_in], provisional(60)).await;
    let token = checkout(&isv, "acme-fixed", 1, "f")
        .await
        .unwrap()
        .license_consumption_token
        .unwrap();
    assert_eq!(
        check_in(&isv, &token).await,
        Err("ValidationException".into())
    );
}

#[tokio::test]
async fn create_license_version_error_cases() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let customer = h.client(CUSTOMER).await;
    let arn = users_license(&isv, "acme-pro", 5).await;
    let version = |client: &Client, source: Option<&str>, token: &str| {
        license_version_request(client, &arn, "acme-pro license", "Acme Widget", 9, None)
            .status(LicenseStatus::Available)
            .set_source_version(source.map(str::to_string))
            .client_token(token)
            .send()
    };
    let err = version(&customer, None, "a").await.unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    let err = version(&isv, Some("7"), "b").await.unwrap_err();
    assert_eq!(code(&err), "ConflictException");
    let missing = format!(
        "arn:aws:license-manager::{ISV}:license:l-{}",
        "0".repeat(32)
    );
    let err = license_version_request(&isv, missing, "n", "p", 1, None)
        .status(LicenseStatus::Available)
        .client_token("c")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    delete_license(&isv, &arn, "1").await.unwrap();
    let err = version(&isv, None, "d").await.unwrap_err();
    assert_eq!(code(&err), "ConflictException");
}

#[tokio::test]
async fn a_disabled_grant_does_not_allow_checkout() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let customer = h.client(CUSTOMER).await;
    let license = users_license(&isv, "acme-pro", 5).await;
    let grant = grant_request(
        &isv,
        &license,
        &format!("arn:aws:iam::{CUSTOMER}:root"),
        "g",
    )
    .send()
    .await
    .unwrap()
    .grant_arn
    .unwrap();
    accept_grant(&customer, &grant).await.unwrap();
    let got = customer.get_grant().grant_arn(&grant).send().await.unwrap();
    assert_eq!(got.grant().unwrap().grant_status(), &GrantStatus::Disabled);
    assert_eq!(
        checkout(&customer, "acme-pro", 1, "refused").await.err(),
        Some("ResourceNotFoundException".into())
    );
    set_grant_status(&customer, &grant, "activate", GrantStatus::Active)
        .await
        .unwrap();
    checkout(&customer, "acme-pro", 1, "allowed").await.unwrap();
}
