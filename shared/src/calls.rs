//! License Manager calls as every function makes them: through a [`CallGate`] that keeps at
//! most `MAX_CONCURRENCY` in flight and retries transient failures (throttling, 5xx, timeouts,
//! connection trouble) with jittered backoff after the SDK's own retries, and one error type
//! that says whether retrying can help.
//!
//! No License Manager operation is called here: each function's calls stay in its own crate,
//! where the workspace's IAM policy test reads them.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use aws_sdk_licensemanager::config::http::HttpResponse;
use aws_sdk_licensemanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use tokio::sync::Semaphore;

use crate::events_out::RetryPolicy;

/// How a failed call may be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Throttling, a 5xx, a timeout or a connection failure: worth retrying the same call.
    Transient,
    /// The grant changed under us (a stale `SourceVersion`): re-read it and decide again.
    Conflict,
    /// Will not change by retrying (not found, access denied, validation).
    Permanent,
}

/// A License Manager call that failed (after retries, when transient).
#[derive(Debug, Clone, thiserror::Error)]
#[error("License Manager {operation} of {target} failed after {attempts} attempt(s): {message}")]
pub struct LicenseManagerError {
    /// The operation, e.g. `AcceptGrant`.
    pub operation: &'static str,
    /// The ARN it was about (empty for listings).
    pub target: String,
    /// The service's error code, e.g. `ValidationException`, when it answered.
    pub code: Option<String>,
    /// The error with its context.
    pub message: String,
    /// Whether retrying could help.
    pub kind: FailureKind,
    /// How many times the call was made.
    pub attempts: u32,
}

/// Error codes that mean "slow down" or "our side failed", whatever the HTTP status.
const TRANSIENT_CODES: &[&str] = &[
    "RateLimitExceededException",
    "ServerInternalException",
    "ThrottlingException",
    "TooManyRequestsException",
    "ServiceUnavailableException",
];

impl LicenseManagerError {
    /// The error of a failed SDK call of `operation` about `target`.
    pub fn from_sdk<E>(
        operation: &'static str,
        target: &str,
        error: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let code = error.code().map(str::to_owned);
        let kind = match &error {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => FailureKind::Transient,
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                match code.as_deref() {
                    Some("ConflictException") => FailureKind::Conflict,
                    Some(code) if TRANSIENT_CODES.contains(&code) => FailureKind::Transient,
                    _ if status == 429 || status >= 500 => FailureKind::Transient,
                    _ => FailureKind::Permanent,
                }
            }
            _ => FailureKind::Permanent,
        };
        // A service's answer reads best as `Code: message`; anything else (timeouts,
        // connection failures) needs its whole cause chain.
        let message = match (&code, error.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.clone(),
            _ => DisplayErrorContext(&error).to_string(),
        };
        Self {
            operation,
            target: target.to_owned(),
            code,
            message,
            kind,
            attempts: 1,
        }
    }

    /// Whether the service answered with `code`.
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

/// Counts of the calls made, for tests and benchmarks.
#[derive(Debug, Default)]
pub struct CallStats {
    calls: AtomicU64,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

impl CallStats {
    /// Calls sent so far (each retry counts).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The most calls that were in flight at once.
    pub fn peak_in_flight(&self) -> usize {
        self.peak_in_flight.load(Ordering::Relaxed)
    }
}

/// The gate every License Manager call of a function goes through: at most
/// `MAX_CONCURRENCY` in flight, transient failures retried with jittered backoff, counted.
/// Cheap to clone; clones share the permits and the counts.
#[derive(Debug, Clone)]
pub struct CallGate {
    permits: Arc<Semaphore>,
    retry: RetryPolicy,
    stats: Arc<CallStats>,
}

impl CallGate {
    /// A gate letting at most `max_concurrency` calls through at once.
    pub fn new(max_concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_concurrency.max(1))),
            retry: RetryPolicy {
                max_attempts: 6,
                initial_backoff: std::time::Duration::from_millis(50),
                max_backoff: std::time::Duration::from_secs(2),
            },
            stats: Arc::default(),
        }
    }

    /// Replaces the retry policy of transient failures.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The calls made through this gate (and its clones).
    pub fn stats(&self) -> &CallStats {
        &self.stats
    }

    /// Sends one call, holding a permit while it is in flight, and retries transient failures.
    pub async fn call<T, E, F, Fut>(
        &self,
        operation: &'static str,
        target: &str,
        mut send: F,
    ) -> Result<T, LicenseManagerError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = {
                // The semaphore is never closed, so acquiring cannot fail.
                let _permit = self.permits.acquire().await.ok();
                self.stats.calls.fetch_add(1, Ordering::Relaxed);
                let now = self.stats.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
                self.stats.peak_in_flight.fetch_max(now, Ordering::Relaxed);
                let result = send().await;
                self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                result
            };
            match result {
                Ok(output) => return Ok(output),
                Err(error) => {
                    let mut error = LicenseManagerError::from_sdk(operation, target, error);
                    error.attempts = attempt;
                    if error.kind != FailureKind::Transient || attempt >= max_attempts {
                        return Err(error);
                    }
                    tracing::warn!(operation, target, attempt, error = %error.message, "transient failure; retrying");
                    tokio::time::sleep(self.retry.jittered_backoff(attempt - 1)).await;
                }
            }
        }
    }
}

impl LicenseManagerError {
    /// A successful answer that lacks a member the caller needs (permanent).
    pub fn missing(operation: &'static str, target: &str, member: &str) -> Self {
        Self {
            operation,
            target: target.to_owned(),
            code: None,
            message: format!("the response has no {member}"),
            kind: FailureKind::Permanent,
            attempts: 1,
        }
    }
}
