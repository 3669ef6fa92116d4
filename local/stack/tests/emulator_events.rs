#![allow(clippy::unwrap_used, clippy::expect_used)]
//! License Manager's own events, published by license-manager-local (`events_endpoint`) to
//! moto's EventBridge and read back from SQS queues that rules on each account's `default`
//! bus target: each detail-type on its operations, to exactly the accounts concerned.
//!
//! Accounts: the ISV 111122223333 issues and grants, the customer 123456789012 receives.
//! moto tells accounts apart by its `x-moto-account-id` header, which the test's clients set.
//!
//! Needs moto's server from the venv (`scripts/venv.sh dev`); fails, never skips, without it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_licensemanager::types::{
    AllowedOperation, BorrowConfiguration, CheckoutType, ConsumptionConfiguration,
    DigitalSignatureMethod, Entitlement, EntitlementData, EntitlementDataUnit, EntitlementUnit,
    GrantStatus, Issuer, LicenseStatus, ProvisionalConfiguration,
};
use aws_sdk_sqs::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_sqs::config::{ConfigBag, Intercept, RuntimeComponents};
use license_manager_local::{Config, Emulator, ManualClock};
use local_test_kit::clients::{CUSTOMER_ACCOUNT, ISV_ACCOUNT, REGION, sdk_config};
use local_test_kit::licenses::{client_token, key_fingerprint, validity_from_now};
use local_test_kit::moto::{MotoServer, default_moto_server, free_loopback_addr};
use serde_json::Value;

type LicenseManager = aws_sdk_licensemanager::Client;

const SKU: &str = "acme-events";
const ISSUER: &str = "Acme";
const QUEUE: &str = "license-manager-events";
/// How long a test waits for an event it expects.
const EXPECT_WITHIN: Duration = Duration::from_secs(20);
/// How long a queue that must stay empty is long-polled.
const QUIET_FOR_SECONDS: i32 = 3;

/// Sets moto's account header on every request of a client.
#[derive(Debug)]
struct MotoAccount(&'static str);

impl Intercept for MotoAccount {
    fn name(&self) -> &'static str {
        "MotoAccount"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_sqs::error::BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0);
        Ok(())
    }
}

/// One account: its License Manager client and the queue its `default` bus feeds.
struct Account {
    id: &'static str,
    license_manager: LicenseManager,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Account {
    /// Clients of `id`; when moto is given, a queue that receives every event of
    /// `source: aws.license-manager` on the account's `default` bus.
    async fn new(id: &'static str, license_manager_url: &str, moto_url: &str) -> Self {
        let config = sdk_config(id).await;
        let license_manager = LicenseManager::from_conf(
            aws_sdk_licensemanager::config::Builder::from(&config)
                .endpoint_url(license_manager_url)
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&config)
                .endpoint_url(moto_url)
                .interceptor(MotoAccount(id))
                .build(),
        );
        let events = aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::config::Builder::from(&config)
                .endpoint_url(moto_url)
                .interceptor(MotoAccount(id))
                .build(),
        );
        let queue_url = sqs
            .create_queue()
            .queue_name(QUEUE)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let queue_arn = format!("arn:aws:sqs:{REGION}:{id}:{QUEUE}");
        events
            .put_rule()
            .name(QUEUE)
            .event_bus_name("default")
            .event_pattern(r#"{"source": ["aws.license-manager"]}"#)
            .send()
            .await
            .unwrap();
        // moto's default target input drops the envelope's `account`; the whole event keeps it.
        let whole_event = aws_sdk_eventbridge::types::InputTransformer::builder()
            .input_template("<aws.events.event.json>")
            .build()
            .unwrap();
        events
            .put_targets()
            .rule(QUEUE)
            .event_bus_name("default")
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(queue_arn)
                    .input_transformer(whole_event)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        Self {
            id,
            license_manager,
            sqs,
            queue_url,
        }
    }

    /// The next event on the account's queue (long polling, removed from the queue).
    async fn next_event(&self) -> Value {
        let started = Instant::now();
        while started.elapsed() < EXPECT_WITHIN {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(1)
                .wait_time_seconds(5)
                .send()
                .await
                .unwrap();
            if let Some(message) = received.messages().first() {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
                return serde_json::from_str(message.body().unwrap()).unwrap();
            }
        }
        panic!(
            "no event reached account {} within {EXPECT_WITHIN:?}",
            self.id
        );
    }

