//! Ports: the state table and the event sink as small traits, so that a function's
//! orchestration runs against the DynamoDB table and the EventBridge bus in production and
//! against the in-memory versions of [`crate::memory`] in unit tests.
//!
//! [`StateTable`] keeps the table's contract (README, "State"): records keyed by
//! [`StateKey`], conditional writes that compare the state the caller last saw, and expiry.
//! Conditional writes with an expiry are also what an outbox needs (an intent whose claim
//! expires at the invocation's deadline), so one can sit behind this port later.
//!
//! [`PendingEvent`] and [`publish_pending`] are the one way the functions publish an event
//! whose "once" record is already written: a failed publish takes the record back ([`Undo`]),
//! so the retry sends it.

use std::collections::HashMap;
use std::future::Future;

use time::OffsetDateTime;

use crate::config::CommonConfig;
use crate::events_out::catalogue::ProjectEvent;
use crate::events_out::publisher::{EventPublisher, FailedEntry, PublishError};
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

/// How to take back a state write whose event could not be published, so that a retry of
/// the invocation writes it again and sends the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    /// Delete a "notified" record.
    Forget(StateKey),
    /// Put a record back from `written` to `previous` (`None`: delete it).
    Restore {
        /// The record.
        key: StateKey,
        /// The state this invocation wrote.
        written: String,
        /// What it held before (`None`: no record).
        previous: Option<String>,
    },
}

impl Undo {
    /// Takes the write back; a record changed since by someone else is left as it is.
    pub async fn apply(&self, state: &impl StateTable) -> Result<(), StateError> {
        match self {
            Self::Forget(key)
            | Self::Restore {
                key,
                previous: None,
                ..
            } => state.forget(key).await,
            Self::Restore {
                key,
                written,
                previous: Some(previous),
            } => state
                .put_if(key, Some(written), previous, None)
                .await
                .map(|_| ()),
        }
    }
}

/// An event that is due, with how to take back its record if it cannot be published.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEvent {
    /// `None` when nothing was written (the state table was unavailable: the event goes out
    /// anyway, one repeat rather than silence).
    pub undo: Option<Undo>,
    /// The event.
    pub event: ProjectEvent,
}

/// What [`publish_pending`] did.
#[derive(Debug, Default)]
pub struct Delivery {
    /// The events published.
    pub sent: Vec<ProjectEvent>,
    /// The entries not published (their records were taken back).
    pub failed: Vec<FailedEntry>,
}

/// Publishes `pending` through `sink`; the record of each event that was not published is
/// taken back through `state` (a failure to do so is logged: that event is then not sent
/// again).
pub async fn publish_pending(
    sink: &impl EventSink,
    state: &impl StateTable,
    pending: Vec<PendingEvent>,
) -> Delivery {
    if pending.is_empty() {
        return Delivery::default();
    }
    let events: Vec<ProjectEvent> = pending.iter().map(|p| p.event.clone()).collect();
    let failed = match sink.publish(&events).await {
        Ok(()) => Vec::new(),
        Err(error) => error.failed,
    };
    let mut delivery = Delivery::default();
    for item in pending {
        let entry = failed.iter().find(|entry| {
            entry.detail_type == item.event.detail_type()
                && entry.resources == item.event.resources()
        });
        match entry {
            None => delivery.sent.push(item.event),
            Some(entry) => {
                if let Some(undo) = &item.undo
                    && let Err(error) = undo.apply(state).await
                {
                    tracing::warn!(error = %error, "state table: could not take back the record of an unpublished event");
                }
                delivery.failed.push(entry.clone());
            }
        }
    }
    delivery
}
