//! Organizations through the real SDK: a grant to an organization's or an OU's ARN reaches
//! each member account as a grant of its own, in the status AWS documents (coverage
//! document, "Organizations"), and the management account lists them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_licensemanager::Client;
use aws_sdk_licensemanager::types::{
    AllowedOperation, Filter, Grant, GrantStatus, OrganizationConfiguration,
};
use common::*;
use license_manager_local::organization::Organization;
use license_manager_local::{Config, Emulator};
use std::collections::BTreeMap;

/// The organization's management account (the customer).
const MANAGEMENT: &str = CUSTOMER;
/// Two member accounts; only the second is in the OU.
const MEMBER_A: &str = "210000000001";
const MEMBER_B: &str = "210000000002";
const OU: &str = "ou-ab12-cdefgh34";

fn organization() -> Organization {
    Organization {
        id: "o-exampleorg01".into(),
        management_account: MANAGEMENT.into(),
        accounts: vec![MANAGEMENT.into(), MEMBER_A.into(), MEMBER_B.into()],
        organizational_units: BTreeMap::from([(OU.into(), vec![MEMBER_B.into()])]),
    }
}

async fn harness() -> Harness {
    Harness::with_config(Config {
        organization: Some(organization()),
        ..Config::default()
    })
    .await
}

async fn grant_to(client: &Client, license: &str, principal: &str) -> Result<String, String> {
    grant_request(
        client,
        license,
        principal,
        &uuid::Uuid::new_v4().to_string(),
    )
    .allowed_operations(AllowedOperation::CreateGrant)
    .send()
    .await
    .map(|o| o.grant_arn.unwrap())
    .map_err(|e| code(&e))
}

/// The grants `client`'s account received of `license`.
async fn received(client: &Client, license: &str) -> Vec<Grant> {
    client
        .list_received_grants()
        .filters(Filter::builder().name("LicenseArn").values(license).build())
        .send()
        .await
        .unwrap()
        .grants
        .unwrap_or_default()
}

/// Activates `grant_arn` as its grantee.
async fn activate(client: &Client, grant_arn: &str) {
    let token = uuid::Uuid::new_v4().to_string();
    set_grant_status(client, grant_arn, &token, GrantStatus::Active)
        .await
        .unwrap();
}

