//! Why an invocation fails, and how Lambda reports it.

use lambda_runtime::Diagnostic;
use license_automation::events_in::MalformedEvent;

use crate::Summary;

/// An invocation that failed. Lambda retries it (twice for asynchronous invocations), then
/// the dead-letter queue keeps the event.
#[derive(Debug, thiserror::Error)]
pub enum GrantAcceptorError {
    /// The payload is not a well-formed EventBridge or scheduled event; nothing was changed.
    #[error(transparent)]
    MalformedEvent(#[from] MalformedEvent),
    /// The received grants could not be listed.
    #[error("cannot list the received grants: {0}")]
    ListGrants(#[source] crate::license_manager::LicenseManagerError),
    /// Some grants failed transiently (after retries); the others were handled. A retry of the
    /// invocation redoes nothing that succeeded.
    #[error("{} of {} grants failed transiently and will be retried: {}", failures.len(), summary.examined, failures.join("; "))]
    Transient {
        /// What was done before failing.
        summary: Summary,
        /// One line per failed grant.
        failures: Vec<String>,
    },
    /// Some failures will not heal without a person (AccessDenied, unrecognised credentials,
    /// a missing state table or bus); the other grants were handled. Lambda's retries end in
    /// the dead-letter queue and its alarm.
    #[error("{} error(s) need a person: {}", summary.needs_attention.len(), failures.join("; "))]
    NeedsAttention {
        /// What was done before failing; `needsAttention` names the errors.
        summary: Summary,
        /// The errors that need a person, then any transient ones.
        failures: Vec<String>,
    },
}

impl GrantAcceptorError {
    /// The `errorType` Lambda reports.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::MalformedEvent(_) => "MalformedEvent",
            Self::ListGrants(_) => "ListReceivedGrantsFailed",
            Self::Transient { .. } => "TransientGrantFailures",
            Self::NeedsAttention { .. } => "NeedsAttention",
        }
    }
}

impl From<GrantAcceptorError> for Diagnostic {
    fn from(error: GrantAcceptorError) -> Self {
        Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }
    }
}
