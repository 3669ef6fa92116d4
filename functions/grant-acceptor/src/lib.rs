//! grant-acceptor: accepts and activates License Manager grants whose issuer the account
//! trusts, and leaves or rejects the rest, reporting every decision (README, grant-acceptor).
//!
//! Two triggers run the same reconciliation: a `Grant Change` event from License Manager
//! reconciles the grants its `resources`/`detail` name; a scheduled sweep (or an event with
//! no grant ARN in it) reconciles every received grant that is PENDING_ACCEPT or DISABLED.
//! Grants are handled concurrently with at most `MAX_CONCURRENCY` License Manager calls in
//! flight. A grant that fails transiently does not stop the others; the invocation fails at
//! the end so that Lambda retries it, and the retry redoes nothing that succeeded.
//!
//! What to do with a grant is the pure [`decide`] module; License Manager, the state table and
//! the event sink are ports ([`GrantCalls`], [`StateTable`], [`EventSink`]), so the handler
//! runs against the SDK adapters in production and in-memory versions in unit tests.

mod config;
pub mod decide;
mod error;
mod license_manager;
mod ports;
mod reconcile;
#[cfg(test)]
mod tests;
pub mod trust;

use futures_util::StreamExt as _;
use lambda_runtime::LambdaEvent;
use license_automation::coalesce::{self, MustFail, Swept};
use license_automation::deadline::Budget;
use license_automation::events_in::{IncomingEvent, LicenseManagerDetailType, parse_event};
use license_automation::events_out::publisher::{EventPublisher, MAX_ENTRIES_PER_CALL};
use license_automation::outbox::{self, Claim, Outbox};
use license_automation::ports::{EventSink, StateTable, aws_adapters};
use license_automation::state::{StateError, StateKey, StateStore};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use trust::TrustPolicy;

pub use config::Config;
pub use decide::{GrantOutcome, GrantPlan};
pub use error::GrantAcceptorError;
pub use license_manager::{
    ACTIONABLE_STATUSES, CallStats, FailureKind, LicenseManager, LicenseManagerError,
    activation_token,
};
pub use ports::GrantCalls;
pub use reconcile::{GrantError, NOTIFIED_RECORD_TTL, Reconciler};

/// This function's name: its partition of the outbox index and its sweep record.
const FUNCTION: &str = "grant-acceptor";

/// What started an invocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Trigger {
    /// A `Grant Change` event naming grants: those grants.
    #[default]
    Event,
    /// A schedule, or a `Grant Change` event without a grant ARN: every actionable grant.
    Sweep,
    /// A `Grant Change` event without a grant ARN that arrived while another such event's
    /// sweep ran: that sweep runs once more instead (`coalescedInto`).
    Coalesced,
    /// An event this function does not act on (acknowledged with a log line).
    Ignored,
}

/// What an invocation did; the handler's result (camelCase JSON).
///
/// In a dry run the counts say what would have been done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// What started the invocation.
    pub trigger: Trigger,
    /// Whether `DRY_RUN` was on.
    pub dry_run: bool,
    /// Grants looked at.
    pub examined: usize,
    /// Grants accepted (PENDING_ACCEPT before).
    pub accepted: usize,
    /// Grants activated (accepted now or before).
    pub activated: usize,
    /// Untrusted grants rejected.
    pub rejected: usize,
    /// Grants left as they were (untrusted and ignored, already active, deactivated by someone).
    pub left: usize,
    /// Grants that could not be handled, or whose event could not be published.
    pub failed: usize,
    /// Events that could not be published (their intents are re-driven by the next invocation).
    pub publish_failed: usize,
    /// Decisions of earlier invocations (that died or could not publish) carried out and
    /// announced first.
    pub redriven: usize,
    /// Grants not started because the invocation's time was running out.
    pub not_started: usize,
    /// The event whose running sweep this one's was coalesced into.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coalesced_into: Option<String>,
    /// Sweeps run once more because events without a grant ARN arrived during the sweep.
    #[serde(skip_serializing_if = "is_zero")]
    pub swept_again: usize,
    /// Errors that will not heal without a person (AccessDenied, unrecognised credentials, a
    /// missing state table or bus); when any, the invocation fails naming them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs_attention: Vec<String>,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

impl Summary {
    fn count(&mut self, outcome: GrantOutcome) {
        match outcome {
            GrantOutcome::Accepted { activated } => {
                self.accepted += 1;
                self.activated += usize::from(activated);
            }
            GrantOutcome::Activated => self.activated += 1,
            GrantOutcome::Rejected => self.rejected += 1,
            GrantOutcome::Left => self.left += 1,
        }
    }

    /// Records the counts as EMF metrics.
    fn record_metrics(&self) {
        for (name, value) in [
            ("GrantsExamined", self.examined),
            ("GrantsAccepted", self.accepted),
            ("GrantsActivated", self.activated),
            ("GrantsRejected", self.rejected),
            ("GrantsLeft", self.left),
            ("GrantsFailed", self.failed),
            ("PublishFailed", self.publish_failed),
            ("IntentsRedriven", self.redriven),
        ] {
            metrics::counter!(name).increment(u64::try_from(value).unwrap_or(u64::MAX));
        }
    }
}

