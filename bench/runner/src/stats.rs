//! Summaries of samples: min, median and p99 (nearest rank), and how two of them compare.

use std::time::Duration;

use serde::Serialize;

/// Min, median and p99 of a set of samples, in the samples' unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// How many samples.
    pub count: usize,
    /// The smallest.
    pub min: f64,
    /// The 50th percentile (nearest rank).
    pub median: f64,
    /// The 99th percentile (nearest rank).
    pub p99: f64,
}

impl Summary {
    /// The summary of `samples`, or `None` when there are none (or one is not a number).
    pub fn of(samples: &[f64]) -> Option<Self> {
        if samples.is_empty() || samples.iter().any(|sample| sample.is_nan()) {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Self {
            count: sorted.len(),
            min: sorted[0],
            median: percentile(&sorted, 50.0),
            p99: percentile(&sorted, 99.0),
        })
    }
}

/// The nearest-rank percentile `p` (0 < p ≤ 100) of sorted, non-empty samples.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    // Nearest rank: the smallest sample with at least p% of the samples at or below it.
    let rank = (p / 100.0 * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// A duration in milliseconds, as the tables show them.
pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// `numerator / denominator` when both are positive numbers.
pub fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (numerator.is_finite() && denominator.is_finite() && denominator > 0.0)
        .then(|| numerator / denominator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p99_are_nearest_ranks() {
        let samples: Vec<f64> = (1..=200).rev().map(f64::from).collect();
        let summary = Summary::of(&samples).unwrap();
        assert_eq!(summary.count, 200);
        assert_eq!(summary.min, 1.0);
        assert_eq!(summary.median, 100.0);
        assert_eq!(summary.p99, 198.0);
    }

    #[test]
    fn few_samples_put_p99_on_the_largest() {
        let summary = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((summary.min, summary.median, summary.p99), (1.0, 2.0, 3.0));
        let one = Summary::of(&[7.5]).unwrap();
        assert_eq!((one.min, one.median, one.p99), (7.5, 7.5, 7.5));
    }

    #[test]
    fn nothing_to_summarise_is_none() {
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn ratios_need_a_positive_denominator() {
        assert_eq!(ratio(10.0, 4.0), Some(2.5));
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(f64::INFINITY, 1.0), None);
    }
}
