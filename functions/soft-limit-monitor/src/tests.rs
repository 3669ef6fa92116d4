//! The sweep's orchestration against in-memory ports: a fake License Manager, the in-memory
//! state table and event sink. No emulator, no moto: `cargo test --lib`.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_licensemanager::types::{
    Entitlement, EntitlementDataUnit, EntitlementUnit, EntitlementUsage, LicenseConfiguration,
};
use lambda_runtime::{Context, LambdaEvent};
use license_automation::memory::{MemoryEventSink, MemoryStateTable};
use license_automation::state::StateKey;
use serde_json::Value;

use crate::license_manager::{FailureKind, LicenseEntitlements, LicenseManagerError};
use crate::{
    Config, LimitCalls, OPT_OUT_TAG_KEY, SoftLimitMonitor, SoftLimitMonitorError, Summary,
};

const CONFIGURATION: &str =
    "arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-1";
const LICENSE: &str = "arn:aws:license-manager::123456789012:license:l-1";

/// License Manager in memory: one configuration of 10, one license with an overage-allowed
/// entitlement of 10, tags, and the calls that change something.
#[derive(Debug)]
struct FakeLicenseManager {
    inner: Mutex<Fake>,
}

#[derive(Debug)]
struct Fake {
    consumed: i64,
    hard: bool,
    tags: Vec<(String, String)>,
    entitlement_consumed: i64,
    hardened: Vec<String>,
    /// UpdateLicenseConfiguration answers AccessDeniedException (an SCP forbids it).
    harden_denied: bool,
}

