//! State: the one DynamoDB state table (`STATE_TABLE`; docs/template.md describes the
//! resource, the README each function's keys), behind a small typed API.
//!
//! Keys: `alert#…`, `notified#…#…`, `event#…`, and checkout-proxy's `lease#<token digest>`
//! (the token's customer), `leases#<customer digest>` (a customer's live lease ids),
//! `sticky#<digest>` (a customer's live lease for one node, or the claim of the request
//! drawing it), `idempotency#<digest>` (one Idempotency-Key: the request's digest, its claim,
//! its answer) and `rate#<customer digest>#<second>` (a customer's requests in one second).
//! Items have a single string key `pk`, a `state` string, `updatedAt` (RFC 3339) and, for
//! records that should go away, `expiresAt` (epoch seconds, the table's TTL attribute).
//! DynamoDB deletes expired items only eventually, so reads and conditions here treat an
//! item past its `expiresAt` as absent.
//!
//! Writes are conditional on the state the caller last saw, so two concurrent invocations
//! cannot both act on the same crossing: one writes, the other gets [`WriteOutcome::LostRace`].

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const PK: &str = "pk";
/// BatchGetItem's limit of keys per call.
const BATCH_GET_LIMIT: usize = 100;
/// Calls of one batch before keys DynamoDB keeps leaving unprocessed are an error.
const BATCH_GET_ROUNDS: u32 = 8;
const STATE: &str = "state";
const UPDATED_AT: &str = "updatedAt";
/// The count of a [`StateStore::count_below`] counter.
const COUNT: &str = "count";
/// The table's TTL attribute (epoch seconds).
pub const EXPIRES_AT: &str = "expiresAt";

/// What a record is about; each kind has its own key prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StateKey {
    /// The last alert state of a license configuration or entitlement.
    Alert {
        /// The license configuration ARN, or `<license ARN>#<entitlement name>`.
        resource: String,
    },
    /// A grant version or license version that has been handled.
    Notified {
        /// The grant or license ARN.
        arn: String,
        /// Its version.
        version: String,
    },
    /// An event id that has been processed (for idempotent replays).
    ProcessedEvent {
        /// The EventBridge event id.
        id: String,
    },
    /// checkout-proxy: which customer a license consumption token belongs to (until the
    /// checkout expires).
    Lease {
        /// The token's digest (`checkout::token_digest`): the token itself is a bearer
        /// credential and is never stored or logged.
        token_digest: String,
    },
    /// checkout-proxy: the lease ids (token digests) of one customer's live leases, so that
    /// `GET /v1/leases` reads one item and never scans the table.
    CustomerLeases {
        /// The digest of the customer's beneficiary id.
        beneficiary_digest: String,
    },
    /// checkout-proxy: the live sticky lease of one customer, SKU, entitlements and node.
    StickyLease {
        /// The digest of what identifies it (`checkout::lease_key`).
        key: String,
    },
    /// checkout-proxy: one Idempotency-Key of one customer and route (the request's digest,
    /// the claim of the request in flight, then its answer).
    Idempotency {
        /// The digest of the customer, the route and the key.
        key: String,
    },
    /// checkout-proxy: one customer's requests in one second (the per-customer rate limit).
    CustomerRate {
        /// The digest of the customer, `#`, the epoch second.
        key: String,
    },
}

impl StateKey {
    /// The key prefix of this kind of record: what the template's `dynamodb:LeadingKeys`
    /// conditions match (with a trailing `*`).
    pub fn prefix(&self) -> &'static str {
        match self {
            Self::Alert { .. } => "alert#",
            Self::Notified { .. } => "notified#",
            Self::ProcessedEvent { .. } => "event#",
            Self::Lease { .. } => "lease#",
            Self::CustomerLeases { .. } => "leases#",
            Self::StickyLease { .. } => "sticky#",
            Self::Idempotency { .. } => "idempotency#",
            Self::CustomerRate { .. } => "rate#",
        }
    }

    /// The item's `pk`.
    pub fn partition_key(&self) -> String {
        let prefix = self.prefix();
        match self {
            Self::Alert { resource } => format!("{prefix}{resource}"),
            Self::Notified { arn, version } => format!("{prefix}{arn}#{version}"),
            Self::ProcessedEvent { id } => format!("{prefix}{id}"),
            Self::Lease { token_digest } => format!("{prefix}{token_digest}"),
            Self::CustomerLeases { beneficiary_digest } => format!("{prefix}{beneficiary_digest}"),
            Self::StickyLease { key } | Self::Idempotency { key } | Self::CustomerRate { key } => {
                format!("{prefix}{key}")
            }
        }
    }
}

