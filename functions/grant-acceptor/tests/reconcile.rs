//! The grant-acceptor end to end through the real SDK: ISV accounts grant licenses to the
//! customer account in license-manager-local; the state table and the project's bus are moto's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_licensemanager::types::GrantStatus;
use common::*;
use grant_acceptor::{Config, GrantAcceptorError, Summary, Trigger};
use serde_json::{Value, json};

fn summary(trigger: Trigger, counts: [usize; 6]) -> Summary {
    let [examined, accepted, activated, rejected, left, failed] = counts;
    Summary {
        trigger,
        dry_run: false,
        examined,
        accepted,
        activated,
        rejected,
        left,
        failed,
        ..Summary::default()
    }
}

fn acme_rule() -> Value {
    json!({"keyFingerprint": fingerprint(ACME_ACCOUNT, "Acme")})
}

fn of_type<'a>(events: &'a [(String, Value)], detail_type: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|(kind, _)| kind == detail_type)
        .map(|(_, detail)| detail)
        .collect()
}

#[tokio::test]
async fn a_grant_trusted_by_fingerprint_alone_is_accepted_activated_and_reported_once() {
    let world = World::start().await;
    let acme = world.lm(ACME_ACCOUNT).await;
    let customer = world.lm(CUSTOMER).await;
    let grant = pending_grant(&acme, "Acme", "acme-pro").await;
    let acceptor = world.acceptor(&policy(&[acme_rule()], "ignore"), &[]).await;

    let result = invoke(&acceptor, sweep_event()).await.unwrap();

    assert_eq!(result, summary(Trigger::Sweep, [1, 1, 1, 0, 0, 0]));
    assert_eq!(
        grant_state(&customer, &grant).await,
        (GrantStatus::Active, "2".into())
    );
    settle().await;
    let events = world.emitted().await;
    assert_eq!(events.len(), 1, "{events:?}");
    let (kind, detail) = &events[0];
    assert_eq!(kind, "Grant Accepted");
    assert_eq!(detail["grantArn"], grant.as_str());
    assert_eq!(detail["account"], CUSTOMER);
    assert_eq!(detail["granterAccount"], ACME_ACCOUNT);
    assert_eq!(detail["keyFingerprint"], fingerprint(ACME_ACCOUNT, "Acme"));
    assert_eq!(detail["issuerName"], "Acme");
    assert_eq!(detail["productSku"], "acme-pro");
    assert_eq!(detail["activated"], true);
    assert_eq!(detail["dryRun"], false);

    // A repeated sweep finds nothing to do and emits nothing new.
    let again = invoke(&acceptor, sweep_event()).await.unwrap();
    assert_eq!(again, summary(Trigger::Sweep, [0, 0, 0, 0, 0, 0]));
    settle().await;
    assert!(world.emitted().await.is_empty());
}

#[tokio::test]
async fn each_optional_field_of_a_rule_must_match_on_its_own() {
    let world = World::start().await;
    let acme = world.lm(ACME_ACCOUNT).await;
    let customer = world.lm(CUSTOMER).await;
    let full = |issuer: &str, granter: &str, skus: &[&str]| {
        json!({
            "keyFingerprint": fingerprint(ACME_ACCOUNT, "Acme"),
            "issuerName": issuer,
            "granterAccounts": [granter],
            "productSkus": skus,
        })
    };
    // (rule, SKU of the granted license, the one field that fails or None)
    let cases = [
        (full("Acme", ACME_ACCOUNT, &["acme-*"]), "acme-pro", None),
        (
            full("Acme Corp", ACME_ACCOUNT, &["acme-*"]),
            "acme-pro",
            Some("issuerName"),
        ),
        (
            full("Acme", GLOBEX_ACCOUNT, &["acme-*"]),
            "acme-pro",
            Some("granterAccounts"),
        ),
        (
            full("Acme", ACME_ACCOUNT, &["acme-*"]),
            "widget-pro",
            Some("productSkus"),
        ),
    ];
    for (rule, sku, failing) in cases {
        let grant = pending_grant(&acme, "Acme", sku).await;
        let acceptor = world
            .acceptor(&policy(std::slice::from_ref(&rule), "ignore"), &[])
            .await;
        let result = invoke(&acceptor, grant_change(&grant)).await.unwrap();
        settle().await;
        let events = world.emitted().await;
        assert_eq!(events.len(), 1, "{rule}: {events:?}");
        let (kind, detail) = &events[0];
        match failing {
            None => {
                assert_eq!(result, summary(Trigger::Event, [1, 1, 1, 0, 0, 0]));
                assert_eq!(kind, "Grant Accepted");
                assert_eq!(grant_state(&customer, &grant).await.0, GrantStatus::Active);
            }
            Some(field) => {
                assert_eq!(
                    result,
                    summary(Trigger::Event, [1, 0, 0, 0, 1, 0]),
                    "{field}"
                );
                assert_eq!(kind, "Grant Not Trusted");
                let reason = detail["reason"].as_str().unwrap();
                assert!(
                    reason.starts_with(&format!("trusted[0]: {field} ")),
                    "{reason}"
                );
                for other in ["issuerName", "granterAccounts", "productSkus"] {
                    assert_eq!(reason.contains(other), other == field, "{reason}");
                }
                assert_eq!(detail["outcome"], "ignored");
                assert_eq!(
                    grant_state(&customer, &grant).await.0,
                    GrantStatus::PendingAccept
                );
            }
        }
    }
}

