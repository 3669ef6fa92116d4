//! The event publisher end to end: the real EventBridge client against moto's server, with a
//! rule on the bus whose SQS target the test reads back; and the retry of failed entries,
//! whose responses moto cannot produce, with aws-smithy-mocks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
use aws_sdk_eventbridge::types::{PutEventsResultEntry, Target};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use license_automation::events_out::catalogue::{
    EntitlementOverage, LicenseStatusChanged, LimitedResource, ProjectEvent, SoftLimitCrossing,
};
use license_automation::events_out::publisher::EventPublisher;
use license_automation::retry::RetryPolicy;
use local_test_kit::moto::MotoServer;
use serde_json::{Value, json};
use time::macros::datetime;

const BUS: &str = "license-automation-test";
const SOURCE: &str = "license-automation";
const CONFIGURATION: &str =
    "arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-0123456789abcdef";

fn warning(consumed: i64) -> ProjectEvent {
    ProjectEvent::SoftLimitWarning(SoftLimitCrossing {
        occurrence_id: "warning-1".into(),
        resource_arn: CONFIGURATION.into(),
        resource_kind: LimitedResource::LicenseConfiguration,
        entitlement_name: None,
        account: "123456789012".into(),
        count: 100,
        consumed,
        percent: consumed as f64,
        warn_threshold_percent: 80,
        time: datetime!(2026-11-22 10:00 UTC),
    })
}

fn status_changed(status: String) -> ProjectEvent {
    ProjectEvent::LicenseStatusChanged(LicenseStatusChanged {
        occurrence_id: "status-1".into(),
        license_arn:
            "arn:aws:license-manager::111122223333:license:l-0123456789abcdef0123456789abcdef"
                .into(),
        account: "123456789012".into(),
        previous_status: Some("AVAILABLE".into()),
        status,
        version: Some("2".into()),
        time: datetime!(2026-11-22 10:00 UTC),
    })
}

/// A bus with a rule sending the project's events to a fresh SQS queue; returns the queue URL.
async fn bus_with_queue(
    moto: &MotoServer,
) -> (aws_sdk_eventbridge::Client, aws_sdk_sqs::Client, String) {
    let events = common::eventbridge(moto).await;
    let sqs = common::sqs(moto).await;
    let queue_url = sqs
        .create_queue()
        .queue_name("alerts")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .unwrap();
    events.create_event_bus().name(BUS).send().await.unwrap();
    events
        .put_rule()
        .name("alerts-to-queue")
        .event_bus_name(BUS)
        .event_pattern(json!({"source": [SOURCE]}).to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("alerts-to-queue")
        .event_bus_name(BUS)
        .targets(
            Target::builder()
                .id("queue")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    (events, sqs, queue_url)
}

/// Reads up to `expected` messages (waiting a little for stragglers) and parses their bodies.
async fn read_events(sqs: &aws_sdk_sqs::Client, queue_url: &str, expected: usize) -> Vec<Value> {
    let mut events = Vec::new();
    for _ in 0..20 {
        if events.len() >= expected {
            break;
        }
        let output = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for message in output.messages() {
            events.push(serde_json::from_str(message.body().unwrap()).unwrap());
        }
    }
    events
}

#[tokio::test]
async fn publishes_more_than_one_batch_and_a_rule_delivers_every_event() {
    let moto = common::moto().await;
    let (events, sqs, queue_url) = bus_with_queue(&moto).await;
    let publisher = EventPublisher::new(events, BUS, SOURCE);

    let published: Vec<ProjectEvent> = (81..=92).map(warning).collect();
    publisher.publish(&published).await.unwrap();

    let received = read_events(&sqs, &queue_url, published.len()).await;
    assert_eq!(received.len(), 12, "{received:#?}");
    let mut consumed: Vec<i64> = received
        .iter()
        .map(|event| {
            assert_eq!(event["source"], SOURCE);
            assert_eq!(event["detail-type"], "Soft Limit Warning");
            assert_eq!(event["resources"], json!([CONFIGURATION]));
            assert_eq!(event["detail"]["resourceArn"], CONFIGURATION);
            assert_eq!(event["detail"]["resourceKind"], "licenseConfiguration");
            assert_eq!(event["detail"]["count"], 100);
            assert_eq!(event["detail"]["warnThresholdPercent"], 80);
            assert_eq!(event["detail"]["time"], "2026-11-22T10:00:00Z");
            event["detail"]["consumed"].as_i64().unwrap()
        })
        .collect();
    consumed.sort_unstable();
    assert_eq!(consumed, (81..=92).collect::<Vec<_>>());
}

#[tokio::test]
async fn an_oversized_event_fails_by_name_while_the_others_are_published() {
    let moto = common::moto().await;
    let (events, sqs, queue_url) = bus_with_queue(&moto).await;
    let publisher = EventPublisher::new(events, BUS, SOURCE);

    let error = publisher
        .publish(&[
            status_changed("EXPIRED".into()),
            status_changed("X".repeat(300 * 1024)),
            warning(85),
        ])
        .await
        .unwrap_err();

    assert_eq!(error.total, 3);
    assert_eq!(error.failed.len(), 1);
    assert_eq!(error.failed[0].detail_type, "License Status Changed");
    assert_eq!(error.failed[0].error_code, "TooLarge");
    assert!(
        error
            .to_string()
            .starts_with("1 of 3 events were not published to license-automation-test"),
        "{error}"
    );
    let received = read_events(&sqs, &queue_url, 2).await;
    let mut types: Vec<&str> = received
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap())
        .collect();
    types.sort_unstable();
    assert_eq!(types, ["License Status Changed", "Soft Limit Warning"]);
}

#[tokio::test]
async fn entries_eventbridge_refuses_are_named_in_the_error() {
    let moto = common::moto().await;
    let (events, _sqs, _queue_url) = bus_with_queue(&moto).await;
    // An empty source is refused entry by entry (InvalidArgument), which retrying cannot fix.
    let publisher = EventPublisher::new(events, BUS, "");

    let error = publisher
        .publish(&[warning(90), warning(91)])
        .await
        .unwrap_err();

    assert_eq!(error.failed.len(), 2);
    for failed in &error.failed {
        assert_eq!(failed.error_code, "InvalidArgument");
        assert_eq!(failed.resources, [CONFIGURATION]);
        assert!(failed.error_message.contains("Source"), "{failed}");
    }
    assert!(error.to_string().contains("Soft Limit Warning"), "{error}");
}

fn accepted() -> PutEventsResultEntry {
    PutEventsResultEntry::builder().event_id("ok").build()
}

fn throttled() -> PutEventsResultEntry {
    PutEventsResultEntry::builder()
        .error_code("ThrottlingException")
        .error_message("Rate exceeded")
        .build()
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
    }
}

