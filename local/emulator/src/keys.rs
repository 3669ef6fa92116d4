//! KMS keys and aliases as the emulator's state holds them (the KMS operations are in
//! [`crate::kms`]).

use crate::protocol::{ApiError, ErrorKind};
use aws_lc_rs::rsa::KeyPair;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// A KMS key as the emulator stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KmsKey {
    /// Owning account.
    pub account: String,
    /// The key id (a UUID).
    pub key_id: String,
    /// `arn:aws:kms:<region>:<account>:key/<key id>`.
    pub arn: String,
    /// Creation order.
    pub seq: u64,
    /// Creation time (unix seconds).
    pub created: i64,
    /// Description given to CreateKey.
    pub description: String,
    /// `SYMMETRIC_DEFAULT`, `RSA_2048`, `RSA_3072` or `RSA_4096`.
    pub key_spec: String,
    /// `SIGN_VERIFY` or `ENCRYPT_DECRYPT`.
    pub key_usage: String,
    /// Base64 PKCS#8 of the RSA private key (`None` for a symmetric key: no material).
    pub private_key: Option<String>,
}

impl KmsKey {
    /// Whether the key signs and verifies with RSA.
    pub fn is_rsa_signing(&self) -> bool {
        self.key_usage == "SIGN_VERIFY" && self.key_spec.starts_with("RSA_")
    }

    /// The RSA key pair, for a key with material.
    pub fn key_pair(&self) -> Result<KeyPair, ApiError> {
        let encoded = self.private_key.as_deref().ok_or_else(|| {
            ApiError::new(
                ErrorKind::KmsUnsupportedOperation,
                format!("{} is a symmetric key and has no key pair", self.arn),
            )
        })?;
        STANDARD
            .decode(encoded)
            .ok()
            .and_then(|der| KeyPair::from_pkcs8(&der).ok())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::ServerInternal,
                    format!("the stored key material of {} is corrupt", self.arn),
                )
            })
    }
}

/// An alias (`alias/<name>`) of a key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KmsAlias {
    /// Owning account.
    pub account: String,
    /// `alias/<name>`.
    pub name: String,
    /// The key id it points to.
    pub target_key_id: String,
    /// Creation order.
    pub seq: u64,
    /// Creation time (unix seconds).
    pub created: i64,
}
