//! In-memory versions of the ports ([`crate::ports`]): the state table and the event sink of
//! a function's unit tests, with switches that make them fail the way DynamoDB and
//! EventBridge can, so the orchestration's failure paths run without moto.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use time::OffsetDateTime;

use crate::events_out::catalogue::ProjectEvent;
use crate::events_out::publisher::{FailedEntry, PublishError};
use crate::ports::{EventSink, StateTable};
use crate::state::{PendingIntent, StateError, StateKey, StateRecord, WriteOutcome};

/// The state table in memory: the same conditions and expiry as the DynamoDB table.
#[derive(Debug)]
pub struct MemoryStateTable {
    records: Mutex<HashMap<StateKey, StateRecord>>,
    unavailable: AtomicBool,
    missing: AtomicBool,
    clock: fn() -> OffsetDateTime,
}

impl Default for MemoryStateTable {
    fn default() -> Self {
        Self {
            records: Mutex::default(),
            unavailable: AtomicBool::new(false),
            missing: AtomicBool::new(false),
            clock: OffsetDateTime::now_utc,
        }
    }
}

impl MemoryStateTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the clock used for `updatedAt` and expiry.
    pub fn with_clock(mut self, clock: fn() -> OffsetDateTime) -> Self {
        self.clock = clock;
        self
    }

    /// Makes every call fail (`true`) as an unreachable table does, or work again.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// Makes every call fail (`true`) as a deleted table does (`ResourceNotFoundException`),
    /// or work again.
    pub fn set_missing(&self, missing: bool) {
        self.missing.store(missing, Ordering::SeqCst);
    }

    /// The live state of `key`, read past the switch.
    pub fn state(&self, key: &StateKey) -> Option<String> {
        let now = (self.clock)();
        self.lock()
            .get(key)
            .filter(|record| live(record, now))
            .map(|record| record.state.clone())
    }

    /// The live record of `key` (its intent included), read past the switch.
    pub fn record(&self, key: &StateKey) -> Option<StateRecord> {
        let now = (self.clock)();
        self.lock()
            .get(key)
            .filter(|record| live(record, now))
            .cloned()
    }

    /// Stores `state` for `key` unconditionally, without expiry (a test's starting point).
    pub fn insert(&self, key: StateKey, state: &str) {
        let record = StateRecord {
            state: state.to_owned(),
            updated_at: (self.clock)(),
            expires_at: None,
            intent: None,
        };
        self.lock().insert(key, record);
    }

    /// The keys with a live record, by partition key.
    pub fn keys(&self) -> Vec<String> {
        let now = (self.clock)();
        let mut keys: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, record)| live(record, now))
            .map(|(key, _)| key.partition_key())
            .collect();
        keys.sort();
        keys
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StateKey, StateRecord>> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn check(&self, operation: &'static str, key: &StateKey) -> Result<(), StateError> {
        if self.missing.load(Ordering::SeqCst) {
            return Err(StateError::Call {
                table: "memory".to_owned(),
                operation,
                key: key.partition_key(),
                code: Some("ResourceNotFoundException".to_owned()),
                message: "ResourceNotFoundException: Requested resource not found".to_owned(),
            });
        }
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StateError::Call {
                table: "memory".to_owned(),
                operation,
                key: key.partition_key(),
                code: None,
                message: "the in-memory table is switched to unavailable".to_owned(),
            });
        }
        Ok(())
    }
}

/// Claims compare as the table keeps them: to the millisecond.
fn same_ms(a: OffsetDateTime, b: OffsetDateTime) -> bool {
    a.unix_timestamp_nanos() / 1_000_000 == b.unix_timestamp_nanos() / 1_000_000
}

fn live(record: &StateRecord, now: OffsetDateTime) -> bool {
    record.expires_at.is_none_or(|at| at > now)
}

impl StateTable for MemoryStateTable {
    async fn get(&self, key: &StateKey) -> Result<Option<StateRecord>, StateError> {
        self.check("GetItem", key)?;
        let now = (self.clock)();
        Ok(self.lock().get(key).filter(|r| live(r, now)).cloned())
    }

    async fn get_many(
        &self,
        keys: &[StateKey],
    ) -> Result<HashMap<StateKey, Option<StateRecord>>, StateError> {
        let mut records = HashMap::with_capacity(keys.len());
        for key in keys {
            records.insert(key.clone(), self.get(key).await?);
        }
        Ok(records)
    }

