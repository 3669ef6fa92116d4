//! grant-acceptor's part of the demo: the `Grant Change` event the emulator published when
//! Acme granted its license reaches the function, which accepts and activates the grant;
//! a grant from an issuer the trust policy does not name (Globex) is left pending and
//! reported once; the hourly sweep, fired on demand, finds nothing new to say.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use aws_sdk_licensemanager::types::GrantStatus;
use local_test_kit::bus;
use local_test_kit::clients::Account;
use local_test_kit::licenses::{grant_from, grant_status};

use crate::context::{Context, Flow, FlowFuture};
use crate::event_sources::InvocationRecord;
use crate::event_sources::describe_invocation;
use crate::report::{Recorder, done};

/// The function's binary.
pub const FUNCTION: &str = "grant-acceptor";
/// An ISV the local trust policy does not trust.
pub const UNTRUSTED_ISV_ACCOUNT: &str = "444455556666";
/// Its issuer name.
pub const UNTRUSTED_ISSUER: &str = "Globex";
/// How long the demo waits for the function to act on an event.
const PATIENCE: Duration = Duration::from_secs(10);

/// The grant-acceptor flow.
pub const FLOW: Flow = Flow {
    title: "grant-acceptor: trusted grants accepted and activated, untrusted ones left",
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
    let scenario = context
        .scenario
        .clone()
        .context("the scenario did not run")?;
    let events_queue = context.events_queue_url()?;
    let sqs = context.clients.sqs.clone();
    let customer = context.clients.customer.clone();

    recorder
        .step(
            "Acme's grant: the Grant Change event reaches grant-acceptor, which accepts and activates it",
            async {
                wait_for_status(&customer, &scenario.grant_arn, GrantStatus::Active)
                    .await
                    .with_context(|| format!("the function's invocations:\n{}", invocations(context)))?;
                let events = bus::receive(&sqs, &events_queue, 1, PATIENCE).await?;
                ensure!(
                    events.iter().any(|event| event["detail-type"] == "Grant Accepted"),
                    "no Grant Accepted on the project's bus: {events:?}"
                );
                let mut details = format!("{} is ACTIVE\n", scenario.grant_arn);
                details.push_str(&invocations(context));
                let _ = write!(details, "\non the project's bus:\n{}", bus::describe_all(&events));
                done((), details)
            },
        )
        .await?;

    let settings = context.settings.clone().context("no settings")?;
    let globex = Account::connect(UNTRUSTED_ISV_ACCOUNT, &settings.license_manager_url).await;
    recorder
        .step(
            &format!("{UNTRUSTED_ISSUER} ({UNTRUSTED_ISV_ACCOUNT}), not in the trust policy, grants a license: it is left pending"),
            async {
                let grant_arn =
                    grant_from(&globex, UNTRUSTED_ISSUER, "globex-reports", customer.id).await?;
                let events = bus::receive(&sqs, &events_queue, 1, PATIENCE).await?;
                ensure!(
                    events.iter().any(|event| event["detail-type"] == "Grant Not Trusted"),
                    "no Grant Not Trusted on the project's bus: {events:?}"
                );
                let status = grant_status(&customer, &grant_arn).await?;
                ensure!(status == GrantStatus::PendingAccept, "the untrusted grant is {status:?}");
                let mut details = format!("{grant_arn} stays PENDING_ACCEPT\n");
                details.push_str(&invocations(context));
                let _ = write!(details, "\non the project's bus:\n{}", bus::describe_all(&events));
                done((), details)
            },
        )
        .await?;

    recorder
        .step(
            &format!("the sweep (`local-stack fire {FUNCTION}`) finds nothing new to report"),
            async {
                let records = app.runtime.fire(FUNCTION, &sqs).await?;
                let outcome = records.first().context("no schedule fired")?;
                ensure!(
                    outcome.invocation.result.is_ok(),
                    "the sweep failed: {:?}",
                    outcome.invocation.result
                );
                let events = bus::receive(&sqs, &events_queue, 0, Duration::from_secs(1)).await?;
                let grant_events: Vec<_> = events
                    .iter()
                    .filter(|event| {
                        event["detail-type"]
                            .as_str()
                            .is_some_and(|kind| kind.starts_with("Grant "))
                    })
                    .collect();
                ensure!(
                    grant_events.is_empty(),
                    "a repeated sweep emitted {grant_events:?}"
                );
                let mut details = String::new();
                for record in &records {
                    let _ = writeln!(details, "{}", summarize(record));
                }
                details.push_str("no new events on the project's bus");
                done((), details)
            },
        )
        .await?;
    Ok(())
}

/// The function's invocations recorded since the last call, one line each.
fn invocations(context: &Context) -> String {
    let mut lines = String::new();
    let Some(records) = &context.records else {
        return lines;
    };
    let mut records = records
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    while let Ok(record) = records.try_recv() {
        if record.function.contains("GrantAcceptor") {
            let _ = writeln!(lines, "{}", summarize(&record));
        }
    }
    lines.trim_end().to_owned()
}

/// `GrantAcceptorFunction <- GrantChange (cold, init 12 ms): {"accepted":1,...}`.
fn summarize(record: &InvocationRecord) -> String {
    let described = describe_invocation(record);
    let temperature = match record.invocation.init {
        Some(init) => format!("cold start, init {:.0} ms", init.as_secs_f64() * 1000.0),
        None => "warm".to_owned(),
    };
    format!(
        "{} <- {} ({temperature}, {:.0} ms): {}",
        record.function,
        record.trigger,
        record.invocation.duration.as_secs_f64() * 1000.0,
        described["result"]
    )
}

async fn wait_for_status(account: &Account, grant_arn: &str, wanted: GrantStatus) -> Result<()> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let status = grant_status(account, grant_arn).await?;
        if status == wanted {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{grant_arn} is still {status:?} after {PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
