//! The handler's orchestration against in-memory ports: a fake License Manager, the
//! in-memory state table and event sink. No emulator, no moto: `cargo test --lib`.

use std::sync::Mutex;

use aws_sdk_licensemanager::types::{
    AllowedOperation, DatetimeRange, Entitlement, EntitlementDataUnit, EntitlementUnit,
    EntitlementUsage, Grant, GrantStatus, GrantedLicense, License, LicenseStatus, ReceivedStatus,
};
use lambda_runtime::{Context, LambdaEvent};
use license_automation::memory::{MemoryEventSink, MemoryStateTable};
use license_automation::state::StateKey;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::license_manager::{FailureKind, LicenseManagerError};
use crate::{Config, EventOutcome, LicenseCalls, LicenseEvents, LicenseEventsError, Summary};

/// The license the fixtures name (issued by another account, received here).
const LICENSE: &str =
    "arn:aws:license-manager::111122223333:license:l-0123456789abcdef0123456789abcdef";
const GRANT: &str =
    "arn:aws:license-manager::111122223333:grant:g-0123456789abcdef0123456789abcdef";

/// License Manager in memory: the versions of one license, its grant here, its usage.
#[derive(Debug)]
struct FakeLicenseManager {
    inner: Mutex<Fake>,
}

#[derive(Debug)]
struct Fake {
    /// Every version of the license, the current one last.
    versions: Vec<License>,
    received: ReceivedStatus,
    grant: GrantStatus,
    consumed: String,
    /// Licenses this account issued (the sweep lists them).
    issued: Vec<License>,
    /// ListLicenses calls: one per sweep.
    sweeps: usize,
    /// How long ListLicenses takes (other invocations run meanwhile).
    list_takes: std::time::Duration,
}

fn license(status: LicenseStatus, version: usize, end: OffsetDateTime) -> License {
    License::builder()
        .license_arn(LICENSE)
        .status(status)
        .version(version.to_string())
        .product_sku("acme-pro")
        .validity(
            DatetimeRange::builder()
                .begin("2026-01-01T00:00:00Z")
                .end(end.format(&Rfc3339).unwrap())
                .build()
                .unwrap(),
        )
        .entitlements(
            Entitlement::builder()
                .name("Users")
                .unit(EntitlementUnit::Count)
                .max_count(10)
                .overage(true)
                .build()
                .unwrap(),
        )
        .build()
}

fn not_found(operation: &'static str, arn: &str) -> LicenseManagerError {
    LicenseManagerError {
        operation,
        target: arn.to_owned(),
        code: Some("ResourceNotFoundException".to_owned()),
        message: format!("{operation} {arn}: not found"),
        kind: FailureKind::Permanent,
        attempts: 1,
    }
}

