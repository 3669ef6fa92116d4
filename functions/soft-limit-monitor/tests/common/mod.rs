//! The world the soft-limit-monitor's tests run in: license-manager-local in-process (the
//! customer account's license configurations and licenses), moto's server for the state table
//! and the project's bus, and a queue that receives every event the function emits.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_licensemanager::types::{
    CheckoutType, DatetimeRange, Entitlement, EntitlementData, EntitlementDataUnit,
    EntitlementUnit, Issuer, LicenseCountingType, LicenseSpecification, Tag,
};
use lambda_runtime::{Context, LambdaEvent};
pub use license_automation::retry::RetryPolicy;
use local_test_kit::clients::{CUSTOMER_ACCOUNT, REGION};
pub use local_test_kit::resources::{EVENT_BUS as BUS, STATE_TABLE as TABLE};
pub use local_test_kit::world::{World, license_manager_client, settle, types};
use serde_json::Value;
use soft_limit_monitor::{Config, LicenseManager, SoftLimitMonitor, Summary};

/// The customer: the account the function runs in.
pub const CUSTOMER: &str = CUSTOMER_ACCOUNT;

/// A fixture of `events/soft-limit-monitor/`.
pub fn fixture(name: &str) -> Value {
    local_test_kit::world::fixture("soft-limit-monitor", name)
}

/// The scheduled sweep's event, as the template's Scheduler input delivers it.
pub fn sweep_event() -> Value {
    fixture("scheduled.json")
}

/// The function in a test [`World`].
pub trait MonitorWorld {
    /// The function configured with `extra` variables (besides the table and the bus).
    async fn monitor(&self, extra: &[(&str, &str)]) -> SoftLimitMonitor {
        self.monitor_with_retry(extra, None).await
    }

    /// [`Self::monitor`] whose License Manager calls retry with `retry` instead of the default.
    async fn monitor_with_retry(
        &self,
        extra: &[(&str, &str)],
        retry: Option<RetryPolicy>,
    ) -> SoftLimitMonitor;
}

impl MonitorWorld for World {
    async fn monitor_with_retry(
        &self,
        extra: &[(&str, &str)],
        retry: Option<RetryPolicy>,
    ) -> SoftLimitMonitor {
        let config = Config::from_env(&self.function_env(extra)).expect("valid configuration");
        let mut license_manager =
            LicenseManager::new(self.lm(CUSTOMER).await, config.max_concurrency);
        if let Some(retry) = retry {
            license_manager = license_manager.with_retry(retry);
        }
        SoftLimitMonitor::new(
            &config,
            license_manager,
            self.events.clone(),
            self.dynamodb.clone(),
        )
    }
}

/// Invokes the handler as Lambda does.
pub async fn invoke(
    monitor: &SoftLimitMonitor,
    payload: Value,
) -> Result<Summary, soft_limit_monitor::SoftLimitMonitorError> {
    monitor
        .handle(LambdaEvent {
            payload,
            context: Context::default(),
        })
        .await
}

/// A scheduled sweep that must succeed.
pub async fn sweep(monitor: &SoftLimitMonitor) -> Summary {
    invoke(monitor, sweep_event())
        .await
        .expect("sweep succeeds")
}

/// Creates a license configuration of `count` instances (`None`: no count) in the customer
/// account; hard when `hard`.
pub async fn configuration(
    customer: &aws_sdk_licensemanager::Client,
    name: &str,
    count: Option<i64>,
    hard: bool,
) -> String {
    customer
        .create_license_configuration()
        .name(name)
        .license_counting_type(LicenseCountingType::Instance)
        .set_license_count(count)
        .license_count_hard_limit(hard)
        .send()
        .await
        .expect("create license configuration")
        .license_configuration_arn
        .unwrap()
}

/// Tags `arn` with `key=value`.
pub async fn tag(customer: &aws_sdk_licensemanager::Client, arn: &str, key: &str, value: &str) {
    customer
        .tag_resource()
        .resource_arn(arn)
        .tags(Tag::builder().key(key).value(value).build())
        .send()
        .await
        .expect("tag resource");
}

fn instance(n: u32) -> String {
    format!("arn:aws:ec2:{REGION}:{CUSTOMER}:instance/i-{n:017x}")
}

/// Associates instances `range` with configuration `arn` (each consumes one license).
pub async fn consume(
    customer: &aws_sdk_licensemanager::Client,
    arn: &str,
    range: std::ops::Range<u32>,
) {
    for n in range {
        customer
            .update_license_specifications_for_resource()
            .resource_arn(instance(n))
            .add_license_specifications(
                LicenseSpecification::builder()
                    .license_configuration_arn(arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("associate instance");
    }
}

/// Disassociates instances `range` from configuration `arn`.
pub async fn release(
    customer: &aws_sdk_licensemanager::Client,
    arn: &str,
    range: std::ops::Range<u32>,
) {
    for n in range {
        customer
            .update_license_specifications_for_resource()
            .resource_arn(instance(n))
            .remove_license_specifications(
                LicenseSpecification::builder()
                    .license_configuration_arn(arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("disassociate instance");
    }
}

/// Whether configuration `arn`'s limit is hard now, and its count.
pub async fn limit(customer: &aws_sdk_licensemanager::Client, arn: &str) -> (bool, Option<i64>) {
    let out = customer
        .get_license_configuration()
        .license_configuration_arn(arn)
        .send()
        .await
        .unwrap();
    (
        out.license_count_hard_limit().unwrap_or_default(),
        out.license_count(),
    )
}

/// The customer issues itself a license whose `Users` entitlement has `max_count` and allows
/// overage when `overage`; the license ARN and its key fingerprint.
pub async fn issue_license(
    customer: &aws_sdk_licensemanager::Client,
    sku: &str,
    max_count: i32,
    overage: bool,
) -> String {
    customer
        .create_license()
        .license_name(format!("{sku} license"))
        .product_name(format!("Initech {sku}"))
        .product_sku(sku)
        .issuer(Issuer::builder().name("Initech").build().unwrap())
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
                .max_count(i64::from(max_count))
                .overage(overage)
                .allow_check_in(true)
                .build()
                .unwrap(),
        )
        .beneficiary("customer")
        .consumption_configuration(
            aws_sdk_licensemanager::types::ConsumptionConfiguration::builder()
                .renew_type(aws_sdk_licensemanager::types::RenewType::None)
                .build(),
        )
        .client_token(uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .expect("create license")
        .license_arn
        .unwrap()
}

/// Checks out `quantity` Users of the customer's own license of `sku`.
pub async fn check_out(customer: &aws_sdk_licensemanager::Client, sku: &str, quantity: u32) {
    customer
        .checkout_license()
        .product_sku(sku)
        .checkout_type(CheckoutType::Perpetual)
        .key_fingerprint(format!("aws:{CUSTOMER}:Initech:issuer-fingerprint"))
        .entitlements(
            EntitlementData::builder()
                .name("Users")
                .value(quantity.to_string())
                .unit(EntitlementDataUnit::Count)
                .build()
                .unwrap(),
        )
        .client_token(uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .expect("checkout");
}
