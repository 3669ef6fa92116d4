//! soft-limit-monitor's part of the demo: the scenario's soft-limited configuration (9 of 10)
//! goes WARNING on the first sweep, EXCEEDED when two more instances use it, and RECOVERED when
//! instances go away; each alert is printed once and a repeated sweep prints nothing. The
//! local parameters keep `Enforcement=alert`; `--parameter Enforcement=harden` makes the
//! EXCEEDED sweep also turn the limit hard (and emit `Soft Limit Enforced`); the hardened limit
//! still recovers. Each alert also reaches the alert topic, through the template's AlertsRule.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use aws_sdk_licensemanager::types::LicenseSpecification;
use local_test_kit::bus;
use local_test_kit::clients::{Account, REGION, sdk_error};
use serde_json::Value;

use super::scenario::{CONFIGURATION_CONSUMED, CONFIGURATION_COUNT};
use crate::context::{Context, Flow, FlowFuture};
use crate::event_sources::describe_invocation;
use crate::report::{Recorder, done};
use crate::topic_relay::notified_event;

/// The function's binary.
pub const FUNCTION: &str = "soft-limit-monitor";
/// How long the demo waits for events on the bus.
const PATIENCE: Duration = Duration::from_secs(10);
/// Instances the scenario did not use (its instances are numbered from 1).
const FIRST_EXTRA_INSTANCE: i64 = 100;
/// Instances added to pass the limit: 9 + 2 = 11 of 10.
const EXTRA_INSTANCES: i64 = 2;

/// The soft-limit-monitor flow.
pub const FLOW: Flow = Flow {
    title: "soft-limit-monitor: warning, exceeded and recovered, each alerted once",
    steps: boxed,
};

fn boxed<'a>(context: &'a mut Context, recorder: &'a mut Recorder) -> FlowFuture<'a> {
    Box::pin(run(context, recorder))
}

