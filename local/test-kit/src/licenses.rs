//! Small helpers the License Manager flows share: tokens, dates, fingerprints, descriptions.

use anyhow::{Context as _, Result};
use aws_sdk_licensemanager::types::{DatetimeRange, Entitlement, EntitlementUnit};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::clients::sdk_error;

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
