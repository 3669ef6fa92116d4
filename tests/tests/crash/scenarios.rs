//! The suites' scenarios: what each sets up, how its first invocation is made, and the promise
//! checked once Lambda's retries, the next sweep or the client's retries have run (README,
//! Events: every occurrence at least once, one `occurrenceId` per occurrence).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use aws_sdk_licensemanager::types::{
    GrantStatus, LicenseCountingType, LicenseSpecification, LicenseStatus,
};
use local_stack::control::{ApiCaller, Reply};
use local_stack::event_sources::InvocationRecord;
use local_test_kit::checkout::{CUSTOMER, SEATS, checkout_body, issue_customer_license};
use local_test_kit::clients::{Account, CUSTOMER_ACCOUNT, ISV_ACCOUNT, REGION};
use local_test_kit::licenses::{
    accept_and_activate, consumed, grant_from, grant_lasting, grant_status, set_license_status,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::World;

/// Which invocation license-events' scenario crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseTrigger {
    /// A `License Change` event about the deactivated license.
    Event,
    /// The expiry sweep, which finds both the deactivated and the expiring license.
    Sweep,
}

/// A crash-point suite: one function and a representative scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// A trusted ISV's grant, its `Grant Change` event, then the hourly sweep: the grant ends
    /// ACTIVE and `Grant Accepted` is on the bus, every copy under one `occurrenceId`.
    GrantAcceptor,
    /// Two soft-limited configurations, one past its warning threshold, one past its count;
    /// the sweep, then the next: each crossing's event under one `occurrenceId`; with
    /// `harden`, the breached one ends hard with its `Soft Limit Exceeded` and
    /// `Soft Limit Enforced`.
    SoftLimitMonitor {
        /// `Enforcement=harden` (else `alert`).
        harden: bool,
    },
    /// A received license the ISV deactivated and one ending in ten days: `License Status
    /// Changed` and `License Expiring`, each under one `occurrenceId`, after the crashed
    /// invocation, its retries and the next expiry sweep.
    LicenseEvents {
        /// The invocation that crashes.
        trigger: LicenseTrigger,
    },
    /// A PROVISIONAL checkout with an `Idempotency-Key`, retried by the customer's app as the
    /// answer says: one seat held in the end, and its token checks in to zero.
    Checkout {
        /// The checkout names its node (the sticky lease of a restarting app).
        node: bool,
    },
}

/// The ARNs and names a scenario set up.
pub type Scenario = BTreeMap<&'static str, String>;

/// What a run left to look at.
#[derive(Debug, Default)]
pub struct Observed {
    /// Calls the first invocation made (the fault is lifted after it).
    pub first_calls: usize,
    /// The last attempt of the crashed asynchronous invocation.
    pub invocation: Option<InvocationRecord>,
    /// The next sweep's last attempt.
    pub sweep: Option<InvocationRecord>,
    /// The checkout's final answer and how many requests it took.
    pub answer: Option<(Reply, u32)>,
    /// Every event on the project's bus.
    pub events: Vec<Value>,
    /// Every message in the dead-letter queue.
    pub dead_letters: Vec<Value>,
}

/// The soft-limited configurations' count; the breached one has 12 instances, the warned 9.
const LICENSE_COUNT: i32 = 10;

impl Suite {
    /// The suite as the report names it.
    pub fn describe(self) -> String {
        match self {
            Self::GrantAcceptor => "grant-acceptor (Grant Change event, retries, sweep)".into(),
            Self::SoftLimitMonitor { harden: false } => {
                "soft-limit-monitor, Enforcement=alert (sweep, retries, sweep)".into()
            }
            Self::SoftLimitMonitor { harden: true } => {
                "soft-limit-monitor, Enforcement=harden (sweep, retries, sweep)".into()
            }
            Self::LicenseEvents {
                trigger: LicenseTrigger::Event,
            } => "license-events (License Change event, retries, expiry sweep)".into(),
            Self::LicenseEvents {
                trigger: LicenseTrigger::Sweep,
            } => "license-events (expiry sweep, retries, expiry sweep)".into(),
            Self::Checkout { node: false } => {
                "checkout-proxy (PROVISIONAL checkout with an Idempotency-Key, client retries)"
                    .into()
            }
            Self::Checkout { node: true } => "checkout-proxy (PROVISIONAL checkout of a node \
                 with an Idempotency-Key, client retries)"
                .into(),
        }
    }

