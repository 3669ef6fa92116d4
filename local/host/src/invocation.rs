//! What one invocation gives back: its result or why it has none, and its measurements.

use std::time::Duration;

use serde_json::Value;

/// Why an invocation did not return a result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvokeError {
    /// The handler returned an error (the process stays warm).
    #[error("{error_type}: {error_message}")]
    Function {
        /// `errorType` the runtime reported.
        error_type: String,
        /// `errorMessage` the runtime reported.
        error_message: String,
    },
    /// The process failed its init: reported `/init/error`, exited or passed the init timeout.
    #[error("init failed ({error_type}): {error_message}")]
    Init {
        /// `errorType` reported, or `Runtime.ExitError` / `Sandbox.Timedout`.
        error_type: String,
        /// The reported message, or the last lines the process wrote.
        error_message: String,
    },
    /// The invocation passed the function's timeout; the process was killed.
    #[error("Task timed out after {:.2} seconds", .0.as_secs_f64())]
    Timeout(Duration),
    /// The process exited during the invocation.
    #[error("Runtime exited ({status}): {last_output}")]
    Crashed {
        /// The exit status.
        status: String,
        /// The last lines the process wrote.
        last_output: String,
    },
    /// Refused without running: the function's concurrency was in use (Lambda's Invoke
    /// answers a synchronous caller `TooManyRequestsException`, reason
    /// `ReservedFunctionConcurrentInvocationLimitExceeded`).
    #[error("Rate Exceeded: {function} is running {concurrency} invocations, its concurrency")]
    Throttled {
        /// The function's name.
        function: String,
        /// Its concurrency.
        concurrency: usize,
    },
    /// The bootstrap could not be started.
    #[error("cannot start {bootstrap}: {message}")]
    Spawn {
        /// The executable.
        bootstrap: String,
        /// Why.
        message: String,
    },
}

impl InvokeError {
    /// The `errorType` Lambda would report for it.
    pub fn error_type(&self) -> &str {
        match self {
            Self::Function { error_type, .. } | Self::Init { error_type, .. } => error_type,
            Self::Timeout(_) => "Sandbox.Timedout",
            Self::Crashed { .. } => "Runtime.ExitError",
            Self::Spawn { .. } => "Runtime.InvalidEntrypoint",
            Self::Throttled { .. } => "TooManyRequestsException",
        }
    }
}

/// One invocation's result and measurements.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The request id handed to the function.
    pub request_id: String,
    /// The function's response, or why there is none.
    pub result: Result<Value, InvokeError>,
    /// For a cold start: spawn until the process's first `next` (Lambda's init duration).
    pub init: Option<Duration>,
    /// From handing the event over until the answer (Lambda's duration).
    pub duration: Duration,
    /// Peak resident memory of the process so far (`VmHWM`), in KiB, when it is still alive.
    pub max_rss_kib: Option<u64>,
    /// Process id that served it.
    pub pid: Option<u32>,
}

impl Invocation {
    /// Whether this invocation started a new process.
    pub fn cold(&self) -> bool {
        self.init.is_some()
    }
}
