//! Licenses: create, version, get, list, delete, received licenses and usage.

use crate::dates::parse_time;
use crate::dispatch::{
    Ctx, Field, Filter, apply_filters, idempotent, latest, lookup, new_id, one, page, parse,
    seq_key, to_value,
};
use crate::protocol::ApiError;
use crate::shapes::{
    ConsumptionConfiguration, DatetimeRange, Entitlement, Issuer, IssuerDetails, License, Metadata,
    Tag,
};
use crate::state::{GrantRecord, LicenseRecord, State};
use serde::Deserialize;
use serde_json::{Value, json};

/// The members CreateLicense and CreateLicenseVersion share.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LicenseBody {
    license_name: String,
    product_name: String,
    issuer: Issuer,
    home_region: String,
    validity: DatetimeRange,
    entitlements: Vec<Entitlement>,
    consumption_configuration: ConsumptionConfiguration,
    license_metadata: Option<Vec<Metadata>>,
    client_token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateLicenseRequest {
    #[serde(flatten)]
    body: LicenseBody,
    #[serde(rename = "ProductSKU")]
    product_sku: String,
    beneficiary: String,
    tags: Option<Vec<Tag>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateLicenseVersionRequest {
    #[serde(flatten)]
    body: LicenseBody,
    license_arn: String,
    status: String,
    source_version: Option<String>,
    #[serde(default)]
    reset_usage: bool,
}

/// `aws:<issuer account>:<Issuer.Name>:issuer-fingerprint`.
pub fn key_fingerprint(issuer_account: &str, issuer_name: &str) -> String {
    format!("aws:{issuer_account}:{issuer_name}:issuer-fingerprint")
}

/// Refuses an `Issuer.SignKey` that is not an RSA SIGN_VERIFY KMS key of the caller.
fn check_sign_key(ctx: &Ctx<'_>, issuer: &Issuer) -> Result<(), ApiError> {
    match &issuer.sign_key {
        Some(key) => crate::kms::license_sign_key(ctx, key).map(|_| ()),
        None => Ok(()),
    }
}

fn check_body(body: &LicenseBody) -> Result<(), ApiError> {
    let begin = parse_time(&body.validity.begin).ok_or_else(|| {
        ApiError::validation(format!(
            "Validity.Begin '{}' is not an ISO8601 date-time",
            body.validity.begin
        ))
    })?;
    if let Some(end) = &body.validity.end {
        let end_t = parse_time(end).ok_or_else(|| {
            ApiError::validation(format!("Validity.End '{end}' is not an ISO8601 date-time"))
        })?;
        if end_t <= begin {
            return Err(ApiError::validation(
                "Validity.End must be after Validity.Begin",
            ));
        }
    }
    if body.entitlements.is_empty() {
        return Err(ApiError::validation(
            "Entitlements must contain at least one entitlement",
        ));
    }
    for (i, e) in body.entitlements.iter().enumerate() {
        if body.entitlements[..i].iter().any(|o| o.name == e.name) {
            return Err(ApiError::validation(format!(
                "Entitlement name '{}' appears more than once",
                e.name
            )));
        }
        if e.max_count.is_some_and(|m| m < 0) {
            return Err(ApiError::validation(format!(
                "Entitlements.{i}.MaxCount must not be negative"
            )));
        }
    }
    let cc = &body.consumption_configuration;
    let ttls = [
        cc.provisional_configuration
            .as_ref()
            .map(|p| p.max_time_to_live_in_minutes),
        cc.borrow_configuration
            .as_ref()
            .map(|b| b.max_time_to_live_in_minutes),
    ];
    if ttls.into_iter().flatten().any(|t| t < 1) {
        return Err(ApiError::validation(
            "MaxTimeToLiveInMinutes must be at least 1",
        ));
    }
    Ok(())
}

/// What a license version keeps from its first version.
struct Identity<'a> {
    arn: &'a str,
    issuer_account: &'a str,
    sku: String,
    beneficiary: Option<String>,
    create_time: String,
}

fn build_license(body: LicenseBody, id: Identity<'_>, status: String, version: u64) -> License {
    let Identity {
        arn,
        issuer_account,
        sku,
        beneficiary,
        create_time,
    } = id;
    License {
        license_arn: arn.to_string(),
        license_name: body.license_name,
        product_name: body.product_name,
        product_sku: sku,
        issuer: IssuerDetails {
            key_fingerprint: key_fingerprint(issuer_account, &body.issuer.name),
            name: body.issuer.name,
            sign_key: body.issuer.sign_key,
        },
        home_region: body.home_region,
        status,
        validity: body.validity,
        beneficiary,
        entitlements: body.entitlements,
        consumption_configuration: body.consumption_configuration,
        license_metadata: body.license_metadata,
        create_time,
        version: version.to_string(),
    }
}

