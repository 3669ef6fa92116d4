//! The catalogue of the project's own events: each detail-type with its typed detail, as the
//! README's "Events" section documents them (camelCase JSON, times in RFC 3339 UTC).
//!
//! [`ProjectEvent`] is what the functions decide to say; [`crate::events_out::publisher`] puts
//! it on the bus.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Serialises a time as RFC 3339 in UTC (`...Z`), whatever offset it carries.
fn rfc3339_utc<S: serde::Serializer>(
    at: &OffsetDateTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    time::serde::rfc3339::serialize(&at.to_offset(time::UtcOffset::UTC), serializer)
}

/// Reads a time written by [`rfc3339_utc`] (an event kept in an outbox intent).
fn rfc3339_in<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<OffsetDateTime, D::Error> {
    time::serde::rfc3339::deserialize(deserializer)
}

/// How each event's `occurrenceId` is made: from what the emitting function decided on, so
/// that every redelivery of one occurrence (a Lambda retry, a re-sent batch) carries the same
/// id and the next occurrence a different one. Consumers deduplicate by it: each occurrence
/// is delivered at least once.
pub mod occurrence {
    use time::OffsetDateTime;

    /// The suffix that keeps a dry run's occurrences apart from the real run's.
    fn dry(dry_run: bool) -> &'static str {
        if dry_run { "#dry-run" } else { "" }
    }

    /// `Grant Accepted` / `Grant Not Trusted`: the grant, the version the decision was made
    /// on and the decision (`accepted`, `rejected`, `ignored`).
    pub fn grant_decision(grant_arn: &str, version: &str, decision: &str, dry_run: bool) -> String {
        format!("{grant_arn}#{version}#{decision}{}", dry(dry_run))
    }

    /// Where a crossing started from: the alert-state record this check read.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum CrossingFrom<'a> {
        /// No record: nothing was alerted for the resource yet.
        Absent,
        /// The record's state and when it was written.
        Recorded {
            /// The stored state (level).
            state: &'a str,
            /// The record's `updatedAt`.
            updated_at: OffsetDateTime,
        },
        /// The record could not be read: the crossing is identified by when it was observed
        /// (nothing is recorded then, so each sweep alerts as its own occurrence).
        Unreadable {
            /// When the crossing was observed.
            observed: OffsetDateTime,
        },
    }

    /// A soft-limit crossing (`Soft Limit Warning` / `Exceeded` / `Recovered`,
    /// `Entitlement Overage`): the alert-state resource (configuration ARN, or
    /// `<license ARN>#<entitlement>`), the record the crossing started from and the level
    /// reached. A retry that re-sends the crossing reads the same record; the next crossing
    /// reads the record this one wrote (a later `updatedAt`), so it gets another id.
    pub fn crossing(resource: &str, from: CrossingFrom<'_>, to: &str) -> String {
        match from {
            CrossingFrom::Absent => format!("{resource}#none>{to}"),
            CrossingFrom::Recorded { state, updated_at } => format!(
                "{resource}#{state}@{}>{to}",
                updated_at.unix_timestamp_nanos()
            ),
            CrossingFrom::Unreadable { observed } => {
                format!("{resource}#unread@{}>{to}", observed.unix_timestamp_nanos())
            }
        }
    }

    /// `Soft Limit Enforced`: the crossing's id (see [`crossing`]) that called for it.
    pub fn enforcement(crossing_id: &str) -> String {
        format!("{crossing_id}#enforced")
    }

    /// `Soft Limit Enforcement Failed`: the crossing's id (see [`crossing`]) whose enforcement
    /// failed.
    pub fn enforcement_failed(crossing_id: &str) -> String {
        format!("{crossing_id}#enforcement-failed")
    }

    /// `License Status Changed`: the license, its version and the status it changed to.
    pub fn license_status(license_arn: &str, version: &str, status: &str) -> String {
        format!("{license_arn}#{version}#status#{status}")
    }

    /// `License Expiring`: the license and its version (one warning per version).
    pub fn license_expiring(license_arn: &str, version: &str) -> String {
        format!("{license_arn}#{version}#expiring")
    }
}

/// Which kind of resource a soft-limit alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LimitedResource {
    /// A self-managed license configuration with a soft limit.
    LicenseConfiguration,
    /// A managed entitlement that allows overage.
    Entitlement,
}

