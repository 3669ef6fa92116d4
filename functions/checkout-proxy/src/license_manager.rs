//! The License Manager adapter: every License Manager call this function makes lives here
//! (the workspace's IAM policy test reads this crate to check the template's policy).
//!
//! The frame (client, call gate, retry, counts) is shared: see
//! [`license_automation::calls::LicenseManagerBase`]. Calls are bounded in flight and retried
//! briefly when transient: the retries are few and short because a person or an app waits on
//! the other end (API Gateway gives up after 30 s); what still fails is answered with 429 or
//! 503.

use std::time::Duration;

use aws_sdk_licensemanager::types::{
    CheckoutType as SdkCheckoutType, DigitalSignatureMethod, EntitlementData, EntitlementDataUnit,
    Filter, License, Metadata,
};
use license_automation::calls::FailureKind;
use license_automation::retry::RetryPolicy;
use serde_json::{Value, json};

use crate::checkout::{CheckoutType, EntitlementRequest, MetadataEntry, token_reference};

pub use license_automation::calls::{CallStats, LicenseManagerError};

/// Most pages of licenses read for one listing (100 each); a customer with more licenses of
/// the issuer gets an error naming ListLicenses rather than part of the list.
const MAX_LICENSE_PAGES: usize = 10;

license_automation::license_manager_adapter! {
    /// License Manager, as checkout-proxy calls it (retrying with [`interactive_retry`]).
    pub struct LicenseManager;
    retry = interactive_retry()
}

/// What a checkout or borrow returned, as the API answers it (camelCase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// The license consumption token.
    pub token: String,
    /// When the checkout expires (RFC 3339), if it does.
    pub expiration: Option<String>,
    /// The API's JSON for it.
    pub body: Value,
}

/// The retry policy of an interactive call: three attempts within about half a second.
pub fn interactive_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
    }
}

impl LicenseManager {
    /// CheckoutLicense of `sku` from the issuer `key_fingerprint` for `beneficiary`.
    #[allow(clippy::too_many_arguments)]
    pub async fn checkout(
        &self,
        sku: &str,
        checkout_type: CheckoutType,
        key_fingerprint: &str,
        beneficiary: &str,
        entitlements: &[EntitlementRequest],
        node_id: Option<&str>,
        client_token: &str,
    ) -> Result<Checkout, LicenseManagerError> {
        let entitlements = sdk_entitlements(entitlements)?;
        let output = self
            .call("CheckoutLicense", sku, |lm| {
                lm.checkout_license()
                    .product_sku(sku)
                    .checkout_type(SdkCheckoutType::from(checkout_type.as_str()))
                    .key_fingerprint(key_fingerprint)
                    .beneficiary(beneficiary)
                    .set_entitlements(Some(entitlements.clone()))
                    .set_node_id(node_id.map(str::to_owned))
                    .client_token(client_token)
                    .send()
            })
            .await?;
        let token = output
            .license_consumption_token()
            .ok_or_else(|| {
                LicenseManagerError::missing("CheckoutLicense", sku, "LicenseConsumptionToken")
            })?
            .to_owned();
        let body = checkout_body(
            output.license_arn(),
            &token,
            output.checkout_type().map(SdkCheckoutType::as_str),
            output.entitlements_allowed(),
            output.node_id(),
            output.signed_token(),
            output.issued_at(),
            output.expiration(),
        );
        Ok(Checkout {
            token,
            expiration: output.expiration().map(str::to_owned),
            body,
        })
    }

    /// CheckoutBorrowLicense of `license_arn`, signed with PS384.
    pub async fn borrow(
        &self,
        license_arn: &str,
        entitlements: &[EntitlementRequest],
        node_id: Option<&str>,
        metadata: Option<&[MetadataEntry]>,
        client_token: &str,
    ) -> Result<Checkout, LicenseManagerError> {
        let entitlements = sdk_entitlements(entitlements)?;
        let metadata = metadata.map(|entries| {
            entries
                .iter()
                .map(|entry| {
                    Metadata::builder()
                        .name(&entry.name)
                        .value(&entry.value)
                        .build()
                })
                .collect::<Vec<_>>()
        });
        let output = self
            .call("CheckoutBorrowLicense", license_arn, |lm| {
                lm.checkout_borrow_license()
                    .license_arn(license_arn)
                    .set_entitlements(Some(entitlements.clone()))
                    .digital_signature_method(DigitalSignatureMethod::JwtPs384)
                    .set_node_id(node_id.map(str::to_owned))
                    .set_checkout_metadata(metadata.clone())
                    .client_token(client_token)
                    .send()
            })
            .await?;
        let token = output
            .license_consumption_token()
            .ok_or_else(|| {
                LicenseManagerError::missing(
                    "CheckoutBorrowLicense",
                    license_arn,
                    "LicenseConsumptionToken",
                )
            })?
            .to_owned();
        let mut body = checkout_body(
            output.license_arn(),
            &token,
            None,
            output.entitlements_allowed(),
            output.node_id(),
            output.signed_token(),
            output.issued_at(),
            output.expiration(),
        );
        if !output.checkout_metadata().is_empty() {
            body["checkoutMetadata"] = output
                .checkout_metadata()
                .iter()
                .map(|m| json!({"name": m.name(), "value": m.value()}))
                .collect();
        }
        Ok(Checkout {
            token,
            expiration: output.expiration().map(str::to_owned),
            body,
        })
    }

