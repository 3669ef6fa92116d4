//! The proxy through the real License Manager SDK client, in front of the emulator: calls are
//! numbered and forwarded, and each fault mode does what a crash-point test relies on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aws_sdk_licensemanager::Client;
use aws_sdk_licensemanager::config::retry::RetryConfig;
use aws_sdk_licensemanager::config::timeout::TimeoutConfig;
use aws_sdk_licensemanager::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_licensemanager::error::ProvideErrorMetadata;
use aws_sdk_licensemanager::types::LicenseCountingType;
use fault_proxy::{Fault, FaultMode, FaultProxy, ProxyOptions, Upstreams};
use license_manager_local::{Config, Emulator};

struct World {
    emulator: Emulator,
    proxy: FaultProxy,
    /// Through the proxy, one attempt, 800 ms per call.
    via_proxy: Client,
    /// Straight to the emulator: what really happened.
    direct: Client,
}

fn client(endpoint: &str) -> Client {
    let config = aws_sdk_licensemanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("123456789012", "x", None, None, "test"))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(Duration::from_millis(800))
                .build(),
        )
        .build();
    Client::from_conf(config)
}

async fn world() -> World {
    let emulator = Emulator::start(Config::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("emulator starts");
    let proxy = FaultProxy::start(ProxyOptions::new(Upstreams::all_to(
        emulator.endpoint_url(),
    )))
    .await
    .expect("proxy starts");
    World {
        via_proxy: client(&proxy.url()),
        direct: client(&emulator.endpoint_url()),
        emulator,
        proxy,
    }
}

async fn create_configuration(client: &Client, name: &str) -> Result<String, String> {
    client
        .create_license_configuration()
        .name(name)
        .license_counting_type(LicenseCountingType::Instance)
        .license_count(10)
        .send()
        .await
        .map(|out| out.license_configuration_arn.unwrap_or_default())
        .map_err(|e| {
            e.code()
                .unwrap_or("no code (timeout or dispatch)")
                .to_owned()
        })
}

async fn configuration_names(client: &Client) -> Vec<String> {
    client
        .list_license_configurations()
        .send()
        .await
        .expect("list")
        .license_configurations
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| c.name)
        .collect()
}

#[tokio::test]
async fn every_call_is_numbered_forwarded_and_recorded() {
    let w = world().await;
    create_configuration(&w.via_proxy, "a")
        .await
        .expect("created");
    assert_eq!(configuration_names(&w.via_proxy).await, ["a"]);

    let calls = w.proxy.calls();
    let seen: Vec<_> = calls
        .iter()
        .map(|c| (c.number, c.service.as_str(), c.operation.as_str(), c.status))
        .collect();
    assert_eq!(
        seen,
        [
            (
                1,
                "license-manager",
                "CreateLicenseConfiguration",
                Some(200)
            ),
            (2, "license-manager", "ListLicenseConfigurations", Some(200)),
        ]
    );
    w.emulator.shutdown().await;
}

#[tokio::test]
async fn a_dropped_answer_means_the_effect_happened_and_the_caller_never_heard() {
    let w = world().await;
    w.proxy.set_fault(Some(Fault {
        call: 1,
        mode: FaultMode::DropAnswer,
        sticky: false,
        after: None,
    }));
    let error = create_configuration(&w.via_proxy, "lost-answer")
        .await
        .unwrap_err();
    assert_eq!(error, "no code (timeout or dispatch)");
    assert_eq!(configuration_names(&w.direct).await, ["lost-answer"]);
    assert_eq!(
        w.proxy.calls()[0].status,
        Some(200),
        "the upstream answered"
    );
    // The next call is not faulted.
    create_configuration(&w.via_proxy, "second")
        .await
        .expect("call 2 goes through");
    w.emulator.shutdown().await;
}

#[tokio::test]
async fn a_held_request_never_reaches_the_upstream() {
    let w = world().await;
    w.proxy.set_fault(Some(Fault {
        call: 1,
        mode: FaultMode::HoldRequest,
        sticky: false,
        after: None,
    }));
    let error = create_configuration(&w.via_proxy, "never")
        .await
        .unwrap_err();
    assert_eq!(error, "no code (timeout or dispatch)");
    assert!(configuration_names(&w.direct).await.is_empty());
    assert_eq!(w.proxy.calls()[0].status, None);
    w.emulator.shutdown().await;
}

#[tokio::test]
async fn an_injected_error_reaches_the_sdk_as_that_error_code() {
    let w = world().await;
    w.proxy.set_fault(Some(Fault {
        call: 2,
        mode: FaultMode::Error {
            status: 400,
            code: "AccessDeniedException".into(),
        },
        sticky: true,
        after: None,
    }));
    create_configuration(&w.via_proxy, "first")
        .await
        .expect("call 1 is not faulted");
    for name in ["second", "third"] {
        let error = create_configuration(&w.via_proxy, name).await.unwrap_err();
        assert_eq!(error, "AccessDeniedException", "sticky from call 2 on");
    }
    assert_eq!(configuration_names(&w.direct).await, ["first"]);
    w.emulator.shutdown().await;
}

#[tokio::test]
async fn reset_renumbers_and_release_ends_a_held_call() {
    let w = world().await;
    w.proxy.set_fault(Some(Fault {
        call: 1,
        mode: FaultMode::HoldRequest,
        sticky: false,
        after: None,
    }));
    // A caller with no timeout of its own waits until the hold is released.
    let patient = {
        let config = w
            .via_proxy
            .config()
            .to_builder()
            .timeout_config(TimeoutConfig::disabled())
            .build();
        Client::from_conf(config)
    };
    let held = tokio::spawn(async move { create_configuration(&patient, "held").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!held.is_finished());
    w.proxy.reset();
    let outcome = tokio::time::timeout(Duration::from_secs(5), held)
        .await
        .expect("released")
        .expect("task");
    assert!(
        outcome.is_err(),
        "a released call is answered 504, not forwarded"
    );
    assert!(w.proxy.calls().is_empty(), "reset forgets the calls");
    create_configuration(&w.via_proxy, "after")
        .await
        .expect("no fault after reset");
    assert_eq!(w.proxy.calls()[0].number, 1);
    assert_eq!(configuration_names(&w.direct).await, ["after"]);
    w.emulator.shutdown().await;
}

#[tokio::test]
async fn a_crash_after_the_effect_lets_nothing_later_through() {
    let w = world().await;
    w.proxy.set_fault(Some(Fault {
        call: 1,
        mode: FaultMode::DropAnswer,
        sticky: false,
        after: Some(FaultMode::HoldRequest),
    }));
    let error = create_configuration(&w.via_proxy, "done")
        .await
        .unwrap_err();
    assert_eq!(error, "no code (timeout or dispatch)");
    let error = create_configuration(&w.via_proxy, "never")
        .await
        .unwrap_err();
    assert_eq!(error, "no code (timeout or dispatch)");
    assert_eq!(
        configuration_names(&w.direct).await,
        ["done"],
        "call 1's effect happened, call 2 never reached the emulator"
    );
    let calls = w.proxy.calls();
    assert_eq!((calls[0].status, calls[1].status), (Some(200), None));
    assert_eq!(calls[1].fault, Some(FaultMode::HoldRequest));
    w.emulator.shutdown().await;
}
