//! Checkouts through the real SDK: counting, overage, unlimited entitlements, provisional
//! expiry, perpetual draw-down, extend, check-in, borrow with a PS384 JWT, idempotency.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_licensemanager::Client;
use aws_sdk_licensemanager::types::{
    BorrowConfiguration, CheckoutType, ConsumptionConfiguration, DigitalSignatureMethod,
    EntitlementData, EntitlementDataUnit,
};
use common::*;
use license_manager_local::Config;

async fn checkout(
    client: &Client,
    kind: CheckoutType,
    ent: EntitlementData,
    token: &str,
) -> Result<aws_sdk_licensemanager::operation::checkout_license::CheckoutLicenseOutput, String> {
    checkout_request(client, "acme-pro", kind, ent)
        .beneficiary("customer-1")
        .client_token(token)
        .send()
        .await
        .map_err(|e| format!("{}: {}", code(&e), message(&e)))
}

async fn consumed(client: &Client, license: &str, name: &str) -> String {
    let usage = get_license_usage(client, license).await;
    usage
        .license_usage()
        .unwrap()
        .entitlement_usages()
        .iter()
        .find(|u| u.name() == name)
        .map(|u| u.consumed_value().to_string())
        .unwrap()
}

#[tokio::test]
async fn counting_refuses_past_max_count_and_checkin_returns_units() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let license = users_license(&isv, "acme-pro", 3).await;
    let first = checkout(&isv, CheckoutType::Provisional, users(2), "a")
        .await
        .unwrap();
    assert_eq!(first.license_arn(), Some(license.as_str()));
    assert_eq!(first.checkout_type(), Some(&CheckoutType::Provisional));
    assert_eq!(first.issued_at(), Some("2026-01-01T00:00:00Z"));
    assert_eq!(first.expiration(), Some("2026-01-01T01:00:00Z"));
    assert_eq!(first.entitlements_allowed()[0].value(), Some("2"));
    assert_eq!(consumed(&isv, &license, "Users").await, "2");

    let refused = checkout(&isv, CheckoutType::Provisional, users(2), "b")
        .await
        .unwrap_err();
    assert!(
        refused.starts_with("NoEntitlementsAllowedException"),
        "{refused}"
    );
    assert!(
        checkout(&isv, CheckoutType::Provisional, users(1), "c")
            .await
            .is_ok()
    );

    // Check in the first: its units return to the pool.
    let token = first.license_consumption_token().unwrap();
    check_in(&isv, token).await.unwrap();
    assert_eq!(consumed(&isv, &license, "Users").await, "1");
    assert!(
        checkout(&isv, CheckoutType::Provisional, users(2), "d")
            .await
            .is_ok()
    );
    // Checking in twice is an error.
    assert_eq!(check_in(&isv, token).await, Err("ConflictException".into()));
    // An unknown token is not found.
    assert_eq!(
        check_in(&isv, "nope").await,
        Err("ResourceNotFoundException".into())
    );
    // Someone else's token is not theirs to check in.
    let customer = h.client(CUSTOMER).await;
    let other = checkout(&isv, CheckoutType::Provisional, users(1), "e").await;
    assert!(other.is_err(), "pool is full again: {other:?}");
    assert_eq!(
        check_in(&customer, first.license_consumption_token().unwrap()).await,
        Err("ResourceNotFoundException".into())
    );
}

#[tokio::test]
async fn overage_allows_consumption_past_max_count() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let license = create_license(
        &isv,
        "acme-pro",
        vec![counted("Users", 1, true)],
        provisional(60),
    )
    .await;
    checkout(&isv, CheckoutType::Provisional, users(1), "a")
        .await
        .unwrap();
    checkout(&isv, CheckoutType::Provisional, users(4), "b")
        .await
        .unwrap();
    assert_eq!(consumed(&isv, &license, "Users").await, "5");
    let usage = get_license_usage(&isv, &license).await;
    assert_eq!(
        usage.license_usage().unwrap().entitlement_usages()[0].max_count(),
        Some("1")
    );
    // Absurd quantities saturate instead of crashing the server.
    for token in ["huge-1", "huge-2"] {
        checkout(&isv, CheckoutType::Provisional, users(i64::MAX), token)
            .await
            .unwrap();
    }
    assert_eq!(
        consumed(&isv, &license, "Users").await,
        i64::MAX.to_string()
    );
}

