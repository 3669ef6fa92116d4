//! One license's check: read what License Manager says about it now, decide which typed events
//! are due (each once, through the state table), and report what was read for the audit line.

use aws_sdk_licensemanager::types::{EntitlementUsage, GrantedLicense, License, ReceivedStatus};
use license_automation::events_out::catalogue::{
    EntitlementOverage, LicenseExpiring, LicenseStatusChanged, ProjectEvent,
};
use license_automation::limits::{Level, Usage, overage_due};
use license_automation::state::{Remembered, StateError, StateKey, StateStore, WriteOutcome};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::license_manager::{FailureKind, LicenseManager, LicenseManagerError};

/// How long a "notified" record lives; a license still in the same state after this long is
/// reported again, as a reminder.
pub const NOTIFIED_RECORD_TTL: time::Duration = time::Duration::days(90);

/// Statuses in which a license cannot be used: `License Status Changed` is emitted for them.
pub const UNUSABLE_STATUSES: [&str; 5] = [
    "DEACTIVATED",
    "SUSPENDED",
    "EXPIRED",
    "PENDING_DELETE",
    "DELETED",
];

/// What is known about a license, from GetLicense, ListLicenses or ListReceivedLicenses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseFacts {
    /// The license.
    pub arn: String,
    /// Its status (`AVAILABLE`, `DEACTIVATED`, ...).
    pub status: String,
    /// Its version.
    pub version: String,
    /// Its product SKU.
    pub product_sku: String,
    /// `Validity.End` as License Manager gives it.
    pub validity_end: Option<String>,
    /// Its entitlements that allow overage, with their unit and MaxCount.
    pub overage_entitlements: Vec<(String, String, Option<i64>)>,
}

macro_rules! facts_from {
    ($license:expr) => {{
        let license = $license;
        LicenseFacts {
            arn: license.license_arn().unwrap_or_default().to_owned(),
            status: license
                .status()
                .map(|status| status.as_str().to_owned())
                .unwrap_or_default(),
            version: license.version().unwrap_or_default().to_owned(),
            product_sku: license.product_sku().unwrap_or_default().to_owned(),
            validity_end: license
                .validity()
                .and_then(|validity| validity.end())
                .map(str::to_owned),
            overage_entitlements: license
                .entitlements()
                .iter()
                .filter(|entitlement| entitlement.overage() == Some(true))
                .map(|entitlement| {
                    (
                        entitlement.name().to_owned(),
                        entitlement.unit().as_str().to_owned(),
                        entitlement.max_count(),
                    )
                })
                .collect(),
        }
    }};
}

impl From<&License> for LicenseFacts {
    fn from(license: &License) -> Self {
        facts_from!(license)
    }
}

impl From<&GrantedLicense> for LicenseFacts {
    fn from(license: &GrantedLicense) -> Self {
        facts_from!(license)
    }
}

/// One entitlement's usage as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntitlementReport {
    /// The entitlement.
    pub name: String,
    /// What is consumed.
    pub consumed: String,
    /// Its MaxCount, when it has one.
    pub max_count: Option<String>,
}

/// What was read about one license and what it led to: a member of the audit line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseReport {
    /// The license.
    pub license_arn: String,
    /// Whether License Manager still knows it (false: deleted or never visible here).
    pub resolved: bool,
    /// Its status now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The status last recorded in the state table, when it differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<String>,
    /// Its version now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Its `Validity.End`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validity_end: Option<String>,
    /// Entitlement usage (consumption events).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub usage: Vec<EntitlementReport>,
    /// Tokens of this account for the license (token events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<usize>,
    /// The typed events this check emitted.
    pub emitted: Vec<&'static str>,
    /// Why it could not be resolved, or what was odd about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How to take back a state write whose event could not be published, so a retry emits it.
#[derive(Debug, Clone)]
pub enum Undo {
    /// Delete a "notified" record.
    Forget(StateKey),
    /// Put an alert record back to `state` (`None`: delete it).
    Restore {
        /// The record.
        key: StateKey,
        /// What it held before.
        state: Option<String>,
    },
}

impl Undo {
    /// Takes the write back; a failure is logged (the event is then not sent again).
    pub async fn apply(&self, state: &StateStore) {
        let result = match self {
            Self::Forget(key)
            | Self::Restore {
                key, state: None, ..
            } => state.forget(key).await,
            Self::Restore {
                key,
                state: Some(previous),
            } => state
                .put_if(key, Some(Level::Exceeded.as_str()), previous, None)
                .await
                .map(|_| ()),
        };
        if let Err(error) = result {
            tracing::warn!(error = %error, "state table: could not take back a record of an unpublished event");
        }
    }
}

