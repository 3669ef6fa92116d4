//! One limit's check: where its usage stands, what that calls for ([`crate::decide`]),
//! enforcement, and the alert.
//!
//! The last level of each limit is kept in the state table (`alert#<resource>`), written
//! conditionally on the level this invocation read: of two invocations that see the same
//! crossing, one writes and alerts, the other loses the race and stays quiet. A state table
//! that cannot be read or written costs at most one repeated alert, never silence. An alert
//! that cannot be published puts the stored level back, so the retry alerts.

use std::collections::HashMap;

use aws_sdk_licensemanager::types::{Entitlement, EntitlementUsage, LicenseConfiguration};
use license_automation::attention::Attention;
use license_automation::events_out::catalogue::occurrence::{self, CrossingFrom};
use license_automation::events_out::catalogue::{
    EntitlementOverage, LimitedResource, ProjectEvent, SoftLimitCrossing, SoftLimitEnforced,
};
use license_automation::events_out::publisher::PublishError;
use license_automation::limits::{Crossing, Level, Usage};
use license_automation::ports::{EventSink, StateTable, Undo};
use license_automation::state::{StateError, StateKey, StateRecord, WriteOutcome};
use time::OffsetDateTime;

use crate::config::Enforcement;
use crate::decide::{
    self, OPT_OUT_TAG_KEY, Prior, WatchMode, configuration_plan, entitlement_plan, watched,
};
use crate::license_manager::{FailureKind, LicenseManagerError};
use crate::ports::LimitCalls;

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
    /// Whether a person must act first (AccessDenied, unrecognised credentials, a missing
    /// bus): the invocation fails so that its retries end in the dead-letter queue.
    pub fn needs_attention(&self) -> bool {
        match self {
            Self::Call(error) => error.needs_attention(),
            Self::Publish(error) => error.needs_attention(),
            Self::Unusable { .. } => false,
        }
    }

    /// Whether a later attempt (Lambda's retry) may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Call(error) => error.kind == FailureKind::Transient,
            Self::Publish(_) => true,
            Self::Unusable { .. } => false,
        }
    }
}

/// What checking one limit did: the handler's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LimitTally {
    /// Alerts published (Warning / Exceeded / Recovered / Overage).
    pub alerted: usize,
    /// Whether the configuration was hardened (in a dry run: would have been).
    pub enforced: bool,
}

/// Checks limits for one invocation, through License Manager (`L`), the state table (`S`)
/// and the event sink (`P`).
#[derive(Debug)]
pub struct LimitChecker<'a, L, S, P> {
    /// License Manager.
    pub license_manager: &'a L,
    /// The state table.
    pub state: &'a S,
    /// The project's bus.
    pub publisher: &'a P,
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
    /// State-table errors that need a person (the limits were checked without the table).
    pub attention: Attention,
}