#[tokio::test]
async fn unlimited_entitlements_never_run_out() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    create_license(
        &isv,
        "acme-pro",
        vec![unlimited("Platinum")],
        provisional(60),
    )
    .await;
    let platinum = EntitlementData::builder()
        .name("Platinum")
        .unit(EntitlementDataUnit::None)
        .build()
        .unwrap();
    for i in 0..20 {
        checkout(
            &isv,
            CheckoutType::Provisional,
            platinum.clone(),
            &format!("t{i}"),
        )
        .await
        .unwrap();
    }
    // An entitlement the license does not have is refused, as is a unit mismatch.
    let missing = EntitlementData::builder()
        .name("Gold")
        .unit(EntitlementDataUnit::None)
        .build()
        .unwrap();
    let err = checkout(&isv, CheckoutType::Provisional, missing, "m")
        .await
        .unwrap_err();
    assert!(err.starts_with("NoEntitlementsAllowedException"), "{err}");
    let err = checkout(&isv, CheckoutType::Provisional, users(1), "u")
        .await
        .unwrap_err();
    assert!(err.starts_with("NoEntitlementsAllowedException"), "{err}");
}

#[tokio::test]
async fn provisional_checkouts_expire_and_return_units() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let license = create_license(
        &isv,
        "acme-pro",
        vec![counted("Users", 1, false)],
        provisional(30),
    )
    .await;
    let out = checkout(&isv, CheckoutType::Provisional, users(1), "a")
        .await
        .unwrap();
    assert_eq!(out.expiration(), Some("2026-01-01T00:30:00Z"));
    assert!(
        checkout(&isv, CheckoutType::Provisional, users(1), "b")
            .await
            .is_err()
    );

    // Extend: the expiration moves to now + TTL.
    h.advance_minutes(20);
    let token = out.license_consumption_token().unwrap();
    let extended = isv
        .extend_license_consumption()
        .license_consumption_token(token)
        .send()
        .await
        .unwrap();
    assert_eq!(extended.expiration(), Some("2026-01-01T00:50:00Z"));
    assert_eq!(extended.license_consumption_token(), Some(token));
    // A dry run answers without changing anything.
    h.advance_minutes(5);
    let dry = isv
        .extend_license_consumption()
        .license_consumption_token(token)
        .dry_run(true)
        .send()
        .await
        .unwrap();
    assert_eq!(dry.expiration(), Some("2026-01-01T00:55:00Z"));
    // Extending for real again moves it no further than now + TTL.
    assert_eq!(extend(&isv, token).await, Ok("2026-01-01T00:55:00Z".into()));
    h.advance_minutes(29); // 00:54, still held
    assert!(
        checkout(&isv, CheckoutType::Provisional, users(1), "c")
            .await
            .is_err()
    );
    h.advance_minutes(2); // 00:56, expired
    assert_eq!(consumed(&isv, &license, "Users").await, "0");
    assert!(
        checkout(&isv, CheckoutType::Provisional, users(1), "d")
            .await
            .is_ok()
    );
    // An expired token can be neither extended nor checked in.
    assert_eq!(
        extend(&isv, token).await,
        Err("ResourceNotFoundException".into())
    );
    assert_eq!(
        check_in(&isv, token).await,
        Err("ResourceNotFoundException".into())
    );
}

#[tokio::test]
async fn perpetual_checkouts_draw_down_and_cannot_be_checked_in() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let license = create_license(
        &isv,
        "acme-pro",
        vec![counted("Users", 10, false)],
        provisional(5),
    )
    .await;
    let out = checkout(&isv, CheckoutType::Perpetual, users(7), "p")
        .await
        .unwrap();
    assert_eq!(out.checkout_type(), Some(&CheckoutType::Perpetual));
    h.advance_minutes(60 * 24 * 365);
    assert_eq!(consumed(&isv, &license, "Users").await, "7");
    let token = out.license_consumption_token().unwrap();
    let err = isv
        .check_in_license()
        .license_consumption_token(token)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    assert!(message(&err).contains("PERPETUAL"));
    assert_eq!(
        extend(&isv, token).await,
        Err("InvalidParameterValueException".into())
    );
    let err = checkout(&isv, CheckoutType::Perpetual, users(4), "q")
        .await
        .unwrap_err();
    assert!(err.starts_with("NoEntitlementsAllowedException"), "{err}");
    checkout(&isv, CheckoutType::Perpetual, users(3), "r")
        .await
        .unwrap();
    assert_eq!(consumed(&isv, &license, "Users").await, "10");
}

