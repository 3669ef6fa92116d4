//! license-events' part of the demo: the ISV deactivates a license it granted to the customer
//! and the emulator's `License Change` makes the customer's stack print `License Status
//! Changed`; a license near its end prints `License Expiring`; the daily sweep, fired on
//! demand, finds nothing new to say.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use aws_sdk_licensemanager::types::{
    AllowedOperation, ConsumptionConfiguration, Entitlement, EntitlementUnit, GrantStatus, Issuer,
    LicenseStatus,
};
use local_test_kit::bus;
use local_test_kit::clients::{Account, REGION, sdk_error};
use local_test_kit::licenses::{client_token, set_license_status, validity_from_now};
use serde_json::Value;

use crate::context::{Context, Flow, FlowFuture};
use crate::event_sources::describe_invocation;
use crate::report::{Recorder, done};

/// The function's binary.
pub const FUNCTION: &str = "license-events";
/// How long the demo waits for an event to go through both functions.
const PATIENCE: Duration = Duration::from_secs(15);

/// The license-events flow.
pub const FLOW: Flow = Flow {
    title: "license-events: License Manager's events become License Status Changed and License Expiring",
    steps: boxed,
};

fn boxed<'a>(context: &'a mut Context, recorder: &'a mut Recorder) -> FlowFuture<'a> {
    Box::pin(run(context, recorder))
}

async fn run(context: &mut Context, recorder: &mut Recorder) -> Result<()> {
    let Some(app) = &context.app else {
        bail!("the template's functions are not running");
    };
    if app.runtime.function(FUNCTION).is_none() {
        bail!("{FUNCTION} is not in the template");
    }
    let events_queue = context.events_queue_url()?;
    let sqs = context.clients.sqs.clone();
    let isv = context.clients.isv.clone();
    let customer = context.clients.customer.clone();

    recorder
        .step(
            "the ISV deactivates a license it granted to the customer (CreateLicenseVersion DEACTIVATED): the customer's stack reports it",
            async {
                let license = granted_license(&isv, &customer, "Acme Insights", "acme-insights", 365).await?;
                set_license_status(&isv, &license, LicenseStatus::Deactivated).await?;
                let event = wait_for(&sqs, &events_queue, "License Status Changed", &license).await?;
                let mut details = format!("{license} is DEACTIVATED\n");
                details.push_str(&invocations(context));
                let _ = write!(details, "\non the project's bus:\n{}", bus::describe(&event));
                done((), details)
            },
        )
        .await?;

    recorder
        .step(
            "a license granted to the customer ends in 7 days: License Expiring, once",
            async {
                let license =
                    granted_license(&isv, &customer, "Acme Trial", "acme-trial", 7).await?;
                let event = wait_for(&sqs, &events_queue, "License Expiring", &license).await?;
                let mut details = invocations(context);
                let _ = write!(
                    details,
                    "\non the project's bus:\n{}",
                    bus::describe(&event)
                );
                done((), details)
            },
        )
        .await?;

    recorder
        .step(
            &format!("the daily sweep (`local-stack fire {FUNCTION}`) finds nothing new to report"),
            async {
                let records = app.runtime.fire(FUNCTION, &sqs).await?;
                let outcome = records.first().context("no schedule fired")?;
                let summary = outcome
                    .invocation
                    .result
                    .as_ref()
                    .map_err(|error| anyhow::anyhow!("the sweep failed: {error:?}"))?;
                let events = bus::receive(&sqs, &events_queue, 0, Duration::from_secs(1)).await?;
                ensure!(events.is_empty(), "a repeated sweep emitted {events:?}");
                let examined = summary["licenses"].as_array().map_or(0, Vec::len);
                done(
                    (),
                    format!(
                        "{} <- fire: {examined} license(s) checked, nothing new on the project's bus",
                        outcome.function
                    ),
                )
            },
        )
        .await?;
    Ok(())
}

/// The ISV issues a license ending in `days` and grants it to the customer; grant-acceptor
/// (the local trust policy trusts the ISV) activates the grant. The license's ARN.
async fn granted_license(
    isv: &Account,
    customer: &Account,
    name: &str,
    sku: &str,
    days: i64,
) -> Result<String> {
    let license = isv
        .license_manager
        .create_license()
        .license_name(name)
        .product_name(name)
        .product_sku(sku)
        .issuer(
            Issuer::builder()
                .name(super::scenario::ISSUER_NAME)
                .build()?,
        )
        .home_region(REGION)
        .validity(validity_from_now(Some(days))?)
        .entitlements(
            Entitlement::builder()
                .name("Users")
                .unit(EntitlementUnit::Count)
                .max_count(10)
                .build()?,
        )
        .beneficiary(customer.id)
        .consumption_configuration(ConsumptionConfiguration::builder().build())
        .client_token(client_token())
        .send()
        .await
        .map_err(sdk_error)?
        .license_arn
        .context("no LicenseArn")?;
    let grant = isv
        .license_manager
        .create_grant()
        .grant_name(format!("{name} for {}", customer.id))
        .license_arn(&license)
        .principals(format!("arn:aws:iam::{}:root", customer.id))
        .home_region(REGION)
        .allowed_operations(AllowedOperation::CheckoutLicense)
        .client_token(client_token())
        .send()
        .await
        .map_err(sdk_error)?
        .grant_arn
        .context("no GrantArn")?;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let status = customer
            .license_manager
            .get_grant()
            .grant_arn(&grant)
            .send()
            .await
            .map_err(sdk_error)?
            .grant
            .map(|grant| grant.grant_status().clone());
        if status == Some(GrantStatus::Active) {
            return Ok(license);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("grant-acceptor did not activate {grant} ({status:?})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads the project's bus until an event of `detail_type` about `license_arn` arrives
/// (grant-acceptor's events about the same grants are read past).
async fn wait_for(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    detail_type: &str,
    license_arn: &str,
) -> Result<Value> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    while tokio::time::Instant::now() < deadline {
        for event in bus::receive(sqs, queue_url, 1, Duration::from_secs(2)).await? {
            if event["detail-type"] == detail_type && event["detail"]["licenseArn"] == license_arn {
                return Ok(event);
            }
            seen.push(bus::describe(&event));
        }
    }
    bail!(
        "no {detail_type} about {license_arn} on the project's bus within {PATIENCE:?}; saw:\n{}",
        seen.join("\n")
    )
}

/// license-events' invocations recorded since the last call, one line each.
fn invocations(context: &Context) -> String {
    let mut lines = String::new();
    let Some(records) = &context.records else {
        return lines;
    };
    let mut records = records
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    while let Ok(record) = records.try_recv() {
        if record.function.contains("LicenseEvents") {
            let described = describe_invocation(&record);
            let _ = writeln!(
                lines,
                "{} <- {}: {}",
                record.function, record.trigger, described["result"]
            );
        }
    }
    lines.trim_end().to_owned()
}
