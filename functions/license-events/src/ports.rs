//! License Manager as the license checks use it: a port, so that the orchestration runs
//! against [`LicenseManager`] (the SDK adapter) in production and against a fake in unit tests.

use std::future::Future;

use aws_sdk_licensemanager::types::{
    EntitlementUsage, Grant, GrantedLicense, License, ReceivedStatus,
};

use crate::license_manager::{LicenseManager, LicenseManagerError};

/// The License Manager calls license-events makes.
pub trait LicenseCalls: Send + Sync {
    /// GetLicense of the current version of `arn`, or of `version`.
    fn get_license(
        &self,
        arn: &str,
        version: Option<&str>,
    ) -> impl Future<Output = Result<License, LicenseManagerError>> + Send;
    /// GetGrant of the current version of `arn`.
    fn get_grant(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Grant, LicenseManagerError>> + Send;
    /// GetLicenseUsage of `arn`: what each entitlement has consumed.
    fn get_license_usage(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Vec<EntitlementUsage>, LicenseManagerError>> + Send;
    /// How many tokens of this account are for license `arn`.
    fn count_tokens(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<usize, LicenseManagerError>> + Send;
    /// The licenses this account issued.
    fn list_licenses(
        &self,
    ) -> impl Future<Output = Result<Vec<License>, LicenseManagerError>> + Send;
    /// The licenses this account received through grants.
    fn list_received_licenses(
        &self,
    ) -> impl Future<Output = Result<Vec<GrantedLicense>, LicenseManagerError>> + Send;
    /// How this account received license `arn`: its grant's status here, `None` when the
    /// license is not listed as received.
    fn received_status(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Option<ReceivedStatus>, LicenseManagerError>> + Send;
}

impl LicenseCalls for LicenseManager {
    fn get_license(
        &self,
        arn: &str,
        version: Option<&str>,
    ) -> impl Future<Output = Result<License, LicenseManagerError>> + Send {
        LicenseManager::get_license(self, arn, version)
    }

    fn get_grant(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Grant, LicenseManagerError>> + Send {
        LicenseManager::get_grant(self, arn)
    }

    fn get_license_usage(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Vec<EntitlementUsage>, LicenseManagerError>> + Send {
        LicenseManager::get_license_usage(self, arn)
    }

    fn count_tokens(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<usize, LicenseManagerError>> + Send {
        LicenseManager::count_tokens(self, arn)
    }

    fn list_licenses(
        &self,
    ) -> impl Future<Output = Result<Vec<License>, LicenseManagerError>> + Send {
        LicenseManager::list_licenses(self)
    }

    fn list_received_licenses(
        &self,
    ) -> impl Future<Output = Result<Vec<GrantedLicense>, LicenseManagerError>> + Send {
        LicenseManager::list_received_licenses(self)
    }

    fn received_status(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Option<ReceivedStatus>, LicenseManagerError>> + Send {
        LicenseManager::received_status(self, arn)
    }
}