    /// ExtendLicenseConsumption of `token`; its new expiration (RFC 3339).
    pub async fn extend(&self, token: &str) -> Result<String, LicenseManagerError> {
        // Errors and retry logs name the token by its digest: it is a bearer credential.
        let target = token_reference(token);
        let output = self
            .call("ExtendLicenseConsumption", &target, |lm| {
                lm.extend_license_consumption()
                    .license_consumption_token(token)
                    .send()
            })
            .await
            .map_err(|error| without_token(error, token))?;
        output.expiration().map(str::to_owned).ok_or_else(|| {
            LicenseManagerError::missing("ExtendLicenseConsumption", &target, "Expiration")
        })
    }

    /// CheckInLicense of `token`, naming the beneficiary that checked it out.
    pub async fn check_in(
        &self,
        token: &str,
        beneficiary: &str,
    ) -> Result<(), LicenseManagerError> {
        self.call("CheckInLicense", &token_reference(token), |lm| {
            lm.check_in_license()
                .license_consumption_token(token)
                .beneficiary(beneficiary)
                .send()
        })
        .await
        .map(|_| ())
        .map_err(|error| without_token(error, token))
    }

    /// ListLicenses of the issuer `key_fingerprint` whose beneficiary is `beneficiary`
    /// (only `license_arn`, when given), every page up to a bound.
    pub async fn licenses_of(
        &self,
        beneficiary: &str,
        key_fingerprint: &str,
        license_arn: Option<&str>,
    ) -> Result<Vec<License>, LicenseManagerError> {
        let filters = vec![
            Filter::builder()
                .name("Beneficiary")
                .values(beneficiary)
                .build(),
            Filter::builder()
                .name("Fingerprint")
                .values(key_fingerprint)
                .build(),
        ];
        let licenses = self.list_licenses(filters, license_arn).await?;
        // The filters are License Manager's; who a license belongs to is checked here
        // too, so that a filter the service ignored could never show one customer
        // another's license.
        Ok(licenses
            .into_iter()
            .filter(|license| {
                license.beneficiary() == Some(beneficiary) && issued_by(license, key_fingerprint)
            })
            .collect())
    }

