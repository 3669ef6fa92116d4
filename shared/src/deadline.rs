//! An invocation's time budget: the instant by which its work must be done, taken from the
//! runtime's deadline for the invocation (`LambdaEvent.context.deadline`, epoch milliseconds)
//! less a margin to answer or flush, and never later than a cap.
//!
//! The event functions' [`Budget`] adds when to stop starting new work (a quarter of the time
//! left, kept to flush the outbox) to the same deadline.
//!
//! A handler runs its work inside [`Deadline::scope`]; the License Manager call gate
//! ([`crate::calls::CallGate`]) then starts no attempt and sleeps no backoff past the
//! deadline, and bounds each attempt by what is left ([`Deadline::current`]).

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

tokio::task_local! {
    static CURRENT: Deadline;
}

/// The instant by which an invocation's work must be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    /// `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Self {
            at: Instant::now() + budget,
        }
    }

    /// The budget of an invocation whose runtime deadline is `deadline_ms` (epoch
    /// milliseconds, as `lambda_runtime::Context::deadline`): that deadline less `margin`,
    /// and at most `cap` from now. A deadline of 0 (a context built by hand, as in tests)
    /// means "none given": the cap alone.
    pub fn of_invocation(deadline_ms: u64, margin: Duration, cap: Duration) -> Self {
        let capped = Self::after(cap);
        if deadline_ms == 0 {
            return capped;
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
        let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms)).saturating_sub(margin);
        capped.min(Self::after(left))
    }

    /// The time left (zero once past).
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has passed.
    pub fn is_past(&self) -> bool {
        self.remaining().is_zero()
    }

    /// This deadline brought forward by `reserve` (work that must leave time for what follows
    /// it, such as recording what a call did).
    pub fn less(&self, reserve: Duration) -> Self {
        Self {
            // Before the clock's origin is past all the same.
            at: self.at.checked_sub(reserve).unwrap_or_else(Instant::now),
        }
    }

    /// The deadline as a wall-clock time (for records that expire with the invocation).
    pub fn wall_clock(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.remaining()
    }

    /// Runs `work` with this deadline as [`Deadline::current`].
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        CURRENT.scope(self, work).await
    }

    /// The deadline of the [`scope`](Self::scope) running now, if any.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(|deadline| *deadline).ok()
    }
}

/// An invocation's time: its deadline (the runtime's, for this invocation) and the moment it
/// stops starting new work, early enough to flush its outbox and report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The invocation's deadline: every claim it writes ends here.
    pub deadline: OffsetDateTime,
    /// No new work starts after this.
    pub stop_at: OffsetDateTime,
}

impl Budget {
    /// Time kept back at least, for publishing and settling what is under way.
    pub const MIN_RESERVE: time::Duration = time::Duration::milliseconds(1_500);
    /// Time kept back at most.
    pub const MAX_RESERVE: time::Duration = time::Duration::seconds(10);
    /// Used when the runtime gives no deadline (a direct call in a test): Lambda's longest.
    pub const NO_DEADLINE: time::Duration = time::Duration::minutes(15);

    /// The budget of an invocation whose runtime deadline is `deadline_ms` (epoch
    /// milliseconds, `LambdaEvent.context.deadline`; 0: none), seen at `now`. A quarter of the
    /// time left is kept back, between [`Self::MIN_RESERVE`] and [`Self::MAX_RESERVE`].
    pub fn from_deadline_ms(deadline_ms: u64, now: OffsetDateTime) -> Self {
        let deadline = Some(deadline_ms)
            .filter(|ms| *ms > 0)
            .and_then(|ms| {
                OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
            })
            .unwrap_or(now + Self::NO_DEADLINE);
        let left: time::Duration = deadline - now;
        let reserve = (left / 4_i32).clamp(Self::MIN_RESERVE, Self::MAX_RESERVE);
        Self {
            deadline,
            stop_at: deadline - reserve,
        }
    }

    /// Whether new work may still start.
    pub fn allows_new_work(&self) -> bool {
        OffsetDateTime::now_utc() < self.stop_at
    }

    /// The [`Deadline`] of the invocation's License Manager calls: its deadline less
    /// [`Self::MIN_RESERVE`], kept for publishing and settling what the calls did.
    pub fn calls_deadline(&self) -> Deadline {
        let left = self.deadline - OffsetDateTime::now_utc() - Self::MIN_RESERVE;
        Deadline::after(Duration::try_from(left).unwrap_or(Duration::ZERO))
    }

