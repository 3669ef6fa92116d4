//! The soft-limit-monitor's configuration (DESIGN §5), read from the environment once per cold
//! start.

use license_automation::config::{self, CommonConfig, ConfigError, Enforcement, Environment};

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
            warn_threshold_percent: config::warn_threshold_percent(env)?,
            enforcement: config::enforcement(env)?,
            dry_run: config::dry_run(env)?,
            max_concurrency: config::max_concurrency(env)?,
        })
    }
}
