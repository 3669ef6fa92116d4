//! The License Manager adapter: every License Manager call this function makes lives here
//! (the workspace's IAM policy test reads this crate to check the template's policy). Only
//! reads: this function never changes a license. The frame (client, call gate, retry, counts)
//! is shared: see [`license_automation::calls::LicenseManagerBase`].

use aws_sdk_licensemanager::types::{
    EntitlementUsage, Filter, Grant, GrantedLicense, License, ReceivedStatus,
};
use license_automation::calls::MAX_PAGES;

pub use license_automation::calls::{CallStats, FailureKind, LicenseManagerError};

license_automation::license_manager_adapter! {
    /// License Manager, as license-events calls it.
    pub struct LicenseManager;
}

impl LicenseManager {
    /// GetLicense of the current version of `arn`, or of `version`.
    pub async fn get_license(
        &self,
        arn: &str,
        version: Option<&str>,
    ) -> Result<License, LicenseManagerError> {
        let output = self
            .call("GetLicense", arn, |lm| {
                lm.get_license()
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
            .call("GetGrant", arn, |lm| lm.get_grant().grant_arn(arn).send())
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
            .call("GetLicenseUsage", arn, |lm| {
                lm.get_license_usage().license_arn(arn).send()
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
        self.paginate(
            "ListTokens",
            arn,
            MAX_PAGES,
            |lm, next_token| {
                lm.list_tokens()
                    .filters(filter.clone())
                    .max_results(100)
                    .set_next_token(next_token)
                    .send()
            },
            |output| {
                count += output.tokens().len();
                output.next_token
            },
        )
        .await?;
        Ok(count)
    }

    /// The licenses this account issued (ListLicenses, every page).
    pub async fn list_licenses(&self) -> Result<Vec<License>, LicenseManagerError> {
        let mut licenses = Vec::new();
        self.paginate(
            "ListLicenses",
            "",
            MAX_PAGES,
            |lm, next_token| {
                lm.list_licenses()
                    .max_results(100)
                    .set_next_token(next_token)
                    .send()
            },
            |output| {
                licenses.extend(output.licenses.unwrap_or_default());
                output.next_token
            },
        )
        .await?;
        Ok(licenses)
    }

    /// How this account received license `arn`: the status of its grant here, `None` when
    /// the license is not listed as received (ListReceivedLicenses of that one ARN).
    pub async fn received_status(
        &self,
        arn: &str,
    ) -> Result<Option<ReceivedStatus>, LicenseManagerError> {
        let output = self
            .call("ListReceivedLicenses", arn, |lm| {
                lm.list_received_licenses().license_arns(arn).send()
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
        self.paginate(
            "ListReceivedLicenses",
            "",
            MAX_PAGES,
            |lm, next_token| {
                lm.list_received_licenses()
                    .max_results(100)
                    .set_next_token(next_token)
                    .send()
            },
            |output| {
                licenses.extend(output.licenses.unwrap_or_default());
                output.next_token
            },
        )
        .await?;
        Ok(licenses)
    }
}
