//! The checkout API's fixture: the license the stack's account, as ISV Contoso, issues its
//! customers, and the body of a checkout of it. The demo's checkout flow and the tests of
//! checkout-proxy and of the stack use the same license.

use anyhow::{Context as _, Result, anyhow};
use aws_sdk_licensemanager::types::{
    BorrowConfiguration, ConsumptionConfiguration, Entitlement, EntitlementUnit, Issuer,
    ProvisionalConfiguration,
};
use serde_json::{Value, json};

use crate::clients::{Account, CUSTOMER_ACCOUNT, REGION, sdk_config, sdk_error};
use crate::licenses::{client_token, key_fingerprint, validity_from_now};

/// The issuer name of the licenses the stack's account sells through the checkout API.
pub const ISSUER_NAME: &str = "Contoso";
/// Their product.
pub const PRODUCT_SKU: &str = "contoso-notes-pro";
/// The customer (the `sub` of its token, the Beneficiary of its license).
pub const CUSTOMER: &str = "customer-a";
/// Another customer of the same ISV.
pub const OTHER_CUSTOMER: &str = "customer-b";
/// Seats in the customer's license.
pub const SEATS: i64 = 3;

/// `KEY_FINGERPRINT` locally: licenses the stack's account issues as Contoso.
pub fn local_key_fingerprint() -> String {
    key_fingerprint(CUSTOMER_ACCOUNT, ISSUER_NAME)
}

/// The alias of the KMS key that signs Contoso's tokens (its licenses' `Issuer.SignKey`).
pub const SIGN_KEY_ALIAS: &str = "alias/contoso-license-signing";

/// The key id of [`SIGN_KEY_ALIAS`] in `account_id` on the emulator at `url` (which serves
/// KMS on License Manager's port), created (RSA 3072, SIGN_VERIFY) on first use.
pub async fn contoso_sign_key(account_id: &str, url: &str) -> Result<String> {
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(&sdk_config(account_id).await)
            .endpoint_url(url)
            .build(),
    );
    if let Ok(found) = kms.describe_key().key_id(SIGN_KEY_ALIAS).send().await
        && let Some(key) = found.key_metadata()
    {
        return Ok(key.key_id().to_owned());
    }
    let created = kms
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::Rsa3072)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .description("Signs Contoso's license tokens (Issuer.SignKey)")
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "KMS CreateKey: {}",
                aws_sdk_kms::error::DisplayErrorContext(e)
            )
        })?;
    let key_id = created
        .key_metadata()
        .context("CreateKey answered no KeyMetadata")?
        .key_id()
        .to_owned();
    kms.create_alias()
        .alias_name(SIGN_KEY_ALIAS)
        .target_key_id(&key_id)
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "KMS CreateAlias: {}",
                aws_sdk_kms::error::DisplayErrorContext(e)
            )
        })?;
    Ok(key_id)
}

/// Issues `customer` a license for [`PRODUCT_SKU`] from the stack's account as
/// [`ISSUER_NAME`]: `seats` Users (check-in allowed) and 100 Exports; PROVISIONAL checkouts
/// for an hour, borrowing for a day with early check-in. Its ARN.
pub async fn issue_customer_license(
    account: &Account,
    customer: &str,
    seats: i64,
) -> Result<String> {
    issue_signed_customer_license(account, customer, seats, None).await
}

/// Like [`issue_customer_license`], with `sign_key` (a KMS key) as the `Issuer.SignKey`
/// that signs its tokens (`GET /v1/keys` publishes it).
pub async fn issue_signed_customer_license(
    account: &Account,
    customer: &str,
    seats: i64,
    sign_key: Option<&str>,
) -> Result<String> {
    let out = account
        .license_manager
        .create_license()
        .license_name(format!("Contoso Notes Pro for {customer}"))
        .product_name("Contoso Notes Pro")
        .product_sku(PRODUCT_SKU)
        .issuer(
            Issuer::builder()
                .name(ISSUER_NAME)
                .set_sign_key(sign_key.map(str::to_owned))
                .build()?,
        )
        .home_region(REGION)
        .validity(validity_from_now(Some(365))?)
        .entitlements(
            Entitlement::builder()
                .name("Users")
                .unit(EntitlementUnit::Count)
                .max_count(seats)
                .allow_check_in(true)
                .build()?,
        )
        .entitlements(
            Entitlement::builder()
                .name("Exports")
                .unit(EntitlementUnit::Count)
                .max_count(100)
                .build()?,
        )
        .beneficiary(customer)
        .consumption_configuration(
            ConsumptionConfiguration::builder()
                .provisional_configuration(
                    ProvisionalConfiguration::builder()
                        .max_time_to_live_in_minutes(60)
                        .build()?,
                )
                .borrow_configuration(
                    BorrowConfiguration::builder()
                        .max_time_to_live_in_minutes(24 * 60)
                        .allow_early_check_in(true)
                        .build()?,
                )
                .build(),
        )
        .client_token(client_token())
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(out.license_arn().context("no LicenseArn")?.to_owned())
}

/// A PROVISIONAL checkout of `seats` Users, on `node` when given.
pub fn checkout_body(seats: u32, node: Option<&str>) -> Value {
    let mut body = json!({
        "productSku": PRODUCT_SKU,
        "checkoutType": "PROVISIONAL",
        "entitlements": [{"name": "Users", "unit": "Count", "value": seats.to_string()}],
    });
    if let Some(node) = node {
        body["nodeId"] = json!(node);
    }
    body
}
