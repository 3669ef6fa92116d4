//! The emulator's RSA signing key and PS384 JSON Web Tokens (borrow checkouts, tokens).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// Errors creating or loading the signing key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The stored key is not valid base64 PKCS#8.
    #[error("the stored signing key is not a valid base64 PKCS#8 RSA key")]
    Invalid,
    /// aws-lc-rs could not generate or serialise a key.
    #[error("could not generate an RSA signing key")]
    Generate,
}

/// An RSA key that signs PS384 JWTs; one per state file.
pub struct Signer {
    key: KeyPair,
    kid: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("kid", &self.kid).finish()
    }
}

impl Signer {
    /// Generates a new 2048-bit key and returns it with its base64 PKCS#8 encoding.
    pub fn generate() -> Result<(Self, String), KeyError> {
        let key = KeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
        let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> =
            key.as_der().map_err(|_| KeyError::Generate)?;
        let encoded = STANDARD.encode(der.as_ref());
        Ok((Self::from_key(key), encoded))
    }

    /// Loads a key from its base64 PKCS#8 encoding.
    pub fn from_pkcs8_base64(encoded: &str) -> Result<Self, KeyError> {
        let der = STANDARD.decode(encoded).map_err(|_| KeyError::Invalid)?;
        let key = KeyPair::from_pkcs8(&der).map_err(|_| KeyError::Invalid)?;
        Ok(Self::from_key(key))
    }

    /// The same key naming itself `kid` in the JWT header.
    pub fn with_kid(self, kid: impl Into<String>) -> Self {
        Self {
            kid: kid.into(),
            ..self
        }
    }

    fn from_key(key: KeyPair) -> Self {
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.public_key().as_ref());
        let kid = digest.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self { key, kid }
    }

    /// The public key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) document.
    pub fn public_key_pem(&self) -> Result<String, KeyError> {
        let der: aws_lc_rs::encoding::PublicKeyX509Der<'_> = self
            .key
            .public_key()
            .as_der()
            .map_err(|_| KeyError::Generate)?;
        let b64 = STANDARD.encode(der.as_ref());
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        Ok(pem)
    }

    /// Signs `claims` as a compact PS384 JWT.
    pub fn sign(&self, claims: &Value) -> Result<String, KeyError> {
        let header = json!({ "alg": "PS384", "typ": "JWT", "kid": self.kid });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &signature::RSA_PSS_SHA384,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| KeyError::Generate)?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    /// The claims of `token` when it is a PS384 JWT signed by this key.
    pub fn verify(&self, token: &str) -> Option<Value> {
        let mut parts = token.split('.');
        let (header, claims, sig) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let public = signature::UnparsedPublicKey::new(
            &signature::RSA_PSS_2048_8192_SHA384,
            self.key.public_key().as_ref(),
        );
        public
            .verify(format!("{header}.{claims}").as_bytes(), &sig)
            .ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_tampering_is_detected() {
        let (signer, encoded) = Signer::generate().expect("key");
        let token = signer.sign(&json!({"a": 1})).expect("sign");
        assert_eq!(signer.verify(&token), Some(json!({"a": 1})));
        let reloaded = Signer::from_pkcs8_base64(&encoded).expect("reload");
        assert_eq!(reloaded.verify(&token), Some(json!({"a": 1})));
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(json!({"a": 2}).to_string()),
            parts[2]
        );
        assert!(signer.verify(&forged).is_none());
        assert!(signer.verify("not.a.jwt").is_none());
        assert!(
            signer
                .public_key_pem()
                .expect("pem")
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );
    }
}
