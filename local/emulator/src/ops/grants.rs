//! Grants: create, version, get, delete, list distributed/received, accept, reject.

use super::licenses::{current_license, record};
use crate::dispatch::{
    Ctx, Field, Filter, apply_filters, arn_account, idempotent, latest, lookup, new_id, one, page,
    parse, seq_key, to_value,
};
use crate::organization;
use crate::protocol::ApiError;
use crate::shapes::{Grant, GrantOptions, Tag};
use crate::state::{GrantRecord, State};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateGrantRequest {
    client_token: String,
    grant_name: String,
    license_arn: String,
    principals: Vec<String>,
    home_region: String,
    allowed_operations: Vec<String>,
    grant_type: Option<String>,
    options: Option<GrantOptions>,
    tags: Option<Vec<Tag>>,
}

fn answer(g: &Grant) -> Value {
    json!({ "GrantArn": g.grant_arn, "Status": g.grant_status, "Version": g.version })
}

pub fn create_grant(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: CreateGrantRequest = parse(input)?;
    let token = req.client_token.clone();
    idempotent(ctx, "CreateGrant", &token, |ctx| {
        let rec = record(ctx.state, &req.license_arn)?;
        if rec.owner != ctx.account && !may_redistribute(ctx, &req.license_arn) {
            return Err(ApiError::access_denied(format!(
                "Account {} cannot grant license {}: it neither issued it nor holds an ACTIVE \
                 grant of it allowing CreateGrant",
                ctx.account, req.license_arn
            )));
        }
        if current_license(ctx.state, &req.license_arn)?.status == "DELETED" {
            return Err(ApiError::invalid(format!(
                "License {} is deleted",
                req.license_arn
            )));
        }
        let principal = req.principals.first().cloned().unwrap_or_default();
        // An organization's or an OU's ARN: one grant per member account, under this one.
        let members = if organization::is_organizations_arn(&principal) {
            Some(
                organization::grantees(ctx.organization, &principal, ctx.account)
                    .map_err(ApiError::invalid)?,
            )
        } else {
            None
        };
        let grantee = match &members {
            Some(_) => principal.clone(),
            None => arn_account(&principal)
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "Principal '{principal}' is not an ARN with a 12-digit account \
                         (e.g. arn:aws:iam::444455556666:root), an organization or an OU"
                    ))
                })?
                .to_string(),
        };
        let grant = Grant {
            grant_arn: String::new(),
            grant_name: req.grant_name,
            parent_arn: req.license_arn.clone(),
            license_arn: req.license_arn,
            grantee_principal_arn: principal,
            home_region: req.home_region,
            grant_status: if members.is_some() {
                organization::DISTRIBUTED_STATUS.into()
            } else {
                "PENDING_ACCEPT".into()
            },
            status_reason: None,
            version: "1".into(),
            granted_operations: req.allowed_operations,
            grant_type: req.grant_type,
            options: req.options,
        };
        let arn = insert_grant(ctx, grant.clone(), grantee);
        let out = answer(&Grant {
            grant_arn: arn.clone(),
            ..grant.clone()
        });
        if let Some(tags) = req.tags {
            ctx.state.tags.insert(arn.clone(), tags);
        }
        let status = organization::initial_status(
            ctx.organization,
            ctx.account,
            ctx.state.settings.get(ctx.account),
        );
        for member in members.unwrap_or_default() {
            let child = Grant {
                parent_arn: arn.clone(),
                grantee_principal_arn: format!("arn:aws:iam::{member}:root"),
                grant_status: status.into(),
                ..grant.clone()
            };
            insert_grant(ctx, child, member);
        }
        Ok(out)
    })
}