#[tokio::test]
async fn client_token_makes_checkout_idempotent() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let license = users_license(&isv, "acme-pro", 5).await;
    let a = checkout(&isv, CheckoutType::Provisional, users(2), "same")
        .await
        .unwrap();
    let b = checkout(&isv, CheckoutType::Provisional, users(2), "same")
        .await
        .unwrap();
    assert_eq!(a.license_consumption_token(), b.license_consumption_token());
    assert_eq!(consumed(&isv, &license, "Users").await, "2");
}

#[tokio::test]
async fn checkout_matches_sku_fingerprint_and_beneficiary() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    users_license(&isv, "acme-pro", 5).await;
    let base = || {
        isv.checkout_license()
            .checkout_type(CheckoutType::Provisional)
            .entitlements(users(1))
            .client_token(uuid::Uuid::new_v4().to_string())
    };
    let misses = [
        (
            "acme-pro",
            "aws:999999999999:Acme:issuer-fingerprint".to_string(),
            None,
        ),
        ("other", issuer_fingerprint(), None),
        ("acme-pro", issuer_fingerprint(), Some("somebody-else")),
    ];
    for (sku, fp, beneficiary) in misses {
        let err = base()
            .product_sku(sku)
            .key_fingerprint(fp)
            .set_beneficiary(beneficiary.map(str::to_string))
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            code(&err),
            "ResourceNotFoundException",
            "{sku} {beneficiary:?}"
        );
    }
    let ok = base()
        .product_sku("acme-pro")
        .key_fingerprint(issuer_fingerprint())
        .node_id("node-7")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.node_id(), Some("node-7"));
    assert!(ok.signed_token().is_some_and(|t| t.split('.').count() == 3));
    // A value that is not a count is a validation error.
    let err = base()
        .product_sku("acme-pro")
        .key_fingerprint(issuer_fingerprint())
        .entitlements(
            EntitlementData::builder()
                .name("Users")
                .value("lots")
                .unit(EntitlementDataUnit::Count)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
}

fn borrowable(early: bool, ttl: i32) -> ConsumptionConfiguration {
    ConsumptionConfiguration::builder()
        .borrow_configuration(
            BorrowConfiguration::builder()
                .allow_early_check_in(early)
                .max_time_to_live_in_minutes(ttl)
                .build()
                .unwrap(),
        )
        .build()
}

#[tokio::test]
async fn borrow_returns_a_ps384_jwt_verifiable_with_the_published_key() {
    let key_path = std::env::temp_dir().join(format!("lml-pub-{}.pem", uuid::Uuid::new_v4()));
    let h = Harness::with_config(Config {
        public_key_out: Some(key_path.clone()),
        ..Config::default()
    })
    .await;
    let isv = h.client(ISV).await;
    let license = create_license(
        &isv,
        "acme-pro",
        vec![counted("Users", 2, false)],
        borrowable(true, 120),
    )
    .await;
    let out = isv
        .checkout_borrow_license()
        .license_arn(&license)
        .entitlements(users(2))
        .digital_signature_method(DigitalSignatureMethod::JwtPs384)
        .node_id("laptop-1")
        .client_token("borrow-1")
        .send()
        .await
        .unwrap();
    assert_eq!(out.expiration(), Some("2026-01-01T02:00:00Z"));
    let jwt = out.signed_token().unwrap();

    let pem = std::fs::read(&key_path).unwrap();
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(&pem).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::PS384);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<serde_json::Value>(jwt, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["licenseArn"], license.as_str());
    assert_eq!(
        claims["licenseConsumptionToken"],
        out.license_consumption_token().unwrap()
    );
    assert_eq!(claims["nodeId"], "laptop-1");
    // As AWS's borrow sample shows them: UTC without a zone suffix, no iat / exp.
    assert_eq!(claims["issuedAt"], "2026-01-01T00:00:00");
    assert_eq!(claims["expiration"], "2026-01-01T02:00:00");
    assert!(claims.get("iat").is_none() && claims.get("exp").is_none());
    assert_eq!(
        claims["entitlementsAllowed"],
        serde_json::json!([{"name": "Users", "value": "2", "unit": "Count"}])
    );
    // The pool is drawn down while borrowed...
    assert_eq!(consumed(&isv, &license, "Users").await, "2");
    // ...an entitlement the license lacks is EntitlementNotAllowed...
    let err = isv
        .checkout_borrow_license()
        .license_arn(&license)
        .entitlements(
            EntitlementData::builder()
                .name("Seats")
                .value("1")
                .unit(EntitlementDataUnit::Count)
                .build()
                .unwrap(),
        )
        .digital_signature_method(DigitalSignatureMethod::JwtPs384)
        .client_token("borrow-2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "EntitlementNotAllowedException");
    // ...early check-in is allowed by this license.
    check_in(&isv, out.license_consumption_token().unwrap())
        .await
        .unwrap();
    assert_eq!(consumed(&isv, &license, "Users").await, "0");
    let _ = std::fs::remove_file(key_path);
}

