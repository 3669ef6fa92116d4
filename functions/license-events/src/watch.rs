//! One license's check: read what License Manager says about it now, assess which typed
//! events are due ([`crate::decide`]), record each as an outbox intent on its once-record
//! ([`license_automation::outbox`]), and report what was read for the audit line. The
//! handler delivers the claims in batches.

use aws_sdk_licensemanager::types::EntitlementUsage;
use license_automation::arn;
use license_automation::attention::Attention;
use license_automation::events_out::catalogue::occurrence::{self, CrossingFrom};
use license_automation::events_out::catalogue::{
    EntitlementOverage, LicenseExpiring, LicenseStatusChanged, ProjectEvent,
};
use license_automation::limits::{Level, overage_due};
use license_automation::outbox::{self, Claim, Intent, Outbox, Recorded};
use license_automation::ports::{EventSink, StateTable};
use license_automation::state::{StateError, StateKey};
use serde::Serialize;
use time::OffsetDateTime;

use crate::decide::{self, Expiring, LicenseFacts, MeteredEntitlement};
use crate::license_manager::{FailureKind, LicenseManagerError};
use crate::ports::LicenseCalls;

/// How long a "notified" record lives; a license still in the same state after this long is
/// reported again, as a reminder.
pub const NOTIFIED_RECORD_TTL: time::Duration = time::Duration::days(90);

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

/// What the checks of one invocation share: License Manager (`L`), the state table (`S`),
/// the outbox (to the bus, `P`), the account and the time.
#[derive(Debug)]
pub struct LicenseChecker<'a, L, S, P> {
    /// License Manager.
    pub license_manager: &'a L,
    /// The state table.
    pub state: &'a S,
    /// The outbox the events are recorded in.
    pub outbox: Outbox<'a, S, P>,
    /// Records holding another invocation's intent (retried after it): their keys.
    pub busy: std::sync::Mutex<Vec<String>>,
    /// The account the function runs in (from the event).
    pub account: &'a str,
    /// `EXPIRY_WARNING_DAYS`.
    pub warning_days: u32,
    /// The time of the check.
    pub now: OffsetDateTime,
    /// State-table errors that need a person (the checks went on without the table).
    pub attention: Attention,
}

/// What one license's check needs to read besides the license.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reads {
    /// GetLicenseUsage (consumption changes).
    pub usage: bool,
    /// ListTokens (token changes).
    pub tokens: bool,
}

