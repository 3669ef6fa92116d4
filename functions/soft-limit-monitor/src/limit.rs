//! One limit's check: where its usage stands, what that calls for ([`crate::decide`]),
//! enforcement, and the alert.
//!
//! The last level of each limit is kept in the state table (`alert#<resource>`), written
//! conditionally on the level this invocation read, together with an outbox intent
//! ([`license_automation::outbox`]): the crossing's alert and, under `harden`, the enforcement
//! to carry out. Of two invocations that see the same crossing, one writes and alerts, the
//! other loses the race and stays quiet. The crossing is recorded before hardening; the alert
//! goes out whether or not enforcement succeeds, with `Soft Limit Enforced` or `Soft Limit
//! Enforcement Failed`; an intent whose invocation died is re-driven by the next sweep. A
//! state table that cannot be read or written costs at most one repeated alert, never silence.

use std::collections::HashMap;

use aws_sdk_licensemanager::types::{Entitlement, EntitlementUsage, LicenseConfiguration};
use license_automation::attention::Attention;
use license_automation::events_out::catalogue::occurrence::{self, CrossingFrom};
use license_automation::events_out::catalogue::{
    EntitlementOverage, LimitedResource, ProjectEvent, SoftLimitCrossing, SoftLimitEnforced,
    SoftLimitEnforcementFailed,
};
use license_automation::limits::{Crossing, Level, Usage};
use license_automation::outbox::{self, Claim, Effects, Intent, Outbox, Recorded, Redo};
use license_automation::ports::{EventSink, StateTable};
use license_automation::state::{StateError, StateKey, StateRecord};
use serde_json::{Value, json};
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
    /// Events were not published (their intent is kept: the next invocation sends them).
    #[error("{}", .0.iter().map(|failure| failure.error.as_str()).collect::<Vec<_>>().join("; "))]
    Unpublished(Vec<outbox::Failure>),
    /// Enforcement failed: `Soft Limit Enforcement Failed` was published with the alert.
    #[error("enforcement failed (announced with Soft Limit Enforcement Failed): {0}")]
    Enforcement(LicenseManagerError),
    /// Another invocation's outbox intent is pending on the limit's record.
    #[error("{resource}: another invocation's intent is pending until {until}; retried after it")]
    Busy {
        /// The configuration or entitlement.
        resource: String,
        /// When that invocation's claim ends.
        until: OffsetDateTime,
    },
    /// The state table failed while the intent was recorded.
    #[error(transparent)]
    State(StateError),
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
            Self::Call(error) | Self::Enforcement(error) => error.needs_attention(),
            Self::Unpublished(failures) => failures.iter().any(|failure| failure.needs_attention),
            Self::State(error) => error.needs_attention(),
            Self::Busy { .. } | Self::Unusable { .. } => false,
        }
    }

    /// Whether a later attempt (Lambda's retry) may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Call(error) => error.kind == FailureKind::Transient,
            // A failed enforcement fails the invocation, whatever the cause.
            Self::Enforcement(_) | Self::Unpublished(_) | Self::Busy { .. } | Self::State(_) => {
                true
            }
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
    /// The outbox the alerts and enforcements go through (to the project's bus).
    pub outbox: Outbox<'a, S, P>,
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
        let (prior, since) = self.read(&key).await?;
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
        let enforced = SoftLimitEnforced {
            occurrence_id: occurrence::enforcement(&crossing_id),
            license_configuration_arn: arn.to_owned(),
            account,
            count: usage.count,
            consumed: usage.consumed,
            percent: usage.percent(),
            dry_run: self.dry_run,
            time: now,
        };
        let harden = plan.harden && self.may_enforce(arn).await?;
        let effect = (harden && !self.dry_run).then(|| Hardening::<L>::effect(&enforced));
        if harden && self.dry_run {
            tracing::info!(
                license_configuration_arn = arn,
                "dry run: would set LicenseCountHardLimit true"
            );
            events.push(ProjectEvent::SoftLimitEnforced(enforced));
        }
        let intent = Intent {
            key: key.clone(),
            effect,
            events,
            sent_for: None,
        };
        // The crossing is recorded (with what it calls for) before anything is hardened.
        let Some(mut claim) = self.record(intent, &prior, plan.store).await? else {
            log_configuration(arn, "lost race", &prior, level, &usage, false, self.dry_run);
            return Ok(LimitTally::default());
        };
        let mut failed = None;
        if let Some(effect) = claim.intent.effect.clone() {
            match (Hardening {
                license_manager: self.license_manager,
            })
            .carry_out(&effect)
            .await
            {
                Ok(event) => claim.announce(event),
                Err((event, error)) => {
                    claim.announce(event);
                    failed = Some(error);
                }
            }
        }
        let hardened = harden && failed.is_none();
        let delivery = self.outbox.deliver(vec![claim]).await;
        log_configuration(
            arn,
            plan.alert.map_or("quiet", alert_name),
            &prior,
            level,
            &usage,
            hardened,
            self.dry_run,
        );
        if let Some(error) = failed {
            return Err(LimitError::Enforcement(error));
        }
        if !delivery.failures.is_empty() {
            return Err(LimitError::Unpublished(delivery.failures));
        }
        Ok(LimitTally {
            alerted: usize::from(plan.alert.is_some()),
            enforced: hardened,
        })
    }

    /// Records `intent` with `level` on its record, conditionally on `prior`: the claim to
    /// carry out, or `None` when another invocation recorded the crossing first. A table that
    /// cannot be read or written records nothing (the alert goes out anyway).
    async fn record(
        &self,
        intent: Intent,
        prior: &Prior,
        level: Level,
    ) -> Result<Option<Claim>, LimitError> {
        let Some(expected) = prior.expected() else {
            return Ok(Some(Outbox::<S, P>::unrecorded(intent)));
        };
        let resource = intent.key.partition_key();
        match self
            .outbox
            .record(intent.clone(), expected, level.as_str())
            .await
        {
            Ok(Recorded::Claimed(claim)) => Ok(Some(claim)),
            Ok(Recorded::Done) => Ok(None),
            Ok(Recorded::Busy { until }) => Err(LimitError::Busy { resource, until }),
            Err(error) => {
                self.state_failed(&error);
                Ok(Some(Outbox::<S, P>::unrecorded(intent)))
            }
        }
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
        let (prior, since) = self.read(&key).await?;
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
        let intent = Intent {
            key,
            effect: None,
            events,
            sent_for: None,
        };
        let claim = self.record(intent, &prior, plan.store).await?;
        let published = claim.is_some();
        let delivery = self.outbox.deliver(claim.into_iter().collect()).await;
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
        if !delivery.failures.is_empty() {
            return Err(LimitError::Unpublished(delivery.failures));
        }
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
    /// A record with another invocation's intent pending is [`LimitError::Busy`] (an ended
    /// claim was re-driven at the start of this invocation unless that failed).
    async fn read(&self, key: &StateKey) -> Result<(Prior, Option<OffsetDateTime>), LimitError> {
        let read = match self.prefetched.get(key) {
            Some(record) => Ok(record.clone()),
            None => self.state.get(key).await,
        };
        Ok(match read {
            Ok(None) => (Prior::Absent, None),
            Ok(Some(record)) => {
                if let Some(intent) = &record.intent {
                    return Err(LimitError::Busy {
                        resource: key.partition_key(),
                        until: intent.claim_until,
                    });
                }
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
        })
    }

    /// Under `harden`: whether the configuration may be hardened (its tag does not opt out).
    async fn may_enforce(&self, arn: &str) -> Result<bool, LimitError> {
        let tags = self.license_manager.tags(arn).await?;
        if decide::opted_out(&tags) {
            tracing::info!(
                license_configuration_arn = arn,
                tag = OPT_OUT_TAG_KEY,
                "opted out of enforcement; alert only"
            );
            return Ok(false);
        }
        Ok(true)
    }
}

/// Hardening a configuration, as an outbox effect: `{"harden": <arn>, "enforced": <the
/// Soft Limit Enforced detail>}`, carried out when recorded and again when re-driven.
pub struct Hardening<'a, L> {
    /// License Manager.
    pub license_manager: &'a L,
}

