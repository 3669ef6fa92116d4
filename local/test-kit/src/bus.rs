//! Reading the project's bus: the events delivered to a queue subscribed to it, and one line
//! per event for a reader.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use crate::clients::sdk_error;

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
        let batch = take(sqs, queue_url, wait).await?;
        if batch.is_empty() && events.len() >= expected {
            return Ok(events);
        }
        events.extend(batch);
    }
}

/// The events waiting in a queue now, without waiting for more (each read is deleted).
pub async fn drain(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<Vec<Value>> {
    let mut events = Vec::new();
    loop {
        let batch = take(sqs, queue_url, 0).await?;
        if batch.is_empty() {
            return Ok(events);
        }
        events.extend(batch);
    }
}

/// One receive of up to 10 messages, waiting up to `wait_seconds` for the first; each is
/// deleted once read. A body that is not JSON comes back as a JSON string.
async fn take(sqs: &aws_sdk_sqs::Client, queue_url: &str, wait_seconds: i32) -> Result<Vec<Value>> {
    let out = sqs
        .receive_message()
        .queue_url(queue_url)
        .wait_time_seconds(wait_seconds)
        .max_number_of_messages(10)
        .send()
        .await
        .map_err(sdk_error)?;
    let mut events = Vec::new();
    for message in out.messages.unwrap_or_default() {
        if let Some(body) = message.body() {
            events.push(
                serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned())),
            );
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
    Ok(events)
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_event_is_one_line_of_its_detail_type_and_detail() {
        let events = [
            json!({"detail-type": "Grant Accepted", "detail": {"grantArn": "arn:g"}}),
            json!({"detail": {"x": 1}}),
        ];
        assert_eq!(
            describe_all(&events),
            "Grant Accepted {\"grantArn\":\"arn:g\"}\n(no detail-type) {\"x\":1}"
        );
        assert_eq!(describe_all(&[]), "");
    }
}
