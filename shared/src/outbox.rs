//! The outbox every emitting function goes through: an effect (accept, activate, reject,
//! harden) and the events that announce it are first recorded as an intent, then carried out,
//! published and marked sent, so that no crash, timeout or failed PutEvents loses an event
//! (README, "Reliability").
//!
//! An intent lives on the record that says the work is done (a `notified#` record, a limit's
//! `alert#` level), like an in-progress idempotency record: it holds the events to send
//! (serialised), the effect to carry out, and a claim that ends at the deadline of the
//! invocation that wrote it, never later. In order:
//!
//! 1. [`Outbox::record`] writes the record with the intent, conditionally: a record that moved
//!    on means another invocation did the work ([`Recorded::Done`]); a record holding another
//!    invocation's intent fails this one ([`Recorded::Busy`]), so that Lambda retries after it.
//! 2. The caller carries out the effect.
//! 3. [`Outbox::deliver`] publishes the events of many claims at once (EventBridge's failed
//!    entries are matched by position) and settles each claim whose events all went out: the
//!    intent is removed and a `notified#` record becomes `sent` for its lifetime. A claim whose
//!    events did not all go out is released (its claim ends now).
//! 4. Every invocation first calls [`Outbox::redrive`]: each intent of its function whose claim
//!    ended (a crash, a timeout, a release) is taken over with this invocation's claim, its
//!    effect carried out again through [`Effects`] (idempotent), whatever the resource's status
//!    is now, and its events delivered.
//!
//! Delivery is at least once: a crash between publishing and settling sends the events again,
//! with the same `occurrenceId`. When the state table itself fails, the effect is carried out
//! and the events published without an intent: one repeated event rather than silence.
//!
//! Which intents a decision of the table's make is the pure [`decide_lost_race`] and
//! [`settled`]; the invocation's
//! [`Budget`](crate::deadline::Budget) says when it stops starting new work so that its
//! outbox is flushed before its deadline.

use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::events_out::catalogue::ProjectEvent;
use crate::events_out::publisher::FailedEntry;
use crate::ports::{EventSink, StateTable};
use crate::state::{PendingIntent, StateError, StateKey, StateRecord, WriteOutcome};

/// The state of a `notified#` record while its intent is pending.
pub const PENDING: &str = "pending";
/// The state of a `notified#` record once its events were published.
pub const SENT: &str = "sent";

/// What an invocation is to do, before it does it.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    /// The record it lives on (`notified#…`, `alert#…`).
    pub key: StateKey,
    /// The effect to carry out, in the owning function's words (`None`: a notification).
    pub effect: Option<Value>,
    /// The events that announce it.
    pub events: Vec<ProjectEvent>,
    /// How long the record lives once sent, as [`SENT`] (a `notified#` record); `None`: the
    /// record keeps the state it was recorded with (an `alert#` level).
    pub sent_for: Option<time::Duration>,
}

/// An intent as the table keeps it (the record's `intent` member, JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IntentBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    effect: Option<Value>,
    events: Vec<StoredEvent>,
    /// Seconds the record lives once sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sent_for_seconds: Option<i64>,
}

/// One event of an intent: its detail-type and `detail`, as they go on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredEvent {
    detail_type: String,
    detail: Value,
}

impl IntentBody {
    fn of(intent: &Intent) -> Self {
        Self {
            effect: intent.effect.clone(),
            events: intent
                .events
                .iter()
                .map(|event| StoredEvent {
                    detail_type: event.detail_type().to_owned(),
                    detail: event.detail(),
                })
                .collect(),
            sent_for_seconds: intent.sent_for.map(|ttl| ttl.whole_seconds()),
        }
    }

    /// The intent kept on `key`'s record; errs naming what cannot be read.
    fn read(key: StateKey, body: &str) -> Result<Intent, String> {
        let body: Self = serde_json::from_str(body)
            .map_err(|error| format!("intent is not readable: {error}"))?;
        let events = body
            .events
            .into_iter()
            .map(|event| ProjectEvent::from_detail(&event.detail_type, event.detail))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Intent {
            key,
            effect: body.effect,
            events,
            sent_for: body.sent_for_seconds.map(time::Duration::seconds),
        })
    }
}