    /// A short name for directories.
    pub fn slug(self) -> &'static str {
        match self {
            Self::GrantAcceptor => "grant-acceptor",
            Self::SoftLimitMonitor { harden: false } => "soft-limit-alert",
            Self::SoftLimitMonitor { harden: true } => "soft-limit-harden",
            Self::LicenseEvents { .. } => "license-events",
            Self::Checkout { .. } => "checkout",
        }
    }

    /// The function's binary.
    pub fn binary(self) -> &'static str {
        match self {
            Self::GrantAcceptor => "grant-acceptor",
            Self::SoftLimitMonitor { .. } => "soft-limit-monitor",
            Self::LicenseEvents { .. } => "license-events",
            Self::Checkout { .. } => "checkout-proxy",
        }
    }

    /// Template parameters beyond the local stack's.
    pub fn parameters(self) -> Vec<(String, String)> {
        match self {
            Self::SoftLimitMonitor { harden } => vec![(
                "Enforcement".to_owned(),
                if harden { "harden" } else { "alert" }.to_owned(),
            )],
            _ => Vec::new(),
        }
    }

    /// Creates the scenario's licenses, grants and configurations (straight on the emulator).
    pub async fn setup(self, world: &World) -> Result<Scenario> {
        let isv = Account::connect(ISV_ACCOUNT, &world.emulator_url).await;
        let customer = &world.clients.customer;
        let mut scenario = Scenario::new();
        match self {
            Self::GrantAcceptor => {
                let grant = grant_from(&isv, "Acme", "acme-analytics", CUSTOMER_ACCOUNT).await?;
                scenario.insert("grant", grant);
            }
            Self::SoftLimitMonitor { .. } => {
                for (name, instances) in [("breached", 12), ("warned", 9)] {
                    let arn = soft_limited_configuration(customer, name, instances).await?;
                    scenario.insert(name, arn);
                }
            }
            Self::LicenseEvents { .. } => {
                let (deactivated, grant) =
                    grant_lasting(&isv, "Acme", "acme-reports", CUSTOMER_ACCOUNT, 365).await?;
                accept_and_activate(customer, &grant).await?;
                set_license_status(&isv, &deactivated, LicenseStatus::Deactivated).await?;
                let (expiring, grant) =
                    grant_lasting(&isv, "Acme", "acme-archive", CUSTOMER_ACCOUNT, 10).await?;
                accept_and_activate(customer, &grant).await?;
                scenario.insert("deactivated", deactivated);
                scenario.insert("expiring", expiring);
            }
            Self::Checkout { .. } => {
                let license = issue_customer_license(customer, CUSTOMER, SEATS).await?;
                scenario.insert("license", license);
            }
        }
        Ok(scenario)
    }

    /// The first invocation (under the fault), then what follows it: Lambda's retries and the
    /// next sweep, or the client's retries. `clear`: lift the fault after the first invocation.
    pub async fn run(self, world: &World, scenario: &Scenario, clear: bool) -> Result<Observed> {
        let mut observed = Observed::default();
        let function = world.function(self.binary())?;
        let first = match self {
            Self::GrantAcceptor => Some((
                "GrantChange",
                license_manager_event("Grant Change", &scenario["grant"], "grantArn"),
            )),
            Self::LicenseEvents {
                trigger: LicenseTrigger::Event,
            } => Some((
                "LicenseManagerEvents",
                license_manager_event("License Change", &scenario["deactivated"], "licenseArn"),
            )),
            Self::SoftLimitMonitor { .. }
            | Self::LicenseEvents {
                trigger: LicenseTrigger::Sweep,
            } => {
                let schedule = if self.binary() == "license-events" {
                    "ExpirySweep"
                } else {
                    "Sweep"
                };
                let payload = local_stack::event_sources::scheduled_payload(&function, schedule)?;
                Some((schedule, payload))
            }
            Self::Checkout { .. } => None,
        };
        if let Some((trigger, payload)) = first {
            let (record, first_calls) =
                world.invoke_async(&function, trigger, payload, clear).await;
            observed.first_calls = first_calls;
            observed.invocation = Some(record);
            if clear {
                observed.sweep = Some(world.sweep(self.binary()).await?);
            }
        } else {
            let node = matches!(self, Self::Checkout { node: true }).then_some("node-1");
            let (answer, first_calls) = checkout_as_told(world, node).await?;
            observed.first_calls = first_calls;
            observed.answer = Some(answer);
        }
        // moto delivers a rule's events to its queue within PutEvents; this is slack.
        tokio::time::sleep(Duration::from_millis(100)).await;
        observed.events = world.events().await?;
        observed.dead_letters = world.dead_letters().await?;
        Ok(observed)
    }

    /// What the scenario's promise is missing (empty: it held).
    pub async fn check(
        self,
        world: &World,
        scenario: &Scenario,
        observed: &Observed,
    ) -> Result<Vec<String>> {
        let mut failures = Vec::new();
        let events = &observed.events;
        match self {
            Self::GrantAcceptor => {
                let grant = &scenario["grant"];
                let status = grant_status(&world.clients.customer, grant).await?;
                if status != GrantStatus::Active {
                    failures.push(format!("the trusted grant is {status:?}, not ACTIVE"));
                }
                failures.extend(once_at_least(events, "Grant Accepted", grant));
            }
            Self::SoftLimitMonitor { harden } => {
                let breached = &scenario["breached"];
                failures.extend(once_at_least(events, "Soft Limit Exceeded", breached));
                failures.extend(once_at_least(
                    events,
                    "Soft Limit Warning",
                    &scenario["warned"],
                ));
                let hard = hard_limit(&world.clients.customer, breached).await?;
                if harden {
                    if !hard {
                        failures.push("the breached configuration is still soft".to_owned());
                    }
                    failures.extend(once_at_least(events, "Soft Limit Enforced", breached));
                } else if hard {
                    failures.push("alert mode hardened the breached configuration".to_owned());
                }
            }
            Self::LicenseEvents { .. } => {
                failures.extend(once_at_least(
                    events,
                    "License Status Changed",
                    &scenario["deactivated"],
                ));
                failures.extend(once_at_least(
                    events,
                    "License Expiring",
                    &scenario["expiring"],
                ));
            }
            Self::Checkout { .. } => {
                failures.extend(one_seat_then_none(world, scenario, observed).await?);
            }
        }
        Ok(failures)
    }
}

