//! checkout-proxy's configuration (the README's Configuration section), read from the
//! environment once per cold start.

use license_automation::config::{
    self, ConfigError, Environment, STATE_TABLE, lookup, parsed_or, required, within,
};
use license_automation::ids::validate_key_fingerprint;

/// `KEY_FINGERPRINT`: the issuer fingerprint checkouts are made against.
const KEY_FINGERPRINT: &str = "KEY_FINGERPRINT";
/// `BENEFICIARY_CLAIM`: the JWT claim naming the customer.
const BENEFICIARY_CLAIM: &str = "BENEFICIARY_CLAIM";
/// Default `BENEFICIARY_CLAIM`.
const DEFAULT_BENEFICIARY_CLAIM: &str = "sub";
/// `CUSTOMER_RATE_LIMIT`: requests per second one customer may make (0: no limit).
const CUSTOMER_RATE_LIMIT: &str = "CUSTOMER_RATE_LIMIT";
/// The highest `CUSTOMER_RATE_LIMIT` (API Gateway's own account limit is 10,000 per second).
const MAX_CUSTOMER_RATE_LIMIT: u64 = 10_000;

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
    /// `CUSTOMER_RATE_LIMIT`: requests per second per customer, all routes together; 0 (the
    /// default) turns the limit off.
    pub customer_rate_limit: u64,
}

impl Config {
    /// Reads the configuration; the error names the variable that is missing or malformed.
    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            key_fingerprint: key_fingerprint(env)?,
            beneficiary_claim: beneficiary_claim(env)?,
            state_table: required(env, STATE_TABLE)?,
            max_concurrency: config::max_concurrency(env)?,
            customer_rate_limit: within(
                CUSTOMER_RATE_LIMIT,
                parsed_or(
                    env,
                    CUSTOMER_RATE_LIMIT,
                    0,
                    "a whole number of requests per second",
                )?,
                0..=MAX_CUSTOMER_RATE_LIMIT,
            )?,
        })
    }

    /// The account that issues the licenses (from `KEY_FINGERPRINT`).
    pub fn issuer_account(&self) -> &str {
        self.key_fingerprint.split(':').nth(1).unwrap_or_default()
    }
}

/// `KEY_FINGERPRINT` (required): `aws:<12-digit account>:<issuer name>:issuer-fingerprint`.
fn key_fingerprint(env: &impl Environment) -> Result<String, ConfigError> {
    let value = required(env, KEY_FINGERPRINT)?;
    match validate_key_fingerprint(&value) {
        Ok(()) => Ok(value),
        Err(reason) => Err(ConfigError::Invalid {
            name: KEY_FINGERPRINT,
            value,
            reason,
        }),
    }
}

/// `BENEFICIARY_CLAIM`: a JWT claim name, default `sub`.
fn beneficiary_claim(env: &impl Environment) -> Result<String, ConfigError> {
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
        assert_eq!(config.customer_rate_limit, 0, "off unless set");
        let error = Config::from_env(&[("STATE_TABLE", "state")]).unwrap_err();
        assert!(error.to_string().contains("KEY_FINGERPRINT"), "{error}");
        let error =
            Config::from_env(&[("KEY_FINGERPRINT", "Acme"), ("STATE_TABLE", "state")]).unwrap_err();
        assert!(error.to_string().contains("KEY_FINGERPRINT"), "{error}");
    }

    #[test]
    fn customer_rate_limit_is_a_whole_number_of_requests_per_second() {
        let env = |value: &'static str| {
            [
                (
                    "KEY_FINGERPRINT",
                    "aws:123456789012:Acme:issuer-fingerprint",
                ),
                ("STATE_TABLE", "state"),
                (CUSTOMER_RATE_LIMIT, value),
            ]
        };
        assert_eq!(
            Config::from_env(&env("20")).unwrap().customer_rate_limit,
            20
        );
        for bad in ["-1", "2.5", "fast", "10001"] {
            let error = Config::from_env(&env(bad)).unwrap_err();
            assert_eq!(error.variable(), CUSTOMER_RATE_LIMIT, "{bad}");
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
        assert_eq!(error.variable(), KEY_FINGERPRINT);
    }

    #[test]
    fn beneficiary_claim_defaults_to_sub_and_refuses_odd_names() {
        assert_eq!(beneficiary_claim(&[]).unwrap(), "sub");
        assert_eq!(
            beneficiary_claim(&[(BENEFICIARY_CLAIM, "custom:tenant_id")]).unwrap(),
            "custom:tenant_id"
        );
        let error = beneficiary_claim(&[(BENEFICIARY_CLAIM, "a b")]).unwrap_err();
        assert_eq!(error.variable(), BENEFICIARY_CLAIM);
    }
}
