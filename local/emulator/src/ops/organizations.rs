//! ListReceivedGrantsForOrganization, for the organization the emulator knows
//! (`crate::organization`; grants to an organization or OU are made by CreateGrant).

use super::grants::{Row, list};
use crate::dispatch::{Ctx, one, parse};
use crate::protocol::ApiError;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LicenseArnRequest {
    license_arn: String,
}

/// ListReceivedGrantsForOrganization: the grants of `LicenseArn` received by the accounts of
/// the organization, for its management account (filters `ParentArn`, `GranteePrincipalArn`).
pub fn list_received_grants_for_organization(
    ctx: &mut Ctx<'_>,
    input: Value,
) -> Result<Value, ApiError> {
    let LicenseArnRequest { license_arn } = parse(input.clone())?;
    let Some(organization) = ctx.organization else {
        return Err(ApiError::access_denied(format!(
            "Account {} is not in an organization (start license-manager-local with \
             --organization FILE)",
            ctx.account
        )));
    };
    if organization.management_account != ctx.account {
        return Err(ApiError::access_denied(format!(
            "Only the organization's management account {} may list the grants its accounts \
             received",
            organization.management_account
        )));
    }
    list(
        ctx,
        input,
        |r| {
            organization.contains(&r.grantee)
                && r.current().is_some_and(|g| g.license_arn == license_arn)
        },
        &[
            ("ParentArn", |r: &Row| one(&r.grant.parent_arn)),
            ("GranteePrincipalArn", |r: &Row| {
                one(&r.grant.grantee_principal_arn)
            }),
        ],
    )
}
