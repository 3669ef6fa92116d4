//! One limit's check: where its usage stands, whether that is a crossing people must hear
//! about (the pure rules of `license_automation::limits`), enforcement, and the alert.
//!
//! The last level of each limit is kept in the state table (`alert#<resource>`), written
//! conditionally on the level this invocation read: of two invocations that see the same
//! crossing, one writes and alerts, the other loses the race and stays quiet. A state table
//! that cannot be read or written costs at most one repeated alert, never silence. An alert
//! that cannot be published puts the stored level back, so the retry alerts.

use std::collections::HashMap;

use aws_sdk_licensemanager::types::{Entitlement, EntitlementUsage, LicenseConfiguration};
use license_automation::events_out::catalogue::{
    EntitlementOverage, LimitedResource, ProjectEvent, SoftLimitCrossing, SoftLimitEnforced,
};
use license_automation::events_out::publisher::{EventPublisher, PublishError};
use license_automation::limits::{Crossing, Level, Usage, crossing, overage_due};
use license_automation::state::{StateError, StateKey, StateRecord, StateStore, WriteOutcome};
use time::OffsetDateTime;

use crate::config::Enforcement;
use crate::license_manager::{FailureKind, LicenseManager, LicenseManagerError};

/// The tag that keeps a configuration alert-only under `ENFORCEMENT=harden`: key
/// [`OPT_OUT_TAG_KEY`], value [`OPT_OUT_TAG_VALUE`] (case-insensitive).
pub const OPT_OUT_TAG_KEY: &str = "license-automation:enforcement";
/// See [`OPT_OUT_TAG_KEY`].
pub const OPT_OUT_TAG_VALUE: &str = "alert";

/// Why one limit could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// A License Manager call failed.
    #[error(transparent)]
    Call(#[from] LicenseManagerError),
    /// The alert could not be published (the stored level was put back for the retry).
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// License Manager reported something this function cannot read.
    #[error("{resource}: {reason}")]
    Unusable {
        /// The configuration or license.
        resource: String,
        /// What is missing or malformed.
        reason: String,
    },
}

impl LimitError {
    /// Whether a later attempt (Lambda's retry) may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Call(error) => error.kind == FailureKind::Transient,
            Self::Publish(_) => true,
            Self::Unusable { .. } => false,
        }
    }
}

/// What checking one limit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Alerts published (Warning / Exceeded / Recovered / Overage).
    pub alerted: usize,
    /// Whether the configuration was hardened (in a dry run: would have been).
    pub enforced: bool,
}

/// What the state table said about a limit before this check.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Prior {
    /// No record: nobody was told anything.
    Absent,
    /// The stored level.
    Level(Level),
    /// A record whose state this code does not know (overwritten conditionally).
    Unknown(String),
    /// The table could not be read: nothing is written, alerts are sent.
    Unreadable,
}

impl Prior {
    fn level(&self) -> Option<Level> {
        match self {
            Self::Level(level) => Some(*level),
            _ => None,
        }
    }

    /// The state a conditional write expects, or `None` when nothing may be written.
    fn expected(&self) -> Option<Option<&str>> {
        match self {
            Self::Absent => Some(None),
            Self::Level(level) => Some(Some(level.as_str())),
            Self::Unknown(state) => Some(Some(state)),
            Self::Unreadable => None,
        }
    }
}

/// Checks limits for one invocation.
#[derive(Debug)]
pub struct LimitChecker<'a> {
    /// License Manager.
    pub license_manager: &'a LicenseManager,
    /// The state table.
    pub state: &'a StateStore,
    /// The project's bus.
    pub publisher: &'a EventPublisher,
    /// `WARN_THRESHOLD_PERCENT`.
    pub warn_threshold_percent: u8,
    /// `ENFORCEMENT`.
    pub enforcement: Enforcement,
    /// `DRY_RUN`.
    pub dry_run: bool,
    /// The account the sweep runs in (from the scheduled event), when known.
    pub account: Option<&'a str>,
    /// State records read ahead in batches ([`prefetch`](Self::prefetch)); a key not here is
    /// read on its own.
    pub prefetched: HashMap<StateKey, Option<StateRecord>>,
}