/// The handler with its ports and configuration, built once per cold start: License Manager
/// (`L`), the state table (`S`) and the event sink (`P`); by default the AWS adapters.
#[derive(Debug, Clone)]
pub struct GrantAcceptor<L = LicenseManager, S = StateStore, P = EventPublisher> {
    license_manager: L,
    state: S,
    publisher: P,
    policy: TrustPolicy,
    dry_run: bool,
    max_concurrency: usize,
}

impl GrantAcceptor {
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

impl<L: GrantCalls, S: StateTable, P: EventSink> GrantAcceptor<L, S, P> {
    /// The handler for `config` over any License Manager, state table and event sink (the
    /// in-memory ones in unit tests).
    pub fn with_ports(config: &Config, license_manager: L, state: S, publisher: P) -> Self {
        Self {
            license_manager,
            state,
            publisher,
            policy: config.trust_policy.clone(),
            dry_run: config.dry_run,
            max_concurrency: config.max_concurrency,
        }
    }

    /// The License Manager port (its call counts, in tests and benchmarks).
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

    /// Handles one invocation: a `Grant Change` event, a scheduled event, or anything else
    /// (acknowledged). A malformed payload fails with an error naming what is wrong.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Summary, GrantAcceptorError> {
        let budget = Budget::from_deadline_ms(event.context.deadline, OffsetDateTime::now_utc());
        budget.scope(self.dispatch(event.payload, budget)).await
    }

    /// What [`Self::handle`] does, within the invocation's budget.
    async fn dispatch(
        &self,
        payload: Value,
        budget: Budget,
    ) -> Result<Summary, GrantAcceptorError> {
        match parse_event(payload)? {
            IncomingEvent::LicenseManager(event)
                if event.detail_type == LicenseManagerDetailType::GrantChange =>
            {
                let grants: Vec<String> = event.arn_hints().grant_arns.into_iter().collect();
                let account = Some(event.envelope.account.as_str());
                if grants.is_empty() {
                    tracing::info!(event_id = %event.envelope.id, "Grant Change without a grant ARN: sweeping");
                    self.sweep_for_event(&event.envelope.id, account, budget)
                        .await
                } else {
                    self.reconcile_all(Trigger::Event, account, grants, budget)
                        .await
                }
            }
            IncomingEvent::Scheduled(envelope) => {
                let account = Some(envelope.account.as_str()).filter(|account| !account.is_empty());
                self.sweep(account, budget).await
            }
            IncomingEvent::LicenseManager(event) => {
                tracing::info!(event_id = %event.envelope.id, detail_type = event.detail_type.as_str(), "not a Grant Change; acknowledged");
                Ok(self.ignored())
            }
            IncomingEvent::Unrecognized(envelope) => {
                tracing::info!(event_id = %envelope.id, source = %envelope.source, detail_type = %envelope.detail_type, "not an event this function acts on; acknowledged");
                Ok(self.ignored())
            }
        }
    }

    /// Reconciles every actionable received grant.
    async fn sweep(
        &self,
        account: Option<&str>,
        budget: Budget,
    ) -> Result<Summary, GrantAcceptorError> {
        let grants = self
            .license_manager
            .list_received_grants(&ACTIONABLE_STATUSES)
            .await
            .map_err(GrantAcceptorError::ListGrants)?;
        self.reconcile_all(Trigger::Sweep, account, grants, budget)
            .await
    }

    /// The sweep a `Grant Change` without a grant ARN calls for, coalesced with the sweeps of
    /// other such events (README, "Coalesced sweeps"): while one runs, the others only ask it
    /// to run once more.
    async fn sweep_for_event(
        &self,
        event_id: &str,
        account: Option<&str>,
        budget: Budget,
    ) -> Result<Summary, GrantAcceptorError> {
        let record = StateKey::Sweep {
            owner: FUNCTION.to_owned(),
        };
        let swept = coalesce::sweep_for_event(
            &self.state,
            &record,
            event_id,
            budget,
            async || self.sweep(account, budget).await,
            Result::is_ok,
        )
        .await;
        match swept {
            Swept::Coalesced { into } => Ok(Summary {
                trigger: Trigger::Coalesced,
                dry_run: self.dry_run,
                coalesced_into: Some(into),
                ..Summary::default()
            }),
            Swept::Ran {
                last,
                swept_again,
                fail,
            } => {
                let mut summary = last?;
                summary.swept_again = swept_again;
                match fail {
                    None => Ok(summary),
                    Some(MustFail::Record(error)) => Err(sweep_record_failed(summary, &error)),
                    Some(MustFail::RetrySweeps(why)) => Err(GrantAcceptorError::Transient {
                        summary,
                        failures: vec![why.to_owned()],
                    }),
                }
            }
        }
    }

    fn ignored(&self) -> Summary {
        Summary {
            trigger: Trigger::Ignored,
            dry_run: self.dry_run,
            ..Summary::default()
        }
    }

