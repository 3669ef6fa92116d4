//! Checkouts: CheckoutLicense (PROVISIONAL / PERPETUAL), CheckoutBorrowLicense (signed
//! JWT), ExtendLicenseConsumption and CheckInLicense.

use super::licenses::{current_license, received_grant};
use crate::dates::{MAX_TIME, MIN_TIME, fmt_time, parse_time};
use crate::dispatch::{Ctx, idempotent, jwt_of, jwt_signed_by, new_id, parse};
use crate::protocol::{ApiError, ErrorKind};
use crate::shapes::{EntitlementData, License, Metadata};
use crate::state::{Consumption, State};
use serde::Deserialize;
use serde_json::{Value, json};

/// Provisional time to live when a license has no ProvisionalConfiguration.
const DEFAULT_TTL_MINUTES: i64 = 60;

/// Whether `account` may call `operation` on license `arn`: it issued it, or holds an
/// ACTIVE grant allowing the operation.
fn may_use(state: &State, account: &str, arn: &str, operation: &str) -> bool {
    let Some(rec) = state.licenses.get(arn) else {
        return false;
    };
    rec.owner == account
        || received_grant(state, arn, account)
            .and_then(|g| g.current())
            .is_some_and(|g| {
                g.grant_status == "ACTIVE" && g.granted_operations.iter().any(|o| o == operation)
            })
}

fn no_entitlements(message: String) -> ApiError {
    ApiError::new(ErrorKind::NoEntitlementsAllowed, message)
}

fn check_validity(license: &License, now: i64) -> Result<(), ApiError> {
    let begin = parse_time(&license.validity.begin);
    let end = license.validity.end.as_deref().and_then(parse_time);
    if begin.is_some_and(|b| now < b) || end.is_some_and(|e| now >= e) {
        return Err(no_entitlements(format!(
            "No Entitlements Allowed: license {} is not valid at {}",
            license.license_arn,
            fmt_time(now)
        )));
    }
    Ok(())
}

/// Checks the requested entitlements against the license and what is already checked out;
/// returns what is allowed. `missing` is the error kind for an entitlement the license lacks.
fn draw(
    state: &mut State,
    license: &License,
    requested: &[EntitlementData],
    now: i64,
    missing: ErrorKind,
) -> Result<Vec<EntitlementData>, ApiError> {
    check_validity(license, now)?;
    if requested.is_empty() {
        return Err(ApiError::validation(
            "Entitlements must name at least one entitlement",
        ));
    }
    let mut allowed = Vec::new();
    // Units of each entitlement drawn by earlier items of this same request.
    let mut drawn: std::collections::BTreeMap<&str, i64> = Default::default();
    for want in requested {
        let have = license
            .entitlements
            .iter()
            .find(|e| e.name == want.name && e.unit == want.unit)
            .ok_or_else(|| {
                ApiError::new(
                    missing,
                    format!(
                        "No Entitlements Allowed: license {} has no entitlement '{}' with unit {}",
                        license.license_arn, want.name, want.unit
                    ),
                )
            })?;
        if have.unit == "None" {
            allowed.push(EntitlementData {
                name: want.name.clone(),
                value: want.value.clone().or_else(|| have.value.clone()),
                unit: want.unit.clone(),
            });
            continue;
        }
        let quantity = match want.value.as_deref() {
            None => 1,
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|q| *q >= 1)
                .ok_or_else(|| {
                    ApiError::validation(format!(
                        "Entitlement '{}' Value '{v}' must be a positive whole number",
                        want.name
                    ))
                })?,
        };
        if let Some(max) = have.max_count {
            let used = state
                .held(&license.license_arn, &want.name, now)
                .saturating_add(drawn.get(want.name.as_str()).copied().unwrap_or(0));
            if used.saturating_add(quantity) > max && !have.overage.unwrap_or(false) {
                return Err(no_entitlements(format!(
                    "No Entitlements Allowed: {quantity} {} of '{}' requested, {} of {max} available \
                     and overage is not allowed",
                    want.unit,
                    want.name,
                    (max - used).max(0)
                )));
            }
        }
        let entry = drawn.entry(&want.name).or_default();
        *entry = entry.saturating_add(quantity);
        allowed.push(EntitlementData {
            name: want.name.clone(),
            value: Some(quantity.to_string()),
            unit: want.unit.clone(),
        });
    }
    Ok(allowed)
}