/// An intent this invocation holds (or carries out without a record, when the table failed).
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// What it is to do.
    pub intent: Intent,
    /// The claim as recorded; `None`: nothing was recorded.
    held: Option<OffsetDateTime>,
}

impl Claim {
    /// Adds events that the effect's outcome calls for (`Soft Limit Enforced`, or `… Failed`).
    pub fn announce(&mut self, event: ProjectEvent) {
        self.intent.events.push(event);
    }
}

/// What [`Outbox::record`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// Recorded: carry out the effect, then [`Outbox::deliver`] the claim.
    Claimed(Claim),
    /// The record moved on (another invocation recorded the same work first): nothing to do.
    Done,
    /// Another invocation's intent is pending on the record: this invocation fails, so that
    /// Lambda retries it after that claim ends (`until`).
    Busy {
        /// When that claim ends.
        until: OffsetDateTime,
    },
}

/// What a lost conditional write means, from the record read back (`None`: no live record).
pub fn decide_lost_race(record: Option<&StateRecord>) -> Recorded {
    match record.and_then(|record| record.intent.as_ref()) {
        Some(intent) => Recorded::Busy {
            until: intent.claim_until,
        },
        None => Recorded::Done,
    }
}

/// What settling a claim whose events went out leaves on the record: `sent` for `sent_for`
/// (a `notified#` record), or its own state (`None`).
pub fn settled(
    sent_for: Option<time::Duration>,
    now: OffsetDateTime,
) -> Option<(&'static str, OffsetDateTime)> {
    sent_for.map(|ttl| (SENT, now + ttl))
}

/// What did not get done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// An event was not published (its intent is kept).
    Publish,
    /// An intent's effect (accept, activate, reject, harden) failed.
    Effect,
    /// The state table failed.
    State,
    /// An intent could not be read (left for a person).
    Intent,
}

/// Something that did not get done, for the invocation's summary and error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What failed.
    pub what: Failed,
    /// The resource (grant, configuration, license ARN).
    pub resource: String,
    /// What went wrong.
    pub error: String,
    /// Whether a person must act ([`crate::attention`]); otherwise a retry may succeed.
    pub needs_attention: bool,
}

impl Failure {
    fn unpublished(entry: &FailedEntry) -> Self {
        Self {
            what: Failed::Publish,
            resource: entry.resources.first().cloned().unwrap_or_default(),
            error: format!("{} not published: {entry}", entry.detail_type),
            needs_attention: entry.needs_attention(),
        }
    }

    fn state(resource: &StateKey, error: &StateError) -> Self {
        Self {
            what: Failed::State,
            resource: resource.partition_key(),
            error: error.to_string(),
            needs_attention: error.needs_attention(),
        }
    }
}

/// What carrying out an intent's effect again came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Redo {
    /// Deliver the intent's events and `extra`; `failure` (if any) still fails the invocation
    /// (an enforcement that failed is announced, and fails).
    Deliver {
        /// Events the outcome calls for.
        extra: Vec<ProjectEvent>,
        /// What failed, announced by `extra`.
        failure: Option<Failure>,
    },
    /// Not done yet: keep the intent for the next invocation.
    Release(Failure),
    /// Can never be done (the resource is gone): forget the intent, send nothing.
    Drop(String),
}

/// How a function carries out its intents' effects again ([`Outbox::redrive`]).
pub trait Effects: Sync {
    /// Carries out `effect` (as the function recorded it) again; idempotent.
    fn redo(&self, effect: &Value) -> impl Future<Output = Redo> + Send;
}

/// A function whose intents are notifications only.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEffects;