async fn run(context: &mut Context, recorder: &mut Recorder) -> Result<()> {
    let Some(app) = &context.app else {
        bail!("the template's functions are not running");
    };
    let Some(function) = app.runtime.function(FUNCTION) else {
        bail!("{FUNCTION} is not in the template");
    };
    // `--parameter Enforcement=harden` reaches the function as ENFORCEMENT.
    let harden = function
        .definition
        .environment
        .get("ENFORCEMENT")
        .is_some_and(|value| value.eq_ignore_ascii_case("harden"));
    let scenario = context
        .scenario
        .clone()
        .context("the scenario did not run")?;
    let configuration = scenario.configuration_arn.clone();
    let events_queue = context.events_queue_url()?;
    let sqs = context.clients.sqs.clone();
    let customer = context.clients.customer.clone();
    // One sweep fired on demand: its summary and the alerts it put on the bus (`expected`).
    let sweep = |expected: &'static [&'static str]| {
        let sqs = sqs.clone();
        let events_queue = events_queue.clone();
        let configuration = configuration.clone();
        async move {
            let records = app.runtime.fire(FUNCTION, &sqs).await?;
            let record = records.first().context("no schedule fired")?;
            ensure!(
                record.invocation.result.is_ok(),
                "the sweep failed: {:?}",
                record.invocation.result
            );
            let wait = if expected.is_empty() {
                Duration::from_secs(1)
            } else {
                PATIENCE
            };
            let events = bus::receive(&sqs, &events_queue, expected.len(), wait).await?;
            // The alerts about the scenario's configuration (anything else is shown too).
            let mut types: Vec<&str> = events
                .iter()
                .filter(|event| is_about(event, &configuration))
                .filter_map(|event| event["detail-type"].as_str())
                .collect();
            types.sort_unstable();
            ensure!(
                types == expected,
                "expected {expected:?} on the bus, got {events:?}"
            );
            let mut details = format!("{}\n", summarize(&describe_invocation(record)));
            if events.is_empty() {
                details.push_str("no events on the project's bus");
            } else {
                let _ = write!(
                    details,
                    "on the project's bus:\n{}",
                    bus::describe_all(&events)
                );
            }
            Ok::<_, anyhow::Error>(details)
        }
    };

    recorder
        .step(
            &format!(
                "the sweep (`local-stack fire {FUNCTION}`) finds the configuration at \
                 {CONFIGURATION_CONSUMED} of {CONFIGURATION_COUNT}: Soft Limit Warning"
            ),
            async { done((), sweep(&["Soft Limit Warning"]).await?) },
        )
        .await?;
    recorder
        .step("a second sweep has nothing new to say", async {
            done((), sweep(&[]).await?)
        })
        .await?;
    recorder
        .step(
            &format!(
                "{EXTRA_INSTANCES} more instances ({} of {CONFIGURATION_COUNT}): Soft Limit \
                 Exceeded (with `--parameter Enforcement=harden` the limit is also made hard)",
                CONFIGURATION_CONSUMED + EXTRA_INSTANCES
            ),
            async {
                for n in extra_instances() {
                    specify(&customer, &configuration, n, true).await?;
                }
                let enforced: &'static [&'static str] = if harden {
                    &["Soft Limit Enforced", "Soft Limit Exceeded"]
                } else {
                    &["Soft Limit Exceeded"]
                };
                let mut details = sweep(enforced).await?;
                details.push('\n');
                details.push_str(&sweep(&[]).await?);
                done((), details)
            },
        )
        .await?;
    recorder
        .step(
            &format!(
                "the extra instances and two of the scenario's stop ({} of {CONFIGURATION_COUNT}): \
                 Soft Limit Recovered, once",
                CONFIGURATION_CONSUMED - 2
            ),
            async {
                for n in extra_instances() {
                    specify(&customer, &configuration, n, false).await?;
                }
                for n in [CONFIGURATION_CONSUMED - 1, CONFIGURATION_CONSUMED] {
                    specify(&customer, &configuration, n, false).await?;
                }
                // A hardened limit is still followed until it recovers.
                let mut details = sweep(&["Soft Limit Recovered"]).await?;
                details.push('\n');
                details.push_str(&sweep(&[]).await?);
                // Back to the scenario's 9 of 10 for the flows that follow.
                for n in [CONFIGURATION_CONSUMED - 1, CONFIGURATION_CONSUMED] {
                    specify(&customer, &configuration, n, true).await?;
                }
                done((), details)
            },
        )
        .await?;
    let alerts_queue = context
        .infra
        .as_ref()
        .context("the infrastructure flow did not run")?
        .alerts_queue_url
        .clone();
    recorder
        .step(
            "each alert also reached the alert topic (the template's AlertsRule)",
            async {
                let expected = [
                    "Soft Limit Exceeded",
                    "Soft Limit Recovered",
                    "Soft Limit Warning",
                ];
                let mut alerts = Vec::new();
                let deadline = tokio::time::Instant::now() + PATIENCE;
                while alerts.len() < expected.len() && tokio::time::Instant::now() < deadline {
                    let messages =
                        bus::receive(&sqs, &alerts_queue, 1, Duration::from_secs(2)).await?;
                    alerts.extend(
                        messages
                            .iter()
                            .filter_map(notified_event)
                            .filter(|event| is_about(event, &configuration))
                            // Under Enforcement=harden the topic also carries Soft Limit Enforced.
                            .filter(|event| event["detail-type"] != "Soft Limit Enforced"),
                    );
                }
                let mut types: Vec<&str> = alerts
                    .iter()
                    .filter_map(|event| event["detail-type"].as_str())
                    .filter(|kind| *kind != "Soft Limit Enforced")
                    .collect();
                types.sort_unstable();
                ensure!(
                    types == expected,
                    "expected {expected:?} on the alert topic, got {alerts:?}"
                );
                done(
                    (),
                    format!("from the topic's queue:\n{}", bus::describe_all(&alerts)),
                )
            },
        )
        .await?;
    Ok(())
}

/// Whether `event` is about the configuration `arn` (names it in `resources`).
fn is_about(event: &Value, arn: &str) -> bool {
    event["resources"]
        .as_array()
        .is_some_and(|arns| arns.iter().any(|resource| resource == arn))
}

fn extra_instances() -> std::ops::Range<i64> {
    FIRST_EXTRA_INSTANCE..FIRST_EXTRA_INSTANCE + EXTRA_INSTANCES
}

/// Starts (`add`) or stops using configuration `arn` on the customer's instance `n`.
pub(crate) async fn specify(customer: &Account, arn: &str, n: i64, add: bool) -> Result<()> {
    let specification = LicenseSpecification::builder()
        .license_configuration_arn(arn)
        .build()?;
    let request = customer
        .license_manager
        .update_license_specifications_for_resource()
        .resource_arn(format!(
            "arn:aws:ec2:{REGION}:{}:instance/i-{n:017x}",
            customer.id
        ));
    let request = if add {
        request.add_license_specifications(specification)
    } else {
        request.remove_license_specifications(specification)
    };
    request.send().await.map_err(sdk_error)?;
    Ok(())
}

/// `SoftLimitMonitorFunction <- Sweep: {"alerted":1,...}`.
fn summarize(described: &Value) -> String {
    format!(
        "{} <- {}: {}",
        described["function"].as_str().unwrap_or_default(),
        described["trigger"].as_str().unwrap_or_default(),
        described["result"]
    )
}
