//! The world license-events' tests run in: license-manager-local in-process (an ISV issues and
//! grants to the customer account), moto's server for the state table and the project's bus,
//! and a queue that receives every event the function emits.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aws_sdk_licensemanager::types::{
    AllowedOperation, ConsumptionConfiguration, DatetimeRange, Entitlement, EntitlementUnit,
    GrantStatus, Issuer, LicenseStatus, ProvisionalConfiguration,
};
use lambda_runtime::{Context, LambdaEvent};
pub use license_automation::retry::RetryPolicy;
use license_events::{Config, LicenseEvents, LicenseManager, Summary};
use local_test_kit::clients::CUSTOMER_ACCOUNT;
pub use local_test_kit::resources::{EVENT_BUS as BUS, STATE_TABLE as TABLE};
pub use local_test_kit::world::{World, license_manager_client, of_type, settle};
use serde_json::Value;

pub use local_test_kit::clients::ISV_ACCOUNT as ACME_ACCOUNT;
/// The customer: the account the function runs in.
pub const CUSTOMER: &str = CUSTOMER_ACCOUNT;

/// A fixture of `events/license-events/`.
pub fn fixture(name: &str) -> Value {
    local_test_kit::world::fixture("license-events", name)
}

/// The scheduled sweep's event, as the template's Scheduler input delivers it.
pub fn sweep_event() -> Value {
    fixture("scheduled.json")
}

/// Fixture `name` naming `arn` in its `resources` and `detail`, with a fresh event id.
pub fn event_about(name: &str, arn: &str) -> Value {
    let mut event = fixture(name);
    event["id"] = Value::String(uuid::Uuid::new_v4().to_string());
    event["resources"] = serde_json::json!([arn]);
    event["detail"] = serde_json::json!({ "arn": arn });
    event
}

/// The function in a test [`World`].
pub trait HandlerWorld {
    /// The function running in `account`, with `extra` variables.
    async fn handler(&self, account: &str, extra: &[(&str, &str)]) -> LicenseEvents;
}

impl HandlerWorld for World {
    async fn handler(&self, account: &str, extra: &[(&str, &str)]) -> LicenseEvents {
        let config = Config::from_env(&self.function_env(extra)).expect("valid configuration");
        let license_manager = LicenseManager::new(self.lm(account).await, config.max_concurrency)
            .with_retry(RetryPolicy {
                max_attempts: 2,
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(10),
            });
        LicenseEvents::new(
            &config,
            license_manager,
            self.events.clone(),
            self.dynamodb.clone(),
        )
    }
}

/// Invokes the handler as Lambda does.
pub async fn invoke(
    handler: &LicenseEvents,
    payload: Value,
) -> Result<Summary, license_events::LicenseEventsError> {
    handler
        .handle(LambdaEvent {
            payload,
            context: Context::default(),
        })
        .await
}

/// What a test license looks like.
pub struct LicenseSpec {
    pub sku: &'static str,
    pub validity_end: String,
    pub max_count: i64,
    pub overage: bool,
}

impl Default for LicenseSpec {
    fn default() -> Self {
        Self {
            sku: "acme-pro",
            validity_end: "2030-01-01T00:00:00Z".into(),
            max_count: 10,
            overage: false,
        }
    }
}

/// A time `days` from now, as License Manager writes `Validity.End`.
pub fn days_from_now(days: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::days(days))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Issues a license from `isv` for the customer as beneficiary.
pub async fn issue_license(isv: &aws_sdk_licensemanager::Client, spec: &LicenseSpec) -> String {
    isv.create_license()
        .license_name(format!("{} license", spec.sku))
        .product_name(format!("Acme {}", spec.sku))
        .product_sku(spec.sku)
        .issuer(Issuer::builder().name("Acme").build().unwrap())
        .home_region("us-east-1")
        .validity(
            DatetimeRange::builder()
                .begin("2025-01-01T00:00:00Z")
                .end(&spec.validity_end)
                .build()
                .unwrap(),
        )
        .entitlements(
            Entitlement::builder()
                .name("Users")
                .unit(EntitlementUnit::Count)
                .max_count(spec.max_count)
                .overage(spec.overage)
                .allow_check_in(true)
                .build()
                .unwrap(),
        )
        .beneficiary(CUSTOMER)
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

/// Grants `license` from `isv` to the customer, who accepts and activates it; the grant ARN.
pub async fn grant_to_customer(
    isv: &aws_sdk_licensemanager::Client,
    customer: &aws_sdk_licensemanager::Client,
    license: &str,
) -> String {
    let grant = isv
        .create_grant()
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
        .unwrap();
    let version = customer
        .accept_grant()
        .grant_arn(&grant)
        .send()
        .await
        .unwrap()
        .version
        .unwrap();
    customer
        .create_grant_version()
        .grant_arn(&grant)
        .source_version(version)
        .status(GrantStatus::Active)
        .client_token(uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .unwrap();
    grant
}

/// The ISV sets the license's status with a new version (CreateLicenseVersion).
pub async fn set_status(
    isv: &aws_sdk_licensemanager::Client,
    license: &str,
    status: LicenseStatus,
) {
    let current = isv
        .get_license()
        .license_arn(license)
        .send()
        .await
        .unwrap()
        .license
        .unwrap();
    isv.create_license_version()
        .license_arn(license)
        .source_version(current.version().unwrap())
        .license_name(current.license_name().unwrap())
        .product_name(current.product_name().unwrap())
        .issuer(Issuer::builder().name("Acme").build().unwrap())
        .home_region("us-east-1")
        .validity(current.validity().unwrap().clone())
        .set_entitlements(Some(current.entitlements().to_vec()))
        .consumption_configuration(current.consumption_configuration().unwrap().clone())
        .status(status)
        .client_token(uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .expect("create license version");
}