/// The grant a grant-acceptor decision is about, as both grant events carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantSubject {
    /// The grant.
    pub grant_arn: String,
    /// The granted license.
    pub license_arn: String,
    /// The account that received the grant.
    pub account: String,
    /// The account that issued the grant (from the grant ARN).
    pub granter_account: String,
    /// The license issuer's key fingerprint.
    pub key_fingerprint: String,
    /// The license issuer's name.
    pub issuer_name: String,
    /// The license's product SKU.
    pub product_sku: String,
}

/// `Grant Accepted`: a trusted grant was accepted (and activated unless the policy says not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantAccepted {
    /// This occurrence's identity, the same on every redelivery (see [`occurrence`]).
    pub occurrence_id: String,
    /// The grant and its license.
    #[serde(flatten)]
    pub grant: GrantSubject,
    /// Whether the grant was also activated.
    pub activated: bool,
    /// Whether this was a dry run (nothing was changed).
    pub dry_run: bool,
    /// When the decision was made.
    #[serde(serialize_with = "rfc3339_utc", deserialize_with = "rfc3339_in")]
    pub time: OffsetDateTime,
}

/// What was done with a grant that matched no trust rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UntrustedOutcome {
    /// Left pending.
    Ignored,
    /// Rejected with RejectGrant.
    Rejected,
}

/// `Grant Not Trusted`: a pending grant matched no trust rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantNotTrusted {
    /// This occurrence's identity, the same on every redelivery (see [`occurrence`]).
    pub occurrence_id: String,
    /// The grant and its license.
    #[serde(flatten)]
    pub grant: GrantSubject,
    /// Whether the grant was left pending or rejected.
    pub outcome: UntrustedOutcome,
    /// Why no trust rule matched: the unknown fingerprint, or each rule's failing fields.
    pub reason: String,
    /// Whether this was a dry run (nothing was changed).
    pub dry_run: bool,
    /// When the decision was made.
    #[serde(serialize_with = "rfc3339_utc", deserialize_with = "rfc3339_in")]
    pub time: OffsetDateTime,
}

/// `Soft Limit Warning` / `Exceeded` / `Recovered`: usage of a soft limit crossed a threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SoftLimitCrossing {
    /// This occurrence's identity, the same on every redelivery (see [`occurrence`]).
    pub occurrence_id: String,
    /// The license configuration or license ARN.
    pub resource_arn: String,
    /// What kind of resource it is.
    pub resource_kind: LimitedResource,
    /// The entitlement's name, for entitlements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entitlement_name: Option<String>,
    /// The account that owns the resource.
    pub account: String,
    /// The limit (LicenseCount or MaxCount).
    pub count: i64,
    /// What is consumed now.
    pub consumed: i64,
    /// `consumed` as a percentage of `count`.
    pub percent: f64,
    /// The configured warning threshold, in percent.
    pub warn_threshold_percent: u8,
    /// When it was observed.
    #[serde(serialize_with = "rfc3339_utc", deserialize_with = "rfc3339_in")]
    pub time: OffsetDateTime,
}

/// `Soft Limit Enforced`: enforcement turned a breached soft limit hard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SoftLimitEnforced {
    /// This occurrence's identity, the same on every redelivery (see [`occurrence`]).
    pub occurrence_id: String,
    /// The license configuration.
    pub license_configuration_arn: String,
    /// The account that owns it.
    pub account: String,
    /// The limit.
    pub count: i64,
    /// What is consumed now.
    pub consumed: i64,
    /// `consumed` as a percentage of `count`.
    pub percent: f64,
    /// Whether this was a dry run (nothing was changed).
    pub dry_run: bool,
    /// When it was enforced.
    #[serde(serialize_with = "rfc3339_utc", deserialize_with = "rfc3339_in")]
    pub time: OffsetDateTime,
}

/// `Soft Limit Enforcement Failed`: enforcement could not turn a breached soft limit hard
/// (the limit stays soft; the invocation fails, so its retries end in the dead-letter queue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SoftLimitEnforcementFailed {
    /// This occurrence's identity, the same on every redelivery (see [`occurrence`]).
    pub occurrence_id: String,
    /// The license configuration.
    pub license_configuration_arn: String,
    /// The account that owns it.
    pub account: String,
    /// The limit.
    pub count: i64,
    /// What is consumed now.
    pub consumed: i64,
    /// `consumed` as a percentage of `count`.
    pub percent: f64,
    /// License Manager's error code (e.g. `AccessDeniedException`, `ValidationException`),
    /// or `CallFailed` when it did not answer.
    pub error_code: String,
    /// License Manager's message.
    pub error_message: String,
    /// When enforcement was tried.
    #[serde(serialize_with = "rfc3339_utc", deserialize_with = "rfc3339_in")]
    pub time: OffsetDateTime,
}

