//! State: the one DynamoDB state table (`STATE_TABLE`; docs/template.md describes the
//! resource, the README each function's keys), behind a small typed API.
//!
//! Keys: `alert#…`, `notified#…#…`, `event#…`, `outbox#<function>` (the partition of the
//! outbox index, [`OUTBOX_INDEX`], that holds one function's pending intents), and
//! checkout-proxy's `lease#<token digest>` (the token's customer), `leases#<customer digest>`
//! (a customer's live lease ids), `sticky#<digest>` (a customer's live lease for one node, or
//! the claim of the request drawing it), `idempotency#<digest>` (one Idempotency-Key: the
//! request's digest, its claim, its answer) and `rate#<customer digest>#<second>` (a
//! customer's requests in one second).
//! Items have a single string key `pk`, a `state` string, `updatedAt` (RFC 3339) and, for
//! records that should go away, `expiresAt` (epoch seconds, the table's TTL attribute).
//! DynamoDB deletes expired items only eventually, so reads and conditions here treat an
//! item past its `expiresAt` as absent.
//!
//! A record may carry an outbox intent ([`PendingIntent`], `crate::outbox`): the events it is
//! to send, a claim (`claimUntil`, epoch milliseconds) and, while it is pending, the sparse
//! index attribute `outbox` (the owner's `outbox#<function>` key) that lets the owner find
//! intents whose claim expired.
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
/// The sparse global secondary index of pending outbox intents: partition [`OUTBOX`] (the
/// owner's `outbox#<function>` key), sort [`CLAIM_UNTIL`].
pub const OUTBOX_INDEX: &str = "outbox";
/// The index's partition attribute: set while an intent is pending, removed once it is settled.
pub const OUTBOX: &str = "outbox";
/// When an intent's claim ends (epoch milliseconds): the deadline of the invocation that holds it.
pub const CLAIM_UNTIL: &str = "claimUntil";
/// The intent's body (JSON: the events to send, the effect to carry out).
const INTENT: &str = "intent";
/// Pages of the outbox index read per invocation before the rest waits for the next one.
const INTENT_PAGES: usize = 10;

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
    /// One function's pending outbox intents: the partition of [`OUTBOX_INDEX`] (no item has
    /// this `pk`; the intents live on their own records).
    Outbox {
        /// The function (`grant-acceptor`, `soft-limit-monitor`, `license-events`).
        owner: String,
    },
    /// One function's sweep for events that name no ARN: whose is running, until when
    /// ([`crate::coalesce`]).
    Sweep {
        /// The function (`grant-acceptor`, `license-events`).
        owner: String,
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
            Self::Outbox { .. } => "outbox#",
            Self::Sweep { .. } => "sweep#",
        }
    }

    /// The key of an item's `pk`, for the kinds an outbox intent can live on (`alert#`,
    /// `notified#`); `None` for any other.
    pub fn from_partition_key(pk: &str) -> Option<Self> {
        if let Some(resource) = pk.strip_prefix("alert#") {
            return Some(Self::Alert {
                resource: resource.to_owned(),
            });
        }
        // ARNs hold no `#`: the version is everything after the first one.
        let (arn, version) = pk.strip_prefix("notified#")?.split_once('#')?;
        Some(Self::Notified {
            arn: arn.to_owned(),
            version: version.to_owned(),
        })
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
            Self::Outbox { owner } | Self::Sweep { owner } => format!("{prefix}{owner}"),
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
    /// The outbox intent it carries while one is pending.
    pub intent: Option<PendingIntent>,
}

