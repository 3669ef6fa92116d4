//! Telemetry: structured logs through `tracing` and CloudWatch metrics in Embedded Metric
//! Format (EMF) through the `metrics` facade.

use metrics_cloudwatch_embedded::Builder;
pub use metrics_cloudwatch_embedded::Collector;

/// The CloudWatch namespace of the project's metrics.
pub const METRICS_NAMESPACE: &str = "LicenseAutomation";

/// Telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("could not set up metrics: {0}")]
pub struct TelemetryError(String);

/// Installs the tracing subscriber: JSON lines when `AWS_LAMBDA_LOG_FORMAT=JSON` (as the
/// template configures), the level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO.
///
/// Call once, first thing in `main`.
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// Installs the EMF metrics recorder for `function` (a `FunctionName` dimension) with a
/// `ColdStart` metric; the returned collector is flushed after each invocation by
/// [`metrics_cloudwatch_embedded::lambda::handler::run`].
pub fn init_metrics(function: &'static str) -> Result<&'static Collector, TelemetryError> {
    metrics_builder(function)
        .lambda_cold_start_metric("ColdStart")
        .with_lambda_request_id("RequestId")
        .init()
        .map_err(|error| TelemetryError(error.to_string()))
}

/// The EMF builder with the project's namespace and the function dimension. Counts of zero
/// are written too: the dashboard's lines and the failure alarms (`GrantsFailed`, ...) then
/// read 0 rather than no data, and every metric a widget names appears in a run's output.
fn metrics_builder(function: &'static str) -> Builder {
    Builder::new()
        .cloudwatch_namespace(METRICS_NAMESPACE)
        .with_dimension("FunctionName", function)
        .emit_zeros(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn metrics_are_written_in_embedded_metric_format() {
        let collector = metrics_builder("grant-acceptor").init().unwrap();
        metrics::counter!("GrantsAccepted").increment(2);
        metrics::counter!("GrantsFailed").increment(0);
        let mut out = Vec::new();
        collector.flush(&mut out).unwrap();
        let line = String::from_utf8(out).unwrap();
        let document: Value = serde_json::from_str(line.trim()).unwrap();
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], METRICS_NAMESPACE);
        assert_eq!(directive["Dimensions"][0][0], "FunctionName");
        assert_eq!(directive["Metrics"][0]["Name"], "GrantsAccepted");
        assert_eq!(document["FunctionName"], "grant-acceptor");
        assert_eq!(document["GrantsAccepted"], 2);
        assert_eq!(
            document["GrantsFailed"], 0,
            "a zero count is written: {line}"
        );
        assert!(document["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
    }
}