/// `Entitlement Overage`: managed entitlement consumption passed MaxCount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntitlementOverage {
    /// This occurrence's identity, the same on every redelivery (see [`occurrence`]).
    pub occurrence_id: String,
    /// The license.
    pub license_arn: String,
    /// The entitlement.
    pub entitlement_name: String,
    /// The entitlement's unit.
    pub unit: String,
    /// The account that consumes it.
    pub account: String,
    /// The entitlement's MaxCount.
    pub max_count: i64,
    /// What is consumed now.
    pub consumed: i64,
    /// When it was observed.
    #[serde(serialize_with = "rfc3339_utc", deserialize_with = "rfc3339_in")]
    pub time: OffsetDateTime,
}

/// `License Status Changed`: a license became deactivated, expired, deleted, ...
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseStatusChanged {
    /// This occurrence's identity, the same on every redelivery (see [`occurrence`]).
    pub occurrence_id: String,
    /// The license.
    pub license_arn: String,
    /// The account the event was seen in.
    pub account: String,
    /// The status before, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<String>,
    /// The status now.
    pub status: String,
    /// The license version now, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// When the change was observed.
    #[serde(serialize_with = "rfc3339_utc", deserialize_with = "rfc3339_in")]
    pub time: OffsetDateTime,
}

/// `License Expiring`: a license's `Validity.End` is within the warning window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseExpiring {
    /// This occurrence's identity, the same on every redelivery (see [`occurrence`]).
    pub occurrence_id: String,
    /// The license.
    pub license_arn: String,
    /// The account the license is used in.
    pub account: String,
    /// The license's product SKU.
    pub product_sku: String,
    /// The end of the license's validity.
    #[serde(serialize_with = "rfc3339_utc", deserialize_with = "rfc3339_in")]
    pub validity_end: OffsetDateTime,
    /// Whole days from `time` to `validity_end`.
    pub days_remaining: i64,
    /// The configured warning window, in days.
    pub warning_days: u32,
    /// When it was observed.
    #[serde(serialize_with = "rfc3339_utc", deserialize_with = "rfc3339_in")]
    pub time: OffsetDateTime,
}

/// One of the project's events, ready to publish.
#[derive(Debug, Clone, PartialEq)]
pub enum ProjectEvent {
    /// `Grant Accepted`
    GrantAccepted(GrantAccepted),
    /// `Grant Not Trusted`
    GrantNotTrusted(GrantNotTrusted),
    /// `Soft Limit Warning`
    SoftLimitWarning(SoftLimitCrossing),
    /// `Soft Limit Exceeded`
    SoftLimitExceeded(SoftLimitCrossing),
    /// `Soft Limit Recovered`
    SoftLimitRecovered(SoftLimitCrossing),
    /// `Soft Limit Enforced`
    SoftLimitEnforced(SoftLimitEnforced),
    /// `Soft Limit Enforcement Failed`
    SoftLimitEnforcementFailed(SoftLimitEnforcementFailed),
    /// `Entitlement Overage`
    EntitlementOverage(EntitlementOverage),
    /// `License Status Changed`
    LicenseStatusChanged(LicenseStatusChanged),
    /// `License Expiring`
    LicenseExpiring(LicenseExpiring),
}

