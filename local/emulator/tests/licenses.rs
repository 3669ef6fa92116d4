//! Licenses through the real SDK: create, get, list, versions, delete, idempotency.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_licensemanager::types::{DatetimeRange, Filter, Issuer, LicenseStatus};
use common::*;

#[tokio::test]
async fn create_get_and_list_a_license() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let arn = create_license(
        &isv,
        "acme-pro",
        vec![counted("Users", 10, false)],
        provisional(60),
    )
    .await;
    let re = regex_like_license_arn(&arn);
    assert!(re, "unexpected ARN {arn}");
    assert!(arn.starts_with(&format!("arn:aws:license-manager::{ISV}:license:l-")));

    let license = isv
        .get_license()
        .license_arn(&arn)
        .send()
        .await
        .unwrap()
        .license
        .unwrap();
    assert_eq!(license.product_sku(), Some("acme-pro"));
    assert_eq!(license.status(), Some(&LicenseStatus::Available));
    assert_eq!(license.version(), Some("1"));
    let issuer = license.issuer().unwrap();
    assert_eq!(
        issuer.key_fingerprint(),
        Some(format!("aws:{ISV}:Acme:issuer-fingerprint").as_str())
    );
    assert_eq!(license.validity().unwrap().begin(), "2025-01-01T00:00:00Z");
    assert_eq!(license.create_time(), Some("2026-01-01T00:00:00Z"));

    let listed = isv.list_licenses().send().await.unwrap();
    assert_eq!(listed.licenses().len(), 1);
    assert_eq!(listed.licenses()[0].license_arn(), Some(arn.as_str()));

    // Another account does not see the ISV's licenses.
    let stranger = h.client(STRANGER).await;
    assert!(
        stranger
            .list_licenses()
            .send()
            .await
            .unwrap()
            .licenses()
            .is_empty()
    );
    let err = stranger
        .get_license()
        .license_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    h.emulator.shutdown().await;
}

fn regex_like_license_arn(arn: &str) -> bool {
    arn.rsplit_once(":license:l-")
        .map(|(_, id)| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or(false)
}

#[tokio::test]
async fn client_token_makes_create_license_idempotent() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let send = || {
        isv.create_license()
            .license_name("n")
            .product_name("p")
            .product_sku("sku")
            .issuer(Issuer::builder().name("Acme").build().unwrap())
            .home_region("us-east-1")
            .validity(
                DatetimeRange::builder()
                    .begin("2025-01-01T00:00:00Z")
                    .build()
                    .unwrap(),
            )
            .entitlements(counted("Users", 1, false))
            .beneficiary("b")
            .consumption_configuration(provisional(10))
            .client_token("same-token")
            .send()
    };
    let a = send().await.unwrap();
    let b = send().await.unwrap();
    assert_eq!(a.license_arn(), b.license_arn());
    assert_eq!(
        isv.list_licenses().send().await.unwrap().licenses().len(),
        1
    );
}

#[tokio::test]
async fn list_licenses_filters_and_pages() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    for i in 0..5 {
        create_license(
            &isv,
            &format!("sku-{}", i % 2),
            vec![counted("Users", 1, false)],
            provisional(5),
        )
        .await;
    }
    let only = isv
        .list_licenses()
        .filters(Filter::builder().name("ProductSKU").values("sku-1").build())
        .send()
        .await
        .unwrap();
    assert_eq!(only.licenses().len(), 2);
    assert!(
        only.licenses()
            .iter()
            .all(|l| l.product_sku() == Some("sku-1"))
    );

    let fp = isv
        .list_licenses()
        .filters(
            Filter::builder()
                .name("Fingerprint")
                .values(format!("aws:{ISV}:Acme:issuer-fingerprint"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(fp.licenses().len(), 5);

    let first = isv.list_licenses().max_results(2).send().await.unwrap();
    assert_eq!(first.licenses().len(), 2);
    let mut seen: Vec<String> = first
        .licenses()
        .iter()
        .filter_map(|l| l.license_arn().map(str::to_string))
        .collect();
    let mut token = first.next_token().map(str::to_string);
    while let Some(t) = token {
        let page = isv
            .list_licenses()
            .max_results(2)
            .next_token(t)
            .send()
            .await
            .unwrap();
        seen.extend(
            page.licenses()
                .iter()
                .filter_map(|l| l.license_arn().map(str::to_string)),
        );
        token = page.next_token().map(str::to_string);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5);

    let err = isv
        .list_licenses()
        .filters(Filter::builder().name("Colour").values("red").build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValueException");
    assert!(message(&err).contains("Colour"));
}