/// A record as read from the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRecord {
    /// The state, e.g. `ok`, `warning`, `exceeded`.
    pub state: String,
    /// When it was last written.
    pub updated_at: OffsetDateTime,
    /// When it expires, if it does.
    pub expires_at: Option<OffsetDateTime>,
}

/// The result of a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The record now holds the new state.
    Written,
    /// Someone else changed the record first; nothing was written.
    LostRace,
}

/// The result of [`StateStore::remember_once`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remembered {
    /// First time: the caller should act.
    First,
    /// Already remembered (and not expired): the caller has acted before.
    AlreadySeen,
}

/// The table could not be read or written, or holds an item this code cannot read.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A DynamoDB call failed.
    #[error("state table {table}: {operation} of {key} failed: {message}")]
    Call {
        /// The table.
        table: String,
        /// The DynamoDB operation.
        operation: &'static str,
        /// The item's `pk`.
        key: String,
        /// The service's error code, when it answered (e.g. `ResourceNotFoundException`).
        code: Option<String>,
        /// The SDK's error with its context.
        message: String,
    },
    /// An item exists but lacks a member or has a member of the wrong type.
    #[error("state table {table}: item {key} is malformed: {reason}")]
    Malformed {
        /// The table.
        table: String,
        /// The item's `pk`.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl StateError {
    /// Whether a person must act before the table can be used: access refused, or the table
    /// does not exist ([`crate::attention`]).
    pub fn needs_attention(&self) -> bool {
        match self {
            Self::Call { code, .. } => code
                .as_deref()
                .is_some_and(crate::attention::needs_attention_on_own_resource),
            Self::Malformed { .. } => false,
        }
    }
}

/// The state table.
#[derive(Debug, Clone)]
pub struct StateStore {
    client: Client,
    table: String,
    clock: fn() -> OffsetDateTime,
}

