//! Limits and their crossings: the pure rules behind `Soft Limit Warning` / `Exceeded` /
//! `Recovered` and `Entitlement Overage` (the README's Events section and
//! soft-limit-monitor section).
//!
//! A level is where usage stands; an alert is due only when the level changes in a way people
//! must hear about (a *crossing*), so a sweep that finds nothing new emits nothing. The last
//! level is kept in the state table under [`crate::state::StateKey::Alert`] as
//! [`Level::as_str`]; a missing or unreadable record counts as [`Level::Ok`] when usage is
//! fine and as unknown otherwise, which errs on the side of one repeated alert, never silence.

use std::fmt;
use std::str::FromStr;

/// Where usage of a limit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Below the warning threshold.
    Ok,
    /// At or above the warning threshold, at most 100 %.
    Warning,
    /// Above 100 % of the limit.
    Exceeded,
}

impl Level {
    /// The value stored in the state table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Exceeded => "exceeded",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored level that is none of `ok`, `warning`, `exceeded`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown limit level {0:?} (expected ok, warning or exceeded)")]
pub struct UnknownLevel(pub String);

impl FromStr for Level {
    type Err = UnknownLevel;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "ok" => Ok(Self::Ok),
            "warning" => Ok(Self::Warning),
            "exceeded" => Ok(Self::Exceeded),
            other => Err(UnknownLevel(other.to_owned())),
        }
    }
}

/// Usage of a limit: `consumed` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// What is consumed.
    pub consumed: i64,
    /// The limit (LicenseCount, MaxCount); positive.
    pub count: i64,
}

impl Usage {
    /// `consumed` as a percentage of `count`, rounded to two decimals (0 for a count ≤ 0).
    pub fn percent(self) -> f64 {
        if self.count <= 0 {
            return 0.0;
        }
        // i64 → f64 loses precision only beyond 2^53 licenses.
        #[allow(clippy::cast_precision_loss)]
        let percent = self.consumed as f64 * 100.0 / self.count as f64;
        (percent * 100.0).round() / 100.0
    }

    /// The level of this usage for a warning threshold in percent (1–100). Integer
    /// arithmetic, so 8 of 10 at 80 % is a warning exactly.
    pub fn level(self, warn_threshold_percent: u8) -> Level {
        let consumed = i128::from(self.consumed);
        let count = i128::from(self.count.max(1));
        if consumed > count {
            Level::Exceeded
        } else if consumed * 100 >= count * i128::from(warn_threshold_percent) {
            Level::Warning
        } else {
            Level::Ok
        }
    }

    /// Whether consumption passed the limit (an entitlement's overage).
    pub fn over(self) -> bool {
        self.consumed > self.count
    }
}

/// An alert a change of level calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crossing {
    /// Usage crossed the warning threshold upwards (`Soft Limit Warning`).
    Warning,
    /// Usage crossed 100 % (`Soft Limit Exceeded`).
    Exceeded,
    /// Usage fell back under the warning threshold (`Soft Limit Recovered`).
    Recovered,
}

/// The alert due when usage moves from `previous` (as stored; `None` when nothing is
/// stored or it cannot be read) to `current`, if any.
///
/// - Upwards into WARNING or EXCEEDED: that alert (OK → EXCEEDED skips the warning).
/// - Down from EXCEEDED to WARNING: nothing; usage is still high, and the warning was given.
/// - Down to OK from WARNING or EXCEEDED: Recovered.
/// - No change: nothing.
/// - Nothing known: WARNING / EXCEEDED alert again (at most one repeat, never silence); OK is
///   quiet (there is nothing to recover from that anyone was told about).
pub fn crossing(previous: Option<Level>, current: Level) -> Option<Crossing> {
    match (previous, current) {
        (Some(before), now) if before == now => None,
        (Some(Level::Exceeded), Level::Warning) => None,
        (Some(_), Level::Ok) => Some(Crossing::Recovered),
        (None, Level::Ok) => None,
        (_, Level::Warning) => Some(Crossing::Warning),
        (_, Level::Exceeded) => Some(Crossing::Exceeded),
    }
}

/// Whether an `Entitlement Overage` is due: consumption is over MaxCount now and was not
/// when last seen (`previously_over`: `None` when unknown, which alerts again rather than
/// stay silent).
pub fn overage_due(previously_over: Option<bool>, usage: Usage) -> bool {
    usage.over() && previously_over != Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(consumed: i64, count: i64) -> Usage {
        Usage { consumed, count }
    }

    #[test]
    fn levels_follow_the_threshold_and_the_limit() {
        let cases = [
            (0, 10, 80, Level::Ok),
            (7, 10, 80, Level::Ok),
            (8, 10, 80, Level::Warning),
            (10, 10, 80, Level::Warning),
            (11, 10, 80, Level::Exceeded),
            (1, 1, 100, Level::Warning),
            (0, 1, 100, Level::Ok),
            (2, 1, 100, Level::Exceeded),
            (799, 1000, 80, Level::Ok),
            (800, 1000, 80, Level::Warning),
            (i64::MAX, i64::MAX, 80, Level::Warning),
        ];
        for (consumed, count, threshold, expected) in cases {
            assert_eq!(
                usage(consumed, count).level(threshold),
                expected,
                "{consumed} of {count} at {threshold}%"
            );
        }
    }

    #[test]
    fn an_alert_is_due_only_on_a_change_people_must_hear_about() {
        use Crossing::{Exceeded, Recovered, Warning};
        use Level::{Exceeded as E, Ok as O, Warning as W};
        let cases = [
            (Some(O), O, None),
            (Some(O), W, Some(Warning)),
            (Some(O), E, Some(Exceeded)),
            (Some(W), W, None),
            (Some(W), E, Some(Exceeded)),
            (Some(W), O, Some(Recovered)),
            (Some(E), E, None),
            (Some(E), W, None),
            (Some(E), O, Some(Recovered)),
            (None, O, None),
            (None, W, Some(Warning)),
            (None, E, Some(Exceeded)),
        ];
        for (previous, current, expected) in cases {
            assert_eq!(
                crossing(previous, current),
                expected,
                "{previous:?} -> {current:?}"
            );
        }
    }

    #[test]
    fn overage_is_due_once_per_crossing() {
        assert!(overage_due(Some(false), usage(11, 10)));
        assert!(overage_due(None, usage(11, 10)), "unknown: alert again");
        assert!(!overage_due(Some(true), usage(12, 10)), "still over: quiet");
        assert!(
            !overage_due(Some(false), usage(10, 10)),
            "at MaxCount is not over"
        );
        assert!(!overage_due(None, usage(3, 10)));
    }

    #[test]
    fn percent_is_rounded_and_safe_for_a_zero_count() {
        assert!((usage(9, 10).percent() - 90.0).abs() < f64::EPSILON);
        assert!((usage(1, 3).percent() - 33.33).abs() < 1e-9);
        assert!(usage(5, 0).percent().abs() < f64::EPSILON);
    }

    #[test]
    fn levels_round_trip_through_the_state_table() {
        for level in [Level::Ok, Level::Warning, Level::Exceeded] {
            assert_eq!(level.as_str().parse::<Level>(), Ok(level));
        }
        assert!("OK".parse::<Level>().is_err());
    }
}