/// An event due, with how to take back its state record.
#[derive(Debug, Clone)]
pub struct Notification {
    /// `None` when the state table was unavailable (the event goes out anyway).
    pub undo: Option<Undo>,
    /// The event.
    pub event: ProjectEvent,
}

/// What the checks of one invocation share.
#[derive(Debug)]
pub struct Watch<'a> {
    /// License Manager.
    pub license_manager: &'a LicenseManager,
    /// The state table.
    pub state: &'a StateStore,
    /// The account the function runs in (from the event).
    pub account: &'a str,
    /// `EXPIRY_WARNING_DAYS`.
    pub warning_days: u32,
    /// The time of the check.
    pub now: OffsetDateTime,
}

/// What one license's check needs to read besides the license.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reads {
    /// GetLicenseUsage (consumption changes).
    pub usage: bool,
    /// ListTokens (token changes).
    pub tokens: bool,
}

impl Watch<'_> {
    /// Checks license `arn`: GetLicense and what `reads` asks for. A license License Manager
    /// no longer knows is reported unresolved, not failed; only transient failures are errors.
    pub async fn check_arn(
        &self,
        arn: &str,
        reads: Reads,
    ) -> Result<(LicenseReport, Vec<Notification>), LicenseManagerError> {
        let license = match self.license_manager.get_license(arn, None).await {
            Ok(license) => license,
            Err(error) if error.kind == FailureKind::Permanent => {
                return Ok((unresolved(arn, &error), Vec::new()));
            }
            Err(error) => return Err(error),
        };
        let facts = LicenseFacts::from(&license);
        let mut report = LicenseReport::default();
        // Another account's license concerns this one only once its grant here is active
        // (License Manager also tells grantees of pending grants about it).
        if arn_account(arn) != Some(self.account) {
            match self.license_manager.received_status(arn).await {
                Ok(Some(received)) if received != ReceivedStatus::Active => {
                    report.license_arn = arn.to_owned();
                    report.resolved = true;
                    report.status = Some(facts.status);
                    report.version = Some(facts.version);
                    report.note = Some(format!(
                        "received with a {received} grant: not in use here, not checked"
                    ));
                    return Ok((report, Vec::new()));
                }
                Ok(_) => {}
                Err(error) if error.kind == FailureKind::Permanent => {}
                Err(error) => return Err(error),
            }
        }
        let mut usage = Vec::new();
        // A read refused for good (the license went away meanwhile) is noted, not retried.
        if reads.usage {
            match self.license_manager.get_license_usage(arn).await {
                Ok(read) => usage = read,
                Err(error) if error.kind == FailureKind::Permanent => {
                    report.note = Some(error.message);
                }
                Err(error) => return Err(error),
            }
        }
        if reads.tokens {
            match self.license_manager.count_tokens(arn).await {
                Ok(count) => report.tokens = Some(count),
                Err(error) if error.kind == FailureKind::Permanent => {
                    report.note = Some(error.message);
                }
                Err(error) => return Err(error),
            }
        }
        let notifications = self.check(&facts, &usage, &mut report).await;
        Ok((report, notifications))
    }

    /// Decides the events due for `facts` (and `usage`, when read), filling in `report`.
    pub async fn check(
        &self,
        facts: &LicenseFacts,
        usage: &[EntitlementUsage],
        report: &mut LicenseReport,
    ) -> Vec<Notification> {
        report.license_arn.clone_from(&facts.arn);
        report.resolved = true;
        report.status = Some(facts.status.clone());
        report.version = Some(facts.version.clone());
        report.validity_end.clone_from(&facts.validity_end);
        let mut out = Vec::new();
        out.extend(self.status(facts, report).await);
        out.extend(self.expiry(facts, report).await);
        for entitlement in usage {
            out.extend(self.overage(facts, entitlement, report).await);
        }
        report.emitted = out.iter().map(|n| n.event.detail_type()).collect();
        out
    }

    /// `License Status Changed` once per license version and unusable status; the status is
    /// recorded so that the next change can name the one before.
    async fn status(
        &self,
        facts: &LicenseFacts,
        report: &mut LicenseReport,
    ) -> Option<Notification> {
        let status_key = StateKey::Alert {
            resource: format!("{}#status", facts.arn),
        };
        let recorded = match self.state.get(&status_key).await {
            Ok(record) => record.map(|record| record.state),
            Err(error) => {
                warn_state(&error);
                None
            }
        };
        let mut previous = recorded.clone().filter(|status| *status != facts.status);
        if recorded.as_deref() != Some(facts.status.as_str()) {
            // A lost race means another invocation recorded a newer status: nothing to do.
            if let Err(error) = self
                .state
                .put_if(&status_key, recorded.as_deref(), &facts.status, None)
                .await
            {
                warn_state(&error);
            }
        }
        report.previous_status.clone_from(&previous);
        if !UNUSABLE_STATUSES.contains(&facts.status.as_str()) {
            return None;
        }
        let key = StateKey::Notified {
            arn: facts.arn.clone(),
            version: format!("{}#status#{}", facts.version, facts.status),
        };
        let undo = self.remember(key).await?;
        if previous.is_none() {
            previous = self.status_of_previous_version(facts).await;
        }
        Some(Notification {
            undo,
            event: ProjectEvent::LicenseStatusChanged(LicenseStatusChanged {
                license_arn: facts.arn.clone(),
                account: self.account.to_owned(),
                previous_status: previous,
                status: facts.status.clone(),
                version: Some(facts.version.clone()).filter(|v| !v.is_empty()),
                time: self.now,
            }),
        })
    }

    /// The status of the license's version before this one, when it differs (a new version
    /// made the change); `None` when there is none or it cannot be read.
    async fn status_of_previous_version(&self, facts: &LicenseFacts) -> Option<String> {
        let version: u64 = facts.version.parse().ok()?;
        let earlier = version.checked_sub(1).filter(|v| *v >= 1)?;
        let license = self
            .license_manager
            .get_license(&facts.arn, Some(&earlier.to_string()))
            .await
            .inspect_err(
                |error| tracing::warn!(error = %error, "previous license version unreadable"),
            )
            .ok()?;
        let status = license.status()?.as_str().to_owned();
        (status != facts.status).then_some(status)
    }

    /// `License Expiring` once per license version when `Validity.End` is within the window.
    async fn expiry(
        &self,
        facts: &LicenseFacts,
        report: &mut LicenseReport,
    ) -> Option<Notification> {
        if UNUSABLE_STATUSES.contains(&facts.status.as_str()) {
            return None;
        }
        let end_text = facts.validity_end.as_deref()?;
        let Ok(end) = OffsetDateTime::parse(end_text, &Rfc3339) else {
            report.note = Some(format!("Validity.End {end_text:?} is not an ISO 8601 time"));
            return None;
        };
        let remaining = end - self.now;
        if !expiring_within(end, self.now, self.warning_days) {
            return None;
        }
        let key = StateKey::Notified {
            arn: facts.arn.clone(),
            version: format!("{}#expiring", facts.version),
        };
        let undo = self.remember(key).await?;
        Some(Notification {
            undo,
            event: ProjectEvent::LicenseExpiring(LicenseExpiring {
                license_arn: facts.arn.clone(),
                account: self.account.to_owned(),
                product_sku: facts.product_sku.clone(),
                validity_end: end,
                days_remaining: remaining.whole_days(),
                warning_days: self.warning_days,
                time: self.now,
            }),
        })
    }

    /// `Entitlement Overage` when an overage-allowed entitlement passed MaxCount since it was
    /// last seen (the rule and the record shared with soft-limit-monitor).
    async fn overage(
        &self,
        facts: &LicenseFacts,
        usage: &EntitlementUsage,
        report: &mut LicenseReport,
    ) -> Option<Notification> {
        report.usage.push(EntitlementReport {
            name: usage.name().to_owned(),
            consumed: usage.consumed_value().to_owned(),
            max_count: usage.max_count().map(str::to_owned),
        });
        let (name, unit, max_count) = facts
            .overage_entitlements
            .iter()
            .find(|(name, _, _)| name == usage.name())?;
        let count = usage
            .max_count()
            .and_then(|count| count.parse().ok())
            .or(*max_count)?;
        let Ok(consumed) = usage.consumed_value().parse::<i64>() else {
            report.note = Some(format!(
                "entitlement {name}: consumed value {:?} is not a whole number",
                usage.consumed_value()
            ));
            return None;
        };
        let usage = Usage { consumed, count };
        let key = StateKey::Alert {
            resource: format!("{}#{name}", facts.arn),
        };
        let (recorded, readable) = match self.state.get(&key).await {
            Ok(record) => (record.map(|record| record.state), true),
            Err(error) => {
                warn_state(&error);
                (None, false)
            }
        };
        let previously_over = match recorded.as_deref().map(str::parse::<Level>) {
            Some(Ok(level)) => Some(level == Level::Exceeded),
            Some(Err(_)) => None,
            None if readable => Some(false),
            None => None,
        };
        if !overage_due(previously_over, usage) {
            return None;
        }
        let undo = match self
            .state
            .put_if(&key, recorded.as_deref(), Level::Exceeded.as_str(), None)
            .await
        {
            Ok(WriteOutcome::Written) => Some(Undo::Restore {
                key,
                state: recorded,
            }),
            // Another invocation (or soft-limit-monitor) recorded it first and alerts.
            Ok(WriteOutcome::LostRace) => return None,
            Err(error) => {
                warn_state(&error);
                None
            }
        };
        Some(Notification {
            undo,
            event: ProjectEvent::EntitlementOverage(EntitlementOverage {
                license_arn: facts.arn.clone(),
                entitlement_name: name.clone(),
                unit: unit.clone(),
                account: self.account.to_owned(),
                max_count: count,
                consumed,
                time: self.now,
            }),
        })
    }

    /// Records `key` once: `None` when it was recorded before (nothing to emit),
    /// `Some(undo)` when this is the first time, `Some(None)` when the table failed (emit
    /// anyway: one repeated event rather than silence).
    async fn remember(&self, key: StateKey) -> Option<Option<Undo>> {
        match self
            .state
            .remember_once(&key, self.now + NOTIFIED_RECORD_TTL)
            .await
        {
            Ok(Remembered::AlreadySeen) => None,
            Ok(Remembered::First) => Some(Some(Undo::Forget(key))),
            Err(error) => {
                warn_state(&error);
                Some(None)
            }
        }
    }
}

