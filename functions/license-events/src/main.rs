//! Wiring only: telemetry, configuration and clients once per cold start, then the runtime.
// The handler future nests the coalesced sweep's async closure and the adapter frame's futures
// under the ports' generic ones; rustc's query depth for its layout needs more than the
// default 128 in a fresh build.
#![recursion_limit = "256"]

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use license_automation::config::ProcessEnvironment;
use license_automation::{aws, telemetry};
use license_events::{Config, LicenseEvents, LicenseManager};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_tracing();
    let metrics = telemetry::init_metrics("license-events")?;
    // A missing or malformed variable fails the cold start, named in the log and the error.
    let config = Config::from_env(&ProcessEnvironment)
        .inspect_err(|error| tracing::error!(%error, "invalid configuration"))?;
    let sdk = aws::load_sdk_config().await;
    let handler = Arc::new(LicenseEvents::new(
        &config,
        LicenseManager::new(
            aws_sdk_licensemanager::Client::new(&sdk),
            config.max_concurrency,
        ),
        aws_sdk_eventbridge::Client::new(&sdk),
        aws_sdk_dynamodb::Client::new(&sdk),
    ));
    metrics_cloudwatch_embedded::lambda::service::run(
        metrics,
        service_fn(move |event: LambdaEvent<serde_json::Value>| {
            let handler = Arc::clone(&handler);
            async move { handler.handle(event).await }
        }),
    )
    .await
}
