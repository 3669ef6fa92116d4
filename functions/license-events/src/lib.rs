//! license-events: turns License Manager's own events into an audit trail and typed events
//! (README, license-events).
//!
//! A `License Change`, `License Consumption Change`, `License Token Change` or `Grant Change`
//! event is parsed strictly; the ARNs in its `resources` and `detail` are only hints. For each
//! license named (directly, or through a grant) the function reads the truth back (GetLicense,
//! GetGrant, GetLicenseUsage, ListTokens as the type needs), logs one audit line for the event
//! and emits, each once through the state table:
//!
//! - `License Status Changed` when the license is DEACTIVATED, SUSPENDED, EXPIRED,
//!   PENDING_DELETE or DELETED (once per version and status);
//! - `Entitlement Overage` when an overage-allowed entitlement passed MaxCount;
//! - `License Expiring` when `Validity.End` is within `EXPIRY_WARNING_DAYS` (once per version).
//!
//! A daily schedule sweeps every license the account issued or received, for expiry and
//! status, since no event comes for a license that simply runs out. A replayed event (same id)
//! emits nothing. A license that no longer resolves is recorded, not retried; a transient
//! failure fails the invocation so that Lambda retries it and the DLQ keeps the event.
//!
//! What a license calls for is the pure [`decide`] module; License Manager, the state table
//! and the event sink are ports ([`LicenseCalls`], [`StateTable`], [`EventSink`]), so the
//! handler runs against the SDK adapters in production and in-memory versions in unit tests.

mod config;
pub mod decide;
mod error;
mod license_manager;
mod ports;
#[cfg(test)]
mod tests;
mod watch;

use std::collections::BTreeSet;

use aws_sdk_licensemanager::types::GrantedLicense;
use futures_util::StreamExt as _;
use lambda_runtime::LambdaEvent;
use license_automation::arn;
use license_automation::attention::Attention;
use license_automation::coalesce::{self, MustFail, Swept};
use license_automation::deadline::Budget;
use license_automation::events_in::{
    IncomingEvent, LicenseManagerDetailType, LicenseManagerEvent, parse_event,
};
use license_automation::events_out::publisher::{EventPublisher, MAX_ENTRIES_PER_CALL};
use license_automation::outbox::{self, Claim, NoEffects, Outbox};
use license_automation::ports::{EventSink, StateTable, aws_adapters};
use license_automation::state::{StateError, StateKey, StateStore};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

pub use config::Config;
pub use decide::{LicenseFacts, UNUSABLE_STATUSES, expiring_within};
pub use error::LicenseEventsError;
pub use license_manager::{CallStats, FailureKind, LicenseManager, LicenseManagerError};
pub use ports::LicenseCalls;
pub use watch::{EntitlementReport, LicenseChecker, LicenseReport, NOTIFIED_RECORD_TTL, Reads};

/// How long a processed event id is remembered: longer than EventBridge retries an event
/// (24 hours at most) and than an event waits in the DLQ before someone redrives it.
pub const PROCESSED_EVENT_TTL: time::Duration = time::Duration::days(15);

/// This function's name: its partition of the outbox index and its sweep record.
const FUNCTION: &str = "license-events";

/// What an invocation did with its event (the audit line's `outcome`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum EventOutcome {
    /// Read back and checked.
    #[default]
    Processed,
    /// Checked, but some ARN no longer resolves (recorded, not retried).
    Unresolved,
    /// The same event id was processed before: nothing done.
    Replayed,
    /// An event without an ARN that arrived while another such event's sweep ran: that sweep
    /// runs once more instead (`coalescedInto`).
    Coalesced,
    /// Not an event this function acts on (acknowledged with a log line).
    Ignored,
    /// A transient failure: the invocation fails and is retried.
    Failed,
}

impl EventOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Processed => "processed",
            Self::Unresolved => "unresolved",
            Self::Replayed => "replayed",
            Self::Coalesced => "coalesced",
            Self::Ignored => "ignored",
            Self::Failed => "failed",
        }
    }
}

