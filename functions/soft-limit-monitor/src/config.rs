//! The soft-limit-monitor's configuration (the README's Configuration section), read from the
//! environment once per cold start.

use std::str::FromStr;

use license_automation::config::{self, CommonConfig, ConfigError, Environment, parsed_or, within};

/// `WARN_THRESHOLD_PERCENT`: the soft-limit warning threshold.
const WARN_THRESHOLD_PERCENT: &str = "WARN_THRESHOLD_PERCENT";
/// `ENFORCEMENT`: `alert` or `harden`.
const ENFORCEMENT: &str = "ENFORCEMENT";
/// Default `WARN_THRESHOLD_PERCENT`.
const DEFAULT_WARN_THRESHOLD_PERCENT: u8 = 80;

/// Everything the handler is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// `EVENT_BUS_NAME`, `EVENT_SOURCE`, `STATE_TABLE`.
    pub common: CommonConfig,
    /// `WARN_THRESHOLD_PERCENT`: usage (in percent of the limit) that raises a warning.
    pub warn_threshold_percent: u8,
    /// `ENFORCEMENT`: `alert` or `harden`.
    pub enforcement: Enforcement,
    /// `DRY_RUN`: alert and say what enforcement would do; change nothing.
    pub dry_run: bool,
    /// `MAX_CONCURRENCY`: License Manager calls in flight at most.
    pub max_concurrency: usize,
}

impl Config {
    /// Reads the configuration; the error names the variable that is missing or malformed.
    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env)?,
            warn_threshold_percent: warn_threshold_percent(env)?,
            enforcement: enforcement(env)?,
            dry_run: config::dry_run(env)?,
            max_concurrency: config::max_concurrency(env)?,
        })
    }
}

/// `WARN_THRESHOLD_PERCENT`: an integer from 1 to 100, default 80.
fn warn_threshold_percent(env: &impl Environment) -> Result<u8, ConfigError> {
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
fn enforcement(env: &impl Environment) -> Result<Enforcement, ConfigError> {
    parsed_or(env, ENFORCEMENT, Enforcement::Alert, "alert or harden")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warn_threshold_defaults_to_80_and_must_be_a_percentage() {
        assert_eq!(warn_threshold_percent(&[]).unwrap(), 80);
        assert_eq!(
            warn_threshold_percent(&[(WARN_THRESHOLD_PERCENT, "95")]).unwrap(),
            95
        );
        for bad in ["0", "101", "eighty", "-5", "80.5"] {
            let error = warn_threshold_percent(&[(WARN_THRESHOLD_PERCENT, bad)]).unwrap_err();
            assert_eq!(error.variable(), WARN_THRESHOLD_PERCENT, "{bad}");
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
}
