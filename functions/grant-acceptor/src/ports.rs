//! License Manager as the reconciliation uses it: a port, so that the orchestration runs
//! against [`LicenseManager`] (the SDK adapter) in production and against a fake in unit tests.

use std::future::Future;

use aws_sdk_licensemanager::types::{Grant, GrantStatus, License};

use crate::license_manager::{LicenseManager, LicenseManagerError};

/// The License Manager calls grant-acceptor makes.
pub trait GrantCalls: Send + Sync {
    /// ARNs of the received grants in `statuses`, every page.
    fn list_received_grants(
        &self,
        statuses: &[GrantStatus],
    ) -> impl Future<Output = Result<Vec<String>, LicenseManagerError>> + Send;
    /// GetGrant of the current version of `arn`, or of `version`.
    fn get_grant(
        &self,
        arn: &str,
        version: Option<&str>,
    ) -> impl Future<Output = Result<Grant, LicenseManagerError>> + Send;
    /// GetLicense of the current version of `arn`.
    fn get_license(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<License, LicenseManagerError>> + Send;
    /// AcceptGrant; the grant's version afterwards.
    fn accept_grant(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Option<String>, LicenseManagerError>> + Send;
    /// RejectGrant.
    fn reject_grant(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<(), LicenseManagerError>> + Send;
    /// CreateGrantVersion ACTIVE from `source_version`, idempotent per grant version; the
    /// new version.
    fn activate_grant(
        &self,
        arn: &str,
        source_version: &str,
    ) -> impl Future<Output = Result<Option<String>, LicenseManagerError>> + Send;
}

impl GrantCalls for LicenseManager {
    fn list_received_grants(
        &self,
        statuses: &[GrantStatus],
    ) -> impl Future<Output = Result<Vec<String>, LicenseManagerError>> + Send {
        LicenseManager::list_received_grants(self, statuses)
    }

    fn get_grant(
        &self,
        arn: &str,
        version: Option<&str>,
    ) -> impl Future<Output = Result<Grant, LicenseManagerError>> + Send {
        LicenseManager::get_grant(self, arn, version)
    }

    fn get_license(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<License, LicenseManagerError>> + Send {
        LicenseManager::get_license(self, arn)
    }

    fn accept_grant(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<Option<String>, LicenseManagerError>> + Send {
        LicenseManager::accept_grant(self, arn)
    }

    fn reject_grant(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<(), LicenseManagerError>> + Send {
        LicenseManager::reject_grant(self, arn)
    }

    fn activate_grant(
        &self,
        arn: &str,
        source_version: &str,
    ) -> impl Future<Output = Result<Option<String>, LicenseManagerError>> + Send {
        LicenseManager::activate_grant(self, arn, source_version)
    }
}
