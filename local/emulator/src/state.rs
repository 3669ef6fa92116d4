//! Everything the emulator remembers, and its atomic persistence to `--state-file`.

use crate::shapes::{EntitlementData, Grant, License, ProductInformation, Tag};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
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
    /// When DeleteLicense deleted it (unix seconds). Deletion is a property of the
    /// license, shown on its current view; its versions keep the status they had.
    #[serde(default)]
    pub deleted_at: Option<i64>,
}

impl LicenseRecord {
    /// The last version as stored (without the deletion mark).
    pub fn current(&self) -> Option<&License> {
        self.versions.last()
    }

    /// Whether the license is deleted (state files written before `deleted_at` existed
    /// marked the last version DELETED).
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some() || self.current().is_some_and(|l| l.status == "DELETED")
    }

    /// The current view: the last version, DELETED when the license is.
    pub fn view(&self) -> Option<License> {
        let mut license = self.current()?.clone();
        if self.is_deleted() {
            license.status = "DELETED".into();
        }
        Some(license)
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
    /// Its units have left the running totals (checked in or expired).
    #[serde(default)]
    pub settled: bool,
}

impl Consumption {
    /// Whether the checkout still holds its units at `now` (unix seconds).
    pub fn is_active(&self, now: i64) -> bool {
        !self.checked_in && self.expiration.is_none_or(|e| e > now)
    }
}

/// Units of an entitlement a checkout holds (`Value`, or 1 when absent or not a number).
pub fn units(e: &EntitlementData) -> i64 {
    e.value
        .as_deref()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(1)
}

/// Running totals of held units per (license, entitlement) and the pending expirations,
/// so that a checkout costs O(log n) however many checkouts came before it. Rebuilt from
/// the consumptions after a reload.
#[derive(Debug, Clone, Default)]
pub struct UsageIndex {
    built: bool,
    totals: HashMap<(String, String), i64>,
    expiries: BinaryHeap<Reverse<(i64, String)>>,
}

/// A response remembered for a ClientToken.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientTokenEntry {
    /// When it was first used (unix seconds).
    pub at: i64,
    /// [`crate::dispatch::request_hash`] of the request that used it.
    pub request_hash: String,
    /// The (signed) response.
    pub response: Value,
}

/// A checked-in checkout, remembered only to tell a repeated CheckInLicense apart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckedIn {
    pub account: String,
    /// When it was checked in (unix seconds).
    pub at: i64,
}

/// How long checked-in tokens are remembered after check-in (seconds).
pub const CHECKED_IN_RETENTION_SECS: i64 = 10 * 60;