/// A grant named by a `Grant Change`, as read back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantReport {
    /// The grant.
    pub grant_arn: String,
    /// Whether License Manager still knows it.
    pub resolved: bool,
    /// Its status now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Its version now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Its license.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_arn: Option<String>,
    /// Why it could not be resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What an invocation did; the handler's result and the audit line (camelCase JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The event's id (empty for a sweep without one).
    pub event_id: String,
    /// The event's detail-type.
    pub detail_type: String,
    /// What was done with it.
    pub outcome: EventOutcome,
    /// The ARNs the event named (`resources` and `detail`).
    pub hinted_arns: Vec<String>,
    /// The grants read back.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<GrantReport>,
    /// The licenses read back, and what each led to.
    pub licenses: Vec<LicenseReport>,
    /// The typed events emitted, by detail-type.
    pub emitted: Vec<&'static str>,
    /// Intents of earlier invocations (that died or could not publish) delivered first.
    #[serde(skip_serializing_if = "is_zero")]
    pub redriven: usize,
    /// Events that could not be published (their intents are re-driven by the next invocation).
    #[serde(skip_serializing_if = "is_zero")]
    pub publish_failed: usize,
    /// Licenses not checked because the invocation's time was running out.
    #[serde(skip_serializing_if = "is_zero")]
    pub not_started: usize,
    /// The event whose running sweep this one's was coalesced into.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coalesced_into: Option<String>,
    /// Sweeps run once more because events without an ARN arrived during the sweep (the
    /// licenses reported are the last sweep's).
    #[serde(skip_serializing_if = "is_zero")]
    pub swept_again: usize,
    /// Errors that will not heal without a person (AccessDenied, unrecognised credentials, a
    /// missing state table or bus); when any, the invocation fails naming them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs_attention: Vec<String>,
}

/// The handler with its ports and configuration, built once per cold start: License Manager
/// (`L`), the state table (`S`) and the event sink (`P`); by default the AWS adapters.
#[derive(Debug, Clone)]
pub struct LicenseEvents<L = LicenseManager, S = StateStore, P = EventPublisher> {
    license_manager: L,
    state: S,
    publisher: P,
    warning_days: u32,
    max_concurrency: usize,
}

/// A failure to carry to the end of the invocation: the ARN, why, and whether it needs a person
/// (the others are transient).
#[derive(Debug)]
struct Failure {
    arn: String,
    error: String,
    needs_attention: bool,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

impl Failure {
    /// What the outbox could not do.
    fn outbox(failure: &outbox::Failure) -> Self {
        Self {
            arn: failure.resource.clone(),
            error: failure.error.clone(),
            needs_attention: failure.needs_attention,
        }
    }

    /// A failed License Manager call about `arn`.
    fn call(arn: &str, error: &LicenseManagerError) -> Self {
        Self {
            arn: arn.to_owned(),
            error: error.to_string(),
            needs_attention: error.needs_attention(),
        }
    }

    /// The sweep record could not be read or written.
    fn sweep_record(error: &StateError) -> Self {
        Self {
            arn: String::new(),
            error: format!("sweep record: {error}"),
            needs_attention: error.needs_attention(),
        }
    }

    /// State-table errors that need a person, as [`Attention`] noted them.
    fn attention(attention: &Attention) -> impl Iterator<Item = Self> {
        attention.notes().into_iter().map(|error| Self {
            arn: String::new(),
            error,
            needs_attention: true,
        })
    }
}

impl LicenseEvents {
    /// The handler for `config`, calling License Manager through `license_manager` and
    /// EventBridge and DynamoDB through the given clients.
    pub fn new(
        config: &Config,
        license_manager: LicenseManager,
        events: aws_sdk_eventbridge::Client,
        dynamodb: aws_sdk_dynamodb::Client,
    ) -> Self {
        let (state, publisher) = aws_adapters(&config.common, events, dynamodb);
        Self::with_ports(config, license_manager, state, publisher)
    }
}

impl<L: LicenseCalls, S: StateTable, P: EventSink> LicenseEvents<L, S, P> {
    /// The handler for `config` over any License Manager, state table and event sink (the
    /// in-memory ones in unit tests).
    pub fn with_ports(config: &Config, license_manager: L, state: S, publisher: P) -> Self {
        Self {
            license_manager,
            state,
            publisher,
            warning_days: config.expiry_warning_days,
            max_concurrency: config.max_concurrency,
        }
    }

