//! The seeded scenario: ISV Acme (111122223333) issues a license and grants it to customer
//! 123456789012, where the grant waits for acceptance (the grant-acceptor's job); the customer
//! also has a license configuration close to its soft limit (the soft-limit monitor's job).

use anyhow::{Context as _, Result, ensure};
use aws_sdk_licensemanager::types::{
    AllowedOperation, BorrowConfiguration, ConsumptionConfiguration, Entitlement, EntitlementUnit,
    GrantStatus, Issuer, LicenseCountingType, LicenseSpecification, ProvisionalConfiguration,
};
use local_test_kit::clients::{Account, REGION, sdk_error};
use local_test_kit::licenses::{
    client_token, describe_entitlements, key_fingerprint, validity_from_now,
};

use crate::context::{Context, Flow, FlowFuture, Scenario};
use crate::report::{Recorder, done};

/// The ISV's issuer name.
pub const ISSUER_NAME: &str = "Acme";
/// The product the ISV licenses (matches the trust policy's `acme-*`).
pub const PRODUCT_SKU: &str = "acme-analytics-pro";
/// Its display name.
pub const PRODUCT_NAME: &str = "Acme Analytics Pro";
/// Seats in the license.
pub const USERS: i32 = 25;
/// Licenses in the customer's soft-limited configuration.
pub const CONFIGURATION_COUNT: i64 = 10;
/// Instances associated with it: close to, but under, its limit.
pub const CONFIGURATION_CONSUMED: i64 = 9;

/// The scenario flow.
pub const FLOW: Flow = Flow {
    title: "scenario: Acme (ISV 111122223333) grants a license to customer 123456789012",
    steps: boxed,
};

fn boxed<'a>(context: &'a mut Context, recorder: &'a mut Recorder) -> FlowFuture<'a> {
    Box::pin(run(context, recorder))
}

async fn run(context: &mut Context, recorder: &mut Recorder) -> Result<()> {
    let isv = &context.clients.isv;
    let customer = &context.clients.customer;
    let (license_arn, fingerprint) = recorder
        .step(
            &format!("Acme creates a license for {PRODUCT_NAME}"),
            create_license(isv, customer.id),
        )
        .await?;
    let grant_arn = recorder
        .step(
            &format!("Acme grants it to account {}", customer.id),
            async {
                let out = isv
                    .license_manager
                    .create_grant()
                    .grant_name(format!("{PRODUCT_NAME} for {}", customer.id))
                    .license_arn(&license_arn)
                    .principals(format!("arn:aws:iam::{}:root", customer.id))
                    .home_region(REGION)
                    .allowed_operations(AllowedOperation::CheckoutLicense)
                    .allowed_operations(AllowedOperation::CheckInLicense)
                    .allowed_operations(AllowedOperation::ExtendConsumptionLicense)
                    .allowed_operations(AllowedOperation::CheckoutBorrowLicense)
                    .allowed_operations(AllowedOperation::ListPurchasedLicenses)
                    .client_token(client_token())
                    .send()
                    .await
                    .map_err(sdk_error)?;
                let arn = out.grant_arn().context("no GrantArn")?.to_owned();
                let status = out.status().map_or("-", GrantStatus::as_str);
                let details = format!(
                    "{arn}\nstatus {status}, version {}",
                    out.version().unwrap_or("-")
                );
                done(arn, details)
            },
        )
        .await?;
    recorder
        .step("the customer sees the grant it received", async {
            let out = customer
                .license_manager
                .list_received_grants()
                .send()
                .await
                .map_err(sdk_error)?;
            let grant = out
                .grants()
                .iter()
                .find(|grant| grant.grant_arn() == grant_arn)
                .context("the grant is not among the customer's received grants")?;
            done(
                (),
                format!(
                    "{} received grant(s); this one is {} from account {}\n\
                     accepting and activating it is the grant-acceptor function's job \
                     (its Grant Change event is on its way)",
                    out.grants().len(),
                    grant.grant_status().as_str(),
                    grant.parent_arn().split(':').nth(4).unwrap_or("?")
                ),
            )
        })
        .await?;
    let configuration_arn = recorder
        .step(
            "the customer creates a license configuration with a soft limit",
            async {
                let out = customer
                    .license_manager
                    .create_license_configuration()
                    .name(format!("{PRODUCT_NAME} instances"))
                    .description("Instances running Acme Analytics Pro (soft limit: alert only)")
                    .license_counting_type(LicenseCountingType::Instance)
                    .license_count(CONFIGURATION_COUNT)
                    .license_count_hard_limit(false)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                let arn = out
                    .license_configuration_arn()
                    .context("no LicenseConfigurationArn")?
                    .to_owned();
                let details = format!("{arn}\n{CONFIGURATION_COUNT} instances, soft limit");
                done(arn, details)
            },
        )
        .await?;
    recorder
        .step(
            &format!(
                "{CONFIGURATION_CONSUMED} of the customer's instances use it (near the soft limit)"
            ),
            async {
                for n in 1..=CONFIGURATION_CONSUMED {
                    let specification = LicenseSpecification::builder()
                        .license_configuration_arn(&configuration_arn)
                        .build()?;
                    customer
                        .license_manager
                        .update_license_specifications_for_resource()
                        .resource_arn(format!(
                            "arn:aws:ec2:{REGION}:{}:instance/i-{n:017x}",
                            customer.id
                        ))
                        .add_license_specifications(specification)
                        .send()
                        .await
                        .map_err(sdk_error)?;
                }
                let out = customer
                    .license_manager
                    .get_license_configuration()
                    .license_configuration_arn(&configuration_arn)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                let consumed = out.consumed_licenses().unwrap_or_default();
                ensure!(
                    consumed == CONFIGURATION_CONSUMED,
                    "expected {CONFIGURATION_CONSUMED} consumed licenses, got {consumed}"
                );
                done(
                    (),
                    format!(
                        "consumed {consumed} of {} ({}%), hard limit: {}",
                        out.license_count().unwrap_or_default(),
                        consumed * 100 / CONFIGURATION_COUNT,
                        out.license_count_hard_limit().unwrap_or_default()
                    ),
                )
            },
        )
        .await?;
    context.scenario = Some(Scenario {
        license_arn,
        key_fingerprint: fingerprint,
        grant_arn,
        configuration_arn,
    });
    Ok(())
}

