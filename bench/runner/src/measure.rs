//! Running one side of a case through lambda-host: fresh processes for cold starts, then
//! warm invocations of the last one.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use lambda_host::{Function, FunctionConfig, Invocation};
use serde::Serialize;
use serde_json::Value;

use crate::cases::answer_error;
use crate::stats::millis;

/// Who runs the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The function's release bootstrap.
    Rust,
    /// Python with boto3 under awslambdaric.
    Boto3,
}

/// What to start and how.
pub struct Target {
    /// Function name (`AWS_LAMBDA_FUNCTION_NAME`).
    pub name: String,
    /// The bootstrap.
    pub bootstrap: PathBuf,
    /// The account it runs as.
    pub account: String,
    /// Its environment.
    pub environment: BTreeMap<String, String>,
    /// Where its output goes.
    pub log_file: PathBuf,
}

/// The samples of one side of one case, in milliseconds and KiB.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Samples {
    /// Init of each fresh process (spawn until its first `next`).
    pub init_ms: Vec<f64>,
    /// The first invocation of each fresh process.
    pub first_ms: Vec<f64>,
    /// Warm invocations of one process, as their caller sees them (through the host).
    pub warm_ms: Vec<f64>,
    /// The same invocations' durations as the host reports them (from the process taking
    /// the event until its answer, Lambda's duration).
    pub duration_ms: Vec<f64>,
    /// Peak RSS of each fresh process after its first invocation.
    pub cold_rss_kib: Vec<u64>,
    /// Peak RSS of the warm process after all its invocations.
    pub peak_rss_kib: Option<u64>,
}

/// One side of one case: what to start, the event of every invocation, how many warm
/// invocations.
pub struct Planned {
    /// What to start.
    pub target: Target,
    /// The event.
    pub event: Value,
    /// Warm invocations after the cold starts.
    pub warm: usize,
}

/// Starts `cold` fresh processes of every target (one invocation each), in rounds that take
/// each target in turn, so that a change of load during the run weighs on every side alike;
/// then makes each target's warm invocations on its last process. Any failed invocation
/// fails the measurement: a benchmark of errors measures nothing.
pub async fn measure(planned: Vec<Planned>, cold: usize) -> Result<Vec<Samples>> {
    let runs: Vec<(Function, Planned)> = planned
        .into_iter()
        .map(|planned| {
            let target = &planned.target;
            let mut config = FunctionConfig::new(&target.name, &target.bootstrap);
            config.environment = target.environment.clone();
            config.account = target.account.clone();
            config.timeout = Duration::from_secs(30);
            config.log_file = Some(target.log_file.clone());
            (Function::new(config), planned)
        })
        .collect();
    let mut all = vec![Samples::default(); runs.len()];
    for _ in 0..cold.max(1) {
        for ((function, planned), samples) in runs.iter().zip(&mut all) {
            let name = &planned.target.name;
            function.recycle().await;
            let invocation = checked(name, function.invoke(planned.event.clone()).await)?;
            let Some(init) = invocation.init else {
                bail!("{name}: a recycled function was not started afresh");
            };
            samples.init_ms.push(millis(init));
            samples.first_ms.push(millis(invocation.duration));
            samples.cold_rss_kib.extend(invocation.max_rss_kib);
        }
    }
    for ((function, planned), samples) in runs.iter().zip(&mut all) {
        let side = planned.target.log_file.file_stem().unwrap_or_default();
        eprintln!("{}: {} warm", side.display(), planned.warm);
        for _ in 0..planned.warm {
            // The caller's clock, like the raw round trip's: from handing the event to the
            // host until the answer is back, so the host's hand-over counts on every side.
            let started = Instant::now();
            let invocation = function.invoke(planned.event.clone()).await;
            let elapsed = started.elapsed();
            let invocation = checked(&planned.target.name, invocation)?;
            samples.warm_ms.push(millis(elapsed));
            samples.duration_ms.push(millis(invocation.duration));
            samples.peak_rss_kib = invocation.max_rss_kib;
        }
        function.recycle().await;
    }
    Ok(all)
}

fn checked(name: &str, invocation: Invocation) -> Result<Invocation> {
    match &invocation.result {
        Err(error) => bail!(
            "{name}: invocation {} failed: {error}",
            invocation.request_id
        ),
        Ok(answer) => match answer_error(answer) {
            Some(error) => bail!("{name}: invocation {}: {error}", invocation.request_id),
            None => Ok(invocation),
        },
    }
}

/// `count` CheckoutLicense calls straight to the emulator through the Rust SDK, one at a
/// time: the round trip a checkout through a function adds its own cost to. With `links`
/// (moto's DynamoDB and the state table), each is followed by the conditional PutItem that
/// links the consumption token to its customer, as checkout-proxy does.
pub async fn raw_checkouts(
    client: &aws_sdk_licensemanager::Client,
    links: Option<(&aws_sdk_dynamodb::Client, &str)>,
    count: usize,
) -> Result<Vec<f64>> {
    use aws_sdk_dynamodb::types::AttributeValue;
    use aws_sdk_licensemanager::types::{CheckoutType, EntitlementData, EntitlementDataUnit};
    let entitlement = EntitlementData::builder()
        .name(crate::world::ENTITLEMENT)
        .unit(EntitlementDataUnit::None)
        .build()?;
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let request = client
            .checkout_license()
            .product_sku(crate::world::SKU)
            .checkout_type(CheckoutType::Provisional)
            .key_fingerprint(crate::world::key_fingerprint())
            .entitlements(entitlement.clone())
            .beneficiary(crate::world::BENEFICIARY)
            .client_token(uuid::Uuid::new_v4().simple().to_string());
        let started = Instant::now();
        let output = request
            .send()
            .await
            .map_err(local_test_kit::clients::sdk_error)?;
        if let Some((dynamodb, table)) = links {
            let at = time::OffsetDateTime::now_utc();
            let now = at.unix_timestamp();
            let updated_at = at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            let token = output.license_consumption_token().unwrap_or_default();
            let link = serde_json::json!({
                "beneficiary": crate::world::BENEFICIARY,
                "licenseArn": output.license_arn().unwrap_or_default(),
                "checkoutType": "PROVISIONAL",
            });
            dynamodb
                .put_item()
                .table_name(table)
                .item("pk", AttributeValue::S(format!("lease#{token}")))
                .item("state", AttributeValue::S(link.to_string()))
                .item("updatedAt", AttributeValue::S(updated_at))
                .item("expiresAt", AttributeValue::N((now + 4200).to_string()))
                .condition_expression("attribute_not_exists(#pk) OR #expiresAt <= :now")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_names("#expiresAt", "expiresAt")
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .send()
                .await
                .map_err(local_test_kit::clients::sdk_error)?;
        }
        samples.push(millis(started.elapsed()));
    }
    Ok(samples)
}
