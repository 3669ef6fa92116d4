//! The world the grant-acceptor's tests run in: license-manager-local in-process (ISV accounts
//! grant to the customer account), moto's server for the state table and the project's bus,
//! and a queue that receives every event the function emits.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_licensemanager::types::{
    AllowedOperation, ConsumptionConfiguration, DatetimeRange, Entitlement, EntitlementUnit,
    GrantStatus, Issuer, ProvisionalConfiguration,
};
use grant_acceptor::{Config, GrantAcceptor, LicenseManager, Summary};
use lambda_runtime::{Context, LambdaEvent};
pub use license_automation::retry::RetryPolicy;
use local_test_kit::clients::CUSTOMER_ACCOUNT;
pub use local_test_kit::licenses::key_fingerprint as fingerprint;
pub use local_test_kit::resources::{EVENT_BUS as BUS, STATE_TABLE as TABLE};
pub use local_test_kit::world::{World, license_manager_client, settle};
use serde_json::Value;

pub use local_test_kit::clients::ISV_ACCOUNT as ACME_ACCOUNT;
/// A second ISV.
pub const GLOBEX_ACCOUNT: &str = "444455556666";
/// The customer: the account the function runs in.
pub const CUSTOMER: &str = CUSTOMER_ACCOUNT;

/// A fixture of `events/grant-acceptor/`.
pub fn fixture(name: &str) -> Value {
    local_test_kit::world::fixture("grant-acceptor", name)
}

/// The scheduled sweep's event, as the template's Scheduler input delivers it.
pub fn sweep_event() -> Value {
    fixture("scheduled.json")
}

/// A `Grant Change` event naming `grant_arn`.
pub fn grant_change(grant_arn: &str) -> Value {
    let mut event = fixture("grant-change.json");
    event["resources"] = serde_json::json!([grant_arn]);
    event["detail"]["grantArn"] = Value::String(grant_arn.to_owned());
    event
}

/// The function in a test [`World`].
pub trait AcceptorWorld {
    /// The function configured with `TRUST_POLICY=policy` and `extra` variables.
    async fn acceptor(&self, policy: &str, extra: &[(&str, &str)]) -> GrantAcceptor {
        self.acceptor_with_retry(policy, extra, None).await
    }

    /// [`Self::acceptor`] whose License Manager calls retry with `retry` instead of the default.
    async fn acceptor_with_retry(
        &self,
        policy: &str,
        extra: &[(&str, &str)],
        retry: Option<RetryPolicy>,
    ) -> GrantAcceptor;
}

impl AcceptorWorld for World {
    async fn acceptor_with_retry(
        &self,
        policy: &str,
        extra: &[(&str, &str)],
        retry: Option<RetryPolicy>,
    ) -> GrantAcceptor {
        let mut env = self.function_env(extra);
        env.entry("TRUST_POLICY".to_owned())
            .or_insert_with(|| policy.to_owned());
        let config = Config::from_env(&env).expect("valid configuration");
        let mut license_manager =
            LicenseManager::new(self.lm(CUSTOMER).await, config.max_concurrency);
        if let Some(retry) = retry {
            license_manager = license_manager.with_retry(retry);
        }
        GrantAcceptor::new(
            &config,
            license_manager,
            self.events.clone(),
            self.dynamodb.clone(),
        )
    }
}

/// Invokes the handler as Lambda does.
pub async fn invoke(
    acceptor: &GrantAcceptor,
    payload: Value,
) -> Result<Summary, grant_acceptor::GrantAcceptorError> {
    acceptor
        .handle(LambdaEvent {
            payload,
            context: Context::default(),
        })
        .await
}

/// Issues a license named `issuer` with product `sku` from `isv`.
pub async fn issue_license(
    isv: &aws_sdk_licensemanager::Client,
    issuer: &str,
    sku: &str,
) -> String {
    isv.create_license()
        .license_name(format!("{sku} license"))
        .product_name(format!("{issuer} {sku}"))
        .product_sku(sku)
        .issuer(Issuer::builder().name(issuer).build().unwrap())
        .home_region("us-east-1")
        .validity(
            DatetimeRange::builder()
                .begin("2025-01-01T00:00:00Z")
                .end("2030-01-01T00:00:00Z")
                .build()
                .unwrap(),
        )
        .entitlements(
            Entitlement::builder()
                .name("Users")
                .unit(EntitlementUnit::Count)
                .max_count(10)
                .allow_check_in(true)
                .build()
                .unwrap(),
        )
        .beneficiary("customer")
        .consumption_configuration(
            ConsumptionConfiguration::builder()
                .provisional_configuration(
                    ProvisionalConfiguration::builder()
                        .max_time_to_live_in_minutes(60)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .client_token(uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .expect("create license")
        .license_arn
        .unwrap()
}

/// Grants `license` from `isv` to the customer account; the grant ARN (PENDING_ACCEPT).
pub async fn grant_to_customer(isv: &aws_sdk_licensemanager::Client, license: &str) -> String {
    isv.create_grant()
        .client_token(uuid::Uuid::new_v4().to_string())
        .grant_name("customer grant")
        .license_arn(license)
        .principals(format!("arn:aws:iam::{CUSTOMER}:root"))
        .home_region("us-east-1")
        .allowed_operations(AllowedOperation::CheckoutLicense)
        .send()
        .await
        .expect("create grant")
        .grant_arn
        .unwrap()
}

/// Issues a license and grants it to the customer; the grant ARN.
pub async fn pending_grant(
    isv: &aws_sdk_licensemanager::Client,
    issuer: &str,
    sku: &str,
) -> String {
    let license = issue_license(isv, issuer, sku).await;
    grant_to_customer(isv, &license).await
}

/// The grant's current (status, version), as the customer sees it.
pub async fn grant_state(
    customer: &aws_sdk_licensemanager::Client,
    arn: &str,
) -> (GrantStatus, String) {
    let grant = customer
        .get_grant()
        .grant_arn(arn)
        .send()
        .await
        .unwrap()
        .grant
        .unwrap();
    (grant.grant_status().clone(), grant.version().to_owned())
}

/// The statuses of every version of the grant, oldest first.
pub async fn grant_history(
    customer: &aws_sdk_licensemanager::Client,
    arn: &str,
) -> Vec<GrantStatus> {
    let (_, current) = grant_state(customer, arn).await;
    let mut statuses = Vec::new();
    for version in 1..=current.parse::<u32>().unwrap() {
        let grant = customer
            .get_grant()
            .grant_arn(arn)
            .version(version.to_string())
            .send()
            .await
            .unwrap()
            .grant
            .unwrap();
        statuses.push(grant.grant_status().clone());
    }
    statuses
}

/// A trust policy trusting `rules` (JSON objects) with `untrusted`.
pub fn policy(rules: &[Value], untrusted: &str) -> String {
    serde_json::json!({"trusted": rules, "untrusted": untrusted}).to_string()
}
