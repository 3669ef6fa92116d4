//! The state table's part in checkout-proxy: which customer each consumption token belongs
//! to, each customer's live leases, and each customer's live sticky leases.
//!
//! - `lease#<sha256 of the token>` holds the [`Link`] (`{beneficiary, licenseArn,
//!   checkoutType, stickyKey?, checkedIn, productSku, nodeId, entitlements, checkedOutAt,
//!   expiration, lastExtendedAt, token?}`) and expires (TTL) a little after the checkout
//!   does. Extend and check-in read it first: no record, or another customer's, is a 404
//!   before License Manager is called, because ExtendLicenseConsumption takes no beneficiary
//!   and would extend anyone's token. The digest is the lease's id in `/v1/leases`.
//! - `leases#<sha256 of the beneficiary>` lists the lease ids of the customer's leases
//!   (PROVISIONAL and BORROW), so that `GET /v1/leases` is one GetItem and one BatchGetItem
//!   per 100 leases, never a scan; ids whose record is gone or checked in are pruned there.
//! - `sticky#<digest>` (digest of beneficiary, SKU, sorted entitlements and node id) holds
//!   the checkout result of the live lease and expires with it.
//!
//! Every write is conditional: a new record only where none is live, an update only over
//! the state that was read, so a retried or concurrent request cannot overwrite another's.

use license_automation::state::{StateError, StateKey, StateStore, WriteOutcome};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// How long a token's link outlives the checkout's expiration (clock skew, late check-ins).
const LINK_GRACE: time::Duration = time::Duration::minutes(10);
/// How long a checked-in token's link answers retried check-ins.
const CHECKED_IN_LINK: time::Duration = time::Duration::hours(1);
/// How long the link of a checkout without an expiration (PERPETUAL) is kept.
const PERPETUAL_LINK: time::Duration = time::Duration::days(1);

/// Who a consumption token belongs to, and what `GET /v1/leases` shows of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    /// The customer that checked it out.
    pub beneficiary: String,
    /// The license it was drawn from.
    pub license_arn: String,
    /// PROVISIONAL, PERPETUAL or BORROW.
    pub checkout_type: String,
    /// The sticky lease it is, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky_key: Option<String>,
    /// Checked in already (a retried check-in answers 204 again).
    #[serde(default)]
    pub checked_in: bool,
    /// The license's product SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_sku: Option<String>,
    /// The app instance that holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// What it holds (`entitlementsAllowed`).
    #[serde(default)]
    pub entitlements: Vec<Value>,
    /// When it was checked out (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_out_at: Option<String>,
    /// When it expires unless extended (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    /// The last checkout or extension (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_extended_at: Option<String>,
    /// The consumption token, kept only while a lease (PROVISIONAL or BORROW) is live, so
    /// that `DELETE /v1/leases/{leaseId}` can check it in: CheckInLicense takes nothing
    /// else. Never answered, never logged; dropped at check-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl Link {
    /// The link of a new checkout by `beneficiary` (`body` is the API's checkout answer).
    pub fn new(
        beneficiary: &str,
        checkout_type: &str,
        product_sku: Option<&str>,
        sticky_key: Option<String>,
        body: &Value,
    ) -> Self {
        let text = |name: &str| body[name].as_str().map(str::to_owned);
        let is_lease = checkout_type != "PERPETUAL";
        let checked_out_at = text("issuedAt").or_else(|| Some(now_rfc3339()));
        Self {
            beneficiary: beneficiary.to_owned(),
            license_arn: text("licenseArn").unwrap_or_default(),
            checkout_type: checkout_type.to_owned(),
            sticky_key,
            checked_in: false,
            product_sku: product_sku.map(str::to_owned),
            node_id: text("nodeId"),
            entitlements: body["entitlementsAllowed"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            last_extended_at: checked_out_at.clone(),
            checked_out_at,
            expiration: text("expiration"),
            token: is_lease.then(|| text("licenseConsumptionToken")).flatten(),
        }
    }

    /// Whether `GET /v1/leases` lists it: a live lease of `beneficiary` that can be freed.
    pub fn is_listed_for(&self, beneficiary: &str) -> bool {
        self.beneficiary == beneficiary && !self.checked_in && self.token.is_some()
    }

    /// The lease as `GET /v1/leases` answers it (never the token).
    pub fn summary(&self, lease_id: &str) -> Value {
        let mut summary = json!({
            "leaseId": lease_id,
            "licenseArn": self.license_arn,
            "checkoutType": self.checkout_type,
            "productSku": self.product_sku,
            "nodeId": self.node_id,
            "entitlements": self.entitlements,
            "checkedOutAt": self.checked_out_at,
            "expiration": self.expiration,
            "lastExtendedAt": self.last_extended_at,
        });
        if let Some(object) = summary.as_object_mut() {
            object.retain(|_, value| !value.is_null());
        }
        summary
    }
}

