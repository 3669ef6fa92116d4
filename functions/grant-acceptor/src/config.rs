//! The grant-acceptor's configuration (the README's Configuration section), read from the
//! environment once per cold start.

use license_automation::config::{self, CommonConfig, ConfigError, Environment, required};

use crate::trust::TrustPolicy;

/// `TRUST_POLICY`: the JSON trust policy.
const TRUST_POLICY: &str = "TRUST_POLICY";

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
            trust_policy: trust_policy(env)?,
            dry_run: config::dry_run(env)?,
            max_concurrency: config::max_concurrency(env)?,
        })
    }
}

/// `TRUST_POLICY` (required): the JSON trust policy ([`TrustPolicy::from_json`]).
fn trust_policy(env: &impl Environment) -> Result<TrustPolicy, ConfigError> {
    TrustPolicy::from_json(&required(env, TRUST_POLICY)?).map_err(|error| ConfigError::Malformed {
        name: TRUST_POLICY,
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
