//! Events out: the project's own events (DESIGN §4.2) and the publisher that puts them on the
//! project's bus.
//!
//! Each detail-type has a typed detail struct, serialised as camelCase JSON. The publisher
//! sends entries in batches within PutEvents' limits (ten entries, 256 KiB), retries only the
//! entries EventBridge reports as failed, with jittered exponential backoff, and returns an
//! error naming every entry that still failed, so the invocation fails and Lambda's retry and
//! dead-letter queue keep the event. Delivery is at least once: an entry whose fate is unknown
//! (a timeout the SDK retried, a missing result) may arrive twice, never zero times.

use std::time::Duration;

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde::Serialize;
use time::OffsetDateTime;

use crate::config::CommonConfig;

/// PutEvents accepts at most this many entries per call.
pub const MAX_ENTRIES_PER_CALL: usize = 10;
/// EventBridge's limit on the size of one entry, in bytes.
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;
/// EventBridge's limit on the summed size of the entries of one PutEvents call, in bytes.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// Serialises a time as RFC 3339 in UTC (`...Z`), whatever offset it carries.
fn rfc3339_utc<S: serde::Serializer>(
    at: &OffsetDateTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    time::serde::rfc3339::serialize(&at.to_offset(time::UtcOffset::UTC), serializer)
}

/// Which kind of resource a soft-limit alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LimitedResource {
    /// A self-managed license configuration with a soft limit.
    LicenseConfiguration,
    /// A managed entitlement that allows overage.
    Entitlement,
}

/// The grant a grant-acceptor decision is about, as both grant events carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantAccepted {
    /// The grant and its license.
    #[serde(flatten)]
    pub grant: GrantSubject,
    /// Whether the grant was also activated.
    pub activated: bool,
    /// Whether this was a dry run (nothing was changed).
    pub dry_run: bool,
    /// When the decision was made.
    #[serde(serialize_with = "rfc3339_utc")]
    pub time: OffsetDateTime,
}

/// What was done with a grant that matched no trust rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum UntrustedOutcome {
    /// Left pending.
    Ignored,
    /// Rejected with RejectGrant.
    Rejected,
}

/// `Grant Not Trusted`: a pending grant matched no trust rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantNotTrusted {
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
    #[serde(serialize_with = "rfc3339_utc")]
    pub time: OffsetDateTime,
}

/// `Soft Limit Warning` / `Exceeded` / `Recovered`: usage of a soft limit crossed a threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SoftLimitCrossing {
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
    #[serde(serialize_with = "rfc3339_utc")]
    pub time: OffsetDateTime,
}

/// `Soft Limit Enforced`: enforcement turned a breached soft limit hard.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SoftLimitEnforced {
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
    #[serde(serialize_with = "rfc3339_utc")]
    pub time: OffsetDateTime,
}

/// `Entitlement Overage`: managed entitlement consumption passed MaxCount.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntitlementOverage {
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
    #[serde(serialize_with = "rfc3339_utc")]
    pub time: OffsetDateTime,
}

/// `License Status Changed`: a license became deactivated, expired, deleted, ...
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseStatusChanged {
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
    #[serde(serialize_with = "rfc3339_utc")]
    pub time: OffsetDateTime,
}

/// `License Expiring`: a license's `Validity.End` is within the warning window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseExpiring {
    /// The license.
    pub license_arn: String,
    /// The account the license is used in.
    pub account: String,
    /// The license's product SKU.
    pub product_sku: String,
    /// The end of the license's validity.
    #[serde(serialize_with = "rfc3339_utc")]
    pub validity_end: OffsetDateTime,
    /// Whole days from `time` to `validity_end`.
    pub days_remaining: i64,
    /// The configured warning window, in days.
    pub warning_days: u32,
    /// When it was observed.
    #[serde(serialize_with = "rfc3339_utc")]
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
            Self::EntitlementOverage(detail) => detail.time,
            Self::LicenseStatusChanged(detail) => detail.time,
            Self::LicenseExpiring(detail) => detail.time,
        }
    }
}