impl StateStore {
    /// The store for `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            clock: OffsetDateTime::now_utc,
        }
    }

    /// Replaces the clock used for `updatedAt` and expiry checks (tests).
    pub fn with_clock(mut self, clock: fn() -> OffsetDateTime) -> Self {
        self.clock = clock;
        self
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The current record for `key`, or `None` if there is none or it has expired.
    pub async fn get(&self, key: &StateKey) -> Result<Option<StateRecord>, StateError> {
        let pk = key.partition_key();
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(pk.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| self.call_error("GetItem", &pk, error))?;
        let Some(item) = output.item() else {
            return Ok(None);
        };
        let record = self.parse(&pk, item)?;
        let now = (self.clock)();
        Ok(record.filter(|record| record.expires_at.is_none_or(|at| at > now)))
    }

    /// The current records of many keys at once: BatchGetItem, 100 keys a call, strongly
    /// consistent like [`get`](Self::get), keys DynamoDB leaves unprocessed asked again. A key
    /// with no live record maps to `None`; a key whose item cannot be read (malformed) is left
    /// out, so that a [`get`](Self::get) of it reports why.
    pub async fn get_many(
        &self,
        keys: &[StateKey],
    ) -> Result<HashMap<StateKey, Option<StateRecord>>, StateError> {
        let mut unique: Vec<&StateKey> = Vec::with_capacity(keys.len());
        let mut by_pk: HashMap<String, &StateKey> = HashMap::with_capacity(keys.len());
        for key in keys {
            if by_pk.insert(key.partition_key(), key).is_none() {
                unique.push(key);
            }
        }
        let now = (self.clock)();
        let mut records = HashMap::with_capacity(unique.len());
        for chunk in unique.chunks(BATCH_GET_LIMIT) {
            let first = chunk
                .first()
                .map(|key| key.partition_key())
                .unwrap_or_default();
            let mut pending: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|key| HashMap::from([(PK.to_owned(), AttributeValue::S(key.partition_key()))]))
                .collect();
            let mut rounds = 0;
            while !pending.is_empty() {
                if rounds > 0 {
                    // DynamoDB returns unprocessed keys under throttling: back off a little.
                    tokio::time::sleep(std::time::Duration::from_millis(25 << rounds.min(5))).await;
                }
                rounds += 1;
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(true)
                    .build()
                    .map_err(|error| StateError::Call {
                        table: self.table.clone(),
                        operation: "BatchGetItem",
                        key: first.clone(),
                        code: None,
                        message: error.to_string(),
                    })?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|error| self.call_error("BatchGetItem", &first, error))?;
                for item in output
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    let Some(key) = item
                        .get(PK)
                        .and_then(|pk| pk.as_s().ok())
                        .and_then(|pk| by_pk.get(pk))
                    else {
                        continue;
                    };
                    if let Ok(record) = self.parse(&key.partition_key(), item) {
                        let live = record.filter(|r| r.expires_at.is_none_or(|at| at > now));
                        records.insert((*key).clone(), live);
                    } else {
                        // Left out: get() of this key names what is wrong with it.
                        by_pk.remove(&key.partition_key());
                    }
                }
                pending = output
                    .unprocessed_keys()
                    .and_then(|unprocessed| unprocessed.get(&self.table))
                    .map(|unprocessed| unprocessed.keys().to_vec())
                    .unwrap_or_default();
                if rounds >= BATCH_GET_ROUNDS && !pending.is_empty() {
                    return Err(StateError::Call {
                        table: self.table.clone(),
                        operation: "BatchGetItem",
                        key: first,
                        code: None,
                        message: format!(
                            "{} keys still unprocessed after {rounds} calls",
                            pending.len()
                        ),
                    });
                }
            }
            for key in chunk {
                if by_pk.contains_key(&key.partition_key()) {
                    records.entry((*key).clone()).or_insert(None);
                }
            }
        }
        Ok(records)
    }

    /// Writes `new_state` for `key` if the current state is `expected` (`None`: no live record).
    pub async fn put_if(
        &self,
        key: &StateKey,
        expected: Option<&str>,
        new_state: &str,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<WriteOutcome, StateError> {
        let now = (self.clock)();
        let pk = key.partition_key();
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.item(&pk, new_state, now, expires_at)))
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#expiresAt", EXPIRES_AT)
            .expression_attribute_values(":now", epoch(now));
        request = match expected {
            None => request.condition_expression(ABSENT_OR_EXPIRED),
            Some(state) => request
                .condition_expression(LIVE_WITH_EXPECTED_STATE)
                .expression_attribute_names("#state", STATE)
                .expression_attribute_values(":expected", AttributeValue::S(state.to_owned())),
        };
        match request.send().await {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(error) if is_condition_failure(&error) => Ok(WriteOutcome::LostRace),
            Err(error) => Err(self.call_error("PutItem", &pk, error)),
        }
    }

    /// Counts one more under `key` (a counter that expires at `expires_at`) unless it has
    /// reached `limit` already: one conditional UpdateItem. `true` when counted.
    pub async fn count_below(
        &self,
        key: &StateKey,
        limit: u64,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StateError> {
        let now = (self.clock)();
        let pk = key.partition_key();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(pk.clone()))
            .update_expression(
                "SET #state = :state, #updatedAt = :updatedAt, #expiresAt = :expiresAt \
                 ADD #count :one",
            )
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#updatedAt", UPDATED_AT)
            .expression_attribute_names("#expiresAt", EXPIRES_AT)
            .expression_attribute_names("#count", COUNT)
            .expression_attribute_values(":state", AttributeValue::S("counter".into()))
            .expression_attribute_values(":updatedAt", AttributeValue::S(rfc3339(now)))
            .expression_attribute_values(":expiresAt", epoch(expires_at))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|error| error.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(error) => Err(self.call_error("UpdateItem", &pk, error)),
        }
    }

    /// Records `key` once, until `expires_at`; says whether this call was the first.
    pub async fn remember_once(
        &self,
        key: &StateKey,
        expires_at: OffsetDateTime,
    ) -> Result<Remembered, StateError> {
        Ok(
            match self.put_if(key, None, "seen", Some(expires_at)).await? {
                WriteOutcome::Written => Remembered::First,
                WriteOutcome::LostRace => Remembered::AlreadySeen,
            },
        )
    }

    /// Forgets a [`remember_once`](Self::remember_once) record, so that a retry of work that
    /// failed after remembering it is done again (remember, act, forget on error).
    pub async fn forget(&self, key: &StateKey) -> Result<(), StateError> {
        let pk = key.partition_key();
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(pk.clone()))
            .send()
            .await
            .map_err(|error| self.call_error("DeleteItem", &pk, error))?;
        Ok(())
    }

    fn item(
        &self,
        pk: &str,
        state: &str,
        now: OffsetDateTime,
        expires_at: Option<OffsetDateTime>,
    ) -> HashMap<String, AttributeValue> {
        let mut item = HashMap::from([
            (PK.to_owned(), AttributeValue::S(pk.to_owned())),
            (STATE.to_owned(), AttributeValue::S(state.to_owned())),
            (UPDATED_AT.to_owned(), AttributeValue::S(rfc3339(now))),
        ]);
        if let Some(at) = expires_at {
            item.insert(EXPIRES_AT.to_owned(), epoch(at));
        }
        item
    }

    fn parse(
        &self,
        pk: &str,
        item: &HashMap<String, AttributeValue>,
    ) -> Result<Option<StateRecord>, StateError> {
        let malformed = |reason: String| StateError::Malformed {
            table: self.table.clone(),
            key: pk.to_owned(),
            reason,
        };
        let text = |name: &str| match item.get(name) {
            Some(AttributeValue::S(value)) => Ok(value.clone()),
            Some(_) => Err(malformed(format!("{name} is not a string"))),
            None => Err(malformed(format!("{name} is missing"))),
        };
        let state = text(STATE)?;
        let updated_at = OffsetDateTime::parse(&text(UPDATED_AT)?, &Rfc3339)
            .map_err(|error| malformed(format!("{UPDATED_AT} is not RFC 3339: {error}")))?;
        let expires_at = match item.get(EXPIRES_AT) {
            None => None,
            Some(AttributeValue::N(value)) => Some(
                value
                    .parse::<i64>()
                    .ok()
                    .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
                    .ok_or_else(|| {
                        malformed(format!("{EXPIRES_AT} {value:?} is not epoch seconds"))
                    })?,
            ),
            Some(_) => return Err(malformed(format!("{EXPIRES_AT} is not a number"))),
        };
        Ok(Some(StateRecord {
            state,
            updated_at,
            expires_at,
        }))
    }

    fn call_error<E, R>(
        &self,
        operation: &'static str,
        pk: &str,
        error: SdkError<E, R>,
    ) -> StateError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        StateError::Call {
            table: self.table.clone(),
            operation,
            key: pk.to_owned(),
            code: error.code().map(str::to_owned),
            message: DisplayErrorContext(&error).to_string(),
        }
    }
}

