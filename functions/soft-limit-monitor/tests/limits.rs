//! Soft limits and overage against license-manager-local and moto: each crossing emits exactly
//! one event with the numbers behind it, a repeated sweep emits none, recovery is reported,
//! `harden` flips the limit unless the opt-out tag says not, `DRY_RUN` changes nothing,
//! limits the function does not watch are ignored, and racing sweeps alert once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;
use soft_limit_monitor::{OPT_OUT_TAG_KEY, OPT_OUT_TAG_VALUE, Trigger};

fn number(detail: &Value, field: &str) -> f64 {
    detail[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} in {detail}"))
}

#[tokio::test]
async fn warning_exceeded_and_recovered_are_each_emitted_once_with_their_numbers() {
    let world = World::start().await;
    let customer = world.lm(CUSTOMER).await;
    let arn = configuration(&customer, "analytics", Some(10), false).await;
    consume(&customer, &arn, 0..9).await;
    let monitor = world.monitor(&[]).await;

    let summary = sweep(&monitor).await;
    assert_eq!(summary.trigger, Trigger::Sweep);
    assert_eq!(
        (summary.configurations, summary.alerted, summary.failed),
        (1, 1, 0)
    );
    settle().await;
    let events = world.emitted().await;
    assert_eq!(types(&events), ["Soft Limit Warning"]);
    let detail = &events[0].1;
    assert_eq!(detail["resourceArn"], arn.as_str());
    assert_eq!(detail["resourceKind"], "licenseConfiguration");
    assert_eq!(detail["account"], CUSTOMER);
    assert_eq!(
        (
            number(detail, "consumed"),
            number(detail, "count"),
            number(detail, "percent")
        ),
        (9.0, 10.0, 90.0)
    );
    assert_eq!(detail["warnThresholdPercent"], 80);

    // Nothing new: nothing emitted, also at exactly 100 % (still a warning).
    assert_eq!(sweep(&monitor).await.alerted, 0);
    consume(&customer, &arn, 9..10).await;
    assert_eq!(sweep(&monitor).await.alerted, 0);
    settle().await;
    assert!(world.emitted().await.is_empty());

    // One more instance: past the limit.
    consume(&customer, &arn, 10..11).await;
    assert_eq!(sweep(&monitor).await.alerted, 1);
    assert_eq!(sweep(&monitor).await.alerted, 0);
    settle().await;
    let events = world.emitted().await;
    assert_eq!(types(&events), ["Soft Limit Exceeded"]);
    assert_eq!(
        (
            number(&events[0].1, "consumed"),
            number(&events[0].1, "percent")
        ),
        (11.0, 110.0)
    );
    assert_eq!(
        limit(&customer, &arn).await,
        (false, Some(10)),
        "alert mode changes nothing"
    );

    // Back under the threshold: recovered, once.
    release(&customer, &arn, 4..11).await;
    assert_eq!(sweep(&monitor).await.alerted, 1);
    assert_eq!(sweep(&monitor).await.alerted, 0);
    settle().await;
    let events = world.emitted().await;
    assert_eq!(types(&events), ["Soft Limit Recovered"]);
    assert_eq!(number(&events[0].1, "consumed"), 4.0);
}

#[tokio::test]
async fn the_warning_threshold_is_configurable_and_ok_to_exceeded_skips_the_warning() {
    let world = World::start().await;
    let customer = world.lm(CUSTOMER).await;
    let near = configuration(&customer, "near", Some(10), false).await;
    consume(&customer, &near, 0..9).await;
    let over = configuration(&customer, "over", Some(2), false).await;
    consume(&customer, &over, 10..13).await;
    let monitor = world.monitor(&[("WARN_THRESHOLD_PERCENT", "95")]).await;
    assert_eq!(sweep(&monitor).await.alerted, 1);
    settle().await;
    let events = world.emitted().await;
    assert_eq!(types(&events), ["Soft Limit Exceeded"]);
    assert_eq!(events[0].1["resourceArn"], over.as_str());
    assert_eq!(events[0].1["warnThresholdPercent"], 95);
}

