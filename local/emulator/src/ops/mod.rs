//! Operation handlers and the dispatch table (also the source of the coverage document).

mod checkout;
mod configurations;
mod grants;
mod licenses;
mod settings;
mod tags;
mod tokens;

use crate::jwt::Signer;
use crate::protocol::ApiError;
use crate::state::State;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

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

const fn op(name: &'static str, handler: Handler, mutates: bool) -> Operation {
    Operation {
        name,
        handler,
        mutates,
    }
}

/// The dispatch table: every operation the emulator implements.
pub const OPERATIONS: &[Operation] = &[
    op("CreateLicense", licenses::create_license, true),
    op(
        "CreateLicenseVersion",
        licenses::create_license_version,
        true,
    ),
    op("GetLicense", licenses::get_license, false),
    op("ListLicenses", licenses::list_licenses, false),
    op(
        "ListLicenseVersions",
        licenses::list_license_versions,
        false,
    ),
    op("DeleteLicense", licenses::delete_license, true),
    op(
        "ListReceivedLicenses",
        licenses::list_received_licenses,
        false,
    ),
    op("GetLicenseUsage", licenses::get_license_usage, false),
    op("CreateGrant", grants::create_grant, true),
    op("CreateGrantVersion", grants::create_grant_version, true),
    op("GetGrant", grants::get_grant, false),
    op("DeleteGrant", grants::delete_grant, true),
    op(
        "ListDistributedGrants",
        grants::list_distributed_grants,
        false,
    ),
    op("ListReceivedGrants", grants::list_received_grants, false),
    op("AcceptGrant", grants::accept_grant, true),
    op("RejectGrant", grants::reject_grant, true),
    op("CheckoutLicense", checkout::checkout_license, true),
    op(
        "CheckoutBorrowLicense",
        checkout::checkout_borrow_license,
        true,
    ),
    op(
        "ExtendLicenseConsumption",
        checkout::extend_license_consumption,
        true,
    ),
    op("CheckInLicense", checkout::check_in_license, true),
    op("CreateToken", tokens::create_token, true),
    op("DeleteToken", tokens::delete_token, true),
    op("ListTokens", tokens::list_tokens, false),
    op("GetAccessToken", tokens::get_access_token, false),
    op("CreateLicenseConfiguration", configurations::create, true),
    op("GetLicenseConfiguration", configurations::get, false),
    op("UpdateLicenseConfiguration", configurations::update, true),
    op("DeleteLicenseConfiguration", configurations::delete, true),
    op("ListLicenseConfigurations", configurations::list, false),
    op(
        "ListUsageForLicenseConfiguration",
        configurations::list_usage,
        false,
    ),
    op(
        "ListAssociationsForLicenseConfiguration",
        configurations::list_associations,
        false,
    ),
    op(
        "UpdateLicenseSpecificationsForResource",
        configurations::update_specifications,
        true,
    ),
    op(
        "ListLicenseSpecificationsForResource",
        configurations::list_specifications,
        false,
    ),
    op(
        "ListFailuresForLicenseConfigurationOperations",
        configurations::list_failures,
        false,
    ),
    op(
        "ListResourceInventory",
        configurations::list_resource_inventory,
        false,
    ),
    op("TagResource", tags::tag_resource, true),
    op("UntagResource", tags::untag_resource, true),
    op("ListTagsForResource", tags::list_tags_for_resource, false),
    op("GetServiceSettings", settings::get, false),
    op("UpdateServiceSettings", settings::update, true),
];

/// The implemented operation called `name`.
pub fn find(name: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|o| o.name == name)
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

/// Unix seconds as an ISO8601 UTC string (`2026-01-01T00:00:00Z`).
pub fn fmt_time(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Parses an ISO8601 / RFC 3339 string to unix seconds.
pub fn parse_time(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
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

/// A response member to be signed as a PS384 JWT of `claims` once the state lock is
/// released: signing is the most expensive step of a checkout, so requests sign in parallel.
pub fn jwt_of(claims: Value) -> Value {
    json!({ SIGN_MARKER: claims })
}

/// Replaces the top-level members made by [`jwt_of`] with signed JWTs.
pub fn sign_marked(signer: &Signer, mut response: Value) -> Result<Value, ApiError> {
    if let Value::Object(members) = &mut response {
        for member in members.values_mut() {
            let claims = member
                .as_object()
                .filter(|o| o.len() == 1)
                .and_then(|o| o.get(SIGN_MARKER));
            if let Some(claims) = claims {
                let token = signer.sign(claims).map_err(|e| {
                    ApiError::new(
                        crate::protocol::ErrorKind::ServerInternal,
                        format!("cannot sign token: {e}"),
                    )
                })?;
                *member = Value::String(token);
            }
        }
    }
    Ok(response)
}

/// Runs `create` once per `ClientToken`: a repeated token answers the first result.
pub fn idempotent(
    ctx: &mut Ctx<'_>,
    operation: &str,
    client_token: &str,
    create: impl FnOnce(&mut Ctx<'_>) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    let key = format!("{}/{operation}/{client_token}", ctx.account);
    if let Some(previous) = ctx.state.idempotency.get(&key) {
        return Ok(previous.clone());
    }
    let result = create(ctx)?;
    ctx.state.idempotency.insert(key, result.clone());
    Ok(result)
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

/// One page of `items` under `key`, with `NextToken` when more remain.
pub fn page(
    items: Vec<Value>,
    key: &str,
    max_results: Option<i64>,
    next_token: Option<&str>,
) -> Result<Value, ApiError> {
    let start = match next_token {
        None | Some("") => 0,
        Some(t) => t
            .strip_prefix("lml-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| ApiError::invalid(format!("Invalid NextToken '{t}'")))?,
    };
    let size = match max_results {
        None => 100,
        Some(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
        Some(n) => {
            return Err(ApiError::invalid(format!(
                "MaxResults must be at least 1, got {n}"
            )));
        }
    };
    let total = items.len();
    let end = start.saturating_add(size).min(total);
    let mut out = serde_json::Map::new();
    out.insert(
        key.to_string(),
        Value::Array(items.into_iter().skip(start).take(end - start).collect()),
    );
    if end < total {
        out.insert("NextToken".to_string(), json!(format!("lml-{end}")));
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
    fn pages_carry_a_next_token_until_the_end() {
        let items: Vec<Value> = (0..5).map(|i| json!(i)).collect();
        let first = page(items.clone(), "Items", Some(2), None).expect("page");
        assert_eq!(first["Items"], json!([0, 1]));
        let token = first["NextToken"].as_str().expect("token").to_string();
        let second = page(items.clone(), "Items", Some(3), Some(&token)).expect("page");
        assert_eq!(second["Items"], json!([2, 3, 4]));
        assert!(second.get("NextToken").is_none());
        assert!(page(items, "Items", None, Some("bogus")).is_err());
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

    #[test]
    fn times_round_trip_as_iso8601() {
        let s = fmt_time(1_800_000_000);
        assert_eq!(s, "2027-01-15T08:00:00Z");
        assert_eq!(parse_time(&s), Some(1_800_000_000));
        assert_eq!(parse_time("yesterday"), None);
    }
}
