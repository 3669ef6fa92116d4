//! License Manager calls as every function makes them: through a [`CallGate`] that keeps at
//! most `MAX_CONCURRENCY` in flight and is the one retry layer of License Manager calls (the
//! SDK's own retries are off for the client, [`LicenseManagerBase::new`]): transient failures
//! (throttling, `RateLimitExceededException` included, 5xx, timeouts, connection trouble) are
//! retried with jittered backoff, within the invocation's [`Deadline`] when the handler runs
//! in one ([`Deadline::scope`]); one error type says whether retrying can help.
//! [`CallGate::paginate`] is the one NextToken loop.
//!
//! [`LicenseManagerBase`] is the frame of every function's adapter (the SDK client and the
//! gate); [`license_manager_adapter!`](crate::license_manager_adapter) declares a function's
//! adapter over it. No License Manager operation is called here: each function's calls stay in
//! its own crate, where the workspace's IAM policy test reads them.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use aws_sdk_licensemanager::config::http::HttpResponse;
use aws_sdk_licensemanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use tokio::sync::Semaphore;

use crate::deadline::Deadline;
use crate::retry::RetryPolicy;

/// The License Manager SDK client the adapters wrap.
pub use aws_sdk_licensemanager::Client;

/// The retry policy of a gate unless told otherwise: six attempts (the only ones: the SDK does
/// not retry License Manager calls), backoff from 50 ms up to 2 s, for sweeps that no one waits
/// on.
pub const SWEEP_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 6,
    initial_backoff: std::time::Duration::from_millis(50),
    max_backoff: std::time::Duration::from_secs(2),
};

/// Most pages one listing reads (100 items each) before it fails: a listing longer than that
/// is a runaway (a NextToken that never ends) or far beyond what one invocation can act on.
pub const MAX_PAGES: usize = 1_000;

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

    /// Whether a person must act before this call can succeed (AccessDenied, unrecognised
    /// credentials: [`crate::attention`]).
    pub fn needs_attention(&self) -> bool {
        self.code.as_deref().is_some_and(crate::attention::refused)
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
    /// A gate letting at most `max_concurrency` calls through at once, retrying with
    /// [`SWEEP_RETRY`].
    pub fn new(max_concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_concurrency.max(1))),
            retry: SWEEP_RETRY,
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
        let deadline = Deadline::current();
        let mut attempt = 0;
        loop {
            if deadline.is_some_and(|deadline| deadline.is_past()) {
                return Err(LicenseManagerError::out_of_time(operation, target, attempt));
            }
            attempt += 1;
            let result = {
                // The semaphore is never closed, so acquiring cannot fail.
                let _permit = self.permits.acquire().await.ok();
                self.stats.calls.fetch_add(1, Ordering::Relaxed);
                let now = self.stats.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
                self.stats.peak_in_flight.fetch_max(now, Ordering::Relaxed);
                let result = match deadline {
                    // An attempt still in flight at the deadline is abandoned.
                    Some(deadline) => tokio::time::timeout(deadline.remaining(), send())
                        .await
                        .ok(),
                    None => Some(send().await),
                };
                self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                result
            };
            match result {
                Some(Ok(output)) => return Ok(output),
                None => return Err(LicenseManagerError::out_of_time(operation, target, attempt)),
                Some(Err(error)) => {
                    let mut error = LicenseManagerError::from_sdk(operation, target, error);
                    error.attempts = attempt;
                    if error.kind != FailureKind::Transient || attempt >= max_attempts {
                        return Err(error);
                    }
                    let backoff = self.retry.jittered_backoff(attempt - 1);
                    if deadline.is_some_and(|deadline| deadline.remaining() <= backoff) {
                        // No time for another attempt: the failure is the answer.
                        return Err(error);
                    }
                    tracing::warn!(operation, target, attempt, error = %error.message, "transient failure; retrying");
                    tokio::time::sleep(backoff).await;
                }
            }
        }
    }
    /// Reads a listing page by page: `send` sends one page's call with the NextToken (`None`
    /// first), each through [`Self::call`]; `page` takes the answer and gives back its
    /// NextToken. Stops at the first page without one; fails after `max_pages` pages with an
    /// error naming the operation, rather than return part of a listing as all of it.
    pub async fn paginate<O, E, F, Fut, P>(
        &self,
        operation: &'static str,
        target: &str,
        max_pages: usize,
        mut send: F,
        mut page: P,
    ) -> Result<(), LicenseManagerError>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = Result<O, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        P: FnMut(O) -> Option<String>,
    {
        let mut next_token: Option<String> = None;
        for _ in 0..max_pages {
            let output = self
                .call(operation, target, || send(next_token.clone()))
                .await?;
            match page(output) {
                Some(token) if !token.is_empty() => next_token = Some(token),
                _ => return Ok(()),
            }
        }
        Err(LicenseManagerError {
            operation,
            target: target.to_owned(),
            code: None,
            message: format!(
                "the listing goes on past {max_pages} pages; stopped rather than use part of it \
                 as the whole"
            ),
            kind: FailureKind::Permanent,
            attempts: 1,
        })
    }
}