#[tokio::test]
async fn hard_limits_count_less_and_disabled_configurations_are_ignored() {
    let world = World::start().await;
    let customer = world.lm(CUSTOMER).await;
    let hard = configuration(&customer, "hard", Some(2), true).await;
    consume(&customer, &hard, 0..2).await;
    let countless = configuration(&customer, "no count", None, false).await;
    consume(&customer, &countless, 10..15).await;
    let disabled = configuration(&customer, "disabled", Some(1), false).await;
    consume(&customer, &disabled, 20..23).await;
    customer
        .update_license_configuration()
        .license_configuration_arn(&disabled)
        .license_configuration_status(
            aws_sdk_licensemanager::types::LicenseConfigurationStatus::Disabled,
        )
        .send()
        .await
        .unwrap();
    let monitor = world.monitor(&[("ENFORCEMENT", "harden")]).await;
    let summary = sweep(&monitor).await;
    assert_eq!(
        (
            summary.skipped,
            summary.configurations,
            summary.alerted,
            summary.enforced
        ),
        (3, 0, 0, 0)
    );
    settle().await;
    assert!(world.emitted().await.is_empty());
    assert_eq!(limit(&customer, &disabled).await, (false, Some(1)));
}

#[tokio::test]
async fn harden_turns_a_breached_soft_limit_hard_unless_the_tag_opts_out() {
    let world = World::start().await;
    let customer = world.lm(CUSTOMER).await;
    let enforced = configuration(&customer, "enforced", Some(10), false).await;
    consume(&customer, &enforced, 0..11).await;
    let opted_out = configuration(&customer, "opted out", Some(10), false).await;
    consume(&customer, &opted_out, 20..31).await;
    tag(&customer, &opted_out, OPT_OUT_TAG_KEY, OPT_OUT_TAG_VALUE).await;
    let monitor = world.monitor(&[("ENFORCEMENT", "harden")]).await;

    let summary = sweep(&monitor).await;
    assert_eq!((summary.alerted, summary.enforced), (2, 1));
    assert_eq!(
        limit(&customer, &enforced).await,
        (true, Some(10)),
        "hard, count unchanged"
    );
    assert_eq!(limit(&customer, &opted_out).await, (false, Some(10)));
    settle().await;
    let mut events = world.emitted().await;
    events.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        types(&events),
        [
            "Soft Limit Enforced",
            "Soft Limit Exceeded",
            "Soft Limit Exceeded"
        ]
    );
    let detail = &events[0].1;
    assert_eq!(detail["licenseConfigurationArn"], enforced.as_str());
    assert_eq!(detail["dryRun"], false);
    assert_eq!(
        (number(detail, "consumed"), number(detail, "count")),
        (11.0, 10.0)
    );

    // Hard now, so no longer watched; the opted-out one stays quiet.
    let summary = sweep(&monitor).await;
    assert_eq!(
        (summary.skipped, summary.alerted, summary.enforced),
        (1, 0, 0)
    );
    settle().await;
    assert!(world.emitted().await.is_empty());

    // The hardened limit is followed until it recovers, once.
    release(&customer, &enforced, 0..6).await;
    assert_eq!(sweep(&monitor).await.alerted, 1);
    assert_eq!(sweep(&monitor).await.alerted, 0);
    settle().await;
    let events = world.emitted().await;
    assert_eq!(types(&events), ["Soft Limit Recovered"]);
    assert_eq!(events[0].1["resourceArn"], enforced.as_str());
    assert_eq!(limit(&customer, &enforced).await, (true, Some(10)));
}

#[tokio::test]
async fn dry_run_says_what_it_would_enforce_and_changes_nothing() {
    let world = World::start().await;
    let customer = world.lm(CUSTOMER).await;
    let arn = configuration(&customer, "dry", Some(10), false).await;
    consume(&customer, &arn, 0..12).await;
    let monitor = world
        .monitor(&[("ENFORCEMENT", "harden"), ("DRY_RUN", "true")])
        .await;
    let summary = sweep(&monitor).await;
    assert!(summary.dry_run);
    assert_eq!((summary.alerted, summary.enforced), (1, 1));
    assert_eq!(limit(&customer, &arn).await, (false, Some(10)));
    settle().await;
    let mut events = world.emitted().await;
    events.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        types(&events),
        ["Soft Limit Enforced", "Soft Limit Exceeded"]
    );
    assert_eq!(events[0].1["dryRun"], true);

    // The dry run's crossings are its own: the real run still alerts and hardens.
    let real = world.monitor(&[("ENFORCEMENT", "harden")]).await;
    assert_eq!(sweep(&real).await.enforced, 1);
    assert_eq!(limit(&customer, &arn).await, (true, Some(10)));
}

