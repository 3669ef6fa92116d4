#![allow(clippy::unwrap_used, clippy::expect_used)]
//! What an operator relies on, checked against one run of the demo (`make demo`):
//! - the dashboard cannot drift from the code: every `LicenseAutomation` metric a widget of the
//!   template's dashboard names is in the EMF the functions wrote, and the page is drawn;
//! - no consumption token the run minted appears in any log;
//! - a failed asynchronous invocation leaves exactly one message in the dead-letter queue, in
//!   the shape of Lambda's OnFailure invocation record, and `redrive` replays it.
//!
//! Needs moto's server from the venv (`scripts/venv.sh dev`); fails, never skips, without it.

use std::path::{Path, PathBuf};

use aws_sdk_sqs::types::QueueAttributeName;
use local_stack::dashboard::{self, NAMESPACE, RunLogs};
use local_stack::failures::{self, Redriven};
use local_stack::stack::{Stack, StackOptions};
use serde_json::{Value, json};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn moto_server() -> PathBuf {
    let path = std::env::var_os("MOTO_SERVER")
        .map_or_else(|| workspace().join(".venv/bin/moto_server"), PathBuf::from);
    assert!(
        path.is_file(),
        "moto's server is not at {}: run `scripts/venv.sh dev` (or set MOTO_SERVER)",
        path.display()
    );
    path
}

fn app_options(work_dir: &Path) -> local_stack::app::AppOptions {
    let mut bin_dir = std::env::current_exe().unwrap();
    bin_dir.pop();
    bin_dir.pop();
    local_stack::app::AppOptions {
        template: workspace().join("template.yaml"),
        bin_dir,
        work_dir: work_dir.to_path_buf(),
        api_port: 0,
        issuer_port: 0,
        parameters: Default::default(),
        schedules: false,
        concurrency: std::collections::BTreeMap::new(),
    }
}

