//! Wiring only: telemetry, configuration and clients once per cold start, then the runtime.

use std::sync::Arc;

use checkout_proxy::{CheckoutProxy, Config, LicenseManager};
use lambda_http::{Error, Request, service_fn};
use license_automation::config::ProcessEnvironment;
use license_automation::{aws, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_tracing();
    let metrics = telemetry::init_metrics("checkout-proxy")?;
    // A missing or malformed variable fails the cold start, named in the log and the error.
    let config = Config::from_env(&ProcessEnvironment)
        .inspect_err(|error| tracing::error!(%error, "invalid configuration"))?;
    // A caller waits on every call: short SDK bounds, and the request's own deadline over all
    // of them (CheckoutProxy::handle), so a hang answers 503 with Retry-After, never API
    // Gateway's bare 5xx.
    let sdk = aws::sdk_config_loader_with(aws::INTERACTIVE_CALLS)
        .load()
        .await;
    let proxy = Arc::new(CheckoutProxy::new(
        &config,
        LicenseManager::new(
            aws_sdk_licensemanager::Client::new(&sdk),
            config.max_concurrency,
        ),
        aws_sdk_dynamodb::Client::new(&sdk),
        aws_sdk_kms::Client::new(&sdk),
    ));
    metrics_cloudwatch_embedded::lambda::service::run_http(
        metrics,
        service_fn(move |request: Request| {
            let proxy = Arc::clone(&proxy);
            async move { Ok::<_, Error>(proxy.handle(request).await) }
        }),
    )
    .await
}
