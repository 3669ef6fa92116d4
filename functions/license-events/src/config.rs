//! The license-events configuration (the README's Configuration section), read from the
//! environment once per cold start.

use license_automation::config::{self, CommonConfig, ConfigError, Environment, parsed_or, within};

/// `EXPIRY_WARNING_DAYS`: the window for `License Expiring`.
const EXPIRY_WARNING_DAYS: &str = "EXPIRY_WARNING_DAYS";
/// Default `EXPIRY_WARNING_DAYS`.
const DEFAULT_EXPIRY_WARNING_DAYS: u32 = 30;
/// Upper bound of `EXPIRY_WARNING_DAYS` (ten years).
const MAX_EXPIRY_WARNING_DAYS: u32 = 3650;

/// Everything the handler is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// `EVENT_BUS_NAME`, `EVENT_SOURCE`, `STATE_TABLE`.
    pub common: CommonConfig,
    /// `EXPIRY_WARNING_DAYS`: the window for `License Expiring`.
    pub expiry_warning_days: u32,
    /// `MAX_CONCURRENCY`: License Manager calls in flight at most.
    pub max_concurrency: usize,
}

impl Config {
    /// Reads the configuration; the error names the variable that is missing or malformed.
    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env)?,
            expiry_warning_days: expiry_warning_days(env)?,
            max_concurrency: config::max_concurrency(env)?,
        })
    }
}

/// `EXPIRY_WARNING_DAYS`: 1 to 3650, default 30.
fn expiry_warning_days(env: &impl Environment) -> Result<u32, ConfigError> {
    let value = parsed_or(
        env,
        EXPIRY_WARNING_DAYS,
        DEFAULT_EXPIRY_WARNING_DAYS,
        "a whole number of days",
    )?;
    within(EXPIRY_WARNING_DAYS, value, 1..=MAX_EXPIRY_WARNING_DAYS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_warning_days_is_bounded() {
        assert_eq!(expiry_warning_days(&[]).unwrap(), 30);
        assert_eq!(
            expiry_warning_days(&[(EXPIRY_WARNING_DAYS, "7")]).unwrap(),
            7
        );
        for bad in ["0", "3651", "a week"] {
            let error = expiry_warning_days(&[(EXPIRY_WARNING_DAYS, bad)]).unwrap_err();
            assert_eq!(error.variable(), EXPIRY_WARNING_DAYS, "{bad}");
        }
    }
}