#[tokio::test]
async fn entitlements_that_allow_overage_alert_once_when_they_pass_max_count() {
    let world = World::start().await;
    let customer = world.lm(CUSTOMER).await;
    let license = issue_license(&customer, "initech-tps", 2, true).await;
    let monitor = world.monitor(&[]).await;
    check_out(&customer, "initech-tps", 2).await;
    let summary = sweep(&monitor).await;
    assert_eq!(
        (summary.entitlements, summary.alerted),
        (1, 0),
        "at MaxCount is not over"
    );

    check_out(&customer, "initech-tps", 1).await;
    assert_eq!(sweep(&monitor).await.alerted, 1);
    check_out(&customer, "initech-tps", 1).await;
    assert_eq!(sweep(&monitor).await.alerted, 0, "still over: quiet");
    settle().await;
    let events = world.emitted().await;
    assert_eq!(types(&events), ["Entitlement Overage"]);
    let detail = &events[0].1;
    assert_eq!(detail["licenseArn"], license.as_str());
    assert_eq!(detail["entitlementName"], "Users");
    assert_eq!(detail["unit"], "Count");
    assert_eq!(detail["account"], CUSTOMER);
    assert_eq!(
        (number(detail, "maxCount"), number(detail, "consumed")),
        (2.0, 3.0)
    );
}

#[tokio::test]
async fn two_sweeps_racing_on_the_same_crossings_alert_once() {
    let world = World::start().await;
    let customer = world.lm(CUSTOMER).await;
    let mut arns = Vec::new();
    for n in 0..12u32 {
        let arn = configuration(&customer, &format!("race {n}"), Some(10), false).await;
        consume(&customer, &arn, n * 100..n * 100 + 9).await;
        arns.push(arn);
    }
    let first = world.monitor(&[]).await;
    let second = world.monitor(&[]).await;
    let (a, b) = tokio::join!(
        invoke(&first, sweep_event()),
        invoke(&second, sweep_event())
    );
    // A sweep that meets the other's live claim on a crossing fails (Lambda retries it after
    // that claim) rather than succeed silently; either way each crossing alerts once.
    let alerted = |result: Result<
        soft_limit_monitor::Summary,
        soft_limit_monitor::SoftLimitMonitorError,
    >| match result {
        Ok(summary) => summary.alerted,
        Err(soft_limit_monitor::SoftLimitMonitorError::Transient { summary, failures }) => {
            assert!(
                failures
                    .iter()
                    .all(|failure| failure.contains("another invocation")),
                "{failures:?}"
            );
            summary.alerted
        }
        Err(error) => panic!("{error}"),
    };
    assert_eq!(alerted(a) + alerted(b), arns.len());
    settle().await;
    let events = world.emitted().await;
    assert_eq!(events.len(), arns.len());
    for arn in &arns {
        let alerts: Vec<_> = events
            .iter()
            .filter(|(_, detail)| detail["resourceArn"] == arn.as_str())
            .collect();
        assert_eq!(alerts.len(), 1, "{arn}");
        assert_eq!(alerts[0].0, "Soft Limit Warning");
    }
}

#[tokio::test]
async fn events_of_other_sources_are_acknowledged_and_malformed_ones_refused() {
    let world = World::start().await;
    let monitor = world.monitor(&[]).await;
    let mut other = sweep_event();
    other["source"] = "aws.ec2".into();
    other["detail-type"] = "EC2 Instance State-change Notification".into();
    assert_eq!(
        invoke(&monitor, other).await.unwrap().trigger,
        Trigger::Ignored
    );
    let error = invoke(&monitor, serde_json::json!({"detail-type": 3}))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "MalformedEvent");
    // `{}` is what Scheduler sends without an Input: a sweep.
    let summary = invoke(&monitor, serde_json::json!({})).await.unwrap();
    assert_eq!(summary.trigger, Trigger::Sweep);
}
