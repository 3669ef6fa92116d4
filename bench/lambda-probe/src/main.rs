//! What a function pays, without Lambda around it: the cold-start work of `main.rs` (SDK
//! config, three clients) and then `ITERATIONS` handler-like invocations (parse a License
//! Manager event, extract ARN hints, call License Manager through the SDK) against the
//! endpoint in `AWS_ENDPOINT_URL_LICENSE_MANAGER`. Prints one JSON line of timings.
//!
//! Used by `bench/release-profile/run.sh` to compare opt-levels.

use std::time::{Duration, Instant};

use license_automation::aws::load_sdk_config;
use license_automation::events_in::{IncomingEvent, parse_event};

const EVENT: &str = r#"{
  "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602",
  "detail-type": "Grant Change", "source": "aws.license-manager",
  "account": "123456789012", "time": "2026-11-22T10:00:00Z", "region": "us-east-1",
  "resources": ["arn:aws:license-manager::111122223333:grant:g-0123456789abcdef0123456789abcdef"],
  "detail": {"GrantArn": "arn:aws:license-manager::111122223333:grant:g-0123456789abcdef0123456789abcdef",
             "Status": "PENDING_ACCEPT"}
}"#;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let iterations: usize = std::env::var("ITERATIONS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(200);
    let started = Instant::now();
    let sdk = load_sdk_config().await;
    let license_manager = aws_sdk_licensemanager::Client::new(&sdk);
    let _events = aws_sdk_eventbridge::Client::new(&sdk);
    let _state = aws_sdk_dynamodb::Client::new(&sdk);
    let init = started.elapsed();

    let mut latencies = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let invoked = Instant::now();
        let payload: serde_json::Value = serde_json::from_str(EVENT)?;
        let IncomingEvent::LicenseManager(event) = parse_event(payload)? else {
            return Err("the probe's event was not recognised".into());
        };
        let hints = event.arn_hints();
        let grants = license_manager
            .list_received_grants()
            .set_grant_arns(Some(hints.grant_arns.into_iter().collect()))
            .send()
            .await?;
        std::hint::black_box(grants);
        latencies.push(invoked.elapsed());
    }
    latencies.sort_unstable();
    let percentile = |p: usize| {
        latencies
            .get(latencies.len() * p / 100)
            .copied()
            .unwrap_or(Duration::ZERO)
    };
    println!(
        "{{\"initMicros\":{},\"p50Micros\":{},\"p99Micros\":{},\"iterations\":{iterations}}}",
        init.as_micros(),
        percentile(50).as_micros(),
        percentile(99).as_micros()
    );
    Ok(())
}
