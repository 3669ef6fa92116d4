//! License Manager's request quotas, emulated: chosen operations are rate-limited per account
//! (`--rate-limit CheckoutLicense=10`), and a call past its rate is refused as AWS refuses it,
//! `RateLimitExceededException` (HTTP 429, the `httpError` of the service's Smithy model), before
//! it changes anything.
//!
//! Each (account, operation) has a token bucket holding one second of requests (at least one):
//! a steady rate up to the limit always passes, a burst passes up to the bucket's size.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use crate::model;
use crate::protocol::{ApiError, ErrorKind};

/// One operation's quota: at most `per_second` requests per second per account.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    /// The License Manager operation, e.g. `CheckoutLicense`.
    pub operation: String,
    /// Requests per second per account.
    pub per_second: f64,
}

impl std::str::FromStr for RateLimit {
    type Err = String;

    /// `Operation=N`, N requests per second (a decimal above 0).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let Some((operation, rate)) = text.split_once('=') else {
            return Err(format!(
                "--rate-limit {text:?}: expected Operation=RequestsPerSecond, e.g. CheckoutLicense=10"
            ));
        };
        let operation = operation.trim();
        if !model::has_operation(operation) {
            return Err(format!(
                "--rate-limit {text:?}: {operation:?} is not a License Manager operation"
            ));
        }
        let per_second = rate
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|rate| rate.is_finite() && *rate > 0.0)
            .ok_or_else(|| {
                format!(
                    "--rate-limit {text:?}: the rate must be a number of requests per second \
                     above 0"
                )
            })?;
        Ok(Self {
            operation: operation.to_owned(),
            per_second,
        })
    }
}

/// The quotas of a running emulator and what each account has used of them.
#[derive(Debug, Default)]
pub(crate) struct Quotas {
    limits: BTreeMap<String, f64>,
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Quotas {
    /// The quotas of `limits` (a later limit of the same operation wins).
    pub(crate) fn new(limits: &[RateLimit]) -> Self {
        Self {
            limits: limits
                .iter()
                .map(|limit| (limit.operation.clone(), limit.per_second))
                .collect(),
            buckets: Mutex::default(),
        }
    }

    /// Takes one request of `operation` by `account` from its quota, or refuses it with
    /// `RateLimitExceededException` when the quota is used up.
    pub(crate) fn admit(&self, account: &str, operation: &str) -> Result<(), ApiError> {
        self.admit_at(account, operation, Instant::now())
    }

    fn admit_at(&self, account: &str, operation: &str, now: Instant) -> Result<(), ApiError> {
        let Some(&per_second) = self.limits.get(operation) else {
            return Ok(());
        };
        let capacity = per_second.max(1.0);
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets
            .entry((account.to_owned(), operation.to_owned()))
            .or_insert(Bucket {
                tokens: capacity,
                at: now,
            });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        Err(ApiError::new(
            ErrorKind::RateLimitExceeded,
            format!(
                "Rate exceeded ({operation} is limited to {per_second} requests per second per \
                 account by license-manager-local --rate-limit)"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn quotas(text: &str) -> Quotas {
        Quotas::new(&[text.parse().unwrap()])
    }

    #[test]
    fn a_burst_passes_up_to_one_second_of_requests_then_is_refused() {
        let quotas = quotas("CheckoutLicense=3");
        let now = Instant::now();
        for _ in 0..3 {
            quotas
                .admit_at("111122223333", "CheckoutLicense", now)
                .unwrap();
        }
        let refused = quotas
            .admit_at("111122223333", "CheckoutLicense", now)
            .unwrap_err();
        assert_eq!(refused.kind, ErrorKind::RateLimitExceeded);
        assert_eq!(refused.kind.status(), 429);
        assert!(
            refused.message.starts_with("Rate exceeded"),
            "{}",
            refused.message
        );
        // A third of a second later one request's worth has come back.
        let later = now + Duration::from_millis(340);
        quotas
            .admit_at("111122223333", "CheckoutLicense", later)
            .unwrap();
        assert!(
            quotas
                .admit_at("111122223333", "CheckoutLicense", later)
                .is_err()
        );
    }

    #[test]
    fn quotas_are_per_account_and_per_operation() {
        let quotas = quotas("CheckoutLicense=1");
        let now = Instant::now();
        quotas
            .admit_at("111122223333", "CheckoutLicense", now)
            .unwrap();
        assert!(
            quotas
                .admit_at("111122223333", "CheckoutLicense", now)
                .is_err()
        );
        quotas
            .admit_at("444455556666", "CheckoutLicense", now)
            .unwrap();
        for _ in 0..100 {
            quotas
                .admit_at("111122223333", "CheckInLicense", now)
                .unwrap();
        }
    }

    #[test]
    fn a_rate_below_one_per_second_still_admits_one_request_then_refills_slowly() {
        let quotas = quotas("ExtendLicenseConsumption=0.5");
        let now = Instant::now();
        quotas
            .admit_at("a", "ExtendLicenseConsumption", now)
            .unwrap();
        let soon = now + Duration::from_secs(1);
        assert!(
            quotas
                .admit_at("a", "ExtendLicenseConsumption", soon)
                .is_err()
        );
        let later = now + Duration::from_secs(3);
        quotas
            .admit_at("a", "ExtendLicenseConsumption", later)
            .unwrap();
    }

    #[test]
    fn a_bad_rate_limit_names_what_is_wrong() {
        let error = |text: &str| text.parse::<RateLimit>().unwrap_err();
        assert!(error("CheckoutLicense").contains("expected Operation=RequestsPerSecond"));
        assert!(error("CheckOut=5").contains("\"CheckOut\" is not a License Manager operation"));
        assert!(error("CheckoutLicense=0").contains("above 0"));
        assert!(error("CheckoutLicense=fast").contains("above 0"));
        assert_eq!(
            "CheckoutLicense=2.5".parse::<RateLimit>().unwrap(),
            RateLimit {
                operation: "CheckoutLicense".into(),
                per_second: 2.5
            }
        );
    }
}
