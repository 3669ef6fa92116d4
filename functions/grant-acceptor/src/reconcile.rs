//! One grant's reconciliation: read it and its license, decide with the trust policy, act,
//! report.
//!
//! Every step is safe to repeat: actions depend on the grant's status as License Manager
//! reports it (never accept twice), the activation's ClientToken is derived from the grant
//! version, and events are sent once per grant version through a "notified" record.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_licensemanager::types::{Grant, GrantStatus, License};
use license_automation::events_out::catalogue::{
    GrantAccepted, GrantNotTrusted, GrantSubject, ProjectEvent, UntrustedOutcome,
};
use license_automation::ids::is_account_id;
use license_automation::state::{Remembered, StateError, StateKey, StateStore};
use time::OffsetDateTime;
use tokio::sync::OnceCell;
use tokio::sync::mpsc::UnboundedSender;

use crate::license_manager::{FailureKind, LicenseManager, LicenseManagerError};
use crate::trust::{GrantFacts, NotTrustedReason, TrustDecision, TrustPolicy, UntrustedAction};

/// How long a "notified" record lives: a grant still waiting after this long is reported again,
/// as a reminder.
pub const NOTIFIED_RECORD_TTL: time::Duration = time::Duration::days(90);

/// Why one grant could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// A License Manager call failed.
    #[error(transparent)]
    Call(#[from] LicenseManagerError),
    /// The grant or its license lacks what the decision needs.
    #[error("grant {grant_arn}: {reason}")]
    Unusable {
        /// The grant.
        grant_arn: String,
        /// What is missing or malformed.
        reason: String,
    },
}

impl GrantError {
    /// Whether a later attempt (this invocation's or Lambda's retry) may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Call(error) => error.kind != FailureKind::Permanent,
            Self::Unusable { .. } => false,
        }
    }
}

/// What happened to one grant (in a dry run: what would have).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted, and activated when `activated`.
    Accepted {
        /// Whether it was also activated.
        activated: bool,
    },
    /// Already accepted (DISABLED) and now activated.
    Activated,
    /// Rejected.
    Rejected,
    /// Left as it was.
    Left,
}

/// One license's read, shared by the grants that ask for it: its facts, or what it lacks.
type LicenseRead = OnceCell<Result<LicenseFacts, String>>;

/// The license facts the trust decision needs.
#[derive(Debug, Clone)]
struct LicenseFacts {
    key_fingerprint: String,
    issuer_name: String,
    product_sku: String,
}

/// Reconciles grants with one trust policy; shared by the concurrent grants of an invocation.
pub struct Reconciler<'a> {
    pub(crate) license_manager: &'a LicenseManager,
    pub(crate) state: &'a StateStore,
    pub(crate) policy: &'a TrustPolicy,
    pub(crate) dry_run: bool,
    /// The account the function runs in, when the event says.
    pub(crate) account: Option<&'a str>,
    /// Licenses read in this invocation (grants of one license share the read).
    licenses: Mutex<HashMap<String, Arc<LicenseRead>>>,
    /// Where decisions' events go; the invocation publishes them in batches.
    notifications: UnboundedSender<Notification>,
}

/// An event to publish, with the "notified" record to forget if publishing fails.
#[derive(Debug)]
pub struct Notification {
    /// The record written for it (`None` when the state table was unavailable).
    pub key: Option<StateKey>,
    /// The event.
    pub event: ProjectEvent,
}

/// The account of an ARN (`arn:partition:service:region:account:resource`), if it has one.
pub fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':')
        .nth(4)
        .filter(|account| is_account_id(account))
}

/// The account a grant was given to, when its principal is an account
/// (`arn:aws:iam::<account>:root`) rather than an organization or organizational unit.
fn grantee_account(principal: &str) -> Option<&str> {
    principal
        .contains(":iam::")
        .then(|| arn_account(principal))
        .flatten()
}

