//! The License Manager adapter: every License Manager call this function makes lives here
//! (the workspace's IAM policy test reads this crate to check the template's policy). The
//! frame (client, call gate, retry, counts) is shared: see
//! [`license_automation::calls::LicenseManagerBase`].

use aws_sdk_licensemanager::types::{
    Entitlement, EntitlementUsage, LicenseConfiguration, LicenseStatus,
};
use license_automation::calls::MAX_PAGES;

pub use license_automation::calls::{CallStats, FailureKind, LicenseManagerError};

license_automation::license_manager_adapter! {
    /// License Manager, as soft-limit-monitor calls it.
    pub struct LicenseManager;
}

impl LicenseManager {
    /// Every license configuration the account owns, every page.
    pub async fn list_license_configurations(
        &self,
    ) -> Result<Vec<LicenseConfiguration>, LicenseManagerError> {
        let mut configurations = Vec::new();
        self.paginate(
            "ListLicenseConfigurations",
            "",
            MAX_PAGES,
            |lm, next_token| {
                lm.list_license_configurations()
                    .max_results(100)
                    .set_next_token(next_token)
                    .send()
            },
            |output| {
                configurations.extend(output.license_configurations.unwrap_or_default());
                output.next_token
            },
        )
        .await?;
        Ok(configurations)
    }

    /// The tags of `arn` as `(key, value)`.
    pub async fn tags(&self, arn: &str) -> Result<Vec<(String, String)>, LicenseManagerError> {
        let output = self
            .call("ListTagsForResource", arn, |lm| {
                lm.list_tags_for_resource().resource_arn(arn).send()
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
        self.call("UpdateLicenseConfiguration", arn, |lm| {
            lm.update_license_configuration()
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
        let mut add = |arn: Option<&str>, status: Option<&LicenseStatus>, entitlements: &[_]| {
            licenses.extend(LicenseEntitlements::new(arn, status, entitlements));
        };
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
                for license in output.licenses() {
                    add(
                        license.license_arn(),
                        license.status(),
                        license.entitlements(),
                    );
                }
                output.next_token
            },
        )
        .await?;
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
                for license in output.licenses() {
                    add(
                        license.license_arn(),
                        license.status(),
                        license.entitlements(),
                    );
                }
                output.next_token
            },
        )
        .await?;
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
            .call("GetLicenseUsage", arn, |lm| {
                lm.get_license_usage().license_arn(arn).send()
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
