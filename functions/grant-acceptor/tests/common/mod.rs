//! The world the grant-acceptor's tests run in: license-manager-local in-process (ISV accounts
//! grant to the customer account), moto's server for the state table and the project's bus,
//! and a queue that receives every event the function emits.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_licensemanager::types::{
    AllowedOperation, ConsumptionConfiguration, DatetimeRange, Entitlement, EntitlementUnit,
    GrantStatus, Issuer, ProvisionalConfiguration,
};
use grant_acceptor::{Config, GrantAcceptor, LicenseManager, Summary};
use lambda_runtime::{Context, LambdaEvent};
pub use license_automation::events_out::RetryPolicy;
use license_manager_local::{Config as EmulatorConfig, Emulator};
use local_stack::clients::{CUSTOMER_ACCOUNT, sdk_config};
use local_stack::moto::{MotoServer, default_moto_server};
use local_stack::resources;
use serde_json::Value;

pub use local_stack::clients::ISV_ACCOUNT as ACME_ACCOUNT;
/// A second ISV.
pub const GLOBEX_ACCOUNT: &str = "444455556666";
/// The customer: the account the function runs in.
pub const CUSTOMER: &str = CUSTOMER_ACCOUNT;
/// The project's bus and the state table in moto.
pub const BUS: &str = "license-automation";
pub const TABLE: &str = "license-automation-state";

/// The key fingerprint the emulator gives licenses `name` issues from `account`.
pub fn fingerprint(account: &str, name: &str) -> String {
    format!("aws:{account}:{name}:issuer-fingerprint")
}

/// A fixture of `events/grant-acceptor/`.
pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/grant-acceptor")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The scheduled sweep's event, as the template's Scheduler input delivers it.
pub fn sweep_event() -> Value {
    fixture("scheduled.json")
}

