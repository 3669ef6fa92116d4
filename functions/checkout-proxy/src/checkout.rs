//! The checkout API's pure rules (the README's checkout-proxy section and
//! `openapi.yaml` document them): request bodies and their bounds, the `Idempotency-Key`
//! rules (when one is required, what its record says about a request: go on, replay, in
//! progress, reused), the request's time budget, the sticky-lease key, and how a refusal or a
//! License Manager error becomes an `application/problem+json` answer with a stable `code`.
//!
//! No I/O here: checkout-proxy calls these and does the calls.

use aws_lc_rs::digest::{SHA256, digest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

use license_automation::calls::{FailureKind, LicenseManagerError};

/// Largest request body accepted (bytes); a larger one is refused with 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Most entitlements one checkout or borrow may name.
pub const MAX_ENTITLEMENTS: usize = 25;
/// Longest SKU, entitlement name or value, node id or metadata entry (characters).
pub const MAX_TEXT_CHARS: usize = 255;
/// Most `checkoutMetadata` entries of a borrow.
pub const MAX_METADATA: usize = 20;
/// Longest `Idempotency-Key` (characters).
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// Longest license consumption token or ARN (the model's bound on ARNs and ClientTokens).
pub const MAX_TOKEN_CHARS: usize = 2048;
/// `Retry-After` (seconds) of a 429: License Manager's rate limit refills within a second.
pub const RATE_LIMITED_RETRY_AFTER_SECS: u64 = 1;
/// `Retry-After` (seconds) of a 503.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;
/// `Retry-After` (seconds) of a 429 `customer-rate-limited`: the limit counts per second.
pub const CUSTOMER_RATE_RETRY_AFTER_SECS: u64 = 1;

/// A request's time budget at most: every call it makes shares it (the Lambda timeout is
/// above it with a margin, API Gateway's 30 s above that).
pub const REQUEST_BUDGET: Duration = Duration::from_secs(10);
/// Kept between the request's deadline and the invocation's, to answer.
pub const ANSWER_MARGIN: Duration = Duration::from_secs(1);
/// Kept at the end of the budget for what follows a draw: linking the token to its customer,
/// or checking the seat back in when that fails. License Manager calls stop before it (a
/// third of a shorter budget).
pub const RECORD_RESERVE: Duration = Duration::from_secs(2);
/// How long a checkout waits for a concurrent checkout of the same node to draw its lease.
pub const SAME_NODE_WAIT: Duration = Duration::from_secs(3);
/// How long an Idempotency-Key's record (the request's digest and its answer) is kept.
pub const KEY_RETENTION: time::Duration = time::Duration::hours(24);

/// Every problem `code` the API answers with (the OpenAPI document's enum).
pub const PROBLEM_CODES: [&str; 24] = [
    "invalid-json",
    "unknown-field",
    "missing-field",
    "invalid-field",
    "beneficiary-not-allowed",
    "invalid-idempotency-key",
    "idempotency-key-required",
    "idempotency-key-reused",
    "request-in-progress",
    "customer-rate-limited",
    "invalid-request",
    "missing-beneficiary",
    "route-not-found",
    "method-not-allowed",
    "license-not-found",
    "lease-not-found",
    "not-found",
    "no-entitlements-allowed",
    "entitlement-not-allowed",
    "conflict",
    "payload-too-large",
    "rate-limited",
    "internal-error",
    "service-unavailable",
];

/// The units an entitlement may have (the model's `EntitlementDataUnit` enum).
pub const ENTITLEMENT_UNITS: [&str; 27] = [
    "Count",
    "None",
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
];

/// A refusal or failure as the API answers it: RFC 9457 problem details plus a stable `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The HTTP status.
    pub status: u16,
    /// Stable, machine-readable reason (documented in the OpenAPI document).
    pub code: &'static str,
    /// What is wrong, naming the field when a field is at fault; never internal details.
    pub detail: String,
    /// Seconds for a `Retry-After` header (429 and 503).
    pub retry_after: Option<u64>,
    /// The `Allow` header of a 405.
    pub allow: Option<&'static str>,
}