impl Effects for NoEffects {
    async fn redo(&self, _effect: &Value) -> Redo {
        Redo::Deliver {
            extra: Vec::new(),
            failure: None,
        }
    }
}

/// What [`Outbox::deliver`] and [`Outbox::redrive`] did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Delivery {
    /// The events published.
    pub sent: Vec<ProjectEvent>,
    /// Intents taken over from an earlier invocation and delivered.
    pub redriven: usize,
    /// What was not done (unpublished events, effects not redone, unreadable intents).
    pub failures: Vec<Failure>,
}

impl Delivery {
    /// Adds `other` to this one.
    pub fn absorb(&mut self, other: Self) {
        self.sent.extend(other.sent);
        self.redriven += other.redriven;
        self.failures.extend(other.failures);
    }
}

/// One function's outbox for one invocation: the state table (`S`), the bus (`P`), the owner
/// and the invocation's deadline, which every claim it writes ends at.
#[derive(Debug)]
pub struct Outbox<'a, S, P> {
    state: &'a S,
    sink: &'a P,
    owner: StateKey,
    deadline: OffsetDateTime,
}

impl<'a, S: StateTable, P: EventSink> Outbox<'a, S, P> {
    /// The outbox of `owner` (a [`StateKey::Outbox`]) for an invocation ending at `deadline`.
    pub fn new(state: &'a S, sink: &'a P, owner: StateKey, deadline: OffsetDateTime) -> Self {
        Self {
            state,
            sink,
            owner,
            deadline,
        }
    }

    /// Records `intent` on its record: `new_state` (for a `notified#` record, [`PENDING`]) if
    /// the live state is `expected` and no intent is pending there. A table that fails is
    /// returned as the error; the caller may go on with [`Outbox::unrecorded`].
    pub async fn record(
        &self,
        intent: Intent,
        expected: Option<&str>,
        new_state: &str,
    ) -> Result<Recorded, StateError> {
        let pending = PendingIntent {
            owner: self.owner.clone(),
            claim_until: self.deadline,
            body: serde_json::to_string(&IntentBody::of(&intent)).unwrap_or_default(),
        };
        match self
            .state
            .put_intent(&intent.key, expected, new_state, &pending)
            .await?
        {
            WriteOutcome::Written => Ok(Recorded::Claimed(Claim {
                intent,
                held: Some(self.deadline),
            })),
            WriteOutcome::LostRace => {
                let record = self.state.get(&intent.key).await?;
                Ok(decide_lost_race(record.as_ref()))
            }
        }
    }

    /// A claim on nothing: `intent` carried out and published without a record (the table
    /// failed), so that it is sent, perhaps twice, rather than never.
    pub fn unrecorded(intent: Intent) -> Claim {
        Claim { intent, held: None }
    }

    /// Gives `claim` up because its effect is not done: its claim ends now, so the next
    /// invocation re-drives it.
    pub async fn release(&self, claim: &Claim) -> Result<(), StateError> {
        if let Some(held) = claim.held {
            self.state
                .reclaim(&claim.intent.key, held, OffsetDateTime::now_utc())
                .await?;
        }
        Ok(())
    }

    /// Forgets `claim`: its effect can never be done and nothing is to be sent. A `notified#`
    /// record is deleted (the next decision starts afresh); another keeps its state.
    pub async fn abandon(&self, claim: &Claim) -> Result<(), StateError> {
        let Some(held) = claim.held else {
            return Ok(());
        };
        if claim.intent.sent_for.is_some() {
            self.state.forget(&claim.intent.key).await
        } else {
            self.state
                .settle(&claim.intent.key, held, None)
                .await
                .map(|_| ())
        }
    }

