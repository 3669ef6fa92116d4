//! Why an invocation fails, and how Lambda reports it.

use lambda_runtime::Diagnostic;
use license_automation::events_in::MalformedEvent;

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
}

impl LicenseEventsError {
    /// The `errorType` Lambda reports.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::MalformedEvent(_) => "MalformedEvent",
            Self::Transient { .. } => "TransientFailures",
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
