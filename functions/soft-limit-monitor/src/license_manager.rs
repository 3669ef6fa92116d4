//! The License Manager adapter: every License Manager call this function makes lives here
//! (the workspace's IAM policy test reads this crate to check the template's policy).
//!
//! Each call waits for one of `MAX_CONCURRENCY` permits, so no more calls are in flight at once,
//! and is retried with jittered backoff when it fails transiently (throttling, 5xx, timeouts,
//! connection trouble) after the SDK's own retries.

use aws_sdk_licensemanager::Client;
use aws_sdk_licensemanager::types::{
    Entitlement, EntitlementUsage, LicenseConfiguration, LicenseStatus,
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

    /// Every license configuration the account owns, every page.
    pub async fn list_license_configurations(
        &self,
    ) -> Result<Vec<LicenseConfiguration>, LicenseManagerError> {
        let mut configurations = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let output = self
                .gate
                .call("ListLicenseConfigurations", "", || {
                    self.client
                        .list_license_configurations()
                        .max_results(100)
                        .set_next_token(next_token.clone())
                        .send()
                })
                .await?;
            configurations.extend(output.license_configurations().iter().cloned());
            match output.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                _ => return Ok(configurations),
            }
        }
    }

    /// The tags of `arn` as `(key, value)`.
    pub async fn tags(&self, arn: &str) -> Result<Vec<(String, String)>, LicenseManagerError> {
        let output = self
            .gate
            .call("ListTagsForResource", arn, || {
                self.client
                    .list_tags_for_resource()
                    .resource_arn(arn)
                    .send()
            })
            .await?;
        Ok(output
            .tags()
            .iter()
            .map(|tag| {
                (
                    tag.key().unwrap_or_default().to_owned(),
                    tag.value().unwrap_or_default().to_owned(),
                )
            })
            .collect())
    }

    /// UpdateLicenseConfiguration setting `LicenseCountHardLimit` true; nothing else changes.
    pub async fn harden(&self, arn: &str) -> Result<(), LicenseManagerError> {
        self.gate
            .call("UpdateLicenseConfiguration", arn, || {
                self.client
                    .update_license_configuration()
                    .license_configuration_arn(arn)
                    .license_count_hard_limit(true)
                    .send()
            })
            .await
            .map(|_| ())
    }

    /// Licenses the account issued and licenses it received, with their entitlements, every
    /// page of both listings; deleted licenses are left out.
    pub async fn licenses(&self) -> Result<Vec<LicenseEntitlements>, LicenseManagerError> {
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
            licenses.extend(output.licenses().iter().filter_map(|license| {
                LicenseEntitlements::new(
                    license.license_arn(),
                    license.status(),
                    license.entitlements(),
                )
            }));
            match output.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                _ => break,
            }
        }
        next_token = None;
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
            licenses.extend(output.licenses().iter().filter_map(|license| {
                LicenseEntitlements::new(
                    license.license_arn(),
                    license.status(),
                    license.entitlements(),
                )
            }));
            match output.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                _ => break,
            }
        }
        // A license this account issued to itself is both issued and received.
        let mut seen = std::collections::HashSet::new();
        licenses.retain(|license| seen.insert(license.license_arn.clone()));
        Ok(licenses)
    }

    /// GetLicenseUsage of `arn`: one usage per entitlement.
    pub async fn license_usage(
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
            .license_usage()
            .map(|usage| usage.entitlement_usages().to_vec())
            .unwrap_or_default())
    }
}

/// A license and its entitlements, as the listings report them.
#[derive(Debug, Clone)]
pub struct LicenseEntitlements {
    /// The license.
    pub license_arn: String,
    /// Its entitlements.
    pub entitlements: Vec<Entitlement>,
}

impl LicenseEntitlements {
    fn new(
        arn: Option<&str>,
        status: Option<&LicenseStatus>,
        entitlements: &[Entitlement],
    ) -> Option<Self> {
        let arn = arn.filter(|arn| !arn.is_empty())?;
        if status == Some(&LicenseStatus::Deleted) {
            return None;
        }
        Some(Self {
            license_arn: arn.to_owned(),
            entitlements: entitlements.to_vec(),
        })
    }
}
