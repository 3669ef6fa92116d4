//! Seed 001, AWS's self-managed licenses sample: the customer creates a license
//! configuration, reads it, lists its resource inventory, adds product information, and
//! deletes the configuration.

use anyhow::{Context as _, Result, ensure};
use aws_sdk_licensemanager::types::{
    LicenseCountingType, ProductInformation, ProductInformationFilter,
};
use local_test_kit::clients::sdk_error;

use crate::context::{Context, Flow, FlowFuture};
use crate::report::{Recorder, done};

/// The self-managed licenses flow.
pub const FLOW: Flow = Flow {
    title: "self-managed licenses (seed 001): create, get, update, delete a configuration",
    steps: boxed,
};

/// The sample's license count (hard limit).
pub const LICENSE_COUNT: i64 = 123;

fn boxed<'a>(context: &'a mut Context, recorder: &'a mut Recorder) -> FlowFuture<'a> {
    Box::pin(run(context, recorder))
}

async fn run(context: &mut Context, recorder: &mut Recorder) -> Result<()> {
    let client = &context.clients.customer.license_manager;
    let arn = recorder
        .step(
            "create a configuration of 123 instances (hard limit)",
            async {
                let out = client
                    .create_license_configuration()
                    .name("Acme sample configuration")
                    .description("My Sample License Configuration")
                    .license_counting_type(LicenseCountingType::Instance)
                    .license_count(LICENSE_COUNT)
                    .license_count_hard_limit(true)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                let arn = out
                    .license_configuration_arn()
                    .context("no LicenseConfigurationArn")?
                    .to_owned();
                done(arn.clone(), arn)
            },
        )
        .await?;

    recorder
        .step("get the configuration", async {
            let out = client
                .get_license_configuration()
                .license_configuration_arn(&arn)
                .send()
                .await
                .map_err(sdk_error)?;
            ensure!(
                out.license_count() == Some(LICENSE_COUNT),
                "expected LicenseCount {LICENSE_COUNT}, got {:?}",
                out.license_count()
            );
            done(
                (),
                format!(
                    "{}: {} {}, hard limit {}, consumed {}, status {}",
                    out.name().unwrap_or("-"),
                    out.license_count().unwrap_or_default(),
                    out.license_counting_type()
                        .map_or("-", |kind| kind.as_str()),
                    out.license_count_hard_limit().unwrap_or_default(),
                    out.consumed_licenses().unwrap_or_default(),
                    out.status().unwrap_or("-")
                ),
            )
        })
        .await?;

    recorder
        .step("list the resource inventory", async {
            let out = client
                .list_resource_inventory()
                .send()
                .await
                .map_err(sdk_error)?;
            done(
                (),
                format!(
                    "{} resource(s) discovered by Systems Manager inventory",
                    out.resource_inventory_list().len()
                ),
            )
        })
        .await?;

    recorder
        .step(
            "add product information (Application Name = Amazon EC2Launch)",
            async {
                let filter = ProductInformationFilter::builder()
                    .product_information_filter_name("Application Name")
                    .product_information_filter_value("Amazon EC2Launch")
                    .product_information_filter_comparator("EQUALS")
                    .build()?;
                let information = ProductInformation::builder()
                    .resource_type("SSM_MANAGED")
                    .product_information_filter_list(filter)
                    .build()?;
                client
                    .update_license_configuration()
                    .license_configuration_arn(&arn)
                    .product_information_list(information)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                let out = client
                    .get_license_configuration()
                    .license_configuration_arn(&arn)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                let stored =
                    out.product_information_list()
                        .iter()
                        .flat_map(|information| {
                            information.product_information_filter_list().iter().map(
                                move |filter| {
                                    format!(
                                        "{}: {} {} {}",
                                        information.resource_type(),
                                        filter.product_information_filter_name(),
                                        filter.product_information_filter_comparator(),
                                        filter.product_information_filter_value().join(", ")
                                    )
                                },
                            )
                        })
                        .collect::<Vec<_>>();
                ensure!(
                    stored.len() == 1,
                    "expected one product information filter, got {stored:?}"
                );
                done(
                    (),
                    format!("product information now: {}", stored.join("; ")),
                )
            },
        )
        .await?;

    recorder
        .step("delete the configuration", async {
            client
                .delete_license_configuration()
                .license_configuration_arn(&arn)
                .send()
                .await
                .map_err(sdk_error)?;
            let remaining = client
                .list_license_configurations()
                .send()
                .await
                .map_err(sdk_error)?;
            ensure!(
                remaining
                    .license_configurations()
                    .iter()
                    .all(|configuration| configuration.license_configuration_arn()
                        != Some(arn.as_str())),
                "the deleted configuration is still listed"
            );
            done(
                (),
                format!(
                    "the customer has {} configuration(s) left",
                    remaining.license_configurations().len()
                ),
            )
        })
        .await?;
    Ok(())
}