/// Stores `grant` (its ARN made here) as granted by the caller to `grantee` and announces it;
/// returns its ARN.
fn insert_grant(ctx: &mut Ctx<'_>, mut grant: Grant, grantee: String) -> String {
    let arn = format!(
        "arn:aws:license-manager::{}:grant:g-{}",
        ctx.account,
        new_id()
    );
    grant.grant_arn = arn.clone();
    let seq = ctx.state.next_seq();
    ctx.state.grants.insert(
        arn.clone(),
        GrantRecord {
            granter: ctx.account.to_string(),
            grantee,
            seq,
            versions: vec![grant],
        },
    );
    ctx.announce_grant(&arn, "Created");
    arn
}

/// Whether the caller holds an ACTIVE grant of `license_arn` that allows CreateGrant (a
/// received license it may distribute on, e.g. to its organization).
fn may_redistribute(ctx: &Ctx<'_>, license_arn: &str) -> bool {
    ctx.state.grants.values().any(|r| {
        r.grantee == ctx.account
            && r.current().is_some_and(|g| {
                g.license_arn == license_arn
                    && g.grant_status == "ACTIVE"
                    && g.granted_operations.iter().any(|o| o == "CreateGrant")
            })
    })
}

fn grant_record<'a>(state: &'a State, arn: &str) -> Result<&'a GrantRecord, ApiError> {
    lookup(&state.grants, arn, "Grant")
}

fn current(rec: &GrantRecord) -> Result<&Grant, ApiError> {
    latest(&rec.versions, "Grant")
}

/// The grant when the caller is its grantee.
fn as_grantee<'a>(ctx: &'a Ctx<'_>, arn: &str) -> Result<&'a GrantRecord, ApiError> {
    let rec = grant_record(ctx.state, arn)?;
    if rec.grantee != ctx.account {
        return Err(ApiError::access_denied(format!(
            "Only the grantee account {} may accept, reject or activate grant {arn}",
            rec.grantee
        )));
    }
    Ok(rec)
}