#[tokio::test]
async fn borrow_needs_a_borrow_configuration_and_respects_early_check_in() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let provisional_only = users_license(&isv, "acme-pro", 2).await;
    let borrow = |arn: String, token: &'static str| {
        isv.checkout_borrow_license()
            .license_arn(arn)
            .entitlements(users(1))
            .digital_signature_method(DigitalSignatureMethod::JwtPs384)
            .client_token(token)
            .send()
    };
    let err = borrow(provisional_only, "x").await.unwrap_err();
    assert_eq!(code(&err), "NoEntitlementsAllowedException");
    assert!(message(&err).contains("BorrowConfiguration"));

    let strict = create_license(
        &isv,
        "acme-strict",
        vec![counted("Users", 2, false)],
        borrowable(false, 60),
    )
    .await;
    let out = borrow(strict, "y").await.unwrap();
    assert_eq!(
        check_in(&isv, out.license_consumption_token().unwrap()).await,
        Err("ValidationException".into())
    );
    // Borrowed units return when the borrow expires.
    h.advance_minutes(61);
    assert_eq!(
        check_in(&isv, out.license_consumption_token().unwrap()).await,
        Err("ResourceNotFoundException".into())
    );
    // A license the caller cannot see is not found.
    let err = borrow(
        "arn:aws:license-manager::111122223333:license:l-00000000000000000000000000000000".into(),
        "z",
    )
    .await
    .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn one_request_cannot_overdraw_by_repeating_an_entitlement() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let license = users_license(&isv, "acme-pro", 3).await;
    // The same entitlement twice in one request.
    let err = checkout_request(&isv, "acme-pro", CheckoutType::Provisional, users(2))
        .entitlements(users(2))
        .client_token("twice")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NoEntitlementsAllowedException");
    assert_eq!(consumed(&isv, &license, "Users").await, "0");
}

#[tokio::test]
async fn a_license_outside_its_validity_cannot_be_checked_out() {
    use aws_sdk_licensemanager::types::DatetimeRange;
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    isv.create_license()
        .license_name("expired")
        .product_name("Acme Widget")
        .product_sku("acme-pro")
        .issuer(acme_issuer())
        .home_region("us-east-1")
        .validity(
            DatetimeRange::builder()
                .begin("2024-01-01T00:00:00Z")
                .end("2025-01-01T00:00:00Z")
                .build()
                .unwrap(),
        )
        .entitlements(counted("Users", 3, false))
        .beneficiary("customer-1")
        .consumption_configuration(provisional(60))
        .client_token("expired")
        .send()
        .await
        .unwrap();
    let err = checkout(&isv, CheckoutType::Provisional, users(1), "x")
        .await
        .unwrap_err();
    assert!(err.starts_with("NoEntitlementsAllowedException"), "{err}");
    assert!(err.contains("not valid"), "{err}");
    // It reads EXPIRED, and the Status filter sees it so.
    let expired = isv
        .list_licenses()
        .filters(
            aws_sdk_licensemanager::types::Filter::builder()
                .name("Status")
                .values("EXPIRED")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(expired.licenses().len(), 1);
    assert_eq!(
        expired.licenses()[0].status(),
        Some(&aws_sdk_licensemanager::types::LicenseStatus::Expired)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_checkouts_never_overdraw() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let license = users_license(&isv, "acme-pro", 10).await;
    let mut tasks = Vec::new();
    for i in 0..25 {
        let client = isv.clone();
        tasks.push(tokio::spawn(async move {
            checkout(
                &client,
                CheckoutType::Provisional,
                users(1),
                &format!("c{i}"),
            )
            .await
            .is_ok()
        }));
    }
    let mut granted = 0;
    for t in tasks {
        granted += usize::from(t.await.unwrap());
    }
    assert_eq!(granted, 10);
    assert_eq!(consumed(&isv, &license, "Users").await, "10");
}