impl Problem {
    /// A problem with `status`, `code` and `detail`.
    pub fn new(status: u16, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
            allow: None,
        }
    }

    /// 400 for a field that breaks a rule; `detail` names it.
    pub fn invalid(field: &str, rule: impl std::fmt::Display) -> Self {
        Self::new(400, "invalid-field", format!("{field}: {rule}"))
    }

    /// 401: the token carries no beneficiary claim.
    pub fn unauthorized(claim: &str) -> Self {
        Self::new(
            401,
            "missing-beneficiary",
            format!("the token carries no {claim} claim naming the customer"),
        )
    }

    /// 404 for an unknown path.
    pub fn route_not_found(path: &str) -> Self {
        Self::new(404, "route-not-found", format!("no route {path}"))
    }

    /// 405 for a known path with another method.
    pub fn method_not_allowed(method: &str, path: &str, allowed: &'static str) -> Self {
        Self {
            allow: Some(allowed),
            ..Self::new(
                405,
                "method-not-allowed",
                format!("{method} is not allowed on {path}; use {allowed}"),
            )
        }
    }

    /// 413 for a body over [`MAX_BODY_BYTES`].
    pub fn payload_too_large(size: usize) -> Self {
        Self::new(
            413,
            "payload-too-large",
            format!("the body is {size} bytes; at most {MAX_BODY_BYTES} are accepted"),
        )
    }

    /// 404: the consumption token is unknown, expired or another customer's.
    pub fn lease_not_found() -> Self {
        Self::new(
            404,
            "lease-not-found",
            "licenseConsumptionToken: no live checkout of yours has this token",
        )
    }

    /// 404: the license does not exist or is not the caller's.
    pub fn license_not_found(field: &str) -> Self {
        Self::new(
            404,
            "license-not-found",
            format!("{field}: no license of yours has this id"),
        )
    }

    /// 503 for trouble on the server side (the state table, License Manager); details are
    /// logged, not answered.
    pub fn unavailable() -> Self {
        Self {
            retry_after: Some(UNAVAILABLE_RETRY_AFTER_SECS),
            ..Self::new(
                503,
                "service-unavailable",
                "the license service is unavailable; retry later with the same Idempotency-Key",
            )
        }
    }

    /// 428: the request draws seats for good (PERPETUAL) or for a long time (borrow), so a
    /// retry must be recognisable: it needs an `Idempotency-Key`.
    pub fn idempotency_key_required(what: &str) -> Self {
        Self::new(
            428,
            "idempotency-key-required",
            format!(
                "Idempotency-Key: required for {what}, so that a retried request never draws \
                 twice (a new UUID per request, the same on its retries)"
            ),
        )
    }

    /// 422: the key was used for another request of this customer and route.
    pub fn idempotency_key_reused() -> Self {
        Self::new(
            422,
            "idempotency-key-reused",
            "Idempotency-Key: already used for a different request; use a new key for a new \
             request",
        )
    }

    /// 409: the request holding this key, or checking out for this node, is still in flight.
    pub fn request_in_progress(detail: &str, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(409, "request-in-progress", detail)
        }
    }

    /// 429: the customer is past `CUSTOMER_RATE_LIMIT`.
    pub fn customer_rate_limited(limit: u64) -> Self {
        Self {
            retry_after: Some(CUSTOMER_RATE_RETRY_AFTER_SECS),
            ..Self::new(
                429,
                "customer-rate-limited",
                format!(
                    "more than {limit} requests per second from your account; retry after the \
                     Retry-After delay"
                ),
            )
        }
    }

    /// 500 for the proxy's own misconfiguration; details are logged, not answered.
    pub fn internal() -> Self {
        Self::new(
            500,
            "internal-error",
            "the checkout service is misconfigured; the operator has the details in its log",
        )
    }

    /// The `application/problem+json` body; `instance` is the request's path.
    pub fn body(&self, instance: &str) -> Value {
        json!({
            "type": "about:blank",
            "title": title(self.status),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            "instance": instance,
        })
    }
}

