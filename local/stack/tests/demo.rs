#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `make demo` end to end: the whole demo passes against moto's server and the emulator, and
//! what it leaves behind is what later steps rely on (the grant accepted by grant-acceptor, the configuration
//! near its soft limit, a state table with TTL, alerts and events that reach their queues).
//!
//! Needs moto's server from the venv (`scripts/venv.sh dev`); fails, never skips, without it.

use std::path::PathBuf;

use aws_sdk_licensemanager::types::GrantStatus;
use aws_sdk_sqs::types::QueueAttributeName;
use local_stack::flows::scenario::{CONFIGURATION_CONSUMED, CONFIGURATION_COUNT};
use local_stack::stack::{Stack, StackOptions};
use local_test_kit::resources::{EVENT_BUS, EVENT_SOURCE, STATE_TABLE, STATE_TABLE_TTL};

fn moto_server() -> PathBuf {
    let path = std::env::var_os("MOTO_SERVER").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server"),
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "moto's server is not at {}: run `scripts/venv.sh dev` (or set MOTO_SERVER)",
        path.display()
    );
    path
}

fn work_dir() -> PathBuf {
    std::env::temp_dir().join(format!("local-stack-test-{}", std::process::id()))
}

/// The workspace's template, its bootstraps as `cargo test --workspace` builds them, free ports.
fn app_options() -> local_stack::app::AppOptions {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut bin_dir = std::env::current_exe().unwrap();
    bin_dir.pop();
    bin_dir.pop();
    local_stack::app::AppOptions {
        template: workspace.join("template.yaml"),
        bin_dir,
        work_dir: work_dir(),
        api_port: 0,
        issuer_port: 0,
        parameters: Default::default(),
        schedules: false,
        concurrency: std::collections::BTreeMap::new(),
    }
}

