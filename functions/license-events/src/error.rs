//! Why an invocation fails, and how Lambda reports it.

use lambda_runtime::Diagnostic;
use license_automation::events_in::MalformedEvent;

use crate::Summary;

/// An invocation that failed. Lambda retries it (twice for asynchronous invocations), then
/// the dead-letter queue keeps the event.
#[derive(Debug, thiserror::Error)]
pub enum LicenseEventsError {
    /// The payload is not a well-formed EventBridge or scheduled event; nothing was emitted.
    #[error(transparent)]
    MalformedEvent(#[from] MalformedEvent),
    /// Reading the truth or publishing failed transiently (after retries); what succeeded is
    /// remembered, so a retry emits nothing twice.
    #[error("{} license(s) failed transiently and will be retried: {}", failures.len(), failures.join("; "))]
    Transient {
        /// One line per failure.
        failures: Vec<String>,
    },
    /// Some failures will not heal without a person (AccessDenied, unrecognised credentials,
    /// a missing state table or bus); the rest was done. Lambda's retries end in the
    /// dead-letter queue and its alarm.
    #[error("{} error(s) need a person: {}", summary.needs_attention.len(), failures.join("; "))]
    NeedsAttention {
        /// What was done; `needsAttention` names the errors.
        summary: Box<Summary>,
        /// The errors that need a person, then any transient ones.
        failures: Vec<String>,
    },
}

impl LicenseEventsError {
    /// The `errorType` Lambda reports.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::MalformedEvent(_) => "MalformedEvent",
            Self::Transient { .. } => "TransientFailures",
            Self::NeedsAttention { .. } => "NeedsAttention",
        }
    }
}

impl From<LicenseEventsError> for Diagnostic {
    fn from(error: LicenseEventsError) -> Self {
        Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }
    }
}