/// The reason phrase of `status` (the `title` of an `about:blank` problem).
fn title(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// How a License Manager error is answered (the README's checkout-proxy errors): validation → 400; no or not-allowed
/// entitlements → 409; not found → 404; a conflict (already checked in, a reused ClientToken)
/// → 409; the rate limit → 429; other server trouble → 503; access, authorization, redirect or
/// signing errors (the proxy's own misconfiguration) → 500. Messages stay in the log.
pub fn license_manager_problem(error: &LicenseManagerError) -> Problem {
    match error.code.as_deref() {
        Some("ValidationException" | "InvalidParameterValueException") => Problem::new(
            400,
            "invalid-request",
            "License Manager refused the request as invalid (check the entitlement names, \
             units and values against your license; an Idempotency-Key must not be reused \
             for a different request)",
        ),
        Some("NoEntitlementsAllowedException") => Problem::new(
            409,
            "no-entitlements-allowed",
            "entitlements: none of your licenses can grant them now (all in use, expired, or \
             not in your license)",
        ),
        Some("EntitlementNotAllowedException") => Problem::new(
            409,
            "entitlement-not-allowed",
            "entitlements: the license does not allow them to be checked out this way",
        ),
        Some("ResourceNotFoundException") => Problem::new(
            404,
            "not-found",
            "no license or checkout of yours matches the request",
        ),
        Some("ConflictException") => Problem::new(
            409,
            "conflict",
            "the checkout is already checked in, or the Idempotency-Key was used for a \
             different request",
        ),
        Some("RateLimitExceededException") => Problem {
            retry_after: Some(RATE_LIMITED_RETRY_AFTER_SECS),
            ..Problem::new(
                429,
                "rate-limited",
                "too many requests; retry after the Retry-After delay",
            )
        },
        Some(
            "AccessDeniedException"
            | "AuthorizationException"
            | "RedirectException"
            | "UnsupportedDigitalSignatureMethodException"
            | "FailedDependencyException",
        ) => Problem::internal(),
        _ if error.kind == FailureKind::Transient => Problem::unavailable(),
        _ => Problem::internal(),
    }
}

/// How a checkout holds its entitlements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CheckoutType {
    /// Held until checked in or expired (MaxTimeToLiveInMinutes), extendable.
    #[serde(rename = "PROVISIONAL")]
    Provisional,
    /// Drawn down for good.
    #[serde(rename = "PERPETUAL")]
    Perpetual,
}

impl CheckoutType {
    /// License Manager's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisional => "PROVISIONAL",
            Self::Perpetual => "PERPETUAL",
        }
    }
}

/// One entitlement asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EntitlementRequest {
    /// The entitlement's name in the license.
    pub name: String,
    /// Its unit (one of [`ENTITLEMENT_UNITS`]).
    pub unit: String,
    /// How much (a count for `Count`; License Manager defaults to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `POST /v1/checkout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CheckoutRequest {
    /// The product SKU of the license.
    pub product_sku: String,
    /// PROVISIONAL or PERPETUAL.
    pub checkout_type: CheckoutType,
    /// What to check out.
    pub entitlements: Vec<EntitlementRequest>,
    /// The app instance; makes a PROVISIONAL checkout sticky (see [`lease_key`]).
    #[serde(default)]
    pub node_id: Option<String>,
}

/// A name/value pair of a borrow's `checkoutMetadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetadataEntry {
    /// The key.
    pub name: String,
    /// The value.
    pub value: String,
}

/// `POST /v1/borrow`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BorrowRequest {
    /// The license to borrow from (one of the caller's).
    pub license_arn: String,
    /// What to borrow.
    pub entitlements: Vec<EntitlementRequest>,
    /// The app instance.
    #[serde(default)]
    pub node_id: Option<String>,
    /// Passed to License Manager as CheckoutMetadata.
    #[serde(default)]
    pub checkout_metadata: Option<Vec<MetadataEntry>>,
}

/// `POST /v1/extend` and `POST /v1/checkin`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenRequest {
    /// The checkout's token.
    pub license_consumption_token: String,
}

/// A request body that can be checked against the model's constraints and our bounds.
pub trait Validate {
    /// The first rule broken, as a 400 naming the field.
    fn validate(&self) -> Result<(), Problem>;
}

impl Validate for CheckoutRequest {
    fn validate(&self) -> Result<(), Problem> {
        text("productSku", &self.product_sku)?;
        entitlements(&self.entitlements)?;
        optional_text("nodeId", self.node_id.as_deref())
    }
}

impl Validate for BorrowRequest {
    fn validate(&self) -> Result<(), Problem> {
        if !is_license_arn(&self.license_arn) {
            return Err(Problem::invalid(
                "licenseArn",
                "must be a License Manager license ARN (arn:aws:license-manager::<account>:license:l-...)",
            ));
        }
        entitlements(&self.entitlements)?;
        optional_text("nodeId", self.node_id.as_deref())?;
        if let Some(metadata) = &self.checkout_metadata {
            if metadata.len() > MAX_METADATA {
                return Err(Problem::invalid(
                    "checkoutMetadata",
                    format!("at most {MAX_METADATA} entries"),
                ));
            }
            for (index, entry) in metadata.iter().enumerate() {
                text(&format!("checkoutMetadata[{index}].name"), &entry.name)?;
                bounded(&format!("checkoutMetadata[{index}].value"), &entry.value)?;
            }
        }
        Ok(())
    }
}

impl Validate for TokenRequest {
    fn validate(&self) -> Result<(), Problem> {
        consumption_token(&self.license_consumption_token)
    }
}