    /// Publishes the events of `claims` (in batches, failed entries matched by position) and
    /// settles each claim whose events all went out; releases the others.
    pub async fn deliver(&self, claims: Vec<Claim>) -> Delivery {
        let mut delivery = Delivery::default();
        if claims.is_empty() {
            return delivery;
        }
        let events: Vec<ProjectEvent> = claims
            .iter()
            .flat_map(|claim| claim.intent.events.iter().cloned())
            .collect();
        let failed = match self.sink.publish(&events).await {
            Ok(()) => Vec::new(),
            Err(error) => error.failed,
        };
        let mut start = 0;
        for claim in claims {
            let range = start..start + claim.intent.events.len();
            start = range.end;
            let unpublished: Vec<&FailedEntry> = failed
                .iter()
                .filter(|entry| range.contains(&entry.index))
                .collect();
            if unpublished.is_empty() {
                delivery.sent.extend(claim.intent.events.iter().cloned());
                if let Some(held) = claim.held {
                    let done = settled(claim.intent.sent_for, OffsetDateTime::now_utc());
                    match self.state.settle(&claim.intent.key, held, done).await {
                        Ok(WriteOutcome::Written) => {}
                        Ok(WriteOutcome::LostRace) => {
                            tracing::warn!(key = %claim.intent.key.partition_key(), "outbox: the claim was taken over before it was settled; its events may be sent again")
                        }
                        Err(error) => {
                            tracing::warn!(error = %error, "outbox: sent but not settled; the events will be sent again");
                            // Sent, but a table that refuses us will refuse every later settle
                            // too: that needs a person, so the invocation fails (to the DLQ).
                            if error.needs_attention() {
                                delivery
                                    .failures
                                    .push(Failure::state(&claim.intent.key, &error));
                            }
                        }
                    }
                }
            } else {
                delivery.sent.extend(
                    range
                        .clone()
                        .filter(|index| !unpublished.iter().any(|entry| entry.index == *index))
                        .filter_map(|index| events.get(index).cloned()),
                );
                delivery
                    .failures
                    .extend(unpublished.into_iter().map(Failure::unpublished));
                if let Err(error) = self.release(&claim).await {
                    tracing::warn!(error = %error, "outbox: could not release an unpublished intent; it is re-driven once its claim ends");
                }
            }
        }
        delivery
    }