fn entitlement_claims(allowed: &[EntitlementData]) -> Vec<Value> {
    allowed
        .iter()
        .map(|e| json!({ "name": e.name, "value": e.value, "unit": e.unit }))
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CheckoutRequest {
    #[serde(rename = "ProductSKU")]
    product_sku: String,
    checkout_type: String,
    key_fingerprint: String,
    entitlements: Vec<EntitlementData>,
    client_token: String,
    beneficiary: Option<String>,
    node_id: Option<String>,
}

/// A time in a token's claims as AWS writes it: `2021-04-13T05:35:47`, UTC without a zone
/// (the example in AWS's borrow sample).
fn claim_time(unix: i64) -> String {
    fmt_time(unix).trim_end_matches('Z').to_string()
}

/// Records `c` as a new checkout of `license`, signs its claims (with the license's
/// `Issuer.SignKey` when it has one, else the emulator's key) and returns the members of
/// the response both checkout operations share.
fn issue(ctx: &mut Ctx<'_>, license: &License, c: Consumption) -> Result<Value, ApiError> {
    let sign_key = match &license.issuer.sign_key {
        Some(key) => {
            let owner = super::licenses::record(ctx.state, &license.license_arn)?
                .owner
                .clone();
            let key = crate::kms::resolve_in(ctx.state, ctx.region, &owner, key)
                .map_err(|e| {
                    ApiError::new(
                        ErrorKind::FailedDependency,
                        format!(
                            "The Issuer.SignKey of license {} cannot sign: {}",
                            license.license_arn, e.message
                        ),
                    )
                })?
                .clone();
            Some(key)
        }
        None => None,
    };
    let token = new_id();
    let mut claims = json!({
        "licenseArn": c.license_arn,
        "licenseConsumptionToken": token,
        "entitlementsAllowed": entitlement_claims(&c.entitlements),
        "nodeId": c.node_id,
        "issuedAt": claim_time(c.issued_at),
    });
    let mut out = json!({
        "LicenseArn": c.license_arn,
        "LicenseConsumptionToken": token,
        "EntitlementsAllowed": c.entitlements,
        "IssuedAt": fmt_time(c.issued_at),
    });
    if !c.borrow {
        claims["checkoutType"] = json!(c.checkout_type);
        out["CheckoutType"] = json!(c.checkout_type);
    }
    if let Some(exp) = c.expiration {
        claims["expiration"] = json!(claim_time(exp));
        out["Expiration"] = json!(fmt_time(exp));
    }
    if let Some(node) = &c.node_id {
        out["NodeId"] = json!(node);
    }
    out["SignedToken"] = match &sign_key {
        Some(key) => jwt_signed_by(claims, key),
        None => jwt_of(claims),
    };
    let action = if c.borrow { "Borrowed" } else { "CheckedOut" };
    ctx.announce_consumption(&token, &c, action);
    ctx.state.add_consumption(token, c);
    Ok(out)
}

/// How long a PROVISIONAL checkout of `license` holds its units, in seconds.
fn provisional_ttl(license: &License) -> i64 {
    license
        .consumption_configuration
        .provisional_configuration
        .as_ref()
        .map_or(DEFAULT_TTL_MINUTES, |p| p.max_time_to_live_in_minutes)
        .saturating_mul(60)
}

/// `now + seconds`, saturating and clamped to the latest time an ISO8601 timestamp can
/// state (values from a state file may be arbitrarily large).
fn expiry(now: i64, seconds: i64) -> i64 {
    now.saturating_add(seconds).clamp(MIN_TIME, MAX_TIME)
}

pub fn checkout_license(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: CheckoutRequest = parse(input)?;
    let token = req.client_token.clone();
    idempotent(ctx, "CheckoutLicense", &token, |ctx| {
        let now = ctx.now_unix();
        let mut candidates: Vec<(u64, &License)> = ctx
            .state
            .licenses
            .values()
            .filter(|r| !r.is_deleted())
            .filter_map(|r| Some((r.seq, r.current()?)))
            .filter(|(_, l)| {
                l.product_sku == req.product_sku
                    && l.issuer.key_fingerprint == req.key_fingerprint
                    && l.status == "AVAILABLE"
                    && req
                        .beneficiary
                        .as_ref()
                        .is_none_or(|b| l.beneficiary.as_ref() == Some(b))
                    && may_use(ctx.state, ctx.account, &l.license_arn, "CheckoutLicense")
            })
            .collect();
        // Like AWS, the most recent matching license wins.
        candidates.sort_by_key(|(seq, _)| u64::MAX - seq);
        let license = candidates
            .first()
            .map(|(_, l)| (*l).clone())
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "No license with ProductSKU '{}' and KeyFingerprint '{}'{} is available to \
                     account {} (issued by it, or received through an ACTIVE grant)",
                    req.product_sku,
                    req.key_fingerprint,
                    req.beneficiary
                        .as_ref()
                        .map(|b| format!(" for beneficiary '{b}'"))
                        .unwrap_or_default(),
                    ctx.account
                ))
            })?;
        let allowed = draw(
            ctx.state,
            &license,
            &req.entitlements,
            now,
            ErrorKind::NoEntitlementsAllowed,
        )?;
        let consumption = Consumption {
            license_arn: license.license_arn.clone(),
            account: ctx.account.to_string(),
            beneficiary: req.beneficiary,
            borrow: false,
            entitlements: allowed,
            node_id: req.node_id,
            issued_at: now,
            expiration: (req.checkout_type == "PROVISIONAL")
                .then(|| expiry(now, provisional_ttl(&license))),
            checkout_type: req.checkout_type,
            checked_in: false,
            settled: false,
        };
        issue(ctx, &license, consumption)
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BorrowRequest {
    license_arn: String,
    entitlements: Vec<EntitlementData>,
    client_token: String,
    node_id: Option<String>,
    checkout_metadata: Option<Vec<Metadata>>,
}

