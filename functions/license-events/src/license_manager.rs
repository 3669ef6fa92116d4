//! The License Manager adapter: every License Manager call this function makes lives here
//! (the workspace's IAM policy test reads this crate to check the template's policy). Only
//! reads: this function never changes a license.
//!
//! Each call waits for one of `MAX_CONCURRENCY` permits, so no more calls are in flight at once,
//! and is retried with jittered backoff when it fails transiently (throttling, 5xx, timeouts,
//! connection trouble) after the SDK's own retries.

use aws_sdk_licensemanager::Client;
use aws_sdk_licensemanager::types::{
    EntitlementUsage, Filter, Grant, GrantedLicense, License, ReceivedStatus,
};
use license_automation::calls::CallGate;
use license_automation::events_out::RetryPolicy;

pub use license_automation::calls::{CallStats, FailureKind, LicenseManagerError};

/// License Manager, as this function uses it.
#[derive(Debug, Clone)]
pub struct LicenseManager {
    client: Client,
    gate: CallGate,
}

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

    /// GetLicense of the current version of `arn`, or of `version`.
    pub async fn get_license(
        &self,
        arn: &str,
        version: Option<&str>,
    ) -> Result<License, LicenseManagerError> {
        let output = self
            .gate
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
            .ok_or_else(|| LicenseManagerError::missing("GetLicense", arn, "License"))
    }

    /// GetGrant of the current version of `arn`.
    pub async fn get_grant(&self, arn: &str) -> Result<Grant, LicenseManagerError> {
        let output = self
            .gate
            .call("GetGrant", arn, || {
                self.client.get_grant().grant_arn(arn).send()
            })
            .await?;
        output
            .grant
            .ok_or_else(|| LicenseManagerError::missing("GetGrant", arn, "Grant"))
    }

    /// GetLicenseUsage of `arn`: what each entitlement has consumed.
    pub async fn get_license_usage(
        &self,
        arn: &str,
    ) -> Result<Vec<EntitlementUsage>, LicenseManagerError> {
        let output = self
            .gate
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
                .gate
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
                .gate
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
            .gate
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
                .gate
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
