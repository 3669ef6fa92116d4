//! The License Manager operations: one module per resource, and the dispatch table (also the
//! source of the coverage document). What a handler sees and the helpers handlers share are
//! in [`crate::dispatch`].

mod checkout;
mod configurations;
mod grants;
mod licenses;
mod organizations;
mod settings;
mod tags;
mod tokens;

use crate::dispatch::{Handler, Operation};

const fn op(name: &'static str, handler: Handler, mutates: bool) -> Operation {
    Operation::new(name, handler, mutates)
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
    op(
        "ListReceivedGrantsForOrganization",
        organizations::list_received_grants_for_organization,
        false,
    ),
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