#[tokio::test]
async fn grants_of_several_trusted_isvs_are_accepted_and_others_left_or_rejected() {
    let world = World::start().await;
    let acme = world.lm(ACME_ACCOUNT).await;
    let globex = world.lm(GLOBEX_ACCOUNT).await;
    let initech = world.lm("777788889999").await;
    let customer = world.lm(CUSTOMER).await;
    let acme_grant = pending_grant(&acme, "Acme", "acme-pro").await;
    let globex_grant = pending_grant(&globex, "Globex", "globex-db").await;
    let stranger_grant = pending_grant(&initech, "Initech", "tps").await;
    let rules = [
        acme_rule(),
        json!({"keyFingerprint": fingerprint(GLOBEX_ACCOUNT, "Globex"), "productSkus": ["globex-*"]}),
    ];

    let ignoring = world.acceptor(&policy(&rules, "ignore"), &[]).await;
    let result = invoke(&ignoring, sweep_event()).await.unwrap();
    assert_eq!(result, summary(Trigger::Sweep, [3, 2, 2, 0, 1, 0]));
    for grant in [&acme_grant, &globex_grant] {
        assert_eq!(grant_state(&customer, grant).await.0, GrantStatus::Active);
    }
    assert_eq!(
        grant_state(&customer, &stranger_grant).await.0,
        GrantStatus::PendingAccept
    );
    settle().await;
    let events = world.emitted().await;
    assert_eq!(of_type(&events, "Grant Accepted").len(), 2);
    let not_trusted = of_type(&events, "Grant Not Trusted");
    assert_eq!(not_trusted.len(), 1);
    assert_eq!(not_trusted[0]["grantArn"], stranger_grant.as_str());
    assert_eq!(not_trusted[0]["outcome"], "ignored");
    assert_eq!(
        not_trusted[0]["reason"],
        format!(
            "no trust rule has keyFingerprint {}",
            fingerprint("777788889999", "Initech")
        )
    );

    // The same untrusted grant under `reject`: rejected, and reported once more as rejected.
    let rejecting = world.acceptor(&policy(&rules, "reject"), &[]).await;
    let result = invoke(&rejecting, sweep_event()).await.unwrap();
    assert_eq!(result, summary(Trigger::Sweep, [1, 0, 0, 1, 0, 0]));
    assert_eq!(
        grant_state(&customer, &stranger_grant).await.0,
        GrantStatus::Rejected
    );
    settle().await;
    let events = world.emitted().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1["outcome"], "rejected");
}

#[tokio::test]
async fn dry_run_decides_and_reports_but_changes_nothing() {
    let world = World::start().await;
    let acme = world.lm(ACME_ACCOUNT).await;
    let initech = world.lm("777788889999").await;
    let customer = world.lm(CUSTOMER).await;
    let trusted = pending_grant(&acme, "Acme", "acme-pro").await;
    let untrusted = pending_grant(&initech, "Initech", "tps").await;
    let acceptor = world
        .acceptor(&policy(&[acme_rule()], "reject"), &[("DRY_RUN", "true")])
        .await;

    let result = invoke(&acceptor, sweep_event()).await.unwrap();
    assert_eq!(
        result,
        Summary {
            dry_run: true,
            ..summary(Trigger::Sweep, [2, 1, 1, 1, 0, 0])
        }
    );
    for grant in [&trusted, &untrusted] {
        assert_eq!(
            grant_state(&customer, grant).await,
            (GrantStatus::PendingAccept, "1".into())
        );
    }
    settle().await;
    let events = world.emitted().await;
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|(_, detail)| detail["dryRun"] == true));
    assert_eq!(
        of_type(&events, "Grant Not Trusted")[0]["outcome"],
        "rejected"
    );

    // A second dry sweep reports nothing new; the real run afterwards acts and reports.
    invoke(&acceptor, sweep_event()).await.unwrap();
    settle().await;
    assert!(world.emitted().await.is_empty());
    let real = world.acceptor(&policy(&[acme_rule()], "reject"), &[]).await;
    let result = invoke(&real, sweep_event()).await.unwrap();
    assert_eq!(result, summary(Trigger::Sweep, [2, 1, 1, 1, 0, 0]));
    settle().await;
    let events = world.emitted().await;
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|(_, detail)| detail["dryRun"] == false));
}

