//! The handler's orchestration against in-memory ports: a fake License Manager, the
//! in-memory state table and event sink. No emulator, no moto: `cargo test --lib`.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_licensemanager::types::{AllowedOperation, Grant, GrantStatus, IssuerDetails, License};
use lambda_runtime::{Context, LambdaEvent};
use license_automation::memory::{MemoryEventSink, MemoryStateTable};
use license_automation::state::StateKey;
use serde_json::Value;

use crate::license_manager::{FailureKind, LicenseManagerError};
use crate::{Config, GrantAcceptor, GrantAcceptorError, GrantCalls, Summary, Trigger};

const ISV: &str = "111122223333";
const CUSTOMER: &str = "123456789012";
const FINGERPRINT: &str = "aws:111122223333:Acme:issuer-fingerprint";
const LICENSE: &str = "arn:aws:license-manager::111122223333:license:l-1";
const ROGUE_LICENSE: &str = "arn:aws:license-manager::111122223333:license:l-2";

fn grant_arn(id: &str) -> String {
    format!("arn:aws:license-manager::{ISV}:grant:{id}")
}

/// License Manager in memory: grants with their versions, licenses, and the calls made.
#[derive(Debug, Default)]
struct FakeLicenseManager {
    inner: Mutex<Fake>,
}

#[derive(Debug, Default)]
struct Fake {
    /// Every version of each grant, the current one last.
    grants: HashMap<String, Vec<Grant>>,
    licenses: HashMap<String, License>,
    calls: Vec<String>,
    /// Calls that fail: (operation, ARN) → how.
    failing: HashMap<(&'static str, String), (FailureKind, &'static str)>,
    /// How long ListReceivedGrants takes (other invocations run meanwhile).
    list_takes: std::time::Duration,
}

fn grant(arn: &str, license: &str, status: GrantStatus, version: usize) -> Grant {
    Grant::builder()
        .grant_arn(arn)
        .grant_name("grant")
        .parent_arn(license)
        .license_arn(license)
        .grantee_principal_arn(format!("arn:aws:iam::{CUSTOMER}:root"))
        .home_region("us-east-1")
        .grant_status(status)
        .version(version.to_string())
        .granted_operations(AllowedOperation::CheckoutLicense)
        .build()
        .unwrap()
}

fn license(arn: &str, issuer: &str, fingerprint: &str) -> License {
    License::builder()
        .license_arn(arn)
        .product_sku("acme-pro")
        .issuer(
            IssuerDetails::builder()
                .name(issuer)
                .key_fingerprint(fingerprint)
                .build(),
        )
        .build()
}

