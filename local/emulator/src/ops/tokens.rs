//! Refresh tokens: CreateToken, ListTokens, DeleteToken, GetAccessToken.

use super::licenses::visible;
use crate::dates::fmt_time;
use crate::dispatch::{
    Ctx, Field, Filter, apply_filters, idempotent, jwt_of, new_id, page, parse, seq_key,
};
use crate::protocol::ApiError;
use crate::state::TokenRecord;
use serde::Deserialize;
use serde_json::{Value, json};

/// Default refresh-token lifetime.
const DEFAULT_EXPIRATION_DAYS: i64 = 365;
/// Access tokens are valid for one hour.
const ACCESS_TOKEN_SECONDS: i64 = 3600;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateTokenRequest {
    license_arn: String,
    role_arns: Option<Vec<String>>,
    expiration_in_days: Option<i64>,
    token_properties: Option<Vec<String>>,
    client_token: String,
}

pub fn create_token(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: CreateTokenRequest = parse(input)?;
    let client_token = req.client_token.clone();
    idempotent(ctx, "CreateToken", &client_token, |ctx| {
        visible(ctx, &req.license_arn)?;
        let days = req.expiration_in_days.unwrap_or(DEFAULT_EXPIRATION_DAYS);
        if !(1..=730).contains(&days) {
            return Err(ApiError::validation(format!(
                "ExpirationInDays must be between 1 and 730, got {days}"
            )));
        }
        let id = new_id();
        let now = ctx.now_unix();
        let expiration = now + days * 86_400;
        let properties = req.token_properties.unwrap_or_default();
        let claims = json!({
            "iss": "license-manager-local",
            "sub": ctx.account,
            "jti": id,
            "tokenType": "REFRESH_TOKEN",
            // The model: "The ARN is mapped to the aud claim of the JWT token" and
            // TokenProperties "mapped to the amr claim".
            "aud": req.license_arn,
            "amr": properties,
            // Kept for clients that read it (the boto3 suite does).
            "licenseArn": req.license_arn,
            "roleArns": req.role_arns,
            "iat": now,
            "exp": expiration,
        });
        let seq = ctx.state.next_seq();
        ctx.announce_token(&id, &req.license_arn, "Created");
        ctx.state.tokens.insert(
            id.clone(),
            TokenRecord {
                account: ctx.account.to_string(),
                seq,
                license_arn: req.license_arn,
                role_arns: req.role_arns.unwrap_or_default(),
                token_properties: properties,
                expiration,
                deleted: false,
            },
        );
        Ok(json!({ "TokenId": id, "TokenType": "REFRESH_TOKEN", "Token": jwt_of(claims) }))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteTokenRequest {
    token_id: String,
}

pub fn delete_token(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: DeleteTokenRequest = parse(input)?;
    let record = ctx
        .state
        .tokens
        .get_mut(&req.token_id)
        .filter(|t| t.account == ctx.account && !t.deleted)
        .ok_or_else(|| ApiError::not_found(format!("Token {} not found", req.token_id)))?;
    record.deleted = true;
    let license_arn = record.license_arn.clone();
    ctx.announce_token(&req.token_id, &license_arn, "Deleted");
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTokensRequest {
    #[serde(default)]
    filters: Vec<Filter>,
    token_ids: Option<Vec<String>>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

pub fn list_tokens(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: ListTokensRequest = parse(input)?;
    let mut rows: Vec<(&String, &TokenRecord)> = ctx
        .state
        .tokens
        .iter()
        .filter(|(id, t)| {
            t.account == ctx.account
                && !t.deleted
                && req
                    .token_ids
                    .as_ref()
                    .is_none_or(|ids| ids.is_empty() || ids.contains(id))
        })
        .collect();
    rows.sort_by_key(|(_, t)| t.seq);
    let fields: &[Field<(&String, &TokenRecord)>] =
        &[("LicenseArns", |(_, t)| vec![t.license_arn.clone()])];
    let rows = apply_filters(rows, &req.filters, fields)?;
    let now = ctx.now_unix();
    let items = rows
        .into_iter()
        .map(|(id, t)| {
            (
                seq_key(t.seq),
                json!({
                    "TokenId": id,
                    "TokenType": "REFRESH_TOKEN",
                    "LicenseArn": t.license_arn,
                    "ExpirationTime": fmt_time(t.expiration),
                    "TokenProperties": t.token_properties,
                    "RoleArns": t.role_arns,
                    "Status": if t.expiration > now { "AVAILABLE" } else { "EXPIRED" },
                }),
            )
        })
        .collect();
    page(
        ctx,
        items,
        "Tokens",
        req.max_results,
        req.next_token.as_deref(),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetAccessTokenRequest {
    token: String,
    token_properties: Option<Vec<String>>,
}

pub fn get_access_token(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: GetAccessTokenRequest = parse(input)?;
    let claims = ctx.signer.verify(&req.token).ok_or_else(|| {
        ApiError::validation("Token is not a refresh token issued by this License Manager")
    })?;
    let id = claims.get("jti").and_then(Value::as_str).unwrap_or("");
    let record = ctx
        .state
        .tokens
        .get(id)
        .ok_or_else(|| ApiError::validation("Token is not a known refresh token"))?;
    let now = ctx.now_unix();
    if record.deleted {
        return Err(ApiError::access_denied(format!("Token {id} was deleted")));
    }
    if record.expiration <= now {
        return Err(ApiError::access_denied(format!(
            "Token {id} expired at {}",
            fmt_time(record.expiration)
        )));
    }
    if let Some(p) = req
        .token_properties
        .iter()
        .flatten()
        .find(|p| !record.token_properties.contains(p))
    {
        return Err(ApiError::access_denied(format!(
            "Token {id} does not carry the token property '{p}'"
        )));
    }
    let access = json!({
        "iss": "license-manager-local",
        "sub": record.account,
        "tokenType": "ACCESS_TOKEN",
        "refreshTokenId": id,
        "licenseArn": record.license_arn,
        "roleArns": record.role_arns,
        "iat": now,
        "exp": now + ACCESS_TOKEN_SECONDS,
    });
    Ok(json!({ "AccessToken": jwt_of(access) }))
}