/// Every consumption token the emulator handed out (live or checked in), from its state file.
fn minted_tokens(state_file: &Path) -> Vec<String> {
    let state: Value = serde_json::from_slice(&std::fs::read(state_file).unwrap()).unwrap();
    ["consumptions", "checked_in"]
        .iter()
        .filter_map(|member| state[*member].as_object())
        .flat_map(|tokens| tokens.keys().cloned())
        .collect()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

async fn messages_waiting(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> usize {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let attributes = attributes.attributes().unwrap();
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|name| attributes[name].parse::<usize>().unwrap())
    .sum()
}

async fn receive_all(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<Value> {
    let out = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    out.messages()
        .iter()
        .map(|message| serde_json::from_str(message.body().unwrap()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_feeds_the_dashboard_keeps_tokens_out_of_logs_and_fails_over_once() {
    let work_dir = std::env::temp_dir().join(format!("local-stack-ops-{}", std::process::id()));
    std::fs::create_dir_all(&work_dir).unwrap();
    let state_file = work_dir.join("emulator-state.json");
    let stack = Stack::start(&StackOptions {
        moto_server: moto_server(),
        port: 0,
        state_file: Some(state_file.clone()),
        work_dir: work_dir.clone(),
    })
    .await
    .expect("the stack starts");
    let (summary, mut context) = local_stack::demo(&stack, &app_options(&work_dir)).await;
    assert_eq!(summary.failed, 0, "{summary}");
    let log_dir = work_dir.join("logs");

    // The dashboard: every project metric a widget names was written by the functions.
    let body = dashboard::body(&workspace().join("template.yaml"), &log_dir).unwrap();
    let named = dashboard::project_metrics(&body);
    assert!(
        named.contains("GrantsFailed") && named.contains("ApiRequests"),
        "{named:?}"
    );
    let written = RunLogs::read(&log_dir).unwrap().metric_names(NAMESPACE);
    let missing: Vec<_> = named.difference(&written).collect();
    assert!(
        missing.is_empty(),
        "the dashboard names metrics the demo's EMF output lacks: {missing:?} (written: {written:?})"
    );
    let page = work_dir.join(dashboard::FILE_NAME);
    dashboard::write(&workspace().join("template.yaml"), &work_dir, &page).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    for title in [
        "Grant decisions by outcome",
        "Checkout requests by route and status",
        "Init durations of cold starts (ms)",
    ] {
        assert!(html.contains(title), "the page has the widget {title:?}");
    }
    assert!(html.contains("<polyline"), "the page draws lines");

    // No consumption token the run minted is in any log.
    let tokens = minted_tokens(&state_file);
    assert!(!tokens.is_empty(), "the demo checked licenses out");
    let mut logs = files_under(&log_dir);
    logs.push(work_dir.join("moto.log"));
    for log in logs.iter().filter(|path| path.is_file()) {
        let text = String::from_utf8_lossy(&std::fs::read(log).unwrap()).into_owned();
        for token in &tokens {
            assert!(
                !text.contains(token.as_str()),
                "{} contains the consumption token {token}",
                log.display()
            );
        }
    }

    // One failed asynchronous invocation: one invocation record in the dead-letter queue.
    let app = context.app.as_ref().expect("the host flow ran");
    let runtime = app.runtime.clone();
    let sqs = context.clients.sqs.clone();
    let dead_letters = context
        .infra
        .as_ref()
        .unwrap()
        .dead_letter_queue_url
        .clone();
    assert_eq!(messages_waiting(&sqs, &dead_letters).await, 0);
    assert_eq!(
        failures::failure_queues(&runtime),
        std::collections::BTreeSet::from([dead_letters.clone()])
    );
    let function = runtime.function("grant-acceptor").unwrap().clone();
    let malformed = json!({"version": "0", "detail-type": 42});
    let failed = runtime
        .invoke_event(&function, "test", malformed.clone(), &sqs)
        .await;
    assert!(failed.invocation.result.is_err());
    assert_eq!(failed.attempt, 3, "two retries");
    assert!(failed.dead_lettered);
    assert_eq!(
        messages_waiting(&sqs, &dead_letters).await,
        1,
        "exactly one message"
    );
    let records = receive_all(&sqs, &dead_letters).await;
    let [record] = records.as_slice() else {
        panic!("one record: {records:?}")
    };
    assert_eq!(record["version"], "1.0");
    assert_eq!(
        record["requestContext"]["functionArn"],
        format!("{}:$LATEST", function.host.config().function_arn())
    );
    assert_eq!(
        record["requestContext"]["requestId"],
        failed.invocation.request_id
    );
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(record["requestPayload"], malformed);
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
    assert_eq!(
        record["responsePayload"]["errorType"],
        failed.invocation.result.as_ref().unwrap_err().error_type()
    );

    // A message that is no invocation record is left for a person, named.
    sqs.send_message()
        .queue_url(&dead_letters)
        .message_body(r#"{"detail-type":"Grant Change"}"#)
        .send()
        .await
        .unwrap();

    // Redrive: the record goes back to its function (which fails on it again, so a new record
    // takes its place), the stranger stays.
    let redriven = failures::redrive(&runtime, &sqs, &dead_letters)
        .await
        .unwrap();
    assert_eq!(redriven.len(), 2, "{redriven:?}");
    let replayed: Vec<_> = redriven
        .iter()
        .filter_map(|outcome| match outcome {
            Redriven::Replayed {
                function,
                failed_request_id,
                record,
            } => Some((function.clone(), failed_request_id.clone(), record.clone())),
            Redriven::Left { .. } => None,
        })
        .collect();
    let [(replayed_function, failed_request_id, replay)] = replayed.as_slice() else {
        panic!("one replay: {redriven:?}")
    };
    assert_eq!(replayed_function, "GrantAcceptorFunction");
    assert_eq!(failed_request_id, &failed.invocation.request_id);
    assert_eq!(replay.trigger, "redrive");
    assert_eq!(replay.payload, malformed);
    assert!(redriven.iter().any(|outcome| matches!(
        outcome,
        Redriven::Left { reason, .. } if reason.contains("no requestContext")
    )));
    assert!(!redriven.iter().any(Redriven::succeeded));
    let after: Vec<Value> = receive_all(&sqs, &dead_letters).await;
    assert_eq!(after.len(), 2, "the new record and the stranger: {after:?}");
    assert!(after.iter().any(|message| {
        message["requestContext"]["requestId"] == replay.invocation.request_id.as_str()
    }));

    local_stack::stop(&mut context, stack).await;
    std::fs::remove_dir_all(&work_dir).unwrap();
}