    /// The License Manager port (its call counts, in tests).
    pub fn license_manager(&self) -> &L {
        &self.license_manager
    }

    /// The state table port.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// The event sink port.
    pub fn publisher(&self) -> &P {
        &self.publisher
    }

    /// Handles one invocation: a License Manager event, the scheduled sweep, or anything else
    /// (acknowledged). A malformed payload fails with an error naming what is wrong.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Summary, LicenseEventsError> {
        let budget = Budget::from_deadline_ms(event.context.deadline, OffsetDateTime::now_utc());
        budget.scope(self.dispatch(event.payload, budget)).await
    }

    /// What [`Self::handle`] does, within the invocation's budget.
    async fn dispatch(
        &self,
        payload: Value,
        budget: Budget,
    ) -> Result<Summary, LicenseEventsError> {
        let incoming = match parse_event(payload) {
            Ok(incoming) => incoming,
            Err(error) => {
                tracing::error!(audit = true, outcome = "malformed", error = %error, "license event");
                record_metric("Malformed", "malformed");
                return Err(error.into());
            }
        };
        match incoming {
            IncomingEvent::LicenseManager(event) => {
                let mut summary = Summary::default();
                let mut failures = self.redrive(budget, &mut summary).await;
                let result = self.on_event(event, budget, summary).await;
                match result {
                    Ok((summary, more)) => {
                        failures.extend(more);
                        self.finish(summary, failures)
                    }
                    Err(summary) => self.finish(*summary, failures),
                }
            }
            IncomingEvent::Scheduled(envelope) => {
                let mut summary = Summary {
                    event_id: envelope.id,
                    detail_type: envelope.detail_type,
                    ..Summary::default()
                };
                let mut failures = self.redrive(budget, &mut summary).await;
                failures.extend(self.sweep(&envelope.account, budget, &mut summary).await);
                self.finish(summary, failures)
            }
            IncomingEvent::Unrecognized(envelope) => {
                let summary = Summary {
                    event_id: envelope.id,
                    detail_type: envelope.detail_type,
                    outcome: EventOutcome::Ignored,
                    ..Summary::default()
                };
                tracing::info!(source = %envelope.source, "not an event this function acts on; acknowledged");
                self.finish(summary, Vec::new())
            }
        }
    }

    /// Delivers the intents of earlier invocations whose claim ended (before anything else).
    async fn redrive(&self, budget: Budget, summary: &mut Summary) -> Vec<Failure> {
        let delivery = self.outbox(budget).redrive(&NoEffects).await;
        summary.redriven = delivery.redriven;
        summary
            .emitted
            .extend(delivery.sent.iter().map(|event| event.detail_type()));
        summary.publish_failed += delivery
            .failures
            .iter()
            .filter(|failure| failure.what == outbox::Failed::Publish)
            .count();
        delivery.failures.iter().map(Failure::outbox).collect()
    }

