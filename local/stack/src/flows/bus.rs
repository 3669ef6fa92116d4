//! The project's bus, as the demo shows it: every event the functions emitted, read back
//! from the queue the infrastructure flow subscribed to it.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde_json::Value;

use super::{Context, Flow, FlowFuture};
use crate::clients::sdk_error;
use crate::report::{Recorder, done};

/// The bus flow: prints what is still waiting on the events queue.
pub const FLOW: Flow = Flow {
    title: "events on the project's bus",
    run: boxed,
};

fn boxed<'a>(context: &'a mut Context, recorder: &'a mut Recorder) -> FlowFuture<'a> {
    Box::pin(run(context, recorder))
}

async fn run(context: &mut Context, recorder: &mut Recorder) -> Result<()> {
    let sqs = context.clients.sqs.clone();
    let queue_url = events_queue(context)?;
    recorder
        .step("read every event delivered to the bus", async {
            let events = receive(&sqs, &queue_url, 0, Duration::from_secs(1)).await?;
            let details = if events.is_empty() {
                "no further events".to_owned()
            } else {
                describe_all(&events)
            };
            done((), details)
        })
        .await
}

/// The URL of the queue receiving the project's events.
pub fn events_queue(context: &Context) -> Result<String> {
    Ok(context
        .infra
        .as_ref()
        .context("the infrastructure flow did not run")?
        .events_queue_url
        .clone())
}

/// Reads (and removes) events from the queue until `expected` arrived, or, after that many,
/// until the queue stays empty; waits at most `within` in all.
pub async fn receive(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    expected: usize,
    within: Duration,
) -> Result<Vec<Value>> {
    let deadline = tokio::time::Instant::now() + within;
    let mut events = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Ok(events);
        }
        let wait = i32::try_from(left.as_secs().clamp(1, 2)).unwrap_or(1);
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .wait_time_seconds(wait)
            .max_number_of_messages(10)
            .send()
            .await
            .map_err(sdk_error)?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() && events.len() >= expected {
            return Ok(events);
        }
        for message in messages {
            if let Some(body) = message.body() {
                events.push(serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())));
            }
            if let Some(receipt) = message.receipt_handle() {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .map_err(sdk_error)?;
            }
        }
    }
}

/// One line per event: its detail-type and detail.
pub fn describe_all(events: &[Value]) -> String {
    let mut out = String::new();
    for event in events {
        let _ = writeln!(out, "{}", describe(event));
    }
    out.trim_end().to_owned()
}

/// `Grant Accepted {"grantArn": ...}`.
pub fn describe(event: &Value) -> String {
    format!(
        "{} {}",
        event
            .get("detail-type")
            .and_then(Value::as_str)
            .unwrap_or("(no detail-type)"),
        event.get("detail").unwrap_or(&Value::Null)
    )
}