/// The promise under AccessDenied: the invocation failed all its attempts loudly and its
/// invocation record is in the dead-letter queue, once, as NeedsAttention.
pub fn check_dead_lettered(observed: &Observed) -> Vec<String> {
    let mut failures = Vec::new();
    if let Some(record) = &observed.invocation
        && record.invocation.result.is_ok()
    {
        failures.push(format!(
            "attempt {} succeeded: {}",
            record.attempt,
            record
                .invocation
                .result
                .as_ref()
                .map(Value::to_string)
                .unwrap_or_default()
        ));
    }
    match observed.dead_letters.as_slice() {
        [record] => {
            let error_type = &record["responsePayload"]["errorType"];
            if error_type != "NeedsAttention" {
                failures.push(format!(
                    "the dead-letter record's errorType is {error_type}, not NeedsAttention ({})",
                    record["responsePayload"]["errorMessage"]
                ));
            }
        }
        records => failures.push(format!(
            "{} records in the dead-letter queue, not 1",
            records.len()
        )),
    }
    failures
}

/// The event License Manager sends about `arn` (`detail.<field>` names it).
fn license_manager_event(detail_type: &str, arn: &str, field: &str) -> Value {
    let time = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    json!({
        "version": "0",
        "id": format!("00000000-0000-4000-8000-{:012}", super::unique()),
        "detail-type": detail_type,
        "source": "aws.license-manager",
        "account": CUSTOMER_ACCOUNT,
        "time": time.format(&Rfc3339).unwrap_or_default(),
        "region": REGION,
        "resources": [arn],
        "detail": {field: arn},
    })
}

/// `detail_type` about `arn` reached the bus at least once, every copy under one non-empty
/// `occurrenceId`; else what is wrong.
fn once_at_least(events: &[Value], detail_type: &str, arn: &str) -> Option<String> {
    let copies: Vec<&Value> = events
        .iter()
        .filter(|event| {
            event["detail-type"] == detail_type
                && event["resources"]
                    .as_array()
                    .is_some_and(|resources| resources.iter().any(|r| r == arn))
        })
        .collect();
    let ids: BTreeSet<&str> = copies
        .iter()
        .map(|event| event["detail"]["occurrenceId"].as_str().unwrap_or_default())
        .collect();
    if copies.is_empty() {
        Some(format!("no {detail_type} for {arn}"))
    } else if ids.len() != 1 || ids.contains("") {
        Some(format!(
            "{} copies of {detail_type} for {arn} under occurrenceIds {ids:?}",
            copies.len()
        ))
    } else {
        None
    }
}

