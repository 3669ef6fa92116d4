//! soft-limit-monitor: alerts once per crossing when usage of a soft-limited license
//! configuration nears, passes and falls back under its limit, and when a managed
//! entitlement that allows overage passes MaxCount; under `ENFORCEMENT=harden` it turns a
//! breached soft limit hard (README, soft-limit-monitor).
//!
//! A scheduled sweep (the template's `Sweep` schedule, or the same event invoked by hand) lists
//! every license configuration and every issued or received license. Limits are checked
//! concurrently with at most `MAX_CONCURRENCY` License Manager calls in flight. A limit that
//! fails does not stop the others; when some failed transiently the invocation fails at the
//! end, so that Lambda retries it, and the retry alerts nothing twice.
//!
//! What a level calls for is the pure [`decide`] module; License Manager, the state table and
//! the event sink are ports ([`LimitCalls`], [`StateTable`], [`EventSink`]), so the handler
//! runs against the SDK adapters in production and in-memory versions in unit tests.

mod config;
pub mod decide;
mod error;
mod license_manager;
mod limit;
mod ports;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use futures_util::StreamExt as _;
use lambda_runtime::LambdaEvent;
use license_automation::attention::Attention;
use license_automation::deadline::Budget;
use license_automation::events_in::{IncomingEvent, parse_event};
use license_automation::events_out::publisher::EventPublisher;
use license_automation::outbox::{self, Outbox};
use license_automation::ports::{EventSink, StateTable, aws_adapters};
use license_automation::state::{StateKey, StateStore};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

pub use config::{Config, Enforcement};
pub use decide::{OPT_OUT_TAG_KEY, OPT_OUT_TAG_VALUE, WatchMode, watched};
pub use error::SoftLimitMonitorError;
pub use license_manager::{
    CallStats, FailureKind, LicenseEntitlements, LicenseManager, LicenseManagerError,
};
pub use limit::{Hardening, LimitChecker, LimitError, LimitTally};

/// This function's partition of the outbox index.
const OUTBOX_OWNER: &str = "soft-limit-monitor";
pub use ports::LimitCalls;

/// What started an invocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Trigger {
    /// The schedule, or an on-demand invocation with a scheduled event (or `{}`).
    #[default]
    Sweep,
    /// An event this function does not act on (acknowledged with a log line).
    Ignored,
}

/// What an invocation did; the handler's result (camelCase JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// What started the invocation.
    pub trigger: Trigger,
    /// Whether `DRY_RUN` was on.
    pub dry_run: bool,
    /// Limits checked: soft-limited configurations plus entitlements that allow overage.
    pub examined: usize,
    /// Of those, license configurations.
    pub configurations: usize,
    /// Of those, entitlements.
    pub entitlements: usize,
    /// Configurations not watched: hard limits (only followed until they recover from an
    /// alert given while soft), disabled ones, ones without a count.
    pub skipped: usize,
    /// Alerts published (Warning, Exceeded, Recovered, Overage).
    pub alerted: usize,
    /// Configurations hardened (in a dry run: that would have been).
    pub enforced: usize,
    /// Limits or listings that could not be checked.
    pub failed: usize,
    /// Enforcements that failed (each announced with `Soft Limit Enforcement Failed`).
    pub enforcement_failed: usize,
    /// Events that could not be published (their intents are re-driven by the next invocation).
    pub publish_failed: usize,
    /// Intents of earlier invocations (that died or could not publish) delivered first.
    pub redriven: usize,
    /// Limits not started because the invocation's time was running out (the next sweep
    /// checks them).
    pub not_started: usize,
    /// Errors that will not heal without a person (AccessDenied, unrecognised credentials, a
    /// missing state table or bus); when any, the invocation fails naming them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs_attention: Vec<String>,
}

impl Summary {
    /// Records the counts as EMF metrics.
    fn record_metrics(&self) {
        for (name, value) in [
            ("LimitsExamined", self.examined),
            ("LimitsSkipped", self.skipped),
            ("LimitAlerts", self.alerted),
            ("LimitsEnforced", self.enforced),
            ("LimitsFailed", self.failed),
            ("EnforcementFailed", self.enforcement_failed),
            ("PublishFailed", self.publish_failed),
            ("IntentsRedriven", self.redriven),
        ] {
            metrics::counter!(name).increment(u64::try_from(value).unwrap_or(u64::MAX));
        }
    }

    fn count(&mut self, tally: LimitTally) {
        self.alerted += tally.alerted;
        self.enforced += usize::from(tally.enforced);
    }

