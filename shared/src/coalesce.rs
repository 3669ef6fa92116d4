//! One sweep for a burst of License Manager events that name no grant or license (README,
//! "Coalesced sweeps"). Such an event calls for a sweep of everything the account holds; a
//! storm of them would otherwise start one full sweep each, and each sweep lists every grant
//! or license against License Manager's request quotas.
//!
//! A function's sweep record (`StateKey::Sweep`, one per function) says whose sweep is
//! running, and until when: the sweeping invocation's deadline is the record's expiry. An
//! event that finds another event's sweep running does not sweep: it marks the record
//! `again`, and the running sweep, when it ends, sweeps once more. That second sweep starts
//! after the event arrived, so it sees whatever the event reported. Every step is a
//! conditional write of the one record, so an ending sweep and an event asking for another
//! cannot miss each other. A sweep that fails releases the record ([`release`]); its retry,
//! which takes the record back under the same event id, sweeps from the start. A sweep that
//! dies keeps its claim until its deadline, after which any event takes it.
//!
//! The record's `state` holds `running <event id>`, `again <event id>` or `idle`.

use time::OffsetDateTime;

use crate::deadline::Budget;
use crate::ports::StateTable;
use crate::state::{StateError, StateKey, WriteOutcome};

/// How long an idle record stays (the table's TTL then removes it; a missing record is idle).
const IDLE_TTL: time::Duration = time::Duration::days(1);
/// Conditional writes tried before giving up on coalescing (and sweeping, which is always
/// safe) when other invocations keep changing the record.
const ATTEMPTS: usize = 5;

/// What an event that calls for a sweep does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Sweep: this invocation holds the sweep record until its deadline.
    Sweep,
    /// Nothing: the sweep of event `into` is running and will sweep again once it ends.
    Coalesced {
        /// The event whose invocation is sweeping.
        into: String,
    },
}

/// What a sweep does once it has ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Nothing more: no event asked for a sweep while it ran, or another event's sweep, which
    /// started after this one's claim ended, holds the record now.
    Done,
    /// Sweep once more: events asked for one while it ran (the record is held again).
    Again,
    /// The claim ended before the sweep did (the record expired at the deadline, which the
    /// table counts in whole seconds): events may have asked for another sweep and nobody
    /// will run it. The invocation fails, so that its retry sweeps.
    Lapsed,
}

