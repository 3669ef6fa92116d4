//! Grants through the real SDK: ISV grants a license to a customer, who accepts and
//! activates it (or rejects it); only the grantee may do so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_licensemanager::Client;
use aws_sdk_licensemanager::types::{
    AllowedOperation, CheckoutType, Filter, GrantStatus, ReceivedStatus,
};
use common::*;

/// DeleteGrant of `grant_arn` at `version`; the output or the error code.
async fn delete_grant(
    client: &Client,
    grant_arn: &str,
    version: &str,
) -> Result<aws_sdk_licensemanager::operation::delete_grant::DeleteGrantOutput, String> {
    client
        .delete_grant()
        .grant_arn(grant_arn)
        .version(version)
        .send()
        .await
        .map_err(|e| code(&e))
}

async fn grant(isv: &Client, license: &str, to: &str) -> String {
    let token = uuid::Uuid::new_v4().to_string();
    grant_request(isv, license, &format!("arn:aws:iam::{to}:root"), &token)
        .allowed_operations(AllowedOperation::CheckInLicense)
        .allowed_operations(AllowedOperation::ExtendConsumptionLicense)
        .send()
        .await
        .unwrap()
        .grant_arn
        .unwrap()
}

async fn checkout(client: &Client) -> Result<String, String> {
    checkout_request(client, "acme-pro", CheckoutType::Provisional, users(1))
        .client_token(uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .map(|o| o.license_consumption_token.unwrap())
        .map_err(|e| code(&e))
}

#[tokio::test]
async fn grant_lifecycle_pending_accept_disabled_active() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let customer = h.client(CUSTOMER).await;
    let stranger = h.client(STRANGER).await;
    let license = users_license(&isv, "acme-pro", 5).await;
    let grant_arn = grant(&isv, &license, CUSTOMER).await;
    assert!(grant_arn.starts_with(&format!("arn:aws:license-manager::{ISV}:grant:g-")));
    let id = grant_arn.rsplit("g-").next().unwrap();
    assert_eq!(id.len(), 32);

    // The customer sees it pending; the ISV sees it distributed.
    let received = customer.list_received_grants().send().await.unwrap();
    assert_eq!(received.grants().len(), 1);
    let g = &received.grants()[0];
    assert_eq!(g.grant_status(), &GrantStatus::PendingAccept);
    assert_eq!(
        g.grantee_principal_arn(),
        format!("arn:aws:iam::{CUSTOMER}:root")
    );
    assert_eq!(g.parent_arn(), license);
    assert_eq!(
        isv.list_distributed_grants()
            .send()
            .await
            .unwrap()
            .grants()
            .len(),
        1
    );
    assert!(
        isv.list_received_grants()
            .send()
            .await
            .unwrap()
            .grants()
            .is_empty()
    );

    // Pending: no checkout yet.
    assert_eq!(
        checkout(&customer).await,
        Err("ResourceNotFoundException".into())
    );

    // Only the grantee may accept.
    for other in [&isv, &stranger] {
        assert_eq!(
            accept_grant(other, &grant_arn).await.err(),
            Some("AccessDeniedException".into())
        );
    }
    // Activating before accepting is refused.
    let err = set_grant_status(&customer, &grant_arn, "early", GrantStatus::Active)
        .await
        .unwrap_err();
    assert_eq!(err, "ValidationException");

    let accepted = accept_grant(&customer, &grant_arn).await.unwrap();
    assert_eq!(accepted.status(), Some(&GrantStatus::Disabled));
    // Accepted but not active: still no checkout.
    assert_eq!(
        checkout(&customer).await,
        Err("ResourceNotFoundException".into())
    );
    // Accepting twice is refused.
    assert_eq!(
        accept_grant(&customer, &grant_arn).await.err(),
        Some("ValidationException".into())
    );

    // The ISV cannot activate on the customer's behalf.
    let err = set_grant_status(&isv, &grant_arn, "isv", GrantStatus::Active)
        .await
        .unwrap_err();
    assert_eq!(err, "AccessDeniedException");

    let activated = set_grant_status(&customer, &grant_arn, "activate", GrantStatus::Active)
        .await
        .unwrap();
    assert_eq!(activated.status(), Some(&GrantStatus::Active));
    assert_eq!(activated.version(), Some("2"));

    // Versions: GetGrant by version.
    let v1 = customer
        .get_grant()
        .grant_arn(&grant_arn)
        .version("1")
        .send()
        .await
        .unwrap();
    assert_eq!(v1.grant().unwrap().grant_status(), &GrantStatus::Disabled);
    let now = isv.get_grant().grant_arn(&grant_arn).send().await.unwrap();
    assert_eq!(now.grant().unwrap().grant_status(), &GrantStatus::Active);
    assert_eq!(now.grant().unwrap().version(), "2");
    let err = stranger
        .get_grant()
        .grant_arn(&grant_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");

    // Active: the customer checks out the ISV's license.
    assert!(checkout(&customer).await.is_ok());
    // A stranger without a grant cannot.
    assert_eq!(
        checkout(&stranger).await,
        Err("ResourceNotFoundException".into())
    );

    // Received licenses carry the grant's status and operations.
    let received = customer.list_received_licenses().send().await.unwrap();
    assert_eq!(received.licenses().len(), 1);
    let l = &received.licenses()[0];
    assert_eq!(l.license_arn(), Some(license.as_str()));
    let meta = l.received_metadata().unwrap();
    assert_eq!(meta.received_status(), Some(&ReceivedStatus::Active));
    assert!(
        meta.allowed_operations()
            .contains(&AllowedOperation::CheckoutLicense)
    );
    // The grantee can read the license and its usage.
    let got = get_license(&customer, &license).await;
    assert_eq!(got.license_arn(), Some(license.as_str()));
    let usage = get_license_usage(&customer, &license).await;
    assert_eq!(
        usage.license_usage().unwrap().entitlement_usages()[0].consumed_value(),
        "1"
    );

    // Disabling again stops checkouts.
    set_grant_status(&customer, &grant_arn, "disable", GrantStatus::Disabled)
        .await
        .unwrap();
    assert_eq!(
        checkout(&customer).await,
        Err("ResourceNotFoundException".into())
    );
}

#[tokio::test]
async fn grantee_rejects_a_grant() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let customer = h.client(CUSTOMER).await;
    let license = users_license(&isv, "acme-pro", 5).await;
    let grant_arn = grant(&isv, &license, CUSTOMER).await;
    let err = isv
        .reject_grant()
        .grant_arn(&grant_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    let rejected = customer
        .reject_grant()
        .grant_arn(&grant_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(rejected.status(), Some(&GrantStatus::Rejected));
    assert_eq!(
        accept_grant(&customer, &grant_arn).await.err(),
        Some("ValidationException".into())
    );
    // A rejected grant does not make the license a received one.
    assert!(
        customer
            .list_received_licenses()
            .send()
            .await
            .unwrap()
            .licenses()
            .is_empty()
    );
    let filtered = isv
        .list_distributed_grants()
        .filters(
            Filter::builder()
                .name("GrantStatus")
                .values("REJECTED")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(filtered.grants().len(), 1);
}

#[tokio::test]
async fn grant_filters_idempotency_and_deletion() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let customer = h.client(CUSTOMER).await;
    let a = users_license(&isv, "acme-pro", 5).await;
    let b = users_license(&isv, "acme-lite", 5).await;
    let grant_a = grant(&isv, &a, CUSTOMER).await;
    grant(&isv, &b, STRANGER).await;

    let by_sku = customer
        .list_received_grants()
        .filters(
            Filter::builder()
                .name("ProductSKU")
                .values("acme-pro")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(by_sku.grants().len(), 1);
    let by_granter = customer
        .list_received_grants()
        .filters(
            Filter::builder()
                .name("GranterAccountId")
                .values(STRANGER)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(by_granter.grants().is_empty());
    let by_grantee = isv
        .list_distributed_grants()
        .filters(
            Filter::builder()
                .name("GranteePrincipalARN")
                .values(format!("arn:aws:iam::{STRANGER}:root"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(by_grantee.grants().len(), 1);
    assert_eq!(by_grantee.grants()[0].license_arn(), b);
    let by_arn = isv
        .list_distributed_grants()
        .grant_arns(&grant_a)
        .send()
        .await
        .unwrap();
    assert_eq!(by_arn.grants().len(), 1);
    let paged = isv
        .list_distributed_grants()
        .max_results(1)
        .send()
        .await
        .unwrap();
    assert_eq!(paged.grants().len(), 1);
    assert!(paged.next_token().is_some());

    // Same ClientToken, same grant.
    let to_customer = format!("arn:aws:iam::{CUSTOMER}:root");
    let send = || grant_request(&isv, &a, &to_customer, "grant-once").send();
    let first = send().await.unwrap();
    let second = send().await.unwrap();
    assert_eq!(first.grant_arn(), second.grant_arn());

    // Only the issuer grants; principals must carry an account.
    let err = grant_request(&customer, &a, &format!("arn:aws:iam::{STRANGER}:root"), "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    let err = grant_request(&isv, &a, "arn:aws:iam::nobody:root", "y")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValueException");

    // Delete needs the current version, and only the granter deletes.
    assert_eq!(
        delete_grant(&isv, &grant_a, "7").await.err(),
        Some("InvalidParameterValueException".into())
    );
    assert_eq!(
        delete_grant(&customer, &grant_a, "1").await.err(),
        Some("AccessDeniedException".into())
    );
    let deleted = delete_grant(&isv, &grant_a, "1").await.unwrap();
    assert_eq!(deleted.status(), Some(&GrantStatus::Deleted));
    let err = isv
        .get_grant()
        .grant_arn("arn:aws:license-manager::111122223333:grant:g-00000000000000000000000000000000")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValueException");
}