impl LicenseManagerError {
    /// The invocation's deadline came before the call could be made or answered (transient:
    /// a later invocation has the time).
    pub fn out_of_time(operation: &'static str, target: &str, attempts: u32) -> Self {
        Self {
            operation,
            target: target.to_owned(),
            code: None,
            message: "the invocation's time budget ran out before License Manager answered"
                .to_owned(),
            kind: FailureKind::Transient,
            attempts,
        }
    }

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

/// The frame of every function's License Manager adapter: the SDK client and the
/// [`CallGate`] (permits, retry policy, counts). A function declares its adapter over one with
/// [`license_manager_adapter!`](crate::license_manager_adapter) and writes only its own
/// operations, each sent with [`Self::call`] or [`Self::paginate`].
#[derive(Debug, Clone)]
pub struct LicenseManagerBase {
    client: Client,
    gate: CallGate,
}

impl LicenseManagerBase {
    /// The frame over `client`, with at most `max_concurrency` calls in flight and the
    /// sweeps' retry policy ([`CallGate::new`]). The client's own retries are turned off
    /// (its timeouts stay): the gate is the one retry layer, so a call is made at most
    /// `max_attempts` times, not that many times the SDK's attempts.
    pub fn new(client: Client, max_concurrency: usize) -> Self {
        let client = Client::from_conf(
            client
                .config()
                .to_builder()
                .retry_config(aws_sdk_licensemanager::config::retry::RetryConfig::disabled())
                .build(),
        );
        Self {
            client,
            gate: CallGate::new(max_concurrency),
        }
    }

    /// Replaces the retry policy of transient failures.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.gate = self.gate.with_retry(retry);
        self
    }

    /// The calls made through this adapter (and its clones).
    pub fn stats(&self) -> &CallStats {
        self.gate.stats()
    }

    /// Sends one call of `operation` about `target` through the gate; `send` builds it from the
    /// client. (The gate's future itself, not one wrapping it: the functions' handler futures
    /// are deep enough.)
    pub fn call<T, E, F, Fut>(
        &self,
        operation: &'static str,
        target: &str,
        mut send: F,
    ) -> impl Future<Output = Result<T, LicenseManagerError>>
    where
        F: FnMut(&Client) -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.gate
            .call(operation, target, move || send(&self.client))
    }

    /// Reads a listing with [`CallGate::paginate`]; `send` builds one page's call from the
    /// client and the NextToken.
    pub fn paginate<O, E, F, Fut, P>(
        &self,
        operation: &'static str,
        target: &str,
        max_pages: usize,
        mut send: F,
        page: P,
    ) -> impl Future<Output = Result<(), LicenseManagerError>>
    where
        F: FnMut(&Client, Option<String>) -> Fut,
        Fut: Future<Output = Result<O, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        P: FnMut(O) -> Option<String>,
    {
        self.gate.paginate(
            operation,
            target,
            max_pages,
            move |token| send(&self.client, token),
            page,
        )
    }
}