    /// Counts a limit that failed, by what failed, and adds it to `failures`.
    fn count_error(&mut self, error: &LimitError, failures: &mut Failures, resource: &str) {
        match error {
            LimitError::Enforcement(_) => self.enforcement_failed += 1,
            LimitError::Unpublished(unpublished) => self.publish_failed += unpublished.len(),
            _ => {}
        }
        failures.add(
            resource,
            error,
            error.is_transient(),
            error.needs_attention(),
        );
    }

    /// Counts what the re-drive of earlier intents could not do.
    fn count_failures(&mut self, failures: &[outbox::Failure]) {
        for failure in failures {
            match failure.what {
                outbox::Failed::Effect => self.enforcement_failed += 1,
                outbox::Failed::Publish => self.publish_failed += 1,
                outbox::Failed::State | outbox::Failed::Intent => {}
            }
        }
    }
}

/// The handler with its ports and configuration, built once per cold start: License Manager
/// (`L`), the state table (`S`) and the event sink (`P`); by default the AWS adapters.
#[derive(Debug, Clone)]
pub struct SoftLimitMonitor<L = LicenseManager, S = StateStore, P = EventPublisher> {
    license_manager: L,
    state: S,
    publisher: P,
    warn_threshold_percent: u8,
    enforcement: Enforcement,
    dry_run: bool,
    max_concurrency: usize,
}

/// Failures of one sweep: how many, the transient ones and the ones that need a person (both
/// fail the invocation).
#[derive(Debug, Default)]
struct Failures {
    count: usize,
    transient: Vec<String>,
    attention: Vec<String>,
}

impl Failures {
    fn add(
        &mut self,
        what: &str,
        error: &dyn std::fmt::Display,
        transient: bool,
        needs_attention: bool,
    ) {
        self.count += 1;
        let retried = transient || needs_attention;
        tracing::error!(decision = "failed", resource = what, error = %error, retried, needs_attention, "limit check");
        if needs_attention {
            self.attention.push(format!("{what}: {error}"));
        } else if transient {
            self.transient.push(format!("{what}: {error}"));
        }
    }
}

