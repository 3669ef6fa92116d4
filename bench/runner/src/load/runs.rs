//! What one run of the load benchmark measured.

use serde::Serialize;

use crate::load::apps::Sample;

/// Who serves the checkout API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// checkout-proxy's release bootstrap.
    Rust,
    /// The boto3 baseline under awslambdaric.
    Boto3,
}

/// One run: a side, a number of apps, with or without quotas.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// Who served.
    pub side: Side,
    /// Customer apps at once.
    pub apps: usize,
    /// The emulated quotas (empty: none).
    pub quotas: Vec<String>,
    /// The function's concurrency (its reserved concurrency in the template).
    pub concurrency: usize,
    /// Seconds from the first request to the last answer.
    pub seconds: f64,
    /// Every attempt, in order of its end.
    pub samples: Vec<Sample>,
    /// Apps whose three steps all succeeded.
    pub completed_apps: usize,
    /// Successful checkouts.
    pub checkouts: usize,
    /// Seats drawn at License Manager after the checkout phase.
    pub seats_after_checkout: i64,
    /// Seats drawn after the check-in phase.
    pub seats_after_checkin: i64,
    /// Leases the apps still hold after it (their check-in failed every time).
    pub leases_held: usize,
    /// Environments started (cold starts).
    pub cold_starts: u64,
    /// Requests the host throttled (429 TooManyRequestsException).
    pub throttles: u64,
    /// The most invocations that ran at once.
    pub peak_running: usize,
    /// Peak RSS of each environment, in KiB.
    pub environment_rss_kib: Vec<u64>,
}
