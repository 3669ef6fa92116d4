//! Licenses through the real SDK: create, get, list, versions, delete, idempotency.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_licensemanager::types::{DatetimeRange, Filter, LicenseStatus};
use common::*;

/// A CreateLicense of product "p" (SKU "sku") issued by "Acme" with `validity`, one counted
/// User and a 10-minute provisional TTL; the caller adds the ClientToken.
fn small_license_request(
    client: &aws_sdk_licensemanager::Client,
    validity: DatetimeRange,
) -> aws_sdk_licensemanager::operation::create_license::builders::CreateLicenseFluentBuilder {
    client
        .create_license()
        .license_name("n")
        .product_name("p")
        .product_sku("sku")
        .issuer(acme_issuer())
        .home_region("us-east-1")
        .validity(validity)
        .entitlements(counted("Users", 1, false))
        .beneficiary("b")
        .consumption_configuration(provisional(10))
}

#[tokio::test]
async fn create_get_and_list_a_license() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let arn = users_license(&isv, "acme-pro", 10).await;
    let re = regex_like_license_arn(&arn);
    assert!(re, "unexpected ARN {arn}");
    assert!(arn.starts_with(&format!("arn:aws:license-manager::{ISV}:license:l-")));

    let license = get_license(&isv, &arn).await;
    assert_eq!(license.product_sku(), Some("acme-pro"));
    assert_eq!(license.status(), Some(&LicenseStatus::Available));
    assert_eq!(license.version(), Some("1"));
    let issuer = license.issuer().unwrap();
    assert_eq!(
        issuer.key_fingerprint(),
        Some(issuer_fingerprint().as_str())
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
        small_license_request(&isv, valid_from_2025(None))
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
                .values(issuer_fingerprint())
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

#[tokio::test]
async fn versions_advance_and_delete_checks_the_source_version() {
    use aws_sdk_licensemanager::types::LicenseDeletionStatus;
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let arn = users_license(&isv, "acme-pro", 10).await;
    let customer = h.client(CUSTOMER).await;
    let version_by =
        |client: &aws_sdk_licensemanager::Client, source: Option<&str>, token: &str| {
            license_version_request(client, &arn, "acme-pro v2", "Acme Widget", 20, None)
                .status(LicenseStatus::Available)
                .set_source_version(source.map(str::to_string))
                .client_token(token)
                .send()
        };
    let v2 = version_by(&isv, Some("1"), "v2").await.unwrap();
    assert_eq!(v2.version(), Some("2"));
    // Same ClientToken: same answer, no third version.
    let again = version_by(&isv, Some("1"), "v2").await.unwrap();
    assert_eq!(again.version(), Some("2"));
    // A stale SourceVersion conflicts.
    let err = version_by(&isv, Some("1"), "v3").await.unwrap_err();
    assert_eq!(code(&err), "ConflictException");
    // Only the issuer versions a license.
    let err = version_by(&customer, None, "c").await.unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");

    let current = get_license(&isv, &arn).await;
    assert_eq!(current.version(), Some("2"));
    assert_eq!(current.license_name(), Some("acme-pro v2"));
    assert_eq!(current.product_sku(), Some("acme-pro"));
    assert_eq!(current.entitlements()[0].max_count(), Some(20));
    let v1 = isv
        .get_license()
        .license_arn(&arn)
        .version("1")
        .send()
        .await
        .unwrap()
        .license
        .unwrap();
    assert_eq!(v1.entitlements()[0].max_count(), Some(10));
    let versions = isv
        .list_license_versions()
        .license_arn(&arn)
        .send()
        .await
        .unwrap();
    let listed: Vec<_> = versions
        .licenses()
        .iter()
        .filter_map(|l| l.version())
        .collect();
    assert_eq!(listed, ["1", "2"]);

    assert_eq!(
        delete_license(&isv, &arn, "1").await.err(),
        Some("ConflictException".into())
    );
    let deleted = delete_license(&isv, &arn, "2").await.unwrap();
    assert_eq!(deleted.status(), Some(&LicenseDeletionStatus::Deleted));
    assert_eq!(deleted.deletion_date(), Some("2026-01-01T00:00:00Z"));
    let after = get_license(&isv, &arn).await;
    assert_eq!(after.status(), Some(&LicenseStatus::Deleted));
    let filtered = isv
        .list_licenses()
        .filters(Filter::builder().name("Status").values("AVAILABLE").build())
        .send()
        .await
        .unwrap();
    assert!(filtered.licenses().is_empty());
    assert_eq!(
        delete_license(&isv, &arn, "2").await.err(),
        Some("ConflictException".into())
    );
}

#[tokio::test]
async fn license_content_is_validated() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let create = |begin: &str, end: Option<&str>| {
        let validity = DatetimeRange::builder()
            .begin(begin)
            .set_end(end.map(str::to_string))
            .build()
            .unwrap();
        small_license_request(&isv, validity)
            .client_token(uuid::Uuid::new_v4().to_string())
            .send()
    };
    let err = create("next tuesday", None).await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    assert!(message(&err).contains("Validity.Begin"));
    let err = create("2026-01-01T00:00:00Z", Some("2025-01-01T00:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    assert!(
        create("2026-01-01T00:00:00Z", Some("2027-01-01T00:00:00Z"))
            .await
            .is_ok()
    );
    let err = isv
        .get_license()
        .license_arn("arn:aws:license-manager::111122223333:license:l-0")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValueException");
}
