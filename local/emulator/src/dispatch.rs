//! What an operation is and what its handler sees, shared by the License Manager operations
//! ([`crate::ops`]) and KMS ([`crate::kms`]): the call's context ([`Ctx`]), the handler and
//! operation types, and the helpers handlers share (parsing, ids, idempotency, filters, pages,
//! signed responses).

use crate::dates::fmt_time;
use crate::events;
use crate::jwt::Signer;
use crate::keys::KmsKey;
use crate::protocol::ApiError;
use crate::state::{Consumption, State};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use time::OffsetDateTime;

/// What a handler sees: the state, the caller and the time.
pub struct Ctx<'a> {
    /// The emulator's state (locked for the duration of the call).
    pub state: &'a mut State,
    /// The caller's account id.
    pub account: &'a str,
    /// The emulator's region.
    pub region: &'a str,
    /// The current time of the emulator's clock.
    pub now: OffsetDateTime,
    /// The key that signs JWTs.
    pub signer: &'a Signer,
    /// The operation being called.
    pub operation: &'a str,
    /// SHA-256 (hex) of the canonical request without `NextToken` / `MaxResults`: the
    /// parameters a ClientToken or a NextToken is bound to.
    pub request_hash: String,
    /// The ClientToken cache entry this call created, so its response can be replaced by
    /// the signed one (a replay then answers the same SignedToken).
    pub cached: Option<String>,
    /// License Manager events the call causes, published once its change is committed.
    pub events: Vec<events::PendingEvent>,
    /// The organization the emulator knows (`--organization`), if any.
    pub organization: Option<&'a crate::organization::Organization>,
}

impl Ctx<'_> {
    /// Now as unix seconds.
    pub fn now_unix(&self) -> i64 {
        self.now.unix_timestamp()
    }

    /// Now as an ISO8601 string.
    pub fn now_iso(&self) -> String {
        fmt_time(self.now_unix())
    }

    /// Records a `Grant Change` (`action`) for grant `arn` as it now stands.
    pub fn announce_grant(&mut self, arn: &str, action: &str) {
        let event = events::grant_change(self.state, arn, action, self.now_unix());
        self.events.extend(event);
    }

    /// Records a `License Change` (`action`) for license `arn` as it now stands.
    pub fn announce_license(&mut self, arn: &str, action: &str) {
        let event = events::license_change(self.state, arn, action, self.now_unix());
        self.events.extend(event);
    }

    /// Records a `License Consumption Change` (`action`) for checkout `token`.
    pub fn announce_consumption(&mut self, token: &str, c: &Consumption, action: &str) {
        let event = events::consumption_change(self.state, token, c, action, self.now_unix());
        self.events.push(event);
    }

    /// Records a `License Token Change` (`action`) for the caller's refresh token.
    pub fn announce_token(&mut self, token_id: &str, license_arn: &str, action: &str) {
        let event =
            events::token_change(self.account, token_id, license_arn, action, self.now_unix());
        self.events.push(event);
    }
}

/// A handler: request JSON in, response JSON out.
pub type Handler = fn(&mut Ctx<'_>, Value) -> Result<Value, ApiError>;

/// One implemented operation.
pub struct Operation {
    /// The model's operation name.
    pub name: &'static str,
    /// The handler.
    pub handler: Handler,
    /// Whether a successful call may change the state (and so is persisted).
    pub mutates: bool,
}

impl Operation {
    /// An operation of the dispatch table.
    pub const fn new(name: &'static str, handler: Handler, mutates: bool) -> Self {
        Self {
            name,
            handler,
            mutates,
        }
    }
}

/// Deserialises a (model-validated) request into its typed form.
pub fn parse<T: DeserializeOwned>(input: Value) -> Result<T, ApiError> {
    serde_json::from_value(input).map_err(|e| ApiError::validation(format!("Invalid request: {e}")))
}

/// Serialises a response.
pub fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| {
        ApiError::new(
            crate::protocol::ErrorKind::ServerInternal,
            format!("cannot serialise response: {e}"),
        )
    })
}

