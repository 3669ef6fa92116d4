//! One grant's reconciliation: read it and its license, decide ([`crate::decide`]), act,
//! report.
//!
//! Every step is safe to repeat: actions depend on the grant's status as License Manager
//! reports it (never accept twice), the activation's ClientToken is derived from the grant
//! version, and each decision goes through the outbox ([`license_automation::outbox`]): the
//! decision's event and its effect are recorded on the grant version's "notified" record
//! before AcceptGrant, ActivateGrant or RejectGrant, so that an invocation that dies after the
//! effect leaves the event for the next one to send, with the same `occurrenceId` (README,
//! grant-acceptor).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_licensemanager::types::{Grant, GrantStatus, License};
use license_automation::arn;
use license_automation::attention::Attention;
use license_automation::events_out::catalogue::{
    GrantAccepted, GrantNotTrusted, GrantSubject, ProjectEvent, UntrustedOutcome, occurrence,
};
use license_automation::outbox::{self, Claim, Effects, Intent, Outbox, PENDING, Recorded, Redo};
use license_automation::ports::{EventSink, StateTable};
use license_automation::state::{StateError, StateKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::OnceCell;
use tokio::sync::mpsc::UnboundedSender;

use crate::decide::{self, GrantOutcome, GrantPlan};
use crate::license_manager::{FailureKind, LicenseManagerError};
use crate::ports::GrantCalls;
use crate::trust::{GrantFacts, TrustPolicy};

/// How long a "notified" record lives: a grant still waiting after this long is reported again,
/// as a reminder.
pub const NOTIFIED_RECORD_TTL: time::Duration = time::Duration::days(90);

/// Why one grant could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// A License Manager call failed.
    #[error(transparent)]
    Call(#[from] LicenseManagerError),
    /// Another invocation's outbox intent is pending on the grant version's record.
    #[error(
        "grant {grant_arn}: another invocation's intent is pending until {until}; retried after it"
    )]
    Busy {
        /// The grant.
        grant_arn: String,
        /// When that invocation's claim ends.
        until: OffsetDateTime,
    },
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
    /// Whether a person must act first (AccessDenied, unrecognised credentials): the
    /// invocation fails so that its retries end in the dead-letter queue.
    pub fn needs_attention(&self) -> bool {
        match self {
            Self::Call(error) => error.needs_attention(),
            Self::Busy { .. } | Self::Unusable { .. } => false,
        }
    }

    /// Whether a later attempt (this invocation's or Lambda's retry) may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Call(error) => error.kind != FailureKind::Permanent,
            Self::Busy { .. } => true,
            Self::Unusable { .. } => false,
        }
    }
}

/// One license's read, shared by the grants that ask for it: its facts, or what it lacks.
type LicenseRead = OnceCell<Result<LicenseTrustFacts, String>>;

/// What the trust policy needs to know of a grant's license.
#[derive(Debug, Clone)]
struct LicenseTrustFacts {
    key_fingerprint: String,
    issuer_name: String,
    product_sku: String,
}

/// What a decision does to a grant, as its outbox intent keeps it (so that a re-drive carries
/// it out again from wherever the grant is then).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "camelCase")]
enum Effect {
    /// AcceptGrant, then ActivateGrant when `activate`.
    Accept { grant: String, activate: bool },
    /// ActivateGrant of the grant's current version.
    Activate { grant: String },
    /// RejectGrant.
    Reject { grant: String },
}

impl Effect {
    fn of(grant_arn: &str, plan: &GrantPlan) -> Option<Self> {
        let grant = grant_arn.to_owned();
        match plan {
            GrantPlan::Accept { activate, .. } => Some(Self::Accept {
                grant,
                activate: *activate,
            }),
            GrantPlan::Activate { .. } => Some(Self::Activate { grant }),
            GrantPlan::Reject { .. } => Some(Self::Reject { grant }),
            GrantPlan::Leave { .. } | GrantPlan::Ignore { .. } => None,
        }
    }
}

/// Reconciles grants with one trust policy; shared by the concurrent grants of an invocation.
pub struct Reconciler<'a, L, S, P> {
    license_manager: &'a L,
    /// Where decisions are recorded before they are carried out.
    outbox: &'a Outbox<'a, S, P>,
    policy: &'a TrustPolicy,
    dry_run: bool,
    /// The account the function runs in, when the event says.
    account: Option<&'a str>,
    /// Licenses read in this invocation (grants of one license share the read).
    licenses: Mutex<HashMap<String, Arc<LicenseRead>>>,
    /// Decisions carried out, whose events the invocation delivers in batches.
    pending: UnboundedSender<Claim>,
    /// State-table errors that need a person (the grants went on without the table).
    attention: Attention,
}

/// The account a grant was given to, when its principal is an account
/// (`arn:aws:iam::<account>:root`) rather than an organization or organizational unit.
fn grantee_account(principal: &str) -> Option<&str> {
    principal
        .contains(":iam::")
        .then(|| arn::account_id(principal))
        .flatten()
}