/// Declares a function's License Manager adapter: `struct $name` over a [`LicenseManagerBase`],
/// with `new(client, max_concurrency)`, `with_retry(policy)`, and the base's `stats`, `call` and
/// `paginate` through `Deref`. The function then writes its own operations in an `impl $name`
/// block of its `license_manager.rs`, where the workspace's IAM policy test reads them.
///
/// `retry = EXPR` gives the policy `new` starts with (default: [`SWEEP_RETRY`]).
///
/// ```text
/// license_automation::license_manager_adapter! {
///     /// License Manager, as this function calls it.
///     pub struct LicenseManager;
/// }
/// ```
#[macro_export]
macro_rules! license_manager_adapter {
    ($(#[$meta:meta])* $vis:vis struct $name:ident;) => {
        $crate::license_manager_adapter!(
            $(#[$meta])* $vis struct $name; retry = $crate::calls::SWEEP_RETRY
        );
    };
    ($(#[$meta:meta])* $vis:vis struct $name:ident; retry = $retry:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        $vis struct $name($crate::calls::LicenseManagerBase);

        impl $name {
            /// The adapter over `client`, with at most `max_concurrency` calls in flight.
            $vis fn new(client: $crate::calls::Client, max_concurrency: usize) -> Self {
                Self($crate::calls::LicenseManagerBase::new(client, max_concurrency).with_retry($retry))
            }

            /// Replaces the retry policy of transient failures.
            $vis fn with_retry(self, retry: $crate::retry::RetryPolicy) -> Self {
                Self(self.0.with_retry(retry))
            }
        }

        impl ::std::ops::Deref for $name {
            type Target = $crate::calls::LicenseManagerBase;

            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_licensemanager::operation::list_licenses::ListLicensesError;

    /// What a paginated read of a listing of `pages` pages (each page naming the next; `None`
    /// for a listing that never ends) sent and got, read with a cap of `max_pages`.
    async fn read(
        pages: Option<usize>,
        last_token: Option<&str>,
        max_pages: usize,
    ) -> (Result<(), LicenseManagerError>, Vec<Option<String>>, u64) {
        let gate = CallGate::new(2);
        let mut sent = Vec::new();
        let result = gate
            .paginate(
                "ListLicenses",
                "",
                max_pages,
                |token: Option<String>| {
                    sent.push(token.clone());
                    let page = token.map_or(0, |token| token.len());
                    async move { Ok::<_, SdkError<ListLicensesError, HttpResponse>>(page) }
                },
                // Page n's NextToken is n + 1 characters long; the last page's is `last_token`.
                |page| match pages {
                    Some(pages) if page + 1 >= pages => last_token.map(str::to_owned),
                    _ => Some("x".repeat(page + 1)),
                },
            )
            .await;
        (result, sent, gate.stats().calls())
    }

    #[tokio::test]
    async fn paginate_sends_each_next_token_until_a_page_has_none() {
        let (result, sent, calls) = read(Some(3), None, 10).await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(sent, [None, Some("x".into()), Some("xx".into())]);
        assert_eq!(calls, 3);
    }

    #[tokio::test]
    async fn a_listing_longer_than_the_cap_fails_naming_the_operation() {
        let (result, sent, calls) = read(None, None, 5).await;
        let error = result.unwrap_err();
        assert_eq!(error.operation, "ListLicenses");
        assert_eq!(error.kind, FailureKind::Permanent);
        assert!(error.to_string().contains("ListLicenses"), "{error}");
        assert!(error.message.contains("past 5 pages"), "{error}");
        assert_eq!((sent.len(), calls), (5, 5));
    }

    #[tokio::test]
    async fn a_listing_of_exactly_the_cap_is_read_whole_and_an_empty_token_ends_it() {
        let (result, sent, _) = read(Some(5), Some(""), 5).await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(sent.len(), 5);
    }
}