impl<L: LimitCalls, S: StateTable, P: EventSink> LimitChecker<'_, L, S, P> {
    /// Checks one license configuration that [`watched`] does not skip.
    pub async fn configuration(
        &self,
        configuration: &LicenseConfiguration,
    ) -> Result<LimitTally, LimitError> {
        let arn = configuration
            .license_configuration_arn()
            .unwrap_or_default();
        let usage = Usage {
            consumed: configuration.consumed_licenses().unwrap_or_default(),
            count: configuration.license_count().unwrap_or_default(),
        };
        let level = usage.level(self.warn_threshold_percent);
        let key = self.key(arn.to_owned());
        let (prior, since) = self.read(&key).await;
        let mode: WatchMode = watched(configuration);
        let Some(plan) = configuration_plan(mode, &prior, level, self.enforcement) else {
            return Ok(LimitTally::default());
        };
        let account = configuration
            .owner_account_id()
            .filter(|account| !account.is_empty())
            .or(self.account)
            .unwrap_or_default()
            .to_owned();
        let now = OffsetDateTime::now_utc();
        let crossing_id = crossing_id(&key, &prior, since, plan.store, now);
        let enforced = plan.harden && self.enforce(arn).await?;
        let mut events = Vec::new();
        if let Some(alert) = plan.alert {
            let detail = SoftLimitCrossing {
                occurrence_id: crossing_id.clone(),
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
                occurrence_id: occurrence::enforcement(&crossing_id),
                license_configuration_arn: arn.to_owned(),
                account,
                count: usage.count,
                consumed: usage.consumed,
                percent: usage.percent(),
                dry_run: self.dry_run,
                time: now,
            }));
        }
        let published = self
            .record_and_publish(&key, &prior, plan.store, &events)
            .await?;
        tracing::info!(
            decision = if published {
                plan.alert.map_or("quiet", alert_name)
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
            LimitTally {
                alerted: usize::from(plan.alert.is_some()),
                enforced,
            }
        } else {
            LimitTally::default()
        })
    }

    /// Checks the entitlements of `license_arn` that allow overage; how many were checked.
    pub async fn entitlements(
        &self,
        license_arn: &str,
        entitlements: &[Entitlement],
    ) -> Result<(usize, LimitTally), LimitError> {
        let watched: Vec<&Entitlement> = entitlements
            .iter()
            .filter(|entitlement| entitlement.overage() == Some(true))
            .collect();
        if watched.is_empty() {
            return Ok((0, LimitTally::default()));
        }
        let usages = self.license_manager.license_usage(license_arn).await?;
        let mut tally = LimitTally::default();
        for entitlement in &watched {
            let Some(usage) = usages
                .iter()
                .find(|usage| usage.name() == entitlement.name())
            else {
                continue;
            };
            tally.alerted += self.entitlement(license_arn, entitlement, usage).await?;
        }
        Ok((watched.len(), tally))
    }

    /// One entitlement: an `Entitlement Overage` once per passing of MaxCount.
    async fn entitlement(
        &self,
        license_arn: &str,
        entitlement: &Entitlement,
        usage: &EntitlementUsage,
    ) -> Result<usize, LimitError> {
        let name = entitlement.name();
        let usage = decide::entitlement_usage(entitlement, usage).map_err(|reason| {
            LimitError::Unusable {
                resource: format!("{license_arn} entitlement {name}"),
                reason,
            }
        })?;
        // Unlimited or unmetered: nothing to pass.
        let Some(usage) = usage else {
            return Ok(0);
        };
        let key = self.key(format!("{license_arn}#{name}"));
        let (prior, since) = self.read(&key).await;
        let Some(plan) = entitlement_plan(&prior, usage) else {
            return Ok(0);
        };
        let now = OffsetDateTime::now_utc();
        let occurrence_id = crossing_id(&key, &prior, since, plan.store, now);
        let events: Vec<ProjectEvent> = plan
            .overage
            .then(|| {
                ProjectEvent::EntitlementOverage(EntitlementOverage {
                    occurrence_id: occurrence_id.clone(),
                    license_arn: license_arn.to_owned(),
                    entitlement_name: name.to_owned(),
                    unit: entitlement.unit().as_str().to_owned(),
                    account: self.account.unwrap_or_default().to_owned(),
                    max_count: usage.count,
                    consumed: usage.consumed,
                    time: now,
                })
            })
            .into_iter()
            .collect();
        let published = self
            .record_and_publish(&key, &prior, plan.store, &events)
            .await?;
        tracing::info!(
            decision = match (published, plan.overage) {
                (false, _) => "lost race",
                (true, true) => "overage",
                (true, false) => "back under MaxCount",
            },
            license_arn,
            entitlement = name,
            consumed = usage.consumed,
            max_count = usage.count,
            "entitlement"
        );
        Ok(usize::from(published && plan.overage))
    }

    /// Logs a state-table error; notes it when it needs a person.
    fn state_failed(&self, error: &StateError) {
        warn_state(error);
        if error.needs_attention() {
            self.attention.note(error);
        }
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
            Err(error) => self.state_failed(&error),
        }
    }

    /// The stored alert state of `key`, and when it was written (when there is a record).
    async fn read(&self, key: &StateKey) -> (Prior, Option<OffsetDateTime>) {
        let read = match self.prefetched.get(key) {
            Some(record) => Ok(record.clone()),
            None => self.state.get(key).await,
        };
        match read {
            Ok(None) => (Prior::Absent, None),
            Ok(Some(record)) => {
                let since = Some(record.updated_at);
                match record.state.parse() {
                    Ok(level) => (Prior::Level(level), since),
                    Err(_) => (Prior::Unknown(record.state), since),
                }
            }
            Err(error) => {
                self.state_failed(&error);
                (Prior::Unreadable, None)
            }
        }
    }

    /// Under `harden`, turns the configuration's limit hard unless its tag opts out; whether
    /// it did (in a dry run: would have).
    async fn enforce(&self, arn: &str) -> Result<bool, LimitError> {
        let tags = self.license_manager.tags(arn).await?;
        if decide::opted_out(&tags) {
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
                Err(error) => self.state_failed(&error),
            }
        }
        if events.is_empty() {
            return Ok(true);
        }
        if let Err(error) = self.publisher.publish(events).await {
            if written && let Some(expected) = prior.expected() {
                // Puts back the level stored before this check, so that a retry alerts again.
                let undo = Undo::Restore {
                    key: key.clone(),
                    written: level.as_str().to_owned(),
                    previous: expected.map(str::to_owned),
                };
                if let Err(error) = undo.apply(self.state).await {
                    self.state_failed(&error);
                }
            }
            return Err(error.into());
        }
        Ok(true)
    }
}

/// The `occurrenceId` of the crossing from `prior` (written at `since`) to `level`.
fn crossing_id(
    key: &StateKey,
    prior: &Prior,
    since: Option<OffsetDateTime>,
    level: Level,
    now: OffsetDateTime,
) -> String {
    let state = match prior {
        Prior::Level(level) => Some(level.as_str()),
        Prior::Unknown(state) => Some(state.as_str()),
        Prior::Absent | Prior::Unreadable => None,
    };
    let from = match (prior, state, since) {
        (Prior::Unreadable, _, _) => CrossingFrom::Unreadable { observed: now },
        (_, Some(state), Some(updated_at)) => CrossingFrom::Recorded { state, updated_at },
        _ => CrossingFrom::Absent,
    };
    // The record's resource, as license-events names the same entitlement record.
    let resource = match key {
        StateKey::Alert { resource } => resource.clone(),
        other => other.partition_key(),
    };
    occurrence::crossing(&resource, from, level.as_str())
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
