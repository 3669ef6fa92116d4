//! The state table through the real DynamoDB client against moto's server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use license_automation::state::{Remembered, StateError, StateKey, StateStore, WriteOutcome};
use local_test_kit::moto::MotoServer;
use time::{Duration, OffsetDateTime};

const TABLE: &str = "license-automation-state";

async fn store(moto: &MotoServer) -> (Client, StateStore) {
    let client = common::dynamodb(moto).await;
    client
        .create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    (client.clone(), StateStore::new(client, TABLE))
}

fn alert() -> StateKey {
    StateKey::Alert {
        resource: "arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-1"
            .into(),
    }
}

#[tokio::test]
async fn state_moves_only_from_the_state_the_writer_saw() {
    let moto = common::moto().await;
    let (_, store) = store(&moto).await;
    let key = alert();

    assert_eq!(store.get(&key).await.unwrap(), None);
    assert_eq!(
        store.put_if(&key, None, "ok", None).await.unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(
        store
            .put_if(&key, Some("ok"), "warning", None)
            .await
            .unwrap(),
        WriteOutcome::Written
    );

    let record = store.get(&key).await.unwrap().unwrap();
    assert_eq!(record.state, "warning");
    assert_eq!(record.expires_at, None);
    assert!(OffsetDateTime::now_utc() - record.updated_at < Duration::minutes(1));
}

#[tokio::test]
async fn the_second_of_two_racing_writers_loses_and_changes_nothing() {
    let moto = common::moto().await;
    let (_, store) = store(&moto).await;
    let key = alert();
    store.put_if(&key, None, "ok", None).await.unwrap();

    // Both invocations read "ok" and want to raise an alert; only one may.
    let (first, second) = tokio::join!(
        store.put_if(&key, Some("ok"), "warning", None),
        store.put_if(&key, Some("ok"), "exceeded", None),
    );
    let outcomes = [first.unwrap(), second.unwrap()];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == WriteOutcome::Written)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == WriteOutcome::LostRace)
            .count(),
        1
    );
    let winner = if outcomes[0] == WriteOutcome::Written {
        "warning"
    } else {
        "exceeded"
    };
    assert_eq!(store.get(&key).await.unwrap().unwrap().state, winner);

    // A writer that expected no record at all loses too.
    assert_eq!(
        store.put_if(&key, None, "ok", None).await.unwrap(),
        WriteOutcome::LostRace
    );
    assert_eq!(store.get(&key).await.unwrap().unwrap().state, winner);
}

#[tokio::test]
async fn remember_once_says_first_exactly_once_until_it_expires() {
    let moto = common::moto().await;
    let (client, store) = store(&moto).await;
    let key = StateKey::ProcessedEvent {
        id: "7bf73129-1428-4cd3-a780-95db273d1602".into(),
    };
    let in_a_day = OffsetDateTime::now_utc() + Duration::days(1);

    assert_eq!(
        store.remember_once(&key, in_a_day).await.unwrap(),
        Remembered::First
    );
    assert_eq!(
        store.remember_once(&key, in_a_day).await.unwrap(),
        Remembered::AlreadySeen
    );

    let item = client
        .get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S(key.partition_key()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        item["expiresAt"],
        AttributeValue::N(in_a_day.unix_timestamp().to_string())
    );

    // Two days later the record has expired (DynamoDB may not have deleted it yet): the event
    // may be processed again.
    let later = store
        .clone()
        .with_clock(|| OffsetDateTime::now_utc() + Duration::days(2));
    assert_eq!(later.get(&key).await.unwrap(), None);
    assert_eq!(
        later
            .remember_once(&key, OffsetDateTime::now_utc() + Duration::days(3))
            .await
            .unwrap(),
        Remembered::First
    );
}

