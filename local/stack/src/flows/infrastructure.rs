//! Creates in moto what the SAM template creates for the functions: the project's event bus,
//! the state table, a dead-letter queue, the alert topic, and two queues that let the demo
//! (and a developer) read what was emitted.

use anyhow::{Context as _, Result};

use super::{Context, Flow, FlowFuture};
use crate::clients::{Clients, sdk_error};
use crate::queues::{create_queue, queue_arn, route_rule_to_queue};
use crate::report::{Recorder, done};
use crate::resources;

/// The project's event bus (`EVENT_BUS_NAME`).
pub const EVENT_BUS: &str = "license-automation";
/// The `source` of the events the functions emit (`EVENT_SOURCE`).
pub const EVENT_SOURCE: &str = "license-automation";
/// The state table (`STATE_TABLE`): key `pk` (S), TTL attribute `expiresAt`.
pub const STATE_TABLE: &str = "license-automation-state";
pub use crate::resources::{STATE_TABLE_KEY, STATE_TABLE_TTL};
/// Dead-letter queue of the functions.
pub const DEAD_LETTER_QUEUE: &str = "license-automation-dlq";
/// SNS topic for alerts.
pub const ALERT_TOPIC: &str = "license-automation-alerts";
/// SQS queue subscribed to the alert topic.
pub const ALERTS_QUEUE: &str = "license-automation-alerts";
/// SQS queue receiving every event of `EVENT_SOURCE` on the bus.
pub const EVENTS_QUEUE: &str = "license-automation-events";

/// What the infrastructure flow created.
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

/// The infrastructure flow.
pub const FLOW: Flow = Flow {
    title: "infrastructure in moto (what template.yaml creates)",
    run: boxed,
};

fn boxed<'a>(context: &'a mut Context, recorder: &'a mut Recorder) -> FlowFuture<'a> {
    Box::pin(run(context, recorder))
}

async fn run(context: &mut Context, recorder: &mut Recorder) -> Result<()> {
    let clients = &context.clients;
    let event_bus_arn = recorder
        .step("create the event bus", async {
            let out = clients
                .events
                .create_event_bus()
                .name(EVENT_BUS)
                .send()
                .await
                .map_err(sdk_error)?;
            let arn = out.event_bus_arn().context("no EventBusArn")?.to_owned();
            done(arn.clone(), arn)
        })
        .await?;
    let state_table_arn = recorder
        .step("create the state table", create_state_table(clients))
        .await?;
    let dead_letter_queue_url = recorder
        .step("create the dead-letter queue", async {
            let url = create_queue(&clients.sqs, DEAD_LETTER_QUEUE).await?;
            done(url.clone(), url)
        })
        .await?;
    let (alert_topic_arn, alerts_queue_url) = recorder
        .step(
            "create the alert topic and subscribe a queue to it",
            async {
                let topic = clients
                    .sns
                    .create_topic()
                    .name(ALERT_TOPIC)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                let topic_arn = topic.topic_arn().context("no TopicArn")?.to_owned();
                let queue_url = create_queue(&clients.sqs, ALERTS_QUEUE).await?;
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
                let details = format!("topic {topic_arn}\nqueue {queue_url}");
                done((topic_arn, queue_url), details)
            },
        )
        .await?;
    let events_queue_url = recorder
        .step(
            "route the project's events to a queue the demo can read",
            async {
                let queue_url = route_rule_to_queue(
                    &clients.events,
                    &clients.sqs,
                    EVENTS_QUEUE,
                    Some(EVENT_BUS),
                    &serde_json::json!({"source": [EVENT_SOURCE]}),
                )
                .await?;
                let details = format!("rule {EVENTS_QUEUE}: source {EVENT_SOURCE} -> {queue_url}");
                done(queue_url, details)
            },
        )
        .await?;
    context.infra = Some(Infra {
        event_bus_arn,
        state_table_arn,
        dead_letter_queue_url,
        alert_topic_arn,
        alerts_queue_url,
        events_queue_url,
    });
    Ok(())
}

async fn create_state_table(clients: &Clients) -> Result<crate::report::Done<String>> {
    let arn = resources::create_state_table(&clients.dynamodb, STATE_TABLE).await?;
    let details = format!("{arn}\nkey {STATE_TABLE_KEY} (S), on demand, TTL on {STATE_TABLE_TTL}");
    done(arn, details)
}
