//! Shared test helpers: an in-process emulator and SDK clients per account.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aws_config::BehaviorVersion;
use aws_sdk_licensemanager::Client;
use aws_sdk_licensemanager::config::{Credentials, Region};
use aws_sdk_licensemanager::operation::accept_grant::AcceptGrantOutput;
use aws_sdk_licensemanager::operation::checkout_license::builders::CheckoutLicenseFluentBuilder;
use aws_sdk_licensemanager::operation::create_grant::builders::CreateGrantFluentBuilder;
use aws_sdk_licensemanager::operation::create_grant_version::CreateGrantVersionOutput;
use aws_sdk_licensemanager::operation::create_license_version::builders::CreateLicenseVersionFluentBuilder;
use aws_sdk_licensemanager::operation::delete_license::DeleteLicenseOutput;
use aws_sdk_licensemanager::operation::get_license_configuration::GetLicenseConfigurationOutput;
use aws_sdk_licensemanager::operation::get_license_usage::GetLicenseUsageOutput;
use aws_sdk_licensemanager::types::{
    AllowedOperation, CheckoutType, ConsumptionConfiguration, DatetimeRange, Entitlement,
    EntitlementData, EntitlementDataUnit, EntitlementUnit, GrantStatus, Issuer, License,
    LicenseSpecification, ProvisionalConfiguration,
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

    /// A harness that persists its state to `path`.
    pub async fn with_state_file(path: &std::path::Path) -> Self {
        Self::with_config(Config {
            state_file: Some(path.to_path_buf()),
            ..Config::default()
        })
        .await
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
        .issuer(acme_issuer())
        .home_region("us-east-1")
        .validity(valid_from_2025(Some("2030-01-01T00:00:00Z")))
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

/// The key fingerprint of licenses issued by "Acme" in the ISV account.
pub fn issuer_fingerprint() -> String {
    format!("aws:{ISV}:Acme:issuer-fingerprint")
}

/// `n` counted Users, as checkout requests name them.
pub fn users(n: i64) -> EntitlementData {
    EntitlementData::builder()
        .name("Users")
        .value(n.to_string())
        .unit(EntitlementDataUnit::Count)
        .build()
        .unwrap()
}

/// A CheckoutLicense of `entitlement` from the "Acme"-issued license of `sku`, as `kind`;
/// the caller adds Beneficiary and ClientToken.
pub fn checkout_request(
    client: &Client,
    sku: &str,
    kind: CheckoutType,
    entitlement: EntitlementData,
) -> CheckoutLicenseFluentBuilder {
    client
        .checkout_license()
        .product_sku(sku)
        .checkout_type(kind)
        .key_fingerprint(issuer_fingerprint())
        .entitlements(entitlement)
}

/// GetLicense of the current version of `arn`, which must succeed.
pub async fn get_license(client: &Client, arn: &str) -> License {
    client
        .get_license()
        .license_arn(arn)
        .send()
        .await
        .unwrap()
        .license
        .unwrap()
}

/// GetLicenseUsage of `arn`, which must succeed.
pub async fn get_license_usage(client: &Client, arn: &str) -> GetLicenseUsageOutput {
    client
        .get_license_usage()
        .license_arn(arn)
        .send()
        .await
        .unwrap()
}

/// The issuer "Acme".
pub fn acme_issuer() -> Issuer {
    Issuer::builder().name("Acme").build().unwrap()
}

/// A validity from 2025-01-01 until `end` (open-ended if `None`).
pub fn valid_from_2025(end: Option<&str>) -> DatetimeRange {
    DatetimeRange::builder()
        .begin("2025-01-01T00:00:00Z")
        .set_end(end.map(str::to_string))
        .build()
        .unwrap()
}

/// A CreateLicenseVersion of `arn` issued by "Acme" in us-east-1, valid from 2025 until
/// `end`, with `max_users` counted Users (no overage) and a 60-minute provisional TTL; the
/// caller adds Status, SourceVersion and ClientToken.
pub fn license_version_request(
    client: &Client,
    arn: impl Into<String>,
    license_name: &str,
    product_name: &str,
    max_users: i64,
    end: Option<&str>,
) -> CreateLicenseVersionFluentBuilder {
    client
        .create_license_version()
        .license_arn(arn)
        .license_name(license_name)
        .product_name(product_name)
        .issuer(acme_issuer())
        .home_region("us-east-1")
        .validity(valid_from_2025(end))
        .entitlements(counted("Users", max_users, false))
        .consumption_configuration(provisional(60))
}

/// A CreateGrant of `license` to `principal` allowing CheckoutLicense.
pub fn grant_request(
    client: &Client,
    license: &str,
    principal: &str,
    token: &str,
) -> CreateGrantFluentBuilder {
    client
        .create_grant()
        .client_token(token)
        .grant_name("customer grant")
        .license_arn(license)
        .principals(principal)
        .home_region("us-east-1")
        .allowed_operations(AllowedOperation::CheckoutLicense)
}

/// AcceptGrant of `grant_arn`; the output or the error code.
pub async fn accept_grant(client: &Client, grant_arn: &str) -> Result<AcceptGrantOutput, String> {
    client
        .accept_grant()
        .grant_arn(grant_arn)
        .send()
        .await
        .map_err(|e| code(&e))
}

/// CreateGrantVersion moving `grant_arn` to `status`; the output or the error code.
pub async fn set_grant_status(
    client: &Client,
    grant_arn: &str,
    token: &str,
    status: GrantStatus,
) -> Result<CreateGrantVersionOutput, String> {
    client
        .create_grant_version()
        .grant_arn(grant_arn)
        .client_token(token)
        .status(status)
        .send()
        .await
        .map_err(|e| code(&e))
}

/// DeleteLicense of `arn` at `source_version`; the output or the error code.
pub async fn delete_license(
    client: &Client,
    arn: &str,
    source_version: &str,
) -> Result<DeleteLicenseOutput, String> {
    client
        .delete_license()
        .license_arn(arn)
        .source_version(source_version)
        .send()
        .await
        .map_err(|e| code(&e))
}

/// Associates `resource` with the license configuration `config`; the error code on failure.
pub async fn associate(client: &Client, resource: &str, config: &str) -> Result<(), String> {
    client
        .update_license_specifications_for_resource()
        .resource_arn(resource)
        .add_license_specifications(license_specification(config))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(&e))
}

/// Removes the association of `resource` with the license configuration `config`; the error
/// code on failure.
pub async fn disassociate(client: &Client, resource: &str, config: &str) -> Result<(), String> {
    client
        .update_license_specifications_for_resource()
        .resource_arn(resource)
        .remove_license_specifications(license_specification(config))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(&e))
}

/// A license specification naming the license configuration `config`.
pub fn license_specification(config: &str) -> LicenseSpecification {
    LicenseSpecification::builder()
        .license_configuration_arn(config)
        .build()
        .unwrap()
}

/// DeleteLicenseConfiguration of `arn`, which must succeed.
pub async fn delete_license_configuration(client: &Client, arn: &str) {
    client
        .delete_license_configuration()
        .license_configuration_arn(arn)
        .send()
        .await
        .unwrap();
}

/// GetLicenseConfiguration of `arn`, which must succeed.
pub async fn get_license_configuration(
    client: &Client,
    arn: &str,
) -> GetLicenseConfigurationOutput {
    client
        .get_license_configuration()
        .license_configuration_arn(arn)
        .send()
        .await
        .unwrap()
}

/// The error code of GetLicenseConfiguration of `arn`, which must fail.
pub async fn get_license_configuration_error(client: &Client, arn: &str) -> String {
    let err = client
        .get_license_configuration()
        .license_configuration_arn(arn)
        .send()
        .await
        .unwrap_err();
    code(&err)
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