/// The sweep record's state, as read.
#[derive(Debug, PartialEq, Eq)]
enum Sweeping<'a> {
    /// No sweep is running.
    Idle,
    /// Event `0`'s sweep is running.
    Running(&'a str),
    /// Event `0`'s sweep is running and must run again when it ends.
    Again(&'a str),
}

impl<'a> Sweeping<'a> {
    fn parse(state: Option<&'a str>) -> Self {
        let Some(state) = state else {
            return Self::Idle;
        };
        if let Some(event) = state.strip_prefix("running ") {
            Self::Running(event)
        } else if let Some(event) = state.strip_prefix("again ") {
            Self::Again(event)
        } else {
            Self::Idle
        }
    }
}

fn running(event_id: &str) -> String {
    format!("running {event_id}")
}

fn again(event_id: &str) -> String {
    format!("again {event_id}")
}

/// Called by the invocation of event `event_id`, which calls for a sweep and may run until
/// `deadline`: whether it sweeps, or another event's running sweep will do it.
pub async fn start<S: StateTable>(
    table: &S,
    key: &StateKey,
    event_id: &str,
    deadline: OffsetDateTime,
) -> Result<Start, StateError> {
    let mine = running(event_id);
    for _ in 0..ATTEMPTS {
        let record = table.get(key).await?;
        let current = record.as_ref().map(|record| record.state.as_str());
        let write = match Sweeping::parse(current) {
            // A retry of this event takes its own claim back: its first attempt died or failed.
            Sweeping::Idle => (mine.clone(), Some(deadline), Start::Sweep),
            Sweeping::Running(event) | Sweeping::Again(event) if event == event_id => {
                (mine.clone(), Some(deadline), Start::Sweep)
            }
            Sweeping::Running(event) => (
                again(event),
                record.as_ref().and_then(|record| record.expires_at),
                Start::Coalesced {
                    into: event.to_owned(),
                },
            ),
            Sweeping::Again(event) => {
                return Ok(Start::Coalesced {
                    into: event.to_owned(),
                });
            }
        };
        let (state, expires_at, start) = write;
        if table.put_if(key, current, &state, expires_at).await? == WriteOutcome::Written {
            return Ok(start);
        }
    }
    tracing::info!(
        event_id,
        "the sweep record keeps changing: sweeping without coalescing"
    );
    Ok(Start::Sweep)
}

/// Called when the sweep that [`start`] gave event `event_id` has ended well: whether to sweep
/// once more. A sweep that failed does not call it: its retry takes the record back.
pub async fn end<S: StateTable>(
    table: &S,
    key: &StateKey,
    event_id: &str,
    deadline: OffsetDateTime,
) -> Result<End, StateError> {
    let mine = running(event_id);
    let idle_until = OffsetDateTime::now_utc() + IDLE_TTL;
    if table
        .put_if(key, Some(&mine), "idle", Some(idle_until))
        .await?
        == WriteOutcome::Written
    {
        return Ok(End::Done);
    }
    // Not `running <event_id>`: either events asked again, or (our claim having ended) another
    // event's sweep holds the record, which then started after ours and covers the rest.
    if table
        .put_if(key, Some(&again(event_id)), &mine, Some(deadline))
        .await?
        == WriteOutcome::Written
    {
        return Ok(End::Again);
    }
    Ok(match table.get(key).await? {
        // Expired: whether someone asked again is unknown.
        None => End::Lapsed,
        Some(_) => End::Done,
    })
}

/// Gives up event `event_id`'s claim after its sweep failed, so that the events that arrive
/// while its retry waits sweep themselves instead of coalescing into a sweep that is not
/// running. Those that asked while it ran are left to its retry, which sweeps from the start.
/// Best effort: a claim left behind ends at the invocation's deadline.
pub async fn release<S: StateTable>(
    table: &S,
    key: &StateKey,
    event_id: &str,
) -> Result<(), StateError> {
    let idle_until = OffsetDateTime::now_utc() + IDLE_TTL;
    for held in [running(event_id), again(event_id)] {
        if table
            .put_if(key, Some(&held), "idle", Some(idle_until))
            .await?
            == WriteOutcome::Written
        {
            break;
        }
    }
    Ok(())
}

/// How the sweep an event called for went ([`sweep_for_event`]).
#[derive(Debug)]
pub enum Swept<T> {
    /// Nothing swept here: event `into`'s running sweep sweeps once more instead.
    Coalesced {
        /// The event whose invocation is sweeping.
        into: String,
    },
    /// This invocation swept.
    Ran {
        /// The last sweep's result.
        last: T,
        /// Sweeps run once more because events asked for one meanwhile.
        swept_again: usize,
        /// Why the invocation must fail although the sweep ended well, if it must.
        fail: Option<MustFail>,
    },
}

/// Why an invocation whose sweep ended well must fail all the same.
#[derive(Debug)]
pub enum MustFail {
    /// The sweep record could not be read or written (the error says whether a person must
    /// act).
    Record(StateError),
    /// Events may have asked for a sweep that nobody will run: the retry sweeps.
    RetrySweeps(&'static str),
}

/// Runs `sweep` for event `event_id`, which named nothing to narrow it, coalesced with the
/// sweeps of other such events through the function's sweep record `key` (README,
/// "Coalesced sweeps"); `ended_well` says whether a sweep's result lets the invocation
/// succeed. A sweep that did not end well releases the record and is the result as it is.
pub async fn sweep_for_event<S: StateTable, T>(
    table: &S,
    key: &StateKey,
    event_id: &str,
    budget: Budget,
    mut sweep: impl AsyncFnMut() -> T,
    ended_well: impl Fn(&T) -> bool,
) -> Swept<T> {
    // Whether this invocation surely holds the record (a write that erred may have landed).
    let held = match start(table, key, event_id, budget.deadline).await {
        Ok(Start::Coalesced { into }) => {
            tracing::info!(event_id, coalesced_into = %into, "a sweep is running: it sweeps once more for this event");
            metrics::counter!("SweepsCoalesced").increment(1);
            return Swept::Coalesced { into };
        }
        Ok(Start::Sweep) => true,
        Err(error) if error.needs_attention() => {
            let last = sweep().await;
            return Swept::Ran {
                last,
                swept_again: 0,
                fail: Some(MustFail::Record(error)),
            };
        }
        Err(error) => {
            tracing::warn!(error = %error, "sweep record unavailable: sweeping, then ending the record as if this sweep held it");
            false
        }
    };
    let mut swept_again = 0;
    loop {
        let last = sweep().await;
        if !ended_well(&last) {
            if let Err(error) = release(table, key, event_id).await {
                tracing::warn!(error = %error, "sweep record: the failed sweep's claim is left to its deadline");
            }
            return Swept::Ran {
                last,
                swept_again,
                fail: None,
            };
        }
        let fail = match end(table, key, event_id, budget.deadline).await {
            Ok(End::Done) => None,
            Ok(End::Lapsed) if !held => None,
            Ok(End::Again) if budget.allows_new_work() => {
                swept_again += 1;
                continue;
            }
            Ok(End::Again) => Some(MustFail::RetrySweeps(
                "events asked for another sweep while this one ran, and the time ran out: the retry sweeps",
            )),
            Ok(End::Lapsed) => Some(MustFail::RetrySweeps(
                "the sweep record's claim ended before the sweep did: the retry sweeps for the events that may have asked meanwhile",
            )),
            Err(error) => Some(MustFail::Record(error)),
        };
        return Swept::Ran {
            last,
            swept_again,
            fail,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStateTable;

    fn key() -> StateKey {
        StateKey::Sweep {
            owner: "grant-acceptor".into(),
        }
    }

    fn deadline() -> OffsetDateTime {
        OffsetDateTime::now_utc() + time::Duration::minutes(5)
    }

    #[tokio::test]
    async fn events_during_a_sweep_coalesce_into_one_more_sweep() {
        let table = MemoryStateTable::new();
        assert_eq!(
            start(&table, &key(), "e1", deadline()).await.unwrap(),
            Start::Sweep
        );
        for event in ["e2", "e3", "e4"] {
            assert_eq!(
                start(&table, &key(), event, deadline()).await.unwrap(),
                Start::Coalesced { into: "e1".into() },
                "{event}"
            );
        }
        // Three events asked while e1 swept: one more sweep, then done.
        assert_eq!(
            end(&table, &key(), "e1", deadline()).await.unwrap(),
            End::Again
        );
        assert_eq!(
            end(&table, &key(), "e1", deadline()).await.unwrap(),
            End::Done
        );
        assert_eq!(table.state(&key()).as_deref(), Some("idle"));
        // The next event sweeps itself.
        assert_eq!(
            start(&table, &key(), "e5", deadline()).await.unwrap(),
            Start::Sweep
        );
    }

    #[tokio::test]
    async fn a_sweep_nobody_asked_again_ends_once() {
        let table = MemoryStateTable::new();
        start(&table, &key(), "e1", deadline()).await.unwrap();
        assert_eq!(
            end(&table, &key(), "e1", deadline()).await.unwrap(),
            End::Done
        );
    }

    #[tokio::test]
    async fn a_retry_takes_its_own_claim_back_and_covers_what_was_asked_meanwhile() {
        let table = MemoryStateTable::new();
        start(&table, &key(), "e1", deadline()).await.unwrap();
        // e1's invocation dies; e2 arrives and is coalesced into e1's sweep.
        assert_eq!(
            start(&table, &key(), "e2", deadline()).await.unwrap(),
            Start::Coalesced { into: "e1".into() }
        );
        // Lambda retries e1: it sweeps from the start, after e2 arrived.
        assert_eq!(
            start(&table, &key(), "e1", deadline()).await.unwrap(),
            Start::Sweep
        );
        assert_eq!(
            end(&table, &key(), "e1", deadline()).await.unwrap(),
            End::Done
        );
    }

    #[tokio::test]
    async fn a_claim_past_its_deadline_goes_to_the_next_event() {
        let table = MemoryStateTable::new();
        let past = OffsetDateTime::now_utc() - time::Duration::seconds(1);
        start(&table, &key(), "e1", past).await.unwrap();
        assert_eq!(
            start(&table, &key(), "e2", deadline()).await.unwrap(),
            Start::Sweep
        );
        // e1, come back late, finds e2's sweep: it ends without sweeping again.
        assert_eq!(
            end(&table, &key(), "e1", deadline()).await.unwrap(),
            End::Done
        );
        assert_eq!(table.state(&key()).as_deref(), Some("running e2"));
    }

    #[tokio::test]
    async fn a_sweep_whose_claim_lapsed_says_so_rather_than_drop_what_was_asked() {
        let table = MemoryStateTable::new();
        let soon = OffsetDateTime::now_utc() + time::Duration::milliseconds(30);
        start(&table, &key(), "e1", soon).await.unwrap();
        start(&table, &key(), "e2", deadline()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
        assert_eq!(
            end(&table, &key(), "e1", deadline()).await.unwrap(),
            End::Lapsed
        );
    }

    #[tokio::test]
    async fn a_failed_sweep_releases_its_claim_so_later_events_sweep_themselves() {
        let table = MemoryStateTable::new();
        start(&table, &key(), "e1", deadline()).await.unwrap();
        start(&table, &key(), "e2", deadline()).await.unwrap();
        release(&table, &key(), "e1").await.unwrap();
        assert_eq!(table.state(&key()).as_deref(), Some("idle"));
        assert_eq!(
            start(&table, &key(), "e3", deadline()).await.unwrap(),
            Start::Sweep
        );
        // Releasing a claim this event does not hold changes nothing.
        release(&table, &key(), "e1").await.unwrap();
        assert_eq!(table.state(&key()).as_deref(), Some("running e3"));
    }

    #[tokio::test]
    async fn an_unavailable_table_is_an_error_not_a_silent_skip() {
        let table = MemoryStateTable::new();
        table.set_unavailable(true);
        assert!(start(&table, &key(), "e1", deadline()).await.is_err());
    }
}