impl<'a, L: GrantCalls, S: StateTable, P: EventSink> Reconciler<'a, L, S, P> {
    /// A reconciler for one invocation, recording decisions in `outbox`; the claims carried
    /// out go to `pending`.
    pub fn new(
        license_manager: &'a L,
        outbox: &'a Outbox<'a, S, P>,
        policy: &'a TrustPolicy,
        dry_run: bool,
        account: Option<&'a str>,
        pending: UnboundedSender<Claim>,
    ) -> Self {
        Self {
            license_manager,
            outbox,
            policy,
            dry_run,
            account,
            licenses: Mutex::default(),
            pending,
            attention: Attention::default(),
        }
    }

    /// The state-table errors of this invocation that need a person.
    pub fn attention(&self) -> Vec<String> {
        self.attention.notes()
    }

    /// Logs a state-table error; notes it when it needs a person.
    fn state_failed(&self, error: &StateError) {
        warn_state(error);
        if error.needs_attention() {
            self.attention.note(error);
        }
    }

    /// Reconciles `grant_arn`, deciding again (up to three times) when the grant changed
    /// between reading and acting on it.
    pub async fn reconcile(&self, grant_arn: &str) -> Result<GrantOutcome, GrantError> {
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

    async fn reconcile_once(&self, grant_arn: &str) -> Result<GrantOutcome, GrantError> {
        let grant = self.license_manager.get_grant(grant_arn, None).await?;
        let unusable = |reason: String| GrantError::Unusable {
            grant_arn: grant_arn.to_owned(),
            reason,
        };
        let granter_account = arn::account_id(grant_arn)
            .ok_or_else(|| unusable("the grant ARN names no 12-digit granter account".into()))?;
        let status = grant.grant_status();
        if let Some(plan) = decide::first_look(status, self.account == Some(granter_account)) {
            log(&grant, &plan, self.dry_run);
            return Ok(plan.outcome());
        }
        let license = self.license(grant.license_arn()).await?.map_err(unusable)?;
        let trust = self.policy.evaluate(&GrantFacts {
            key_fingerprint: &license.key_fingerprint,
            issuer_name: &license.issuer_name,
            granter_account,
            product_sku: &license.product_sku,
        });
        let previously_active = if decide::needs_history(status, &trust, self.policy.activate) {
            self.previously_active_version(&grant).await?
        } else {
            None
        };
        let plan = decide::decide(
            status,
            &trust,
            self.policy.activate,
            self.policy.untrusted,
            previously_active,
        );
        let Some(notice) = plan.notice() else {
            log(&grant, &plan, self.dry_run);
            return Ok(plan.outcome());
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
        let occurrence_id =
            occurrence::grant_decision(grant_arn, grant.version(), notice, self.dry_run);
        let dry_run = if self.dry_run { "#dry-run" } else { "" };
        let intent = Intent {
            key: StateKey::Notified {
                arn: grant_arn.to_owned(),
                version: format!("{}#{notice}{dry_run}", grant.version()),
            },
            effect: (!self.dry_run)
                .then(|| Effect::of(grant_arn, &plan))
                .flatten()
                .and_then(|effect| serde_json::to_value(effect).ok()),
            events: self
                .event(&plan, subject, occurrence_id)
                .into_iter()
                .collect(),
            sent_for: Some(NOTIFIED_RECORD_TTL),
        };
        // The decision and its event are recorded before the grant is touched: the same
        // decision recorded before (its event sent) is not made again.
        let claim = match self.outbox.record(intent.clone(), None, PENDING).await {
            Ok(Recorded::Claimed(claim)) => claim,
            Ok(Recorded::Done) => {
                log(&grant, &plan, self.dry_run);
                return Ok(plan.outcome());
            }
            Ok(Recorded::Busy { until }) => {
                return Err(GrantError::Busy {
                    grant_arn: grant_arn.to_owned(),
                    until,
                });
            }
            Err(error) => {
                self.state_failed(&error);
                Outbox::<S, P>::unrecorded(intent)
            }
        };
        if let Err(error) = self.act(&grant, &plan).await {
            // Not done: a transient error or one that needs a person keeps the intent for the
            // next invocation; a refusal for good forgets it (the next decision starts afresh).
            let kept = if error.is_transient() || error.needs_attention() {
                self.outbox.release(&claim).await
            } else {
                self.outbox.abandon(&claim).await
            };
            if let Err(state) = kept {
                self.state_failed(&state);
            }
            return Err(error);
        }
        // The receiver lives until every grant is done, so sending cannot fail.
        let _ = self.pending.send(claim);
        log(&grant, &plan, self.dry_run);
        Ok(plan.outcome())
    }

    /// Carries a recorded effect out again, from wherever the grant is now.
    async fn redo_effect(&self, effect: &Effect) -> Result<(), GrantError> {
        match effect {
            Effect::Accept { grant, activate } => {
                let (version, already_active) = self.accept(grant).await?;
                if *activate && !already_active {
                    self.license_manager.activate_grant(grant, &version).await?;
                }
            }
            Effect::Activate { grant } => {
                let now = self.license_manager.get_grant(grant, None).await?;
                match now.grant_status() {
                    GrantStatus::Active => {}
                    GrantStatus::Disabled => {
                        self.license_manager
                            .activate_grant(grant, now.version())
                            .await?;
                    }
                    status => {
                        return Err(GrantError::Unusable {
                            grant_arn: grant.clone(),
                            reason: format!("cannot be activated: it is {status}"),
                        });
                    }
                }
            }
            Effect::Reject { grant } => self.reject(grant).await?,
        }
        Ok(())
    }

    /// Carries `plan` out (in a dry run: nothing).
    async fn act(&self, grant: &Grant, plan: &GrantPlan) -> Result<(), GrantError> {
        if self.dry_run {
            return Ok(());
        }
        let arn = grant.grant_arn();
        match plan {
            GrantPlan::Accept { activate, .. } => {
                let (version, already_active) = self.accept(arn).await?;
                if *activate && !already_active {
                    self.license_manager.activate_grant(arn, &version).await?;
                }
            }
            GrantPlan::Activate { .. } => {
                self.license_manager
                    .activate_grant(arn, grant.version())
                    .await?;
            }
            GrantPlan::Reject { .. } => self.reject(arn).await?,
            GrantPlan::Leave { .. } | GrantPlan::Ignore { .. } => {}
        }
        Ok(())
    }

    /// The event `plan` reports, if any.
    fn event(
        &self,
        plan: &GrantPlan,
        grant: GrantSubject,
        occurrence_id: String,
    ) -> Option<ProjectEvent> {
        let time = OffsetDateTime::now_utc();
        let not_trusted = |outcome, reason: &str| {
            ProjectEvent::GrantNotTrusted(GrantNotTrusted {
                occurrence_id: occurrence_id.clone(),
                grant: grant.clone(),
                outcome,
                reason: reason.to_owned(),
                dry_run: self.dry_run,
                time,
            })
        };
        Some(match plan {
            GrantPlan::Leave { .. } => return None,
            GrantPlan::Reject { reason } => not_trusted(UntrustedOutcome::Rejected, reason),
            GrantPlan::Ignore { reason } => not_trusted(UntrustedOutcome::Ignored, reason),
            GrantPlan::Accept { .. } | GrantPlan::Activate { .. } => {
                ProjectEvent::GrantAccepted(GrantAccepted {
                    occurrence_id: occurrence_id.clone(),
                    grant: grant.clone(),
                    activated: self.policy.activate,
                    dry_run: self.dry_run,
                    time,
                })
            }
        })
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

    /// The facts of `license_arn`, read once per invocation even when many grants of the
    /// license ask at once; the inner error says what the license lacks.
    async fn license(
        &self,
        license_arn: &str,
    ) -> Result<Result<LicenseTrustFacts, String>, LicenseManagerError> {
        let cell = {
            let mut cells = self
                .licenses
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(cells.entry(license_arn.to_owned()).or_default())
        };
        cell.get_or_try_init(|| async {
            let license = self.license_manager.get_license(license_arn).await?;
            Ok(license_trust_facts(license_arn, &license))
        })
        .await
        .cloned()
    }
}

impl<L: GrantCalls, S: StateTable, P: EventSink> Effects for Reconciler<'_, L, S, P> {
    async fn redo(&self, effect: &Value) -> Redo {
        let effect: Effect = match serde_json::from_value(effect.clone()) {
            Ok(effect) => effect,
            Err(error) => return Redo::Drop(format!("not an effect of this function: {error}")),
        };
        match self.redo_effect(&effect).await {
            Ok(()) => Redo::Deliver {
                extra: Vec::new(),
                failure: None,
            },
            Err(error) if error.is_transient() || error.needs_attention() => {
                let (Effect::Accept { grant, .. }
                | Effect::Activate { grant }
                | Effect::Reject { grant }) = effect;
                Redo::Release(outbox::Failure {
                    what: outbox::Failed::Effect,
                    resource: grant,
                    error: error.to_string(),
                    needs_attention: error.needs_attention(),
                })
            }
            Err(error) => Redo::Drop(error.to_string()),
        }
    }
}

fn warn_state(error: &StateError) {
    tracing::warn!(error = %error, "state table unavailable; the event may be sent again");
}

fn license_trust_facts(license_arn: &str, license: &License) -> Result<LicenseTrustFacts, String> {
    let unusable = |member: &str| format!("license {license_arn} has no {member}");
    let issuer = license.issuer().ok_or_else(|| unusable("Issuer"))?;
    Ok(LicenseTrustFacts {
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

/// Logs one decision about one grant as one JSON line.
fn log(grant: &Grant, plan: &GrantPlan, dry_run: bool) {
    tracing::info!(
        decision = plan.label(),
        grant_arn = grant.grant_arn(),
        license_arn = grant.license_arn(),
        grant_status = %grant.grant_status(),
        grant_version = grant.version(),
        rule = plan.rule().as_deref(),
        reason = plan.reason(),
        dry_run,
        "grant decision"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_account_principal_names_the_grantee_account() {
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