#[tokio::test]
async fn a_disabled_grant_is_activated_without_being_accepted_again() {
    let world = World::start().await;
    let acme = world.lm(ACME_ACCOUNT).await;
    let customer = world.lm(CUSTOMER).await;
    let grant = pending_grant(&acme, "Acme", "acme-pro").await;
    // Accepted by hand (or by AWS Organizations): DISABLED, not yet active.
    customer
        .accept_grant()
        .grant_arn(&grant)
        .send()
        .await
        .unwrap();
    let acceptor = world.acceptor(&policy(&[acme_rule()], "ignore"), &[]).await;

    let result = invoke(&acceptor, grant_change(&grant)).await.unwrap();

    assert_eq!(result, summary(Trigger::Event, [1, 0, 1, 0, 0, 0]));
    // GetGrant, GetLicense, CreateGrantVersion: no AcceptGrant.
    assert_eq!(acceptor.license_manager().stats().calls(), 3);
    assert_eq!(
        grant_history(&customer, &grant).await,
        [GrantStatus::Disabled, GrantStatus::Active]
    );
    settle().await;
    let events = world.emitted().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1["activated"], true);

    // Someone deactivates it on purpose: the sweep leaves it deactivated.
    customer
        .create_grant_version()
        .grant_arn(&grant)
        .status(GrantStatus::Disabled)
        .client_token("deactivate-by-hand")
        .send()
        .await
        .unwrap();
    let result = invoke(&acceptor, sweep_event()).await.unwrap();
    assert_eq!(result, summary(Trigger::Sweep, [1, 0, 0, 0, 1, 0]));
    assert_eq!(
        grant_state(&customer, &grant).await.0,
        GrantStatus::Disabled
    );
    settle().await;
    assert!(world.emitted().await.is_empty());
}

#[tokio::test]
async fn activate_false_accepts_only() {
    let world = World::start().await;
    let acme = world.lm(ACME_ACCOUNT).await;
    let customer = world.lm(CUSTOMER).await;
    let grant = pending_grant(&acme, "Acme", "acme-pro").await;
    let policy = json!({"trusted": [acme_rule()], "activate": false}).to_string();
    let acceptor = world.acceptor(&policy, &[]).await;

    let result = invoke(&acceptor, sweep_event()).await.unwrap();
    assert_eq!(result, summary(Trigger::Sweep, [1, 1, 0, 0, 0, 0]));
    assert_eq!(
        grant_state(&customer, &grant).await,
        (GrantStatus::Disabled, "1".into())
    );
    settle().await;
    assert_eq!(world.emitted().await[0].1["activated"], false);
    // The accepted grant stays as it is on the next sweep, without a new event.
    let result = invoke(&acceptor, sweep_event()).await.unwrap();
    assert_eq!(result, summary(Trigger::Sweep, [1, 0, 0, 0, 1, 0]));
    settle().await;
    assert!(world.emitted().await.is_empty());
}

#[tokio::test]
async fn a_new_grant_version_is_evaluated_again() {
    let world = World::start().await;
    let initech = world.lm("777788889999").await;
    let grant = pending_grant(&initech, "Initech", "tps").await;
    let acceptor = world.acceptor(&policy(&[acme_rule()], "ignore"), &[]).await;

    invoke(&acceptor, sweep_event()).await.unwrap();
    settle().await;
    assert_eq!(world.emitted().await.len(), 1);
    invoke(&acceptor, sweep_event()).await.unwrap();
    settle().await;
    assert!(
        world.emitted().await.is_empty(),
        "a repeated sweep emits nothing new"
    );

    // The ISV changes the grant: version 2, still pending, is reported.
    initech
        .create_grant_version()
        .grant_arn(&grant)
        .grant_name("customer grant, renamed")
        .client_token(uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .unwrap();
    let result = invoke(&acceptor, grant_change(&grant)).await.unwrap();
    assert_eq!(result.left, 1);
    settle().await;
    let events = world.emitted().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "Grant Not Trusted");
}

