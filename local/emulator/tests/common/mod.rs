//! Shared test helpers: an in-process emulator and SDK clients per account.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aws_config::BehaviorVersion;
use aws_sdk_licensemanager::Client;
use aws_sdk_licensemanager::config::{Credentials, Region};
use aws_sdk_licensemanager::types::{
    ConsumptionConfiguration, DatetimeRange, Entitlement, EntitlementUnit, Issuer,
    ProvisionalConfiguration,
};
use license_manager_local::{Clock, Config, Emulator, ManualClock};
use std::sync::Arc;

/// The ISV account.
pub const ISV: &str = "111122223333";
/// The customer account.
pub const CUSTOMER: &str = "444455556666";
/// A third account.
pub const STRANGER: &str = "777788889999";

/// A running emulator plus a manual clock.
pub struct Harness {
    pub emulator: Emulator,
    pub clock: Arc<ManualClock>,
}

impl Harness {
    pub async fn start() -> Self {
        Self::with_config(Config::default()).await
    }

    pub async fn with_config(config: Config) -> Self {
        let clock = Arc::new(ManualClock::new(
            time::macros::datetime!(2026-01-01 00:00:00 UTC),
        ));
        let emulator = Emulator::start_with_clock(
            config,
            "127.0.0.1:0".parse().unwrap(),
            clock.clone() as Arc<dyn Clock>,
        )
        .await
        .expect("emulator starts");
        Self { emulator, clock }
    }

    /// An SDK client whose access key id is `account`.
    pub async fn client(&self, account: &str) -> Client {
        client_for(&self.emulator.endpoint_url(), account).await
    }

    pub fn advance_minutes(&self, minutes: u64) {
        self.clock
            .advance(std::time::Duration::from_secs(minutes * 60));
    }
}

/// An SDK client for `endpoint` with static credentials whose access key id is `account`.
pub async fn client_for(endpoint: &str, account: &str) -> Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(account, "secret", None, None, "test"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    Client::new(&config)
}

/// A counted entitlement.
pub fn counted(name: &str, max: i64, overage: bool) -> Entitlement {
    Entitlement::builder()
        .name(name)
        .unit(EntitlementUnit::Count)
        .max_count(max)
        .overage(overage)
        .allow_check_in(true)
        .build()
        .unwrap()
}

/// An unlimited (`Unit: None`) entitlement.
pub fn unlimited(name: &str) -> Entitlement {
    Entitlement::builder()
        .name(name)
        .unit(EntitlementUnit::None)
        .value("Enabled")
        .build()
        .unwrap()
}

/// A provisional consumption configuration with `ttl` minutes.
pub fn provisional(ttl: i32) -> ConsumptionConfiguration {
    ConsumptionConfiguration::builder()
        .provisional_configuration(
            ProvisionalConfiguration::builder()
                .max_time_to_live_in_minutes(ttl)
                .build()
                .unwrap(),
        )
        .build()
}

/// Creates a license named `sku` issued by "Acme" with the given entitlements.
pub async fn create_license(
    client: &Client,
    sku: &str,
    entitlements: Vec<Entitlement>,
    consumption: ConsumptionConfiguration,
) -> String {
    client
        .create_license()
        .license_name(format!("{sku} license"))
        .product_name("Acme Widget")
        .product_sku(sku)
        .issuer(Issuer::builder().name("Acme").build().unwrap())
        .home_region("us-east-1")
        .validity(
            DatetimeRange::builder()
                .begin("2025-01-01T00:00:00Z")
                .end("2030-01-01T00:00:00Z")
                .build()
                .unwrap(),
        )
        .set_entitlements(Some(entitlements))
        .beneficiary("customer-1")
        .consumption_configuration(consumption)
        .client_token(uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .expect("create license")
        .license_arn
        .expect("arn")
}

/// A license of `sku` with `max` counted Users (no overage) and a 60-minute provisional TTL.
pub async fn users_license(client: &Client, sku: &str, max: i64) -> String {
    create_license(
        client,
        sku,
        vec![counted("Users", max, false)],
        provisional(60),
    )
    .await
}

/// CheckInLicense of `token`; the error code on failure.
pub async fn check_in(client: &Client, token: &str) -> Result<(), String> {
    client
        .check_in_license()
        .license_consumption_token(token)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(&e))
}

/// ExtendLicenseConsumption of `token`; the new expiration, or the error code.
pub async fn extend(client: &Client, token: &str) -> Result<String, String> {
    client
        .extend_license_consumption()
        .license_consumption_token(token)
        .send()
        .await
        .map(|o| o.expiration.unwrap_or_default())
        .map_err(|e| code(&e))
}

/// The `__type`-derived code of an SDK error.
pub fn code<E, R>(err: &aws_sdk_licensemanager::error::SdkError<E, R>) -> String
where
    E: aws_sdk_licensemanager::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match err.as_service_error() {
        Some(e) => e.code().unwrap_or("<no code>").to_string(),
        None => format!("<not a service error: {err:?}>"),
    }
}

/// The message of an SDK error.
pub fn message<E, R>(err: &aws_sdk_licensemanager::error::SdkError<E, R>) -> String
where
    E: aws_sdk_licensemanager::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.message())
        .unwrap_or("")
        .to_string()
}
