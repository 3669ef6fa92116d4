//! Brings up the template's application on the local Lambda host: every function with its
//! rules and schedules, the HTTP API and the local issuer, and says where each listens.

use std::fmt::Write as _;

use anyhow::{Context as _, Result};

use crate::app::{ALERTS_RULE, App, locals};
use crate::context::{Context, Flow, FlowFuture};
use crate::event_sources::MotoClients;
use crate::report::{Recorder, done};
use crate::template::Trigger;
use crate::topic_relay::{RelayClients, TopicRelay};

/// The host flow.
pub const FLOW: Flow = Flow {
    title: "the template's functions on the local Lambda host",
    steps: boxed,
};

fn boxed<'a>(context: &'a mut Context, recorder: &'a mut Recorder) -> FlowFuture<'a> {
    Box::pin(run(context, recorder))
}

async fn run(context: &mut Context, recorder: &mut Recorder) -> Result<()> {
    let settings = context
        .settings
        .clone()
        .context("no settings for the host")?;
    let infra = context
        .infra
        .clone()
        .context("the infrastructure flow did not run")?;
    let clients = MotoClients {
        events: context.clients.events.clone(),
        sqs: context.clients.sqs.clone(),
    };
    let app = recorder
        .step(
            &format!(
                "wire {} as `sam deploy` would",
                settings.app.template.display()
            ),
            async {
                let app = App::start(
                    &settings.app,
                    &infra,
                    &clients,
                    &settings.moto_url,
                    &settings.license_manager_url,
                )
                .await?;
                let details = describe(&app);
                done(app, details)
            },
        )
        .await?;
    context.records = Some(std::sync::Mutex::new(app.subscribe()));
    context.app = Some(app);
    let relays = RelayClients {
        events: context.clients.events.clone(),
        sqs: context.clients.sqs.clone(),
        sns: context.clients.sns.clone(),
    };
    let relay = recorder
        .step(
            "AlertsRule: the project's alerts to the alert topic (relayed: moto's EventBridge has no SNS targets)",
            async {
                let text = std::fs::read_to_string(&settings.app.template).with_context(|| {
                    format!("cannot read {}", settings.app.template.display())
                })?;
                let locals = locals(&infra, settings.app.parameters.clone());
                let relay =
                    TopicRelay::start_for_template_rule(&relays, &text, &locals, "AlertsRule", ALERTS_RULE)
                        .await?;
                let details = format!(
                    "rule {ALERTS_RULE} {}\n-> relay -> topic {}\n-> queue {}",
                    relay.pattern, relay.topic_arn, infra.alerts_queue_url
                );
                done(relay, details)
            },
        )
        .await?;
    context.relays.push(relay);
    Ok(())
}

/// Where each piece listens and what reaches each function.
fn describe(app: &App) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "issuer        {}", app.stack_file.issuer_url);
    if let Some(api) = &app.stack_file.api_url {
        let _ = writeln!(out, "HTTP API      {api}  (JWT authorizer, local issuer)");
    }
    if app.template.functions.is_empty() {
        let _ = writeln!(out, "no functions in the template yet");
    }
    for function in &app.template.functions {
        let _ = writeln!(
            out,
            "{} ({}): timeout {} s, {} MB, logs in {}",
            function.logical_id,
            function.binary,
            function.timeout.as_secs(),
            function.memory_mb,
            crate::event_sources::log_path(&app_log_dir(app), &function.logical_id).display()
        );
        for event in &function.events {
            let line = match &event.trigger {
                Trigger::EventBridgeRule { pattern, bus, .. } => format!(
                    "rule on the {} bus {pattern} -> queue -> async invoke",
                    bus.as_deref().unwrap_or("default")
                ),
                Trigger::Schedule { expression, .. } => format!(
                    "schedule {expression} (`local-stack fire {}`)",
                    function.binary
                ),
                Trigger::HttpApi { method, path, .. } => format!("route {method} {path}"),
            };
            let _ = writeln!(out, "  {}: {line}", event.name);
        }
    }
    out.trim_end().to_owned()
}

fn app_log_dir(app: &App) -> std::path::PathBuf {
    app.work_dir().join("logs")
}