/// Whether a license valid until `end` is, at `now`, still valid and within `warning_days` of
/// its end.
pub fn expiring_within(end: OffsetDateTime, now: OffsetDateTime, warning_days: u32) -> bool {
    let remaining = end - now;
    remaining > time::Duration::ZERO && remaining <= time::Duration::days(i64::from(warning_days))
}

/// The report of a license License Manager does not know (any more).
pub fn unresolved(arn: &str, error: &LicenseManagerError) -> LicenseReport {
    LicenseReport {
        license_arn: arn.to_owned(),
        resolved: false,
        note: Some(error.message.clone()),
        ..LicenseReport::default()
    }
}

/// The account of an ARN (`arn:partition:service:region:account:resource`), if any.
pub fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|account| !account.is_empty())
}

fn warn_state(error: &StateError) {
    tracing::warn!(error = %error, "state table unavailable; an event may be sent again");
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_license_is_expiring_from_the_window_start_until_its_end() {
        let now = datetime!(2026-11-23 12:00 UTC);
        let cases = [
            (datetime!(2026-12-23 12:00 UTC), true, "exactly 30 days"),
            (datetime!(2026-12-23 12:00:01 UTC), false, "just outside"),
            (datetime!(2026-11-23 12:00:01 UTC), true, "a second left"),
            (now, false, "ended now"),
            (datetime!(2026-11-01 00:00 UTC), false, "ended before"),
        ];
        for (end, expected, case) in cases {
            assert_eq!(expiring_within(end, now, 30), expected, "{case}");
        }
    }

    #[test]
    fn facts_keep_only_entitlements_that_allow_overage() {
        use aws_sdk_licensemanager::types::{DatetimeRange, Entitlement, EntitlementUnit};
        let license = License::builder()
            .license_arn("arn:aws:license-manager::111122223333:license:l-1")
            .status(aws_sdk_licensemanager::types::LicenseStatus::Available)
            .version("3")
            .product_sku("acme-pro")
            .validity(
                DatetimeRange::builder()
                    .begin("2026-01-01T00:00:00Z")
                    .end("2027-01-01T00:00:00Z")
                    .build()
                    .unwrap(),
            )
            .entitlements(
                Entitlement::builder()
                    .name("Users")
                    .unit(EntitlementUnit::Count)
                    .max_count(10)
                    .overage(true)
                    .build()
                    .unwrap(),
            )
            .entitlements(
                Entitlement::builder()
                    .name("Cores")
                    .unit(EntitlementUnit::Count)
                    .max_count(4)
                    .build()
                    .unwrap(),
            )
            .build();
        let facts = LicenseFacts::from(&license);
        assert_eq!(facts.status, "AVAILABLE");
        assert_eq!(facts.version, "3");
        assert_eq!(facts.validity_end.as_deref(), Some("2027-01-01T00:00:00Z"));
        assert_eq!(
            facts.overage_entitlements,
            vec![("Users".to_owned(), "Count".to_owned(), Some(10))]
        );
    }
}
