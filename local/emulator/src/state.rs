//! Everything the emulator remembers, and its atomic persistence to `--state-file`.

use crate::shapes::{EntitlementData, Grant, License, ProductInformation, Tag};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The format version written in state files.
pub const STATE_FORMAT: u32 = 1;

/// Errors loading or saving the state file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file exists but cannot be read.
    #[error("cannot read state file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not a state file of this emulator; it is left untouched.
    #[error(
        "state file {path} is corrupt ({reason}); refusing to start. It was left untouched: \
         fix it, move it away or point --state-file elsewhere"
    )]
    Corrupt { path: PathBuf, reason: String },
    /// Writing the temporary file or renaming it failed.
    #[error("cannot write state file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Serialising the state failed.
    #[error("cannot serialise state: {0}")]
    Serialise(#[from] serde_json::Error),
}

/// A license and all its versions (the last is current).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LicenseRecord {
    pub owner: String,
    pub seq: u64,
    pub versions: Vec<License>,
}

impl LicenseRecord {
    /// The current version.
    pub fn current(&self) -> Option<&License> {
        self.versions.last()
    }
}

/// A grant and all its versions (the last is current).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantRecord {
    pub granter: String,
    pub grantee: String,
    pub seq: u64,
    pub versions: Vec<Grant>,
}

impl GrantRecord {
    /// The current version.
    pub fn current(&self) -> Option<&Grant> {
        self.versions.last()
    }
}

/// One checkout (provisional, perpetual or borrowed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Consumption {
    pub license_arn: String,
    pub account: String,
    pub beneficiary: Option<String>,
    pub checkout_type: String,
    pub borrow: bool,
    pub entitlements: Vec<EntitlementData>,
    pub node_id: Option<String>,
    pub issued_at: i64,
    /// Unix seconds; `None` for perpetual checkouts.
    pub expiration: Option<i64>,
    pub checked_in: bool,
}

impl Consumption {
    /// Whether the checkout still holds its units at `now` (unix seconds).
    pub fn is_active(&self, now: i64) -> bool {
        !self.checked_in && self.expiration.is_none_or(|e| e > now)
    }
}

/// A refresh token created by CreateToken.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    pub account: String,
    pub seq: u64,
    pub license_arn: String,
    pub role_arns: Vec<String>,
    pub token_properties: Vec<String>,
    pub expiration: i64,
    pub deleted: bool,
}

/// A self-managed license configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigurationRecord {
    pub owner: String,
    pub seq: u64,
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub counting_type: String,
    pub license_count: Option<i64>,
    pub hard_limit: bool,
    pub license_rules: Vec<String>,
    pub product_information: Vec<ProductInformation>,
    pub disassociate_when_not_found: Option<bool>,
    pub license_expiry: Option<i64>,
    pub status: String,
}

/// A resource associated with a license configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Association {
    pub configuration_arn: String,
    pub resource_arn: String,
    pub resource_type: String,
    pub resource_owner: String,
    pub caller: String,
    pub ami_association_scope: Option<String>,
    pub time: i64,
}

/// The emulator's whole state (serialised as the state file).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub format: u32,
    /// Base64 PKCS#8 of the RSA key that signs JWTs.
    pub signing_key: String,
    pub seq: u64,
    pub licenses: BTreeMap<String, LicenseRecord>,
    pub grants: BTreeMap<String, GrantRecord>,
    pub consumptions: BTreeMap<String, Consumption>,
    pub tokens: BTreeMap<String, TokenRecord>,
    pub configurations: BTreeMap<String, ConfigurationRecord>,
    pub associations: Vec<Association>,
    pub tags: BTreeMap<String, Vec<Tag>>,
    pub settings: BTreeMap<String, Value>,
    /// Responses remembered per `account/operation/ClientToken`.
    pub idempotency: BTreeMap<String, Value>,
}

impl State {
    /// A fresh state signed by `signing_key`.
    pub fn new(signing_key: String) -> Self {
        Self {
            format: STATE_FORMAT,
            signing_key,
            ..Self::default()
        }
    }

    /// The next creation sequence number (orders lists by creation).
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Loads the state file; `Ok(None)` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Self>, StateError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let corrupt = |reason: String| StateError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let state: Self = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if state.format != STATE_FORMAT {
            return Err(corrupt(format!(
                "format {} is not the supported format {STATE_FORMAT}",
                state.format
            )));
        }
        Ok(Some(state))
    }

    /// Writes the state atomically: a temporary file in the same directory, then a rename.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(self)?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "state".to_string());
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let write_err = |source| StateError::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::fs::File::create(&tmp).map_err(write_err)?;
        file.write_all(&bytes).map_err(write_err)?;
        file.sync_all().map_err(write_err)?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(write_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("lml-{name}-{}", uuid::Uuid::new_v4().simple()))
    }

    #[test]
    fn state_round_trips_through_an_atomic_write() {
        let path = temp_path("state.json");
        let mut state = State::new("key".into());
        state.next_seq();
        state.save(&path).expect("save");
        let loaded = State::load(&path).expect("load").expect("present");
        assert_eq!(loaded.seq, 1);
        assert_eq!(loaded.signing_key, "key");
        let leftovers = std::fs::read_dir(std::env::temp_dir())
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name().to_string_lossy().contains(&format!(
                    "{}.tmp",
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ))
            })
            .count();
        assert_eq!(leftovers, 0);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_missing_file_is_no_state_and_a_corrupt_one_is_refused_untouched() {
        let path = temp_path("missing.json");
        assert!(State::load(&path).expect("load").is_none());
        std::fs::write(&path, b"{not json").expect("write");
        let err = State::load(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("corrupt"), "{err}");
        assert_eq!(std::fs::read(&path).expect("read"), b"{not json");
        let _ = std::fs::remove_file(&path);
    }
}
