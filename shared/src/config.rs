//! Configuration from the environment (the variables of the README's Configuration section):
//! the plumbing every function's `Config` is read with, and the readers of the variables two or
//! more functions share. A variable only one function reads has its reader next to that
//! function's `Config`.
//!
//! Every reader takes an [`Environment`] so that tests can pass a map instead of touching the
//! process environment. A missing or malformed variable is a [`ConfigError`] that names the
//! variable and says what was wrong; `main.rs` turns it into a failed cold start.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;

/// `EVENT_BUS_NAME`: the bus the project's events go to.
pub const EVENT_BUS_NAME: &str = "EVENT_BUS_NAME";
/// `EVENT_SOURCE`: the `source` of the project's events.
pub const EVENT_SOURCE: &str = "EVENT_SOURCE";
/// `STATE_TABLE`: the DynamoDB state table.
pub const STATE_TABLE: &str = "STATE_TABLE";
/// `DRY_RUN`: decide and log, change nothing.
pub const DRY_RUN: &str = "DRY_RUN";
/// `MAX_CONCURRENCY`: bound on License Manager calls in flight during sweeps.
pub const MAX_CONCURRENCY: &str = "MAX_CONCURRENCY";

/// Default `EVENT_BUS_NAME`: the bus the local stack creates (the template always sets it).
pub const DEFAULT_EVENT_BUS_NAME: &str = "license-automation";
/// Default `EVENT_SOURCE`.
pub const DEFAULT_EVENT_SOURCE: &str = "license-automation";
/// Default `MAX_CONCURRENCY`.
pub const DEFAULT_MAX_CONCURRENCY: usize = 8;
/// Upper bound of `MAX_CONCURRENCY`, far above what License Manager's rate limits allow.
pub const MAX_MAX_CONCURRENCY: usize = 64;

/// A configuration variable that is missing or malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable is not set (or set to an empty string).
    #[error("environment variable {name} is required but not set")]
    Missing {
        /// The variable's name.
        name: &'static str,
    },
    /// A variable is set to a value that does not parse or is out of range.
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable's name.
        name: &'static str,
        /// The value as found.
        value: String,
        /// What is wrong with it and what is expected.
        reason: String,
    },
    /// A variable holds a document (e.g. JSON) that does not parse or validate; the reason
    /// says where, without quoting the whole value.
    #[error("environment variable {name} is invalid: {reason}")]
    Malformed {
        /// The variable's name.
        name: &'static str,
        /// What is wrong, and where in the document.
        reason: String,
    },
}

impl ConfigError {
    /// The variable the error is about.
    pub fn variable(&self) -> &'static str {
        match self {
            Self::Missing { name } | Self::Invalid { name, .. } | Self::Malformed { name, .. } => {
                name
            }
        }
    }
}

/// Where configuration values come from: the process environment, or a map in tests.
pub trait Environment {
    /// The value of `name`, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        // A value that is not UTF-8 is kept (lossily) so that it fails its parser with the
        // variable's name, rather than passing for unset.
        std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
    }
}

impl Environment for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl<const N: usize> Environment for [(&str, &str); N] {
    fn var(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    }
}

/// The value of `name`, trimmed; `None` when unset or blank.
pub fn lookup(env: &impl Environment, name: &str) -> Option<String> {
    env.var(name)
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// A required string variable.
pub fn required(env: &impl Environment, name: &'static str) -> Result<String, ConfigError> {
    lookup(env, name).ok_or(ConfigError::Missing { name })
}

/// An optional variable parsed with `FromStr`, `default` when unset; `expected` says what a
/// good value looks like.
pub fn parsed_or<T>(
    env: &impl Environment,
    name: &'static str,
    default: T,
    expected: &str,
) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    match lookup(env, name) {
        None => Ok(default),
        Some(value) => value.parse().map_err(|error| ConfigError::Invalid {
            name,
            reason: format!("{error}; expected {expected}"),
            value,
        }),
    }
}

/// Checks that `value` of `name` lies within `range`.
pub fn within<T>(
    name: &'static str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: PartialOrd + Display + Copy,
{
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::Invalid {
            name,
            value: value.to_string(),
            reason: format!("must be between {} and {}", range.start(), range.end()),
        })
    }
}

/// Where and as whom the project's events are published, and where state is kept: the
/// variables every function reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommonConfig {
    /// `EVENT_BUS_NAME` (default [`DEFAULT_EVENT_BUS_NAME`]).
    pub event_bus_name: String,
    /// `EVENT_SOURCE` (default [`DEFAULT_EVENT_SOURCE`]).
    pub event_source: String,
    /// `STATE_TABLE` (required).
    pub state_table: String,
}

