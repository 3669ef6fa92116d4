//! Creates in moto what the SAM template creates for the functions: the project's event bus,
//! the state table, a dead-letter queue, the alert topic, and two queues that let the demo
//! (and a developer) read what was emitted.

use anyhow::Result;
use local_test_kit::queues::create_queue;
use local_test_kit::resources::{
    self, DEAD_LETTER_QUEUE, EVENT_SOURCE, EVENTS_QUEUE, Infra, STATE_TABLE, STATE_TABLE_KEY,
    STATE_TABLE_TTL,
};

use crate::context::{Context, Flow, FlowFuture};
use crate::report::{Recorder, done};

/// The infrastructure flow.
pub const FLOW: Flow = Flow {
    title: "infrastructure in moto (what template.yaml creates)",
    steps: boxed,
};

fn boxed<'a>(context: &'a mut Context, recorder: &'a mut Recorder) -> FlowFuture<'a> {
    Box::pin(run(context, recorder))
}

async fn run(context: &mut Context, recorder: &mut Recorder) -> Result<()> {
    let clients = &context.clients;
    let event_bus_arn = recorder
        .step("create the event bus", async {
            let arn = resources::create_bus(&clients.events).await?;
            done(arn.clone(), arn)
        })
        .await?;
    let state_table_arn = recorder
        .step("create the state table", async {
            let arn = resources::create_state_table(&clients.dynamodb, STATE_TABLE).await?;
            let details =
                format!("{arn}\nkey {STATE_TABLE_KEY} (S), on demand, TTL on {STATE_TABLE_TTL}");
            done(arn, details)
        })
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
                let (topic_arn, queue_url) = resources::create_alert_topic(clients).await?;
                let details = format!("topic {topic_arn}\nqueue {queue_url}");
                done((topic_arn, queue_url), details)
            },
        )
        .await?;
    let events_queue_url = recorder
        .step(
            "route the project's events to a queue the demo can read",
            async {
                let queue_url = resources::route_events_to_queue(clients).await?;
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
