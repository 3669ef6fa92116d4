//! EventBridge's SNS target, locally. moto's EventBridge delivers to SQS queues, buses, log
//! groups and API destinations, not to SNS topics; a rule whose target is a topic (the
//! central stack's `AlertsRule`, the member stack's `AlertsRule`) becomes the same rule with
//! a queue as its target and a relay that publishes each event to the topic, as EventBridge
//! does: one `Publish` per event, the message being the event's JSON. A message whose publish
//! fails stays in the queue and is tried again once it is visible again (EventBridge retries
//! a failed delivery too). The target's `InputTransformer` is not applied: the message is the
//! whole event.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Result, ensure};
use local_test_kit::clients::sdk_error;
use local_test_kit::queues::route_rule_to_queue;
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::event_sources::{delete_handled, receive_batch};
use crate::template::{Locals, Template};

/// The clients a relay uses: EventBridge and SQS to route the rule, SNS to publish.
#[derive(Clone, Debug)]
pub struct RelayClients {
    /// EventBridge (the rule).
    pub events: aws_sdk_eventbridge::Client,
    /// SQS (the rule's queue).
    pub sqs: aws_sdk_sqs::Client,
    /// SNS (the topic).
    pub sns: aws_sdk_sns::Client,
}

/// A rule on moto whose events are published to an SNS topic.
pub struct TopicRelay {
    /// The rule's name (its queue has the same name).
    pub rule: String,
    /// The bus the rule is on (`None`: the default bus).
    pub bus: Option<String>,
    /// The rule's event pattern.
    pub pattern: Value,
    /// The topic events are published to.
    pub topic_arn: String,
    relayed: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl TopicRelay {
    /// Creates rule `rule` on `bus` (`None`: the default bus) with `pattern`, a queue as its
    /// target, and starts relaying what reaches the queue to `topic_arn`.
    pub async fn start(
        clients: &RelayClients,
        rule: &str,
        bus: Option<&str>,
        pattern: &Value,
        topic_arn: &str,
    ) -> Result<Self> {
        let queue_url =
            route_rule_to_queue(&clients.events, &clients.sqs, rule, bus, pattern).await?;
        let relayed = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(relay(
            clients.clone(),
            queue_url,
            topic_arn.to_owned(),
            relayed.clone(),
        ));
        Ok(Self {
            rule: rule.to_owned(),
            bus: bus.map(str::to_owned),
            pattern: pattern.clone(),
            topic_arn: topic_arn.to_owned(),
            relayed,
            task,
        })
    }

    /// Starts the relay of rule `logical_id` of a template's text (its `EventPattern`,
    /// `EventBusName` and first target's `Arn`, the topic, resolved against `locals`) under
    /// the local name `rule`.
    pub async fn start_for_template_rule(
        clients: &RelayClients,
        template: &str,
        locals: &Locals,
        logical_id: &str,
        rule: &str,
    ) -> Result<Self> {
        let pattern = Template::required_property(template, locals, logical_id, "/EventPattern")?;
        let bus = Template::required_string(template, locals, logical_id, "/EventBusName")?;
        let topic_arn = Template::required_string(template, locals, logical_id, "/Targets/0/Arn")?;
        ensure!(
            topic_arn.starts_with("arn:aws:sns:"),
            "the template's {logical_id} targets {topic_arn}, not an SNS topic"
        );
        Self::start(clients, rule, Some(&bus), &pattern, &topic_arn).await
    }

    /// How many events were published to the topic so far.
    pub fn relayed(&self) -> u64 {
        self.relayed.load(Ordering::Relaxed)
    }
}

/// The relay stops with its owner.
impl Drop for TopicRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Publishes each message of the rule's queue to the topic; deletes it once published.
async fn relay(
    clients: RelayClients,
    queue_url: String,
    topic_arn: String,
    relayed: Arc<AtomicU64>,
) {
    loop {
        let messages = receive_batch(&clients.sqs, &queue_url).await;
        for message in messages {
            let Some(body) = message.body() else {
                // EventBridge never sends one; nothing to publish, so it is not kept.
                tracing::warn!(queue = %queue_url, "the topic relay dropped a message without a body");
                delete_handled(&clients.sqs, &queue_url, &message).await;
                continue;
            };
            let published = clients
                .sns
                .publish()
                .topic_arn(&topic_arn)
                .message(body)
                .send()
                .await;
            if let Err(err) = published {
                // Left in the queue: it comes back once its visibility timeout ends.
                tracing::warn!(topic = %topic_arn, error = %sdk_error(err), "the topic relay cannot publish");
                continue;
            }
            relayed.fetch_add(1, Ordering::Relaxed);
            delete_handled(&clients.sqs, &queue_url, &message).await;
        }
    }
}

/// The event an SNS notification carries: the `Message` of the envelope a queue subscribed
/// to a topic receives (without raw message delivery), as JSON; `None` when `notification` is
/// not such an envelope or its message is not JSON.
pub fn notified_event(notification: &Value) -> Option<Value> {
    let message = notification.get("Message")?.as_str()?;
    serde_json::from_str(message).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn a_rule_whose_target_is_not_a_topic_is_refused_by_name() {
        let clients =
            local_test_kit::clients::Clients::connect("http://127.0.0.1:9", "http://127.0.0.1:9")
                .await;
        let clients = RelayClients {
            events: clients.events,
            sqs: clients.sqs,
            sns: clients.sns,
        };
        let template = "Resources:\n  QueueRule:\n    Type: AWS::Events::Rule\n    Properties:\n      \
                        EventBusName: bus\n      EventPattern: {source: [x]}\n      Targets:\n        \
                        - {Id: q, Arn: 'arn:aws:sqs:us-east-1:123456789012:q'}\n";
        let locals = Locals::default();
        let refused =
            TopicRelay::start_for_template_rule(&clients, template, &locals, "QueueRule", "r")
                .await;
        let message = refused
            .err()
            .map(|err| format!("{err:#}"))
            .unwrap_or_default();
        assert!(
            message.contains("QueueRule targets arn:aws:sqs:"),
            "{message}"
        );
        let missing =
            TopicRelay::start_for_template_rule(&clients, template, &locals, "NoSuchRule", "r")
                .await;
        let message = missing
            .err()
            .map(|err| format!("{err:#}"))
            .unwrap_or_default();
        assert!(
            message.contains("NoSuchRule has no /EventPattern"),
            "{message}"
        );
    }

    #[test]
    fn the_event_is_read_back_from_the_notification_envelope() {
        let event = json!({"detail-type": "Soft Limit Warning", "account": "210000000001"});
        let envelope = json!({"Type": "Notification", "Message": event.to_string()});
        assert_eq!(notified_event(&envelope), Some(event));
        assert_eq!(notified_event(&json!({"Message": "not json"})), None);
        assert_eq!(notified_event(&json!({"detail-type": "x"})), None);
    }
}