#[tokio::test]
async fn fixtures_with_and_without_hints_and_unknown_grants() {
    let world = World::start().await;
    let acme = world.lm(ACME_ACCOUNT).await;
    let customer = world.lm(CUSTOMER).await;
    let first = pending_grant(&acme, "Acme", "acme-pro").await;
    let second = pending_grant(&acme, "Acme", "acme-lite").await;
    let acceptor = world.acceptor(&policy(&[acme_rule()], "ignore"), &[]).await;

    // The hint names a grant that does not exist (deleted since): counted, not retried.
    let result = invoke(&acceptor, fixture("grant-change.json"))
        .await
        .unwrap();
    assert_eq!(result, summary(Trigger::Event, [1, 0, 0, 0, 0, 1]));
    // With a usable hint, only that grant.
    let result = invoke(&acceptor, grant_change(&first)).await.unwrap();
    assert_eq!(result, summary(Trigger::Event, [1, 1, 1, 0, 0, 0]));
    assert_eq!(
        grant_state(&customer, &second).await.0,
        GrantStatus::PendingAccept
    );
    // Without a hint: a sweep.
    let result = invoke(&acceptor, fixture("grant-change-without-hint.json"))
        .await
        .unwrap();
    assert_eq!(result, summary(Trigger::Sweep, [1, 1, 1, 0, 0, 0]));
    assert_eq!(grant_state(&customer, &second).await.0, GrantStatus::Active);
    // Scheduler's empty default input is a sweep too; other events are acknowledged.
    assert_eq!(
        invoke(&acceptor, json!({})).await.unwrap().trigger,
        Trigger::Sweep
    );
    let mut other = fixture("grant-change.json");
    other["detail-type"] = json!("License Change");
    assert_eq!(
        invoke(&acceptor, other).await.unwrap().trigger,
        Trigger::Ignored
    );
}

#[tokio::test]
async fn a_malformed_event_is_a_clear_error_and_changes_nothing() {
    let world = World::start().await;
    let acme = world.lm(ACME_ACCOUNT).await;
    let customer = world.lm(CUSTOMER).await;
    let grant = pending_grant(&acme, "Acme", "acme-pro").await;
    let acceptor = world.acceptor(&policy(&[acme_rule()], "ignore"), &[]).await;

    let error = invoke(&acceptor, fixture("malformed.json"))
        .await
        .unwrap_err();

    assert!(matches!(error, GrantAcceptorError::MalformedEvent(_)));
    assert_eq!(error.error_type(), "MalformedEvent");
    let message = error.to_string();
    assert!(
        message.starts_with("malformed EventBridge event: time:"),
        "{message}"
    );
    assert_eq!(
        grant_state(&customer, &grant).await.0,
        GrantStatus::PendingAccept
    );
    assert_eq!(acceptor.license_manager().stats().calls(), 0);
    settle().await;
    assert!(world.emitted().await.is_empty());
}

#[tokio::test]
async fn a_malformed_trust_policy_fails_the_cold_start_with_its_path() {
    let cases = [
        (
            "{\"trusted\": [",
            "TRUST_POLICY is invalid: trusted: EOF while parsing a list at line 1 column 13",
        ),
        (
            r#"{"trusted":[{"keyFingerprint":"aws:111122223333:Acme:issuer-fingerprint","granterAccounts":["1111"]}]}"#,
            "trusted[0].granterAccounts[0]: \"1111\" is not a 12-digit AWS account id",
        ),
        (
            r#"{"trusted":[],"untrusted":"delete"}"#,
            "untrusted: unknown variant `delete`",
        ),
    ];
    for (text, expected) in cases {
        let error =
            Config::from_env(&[("TRUST_POLICY", text), ("STATE_TABLE", TABLE)]).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("TRUST_POLICY"), "{message}");
        assert!(message.contains(expected), "{message}");
    }
}

#[tokio::test]
async fn a_sweep_keeps_at_most_max_concurrency_calls_in_flight() {
    let world = World::with_emulator(license_manager_local::Config {
        latency: std::time::Duration::from_millis(5),
        ..license_manager_local::Config::default()
    })
    .await;
    let acme = world.lm(ACME_ACCOUNT).await;
    let license = issue_license(&acme, "Acme", "acme-pro").await;
    for _ in 0..24 {
        grant_to_customer(&acme, &license).await;
    }
    let acceptor = world
        .acceptor(
            &policy(&[acme_rule()], "ignore"),
            &[("MAX_CONCURRENCY", "3")],
        )
        .await;
    let result = invoke(&acceptor, sweep_event()).await.unwrap();
    assert_eq!(result, summary(Trigger::Sweep, [24, 24, 24, 0, 0, 0]));
    let stats = acceptor.license_manager().stats();
    assert_eq!(stats.peak_in_flight(), 3);
    // One listing page, one GetLicense (shared by the grants of the license, give or take the
    // first concurrent reads), and GetGrant + AcceptGrant + CreateGrantVersion per grant.
    assert!(
        (1 + 1 + 24 * 3..=1 + 3 + 24 * 3).contains(&stats.calls()),
        "{}",
        stats.calls()
    );
}
