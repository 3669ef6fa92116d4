//! The license-events configuration (DESIGN §5), read from the environment once per cold start.

use license_automation::config::{self, CommonConfig, ConfigError, Environment};

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
            expiry_warning_days: config::expiry_warning_days(env)?,
            max_concurrency: config::max_concurrency(env)?,
        })
    }
}
