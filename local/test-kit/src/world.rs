//! The world a function's own tests run in, written once for every function:
//! license-manager-local in-process, moto's server with the state table and the project's bus
//! as the template creates them, and a queue that receives every event emitted on that bus.
//!
//! Test support: it panics with a message on any setup failure, which is what a test wants.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use license_manager_local::{Config as EmulatorConfig, Emulator};
use serde_json::Value;

use crate::bus::drain;
use crate::clients::{CUSTOMER_ACCOUNT, sdk_config};
use crate::moto::{MotoServer, default_moto_server};
use crate::resources::{self, EVENT_BUS, EVENT_SOURCE, STATE_TABLE};

/// moto plus what the template creates there, and the emulator.
pub struct World {
    /// moto's server (stopped when dropped).
    pub moto: MotoServer,
    /// The emulator, `None` only while it restarts.
    pub emulator: Option<Emulator>,
    /// Where the emulator listens.
    pub emulator_url: String,
    /// The emulator's state file, kept across restarts.
    pub state_file: Option<PathBuf>,
    /// Where the emulator wrote the public key that verifies its signed tokens.
    pub public_key: PathBuf,
    /// EventBridge of the customer account, on moto.
    pub events: aws_sdk_eventbridge::Client,
    /// DynamoDB of the customer account, on moto.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SQS of the customer account, on moto.
    pub sqs: aws_sdk_sqs::Client,
    /// The queue that receives every event on [`EVENT_BUS`].
    pub queue_url: String,
}

static STARTED: AtomicUsize = AtomicUsize::new(0);

impl World {
    /// A fresh world with a fault-free emulator.
    pub async fn start() -> Self {
        Self::with_emulator(EmulatorConfig::default()).await
    }

    /// A fresh world whose emulator runs with `config`.
    pub async fn with_emulator(mut config: EmulatorConfig) -> Self {
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("test-world-{}-{n}", std::process::id());
        let log = std::env::temp_dir().join(format!("{prefix}-moto.log"));
        let public_key = config
            .public_key_out
            .get_or_insert_with(|| std::env::temp_dir().join(format!("{prefix}-public-key.pem")))
            .clone();
        let moto = MotoServer::start(&default_moto_server(), &log)
            .await
            .expect("moto's server must start (`scripts/venv.sh dev` installs it)");
        let customer = sdk_config(CUSTOMER_ACCOUNT).await;
        let events = aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::config::Builder::from(&customer)
                .endpoint_url(moto.url())
                .build(),
        );
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&customer)
                .endpoint_url(moto.url())
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&customer)
                .endpoint_url(moto.url())
                .build(),
        );
        resources::create_state_table(&dynamodb, STATE_TABLE)
            .await
            .expect("state table");
        let queue_url =
            resources::bus_with_queue(&events, &sqs, EVENT_BUS, EVENT_SOURCE, "emitted")
                .await
                .expect("bus with a queue");
        let emulator = Emulator::start(config.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .expect("emulator starts");
        Self {
            emulator_url: emulator.endpoint_url(),
            emulator: Some(emulator),
            state_file: config.state_file,
            public_key,
            moto,
            events,
            dynamodb,
            sqs,
            queue_url,
        }
    }

    /// Restarts the emulator on its state file with `config` (e.g. faults switched on).
    pub async fn restart_emulator(&mut self, mut config: EmulatorConfig) {
        if let Some(emulator) = self.emulator.take() {
            emulator.shutdown().await;
        }
        config.state_file = self.state_file.clone();
        config.public_key_out = Some(self.public_key.clone());
        let emulator = Emulator::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("emulator restarts");
        self.emulator_url = emulator.endpoint_url();
        self.emulator = Some(emulator);
    }

    /// A License Manager client of `account`.
    pub async fn lm(&self, account: &str) -> aws_sdk_licensemanager::Client {
        license_manager_client(&self.emulator_url, account).await
    }

    /// A function's environment in this world: the state table and the bus, then `extra`.
    pub fn function_env(&self, extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut env = HashMap::from([
            ("STATE_TABLE".to_owned(), STATE_TABLE.to_owned()),
            ("EVENT_BUS_NAME".to_owned(), EVENT_BUS.to_owned()),
        ]);
        for (name, value) in extra {
            env.insert((*name).to_owned(), (*value).to_owned());
        }
        env
    }

    /// Every event emitted on the bus since the last call, as `(detail-type, detail)`.
    pub async fn emitted(&self) -> Vec<(String, Value)> {
        drain(&self.sqs, &self.queue_url)
            .await
            .unwrap()
            .into_iter()
            .map(|event| {
                (
                    event["detail-type"].as_str().unwrap().to_owned(),
                    event["detail"].clone(),
                )
            })
            .collect()
    }
}

/// A License Manager client of `account` on `endpoint`, with the SDK's default retries.
pub async fn license_manager_client(
    endpoint: &str,
    account: &str,
) -> aws_sdk_licensemanager::Client {
    let config = sdk_config(account).await;
    aws_sdk_licensemanager::Client::from_conf(
        aws_sdk_licensemanager::config::Builder::from(&config)
            .endpoint_url(endpoint)
            .build(),
    )
}

/// Fixture `name` of `events/<function>/`.
pub fn fixture(function: &str, name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(function)
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("{} is not JSON: {err}", path.display()))
}

/// Only the details of the events of `detail_type`.
pub fn of_type<'a>(events: &'a [(String, Value)], detail_type: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|(kind, _)| kind == detail_type)
        .map(|(_, detail)| detail)
        .collect()
}

/// The detail-types of `events`, in order.
pub fn types(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(kind, _)| kind.as_str()).collect()
}

/// A short pause for events to reach the queue (moto delivers synchronously; this is slack).
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}
