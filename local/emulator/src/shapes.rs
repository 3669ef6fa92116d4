//! Serde mirrors of the model shapes the emulator stores and returns. Member names are
//! exactly the model's; absent optional members are omitted.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

/// `Entitlement`: a resource entitled for use with a license.
#[skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Entitlement {
    pub name: String,
    pub value: Option<String>,
    pub max_count: Option<i64>,
    pub overage: Option<bool>,
    pub unit: String,
    pub allow_check_in: Option<bool>,
}

/// `EntitlementData`: an entitlement requested or allowed by a checkout.
#[skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct EntitlementData {
    pub name: String,
    pub value: Option<String>,
    pub unit: String,
}

/// `Metadata`: a name/value pair.
#[skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    pub name: Option<String>,
    pub value: Option<String>,
}

/// `Tag`.
#[skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: Option<String>,
    pub value: Option<String>,
}

/// `Issuer` as sent on create.
#[skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Issuer {
    pub name: String,
    pub sign_key: Option<String>,
}

/// `IssuerDetails` as returned, with the key fingerprint.
#[skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct IssuerDetails {
    pub name: String,
    pub sign_key: Option<String>,
    pub key_fingerprint: String,
}

/// `DatetimeRange`: ISO8601 strings.
#[skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct DatetimeRange {
    pub begin: String,
    pub end: Option<String>,
}

/// `ProvisionalConfiguration`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ProvisionalConfiguration {
    pub max_time_to_live_in_minutes: i64,
}

/// `BorrowConfiguration`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct BorrowConfiguration {
    pub allow_early_check_in: bool,
    pub max_time_to_live_in_minutes: i64,
}

/// `ConsumptionConfiguration`.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ConsumptionConfiguration {
    pub renew_type: Option<String>,
    pub provisional_configuration: Option<ProvisionalConfiguration>,
    pub borrow_configuration: Option<BorrowConfiguration>,
}

/// `License`: one immutable version of a license.
#[skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct License {
    pub license_arn: String,
    pub license_name: String,
    pub product_name: String,
    #[serde(rename = "ProductSKU")]
    pub product_sku: String,
    pub issuer: IssuerDetails,
    pub home_region: String,
    pub status: String,
    pub validity: DatetimeRange,
    pub beneficiary: Option<String>,
    pub entitlements: Vec<Entitlement>,
    pub consumption_configuration: ConsumptionConfiguration,
    pub license_metadata: Option<Vec<Metadata>>,
    pub create_time: String,
    pub version: String,
}

/// `Options` of a grant.
#[skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct GrantOptions {
    pub activation_override_behavior: Option<String>,
    pub desired_status: Option<String>,
}

/// `Grant`: one version of a grant.
#[skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Grant {
    pub grant_arn: String,
    pub grant_name: String,
    pub parent_arn: String,
    pub license_arn: String,
    pub grantee_principal_arn: String,
    pub home_region: String,
    pub grant_status: String,
    pub status_reason: Option<String>,
    pub version: String,
    pub granted_operations: Vec<String>,
    pub grant_type: Option<String>,
    pub options: Option<GrantOptions>,
}

/// `ProductInformation` of a license configuration (kept as given).
pub type ProductInformation = serde_json::Value;