pub fn create_license(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: CreateLicenseRequest = parse(input)?;
    check_body(&req.body)?;
    check_sign_key(ctx, &req.body.issuer)?;
    let token = req.body.client_token.clone();
    idempotent(ctx, "CreateLicense", &token, |ctx| {
        let arn = format!(
            "arn:aws:license-manager::{}:license:l-{}",
            ctx.account,
            new_id()
        );
        let id = Identity {
            arn: &arn,
            issuer_account: ctx.account,
            sku: req.product_sku,
            beneficiary: Some(req.beneficiary),
            create_time: ctx.now_iso(),
        };
        let license = build_license(req.body, id, "AVAILABLE".into(), 1);
        let seq = ctx.state.next_seq();
        ctx.state.licenses.insert(
            arn.clone(),
            LicenseRecord {
                owner: ctx.account.to_string(),
                seq,
                versions: vec![license],
                deleted_at: None,
            },
        );
        if let Some(tags) = req.tags {
            ctx.state.tags.insert(arn.clone(), tags);
        }
        Ok(json!({ "LicenseArn": arn, "Status": "AVAILABLE", "Version": "1" }))
    })
}

/// The license `arn`, or ResourceNotFoundException.
pub fn record<'a>(state: &'a State, arn: &str) -> Result<&'a LicenseRecord, ApiError> {
    lookup(&state.licenses, arn, "License")
}

fn current(rec: &LicenseRecord) -> Result<&License, ApiError> {
    latest(&rec.versions, "License")
}

/// The license `arn` when the caller issued it, else an error.
fn owned<'a>(ctx: &'a Ctx<'_>, arn: &str) -> Result<&'a LicenseRecord, ApiError> {
    let rec = record(ctx.state, arn)?;
    if rec.owner != ctx.account {
        return Err(ApiError::access_denied(format!(
            "Account {} is not the issuer of license {arn}",
            ctx.account
        )));
    }
    Ok(rec)
}

fn status_rank(status: &str) -> u8 {
    match status {
        "ACTIVE" => 0,
        "DISABLED" => 1,
        "PENDING_ACCEPT" => 2,
        _ => 3,
    }
}

/// The most useful grant of `license_arn` received by `account` (active first), ignoring
/// rejected and deleted grants.
pub fn received_grant<'a>(
    state: &'a State,
    license_arn: &str,
    account: &str,
) -> Option<&'a GrantRecord> {
    state
        .grants
        .values()
        .filter(|g| g.grantee == account)
        .filter(|g| {
            g.current().is_some_and(|c| {
                c.license_arn == license_arn
                    && !matches!(c.grant_status.as_str(), "REJECTED" | "DELETED")
            })
        })
        .min_by_key(|g| {
            (
                g.current().map_or(9, |c| status_rank(&c.grant_status)),
                u64::MAX - g.seq,
            )
        })
}

