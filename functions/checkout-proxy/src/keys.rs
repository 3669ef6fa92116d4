//! `GET /v1/keys`: the public keys that sign this issuer's borrow and checkout tokens, as a
//! JSON Web Key Set, so that an app verifies a borrowed token offline.
//!
//! License Manager has no GetPublicKey: a token is signed by its license's `Issuer.SignKey`,
//! a KMS key of the issuing account (AWS's borrow sample verifies with KMS GetPublicKey).
//! So the keys are the distinct SignKeys of the licenses the account issued under
//! `KEY_FINGERPRINT` (ListLicenses), each read with KMS GetPublicKey and published as an RSA
//! JWK with `kid` = the KMS key id (the `kid` of the tokens' header) and `alg` PS384.
//! Licenses without a SignKey contribute none. The set is kept for [`KEYS_TTL`] per
//! function instance: keys change rarely, and this spares License Manager and KMS.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// How long an instance serves a key set it read before reading it again.
pub const KEYS_TTL: Duration = Duration::from_secs(300);

/// Why the key set could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// KMS GetPublicKey failed.
    #[error("KMS GetPublicKey of {key}: {message}")]
    Kms {
        /// The SignKey.
        key: String,
        /// The SDK's error.
        message: String,
        /// Throttling or server trouble (worth a retry later).
        transient: bool,
        /// The key no longer exists or cannot be used (deleted, disabled, pending deletion).
        gone: bool,
    },
    /// KMS answered a key that is not an RSA public key.
    #[error("KMS key {key} has no RSA public key: {reason}")]
    NotRsa {
        /// The SignKey.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// KMS, as `GET /v1/keys` uses it, with the instance's cached key set.
#[derive(Debug, Clone)]
pub struct SigningKeys {
    kms: aws_sdk_kms::Client,
    cache: Arc<Mutex<Option<(Instant, Value)>>>,
}

impl SigningKeys {
    /// The keys read through `kms`.
    pub fn new(kms: aws_sdk_kms::Client) -> Self {
        Self {
            kms,
            cache: Arc::default(),
        }
    }

    /// The JWKS of `sign_keys` (key ids, ARNs or aliases), from the cache when it is fresh.
    pub async fn jwks(&self, sign_keys: &[String]) -> Result<Value, KeysError> {
        let mut keys = Vec::with_capacity(sign_keys.len());
        for sign_key in sign_keys {
            match self.jwk(sign_key).await {
                Ok(key) => keys.push(key),
                // A license naming a key that is gone signs nothing any more: the others'
                // keys are still published.
                Err(error @ KeysError::Kms { gone: true, .. }) => {
                    tracing::warn!(error = %error, "a license's SignKey is gone; not published");
                }
                Err(error) => return Err(error),
            }
        }
        keys.sort_by(|a, b| a["kid"].as_str().cmp(&b["kid"].as_str()));
        keys.dedup_by(|a, b| a["kid"] == b["kid"]);
        Ok(json!({ "keys": keys }))
    }

    /// The cached key set, if one was read less than [`KEYS_TTL`] ago.
    pub async fn cached(&self) -> Option<Value> {
        let cache = self.cache.lock().await;
        cache
            .as_ref()
            .filter(|(read, _)| read.elapsed() < KEYS_TTL)
            .map(|(_, jwks)| jwks.clone())
    }

    /// Keeps `jwks` as the instance's key set.
    pub async fn remember(&self, jwks: &Value) {
        *self.cache.lock().await = Some((Instant::now(), jwks.clone()));
    }

    async fn jwk(&self, sign_key: &str) -> Result<Value, KeysError> {
        let output = self
            .kms
            .get_public_key()
            .key_id(sign_key)
            .send()
            .await
            .map_err(|error| {
                let code = error
                    .as_service_error()
                    .and_then(|e| aws_sdk_kms::error::ProvideErrorMetadata::code(e))
                    .unwrap_or_default()
                    .to_owned();
                let gone = matches!(
                    code.as_str(),
                    "NotFoundException" | "DisabledException" | "KMSInvalidStateException"
                );
                let transient = matches!(
                    &error,
                    aws_sdk_kms::error::SdkError::TimeoutError(_)
                        | aws_sdk_kms::error::SdkError::DispatchFailure(_)
                ) || error.raw_response().is_some_and(|raw| {
                    raw.status().as_u16() >= 500 || raw.status().as_u16() == 429
                }) || error
                    .as_service_error()
                    .and_then(|e| aws_sdk_kms::error::ProvideErrorMetadata::code(e))
                    .is_some_and(|code| code.contains("Throttl") || code == "KMSInternalException");
                KeysError::Kms {
                    key: sign_key.to_owned(),
                    message: aws_sdk_kms::error::DisplayErrorContext(&error).to_string(),
                    transient,
                    gone,
                }
            })?;
        let not_rsa = |reason: &str| KeysError::NotRsa {
            key: sign_key.to_owned(),
            reason: reason.to_owned(),
        };
        let der = output
            .public_key()
            .ok_or_else(|| not_rsa("GetPublicKey answered no PublicKey"))?;
        let (n, e) = rsa_components(der.as_ref()).ok_or_else(|| {
            not_rsa("the PublicKey is not a DER SubjectPublicKeyInfo of an RSA key")
        })?;
        let arn = output.key_id().unwrap_or(sign_key);
        // The tokens' `kid` is the key id: the last segment of the key's ARN.
        let kid = arn.rsplit('/').next().unwrap_or(arn);
        Ok(json!({
            "kty": "RSA",
            "kid": kid,
            "alg": "PS384",
            "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(n),
            "e": URL_SAFE_NO_PAD.encode(e),
        }))
    }
}

/// One DER element: its tag, its contents and what follows it.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let length = bytes
            .iter()
            .fold(0usize, |length, &b| (length << 8) | usize::from(b));
        (length, rest)
    };
    (rest.len() >= length).then(|| (tag, &rest[..length], &rest[length..]))
}