/// Checks a license consumption token: 1 to [`MAX_TOKEN_CHARS`] visible ASCII characters
/// (License Manager's tokens are hex).
pub fn consumption_token(token: &str) -> Result<(), Problem> {
    if token.is_empty()
        || token.len() > MAX_TOKEN_CHARS
        || !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Problem::invalid(
            "licenseConsumptionToken",
            format!("must be 1 to {MAX_TOKEN_CHARS} visible ASCII characters"),
        ));
    }
    Ok(())
}

fn entitlements(list: &[EntitlementRequest]) -> Result<(), Problem> {
    if list.is_empty() || list.len() > MAX_ENTITLEMENTS {
        return Err(Problem::invalid(
            "entitlements",
            format!("must list 1 to {MAX_ENTITLEMENTS} entitlements"),
        ));
    }
    for (index, entitlement) in list.iter().enumerate() {
        text(&format!("entitlements[{index}].name"), &entitlement.name)?;
        if !ENTITLEMENT_UNITS.contains(&entitlement.unit.as_str()) {
            return Err(Problem::invalid(
                &format!("entitlements[{index}].unit"),
                format!("must be one of {}", ENTITLEMENT_UNITS.join(", ")),
            ));
        }
        optional_text(
            &format!("entitlements[{index}].value"),
            entitlement.value.as_deref(),
        )?;
        if list[..index].iter().any(|e| e.name == entitlement.name) {
            return Err(Problem::invalid(
                &format!("entitlements[{index}].name"),
                format!("{:?} is listed twice", entitlement.name),
            ));
        }
    }
    Ok(())
}

/// At most [`MAX_TEXT_CHARS`] characters, no control characters (may be empty).
fn bounded(field: &str, value: &str) -> Result<(), Problem> {
    if value.chars().count() > MAX_TEXT_CHARS || value.chars().any(char::is_control) {
        return Err(Problem::invalid(
            field,
            format!("must be at most {MAX_TEXT_CHARS} characters without control characters"),
        ));
    }
    Ok(())
}

/// Like [`bounded`], and not blank.
fn text(field: &str, value: &str) -> Result<(), Problem> {
    if value.trim().is_empty() {
        return Err(Problem::invalid(field, "must not be empty"));
    }
    bounded(field, value)
}

fn optional_text(field: &str, value: Option<&str>) -> Result<(), Problem> {
    value.map_or(Ok(()), |value| text(field, value))
}

/// Whether `value` is a license ARN as the model's `Arn` pattern and License Manager's
/// resource type allow: `arn:<partition>:license-manager::<account>:license:l-<id>`.
pub fn is_license_arn(value: &str) -> bool {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts[..] else {
        return false;
    };
    let id = resource.strip_prefix("license:l-").unwrap_or_default();
    value.len() <= MAX_TOKEN_CHARS
        && arn == "arn"
        && partition.starts_with("aws")
        && partition[3..]
            .chars()
            .all(|c| c.is_ascii_alphabetic() || c == '-')
        && service == "license-manager"
        && region
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The license ARN a `licenseId` path parameter names: a full license ARN, or a bare
/// `l-<id>` of a license issued by `issuer_account` (the account of KEY_FINGERPRINT).
pub fn license_arn_of(license_id: &str, issuer_account: &str) -> Result<String, Problem> {
    let arn = if license_id.starts_with("arn:") {
        license_id.to_owned()
    } else {
        format!("arn:aws:license-manager::{issuer_account}:license:{license_id}")
    };
    if is_license_arn(&arn) {
        Ok(arn)
    } else {
        Err(Problem::invalid(
            "licenseId",
            "must be a license id (l-...) or a license ARN",
        ))
    }
}

/// Parses and validates a request body: at most [`MAX_BODY_BYTES`] (413), a JSON object
/// (400 `invalid-json`) that names no beneficiary (400 `beneficiary-not-allowed`), has no
/// unknown (400 `unknown-field`) or missing (400 `missing-field`) fields, and keeps `T`'s
/// rules (400 `invalid-field`).
pub fn parse_body<T: DeserializeOwned + Validate>(body: &[u8]) -> Result<T, Problem> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Problem::payload_too_large(body.len()));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::new(
            400,
            "invalid-json",
            "the request needs a JSON object body",
        ));
    }
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        Problem::new(
            400,
            "invalid-json",
            format!("the body is not JSON: {error}"),
        )
    })?;
    let Some(object) = value.as_object() else {
        return Err(Problem::new(
            400,
            "invalid-json",
            "the body must be a JSON object",
        ));
    };
    if let Some(key) = object
        .keys()
        .find(|key| key.eq_ignore_ascii_case("beneficiary"))
    {
        return Err(Problem::new(
            400,
            "beneficiary-not-allowed",
            format!(
                "{key}: the beneficiary is the caller's verified identity and cannot be named \
                 in the request"
            ),
        ));
    }
    let parsed: T = serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        let code = if message.starts_with("unknown field") {
            "unknown-field"
        } else if message.starts_with("missing field") {
            "missing-field"
        } else {
            "invalid-field"
        };
        let detail = if path == "." {
            message
        } else {
            format!("{path}: {message}")
        };
        Problem::new(400, code, detail)
    })?;
    parsed.validate()?;
    Ok(parsed)
}

