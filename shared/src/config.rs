//! Typed configuration from the environment variables of DESIGN §5.
//!
//! Every reader takes an [`Environment`] so that tests can pass a map instead of touching the
//! process environment. A missing or malformed variable is a [`ConfigError`] that names the
//! variable and says what was wrong; `main.rs` turns it into a failed cold start.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;

use crate::trust::{TrustPolicy, TrustPolicyError};

/// `EVENT_BUS_NAME`: the bus the project's events go to.
pub const EVENT_BUS_NAME: &str = "EVENT_BUS_NAME";
/// `EVENT_SOURCE`: the `source` of the project's events.
pub const EVENT_SOURCE: &str = "EVENT_SOURCE";
/// `STATE_TABLE`: the DynamoDB table of DESIGN §4.3.
pub const STATE_TABLE: &str = "STATE_TABLE";
/// `TRUST_POLICY`: the grant-acceptor's JSON trust policy.
pub const TRUST_POLICY: &str = "TRUST_POLICY";
/// `DRY_RUN`: decide and log, change nothing.
pub const DRY_RUN: &str = "DRY_RUN";
/// `WARN_THRESHOLD_PERCENT`: the soft-limit warning threshold.
pub const WARN_THRESHOLD_PERCENT: &str = "WARN_THRESHOLD_PERCENT";
/// `ENFORCEMENT`: `alert` or `harden`.
pub const ENFORCEMENT: &str = "ENFORCEMENT";
/// `MAX_CONCURRENCY`: bound on License Manager calls in flight during sweeps.
pub const MAX_CONCURRENCY: &str = "MAX_CONCURRENCY";
/// `KEY_FINGERPRINT`: the issuer fingerprint checkouts are made against.
pub const KEY_FINGERPRINT: &str = "KEY_FINGERPRINT";
/// `BENEFICIARY_CLAIM`: the JWT claim naming the customer.
pub const BENEFICIARY_CLAIM: &str = "BENEFICIARY_CLAIM";
/// `EXPIRY_WARNING_DAYS`: the window for `License Expiring`.
pub const EXPIRY_WARNING_DAYS: &str = "EXPIRY_WARNING_DAYS";