/// The modulus and exponent (big-endian, without leading zeros) of an RSA public key in a
/// DER SubjectPublicKeyInfo, as KMS GetPublicKey returns it.
pub fn rsa_components(spki: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    const SEQUENCE: u8 = 0x30;
    const BIT_STRING: u8 = 0x03;
    const INTEGER: u8 = 0x02;
    /// The DER of the OID rsaEncryption (1.2.840.113549.1.1.1).
    const RSA_ENCRYPTION: [u8; 11] = [6, 9, 42, 134, 72, 134, 247, 13, 1, 1, 1];
    let (SEQUENCE, info, _) = der_element(spki)? else {
        return None;
    };
    let (SEQUENCE, algorithm, rest) = der_element(info)? else {
        return None;
    };
    if !algorithm.starts_with(&RSA_ENCRYPTION) {
        return None;
    }
    let (BIT_STRING, bits, _) = der_element(rest)? else {
        return None;
    };
    let (&0, key) = bits.split_first()? else {
        return None;
    };
    let (SEQUENCE, key, _) = der_element(key)? else {
        return None;
    };
    let (INTEGER, n, rest) = der_element(key)? else {
        return None;
    };
    let (INTEGER, e, _) = der_element(rest)? else {
        return None;
    };
    let unsigned = |bytes: &[u8]| {
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        bytes[start..].to_vec()
    };
    Some((unsigned(n), unsigned(e))).filter(|(n, e)| !n.is_empty() && !e.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rsa_public_key_gives_its_modulus_and_exponent_and_anything_else_nothing() {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .unwrap_or_else(|error| panic!("{error}"));
        let public = aws_lc_rs::signature::KeyPair::public_key(&pair);
        let der =
            aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(public)
                .unwrap_or_else(|error| panic!("{error}"));
        let (n, e) = rsa_components(der.as_ref()).unwrap_or_else(|| panic!("parses"));
        assert_eq!(n.len(), 256);
        assert_eq!(e, vec![1, 0, 1]);
        assert_eq!(rsa_components(&der.as_ref()[..40]), None);
        assert_eq!(rsa_components(b"not der"), None);
    }
}