    /// Takes over every intent of this function whose claim ended, carries its effect out
    /// again through `effects` and delivers it. Intents another invocation takes first are
    /// left to it.
    pub async fn redrive(&self, effects: &impl Effects) -> Delivery {
        let mut delivery = Delivery::default();
        let now = OffsetDateTime::now_utc();
        let expired = match self.state.expired_intents(&self.owner, now).await {
            Ok(expired) => expired,
            Err(error) => {
                // A table that is only unavailable is tried again by the next invocation; one
                // that needs a person fails this one.
                tracing::warn!(error = %error, "outbox: expired intents could not be read");
                if error.needs_attention() {
                    delivery.failures.push(Failure::state(&self.owner, &error));
                }
                return delivery;
            }
        };
        let mut claims = Vec::new();
        for (key, record) in expired {
            let Some(pending) = record.intent else {
                continue;
            };
            match self
                .state
                .reclaim(&key, pending.claim_until, self.deadline)
                .await
            {
                Ok(WriteOutcome::Written) => {}
                Ok(WriteOutcome::LostRace) => continue,
                Err(error) => {
                    delivery.failures.push(Failure::state(&key, &error));
                    continue;
                }
            }
            let resource = key.partition_key();
            let mut claim = match IntentBody::read(key, &pending.body) {
                Ok(intent) => Claim {
                    intent,
                    held: Some(self.deadline),
                },
                Err(error) => {
                    tracing::error!(key = %resource, error = %error, "outbox: an intent that cannot be read is left for a person");
                    delivery.failures.push(Failure {
                        what: Failed::Intent,
                        resource,
                        error,
                        needs_attention: true,
                    });
                    continue;
                }
            };
            tracing::info!(key = %resource, "outbox: re-driving an intent whose claim ended");
            let redo = match &claim.intent.effect {
                Some(effect) => effects.redo(effect).await,
                None => Redo::Deliver {
                    extra: Vec::new(),
                    failure: None,
                },
            };
            match redo {
                Redo::Deliver { extra, failure } => {
                    extra.into_iter().for_each(|event| claim.announce(event));
                    delivery.failures.extend(failure);
                    claims.push(claim);
                }
                Redo::Release(failure) => {
                    delivery.failures.push(failure);
                    if let Err(error) = self.release(&claim).await {
                        tracing::warn!(error = %error, "outbox: could not release an intent");
                    }
                }
                Redo::Drop(reason) => {
                    tracing::warn!(key = %resource, reason, "outbox: the intent's effect can no longer be done; dropped");
                    if let Err(error) = self.abandon(&claim).await {
                        delivery
                            .failures
                            .push(Failure::state(&claim.intent.key, &error));
                    }
                }
            }
        }
        delivery.redriven = claims.len();
        let delivered = self.deliver(claims).await;
        delivery.sent.extend(delivered.sent);
        delivery.failures.extend(delivered.failures);
        delivery
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events_out::catalogue::{LicenseExpiring, occurrence};
    use crate::memory::{MemoryEventSink, MemoryStateTable};

    const LICENSE: &str = "arn:aws:license-manager::111122223333:license:l-1";

    fn owner() -> StateKey {
        StateKey::Outbox {
            owner: "license-events".into(),
        }
    }

    fn notified(version: &str) -> StateKey {
        StateKey::Notified {
            arn: LICENSE.into(),
            version: format!("{version}#expiring"),
        }
    }

    fn expiring(version: &str) -> ProjectEvent {
        ProjectEvent::LicenseExpiring(LicenseExpiring {
            occurrence_id: occurrence::license_expiring(LICENSE, version),
            license_arn: LICENSE.into(),
            account: "111122223333".into(),
            product_sku: "sku".into(),
            validity_end: OffsetDateTime::UNIX_EPOCH,
            days_remaining: 3,
            warning_days: 30,
            time: OffsetDateTime::UNIX_EPOCH,
        })
    }

    fn intent(version: &str) -> Intent {
        Intent {
            key: notified(version),
            effect: None,
            events: vec![expiring(version)],
            sent_for: Some(time::Duration::days(90)),
        }
    }

    fn in_a_minute() -> OffsetDateTime {
        OffsetDateTime::now_utc() + time::Duration::minutes(1)
    }

    /// A deadline already past: an invocation that died (its claim ended).
    fn died() -> OffsetDateTime {
        OffsetDateTime::now_utc() - time::Duration::seconds(1)
    }

    fn record_with_claim(until: OffsetDateTime) -> StateRecord {
        StateRecord {
            state: PENDING.into(),
            updated_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: None,
            intent: Some(PendingIntent {
                owner: owner(),
                claim_until: until,
                body: "{}".into(),
            }),
        }
    }

    #[test]
    fn a_lost_race_is_done_unless_an_intent_is_pending_on_the_record() {
        let until = in_a_minute();
        let cases = [
            (None, Recorded::Done),
            (
                Some(StateRecord {
                    intent: None,
                    ..record_with_claim(until)
                }),
                Recorded::Done,
            ),
            (Some(record_with_claim(until)), Recorded::Busy { until }),
            // An ended claim is another invocation's too: the next invocation re-drives it.
            (
                Some(record_with_claim(OffsetDateTime::UNIX_EPOCH)),
                Recorded::Busy {
                    until: OffsetDateTime::UNIX_EPOCH,
                },
            ),
        ];
        for (record, expected) in cases {
            assert_eq!(decide_lost_race(record.as_ref()), expected, "{record:?}");
        }
    }

    #[test]
    fn a_sent_notified_record_lives_its_ttl_and_an_alert_keeps_its_level() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let day = time::Duration::days(1);
        assert_eq!(settled(Some(day), now), Some((SENT, now + day)));
        assert_eq!(settled(None, now), None);
    }