impl FakeLicenseManager {
    /// A license valid for a year, received here through an active grant.
    fn new() -> Self {
        let end = OffsetDateTime::now_utc() + time::Duration::days(365);
        Self {
            inner: Mutex::new(Fake {
                versions: vec![license(LicenseStatus::Available, 1, end)],
                received: ReceivedStatus::Active,
                grant: GrantStatus::Active,
                consumed: "0".to_owned(),
                issued: Vec::new(),
                sweeps: 0,
                list_takes: std::time::Duration::ZERO,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Fake> {
        self.inner.lock().unwrap()
    }

    /// A new version of the license with `status`, ending in `days`.
    fn new_version(&self, status: LicenseStatus, days: i64) {
        let mut inner = self.lock();
        let version = inner.versions.len() + 1;
        let end = OffsetDateTime::now_utc() + time::Duration::days(days);
        inner.versions.push(license(status, version, end));
    }

    fn current(&self) -> License {
        self.lock().versions.last().unwrap().clone()
    }
}

impl LicenseCalls for FakeLicenseManager {
    async fn get_license(
        &self,
        arn: &str,
        version: Option<&str>,
    ) -> Result<License, LicenseManagerError> {
        if arn != LICENSE {
            return Err(not_found("GetLicense", arn));
        }
        let inner = self.lock();
        let found = match version {
            None => inner.versions.last(),
            Some(v) => inner.versions.get(v.parse::<usize>().unwrap() - 1),
        };
        found.cloned().ok_or_else(|| not_found("GetLicense", arn))
    }

    async fn get_grant(&self, arn: &str) -> Result<Grant, LicenseManagerError> {
        if arn != GRANT {
            return Err(not_found("GetGrant", arn));
        }
        Ok(Grant::builder()
            .grant_arn(GRANT)
            .grant_name("grant")
            .parent_arn(LICENSE)
            .license_arn(LICENSE)
            .grantee_principal_arn("arn:aws:iam::123456789012:root")
            .home_region("us-east-1")
            .grant_status(self.lock().grant.clone())
            .version("1")
            .granted_operations(AllowedOperation::CheckoutLicense)
            .build()
            .unwrap())
    }

    async fn get_license_usage(
        &self,
        _arn: &str,
    ) -> Result<Vec<EntitlementUsage>, LicenseManagerError> {
        Ok(vec![
            EntitlementUsage::builder()
                .name("Users")
                .consumed_value(self.lock().consumed.clone())
                .max_count("10")
                .unit(EntitlementDataUnit::Count)
                .build()
                .unwrap(),
        ])
    }

    async fn count_tokens(&self, _arn: &str) -> Result<usize, LicenseManagerError> {
        Ok(2)
    }

    async fn list_licenses(&self) -> Result<Vec<License>, LicenseManagerError> {
        let takes = {
            let mut inner = self.lock();
            inner.sweeps += 1;
            inner.list_takes
        };
        if !takes.is_zero() {
            tokio::time::sleep(takes).await;
        }
        Ok(self.lock().issued.clone())
    }

    async fn list_received_licenses(&self) -> Result<Vec<GrantedLicense>, LicenseManagerError> {
        let current = self.current();
        Ok(vec![
            GrantedLicense::builder()
                .license_arn(LICENSE)
                .set_status(current.status().cloned())
                .set_version(current.version().map(str::to_owned))
                .product_sku("acme-pro")
                .set_validity(current.validity().cloned())
                .set_entitlements(Some(current.entitlements().to_vec()))
                .received_metadata(
                    aws_sdk_licensemanager::types::ReceivedMetadata::builder()
                        .received_status(self.lock().received.clone())
                        .build(),
                )
                .build(),
        ])
    }

    async fn received_status(
        &self,
        _arn: &str,
    ) -> Result<Option<ReceivedStatus>, LicenseManagerError> {
        Ok(Some(self.lock().received.clone()))
    }
}

type Handler = LicenseEvents<FakeLicenseManager, MemoryStateTable, MemoryEventSink>;

fn handler(license_manager: FakeLicenseManager) -> Handler {
    let config = Config::from_env(&[("STATE_TABLE", "state")]).unwrap();
    LicenseEvents::with_ports(
        &config,
        license_manager,
        MemoryStateTable::new(),
        MemoryEventSink::new(),
    )
}

fn fixture(name: &str) -> Value {
    let text = match name {
        "license-change" => include_str!("../../../events/license-events/license-change.json"),
        "consumption" => {
            include_str!("../../../events/license-events/license-consumption-change.json")
        }
        "grant-change" => include_str!("../../../events/license-events/grant-change.json"),
        "scheduled" => include_str!("../../../events/license-events/scheduled.json"),
        "unrecognized" => include_str!("../../../events/license-events/unrecognized.json"),
        "without-hint" => {
            include_str!("../../../events/license-events/license-change-without-hint.json")
        }
        _ => panic!("no fixture {name}"),
    };
    serde_json::from_str(text).unwrap()
}

/// The fixture `name` with a new event id, as another delivery of the same kind.
fn with_id(mut event: Value, id: &str) -> Value {
    event["id"] = Value::String(id.to_owned());
    event
}

async fn invoke(handler: &Handler, payload: Value) -> Result<Summary, LicenseEventsError> {
    handler
        .handle(LambdaEvent {
            payload,
            context: Context::default(),
        })
        .await
}

#[tokio::test]
async fn a_deactivated_license_is_reported_once_naming_the_status_before() {
    let lm = FakeLicenseManager::new();
    lm.new_version(LicenseStatus::Deactivated, 365);
    let handler = handler(lm);
    let summary = invoke(&handler, fixture("license-change")).await.unwrap();
    assert_eq!(summary.outcome, EventOutcome::Processed);
    assert_eq!(summary.emitted, ["License Status Changed"]);
    let detail = handler.publisher().published()[0].detail();
    assert_eq!(detail["status"], "DEACTIVATED");
    assert_eq!(
        detail["previousStatus"], "AVAILABLE",
        "from the version before"
    );

    let replay = invoke(&handler, fixture("license-change")).await.unwrap();
    assert_eq!(replay.outcome, EventOutcome::Replayed);
    let again = invoke(&handler, with_id(fixture("license-change"), "e-2"))
        .await
        .unwrap();
    assert_eq!(again.outcome, EventOutcome::Processed);
    assert!(again.emitted.is_empty(), "unchanged license: nothing new");
    assert_eq!(handler.publisher().published().len(), 1);
}

#[tokio::test]
async fn the_sweep_publishes_as_it_goes_in_batches_of_at_most_ten() {
    let lm = FakeLicenseManager::new();
    let end = OffsetDateTime::now_utc() + time::Duration::days(5);
    lm.lock().issued = (0..25)
        .map(|n| {
            License::builder()
                .license_arn(format!("{LICENSE}-{n}"))
                .status(LicenseStatus::Available)
                .version("1")
                .product_sku("acme-pro")
                .validity(
                    DatetimeRange::builder()
                        .begin("2026-01-01T00:00:00Z")
                        .end(end.format(&Rfc3339).unwrap())
                        .build()
                        .unwrap(),
                )
                .build()
        })
        .collect();
    let handler = handler(lm);
    let summary = invoke(&handler, fixture("scheduled")).await.unwrap();
    assert_eq!(summary.emitted.len(), 25);
    let calls = handler.publisher().calls();
    assert_eq!(calls.iter().sum::<usize>(), 25);
    assert!(calls.iter().all(|events| *events <= 10), "{calls:?}");
    assert!(calls.len() >= 3, "published as it went: {calls:?}");
    assert!(
        handler
            .state()
            .keys()
            .iter()
            .all(|key| key.starts_with("alert#")
                || handler
                    .state()
                    .record(&StateKey::from_partition_key(key).unwrap())
                    .unwrap()
                    .state
                    == "sent"),
        "every once-record is settled"
    );
}

#[tokio::test]
async fn a_sweep_out_of_time_starts_nothing_new_and_fails_so_the_next_one_checks() {
    let handler = handler(FakeLicenseManager::new());
    let mut event = LambdaEvent {
        payload: fixture("scheduled"),
        context: Context::default(),
    };
    event.context.deadline = u64::try_from(
        (OffsetDateTime::now_utc() + time::Duration::milliseconds(500)).unix_timestamp_nanos()
            / 1_000_000,
    )
    .unwrap();
    let error = handler.handle(event).await.unwrap_err();
    assert!(error.to_string().contains("time ran out"), "{error}");
}

#[tokio::test]
async fn the_sweep_warns_of_an_expiring_license_once_per_version() {
    let lm = FakeLicenseManager::new();
    lm.new_version(LicenseStatus::Available, 10);
    let handler = handler(lm);
    let first = invoke(&handler, fixture("scheduled")).await.unwrap();
    assert_eq!(first.emitted, ["License Expiring"]);
    let detail = handler.publisher().published()[0].detail();
    assert_eq!(
        (
            detail["daysRemaining"].as_i64(),
            detail["warningDays"].as_i64()
        ),
        (Some(9), Some(30))
    );
    let second = invoke(&handler, fixture("scheduled")).await.unwrap();
    assert!(second.emitted.is_empty());
    handler
        .license_manager()
        .new_version(LicenseStatus::Available, 5);
    let third = invoke(&handler, fixture("scheduled")).await.unwrap();
    assert_eq!(
        third.emitted,
        ["License Expiring"],
        "a new version is reported again"
    );
    let published = handler.publisher().published();
    assert_ne!(
        published[0].detail()["occurrenceId"],
        published[1].detail()["occurrenceId"],
        "as another occurrence"
    );
}

#[tokio::test]
async fn an_overage_not_published_stays_in_the_outbox_and_the_retry_sends_it() {
    let lm = FakeLicenseManager::new();
    lm.lock().consumed = "11".to_owned();
    let handler = handler(lm);
    handler.publisher().refuse(Some(|_| true));
    let error = invoke(&handler, fixture("consumption")).await.unwrap_err();
    assert_eq!(error.error_type(), "TransientFailures");
    assert!(
        error
            .to_string()
            .contains("Entitlement Overage not published"),
        "{error}"
    );
    let pending: Vec<_> = handler
        .state()
        .keys()
        .into_iter()
        .filter(|key| key.ends_with("#Users"))
        .collect();
    assert_eq!(pending.len(), 1, "the crossing is recorded");
    let key = StateKey::from_partition_key(&pending[0]).unwrap();
    assert!(
        handler.state().record(&key).unwrap().intent.is_some(),
        "its event pending"
    );

    handler.publisher().refuse(None);
    let retry = invoke(&handler, fixture("consumption")).await.unwrap();
    assert_eq!(
        retry.outcome,
        EventOutcome::Processed,
        "not taken for a replay"
    );
    assert_eq!(retry.redriven, 1, "the recorded event is re-driven");
    assert_eq!(retry.emitted, ["Entitlement Overage"]);
    assert!(handler.state().record(&key).unwrap().intent.is_none());
    assert_eq!(retry.licenses[0].usage[0].consumed, "11");
    let still_over = invoke(&handler, with_id(fixture("consumption"), "e-3"))
        .await
        .unwrap();
    assert!(still_over.emitted.is_empty(), "once per crossing");
}

#[tokio::test]
async fn a_license_held_through_a_grant_that_is_not_active_is_not_checked() {
    let lm = FakeLicenseManager::new();
    lm.new_version(LicenseStatus::Deactivated, 365);
    lm.lock().grant = GrantStatus::PendingAccept;
    let handler = handler(lm);
    let summary = invoke(&handler, fixture("grant-change")).await.unwrap();
    assert!(summary.licenses.is_empty());
    assert_eq!(
        summary.grants[0].note.as_deref(),
        Some("the grant is not active: its license is not checked")
    );

    handler.license_manager().lock().received = ReceivedStatus::PendingAccept;
    let summary = invoke(&handler, fixture("license-change")).await.unwrap();
    assert!(summary.emitted.is_empty());
    assert!(
        summary.licenses[0]
            .note
            .as_deref()
            .is_some_and(|note| note.contains("not in use here"))
    );
}

#[tokio::test]
async fn an_unavailable_state_table_repeats_an_event_rather_than_lose_it() {
    let lm = FakeLicenseManager::new();
    lm.new_version(LicenseStatus::Expired, 365);
    let handler = handler(lm);
    handler.state().set_unavailable(true);
    invoke(&handler, fixture("license-change")).await.unwrap();
    invoke(&handler, fixture("license-change")).await.unwrap();
    assert_eq!(
        handler.publisher().detail_types(),
        ["License Status Changed", "License Status Changed"]
    );
    // The repeat is the same occurrence (license, version, status): consumers drop it.
    let ids: Vec<Value> = handler
        .publisher()
        .published()
        .iter()
        .map(|event| event.detail()["occurrenceId"].clone())
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert!(
        ids[0]
            .as_str()
            .is_some_and(|id| id.starts_with(LICENSE) && id.ends_with("#status#EXPIRED")),
        "{ids:?}"
    );
}

#[tokio::test]
async fn an_unknown_license_is_unresolved_and_another_event_is_ignored() {
    let handler = handler(FakeLicenseManager::new());
    let mut event = fixture("license-change");
    let gone = "arn:aws:license-manager::111122223333:license:l-gone";
    event["resources"] = serde_json::json!([gone]);
    event["detail"]["licenseArn"] = Value::String(gone.to_owned());
    let summary = invoke(&handler, event).await.unwrap();
    assert_eq!(summary.outcome, EventOutcome::Unresolved);
    assert!(!summary.licenses[0].resolved);
    let ignored = invoke(&handler, fixture("unrecognized")).await.unwrap();
    assert_eq!(ignored.outcome, EventOutcome::Ignored);
    assert!(handler.publisher().published().is_empty());
}

#[tokio::test]
async fn events_without_an_arn_during_a_sweep_coalesce_into_one_more_sweep() {
    let lm = FakeLicenseManager::new();
    lm.lock().list_takes = std::time::Duration::from_millis(50);
    let handler = handler(lm);
    let event = |id: &str| with_id(fixture("without-hint"), id);
    let (first, others) = tokio::join!(
        invoke(&handler, event("e-1")),
        futures_util::future::join_all((2..=5).map(|n| invoke(&handler, event(&format!("e-{n}")))))
    );
    let first = first.unwrap();
    assert_eq!(
        (first.outcome, first.swept_again),
        (EventOutcome::Processed, 1)
    );
    assert_eq!(
        first.licenses.len(),
        1,
        "the last sweep's licenses: {first:?}"
    );
    for other in others {
        let other = other.unwrap();
        assert_eq!(other.outcome, EventOutcome::Coalesced);
        assert_eq!(other.coalesced_into.as_deref(), Some("e-1"));
        assert!(other.licenses.is_empty());
    }
    // Two sweeps for five events: the first, and one that started after the other four.
    assert_eq!(handler.license_manager().lock().sweeps, 2);
    // A coalesced event is done: its replay does nothing.
    let replay = invoke(&handler, event("e-3")).await.unwrap();
    assert_eq!(replay.outcome, EventOutcome::Replayed);
    assert_eq!(handler.license_manager().lock().sweeps, 2);
}