/// A new random 32-hex-digit id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The account field of an ARN (`arn:partition:service:region:account:resource`).
pub fn arn_account(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    if parts.next() != Some("arn") {
        return None;
    }
    parts
        .nth(3)
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
}

/// The resource `arn` of `map`, or ResourceNotFoundException naming it as `what`.
pub fn lookup<'a, T>(
    map: &'a std::collections::BTreeMap<String, T>,
    arn: &str,
    what: &str,
) -> Result<&'a T, ApiError> {
    map.get(arn)
        .ok_or_else(|| ApiError::not_found(format!("{what} {arn} not found")))
}

/// The latest of `versions` of a `what`.
pub fn latest<'a, T>(versions: &'a [T], what: &str) -> Result<&'a T, ApiError> {
    versions
        .last()
        .ok_or_else(|| ApiError::not_found(format!("{what} has no versions")))
}

/// Marks a response member that becomes a PS384 JWT of `claims`.
const SIGN_MARKER: &str = "$license-manager-local:sign";
/// Next to [`SIGN_MARKER`]: the KMS key (base64 PKCS#8 and key id) that signs instead of
/// the emulator's own key.
const SIGN_KEY_MARKER: &str = "$license-manager-local:key";

/// A response member to be signed as a PS384 JWT of `claims` once the state lock is
/// released: signing is the most expensive step of a checkout, so requests sign in parallel.
pub fn jwt_of(claims: Value) -> Value {
    json!({ SIGN_MARKER: claims })
}

/// Like [`jwt_of`], signed by the KMS key `key` (a license's `Issuer.SignKey`); the JWT
/// header's `kid` is the key's id.
pub fn jwt_signed_by(claims: Value, key: &KmsKey) -> Value {
    json!({
        SIGN_MARKER: claims,
        SIGN_KEY_MARKER: { "pkcs8": key.private_key, "kid": key.key_id },
    })
}

/// Replaces the top-level members made by [`jwt_of`] / [`jwt_signed_by`] with signed JWTs.
pub fn sign_marked(signer: &Signer, mut response: Value) -> Result<Value, ApiError> {
    let failed = |e: String| {
        ApiError::new(
            crate::protocol::ErrorKind::ServerInternal,
            format!("cannot sign token: {e}"),
        )
    };
    if let Value::Object(members) = &mut response {
        for member in members.values_mut() {
            let Some(marked) = member.as_object().filter(|o| o.contains_key(SIGN_MARKER)) else {
                continue;
            };
            let claims = marked.get(SIGN_MARKER).cloned().unwrap_or(Value::Null);
            let token = match marked.get(SIGN_KEY_MARKER) {
                None => signer.sign(&claims),
                Some(key) => {
                    let pkcs8 = key["pkcs8"].as_str().unwrap_or("");
                    let kid = key["kid"].as_str().unwrap_or("");
                    Signer::from_pkcs8_base64(pkcs8).and_then(|s| s.with_kid(kid).sign(&claims))
                }
            }
            .map_err(|e| failed(e.to_string()))?;
            *member = Value::String(token);
        }
    }
    Ok(response)
}

/// How long a ClientToken is remembered: the model documents "Idempotency token, valid
/// for 10 minutes".
pub const CLIENT_TOKEN_TTL_SECS: i64 = 10 * 60;