/// How a sweep treats a license configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// An enabled soft limit with a count: every crossing is alerted.
    Soft,
    /// An enabled hard limit with a count: not watched, except that one this function alerted
    /// on (e.g. hardened under `harden`) is followed until it recovers.
    Hard,
    /// Not watched, for the reason given.
    Skip(&'static str),
}

/// How a sweep treats `configuration`: disabled ones and ones without a count are skipped.
pub fn watched(configuration: &LicenseConfiguration) -> Watch {
    if configuration
        .status()
        .is_some_and(|status| status.eq_ignore_ascii_case("DISABLED"))
    {
        return Watch::Skip("disabled");
    }
    if configuration.license_count().is_none_or(|count| count <= 0) {
        return Watch::Skip("no license count");
    }
    if configuration.license_count_hard_limit() == Some(true) {
        Watch::Hard
    } else {
        Watch::Soft
    }
}

impl LimitChecker<'_> {
    /// Checks one license configuration that [`watched`] does not skip.
    pub async fn configuration(
        &self,
        configuration: &LicenseConfiguration,
    ) -> Result<Outcome, LimitError> {
        let arn = configuration
            .license_configuration_arn()
            .unwrap_or_default();
        let usage = Usage {
            consumed: configuration.consumed_licenses().unwrap_or_default(),
            count: configuration.license_count().unwrap_or_default(),
        };
        let level = usage.level(self.warn_threshold_percent);
        let key = self.key(arn.to_owned());
        let prior = self.read(&key).await;
        if prior.level() == Some(level) {
            return Ok(Outcome::default());
        }
        // A hard limit only ever recovers from an alert given while it was soft.
        let recovering =
            level == Level::Ok && matches!(prior, Prior::Level(Level::Warning | Level::Exceeded));
        if watched(configuration) == Watch::Hard && !recovering {
            return Ok(Outcome::default());
        }
        let alert = crossing(prior.level(), level);
        if alert.is_none() && prior == Prior::Absent {
            return Ok(Outcome::default());
        }
        let account = configuration
            .owner_account_id()
            .filter(|account| !account.is_empty())
            .or(self.account)
            .unwrap_or_default()
            .to_owned();
        let now = OffsetDateTime::now_utc();
        let enforced = alert == Some(Crossing::Exceeded) && self.enforce(arn).await?;
        let mut events = Vec::new();
        if let Some(alert) = alert {
            let detail = SoftLimitCrossing {
                resource_arn: arn.to_owned(),
                resource_kind: LimitedResource::LicenseConfiguration,
                entitlement_name: None,
                account: account.clone(),
                count: usage.count,
                consumed: usage.consumed,
                percent: usage.percent(),
                warn_threshold_percent: self.warn_threshold_percent,
                time: now,
            };
            events.push(match alert {
                Crossing::Warning => ProjectEvent::SoftLimitWarning(detail),
                Crossing::Exceeded => ProjectEvent::SoftLimitExceeded(detail),
                Crossing::Recovered => ProjectEvent::SoftLimitRecovered(detail),
            });
        }
        if enforced {
            events.push(ProjectEvent::SoftLimitEnforced(SoftLimitEnforced {
                license_configuration_arn: arn.to_owned(),
                account,
                count: usage.count,
                consumed: usage.consumed,
                percent: usage.percent(),
                dry_run: self.dry_run,
                time: now,
            }));
        }
        let alerted = usize::from(alert.is_some());
        let published = self
            .record_and_publish(&key, &prior, level, &events)
            .await?;
        tracing::info!(
            decision = if published {
                alert.map_or("quiet", alert_name)
            } else {
                "lost race"
            },
            license_configuration_arn = arn,
            previous = prior.level().map(Level::as_str),
            level = level.as_str(),
            consumed = usage.consumed,
            count = usage.count,
            enforced,
            dry_run = self.dry_run,
            "soft limit"
        );
        Ok(if published {
            Outcome { alerted, enforced }
        } else {
            Outcome::default()
        })
    }

    /// Checks the entitlements of `license_arn` that allow overage; how many were checked.
    pub async fn entitlements(
        &self,
        license_arn: &str,
        entitlements: &[Entitlement],
    ) -> Result<(usize, Outcome), LimitError> {
        let watched: Vec<&Entitlement> = entitlements
            .iter()
            .filter(|entitlement| entitlement.overage() == Some(true))
            .collect();
        if watched.is_empty() {
            return Ok((0, Outcome::default()));
        }
        let usages = self.license_manager.license_usage(license_arn).await?;
        let mut outcome = Outcome::default();
        for entitlement in &watched {
            let Some(usage) = usages
                .iter()
                .find(|usage| usage.name() == entitlement.name())
            else {
                continue;
            };
            outcome.alerted += self.entitlement(license_arn, entitlement, usage).await?;
        }
        Ok((watched.len(), outcome))
    }

    /// One entitlement: an `Entitlement Overage` once per passing of MaxCount.
    async fn entitlement(
        &self,
        license_arn: &str,
        entitlement: &Entitlement,
        usage: &EntitlementUsage,
    ) -> Result<usize, LimitError> {
        let name = entitlement.name();
        let unusable = |reason: String| LimitError::Unusable {
            resource: format!("{license_arn} entitlement {name}"),
            reason,
        };
        let consumed: i64 = usage.consumed_value().parse().map_err(|_| {
            unusable(format!(
                "ConsumedValue {:?} is not a whole number",
                usage.consumed_value()
            ))
        })?;
        let count = match (entitlement.max_count(), usage.max_count()) {
            (Some(count), _) => count,
            (None, Some(count)) => count
                .parse()
                .map_err(|_| unusable(format!("MaxCount {count:?} is not a whole number")))?,
            // Unlimited or unmetered: nothing to pass.
            (None, None) => return Ok(0),
        };
        let usage = Usage { consumed, count };
        let level = if usage.over() {
            Level::Exceeded
        } else {
            Level::Ok
        };
        let key = self.key(format!("{license_arn}#{name}"));
        let prior = self.read(&key).await;
        if prior.level() == Some(level) || (prior == Prior::Absent && level == Level::Ok) {
            return Ok(0);
        }
        let previously_over = match &prior {
            Prior::Absent => Some(false),
            Prior::Level(level) => Some(*level == Level::Exceeded),
            Prior::Unknown(_) | Prior::Unreadable => None,
        };
        let due = overage_due(previously_over, usage);
        let events: Vec<ProjectEvent> = due
            .then(|| {
                ProjectEvent::EntitlementOverage(EntitlementOverage {
                    license_arn: license_arn.to_owned(),
                    entitlement_name: name.to_owned(),
                    unit: entitlement.unit().as_str().to_owned(),
                    account: self.account.unwrap_or_default().to_owned(),
                    max_count: count,
                    consumed,
                    time: OffsetDateTime::now_utc(),
                })
            })
            .into_iter()
            .collect();
        let published = self
            .record_and_publish(&key, &prior, level, &events)
            .await?;
        tracing::info!(
            decision = match (published, due) {
                (false, _) => "lost race",
                (true, true) => "overage",
                (true, false) => "back under MaxCount",
            },
            license_arn,
            entitlement = name,
            consumed,
            max_count = count,
            "entitlement"
        );
        Ok(usize::from(published && due))
    }

    /// The alert-state key of `resource` (a dry run's state is kept apart, so that trying
    /// `DRY_RUN=true` does not use up the real run's crossings).
    fn key(&self, resource: String) -> StateKey {
        let resource = if self.dry_run {
            format!("{resource}#dry-run")
        } else {
            resource
        };
        StateKey::Alert { resource }
    }

    /// Reads the alert states of `configurations` in batches, so that checking them makes
    /// no read of its own. If the batch read fails, each is read on its own (and a state
    /// that cannot be read is treated as such there).
    pub async fn prefetch(&mut self, configurations: &[LicenseConfiguration]) {
        let keys: Vec<StateKey> = configurations
            .iter()
            .map(|configuration| {
                self.key(
                    configuration
                        .license_configuration_arn()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
        match self.state.get_many(&keys).await {
            Ok(records) => self.prefetched = records,
            Err(error) => warn_state(&error),
        }
    }

    async fn read(&self, key: &StateKey) -> Prior {
        let read = match self.prefetched.get(key) {
            Some(record) => Ok(record.clone()),
            None => self.state.get(key).await,
        };
        match read {
            Ok(None) => Prior::Absent,
            Ok(Some(record)) => match record.state.parse() {
                Ok(level) => Prior::Level(level),
                Err(_) => Prior::Unknown(record.state),
            },
            Err(error) => {
                warn_state(&error);
                Prior::Unreadable
            }
        }
    }

    /// Under `harden`, turns the configuration's limit hard unless its tag opts out; whether
    /// it did (in a dry run: would have).
    async fn enforce(&self, arn: &str) -> Result<bool, LimitError> {
        if self.enforcement != Enforcement::Harden {
            return Ok(false);
        }
        let tags = self.license_manager.tags(arn).await?;
        if tags.iter().any(|(key, value)| {
            key == OPT_OUT_TAG_KEY && value.eq_ignore_ascii_case(OPT_OUT_TAG_VALUE)
        }) {
            tracing::info!(
                license_configuration_arn = arn,
                tag = OPT_OUT_TAG_KEY,
                "opted out of enforcement; alert only"
            );
            return Ok(false);
        }
        if self.dry_run {
            tracing::info!(
                license_configuration_arn = arn,
                "dry run: would set LicenseCountHardLimit true"
            );
        } else {
            self.license_manager.harden(arn).await?;
        }
        Ok(true)
    }

    /// Stores `level` conditionally on `prior` and publishes `events`. `Ok(false)`: another
    /// invocation stored it first (and alerts). A publishing failure puts `prior` back.
    async fn record_and_publish(
        &self,
        key: &StateKey,
        prior: &Prior,
        level: Level,
        events: &[ProjectEvent],
    ) -> Result<bool, LimitError> {
        let mut written = false;
        if let Some(expected) = prior.expected() {
            match self.state.put_if(key, expected, level.as_str(), None).await {
                Ok(WriteOutcome::Written) => written = true,
                Ok(WriteOutcome::LostRace) => return Ok(false),
                Err(error) => warn_state(&error),
            }
        }
        if events.is_empty() {
            return Ok(true);
        }
        if let Err(error) = self.publisher.publish(events).await {
            if written {
                self.restore(key, prior, level).await;
            }
            return Err(error.into());
        }
        Ok(true)
    }

    /// Puts back the level stored before this check, so that a retry alerts again.
    async fn restore(&self, key: &StateKey, prior: &Prior, level: Level) {
        let result = match prior.expected() {
            Some(None) => self.state.forget(key).await,
            Some(Some(previous)) => self
                .state
                .put_if(key, Some(level.as_str()), previous, None)
                .await
                .map(|_| ()),
            None => Ok(()),
        };
        if let Err(error) = result {
            warn_state(&error);
        }
    }
}

fn alert_name(crossing: Crossing) -> &'static str {
    match crossing {
        Crossing::Warning => "warning",
        Crossing::Exceeded => "exceeded",
        Crossing::Recovered => "recovered",
    }
}

fn warn_state(error: &StateError) {
    tracing::warn!(error = %error, "state table unavailable; an alert may be sent again");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configuration(count: Option<i64>, hard: bool, status: &str) -> LicenseConfiguration {
        LicenseConfiguration::builder()
            .license_configuration_arn(
                "arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-1",
            )
            .set_license_count(count)
            .license_count_hard_limit(hard)
            .status(status)
            .build()
    }

    #[test]
    fn enabled_limits_with_a_count_are_watched_hard_ones_only_to_recovery() {
        let cases = [
            (Some(10), false, "AVAILABLE", Watch::Soft),
            (Some(10), true, "AVAILABLE", Watch::Hard),
            (Some(10), false, "DISABLED", Watch::Skip("disabled")),
            (Some(10), true, "DISABLED", Watch::Skip("disabled")),
            (None, false, "AVAILABLE", Watch::Skip("no license count")),
            (Some(0), false, "AVAILABLE", Watch::Skip("no license count")),
        ];
        for (count, hard, status, expected) in cases {
            assert_eq!(
                watched(&configuration(count, hard, status)),
                expected,
                "{count:?} hard={hard} {status}"
            );
        }
    }

    #[test]
    fn a_write_expects_what_was_read_and_nothing_is_written_blind() {
        assert_eq!(Prior::Absent.expected(), Some(None));
        assert_eq!(
            Prior::Level(Level::Warning).expected(),
            Some(Some("warning"))
        );
        assert_eq!(Prior::Unknown("odd".into()).expected(), Some(Some("odd")));
        assert_eq!(Prior::Unreadable.expected(), None);
        assert_eq!(Prior::Unknown("odd".into()).level(), None);
    }
}