/// Now, as RFC 3339 (UTC, whole seconds).
fn now_rfc3339() -> String {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// A sticky lease as stored: the checkout result to hand back.
#[derive(Debug, Clone, PartialEq)]
pub struct Sticky {
    /// The checkout result (camelCase JSON).
    pub body: Value,
    /// Its token.
    pub token: String,
    state: String,
}

/// The links and sticky leases in the state table.
#[derive(Debug, Clone)]
pub struct Leases {
    store: StateStore,
}

/// A stored record that cannot be read is a failure of the table, not of the request.
fn malformed(table: &str, key: &StateKey, reason: String) -> StateError {
    StateError::Malformed {
        table: table.to_owned(),
        key: key.partition_key(),
        reason,
    }
}

/// When a record about a checkout expiring at `expiration` (RFC 3339) should go.
fn link_expiry(expiration: Option<&str>, now: OffsetDateTime) -> OffsetDateTime {
    expiration
        .and_then(|at| OffsetDateTime::parse(at, &Rfc3339).ok())
        .map_or(now + PERPETUAL_LINK, |at| at + LINK_GRACE)
}

/// The instant of an RFC 3339 expiration, if it parses.
pub fn parse_expiration(expiration: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(expiration, &Rfc3339).ok()
}

/// The state-table key of `token`'s link: by the token's digest, never the token.
fn lease_key(token: &str) -> StateKey {
    lease_id_key(&lease_id(token))
}

/// The id of the lease of `token` in `/v1/leases`: the token's SHA-256 (hex), which tells
/// nothing of the token.
pub fn lease_id(token: &str) -> String {
    crate::checkout::token_digest(token)
}

/// Whether `id` can be a lease id (64 lower-case hexadecimal digits).
pub fn is_lease_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn lease_id_key(lease_id: &str) -> StateKey {
    StateKey::Lease {
        token_digest: lease_id.to_owned(),
    }
}

/// The key of `beneficiary`'s lease index.
fn index_key(beneficiary: &str) -> StateKey {
    StateKey::CustomerLeases {
        beneficiary_digest: crate::checkout::token_digest(beneficiary),
    }
}

/// Most lease ids one customer's index keeps (about 70 bytes each, far below DynamoDB's
/// 400 KB item limit); past it, ids of leases that are gone are pruned, then the oldest.
pub const MAX_INDEXED_LEASES: usize = 1000;
/// Conditional writes of the index tried before giving up (concurrent checkouts of one
/// customer race on it).
const INDEX_WRITE_ATTEMPTS: usize = 8;

/// A customer's lease index as stored.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    lease_ids: Vec<String>,
}

impl Leases {
    /// The records in `store`.
    pub fn new(store: StateStore) -> Self {
        Self { store }
    }

    /// The link of `token`, if one is live.
    pub async fn link(&self, token: &str) -> Result<Option<(Link, String)>, StateError> {
        let key = lease_key(token);
        let Some(record) = self.store.get(&key).await? else {
            return Ok(None);
        };
        let link = serde_json::from_str(&record.state)
            .map_err(|error| malformed(self.store.table(), &key, error.to_string()))?;
        Ok(Some((link, record.state)))
    }

    /// Links `token` to its customer until a little after `expiration`. A link that exists
    /// already (a retried request got the same token back) is left as it is.
    pub async fn link_token(
        &self,
        token: &str,
        link: &Link,
        expiration: Option<&str>,
    ) -> Result<(), StateError> {
        let key = lease_key(token);
        let state = serde_json::to_string(link).unwrap_or_default();
        let expires = link_expiry(expiration, OffsetDateTime::now_utc());
        self.store.put_if(&key, None, &state, Some(expires)).await?;
        Ok(())
    }

