//! The world license-events' tests run in: license-manager-local in-process (an ISV issues and
//! grants to the customer account), moto's server for the state table and the project's bus,
//! and a queue that receives every event the function emits.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_licensemanager::types::{
    AllowedOperation, ConsumptionConfiguration, DatetimeRange, Entitlement, EntitlementUnit,
    GrantStatus, Issuer, LicenseStatus, ProvisionalConfiguration,
};
use lambda_runtime::{Context, LambdaEvent};
pub use license_automation::events_out::RetryPolicy;
use license_events::{Config, LicenseEvents, LicenseManager, Summary};
use license_manager_local::{Config as EmulatorConfig, Emulator};
use local_stack::clients::{CUSTOMER_ACCOUNT, sdk_config};
use local_stack::moto::{MotoServer, default_moto_server};
use local_stack::resources;
use serde_json::Value;

pub use local_stack::clients::ISV_ACCOUNT as ACME_ACCOUNT;
/// The customer: the account the function runs in.
pub const CUSTOMER: &str = CUSTOMER_ACCOUNT;
/// The project's bus and the state table in moto.
pub const BUS: &str = "license-automation";
pub const TABLE: &str = "license-automation-state";

/// A fixture of `events/grant-acceptor/`.
pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/license-events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The scheduled sweep's event, as the template's Scheduler input delivers it.
pub fn sweep_event() -> Value {
    fixture("scheduled.json")
}

/// Fixture `name` naming `arn` in its `resources` and `detail`, with a fresh event id.
pub fn event_about(name: &str, arn: &str) -> Value {
    let mut event = fixture(name);
    event["id"] = Value::String(uuid::Uuid::new_v4().to_string());
    event["resources"] = serde_json::json!([arn]);
    event["detail"] = serde_json::json!({ "arn": arn });
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
            "license-events-moto-{}-{n}.log",
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

    /// The function running in `account`, with `extra` variables.
    pub async fn handler(&self, account: &str, extra: &[(&str, &str)]) -> LicenseEvents {
        let mut env: HashMap<String, String> = HashMap::from([
            ("STATE_TABLE".to_owned(), TABLE.to_owned()),
            ("EVENT_BUS_NAME".to_owned(), BUS.to_owned()),
        ]);
        for (name, value) in extra {
            env.insert((*name).to_owned(), (*value).to_owned());
        }
        let config = Config::from_env(&env).expect("valid configuration");
        let license_manager = LicenseManager::new(self.lm(account).await, config.max_concurrency)
            .with_retry(RetryPolicy {
                max_attempts: 2,
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(10),
            });
        LicenseEvents::new(
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
    handler: &LicenseEvents,
    payload: Value,
) -> Result<Summary, license_events::LicenseEventsError> {
    handler
        .handle(LambdaEvent {
            payload,
            context: Context::default(),
        })
        .await
}

/// What a test license looks like.
pub struct LicenseSpec {
    pub sku: &'static str,
    pub validity_end: String,
    pub max_count: i64,
    pub overage: bool,
}

impl Default for LicenseSpec {
    fn default() -> Self {
        Self {
            sku: "acme-pro",
            validity_end: "2030-01-01T00:00:00Z".into(),
            max_count: 10,
            overage: false,
        }
    }
}

/// A time `days` from now, as License Manager writes `Validity.End`.
pub fn days_from_now(days: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::days(days))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Issues a license from `isv` for the customer as beneficiary.
pub async fn issue_license(isv: &aws_sdk_licensemanager::Client, spec: &LicenseSpec) -> String {
    isv.create_license()
        .license_name(format!("{} license", spec.sku))
        .product_name(format!("Acme {}", spec.sku))
        .product_sku(spec.sku)
        .issuer(Issuer::builder().name("Acme").build().unwrap())
        .home_region("us-east-1")
        .validity(
            DatetimeRange::builder()
                .begin("2025-01-01T00:00:00Z")
                .end(&spec.validity_end)
                .build()
                .unwrap(),
        )
        .entitlements(
            Entitlement::builder()
                .name("Users")
                .unit(EntitlementUnit::Count)
                .max_count(spec.max_count)
                .overage(spec.overage)
                .allow_check_in(true)
                .build()
                .unwrap(),
        )
        .beneficiary(CUSTOMER)
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

/// Grants `license` from `isv` to the customer, who accepts and activates it; the grant ARN.
pub async fn grant_to_customer(
    isv: &aws_sdk_licensemanager::Client,
    customer: &aws_sdk_licensemanager::Client,
    license: &str,
) -> String {
    let grant = isv
        .create_grant()
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
        .unwrap();
    let version = customer
        .accept_grant()
        .grant_arn(&grant)
        .send()
        .await
        .unwrap()
        .version
        .unwrap();
    customer
        .create_grant_version()
        .grant_arn(&grant)
        .source_version(version)
        .status(GrantStatus::Active)
        .client_token(uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .unwrap();
    grant
}

/// The ISV sets the license's status with a new version (CreateLicenseVersion).
pub async fn set_status(
    isv: &aws_sdk_licensemanager::Client,
    license: &str,
    status: LicenseStatus,
) {
    let current = isv
        .get_license()
        .license_arn(license)
        .send()
        .await
        .unwrap()
        .license
        .unwrap();
    isv.create_license_version()
        .license_arn(license)
        .source_version(current.version().unwrap())
        .license_name(current.license_name().unwrap())
        .product_name(current.product_name().unwrap())
        .issuer(Issuer::builder().name("Acme").build().unwrap())
        .home_region("us-east-1")
        .validity(current.validity().unwrap().clone())
        .set_entitlements(Some(current.entitlements().to_vec()))
        .consumption_configuration(current.consumption_configuration().unwrap().clone())
        .status(status)
        .client_token(uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .expect("create license version");
}

/// Only the events of `detail_type`.
pub fn of_type<'a>(events: &'a [(String, Value)], detail_type: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|(kind, _)| kind == detail_type)
        .map(|(_, detail)| detail)
        .collect()
}

/// A short pause for events to reach the queue (moto delivers synchronously; this is slack).
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}
