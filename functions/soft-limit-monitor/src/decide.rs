//! What to do with a limit's level: the pure decisions behind [`crate::limit`], as the
//! README's soft-limit-monitor tables state them (which configurations are watched, which
//! change of level is a crossing to alert, when to harden, when an entitlement's overage is
//! due, what level to store).

use crate::config::Enforcement;
use aws_sdk_licensemanager::types::{Entitlement, EntitlementUsage, LicenseConfiguration};
use license_automation::limits::{Crossing, Level, Usage, crossing, overage_due};

/// The tag that keeps a configuration alert-only under `ENFORCEMENT=harden`: key
/// [`OPT_OUT_TAG_KEY`], value [`OPT_OUT_TAG_VALUE`] (case-insensitive).
pub const OPT_OUT_TAG_KEY: &str = "license-automation:enforcement";
/// See [`OPT_OUT_TAG_KEY`].
pub const OPT_OUT_TAG_VALUE: &str = "alert";

/// How a sweep treats a license configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchMode {
    /// An enabled soft limit with a count: every crossing is alerted.
    Soft,
    /// An enabled hard limit with a count: not watched, except that one this function alerted
    /// on (e.g. hardened under `harden`) is followed until it recovers.
    Hard,
    /// Not watched, for the reason given.
    Skip(&'static str),
}

/// How a sweep treats `configuration`: disabled ones and ones without a count are skipped.
pub fn watched(configuration: &LicenseConfiguration) -> WatchMode {
    if configuration
        .status()
        .is_some_and(|status| status.eq_ignore_ascii_case("DISABLED"))
    {
        return WatchMode::Skip("disabled");
    }
    if configuration.license_count().is_none_or(|count| count <= 0) {
        return WatchMode::Skip("no license count");
    }
    if configuration.license_count_hard_limit() == Some(true) {
        WatchMode::Hard
    } else {
        WatchMode::Soft
    }
}

/// What the state table said about a limit before this check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prior {
    /// No record: nobody was told anything.
    Absent,
    /// The stored level.
    Level(Level),
    /// A record whose state this code does not know (overwritten conditionally).
    Unknown(String),
    /// The table could not be read: nothing is written, alerts are sent.
    Unreadable,
}

impl Prior {
    /// The stored level, when one is known.
    pub fn level(&self) -> Option<Level> {
        match self {
            Self::Level(level) => Some(*level),
            _ => None,
        }
    }

    /// The state a conditional write expects, or `None` when nothing may be written.
    pub fn expected(&self) -> Option<Option<&str>> {
        match self {
            Self::Absent => Some(None),
            Self::Level(level) => Some(Some(level.as_str())),
            Self::Unknown(state) => Some(Some(state)),
            Self::Unreadable => None,
        }
    }
}

/// What a change of a configuration's level calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelPlan {
    /// The alert due, if any.
    pub alert: Option<Crossing>,
    /// Whether enforcement is due (`harden` and a crossing into EXCEEDED), unless the
    /// configuration's tag opts out ([`opted_out`]).
    pub harden: bool,
    /// The level to store (conditionally on the prior one).
    pub store: Level,
}

/// The plan for a watched configuration now at `level`, or `None` when there is nothing to
/// store or say: the level is the stored one, a hard limit is not recovering from an alert
/// given while it was soft, or nothing was stored and nothing is due.
pub fn configuration_plan(
    mode: WatchMode,
    prior: &Prior,
    level: Level,
    enforcement: Enforcement,
) -> Option<LevelPlan> {
    if prior.level() == Some(level) {
        return None;
    }
    // A hard limit only ever recovers from an alert given while it was soft.
    let recovering =
        level == Level::Ok && matches!(prior, Prior::Level(Level::Warning | Level::Exceeded));
    if mode == WatchMode::Hard && !recovering {
        return None;
    }
    let alert = crossing(prior.level(), level);
    if alert.is_none() && *prior == Prior::Absent {
        return None;
    }
    Some(LevelPlan {
        alert,
        harden: alert == Some(Crossing::Exceeded) && enforcement == Enforcement::Harden,
        store: level,
    })
}

/// Whether `tags` opt a configuration out of enforcement.
pub fn opted_out(tags: &[(String, String)]) -> bool {
    tags.iter()
        .any(|(key, value)| key == OPT_OUT_TAG_KEY && value.eq_ignore_ascii_case(OPT_OUT_TAG_VALUE))
}

/// What an entitlement's usage calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OveragePlan {
    /// Whether `Entitlement Overage` is due.
    pub overage: bool,
    /// The level to store: `exceeded` over MaxCount, else `ok`.
    pub store: Level,
}

