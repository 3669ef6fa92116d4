//! License Manager helpers the demo's flows and the tests share: tokens, dates, fingerprints,
//! descriptions, usage, and a granted license.

use anyhow::{Context as _, Result};
use aws_sdk_licensemanager::types::{
    AllowedOperation, DatetimeRange, Entitlement, EntitlementUnit, GrantStatus, Issuer,
    LicenseStatus,
};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::clients::{Account, REGION, sdk_error};

/// A fresh ClientToken (idempotency key) for a create or checkout.
pub fn client_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The KeyFingerprint AWS gives licenses an account issues under `issuer_name`.
pub fn key_fingerprint(issuer_account: &str, issuer_name: &str) -> String {
    format!("aws:{issuer_account}:{issuer_name}:issuer-fingerprint")
}

/// Validity from now (whole seconds, UTC) for `days` days, or open-ended when `None`.
pub fn validity_from_now(days: Option<i64>) -> Result<DatetimeRange> {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0)?;
    let mut range = DatetimeRange::builder().begin(now.format(&Rfc3339)?);
    if let Some(days) = days {
        range = range.end((now + Duration::days(days)).format(&Rfc3339)?);
    }
    Ok(range.build()?)
}

/// "Users: 25 Count, Premium support: Enabled (no limit)".
pub fn describe_entitlements(entitlements: &[Entitlement]) -> String {
    entitlements
        .iter()
        .map(
            |entitlement| match (entitlement.unit(), entitlement.max_count()) {
                (EntitlementUnit::None, _) => format!(
                    "{}: {} (no limit)",
                    entitlement.name(),
                    entitlement.value().unwrap_or("-")
                ),
                (unit, Some(max)) => format!("{}: {max} {}", entitlement.name(), unit.as_str()),
                (unit, None) => format!("{}: {}", entitlement.name(), unit.as_str()),
            },
        )
        .collect::<Vec<_>>()
        .join(", ")
}

/// How much of entitlement `name` of a license is consumed, from GetLicenseUsage.
pub async fn consumed(
    client: &aws_sdk_licensemanager::Client,
    license_arn: &str,
    name: &str,
) -> Result<String> {
    let out = client
        .get_license_usage()
        .license_arn(license_arn)
        .send()
        .await
        .map_err(sdk_error)?;
    let usage = out
        .license_usage()
        .and_then(|usage| {
            usage
                .entitlement_usages()
                .iter()
                .find(|usage| usage.name() == name)
        })
        .with_context(|| format!("GetLicenseUsage has no usage for entitlement {name}"))?;
    Ok(match usage.max_count() {
        Some(max) => format!(
            "{} of {max} {}",
            usage.consumed_value(),
            usage.unit().as_str()
        ),
        None => format!("{} {}", usage.consumed_value(), usage.unit().as_str()),
    })
}

/// The status of a grant as `account` reads it.
pub async fn grant_status(account: &Account, grant_arn: &str) -> Result<GrantStatus> {
    let grant = account
        .license_manager
        .get_grant()
        .grant_arn(grant_arn)
        .send()
        .await
        .map_err(sdk_error)?
        .grant
        .context("GetGrant returned no grant")?;
    Ok(grant.grant_status().clone())
}

/// `isv` issues a license for `sku` under `issuer` (5 seats, a year) and grants it to
/// account `grantee`; returns the grant's ARN.
pub async fn grant_from(isv: &Account, issuer: &str, sku: &str, grantee: &str) -> Result<String> {
    let license_arn = issue_license(isv, issuer, sku, grantee).await?;
    grant_to(isv, &license_arn, &format!("arn:aws:iam::{grantee}:root")).await
}

/// `isv` grants `license_arn` (CheckoutLicense) to `principal`: an account's root, an
/// organization or an OU; returns the grant's ARN.
pub async fn grant_to(isv: &Account, license_arn: &str, principal: &str) -> Result<String> {
    let grant = isv
        .license_manager
        .create_grant()
        .grant_name(format!("{license_arn} for {principal}"))
        .license_arn(license_arn)
        .principals(principal)
        .home_region(REGION)
        .allowed_operations(AllowedOperation::CheckoutLicense)
        .client_token(client_token())
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(grant.grant_arn().context("no GrantArn")?.to_owned())
}

