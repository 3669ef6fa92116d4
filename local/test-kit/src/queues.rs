//! SQS queues and rules that deliver to them, as the stack creates them on moto.

use anyhow::{Context as _, Result};
use aws_sdk_eventbridge::types::{InputTransformer, Target};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use crate::clients::sdk_error;

/// Creates (or finds) the queue `name`; returns its URL.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<String> {
    let out = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(out.queue_url().context("no QueueUrl")?.to_owned())
}

/// Creates the rule on `bus` (default: the account's default bus) and a queue as its target.
/// Both are named `name`; returns the queue's URL.
pub async fn route_rule_to_queue(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    bus: Option<&str>,
    pattern: &Value,
) -> Result<String> {
    let bus = bus.unwrap_or("default");
    let queue_url = create_queue(sqs, name).await?;
    let queue_arn = queue_arn(sqs, &queue_url).await?;
    events
        .put_rule()
        .name(name)
        .event_bus_name(bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .map_err(sdk_error)
        .context("PutRule")?;
    // The whole event, as EventBridge hands it to Lambda (moto's plain SQS target input
    // leaves out the envelope's `account`).
    let whole_event = InputTransformer::builder()
        .input_template("<aws.events.event.json>")
        .build()?;
    let target = Target::builder()
        .id("local-host")
        .arn(queue_arn)
        .input_transformer(whole_event)
        .build()?;
    let out = events
        .put_targets()
        .rule(name)
        .event_bus_name(bus)
        .targets(target)
        .send()
        .await
        .map_err(sdk_error)?;
    anyhow::ensure!(
        out.failed_entry_count() == 0,
        "PutTargets failed: {:?}",
        out.failed_entries()
    );
    Ok(queue_url)
}

/// The ARN of the queue at `queue_url`.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<String> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(sdk_error)?;
    out.attributes()
        .and_then(|attributes| attributes.get(&QueueAttributeName::QueueArn))
        .cloned()
        .context("no QueueArn")
}

/// The URL of the queue an ARN names (`arn:aws:sqs:<region>:<account>:<name>`).
pub async fn queue_url_of_arn(sqs: &aws_sdk_sqs::Client, arn: &str) -> Result<String> {
    let name = arn
        .rsplit(':')
        .next()
        .filter(|name| !name.is_empty())
        .with_context(|| format!("{arn} is not a queue ARN"))?;
    let out = sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(sdk_error)
        .with_context(|| format!("the dead-letter queue {arn}"))?;
    Ok(out.queue_url().context("no QueueUrl")?.to_owned())
}
