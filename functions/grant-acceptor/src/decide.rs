//! What to do with a grant: the pure decision behind [`crate::reconcile`], as the README's
//! grant-acceptor table states it (accept, activate, reject, leave; which event).
//!
//! The decision is made in two looks, so that nothing is read that the decision does not need:
//! [`first_look`] from the grant alone (before its license is read), then [`decide`] from the
//! trust policy's verdict and, for an accepted grant, whether an earlier version was active
//! ([`needs_history`] says when that is asked).

use crate::trust::{TrustDecision, UntrustedAction};
use aws_sdk_licensemanager::types::GrantStatus;

/// What to do with one grant, and which event it calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantPlan {
    /// Leave the grant as it is; no event.
    Leave {
        /// The trust rule that matched, when one did.
        rule: Option<usize>,
        /// Why.
        reason: String,
    },
    /// AcceptGrant (the grant is PENDING_ACCEPT), then CreateGrantVersion ACTIVE when
    /// `activate`; `Grant Accepted`.
    Accept {
        /// The trust rule that matched.
        rule: usize,
        /// Whether the policy activates accepted grants.
        activate: bool,
    },
    /// CreateGrantVersion ACTIVE of a grant accepted before and never active; `Grant Accepted`.
    Activate {
        /// The trust rule that matched.
        rule: usize,
    },
    /// RejectGrant; `Grant Not Trusted` with outcome `rejected`.
    Reject {
        /// Why no rule trusts it.
        reason: String,
    },
    /// Leave the grant; `Grant Not Trusted` with outcome `ignored`.
    Ignore {
        /// Why no rule trusts it.
        reason: String,
    },
}

/// What happened to one grant (in a dry run: what would have): the handler's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantOutcome {
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

impl GrantPlan {
    /// The decision as the `decision` member of its log line.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Leave { .. } | Self::Ignore { .. } => "left",
            Self::Accept { activate: true, .. } => "accepted and activated",
            Self::Accept {
                activate: false, ..
            } => "accepted",
            Self::Activate { .. } => "activated",
            Self::Reject { .. } => "rejected",
        }
    }

    /// The decision kind its event is sent once for (the "notified" record's suffix), or
    /// `None` when no event is due.
    pub fn notice(&self) -> Option<&'static str> {
        match self {
            Self::Leave { .. } => None,
            Self::Accept { .. } | Self::Activate { .. } => Some("accepted"),
            Self::Reject { .. } => Some("rejected"),
            Self::Ignore { .. } => Some("ignored"),
        }
    }

    /// What the plan counts as in the handler's summary.
    pub fn outcome(&self) -> GrantOutcome {
        match self {
            Self::Leave { .. } | Self::Ignore { .. } => GrantOutcome::Left,
            Self::Accept { activate, .. } => GrantOutcome::Accepted {
                activated: *activate,
            },
            Self::Activate { .. } => GrantOutcome::Activated,
            Self::Reject { .. } => GrantOutcome::Rejected,
        }
    }

    /// The matched rule as the log line's `rule` (`trusted[<index>]`).
    pub fn rule(&self) -> Option<String> {
        match self {
            Self::Leave { rule, .. } => rule.map(|rule| format!("trusted[{rule}]")),
            Self::Accept { rule, .. } | Self::Activate { rule } => Some(format!("trusted[{rule}]")),
            Self::Reject { .. } | Self::Ignore { .. } => None,
        }
    }

    /// The log line's `reason`.
    pub fn reason(&self) -> &str {
        match self {
            Self::Leave { reason, .. } | Self::Reject { reason } | Self::Ignore { reason } => {
                reason
            }
            Self::Accept { .. } | Self::Activate { .. } => "trusted",
        }
    }
}

/// The decision from the grant alone: a grant this account gave, or one in a status that
/// needs nothing (ACTIVE, REJECTED, ...), is left; `None` means the license must be read and
/// the trust policy asked.
pub fn first_look(status: &GrantStatus, granted_by_this_account: bool) -> Option<GrantPlan> {
    if granted_by_this_account {
        return Some(GrantPlan::Leave {
            rule: None,
            reason: "granted by this account, not to it".to_owned(),
        });
    }
    if !matches!(status, GrantStatus::PendingAccept | GrantStatus::Disabled) {
        return Some(GrantPlan::Leave {
            rule: None,
            reason: format!("status {status}: nothing to do"),
        });
    }
    None
}

