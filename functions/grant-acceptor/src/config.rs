//! The grant-acceptor's configuration (DESIGN §5), read from the environment once per cold start.

use license_automation::config::{self, CommonConfig, ConfigError, Environment};
use license_automation::trust::TrustPolicy;

/// Everything the handler is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// `EVENT_BUS_NAME`, `EVENT_SOURCE`, `STATE_TABLE`.
    pub common: CommonConfig,
    /// `TRUST_POLICY`.
    pub trust_policy: TrustPolicy,
    /// `DRY_RUN`: decide, log and emit with `dryRun: true`; change nothing.
    pub dry_run: bool,
    /// `MAX_CONCURRENCY`: License Manager calls in flight at most.
    pub max_concurrency: usize,
}

impl Config {
    /// Reads the configuration; the error names the variable that is missing or malformed.
    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env)?,
            trust_policy: config::trust_policy(env)?,
            dry_run: config::dry_run(env)?,
            max_concurrency: config::max_concurrency(env)?,
        })
    }
}