/// An entry EventBridge did not take, after all retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedEntry {
    /// The event's detail-type.
    pub detail_type: &'static str,
    /// The ARNs the event was about.
    pub resources: Vec<String>,
    /// EventBridge's error code (or `TooLarge` / `CallFailed` from this publisher).
    pub error_code: String,
    /// EventBridge's message.
    pub error_message: String,
}

impl std::fmt::Display for FailedEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} [{}]: {}: {}",
            self.detail_type,
            self.resources.join(", "),
            self.error_code,
            self.error_message
        )
    }
}

/// Some events could not be published.
#[derive(Debug, thiserror::Error)]
#[error("{} of {total} events were not published to {bus}: {}", failed.len(), list(failed))]
pub struct PublishError {
    /// The bus.
    pub bus: String,
    /// How many events were to be published.
    pub total: usize,
    /// The entries that failed, with the reason.
    pub failed: Vec<FailedEntry>,
}

fn list(failed: &[FailedEntry]) -> String {
    failed
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// How the publisher retries entries that EventBridge reports as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many times an entry is sent at most (first try included).
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles each time.
    pub initial_backoff: Duration,
    /// The longest wait between two tries.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The longest wait before retry number `retry + 1`: doubling, capped.
    fn backoff(&self, retry: u32) -> Duration {
        self.initial_backoff
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max_backoff)
    }

    /// The actual wait: "full jitter", uniform up to [`Self::backoff`], so invocations that
    /// were throttled together do not retry together.
    pub fn jittered_backoff(&self, retry: u32) -> Duration {
        let cap = u64::try_from(self.backoff(retry).as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rand::random_range(0..=cap))
    }
}

/// EventBridge entry error codes that will not go away by retrying.
const PERMANENT_ERROR_CODES: &[&str] = &[
    "InvalidArgument",
    "MalformedDetail",
    "AccessDeniedException",
    "NotAuthorizedForSourceException",
    "NotAuthorizedForDetailTypeException",
];

/// Publishes [`ProjectEvent`]s to the project's bus.
#[derive(Debug, Clone)]
pub struct EventPublisher {
    client: Client,
    bus: String,
    source: String,
    retry: RetryPolicy,
}