/// Whether [`decide`] needs to know if an earlier version of the grant was ACTIVE: only for
/// a trusted, accepted (DISABLED) grant that the policy would activate.
pub fn needs_history(status: &GrantStatus, trust: &TrustDecision, activate: bool) -> bool {
    *status == GrantStatus::Disabled && activate && matches!(trust, TrustDecision::Trusted { .. })
}

/// The decision for a PENDING_ACCEPT or DISABLED grant that passed [`first_look`].
///
/// - trusted, pending: accept (and activate when `activate`);
/// - trusted, disabled: activate, unless the policy does not activate or an earlier version
///   was ACTIVE (`previously_active`: someone deactivated it on purpose), then leave;
/// - not trusted, pending, `untrusted: reject`: reject;
/// - not trusted otherwise: ignore (RejectGrant only takes pending grants).
pub fn decide(
    status: &GrantStatus,
    trust: &TrustDecision,
    activate: bool,
    untrusted: UntrustedAction,
    previously_active: Option<u64>,
) -> GrantPlan {
    let pending = *status == GrantStatus::PendingAccept;
    match trust {
        TrustDecision::Trusted { rule } => {
            let rule = *rule;
            if pending {
                GrantPlan::Accept { rule, activate }
            } else if !activate {
                GrantPlan::Leave {
                    rule: Some(rule),
                    reason: "accepted already; the policy does not activate".to_owned(),
                }
            } else if let Some(version) = previously_active {
                GrantPlan::Leave {
                    rule: Some(rule),
                    reason: format!(
                        "deactivated after being ACTIVE in version {version}; not reactivated"
                    ),
                }
            } else {
                GrantPlan::Activate { rule }
            }
        }
        TrustDecision::NotTrusted(reason) => {
            let reason = reason.to_string();
            if pending && untrusted == UntrustedAction::Reject {
                GrantPlan::Reject { reason }
            } else {
                GrantPlan::Ignore { reason }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::NotTrustedReason;

    fn untrusted() -> TrustDecision {
        TrustDecision::NotTrusted(NotTrustedReason::UnknownFingerprint {
            key_fingerprint: "aws:999999999999:Evil:issuer-fingerprint".to_owned(),
        })
    }

    #[test]
    fn only_pending_and_disabled_grants_given_to_this_account_are_looked_into() {
        use GrantStatus::{Active, Deleted, Disabled, FailedWorkflow, PendingAccept, Rejected};
        let cases = [
            (PendingAccept, false, None),
            (Disabled, false, None),
            (
                PendingAccept,
                true,
                Some("granted by this account, not to it"),
            ),
            (Disabled, true, Some("granted by this account, not to it")),
            (Active, false, Some("status ACTIVE: nothing to do")),
            (Rejected, false, Some("status REJECTED: nothing to do")),
            (Deleted, false, Some("status DELETED: nothing to do")),
            (
                FailedWorkflow,
                false,
                Some("status FAILED_WORKFLOW: nothing to do"),
            ),
        ];
        for (status, by_self, expected) in cases {
            let plan = first_look(&status, by_self);
            assert_eq!(
                plan.as_ref().map(GrantPlan::reason),
                expected,
                "{status} granted by this account: {by_self}"
            );
            if let Some(plan) = plan {
                assert_eq!((plan.label(), plan.notice()), ("left", None));
            }
        }
    }

    #[test]
    fn the_decision_matrix_of_the_readme() {
        use GrantStatus::{Disabled as D, PendingAccept as P};
        use UntrustedAction::{Ignore as I, Reject as R};
        let trusted = TrustDecision::Trusted { rule: 1 };
        let not = untrusted();
        // (status, trust, activate, untrusted, previously active) -> (log label, event kind,
        // outcome)
        let cases = [
            (
                P,
                &trusted,
                true,
                I,
                None,
                "accepted and activated",
                Some("accepted"),
                GrantOutcome::Accepted { activated: true },
            ),
            (
                P,
                &trusted,
                false,
                I,
                None,
                "accepted",
                Some("accepted"),
                GrantOutcome::Accepted { activated: false },
            ),
            (
                P,
                &trusted,
                true,
                R,
                None,
                "accepted and activated",
                Some("accepted"),
                GrantOutcome::Accepted { activated: true },
            ),
            (
                D,
                &trusted,
                true,
                I,
                None,
                "activated",
                Some("accepted"),
                GrantOutcome::Activated,
            ),
            (
                D,
                &trusted,
                true,
                I,
                Some(2),
                "left",
                None,
                GrantOutcome::Left,
            ),
            (
                D,
                &trusted,
                false,
                I,
                None,
                "left",
                None,
                GrantOutcome::Left,
            ),
            (
                D,
                &trusted,
                false,
                R,
                Some(2),
                "left",
                None,
                GrantOutcome::Left,
            ),
            (
                P,
                &not,
                true,
                I,
                None,
                "left",
                Some("ignored"),
                GrantOutcome::Left,
            ),
            (
                P,
                &not,
                true,
                R,
                None,
                "rejected",
                Some("rejected"),
                GrantOutcome::Rejected,
            ),
            (
                P,
                &not,
                false,
                R,
                None,
                "rejected",
                Some("rejected"),
                GrantOutcome::Rejected,
            ),
            (
                D,
                &not,
                true,
                R,
                None,
                "left",
                Some("ignored"),
                GrantOutcome::Left,
            ),
            (
                D,
                &not,
                true,
                I,
                None,
                "left",
                Some("ignored"),
                GrantOutcome::Left,
            ),
            (
                D,
                &not,
                true,
                R,
                Some(1),
                "left",
                Some("ignored"),
                GrantOutcome::Left,
            ),
        ];
        for (status, trust, activate, untrusted, history, label, notice, outcome) in cases {
            let plan = decide(&status, trust, activate, untrusted, history);
            let case = format!("{status} {trust:?} activate={activate} {untrusted:?} {history:?}");
            assert_eq!(plan.label(), label, "{case}");
            assert_eq!(plan.notice(), notice, "{case}");
            assert_eq!(plan.outcome(), outcome, "{case}");
        }
    }

    #[test]
    fn the_log_line_names_the_rule_and_the_reason() {
        let trusted = TrustDecision::Trusted { rule: 1 };
        let leave = decide(
            &GrantStatus::Disabled,
            &trusted,
            true,
            UntrustedAction::Ignore,
            Some(3),
        );
        assert_eq!(leave.rule().as_deref(), Some("trusted[1]"));
        assert_eq!(
            leave.reason(),
            "deactivated after being ACTIVE in version 3; not reactivated"
        );
        let accept = decide(
            &GrantStatus::PendingAccept,
            &trusted,
            true,
            UntrustedAction::Ignore,
            None,
        );
        assert_eq!(
            (accept.rule().as_deref(), accept.reason()),
            (Some("trusted[1]"), "trusted")
        );
        let reject = decide(
            &GrantStatus::PendingAccept,
            &untrusted(),
            true,
            UntrustedAction::Reject,
            None,
        );
        assert_eq!(reject.rule(), None);
        assert_eq!(
            reject.reason(),
            "no trust rule has keyFingerprint aws:999999999999:Evil:issuer-fingerprint"
        );
    }

    #[test]
    fn history_is_read_only_for_a_trusted_accepted_grant_that_would_be_activated() {
        let trusted = TrustDecision::Trusted { rule: 0 };
        let cases = [
            (GrantStatus::Disabled, &trusted, true, true),
            (GrantStatus::Disabled, &trusted, false, false),
            (GrantStatus::PendingAccept, &trusted, true, false),
            (GrantStatus::Disabled, &untrusted(), true, false),
        ];
        for (status, trust, activate, expected) in cases {
            assert_eq!(
                needs_history(&status, trust, activate),
                expected,
                "{status} {trust:?} activate={activate}"
            );
        }
    }
}
