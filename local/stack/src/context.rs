//! What the demo's flows share and how one runs: the [`Context`] they read and extend (the
//! clients, the resources, the seeded scenario, the running application) and the [`Flow`]
//! itself. Flows reach the application only through the context.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use anyhow::{Context as _, Result};
use local_test_kit::clients::Clients;
use local_test_kit::resources::Infra;
use tokio::sync::broadcast;

use crate::app::{App, AppOptions};
use crate::event_sources::InvocationRecord;
use crate::report::Recorder;
use crate::topic_relay::TopicRelay;

/// What flows share: the clients and what earlier flows created.
pub struct Context {
    /// SDK clients of both accounts.
    pub clients: Clients,
    /// The resources the SAM template would create, once the infrastructure flow ran.
    pub infra: Option<Infra>,
    /// The seeded scenario, once the scenario flow ran.
    pub scenario: Option<Scenario>,
    /// How to run the template's functions (set by the demo before the flows run).
    pub settings: Option<Settings>,
    /// The template's functions, HTTP API and issuer, once the host flow ran.
    pub app: Option<App>,
    /// The functions' invocations since the host flow ran (flows print what they caused).
    pub records: Option<Mutex<broadcast::Receiver<InvocationRecord>>>,
    /// Rules whose SNS targets are relayed to their topics (stopped when dropped).
    pub relays: Vec<TopicRelay>,
}

impl Context {
    /// A context with nothing created yet.
    pub fn new(clients: Clients) -> Self {
        Self {
            clients,
            infra: None,
            scenario: None,
            settings: None,
            app: None,
            records: None,
            relays: Vec::new(),
        }
    }

    /// The URL of the queue receiving the project's events (once the infrastructure exists).
    pub fn events_queue_url(&self) -> Result<String> {
        Ok(self
            .infra
            .as_ref()
            .context("the infrastructure flow did not run")?
            .events_queue_url
            .clone())
    }
}

/// A flow's future, borrowing the context and the recorder.
pub type FlowFuture<'a> = Pin<Box<dyn Future<Output = Result<()>> + 'a>>;

/// A named sequence of steps.
pub struct Flow {
    /// Heading printed before its steps.
    pub title: &'static str,
    /// Runs the steps; an error ends the flow (later flows still run).
    pub steps: for<'a> fn(&'a mut Context, &'a mut Recorder) -> FlowFuture<'a>,
}

impl Flow {
    /// Runs the flow's steps under its heading; an error ends the flow and is counted.
    pub async fn run(&self, context: &mut Context, recorder: &mut Recorder) {
        recorder.begin(self.title);
        let outcome = (self.steps)(context, recorder).await;
        recorder.end(self.title, outcome);
    }
}

/// What the scenario created, for later flows.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The ISV's license.
    pub license_arn: String,
    /// Its KeyFingerprint.
    pub key_fingerprint: String,
    /// The grant to the customer (PENDING_ACCEPT).
    pub grant_arn: String,
    /// The customer's soft-limited license configuration.
    pub configuration_arn: String,
}

/// What the host flow needs besides the clients: where things are.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The application's options (template, bootstraps, ports, parameters).
    pub app: AppOptions,
    /// moto's endpoint URL.
    pub moto_url: String,
    /// license-manager-local's endpoint URL.
    pub license_manager_url: String,
}

#[cfg(test)]
mod tests {
    use anyhow::Result;
    use local_test_kit::clients::Clients;

    use super::*;
    use crate::report::{Done, Recorder, done};

    async fn context() -> Context {
        // Nothing is called: the flows below only exercise the recorder.
        Context::new(Clients::connect("http://127.0.0.1:9", "http://127.0.0.1:9").await)
    }

    async fn ok_fail_ok(_: &mut Context, recorder: &mut Recorder) -> Result<()> {
        recorder.step("first", async { done((), "fine") }).await?;
        recorder
            .step("second", async {
                Err::<Done<()>, _>(anyhow::anyhow!("broken"))
            })
            .await?;
        recorder.step("third", async { done((), "never") }).await?;
        Ok(())
    }

    fn ok_fail_ok_boxed<'a>(
        context: &'a mut Context,
        recorder: &'a mut Recorder,
    ) -> FlowFuture<'a> {
        Box::pin(ok_fail_ok(context, recorder))
    }

    fn not_a_step<'a>(_: &'a mut Context, _: &'a mut Recorder) -> FlowFuture<'a> {
        Box::pin(async { Err(anyhow::anyhow!("no infrastructure")) })
    }

    #[tokio::test]
    async fn a_failed_step_is_counted_and_ends_its_flow() {
        let mut context = context().await;
        let mut recorder = Recorder::new();
        let flow = Flow {
            title: "test",
            steps: ok_fail_ok_boxed,
        };
        flow.run(&mut context, &mut recorder).await;
        let summary = recorder.summary();
        assert_eq!((summary.ok, summary.failed), (1, 1));
        assert!(
            summary
                .to_string()
                .starts_with("demo: 1 steps ok, 1 failed (")
        );
    }

    #[tokio::test]
    async fn a_flow_error_outside_a_step_still_counts_as_a_failure() {
        let mut context = context().await;
        let mut recorder = Recorder::new();
        let flow = Flow {
            title: "test",
            steps: not_a_step,
        };
        flow.run(&mut context, &mut recorder).await;
        assert_eq!(recorder.summary().failed, 1);
    }
}
