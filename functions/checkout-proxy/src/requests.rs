//! The state table's records about requests (the README's checkout-proxy section):
//!
//! - `idempotency#<digest of customer, route and key>` holds an Idempotency-Key's
//!   [`KeyRecord`]: the request's digest, the ClientToken, the claim of the request at work
//!   (until its deadline) and, once it succeeded, its answer. Kept [`KEY_RETENTION`].
//! - `rate#<digest of customer>#<epoch second>` counts a customer's requests in one second
//!   (`CUSTOMER_RATE_LIMIT`): one conditional UpdateItem per request.

use license_automation::deadline::Deadline;
use license_automation::state::{StateError, StateKey, StateStore, WriteOutcome};
use time::OffsetDateTime;

use crate::checkout::{KEY_RETENTION, KeyDecision, KeyRecord, StoredAnswer, key_decision};

/// Conditional writes of a key's record tried before the key counts as in progress.
const CLAIM_ATTEMPTS: usize = 3;

/// A key claimed by this request: what it wrote, to complete or release it.
#[derive(Debug, Clone)]
pub struct KeyClaim {
    key: StateKey,
    record: KeyRecord,
    state: String,
}

impl KeyClaim {
    /// The ClientToken to call License Manager with.
    pub fn client_token(&self) -> &str {
        &self.record.client_token
    }
}

/// What a request's Idempotency-Key allows.
#[derive(Debug, Clone)]
pub enum Begun {
    /// Claimed: do the work.
    Claimed(KeyClaim),
    /// Answered before: replay it.
    Replay(StoredAnswer),
    /// Another request holds the key; retry after this many seconds.
    InProgress(u64),
    /// The key was used for another request.
    Reused,
    /// The lease the key drew is checked in.
    CheckedIn,
}

/// The idempotency records and request counters in the state table.
#[derive(Debug, Clone)]
pub struct Requests {
    store: StateStore,
}

/// Epoch milliseconds of `at`.
fn epoch_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl Requests {
    /// The records in `store`.
    pub fn new(store: StateStore) -> Self {
        Self { store }
    }

    /// Reads the key's record (`record_key`, see `checkout::key_record`) and claims it for
    /// the request of `digest` until `deadline`, unless it is answered, in flight or another
    /// request's. `client_token` is used unless an expired claim names its own.
    pub async fn begin(
        &self,
        record_key: &str,
        digest: &str,
        client_token: String,
        deadline: &Deadline,
    ) -> Result<Begun, StateError> {
        let key = StateKey::Idempotency {
            key: record_key.to_owned(),
        };
        for _ in 0..CLAIM_ATTEMPTS {
            let current = self.store.get(&key).await?;
            let record = match &current {
                Some(current) => Some(serde_json::from_str::<KeyRecord>(&current.state).map_err(
                    |error| StateError::Malformed {
                        table: self.store.table().to_owned(),
                        key: key.partition_key(),
                        reason: error.to_string(),
                    },
                )?),
                None => None,
            };
            let now = OffsetDateTime::now_utc();
            let previous_token = match key_decision(record.as_ref(), digest, epoch_ms(now)) {
                KeyDecision::Proceed(previous_token) => previous_token,
                KeyDecision::Replay(answer) => return Ok(Begun::Replay(answer)),
                KeyDecision::InProgress(secs) => return Ok(Begun::InProgress(secs)),
                KeyDecision::Reused => return Ok(Begun::Reused),
                KeyDecision::CheckedIn => return Ok(Begun::CheckedIn),
            };
            let claim = KeyRecord {
                request: digest.to_owned(),
                client_token: previous_token.unwrap_or_else(|| client_token.clone()),
                claimed_until: Some(epoch_ms(deadline.wall_clock())),
                answer: None,
                checked_in: false,
            };
            let state = serde_json::to_string(&claim).unwrap_or_default();
            let previous = current.as_ref().map(|current| current.state.as_str());
            if self
                .store
                .put_if(&key, previous, &state, Some(now + KEY_RETENTION))
                .await?
                == WriteOutcome::Written
            {
                return Ok(Begun::Claimed(KeyClaim {
                    key,
                    record: claim,
                    state,
                }));
            }
        }
        Ok(Begun::InProgress(1))
    }

    /// Records the claimed request's answer, to replay to its retries.
    pub async fn complete(
        &self,
        claim: &KeyClaim,
        answer: &StoredAnswer,
    ) -> Result<WriteOutcome, StateError> {
        let record = KeyRecord {
            claimed_until: None,
            answer: Some(answer.clone()),
            ..claim.record.clone()
        };
        let state = serde_json::to_string(&record).unwrap_or_default();
        let expires = OffsetDateTime::now_utc() + KEY_RETENTION;
        self.store
            .put_if(&claim.key, Some(&claim.state), &state, Some(expires))
            .await
    }

    /// Frees the key of a request that failed holding nothing: a retry starts afresh.
    pub async fn release(&self, claim: &KeyClaim) -> Result<WriteOutcome, StateError> {
        let gone = OffsetDateTime::now_utc() - time::Duration::seconds(1);
        self.store
            .put_if(&claim.key, Some(&claim.state), &claim.state, Some(gone))
            .await
    }

    /// Forgets the answer of the key `record_key` once the lease it drew is checked in: the
    /// answer held the token, which no record keeps past its check-in.
    pub async fn checked_in(&self, record_key: &str) -> Result<(), StateError> {
        let key = StateKey::Idempotency {
            key: record_key.to_owned(),
        };
        let Some(current) = self.store.get(&key).await? else {
            return Ok(());
        };
        let Ok(record) = serde_json::from_str::<KeyRecord>(&current.state) else {
            return Ok(());
        };
        let spent = KeyRecord {
            claimed_until: None,
            answer: None,
            checked_in: true,
            ..record
        };
        let state = serde_json::to_string(&spent).unwrap_or_default();
        self.store
            .put_if(&key, Some(&current.state), &state, current.expires_at)
            .await?;
        Ok(())
    }

    /// Counts a request of the customer whose digest is `customer` in this second; `false`
    /// when `limit` requests were counted already.
    pub async fn admit(&self, customer: &str, limit: u64) -> Result<bool, StateError> {
        let now = OffsetDateTime::now_utc();
        let key = StateKey::CustomerRate {
            key: format!("{customer}#{}", now.unix_timestamp()),
        };
        self.store
            .count_below(&key, limit, now + time::Duration::minutes(1))
            .await
    }
}