#[tokio::test]
async fn only_failed_entries_are_retried_until_they_succeed() {
    // The first call takes 81 and 83 and throttles 82; the retry must carry 82 alone.
    let retry_of_82 = mock!(aws_sdk_eventbridge::Client::put_events)
        .match_requests(|request| {
            let entries = request.entries();
            entries.len() == 1
                && entries[0]
                    .detail()
                    .is_some_and(|d| d.contains("\"consumed\":82"))
        })
        .then_output(|| PutEventsOutput::builder().entries(accepted()).build());
    let first_call = mock!(aws_sdk_eventbridge::Client::put_events)
        .match_requests(|request| request.entries().len() == 3)
        .then_output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(1)
                .entries(accepted())
                .entries(throttled())
                .entries(accepted())
                .build()
        });
    let client = mock_client!(
        aws_sdk_eventbridge,
        RuleMode::MatchAny,
        [&retry_of_82, &first_call]
    );
    let publisher = EventPublisher::new(client, BUS, SOURCE).with_retry(fast_retry());

    publisher
        .publish(&[warning(81), warning(82), warning(83)])
        .await
        .unwrap();

    assert_eq!(first_call.num_calls(), 1);
    assert_eq!(
        retry_of_82.num_calls(),
        1,
        "the throttled entry, and only it, is sent again"
    );
}

#[tokio::test]
async fn entries_still_failing_after_the_last_attempt_are_reported() {
    let rule = mock!(aws_sdk_eventbridge::Client::put_events)
        .sequence()
        .output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(1)
                .entries(accepted())
                .entries(throttled())
                .build()
        })
        .output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(1)
                .entries(throttled())
                .build()
        })
        .repeatedly()
        .build();
    let client = mock_client!(aws_sdk_eventbridge, [&rule]);
    let overage = ProjectEvent::EntitlementOverage(EntitlementOverage {
        occurrence_id: "overage-1".into(),
        license_arn: "arn:aws:license-manager::111122223333:license:l-1".into(),
        entitlement_name: "Seats".into(),
        unit: "Count".into(),
        account: "123456789012".into(),
        max_count: 10,
        consumed: 11,
        time: datetime!(2026-11-22 10:00 UTC),
    });
    let publisher = EventPublisher::new(client, BUS, SOURCE).with_retry(fast_retry());

    let error = publisher
        .publish(&[warning(81), overage])
        .await
        .unwrap_err();

    assert_eq!(rule.num_calls(), 3);
    assert_eq!(error.failed.len(), 1);
    assert_eq!(error.failed[0].detail_type, "Entitlement Overage");
    assert_eq!(error.failed[0].error_code, "ThrottlingException");
    assert!(
        error.failed[0].error_message.contains("after 3 attempts"),
        "{}",
        error.failed[0]
    );
}
