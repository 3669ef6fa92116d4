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
}

impl SoftLimitMonitorError {
    /// The `errorType` Lambda reports.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::MalformedEvent(_) => "MalformedEvent",
            Self::Transient { .. } => "TransientLimitFailures",
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