    async fn put_if(
        &self,
        key: &StateKey,
        expected: Option<&str>,
        new_state: &str,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<WriteOutcome, StateError> {
        self.check("PutItem", key)?;
        let now = (self.clock)();
        let mut records = self.lock();
        let current = records
            .get(key)
            .filter(|r| live(r, now))
            .map(|r| r.state.as_str());
        if current != expected {
            return Ok(WriteOutcome::LostRace);
        }
        records.insert(
            key.clone(),
            StateRecord {
                state: new_state.to_owned(),
                updated_at: now,
                expires_at,
                intent: None,
            },
        );
        Ok(WriteOutcome::Written)
    }

    async fn put_intent(
        &self,
        key: &StateKey,
        expected: Option<&str>,
        new_state: &str,
        intent: &PendingIntent,
    ) -> Result<WriteOutcome, StateError> {
        self.check("PutItem", key)?;
        let now = (self.clock)();
        let mut records = self.lock();
        let current = records.get(key).filter(|r| live(r, now));
        if current.map(|r| r.state.as_str()) != expected
            || current.is_some_and(|r| r.intent.is_some())
        {
            return Ok(WriteOutcome::LostRace);
        }
        records.insert(
            key.clone(),
            StateRecord {
                state: new_state.to_owned(),
                updated_at: now,
                expires_at: None,
                intent: Some(intent.clone()),
            },
        );
        Ok(WriteOutcome::Written)
    }

    async fn reclaim(
        &self,
        key: &StateKey,
        held: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<WriteOutcome, StateError> {
        self.check("UpdateItem", key)?;
        let mut records = self.lock();
        match records
            .get_mut(key)
            .and_then(|record| record.intent.as_mut())
            .filter(|intent| same_ms(intent.claim_until, held))
        {
            Some(intent) => {
                intent.claim_until = until;
                Ok(WriteOutcome::Written)
            }
            None => Ok(WriteOutcome::LostRace),
        }
    }

    async fn settle(
        &self,
        key: &StateKey,
        held: OffsetDateTime,
        done: Option<(&str, OffsetDateTime)>,
    ) -> Result<WriteOutcome, StateError> {
        self.check("UpdateItem", key)?;
        let mut records = self.lock();
        let Some(record) = records.get_mut(key).filter(|record| {
            record
                .intent
                .as_ref()
                .is_some_and(|intent| same_ms(intent.claim_until, held))
        }) else {
            return Ok(WriteOutcome::LostRace);
        };
        record.intent = None;
        if let Some((state, expires_at)) = done {
            state.clone_into(&mut record.state);
            record.expires_at = Some(expires_at);
        }
        Ok(WriteOutcome::Written)
    }

    async fn expired_intents(
        &self,
        owner: &StateKey,
        by: OffsetDateTime,
    ) -> Result<Vec<(StateKey, StateRecord)>, StateError> {
        self.check("Query", owner)?;
        let mut found: Vec<(StateKey, StateRecord)> = self
            .lock()
            .iter()
            .filter(|(_, record)| {
                record
                    .intent
                    .as_ref()
                    .is_some_and(|intent| &intent.owner == owner && intent.claim_until <= by)
            })
            .map(|(key, record)| (key.clone(), record.clone()))
            .collect();
        found.sort_by_key(|(key, _)| key.partition_key());
        Ok(found)
    }

    async fn forget(&self, key: &StateKey) -> Result<(), StateError> {
        self.check("DeleteItem", key)?;
        self.lock().remove(key);
        Ok(())
    }
}

/// Which events [`MemoryEventSink`] refuses.
pub type Refusal = fn(&ProjectEvent) -> bool;

/// The event sink in memory: keeps what it was given, or refuses the events a test names.
#[derive(Debug, Default)]
pub struct MemoryEventSink {
    published: Mutex<Vec<ProjectEvent>>,
    calls: Mutex<Vec<usize>>,
    refuse: Mutex<Option<Refusal>>,
}

impl MemoryEventSink {
    /// A sink that takes every event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses (as EventBridge's failed entries) the events for which `refuse` is true;
    /// `None` takes every event again.
    pub fn refuse(&self, refuse: Option<Refusal>) {
        *self
            .refuse
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = refuse;
    }

    /// The events published so far, in order.
    pub fn published(&self) -> Vec<ProjectEvent> {
        self.published
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// How many events each call to publish carried, in order.
    pub fn calls(&self) -> Vec<usize> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The detail-types published so far, in order.
    pub fn detail_types(&self) -> Vec<&'static str> {
        self.published()
            .iter()
            .map(ProjectEvent::detail_type)
            .collect()
    }
}

impl EventSink for MemoryEventSink {
    async fn publish(&self, events: &[ProjectEvent]) -> Result<(), PublishError> {
        let refuse = *self
            .refuse
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(events.len());
        let mut failed = Vec::new();
        let mut published = self
            .published
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (index, event) in events.iter().enumerate() {
            if refuse.is_some_and(|refuse| refuse(event)) {
                failed.push(FailedEntry {
                    index,
                    detail_type: event.detail_type(),
                    resources: event.resources(),
                    error_code: "InternalFailure".to_owned(),
                    error_message: "refused by the in-memory sink".to_owned(),
                });
            } else {
                published.push(event.clone());
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(PublishError {
                bus: "memory".to_owned(),
                total: events.len(),
                failed,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Remembered;

    fn alert(resource: &str) -> StateKey {
        StateKey::Alert {
            resource: resource.to_owned(),
        }
    }

    #[tokio::test]
    async fn writes_are_conditional_on_the_state_read_and_expired_records_count_as_absent() {
        let table = MemoryStateTable::new();
        let key = alert("cfg-1");
        assert_eq!(
            table.put_if(&key, None, "warning", None).await.ok(),
            Some(WriteOutcome::Written)
        );
        assert_eq!(
            table.put_if(&key, None, "exceeded", None).await.ok(),
            Some(WriteOutcome::LostRace),
            "a second writer that saw no record loses"
        );
        assert_eq!(
            table
                .put_if(&key, Some("warning"), "exceeded", None)
                .await
                .ok(),
            Some(WriteOutcome::Written)
        );
        let past = OffsetDateTime::now_utc() - time::Duration::minutes(1);
        let seen = alert("seen");
        table.put_if(&seen, None, "seen", Some(past)).await.ok();
        assert_eq!(table.state(&seen), None, "expired");
        assert_eq!(
            table
                .remember_once(&seen, OffsetDateTime::now_utc() + time::Duration::days(1))
                .await
                .ok(),
            Some(Remembered::First)
        );
    }

    #[tokio::test]
    async fn an_unavailable_table_fails_every_call() {
        let table = MemoryStateTable::new();
        table.set_unavailable(true);
        assert!(table.get(&alert("x")).await.is_err());
        assert!(table.put_if(&alert("x"), None, "ok", None).await.is_err());
        assert!(table.forget(&alert("x")).await.is_err());
    }
}