impl EventPublisher {
    /// A publisher for `bus`, publishing as `source`.
    pub fn new(client: Client, bus: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
            source: source.into(),
            retry: RetryPolicy::default(),
        }
    }

    /// A publisher for the bus and source of `config`.
    pub fn from_config(client: Client, config: &CommonConfig) -> Self {
        Self::new(client, &config.event_bus_name, &config.event_source)
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Publishes `events`, retrying failed entries; errs naming every event not published.
    pub async fn publish(&self, events: &[ProjectEvent]) -> Result<(), PublishError> {
        let mut failed = Vec::new();
        let mut pending = Vec::with_capacity(events.len());
        let mut sizes = Vec::with_capacity(events.len());
        for event in events {
            let entry = self.entry(event);
            let size = entry_size(&entry);
            if size > MAX_ENTRY_BYTES {
                failed.push(failure(
                    event,
                    "TooLarge",
                    format!("entry is {size} bytes, EventBridge takes at most {MAX_ENTRY_BYTES}"),
                ));
            } else {
                pending.push((event, entry));
                sizes.push(size);
            }
        }
        for batch in batch_ranges(&sizes) {
            failed.extend(self.publish_batch(&pending[batch]).await);
        }
        if failed.is_empty() {
            Ok(())
        } else {
            for entry in &failed {
                tracing::error!(bus = %self.bus, failed = %entry, "event not published");
            }
            Err(PublishError {
                bus: self.bus.clone(),
                total: events.len(),
                failed,
            })
        }
    }

    /// Sends up to ten entries, retrying those that fail transiently; returns what still failed.
    async fn publish_batch(
        &self,
        batch: &[(&ProjectEvent, PutEventsRequestEntry)],
    ) -> Vec<FailedEntry> {
        let mut failed = Vec::new();
        // Indexes into `batch` still to be sent, with the last error each one got.
        let mut pending: Vec<(usize, String, String)> = (0..batch.len())
            .map(|index| (index, String::new(), String::new()))
            .collect();
        for attempt in 1..=self.retry.max_attempts.max(1) {
            if attempt > 1 {
                tokio::time::sleep(self.retry.jittered_backoff(attempt - 2)).await;
            }
            let entries = pending.iter().map(|(index, ..)| batch[*index].1.clone());
            let output = match self
                .client
                .put_events()
                .set_entries(Some(entries.collect()))
                .send()
                .await
            {
                Ok(output) => output,
                Err(error) => {
                    // The SDK has already retried throttling and transient faults of the call.
                    let message = DisplayErrorContext(&error).to_string();
                    failed.extend(pending.iter().map(|(index, ..)| {
                        failure(batch[*index].0, "CallFailed", message.clone())
                    }));
                    return failed;
                }
            };
            // PutEvents answers one result per request entry, in the same order.
            let results = output.entries();
            let mut retry = Vec::new();
            for (position, (index, ..)) in pending.into_iter().enumerate() {
                let event = batch[index].0;
                let Some(result) = results.get(position) else {
                    retry.push((
                        index,
                        "NoResult".to_owned(),
                        "PutEvents returned no result for the entry".to_owned(),
                    ));
                    continue;
                };
                let Some(code) = result.error_code() else {
                    continue; // published
                };
                let message = result.error_message().unwrap_or_default().to_owned();
                if PERMANENT_ERROR_CODES.contains(&code) {
                    failed.push(failure(event, code, message));
                } else {
                    tracing::warn!(
                        detail_type = event.detail_type(),
                        code,
                        message,
                        attempt,
                        "PutEvents entry failed; retrying"
                    );
                    retry.push((index, code.to_owned(), message));
                }
            }
            pending = retry;
            if pending.is_empty() {
                return failed;
            }
        }
        let attempts = self.retry.max_attempts.max(1);
        failed.extend(pending.into_iter().map(|(index, code, message)| {
            failure(
                batch[index].0,
                &code,
                format!("{message} (still failing after {attempts} attempts)"),
            )
        }));
        failed
    }

    fn entry(&self, event: &ProjectEvent) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(&self.source)
            .detail_type(event.detail_type())
            .detail(event.detail().to_string())
            .set_resources(Some(event.resources()))
            .time(DateTime::from_secs(event.time().unix_timestamp()))
            .build()
    }
}

fn failure(event: &ProjectEvent, code: &str, message: String) -> FailedEntry {
    FailedEntry {
        detail_type: event.detail_type(),
        resources: event.resources(),
        error_code: code.to_owned(),
        error_message: message,
    }
}

/// Splits entries of the given sizes into consecutive batches of at most
/// [`MAX_ENTRIES_PER_CALL`] entries and [`MAX_REQUEST_BYTES`] bytes (each entry is at most
/// [`MAX_ENTRY_BYTES`], so every batch holds at least one).
fn batch_ranges(sizes: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (index, size) in sizes.iter().enumerate() {
        if index > start
            && (index - start == MAX_ENTRIES_PER_CALL || bytes + size > MAX_REQUEST_BYTES)
        {
            batches.push(start..index);
            (start, bytes) = (index, 0);
        }
        bytes += size;
    }
    if start < sizes.len() {
        batches.push(start..sizes.len());
    }
    batches
}

/// The size EventBridge charges an entry, as its documentation computes it.
fn entry_size(entry: &PutEventsRequestEntry) -> usize {
    let text = |value: Option<&str>| value.map_or(0, str::len);
    14 + text(entry.source())
        + text(entry.detail_type())
        + text(entry.detail())
        + entry.resources().iter().map(String::len).sum::<usize>()
}

