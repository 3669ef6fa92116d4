//! Per-account service settings.

use crate::dispatch::Ctx;
use crate::protocol::ApiError;
use serde_json::{Value, json};

/// Members of UpdateServiceSettings stored as given (request name, response name).
const STORED: &[(&str, &str)] = &[
    ("S3BucketArn", "S3BucketArn"),
    ("SnsTopicArn", "SnsTopicArn"),
    ("OrganizationConfiguration", "OrganizationConfiguration"),
    (
        "EnableCrossAccountsDiscovery",
        "EnableCrossAccountsDiscovery",
    ),
    (
        "EnabledDiscoverySourceRegions",
        "CrossRegionDiscoverySourceRegions",
    ),
];

pub fn get(ctx: &mut Ctx<'_>, _input: Value) -> Result<Value, ApiError> {
    let mut out = json!({
        "OrganizationConfiguration": { "EnableIntegration": false },
        "EnableCrossAccountsDiscovery": false,
        "LicenseManagerResourceShareArn": format!(
            "arn:aws:ram:{}:{}:resource-share/license-manager-local",
            ctx.region, ctx.account
        ),
        "CrossRegionDiscoveryHomeRegion": ctx.region,
    });
    if let Some(Value::Object(saved)) = ctx.state.settings.get(ctx.account) {
        for (k, v) in saved {
            out[k.as_str()] = v.clone();
        }
    }
    Ok(out)
}

pub fn update(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let entry = ctx
        .state
        .settings
        .entry(ctx.account.to_string())
        .or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    for (request_name, stored_name) in STORED {
        if let Some(v) = input.get(request_name).filter(|v| !v.is_null()) {
            entry[*stored_name] = v.clone();
        }
    }
    Ok(json!({}))
}