/// An outbox intent kept on a record until it is settled (`crate::outbox`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingIntent {
    /// The function that owns it (its `outbox#<function>` partition of [`OUTBOX_INDEX`]).
    pub owner: StateKey,
    /// When the claim of the invocation that holds it ends; past it, anyone re-drives it.
    pub claim_until: OffsetDateTime,
    /// What to do (JSON, `crate::outbox::IntentBody`).
    pub body: String,
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
        let item = self.item(&key.partition_key(), new_state, now, expires_at);
        self.put_conditionally(key, item, expected, false, now)
            .await
    }

    /// Puts `item` for `key` if the live state is `expected` (`None`: no live record) and,
    /// when `no_intent`, no outbox intent is pending on it.
    async fn put_conditionally(
        &self,
        key: &StateKey,
        item: HashMap<String, AttributeValue>,
        expected: Option<&str>,
        no_intent: bool,
        now: OffsetDateTime,
    ) -> Result<WriteOutcome, StateError> {
        let pk = key.partition_key();
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#expiresAt", EXPIRES_AT)
            .expression_attribute_values(":now", epoch(now));
        request = match expected {
            None => request.condition_expression(ABSENT_OR_EXPIRED),
            Some(state) if no_intent => request
                .condition_expression(format!(
                    "{LIVE_WITH_EXPECTED_STATE} AND attribute_not_exists(#claimUntil)"
                ))
                .expression_attribute_names("#state", STATE)
                .expression_attribute_names("#claimUntil", CLAIM_UNTIL)
                .expression_attribute_values(":expected", AttributeValue::S(state.to_owned())),
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

    /// Writes `new_state` for `key` with `intent` pending on it, if the live state is
    /// `expected` (`None`: no live record) and no intent is pending on the record.
    pub async fn put_intent(
        &self,
        key: &StateKey,
        expected: Option<&str>,
        new_state: &str,
        intent: &PendingIntent,
    ) -> Result<WriteOutcome, StateError> {
        let now = (self.clock)();
        let mut item = self.item(&key.partition_key(), new_state, now, None);
        item.insert(
            OUTBOX.to_owned(),
            AttributeValue::S(intent.owner.partition_key()),
        );
        item.insert(CLAIM_UNTIL.to_owned(), epoch_ms(intent.claim_until));
        item.insert(INTENT.to_owned(), AttributeValue::S(intent.body.clone()));
        self.put_conditionally(key, item, expected, true, now).await
    }

    /// Moves the claim of the intent on `key` from `held` (the claim its holder knows) to
    /// `until`: a re-drive takes an expired claim, a holder that gives up ends its own now.
    pub async fn reclaim(
        &self,
        key: &StateKey,
        held: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<WriteOutcome, StateError> {
        let pk = key.partition_key();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(pk.clone()))
            .update_expression("SET #claimUntil = :until")
            .condition_expression("#claimUntil = :held")
            .expression_attribute_names("#claimUntil", CLAIM_UNTIL)
            .expression_attribute_values(":until", epoch_ms(until))
            .expression_attribute_values(":held", epoch_ms(held))
            .send()
            .await;
        match result {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(error) if is_update_condition_failure(&error) => Ok(WriteOutcome::LostRace),
            Err(error) => Err(self.call_error("UpdateItem", &pk, error)),
        }
    }

    /// Settles the intent on `key` whose claim is `held`: removes it (and the index
    /// attribute) and, when `done` says so, sets the record's state and expiry (a "notified"
    /// record becomes `sent` for its lifetime). `LostRace`: someone else holds it now.
    pub async fn settle(
        &self,
        key: &StateKey,
        held: OffsetDateTime,
        done: Option<(&str, OffsetDateTime)>,
    ) -> Result<WriteOutcome, StateError> {
        let pk = key.partition_key();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(pk.clone()))
            .condition_expression("#claimUntil = :held")
            .expression_attribute_names("#claimUntil", CLAIM_UNTIL)
            .expression_attribute_names("#outbox", OUTBOX)
            .expression_attribute_names("#intent", INTENT)
            .expression_attribute_values(":held", epoch_ms(held));
        request = match done {
            None => request.update_expression("REMOVE #outbox, #claimUntil, #intent"),
            Some((state, expires_at)) => request
                .update_expression(
                    "SET #state = :state, #expiresAt = :expiresAt REMOVE #outbox, #claimUntil, #intent",
                )
                .expression_attribute_names("#state", STATE)
                .expression_attribute_names("#expiresAt", EXPIRES_AT)
                .expression_attribute_values(":state", AttributeValue::S(state.to_owned()))
                .expression_attribute_values(":expiresAt", epoch(expires_at)),
        };
        match request.send().await {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(error) if is_update_condition_failure(&error) => Ok(WriteOutcome::LostRace),
            Err(error) => Err(self.call_error("UpdateItem", &pk, error)),
        }
    }

    /// The records whose intent, owned by `owner` (a [`StateKey::Outbox`]), has a claim that
    /// ended by `by`: a Query of [`OUTBOX_INDEX`], at most ten pages (the rest is found by
    /// the next invocation). Items this code cannot read are logged and left out.
    pub async fn expired_intents(
        &self,
        owner: &StateKey,
        by: OffsetDateTime,
    ) -> Result<Vec<(StateKey, StateRecord)>, StateError> {
        let partition = owner.partition_key();
        let mut found = Vec::new();
        let mut start = None;
        for _ in 0..INTENT_PAGES {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(OUTBOX_INDEX)
                .key_condition_expression("#outbox = :owner AND #claimUntil <= :by")
                .expression_attribute_names("#outbox", OUTBOX)
                .expression_attribute_names("#claimUntil", CLAIM_UNTIL)
                .expression_attribute_values(":owner", AttributeValue::S(partition.clone()))
                .expression_attribute_values(":by", epoch_ms(by))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|error| self.call_error("Query", &partition, error))?;
            for item in output.items() {
                let pk = item.get(PK).and_then(|pk| pk.as_s().ok());
                let Some((pk, key)) =
                    pk.and_then(|pk| Some((pk, StateKey::from_partition_key(pk)?)))
                else {
                    tracing::warn!(key = ?pk, "outbox index: an item that is no intent's record; skipped");
                    continue;
                };
                match self.parse(pk, item) {
                    Ok(Some(record)) => found.push((key, record)),
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(error = %error, "outbox index: unreadable intent; skipped")
                    }
                }
            }
            start = output.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        Ok(found)
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
        let intent = match item.get(OUTBOX) {
            None => None,
            Some(AttributeValue::S(owner)) => {
                let owner = owner.strip_prefix("outbox#").ok_or_else(|| {
                    malformed(format!("{OUTBOX} {owner:?} is not an outbox# key"))
                })?;
                let claim_until = match item.get(CLAIM_UNTIL) {
                    Some(AttributeValue::N(value)) => value
                        .parse::<i64>()
                        .ok()
                        .and_then(|ms| {
                            OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                                .ok()
                        })
                        .ok_or_else(|| {
                            malformed(format!("{CLAIM_UNTIL} {value:?} is not epoch milliseconds"))
                        })?,
                    _ => {
                        return Err(malformed(format!(
                            "{CLAIM_UNTIL} is missing or not a number"
                        )));
                    }
                };
                Some(PendingIntent {
                    owner: StateKey::Outbox {
                        owner: owner.to_owned(),
                    },
                    claim_until,
                    body: text(INTENT)?,
                })
            }
            Some(_) => return Err(malformed(format!("{OUTBOX} is not a string"))),
        };
        Ok(Some(StateRecord {
            state,
            updated_at,
            expires_at,
            intent,
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

fn is_update_condition_failure<R>(
    error: &SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError, R>,
) -> bool {
    error
        .as_service_error()
        .is_some_and(|error| error.is_conditional_check_failed_exception())
}

/// A claim's end as the table keeps it (epoch milliseconds: a deadline is that precise).
fn epoch_ms(at: OffsetDateTime) -> AttributeValue {
    AttributeValue::N((at.unix_timestamp_nanos() / 1_000_000).to_string())
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
        assert_eq!(
            StateKey::Outbox {
                owner: "grant-acceptor".into()
            }
            .partition_key(),
            "outbox#grant-acceptor"
        );
    }

    #[test]
    fn the_records_an_intent_lives_on_read_back_from_their_partition_key() {
        let arn = "arn:aws:license-manager::111122223333:grant:g-1";
        for key in [
            StateKey::Alert {
                resource: format!("{arn}#Users#dry-run"),
            },
            StateKey::Notified {
                arn: arn.into(),
                version: "2#accepted#dry-run".into(),
            },
        ] {
            assert_eq!(
                StateKey::from_partition_key(&key.partition_key()),
                Some(key)
            );
        }
        assert_eq!(StateKey::from_partition_key("lease#t-1"), None);
        assert_eq!(StateKey::from_partition_key("notified#no-version"), None);
    }
}