/// A soft-limited configuration `name` of [`LICENSE_COUNT`] instances, `instances` of which
/// use it; its ARN.
async fn soft_limited_configuration(
    customer: &Account,
    name: &str,
    instances: u32,
) -> Result<String> {
    let lm = &customer.license_manager;
    let arn = lm
        .create_license_configuration()
        .name(name)
        .license_counting_type(LicenseCountingType::Instance)
        .license_count(i64::from(LICENSE_COUNT))
        .license_count_hard_limit(false)
        .send()
        .await?
        .license_configuration_arn
        .context("no LicenseConfigurationArn")?;
    for n in 0..instances {
        lm.update_license_specifications_for_resource()
            .resource_arn(format!(
                "arn:aws:ec2:{REGION}:{CUSTOMER_ACCOUNT}:instance/i-{name}-{n:08x}"
            ))
            .add_license_specifications(
                LicenseSpecification::builder()
                    .license_configuration_arn(&arn)
                    .build()?,
            )
            .send()
            .await?;
    }
    Ok(arn)
}

async fn hard_limit(customer: &Account, configuration: &str) -> Result<bool> {
    let out = customer
        .license_manager
        .get_license_configuration()
        .license_configuration_arn(configuration)
        .send()
        .await?;
    Ok(out.license_count_hard_limit() == Some(true))
}

/// How many requests a customer's app makes at most for one checkout, and for how long.
const CLIENT_ATTEMPTS: u32 = 8;
const CLIENT_PATIENCE: Duration = Duration::from_secs(90);

/// The customer's app checks out one seat with one `Idempotency-Key`, retrying as the answer
/// says: a 5xx (API Gateway's 500 for a function that crashed or timed out, 502-504), 429,
/// or 409 `request-in-progress`, after `Retry-After` when given. The fault is lifted after the
/// first answer. The final answer with the number of requests, and the first request's calls.
async fn checkout_as_told(world: &World, node: Option<&str>) -> Result<((Reply, u32), usize)> {
    let caller = ApiCaller::new(&world.app, CUSTOMER)?;
    let key = format!("crash-point-{}", super::unique());
    let started = Instant::now();
    let mut first_calls = 0;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let reply = caller
            .call(
                "POST",
                "/v1/checkout",
                Some(checkout_body(1, node)),
                Some(&key),
            )
            .await;
        if attempt == 1 {
            first_calls = world.clear_fault();
        }
        let retry_after = match &reply {
            Ok(reply) if retryable(reply) => reply
                .headers
                .get("retry-after")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse::<u64>().ok())
                .map(|seconds| Duration::from_secs(seconds.min(10))),
            Ok(reply) => return Ok(((reply.clone(), attempt), first_calls)),
            Err(_) => None,
        };
        if attempt >= CLIENT_ATTEMPTS || started.elapsed() > CLIENT_PATIENCE {
            let reply = reply?;
            return Ok(((reply, attempt), first_calls));
        }
        tokio::time::sleep(retry_after.unwrap_or(Duration::from_millis(500))).await;
    }
}

fn retryable(reply: &Reply) -> bool {
    matches!(reply.status, 429 | 500 | 502 | 503 | 504)
        || (reply.status == 409 && reply.json()["code"] == "request-in-progress")
}

/// One seat is held after the checkout, and its token checks in to zero.
async fn one_seat_then_none(
    world: &World,
    scenario: &Scenario,
    observed: &Observed,
) -> Result<Vec<String>> {
    let mut failures = Vec::new();
    let license = &scenario["license"];
    let lm = &world.clients.customer.license_manager;
    let users = || async { consumed(lm, license, "Users").await };
    let Some((answer, attempts)) = &observed.answer else {
        return Ok(vec!["no answer".to_owned()]);
    };
    let held = users().await?;
    if !held.starts_with("1 of ") {
        failures.push(format!("{held} seats are held after the checkout, not 1"));
    }
    if answer.status != 200 {
        failures.push(format!(
            "the checkout's last answer (request {attempts}) is {} {}",
            answer.status, answer.body
        ));
        return Ok(failures);
    }
    let Some(token) = answer.json()["licenseConsumptionToken"]
        .as_str()
        .map(str::to_owned)
    else {
        failures.push(format!("the checkout answered no token: {}", answer.body));
        return Ok(failures);
    };
    let caller = ApiCaller::new(&world.app, CUSTOMER)?;
    let checked_in = caller.with_token("/v1/checkin", &token).await?;
    if checked_in.status != 204 {
        failures.push(format!(
            "the token's check-in answered {} {}",
            checked_in.status, checked_in.body
        ));
    }
    let left = users().await?;
    if !left.starts_with("0 of ") {
        failures.push(format!("{left} seats are held after the check-in, not 0"));
    }
    Ok(failures)
}