/// A live item in the state the writer saw.
const LIVE_WITH_EXPECTED_STATE: &str = "attribute_exists(#pk) AND #state = :expected \
     AND (attribute_not_exists(#expiresAt) OR #expiresAt > :now)";

/// No item, or one whose TTL has passed but that DynamoDB has not deleted yet.
const ABSENT_OR_EXPIRED: &str = "attribute_not_exists(#pk) OR #expiresAt <= :now";

fn is_condition_failure<R>(
    error: &SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError, R>,
) -> bool {
    error
        .as_service_error()
        .is_some_and(|error| error.is_conditional_check_failed_exception())
}

fn epoch(at: OffsetDateTime) -> AttributeValue {
    AttributeValue::N(at.unix_timestamp().to_string())
}

fn rfc3339(at: OffsetDateTime) -> String {
    // Formatting a valid OffsetDateTime as RFC 3339 only fails for years beyond 9999.
    at.format(&Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_distinct_prefixes() {
        let arn = "arn:aws:license-manager::111122223333:grant:g-1";
        assert_eq!(
            StateKey::Alert {
                resource: arn.into()
            }
            .partition_key(),
            format!("alert#{arn}")
        );
        assert_eq!(
            StateKey::Notified {
                arn: arn.into(),
                version: "2".into()
            }
            .partition_key(),
            format!("notified#{arn}#2")
        );
        assert_eq!(
            StateKey::ProcessedEvent { id: "e-1".into() }.partition_key(),
            "event#e-1"
        );
        assert_eq!(
            StateKey::Lease {
                token_digest: "t-1".into()
            }
            .partition_key(),
            "lease#t-1"
        );
        assert_eq!(
            StateKey::CustomerLeases {
                beneficiary_digest: "c-1".into()
            }
            .partition_key(),
            "leases#c-1"
        );
        assert_eq!(
            StateKey::StickyLease { key: "ab12".into() }.partition_key(),
            "sticky#ab12"
        );
        assert_eq!(
            StateKey::Idempotency { key: "cd34".into() }.partition_key(),
            "idempotency#cd34"
        );
        assert_eq!(
            StateKey::CustomerRate {
                key: "ef56#1700000000".into()
            }
            .partition_key(),
            "rate#ef56#1700000000"
        );
    }
}
