//! What the template creates for the functions, in one place: the names of the bus, the event
//! source, the state table and the queues (the values `EVENT_BUS_NAME`, `EVENT_SOURCE` and
//! `STATE_TABLE` take locally), what the demo's infrastructure step created ([`Infra`]), and
//! one call each to create the state table and the bus with a queue that receives its events.

use anyhow::{Context as _, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use serde_json::json;

use crate::clients::{Clients, sdk_error};
use crate::queues::{create_queue, queue_arn, route_rule_to_queue};

/// The project's event bus (`EVENT_BUS_NAME`).
pub const EVENT_BUS: &str = "license-automation";
/// The `source` of the events the functions emit (`EVENT_SOURCE`).
pub const EVENT_SOURCE: &str = "license-automation";
/// The state table (`STATE_TABLE`): key [`STATE_TABLE_KEY`] (S), TTL [`STATE_TABLE_TTL`].
pub const STATE_TABLE: &str = "license-automation-state";
/// Dead-letter queue of the functions.
pub const DEAD_LETTER_QUEUE: &str = "license-automation-dlq";
/// SNS topic for alerts.
pub const ALERT_TOPIC: &str = "license-automation-alerts";
/// SQS queue subscribed to the alert topic.
pub const ALERTS_QUEUE: &str = "license-automation-alerts";
/// SQS queue receiving every event of `EVENT_SOURCE` on the bus.
pub const EVENTS_QUEUE: &str = "license-automation-events";

/// Partition key of the state table.
pub const STATE_TABLE_KEY: &str = "pk";
/// TTL attribute of the state table.
pub const STATE_TABLE_TTL: &str = "expiresAt";
/// The state table's sparse index of pending outbox intents (the template's `outbox` GSI):
/// partition [`STATE_TABLE_OUTBOX_KEY`] (S), sort [`STATE_TABLE_CLAIM_KEY`] (N).
pub const STATE_TABLE_OUTBOX_INDEX: &str = "outbox";
/// Partition key of the outbox index: the owner's `outbox#<function>`, set while pending.
pub const STATE_TABLE_OUTBOX_KEY: &str = "outbox";
/// Sort key of the outbox index: when the intent's claim ends (epoch milliseconds).
pub const STATE_TABLE_CLAIM_KEY: &str = "claimUntil";

/// The resources the template creates, as created locally (by the demo's infrastructure step).
#[derive(Debug, Clone)]
pub struct Infra {
    /// ARN of the project's bus.
    pub event_bus_arn: String,
    /// ARN of the state table.
    pub state_table_arn: String,
    /// URL of the dead-letter queue.
    pub dead_letter_queue_url: String,
    /// ARN of the alert topic.
    pub alert_topic_arn: String,
    /// URL of the queue subscribed to the alert topic.
    pub alerts_queue_url: String,
    /// URL of the queue receiving the project's events.
    pub events_queue_url: String,
}

/// Creates in moto everything the template creates for the functions: the bus, the state
/// table, the dead-letter queue, the alert topic with a queue subscribed to it, and a queue
/// receiving every event of [`EVENT_SOURCE`] on the bus.
pub async fn create_infra(clients: &Clients) -> Result<Infra> {
    let event_bus_arn = create_bus(&clients.events).await?;
    let state_table_arn = create_state_table(&clients.dynamodb, STATE_TABLE).await?;
    let dead_letter_queue_url = create_queue(&clients.sqs, DEAD_LETTER_QUEUE).await?;
    let (alert_topic_arn, alerts_queue_url) = create_alert_topic(clients).await?;
    let events_queue_url = route_events_to_queue(clients).await?;
    Ok(Infra {
        event_bus_arn,
        state_table_arn,
        dead_letter_queue_url,
        alert_topic_arn,
        alerts_queue_url,
        events_queue_url,
    })
}

/// Creates the project's bus [`EVENT_BUS`]; returns its ARN.
pub async fn create_bus(events: &aws_sdk_eventbridge::Client) -> Result<String> {
    let out = events
        .create_event_bus()
        .name(EVENT_BUS)
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(out.event_bus_arn().context("no EventBusArn")?.to_owned())
}

/// Creates the alert topic [`ALERT_TOPIC`] and subscribes the queue [`ALERTS_QUEUE`] to it;
/// returns the topic's ARN and the queue's URL.
pub async fn create_alert_topic(clients: &Clients) -> Result<(String, String)> {
    create_topic_with_queue(clients, ALERT_TOPIC, ALERTS_QUEUE).await
}

/// Creates the topic `topic` and subscribes the queue `queue` to it; returns the topic's ARN
/// and the queue's URL.
pub async fn create_topic_with_queue(
    clients: &Clients,
    topic: &str,
    queue: &str,
) -> Result<(String, String)> {
    let topic = clients
        .sns
        .create_topic()
        .name(topic)
        .send()
        .await
        .map_err(sdk_error)?;
    let topic_arn = topic.topic_arn().context("no TopicArn")?.to_owned();
    let queue_url = create_queue(&clients.sqs, queue).await?;
    let queue_arn = queue_arn(&clients.sqs, &queue_url).await?;
    clients
        .sns
        .subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .send()
        .await
        .map_err(sdk_error)?;
    Ok((topic_arn, queue_url))
}

/// Routes every event of [`EVENT_SOURCE`] on [`EVENT_BUS`] to the queue [`EVENTS_QUEUE`];
/// returns the queue's URL.
pub async fn route_events_to_queue(clients: &Clients) -> Result<String> {
    route_rule_to_queue(
        &clients.events,
        &clients.sqs,
        EVENTS_QUEUE,
        Some(EVENT_BUS),
        &json!({"source": [EVENT_SOURCE]}),
    )
    .await
}

/// Creates the state table `name` as the template does (key `pk` (S), on demand, TTL on
/// `expiresAt`, the sparse `outbox` index of pending intents); returns its ARN.
pub async fn create_state_table(dynamodb: &aws_sdk_dynamodb::Client, name: &str) -> Result<String> {
    let key = |name: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
    };
    let attribute = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
    };
    let outbox = GlobalSecondaryIndex::builder()
        .index_name(STATE_TABLE_OUTBOX_INDEX)
        .key_schema(key(STATE_TABLE_OUTBOX_KEY, KeyType::Hash)?)
        .key_schema(key(STATE_TABLE_CLAIM_KEY, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()?;
    let out = dynamodb
        .create_table()
        .table_name(name)
        .key_schema(key(STATE_TABLE_KEY, KeyType::Hash)?)
        .attribute_definitions(attribute(STATE_TABLE_KEY, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(STATE_TABLE_OUTBOX_KEY, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(STATE_TABLE_CLAIM_KEY, ScalarAttributeType::N)?)
        .global_secondary_indexes(outbox)
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
