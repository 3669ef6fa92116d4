//! The one failure path of asynchronous invocations, as the template sets it: after Lambda's
//! retries, one invocation record (the event, the error, the attempts) goes to the function's
//! `OnFailure` destination queue; `local-stack redrive` replays those records to their
//! functions. The record's shape is Lambda's ([`lambda_host::failure`]).

use std::collections::BTreeSet;

use anyhow::{Context as _, Result};
use lambda_host::failure::FailedInvocation;
use serde_json::{Value, json};

use crate::event_sources::{InvocationRecord, Runtime};
use local_test_kit::clients::sdk_error;

/// How long a message taken for a redrive stays invisible to other readers.
const REDRIVE_VISIBILITY_SECONDS: i32 = 300;

/// What a redrive did with one message of a failure queue.
#[derive(Debug, Clone)]
pub enum Redriven {
    /// Replayed to its function (and removed from the queue). A replay that failed again left
    /// a new record in the queue, as in AWS.
    Replayed {
        /// The function's logical id.
        function: String,
        /// The request id of the invocation that had failed.
        failed_request_id: String,
        /// The replay's last attempt.
        record: Box<InvocationRecord>,
    },
    /// Left in the queue: not an invocation record, or its function is not in the template.
    Left {
        /// The SQS message id.
        message_id: String,
        /// Why.
        reason: String,
    },
}

impl Redriven {
    /// As JSON, for `local-stack redrive`.
    pub fn describe(&self) -> Value {
        match self {
            Self::Replayed {
                function,
                failed_request_id,
                record,
            } => json!({
                "replayed": function,
                "failedRequestId": failed_request_id,
                "outcome": crate::event_sources::describe_invocation(record),
            }),
            Self::Left { message_id, reason } => json!({"left": message_id, "reason": reason}),
        }
    }

    /// Whether the message was replayed and its function succeeded this time.
    pub fn succeeded(&self) -> bool {
        matches!(self, Self::Replayed { record, .. } if record.invocation.result.is_ok())
    }
}

/// The queues the template's functions send their invocation records to.
pub fn failure_queues(runtime: &Runtime) -> BTreeSet<String> {
    runtime
        .functions()
        .values()
        .filter_map(|function| function.on_failure_queue_url.clone())
        .collect()
}

/// Replays every invocation record waiting in `queue_url` to its function, asynchronously
/// (with its retries and failure path). Takes what is in the queue first, so a replay that
/// fails again (and so adds a record) is not replayed in the same run.
pub async fn redrive(
    runtime: &Runtime,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> Result<Vec<Redriven>> {
    let mut messages = Vec::new();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(REDRIVE_VISIBILITY_SECONDS)
            .wait_time_seconds(0)
            .send()
            .await
            .map_err(sdk_error)
            .with_context(|| format!("cannot read {queue_url}"))?;
        let batch = received.messages.unwrap_or_default();
        if batch.is_empty() {
            break;
        }
        messages.extend(batch);
    }
    let mut outcomes = Vec::with_capacity(messages.len());
    for message in messages {
        let message_id = message.message_id().unwrap_or_default().to_owned();
        let receipt = message.receipt_handle().unwrap_or_default().to_owned();
        let target = FailedInvocation::parse(message.body().unwrap_or_default())
            .map_err(|error| error.to_string())
            .and_then(|failed| match runtime.function(&failed.function_name) {
                Some(function) => Ok((failed, function.clone())),
                None => Err(format!(
                    "the record names function {:?}, which the template does not have",
                    failed.function_name
                )),
            });
        match target {
            Ok((failed, function)) => {
                let record = runtime
                    .invoke_event(&function, "redrive", failed.payload, sqs)
                    .await;
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(&receipt)
                    .send()
                    .await
                    .map_err(sdk_error)
                    .with_context(|| format!("cannot delete the replayed message {message_id}"))?;
                outcomes.push(Redriven::Replayed {
                    function: function.definition.logical_id.clone(),
                    failed_request_id: failed.request_id,
                    record: Box::new(record),
                });
            }
            Err(reason) => {
                // Visible again at once, for a person to look at.
                sqs.change_message_visibility()
                    .queue_url(queue_url)
                    .receipt_handle(&receipt)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .map_err(sdk_error)
                    .with_context(|| format!("cannot put message {message_id} back"))?;
                outcomes.push(Redriven::Left { message_id, reason });
            }
        }
    }
    Ok(outcomes)
}