impl FakeLicenseManager {
    fn new() -> Self {
        let fake = Self::default();
        {
            let mut inner = fake.lock();
            inner
                .licenses
                .insert(LICENSE.to_owned(), license(LICENSE, "Acme", FINGERPRINT));
            inner.licenses.insert(
                ROGUE_LICENSE.to_owned(),
                license(
                    ROGUE_LICENSE,
                    "Rogue",
                    "aws:111122223333:Rogue:issuer-fingerprint",
                ),
            );
        }
        fake
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Fake> {
        self.inner.lock().unwrap()
    }

    /// Adds a grant of `license` whose versions had `statuses`, the last one current.
    fn with_grant(self, id: &str, license: &str, statuses: &[GrantStatus]) -> Self {
        let arn = grant_arn(id);
        let versions = statuses
            .iter()
            .enumerate()
            .map(|(index, status)| grant(&arn, license, status.clone(), index + 1))
            .collect();
        self.lock().grants.insert(arn, versions);
        self
    }

    fn fail(&self, operation: &'static str, arn: &str, kind: FailureKind) {
        self.lock()
            .failing
            .insert((operation, arn.to_owned()), (kind, "FakeException"));
    }

    /// Makes `operation` on `arn` answer AccessDeniedException (an IAM or SCP change).
    fn deny(&self, operation: &'static str, arn: &str) {
        self.lock().failing.insert(
            (operation, arn.to_owned()),
            (FailureKind::Permanent, "AccessDeniedException"),
        );
    }

    fn status(&self, id: &str) -> GrantStatus {
        let inner = self.lock();
        inner.grants[&grant_arn(id)]
            .last()
            .unwrap()
            .grant_status()
            .clone()
    }

    /// The calls that change something.
    fn changes(&self) -> Vec<String> {
        self.lock()
            .calls
            .iter()
            .filter(|call| !call.starts_with("Get") && !call.starts_with("List"))
            .cloned()
            .collect()
    }

    fn call(&self, operation: &'static str, arn: &str) -> Result<(), LicenseManagerError> {
        let mut inner = self.lock();
        inner.calls.push(format!("{operation} {arn}"));
        match inner.failing.get(&(operation, arn.to_owned())) {
            Some((kind, code)) => Err(LicenseManagerError {
                code: Some((*code).to_owned()),
                ..error(operation, arn, *kind, &format!("{code}: injected failure"))
            }),
            None => Ok(()),
        }
    }

    /// Adds a version of grant `arn` with `status`; its number.
    fn new_version(&self, arn: &str, status: GrantStatus) -> Result<String, LicenseManagerError> {
        let mut inner = self.lock();
        let versions = inner
            .grants
            .get_mut(arn)
            .ok_or_else(|| error("Grant", arn, FailureKind::Permanent, "no such grant"))?;
        let current = versions.last().unwrap().clone();
        let version = versions.len() + 1;
        versions.push(grant(arn, current.license_arn(), status, version));
        Ok(version.to_string())
    }
}

fn error(
    operation: &'static str,
    arn: &str,
    kind: FailureKind,
    message: &str,
) -> LicenseManagerError {
    LicenseManagerError {
        operation,
        target: arn.to_owned(),
        code: Some("FakeException".to_owned()),
        message: format!("{operation} {arn}: {message}"),
        kind,
        attempts: 1,
    }
}

impl GrantCalls for FakeLicenseManager {
    async fn list_received_grants(
        &self,
        statuses: &[GrantStatus],
    ) -> Result<Vec<String>, LicenseManagerError> {
        self.call("ListReceivedGrants", "")?;
        let takes = self.lock().list_takes;
        if !takes.is_zero() {
            tokio::time::sleep(takes).await;
        }
        let inner = self.lock();
        let mut arns: Vec<String> = inner
            .grants
            .iter()
            .filter(|(_, versions)| {
                versions
                    .last()
                    .is_some_and(|grant| statuses.contains(grant.grant_status()))
            })
            .map(|(arn, _)| arn.clone())
            .collect();
        arns.sort();
        Ok(arns)
    }

    async fn get_grant(
        &self,
        arn: &str,
        version: Option<&str>,
    ) -> Result<Grant, LicenseManagerError> {
        self.call("GetGrant", arn)?;
        let inner = self.lock();
        let versions = inner.grants.get(arn);
        let found = match version {
            None => versions.and_then(|v| v.last()),
            Some(version) => {
                let index: usize = version.parse().unwrap();
                versions.and_then(|v| v.get(index - 1))
            }
        };
        found
            .cloned()
            .ok_or_else(|| error("GetGrant", arn, FailureKind::Permanent, "no such grant"))
    }

    async fn get_license(&self, arn: &str) -> Result<License, LicenseManagerError> {
        self.call("GetLicense", arn)?;
        self.lock()
            .licenses
            .get(arn)
            .cloned()
            .ok_or_else(|| error("GetLicense", arn, FailureKind::Permanent, "no such license"))
    }

    async fn accept_grant(&self, arn: &str) -> Result<Option<String>, LicenseManagerError> {
        self.call("AcceptGrant", arn)?;
        self.new_version(arn, GrantStatus::Disabled).map(Some)
    }

    async fn reject_grant(&self, arn: &str) -> Result<(), LicenseManagerError> {
        self.call("RejectGrant", arn)?;
        self.new_version(arn, GrantStatus::Rejected).map(|_| ())
    }