    #[tokio::test]
    async fn an_intent_is_recorded_then_settled_as_sent_once_published() {
        let table = MemoryStateTable::new();
        let sink = MemoryEventSink::new();
        let outbox = Outbox::new(&table, &sink, owner(), in_a_minute());
        let Ok(Recorded::Claimed(claim)) = outbox.record(intent("1"), None, PENDING).await else {
            panic!("recorded");
        };
        assert_eq!(table.state(&notified("1")).as_deref(), Some(PENDING));
        let delivery = outbox.deliver(vec![claim]).await;
        assert_eq!(delivery.sent, [expiring("1")]);
        assert!(delivery.failures.is_empty());
        let record = table.get(&notified("1")).await.unwrap().unwrap();
        assert_eq!(record.state, SENT);
        assert!(record.intent.is_none(), "settled");
        assert!(record.expires_at.is_some());
        assert_eq!(
            outbox.record(intent("1"), None, PENDING).await.ok(),
            Some(Recorded::Done),
            "the same occurrence is not sent twice"
        );
    }

    #[tokio::test]
    async fn another_invocations_live_claim_makes_this_one_fail() {
        let table = MemoryStateTable::new();
        let sink = MemoryEventSink::new();
        let until = in_a_minute();
        let first = Outbox::new(&table, &sink, owner(), until);
        let second = Outbox::new(&table, &sink, owner(), until);
        assert!(matches!(
            first.record(intent("1"), None, PENDING).await,
            Ok(Recorded::Claimed(_))
        ));
        let Ok(Recorded::Busy { until: busy }) = second.record(intent("1"), None, PENDING).await
        else {
            panic!("busy");
        };
        assert_eq!(busy, until);
        assert_eq!(
            second.redrive(&NoEffects).await.redriven,
            0,
            "a live claim is not taken over"
        );
        assert!(sink.published().is_empty());
    }

    #[tokio::test]
    async fn an_intent_whose_invocation_died_is_redriven_by_the_next_with_the_same_event() {
        let table = MemoryStateTable::new();
        let sink = MemoryEventSink::new();
        let dead = Outbox::new(&table, &sink, owner(), died());
        assert!(matches!(
            dead.record(intent("1"), None, PENDING).await,
            Ok(Recorded::Claimed(_))
        ));
        // The process died here: nothing published, the claim ended with its deadline.
        let next = Outbox::new(&table, &sink, owner(), in_a_minute());
        let delivery = next.redrive(&NoEffects).await;
        assert_eq!(delivery.redriven, 1);
        assert_eq!(
            sink.published(),
            [expiring("1")],
            "the recorded event, its id included"
        );
        assert_eq!(table.state(&notified("1")).as_deref(), Some(SENT));
        assert_eq!(next.redrive(&NoEffects).await.redriven, 0, "settled once");
        let other = StateKey::Outbox {
            owner: "grant-acceptor".into(),
        };
        let elsewhere = Outbox::new(&table, &sink, other, in_a_minute());
        assert_eq!(elsewhere.redrive(&NoEffects).await.redriven, 0);
    }

    #[tokio::test]
    async fn failed_entries_are_matched_by_position_and_only_their_claims_are_released() {
        let table = MemoryStateTable::new();
        let sink = MemoryEventSink::new();
        let outbox = Outbox::new(&table, &sink, owner(), in_a_minute());
        let mut claims = Vec::new();
        for version in ["1", "2", "3"] {
            let Ok(Recorded::Claimed(claim)) = outbox.record(intent(version), None, PENDING).await
            else {
                panic!("recorded");
            };
            claims.push(claim);
        }
        // Same detail-type and resources for all three: only the position tells them apart.
        sink.refuse(Some(|event| {
            event.detail()["occurrenceId"]
                .as_str()
                .is_some_and(|id| id.contains("#2#"))
        }));
        let delivery = outbox.deliver(claims).await;
        assert_eq!(delivery.sent, [expiring("1"), expiring("3")]);
        assert_eq!(delivery.failures.len(), 1);
        assert_eq!(delivery.failures[0].resource, LICENSE);
        assert!(!delivery.failures[0].needs_attention);
        assert_eq!(table.state(&notified("1")).as_deref(), Some(SENT));
        assert_eq!(table.state(&notified("3")).as_deref(), Some(SENT));
        assert_eq!(table.state(&notified("2")).as_deref(), Some(PENDING));
        // Released: the next invocation re-drives it at once.
        sink.refuse(None);
        let next = Outbox::new(&table, &sink, owner(), in_a_minute());
        let redriven = next.redrive(&NoEffects).await;
        assert_eq!(redriven.sent, [expiring("2")]);
        assert_eq!(table.state(&notified("2")).as_deref(), Some(SENT));
    }