impl<'a> Reconciler<'a> {
    /// A reconciler for one invocation.
    pub fn new(
        license_manager: &'a LicenseManager,
        state: &'a StateStore,
        policy: &'a TrustPolicy,
        dry_run: bool,
        account: Option<&'a str>,
        notifications: UnboundedSender<Notification>,
    ) -> Self {
        Self {
            license_manager,
            state,
            policy,
            dry_run,
            account,
            licenses: Mutex::default(),
            notifications,
        }
    }

    /// Reconciles `grant_arn`, deciding again (up to three times) when the grant changed
    /// between reading and acting on it.
    pub async fn reconcile(&self, grant_arn: &str) -> Result<Outcome, GrantError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.reconcile_once(grant_arn).await {
                Err(GrantError::Call(error))
                    if error.kind == FailureKind::Conflict && attempt < 3 =>
                {
                    tracing::warn!(grant_arn, error = %error, "grant changed while deciding; deciding again");
                }
                result => return result,
            }
        }
    }

    async fn reconcile_once(&self, grant_arn: &str) -> Result<Outcome, GrantError> {
        let grant = self.license_manager.get_grant(grant_arn, None).await?;
        let unusable = |reason: String| GrantError::Unusable {
            grant_arn: grant_arn.to_owned(),
            reason,
        };
        let granter_account = arn_account(grant_arn)
            .ok_or_else(|| unusable("the grant ARN names no 12-digit granter account".into()))?;
        let status = grant.grant_status().clone();
        let decision = Decision {
            grant: &grant,
            dry_run: self.dry_run,
        };
        if self.account == Some(granter_account) {
            decision.log("left", None, "granted by this account, not to it");
            return Ok(Outcome::Left);
        }
        if !matches!(status, GrantStatus::PendingAccept | GrantStatus::Disabled) {
            decision.log("left", None, &format!("status {status}: nothing to do"));
            return Ok(Outcome::Left);
        }
        let license = self.license(grant.license_arn()).await?.map_err(unusable)?;
        let facts = GrantFacts {
            key_fingerprint: &license.key_fingerprint,
            issuer_name: &license.issuer_name,
            granter_account,
            product_sku: &license.product_sku,
        };
        let subject = GrantSubject {
            grant_arn: grant_arn.to_owned(),
            license_arn: grant.license_arn().to_owned(),
            account: grantee_account(grant.grantee_principal_arn())
                .or(self.account)
                .unwrap_or_default()
                .to_owned(),
            granter_account: granter_account.to_owned(),
            key_fingerprint: license.key_fingerprint.clone(),
            issuer_name: license.issuer_name.clone(),
            product_sku: license.product_sku.clone(),
        };
        match self.policy.evaluate(&facts) {
            TrustDecision::Trusted { rule } => self.trusted(&decision, subject, rule).await,
            TrustDecision::NotTrusted(reason) => self.untrusted(&decision, subject, reason).await,
        }
    }

    async fn trusted(
        &self,
        decision: &Decision<'_>,
        subject: GrantSubject,
        rule: usize,
    ) -> Result<Outcome, GrantError> {
        let grant = decision.grant;
        let arn = grant.grant_arn();
        let pending = *grant.grant_status() == GrantStatus::PendingAccept;
        let rule_text = format!("trusted[{rule}]");
        if !pending {
            if !self.policy.activate {
                decision.log(
                    "left",
                    Some(&rule_text),
                    "accepted already; the policy does not activate",
                );
                return Ok(Outcome::Left);
            }
            if let Some(version) = self.previously_active_version(grant).await? {
                decision.log(
                    "left",
                    Some(&rule_text),
                    &format!(
                        "deactivated after being ACTIVE in version {version}; not reactivated"
                    ),
                );
                return Ok(Outcome::Left);
            }
        }
        let mut version = grant.version().to_owned();
        let mut already_active = false;
        if pending && !self.dry_run {
            (version, already_active) = self.accept(arn).await?;
        }
        let activated = self.policy.activate;
        if activated && !already_active && !self.dry_run {
            self.license_manager.activate_grant(arn, &version).await?;
        }
        let event = ProjectEvent::GrantAccepted(GrantAccepted {
            grant: subject,
            activated,
            dry_run: self.dry_run,
            time: OffsetDateTime::now_utc(),
        });
        self.notify_once(grant, "accepted", event).await;
        let (label, outcome) = match (pending, activated) {
            (true, true) => ("accepted and activated", Outcome::Accepted { activated }),
            (true, false) => ("accepted", Outcome::Accepted { activated }),
            (false, _) => ("activated", Outcome::Activated),
        };
        decision.log(label, Some(&rule_text), "trusted");
        Ok(outcome)
    }

    async fn untrusted(
        &self,
        decision: &Decision<'_>,
        subject: GrantSubject,
        reason: NotTrustedReason,
    ) -> Result<Outcome, GrantError> {
        let grant = decision.grant;
        let pending = *grant.grant_status() == GrantStatus::PendingAccept;
        let reject = pending && self.policy.untrusted == UntrustedAction::Reject;
        if reject && !self.dry_run {
            self.reject(grant.grant_arn()).await?;
        }
        let reason = reason.to_string();
        let event = ProjectEvent::GrantNotTrusted(GrantNotTrusted {
            grant: subject,
            outcome: if reject {
                UntrustedOutcome::Rejected
            } else {
                UntrustedOutcome::Ignored
            },
            reason: reason.clone(),
            dry_run: self.dry_run,
            time: OffsetDateTime::now_utc(),
        });
        let kind = if reject { "rejected" } else { "ignored" };
        self.notify_once(grant, kind, event).await;
        if reject {
            decision.log("rejected", None, &reason);
            Ok(Outcome::Rejected)
        } else {
            decision.log("left", None, &reason);
            Ok(Outcome::Left)
        }
    }

    /// AcceptGrant; the version to activate and whether the grant is already active. An
    /// AcceptGrant refused because the grant is no longer pending (a retry of a call whose
    /// answer was lost, or a concurrent invocation) counts as accepted.
    async fn accept(&self, arn: &str) -> Result<(String, bool), GrantError> {
        match self.license_manager.accept_grant(arn).await {
            Ok(Some(version)) => Ok((version, false)),
            Ok(None) => self.accepted_state(arn, None).await,
            Err(error) if error.kind == FailureKind::Permanent => {
                self.accepted_state(arn, Some(error)).await
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Re-reads a grant after AcceptGrant: accepted when it is DISABLED or ACTIVE now.
    async fn accepted_state(
        &self,
        arn: &str,
        error: Option<LicenseManagerError>,
    ) -> Result<(String, bool), GrantError> {
        let grant = self.license_manager.get_grant(arn, None).await?;
        match (grant.grant_status(), error) {
            (GrantStatus::Disabled, _) => Ok((grant.version().to_owned(), false)),
            (GrantStatus::Active, _) => Ok((grant.version().to_owned(), true)),
            (_, Some(error)) => Err(error.into()),
            (status, None) => Err(GrantError::Unusable {
                grant_arn: arn.to_owned(),
                reason: format!("AcceptGrant succeeded but the grant is {status}"),
            }),
        }
    }

    /// RejectGrant; a refusal because the grant is already rejected counts as done.
    async fn reject(&self, arn: &str) -> Result<(), GrantError> {
        match self.license_manager.reject_grant(arn).await {
            Ok(()) => Ok(()),
            Err(error) if error.kind == FailureKind::Permanent => {
                let grant = self.license_manager.get_grant(arn, None).await?;
                if *grant.grant_status() == GrantStatus::Rejected {
                    Ok(())
                } else {
                    Err(error.into())
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    /// For a DISABLED grant: the latest earlier version that was ACTIVE, if any. A grant that
    /// someone deactivated is left alone; one that was never active (accepted by hand, or
    /// auto-accepted by AWS Organizations) is activated.
    async fn previously_active_version(&self, grant: &Grant) -> Result<Option<u64>, GrantError> {
        let Ok(mut version) = grant.version().parse::<u64>() else {
            return Ok(None);
        };
        while version > 1 {
            version -= 1;
            let earlier = self
                .license_manager
                .get_grant(grant.grant_arn(), Some(&version.to_string()))
                .await?;
            match earlier.grant_status() {
                GrantStatus::Active => return Ok(Some(version)),
                GrantStatus::Disabled => {}
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Hands `event` to the invocation's publisher unless the same decision (`kind`:
    /// accepted, ignored, rejected) was already reported for this grant version; a dry run's
    /// events are remembered apart from the real ones, and a changed decision (a policy edit)
    /// is reported. If the state table fails, the event is sent anyway: one repeated event
    /// rather than silence.
    async fn notify_once(&self, grant: &Grant, kind: &str, event: ProjectEvent) {
        let dry_run = if self.dry_run { "#dry-run" } else { "" };
        let key = StateKey::Notified {
            arn: grant.grant_arn().to_owned(),
            version: format!("{}#{kind}{dry_run}", grant.version()),
        };
        let expires_at = OffsetDateTime::now_utc() + NOTIFIED_RECORD_TTL;
        let key = match self.state.remember_once(&key, expires_at).await {
            Ok(Remembered::AlreadySeen) => return,
            Ok(Remembered::First) => Some(key),
            Err(error) => {
                warn_state(&error);
                None
            }
        };
        // The receiver lives until every grant is done, so sending cannot fail.
        let _ = self.notifications.send(Notification { key, event });
    }

    /// The facts of `license_arn`, read once per invocation even when many grants of the
    /// license ask at once; the inner error says what the license lacks.
    async fn license(
        &self,
        license_arn: &str,
    ) -> Result<Result<LicenseFacts, String>, LicenseManagerError> {
        let cell = {
            let mut cells = self
                .licenses
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(cells.entry(license_arn.to_owned()).or_default())
        };
        cell.get_or_try_init(|| async {
            let license = self.license_manager.get_license(license_arn).await?;
            Ok(license_facts(license_arn, &license))
        })
        .await
        .cloned()
    }
}

/// Forgets a notified record whose event was not published, so that a retry publishes it.
pub async fn forget(state: &StateStore, key: &StateKey) {
    if let Err(error) = state.forget(key).await {
        warn_state(&error);
    }
}

fn warn_state(error: &StateError) {
    tracing::warn!(error = %error, "state table unavailable; the event may be sent again");
}

fn license_facts(license_arn: &str, license: &License) -> Result<LicenseFacts, String> {
    let unusable = |member: &str| format!("license {license_arn} has no {member}");
    let issuer = license.issuer().ok_or_else(|| unusable("Issuer"))?;
    Ok(LicenseFacts {
        key_fingerprint: issuer
            .key_fingerprint()
            .ok_or_else(|| unusable("Issuer.KeyFingerprint"))?
            .to_owned(),
        issuer_name: issuer
            .name()
            .ok_or_else(|| unusable("Issuer.Name"))?
            .to_owned(),
        product_sku: license
            .product_sku()
            .ok_or_else(|| unusable("ProductSKU"))?
            .to_owned(),
    })
}

/// One decision about one grant, logged as one JSON line.
struct Decision<'g> {
    grant: &'g Grant,
    dry_run: bool,
}

impl Decision<'_> {
    fn log(&self, decision: &str, rule: Option<&str>, reason: &str) {
        tracing::info!(
            decision,
            grant_arn = self.grant.grant_arn(),
            license_arn = self.grant.license_arn(),
            grant_status = %self.grant.grant_status(),
            grant_version = self.grant.version(),
            rule,
            reason,
            dry_run = self.dry_run,
            "grant decision"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_accounts() {
        assert_eq!(
            arn_account("arn:aws:license-manager::111122223333:grant:g-1"),
            Some("111122223333")
        );
        assert_eq!(
            arn_account("arn:aws:iam::444455556666:root"),
            Some("444455556666")
        );
        assert_eq!(
            arn_account("arn:aws:organizations::111122223333:organization/o-abc"),
            Some("111122223333")
        );
        assert_eq!(arn_account("arn:aws:license-manager::1234:grant:g-1"), None);
        assert_eq!(arn_account("g-1"), None);
        assert_eq!(
            grantee_account("arn:aws:iam::444455556666:root"),
            Some("444455556666")
        );
        assert_eq!(
            grantee_account("arn:aws:organizations::111122223333:organization/o-abc"),
            None
        );
    }
}