    async fn activate_grant(
        &self,
        arn: &str,
        _source_version: &str,
    ) -> Result<Option<String>, LicenseManagerError> {
        self.call("CreateGrantVersion", arn)?;
        self.new_version(arn, GrantStatus::Active).map(Some)
    }
}

type Acceptor = GrantAcceptor<FakeLicenseManager, MemoryStateTable, MemoryEventSink>;

fn acceptor(license_manager: FakeLicenseManager, untrusted: &str, dry_run: bool) -> Acceptor {
    let policy = format!(
        r#"{{"trusted":[{{"keyFingerprint":"{FINGERPRINT}"}}],"untrusted":"{untrusted}"}}"#
    );
    let dry_run = dry_run.to_string();
    let env = [
        ("STATE_TABLE", "state"),
        ("TRUST_POLICY", policy.as_str()),
        ("DRY_RUN", dry_run.as_str()),
    ];
    let config = Config::from_env(&env).unwrap();
    GrantAcceptor::with_ports(
        &config,
        license_manager,
        MemoryStateTable::new(),
        MemoryEventSink::new(),
    )
}

fn sweep_event() -> Value {
    serde_json::from_str(include_str!(
        "../../../events/grant-acceptor/scheduled.json"
    ))
    .unwrap()
}

fn grant_change(id: &str) -> Value {
    let mut event: Value = serde_json::from_str(include_str!(
        "../../../events/grant-acceptor/grant-change.json"
    ))
    .unwrap();
    event["resources"] = serde_json::json!([grant_arn(id)]);
    event["detail"]["grantArn"] = Value::String(grant_arn(id));
    event
}

async fn invoke(acceptor: &Acceptor, payload: Value) -> Result<Summary, GrantAcceptorError> {
    acceptor
        .handle(LambdaEvent {
            payload,
            context: Context::default(),
        })
        .await
}

fn notified(id: &str, suffix: &str) -> StateKey {
    StateKey::Notified {
        arn: grant_arn(id),
        version: suffix.to_owned(),
    }
}

#[tokio::test]
async fn a_trusted_pending_grant_is_accepted_activated_and_reported_once() {
    let lm = FakeLicenseManager::new().with_grant("g-1", LICENSE, &[GrantStatus::PendingAccept]);
    let acceptor = acceptor(lm, "ignore", false);
    let summary = invoke(&acceptor, sweep_event()).await.unwrap();
    assert_eq!(
        (
            summary.trigger,
            summary.examined,
            summary.accepted,
            summary.activated
        ),
        (Trigger::Sweep, 1, 1, 1)
    );
    let arn = grant_arn("g-1");
    assert_eq!(
        acceptor.license_manager().changes(),
        [
            format!("AcceptGrant {arn}"),
            format!("CreateGrantVersion {arn}")
        ]
    );
    assert_eq!(
        acceptor.license_manager().status("g-1"),
        GrantStatus::Active
    );
    let published = acceptor.publisher().published();
    assert_eq!(acceptor.publisher().detail_types(), ["Grant Accepted"]);
    let detail = published[0].detail();
    assert_eq!(detail["grantArn"], arn.as_str());
    assert_eq!(detail["account"], CUSTOMER);
    assert_eq!(detail["granterAccount"], ISV);
    assert_eq!(detail["activated"], true);
    assert_eq!(detail["occurrenceId"], format!("{arn}#1#accepted"));
    assert_eq!(
        acceptor
            .state()
            .state(&notified("g-1", "1#accepted"))
            .as_deref(),
        Some("sent")
    );

    // A replayed event finds the grant active: nothing to do, nothing new to say.
    let again = invoke(&acceptor, grant_change("g-1")).await.unwrap();
    assert_eq!(
        (again.trigger, again.examined, again.left),
        (Trigger::Event, 1, 1)
    );
    assert_eq!(acceptor.publisher().published().len(), 1);
}

#[tokio::test]
async fn untrusted_grants_are_rejected_under_reject_and_left_under_ignore() {
    let lm =
        FakeLicenseManager::new().with_grant("g-1", ROGUE_LICENSE, &[GrantStatus::PendingAccept]);
    let rejecting = acceptor(lm, "reject", false);
    let summary = invoke(&rejecting, sweep_event()).await.unwrap();
    assert_eq!((summary.rejected, summary.left), (1, 0));
    assert_eq!(
        rejecting.license_manager().status("g-1"),
        GrantStatus::Rejected
    );
    let detail = rejecting.publisher().published()[0].detail();
    assert_eq!(detail["outcome"], "rejected");
    assert!(
        detail["reason"]
            .as_str()
            .unwrap()
            .contains("keyFingerprint")
    );

    let lm =
        FakeLicenseManager::new().with_grant("g-1", ROGUE_LICENSE, &[GrantStatus::PendingAccept]);
    let ignoring = acceptor(lm, "ignore", false);
    let first = invoke(&ignoring, sweep_event()).await.unwrap();
    let second = invoke(&ignoring, sweep_event()).await.unwrap();
    assert_eq!((first.left, second.left), (1, 1));
    assert!(ignoring.license_manager().changes().is_empty());
    assert_eq!(
        ignoring.publisher().detail_types(),
        ["Grant Not Trusted"],
        "reported once per grant version and decision"
    );
}

#[tokio::test]
async fn a_grant_deactivated_after_being_active_is_left_and_a_never_active_one_activated() {
    use GrantStatus::{Active, Disabled, PendingAccept};
    let lm = FakeLicenseManager::new()
        .with_grant(
            "g-off",
            LICENSE,
            &[PendingAccept, Disabled, Active, Disabled],
        )
        .with_grant("g-new", LICENSE, &[PendingAccept, Disabled]);
    let acceptor = acceptor(lm, "ignore", false);
    let summary = invoke(&acceptor, sweep_event()).await.unwrap();
    assert_eq!(
        (summary.left, summary.activated, summary.accepted),
        (1, 1, 0)
    );
    assert_eq!(
        acceptor.license_manager().changes(),
        [format!("CreateGrantVersion {}", grant_arn("g-new"))]
    );
    assert_eq!(acceptor.publisher().detail_types(), ["Grant Accepted"]);
}

#[tokio::test]
async fn a_dry_run_changes_nothing_and_keeps_its_records_apart() {
    let lm = FakeLicenseManager::new().with_grant("g-1", LICENSE, &[GrantStatus::PendingAccept]);
    let acceptor = acceptor(lm, "ignore", true);
    let summary = invoke(&acceptor, sweep_event()).await.unwrap();
    assert!(summary.dry_run);
    assert_eq!(
        (summary.accepted, summary.activated),
        (1, 1),
        "what would have been done"
    );
    assert!(acceptor.license_manager().changes().is_empty());
    assert_eq!(acceptor.publisher().published()[0].detail()["dryRun"], true);
    assert_eq!(
        acceptor.state().keys(),
        [notified("g-1", "1#accepted#dry-run").partition_key()]
    );
}

#[tokio::test]
async fn an_unpublished_event_fails_the_invocation_and_the_retry_sends_it() {
    let lm =
        FakeLicenseManager::new().with_grant("g-1", ROGUE_LICENSE, &[GrantStatus::PendingAccept]);
    let acceptor = acceptor(lm, "ignore", false);
    acceptor.publisher().refuse(Some(|_| true));
    let error = invoke(&acceptor, sweep_event()).await.unwrap_err();
    assert_eq!(error.error_type(), "TransientGrantFailures");
    assert!(
        error
            .to_string()
            .contains("Grant Not Trusted not published"),
        "{error}"
    );
    let record = acceptor
        .state()
        .record(&notified("g-1", "1#ignored"))
        .unwrap();
    assert_eq!(record.state, "pending", "the decision stays in the outbox");
    assert!(record.intent.is_some());

    acceptor.publisher().refuse(None);
    let retry = invoke(&acceptor, sweep_event()).await.unwrap();
    assert_eq!((retry.failed, retry.redriven), (0, 1));
    assert_eq!(acceptor.publisher().detail_types(), ["Grant Not Trusted"]);
    assert_eq!(
        acceptor
            .state()
            .state(&notified("g-1", "1#ignored"))
            .as_deref(),
        Some("sent")
    );
}

#[tokio::test]
async fn an_accepted_grant_whose_event_was_lost_is_announced_by_the_retry_with_its_first_id() {
    // AcceptGrant and the activation succeed, then PutEvents fails: the retry finds the
    // grant ACTIVE (at a later version) and must still send Grant Accepted, as the same
    // occurrence the first invocation decided on.
    let lm = FakeLicenseManager::new().with_grant("g-1", LICENSE, &[GrantStatus::PendingAccept]);
    let acceptor = acceptor(lm, "ignore", false);
    acceptor.publisher().refuse(Some(|_| true));
    invoke(&acceptor, grant_change("g-1")).await.unwrap_err();
    assert_eq!(
        acceptor.license_manager().status("g-1"),
        GrantStatus::Active
    );
    assert!(acceptor.publisher().published().is_empty());

    acceptor.publisher().refuse(None);
    let retry = invoke(&acceptor, grant_change("g-1")).await.unwrap();
    assert_eq!(retry.redriven, 1);
    assert_eq!(acceptor.publisher().detail_types(), ["Grant Accepted"]);
    assert_eq!(
        acceptor.publisher().published()[0].detail()["occurrenceId"],
        format!("{}#1#accepted", grant_arn("g-1"))
    );
    invoke(&acceptor, grant_change("g-1")).await.unwrap();
    assert_eq!(acceptor.publisher().published().len(), 1, "once");
}

#[tokio::test]
async fn an_activation_that_failed_is_finished_by_the_next_invocation_under_the_first_id() {
    // AcceptGrant succeeds, ActivateGrant fails transiently: the grant is DISABLED at the
    // next version. The next invocation re-drives the recorded decision (activating the
    // grant) instead of deciding anew about the next version.
    let lm = FakeLicenseManager::new().with_grant("g-1", LICENSE, &[GrantStatus::PendingAccept]);
    lm.fail(
        "CreateGrantVersion",
        &grant_arn("g-1"),
        FailureKind::Transient,
    );
    let acceptor = acceptor(lm, "ignore", false);
    let error = invoke(&acceptor, grant_change("g-1")).await.unwrap_err();
    assert_eq!(error.error_type(), "TransientGrantFailures");
    assert_eq!(
        acceptor.license_manager().status("g-1"),
        GrantStatus::Disabled
    );
    acceptor.license_manager().lock().failing.clear();

    let retry = invoke(&acceptor, grant_change("g-1")).await.unwrap();
    assert_eq!(retry.redriven, 1);
    assert_eq!(
        acceptor.license_manager().status("g-1"),
        GrantStatus::Active
    );
    assert_eq!(acceptor.publisher().detail_types(), ["Grant Accepted"]);
    assert_eq!(
        acceptor.publisher().published()[0].detail()["occurrenceId"],
        format!("{}#1#accepted", grant_arn("g-1"))
    );
}

#[tokio::test]
async fn a_grant_another_invocation_is_deciding_fails_this_one_for_a_retry() {
    let lm = FakeLicenseManager::new().with_grant("g-1", LICENSE, &[GrantStatus::PendingAccept]);
    let acceptor = acceptor(lm, "ignore", false);
    // Another invocation's live claim on the decision.
    let claim = license_automation::state::PendingIntent {
        owner: StateKey::Outbox {
            owner: "grant-acceptor".into(),
        },
        claim_until: time::OffsetDateTime::now_utc() + time::Duration::minutes(5),
        body: r#"{"events":[]}"#.into(),
    };
    license_automation::ports::StateTable::put_intent(
        acceptor.state(),
        &notified("g-1", "1#accepted"),
        None,
        "pending",
        &claim,
    )
    .await
    .unwrap();
    let error = invoke(&acceptor, grant_change("g-1")).await.unwrap_err();
    assert_eq!(error.error_type(), "TransientGrantFailures");
    assert!(error.to_string().contains("another invocation"), "{error}");
    assert!(
        acceptor.license_manager().changes().is_empty(),
        "nothing done twice"
    );
    assert!(acceptor.publisher().published().is_empty());
}

#[tokio::test]
async fn an_unavailable_state_table_repeats_an_event_rather_than_lose_it() {
    let lm =
        FakeLicenseManager::new().with_grant("g-1", ROGUE_LICENSE, &[GrantStatus::PendingAccept]);
    let acceptor = acceptor(lm, "ignore", false);
    acceptor.state().set_unavailable(true);
    invoke(&acceptor, sweep_event()).await.unwrap();
    invoke(&acceptor, sweep_event()).await.unwrap();
    assert_eq!(
        acceptor.publisher().detail_types(),
        ["Grant Not Trusted", "Grant Not Trusted"]
    );
    // The repeat is the same occurrence: consumers drop it by its occurrenceId.
    let ids: Vec<Value> = acceptor
        .publisher()
        .published()
        .iter()
        .map(|event| event.detail()["occurrenceId"].clone())
        .collect();
    assert_eq!(ids[0], format!("{}#1#ignored", grant_arn("g-1")));
    assert_eq!(ids[0], ids[1]);
}

#[tokio::test]
async fn a_transient_failure_of_one_grant_fails_the_invocation_after_the_others_are_done() {
    let lm = FakeLicenseManager::new()
        .with_grant("g-1", LICENSE, &[GrantStatus::PendingAccept])
        .with_grant("g-2", LICENSE, &[GrantStatus::PendingAccept]);
    lm.fail("AcceptGrant", &grant_arn("g-2"), FailureKind::Transient);
    let acceptor = acceptor(lm, "ignore", false);
    let error = invoke(&acceptor, sweep_event()).await.unwrap_err();
    let GrantAcceptorError::Transient { summary, failures } = &error else {
        panic!("{error}");
    };
    assert_eq!((summary.accepted, summary.failed), (1, 1));
    assert!(failures[0].starts_with(&grant_arn("g-2")), "{failures:?}");
    assert_eq!(acceptor.publisher().detail_types(), ["Grant Accepted"]);
}

#[tokio::test]
async fn a_permanent_failure_is_counted_not_retried() {
    let lm = FakeLicenseManager::new().with_grant("g-1", LICENSE, &[GrantStatus::PendingAccept]);
    let acceptor = acceptor(lm, "ignore", false);
    let summary = invoke(&acceptor, grant_change("g-gone")).await.unwrap();
    assert_eq!((summary.examined, summary.failed), (1, 1));
    assert!(acceptor.publisher().published().is_empty());
}

#[tokio::test]
async fn access_denied_fails_the_invocation_after_the_other_grants_are_done() {
    let lm = FakeLicenseManager::new()
        .with_grant("g-1", LICENSE, &[GrantStatus::PendingAccept])
        .with_grant("g-2", LICENSE, &[GrantStatus::PendingAccept]);
    lm.deny("AcceptGrant", &grant_arn("g-2"));
    let acceptor = acceptor(lm, "ignore", false);
    let error = invoke(&acceptor, sweep_event()).await.unwrap_err();
    assert_eq!(error.error_type(), "NeedsAttention");
    let GrantAcceptorError::NeedsAttention { summary, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!((summary.accepted, summary.failed), (1, 1));
    assert_eq!(summary.needs_attention.len(), 1);
    assert!(
        summary.needs_attention[0].starts_with(&grant_arn("g-2"))
            && summary.needs_attention[0].contains("AccessDeniedException"),
        "{summary:?}"
    );
    assert!(
        error.to_string().contains("AccessDeniedException"),
        "{error}"
    );
    assert_eq!(acceptor.publisher().detail_types(), ["Grant Accepted"]);
}

#[tokio::test]
async fn a_missing_state_table_fails_the_invocation_after_the_events_are_sent() {
    let lm =
        FakeLicenseManager::new().with_grant("g-1", ROGUE_LICENSE, &[GrantStatus::PendingAccept]);
    let acceptor = acceptor(lm, "ignore", false);
    acceptor.state().set_missing(true);
    let error = invoke(&acceptor, sweep_event()).await.unwrap_err();
    assert_eq!(error.error_type(), "NeedsAttention");
    assert!(
        error.to_string().contains("ResourceNotFoundException"),
        "{error}"
    );
    assert_eq!(acceptor.publisher().detail_types(), ["Grant Not Trusted"]);
}

/// A `Grant Change` naming no grant (License Manager sends some), with its own event id.
fn grant_change_without_arn(event_id: &str) -> Value {
    let mut event = grant_change("g-1");
    event["id"] = Value::String(event_id.to_owned());
    event["resources"] = serde_json::json!([]);
    event["detail"] = serde_json::json!({"status": "PENDING_ACCEPT"});
    event
}

#[tokio::test]
async fn events_without_a_grant_arn_during_a_sweep_coalesce_into_one_more_sweep() {
    let lm = FakeLicenseManager::new().with_grant("g-1", LICENSE, &[GrantStatus::PendingAccept]);
    lm.lock().list_takes = std::time::Duration::from_millis(50);
    let acceptor = acceptor(lm, "ignore", false);
    // Five such events at once: the first sweeps; the four others arrive while it lists.
    let (first, others) = tokio::join!(
        invoke(&acceptor, grant_change_without_arn("e-1")),
        futures_util::future::join_all(
            (2..=5).map(|n| invoke(&acceptor, grant_change_without_arn(&format!("e-{n}"))))
        )
    );
    let first = first.unwrap();
    assert_eq!((first.trigger, first.swept_again), (Trigger::Sweep, 1));
    for other in others {
        let other = other.unwrap();
        assert_eq!(other.trigger, Trigger::Coalesced);
        assert_eq!(other.coalesced_into.as_deref(), Some("e-1"));
        assert_eq!(other.examined, 0);
    }
    // Two sweeps for five events: the first, and one that started after the other four.
    let lists = acceptor
        .license_manager()
        .lock()
        .calls
        .iter()
        .filter(|call| call.starts_with("ListReceivedGrants"))
        .count();
    assert_eq!(lists, 2);
    assert_eq!(
        acceptor.license_manager().status("g-1"),
        GrantStatus::Active
    );
    assert_eq!(acceptor.publisher().detail_types(), ["Grant Accepted"]);
    // Idle again: the next such event sweeps itself.
    let next = invoke(&acceptor, grant_change_without_arn("e-6"))
        .await
        .unwrap();
    assert_eq!((next.trigger, next.swept_again), (Trigger::Sweep, 0));
}

#[tokio::test]
async fn a_failed_sweep_lets_the_next_event_sweep_and_its_retry_sweeps_again() {
    let lm = FakeLicenseManager::new().with_grant("g-1", LICENSE, &[GrantStatus::PendingAccept]);
    lm.lock().list_takes = std::time::Duration::from_millis(50);
    lm.fail("ListReceivedGrants", "", FailureKind::Transient);
    let acceptor = acceptor(lm, "ignore", false);
    let (first, second) = tokio::join!(
        invoke(&acceptor, grant_change_without_arn("e-1")),
        invoke(&acceptor, grant_change_without_arn("e-2"))
    );
    assert!(first.is_err(), "the sweep failed: {first:?}");
    // The failed sweep released its claim: the next event is not coalesced into a sweep that
    // is not running.
    let second = second.unwrap_err();
    assert!(
        second.to_string().contains("ListReceivedGrants"),
        "{second}"
    );
    // Lambda retries e-1: it sweeps.
    acceptor.license_manager().lock().failing.clear();
    let retry = invoke(&acceptor, grant_change_without_arn("e-1"))
        .await
        .unwrap();
    assert_eq!(retry.trigger, Trigger::Sweep);
    assert_eq!(
        acceptor.license_manager().status("g-1"),
        GrantStatus::Active
    );
}