/// Runs `create` once per `ClientToken` (for [`CLIENT_TOKEN_TTL_SECS`]): a repeated token
/// with the same parameters answers the first result; with different parameters it is
/// refused (ConflictException where the operation declares it, else ValidationException).
pub fn idempotent(
    ctx: &mut Ctx<'_>,
    operation: &str,
    client_token: &str,
    create: impl FnOnce(&mut Ctx<'_>) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    if client_token.is_empty() || client_token.chars().any(char::is_whitespace) {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{client_token}' at 'clientToken' failed to \
             satisfy constraint: Member must satisfy regular expression pattern: \\S+"
        )));
    }
    let now = ctx.now_unix();
    ctx.state.expire_client_tokens(now, CLIENT_TOKEN_TTL_SECS);
    let key = format!("{}/{operation}/{client_token}", ctx.account);
    if let Some(previous) = ctx.state.client_tokens.get(&key)
        && now.saturating_sub(previous.at) < CLIENT_TOKEN_TTL_SECS
    {
        if previous.request_hash != ctx.request_hash {
            let message = format!(
                "ClientToken '{client_token}' was already used with different parameters for \
                 {operation}; use a new ClientToken for a different request"
            );
            let kind = if crate::model::declared_errors(operation).contains(&"ConflictException") {
                crate::protocol::ErrorKind::Conflict
            } else {
                crate::protocol::ErrorKind::Validation
            };
            return Err(ApiError::new(kind, message));
        }
        return Ok(previous.response.clone());
    }
    let result = create(ctx)?;
    ctx.state.client_tokens.insert(
        key.clone(),
        crate::state::ClientTokenEntry {
            at: now,
            request_hash: ctx.request_hash.clone(),
            response: result.clone(),
        },
    );
    ctx.cached = Some(key);
    Ok(result)
}