/// The state-table key of an `Idempotency-Key`'s record: `None` without a key, else a
/// digest of the beneficiary, the route and the key, so that one customer's key can never
/// replay another's request and a key reused on another route does not collide. The key
/// must be 1 to [`MAX_IDEMPOTENCY_KEY_CHARS`] visible ASCII characters.
pub fn key_record(
    beneficiary: &str,
    route: &str,
    idempotency_key: Option<&str>,
) -> Result<Option<String>, Problem> {
    let Some(key) = idempotency_key else {
        return Ok(None);
    };
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY_CHARS
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Problem::new(
            400,
            "invalid-idempotency-key",
            format!(
                "Idempotency-Key: must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII \
                 characters (a UUID is a good choice)"
            ),
        ));
    }
    Ok(Some(sha256_hex(&[beneficiary, route, key])))
}

/// The digest of a request as its Idempotency-Key's record keeps it: the route and the parsed
/// body (so spacing and member order do not matter).
pub fn request_digest(route: &str, request: &impl Serialize) -> String {
    sha256_hex(&[route, &serde_json::to_string(request).unwrap_or_default()])
}

/// A successful answer as an Idempotency-Key's record keeps it, to replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// What the state table holds for one Idempotency-Key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRecord {
    /// The [`request_digest`] of the request that first used the key.
    pub request: String,
    /// The ClientToken License Manager is called with for it (a retry that takes over an
    /// expired claim calls with the same one, so that License Manager hands back what it
    /// drew, if it drew).
    pub client_token: String,
    /// Until when (epoch milliseconds) the request that claimed the key may still be at work:
    /// its deadline. `None` once answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_until: Option<i64>,
    /// The answer, once the request succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<StoredAnswer>,
    /// The lease it drew was checked in: its answer (which held the token) is gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub checked_in: bool,
}

/// What to do with a request whose Idempotency-Key has the record it has.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyDecision {
    /// Claim the key and do the work, calling License Manager with this ClientToken when the
    /// record names one (an expired claim), else with a new one.
    Proceed(Option<String>),
    /// Answer as the first request was answered.
    Replay(StoredAnswer),
    /// 409 `request-in-progress`, retry after this many seconds.
    InProgress(u64),
    /// 422 `idempotency-key-reused`.
    Reused,
    /// 409 `conflict`: the lease the key drew is checked in already.
    CheckedIn,
}

/// The rule of an Idempotency-Key (`record` as read, `digest` of this request, `now_ms` epoch
/// milliseconds): another body is refused, an answered request replayed, a live claim waited
/// for, an expired claim taken over.
pub fn key_decision(record: Option<&KeyRecord>, digest: &str, now_ms: i64) -> KeyDecision {
    let Some(record) = record else {
        return KeyDecision::Proceed(None);
    };
    if record.request != digest {
        return KeyDecision::Reused;
    }
    if record.checked_in {
        return KeyDecision::CheckedIn;
    }
    if let Some(answer) = &record.answer {
        return KeyDecision::Replay(answer.clone());
    }
    match record.claimed_until {
        Some(until) if until > now_ms => {
            let secs = (until - now_ms + 999) / 1000;
            KeyDecision::InProgress(u64::try_from(secs).unwrap_or(1).max(1))
        }
        _ => KeyDecision::Proceed(Some(record.client_token.clone())),
    }
}

/// The state-table key of the sticky lease of a checkout: the same for the same
/// beneficiary, SKU, entitlements (in any order) and node; `None` when the checkout is not
/// sticky (PERPETUAL, or no `nodeId`: every such checkout draws).
pub fn lease_key(beneficiary: &str, request: &CheckoutRequest) -> Option<String> {
    let node = request.node_id.as_deref()?;
    if request.checkout_type != CheckoutType::Provisional {
        return None;
    }
    let mut entitlements = request.entitlements.clone();
    entitlements.sort();
    let entitlements = serde_json::to_string(&entitlements).unwrap_or_default();
    Some(sha256_hex(&[
        beneficiary,
        &request.product_sku,
        &entitlements,
        node,
    ]))
}

/// Whether a lease that expires at `expiration` (epoch seconds) is still worth extending at
/// `now`: a lease in its last seconds may expire before the extension arrives.
pub fn lease_is_live(expiration: i64, now: i64) -> bool {
    expiration > now.saturating_add(5)
}