    /// Asserts that the next event is `detail_type` with `action`, addressed to this
    /// account and naming `arn`; returns it.
    async fn expect(&self, detail_type: &str, action: &str, arn: &str) -> Value {
        let event = self.next_event().await;
        assert_eq!(event["source"], "aws.license-manager", "{event}");
        assert_eq!(event["detail-type"], detail_type, "{event}");
        assert_eq!(event["detail"]["action"], action, "{event}");
        assert_eq!(event["account"], self.id, "{event}");
        assert_eq!(event["region"], REGION, "{event}");
        let resources: Vec<&str> = event["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert!(resources.contains(&arn), "{arn} not in {event}");
        event
    }

    /// Asserts that no event reaches the account's queue within a long poll.
    async fn expect_none(&self) {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .wait_time_seconds(QUIET_FOR_SECONDS)
            .send()
            .await
            .unwrap();
        let bodies: Vec<&str> = received
            .messages()
            .iter()
            .filter_map(|m| m.body())
            .collect();
        assert!(bodies.is_empty(), "account {} received {bodies:?}", self.id);
    }
}

/// moto, an emulator publishing to it, and the two accounts.
struct Harness {
    /// moto's log and the state file.
    scratch: std::path::PathBuf,
    moto: MotoServer,
    emulator: Emulator,
    isv: Account,
    customer: Account,
}

impl Harness {
    /// Starts moto and an emulator on `clock` publishing to it; with `persisted`, the
    /// emulator keeps its state in a file (changes are published once saved).
    async fn start(clock: Arc<ManualClock>, persisted: bool) -> Self {
        let scratch = std::env::temp_dir().join(format!(
            "emulator-events-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&scratch).unwrap();
        let moto = MotoServer::start(&default_moto_server(), &scratch.join("moto.log"))
            .await
            .unwrap();
        let config = Config {
            events_endpoint: Some(moto.url()),
            region: REGION.to_owned(),
            state_file: persisted.then(|| scratch.join("state.json")),
            ..Config::default()
        };
        let emulator = Emulator::start_with_clock(config, "127.0.0.1:0".parse().unwrap(), clock)
            .await
            .unwrap();
        let isv = Account::new(ISV_ACCOUNT, &emulator.endpoint_url(), &moto.url()).await;
        let customer = Account::new(CUSTOMER_ACCOUNT, &emulator.endpoint_url(), &moto.url()).await;
        Self {
            scratch,
            moto,
            emulator,
            isv,
            customer,
        }
    }

    async fn stop(self) {
        self.emulator.shutdown().await;
        self.moto.stop().await;
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// A clock a minute ahead, so licenses valid from the (real) moment they are created are
/// valid on it.
fn clock_at_now() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        time::OffsetDateTime::now_utc() + time::Duration::minutes(1),
    ))
}

fn users() -> Entitlement {
    Entitlement::builder()
        .name("Users")
        .unit(EntitlementUnit::Count)
        .max_count(10)
        .allow_check_in(true)
        .build()
        .unwrap()
}

/// Provisional checkouts live 60 minutes; borrowing is allowed for a day.
fn consumption() -> ConsumptionConfiguration {
    ConsumptionConfiguration::builder()
        .provisional_configuration(
            ProvisionalConfiguration::builder()
                .max_time_to_live_in_minutes(60)
                .build()
                .unwrap(),
        )
        .borrow_configuration(
            BorrowConfiguration::builder()
                .max_time_to_live_in_minutes(1440)
                .allow_early_check_in(true)
                .build()
                .unwrap(),
        )
        .build()
}

fn one_user() -> EntitlementData {
    EntitlementData::builder()
        .name("Users")
        .unit(EntitlementDataUnit::Count)
        .value("1")
        .build()
        .unwrap()
}

/// CreateLicense as `issuer` for `beneficiary`; returns the license ARN.
async fn create_license(issuer: &LicenseManager, beneficiary: &str) -> String {
    issuer
        .create_license()
        .license_name("Acme events")
        .product_name("Acme events")
        .product_sku(SKU)
        .issuer(Issuer::builder().name(ISSUER).build().unwrap())
        .home_region(REGION)
        .validity(validity_from_now(Some(365)).unwrap())
        .entitlements(users())
        .beneficiary(beneficiary)
        .consumption_configuration(consumption())
        .client_token(client_token())
        .send()
        .await
        .unwrap()
        .license_arn
        .unwrap()
}

/// CreateLicenseVersion (same body, AVAILABLE) as the issuer.
async fn new_license_version(issuer: &LicenseManager, license_arn: &str) {
    issuer
        .create_license_version()
        .license_arn(license_arn)
        .license_name("Acme events v2")
        .product_name("Acme events")
        .issuer(Issuer::builder().name(ISSUER).build().unwrap())
        .home_region(REGION)
        .validity(validity_from_now(Some(365)).unwrap())
        .entitlements(users())
        .consumption_configuration(consumption())
        .status(LicenseStatus::Available)
        .client_token(client_token())
        .send()
        .await
        .unwrap();
}

/// CheckoutLicense (PROVISIONAL, one user) as `consumer` of a license account `issuer`
/// issued; returns the consumption token.
async fn checkout(consumer: &LicenseManager, issuer: &str) -> String {
    consumer
        .checkout_license()
        .product_sku(SKU)
        .checkout_type(CheckoutType::Provisional)
        .key_fingerprint(key_fingerprint(issuer, ISSUER))
        .entitlements(one_user())
        .client_token(client_token())
        .send()
        .await
        .unwrap()
        .license_consumption_token
        .unwrap()
}

/// CreateGrant of `license_arn` from the ISV to the customer; returns the grant ARN.
async fn grant(h: &Harness, license_arn: &str) -> String {
    h.isv
        .license_manager
        .create_grant()
        .client_token(client_token())
        .grant_name("events")
        .license_arn(license_arn)
        .principals(format!("arn:aws:iam::{}:root", h.customer.id))
        .home_region(REGION)
        .allowed_operations(AllowedOperation::CheckoutLicense)
        .allowed_operations(AllowedOperation::CheckoutBorrowLicense)
        .allowed_operations(AllowedOperation::CheckInLicense)
        .allowed_operations(AllowedOperation::ExtendConsumptionLicense)
        .allowed_operations(AllowedOperation::CreateToken)
        .send()
        .await
        .unwrap()
        .grant_arn
        .unwrap()
}

/// Asserts that both the ISV and the customer get `detail_type` / `action` about `arn`.
async fn both_get(h: &Harness, detail_type: &str, action: &str, arn: &str) -> Value {
    h.isv.expect(detail_type, action, arn).await;
    h.customer.expect(detail_type, action, arn).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_detail_type_reaches_exactly_the_accounts_concerned() {
    let clock = clock_at_now();
    let h = Harness::start(clock.clone(), false).await;
    let license = create_license(&h.isv.license_manager, "acme-customer-7").await;

    // Grant Change: granter and grantee, through the whole life of a grant.
    let grant_arn = grant(&h, &license).await;
    let created = both_get(&h, "Grant Change", "Created", &grant_arn).await;
    assert_eq!(created["detail"]["grantArn"], grant_arn.as_str());
    assert_eq!(created["detail"]["licenseArn"], license.as_str());
    assert_eq!(created["detail"]["status"], "PENDING_ACCEPT");
    h.customer
        .license_manager
        .accept_grant()
        .grant_arn(&grant_arn)
        .send()
        .await
        .unwrap();
    let accepted = both_get(&h, "Grant Change", "Accepted", &grant_arn).await;
    assert_eq!(accepted["detail"]["status"], "DISABLED");
    h.customer
        .license_manager
        .create_grant_version()
        .grant_arn(&grant_arn)
        .status(GrantStatus::Active)
        .client_token(client_token())
        .send()
        .await
        .unwrap();
    let activated = both_get(&h, "Grant Change", "NewVersion", &grant_arn).await;
    assert_eq!(activated["detail"]["status"], "ACTIVE");
    assert_eq!(activated["detail"]["version"], "2");

    // License Change: the issuer and the grantee.
    new_license_version(&h.isv.license_manager, &license).await;
    let versioned = both_get(&h, "License Change", "NewVersion", &license).await;
    assert_eq!(versioned["detail"]["version"], "2");
    assert_eq!(versioned["detail"]["status"], "AVAILABLE");

    // License Consumption Change: the consumer (customer) and the issuer.
    let token = checkout(&h.customer.license_manager, h.isv.id).await;
    let checked_out = both_get(&h, "License Consumption Change", "CheckedOut", &license).await;
    assert_eq!(
        checked_out["detail"]["licenseConsumptionToken"],
        token.as_str()
    );
    assert_eq!(checked_out["detail"]["checkoutType"], "PROVISIONAL");
    h.customer
        .license_manager
        .extend_license_consumption()
        .license_consumption_token(&token)
        .send()
        .await
        .unwrap();
    both_get(&h, "License Consumption Change", "Extended", &license).await;
    h.customer
        .license_manager
        .check_in_license()
        .license_consumption_token(&token)
        .send()
        .await
        .unwrap();
    both_get(&h, "License Consumption Change", "CheckedIn", &license).await;
    h.customer
        .license_manager
        .checkout_borrow_license()
        .license_arn(&license)
        .entitlements(one_user())
        .digital_signature_method(DigitalSignatureMethod::JwtPs384)
        .client_token(client_token())
        .send()
        .await
        .unwrap();
    both_get(&h, "License Consumption Change", "Borrowed", &license).await;

    // A provisional checkout that expires is announced when the emulator notices it.
    let expiring = checkout(&h.customer.license_manager, h.isv.id).await;
    both_get(&h, "License Consumption Change", "CheckedOut", &license).await;
    clock.advance(Duration::from_secs(2 * 3600));
    h.customer
        .license_manager
        .get_license_usage()
        .license_arn(&license)
        .send()
        .await
        .unwrap();
    let expired = both_get(&h, "License Consumption Change", "Expired", &license).await;
    assert_eq!(
        expired["detail"]["licenseConsumptionToken"],
        expiring.as_str()
    );

    // License Token Change: the caller only, once per token (a ClientToken replay changes
    // nothing and announces nothing).
    let create_token = h
        .customer
        .license_manager
        .create_token()
        .license_arn(&license)
        .client_token(client_token());
    let token_id = create_token.clone().send().await.unwrap().token_id.unwrap();
    let replayed = create_token.send().await.unwrap().token_id.unwrap();
    assert_eq!(replayed, token_id);
    let created = h
        .customer
        .expect("License Token Change", "Created", &license)
        .await;
    assert_eq!(created["detail"]["tokenId"], token_id.as_str());
    h.customer
        .license_manager
        .delete_token()
        .token_id(&token_id)
        .send()
        .await
        .unwrap();
    h.customer
        .expect("License Token Change", "Deleted", &license)
        .await;

    // A rejected and then deleted grant: both parties hear of each change.
    let rejected_arn = grant(&h, &license).await;
    both_get(&h, "Grant Change", "Created", &rejected_arn).await;
    h.customer
        .license_manager
        .reject_grant()
        .grant_arn(&rejected_arn)
        .send()
        .await
        .unwrap();
    both_get(&h, "Grant Change", "Rejected", &rejected_arn).await;
    h.isv
        .license_manager
        .delete_grant()
        .grant_arn(&rejected_arn)
        .version("1")
        .send()
        .await
        .unwrap();
    both_get(&h, "Grant Change", "Deleted", &rejected_arn).await;

    // DeleteLicense reaches the grantee of the grant still active.
    h.isv
        .license_manager
        .delete_license()
        .license_arn(&license)
        .source_version("2")
        .send()
        .await
        .unwrap();
    let deleted = both_get(&h, "License Change", "Deleted", &license).await;
    assert_eq!(deleted["detail"]["status"], "DELETED");

    // Nothing else: in particular the ISV heard nothing of the customer's tokens.
    h.isv.expect_none().await;
    h.customer.expect_none().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_accounts_private_license_never_reaches_the_customer() {
    // With a state file, so the path that publishes after saving is covered too.
    let h = Harness::start(clock_at_now(), true).await;
    // The ISV's own license, granted to nobody: only the ISV hears of it.
    let private = create_license(&h.isv.license_manager, "internal-use").await;
    checkout(&h.isv.license_manager, h.isv.id).await;
    h.isv
        .expect("License Consumption Change", "CheckedOut", &private)
        .await;
    new_license_version(&h.isv.license_manager, &private).await;
    h.isv.expect("License Change", "NewVersion", &private).await;
    h.customer.expect_none().await;

    // A grant the customer rejected does not make it a receiver of the license.
    let rejected = grant(&h, &private).await;
    both_get(&h, "Grant Change", "Created", &rejected).await;
    h.customer
        .license_manager
        .reject_grant()
        .grant_arn(&rejected)
        .send()
        .await
        .unwrap();
    both_get(&h, "Grant Change", "Rejected", &rejected).await;
    new_license_version(&h.isv.license_manager, &private).await;
    h.isv.expect("License Change", "NewVersion", &private).await;
    h.customer.expect_none().await;

    // A license whose beneficiary is the customer's account reaches it without a grant.
    let beneficiary = create_license(&h.isv.license_manager, h.customer.id).await;
    new_license_version(&h.isv.license_manager, &beneficiary).await;
    h.isv
        .expect("License Change", "NewVersion", &beneficiary)
        .await;
    h.customer
        .expect("License Change", "NewVersion", &beneficiary)
        .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_events_endpoint_neither_fails_nor_slows_calls() {
    let closed = free_loopback_addr().unwrap();
    let config = Config {
        events_endpoint: Some(format!("http://{closed}")),
        ..Config::default()
    };
    let emulator = Emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let isv = LicenseManager::from_conf(
        aws_sdk_licensemanager::config::Builder::from(&sdk_config(ISV_ACCOUNT).await)
            .endpoint_url(emulator.endpoint_url())
            .build(),
    );
    let started = Instant::now();
    let license = create_license(&isv, "acme-customer-7").await;
    for _ in 0..20 {
        let token = checkout(&isv, ISV_ACCOUNT).await;
        isv.check_in_license()
            .license_consumption_token(token)
            .send()
            .await
            .unwrap();
    }
    new_license_version(&isv, &license).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "42 calls took {elapsed:?} with an unreachable events endpoint"
    );
    let stopping = Instant::now();
    emulator.shutdown().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(6),
        "shutdown took {:?}",
        stopping.elapsed()
    );
}