    /// Moves the link's expiry after an extension to `expiration`; `previous` is the state
    /// read. Losing a race to another writer leaves theirs.
    pub async fn extend_link(
        &self,
        token: &str,
        previous: &str,
        link: &Link,
        expiration: &str,
    ) -> Result<WriteOutcome, StateError> {
        let key = lease_key(token);
        let link = Link {
            expiration: Some(expiration.to_owned()),
            last_extended_at: Some(now_rfc3339()),
            ..link.clone()
        };
        let state = serde_json::to_string(&link).unwrap_or_default();
        let expires = link_expiry(Some(expiration), OffsetDateTime::now_utc());
        self.store
            .put_if(&key, Some(previous), &state, Some(expires))
            .await
    }

    /// Marks `token` checked in (so a retried check-in answers 204 again without calling
    /// License Manager) for an hour; `previous` is the state read.
    pub async fn mark_checked_in(
        &self,
        token: &str,
        previous: &str,
        link: &Link,
    ) -> Result<WriteOutcome, StateError> {
        let key = lease_key(token);
        let link = Link {
            checked_in: true,
            token: None,
            ..link.clone()
        };
        let state = serde_json::to_string(&link).unwrap_or_default();
        let expires = OffsetDateTime::now_utc() + CHECKED_IN_LINK;
        self.store
            .put_if(&key, Some(previous), &state, Some(expires))
            .await
    }

    /// The live sticky lease under `key`, if any.
    pub async fn sticky(&self, key: &str) -> Result<Option<Sticky>, StateError> {
        let state_key = StateKey::StickyLease {
            key: key.to_owned(),
        };
        let Some(record) = self.store.get(&state_key).await? else {
            return Ok(None);
        };
        let body: Value = serde_json::from_str(&record.state)
            .map_err(|error| malformed(self.store.table(), &state_key, error.to_string()))?;
        let token = body["licenseConsumptionToken"]
            .as_str()
            .ok_or_else(|| {
                malformed(
                    self.store.table(),
                    &state_key,
                    "no licenseConsumptionToken".into(),
                )
            })?
            .to_owned();
        Ok(Some(Sticky {
            body,
            token,
            state: record.state,
        }))
    }

    /// Records `body` as the sticky lease under `key` (replacing `previous`, when one was
    /// read), until `expiration`.
    pub async fn set_sticky(
        &self,
        key: &str,
        previous: Option<&Sticky>,
        body: &Value,
        expiration: Option<&str>,
    ) -> Result<WriteOutcome, StateError> {
        let state_key = StateKey::StickyLease {
            key: key.to_owned(),
        };
        let expires = expiration
            .and_then(parse_expiration)
            .unwrap_or_else(OffsetDateTime::now_utc);
        self.store
            .put_if(
                &state_key,
                previous.map(|sticky| sticky.state.as_str()),
                &body.to_string(),
                Some(expires),
            )
            .await
    }

    /// Forgets the sticky lease under `key` (it was checked in or is gone).
    pub async fn forget_sticky(&self, key: &str) -> Result<(), StateError> {
        self.store
            .forget(&StateKey::StickyLease {
                key: key.to_owned(),
            })
            .await
    }

    /// The link of the lease `lease_id`, if one is live.
    pub async fn link_by_id(&self, lease_id: &str) -> Result<Option<(Link, String)>, StateError> {
        let key = lease_id_key(lease_id);
        let Some(record) = self.store.get(&key).await? else {
            return Ok(None);
        };
        let link = serde_json::from_str(&record.state)
            .map_err(|error| malformed(self.store.table(), &key, error.to_string()))?;
        Ok(Some((link, record.state)))
    }

    /// The customer's lease index and the state it was read in.
    async fn index(&self, beneficiary: &str) -> Result<(Index, Option<String>), StateError> {
        let key = index_key(beneficiary);
        let Some(record) = self.store.get(&key).await? else {
            return Ok((Index::default(), None));
        };
        let index = serde_json::from_str(&record.state)
            .map_err(|error| malformed(self.store.table(), &key, error.to_string()))?;
        Ok((index, Some(record.state)))
    }