/// A hash of `input` without its paging members, independent of member order.
pub fn request_hash(input: &Value) -> String {
    fn canonical(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for k in keys {
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    if let Some(v) = m.get(k) {
                        canonical(v, out);
                    }
                    out.push(',');
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for v in a {
                    canonical(v, out);
                    out.push(',');
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut text = String::new();
    match input {
        Value::Object(m) => {
            let mut m = m.clone();
            m.remove("NextToken");
            m.remove("MaxResults");
            canonical(&Value::Object(m), &mut text);
        }
        other => canonical(other, &mut text),
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A `Filter` / `Filters` member (`Name`, `Values`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    /// Filter name.
    pub name: Option<String>,
    /// Accepted values.
    #[serde(default)]
    pub values: Vec<String>,
}

/// A single-valued filter field.
pub fn one(s: &str) -> Vec<String> {
    vec![s.to_string()]
}

/// A filterable field: its documented name and how to read it.
pub type Field<T> = (&'static str, fn(&T) -> Vec<String>);

/// Keeps the items matching every filter (a filter matches when any value equals any of
/// the item's values for that field). Unknown filter names are refused.
pub fn apply_filters<T>(
    items: Vec<T>,
    filters: &[Filter],
    fields: &[Field<T>],
) -> Result<Vec<T>, ApiError> {
    let mut chosen = Vec::new();
    for f in filters {
        let name = f.name.as_deref().unwrap_or("");
        let field = fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
                ApiError::invalid(format!(
                    "Unsupported filter name '{name}'. Supported filters: {}",
                    names.join(", ")
                ))
            })?;
        chosen.push((field.1, &f.values));
    }
    Ok(items
        .into_iter()
        .filter(|item| {
            chosen.iter().all(|(get, values)| {
                let have = get(item);
                values.iter().any(|v| have.iter().any(|h| h == v))
            })
        })
        .collect())
}

/// The position of a list item: items are listed in ascending key order.
pub fn seq_key(seq: u64) -> String {
    format!("{seq:020}")
}

#[derive(serde::Serialize, Deserialize)]
struct Cursor {
    /// Operation.
    o: String,
    /// Hash of the request's parameters (filters, ARNs) without paging members.
    h: String,
    /// Key of the last item returned.
    k: String,
}

const CURSOR_PREFIX: &str = "lml1.";

/// One page of `items` (each with its position key) under `key`, with `NextToken` when
/// more remain. The NextToken is an opaque cursor naming the operation, the request's
/// parameters and the last item returned: the next page starts after that item, so
/// deleting the items of a page does not make the next page skip any, and a token is
/// refused by another operation or with other filters.
pub fn page(
    ctx: &Ctx<'_>,
    mut items: Vec<(String, Value)>,
    key: &str,
    max_results: Option<i64>,
    next_token: Option<&str>,
) -> Result<Value, ApiError> {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let size = match max_results {
        None => 100,
        Some(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
        Some(n) => {
            return Err(ApiError::invalid(format!(
                "MaxResults must be at least 1, got {n}"
            )));
        }
    };
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let after = match next_token {
        None | Some("") => None,
        Some(t) => {
            let cursor: Cursor = t
                .strip_prefix(CURSOR_PREFIX)
                .and_then(|b| engine.decode(b).ok())
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or_else(|| ApiError::invalid(format!("Invalid NextToken '{t}'")))?;
            if cursor.o != ctx.operation {
                return Err(ApiError::invalid(format!(
                    "NextToken was issued by {}, not {}",
                    cursor.o, ctx.operation
                )));
            }
            if cursor.h != ctx.request_hash {
                return Err(ApiError::invalid(
                    "NextToken was issued for a request with other parameters (filters or \
                     ARNs); pass the same parameters as the first page",
                ));
            }
            Some(cursor.k)
        }
    };
    let start = after.map_or(0, |k| items.partition_point(|(ik, _)| *ik <= k));
    let rest = items.len().saturating_sub(start);
    let chosen: Vec<(String, Value)> = items.into_iter().skip(start).take(size).collect();
    let more = rest > chosen.len();
    let last = chosen.last().map(|(k, _)| k.clone());
    let mut out = serde_json::Map::new();
    out.insert(
        key.to_string(),
        Value::Array(chosen.into_iter().map(|(_, v)| v).collect()),
    );
    if more && let Some(last) = last {
        let cursor = Cursor {
            o: ctx.operation.to_string(),
            h: ctx.request_hash.clone(),
            k: last,
        };
        let bytes = serde_json::to_vec(&cursor).map_err(|e| {
            ApiError::new(
                crate::protocol::ErrorKind::ServerInternal,
                format!("cannot encode NextToken: {e}"),
            )
        })?;
        out.insert(
            "NextToken".to_string(),
            json!(format!("{CURSOR_PREFIX}{}", engine.encode(bytes))),
        );
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_account_reads_the_fifth_field() {
        assert_eq!(
            arn_account("arn:aws:iam::444455556666:root"),
            Some("444455556666")
        );
        assert_eq!(arn_account("arn:aws:iam::4444:root"), None);
        assert_eq!(arn_account("444455556666"), None);
    }

    #[test]
    fn pages_resume_after_the_last_item_and_refuse_foreign_tokens() {
        let (signer, _) = Signer::generate().expect("key");
        let mut state = State::new(String::new());
        let items = |from: u64| -> Vec<(String, Value)> {
            (from..5).map(|i| (seq_key(i), json!(i))).collect()
        };
        let list = Ctx {
            state: &mut state,
            account: "a",
            region: "r",
            now: OffsetDateTime::UNIX_EPOCH,
            signer: &signer,
            operation: "ListX",
            request_hash: "h".into(),
            cached: None,
            events: Vec::new(),
            organization: None,
        };
        let first = page(&list, items(0), "Items", Some(2), None).expect("page");
        assert_eq!(first["Items"], json!([0, 1]));
        let token = first["NextToken"].as_str().expect("token").to_string();
        // Items 0 and 1 deleted: the next page still starts at 2.
        let second = page(&list, items(2), "Items", Some(3), Some(&token)).expect("page");
        assert_eq!(second["Items"], json!([2, 3, 4]));
        assert!(second.get("NextToken").is_none());
        assert!(page(&list, items(0), "Items", None, Some("bogus")).is_err());
        drop(list);
        let other = Ctx {
            state: &mut state,
            account: "a",
            region: "r",
            now: OffsetDateTime::UNIX_EPOCH,
            signer: &signer,
            operation: "ListY",
            request_hash: "h".into(),
            cached: None,
            events: Vec::new(),
            organization: None,
        };
        assert!(page(&other, items(0), "Items", None, Some(&token)).is_err());
    }

    #[test]
    fn marked_members_are_signed() {
        let (signer, _) = Signer::generate().expect("key");
        let response = json!({ "Token": jwt_of(json!({"a": 1})), "Other": {"b": 2} });
        let signed = sign_marked(&signer, response).expect("signed");
        let token = signed["Token"].as_str().expect("a string");
        assert_eq!(signer.verify(token), Some(json!({"a": 1})));
        assert_eq!(signed["Other"], json!({"b": 2}));
    }
}