impl FakeLicenseManager {
    fn new(consumed: i64) -> Self {
        Self {
            inner: Mutex::new(Fake {
                consumed,
                hard: false,
                tags: Vec::new(),
                entitlement_consumed: 0,
                hardened: Vec::new(),
                harden_denied: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Fake> {
        self.inner.lock().unwrap()
    }

    fn consume(&self, consumed: i64) {
        self.lock().consumed = consumed;
    }
}

impl LimitCalls for FakeLicenseManager {
    async fn list_license_configurations(
        &self,
    ) -> Result<Vec<LicenseConfiguration>, LicenseManagerError> {
        let inner = self.lock();
        Ok(vec![
            LicenseConfiguration::builder()
                .license_configuration_arn(CONFIGURATION)
                .owner_account_id("123456789012")
                .status("AVAILABLE")
                .license_count(10)
                .license_count_hard_limit(inner.hard)
                .consumed_licenses(inner.consumed)
                .build(),
        ])
    }

    async fn licenses(&self) -> Result<Vec<LicenseEntitlements>, LicenseManagerError> {
        Ok(vec![LicenseEntitlements {
            license_arn: LICENSE.to_owned(),
            entitlements: vec![
                Entitlement::builder()
                    .name("Users")
                    .unit(EntitlementUnit::Count)
                    .max_count(10)
                    .overage(true)
                    .build()
                    .unwrap(),
            ],
        }])
    }

    async fn tags(&self, _arn: &str) -> Result<Vec<(String, String)>, LicenseManagerError> {
        Ok(self.lock().tags.clone())
    }

    async fn harden(&self, arn: &str) -> Result<(), LicenseManagerError> {
        let mut inner = self.lock();
        if inner.harden_denied {
            return Err(LicenseManagerError {
                operation: "UpdateLicenseConfiguration",
                target: arn.to_owned(),
                code: Some("AccessDeniedException".to_owned()),
                message: "AccessDeniedException: explicit deny in a service control policy"
                    .to_owned(),
                kind: FailureKind::Permanent,
                attempts: 1,
            });
        }
        inner.hard = true;
        inner.hardened.push(arn.to_owned());
        Ok(())
    }

    async fn license_usage(
        &self,
        _arn: &str,
    ) -> Result<Vec<EntitlementUsage>, LicenseManagerError> {
        Ok(vec![
            EntitlementUsage::builder()
                .name("Users")
                .consumed_value(self.lock().entitlement_consumed.to_string())
                .max_count("10")
                .unit(EntitlementDataUnit::Count)
                .build()
                .unwrap(),
        ])
    }
}

type Monitor = SoftLimitMonitor<FakeLicenseManager, MemoryStateTable, MemoryEventSink>;

fn monitor(license_manager: FakeLicenseManager, extra: &[(&str, &str)]) -> Monitor {
    let mut env: HashMap<String, String> = HashMap::from([("STATE_TABLE".into(), "state".into())]);
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let config = Config::from_env(&env).unwrap();
    SoftLimitMonitor::with_ports(
        &config,
        license_manager,
        MemoryStateTable::new(),
        MemoryEventSink::new(),
    )
}

async fn sweep(monitor: &Monitor) -> Result<Summary, SoftLimitMonitorError> {
    let payload: Value = serde_json::from_str(include_str!(
        "../../../events/soft-limit-monitor/scheduled.json"
    ))
    .unwrap();
    monitor
        .handle(LambdaEvent {
            payload,
            context: Context::default(),
        })
        .await
}

fn alert_key(resource: &str) -> StateKey {
    StateKey::Alert {
        resource: resource.to_owned(),
    }
}

#[tokio::test]
async fn each_crossing_is_alerted_once_and_a_quiet_sweep_says_nothing() {
    let monitor = monitor(FakeLicenseManager::new(9), &[]);
    let steps = [
        (9, &["Soft Limit Warning"][..]),
        (9, &[][..]),
        (11, &["Soft Limit Exceeded"][..]),
        (9, &[][..]),
        (2, &["Soft Limit Recovered"][..]),
        (2, &[][..]),
    ];
    let mut seen = 0;
    for (consumed, alerts) in steps {
        monitor.license_manager().consume(consumed);
        let summary = sweep(&monitor).await.unwrap();
        let published = monitor.publisher().detail_types();
        assert_eq!(&published[seen..], alerts, "at {consumed} of 10");
        assert_eq!(summary.alerted, alerts.len(), "at {consumed} of 10");
        seen = published.len();
    }
    assert_eq!(
        monitor.state().state(&alert_key(CONFIGURATION)).as_deref(),
        Some("ok")
    );
    let detail = monitor.publisher().published()[1].detail();
    assert_eq!(
        (detail["consumed"].as_i64(), detail["count"].as_i64()),
        (Some(11), Some(10))
    );
    // Each crossing is its own occurrence.
    let ids = occurrence_ids(&monitor);
    assert_eq!(ids.len(), 3);
    assert!(
        ids.iter().all(|id| id.starts_with(CONFIGURATION)),
        "{ids:?}"
    );
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "{ids:?}"
    );
}

fn occurrence_ids(monitor: &Monitor) -> Vec<String> {
    monitor
        .publisher()
        .published()
        .iter()
        .map(|event| {
            event.detail()["occurrenceId"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn harden_enforces_a_new_breach_follows_it_to_recovery_and_honours_the_opt_out() {
    let monitor = monitor(FakeLicenseManager::new(11), &[("ENFORCEMENT", "harden")]);
    let summary = sweep(&monitor).await.unwrap();
    assert_eq!((summary.alerted, summary.enforced), (1, 1));
    assert_eq!(
        monitor.publisher().detail_types(),
        ["Soft Limit Exceeded", "Soft Limit Enforced"]
    );
    assert_eq!(monitor.license_manager().lock().hardened, [CONFIGURATION]);
    let ids = occurrence_ids(&monitor);
    assert_eq!(ids[1], format!("{}#enforced", ids[0]));
    // Now a hard limit: followed only until it recovers.
    monitor.license_manager().consume(1);
    let summary = sweep(&monitor).await.unwrap();
    assert_eq!((summary.alerted, summary.skipped), (1, 1));
    assert_eq!(
        monitor.publisher().detail_types()[2],
        "Soft Limit Recovered"
    );

    let opted_out = FakeLicenseManager::new(11);
    opted_out.lock().tags = vec![(OPT_OUT_TAG_KEY.to_owned(), "Alert".to_owned())];
    let monitor = self::monitor(opted_out, &[("ENFORCEMENT", "harden")]);
    let summary = sweep(&monitor).await.unwrap();
    assert_eq!((summary.alerted, summary.enforced), (1, 0));
    assert!(monitor.license_manager().lock().hardened.is_empty());
}

#[tokio::test]
async fn a_dry_run_hardens_nothing_and_keeps_its_alert_state_apart() {
    let monitor = monitor(
        FakeLicenseManager::new(11),
        &[("ENFORCEMENT", "harden"), ("DRY_RUN", "true")],
    );
    let summary = sweep(&monitor).await.unwrap();
    assert_eq!((summary.alerted, summary.enforced), (1, 1));
    assert!(monitor.license_manager().lock().hardened.is_empty());
    assert_eq!(monitor.publisher().published()[1].detail()["dryRun"], true);
    assert_eq!(
        monitor.state().keys(),
        [alert_key(&format!("{CONFIGURATION}#dry-run")).partition_key()]
    );
}

#[tokio::test]
async fn an_alert_not_published_is_kept_in_the_outbox_and_the_retry_sends_the_same_occurrence() {
    let monitor = monitor(FakeLicenseManager::new(8), &[]);
    sweep(&monitor).await.unwrap();
    monitor.license_manager().consume(11);
    monitor.publisher().refuse(Some(|_| true));
    let error = sweep(&monitor).await.unwrap_err();
    assert_eq!(error.error_type(), "TransientLimitFailures");
    let SoftLimitMonitorError::Transient { summary, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(summary.publish_failed, 1);
    let record = monitor.state().record(&alert_key(CONFIGURATION)).unwrap();
    assert_eq!(record.state, "exceeded", "the crossing is recorded");
    assert!(record.intent.is_some(), "with its alert pending");
    monitor.publisher().refuse(None);
    let retry = sweep(&monitor).await.unwrap();
    assert_eq!(retry.redriven, 1);
    assert_eq!(retry.alerted, 0, "the retry sees no new crossing");
    assert_eq!(
        monitor.publisher().detail_types(),
        ["Soft Limit Warning", "Soft Limit Exceeded"]
    );
    let occurrence = &occurrence_ids(&monitor)[1];
    assert!(occurrence.contains("#warning@"), "{occurrence}");
    assert!(
        monitor
            .state()
            .record(&alert_key(CONFIGURATION))
            .unwrap()
            .intent
            .is_none(),
        "settled"
    );
}

#[tokio::test]
async fn an_unavailable_state_table_repeats_alerts_rather_than_stay_silent() {
    let monitor = monitor(FakeLicenseManager::new(9), &[]);
    monitor.state().set_unavailable(true);
    sweep(&monitor).await.unwrap();
    sweep(&monitor).await.unwrap();
    assert_eq!(
        monitor.publisher().detail_types(),
        ["Soft Limit Warning", "Soft Limit Warning"]
    );
}

#[tokio::test]
async fn an_entitlement_overage_is_alerted_once_per_passing_of_max_count() {
    let monitor = monitor(FakeLicenseManager::new(0), &[]);
    let consumed = [(5, 0), (11, 1), (12, 0), (3, 0), (11, 1)];
    for (value, alerts) in consumed {
        monitor.license_manager().lock().entitlement_consumed = value;
        let summary = sweep(&monitor).await.unwrap();
        assert_eq!(
            (summary.entitlements, summary.alerted),
            (1, alerts),
            "at {value}"
        );
    }
    assert_eq!(
        monitor.publisher().detail_types(),
        ["Entitlement Overage", "Entitlement Overage"]
    );
    // The same transition (ok to exceeded) twice: two occurrences.
    let ids = occurrence_ids(&monitor);
    assert_ne!(ids[0], ids[1]);
    assert!(ids[0].starts_with(&format!("{LICENSE}#Users#")), "{ids:?}");
    assert_eq!(
        monitor
            .state()
            .state(&alert_key(&format!("{LICENSE}#Users")))
            .as_deref(),
        Some("exceeded")
    );
}

#[tokio::test]
async fn a_refused_enforcement_fails_the_invocation_naming_it() {
    let lm = FakeLicenseManager::new(11);
    lm.lock().harden_denied = true;
    lm.lock().entitlement_consumed = 11;
    let monitor = monitor(lm, &[("ENFORCEMENT", "harden")]);
    let error = sweep(&monitor).await.unwrap_err();
    assert_eq!(error.error_type(), "NeedsAttention");
    let SoftLimitMonitorError::NeedsAttention { summary, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!((summary.failed, summary.enforcement_failed), (1, 1));
    assert!(
        summary.needs_attention[0].starts_with(CONFIGURATION)
            && summary.needs_attention[0].contains("AccessDeniedException"),
        "{summary:?}"
    );
    // The crossing is announced whether or not enforcement succeeds, with the failure and
    // its error code; the entitlement was still checked and alerted.
    let mut types = monitor.publisher().detail_types();
    types.sort_unstable();
    assert_eq!(
        types,
        [
            "Entitlement Overage",
            "Soft Limit Enforcement Failed",
            "Soft Limit Exceeded"
        ]
    );
    let failed = monitor
        .publisher()
        .published()
        .into_iter()
        .find(|event| event.detail_type() == "Soft Limit Enforcement Failed")
        .unwrap();
    assert_eq!(failed.detail()["errorCode"], "AccessDeniedException");
    assert!(
        failed.detail()["occurrenceId"]
            .as_str()
            .unwrap()
            .ends_with("#enforcement-failed")
    );
    assert_eq!(
        monitor.state().state(&alert_key(CONFIGURATION)).as_deref(),
        Some("exceeded"),
        "the crossing was recorded before hardening"
    );
}

#[tokio::test]
async fn a_hardened_configuration_whose_alert_was_not_delivered_is_announced_by_the_next_sweep() {
    let monitor = monitor(FakeLicenseManager::new(11), &[("ENFORCEMENT", "harden")]);
    // An invocation records the crossing and hardens, but its events are refused.
    monitor.publisher().refuse(Some(|_| true));
    let dead = LambdaEvent {
        payload: serde_json::from_str(include_str!(
            "../../../events/soft-limit-monitor/scheduled.json"
        ))
        .unwrap(),
        context: {
            let mut context = Context::default();
            context.deadline = u64::try_from(
                (time::OffsetDateTime::now_utc() + time::Duration::seconds(2))
                    .unix_timestamp_nanos()
                    / 1_000_000,
            )
            .unwrap();
            context
        },
    };
    monitor.handle(dead).await.unwrap_err();
    assert_eq!(monitor.license_manager().lock().hardened.len(), 1);
    monitor.publisher().refuse(None);
    // Released at once: the next sweep re-drives it, hardening again (idempotent).
    let summary = sweep(&monitor).await.unwrap();
    assert_eq!(summary.redriven, 1);
    assert_eq!(
        monitor.publisher().detail_types(),
        ["Soft Limit Exceeded", "Soft Limit Enforced"]
    );
}

#[tokio::test]
async fn a_missing_state_table_fails_the_invocation_after_alerting() {
    let monitor = monitor(FakeLicenseManager::new(9), &[]);
    monitor.state().set_missing(true);
    let error = sweep(&monitor).await.unwrap_err();
    assert_eq!(error.error_type(), "NeedsAttention");
    assert!(
        error.to_string().contains("ResourceNotFoundException"),
        "{error}"
    );
    assert_eq!(monitor.publisher().detail_types(), ["Soft Limit Warning"]);
}
