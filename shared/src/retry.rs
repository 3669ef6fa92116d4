//! How transient failures are retried: a bounded number of attempts with jittered, doubling
//! backoff. The License Manager call gate ([`crate::calls`]) and the event publisher
//! ([`crate::events_out::publisher`]) both retry this way, each with its own policy.

use std::time::Duration;

/// How often, and how long apart, a failed call or entry is tried again. The default is the
/// event publisher's; the call gate starts from a policy of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many times a call or entry is sent at most (first try included).
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles each time.
    pub initial_backoff: Duration,
    /// The longest wait between two tries.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The longest wait before retry number `retry + 1`: doubling, capped.
    fn backoff(&self, retry: u32) -> Duration {
        self.initial_backoff
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max_backoff)
    }

    /// The actual wait: "full jitter", uniform up to [`Self::backoff`], so invocations that
    /// were throttled together do not retry together.
    pub fn jittered_backoff(&self, retry: u32) -> Duration {
        let cap = u64::try_from(self.backoff(retry).as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rand::random_range(0..=cap))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jittered_backoff_never_exceeds_the_cap() {
        let policy = RetryPolicy::default();
        for retry in 0..8 {
            for _ in 0..50 {
                assert!(policy.jittered_backoff(retry) <= policy.backoff(retry));
            }
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(0), Duration::from_millis(100));
        assert_eq!(policy.backoff(1), Duration::from_millis(200));
        assert_eq!(policy.backoff(10), Duration::from_secs(2));
        assert_eq!(policy.backoff(u32::MAX), Duration::from_secs(2));
    }
}