#[tokio::test]
async fn an_expected_state_must_be_live() {
    let moto = common::moto().await;
    let (_, store) = store(&moto).await;
    let key = alert();
    // No record at all: a writer that expected "ok" saw something that is not there.
    assert_eq!(
        store
            .put_if(&key, Some("ok"), "warning", None)
            .await
            .unwrap(),
        WriteOutcome::LostRace
    );
    assert_eq!(store.get(&key).await.unwrap(), None);

    // A record in "ok" whose TTL has passed but that DynamoDB has not deleted yet is gone.
    let an_hour_ago = OffsetDateTime::now_utc() - Duration::hours(1);
    let soon = OffsetDateTime::now_utc() + Duration::minutes(1);
    let earlier = store
        .clone()
        .with_clock(|| OffsetDateTime::now_utc() - Duration::hours(2));
    assert_eq!(
        earlier
            .put_if(&key, None, "ok", Some(an_hour_ago))
            .await
            .unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(
        store
            .put_if(&key, Some("ok"), "warning", None)
            .await
            .unwrap(),
        WriteOutcome::LostRace
    );
    assert_eq!(
        store.put_if(&key, None, "ok", Some(soon)).await.unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(
        store
            .put_if(&key, Some("ok"), "warning", None)
            .await
            .unwrap(),
        WriteOutcome::Written
    );
}

#[tokio::test]
async fn forgetting_lets_failed_work_be_done_again() {
    let moto = common::moto().await;
    let (_, store) = store(&moto).await;
    let key = StateKey::ProcessedEvent { id: "e-2".into() };
    let tomorrow = OffsetDateTime::now_utc() + Duration::days(1);
    assert_eq!(
        store.remember_once(&key, tomorrow).await.unwrap(),
        Remembered::First
    );
    store.forget(&key).await.unwrap();
    assert_eq!(
        store.remember_once(&key, tomorrow).await.unwrap(),
        Remembered::First
    );
}

#[tokio::test]
async fn a_malformed_item_is_an_error_that_names_it() {
    let moto = common::moto().await;
    let (client, store) = store(&moto).await;
    let key = alert();
    client
        .put_item()
        .table_name(TABLE)
        .item("pk", AttributeValue::S(key.partition_key()))
        .item("state", AttributeValue::N("3".into()))
        .send()
        .await
        .unwrap();
    let error = store.get(&key).await.unwrap_err();
    assert!(matches!(error, StateError::Malformed { .. }), "{error:?}");
    assert!(
        error.to_string().contains("state is not a string"),
        "{error}"
    );
}

#[tokio::test]
async fn a_missing_table_is_an_error_not_silence() {
    let moto = common::moto().await;
    let store = StateStore::new(common::dynamodb(&moto).await, "no-such-table");
    let error = store.get(&alert()).await.unwrap_err();
    assert!(
        matches!(
            error,
            StateError::Call {
                operation: "GetItem",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("no-such-table"), "{error}");
}

#[tokio::test]
async fn many_records_are_read_in_batches_like_one_at_a_time() {
    let moto = common::moto().await;
    let (client, store) = store(&moto).await;
    // 250 keys: three BatchGetItem calls of at most 100. Every third has a record, one has
    // expired, one is malformed.
    let keys: Vec<StateKey> = (0..250)
        .map(|n| StateKey::Alert {
            resource: format!("configuration-{n}"),
        })
        .collect();
    for key in keys.iter().step_by(3) {
        store.put_if(key, None, "warning", None).await.unwrap();
    }
    let yesterday = OffsetDateTime::now_utc() - Duration::days(1);
    store
        .put_if(&keys[1], None, "exceeded", Some(yesterday))
        .await
        .unwrap();
    client
        .put_item()
        .table_name(TABLE)
        .item("pk", AttributeValue::S(keys[2].partition_key()))
        .item("state", AttributeValue::N("3".into()))
        .send()
        .await
        .unwrap();

    let mut asked = keys.clone();
    asked.push(keys[0].clone()); // a repeated key is read once
    let records = store.get_many(&asked).await.unwrap();

    assert_eq!(records.len(), keys.len() - 1, "all but the malformed one");
    assert!(!records.contains_key(&keys[2]));
    assert!(
        store.get(&keys[2]).await.is_err(),
        "get names the malformed item"
    );
    for (n, key) in keys.iter().enumerate().filter(|(n, _)| *n != 2) {
        assert_eq!(
            records[key],
            store.get(key).await.unwrap(),
            "key {n}: a batch read agrees with a single read"
        );
    }
    assert_eq!(records[&keys[0]].as_ref().unwrap().state, "warning");
    assert_eq!(records[&keys[1]], None, "expired");
    assert_eq!(records[&keys[4]], None, "absent");
}

#[tokio::test]
async fn an_intent_is_found_through_the_outbox_index_only_once_its_claim_ended_and_until_settled() {
    use license_automation::state::PendingIntent;
    let moto = common::moto().await;
    let client = common::dynamodb(&moto).await;
    // The table as the template makes it, with the sparse outbox index.
    local_test_kit::resources::create_state_table(&client, TABLE)
        .await
        .unwrap();
    let store = StateStore::new(client, TABLE);
    let owner = StateKey::Outbox {
        owner: "license-events".into(),
    };
    let now = OffsetDateTime::now_utc();
    let key = |n: u32| StateKey::Notified {
        arn: format!("arn:aws:license-manager::111122223333:license:l-{n}"),
        version: "1#expiring".into(),
    };
    let intent = |until| PendingIntent {
        owner: owner.clone(),
        claim_until: until,
        body: r#"{"events":[]}"#.into(),
    };
    let ended = now - Duration::seconds(5);
    let live = now + Duration::minutes(5);
    assert_eq!(
        store
            .put_intent(&key(1), None, "pending", &intent(ended))
            .await
            .unwrap(),
        WriteOutcome::Written
    );
    store
        .put_intent(&key(2), None, "pending", &intent(live))
        .await
        .unwrap();
    // A plain record never shows in the index.
    store.put_if(&key(3), None, "sent", None).await.unwrap();
    assert_eq!(
        store
            .put_intent(&key(1), None, "pending", &intent(live))
            .await
            .unwrap(),
        WriteOutcome::LostRace,
        "one intent per record"
    );
    let found = store.expired_intents(&owner, now).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, key(1));
    let pending = found[0].1.intent.clone().unwrap();
    assert_eq!(pending.owner, owner);
    assert_eq!(
        pending.claim_until.unix_timestamp_nanos() / 1_000_000,
        ended.unix_timestamp_nanos() / 1_000_000
    );
    let other = StateKey::Outbox {
        owner: "grant-acceptor".into(),
    };
    assert!(store.expired_intents(&other, now).await.unwrap().is_empty());

    // Taken over by one invocation only, then settled as sent (out of the index).
    assert_eq!(
        store.reclaim(&key(1), ended, live).await.unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(
        store.reclaim(&key(1), ended, live).await.unwrap(),
        WriteOutcome::LostRace
    );
    let day = now + Duration::days(1);
    assert_eq!(
        store
            .settle(&key(1), live, Some(("sent", day)))
            .await
            .unwrap(),
        WriteOutcome::Written
    );
    let record = store.get(&key(1)).await.unwrap().unwrap();
    assert_eq!(record.state, "sent");
    assert_eq!(record.intent, None);
    assert_eq!(
        record.expires_at.map(OffsetDateTime::unix_timestamp),
        Some(day.unix_timestamp())
    );
    let later = now + Duration::minutes(10);
    let found = store.expired_intents(&owner, later).await.unwrap();
    assert_eq!(
        found.into_iter().map(|(key, _)| key).collect::<Vec<_>>(),
        [key(2)],
        "only the record still pending"
    );
}

#[tokio::test]
async fn racing_events_without_an_arn_coalesce_into_one_sweep_on_dynamodb() {
    use license_automation::coalesce::{self, End, Start};
    let moto = common::moto().await;
    let (_, store) = store(&moto).await;
    let key = StateKey::Sweep {
        owner: "license-events".into(),
    };
    let deadline = OffsetDateTime::now_utc() + Duration::minutes(5);
    // Eight events at once through the real client: exactly one sweeps.
    let mut racing = tokio::task::JoinSet::new();
    for n in 1..=8 {
        let (store, key) = (store.clone(), key.clone());
        racing.spawn(async move {
            let event = format!("e-{n}");
            let start = coalesce::start(&store, &key, &event, deadline)
                .await
                .unwrap();
            (event, start)
        });
    }
    let starts = racing.join_all().await;
    let sweepers: Vec<&String> = starts
        .iter()
        .filter(|(_, start)| *start == Start::Sweep)
        .map(|(event, _)| event)
        .collect();
    assert_eq!(sweepers.len(), 1, "{starts:?}");
    let sweeper = sweepers[0].clone();
    for (_, start) in starts.iter().filter(|(_, start)| *start != Start::Sweep) {
        assert_eq!(
            start,
            &Start::Coalesced {
                into: sweeper.clone()
            }
        );
    }
    // It sweeps once more for the seven, then the record is idle.
    assert_eq!(
        coalesce::end(&store, &key, &sweeper, deadline)
            .await
            .unwrap(),
        End::Again
    );
    assert_eq!(
        coalesce::end(&store, &key, &sweeper, deadline)
            .await
            .unwrap(),
        End::Done
    );
    assert_eq!(store.get(&key).await.unwrap().unwrap().state, "idle");
}