/// CreateLicense as the ISV, then GetLicense to read back its KeyFingerprint.
async fn create_license(
    isv: &Account,
    beneficiary: &str,
) -> Result<crate::report::Done<(String, String)>> {
    let users = Entitlement::builder()
        .name("Users")
        .unit(EntitlementUnit::Count)
        .max_count(i64::from(USERS))
        .overage(false)
        .allow_check_in(true)
        .build()?;
    let support = Entitlement::builder()
        .name("Premium support")
        .unit(EntitlementUnit::None)
        .value("Enabled")
        .build()?;
    let consumption = ConsumptionConfiguration::builder()
        .provisional_configuration(
            ProvisionalConfiguration::builder()
                .max_time_to_live_in_minutes(60)
                .build()?,
        )
        .borrow_configuration(
            BorrowConfiguration::builder()
                .max_time_to_live_in_minutes(1440)
                .allow_early_check_in(true)
                .build()?,
        )
        .build();
    let out = isv
        .license_manager
        .create_license()
        .license_name(format!("{PRODUCT_NAME} - annual subscription"))
        .product_name(PRODUCT_NAME)
        .product_sku(PRODUCT_SKU)
        .issuer(Issuer::builder().name(ISSUER_NAME).build()?)
        .home_region(REGION)
        .validity(validity_from_now(Some(365))?)
        .entitlements(users)
        .entitlements(support)
        .beneficiary(beneficiary)
        .consumption_configuration(consumption)
        .client_token(client_token())
        .send()
        .await
        .map_err(sdk_error)?;
    let arn = out.license_arn().context("no LicenseArn")?.to_owned();
    let license = isv
        .license_manager
        .get_license()
        .license_arn(&arn)
        .send()
        .await
        .map_err(sdk_error)?
        .license
        .context("GetLicense returned no license")?;
    let fingerprint = license
        .issuer()
        .and_then(|issuer| issuer.key_fingerprint())
        .context("the license has no KeyFingerprint")?
        .to_owned();
    let expected = key_fingerprint(isv.id, ISSUER_NAME);
    ensure!(
        fingerprint == expected,
        "KeyFingerprint {fingerprint}, expected {expected}"
    );
    let details = format!(
        "{arn}\nstatus {}, version {}, SKU {PRODUCT_SKU}\n{}\nfingerprint {fingerprint}",
        license.status().map_or("-", |status| status.as_str()),
        license.version().unwrap_or("-"),
        describe_entitlements(license.entitlements()),
    );
    done((arn, fingerprint), details)
}
