//! The License Manager adapter: every License Manager call this function makes lives here
//! (the workspace's IAM policy test reads this crate to check the template's policy). The
//! frame (client, call gate, retry, counts) is shared: see
//! [`license_automation::calls::LicenseManagerBase`].

use aws_sdk_licensemanager::types::{Filter, Grant, GrantStatus, License};
use license_automation::calls::MAX_PAGES;

pub use license_automation::calls::{CallStats, FailureKind, LicenseManagerError};

license_automation::license_manager_adapter! {
    /// License Manager, as grant-acceptor calls it.
    pub struct LicenseManager;
}

/// Grants a sweep looks at: waiting to be accepted, or accepted and not yet active.
pub const ACTIONABLE_STATUSES: [GrantStatus; 2] =
    [GrantStatus::PendingAccept, GrantStatus::Disabled];

impl LicenseManager {
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
        self.paginate(
            "ListReceivedGrants",
            "",
            MAX_PAGES,
            |lm, next_token| {
                lm.list_received_grants()
                    .filters(filter.clone())
                    .max_results(100)
                    .set_next_token(next_token)
                    .send()
            },
            |output| {
                arns.extend(
                    output
                        .grants()
                        .iter()
                        .map(|grant| grant.grant_arn().to_owned()),
                );
                output.next_token
            },
        )
        .await?;
        Ok(arns)
    }

    /// GetGrant of the current version of `arn`, or of `version`.
    pub async fn get_grant(
        &self,
        arn: &str,
        version: Option<&str>,
    ) -> Result<Grant, LicenseManagerError> {
        let output = self
            .call("GetGrant", arn, |lm| {
                lm.get_grant()
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
            .call("GetLicense", arn, |lm| {
                lm.get_license().license_arn(arn).send()
            })
            .await?;
        output
            .license
            .ok_or_else(|| LicenseManagerError::missing("GetLicense", arn, "License"))
    }

    /// AcceptGrant; the grant's version afterwards.
    pub async fn accept_grant(&self, arn: &str) -> Result<Option<String>, LicenseManagerError> {
        let output = self
            .call("AcceptGrant", arn, |lm| {
                lm.accept_grant().grant_arn(arn).send()
            })
            .await?;
        Ok(output.version)
    }

    /// RejectGrant.
    pub async fn reject_grant(&self, arn: &str) -> Result<(), LicenseManagerError> {
        self.call("RejectGrant", arn, |lm| {
            lm.reject_grant().grant_arn(arn).send()
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
            .call("CreateGrantVersion", arn, |lm| {
                lm.create_grant_version()
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
