//! Offline verification of a borrowed (or checked-out) signed token against the issuer's
//! keys (`GET /v1/keys`): the PS384 signature by a published key, the license being one of
//! the caller's (the beneficiary's), and the expiry, with a bounded clock skew.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use crate::client::{Client, Entitlement};
use crate::error::Error;

/// The default clock skew tolerated between this machine and the issuer.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(300);

/// What a verifier needs, fetched once online and usable offline afterwards (it is
/// `Serialize`, so an app can keep it on disk): the issuer's keys and the caller's licenses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verifier {
    /// The JWKS of `GET /v1/keys`.
    pub keys: Value,
    /// The ARNs of the caller's licenses (`GET /v1/licenses`): a token of another license
    /// is someone else's.
    pub license_arns: Vec<String>,
    /// The clock skew tolerated (seconds).
    pub max_skew_seconds: u64,
}

/// The claims of a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The license it was drawn from.
    pub license_arn: String,
    /// The lease's token.
    pub license_consumption_token: String,
    /// What it allows.
    pub entitlements_allowed: Vec<Entitlement>,
    /// The node it was borrowed for.
    pub node_id: Option<String>,
    /// When it expires.
    pub expiration: OffsetDateTime,
}

impl Verifier {
    /// A verifier with `keys` (a JWKS) for the licenses `license_arns`.
    ///
    /// ```
    /// let verifier = license_client::Verifier::new(
    ///     serde_json::json!({"keys": []}),
    ///     vec!["arn:aws:license-manager::123456789012:license:l-1".into()],
    /// );
    /// let refused = verifier.verify("not.a.token").unwrap_err();
    /// assert!(refused.to_string().contains("does not verify"));
    /// ```
    pub fn new(keys: Value, license_arns: Vec<String>) -> Self {
        Self {
            keys,
            license_arns,
            max_skew_seconds: DEFAULT_MAX_SKEW.as_secs(),
        }
    }

    /// Fetches the keys and the caller's licenses through `client`.
    pub async fn fetch(client: &Client) -> Result<Self, Error> {
        let keys = client.keys().await?;
        let license_arns = client
            .licenses()
            .await?
            .iter()
            .filter_map(|license| license["licenseArn"].as_str().map(str::to_owned))
            .collect();
        Ok(Self::new(keys, license_arns))
    }

    /// The same verifier tolerating `skew` between the clocks.
    pub fn with_max_skew(mut self, skew: Duration) -> Self {
        self.max_skew_seconds = skew.as_secs();
        self
    }

    /// Verifies `token` now.
    pub fn verify(&self, token: &str) -> Result<Claims, Error> {
        self.verify_at(token, OffsetDateTime::now_utc())
    }

    /// Verifies `token` as of `now`: signed (PS384) by one of the keys (the one its `kid`
    /// names, when it names one), for one of the licenses, and not expired (the skew
    /// allowed).
    pub fn verify_at(&self, token: &str, now: OffsetDateTime) -> Result<Claims, Error> {
        let refuse = |why: String| Error::Verification(why);
        let header = jsonwebtoken::decode_header(token)
            .map_err(|error| refuse(format!("not a JWT: {error}")))?;
        if header.alg != Algorithm::PS384 {
            return Err(refuse(format!("signed with {:?}, not PS384", header.alg)));
        }
        let keys: Vec<&Value> = self.keys["keys"]
            .as_array()
            .map(|keys| keys.iter().collect())
            .unwrap_or_default();
        let candidates: Vec<&Value> = keys
            .into_iter()
            .filter(|key| key["kty"] == "RSA")
            .filter(|key| header.kid.is_none() || key["kid"].as_str() == header.kid.as_deref())
            .collect();
        if candidates.is_empty() {
            return Err(refuse(format!(
                "no published key has the token's kid {:?}",
                header.kid.as_deref().unwrap_or("(none)")
            )));
        }
        let mut validation = Validation::new(Algorithm::PS384);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = candidates
            .iter()
            .find_map(|key| {
                let key = DecodingKey::from_rsa_components(key["n"].as_str()?, key["e"].as_str()?)
                    .ok()?;
                jsonwebtoken::decode::<Value>(token, &key, &validation).ok()
            })
            .ok_or_else(|| refuse("the signature does not match the issuer's key".into()))?
            .claims;
        let text = |name: &str| claims[name].as_str().map(str::to_owned);
        let license_arn = text("licenseArn").ok_or_else(|| refuse("no licenseArn claim".into()))?;
        if !self.license_arns.contains(&license_arn) {
            return Err(refuse(format!(
                "its license {license_arn} is not one of yours"
            )));
        }
        let expiration = text("expiration")
            .as_deref()
            .and_then(claim_time)
            .ok_or_else(|| refuse("no readable expiration claim".into()))?;
        let skew = time::Duration::seconds(i64::try_from(self.max_skew_seconds).unwrap_or(0));
        if expiration + skew < now {
            return Err(refuse(format!("it expired at {expiration}")));
        }
        if let Some(issued) = text("issuedAt").as_deref().and_then(claim_time)
            && issued - skew > now
        {
            return Err(refuse(format!("it is issued in the future ({issued})")));
        }
        Ok(Claims {
            license_arn,
            license_consumption_token: text("licenseConsumptionToken").unwrap_or_default(),
            entitlements_allowed: serde_json::from_value(claims["entitlementsAllowed"].clone())
                .unwrap_or_default(),
            node_id: text("nodeId"),
            expiration,
        })
    }
}

/// A time claim: RFC 3339, or AWS's `2021-04-13T05:35:47` (UTC without a zone).
fn claim_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok().or_else(|| {
        time::PrimitiveDateTime::parse(
            text,
            format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        )
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_times_are_read_in_both_forms() {
        let aws = claim_time("2021-04-13T05:35:47");
        assert_eq!(aws, claim_time("2021-04-13T05:35:47Z"));
        assert!(aws.is_some());
        assert_eq!(claim_time("yesterday"), None);
    }
}
