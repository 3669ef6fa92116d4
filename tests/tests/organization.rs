//! The organization, locally: the ISV grants a license to an organization of five member
//! accounts (the emulator's `--organization`); in each member account the real grant-acceptor
//! bootstrap, with that account's identity, activates the member's own grant, and each
//! member stack's forward rule (template.yaml's `CentralForwardRule`, as `CentralEventBusArn`
//! makes it) brings the member's `Grant Accepted` to the central bus, naming the member; one
//! member's soft-limit warning reaches the central bus.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_eventbridge::types::Target;
use aws_sdk_licensemanager::types::{GrantStatus, LicenseCountingType, LicenseSpecification};
use integration_tests::bootstrap;
use lambda_host::{Function, FunctionConfig};
use license_manager_local::organization::Organization;
use license_manager_local::{Config, Emulator};
use local_test_kit::bus;
use local_test_kit::clients::{Account, ISV_ACCOUNT, REGION, sdk_config};
use local_test_kit::licenses::{grant_to, issue_license, key_fingerprint};
use local_test_kit::moto::{MotoServer, default_moto_server};
use local_test_kit::resources::{
    EVENT_BUS, EVENT_SOURCE, STATE_TABLE, bus_with_queue, create_bus, create_state_table,
};
use serde_json::{Value, json};

/// The management account, where the central stack lives.
const MANAGEMENT: &str = "123456789012";
const CENTRAL_BUS: &str = "license-automation-central";

/// The member accounts: five, or `ORG_MEMBERS` (e.g. 20 to time a larger organization with
/// `--nocapture`).
fn members() -> Vec<String> {
    let count = std::env::var("ORG_MEMBERS")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(5);
    (1..=count).map(|i| format!("21{i:010}")).collect()
}

fn organization(members: &[String]) -> Organization {
    Organization {
        id: "o-localorg0001".into(),
        management_account: MANAGEMENT.into(),
        accounts: members.to_vec(),
        organizational_units: Default::default(),
    }
}

/// EventBridge, DynamoDB and SQS clients of `account` on moto.
async fn moto_clients(
    account: &str,
    moto: &str,
) -> (
    aws_sdk_eventbridge::Client,
    aws_sdk_dynamodb::Client,
    aws_sdk_sqs::Client,
) {
    let config = sdk_config(account).await;
    (
        aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::config::Builder::from(&config)
                .endpoint_url(moto)
                .build(),
        ),
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .endpoint_url(moto)
                .build(),
        ),
        aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&config)
                .endpoint_url(moto)
                .build(),
        ),
    )
}