impl ProjectEvent {
    /// The event's `detail-type`.
    pub fn detail_type(&self) -> &'static str {
        match self {
            Self::GrantAccepted(_) => "Grant Accepted",
            Self::GrantNotTrusted(_) => "Grant Not Trusted",
            Self::SoftLimitWarning(_) => "Soft Limit Warning",
            Self::SoftLimitExceeded(_) => "Soft Limit Exceeded",
            Self::SoftLimitRecovered(_) => "Soft Limit Recovered",
            Self::SoftLimitEnforced(_) => "Soft Limit Enforced",
            Self::SoftLimitEnforcementFailed(_) => "Soft Limit Enforcement Failed",
            Self::EntitlementOverage(_) => "Entitlement Overage",
            Self::LicenseStatusChanged(_) => "License Status Changed",
            Self::LicenseExpiring(_) => "License Expiring",
        }
    }

    /// The `detail` as JSON.
    pub fn detail(&self) -> serde_json::Value {
        let detail = match self {
            Self::GrantAccepted(detail) => serde_json::to_value(detail),
            Self::GrantNotTrusted(detail) => serde_json::to_value(detail),
            Self::SoftLimitWarning(detail)
            | Self::SoftLimitExceeded(detail)
            | Self::SoftLimitRecovered(detail) => serde_json::to_value(detail),
            Self::SoftLimitEnforced(detail) => serde_json::to_value(detail),
            Self::SoftLimitEnforcementFailed(detail) => serde_json::to_value(detail),
            Self::EntitlementOverage(detail) => serde_json::to_value(detail),
            Self::LicenseStatusChanged(detail) => serde_json::to_value(detail),
            Self::LicenseExpiring(detail) => serde_json::to_value(detail),
        };
        // The details are plain structs of strings, numbers, booleans and RFC 3339 times,
        // which always serialise; a failure here would be a bug in this module.
        detail
            .unwrap_or_else(|error| serde_json::json!({ "serializationError": error.to_string() }))
    }

    /// The ARNs the event is about (PutEvents' `Resources`).
    pub fn resources(&self) -> Vec<String> {
        match self {
            Self::GrantAccepted(GrantAccepted { grant, .. })
            | Self::GrantNotTrusted(GrantNotTrusted { grant, .. }) => {
                vec![grant.grant_arn.clone(), grant.license_arn.clone()]
            }
            Self::SoftLimitWarning(detail)
            | Self::SoftLimitExceeded(detail)
            | Self::SoftLimitRecovered(detail) => vec![detail.resource_arn.clone()],
            Self::SoftLimitEnforced(detail) => vec![detail.license_configuration_arn.clone()],
            Self::SoftLimitEnforcementFailed(detail) => {
                vec![detail.license_configuration_arn.clone()]
            }
            Self::EntitlementOverage(detail) => vec![detail.license_arn.clone()],
            Self::LicenseStatusChanged(detail) => vec![detail.license_arn.clone()],
            Self::LicenseExpiring(detail) => vec![detail.license_arn.clone()],
        }
    }

    /// When the event happened.
    pub fn time(&self) -> OffsetDateTime {
        match self {
            Self::GrantAccepted(detail) => detail.time,
            Self::GrantNotTrusted(detail) => detail.time,
            Self::SoftLimitWarning(detail)
            | Self::SoftLimitExceeded(detail)
            | Self::SoftLimitRecovered(detail) => detail.time,
            Self::SoftLimitEnforced(detail) => detail.time,
            Self::SoftLimitEnforcementFailed(detail) => detail.time,
            Self::EntitlementOverage(detail) => detail.time,
            Self::LicenseStatusChanged(detail) => detail.time,
            Self::LicenseExpiring(detail) => detail.time,
        }
    }

    /// The event back from its detail-type and `detail` (as [`detail`](Self::detail) wrote
    /// it): how an outbox intent keeps the events it is to send. Errs naming the detail-type
    /// and what is wrong with the detail.
    pub fn from_detail(detail_type: &str, detail: serde_json::Value) -> Result<Self, String> {
        fn read<T: serde::de::DeserializeOwned>(
            detail_type: &str,
            detail: serde_json::Value,
        ) -> Result<T, String> {
            serde_json::from_value(detail).map_err(|error| format!("{detail_type}: {error}"))
        }
        Ok(match detail_type {
            "Grant Accepted" => Self::GrantAccepted(read(detail_type, detail)?),
            "Grant Not Trusted" => Self::GrantNotTrusted(read(detail_type, detail)?),
            "Soft Limit Warning" => Self::SoftLimitWarning(read(detail_type, detail)?),
            "Soft Limit Exceeded" => Self::SoftLimitExceeded(read(detail_type, detail)?),
            "Soft Limit Recovered" => Self::SoftLimitRecovered(read(detail_type, detail)?),
            "Soft Limit Enforced" => Self::SoftLimitEnforced(read(detail_type, detail)?),
            "Soft Limit Enforcement Failed" => {
                Self::SoftLimitEnforcementFailed(read(detail_type, detail)?)
            }
            "Entitlement Overage" => Self::EntitlementOverage(read(detail_type, detail)?),
            "License Status Changed" => Self::LicenseStatusChanged(read(detail_type, detail)?),
            "License Expiring" => Self::LicenseExpiring(read(detail_type, detail)?),
            other => {
                return Err(format!(
                    "{other:?} is not one of the project's detail-types"
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::occurrence::CrossingFrom;
    use super::*;
    use serde_json::{Value, json};
    use time::macros::datetime;

    const GRANT: &str = "arn:aws:license-manager::111122223333:grant:g-1";
    const LICENSE: &str = "arn:aws:license-manager::111122223333:license:l-1";
    const CONFIGURATION: &str =
        "arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-1";
    const NOW: OffsetDateTime = datetime!(2026-11-22 10:00 UTC);

    fn subject() -> GrantSubject {
        GrantSubject {
            grant_arn: GRANT.into(),
            license_arn: LICENSE.into(),
            account: "123456789012".into(),
            granter_account: "111122223333".into(),
            key_fingerprint: "aws:111122223333:Acme:issuer-fingerprint".into(),
            issuer_name: "Acme".into(),
            product_sku: "acme-pro".into(),
        }
    }

    fn crossing(entitlement_name: Option<&str>) -> SoftLimitCrossing {
        SoftLimitCrossing {
            occurrence_id: "occurrence-1".into(),
            resource_arn: CONFIGURATION.into(),
            resource_kind: LimitedResource::LicenseConfiguration,
            entitlement_name: entitlement_name.map(Into::into),
            account: "123456789012".into(),
            count: 10,
            consumed: 9,
            percent: 90.0,
            warn_threshold_percent: 80,
            time: NOW,
        }
    }

    /// Every detail-type with its complete `detail`: the contract the README documents.
    fn examples() -> Vec<(ProjectEvent, Value)> {
        let grant = json!({
            "occurrenceId": "occurrence-1", "grantArn": GRANT, "licenseArn": LICENSE, "account": "123456789012",
            "granterAccount": "111122223333",
            "keyFingerprint": "aws:111122223333:Acme:issuer-fingerprint",
            "issuerName": "Acme", "productSku": "acme-pro",
        });
        let with = |base: &Value, extra: Value| {
            let mut merged = base.clone();
            merged
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            merged
        };
        let crossing_detail = json!({
            "occurrenceId": "occurrence-1", "resourceArn": CONFIGURATION, "resourceKind": "licenseConfiguration",
            "account": "123456789012", "count": 10, "consumed": 9, "percent": 90.0,
            "warnThresholdPercent": 80, "time": "2026-11-22T10:00:00Z",
        });
        vec![
            (
                ProjectEvent::GrantAccepted(GrantAccepted {
                    occurrence_id: "occurrence-1".into(),
                    grant: subject(),
                    activated: true,
                    dry_run: false,
                    time: NOW,
                }),
                with(
                    &grant,
                    json!({"activated": true, "dryRun": false, "time": "2026-11-22T10:00:00Z"}),
                ),
            ),
            (
                ProjectEvent::GrantNotTrusted(GrantNotTrusted {
                    occurrence_id: "occurrence-1".into(),
                    grant: subject(),
                    outcome: UntrustedOutcome::Rejected,
                    reason: "no trust rule has keyFingerprint x".into(),
                    dry_run: true,
                    time: NOW,
                }),
                with(
                    &grant,
                    json!({"outcome": "rejected", "reason": "no trust rule has keyFingerprint x",
                           "dryRun": true, "time": "2026-11-22T10:00:00Z"}),
                ),
            ),
            (
                ProjectEvent::SoftLimitWarning(crossing(None)),
                crossing_detail.clone(),
            ),
            (
                ProjectEvent::SoftLimitExceeded(crossing(None)),
                crossing_detail.clone(),
            ),
            (
                ProjectEvent::SoftLimitRecovered(SoftLimitCrossing {
                    resource_kind: LimitedResource::Entitlement,
                    ..crossing(Some("Users"))
                }),
                with(
                    &crossing_detail,
                    json!({"resourceKind": "entitlement", "entitlementName": "Users"}),
                ),
            ),
            (
                ProjectEvent::SoftLimitEnforced(SoftLimitEnforced {
                    occurrence_id: "occurrence-1".into(),
                    license_configuration_arn: CONFIGURATION.into(),
                    account: "123456789012".into(),
                    count: 10,
                    consumed: 12,
                    percent: 120.0,
                    dry_run: false,
                    time: NOW,
                }),
                json!({
                    "occurrenceId": "occurrence-1", "licenseConfigurationArn": CONFIGURATION, "account": "123456789012",
                    "count": 10, "consumed": 12, "percent": 120.0, "dryRun": false,
                    "time": "2026-11-22T10:00:00Z",
                }),
            ),
            (
                ProjectEvent::SoftLimitEnforcementFailed(SoftLimitEnforcementFailed {
                    occurrence_id: "occurrence-1".into(),
                    license_configuration_arn: CONFIGURATION.into(),
                    account: "123456789012".into(),
                    count: 10,
                    consumed: 12,
                    percent: 120.0,
                    error_code: "AccessDeniedException".into(),
                    error_message: "denied by an SCP".into(),
                    time: NOW,
                }),
                json!({
                    "occurrenceId": "occurrence-1", "licenseConfigurationArn": CONFIGURATION, "account": "123456789012",
                    "count": 10, "consumed": 12, "percent": 120.0,
                    "errorCode": "AccessDeniedException", "errorMessage": "denied by an SCP",
                    "time": "2026-11-22T10:00:00Z",
                }),
            ),
            (
                ProjectEvent::EntitlementOverage(EntitlementOverage {
                    occurrence_id: "occurrence-1".into(),
                    license_arn: LICENSE.into(),
                    entitlement_name: "Users".into(),
                    unit: "Count".into(),
                    account: "123456789012".into(),
                    max_count: 25,
                    consumed: 26,
                    time: NOW,
                }),
                json!({
                    "occurrenceId": "occurrence-1", "licenseArn": LICENSE, "entitlementName": "Users", "unit": "Count",
                    "account": "123456789012", "maxCount": 25, "consumed": 26,
                    "time": "2026-11-22T10:00:00Z",
                }),
            ),
            (
                ProjectEvent::LicenseStatusChanged(LicenseStatusChanged {
                    occurrence_id: "occurrence-1".into(),
                    license_arn: LICENSE.into(),
                    account: "123456789012".into(),
                    previous_status: None,
                    status: "DEACTIVATED".into(),
                    version: Some("3".into()),
                    time: NOW,
                }),
                json!({
                    "occurrenceId": "occurrence-1", "licenseArn": LICENSE, "account": "123456789012", "status": "DEACTIVATED",
                    "version": "3", "time": "2026-11-22T10:00:00Z",
                }),
            ),
            (
                ProjectEvent::LicenseExpiring(LicenseExpiring {
                    occurrence_id: "occurrence-1".into(),
                    license_arn: LICENSE.into(),
                    account: "123456789012".into(),
                    product_sku: "acme-pro".into(),
                    validity_end: datetime!(2026-12-01 00:00 UTC),
                    days_remaining: 8,
                    warning_days: 30,
                    time: NOW,
                }),
                json!({
                    "occurrenceId": "occurrence-1", "licenseArn": LICENSE, "account": "123456789012", "productSku": "acme-pro",
                    "validityEnd": "2026-12-01T00:00:00Z", "daysRemaining": 8,
                    "warningDays": 30, "time": "2026-11-22T10:00:00Z",
                }),
            ),
        ]
    }

    #[test]
    fn every_detail_type_has_the_documented_camel_case_fields() {
        let examples = examples();
        let types: Vec<&str> = examples
            .iter()
            .map(|(event, _)| event.detail_type())
            .collect();
        assert_eq!(
            types,
            [
                "Grant Accepted",
                "Grant Not Trusted",
                "Soft Limit Warning",
                "Soft Limit Exceeded",
                "Soft Limit Recovered",
                "Soft Limit Enforced",
                "Soft Limit Enforcement Failed",
                "Entitlement Overage",
                "License Status Changed",
                "License Expiring",
            ]
        );
        for (event, expected) in examples {
            assert_eq!(event.detail(), expected, "{}", event.detail_type());
            assert_eq!(event.time(), NOW);
        }
    }

    #[test]
    fn every_event_reads_back_from_its_detail_type_and_detail() {
        for (event, _) in examples() {
            assert_eq!(
                ProjectEvent::from_detail(event.detail_type(), event.detail()),
                Ok(event.clone()),
                "{}",
                event.detail_type()
            );
        }
        let error =
            ProjectEvent::from_detail("Grant Accepted", json!({"grantArn": GRANT})).unwrap_err();
        assert!(
            error.starts_with("Grant Accepted: missing field"),
            "{error}"
        );
        assert!(ProjectEvent::from_detail("Grant Gone", json!({})).is_err());
    }

    #[test]
    fn resources_name_what_the_event_is_about() {
        for (event, detail) in examples() {
            let resources = event.resources();
            assert!(!resources.is_empty());
            for arn in &resources {
                assert!(
                    detail.as_object().unwrap().values().any(|v| v == arn),
                    "{}: {arn} is not in the detail",
                    event.detail_type()
                );
            }
        }
    }

    #[test]
    fn every_event_carries_a_non_empty_occurrence_id() {
        for (event, _) in examples() {
            let id = &event.detail()["occurrenceId"];
            assert!(
                id.as_str().is_some_and(|id| !id.is_empty()),
                "{}: {id}",
                event.detail_type()
            );
        }
    }

    #[test]
    fn a_redelivered_occurrence_has_the_same_id_and_the_next_one_another() {
        // A grant decision: the same grant, version and decision is one occurrence.
        let accepted = occurrence::grant_decision(GRANT, "1", "accepted", false);
        assert_eq!(
            accepted,
            occurrence::grant_decision(GRANT, "1", "accepted", false)
        );
        assert_ne!(
            accepted,
            occurrence::grant_decision(GRANT, "1", "rejected", false)
        );
        assert_ne!(
            accepted,
            occurrence::grant_decision(GRANT, "2", "accepted", false)
        );
        assert_ne!(
            accepted,
            occurrence::grant_decision(GRANT, "1", "accepted", true)
        );

        // A crossing: a retry reads the same prior record (level and when it was written)
        // and gets the same id, however much later it runs; the next crossing to the same
        // level starts from the record the first one wrote.
        let from = |state, updated_at| CrossingFrom::Recorded { state, updated_at };
        let before = datetime!(2026-11-22 09:00 UTC);
        let exceeded = occurrence::crossing(CONFIGURATION, from("warning", before), "exceeded");
        assert_eq!(
            exceeded,
            occurrence::crossing(CONFIGURATION, from("warning", before), "exceeded")
        );
        for other in [
            occurrence::crossing(CONFIGURATION, from("warning", NOW), "exceeded"),
            occurrence::crossing(CONFIGURATION, from("ok", before), "exceeded"),
            occurrence::crossing(CONFIGURATION, from("warning", before), "ok"),
            occurrence::crossing(LICENSE, from("warning", before), "exceeded"),
            occurrence::enforcement(&exceeded),
            occurrence::enforcement_failed(&exceeded),
        ] {
            assert_ne!(exceeded, other);
        }
        // Without a record the first crossing is one occurrence however often it is retried.
        assert_eq!(
            occurrence::crossing(CONFIGURATION, CrossingFrom::Absent, "warning"),
            occurrence::crossing(CONFIGURATION, CrossingFrom::Absent, "warning")
        );
        let unread = |observed| CrossingFrom::Unreadable { observed };
        assert_ne!(
            occurrence::crossing(CONFIGURATION, unread(before), "warning"),
            occurrence::crossing(CONFIGURATION, unread(NOW), "warning")
        );

        // License events: per version (and status).
        let status = occurrence::license_status(LICENSE, "3", "DEACTIVATED");
        assert_eq!(
            status,
            occurrence::license_status(LICENSE, "3", "DEACTIVATED")
        );
        assert_ne!(
            status,
            occurrence::license_status(LICENSE, "4", "DEACTIVATED")
        );
        assert_ne!(status, occurrence::license_status(LICENSE, "3", "EXPIRED"));
        assert_ne!(
            occurrence::license_expiring(LICENSE, "3"),
            occurrence::license_expiring(LICENSE, "4")
        );
    }

    #[test]
    fn times_are_written_in_utc() {
        let event = ProjectEvent::LicenseExpiring(LicenseExpiring {
            occurrence_id: "occurrence-1".into(),
            license_arn: LICENSE.into(),
            account: "123456789012".into(),
            product_sku: "acme-pro".into(),
            validity_end: datetime!(2026-12-01 02:00 +02:00),
            days_remaining: 8,
            warning_days: 30,
            time: datetime!(2026-11-22 12:00 +02:00),
        });
        let detail = event.detail();
        assert_eq!(detail["validityEnd"], "2026-12-01T00:00:00Z");
        assert_eq!(detail["time"], "2026-11-22T10:00:00Z");
    }
}
