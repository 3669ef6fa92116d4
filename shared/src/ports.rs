//! Ports: the state table and the event sink as small traits, so that a function's
//! orchestration runs against the DynamoDB table and the EventBridge bus in production and
//! against the in-memory versions of [`crate::memory`] in unit tests.
//!
//! [`StateTable`] keeps the table's contract (README, "State"): records keyed by
//! [`StateKey`], conditional writes that compare the state the caller last saw, expiry, and
//! the outbox intents records carry ([`crate::outbox`] is the one way the functions publish).

use std::collections::HashMap;
use std::future::Future;

use time::OffsetDateTime;

use crate::config::CommonConfig;
use crate::events_out::catalogue::ProjectEvent;
use crate::events_out::publisher::{EventPublisher, PublishError};
use crate::state::{
    PendingIntent, Remembered, StateError, StateKey, StateRecord, StateStore, WriteOutcome,
};

/// The state table: read, read many, write conditionally, remember once, forget.
pub trait StateTable: Send + Sync {
    /// The live record of `key`, or `None` when there is none or it expired.
    fn get(
        &self,
        key: &StateKey,
    ) -> impl Future<Output = Result<Option<StateRecord>, StateError>> + Send;

    /// The live records of many keys; a key without one maps to `None`.
    fn get_many(
        &self,
        keys: &[StateKey],
    ) -> impl Future<Output = Result<HashMap<StateKey, Option<StateRecord>>, StateError>> + Send;

    /// Writes `new_state` for `key` if its live state is `expected` (`None`: no live record).
    fn put_if(
        &self,
        key: &StateKey,
        expected: Option<&str>,
        new_state: &str,
        expires_at: Option<OffsetDateTime>,
    ) -> impl Future<Output = Result<WriteOutcome, StateError>> + Send;

    /// Deletes `key`'s record.
    fn forget(&self, key: &StateKey) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Writes `new_state` for `key` with `intent` pending on it, if the live state is
    /// `expected` (`None`: no live record) and no intent is pending on the record.
    fn put_intent(
        &self,
        key: &StateKey,
        expected: Option<&str>,
        new_state: &str,
        intent: &PendingIntent,
    ) -> impl Future<Output = Result<WriteOutcome, StateError>> + Send;

    /// Moves the claim of `key`'s intent from `held` to `until`.
    fn reclaim(
        &self,
        key: &StateKey,
        held: OffsetDateTime,
        until: OffsetDateTime,
    ) -> impl Future<Output = Result<WriteOutcome, StateError>> + Send;

    /// Removes `key`'s intent whose claim is `held`; `done`: the state and expiry the record
    /// keeps afterwards (else it keeps its own).
    fn settle(
        &self,
        key: &StateKey,
        held: OffsetDateTime,
        done: Option<(&str, OffsetDateTime)>,
    ) -> impl Future<Output = Result<WriteOutcome, StateError>> + Send;

    /// The records with an intent of `owner` whose claim ended by `by`.
    fn expired_intents(
        &self,
        owner: &StateKey,
        by: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<(StateKey, StateRecord)>, StateError>> + Send;

    /// Records `key` once, until `expires_at`; says whether this call was the first.
    fn remember_once(
        &self,
        key: &StateKey,
        expires_at: OffsetDateTime,
    ) -> impl Future<Output = Result<Remembered, StateError>> + Send {
        async move {
            Ok(
                match self.put_if(key, None, "seen", Some(expires_at)).await? {
                    WriteOutcome::Written => Remembered::First,
                    WriteOutcome::LostRace => Remembered::AlreadySeen,
                },
            )
        }
    }
}

/// Where the project's events go.
pub trait EventSink: Send + Sync {
    /// Publishes `events`; errs naming every event that was not published.
    fn publish(
        &self,
        events: &[ProjectEvent],
    ) -> impl Future<Output = Result<(), PublishError>> + Send;
}

impl StateTable for StateStore {
    fn get(
        &self,
        key: &StateKey,
    ) -> impl Future<Output = Result<Option<StateRecord>, StateError>> + Send {
        StateStore::get(self, key)
    }

    fn get_many(
        &self,
        keys: &[StateKey],
    ) -> impl Future<Output = Result<HashMap<StateKey, Option<StateRecord>>, StateError>> + Send
    {
        StateStore::get_many(self, keys)
    }

    fn put_if(
        &self,
        key: &StateKey,
        expected: Option<&str>,
        new_state: &str,
        expires_at: Option<OffsetDateTime>,
    ) -> impl Future<Output = Result<WriteOutcome, StateError>> + Send {
        StateStore::put_if(self, key, expected, new_state, expires_at)
    }

    fn forget(&self, key: &StateKey) -> impl Future<Output = Result<(), StateError>> + Send {
        StateStore::forget(self, key)
    }

    fn put_intent(
        &self,
        key: &StateKey,
        expected: Option<&str>,
        new_state: &str,
        intent: &PendingIntent,
    ) -> impl Future<Output = Result<WriteOutcome, StateError>> + Send {
        StateStore::put_intent(self, key, expected, new_state, intent)
    }

    fn reclaim(
        &self,
        key: &StateKey,
        held: OffsetDateTime,
        until: OffsetDateTime,
    ) -> impl Future<Output = Result<WriteOutcome, StateError>> + Send {
        StateStore::reclaim(self, key, held, until)
    }

    fn settle(
        &self,
        key: &StateKey,
        held: OffsetDateTime,
        done: Option<(&str, OffsetDateTime)>,
    ) -> impl Future<Output = Result<WriteOutcome, StateError>> + Send {
        StateStore::settle(self, key, held, done)
    }

    fn expired_intents(
        &self,
        owner: &StateKey,
        by: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<(StateKey, StateRecord)>, StateError>> + Send {
        StateStore::expired_intents(self, owner, by)
    }
}

impl EventSink for EventPublisher {
    fn publish(
        &self,
        events: &[ProjectEvent],
    ) -> impl Future<Output = Result<(), PublishError>> + Send {
        EventPublisher::publish(self, events)
    }
}

/// The AWS adapters of both ports: the DynamoDB state table and the EventBridge publisher of
/// `common` (`STATE_TABLE`, `EVENT_BUS_NAME`, `EVENT_SOURCE`).
pub fn aws_adapters(
    common: &CommonConfig,
    events: aws_sdk_eventbridge::Client,
    dynamodb: aws_sdk_dynamodb::Client,
) -> (StateStore, EventPublisher) {
    (
        StateStore::new(dynamodb, &common.state_table),
        EventPublisher::from_config(events, common),
    )
}