/// What the member stack creates in `member` on moto: the bus, the state table, and the rule
/// that forwards every project event to `central_bus_arn` with a role.
async fn member_stack(member: &str, moto: &str, central_bus_arn: &str) {
    let (events, dynamodb, _) = moto_clients(member, moto).await;
    create_bus(&events).await.unwrap();
    create_state_table(&dynamodb, STATE_TABLE).await.unwrap();
    events
        .put_rule()
        .name("central-forward")
        .event_bus_name(EVENT_BUS)
        .event_pattern(json!({"source": [EVENT_SOURCE]}).to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("central-forward")
        .event_bus_name(EVENT_BUS)
        .targets(
            Target::builder()
                .id("central-bus")
                .arn(central_bus_arn)
                .role_arn(format!("arn:aws:iam::{member}:role/central-forward"))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// Function `name` (its real bootstrap) in `member`, trusting the ISV's Acme licenses.
fn function(name: &str, member: &str, moto: &str, license_manager: &str) -> Function {
    let mut config = FunctionConfig::new(format!("{name}-{member}"), bootstrap(name));
    config.account = member.to_owned();
    config.timeout = Duration::from_secs(30);
    let trust = json!({
        "trusted": [{"keyFingerprint": key_fingerprint(ISV_ACCOUNT, "Acme")}],
        "untrusted": "ignore",
        "activate": true
    });
    for (name, value) in [
        ("AWS_ENDPOINT_URL", moto.to_owned()),
        (
            "AWS_ENDPOINT_URL_LICENSE_MANAGER",
            license_manager.to_owned(),
        ),
        ("EVENT_BUS_NAME", EVENT_BUS.to_owned()),
        ("EVENT_SOURCE", EVENT_SOURCE.to_owned()),
        ("STATE_TABLE", STATE_TABLE.to_owned()),
        ("TRUST_POLICY", trust.to_string()),
    ] {
        config.environment.insert(name.to_owned(), value);
    }
    Function::new(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_grant_is_activated_in_every_member_and_reported_centrally() {
    let started = std::time::Instant::now();
    let members = members();
    let work = std::env::temp_dir().join(format!("org-test-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let moto = MotoServer::start(&default_moto_server(), &work.join("moto.log"))
        .await
        .unwrap();
    let emulator = Emulator::start(
        Config {
            organization: Some(organization(&members)),
            ..Config::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let moto_url = moto.url();
    let license_manager = emulator.endpoint_url();

    // The central stack: its bus, and a queue receiving everything that reaches it.
    let (central_events, _, central_sqs) = moto_clients(MANAGEMENT, &moto_url).await;
    let central_queue = bus_with_queue(
        &central_events,
        &central_sqs,
        CENTRAL_BUS,
        EVENT_SOURCE,
        "central-events",
    )
    .await
    .unwrap();
    let central_bus_arn = format!("arn:aws:events:{REGION}:{MANAGEMENT}:event-bus/{CENTRAL_BUS}");
    // moto gives every access key that is not an AWS-style key one account (its default,
    // here the management account's): the member stacks' bus and state table on moto are one,
    // while License Manager (the emulator) keeps every member account apart.
    member_stack(MANAGEMENT, &moto_url, &central_bus_arn).await;

    // The ISV grants to the organization: each member receives a grant of its own.
    let isv = Account::connect(ISV_ACCOUNT, &license_manager).await;
    let license = issue_license(&isv, "Acme", "acme-analytics", MANAGEMENT)
        .await
        .unwrap();
    grant_to(&isv, &license, &organization(&members).arn())
        .await
        .unwrap();
    let ready = started.elapsed();

    let sweep: Value =
        serde_json::from_str(include_str!("../../events/grant-acceptor/scheduled.json")).unwrap();
    let mut peak_rss_kib = 0;
    for member in &members {
        let function = function("grant-acceptor", member, &moto_url, &license_manager);
        let invocation = function.invoke(sweep.clone()).await;
        peak_rss_kib = peak_rss_kib.max(invocation.max_rss_kib.unwrap_or(0));
        let summary = invocation.result.expect("grant-acceptor succeeded");
        assert_eq!(summary["accepted"], json!(1), "{member}: {summary}");
        assert_eq!(summary["activated"], json!(1), "{member}: {summary}");
        function.recycle().await;

        let account = Account::connect(member.clone().leak(), &license_manager).await;
        let grants = account
            .license_manager
            .list_received_grants()
            .send()
            .await
            .unwrap()
            .grants
            .unwrap();
        assert_eq!(grants.len(), 1, "{member}");
        assert_eq!(grants[0].grant_status(), &GrantStatus::Active, "{member}");
    }

    // Every member's Grant Accepted reached the central bus, naming its account.
    let mut accounts = BTreeSet::new();
    for _ in 0..20 {
        for event in bus::drain(&central_sqs, &central_queue).await.unwrap() {
            if event["detail-type"] == json!("Grant Accepted") {
                accounts.insert(event["detail"]["account"].as_str().unwrap().to_owned());
            }
        }
        if accounts.len() == members.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(accounts, members.iter().cloned().collect::<BTreeSet<_>>());
    println!(
        "{} member accounts: ready (moto, emulator, stacks, grant) in {:.2} s, every grant \
         activated and reported centrally after {:.2} s; peak grant-acceptor RSS {} KiB",
        members.len(),
        ready.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        peak_rss_kib
    );

    // One member's configuration crosses its soft limit: its soft-limit-monitor's warning
    // reaches the central bus. (The central alert rule's topic is not run: moto's EventBridge
    // does not deliver to SNS targets.)
    let member: &'static str = members[0].clone().leak();
    let account = Account::connect(member, &license_manager).await;
    let configuration = account
        .license_manager
        .create_license_configuration()
        .name("instances")
        .license_counting_type(LicenseCountingType::Instance)
        .license_count(10)
        .license_count_hard_limit(false)
        .send()
        .await
        .unwrap()
        .license_configuration_arn
        .unwrap();
    for n in 1..=9 {
        account
            .license_manager
            .update_license_specifications_for_resource()
            .resource_arn(format!("arn:aws:ec2:{REGION}:{member}:instance/i-{n:017x}"))
            .add_license_specifications(
                LicenseSpecification::builder()
                    .license_configuration_arn(&configuration)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let monitor = function("soft-limit-monitor", member, &moto_url, &license_manager);
    let scheduled: Value = serde_json::from_str(include_str!(
        "../../events/soft-limit-monitor/scheduled.json"
    ))
    .unwrap();
    let summary = monitor
        .invoke(scheduled)
        .await
        .result
        .expect("soft-limit-monitor succeeded");
    assert_eq!(summary["alerted"], json!(1), "{summary}");
    monitor.recycle().await;
    let mut warning = None;
    for _ in 0..20 {
        for event in bus::drain(&central_sqs, &central_queue).await.unwrap() {
            if event["detail-type"] == json!("Soft Limit Warning") {
                warning = Some(event);
            }
        }
        if warning.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let warning = warning.expect("the warning reached the central bus");
    assert_eq!(warning["detail"]["resourceArn"], json!(configuration));

    emulator.shutdown().await;
    moto.stop().await;
    let _ = std::fs::remove_dir_all(&work);
}
