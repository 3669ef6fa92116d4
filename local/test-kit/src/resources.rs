//! What the template creates, one call each, for the infrastructure flow and for the functions'
//! own tests against moto: the state table and the project's bus with a queue that receives
//! its events.

use anyhow::{Context as _, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use serde_json::{Value, json};

use crate::clients::sdk_error;
use crate::queues::route_rule_to_queue;

/// Partition key of the state table.
pub const STATE_TABLE_KEY: &str = "pk";
/// TTL attribute of the state table.
pub const STATE_TABLE_TTL: &str = "expiresAt";

/// Creates the state table `name` as the template does (key `pk` (S), on demand, TTL on
/// `expiresAt`); returns its ARN.
pub async fn create_state_table(dynamodb: &aws_sdk_dynamodb::Client, name: &str) -> Result<String> {
    let key = KeySchemaElement::builder()
        .attribute_name(STATE_TABLE_KEY)
        .key_type(KeyType::Hash)
        .build()?;
    let attribute = AttributeDefinition::builder()
        .attribute_name(STATE_TABLE_KEY)
        .attribute_type(ScalarAttributeType::S)
        .build()?;
    let out = dynamodb
        .create_table()
        .table_name(name)
        .key_schema(key)
        .attribute_definitions(attribute)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(sdk_error)?;
    let arn = out
        .table_description()
        .and_then(|table| table.table_arn())
        .context("no TableArn")?
        .to_owned();
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(STATE_TABLE_TTL)
        .enabled(true)
        .build()?;
    dynamodb
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(arn)
}

/// Creates the bus `bus` and a queue `queue` receiving every event of `source` on it;
/// returns the queue's URL.
pub async fn bus_with_queue(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    bus: &str,
    source: &str,
    queue: &str,
) -> Result<String> {
    events
        .create_event_bus()
        .name(bus)
        .send()
        .await
        .map_err(sdk_error)?;
    route_rule_to_queue(events, sqs, queue, Some(bus), &json!({"source": [source]})).await
}

/// The events waiting in a queue now, without waiting for more (each read is deleted).
pub async fn drain(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<Vec<Value>> {
    let mut events = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .map_err(sdk_error)?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(events);
        }
        for message in messages {
            let body = message.body().unwrap_or_default();
            events.push(
                serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned())),
            );
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