impl<L: LimitCalls> Hardening<'_, L> {
    /// The effect that hardens what `enforced` names and announces it.
    fn effect(enforced: &SoftLimitEnforced) -> Value {
        json!({
            "harden": enforced.license_configuration_arn,
            "enforced": ProjectEvent::SoftLimitEnforced(enforced.clone()).detail(),
        })
    }

    /// Sets the limit hard: `Soft Limit Enforced`, or `Soft Limit Enforcement Failed` with
    /// the error.
    async fn carry_out(
        &self,
        effect: &Value,
    ) -> Result<ProjectEvent, (ProjectEvent, LicenseManagerError)> {
        let enforced: Result<SoftLimitEnforced, String> =
            match ProjectEvent::from_detail("Soft Limit Enforced", effect["enforced"].clone()) {
                Ok(ProjectEvent::SoftLimitEnforced(enforced)) => Ok(enforced),
                Ok(_) => Err("not a Soft Limit Enforced detail".to_owned()),
                Err(error) => Err(error),
            };
        let arn = effect["harden"].as_str().unwrap_or_default();
        let enforced = match enforced {
            Ok(enforced) => enforced,
            Err(reason) => {
                // Only a record this code did not write could hold this.
                let error = LicenseManagerError {
                    operation: "UpdateLicenseConfiguration",
                    target: arn.to_owned(),
                    code: Some("UnreadableIntent".to_owned()),
                    message: format!("the enforcement intent is unreadable: {reason}"),
                    kind: FailureKind::Permanent,
                    attempts: 0,
                };
                let unknown = SoftLimitEnforced {
                    occurrence_id: format!("{arn}#unreadable-intent"),
                    license_configuration_arn: arn.to_owned(),
                    account: String::new(),
                    count: 0,
                    consumed: 0,
                    percent: 0.0,
                    dry_run: false,
                    time: OffsetDateTime::now_utc(),
                };
                return Err((failed_event(&unknown, &error), error));
            }
        };
        match self.license_manager.harden(arn).await {
            Ok(()) => Ok(ProjectEvent::SoftLimitEnforced(SoftLimitEnforced {
                time: OffsetDateTime::now_utc(),
                ..enforced
            })),
            Err(error) => {
                tracing::error!(license_configuration_arn = arn, error = %error, "enforcement failed");
                Err((failed_event(&enforced, &error), error))
            }
        }
    }
}

