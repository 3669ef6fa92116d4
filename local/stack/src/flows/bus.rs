//! The project's bus, as the demo shows it: every event the functions emitted, read back
//! from the queue the infrastructure flow subscribed to it.

use std::time::Duration;

use anyhow::Result;
use local_test_kit::bus::{describe_all, receive};

use crate::context::{Context, Flow, FlowFuture};
use crate::report::{Recorder, done};

/// The bus flow: prints what is still waiting on the events queue.
pub const FLOW: Flow = Flow {
    title: "events on the project's bus",
    steps: boxed,
};

fn boxed<'a>(context: &'a mut Context, recorder: &'a mut Recorder) -> FlowFuture<'a> {
    Box::pin(run(context, recorder))
}

async fn run(context: &mut Context, recorder: &mut Recorder) -> Result<()> {
    let sqs = context.clients.sqs.clone();
    let queue_url = context.events_queue_url()?;
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
