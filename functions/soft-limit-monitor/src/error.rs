//! Why an invocation fails, and how Lambda reports it.

use lambda_runtime::Diagnostic;
use license_automation::events_in::MalformedEvent;

use crate::Summary;

/// An invocation that failed. Lambda retries it (twice for asynchronous invocations), then
/// the dead-letter queue keeps the event.
#[derive(Debug, thiserror::Error)]
pub enum SoftLimitMonitorError {
    /// The payload is not a well-formed EventBridge or scheduled event; nothing was changed.
    #[error(transparent)]
    MalformedEvent(#[from] MalformedEvent),
    /// Some configurations, entitlements or listings failed transiently (after retries); the
    /// others were handled and alerted. A retry alerts nothing twice: alert state is kept per
    /// resource.
    #[error("{} limit check(s) or listing(s) of {} examined failed transiently and will be retried: {}", failures.len(), summary.examined, failures.join("; "))]
    Transient {
        /// What was done before failing.
        summary: Summary,
        /// One line per failure.
        failures: Vec<String>,
    },
    /// Some failures will not heal without a person (AccessDenied, unrecognised credentials,
    /// a missing state table or bus); the other limits were checked. Lambda's retries end in
    /// the dead-letter queue and its alarm.
    #[error("{} error(s) need a person: {}", summary.needs_attention.len(), failures.join("; "))]
    NeedsAttention {
        /// What was done before failing; `needsAttention` names the errors.
        summary: Summary,
        /// The errors that need a person, then any transient ones.
        failures: Vec<String>,
    },
}

impl SoftLimitMonitorError {
    /// The `errorType` Lambda reports.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::MalformedEvent(_) => "MalformedEvent",
            Self::Transient { .. } => "TransientLimitFailures",
            Self::NeedsAttention { .. } => "NeedsAttention",
        }
    }
}

impl From<SoftLimitMonitorError> for Diagnostic {
    fn from(error: SoftLimitMonitorError) -> Self {
        Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }
    }
}
