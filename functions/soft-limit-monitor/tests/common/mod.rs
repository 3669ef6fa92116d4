//! The world the soft-limit-monitor's tests run in: license-manager-local in-process (the
//! customer account's license configurations and licenses), moto's server for the state table
//! and the project's bus, and a queue that receives every event the function emits.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_licensemanager::types::{
    CheckoutType, DatetimeRange, Entitlement, EntitlementData, EntitlementDataUnit,
    EntitlementUnit, Issuer, LicenseCountingType, LicenseSpecification, Tag,
};
use lambda_runtime::{Context, LambdaEvent};
pub use license_automation::events_out::RetryPolicy;
use license_manager_local::{Config as EmulatorConfig, Emulator};
use local_stack::clients::{CUSTOMER_ACCOUNT, REGION, sdk_config};
use local_stack::moto::{MotoServer, default_moto_server};
use local_stack::resources;
use serde_json::Value;
use soft_limit_monitor::{Config, LicenseManager, SoftLimitMonitor, Summary};

/// The customer: the account the function runs in.
pub const CUSTOMER: &str = CUSTOMER_ACCOUNT;
/// The project's bus and the state table in moto.
pub const BUS: &str = "license-automation";
pub const TABLE: &str = "license-automation-state";

/// A fixture of `events/soft-limit-monitor/`.
pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/soft-limit-monitor")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The scheduled sweep's event, as the template's Scheduler input delivers it.
pub fn sweep_event() -> Value {
    fixture("scheduled.json")
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
            "soft-limit-monitor-moto-{}-{n}.log",
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

    /// The function configured with `extra` variables (besides the table and the bus).
    pub async fn monitor(&self, extra: &[(&str, &str)]) -> SoftLimitMonitor {
        self.monitor_with_retry(extra, None).await
    }

    /// [`Self::monitor`] whose License Manager calls retry with `retry` instead of the default.
    pub async fn monitor_with_retry(
        &self,
        extra: &[(&str, &str)],
        retry: Option<RetryPolicy>,
    ) -> SoftLimitMonitor {
        let mut env: HashMap<String, String> = HashMap::from([
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
        SoftLimitMonitor::new(
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
    monitor: &SoftLimitMonitor,
    payload: Value,
) -> Result<Summary, soft_limit_monitor::SoftLimitMonitorError> {
    monitor
        .handle(LambdaEvent {
            payload,
            context: Context::default(),
        })
        .await
}

/// A scheduled sweep that must succeed.
pub async fn sweep(monitor: &SoftLimitMonitor) -> Summary {
    invoke(monitor, sweep_event())
        .await
        .expect("sweep succeeds")
}

/// Creates a license configuration of `count` instances (`None`: no count) in the customer
/// account; hard when `hard`.
pub async fn configuration(
    customer: &aws_sdk_licensemanager::Client,
    name: &str,
    count: Option<i64>,
    hard: bool,
) -> String {
    customer
        .create_license_configuration()
        .name(name)
        .license_counting_type(LicenseCountingType::Instance)
        .set_license_count(count)
        .license_count_hard_limit(hard)
        .send()
        .await
        .expect("create license configuration")
        .license_configuration_arn
        .unwrap()
}

/// Tags `arn` with `key=value`.
pub async fn tag(customer: &aws_sdk_licensemanager::Client, arn: &str, key: &str, value: &str) {
    customer
        .tag_resource()
        .resource_arn(arn)
        .tags(Tag::builder().key(key).value(value).build())
        .send()
        .await
        .expect("tag resource");
}

fn instance(n: u32) -> String {
    format!("arn:aws:ec2:{REGION}:{CUSTOMER}:instance/i-{n:017x}")
}

/// Associates instances `range` with configuration `arn` (each consumes one license).
pub async fn consume(
    customer: &aws_sdk_licensemanager::Client,
    arn: &str,
    range: std::ops::Range<u32>,
) {
    for n in range {
        customer
            .update_license_specifications_for_resource()
            .resource_arn(instance(n))
            .add_license_specifications(
                LicenseSpecification::builder()
                    .license_configuration_arn(arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("associate instance");
    }
}

/// Disassociates instances `range` from configuration `arn`.
pub async fn release(
    customer: &aws_sdk_licensemanager::Client,
    arn: &str,
    range: std::ops::Range<u32>,
) {
    for n in range {
        customer
            .update_license_specifications_for_resource()
            .resource_arn(instance(n))
            .remove_license_specifications(
                LicenseSpecification::builder()
                    .license_configuration_arn(arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("disassociate instance");
    }
}

/// Whether configuration `arn`'s limit is hard now, and its count.
pub async fn limit(customer: &aws_sdk_licensemanager::Client, arn: &str) -> (bool, Option<i64>) {
    let out = customer
        .get_license_configuration()
        .license_configuration_arn(arn)
        .send()
        .await
        .unwrap();
    (
        out.license_count_hard_limit().unwrap_or_default(),
        out.license_count(),
    )
}

/// The customer issues itself a license whose `Users` entitlement has `max_count` and allows
/// overage when `overage`; the license ARN and its key fingerprint.
pub async fn issue_license(
    customer: &aws_sdk_licensemanager::Client,
    sku: &str,
    max_count: i32,
    overage: bool,
) -> String {
    customer
        .create_license()
        .license_name(format!("{sku} license"))
        .product_name(format!("Initech {sku}"))
        .product_sku(sku)
        .issuer(Issuer::builder().name("Initech").build().unwrap())
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
                .max_count(i64::from(max_count))
                .overage(overage)
                .allow_check_in(true)
                .build()
                .unwrap(),
        )
        .beneficiary("customer")
        .consumption_configuration(
            aws_sdk_licensemanager::types::ConsumptionConfiguration::builder()
                .renew_type(aws_sdk_licensemanager::types::RenewType::None)
                .build(),
        )
        .client_token(uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .expect("create license")
        .license_arn
        .unwrap()
}

/// Checks out `quantity` Users of the customer's own license of `sku`.
pub async fn check_out(customer: &aws_sdk_licensemanager::Client, sku: &str, quantity: u32) {
    customer
        .checkout_license()
        .product_sku(sku)
        .checkout_type(CheckoutType::Perpetual)
        .key_fingerprint(format!("aws:{CUSTOMER}:Initech:issuer-fingerprint"))
        .entitlements(
            EntitlementData::builder()
                .name("Users")
                .value(quantity.to_string())
                .unit(EntitlementDataUnit::Count)
                .build()
                .unwrap(),
        )
        .client_token(uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .expect("checkout");
}

/// The detail-types of `events`, in order.
pub fn types(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(kind, _)| kind.as_str()).collect()
}

/// A short pause for events to reach the queue (moto delivers synchronously; this is slack).
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}