    /// The distinct `Issuer.SignKey`s of the licenses issued under `key_fingerprint`
    /// (ListLicenses, every page up to a bound): the KMS keys that sign their tokens.
    pub async fn sign_keys(
        &self,
        key_fingerprint: &str,
    ) -> Result<Vec<String>, LicenseManagerError> {
        let filters = vec![
            Filter::builder()
                .name("Fingerprint")
                .values(key_fingerprint)
                .build(),
        ];
        let mut keys: Vec<String> = self
            .list_licenses(filters, None)
            .await?
            .iter()
            .filter(|license| issued_by(license, key_fingerprint))
            .filter_map(|license| license.issuer()?.sign_key().map(str::to_owned))
            .collect();
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// ListLicenses with `filters` (only `license_arn`, when given), every page up to
    /// [`MAX_LICENSE_PAGES`].
    async fn list_licenses(
        &self,
        filters: Vec<Filter>,
        license_arn: Option<&str>,
    ) -> Result<Vec<License>, LicenseManagerError> {
        let mut licenses = Vec::new();
        self.paginate(
            "ListLicenses",
            license_arn.unwrap_or_default(),
            MAX_LICENSE_PAGES,
            |lm, next_token| {
                lm.list_licenses()
                    .set_filters(Some(filters.clone()))
                    .set_license_arns(license_arn.map(|arn| vec![arn.to_owned()]))
                    .max_results(100)
                    .set_next_token(next_token)
                    .send()
            },
            |output| {
                licenses.extend(output.licenses.unwrap_or_default());
                output.next_token
            },
        )
        .await?;
        Ok(licenses)
    }

    /// GetLicenseUsage of `license_arn`, as the API answers it.
    pub async fn usage(&self, license_arn: &str) -> Result<Value, LicenseManagerError> {
        let output = self
            .call("GetLicenseUsage", license_arn, |lm| {
                lm.get_license_usage().license_arn(license_arn).send()
            })
            .await?;
        let usages: Vec<Value> = output
            .license_usage()
            .map(|usage| usage.entitlement_usages())
            .unwrap_or_default()
            .iter()
            .map(|usage| {
                let mut entry = json!({
                    "name": usage.name(),
                    "unit": usage.unit().as_str(),
                    "consumedValue": usage.consumed_value(),
                });
                if let Some(max) = usage.max_count() {
                    entry["maxCount"] = json!(max);
                }
                entry
            })
            .collect();
        Ok(json!({"licenseArn": license_arn, "entitlementUsages": usages}))
    }
}

fn sdk_entitlements(
    entitlements: &[EntitlementRequest],
) -> Result<Vec<EntitlementData>, LicenseManagerError> {
    entitlements
        .iter()
        .map(|e| {
            EntitlementData::builder()
                .name(&e.name)
                .unit(EntitlementDataUnit::from(e.unit.as_str()))
                .set_value(e.value.clone())
                .build()
                .map_err(|error| LicenseManagerError {
                    operation: "CheckoutLicense",
                    target: e.name.clone(),
                    code: Some("ValidationException".into()),
                    message: error.to_string(),
                    kind: FailureKind::Permanent,
                    attempts: 0,
                })
        })
        .collect()
}

/// The checkout result the README and `openapi.yaml` document (camelCase; absent members left
/// out).
#[allow(clippy::too_many_arguments)]
fn checkout_body(
    license_arn: Option<&str>,
    token: &str,
    checkout_type: Option<&str>,
    entitlements: &[EntitlementData],
    node_id: Option<&str>,
    signed_token: Option<&str>,
    issued_at: Option<&str>,
    expiration: Option<&str>,
) -> Value {
    let mut body = json!({
        "licenseArn": license_arn,
        "licenseConsumptionToken": token,
        "entitlementsAllowed": entitlements.iter().map(|e| {
            let mut entry = json!({"name": e.name(), "unit": e.unit().as_str()});
            if let Some(value) = e.value() {
                entry["value"] = json!(value);
            }
            entry
        }).collect::<Vec<_>>(),
        "reused": false,
    });
    for (name, value) in [
        ("checkoutType", checkout_type),
        ("nodeId", node_id),
        ("signedToken", signed_token),
        ("issuedAt", issued_at),
        ("expiration", expiration),
    ] {
        if let Some(value) = value {
            body[name] = json!(value);
        }
    }
    body
}

/// Whether `license` was issued under `key_fingerprint`.
fn issued_by(license: &License, key_fingerprint: &str) -> bool {
    license.issuer().and_then(|issuer| issuer.key_fingerprint()) == Some(key_fingerprint)
}

/// A license as `GET /v1/licenses` lists it.
pub fn license_summary(license: &License) -> Value {
    let license_arn = license.license_arn().unwrap_or_default();
    let mut summary = json!({
        "licenseArn": license_arn,
        "licenseId": license_arn.rsplit(':').next().unwrap_or_default(),
        "licenseName": license.license_name(),
        "productName": license.product_name(),
        "productSku": license.product_sku(),
        "status": license.status().map(|s| s.as_str()),
        "entitlements": license.entitlements().iter().map(|e| {
            let mut entry = json!({"name": e.name(), "unit": e.unit().as_str()});
            if let Some(max) = e.max_count() {
                entry["maxCount"] = json!(max);
            }
            if let Some(overage) = e.overage() {
                entry["overage"] = json!(overage);
            }
            entry
        }).collect::<Vec<_>>(),
    });
    if let Some(validity) = license.validity() {
        summary["validity"] = json!({"begin": validity.begin()});
        if let Some(end) = validity.end() {
            summary["validity"]["end"] = json!(end);
        }
    }
    if let Some(consumption) = license.consumption_configuration() {
        if let Some(provisional) = consumption.provisional_configuration() {
            summary["provisionalMaxTimeToLiveInMinutes"] =
                json!(provisional.max_time_to_live_in_minutes());
        }
        if let Some(borrow) = consumption.borrow_configuration() {
            summary["borrowMaxTimeToLiveInMinutes"] = json!(borrow.max_time_to_live_in_minutes());
        }
    }
    // Strip nulls so that absent members are absent, as the OpenAPI document says.
    if let Some(object) = summary.as_object_mut() {
        object.retain(|_, value| !value.is_null());
    }
    summary
}

/// `error` with every mention of `token` in its message replaced by the token's reference:
/// License Manager's messages may quote the token, and errors are logged.
fn without_token(mut error: LicenseManagerError, token: &str) -> LicenseManagerError {
    if !token.is_empty() {
        error.message = error.message.replace(token, &token_reference(token));
    }
    error
}
