//! The License Manager adapter: every License Manager call this function makes lives here
//! (the workspace's IAM policy test reads this crate to check the template's policy). Only
//! reads: this function never changes a license.
//!
//! Each call waits for one of `MAX_CONCURRENCY` permits, so no more calls are in flight at once,
//! and is retried with jittered backoff when it fails transiently (throttling, 5xx, timeouts,
//! connection trouble) after the SDK's own retries.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use aws_sdk_licensemanager::Client;
use aws_sdk_licensemanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_licensemanager::types::{
    EntitlementUsage, Filter, Grant, GrantedLicense, License, ReceivedStatus,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use license_automation::events_out::RetryPolicy;
use tokio::sync::Semaphore;

/// How a failed call may be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Throttling, a 5xx, a timeout or a connection failure: worth retrying the same call.
    Transient,
    /// Will not change by retrying (not found, access denied, validation).
    Permanent,
}

/// A License Manager call that failed (after retries, when transient).
#[derive(Debug, Clone, thiserror::Error)]
#[error("License Manager {operation} of {target} failed after {attempts} attempt(s): {message}")]
pub struct LicenseManagerError {
    /// The operation, e.g. `GetLicense`.
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

    /// GetLicense of the current version of `arn`, or of `version`.
    pub async fn get_license(
        &self,
        arn: &str,
        version: Option<&str>,
    ) -> Result<License, LicenseManagerError> {
        let output = self
            .call("GetLicense", arn, || {
                self.client
                    .get_license()
                    .license_arn(arn)
                    .set_version(version.map(str::to_owned))
                    .send()
            })
            .await?;
        output
            .license
            .ok_or_else(|| missing("GetLicense", arn, "License"))
    }

    /// GetGrant of the current version of `arn`.
    pub async fn get_grant(&self, arn: &str) -> Result<Grant, LicenseManagerError> {
        let output = self
            .call("GetGrant", arn, || {
                self.client.get_grant().grant_arn(arn).send()
            })
            .await?;
        output
            .grant
            .ok_or_else(|| missing("GetGrant", arn, "Grant"))
    }

    /// GetLicenseUsage of `arn`: what each entitlement has consumed.
    pub async fn get_license_usage(
        &self,
        arn: &str,
    ) -> Result<Vec<EntitlementUsage>, LicenseManagerError> {
        let output = self
            .call("GetLicenseUsage", arn, || {
                self.client.get_license_usage().license_arn(arn).send()
            })
            .await?;
        Ok(output
            .license_usage
            .and_then(|usage| usage.entitlement_usages)
            .unwrap_or_default())
    }

    /// How many tokens of this account are for license `arn` (ListTokens, every page).
    pub async fn count_tokens(&self, arn: &str) -> Result<usize, LicenseManagerError> {
        let filter = Filter::builder().name("LicenseArns").values(arn).build();
        let mut count = 0;
        let mut next_token: Option<String> = None;
        loop {
            let output = self
                .call("ListTokens", arn, || {
                    self.client
                        .list_tokens()
                        .filters(filter.clone())
                        .max_results(100)
                        .set_next_token(next_token.clone())
                        .send()
                })
                .await?;
            count += output.tokens().len();
            match output.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                _ => return Ok(count),
            }
        }
    }

    /// The licenses this account issued (ListLicenses, every page).
    pub async fn list_licenses(&self) -> Result<Vec<License>, LicenseManagerError> {
        let mut licenses = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let output = self
                .call("ListLicenses", "", || {
                    self.client
                        .list_licenses()
                        .max_results(100)
                        .set_next_token(next_token.clone())
                        .send()
                })
                .await?;
            licenses.extend(output.licenses.unwrap_or_default());
            match output.next_token {
                Some(token) if !token.is_empty() => next_token = Some(token),
                _ => return Ok(licenses),
            }
        }
    }

    /// How this account received license `arn`: the status of its grant here, `None` when
    /// the license is not listed as received (ListReceivedLicenses of that one ARN).
    pub async fn received_status(
        &self,
        arn: &str,
    ) -> Result<Option<ReceivedStatus>, LicenseManagerError> {
        let output = self
            .call("ListReceivedLicenses", arn, || {
                self.client
                    .list_received_licenses()
                    .license_arns(arn)
                    .send()
            })
            .await?;
        Ok(output
            .licenses()
            .iter()
            .find(|license| license.license_arn() == Some(arn))
            .and_then(|license| license.received_metadata())
            .and_then(|metadata| metadata.received_status())
            .cloned())
    }

    /// The licenses this account received through grants (ListReceivedLicenses, every page).
    pub async fn list_received_licenses(&self) -> Result<Vec<GrantedLicense>, LicenseManagerError> {
        let mut licenses = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let output = self
                .call("ListReceivedLicenses", "", || {
                    self.client
                        .list_received_licenses()
                        .max_results(100)
                        .set_next_token(next_token.clone())
                        .send()
                })
                .await?;
            licenses.extend(output.licenses.unwrap_or_default());
            match output.next_token {
                Some(token) if !token.is_empty() => next_token = Some(token),
                _ => return Ok(licenses),
            }
        }
    }
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