    /// Writes the customer's lease index over the state `previous` it was read in.
    async fn write_index(
        &self,
        beneficiary: &str,
        previous: Option<&str>,
        index: &Index,
    ) -> Result<WriteOutcome, StateError> {
        let state = serde_json::to_string(index).unwrap_or_default();
        self.store
            .put_if(&index_key(beneficiary), previous, &state, None)
            .await
    }

    /// The error when concurrent writers of the index won every race.
    fn index_contended(&self, beneficiary: &str) -> StateError {
        StateError::Call {
            table: self.store.table().to_owned(),
            operation: "PutItem",
            key: index_key(beneficiary).partition_key(),
            code: None,
            message: format!("{INDEX_WRITE_ATTEMPTS} concurrent writers won the race"),
        }
    }

    /// Adds the lease of `token` to its customer's index (once), conditionally on the
    /// index read, again when a concurrent checkout of the same customer came first.
    pub async fn index_lease(&self, beneficiary: &str, token: &str) -> Result<(), StateError> {
        let id = lease_id(token);
        for _ in 0..INDEX_WRITE_ATTEMPTS {
            let (mut index, previous) = self.index(beneficiary).await?;
            if index.lease_ids.contains(&id) {
                return Ok(());
            }
            if index.lease_ids.len() >= MAX_INDEXED_LEASES {
                let live = self.live_leases(beneficiary, &index.lease_ids).await?;
                index
                    .lease_ids
                    .retain(|id| live.iter().any(|(live, _)| live == id));
                if index.lease_ids.len() >= MAX_INDEXED_LEASES {
                    tracing::warn!(
                        beneficiary,
                        "lease index full: the oldest lease is no longer listed"
                    );
                    let excess = index.lease_ids.len() + 1 - MAX_INDEXED_LEASES;
                    index.lease_ids.drain(..excess);
                }
            }
            index.lease_ids.push(id.clone());
            if self
                .write_index(beneficiary, previous.as_deref(), &index)
                .await?
                == WriteOutcome::Written
            {
                return Ok(());
            }
        }
        Err(self.index_contended(beneficiary))
    }

    /// Removes `lease_id` from its customer's index (it was checked in).
    pub async fn unindex_lease(&self, beneficiary: &str, lease_id: &str) -> Result<(), StateError> {
        for _ in 0..INDEX_WRITE_ATTEMPTS {
            let (mut index, previous) = self.index(beneficiary).await?;
            let before = index.lease_ids.len();
            index.lease_ids.retain(|id| id != lease_id);
            if index.lease_ids.len() == before
                || self
                    .write_index(beneficiary, previous.as_deref(), &index)
                    .await?
                    == WriteOutcome::Written
            {
                return Ok(());
            }
        }
        Err(self.index_contended(beneficiary))
    }

    /// The live leases among `ids` that `beneficiary` holds, with their links, in order.
    async fn live_leases(
        &self,
        beneficiary: &str,
        ids: &[String],
    ) -> Result<Vec<(String, Link)>, StateError> {
        let keys: Vec<StateKey> = ids.iter().map(|id| lease_id_key(id)).collect();
        let records = self.store.get_many(&keys).await?;
        Ok(ids
            .iter()
            .zip(&keys)
            .filter_map(|(id, key)| {
                let record = records.get(key)?.as_ref()?;
                let link: Link = serde_json::from_str(&record.state).ok()?;
                link.is_listed_for(beneficiary).then(|| (id.clone(), link))
            })
            .collect())
    }

    /// `beneficiary`'s live leases (their ids and links), oldest first. Ids whose lease is
    /// gone are pruned from the index on the way (best effort: a concurrent writer wins).
    pub async fn leases_of(&self, beneficiary: &str) -> Result<Vec<(String, Link)>, StateError> {
        let (index, previous) = self.index(beneficiary).await?;
        let live = self.live_leases(beneficiary, &index.lease_ids).await?;
        if let Some(previous) = previous
            && live.len() != index.lease_ids.len()
        {
            let pruned = Index {
                lease_ids: live.iter().map(|(id, _)| id.clone()).collect(),
            };
            self.write_index(beneficiary, Some(&previous), &pruned)
                .await?;
        }
        Ok(live)
    }
}
