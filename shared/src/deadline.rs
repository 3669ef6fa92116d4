//! An invocation's time budget: the instant by which its work must be done, taken from the
//! runtime's deadline for the invocation (`LambdaEvent.context.deadline`, epoch milliseconds)
//! less a margin to answer or flush, and never later than a cap.
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
}