/// Default `EVENT_BUS_NAME`: the bus the local stack creates (the template always sets it).
pub const DEFAULT_EVENT_BUS_NAME: &str = "license-automation";
/// Default `EVENT_SOURCE`.
pub const DEFAULT_EVENT_SOURCE: &str = "license-automation";
/// Default `WARN_THRESHOLD_PERCENT`.
pub const DEFAULT_WARN_THRESHOLD_PERCENT: u8 = 80;
/// Default `MAX_CONCURRENCY`.
pub const DEFAULT_MAX_CONCURRENCY: usize = 8;
/// Upper bound of `MAX_CONCURRENCY`, far above what License Manager's rate limits allow.
pub const MAX_MAX_CONCURRENCY: usize = 64;
/// Default `BENEFICIARY_CLAIM`.
pub const DEFAULT_BENEFICIARY_CLAIM: &str = "sub";
/// Default `EXPIRY_WARNING_DAYS`.
pub const DEFAULT_EXPIRY_WARNING_DAYS: u32 = 30;
/// Upper bound of `EXPIRY_WARNING_DAYS` (ten years).
pub const MAX_EXPIRY_WARNING_DAYS: u32 = 3650;

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
    /// `TRUST_POLICY` is set but is not a valid trust policy.
    #[error("environment variable {TRUST_POLICY} is invalid: {0}")]
    TrustPolicy(#[from] TrustPolicyError),
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
fn lookup(env: &impl Environment, name: &str) -> Option<String> {
    env.var(name)
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// A required string variable.
pub fn required(env: &impl Environment, name: &'static str) -> Result<String, ConfigError> {
    lookup(env, name).ok_or(ConfigError::Missing { name })
}

/// An optional variable parsed with `FromStr`, `default` when unset.
fn parsed_or<T>(
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
fn within<T>(
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

/// `WARN_THRESHOLD_PERCENT`: an integer from 1 to 100, default 80.
pub fn warn_threshold_percent(env: &impl Environment) -> Result<u8, ConfigError> {
    let value = parsed_or(
        env,
        WARN_THRESHOLD_PERCENT,
        DEFAULT_WARN_THRESHOLD_PERCENT,
        "an integer percentage from 1 to 100",
    )?;
    within(WARN_THRESHOLD_PERCENT, value, 1..=100)
}

/// What soft-limit-monitor does when a soft limit is breached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Enforcement {
    /// Raise alerts only (the default).
    #[default]
    Alert,
    /// Raise alerts and turn a breached soft limit into a hard one.
    Harden,
}

impl FromStr for Enforcement {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.to_ascii_lowercase().as_str() {
            "alert" => Ok(Self::Alert),
            "harden" => Ok(Self::Harden),
            _ => Err("unknown enforcement mode".into()),
        }
    }
}

/// `ENFORCEMENT`: `alert` (default) or `harden`.
pub fn enforcement(env: &impl Environment) -> Result<Enforcement, ConfigError> {
    parsed_or(env, ENFORCEMENT, Enforcement::Alert, "alert or harden")
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

/// `KEY_FINGERPRINT` (required): `aws:<12-digit account>:<issuer name>:issuer-fingerprint`.
pub fn key_fingerprint(env: &impl Environment) -> Result<String, ConfigError> {
    let value = required(env, KEY_FINGERPRINT)?;
    match crate::trust::validate_key_fingerprint(&value) {
        Ok(()) => Ok(value),
        Err(reason) => Err(ConfigError::Invalid {
            name: KEY_FINGERPRINT,
            value,
            reason,
        }),
    }
}

/// `BENEFICIARY_CLAIM`: a JWT claim name, default `sub`.
pub fn beneficiary_claim(env: &impl Environment) -> Result<String, ConfigError> {
    let value =
        lookup(env, BENEFICIARY_CLAIM).unwrap_or_else(|| DEFAULT_BENEFICIARY_CLAIM.to_owned());
    if value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-:./".contains(c))
    {
        Ok(value)
    } else {
        Err(ConfigError::Invalid {
            name: BENEFICIARY_CLAIM,
            value,
            reason: "a claim name may hold only letters, digits and _ - : . /".into(),
        })
    }
}

/// `EXPIRY_WARNING_DAYS`: 1 to 3650, default 30.
pub fn expiry_warning_days(env: &impl Environment) -> Result<u32, ConfigError> {
    let value = parsed_or(
        env,
        EXPIRY_WARNING_DAYS,
        DEFAULT_EXPIRY_WARNING_DAYS,
        "a whole number of days",
    )?;
    within(EXPIRY_WARNING_DAYS, value, 1..=MAX_EXPIRY_WARNING_DAYS)
}

/// `TRUST_POLICY` (required): the JSON trust policy of DESIGN §5.
pub fn trust_policy(env: &impl Environment) -> Result<TrustPolicy, ConfigError> {
    Ok(TrustPolicy::from_json(&required(env, TRUST_POLICY)?)?)
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
    fn warn_threshold_defaults_to_80_and_must_be_a_percentage() {
        assert_eq!(warn_threshold_percent(&[]).unwrap(), 80);
        assert_eq!(
            warn_threshold_percent(&[(WARN_THRESHOLD_PERCENT, "95")]).unwrap(),
            95
        );
        for bad in ["0", "101", "eighty", "-5", "80.5"] {
            let error = warn_threshold_percent(&[(WARN_THRESHOLD_PERCENT, bad)]).unwrap_err();
            assert_eq!(invalid_name(error), WARN_THRESHOLD_PERCENT, "{bad}");
        }
    }

    #[test]
    fn enforcement_is_alert_or_harden() {
        assert_eq!(enforcement(&[]).unwrap(), Enforcement::Alert);
        assert_eq!(
            enforcement(&[(ENFORCEMENT, "Harden")]).unwrap(),
            Enforcement::Harden
        );
        let error = enforcement(&[(ENFORCEMENT, "block")]).unwrap_err();
        assert!(
            error.to_string().contains("expected alert or harden"),
            "{error}"
        );
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

    #[test]
    fn key_fingerprint_is_required_and_checked() {
        assert_eq!(
            key_fingerprint(&[]).unwrap_err(),
            ConfigError::Missing {
                name: KEY_FINGERPRINT
            }
        );
        let good = "aws:111122223333:Acme:issuer-fingerprint";
        assert_eq!(key_fingerprint(&[(KEY_FINGERPRINT, good)]).unwrap(), good);
        let error = key_fingerprint(&[(KEY_FINGERPRINT, "acme")]).unwrap_err();
        assert_eq!(invalid_name(error), KEY_FINGERPRINT);
    }

    #[test]
    fn beneficiary_claim_defaults_to_sub_and_refuses_odd_names() {
        assert_eq!(beneficiary_claim(&[]).unwrap(), "sub");
        assert_eq!(
            beneficiary_claim(&[(BENEFICIARY_CLAIM, "custom:tenant_id")]).unwrap(),
            "custom:tenant_id"
        );
        let error = beneficiary_claim(&[(BENEFICIARY_CLAIM, "a b")]).unwrap_err();
        assert_eq!(invalid_name(error), BENEFICIARY_CLAIM);
    }

    #[test]
    fn expiry_warning_days_is_bounded() {
        assert_eq!(expiry_warning_days(&[]).unwrap(), 30);
        assert_eq!(
            expiry_warning_days(&[(EXPIRY_WARNING_DAYS, "7")]).unwrap(),
            7
        );
        for bad in ["0", "3651", "a week"] {
            let error = expiry_warning_days(&[(EXPIRY_WARNING_DAYS, bad)]).unwrap_err();
            assert_eq!(invalid_name(error), EXPIRY_WARNING_DAYS, "{bad}");
        }
    }

    #[test]
    fn trust_policy_is_required_and_parsed() {
        assert_eq!(
            trust_policy(&[]).unwrap_err(),
            ConfigError::Missing { name: TRUST_POLICY }
        );
        let policy = trust_policy(&[(
            TRUST_POLICY,
            r#"{"trusted":[{"keyFingerprint":"aws:111122223333:Acme:issuer-fingerprint"}]}"#,
        )])
        .unwrap();
        assert_eq!(policy.trusted.len(), 1);
        let error = trust_policy(&[(TRUST_POLICY, "{")]).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("environment variable TRUST_POLICY is invalid"),
            "{error}"
        );
    }
}