/// A `Grant Change` event naming `grant_arn`.
pub fn grant_change(grant_arn: &str) -> Value {
    let mut event = fixture("grant-change.json");
    event["resources"] = serde_json::json!([grant_arn]);
    event["detail"]["grantArn"] = Value::String(grant_arn.to_owned());
    event
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

/// moto plus what the template creates there, and the emulator.
pub struct World {
    pub moto: MotoServer,
    pub emulator: Option<Emulator>,
    pub emulator_url: String,
    pub state_file: Option<PathBuf>,
    pub events: aws_sdk_eventbridge::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

static STARTED: AtomicUsize = AtomicUsize::new(0);

impl World {
    /// A fresh world with a fault-free emulator.
    pub async fn start() -> Self {
        Self::with_emulator(EmulatorConfig::default()).await
    }

    /// A fresh world whose emulator runs with `config`.
    pub async fn with_emulator(config: EmulatorConfig) -> Self {
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let log = std::env::temp_dir().join(format!(
            "grant-acceptor-moto-{}-{n}.log",
            std::process::id()
        ));
        let moto = MotoServer::start(&default_moto_server(), &log)
            .await
            .expect("moto's server must start (`scripts/venv.sh dev` installs it)");
        let customer = sdk_config(CUSTOMER).await;
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
        let queue_url = create_bus_and_table(&events, &dynamodb, &sqs).await;
        let emulator = Emulator::start(config.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .expect("emulator starts");
        Self {
            emulator_url: emulator.endpoint_url(),
            emulator: Some(emulator),
            state_file: config.state_file,
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

    /// The function configured with `TRUST_POLICY=policy` and `extra` variables.
    pub async fn acceptor(&self, policy: &str, extra: &[(&str, &str)]) -> GrantAcceptor {
        self.acceptor_with_retry(policy, extra, None).await
    }

    /// [`Self::acceptor`] whose License Manager calls retry with `retry` instead of the default.
    pub async fn acceptor_with_retry(
        &self,
        policy: &str,
        extra: &[(&str, &str)],
        retry: Option<RetryPolicy>,
    ) -> GrantAcceptor {
        let mut env: HashMap<String, String> = HashMap::from([
            ("TRUST_POLICY".to_owned(), policy.to_owned()),
            ("STATE_TABLE".to_owned(), TABLE.to_owned()),
            ("EVENT_BUS_NAME".to_owned(), BUS.to_owned()),
        ]);
        for (name, value) in extra {
            env.insert((*name).to_owned(), (*value).to_owned());
        }
        let config = Config::from_env(&env).expect("valid configuration");
        let mut license_manager =
            LicenseManager::new(self.lm(CUSTOMER).await, config.max_concurrency);
        if let Some(retry) = retry {
            license_manager = license_manager.with_retry(retry);
        }
        GrantAcceptor::new(
            &config,
            license_manager,
            self.events.clone(),
            self.dynamodb.clone(),
        )
    }

    /// Every event the function emitted since the last call, as `(detail-type, detail)`.
    pub async fn emitted(&self) -> Vec<(String, Value)> {
        resources::drain(&self.sqs, &self.queue_url)
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

async fn create_bus_and_table(
    events: &aws_sdk_eventbridge::Client,
    dynamodb: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
) -> String {
    resources::create_state_table(dynamodb, TABLE)
        .await
        .unwrap();
    resources::bus_with_queue(events, sqs, BUS, "license-automation", "emitted")
        .await
        .unwrap()
}

/// Invokes the handler as Lambda does.
pub async fn invoke(
    acceptor: &GrantAcceptor,
    payload: Value,
) -> Result<Summary, grant_acceptor::GrantAcceptorError> {
    acceptor
        .handle(LambdaEvent {
            payload,
            context: Context::default(),
        })
        .await
}

/// Issues a license named `issuer` with product `sku` from `isv`.
pub async fn issue_license(
    isv: &aws_sdk_licensemanager::Client,
    issuer: &str,
    sku: &str,
) -> String {
    isv.create_license()
        .license_name(format!("{sku} license"))
        .product_name(format!("{issuer} {sku}"))
        .product_sku(sku)
        .issuer(Issuer::builder().name(issuer).build().unwrap())
        .home_region("us-east-1")
        .validity(
            DatetimeRange::builder()
                .begin("2025-01-01T00:00:00Z")
                .end("2030-01-01T00:00:00Z")
                .build()
                .unwrap(),
        )
        .entitlements(
            Entitlement::builder()
                .name("Users")
                .unit(EntitlementUnit::Count)
                .max_count(10)
                .allow_check_in(true)
                .build()
                .unwrap(),
        )
        .beneficiary("customer")
        .consumption_configuration(
            ConsumptionConfiguration::builder()
                .provisional_configuration(
                    ProvisionalConfiguration::builder()
                        .max_time_to_live_in_minutes(60)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .client_token(uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .expect("create license")
        .license_arn
        .unwrap()
}

/// Grants `license` from `isv` to the customer account; the grant ARN (PENDING_ACCEPT).
pub async fn grant_to_customer(isv: &aws_sdk_licensemanager::Client, license: &str) -> String {
    isv.create_grant()
        .client_token(uuid::Uuid::new_v4().to_string())
        .grant_name("customer grant")
        .license_arn(license)
        .principals(format!("arn:aws:iam::{CUSTOMER}:root"))
        .home_region("us-east-1")
        .allowed_operations(AllowedOperation::CheckoutLicense)
        .send()
        .await
        .expect("create grant")
        .grant_arn
        .unwrap()
}

/// Issues a license and grants it to the customer; the grant ARN.
pub async fn pending_grant(
    isv: &aws_sdk_licensemanager::Client,
    issuer: &str,
    sku: &str,
) -> String {
    let license = issue_license(isv, issuer, sku).await;
    grant_to_customer(isv, &license).await
}

/// The grant's current (status, version), as the customer sees it.
pub async fn grant_state(
    customer: &aws_sdk_licensemanager::Client,
    arn: &str,
) -> (GrantStatus, String) {
    let grant = customer
        .get_grant()
        .grant_arn(arn)
        .send()
        .await
        .unwrap()
        .grant
        .unwrap();
    (grant.grant_status().clone(), grant.version().to_owned())
}

/// The statuses of every version of the grant, oldest first.
pub async fn grant_history(
    customer: &aws_sdk_licensemanager::Client,
    arn: &str,
) -> Vec<GrantStatus> {
    let (_, current) = grant_state(customer, arn).await;
    let mut statuses = Vec::new();
    for version in 1..=current.parse::<u32>().unwrap() {
        let grant = customer
            .get_grant()
            .grant_arn(arn)
            .version(version.to_string())
            .send()
            .await
            .unwrap()
            .grant
            .unwrap();
        statuses.push(grant.grant_status().clone());
    }
    statuses
}

/// A trust policy trusting `rules` (JSON objects) with `untrusted`.
pub fn policy(rules: &[Value], untrusted: &str) -> String {
    serde_json::json!({"trusted": rules, "untrusted": untrusted}).to_string()
}

/// A short pause for events to reach the queue (moto delivers synchronously; this is slack).
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}