    /// Runs `work` within [`Self::calls_deadline`] ([`Deadline::scope`]): the call gate starts
    /// no attempt and sleeps no backoff past it, so a call that hangs fails in time for the
    /// outbox to settle and the invocation to report, rather than being cut off by Lambda.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        // Boxed, to keep the handler's future out of the scope future's layout: nested whole,
        // it overflowed rustc's query depth for the runtime's future. That alone was not
        // enough in a fresh build; the functions' main.rs also raise `recursion_limit`.
        self.calls_deadline().scope(Box::pin(work)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch_ms_in(offset: Duration) -> u64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        u64::try_from((now + offset).as_millis()).unwrap()
    }

    #[test]
    fn an_invocation_budget_is_its_deadline_less_the_margin_and_never_past_the_cap() {
        let short = Deadline::of_invocation(
            epoch_ms_in(Duration::from_secs(8)),
            Duration::from_secs(1),
            Duration::from_secs(10),
        );
        let left = short.remaining();
        assert!(
            left <= Duration::from_secs(7) && left > Duration::from_millis(6_500),
            "{left:?}"
        );

        let long = Deadline::of_invocation(
            epoch_ms_in(Duration::from_secs(900)),
            Duration::from_secs(1),
            Duration::from_secs(10),
        );
        assert!(long.remaining() <= Duration::from_secs(10));
        assert!(long.remaining() > Duration::from_millis(9_500));

        let none = Deadline::of_invocation(0, Duration::from_secs(1), Duration::from_secs(3));
        assert!(none.remaining() > Duration::from_millis(2_500));

        let past = Deadline::of_invocation(
            epoch_ms_in(Duration::ZERO).saturating_sub(5_000),
            Duration::from_secs(1),
            Duration::from_secs(10),
        );
        assert!(past.is_past());
    }

    #[test]
    fn less_brings_the_deadline_forward_but_not_before_now() {
        let deadline = Deadline::after(Duration::from_secs(5));
        let earlier = deadline.less(Duration::from_secs(2));
        assert!(earlier < deadline);
        assert!(earlier.remaining() <= Duration::from_secs(3));
        assert!(deadline.less(Duration::from_secs(60)).is_past());
    }

    #[tokio::test]
    async fn the_current_deadline_is_the_scope_s_and_none_outside() {
        assert_eq!(Deadline::current(), None);
        let deadline = Deadline::after(Duration::from_secs(1));
        let seen = deadline.scope(async { Deadline::current() }).await;
        assert_eq!(seen, Some(deadline));
        assert_eq!(Deadline::current(), None);
    }

    #[test]
    fn the_budget_keeps_a_quarter_of_the_time_back_within_bounds() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let ms = |at: OffsetDateTime| u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap();
        let cases = [
            // (time left, time kept back)
            (time::Duration::seconds(8), time::Duration::seconds(2)),
            (time::Duration::seconds(4), Budget::MIN_RESERVE),
            (time::Duration::seconds(300), Budget::MAX_RESERVE),
        ];
        for (left, reserve) in cases {
            let budget = Budget::from_deadline_ms(ms(now + left), now);
            assert_eq!(budget.deadline, now + left);
            assert_eq!(budget.stop_at, now + left - reserve, "{left}");
        }
        let none = Budget::from_deadline_ms(0, now);
        assert_eq!(none.deadline, now + Budget::NO_DEADLINE);
        let real_now = OffsetDateTime::now_utc();
        assert!(!Budget::from_deadline_ms(ms(real_now), real_now).allows_new_work());
        let later = real_now + time::Duration::minutes(1);
        assert!(Budget::from_deadline_ms(ms(later), real_now).allows_new_work());
    }

    #[tokio::test]
    async fn a_budget_s_calls_end_its_minimum_reserve_before_its_deadline() {
        let now = OffsetDateTime::now_utc();
        let in_ten_seconds = now + time::Duration::seconds(10);
        let ms = u64::try_from(in_ten_seconds.unix_timestamp_nanos() / 1_000_000).unwrap();
        let budget = Budget::from_deadline_ms(ms, now);
        let calls = budget.scope(async { Deadline::current() }).await.unwrap();
        let left = calls.remaining();
        assert!(left <= Duration::from_millis(8_500), "{left:?}");
        assert!(left > Duration::from_millis(8_000), "{left:?}");
        let spent = Budget::from_deadline_ms(1, now);
        assert!(spent.calls_deadline().is_past());
    }
}
