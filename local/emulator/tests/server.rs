//! Server behaviour through the real SDK: accounts, unimplemented operations, fault
//! injection, latency, durability of the state file, and the coverage document.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use license_manager_local::{Config, Emulator, Fault, StartError, coverage};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("lml-{name}-{}", uuid::Uuid::new_v4().simple()))
}

#[tokio::test]
async fn the_access_key_id_picks_the_account() {
    let h = Harness::with_config(Config {
        account_id: "999900001111".into(),
        ..Config::default()
    })
    .await;
    let anonymous = h.client("AKIAIOSFODNN7EXAMPLE").await;
    let arn = create_license(
        &anonymous,
        "sku",
        vec![counted("Users", 1, false)],
        provisional(5),
    )
    .await;
    assert!(
        arn.starts_with("arn:aws:license-manager::999900001111:license:"),
        "{arn}"
    );
    let customer = h.client(CUSTOMER).await;
    let arn = create_license(
        &customer,
        "sku",
        vec![counted("Users", 1, false)],
        provisional(5),
    )
    .await;
    assert!(arn.starts_with(&format!("arn:aws:license-manager::{CUSTOMER}:license:")));
}

#[tokio::test]
async fn an_unimplemented_operation_is_named_never_faked() {
    let h = Harness::start().await;
    let client = h.client(ISV).await;
    let err = client
        .list_license_conversion_tasks()
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "NotImplementedException");
    assert!(
        message(&err).contains("ListLicenseConversionTasks"),
        "{}",
        message(&err)
    );
}

#[tokio::test]
async fn a_rate_limited_operation_is_refused_past_its_quota_per_account_as_aws_refuses_it() {
    let h = Harness::with_config(Config {
        rate_limits: vec!["ListLicenses=2".parse().unwrap()],
        ..Config::default()
    })
    .await;
    let isv = h.client(ISV).await;
    for _ in 0..2 {
        isv.list_licenses().send().await.unwrap();
    }
    let err = isv.list_licenses().send().await.unwrap_err();
    assert_eq!(code(&err), "RateLimitExceededException");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(429));
    let body: serde_json::Value = serde_json::from_slice(
        err.raw_response()
            .and_then(|r| r.body().bytes())
            .unwrap_or_default(),
    )
    .unwrap();
    assert_eq!(body["__type"], "RateLimitExceededException");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Rate exceeded"),
        "{body}"
    );
    // Another operation and another account have their own quota.
    isv.list_received_licenses().send().await.unwrap();
    h.client(CUSTOMER)
        .await
        .list_licenses()
        .send()
        .await
        .unwrap();
    // A second later the quota has come back.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    isv.list_licenses().send().await.unwrap();
}

#[tokio::test]
async fn faults_are_injected_at_the_rate_and_deterministic_under_a_seed() {
    let cases = [
        (Fault::Throttle, "RateLimitExceededException", 429),
        (Fault::Internal, "ServerInternalException", 500),
    ];
    for (fault, expected, status) in cases {
        let h = Harness::with_config(Config {
            fault_rate: 1.0,
            faults: vec![fault],
            ..Config::default()
        })
        .await;
        let err = h
            .client(ISV)
            .await
            .list_licenses()
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), expected);
        assert_eq!(
            err.raw_response().map(|r| r.status().as_u16()),
            Some(status)
        );
    }

    async fn outcomes(seed: u64) -> Vec<String> {
        let h = Harness::with_config(Config {
            fault_rate: 0.5,
            seed: Some(seed),
            ..Config::default()
        })
        .await;
        let client = h.client(ISV).await;
        let mut seen = Vec::new();
        for _ in 0..40 {
            seen.push(match client.list_licenses().send().await {
                Ok(_) => "ok".to_string(),
                Err(e) => code(&e),
            });
        }
        seen
    }
    let a = outcomes(7).await;
    assert_eq!(a, outcomes(7).await);
    assert_ne!(a, outcomes(8).await);
    for kind in [
        "ok",
        "RateLimitExceededException",
        "ServerInternalException",
    ] {
        assert!(a.iter().any(|o| o == kind), "{kind} never happened: {a:?}");
    }
}