fn root(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

#[tokio::test]
async fn a_grant_to_the_organization_reaches_every_account_pending_accept() {
    let h = harness().await;
    let isv = h.client(ISV).await;
    let license = users_license(&isv, "acme-pro", 10).await;
    let org_grant = grant_to(&isv, &license, &organization().arn())
        .await
        .unwrap();

    let mut children = Vec::new();
    for account in [MANAGEMENT, MEMBER_A, MEMBER_B] {
        let grants = received(&h.client(account).await, &license).await;
        assert_eq!(grants.len(), 1, "{account} received {grants:?}");
        let grant = &grants[0];
        assert_eq!(grant.grantee_principal_arn(), root(account));
        assert_eq!(grant.parent_arn(), org_grant);
        // Not from the organization's management account: each account accepts its own.
        assert_eq!(grant.grant_status(), &GrantStatus::PendingAccept);
        assert_ne!(grant.grant_arn(), org_grant);
        assert!(
            grant
                .grant_arn()
                .starts_with(&format!("arn:aws:license-manager::{ISV}:grant:g-"))
        );
        children.push(grant.grant_arn().to_string());
    }

    // A member accepts and activates its grant; the others' are untouched.
    let a = h.client(MEMBER_A).await;
    accept_grant(&a, &children[1]).await.unwrap();
    activate(&a, &children[1]).await;
    let b_grants = received(&h.client(MEMBER_B).await, &license).await;
    assert_eq!(b_grants[0].grant_status(), &GrantStatus::PendingAccept);
    // Another member cannot act on A's grant.
    assert_eq!(
        accept_grant(&h.client(MEMBER_B).await, &children[0])
            .await
            .unwrap_err(),
        "AccessDeniedException"
    );

    // The ISV sees its grant to the organization and each member's.
    let distributed = isv
        .list_distributed_grants()
        .send()
        .await
        .unwrap()
        .grants
        .unwrap();
    let org = distributed
        .iter()
        .find(|g| g.grant_arn() == org_grant)
        .unwrap();
    assert_eq!(org.grantee_principal_arn(), organization().arn());
    assert_eq!(org.grant_status(), &GrantStatus::WorkflowCompleted);
    assert_eq!(distributed.len(), 4);

    // Deleting the organization's grant takes the members' grants with it.
    isv.delete_grant()
        .grant_arn(&org_grant)
        .version("1")
        .send()
        .await
        .unwrap();
    for account in [MANAGEMENT, MEMBER_A, MEMBER_B] {
        let grants = received(&h.client(account).await, &license).await;
        assert_eq!(grants[0].grant_status(), &GrantStatus::Deleted, "{account}");
    }
}

#[tokio::test]
async fn a_grant_to_an_ou_reaches_only_its_accounts() {
    let h = harness().await;
    let isv = h.client(ISV).await;
    let license = users_license(&isv, "acme-pro", 10).await;
    grant_to(&isv, &license, &organization().ou_arn(OU))
        .await
        .unwrap();
    assert_eq!(received(&h.client(MEMBER_B).await, &license).await.len(), 1);
    assert!(
        received(&h.client(MEMBER_A).await, &license)
            .await
            .is_empty()
    );
    assert!(
        received(&h.client(MANAGEMENT).await, &license)
            .await
            .is_empty()
    );
}

/// The ISV grants the license to the management account with CreateGrant allowed; the
/// management account accepts, activates and distributes it to the organization.
async fn redistribute(h: &Harness, integration: bool) -> String {
    let isv = h.client(ISV).await;
    let management = h.client(MANAGEMENT).await;
    let license = users_license(&isv, "acme-pro", 10).await;
    let grant = grant_to(&isv, &license, &root(MANAGEMENT)).await.unwrap();
    accept_grant(&management, &grant).await.unwrap();
    activate(&management, &grant).await;
    management
        .update_service_settings()
        .organization_configuration(
            OrganizationConfiguration::builder()
                .enable_integration(integration)
                .build(),
        )
        .send()
        .await
        .unwrap();
    grant_to(&management, &license, &organization().arn())
        .await
        .unwrap();
    license
}

#[tokio::test]
async fn from_the_management_account_with_the_integration_on_members_get_it_disabled() {
    let h = harness().await;
    let license = redistribute(&h, true).await;
    for member in [MEMBER_A, MEMBER_B] {
        let grants = received(&h.client(member).await, &license).await;
        assert_eq!(grants.len(), 1, "{member}");
        assert_eq!(grants[0].grant_status(), &GrantStatus::Disabled, "{member}");
        assert!(
            grants[0]
                .grant_arn()
                .starts_with(&format!("arn:aws:license-manager::{MANAGEMENT}:grant:g-"))
        );
        // Accepted already: the member activates it, one account at a time.
        let client = h.client(member).await;
        activate(&client, grants[0].grant_arn()).await;
    }
    // The management account received only the ISV's grant, not one from itself.
    assert_eq!(
        received(&h.client(MANAGEMENT).await, &license).await.len(),
        1
    );
}

#[tokio::test]
async fn from_the_management_account_without_the_integration_members_must_accept() {
    let h = harness().await;
    let license = redistribute(&h, false).await;
    for member in [MEMBER_A, MEMBER_B] {
        let grants = received(&h.client(member).await, &license).await;
        assert_eq!(grants[0].grant_status(), &GrantStatus::PendingAccept);
    }
}

#[tokio::test]
async fn a_member_cannot_redistribute_a_license_it_holds_no_active_grant_of() {
    let h = harness().await;
    let isv = h.client(ISV).await;
    let license = users_license(&isv, "acme-pro", 10).await;
    grant_to(&isv, &license, &root(MEMBER_A)).await.unwrap();
    // Pending, not active: no redistribution.
    let a = h.client(MEMBER_A).await;
    assert_eq!(
        grant_to(&a, &license, &organization().arn())
            .await
            .unwrap_err(),
        "AccessDeniedException"
    );
}

#[tokio::test]
async fn the_management_account_lists_what_the_organization_received() {
    let h = harness().await;
    let isv = h.client(ISV).await;
    let license = users_license(&isv, "acme-pro", 10).await;
    let other = users_license(&isv, "acme-lite", 10).await;
    grant_to(&isv, &license, &organization().arn())
        .await
        .unwrap();
    grant_to(&isv, &other, &root(MEMBER_A)).await.unwrap();
    let management = h.client(MANAGEMENT).await;

    let all = management
        .list_received_grants_for_organization()
        .license_arn(&license)
        .send()
        .await
        .unwrap()
        .grants
        .unwrap();
    let mut grantees: Vec<&str> = all.iter().map(|g| g.grantee_principal_arn()).collect();
    grantees.sort_unstable();
    let mut expected = [root(MANAGEMENT), root(MEMBER_A), root(MEMBER_B)];
    expected.sort_unstable();
    assert_eq!(grantees, expected);

    let one = management
        .list_received_grants_for_organization()
        .license_arn(&license)
        .filters(
            Filter::builder()
                .name("GranteePrincipalArn")
                .values(root(MEMBER_B))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .grants
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].grantee_principal_arn(), root(MEMBER_B));

    let paged = management
        .list_received_grants_for_organization()
        .license_arn(&license)
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(paged.grants.unwrap().len(), 2);
    assert!(paged.next_token.is_some());

    let denied = h
        .client(MEMBER_A)
        .await
        .list_received_grants_for_organization()
        .license_arn(&license)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&denied), "AccessDeniedException");
}

#[tokio::test]
async fn an_organization_the_emulator_does_not_know_is_refused() {
    let h = Harness::start().await;
    let isv = h.client(ISV).await;
    let license = users_license(&isv, "acme-pro", 10).await;
    let err = grant_to(&isv, &license, &organization().arn())
        .await
        .unwrap_err();
    assert_eq!(err, "InvalidParameterValueException");

    let h = harness().await;
    let isv = h.client(ISV).await;
    let license = users_license(&isv, "acme-pro", 10).await;
    let stranger = "arn:aws:organizations::999999999999:organization/o-otherorg0001";
    assert_eq!(
        grant_to(&isv, &license, stranger).await.unwrap_err(),
        "InvalidParameterValueException"
    );
}

#[tokio::test]
async fn a_malformed_organization_stops_the_start_naming_the_mistake() {
    let mut org = organization();
    org.organizational_units
        .insert("ou-ab12-zzzzzzzz".into(), vec!["999999999999".into()]);
    let err = Emulator::start(
        Config {
            organization: Some(org),
            ..Config::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("--organization") && message.contains("999999999999"),
        "{message}"
    );
}