#[cfg(test)]
mod tests {
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
            "grantArn": GRANT, "licenseArn": LICENSE, "account": "123456789012",
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
            "resourceArn": CONFIGURATION, "resourceKind": "licenseConfiguration",
            "account": "123456789012", "count": 10, "consumed": 9, "percent": 90.0,
            "warnThresholdPercent": 80, "time": "2026-11-22T10:00:00Z",
        });
        vec![
            (
                ProjectEvent::GrantAccepted(GrantAccepted {
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
                    license_configuration_arn: CONFIGURATION.into(),
                    account: "123456789012".into(),
                    count: 10,
                    consumed: 12,
                    percent: 120.0,
                    dry_run: false,
                    time: NOW,
                }),
                json!({
                    "licenseConfigurationArn": CONFIGURATION, "account": "123456789012",
                    "count": 10, "consumed": 12, "percent": 120.0, "dryRun": false,
                    "time": "2026-11-22T10:00:00Z",
                }),
            ),
            (
                ProjectEvent::EntitlementOverage(EntitlementOverage {
                    license_arn: LICENSE.into(),
                    entitlement_name: "Users".into(),
                    unit: "Count".into(),
                    account: "123456789012".into(),
                    max_count: 25,
                    consumed: 26,
                    time: NOW,
                }),
                json!({
                    "licenseArn": LICENSE, "entitlementName": "Users", "unit": "Count",
                    "account": "123456789012", "maxCount": 25, "consumed": 26,
                    "time": "2026-11-22T10:00:00Z",
                }),
            ),
            (
                ProjectEvent::LicenseStatusChanged(LicenseStatusChanged {
                    license_arn: LICENSE.into(),
                    account: "123456789012".into(),
                    previous_status: None,
                    status: "DEACTIVATED".into(),
                    version: Some("3".into()),
                    time: NOW,
                }),
                json!({
                    "licenseArn": LICENSE, "account": "123456789012", "status": "DEACTIVATED",
                    "version": "3", "time": "2026-11-22T10:00:00Z",
                }),
            ),
            (
                ProjectEvent::LicenseExpiring(LicenseExpiring {
                    license_arn: LICENSE.into(),
                    account: "123456789012".into(),
                    product_sku: "acme-pro".into(),
                    validity_end: datetime!(2026-12-01 00:00 UTC),
                    days_remaining: 8,
                    warning_days: 30,
                    time: NOW,
                }),
                json!({
                    "licenseArn": LICENSE, "account": "123456789012", "productSku": "acme-pro",
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
    fn times_are_written_in_utc() {
        let event = ProjectEvent::LicenseExpiring(LicenseExpiring {
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

    #[test]
    fn batches_respect_both_the_entry_count_and_the_request_size() {
        assert!(batch_ranges(&[]).is_empty());
        assert_eq!(batch_ranges(&[100; 25]), [0..10, 10..20, 20..25]);
        let big = 150 * 1024;
        assert_eq!(batch_ranges(&[big, big, 100, big]), [0..1, 1..3, 3..4]);
        assert_eq!(batch_ranges(&[MAX_ENTRY_BYTES, 1]), [0..1, 1..2]);
    }

    #[test]
    fn jittered_backoff_never_exceeds_the_cap() {
        let policy = RetryPolicy::default();
        for retry in 0..8 {
            for _ in 0..50 {
                assert!(policy.jittered_backoff(retry) <= policy.backoff(retry));
            }
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(0), Duration::from_millis(100));
        assert_eq!(policy.backoff(1), Duration::from_millis(200));
        assert_eq!(policy.backoff(10), Duration::from_secs(2));
        assert_eq!(policy.backoff(u32::MAX), Duration::from_secs(2));
    }
}
