//! Seed 000, AWS's managed-entitlements sample: the ISV creates a license, reads it, checks
//! out one user (as its own beneficiary), extends the consumption, checks it in, and deletes
//! the license.

use anyhow::{Context as _, Result, ensure};
use aws_sdk_licensemanager::types::{
    CheckoutType, ConsumptionConfiguration, Entitlement, EntitlementData, EntitlementDataUnit,
    EntitlementUnit, Issuer, LicenseStatus, Metadata, ProvisionalConfiguration,
};
use local_test_kit::clients::{REGION, sdk_error};
use local_test_kit::licenses::{
    client_token, consumed, describe_entitlements, key_fingerprint, validity_from_now,
};

use super::scenario::ISSUER_NAME;
use crate::context::{Context, Flow, FlowFuture};
use crate::report::{Recorder, done};

/// The sample's product SKU.
pub const PRODUCT_SKU: &str = "acme-sample-sku";
/// The entitlement the sample checks out.
pub const ENTITLEMENT: &str = "Users";
/// Its MaxCount.
pub const MAX_USERS: i64 = 1000;

/// The managed-entitlements flow.
pub const FLOW: Flow = Flow {
    title: "managed entitlements (seed 000): create, get, checkout, extend, check in, delete",
    steps: boxed,
};

fn boxed<'a>(context: &'a mut Context, recorder: &'a mut Recorder) -> FlowFuture<'a> {
    Box::pin(run(context, recorder))
}

async fn run(context: &mut Context, recorder: &mut Recorder) -> Result<()> {
    let isv = &context.clients.isv;
    let client = &isv.license_manager;
    // Checking out one's own license requires naming oneself as the beneficiary.
    let beneficiary = isv.id;
    let fingerprint = key_fingerprint(isv.id, ISSUER_NAME);

    let license_arn = recorder
        .step("create a license with 1000 Users", async {
            let users = Entitlement::builder()
                .name(ENTITLEMENT)
                .unit(EntitlementUnit::Count)
                .max_count(MAX_USERS)
                .allow_check_in(true)
                .build()?;
            let out = client
                .create_license()
                .license_name("Acme sample license")
                .product_name("Acme sample product")
                .product_sku(PRODUCT_SKU)
                .issuer(Issuer::builder().name(ISSUER_NAME).build()?)
                .home_region(REGION)
                .validity(validity_from_now(None)?)
                .entitlements(users)
                .beneficiary(beneficiary)
                .consumption_configuration(
                    ConsumptionConfiguration::builder()
                        .provisional_configuration(
                            ProvisionalConfiguration::builder()
                                .max_time_to_live_in_minutes(60)
                                .build()?,
                        )
                        .build(),
                )
                .license_metadata(
                    Metadata::builder()
                        .name("ProductName")
                        .value("Acme sample product")
                        .build(),
                )
                .client_token(client_token())
                .send()
                .await
                .map_err(sdk_error)?;
            let arn = out.license_arn().context("no LicenseArn")?.to_owned();
            let details = format!(
                "{arn}\nstatus {}, version {}",
                out.status().map_or("-", LicenseStatus::as_str),
                out.version().unwrap_or("-")
            );
            done(arn, details)
        })
        .await?;

    recorder
        .step("get the license", async {
            let license = client
                .get_license()
                .license_arn(&license_arn)
                .send()
                .await
                .map_err(sdk_error)?
                .license
                .context("GetLicense returned no license")?;
            ensure!(
                license.status() == Some(&LicenseStatus::Available),
                "expected status AVAILABLE, got {:?}",
                license.status()
            );
            done(
                (),
                format!(
                    "{} ({}), status AVAILABLE, version {}\n{}",
                    license.license_name().unwrap_or("-"),
                    license.product_sku().unwrap_or("-"),
                    license.version().unwrap_or("-"),
                    describe_entitlements(license.entitlements())
                ),
            )
        })
        .await?;

    let token = recorder
        .step("check out 1 user (PROVISIONAL)", async {
            let out = client
                .checkout_license()
                .product_sku(PRODUCT_SKU)
                .checkout_type(CheckoutType::Provisional)
                .key_fingerprint(&fingerprint)
                .entitlements(
                    EntitlementData::builder()
                        .name(ENTITLEMENT)
                        .unit(EntitlementDataUnit::Count)
                        .value("1")
                        .build()?,
                )
                .beneficiary(beneficiary)
                .client_token(client_token())
                .send()
                .await
                .map_err(sdk_error)?;
            let token = out
                .license_consumption_token()
                .context("no LicenseConsumptionToken")?
                .to_owned();
            let usage = consumed(client, &license_arn, ENTITLEMENT).await?;
            let details = format!(
                "consumption token {token}\nexpires {}\nUsers in use: {usage}",
                out.expiration().unwrap_or("-")
            );
            done(token, details)
        })
        .await?;

    recorder
        .step("extend the consumption", async {
            let out = client
                .extend_license_consumption()
                .license_consumption_token(&token)
                .send()
                .await
                .map_err(sdk_error)?;
            done(
                (),
                format!(
                    "now expires {} (the 60-minute lease restarts from now)",
                    out.expiration().unwrap_or("-")
                ),
            )
        })
        .await?;

    recorder
        .step("check the user back in", async {
            client
                .check_in_license()
                .license_consumption_token(&token)
                .send()
                .await
                .map_err(sdk_error)?;
            let usage = consumed(client, &license_arn, ENTITLEMENT).await?;
            ensure!(
                usage.starts_with("0 "),
                "after check-in, Users in use: {usage}"
            );
            done((), format!("Users in use: {usage}"))
        })
        .await?;

    recorder
        .step("delete the license (source version 1)", async {
            let out = client
                .delete_license()
                .license_arn(&license_arn)
                .source_version("1")
                .send()
                .await
                .map_err(sdk_error)?;
            done(
                (),
                format!(
                    "status {}, deletion date {}",
                    out.status().map_or("-", |status| status.as_str()),
                    out.deletion_date().unwrap_or("-")
                ),
            )
        })
        .await?;
    Ok(())
}