async fn start() -> Stack {
    let work_dir = work_dir();
    Stack::start(&StackOptions {
        moto_server: moto_server(),
        port: 0,
        state_file: None,
        work_dir,
    })
    .await
    .expect("the stack starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_passes_and_leaves_the_scenario_ready_for_the_functions() {
    let stack = start().await;
    let stack_public_key = stack.public_key_path().clone();
    let (summary, mut context) = local_stack::demo(&stack, &app_options()).await;
    assert_eq!(summary.failed, 0, "{summary}");
    assert!(summary.ok >= 15, "{summary}");

    // What --keep-running tells a developer to export points at this stack.
    let environment: std::collections::HashMap<_, _> = local_stack::environment(&stack, &context)
        .into_iter()
        .collect();
    assert_eq!(
        environment["AWS_ENDPOINT_URL_LICENSE_MANAGER"],
        stack.license_manager_url()
    );
    assert_eq!(environment["AWS_ENDPOINT_URL"], stack.moto_url());
    assert_eq!(environment["AWS_ACCESS_KEY_ID"], "123456789012");
    assert_eq!(environment["STATE_TABLE"], STATE_TABLE);
    assert_eq!(environment["EVENT_BUS_NAME"], EVENT_BUS);

    let clients = &context.clients;
    let scenario = context.scenario.as_ref().expect("the scenario ran");
    let infra = context.infra.as_ref().expect("the infrastructure flow ran");

    // grant-acceptor accepted and activated the grant from its Grant Change event.
    let grant = clients
        .customer
        .license_manager
        .get_grant()
        .grant_arn(&scenario.grant_arn)
        .send()
        .await
        .unwrap()
        .grant
        .unwrap();
    assert_eq!(*grant.grant_status(), GrantStatus::Active);

    // The configuration sits just under its soft limit.
    let configuration = clients
        .customer
        .license_manager
        .get_license_configuration()
        .license_configuration_arn(&scenario.configuration_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(configuration.license_count(), Some(CONFIGURATION_COUNT));
    assert_eq!(
        configuration.consumed_licenses(),
        Some(CONFIGURATION_CONSUMED)
    );
    assert_eq!(configuration.license_count_hard_limit(), Some(false));

    // The state table expires items by TTL.
    let ttl = clients
        .dynamodb
        .describe_time_to_live()
        .table_name(STATE_TABLE)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some(STATE_TABLE_TTL));

    // An alert published to the topic reaches the subscribed queue.
    clients
        .sns
        .publish()
        .topic_arn(&infra.alert_topic_arn)
        .message("soft limit warning")
        .send()
        .await
        .unwrap();
    let alert = receive_containing(clients, &infra.alerts_queue_url, "soft limit warning").await;
    assert!(alert.contains("soft limit warning"), "{alert}");

    // An event of the project's source on the bus reaches the events queue.
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name(EVENT_BUS)
        .source(EVENT_SOURCE)
        .detail_type("Soft Limit Warning")
        .detail(r#"{"licenseConfigurationArn":"arn"}"#)
        .build();
    let put = clients
        .events
        .put_events()
        .entries(entry)
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_entry_count(), 0);
    let event = receive_containing(clients, &infra.events_queue_url, "").await;
    assert!(event.contains("Soft Limit Warning"), "{event}");

    // Nothing is waiting in the dead-letter queue.
    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(&infra.dead_letter_queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    assert_eq!(
        attributes
            .attributes()
            .unwrap()
            .get(&QueueAttributeName::ApproximateNumberOfMessages)
            .map(String::as_str),
        Some("0")
    );

    local_stack::stop(&mut context, stack).await;
    // The borrow public key was published where the stack said.
    assert!(stack_public_key.is_file());
    std::fs::remove_dir_all(work_dir()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_moto_server_is_a_clear_error() {
    let err = Stack::start(&StackOptions {
        moto_server: PathBuf::from("/nonexistent/moto_server"),
        port: 0,
        state_file: None,
        work_dir: std::env::temp_dir().join("local-stack-test-missing"),
    })
    .await
    .err()
    .expect("no stack without moto");
    assert!(err.to_string().contains("scripts/venv.sh dev"), "{err}");
}

/// The first message of the queue whose body contains `needle` (others are skipped: the alert
/// topic also carries the demo's own alerts, relayed from the template's AlertsRule).
async fn receive_containing(
    clients: &local_test_kit::clients::Clients,
    queue_url: &str,
    needle: &str,
) -> String {
    for _ in 0..20 {
        let out = clients
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if let Some(body) = out
            .messages()
            .iter()
            .filter_map(|message| message.body())
            .find(|body| body.contains(needle))
        {
            return body.to_owned();
        }
    }
    panic!("nothing with {needle:?} arrived in {queue_url}");
}

/// `--keep-running` leaves both servers up until SIGTERM (or Ctrl-C), then stops both.
#[cfg(unix)]
#[test]
fn keep_running_serves_until_told_to_stop_then_stops_everything() {
    use std::io::{BufRead, BufReader};
    use std::net::TcpStream;
    use std::process::{Command, Stdio};

    let work_dir = std::env::temp_dir().join(format!("local-stack-keep-{}", std::process::id()));
    let app = app_options();
    let mut child = Command::new(env!("CARGO_BIN_EXE_local-stack"))
        .args(["--port", "0", "--api-port", "0", "--issuer-port", "0"])
        .args(["--keep-running", "--work-dir"])
        .arg(&work_dir)
        .arg("--template")
        .arg(&app.template)
        .arg("--bin-dir")
        .arg(&app.bin_dir)
        .env("MOTO_SERVER", moto_server())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // However this test goes, the stack does not outlive it by more than a few minutes.
    let pid = child.id().to_string();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(300));
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
    });
    let mut endpoints = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut told_how_to_stop = false;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(url) = line
            .strip_prefix("  export AWS_ENDPOINT_URL=")
            .or_else(|| line.strip_prefix("  export AWS_ENDPOINT_URL_LICENSE_MANAGER="))
        {
            let endpoint = url.trim_start_matches("http://").to_owned();
            assert!(TcpStream::connect(&endpoint).is_ok(), "{endpoint} is up");
            endpoints.push(endpoint);
        }
        if line.starts_with("Press Ctrl-C") {
            told_how_to_stop = true;
            break;
        }
    }
    assert!(told_how_to_stop, "the stack says how to stop it");
    assert_eq!(endpoints.len(), 2, "both endpoints are printed");

    // At once: a signal that arrives while the stack is still setting up its wait is kept.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "a passing demo exits 0 after SIGTERM: {status}"
    );
    for endpoint in &endpoints {
        assert!(TcpStream::connect(endpoint).is_err(), "{endpoint} is down");
    }
    std::fs::remove_dir_all(work_dir).unwrap();
}