/// How often (in clock seconds) expired ClientTokens and check-in records are swept.
const SWEEP_EVERY_SECS: i64 = 60;

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
    /// Creation order (0 in state files written before it existed).
    #[serde(default)]
    pub seq: u64,
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
    /// Responses remembered per `account/operation/ClientToken` (for 10 minutes).
    #[serde(default)]
    pub client_tokens: BTreeMap<String, ClientTokenEntry>,
    /// Checkouts checked in recently (their consumption is gone).
    #[serde(default)]
    pub checked_in: BTreeMap<String, CheckedIn>,
    /// KMS keys by ARN.
    #[serde(default)]
    pub kms_keys: BTreeMap<String, crate::keys::KmsKey>,
    /// KMS aliases by `account/alias/<name>`.
    #[serde(default)]
    pub kms_aliases: BTreeMap<String, crate::keys::KmsAlias>,
    #[serde(skip)]
    usage: UsageIndex,
    /// Clock second of the next sweep of expired entries.
    #[serde(skip)]
    next_sweep: i64,
    /// Checkouts that expired while holding units, not yet announced (see
    /// [`State::take_expired`]).
    #[serde(skip)]
    expired: Vec<(String, Consumption)>,
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
        self.seq = self.seq.saturating_add(1);
        self.seq
    }

    fn adjust(&mut self, c: &Consumption, sign: i64) {
        for e in &c.entitlements {
            let total = self
                .usage
                .totals
                .entry((c.license_arn.clone(), e.name.clone()))
                .or_default();
            *total = total.saturating_add(sign.saturating_mul(units(e)));
        }
    }

    fn ensure_index(&mut self) {
        if self.usage.built {
            return;
        }
        self.usage.built = true;
        let pending: Vec<(String, Consumption)> = self
            .consumptions
            .iter()
            .filter(|(_, c)| !c.settled && !c.checked_in)
            .map(|(t, c)| (t.clone(), c.clone()))
            .collect();
        for (token, c) in pending {
            self.adjust(&c, 1);
            if let Some(e) = c.expiration {
                self.usage.expiries.push(Reverse((e, token)));
            }
        }
    }

    /// Takes the units of checkouts expired by `now` out of the totals.
    fn settle(&mut self, now: i64) {
        self.ensure_index();
        while let Some(Reverse((at, _))) = self.usage.expiries.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, token))) = self.usage.expiries.pop() else {
                break;
            };
            let Some(c) = self.consumptions.get(&token).cloned() else {
                continue;
            };
            if c.expiration.is_some_and(|e| e <= now) {
                // Expired: its units are back in the pool and nothing needs it any more.
                self.consumptions.remove(&token);
                if !c.settled && !c.checked_in {
                    self.adjust(&c, -1);
                    self.expired.push((token, c));
                }
            }
        }
    }

    /// The checkouts (token and checkout) found expired since the last call, oldest first.
    pub fn take_expired(&mut self) -> Vec<(String, Consumption)> {
        std::mem::take(&mut self.expired)
    }

    /// Units of entitlement `name` of license `arn` held by checkouts at `now`.
    pub fn held(&mut self, arn: &str, name: &str, now: i64) -> i64 {
        self.settle(now);
        self.usage
            .totals
            .get(&(arn.to_string(), name.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Records a new checkout under `token`.
    pub fn add_consumption(&mut self, token: String, c: Consumption) {
        self.ensure_index();
        self.adjust(&c, 1);
        if let Some(e) = c.expiration {
            self.usage.expiries.push(Reverse((e, token.clone())));
        }
        self.consumptions.insert(token, c);
    }

    /// Checks a checkout in at `now`: its units return to the pool and the checkout is
    /// forgotten (a short-lived record tells a repeated check-in apart).
    pub fn check_in(&mut self, token: &str, now: i64) {
        self.ensure_index();
        let Some(c) = self.consumptions.get(token).cloned() else {
            return;
        };
        if !c.settled && !c.checked_in {
            self.adjust(&c, -1);
        }
        self.consumptions.remove(token);
        self.checked_in.insert(
            token.to_string(),
            CheckedIn {
                account: c.account,
                at: now,
            },
        );
    }

    /// Settles expired checkouts and forgets ClientTokens older than `token_ttl` and
    /// check-in records older than [`CHECKED_IN_RETENTION_SECS`]; the scans run at most
    /// once a minute of the clock.
    pub fn housekeeping(&mut self, now: i64, token_ttl: i64) {
        self.settle(now);
        if now < self.next_sweep {
            return;
        }
        self.next_sweep = now.saturating_add(SWEEP_EVERY_SECS);
        self.client_tokens
            .retain(|_, e| now.saturating_sub(e.at) < token_ttl);
        self.checked_in
            .retain(|_, c| now.saturating_sub(c.at) < CHECKED_IN_RETENTION_SECS);
    }

    /// Forgets ClientTokens older than `ttl` (at most once a minute of the clock).
    pub fn expire_client_tokens(&mut self, now: i64, ttl: i64) {
        self.housekeeping(now, ttl);
    }

    /// Moves a checkout's expiration.
    pub fn extend(&mut self, token: &str, expiration: i64) {
        self.ensure_index();
        if let Some(stored) = self.consumptions.get_mut(token) {
            stored.expiration = Some(expiration);
            self.usage
                .expiries
                .push(Reverse((expiration, token.to_string())));
        }
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
        write_atomically(path, &serde_json::to_vec(self)?)
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory created with
/// mode 0600 (the state holds the JWT signing key), fsynced, renamed over `path`, then the
/// directory fsynced so the rename survives a crash. The temporary file is removed when
/// any step fails.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
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
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        // An existing temporary file keeps its old mode: make sure it is private.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_err(e));
    }
    #[cfg(unix)]
    {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(write_err)?;
    }
    Ok(())
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

    fn checkout(expiration: Option<i64>, value: &str) -> Consumption {
        Consumption {
            license_arn: "l".into(),
            account: "a".into(),
            beneficiary: None,
            checkout_type: "PROVISIONAL".into(),
            borrow: false,
            entitlements: vec![EntitlementData {
                name: "Users".into(),
                value: Some(value.into()),
                unit: "Count".into(),
            }],
            node_id: None,
            issued_at: 0,
            expiration,
            checked_in: false,
            settled: false,
        }
    }

    #[test]
    fn held_units_follow_checkouts_expiry_extension_and_check_in() {
        let mut state = State::new("k".into());
        state.add_consumption("a".into(), checkout(Some(100), "2"));
        state.add_consumption("b".into(), checkout(Some(200), "3"));
        state.add_consumption("p".into(), checkout(None, "1"));
        assert_eq!(state.held("l", "Users", 0), 6);
        state.extend("a", 300);
        assert_eq!(state.held("l", "Users", 150), 6);
        assert_eq!(state.held("l", "Users", 250), 3);
        // Each expiry is reported once (the extended checkout only at its new time).
        let expired: Vec<String> = state.take_expired().into_iter().map(|(t, _)| t).collect();
        assert_eq!(expired, ["b"]);
        assert!(state.take_expired().is_empty());
        // A reloaded state rebuilds the totals from its checkouts.
        let mut reloaded: State =
            serde_json::from_slice(&serde_json::to_vec(&state).expect("ser")).expect("de");
        assert_eq!(reloaded.held("l", "Users", 250), 3);
        reloaded.check_in("a", 250);
        reloaded.check_in("a", 250);
        assert!(!reloaded.consumptions.contains_key("a"));
        assert!(reloaded.checked_in.contains_key("a"));
        assert_eq!(reloaded.held("l", "Users", 250), 1);
        assert_eq!(reloaded.held("l", "Users", 10_000), 1);
        // A checked-in checkout never expires.
        assert!(reloaded.take_expired().is_empty());
        assert_eq!(reloaded.held("l", "Other", 0), 0);
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
