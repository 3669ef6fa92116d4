//! checkout-proxy's configuration (the README's Configuration section), read from the environment once per cold start.

use license_automation::config::{self, ConfigError, Environment, STATE_TABLE};

/// Everything the handler is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `KEY_FINGERPRINT`: the issuer whose licenses are checked out.
    pub key_fingerprint: String,
    /// `BENEFICIARY_CLAIM`: the JWT claim naming the customer (default `sub`).
    pub beneficiary_claim: String,
    /// `STATE_TABLE`: where consumption tokens are linked to their customer.
    pub state_table: String,
    /// `MAX_CONCURRENCY`: License Manager calls in flight at most (per instance).
    pub max_concurrency: usize,
}

impl Config {
    /// Reads the configuration; the error names the variable that is missing or malformed.
    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            key_fingerprint: config::key_fingerprint(env)?,
            beneficiary_claim: config::beneficiary_claim(env)?,
            state_table: config::required(env, STATE_TABLE)?,
            max_concurrency: config::max_concurrency(env)?,
        })
    }

    /// The account that issues the licenses (from `KEY_FINGERPRINT`).
    pub fn issuer_account(&self) -> &str {
        self.key_fingerprint.split(':').nth(1).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_variables_with_their_defaults_and_names_a_missing_one() {
        let config = Config::from_env(&[
            (
                "KEY_FINGERPRINT",
                "aws:123456789012:Acme:issuer-fingerprint",
            ),
            ("STATE_TABLE", "state"),
        ])
        .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(config.beneficiary_claim, "sub");
        assert_eq!(config.issuer_account(), "123456789012");
        let error = Config::from_env(&[("STATE_TABLE", "state")]).unwrap_err();
        assert!(error.to_string().contains("KEY_FINGERPRINT"), "{error}");
        let error =
            Config::from_env(&[("KEY_FINGERPRINT", "Acme"), ("STATE_TABLE", "state")]).unwrap_err();
        assert!(error.to_string().contains("KEY_FINGERPRINT"), "{error}");
    }
}