impl<L: LimitCalls + Sync> Effects for Hardening<'_, L> {
    async fn redo(&self, effect: &Value) -> Redo {
        match self.carry_out(effect).await {
            Ok(event) => Redo::Deliver {
                extra: vec![event],
                failure: None,
            },
            Err((event, error)) => Redo::Deliver {
                extra: vec![event],
                failure: Some(outbox::Failure {
                    what: outbox::Failed::Effect,
                    resource: error.target.clone(),
                    error: format!("enforcement failed (announced): {error}"),
                    needs_attention: error.needs_attention(),
                }),
            },
        }
    }
}

/// `Soft Limit Enforcement Failed` for the enforcement `enforced` announced would have made.
fn failed_event(enforced: &SoftLimitEnforced, error: &LicenseManagerError) -> ProjectEvent {
    ProjectEvent::SoftLimitEnforcementFailed(SoftLimitEnforcementFailed {
        occurrence_id: occurrence::enforcement_failed(
            enforced
                .occurrence_id
                .strip_suffix("#enforced")
                .unwrap_or(&enforced.occurrence_id),
        ),
        license_configuration_arn: enforced.license_configuration_arn.clone(),
        account: enforced.account.clone(),
        count: enforced.count,
        consumed: enforced.consumed,
        percent: enforced.percent,
        error_code: error
            .code
            .clone()
            .unwrap_or_else(|| "CallFailed".to_owned()),
        error_message: error.message.clone(),
        time: OffsetDateTime::now_utc(),
    })
}

/// Logs one configuration's check as one JSON line.
fn log_configuration(
    arn: &str,
    decision: &str,
    prior: &Prior,
    level: Level,
    usage: &Usage,
    enforced: bool,
    dry_run: bool,
) {
    tracing::info!(
        decision,
        license_configuration_arn = arn,
        previous = prior.level().map(Level::as_str),
        level = level.as_str(),
        consumed = usage.consumed,
        count = usage.count,
        enforced,
        dry_run,
        "soft limit"
    );
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
