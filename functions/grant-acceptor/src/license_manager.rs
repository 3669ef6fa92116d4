//! The License Manager adapter: every License Manager call this function makes lives here
//! (the workspace's IAM policy test reads this crate to check the template's policy).
//!
//! Each call waits for one of `MAX_CONCURRENCY` permits, so no more calls are in flight at once,
//! and is retried with jittered backoff when it fails transiently (throttling, 5xx, timeouts,
//! connection trouble) after the SDK's own retries.

use aws_sdk_licensemanager::Client;
use aws_sdk_licensemanager::types::{Filter, Grant, GrantStatus, License};
use license_automation::calls::CallGate;
use license_automation::events_out::RetryPolicy;

pub use license_automation::calls::{CallStats, FailureKind, LicenseManagerError};

/// License Manager, as this function uses it.
#[derive(Debug, Clone)]
pub struct LicenseManager {
    client: Client,
    gate: CallGate,
}

/// Grants a sweep looks at: waiting to be accepted, or accepted and not yet active.
pub const ACTIONABLE_STATUSES: [GrantStatus; 2] =
    [GrantStatus::PendingAccept, GrantStatus::Disabled];

impl LicenseManager {
    /// The adapter over `client`, with at most `max_concurrency` calls in flight.
    pub fn new(client: Client, max_concurrency: usize) -> Self {
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
                .gate
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
            .gate
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
            .ok_or_else(|| LicenseManagerError::missing("GetGrant", arn, "Grant"))
    }

    /// GetLicense of the current version of `arn`.
    pub async fn get_license(&self, arn: &str) -> Result<License, LicenseManagerError> {
        let output = self
            .gate
            .call("GetLicense", arn, || {
                self.client.get_license().license_arn(arn).send()
            })
            .await?;
        output
            .license
            .ok_or_else(|| LicenseManagerError::missing("GetLicense", arn, "License"))
    }

    /// AcceptGrant; the grant's version afterwards.
    pub async fn accept_grant(&self, arn: &str) -> Result<Option<String>, LicenseManagerError> {
        let output = self
            .gate
            .call("AcceptGrant", arn, || {
                self.client.accept_grant().grant_arn(arn).send()
            })
            .await?;
        Ok(output.version)
    }

    /// RejectGrant.
    pub async fn reject_grant(&self, arn: &str) -> Result<(), LicenseManagerError> {
        self.gate
            .call("RejectGrant", arn, || {
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
            .gate
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