/// How logs name a license consumption token: a bearer credential never written whole, but
/// a short digest that still lets one follow a lease from checkout to check-in.
pub fn token_reference(token: &str) -> String {
    let mut hash = token_digest(token);
    hash.truncate(16);
    format!("sha256:{hash}")
}

/// The SHA-256 (hex) of a license consumption token: how the state table keys its link to
/// a customer, so that neither the table nor an error naming its key holds the credential.
pub fn token_digest(token: &str) -> String {
    sha256_hex(&[token])
}

/// SHA-256 of the parts (length-prefixed, so no two lists collide), as hex.
fn sha256_hex(parts: &[&str]) -> String {
    let mut input = Vec::new();
    for part in parts {
        input.extend_from_slice(&(part.len() as u64).to_be_bytes());
        input.extend_from_slice(part.as_bytes());
    }
    digest(&SHA256, &input)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_logged_by_a_short_digest_never_whole() {
        let token = "f6a4f8e2c5f84d6b9a0b2c3d4e5f6a7b";
        let reference = token_reference(token);
        assert!(!reference.contains(token));
        assert_eq!(reference.len(), "sha256:".len() + 16);
        assert_eq!(reference, token_reference(token));
        assert_ne!(reference, token_reference("another-token"));
    }

    fn checkout(body: Value) -> Result<CheckoutRequest, Problem> {
        parse_body(body.to_string().as_bytes())
    }

    fn valid() -> Value {
        json!({"productSku": "sku", "checkoutType": "PROVISIONAL",
               "entitlements": [{"name": "Users", "unit": "Count", "value": "1"}]})
    }

    #[test]
    fn a_valid_checkout_parses() {
        let request = checkout(valid()).unwrap();
        assert_eq!(request.product_sku, "sku");
        assert_eq!(request.checkout_type, CheckoutType::Provisional);
        assert_eq!(request.node_id, None);
    }

    #[test]
    fn a_body_naming_a_beneficiary_is_refused_whatever_the_case() {
        for key in ["beneficiary", "Beneficiary", "BENEFICIARY"] {
            let mut body = valid();
            body[key] = json!("someone-else");
            let problem = checkout(body).unwrap_err();
            assert_eq!(
                (problem.status, problem.code),
                (400, "beneficiary-not-allowed")
            );
            assert!(problem.detail.starts_with(key), "{}", problem.detail);
        }
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        let mut body = valid();
        body["color"] = json!("red");
        let problem = checkout(body).unwrap_err();
        assert_eq!(problem.code, "unknown-field");
        assert!(problem.detail.contains("color"), "{}", problem.detail);

        let mut body = valid();
        body["entitlements"][0]["extra"] = json!(1);
        let problem = checkout(body).unwrap_err();
        assert_eq!(problem.code, "unknown-field");
        assert!(
            problem.detail.starts_with("entitlements[0]"),
            "{}",
            problem.detail
        );

        let problem =
            checkout(json!({"checkoutType": "PROVISIONAL", "entitlements": []})).unwrap_err();
        assert_eq!(problem.code, "missing-field");
        assert!(problem.detail.contains("productSku"), "{}", problem.detail);
    }

    #[test]
    fn values_are_checked_against_the_model_and_the_bounds() {
        let cases = [
            ("/checkoutType", json!("FOREVER"), "checkoutType"),
            (
                "/entitlements/0/unit",
                json!("Seats"),
                "entitlements[0].unit",
            ),
            ("/entitlements/0/name", json!(""), "entitlements[0].name"),
            (
                "/entitlements/0/value",
                json!("x".repeat(256)),
                "entitlements[0].value",
            ),
            ("/productSku", json!(" "), "productSku"),
            ("/nodeId", json!("a\u{0}b"), "nodeId"),
            ("/entitlements", json!([]), "entitlements"),
        ];
        for (pointer, value, field) in cases {
            let mut body = valid();
            if pointer == "/nodeId" {
                body["nodeId"] = value;
            } else {
                *body.pointer_mut(pointer).unwrap() = value;
            }
            let problem = checkout(body).unwrap_err();
            assert_eq!(problem.status, 400, "{pointer}");
            assert!(
                problem.detail.starts_with(field),
                "{pointer}: {}",
                problem.detail
            );
        }
        let mut body = valid();
        let one = body["entitlements"][0].clone();
        body["entitlements"] = json!(vec![one; MAX_ENTITLEMENTS + 1]);
        assert_eq!(
            checkout(body).unwrap_err().detail.split(':').next(),
            Some("entitlements")
        );
        let mut body = valid();
        let one = body["entitlements"][0].clone();
        body["entitlements"] = json!([one.clone(), one]);
        assert!(checkout(body).unwrap_err().detail.contains("listed twice"));
    }

    #[test]
    fn bodies_that_are_not_json_objects_or_too_large_are_refused() {
        assert_eq!(
            parse_body::<TokenRequest>(b"").unwrap_err().code,
            "invalid-json"
        );
        assert_eq!(
            parse_body::<TokenRequest>(b"[1]").unwrap_err().code,
            "invalid-json"
        );
        assert_eq!(
            parse_body::<TokenRequest>(b"{").unwrap_err().code,
            "invalid-json"
        );
        let big = json!({"licenseConsumptionToken": "t".repeat(MAX_BODY_BYTES)}).to_string();
        let problem = parse_body::<TokenRequest>(big.as_bytes()).unwrap_err();
        assert_eq!((problem.status, problem.code), (413, "payload-too-large"));
        assert_eq!(
            parse_body::<TokenRequest>(br#"{"licenseConsumptionToken": "a b"}"#)
                .unwrap_err()
                .code,
            "invalid-field"
        );
    }

    #[test]
    fn borrow_needs_a_license_arn_and_bounded_metadata() {
        let arn = "arn:aws:license-manager::123456789012:license:l-0123456789abcdef";
        let body = json!({"licenseArn": arn, "entitlements": [{"name": "Users", "unit": "Count"}],
                          "checkoutMetadata": [{"name": "host", "value": ""}]});
        assert!(parse_body::<BorrowRequest>(body.to_string().as_bytes()).is_ok());
        let body = json!({"licenseArn": "arn:aws:s3:::bucket", "entitlements": [{"name": "Users", "unit": "Count"}]});
        let problem = parse_body::<BorrowRequest>(body.to_string().as_bytes()).unwrap_err();
        assert!(
            problem.detail.starts_with("licenseArn"),
            "{}",
            problem.detail
        );
    }

    #[test]
    fn license_ids_become_arns_of_the_issuer_account() {
        assert_eq!(
            license_arn_of("l-abc123", "123456789012").unwrap(),
            "arn:aws:license-manager::123456789012:license:l-abc123"
        );
        let arn = "arn:aws:license-manager::111122223333:license:l-ff";
        assert_eq!(license_arn_of(arn, "123456789012").unwrap(), arn);
        for bad in [
            "",
            "l-",
            "x-abc",
            "l-a/b",
            "arn:aws:license-manager::1:license:l-a",
        ] {
            assert_eq!(
                license_arn_of(bad, "123456789012").unwrap_err().status,
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn idempotency_keys_are_scoped_to_the_customer_and_route() {
        let record =
            |who: &str, route: &str, key: &str| key_record(who, route, Some(key)).unwrap().unwrap();
        let a = record("alice", "checkout", "key-1");
        assert_eq!(a, record("alice", "checkout", "key-1"));
        assert_ne!(a, record("bob", "checkout", "key-1"));
        assert_ne!(a, record("alice", "borrow", "key-1"));
        assert_ne!(a, record("alice", "checkout", "key-2"));
        assert_eq!(key_record("alice", "checkout", None).unwrap(), None);
        for bad in [
            "",
            "with space",
            "é",
            &"k".repeat(MAX_IDEMPOTENCY_KEY_CHARS + 1),
        ] {
            let problem = key_record("alice", "checkout", Some(bad)).unwrap_err();
            assert_eq!(problem.code, "invalid-idempotency-key", "{bad:?}");
        }
    }

    #[test]
    fn a_request_digest_ignores_spacing_and_member_order_but_not_values() {
        let one = checkout(valid()).unwrap();
        let reordered: CheckoutRequest = parse_body(
            br#"{ "entitlements": [{"value": "1", "unit": "Count", "name": "Users"}],
                  "checkoutType": "PROVISIONAL", "productSku": "sku" }"#,
        )
        .unwrap();
        assert_eq!(
            request_digest("checkout", &one),
            request_digest("checkout", &reordered)
        );
        let mut other = one.clone();
        other.node_id = Some("node-1".into());
        assert_ne!(
            request_digest("checkout", &one),
            request_digest("checkout", &other)
        );
        assert_ne!(
            request_digest("checkout", &one),
            request_digest("borrow", &one)
        );
    }

    #[test]
    fn an_idempotency_record_decides_proceed_replay_in_progress_or_reused() {
        let claimed = |until: Option<i64>, answer: Option<StoredAnswer>| KeyRecord {
            request: "digest-1".into(),
            client_token: "checkout-token-1".into(),
            claimed_until: until,
            answer,
            checked_in: false,
        };
        let ok = StoredAnswer {
            status: 200,
            body: Some(json!({"licenseConsumptionToken": "t"})),
        };
        let now = 1_000_000;
        let cases = [
            (None, "digest-1", KeyDecision::Proceed(None)),
            (
                Some(claimed(Some(now + 2_500), None)),
                "digest-1",
                KeyDecision::InProgress(3),
            ),
            (
                Some(claimed(Some(now + 10), None)),
                "digest-1",
                KeyDecision::InProgress(1),
            ),
            (
                Some(claimed(Some(now), None)),
                "digest-1",
                KeyDecision::Proceed(Some("checkout-token-1".into())),
            ),
            (
                Some(claimed(None, Some(ok.clone()))),
                "digest-1",
                KeyDecision::Replay(ok.clone()),
            ),
            (
                Some(claimed(Some(now + 5_000), None)),
                "digest-2",
                KeyDecision::Reused,
            ),
            (
                Some(claimed(None, Some(ok))),
                "digest-2",
                KeyDecision::Reused,
            ),
            (
                Some(KeyRecord {
                    checked_in: true,
                    ..claimed(None, None)
                }),
                "digest-1",
                KeyDecision::CheckedIn,
            ),
        ];
        for (record, digest, expected) in cases {
            assert_eq!(
                key_decision(record.as_ref(), digest, now),
                expected,
                "{record:?} {digest}"
            );
        }
    }

    #[test]
    fn only_provisional_checkouts_naming_a_node_are_sticky_and_order_does_not_matter() {
        let mut request = checkout(valid()).unwrap();
        assert_eq!(lease_key("alice", &request), None);
        request.node_id = Some("node-1".into());
        let key = lease_key("alice", &request).unwrap();
        assert_ne!(Some(key.clone()), lease_key("bob", &request));
        let mut other_node = request.clone();
        other_node.node_id = Some("node-2".into());
        assert_ne!(Some(key.clone()), lease_key("alice", &other_node));
        let mut reordered = request.clone();
        reordered.entitlements.push(EntitlementRequest {
            name: "Admins".into(),
            unit: "Count".into(),
            value: None,
        });
        let mut reversed = reordered.clone();
        reversed.entitlements.reverse();
        assert_eq!(
            lease_key("alice", &reordered),
            lease_key("alice", &reversed)
        );
        assert_ne!(lease_key("alice", &reordered), Some(key));
        let mut perpetual = request;
        perpetual.checkout_type = CheckoutType::Perpetual;
        assert_eq!(lease_key("alice", &perpetual), None);
        assert!(lease_is_live(100, 90) && !lease_is_live(100, 96));
    }

    fn lm_error(code: &str, kind: FailureKind) -> LicenseManagerError {
        LicenseManagerError {
            operation: "CheckoutLicense",
            target: String::new(),
            code: Some(code.into()),
            message: format!("{code}: secret internal detail"),
            kind,
            attempts: 1,
        }
    }

    #[test]
    fn license_manager_errors_map_as_the_readme_error_table_says() {
        let cases = [
            ("ValidationException", FailureKind::Permanent, 400),
            (
                "NoEntitlementsAllowedException",
                FailureKind::Permanent,
                409,
            ),
            (
                "EntitlementNotAllowedException",
                FailureKind::Permanent,
                409,
            ),
            ("ResourceNotFoundException", FailureKind::Permanent, 404),
            ("ConflictException", FailureKind::Conflict, 409),
            ("RateLimitExceededException", FailureKind::Transient, 429),
            ("ServerInternalException", FailureKind::Transient, 503),
            ("ThrottlingException", FailureKind::Transient, 503),
            ("AccessDeniedException", FailureKind::Permanent, 500),
            ("AuthorizationException", FailureKind::Permanent, 500),
            ("RedirectException", FailureKind::Permanent, 500),
        ];
        for (code, kind, status) in cases {
            let problem = license_manager_problem(&lm_error(code, kind));
            assert_eq!(problem.status, status, "{code}");
            assert!(!problem.detail.contains("secret"), "{code}");
            assert_eq!(
                problem.retry_after.is_some(),
                status == 429 || status == 503
            );
        }
    }

    #[test]
    fn problem_bodies_follow_rfc_9457() {
        let body = Problem::lease_not_found().body("/v1/extend");
        assert_eq!(body["status"], 404);
        assert_eq!(body["title"], "Not Found");
        assert_eq!(body["code"], "lease-not-found");
        assert_eq!(body["instance"], "/v1/extend");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with("licenseConsumptionToken")
        );
    }
}
