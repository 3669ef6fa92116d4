//! The License Manager adapter: every License Manager call this function makes lives here
//! (the workspace's IAM policy test reads this crate to check the template's policy).
//!
//! Each call waits for one of `MAX_CONCURRENCY` permits, so no more calls are in flight at once,
//! and is retried with jittered backoff when it fails transiently (throttling, 5xx, timeouts,
//! connection trouble) after the SDK's own retries.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use aws_sdk_licensemanager::Client;
use aws_sdk_licensemanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_licensemanager::types::{Filter, Grant, GrantStatus, License};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use license_automation::events_out::RetryPolicy;
use tokio::sync::Semaphore;

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
    fn from_sdk<E>(operation: &'static str, target: &str, error: SdkError<E, HttpResponse>) -> Self
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

/// License Manager, as this function uses it.
#[derive(Debug, Clone)]
pub struct LicenseManager {
    client: Client,
    permits: Arc<Semaphore>,
    retry: RetryPolicy,
    stats: Arc<CallStats>,
}

/// Grants a sweep looks at: waiting to be accepted, or accepted and not yet active.
pub const ACTIONABLE_STATUSES: [GrantStatus; 2] =
    [GrantStatus::PendingAccept, GrantStatus::Disabled];

impl LicenseManager {
    /// The adapter over `client`, with at most `max_concurrency` calls in flight.
    pub fn new(client: Client, max_concurrency: usize) -> Self {
        Self {
            client,
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

    /// The calls made through this adapter (and its clones).
    pub fn stats(&self) -> &CallStats {
        &self.stats
    }

    /// Sends one call, holding a permit while it is in flight, and retries transient failures.
    async fn call<T, E, F, Fut>(
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

    /// ARNs of the received grants in `statuses`, every page.
    pub async fn list_received_grants(
        &self,
        statuses: &[GrantStatus],
    ) -> Result<Vec<String>, LicenseManagerError> {
        let filter = Filter::builder()
            .name("GrantStatus")
            .set_values(Some(
                statuses.iter().map(|s| s.as_str().to_owned()).collect(),
            ))
            .build();
        let mut arns = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let output = self
                .call("ListReceivedGrants", "", || {
                    self.client
                        .list_received_grants()
                        .filters(filter.clone())
                        .max_results(100)
                        .set_next_token(next_token.clone())
                        .send()
                })
                .await?;
            arns.extend(
                output
                    .grants()
                    .iter()
                    .map(|grant| grant.grant_arn().to_owned()),
            );
            match output.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                _ => return Ok(arns),
            }
        }
    }

    /// GetGrant of the current version of `arn`, or of `version`.
    pub async fn get_grant(
        &self,
        arn: &str,
        version: Option<&str>,
    ) -> Result<Grant, LicenseManagerError> {
        let output = self
            .call("GetGrant", arn, || {
                self.client
                    .get_grant()
                    .grant_arn(arn)
                    .set_version(version.map(str::to_owned))
                    .send()
            })
            .await?;
        output
            .grant
            .ok_or_else(|| missing("GetGrant", arn, "Grant"))
    }

    /// GetLicense of the current version of `arn`.
    pub async fn get_license(&self, arn: &str) -> Result<License, LicenseManagerError> {
        let output = self
            .call("GetLicense", arn, || {
                self.client.get_license().license_arn(arn).send()
            })
            .await?;
        output
            .license
            .ok_or_else(|| missing("GetLicense", arn, "License"))
    }

    /// AcceptGrant; the grant's version afterwards.
    pub async fn accept_grant(&self, arn: &str) -> Result<Option<String>, LicenseManagerError> {
        let output = self
            .call("AcceptGrant", arn, || {
                self.client.accept_grant().grant_arn(arn).send()
            })
            .await?;
        Ok(output.version)
    }

    /// RejectGrant.
    pub async fn reject_grant(&self, arn: &str) -> Result<(), LicenseManagerError> {
        self.call("RejectGrant", arn, || {
            self.client.reject_grant().grant_arn(arn).send()
        })
        .await
        .map(|_| ())
    }

    /// CreateGrantVersion with status ACTIVE from `source_version`, idempotent per grant
    /// version (see [`activation_token`]); the new version.
    pub async fn activate_grant(
        &self,
        arn: &str,
        source_version: &str,
    ) -> Result<Option<String>, LicenseManagerError> {
        let token = activation_token(arn, source_version);
        let output = self
            .call("CreateGrantVersion", arn, || {
                self.client
                    .create_grant_version()
                    .grant_arn(arn)
                    .source_version(source_version)
                    .status(GrantStatus::Active)
                    .client_token(&token)
                    .send()
            })
            .await?;
        Ok(output.version)
    }
}

/// The ClientToken of the activation of `version` of grant `arn`: the same for every retry
/// and every invocation that activates that version, so License Manager creates one new
/// version however often it is sent. The model allows up to 2,048 non-space characters;
/// grant ARNs are well under 200.
pub fn activation_token(arn: &str, version: &str) -> String {
    format!("activate:{arn}:v{version}")
}

fn missing(operation: &'static str, target: &str, member: &str) -> LicenseManagerError {
    LicenseManagerError {
        operation,
        target: target.to_owned(),
        code: None,
        message: format!("the response has no {member}"),
        kind: FailureKind::Permanent,
        attempts: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_tokens_differ_per_grant_and_version_and_fit_the_model() {
        let arn = "arn:aws:license-manager::111122223333:grant:g-0123456789abcdef0123456789abcdef";
        let token = activation_token(arn, "1");
        assert_eq!(token, activation_token(arn, "1"));
        assert_ne!(token, activation_token(arn, "2"));
        assert_ne!(token, activation_token(&arn.replace("g-0", "g-1"), "1"));
        assert!(token.len() <= 2048 && !token.chars().any(char::is_whitespace));
    }
}
