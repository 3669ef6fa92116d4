//! License Manager as the sweep uses it: a port, so that the orchestration runs against
//! [`LicenseManager`] (the SDK adapter) in production and against a fake in unit tests.

use std::future::Future;

use aws_sdk_licensemanager::types::{EntitlementUsage, LicenseConfiguration};

use crate::license_manager::{LicenseEntitlements, LicenseManager, LicenseManagerError};

/// The License Manager calls soft-limit-monitor makes.
pub trait LimitCalls: Send + Sync {
    /// Every license configuration the account owns, every page.
    fn list_license_configurations(
        &self,
    ) -> impl Future<Output = Result<Vec<LicenseConfiguration>, LicenseManagerError>> + Send;
    /// Licenses the account issued and received, with their entitlements.
    fn licenses(
        &self,
    ) -> impl Future<Output = Result<Vec<LicenseEntitlements>, LicenseManagerError>> + Send;
    /// The tags of `arn` as `(key, value)`.
    fn tags(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, LicenseManagerError>> + Send;
    /// UpdateLicenseConfiguration setting `LicenseCountHardLimit` true.
    fn harden(&self, arn: &str) -> impl Future<Output = Result<(), LicenseManagerError>> + Send;
    /// GetLicenseUsage of `arn`: one usage per entitlement.
    fn license_usage(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Vec<EntitlementUsage>, LicenseManagerError>> + Send;
}

impl LimitCalls for LicenseManager {
    fn list_license_configurations(
        &self,
    ) -> impl Future<Output = Result<Vec<LicenseConfiguration>, LicenseManagerError>> + Send {
        LicenseManager::list_license_configurations(self)
    }

    fn licenses(
        &self,
    ) -> impl Future<Output = Result<Vec<LicenseEntitlements>, LicenseManagerError>> + Send {
        LicenseManager::licenses(self)
    }

    fn tags(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, LicenseManagerError>> + Send {
        LicenseManager::tags(self, arn)
    }

    fn harden(&self, arn: &str) -> impl Future<Output = Result<(), LicenseManagerError>> + Send {
        LicenseManager::harden(self, arn)
    }

    fn license_usage(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Vec<EntitlementUsage>, LicenseManagerError>> + Send {
        LicenseManager::license_usage(self, arn)
    }
}