impl SoftLimitMonitor {
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

impl<L: LimitCalls, S: StateTable, P: EventSink> SoftLimitMonitor<L, S, P> {
    /// The handler for `config` over any License Manager, state table and event sink (the
    /// in-memory ones in unit tests).
    pub fn with_ports(config: &Config, license_manager: L, state: S, publisher: P) -> Self {
        Self {
            license_manager,
            state,
            publisher,
            warn_threshold_percent: config.warn_threshold_percent,
            enforcement: config.enforcement,
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

    /// Handles one invocation: a scheduled event sweeps; anything else is acknowledged. A
    /// malformed payload fails with an error naming what is wrong.
    pub async fn handle(
        &self,
        event: LambdaEvent<Value>,
    ) -> Result<Summary, SoftLimitMonitorError> {
        let account = match parse_event(event.payload)? {
            IncomingEvent::Scheduled(envelope) => envelope.account,
            IncomingEvent::LicenseManager(event) => {
                tracing::info!(event_id = %event.envelope.id, detail_type = event.detail_type.as_str(), "License Manager events are license-events' job; acknowledged");
                return Ok(self.ignored());
            }
            IncomingEvent::Unrecognized(envelope) => {
                tracing::info!(event_id = %envelope.id, source = %envelope.source, detail_type = %envelope.detail_type, "not an event this function acts on; acknowledged");
                return Ok(self.ignored());
            }
        };
        let account = Some(account.as_str()).filter(|account| !account.is_empty());
        let budget = Budget::from_deadline_ms(event.context.deadline, OffsetDateTime::now_utc());
        budget.scope(self.sweep(account, budget)).await
    }

    fn ignored(&self) -> Summary {
        Summary {
            trigger: Trigger::Ignored,
            dry_run: self.dry_run,
            ..Summary::default()
        }
    }

    /// Re-drives the intents of earlier invocations whose claim ended, then checks every
    /// watched configuration and entitlement while `budget` allows new work.
    pub async fn sweep(
        &self,
        account: Option<&str>,
        budget: Budget,
    ) -> Result<Summary, SoftLimitMonitorError> {
        let outbox = Outbox::new(
            &self.state,
            &self.publisher,
            StateKey::Outbox {
                owner: OUTBOX_OWNER.to_owned(),
            },
            budget.deadline,
        );
        let mut failures = Failures::default();
        let redriven = outbox
            .redrive(&Hardening {
                license_manager: &self.license_manager,
            })
            .await;
        for failure in &redriven.failures {
            failures.add(
                &failure.resource,
                &failure.error,
                !failure.needs_attention,
                failure.needs_attention,
            );
        }
        let mut checker = LimitChecker {
            license_manager: &self.license_manager,
            state: &self.state,
            outbox,
            warn_threshold_percent: self.warn_threshold_percent,
            enforcement: self.enforcement,
            dry_run: self.dry_run,
            account,
            prefetched: HashMap::new(),
            attention: Attention::default(),
        };
        let mut summary = Summary {
            trigger: Trigger::Sweep,
            dry_run: self.dry_run,
            redriven: redriven.redriven,
            ..Summary::default()
        };
        summary.count_failures(&redriven.failures);
        // MAX_CONCURRENCY bounds the License Manager calls in flight (the adapter's permits);
        // twice as many limits are in progress so that state-table reads and writes do not
        // leave License Manager capacity idle.
        let in_progress = self.max_concurrency.max(1) * 2;
        let (configurations, licenses) = tokio::join!(
            self.license_manager.list_license_configurations(),
            self.license_manager.licenses()
        );
        match configurations {
            Ok(configurations) => {
                let mut checked = Vec::new();
                for configuration in configurations {
                    match watched(&configuration) {
                        WatchMode::Soft => {
                            summary.configurations += 1;
                            checked.push(configuration);
                        }
                        WatchMode::Hard => {
                            summary.skipped += 1;
                            checked.push(configuration);
                        }
                        WatchMode::Skip(reason) => {
                            summary.skipped += 1;
                            tracing::debug!(
                                license_configuration_arn =
                                    configuration.license_configuration_arn(),
                                reason,
                                "not watched"
                            );
                        }
                    }
                }
                // One BatchGetItem per 100 configurations instead of a GetItem each.
                checker.prefetch(&checked).await;
                let checker = &checker;
                let results: Vec<_> = futures_util::stream::iter(&checked)
                    .map(|configuration| async move {
                        if !budget.allows_new_work() {
                            return (configuration, None);
                        }
                        (
                            configuration,
                            Some(checker.configuration(configuration).await),
                        )
                    })
                    .buffer_unordered(in_progress)
                    .collect()
                    .await;
                for (configuration, result) in results {
                    match result {
                        None => summary.not_started += 1,
                        Some(Ok(outcome)) => summary.count(outcome),
                        Some(Err(error)) => summary.count_error(
                            &error,
                            &mut failures,
                            configuration
                                .license_configuration_arn()
                                .unwrap_or_default(),
                        ),
                    }
                }
            }
            Err(error) => failures.add(
                "ListLicenseConfigurations",
                &error,
                error.kind == FailureKind::Transient,
                error.needs_attention(),
            ),
        }
        match licenses {
            Ok(licenses) => {
                let checker = &checker;
                let results: Vec<_> = futures_util::stream::iter(&licenses)
                    .map(|license| async move {
                        if !budget.allows_new_work() {
                            return (license, None);
                        }
                        let result = checker
                            .entitlements(&license.license_arn, &license.entitlements)
                            .await;
                        (license, Some(result))
                    })
                    .buffer_unordered(in_progress)
                    .collect()
                    .await;
                for (license, result) in results {
                    match result {
                        None => summary.not_started += 1,
                        Some(Ok((checked, outcome))) => {
                            summary.entitlements += checked;
                            summary.count(outcome);
                        }
                        Some(Err(error)) => {
                            summary.count_error(&error, &mut failures, &license.license_arn);
                        }
                    }
                }
            }
            Err(error) => failures.add(
                "ListLicenses/ListReceivedLicenses",
                &error,
                error.kind == FailureKind::Transient,
                error.needs_attention(),
            ),
        }
        if summary.not_started > 0 {
            let error = format!(
                "{} limits not started: the invocation's time ran out (the next sweep checks them)",
                summary.not_started
            );
            failures.add("time budget", &error, true, false);
        }
        summary.examined = summary.configurations + summary.entitlements;
        summary.failed = failures.count;
        let mut attention = checker.attention.notes();
        attention.append(&mut failures.attention);
        summary.needs_attention.clone_from(&attention);
        summary.record_metrics();
        tracing::info!(summary = %serde_json::to_string(&summary).unwrap_or_default(), "invocation summary");
        if !attention.is_empty() {
            tracing::error!(errors = ?attention, "errors that need a person: failing the invocation");
            attention.append(&mut failures.transient);
            Err(SoftLimitMonitorError::NeedsAttention {
                summary,
                failures: attention,
            })
        } else if failures.transient.is_empty() {
            Ok(summary)
        } else {
            Err(SoftLimitMonitorError::Transient {
                summary,
                failures: failures.transient,
            })
        }
    }
}