pub fn checkout_borrow_license(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: BorrowRequest = parse(input)?;
    let token = req.client_token.clone();
    idempotent(ctx, "CheckoutBorrowLicense", &token, |ctx| {
        let now = ctx.now_unix();
        let license = current_license(ctx.state, &req.license_arn)?;
        if !may_use(
            ctx.state,
            ctx.account,
            &req.license_arn,
            "CheckoutBorrowLicense",
        ) {
            return Err(ApiError::not_found(format!(
                "License {} is not available to account {} for CheckoutBorrowLicense (issue it, \
                 or receive it through an ACTIVE grant allowing CheckoutBorrowLicense)",
                req.license_arn, ctx.account
            )));
        }
        if license.status != "AVAILABLE" {
            return Err(no_entitlements(format!(
                "No Entitlements Allowed: license {} is {}",
                req.license_arn, license.status
            )));
        }
        let borrow = license
            .consumption_configuration
            .borrow_configuration
            .clone()
            .ok_or_else(|| {
                no_entitlements(format!(
                    "No Entitlements Allowed: license {} has no BorrowConfiguration in its \
                     ConsumptionConfiguration, so it cannot be borrowed",
                    req.license_arn
                ))
            })?;
        let allowed = draw(
            ctx.state,
            &license,
            &req.entitlements,
            now,
            ErrorKind::EntitlementNotAllowed,
        )?;
        let consumption = Consumption {
            license_arn: req.license_arn,
            account: ctx.account.to_string(),
            beneficiary: None,
            checkout_type: "BORROW".into(),
            borrow: true,
            entitlements: allowed,
            node_id: req.node_id,
            issued_at: now,
            expiration: Some(expiry(
                now,
                borrow.max_time_to_live_in_minutes.saturating_mul(60),
            )),
            checked_in: false,
            settled: false,
        };
        let mut out = issue(ctx, &license, consumption)?;
        if let Some(meta) = req.checkout_metadata {
            out["CheckoutMetadata"] = json!(meta);
        }
        Ok(out)
    })
}