/// The plan for an entitlement at `usage`, or `None` when the stored level already says it
/// (or nothing is stored and it is not over).
pub fn entitlement_plan(prior: &Prior, usage: Usage) -> Option<OveragePlan> {
    let level = if usage.over() {
        Level::Exceeded
    } else {
        Level::Ok
    };
    if prior.level() == Some(level) || (*prior == Prior::Absent && level == Level::Ok) {
        return None;
    }
    let previously_over = match prior {
        Prior::Absent => Some(false),
        Prior::Level(level) => Some(*level == Level::Exceeded),
        Prior::Unknown(_) | Prior::Unreadable => None,
    };
    Some(OveragePlan {
        overage: overage_due(previously_over, usage),
        store: level,
    })
}

/// The usage of an overage-allowed entitlement as License Manager reports it: `None` when it
/// has no MaxCount (unlimited or unmetered: nothing to pass); an error names the member that
/// is not a whole number.
pub fn entitlement_usage(
    entitlement: &Entitlement,
    usage: &EntitlementUsage,
) -> Result<Option<Usage>, String> {
    let consumed: i64 = usage.consumed_value().parse().map_err(|_| {
        format!(
            "ConsumedValue {:?} is not a whole number",
            usage.consumed_value()
        )
    })?;
    let count = match (entitlement.max_count(), usage.max_count()) {
        (Some(count), _) => count,
        (None, Some(count)) => count
            .parse()
            .map_err(|_| format!("MaxCount {count:?} is not a whole number"))?,
        (None, None) => return Ok(None),
    };
    Ok(Some(Usage { consumed, count }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_licensemanager::types::EntitlementDataUnit;
    use aws_sdk_licensemanager::types::EntitlementUnit;

    /// (mode, prior, level now, enforcement) -> (alert, harden), or nothing to store or say
    type Case<'a> = (
        WatchMode,
        &'a Prior,
        Level,
        Enforcement,
        Option<(Option<Crossing>, bool)>,
    );

    fn configuration(count: Option<i64>, hard: bool, status: &str) -> LicenseConfiguration {
        LicenseConfiguration::builder()
            .license_configuration_arn(
                "arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-1",
            )
            .set_license_count(count)
            .license_count_hard_limit(hard)
            .status(status)
            .build()
    }

    #[test]
    fn enabled_limits_with_a_count_are_watched_hard_ones_only_to_recovery() {
        let cases = [
            (Some(10), false, "AVAILABLE", WatchMode::Soft),
            (Some(10), true, "AVAILABLE", WatchMode::Hard),
            (Some(10), false, "DISABLED", WatchMode::Skip("disabled")),
            (Some(10), true, "DISABLED", WatchMode::Skip("disabled")),
            (
                None,
                false,
                "AVAILABLE",
                WatchMode::Skip("no license count"),
            ),
            (
                Some(0),
                false,
                "AVAILABLE",
                WatchMode::Skip("no license count"),
            ),
        ];
        for (count, hard, status, expected) in cases {
            assert_eq!(
                watched(&configuration(count, hard, status)),
                expected,
                "{count:?} hard={hard} {status}"
            );
        }
    }

    #[test]
    fn a_configuration_alerts_once_per_crossing_and_hardens_only_a_new_breach() {
        use Crossing::{Exceeded as X, Recovered as R, Warning as W};
        use Enforcement::{Alert as A, Harden as H};
        use Level::{Exceeded, Ok, Warning};
        use WatchMode::{Hard, Soft};
        let absent = Prior::Absent;
        let ok = Prior::Level(Ok);
        let warning = Prior::Level(Warning);
        let exceeded = Prior::Level(Exceeded);
        let odd = Prior::Unknown("odd".into());
        let unreadable = Prior::Unreadable;
        // (mode, prior, level now, enforcement) -> (alert, harden, store) or nothing
        let cases: [Case<'_>; 24] = [
            (Soft, &absent, Ok, A, None),
            (Soft, &absent, Warning, A, Some((Some(W), false))),
            (Soft, &absent, Exceeded, A, Some((Some(X), false))),
            (Soft, &absent, Exceeded, H, Some((Some(X), true))),
            (Soft, &ok, Ok, H, None),
            (Soft, &ok, Warning, H, Some((Some(W), false))),
            (Soft, &ok, Exceeded, H, Some((Some(X), true))),
            (Soft, &warning, Warning, H, None),
            (Soft, &warning, Exceeded, A, Some((Some(X), false))),
            (Soft, &warning, Exceeded, H, Some((Some(X), true))),
            (Soft, &warning, Ok, A, Some((Some(R), false))),
            (Soft, &exceeded, Exceeded, H, None),
            (Soft, &exceeded, Warning, H, Some((None, false))),
            (Soft, &exceeded, Ok, H, Some((Some(R), false))),
            (Soft, &odd, Ok, A, Some((None, false))),
            (Soft, &odd, Exceeded, H, Some((Some(X), true))),
            (Soft, &unreadable, Warning, A, Some((Some(W), false))),
            (Soft, &unreadable, Ok, A, Some((None, false))),
            (Hard, &absent, Exceeded, H, None),
            (Hard, &ok, Exceeded, H, None),
            (Hard, &exceeded, Exceeded, H, None),
            (Hard, &exceeded, Warning, H, None),
            (Hard, &exceeded, Ok, H, Some((Some(R), false))),
            (Hard, &warning, Ok, A, Some((Some(R), false))),
        ];
        for (mode, prior, level, enforcement, expected) in cases {
            let plan = configuration_plan(mode, prior, level, enforcement);
            assert_eq!(
                plan.map(|plan| (plan.alert, plan.harden)),
                expected,
                "{mode:?} {prior:?} -> {level:?} under {enforcement:?}"
            );
            if let Some(plan) = plan {
                assert_eq!(plan.store, level, "the level now is stored");
            }
        }
    }

    #[test]
    fn an_entitlement_overage_is_due_once_per_passing_of_max_count() {
        use Level::{Exceeded, Ok};
        let usage = |consumed| Usage {
            consumed,
            count: 10,
        };
        // (prior, consumed of 10) -> (overage due, level stored) or nothing
        let cases = [
            (Prior::Absent, 5, None),
            (Prior::Absent, 10, None),
            (Prior::Absent, 11, Some((true, Exceeded))),
            (Prior::Level(Ok), 11, Some((true, Exceeded))),
            (Prior::Level(Ok), 3, None),
            (Prior::Level(Exceeded), 12, None),
            (Prior::Level(Exceeded), 9, Some((false, Ok))),
            (Prior::Unknown("odd".into()), 11, Some((true, Exceeded))),
            (Prior::Unreadable, 11, Some((true, Exceeded))),
            (Prior::Unreadable, 2, Some((false, Ok))),
        ];
        for (prior, consumed, expected) in cases {
            assert_eq!(
                entitlement_plan(&prior, usage(consumed)).map(|plan| (plan.overage, plan.store)),
                expected,
                "{prior:?} at {consumed} of 10"
            );
        }
    }

    #[test]
    fn only_the_alert_tag_opts_out_of_enforcement() {
        let tags = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(opted_out(&tags(&[(OPT_OUT_TAG_KEY, "alert")])));
        assert!(opted_out(&tags(&[
            ("team", "x"),
            (OPT_OUT_TAG_KEY, "ALERT")
        ])));
        assert!(!opted_out(&tags(&[(OPT_OUT_TAG_KEY, "harden")])));
        assert!(!opted_out(&tags(&[(
            "License-Automation:Enforcement",
            "alert"
        )])));
        assert!(!opted_out(&[]));
    }

    #[test]
    fn entitlement_usage_takes_max_count_from_the_license_first_and_names_bad_numbers() {
        let entitlement = |max: Option<i64>| {
            Entitlement::builder()
                .name("Users")
                .unit(EntitlementUnit::Count)
                .set_max_count(max)
                .overage(true)
                .build()
                .unwrap()
        };
        let usage = |consumed: &str, max: Option<&str>| {
            EntitlementUsage::builder()
                .name("Users")
                .consumed_value(consumed)
                .set_max_count(max.map(str::to_owned))
                .unit(EntitlementDataUnit::Count)
                .build()
                .unwrap()
        };
        let read = |max, consumed, usage_max| {
            entitlement_usage(&entitlement(max), &usage(consumed, usage_max))
        };
        assert_eq!(
            read(Some(10), "11", Some("20")),
            Ok(Some(Usage {
                consumed: 11,
                count: 10
            }))
        );
        assert_eq!(
            read(None, "11", Some("20")),
            Ok(Some(Usage {
                consumed: 11,
                count: 20
            }))
        );
        assert_eq!(read(None, "11", None), Ok(None), "unlimited");
        assert_eq!(
            read(Some(10), "1.5", None),
            Err("ConsumedValue \"1.5\" is not a whole number".to_owned())
        );
        assert_eq!(
            read(None, "3", Some("many")),
            Err("MaxCount \"many\" is not a whole number".to_owned())
        );
    }

    #[test]
    fn a_write_expects_what_was_read_and_nothing_is_written_blind() {
        assert_eq!(Prior::Absent.expected(), Some(None));
        assert_eq!(
            Prior::Level(Level::Warning).expected(),
            Some(Some("warning"))
        );
        assert_eq!(Prior::Unknown("odd".into()).expected(), Some(Some("odd")));
        assert_eq!(Prior::Unreadable.expected(), None);
        assert_eq!(Prior::Unknown("odd".into()).level(), None);
    }
}