    fn outbox(&self, budget: Budget) -> Outbox<'_, S, P> {
        Outbox::new(
            &self.state,
            &self.publisher,
            StateKey::Outbox {
                owner: FUNCTION.to_owned(),
            },
            budget.deadline,
        )
    }

    /// Handles one License Manager event: the summary and its failures, or (a replay) the
    /// summary to finish as it is.
    async fn on_event(
        &self,
        event: LicenseManagerEvent,
        budget: Budget,
        redriven: Summary,
    ) -> Result<(Summary, Vec<Failure>), Box<Summary>> {
        let hints = event.arn_hints();
        let envelope = &event.envelope;
        let mut summary = Summary {
            event_id: envelope.id.clone(),
            detail_type: event.detail_type.as_str().to_owned(),
            hinted_arns: hints
                .grant_arns
                .iter()
                .chain(&hints.license_arns)
                .cloned()
                .collect(),
            ..redriven
        };
        let processed = StateKey::ProcessedEvent {
            id: envelope.id.clone(),
        };
        // Read first, recorded only once the event is done: an invocation that dies half way
        // leaves no record, so its retry does the work (the "notified" records keep that
        // retry from emitting twice).
        let attention = Attention::default();
        match self.state.get(&processed).await {
            Ok(Some(_)) => {
                summary.outcome = EventOutcome::Replayed;
                return Err(Box::new(summary));
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(error = %error, "state table unavailable; the event is processed even if it is a replay");
                if error.needs_attention() {
                    attention.note(error);
                }
            }
        }
        let mut failures = if hints.is_empty() {
            tracing::info!(event_id = %envelope.id, "no license or grant ARN in the event: sweeping");
            self.sweep_for_event(&envelope.id, &envelope.account, budget, &mut summary)
                .await
        } else {
            let mut failures = Vec::new();
            let mut licenses: BTreeSet<String> = hints.license_arns;
            for grant_arn in &hints.grant_arns {
                match self.license_manager.get_grant(grant_arn).await {
                    Ok(grant) => {
                        // A grantee holds the license only through an ACTIVE grant; a pending,
                        // disabled or rejected grant's license is not this account's concern.
                        let granted_here =
                            arn::account_id(grant_arn) == Some(envelope.account.as_str());
                        let held = decide::follows_grant(grant.grant_status(), granted_here);
                        if held {
                            licenses.insert(grant.license_arn().to_owned());
                        }
                        summary.grants.push(GrantReport {
                            grant_arn: grant_arn.clone(),
                            resolved: true,
                            status: Some(grant.grant_status().as_str().to_owned()),
                            version: Some(grant.version().to_owned()),
                            license_arn: Some(grant.license_arn().to_owned()),
                            note: (!held).then(|| {
                                "the grant is not active: its license is not checked".to_owned()
                            }),
                        });
                    }
                    Err(error)
                        if error.kind == FailureKind::Permanent && !error.needs_attention() =>
                    {
                        summary.grants.push(GrantReport {
                            grant_arn: grant_arn.clone(),
                            note: Some(error.message),
                            ..GrantReport::default()
                        });
                    }
                    Err(error) => failures.push(Failure::call(grant_arn, &error)),
                }
            }
            let reads = Reads {
                usage: event.detail_type == LicenseManagerDetailType::LicenseConsumptionChange,
                tokens: event.detail_type == LicenseManagerDetailType::LicenseTokenChange,
            };
            failures.extend(
                self.check_licenses(&envelope.account, licenses, reads, budget, &mut summary)
                    .await,
            );
            failures
        };
        if failures.is_empty() {
            let expires_at = OffsetDateTime::now_utc() + PROCESSED_EVENT_TTL;
            if let Err(error) = self.state.remember_once(&processed, expires_at).await {
                tracing::warn!(error = %error, "state table: a replay of this event will be read back again");
                if error.needs_attention() {
                    attention.note(error);
                }
            }
        }
        failures.extend(Failure::attention(&attention));
        Ok((summary, failures))
    }

    /// Checks the named licenses concurrently and publishes what is due as it goes.
    async fn check_licenses(
        &self,
        account: &str,
        arns: BTreeSet<String>,
        reads: Reads,
        budget: Budget,
        summary: &mut Summary,
    ) -> Vec<Failure> {
        let checker = self.checker(account, budget);
        let checker = &checker;
        let checks = futures_util::stream::iter(arns).map(|arn| async move {
            if !budget.allows_new_work() {
                return None;
            }
            let result = checker.check_arn(&arn, reads).await;
            Some(match result {
                Ok((report, due)) => Ok((report, due)),
                Err(error) => Err(Failure::call(&arn, &error)),
            })
        });
        self.publish_as_checked(checker, checks, summary).await
    }

    /// Checks every license the account issued or received, for status and expiry,
    /// publishing what is due as it goes.
    async fn sweep(&self, account: &str, budget: Budget, summary: &mut Summary) -> Vec<Failure> {
        let (issued, received) = tokio::join!(
            self.license_manager.list_licenses(),
            self.license_manager.list_received_licenses()
        );
        let mut facts: Vec<LicenseFacts> = Vec::new();
        let mut failures = Vec::new();
        match issued {
            Ok(licenses) => facts.extend(licenses.iter().map(LicenseFacts::from)),
            Err(error) => failures.push(Failure::call("", &error)),
        }
        match received {
            Ok(licenses) => facts.extend(
                licenses
                    .iter()
                    .filter(|license| held_through_active_grant(license))
                    .map(LicenseFacts::from),
            ),
            Err(error) => failures.push(Failure::call("", &error)),
        }
        let checker = self.checker(account, budget);
        let checker = &checker;
        let checks = futures_util::stream::iter(facts).map(|facts| async move {
            if !budget.allows_new_work() {
                return None;
            }
            let mut report = LicenseReport::default();
            let due = checker.check(&facts, &[], &mut report).await;
            Some(Ok((report, due)))
        });
        failures.extend(self.publish_as_checked(checker, checks, summary).await);
        failures
    }

    /// The sweep an event without an ARN calls for, coalesced with the sweeps of other such
    /// events (README, "Coalesced sweeps"): while one runs, the others only ask it to run once
    /// more.
    async fn sweep_for_event(
        &self,
        event_id: &str,
        account: &str,
        budget: Budget,
        summary: &mut Summary,
    ) -> Vec<Failure> {
        let record = StateKey::Sweep {
            owner: FUNCTION.to_owned(),
        };
        let swept = coalesce::sweep_for_event(
            &self.state,
            &record,
            event_id,
            budget,
            async || {
                // The summary reports the last sweep's licenses.
                summary.licenses.clear();
                self.sweep(account, budget, summary).await
            },
            Vec::is_empty,
        )
        .await;
        match swept {
            Swept::Coalesced { into } => {
                summary.outcome = EventOutcome::Coalesced;
                summary.coalesced_into = Some(into);
                Vec::new()
            }
            Swept::Ran {
                mut last,
                swept_again,
                fail,
            } => {
                summary.swept_again = swept_again;
                match fail {
                    None => {}
                    Some(MustFail::Record(error)) => last.push(Failure::sweep_record(&error)),
                    Some(MustFail::RetrySweeps(why)) => last.push(Failure {
                        arn: String::new(),
                        error: why.to_owned(),
                        needs_attention: false,
                    }),
                }
                last
            }
        }
    }

    /// Runs `checks` (at most `MAX_CONCURRENCY` at once) and delivers their claims in batches
    /// of up to ten events as they complete, so that a sweep cut short by its deadline has
    /// sent what it found. A check the budget did not start yields `None`.
    async fn publish_as_checked<F>(
        &self,
        checker: &LicenseChecker<'_, L, S, P>,
        checks: impl futures_util::Stream<Item = F>,
        summary: &mut Summary,
    ) -> Vec<Failure>
    where
        F: std::future::Future<Output = Option<Result<(LicenseReport, Vec<Claim>), Failure>>>,
    {
        let mut failures = Vec::new();
        let mut batch: Vec<Claim> = Vec::new();
        let mut checks = std::pin::pin!(checks.buffer_unordered(self.max_concurrency.max(1)));
        while let Some(checked) = checks.next().await {
            match checked {
                None => summary.not_started += 1,
                Some(Ok((report, due))) => {
                    summary.licenses.push(report);
                    batch.extend(due);
                }
                Some(Err(failure)) => failures.push(failure),
            }
            let events: usize = batch.iter().map(|claim| claim.intent.events.len()).sum();
            if events >= MAX_ENTRIES_PER_CALL {
                failures.extend(
                    self.deliver(checker, std::mem::take(&mut batch), summary)
                        .await,
                );
            }
        }
        failures.extend(self.deliver(checker, batch, summary).await);
        if summary.not_started > 0 {
            failures.push(Failure {
                arn: String::new(),
                error: format!(
                    "{} licenses not checked: the invocation's time ran out",
                    summary.not_started
                ),
                needs_attention: false,
            });
        }
        failures.extend(
            checker
                .busy
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .drain(..)
                .map(|error| Failure {
                    arn: String::new(),
                    error,
                    needs_attention: false,
                }),
        );
        failures.extend(Failure::attention(&checker.attention));
        failures
    }

    fn checker<'a>(&'a self, account: &'a str, budget: Budget) -> LicenseChecker<'a, L, S, P> {
        LicenseChecker {
            license_manager: &self.license_manager,
            state: &self.state,
            outbox: self.outbox(budget),
            busy: std::sync::Mutex::default(),
            account,
            warning_days: self.warning_days,
            now: OffsetDateTime::now_utc(),
            attention: Attention::default(),
        }
    }

    /// Delivers `claims` through the outbox; what was not published is kept there for the
    /// next invocation and returned as failures.
    async fn deliver(
        &self,
        checker: &LicenseChecker<'_, L, S, P>,
        claims: Vec<Claim>,
        summary: &mut Summary,
    ) -> Vec<Failure> {
        if claims.is_empty() {
            return Vec::new();
        }
        let delivery = checker.outbox.deliver(claims).await;
        summary
            .emitted
            .extend(delivery.sent.iter().map(|event| event.detail_type()));
        summary.publish_failed += delivery.failures.len();
        delivery.failures.iter().map(Failure::outbox).collect()
    }

    /// Logs the audit line, records the metrics and turns failures into the invocation's error.
    fn finish(
        &self,
        mut summary: Summary,
        failures: Vec<Failure>,
    ) -> Result<Summary, LicenseEventsError> {
        if !failures.is_empty() {
            summary.outcome = EventOutcome::Failed;
        } else if summary.outcome == EventOutcome::Processed
            && (summary.licenses.iter().any(|l| !l.resolved)
                || summary.grants.iter().any(|g| !g.resolved))
        {
            summary.outcome = EventOutcome::Unresolved;
        }
        summary.needs_attention = failures
            .iter()
            .filter(|failure| failure.needs_attention)
            .map(|failure| format!("{}: {}", failure.arn, failure.error))
            .collect();
        summary
            .licenses
            .sort_by(|a, b| a.license_arn.cmp(&b.license_arn));
        summary.emitted.sort_unstable();
        let audit = serde_json::to_string(&summary).unwrap_or_default();
        if failures.is_empty() {
            tracing::info!(audit = %audit, outcome = summary.outcome.as_str(), "license event");
        } else {
            tracing::error!(audit = %audit, outcome = "failed", failures = ?failures, "license event");
        }
        record_metric(&summary.detail_type, summary.outcome.as_str());
        for detail_type in &summary.emitted {
            metrics::counter!("EventsEmitted", "EventType" => *detail_type).increment(1);
        }
        metrics::counter!("PublishFailed")
            .increment(u64::try_from(summary.publish_failed).unwrap_or(u64::MAX));
        let line = |failure: &Failure| format!("{}: {}", failure.arn, failure.error);
        let (attention, transient): (Vec<&Failure>, Vec<&Failure>) =
            failures.iter().partition(|failure| failure.needs_attention);
        if !attention.is_empty() {
            tracing::error!(errors = ?summary.needs_attention, "errors that need a person: failing the invocation");
            Err(LicenseEventsError::NeedsAttention {
                failures: attention.into_iter().chain(transient).map(line).collect(),
                summary: Box::new(summary),
            })
        } else if failures.is_empty() {
            Ok(summary)
        } else {
            Err(LicenseEventsError::Transient {
                failures: transient.into_iter().map(line).collect(),
            })
        }
    }
}

/// Whether a received license is in use here: its grant was accepted and activated (a
/// listing without the metadata is taken as in use).
fn held_through_active_grant(license: &GrantedLicense) -> bool {
    decide::in_use_here(
        license
            .received_metadata()
            .and_then(|metadata| metadata.received_status()),
    )
}

/// One EMF count per event, by detail-type and outcome.
fn record_metric(detail_type: &str, outcome: &'static str) {
    metrics::counter!(
        "LicenseEvents",
        "DetailType" => detail_type.to_owned(),
        "Outcome" => outcome
    )
    .increment(1);
}