/// The caller's checkout `token`, still holding its units.
fn active_consumption(ctx: &Ctx<'_>, token: &str) -> Result<Consumption, ApiError> {
    if ctx
        .state
        .checked_in
        .get(token)
        .is_some_and(|c| c.account == ctx.account)
    {
        return Err(ApiError::conflict(format!(
            "License consumption token {token} is already checked in"
        )));
    }
    let c = ctx
        .state
        .consumptions
        .get(token)
        .filter(|c| c.account == ctx.account)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "License consumption token {token} not found (or expired)"
            ))
        })?;
    if c.checked_in {
        return Err(ApiError::conflict(format!(
            "License consumption token {token} is already checked in"
        )));
    }
    if !c.is_active(ctx.now_unix()) {
        return Err(ApiError::not_found(format!(
            "License consumption token {token} expired at {}",
            c.expiration.map(fmt_time).unwrap_or_default()
        )));
    }
    Ok(c.clone())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ExtendRequest {
    license_consumption_token: String,
    #[serde(default)]
    dry_run: bool,
}

pub fn extend_license_consumption(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: ExtendRequest = parse(input)?;
    let c = active_consumption(ctx, &req.license_consumption_token)?;
    if c.expiration.is_none() || c.borrow {
        return Err(ApiError::invalid(format!(
            "Only PROVISIONAL checkouts can be extended; token {} is a {} checkout",
            req.license_consumption_token, c.checkout_type
        )));
    }
    let expiration = expiry(
        ctx.now_unix(),
        provisional_ttl(&current_license(ctx.state, &c.license_arn)?),
    );
    if !req.dry_run {
        ctx.state.extend(&req.license_consumption_token, expiration);
        let extended = Consumption {
            expiration: Some(expiration),
            ..c
        };
        ctx.announce_consumption(&req.license_consumption_token, &extended, "Extended");
    }
    Ok(json!({
        "LicenseConsumptionToken": req.license_consumption_token,
        "Expiration": fmt_time(expiration),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CheckInRequest {
    license_consumption_token: String,
    beneficiary: Option<String>,
}

pub fn check_in_license(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: CheckInRequest = parse(input)?;
    let token = &req.license_consumption_token;
    let c = active_consumption(ctx, token)?;
    if c.expiration.is_none() {
        return Err(ApiError::validation(format!(
            "Token {token} is a PERPETUAL checkout: its units are drawn down and cannot be checked in"
        )));
    }
    if let (Some(given), Some(held)) = (&req.beneficiary, &c.beneficiary)
        && given != held
    {
        return Err(ApiError::validation(format!(
            "Beneficiary '{given}' did not check out token {token}"
        )));
    }
    let license = current_license(ctx.state, &c.license_arn)?;
    if c.borrow
        && !license
            .consumption_configuration
            .borrow_configuration
            .as_ref()
            .is_some_and(|b| b.allow_early_check_in)
    {
        return Err(ApiError::validation(format!(
            "License {} does not allow early check-in of borrowed entitlements",
            c.license_arn
        )));
    }
    if let Some(e) = license.entitlements.iter().find(|e| {
        e.allow_check_in == Some(false) && c.entitlements.iter().any(|ce| ce.name == e.name)
    }) {
        return Err(ApiError::validation(format!(
            "Entitlement '{}' of license {} does not allow check-in",
            e.name, c.license_arn
        )));
    }
    let now = ctx.now_unix();
    ctx.state.check_in(token, now);
    ctx.announce_consumption(token, &c, "CheckedIn");
    Ok(json!({}))
}