/// The license `arn` when the caller issued it or received a grant of it.
pub fn visible<'a>(ctx: &'a Ctx<'_>, arn: &str) -> Result<&'a LicenseRecord, ApiError> {
    let rec = record(ctx.state, arn)?;
    if rec.owner == ctx.account || received_grant(ctx.state, arn, ctx.account).is_some() {
        Ok(rec)
    } else {
        Err(ApiError::access_denied(format!(
            "Account {} can neither see nor use license {arn}",
            ctx.account
        )))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetLicenseRequest {
    license_arn: String,
    version: Option<String>,
}

/// The current version of `rec` as seen at `now`: an AVAILABLE license past its
/// `Validity.End` reads EXPIRED.
fn seen(rec: &LicenseRecord, now: i64) -> Option<License> {
    let mut license = rec.view()?;
    let ended = license
        .validity
        .end
        .as_deref()
        .and_then(parse_time)
        .is_some_and(|end| end <= now);
    if ended && license.status == "AVAILABLE" {
        license.status = "EXPIRED".into();
    }
    Some(license)
}

pub fn get_license(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: GetLicenseRequest = parse(input)?;
    let rec = visible(ctx, &req.license_arn)?;
    let license = match &req.version {
        None => seen(rec, ctx.now_unix()),
        Some(v) => rec.versions.iter().find(|l| &l.version == v).cloned(),
    }
    .ok_or_else(|| {
        ApiError::not_found(format!(
            "License {} has no version {}",
            req.license_arn,
            req.version.as_deref().unwrap_or("")
        ))
    })?;
    Ok(json!({ "License": to_value(&license)? }))
}

pub fn create_license_version(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: CreateLicenseVersionRequest = parse(input)?;
    check_body(&req.body)?;
    check_sign_key(ctx, &req.body.issuer)?;
    let token = req.body.client_token.clone();
    idempotent(ctx, "CreateLicenseVersion", &token, |ctx| {
        let rec = owned(ctx, &req.license_arn)?;
        let cur = current(rec)?.clone();
        if rec.is_deleted() {
            return Err(ApiError::conflict(format!(
                "License {} is deleted",
                req.license_arn
            )));
        }
        if let Some(source) = &req.source_version
            && source != &cur.version
        {
            return Err(ApiError::conflict(format!(
                "SourceVersion {source} is not the current version {} of license {}",
                cur.version, req.license_arn
            )));
        }
        let next = cur.version.parse::<u64>().unwrap_or(0) + 1;
        let id = Identity {
            arn: &req.license_arn,
            issuer_account: ctx.account,
            sku: cur.product_sku,
            beneficiary: cur.beneficiary,
            create_time: cur.create_time,
        };
        let license = build_license(req.body, id, req.status.clone(), next);
        if req.reset_usage {
            let now = ctx.now_unix();
            let tokens: Vec<String> = ctx
                .state
                .consumptions
                .iter()
                .filter(|(_, c)| c.license_arn == req.license_arn)
                .map(|(t, _)| t.clone())
                .collect();
            for token in tokens {
                ctx.state.check_in(&token, now);
            }
        }
        if let Some(rec) = ctx.state.licenses.get_mut(&req.license_arn) {
            rec.versions.push(license);
        }
        ctx.announce_license(&req.license_arn, "NewVersion");
        Ok(json!({
            "LicenseArn": req.license_arn,
            "Version": next.to_string(),
            "Status": req.status,
        }))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListRequest {
    #[serde(default)]
    filters: Vec<Filter>,
    license_arns: Option<Vec<String>>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

const LICENSE_FIELDS: &[Field<License>] = &[
    ("Beneficiary", |l| l.beneficiary.iter().cloned().collect()),
    ("ProductSKU", |l| one(&l.product_sku)),
    ("Fingerprint", |l| one(&l.issuer.key_fingerprint)),
    ("KeyFingerprint", |l| one(&l.issuer.key_fingerprint)),
    ("Status", |l| one(&l.status)),
    ("IssuerName", |l| one(&l.issuer.name)),
    ("LicenseArn", |l| one(&l.license_arn)),
];

fn sorted_records(state: &State, keep: impl Fn(&LicenseRecord) -> bool) -> Vec<&LicenseRecord> {
    let mut recs: Vec<&LicenseRecord> = state.licenses.values().filter(|r| keep(r)).collect();
    recs.sort_by_key(|r| r.seq);
    recs
}

fn restrict_arns<T>(items: Vec<T>, arns: Option<&Vec<String>>, arn: fn(&T) -> &str) -> Vec<T> {
    match arns {
        Some(arns) if !arns.is_empty() => items
            .into_iter()
            .filter(|i| arns.iter().any(|a| a == arn(i)))
            .collect(),
        _ => items,
    }
}

pub fn list_licenses(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: ListRequest = parse(input)?;
    let now = ctx.now_unix();
    let licenses: Vec<License> = sorted_records(ctx.state, |r| r.owner == ctx.account)
        .into_iter()
        .filter_map(|r| seen(r, now))
        .collect();
    let licenses = restrict_arns(licenses, req.license_arns.as_ref(), |l| &l.license_arn);
    let licenses = apply_filters(licenses, &req.filters, LICENSE_FIELDS)?;
    let keyed = licenses.iter().map(|l| {
        let seq = ctx.state.licenses.get(&l.license_arn).map_or(0, |r| r.seq);
        (seq, l)
    });
    licenses_page(ctx, keyed, req.max_results, req.next_token.as_deref())
}

/// One page of `licenses`, each keyed by its sequence number, as the `Licenses` member.
fn licenses_page<'l>(
    ctx: &Ctx<'_>,
    licenses: impl Iterator<Item = (u64, &'l License)>,
    max_results: Option<i64>,
    next_token: Option<&str>,
) -> Result<Value, ApiError> {
    let items = licenses
        .map(|(seq, l)| Ok((seq_key(seq), to_value(l)?)))
        .collect::<Result<_, ApiError>>()?;
    page(ctx, items, "Licenses", max_results, next_token)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListVersionsRequest {
    license_arn: String,
    max_results: Option<i64>,
    next_token: Option<String>,
}

pub fn list_license_versions(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: ListVersionsRequest = parse(input)?;
    let rec = visible(ctx, &req.license_arn)?;
    let keyed = rec.versions.iter().enumerate().map(|(i, l)| (i as u64, l));
    licenses_page(ctx, keyed, req.max_results, req.next_token.as_deref())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteLicenseRequest {
    license_arn: String,
    source_version: String,
}

pub fn delete_license(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: DeleteLicenseRequest = parse(input)?;
    let rec = owned(ctx, &req.license_arn)?;
    let cur = current(rec)?.clone();
    if rec.is_deleted() {
        return Err(ApiError::conflict(format!(
            "License {} is already deleted",
            req.license_arn
        )));
    }
    if req.source_version != cur.version {
        return Err(ApiError::conflict(format!(
            "SourceVersion {} is not the current version {} of license {}",
            req.source_version, cur.version, req.license_arn
        )));
    }
    let now = ctx.now_iso();
    let at = ctx.now_unix();
    // A mark on the license, not on its last version: GetLicense(Version) and
    // ListLicenseVersions keep reporting each version as it was.
    if let Some(rec) = ctx.state.licenses.get_mut(&req.license_arn) {
        rec.deleted_at = Some(at);
    }
    ctx.announce_license(&req.license_arn, "Deleted");
    Ok(json!({ "Status": "DELETED", "DeletionDate": now }))
}

pub fn list_received_licenses(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: ListRequest = parse(input)?;
    let state = &*ctx.state;
    let account = ctx.account;
    let now = ctx.now_unix();
    let received: Vec<(License, &GrantRecord)> = sorted_records(state, |_| true)
        .into_iter()
        .filter_map(|r| {
            let lic = seen(r, now)?;
            let grant = received_grant(state, &lic.license_arn, account)?;
            Some((lic, grant))
        })
        .collect();
    let received = restrict_arns(received, req.license_arns.as_ref(), |(l, _)| &l.license_arn);
    let fields: &[Field<(License, &GrantRecord)>] = &[
        ("ProductSKU", |(l, _)| one(&l.product_sku)),
        ("Status", |(l, _)| one(&l.status)),
        ("Fingerprint", |(l, _)| one(&l.issuer.key_fingerprint)),
        ("KeyFingerprint", |(l, _)| one(&l.issuer.key_fingerprint)),
        ("IssuerName", |(l, _)| one(&l.issuer.name)),
        ("Beneficiary", |(l, _)| {
            l.beneficiary.iter().cloned().collect()
        }),
    ];
    let received = apply_filters(received, &req.filters, fields)?;
    let mut items = Vec::new();
    for (license, grant) in received {
        let mut v = to_value(&license)?;
        if let Some(g) = grant.current() {
            v["ReceivedMetadata"] = json!({
                "ReceivedStatus": g.grant_status,
                "AllowedOperations": g.granted_operations,
            });
            if let Some(t) = &g.grant_type {
                v["ReceivedMetadata"]["GrantType"] = json!(t);
            }
            if let Some(r) = &g.status_reason {
                v["ReceivedMetadata"]["ReceivedStatusReason"] = json!(r);
            }
        }
        let seq = state
            .licenses
            .get(&license.license_arn)
            .map_or(0, |r| r.seq);
        items.push((seq_key(seq), v));
    }
    page(
        ctx,
        items,
        "Licenses",
        req.max_results,
        req.next_token.as_deref(),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UsageRequest {
    license_arn: String,
}

pub fn get_license_usage(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: UsageRequest = parse(input)?;
    let license = visible(ctx, &req.license_arn)?
        .view()
        .ok_or_else(|| ApiError::not_found("License has no versions"))?;
    let now = ctx.now_unix();
    let usages: Vec<Value> = license
        .entitlements
        .iter()
        .map(|e| {
            let mut u = json!({
                "Name": e.name,
                "ConsumedValue": ctx.state.held(&req.license_arn, &e.name, now).to_string(),
                "Unit": e.unit,
            });
            if let Some(max) = e.max_count {
                u["MaxCount"] = json!(max.to_string());
            }
            u
        })
        .collect();
    Ok(json!({ "LicenseUsage": { "EntitlementUsages": usages } }))
}

/// The current view of license `arn` (DELETED when deleted), for other modules.
pub fn current_license(state: &State, arn: &str) -> Result<License, ApiError> {
    let rec = record(state, arn)?;
    current(rec)?;
    rec.view()
        .ok_or_else(|| ApiError::not_found(format!("License {arn} has no versions")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_follows_the_aws_format() {
        assert_eq!(
            key_fingerprint("111122223333", "Acme"),
            "aws:111122223333:Acme:issuer-fingerprint"
        );
    }
}