/// `isv` issues a license for `sku` under `issuer` (5 seats, a year) to `beneficiary`;
/// returns the license's ARN.
pub async fn issue_license(
    isv: &Account,
    issuer: &str,
    sku: &str,
    beneficiary: &str,
) -> Result<String> {
    issue_license_lasting(isv, issuer, sku, beneficiary, 365).await
}

/// Like [`grant_from`], for a license that ends `days` from now; returns the license's and
/// the grant's ARNs.
pub async fn grant_lasting(
    isv: &Account,
    issuer: &str,
    sku: &str,
    grantee: &str,
    days: i64,
) -> Result<(String, String)> {
    let license_arn = issue_license_lasting(isv, issuer, sku, grantee, days).await?;
    let grant_arn = grant_to(isv, &license_arn, &format!("arn:aws:iam::{grantee}:root")).await?;
    Ok((license_arn, grant_arn))
}

/// `isv` issues a license for `sku` under `issuer` (5 seats) to `beneficiary`, ending `days`
/// from now; returns the license's ARN.
async fn issue_license_lasting(
    isv: &Account,
    issuer: &str,
    sku: &str,
    beneficiary: &str,
    days: i64,
) -> Result<String> {
    let seats = Entitlement::builder()
        .name("Seats")
        .unit(EntitlementUnit::Count)
        .max_count(5)
        .build()?;
    let license = isv
        .license_manager
        .create_license()
        .license_name(format!("{issuer} {sku}"))
        .product_name(format!("{issuer} {sku}"))
        .product_sku(sku)
        .issuer(Issuer::builder().name(issuer).build()?)
        .home_region(REGION)
        .validity(validity_from_now(Some(days))?)
        .entitlements(seats)
        .beneficiary(beneficiary)
        .consumption_configuration(
            aws_sdk_licensemanager::types::ConsumptionConfiguration::builder().build(),
        )
        .client_token(client_token())
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(license.license_arn().context("no LicenseArn")?.to_owned())
}

/// The grantee accepts `grant_arn` and activates it (AcceptGrant, then CreateGrantVersion
/// ACTIVE), as grant-acceptor does for a trusted issuer.
pub async fn accept_and_activate(grantee: &Account, grant_arn: &str) -> Result<()> {
    let accepted = grantee
        .license_manager
        .accept_grant()
        .grant_arn(grant_arn)
        .send()
        .await
        .map_err(sdk_error)?;
    grantee
        .license_manager
        .create_grant_version()
        .grant_arn(grant_arn)
        .source_version(
            accepted
                .version()
                .context("AcceptGrant returned no Version")?,
        )
        .status(GrantStatus::Active)
        .client_token(client_token())
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(())
}

/// The issuer gives `license_arn` a new version with `status` (e.g. DEACTIVATED), the rest
/// unchanged.
pub async fn set_license_status(
    issuer: &Account,
    license_arn: &str,
    status: LicenseStatus,
) -> Result<()> {
    let current = issuer
        .license_manager
        .get_license()
        .license_arn(license_arn)
        .send()
        .await
        .map_err(sdk_error)?
        .license
        .context("GetLicense returned no license")?;
    let missing = |member: &str| anyhow::anyhow!("license {license_arn} has no {member}");
    issuer
        .license_manager
        .create_license_version()
        .license_arn(license_arn)
        .source_version(current.version().ok_or_else(|| missing("Version"))?)
        .license_name(
            current
                .license_name()
                .ok_or_else(|| missing("LicenseName"))?,
        )
        .product_name(
            current
                .product_name()
                .ok_or_else(|| missing("ProductName"))?,
        )
        .issuer(
            Issuer::builder()
                .name(
                    current
                        .issuer()
                        .and_then(|issuer| issuer.name())
                        .ok_or_else(|| missing("Issuer.Name"))?,
                )
                .build()?,
        )
        .home_region(current.home_region().unwrap_or(REGION))
        .set_validity(current.validity().cloned())
        .set_entitlements(Some(current.entitlements().to_vec()))
        .set_consumption_configuration(current.consumption_configuration().cloned())
        .status(status)
        .client_token(client_token())
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(())
}