/// Appends `grant` as the new version of its record (or replaces the current one).
fn store(state: &mut State, grant: Grant, new_version: bool) {
    if let Some(rec) = state.grants.get_mut(&grant.grant_arn) {
        if new_version || rec.versions.is_empty() {
            rec.versions.push(grant);
        } else if let Some(last) = rec.versions.last_mut() {
            *last = grant;
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GrantArnRequest {
    grant_arn: String,
}

/// Moves a pending grant to `to` on behalf of its grantee (`action` names the change in
/// its Grant Change event).
fn respond(
    ctx: &mut Ctx<'_>,
    input: Value,
    to: &str,
    verb: &str,
    action: &str,
) -> Result<Value, ApiError> {
    let req: GrantArnRequest = parse(input)?;
    let mut grant = current(as_grantee(ctx, &req.grant_arn)?)?.clone();
    if grant.grant_status != "PENDING_ACCEPT" {
        return Err(ApiError::validation(format!(
            "Grant {} is {} and cannot be {verb}; only a PENDING_ACCEPT grant can",
            req.grant_arn, grant.grant_status
        )));
    }
    grant.grant_status = to.into();
    let out = answer(&grant);
    store(ctx.state, grant, false);
    ctx.announce_grant(&req.grant_arn, action);
    Ok(out)
}

pub fn accept_grant(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    respond(ctx, input, "DISABLED", "accepted", "Accepted")
}

pub fn reject_grant(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    respond(ctx, input, "REJECTED", "rejected", "Rejected")
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateGrantVersionRequest {
    client_token: String,
    grant_arn: String,
    grant_name: Option<String>,
    allowed_operations: Option<Vec<String>>,
    status: Option<String>,
    status_reason: Option<String>,
    source_version: Option<String>,
    options: Option<GrantOptions>,
}

pub fn create_grant_version(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: CreateGrantVersionRequest = parse(input)?;
    let token = req.client_token.clone();
    idempotent(ctx, "CreateGrantVersion", &token, |ctx| {
        let rec = grant_record(ctx.state, &req.grant_arn)?;
        let is_granter = rec.granter == ctx.account;
        let is_grantee = rec.grantee == ctx.account;
        if !is_granter && !is_grantee {
            return Err(ApiError::access_denied(format!(
                "Account {} is neither the granter nor the grantee of {}",
                ctx.account, req.grant_arn
            )));
        }
        let mut grant = current(rec)?.clone();
        if let Some(source) = &req.source_version
            && source != &grant.version
        {
            return Err(ApiError::conflict(format!(
                "SourceVersion {source} is not the current version {} of grant {}",
                grant.version, req.grant_arn
            )));
        }
        if matches!(grant.grant_status.as_str(), "DELETED" | "REJECTED") {
            return Err(ApiError::validation(format!(
                "Grant {} is {} and cannot change",
                req.grant_arn, grant.grant_status
            )));
        }
        if let Some(status) = &req.status {
            check_transition(&grant, status, is_granter, is_grantee)?;
            grant.grant_status = status.clone();
        }
        if req.grant_name.is_some() || req.allowed_operations.is_some() || req.options.is_some() {
            if !is_granter {
                return Err(ApiError::access_denied(
                    "Only the granter may change a grant's name, operations or options",
                ));
            }
            grant.grant_name = req.grant_name.unwrap_or(grant.grant_name);
            grant.granted_operations = req.allowed_operations.unwrap_or(grant.granted_operations);
            grant.options = req.options.or(grant.options);
        }
        grant.status_reason = req.status_reason.or(grant.status_reason);
        grant.version = (grant.version.parse::<u64>().unwrap_or(0) + 1).to_string();
        let out = answer(&grant);
        store(ctx.state, grant, true);
        ctx.announce_grant(&req.grant_arn, "NewVersion");
        Ok(out)
    })
}

/// Who may move a grant to `to`: the grantee activates an accepted grant; either party may
/// disable an active one.
fn check_transition(
    grant: &Grant,
    to: &str,
    is_granter: bool,
    is_grantee: bool,
) -> Result<(), ApiError> {
    let from = grant.grant_status.as_str();
    match to {
        "ACTIVE" if !is_grantee => Err(ApiError::access_denied(format!(
            "Only the grantee may activate grant {}",
            grant.grant_arn
        ))),
        "ACTIVE" if from == "PENDING_ACCEPT" => Err(ApiError::validation(format!(
            "Grant {} must be accepted (AcceptGrant) before it is activated",
            grant.grant_arn
        ))),
        "ACTIVE" | "DISABLED" if matches!(from, "ACTIVE" | "DISABLED") => Ok(()),
        "DISABLED" if from == "PENDING_ACCEPT" && is_granter => Ok(()),
        _ => Err(ApiError::validation(format!(
            "Grant {} cannot move from {from} to {to} with CreateGrantVersion",
            grant.grant_arn
        ))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetGrantRequest {
    grant_arn: String,
    version: Option<String>,
}

pub fn get_grant(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: GetGrantRequest = parse(input)?;
    let rec = grant_record(ctx.state, &req.grant_arn)?;
    if rec.granter != ctx.account && rec.grantee != ctx.account {
        return Err(ApiError::access_denied(format!(
            "Account {} is neither the granter nor the grantee of {}",
            ctx.account, req.grant_arn
        )));
    }
    let grant = match &req.version {
        None => current(rec)?,
        Some(v) => rec
            .versions
            .iter()
            .rev()
            .find(|g| &g.version == v)
            .ok_or_else(|| {
                ApiError::not_found(format!("Grant {} has no version {v}", req.grant_arn))
            })?,
    };
    Ok(json!({ "Grant": to_value(grant)? }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteGrantRequest {
    grant_arn: String,
    version: String,
    status_reason: Option<String>,
}

pub fn delete_grant(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: DeleteGrantRequest = parse(input)?;
    let rec = grant_record(ctx.state, &req.grant_arn)?;
    if rec.granter != ctx.account {
        return Err(ApiError::access_denied(format!(
            "Only the granter account {} may delete grant {}",
            rec.granter, req.grant_arn
        )));
    }
    let mut grant = current(rec)?.clone();
    if grant.version != req.version {
        return Err(ApiError::invalid(format!(
            "Version {} is not the current version {} of grant {}",
            req.version, grant.version, req.grant_arn
        )));
    }
    if grant.grant_status == "DELETED" {
        return Err(ApiError::invalid(format!(
            "Grant {} is already deleted",
            req.grant_arn
        )));
    }
    grant.grant_status = "DELETED".into();
    grant.status_reason = req.status_reason.or(grant.status_reason);
    let out = answer(&grant);
    store(ctx.state, grant, false);
    ctx.announce_grant(&req.grant_arn, "Deleted");
    // A grant to an organization or OU takes its members' grants with it.
    let children: Vec<Grant> = ctx
        .state
        .grants
        .values()
        .filter_map(GrantRecord::current)
        .filter(|g| g.parent_arn == req.grant_arn && g.grant_status != "DELETED")
        .cloned()
        .collect();
    for mut child in children {
        let arn = child.grant_arn.clone();
        child.grant_status = "DELETED".into();
        store(ctx.state, child, false);
        ctx.announce_grant(&arn, "Deleted");
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListGrantsRequest {
    #[serde(default)]
    filters: Vec<Filter>,
    grant_arns: Option<Vec<String>>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

/// A grant with what filters need to know about its license.
pub(super) struct Row {
    seq: u64,
    pub(super) grant: Grant,
    granter: String,
    sku: String,
    issuer: String,
}

/// A page of the current versions of the grants `keep` selects, filtered by `fields`.
pub(super) fn list(
    ctx: &Ctx<'_>,
    input: Value,
    keep: impl Fn(&GrantRecord) -> bool,
    fields: &[Field<Row>],
) -> Result<Value, ApiError> {
    let req: ListGrantsRequest = parse(input)?;
    let mut recs: Vec<&GrantRecord> = ctx.state.grants.values().filter(|r| keep(r)).collect();
    recs.sort_by_key(|r| r.seq);
    let rows: Vec<Row> = recs
        .into_iter()
        .filter_map(|r| {
            let grant = r.current()?.clone();
            let license = current_license(ctx.state, &grant.license_arn).ok();
            Some(Row {
                seq: r.seq,
                sku: license
                    .as_ref()
                    .map(|l| l.product_sku.clone())
                    .unwrap_or_default(),
                issuer: license
                    .as_ref()
                    .map(|l| l.issuer.name.clone())
                    .unwrap_or_default(),
                granter: r.granter.clone(),
                grant,
            })
        })
        .filter(|row| match &req.grant_arns {
            Some(arns) if !arns.is_empty() => arns.contains(&row.grant.grant_arn),
            _ => true,
        })
        .collect();
    let rows = apply_filters(rows, &req.filters, fields)?;
    let items = rows
        .iter()
        .map(|r| Ok((seq_key(r.seq), to_value(&r.grant)?)))
        .collect::<Result<_, ApiError>>()?;
    page(
        ctx,
        items,
        "Grants",
        req.max_results,
        req.next_token.as_deref(),
    )
}

pub fn list_distributed_grants(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let account = ctx.account.to_string();
    list(
        ctx,
        input,
        |r| r.granter == account,
        &[
            ("LicenseArn", |r| one(&r.grant.license_arn)),
            ("GrantStatus", |r| one(&r.grant.grant_status)),
            ("GranteePrincipalARN", |r| {
                one(&r.grant.grantee_principal_arn)
            }),
            ("ProductSKU", |r| one(&r.sku)),
            ("LicenseIssuerName", |r| one(&r.issuer)),
        ],
    )
}

pub fn list_received_grants(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let account = ctx.account.to_string();
    list(
        ctx,
        input,
        |r| r.grantee == account,
        &[
            ("ProductSKU", |r| one(&r.sku)),
            ("LicenseIssuerName", |r| one(&r.issuer)),
            ("LicenseArn", |r| one(&r.grant.license_arn)),
            ("GrantStatus", |r| one(&r.grant.grant_status)),
            ("GranterAccountId", |r| one(&r.granter)),
        ],
    )
}