    async fn reconcile_all(
        &self,
        trigger: Trigger,
        account: Option<&str>,
        grants: Vec<String>,
        budget: Budget,
    ) -> Result<Summary, GrantAcceptorError> {
        let outbox = Outbox::new(
            &self.state,
            &self.publisher,
            StateKey::Outbox {
                owner: FUNCTION.to_owned(),
            },
            budget.deadline,
        );
        let (decided, mut pending) = tokio::sync::mpsc::unbounded_channel::<Claim>();
        let reconciler = Reconciler::new(
            &self.license_manager,
            &outbox,
            &self.policy,
            self.dry_run,
            account,
            decided,
        );
        // Decisions of earlier invocations whose claim ended are carried out and announced
        // first, whatever their grants' status now.
        let redriven = outbox.redrive(&reconciler).await;
        // MAX_CONCURRENCY bounds the License Manager calls in flight (the adapter's permits);
        // twice as many grants are in progress so that their state-table writes do not leave
        // License Manager capacity idle.
        let deciding = async move {
            let reconciler = &reconciler;
            let results: Vec<(String, Option<Result<GrantOutcome, GrantError>>)> =
                futures_util::stream::iter(grants)
                    .map(|arn| async move {
                        if !budget.allows_new_work() {
                            return (arn, None);
                        }
                        let result = reconciler.reconcile(&arn).await;
                        (arn, Some(result))
                    })
                    .buffer_unordered(self.max_concurrency.max(1) * 2)
                    .collect()
                    .await;
            (results, reconciler.attention())
        };
        // Events are delivered while grants are decided, up to ten per PutEvents call.
        let outbox = &outbox;
        let publishing = async move {
            let mut failed = Vec::new();
            let mut batch = Vec::new();
            while pending.recv_many(&mut batch, MAX_ENTRIES_PER_CALL).await > 0 {
                failed.extend(outbox.deliver(std::mem::take(&mut batch)).await.failures);
            }
            failed
        };
        let ((results, state_attention), unpublished) = tokio::join!(deciding, publishing);
        let mut summary = Summary {
            trigger,
            dry_run: self.dry_run,
            examined: results.len(),
            redriven: redriven.redriven,
            ..Summary::default()
        };
        let mut transient = Vec::new();
        let mut attention = state_attention;
        for failure in redriven.failures.iter().chain(&unpublished) {
            match failure.what {
                outbox::Failed::Publish => {
                    summary.failed += 1;
                    summary.publish_failed += 1;
                }
                outbox::Failed::Effect | outbox::Failed::Intent => summary.failed += 1,
                // The table itself: named in needs_attention, not a grant that failed.
                outbox::Failed::State => {}
            }
            let (arn, error, needs_attention) =
                (&failure.resource, &failure.error, failure.needs_attention);
            tracing::error!(decision = "failed", grant_arn = %arn, error = %error, retried = true, needs_attention, "grant outbox");
            if needs_attention {
                attention.push(format!("{arn}: {error}"));
            } else {
                transient.push(format!("{arn}: {error}"));
            }
        }
        for (arn, result) in results {
            let Some(result) = result else {
                summary.not_started += 1;
                continue;
            };
            match result {
                Ok(outcome) => summary.count(outcome),
                Err(error) => {
                    summary.failed += 1;
                    let needs_attention = error.needs_attention();
                    let retried = needs_attention || error.is_transient();
                    tracing::error!(decision = "failed", grant_arn = %arn, error = %error, retried, needs_attention, "grant decision");
                    if needs_attention {
                        attention.push(format!("{arn}: {error}"));
                    } else if retried {
                        transient.push(format!("{arn}: {error}"));
                    }
                }
            }
        }
        if summary.not_started > 0 {
            transient.push(format!(
                "{} grants not started: the invocation's time ran out (the retry or next sweep decides them)",
                summary.not_started
            ));
        }
        summary.needs_attention.clone_from(&attention);
        summary.record_metrics();
        tracing::info!(summary = %serde_json::to_string(&summary).unwrap_or_default(), "invocation summary");
        if !attention.is_empty() {
            tracing::error!(errors = ?attention, "errors that need a person: failing the invocation");
            attention.extend(transient);
            Err(GrantAcceptorError::NeedsAttention {
                summary,
                failures: attention,
            })
        } else if transient.is_empty() {
            Ok(summary)
        } else {
            Err(GrantAcceptorError::Transient {
                summary,
                failures: transient,
            })
        }
    }
}

/// The invocation's failure when the sweep record could not be read or written.
fn sweep_record_failed(mut summary: Summary, error: &StateError) -> GrantAcceptorError {
    let failure = format!("sweep record: {error}");
    if error.needs_attention() {
        summary.needs_attention.push(failure.clone());
        GrantAcceptorError::NeedsAttention {
            summary,
            failures: vec![failure],
        }
    } else {
        GrantAcceptorError::Transient {
            summary,
            failures: vec![failure],
        }
    }
}