#[tokio::test]
async fn latency_is_added_to_every_call() {
    let h = Harness::with_config(Config {
        latency: Duration::from_millis(150),
        ..Config::default()
    })
    .await;
    let client = h.client(ISV).await;
    let started = Instant::now();
    client.list_licenses().send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn state_survives_a_restart_with_the_same_signing_key() {
    let state = temp("state.json");
    let key_a = temp("a.pem");
    let key_b = temp("b.pem");
    let config = |key: &PathBuf| Config {
        state_file: Some(state.clone()),
        public_key_out: Some(key.clone()),
        ..Config::default()
    };
    let first = Harness::with_config(config(&key_a)).await;
    let isv = first.client(ISV).await;
    let arn = users_license(&isv, "acme-pro", 3).await;
    checkout_request(
        &isv,
        "acme-pro",
        aws_sdk_licensemanager::types::CheckoutType::Perpetual,
        users(2),
    )
    .client_token("perpetual")
    .send()
    .await
    .unwrap();
    first.emulator.shutdown().await;
    // No temporary files are left next to the state file.
    let dir = state.parent().unwrap();
    let name = state.file_name().unwrap().to_string_lossy().into_owned();
    let leftovers = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.contains(&name) && n != name
        })
        .count();
    assert_eq!(leftovers, 0);

    let second = Harness::with_config(config(&key_b)).await;
    let isv = second.client(ISV).await;
    let license = isv.get_license().license_arn(&arn).send().await.unwrap();
    assert_eq!(license.license().unwrap().product_sku(), Some("acme-pro"));
    let usage = get_license_usage(&isv, &arn).await;
    assert_eq!(
        usage.license_usage().unwrap().entitlement_usages()[0].consumed_value(),
        "2"
    );
    assert_eq!(
        std::fs::read(&key_a).unwrap(),
        std::fs::read(&key_b).unwrap()
    );
    second.emulator.shutdown().await;
    for p in [state, key_a, key_b] {
        let _ = std::fs::remove_file(p);
    }
}

#[tokio::test]
async fn a_corrupt_state_file_is_refused_and_left_untouched() {
    let state = temp("corrupt.json");
    std::fs::write(&state, b"{\"format\": 1, \"licenses\": [oops").unwrap();
    let result = Emulator::start(
        Config {
            state_file: Some(state.clone()),
            ..Config::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await;
    let Err(err) = result else {
        panic!("a corrupt state file is refused");
    };
    assert!(matches!(err, StartError::State(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("corrupt") && text.contains(&state.display().to_string()),
        "{text}"
    );
    assert_eq!(
        std::fs::read(&state).unwrap(),
        b"{\"format\": 1, \"licenses\": [oops"
    );
    let _ = std::fs::remove_file(state);
}

#[test]
fn the_coverage_document_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/emulator-coverage.md");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == coverage::coverage_markdown(),
        "{} is stale; regenerate it with `{}`",
        path.display(),
        coverage::REGENERATE
    );
    assert!(on_disk.contains("62 in the model."));
}

#[test]
fn the_cli_prints_the_coverage_document_and_refuses_bad_options() {
    let bin = env!("CARGO_BIN_EXE_license-manager-local");
    let out = std::process::Command::new(bin)
        .arg("coverage")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        coverage::coverage_markdown()
    );
    for bad in [
        ["--account-id", "12"],
        ["--fault-rate", "2"],
        ["--faults", "gremlins"],
        ["--events-endpoint", "127.0.0.1:5000"],
    ] {
        let out = std::process::Command::new(bin)
            .args(bad)
            .args(["--port", "0"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad:?} was accepted");
        assert!(!out.stderr.is_empty(), "{bad:?} failed silently");
    }
}

#[test]
fn the_cli_starts_with_an_events_endpoint() {
    use std::io::BufRead as _;
    let bin = env!("CARGO_BIN_EXE_license-manager-local");
    let mut child = std::process::Command::new(bin)
        .args(["--port", "0", "--events-endpoint", "http://127.0.0.1:9"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        line.starts_with("license-manager-local listening on http://"),
        "unexpected first line: {line}"
    );
}
