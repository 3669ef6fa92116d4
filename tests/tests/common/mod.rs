//! A whole local stack for one test: moto, the emulator, what the template creates, and a
//! template's functions on the host. Needs moto's server from the venv (`scripts/venv.sh dev`)
//! and fails, never skips, without it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use integration_tests::profile_dir;
use local_stack::app::{App, AppOptions};
use local_stack::context::Context;
use local_stack::event_sources::{InvocationRecord, MotoClients};
use local_stack::stack::{Stack, StackOptions};
use local_test_kit::clients::Clients;
use local_test_kit::resources::{Infra, create_infra};
use tokio::sync::broadcast;

/// A started stack with its application.
pub struct TestStack {
    pub stack: Stack,
    pub context: Context,
    pub records: broadcast::Receiver<InvocationRecord>,
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl TestStack {
    /// Starts everything with `template` (relative to the workspace) and `parameters`.
    pub async fn start(template: &str, parameters: &[(&str, &str)]) -> Self {
        let moto_server = local_test_kit::moto::default_moto_server();
        assert!(
            moto_server.is_file(),
            "moto's server is not at {}: run `scripts/venv.sh dev` (or set MOTO_SERVER)",
            moto_server.display()
        );
        let work_dir =
            std::env::temp_dir().join(format!("e2e-{}-{}", std::process::id(), uuid_like()));
        let stack = Stack::start(&StackOptions {
            moto_server,
            port: 0,
            state_file: None,
            work_dir: work_dir.clone(),
        })
        .await
        .expect("moto and the emulator start");
        let clients = Clients::connect(&stack.moto_url(), &stack.license_manager_url()).await;
        let mut context = Context::new(clients);
        context.infra = Some(
            create_infra(&context.clients)
                .await
                .expect("the infrastructure is created"),
        );
        let options = AppOptions {
            template: workspace().join(template),
            bin_dir: profile_dir(),
            work_dir,
            api_port: 0,
            issuer_port: 0,
            parameters: parameters
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            schedules: false,
            concurrency: BTreeMap::new(),
        };
        let moto = MotoClients {
            events: context.clients.events.clone(),
            sqs: context.clients.sqs.clone(),
        };
        let app = App::start(
            &options,
            context.infra.as_ref().unwrap(),
            &moto,
            &stack.moto_url(),
            &stack.license_manager_url(),
        )
        .await
        .expect("the template's application starts");
        let records = app.subscribe();
        context.app = Some(app);
        Self {
            stack,
            context,
            records,
        }
    }

    pub fn app(&self) -> &App {
        self.context.app.as_ref().unwrap()
    }

    pub fn clients(&self) -> &Clients {
        &self.context.clients
    }

    pub fn infra(&self) -> &Infra {
        self.context.infra.as_ref().unwrap()
    }

    /// The next invocation record, waiting at most `within`.
    pub async fn next_record(&mut self, within: Duration) -> Option<InvocationRecord> {
        tokio::time::timeout(within, self.records.recv())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// The next invocation of `function`, or a panic after `within`.
    pub async fn invocation_of(&mut self, function: &str, within: Duration) -> InvocationRecord {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let record = self
                .next_record(left)
                .await
                .unwrap_or_else(|| panic!("{function} was not invoked within {within:?}"));
            if record.function == function {
                return record;
            }
        }
    }

    pub async fn stop(mut self) {
        local_stack::stop(&mut self.context, self.stack).await;
    }
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}