impl CommonConfig {
    /// Reads `EVENT_BUS_NAME`, `EVENT_SOURCE` and `STATE_TABLE`.
    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        let event_source =
            lookup(env, EVENT_SOURCE).unwrap_or_else(|| DEFAULT_EVENT_SOURCE.to_owned());
        if event_source.starts_with("aws.") {
            return Err(ConfigError::Invalid {
                name: EVENT_SOURCE,
                value: event_source,
                reason: "sources starting with \"aws.\" are reserved for AWS services".into(),
            });
        }
        let event_bus_name =
            lookup(env, EVENT_BUS_NAME).unwrap_or_else(|| DEFAULT_EVENT_BUS_NAME.to_owned());
        if !is_event_bus_name_or_arn(&event_bus_name) {
            return Err(ConfigError::Invalid {
                name: EVENT_BUS_NAME,
                value: event_bus_name,
                reason:
                    "expected an event bus name (1-256 of A-Z a-z 0-9 . _ - /) or an event bus ARN"
                        .into(),
            });
        }
        Ok(Self {
            event_bus_name,
            event_source,
            state_table: required(env, STATE_TABLE)?,
        })
    }
}

/// Whether `value` is what PutEvents takes as `EventBusName`: a bus name or a bus ARN.
fn is_event_bus_name_or_arn(value: &str) -> bool {
    let name = match value.strip_prefix("arn:") {
        Some(rest) => match rest.split_once(":event-bus/") {
            Some((prefix, name)) if prefix.contains(":events:") => name,
            _ => return false,
        },
        None => value,
    };
    (1..=256).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
}

/// `DRY_RUN`: `true`/`false` (also `1`/`0`, `yes`/`no`), default false.
pub fn dry_run(env: &impl Environment) -> Result<bool, ConfigError> {
    match lookup(env, DRY_RUN) {
        None => Ok(false),
        Some(value) => match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(ConfigError::Invalid {
                name: DRY_RUN,
                value,
                reason: "expected true or false".into(),
            }),
        },
    }
}

/// `MAX_CONCURRENCY`: 1 to [`MAX_MAX_CONCURRENCY`], default 8.
pub fn max_concurrency(env: &impl Environment) -> Result<usize, ConfigError> {
    let value = parsed_or(
        env,
        MAX_CONCURRENCY,
        DEFAULT_MAX_CONCURRENCY,
        "a positive integer",
    )?;
    within(MAX_CONCURRENCY, value, 1..=MAX_MAX_CONCURRENCY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid_name(error: ConfigError) -> &'static str {
        match error {
            ConfigError::Invalid { name, .. } => name,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn common_config_reads_all_three_with_defaults() {
        let config = CommonConfig::from_env(&[(STATE_TABLE, "state")]).unwrap();
        assert_eq!(
            config,
            CommonConfig {
                event_bus_name: "license-automation".into(),
                event_source: "license-automation".into(),
                state_table: "state".into(),
            }
        );
        let config = CommonConfig::from_env(&[
            (STATE_TABLE, "t"),
            (EVENT_BUS_NAME, " bus "),
            (EVENT_SOURCE, "acme.licensing"),
        ])
        .unwrap();
        assert_eq!(config.event_bus_name, "bus");
        assert_eq!(config.event_source, "acme.licensing");
    }

    #[test]
    fn event_bus_is_a_name_or_an_arn() {
        let arn = "arn:aws:events:us-east-1:123456789012:event-bus/license-automation";
        for good in ["default", "license-automation", arn] {
            let config =
                CommonConfig::from_env(&[(STATE_TABLE, "t"), (EVENT_BUS_NAME, good)]).unwrap();
            assert_eq!(config.event_bus_name, good);
        }
        for bad in ["my bus", "arn:aws:sqs:us-east-1:123456789012:queue", "bus*"] {
            let error =
                CommonConfig::from_env(&[(STATE_TABLE, "t"), (EVENT_BUS_NAME, bad)]).unwrap_err();
            assert_eq!(invalid_name(error), EVENT_BUS_NAME, "{bad}");
        }
    }

    #[test]
    fn state_table_is_required_and_blank_counts_as_missing() {
        let error = CommonConfig::from_env(&[(STATE_TABLE, "  ")]).unwrap_err();
        assert_eq!(error, ConfigError::Missing { name: STATE_TABLE });
        assert!(error.to_string().contains("STATE_TABLE"));
    }

    #[test]
    fn event_source_may_not_impersonate_aws() {
        let error =
            CommonConfig::from_env(&[(STATE_TABLE, "t"), (EVENT_SOURCE, "aws.license-manager")])
                .unwrap_err();
        assert_eq!(invalid_name(error), EVENT_SOURCE);
    }

    #[test]
    fn dry_run_accepts_booleans_and_names_bad_values() {
        assert!(!dry_run(&[]).unwrap());
        assert!(dry_run(&[(DRY_RUN, "TRUE")]).unwrap());
        assert!(!dry_run(&[(DRY_RUN, "0")]).unwrap());
        let error = dry_run(&[(DRY_RUN, "maybe")]).unwrap_err();
        assert!(error.to_string().contains("DRY_RUN=\"maybe\""), "{error}");
    }

    #[test]
    fn max_concurrency_is_bounded() {
        assert_eq!(max_concurrency(&[]).unwrap(), 8);
        assert_eq!(max_concurrency(&[(MAX_CONCURRENCY, "16")]).unwrap(), 16);
        for bad in ["0", "65", "many"] {
            let error = max_concurrency(&[(MAX_CONCURRENCY, bad)]).unwrap_err();
            assert_eq!(invalid_name(error), MAX_CONCURRENCY, "{bad}");
        }
    }
}
