//! The state table's part in checkout-proxy (DESIGN §4.3): which customer each consumption
//! token belongs to, and each customer's live sticky leases.
//!
//! - `lease#<sha256 of the token>` holds `{beneficiary, licenseArn, checkoutType, stickyKey?, checkedIn}`
//!   and expires (TTL) a little after the checkout does. Extend and check-in read it first:
//!   no record, or another customer's, is a 404 before License Manager is called, because
//!   ExtendLicenseConsumption takes no beneficiary and would extend anyone's token.
//! - `sticky#<digest>` (digest of beneficiary, SKU, sorted entitlements and node id) holds
//!   the checkout result of the live lease and expires with it.
//!
//! Every write is conditional: a new record only where none is live, an update only over
//! the state that was read, so a retried or concurrent request cannot overwrite another's.

use license_automation::state::{StateError, StateKey, StateStore, WriteOutcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// How long a token's link outlives the checkout's expiration (clock skew, late check-ins).
const LINK_GRACE: time::Duration = time::Duration::minutes(10);
/// How long a checked-in token's link answers retried check-ins.
const CHECKED_IN_LINK: time::Duration = time::Duration::hours(1);
/// How long the link of a checkout without an expiration (PERPETUAL) is kept.
const PERPETUAL_LINK: time::Duration = time::Duration::days(1);

/// Who a consumption token belongs to.
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
}

impl Link {
    /// The link of a new checkout of `license_arn` by `beneficiary`.
    pub fn new(
        beneficiary: &str,
        license_arn: &str,
        checkout_type: &str,
        sticky_key: Option<String>,
    ) -> Self {
        Self {
            beneficiary: beneficiary.to_owned(),
            license_arn: license_arn.to_owned(),
            checkout_type: checkout_type.to_owned(),
            sticky_key,
            checked_in: false,
        }
    }
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
    StateKey::Lease {
        token_digest: crate::checkout::token_digest(token),
    }
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
        let state = serde_json::to_string(link).unwrap_or_default();
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
}
