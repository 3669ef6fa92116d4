//! Tags on licenses, grants and license configurations.

use crate::dispatch::{Ctx, parse};
use crate::protocol::ApiError;
use crate::shapes::Tag;
use serde::Deserialize;
use serde_json::{Value, json};

/// Checks that `arn` is a taggable resource of the caller.
fn taggable(ctx: &Ctx<'_>, arn: &str) -> Result<(), ApiError> {
    let state = &*ctx.state;
    let owned = state
        .licenses
        .get(arn)
        .is_some_and(|r| r.owner == ctx.account)
        || state
            .grants
            .get(arn)
            .is_some_and(|g| g.granter == ctx.account)
        || super::configurations::owns(state, ctx.account, arn);
    if owned {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "Resource {arn} is not a license, grant or license configuration of account {}",
            ctx.account
        )))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagRequest {
    resource_arn: String,
    tags: Vec<Tag>,
}

pub fn tag_resource(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: TagRequest = parse(input)?;
    taggable(ctx, &req.resource_arn)?;
    let tags = ctx.state.tags.entry(req.resource_arn).or_default();
    for tag in req.tags {
        tags.retain(|t| t.key != tag.key);
        tags.push(tag);
    }
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UntagRequest {
    resource_arn: String,
    tag_keys: Vec<String>,
}

pub fn untag_resource(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: UntagRequest = parse(input)?;
    taggable(ctx, &req.resource_arn)?;
    if let Some(tags) = ctx.state.tags.get_mut(&req.resource_arn) {
        tags.retain(|t| t.key.as_ref().is_none_or(|k| !req.tag_keys.contains(k)));
    }
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListRequest {
    resource_arn: String,
}

pub fn list_tags_for_resource(ctx: &mut Ctx<'_>, input: Value) -> Result<Value, ApiError> {
    let req: ListRequest = parse(input)?;
    taggable(ctx, &req.resource_arn)?;
    let tags = ctx
        .state
        .tags
        .get(&req.resource_arn)
        .cloned()
        .unwrap_or_default();
    Ok(json!({ "Tags": tags }))
}