impl<L: LicenseCalls, S: StateTable, P: EventSink> LicenseChecker<'_, L, S, P> {
    /// Logs a state-table error; notes it when it needs a person.
    fn state_failed(&self, error: &StateError) {
        warn_state(error);
        if error.needs_attention() {
            self.attention.note(error);
        }
    }

    /// Checks license `arn`: GetLicense and what `reads` asks for. A license License Manager
    /// no longer knows is reported unresolved, not failed; only transient failures and those
    /// that need a person (AccessDenied) are errors.
    pub async fn check_arn(
        &self,
        arn: &str,
        reads: Reads,
    ) -> Result<(LicenseReport, Vec<Claim>), LicenseManagerError> {
        let license = match self.license_manager.get_license(arn, None).await {
            Ok(license) => license,
            Err(error) if error.kind == FailureKind::Permanent && !error.needs_attention() => {
                return Ok((unresolved(arn, &error), Vec::new()));
            }
            Err(error) => return Err(error),
        };
        let facts = LicenseFacts::from(&license);
        let mut report = LicenseReport::default();
        // Another account's license concerns this one only once its grant here is active
        // (License Manager also tells grantees of pending grants about it).
        if arn::account_id(arn) != Some(self.account) {
            match self.license_manager.received_status(arn).await {
                Ok(Some(received)) if !decide::in_use_here(Some(&received)) => {
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
                Err(error) if error.kind == FailureKind::Permanent && !error.needs_attention() => {}
                Err(error) => return Err(error),
            }
        }
        let mut usage = Vec::new();
        // A read refused for good (the license went away meanwhile) is noted, not retried.
        if reads.usage {
            match self.license_manager.get_license_usage(arn).await {
                Ok(read) => usage = read,
                Err(error) if error.kind == FailureKind::Permanent && !error.needs_attention() => {
                    report.note = Some(error.message);
                }
                Err(error) => return Err(error),
            }
        }
        if reads.tokens {
            match self.license_manager.count_tokens(arn).await {
                Ok(count) => report.tokens = Some(count),
                Err(error) if error.kind == FailureKind::Permanent && !error.needs_attention() => {
                    report.note = Some(error.message);
                }
                Err(error) => return Err(error),
            }
        }
        let due = self.check(&facts, &usage, &mut report).await;
        Ok((report, due))
    }

    /// Records what [`decide::assess`] finds due for `facts` (and `usage`, when read) once,
    /// filling in `report`; the claims to deliver.
    pub async fn check(
        &self,
        facts: &LicenseFacts,
        usage: &[EntitlementUsage],
        report: &mut LicenseReport,
    ) -> Vec<Claim> {
        report.license_arn.clone_from(&facts.arn);
        report.resolved = true;
        report.status = Some(facts.status.clone());
        report.version = Some(facts.version.clone());
        report.validity_end.clone_from(&facts.validity_end);
        report.usage = usage
            .iter()
            .map(|usage| EntitlementReport {
                name: usage.name().to_owned(),
                consumed: usage.consumed_value().to_owned(),
                max_count: usage.max_count().map(str::to_owned),
            })
            .collect();
        let assessment = decide::assess(facts, usage, self.now, self.warning_days);
        let mut out = Vec::new();
        out.extend(self.status(facts, assessment.status_change, report).await);
        if let Some(expiring) = assessment.expiring {
            out.extend(self.expiring(facts, expiring).await);
        }
        for metered in assessment.metered {
            out.extend(self.overage(facts, metered).await);
        }
        if assessment.note.is_some() {
            report.note = assessment.note;
        }
        report.emitted = out
            .iter()
            .flat_map(|claim| claim.intent.events.iter().map(ProjectEvent::detail_type))
            .collect();
        out
    }

    /// Records the status (so that the next change can name the one before) and, when
    /// `due`, `License Status Changed` once per license version and status.
    async fn status(
        &self,
        facts: &LicenseFacts,
        due: bool,
        report: &mut LicenseReport,
    ) -> Option<Claim> {
        let status_key = StateKey::Alert {
            resource: format!("{}#status", facts.arn),
        };
        let recorded = match self.state.get(&status_key).await {
            Ok(record) => record.map(|record| record.state),
            Err(error) => {
                self.state_failed(&error);
                None
            }
        };
        let mut previous = decide::previous_status(recorded.as_deref(), &facts.status);
        if recorded.as_deref() != Some(facts.status.as_str()) {
            // A lost race means another invocation recorded a newer status: nothing to do.
            if let Err(error) = self
                .state
                .put_if(&status_key, recorded.as_deref(), &facts.status, None)
                .await
            {
                self.state_failed(&error);
            }
        }
        report.previous_status.clone_from(&previous);
        if !due {
            return None;
        }
        let key = StateKey::Notified {
            arn: facts.arn.clone(),
            version: format!("{}#status#{}", facts.version, facts.status),
        };
        if previous.is_none() {
            previous = self.status_of_previous_version(facts).await;
        }
        self.once(
            key,
            ProjectEvent::LicenseStatusChanged(LicenseStatusChanged {
                occurrence_id: occurrence::license_status(
                    &facts.arn,
                    &facts.version,
                    &facts.status,
                ),
                license_arn: facts.arn.clone(),
                account: self.account.to_owned(),
                previous_status: previous,
                status: facts.status.clone(),
                version: Some(facts.version.clone()).filter(|v| !v.is_empty()),
                time: self.now,
            }),
        )
        .await
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

    /// `License Expiring` once per license version.
    async fn expiring(&self, facts: &LicenseFacts, expiring: Expiring) -> Option<Claim> {
        let key = StateKey::Notified {
            arn: facts.arn.clone(),
            version: format!("{}#expiring", facts.version),
        };
        self.once(
            key,
            ProjectEvent::LicenseExpiring(LicenseExpiring {
                occurrence_id: occurrence::license_expiring(&facts.arn, &facts.version),
                license_arn: facts.arn.clone(),
                account: self.account.to_owned(),
                product_sku: facts.product_sku.clone(),
                validity_end: expiring.end,
                days_remaining: expiring.days_remaining,
                warning_days: self.warning_days,
                time: self.now,
            }),
        )
        .await
    }

    /// `Entitlement Overage` when an overage-allowed entitlement passed MaxCount since it was
    /// last seen (the rule and the record shared with soft-limit-monitor).
    async fn overage(&self, facts: &LicenseFacts, metered: MeteredEntitlement) -> Option<Claim> {
        let MeteredEntitlement { name, unit, usage } = metered;
        let key = StateKey::Alert {
            resource: format!("{}#{name}", facts.arn),
        };
        let (record, readable) = match self.state.get(&key).await {
            Ok(record) => (record, true),
            Err(error) => {
                self.state_failed(&error);
                (None, false)
            }
        };
        let from = match &record {
            Some(record) => CrossingFrom::Recorded {
                state: &record.state,
                updated_at: record.updated_at,
            },
            None if readable => CrossingFrom::Absent,
            None => CrossingFrom::Unreadable { observed: self.now },
        };
        let resource = format!("{}#{name}", facts.arn);
        let occurrence_id = occurrence::crossing(&resource, from, Level::Exceeded.as_str());
        let recorded = record.map(|record| record.state);
        let previously_over = decide::previously_over(recorded.as_deref(), readable);
        if !overage_due(previously_over, usage) {
            return None;
        }
        let intent = Intent {
            key,
            effect: None,
            events: vec![ProjectEvent::EntitlementOverage(EntitlementOverage {
                occurrence_id,
                license_arn: facts.arn.clone(),
                entitlement_name: name,
                unit,
                account: self.account.to_owned(),
                max_count: usage.count,
                consumed: usage.consumed,
                time: self.now,
            })],
            sent_for: None,
        };
        if !readable {
            return Some(Outbox::<S, P>::unrecorded(intent));
        }
        // Another invocation (or soft-limit-monitor) that records it first alerts.
        self.claim(intent, recorded.as_deref(), Level::Exceeded.as_str())
            .await
    }

    /// Records `event` once on the "notified" record `key` (for [`NOTIFIED_RECORD_TTL`] once
    /// sent): the claim, or `None` when it was recorded before.
    async fn once(&self, key: StateKey, event: ProjectEvent) -> Option<Claim> {
        let intent = Intent {
            key,
            effect: None,
            events: vec![event],
            sent_for: Some(NOTIFIED_RECORD_TTL),
        };
        self.claim(intent, None, outbox::PENDING).await
    }

    /// Records `intent`: its claim, `None` when the record moved on (or holds another
    /// invocation's intent: noted in [`busy`](Self::busy)), an unrecorded claim when the table
    /// failed (the event goes out anyway: one repeat rather than silence).
    async fn claim(&self, intent: Intent, expected: Option<&str>, state: &str) -> Option<Claim> {
        match self.outbox.record(intent.clone(), expected, state).await {
            Ok(Recorded::Claimed(claim)) => Some(claim),
            Ok(Recorded::Done) => None,
            Ok(Recorded::Busy { until }) => {
                self.busy
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(format!(
                        "{}: another invocation's intent is pending until {until}",
                        intent.key.partition_key()
                    ));
                None
            }
            Err(error) => {
                self.state_failed(&error);
                Some(Outbox::<S, P>::unrecorded(intent))
            }
        }
    }
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

fn warn_state(error: &StateError) {
    tracing::warn!(error = %error, "state table unavailable; an event may be sent again");
}