    struct Hardening(fn() -> Redo);

    impl Effects for Hardening {
        async fn redo(&self, effect: &Value) -> Redo {
            assert_eq!(effect["harden"], "cfg-1");
            (self.0)()
        }
    }

    #[tokio::test]
    async fn a_redriven_effect_adds_its_outcome_is_kept_for_later_or_is_dropped() {
        let alert = StateKey::Alert {
            resource: "cfg-1".into(),
        };
        let hardening = || Intent {
            key: alert.clone(),
            effect: Some(serde_json::json!({"harden": "cfg-1"})),
            events: vec![expiring("1")],
            sent_for: None,
        };
        let table = MemoryStateTable::new();
        let sink = MemoryEventSink::new();
        let dead = Outbox::new(&table, &sink, owner(), died());
        assert_eq!(
            dead.record(hardening(), Some("warning"), "exceeded")
                .await
                .ok(),
            Some(Recorded::Done),
            "no record at the level read: another invocation moved it on"
        );
        table.insert(alert.clone(), "warning");
        assert!(matches!(
            dead.record(hardening(), Some("warning"), "exceeded").await,
            Ok(Recorded::Claimed(_))
        ));
        // Not done yet: kept, with its claim ended, for the invocation after.
        let next = Outbox::new(&table, &sink, owner(), in_a_minute());
        let kept = next
            .redrive(&Hardening(|| {
                Redo::Release(Failure {
                    what: Failed::Effect,
                    resource: "cfg-1".into(),
                    error: "throttled".into(),
                    needs_attention: false,
                })
            }))
            .await;
        assert_eq!(kept.failures.len(), 1);
        assert!(sink.published().is_empty());
        // Done, with an event of its own: both go out and the level stays.
        let done = next
            .redrive(&Hardening(|| Redo::Deliver {
                extra: vec![expiring("9")],
                failure: None,
            }))
            .await;
        assert_eq!(done.sent, [expiring("1"), expiring("9")]);
        assert_eq!(table.state(&alert).as_deref(), Some("exceeded"));
        assert!(table.get(&alert).await.unwrap().unwrap().intent.is_none());
    }

    #[tokio::test]
    async fn an_unreadable_intent_is_left_for_a_person_and_a_failing_table_is_reported() {
        let table = MemoryStateTable::new();
        let sink = MemoryEventSink::new();
        let broken = PendingIntent {
            owner: owner(),
            claim_until: died(),
            body: r#"{"events":[{"detailType":"Grant Gone","detail":{}}]}"#.into(),
        };
        table
            .put_intent(&notified("1"), None, PENDING, &broken)
            .await
            .unwrap();
        let outbox = Outbox::new(&table, &sink, owner(), in_a_minute());
        let delivery = outbox.redrive(&NoEffects).await;
        assert_eq!(delivery.failures.len(), 1);
        assert!(delivery.failures[0].needs_attention);
        assert!(
            delivery.failures[0].error.contains("Grant Gone"),
            "{:?}",
            delivery.failures
        );
        table.set_missing(true);
        let delivery = outbox.redrive(&NoEffects).await;
        assert!(
            delivery.failures[0].needs_attention,
            "a missing table needs a person"
        );
    }
}
