//! The organization, locally (`local-stack --accounts N`): the emulator knows an organization
//! of N member accounts; the central stack (central.yaml) and every member's stack
//! (template.yaml with `CentralEventBusArn` set) are created on moto; each member's
//! grant-acceptor and soft-limit-monitor run their real bootstraps with that member's
//! identity. The demo: the ISV grants a license to the organization; each member's
//! grant-acceptor activates the member's own grant; the central bus receives every member's
//! `Grant Accepted`, naming the member; one member's soft-limit warning reaches the central
//! bus and the central alert topic.
//!
//! moto gives every access key that is not an AWS-style key one account (the management
//! account here), so on moto the member stacks share one bus and one state table and their
//! forward rule is one rule; License Manager (the emulator) keeps every member account apart,
//! and each function's events name its own account.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use aws_sdk_eventbridge::types::Target;
use aws_sdk_licensemanager::types::{GrantStatus, LicenseCountingType};
use lambda_host::Function;
use license_manager_local::organization::Organization;
use local_test_kit::bus;
use local_test_kit::clients::{Account, CUSTOMER_ACCOUNT, Clients, REGION, sdk_error};
use local_test_kit::licenses::{grant_to, issue_license};
use local_test_kit::queues::route_rule_to_queue;
use local_test_kit::resources::{EVENT_BUS, Infra, create_infra, create_topic_with_queue};
use serde_json::{Value, json};

use crate::app::{local_trust_policy, locals_in};
use crate::event_sources::{RuntimeOptions, host_config, scheduled_event};
use crate::report::{Recorder, Summary, done};
use crate::stack::{Stack, StackOptions};
use crate::template::{FunctionDef, LocalResource, Locals, Template, Trigger};
use crate::topic_relay::{RelayClients, TopicRelay, notified_event};

/// The organization's id.
pub const ORGANIZATION_ID: &str = "o-localorg0001";
/// The management account: the central stack's account (and moto's only account).
pub const MANAGEMENT_ACCOUNT: &str = CUSTOMER_ACCOUNT;
/// The central stack's name; its bus is named after it (central.yaml), as `make deploy-org`
/// names it by default.
pub const CENTRAL_STACK: &str = "license-automation-central";
/// The central alert topic (central.yaml's `AlertTopic`).
pub const CENTRAL_ALERT_TOPIC: &str = "license-automation-central-alerts";
/// The queue subscribed to the central alert topic, for the demo to read.
pub const CENTRAL_ALERTS_QUEUE: &str = "license-automation-central-alerts";
/// The rule (and queue) standing for central.yaml's `AuditRule`: every event on the central bus.
pub const CENTRAL_AUDIT_QUEUE: &str = "license-automation-central-audit";
/// The rule (and relay queue) of central.yaml's `AlertsRule`.
pub const CENTRAL_ALERTS_RULE: &str = "license-automation-central-AlertsRule";
/// The member stacks' `CentralForwardRule`.
pub const CENTRAL_FORWARD_RULE: &str = "license-automation-CentralForwardRule";
/// The ISV's issuer name and product (trusted by the local `TrustPolicy`).
const ISSUER: &str = "Acme";
const PRODUCT_SKU: &str = "acme-analytics";
/// The soft-limited configuration of the member whose limit is crossed: 9 of 10 in use.
const CONFIGURATION_COUNT: i64 = 10;
const CONFIGURATION_CONSUMED: i64 = 9;
/// How long an event may take to reach the central bus's queues.
const DELIVERY: Duration = Duration::from_secs(15);
/// Pause between two looks at a queue.
const POLL_PAUSE: Duration = Duration::from_millis(100);

/// How to run the organization demo.
#[derive(Debug, Clone)]
pub struct OrgOptions {
    /// How many member accounts.
    pub accounts: NonZeroUsize,
    /// moto, the emulator and the work directory.
    pub stack: StackOptions,
    /// The member stack's template (template.yaml).
    pub template: PathBuf,
    /// The central stack's template (central.yaml).
    pub central_template: PathBuf,
    /// Where the bootstraps are.
    pub bin_dir: PathBuf,
    /// Member stack parameters that replace the local ones.
    pub parameters: BTreeMap<String, String>,
}

/// What the organization demo found, for the report and for tests.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The steps.
    pub summary: Summary,
    /// The member accounts.
    pub members: Vec<String>,
    /// Members whose grant their own License Manager client reads as `ACTIVE`.
    pub active: BTreeSet<String>,
    /// Accounts named by the `Grant Accepted` events that reached the central bus.
    pub accepted_centrally: BTreeSet<String>,
    /// The member's `Soft Limit Warning` as it reached the central bus.
    pub warning_on_bus: Option<Value>,
    /// The same warning as the central alert topic delivered it (the event of the message).
    pub warning_on_topic: Option<Value>,
    /// How long things took and how much memory the functions used.
    pub timings: Timings,
}

/// The organization demo's numbers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    /// moto and the emulator started.
    pub started: Duration,
    /// The central and member stacks were ready (from the start).
    pub ready: Duration,
    /// The demo's steps, stacks included.
    pub demo: Duration,
    /// Peak resident memory of a grant-acceptor process, KiB.
    pub grant_acceptor_rss_kib: u64,
    /// Peak resident memory of a soft-limit-monitor process, KiB.
    pub soft_limit_monitor_rss_kib: u64,
}

impl Timings {
    /// `start 0.97 s (moto, emulator), ready 1.77 s (...), demo 2.17 s (...), total 3.14 s;
    /// peak RSS grant-acceptor 26.9 MB, soft-limit-monitor 25.4 MB`.
    pub fn describe(&self) -> String {
        format!(
            "start {:.2} s (moto, emulator), ready {:.2} s (central and member stacks), demo \
             {:.2} s (every step, the stacks included), total {:.2} s; peak RSS grant-acceptor \
             {:.1} MB, soft-limit-monitor {:.1} MB",
            self.started.as_secs_f64(),
            self.ready.as_secs_f64(),
            self.demo.as_secs_f64(),
            (self.started + self.demo).as_secs_f64(),
            mega_bytes(self.grant_acceptor_rss_kib),
            mega_bytes(self.soft_limit_monitor_rss_kib),
        )
    }
}

#[allow(clippy::cast_precision_loss)]
fn mega_bytes(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1_000_000.0
}

/// The member accounts: `210000000001`, `210000000002`, ...
pub fn member_accounts(count: NonZeroUsize) -> Vec<String> {
    (1..=count.get()).map(|i| format!("21{i:010}")).collect()
}

/// The organization of `members`, managed by [`MANAGEMENT_ACCOUNT`].
pub fn organization(members: &[String]) -> Organization {
    Organization {
        id: ORGANIZATION_ID.to_owned(),
        management_account: MANAGEMENT_ACCOUNT.to_owned(),
        accounts: members.to_vec(),
        organizational_units: BTreeMap::new(),
    }
}

/// Starts moto and the emulator with the organization, runs the demo, stops everything.
pub async fn run(options: &OrgOptions) -> Result<Outcome> {
    let started = Instant::now();
    let members = member_accounts(options.accounts);
    let stack = Stack::start_with(&options.stack, organization(&members)).await?;
    let outcome = demo(&stack, options, started).await;
    stack.stop().await;
    Ok(outcome)
}

/// One member account: its License Manager client and its two functions.
struct Member {
    account: Account,
    grant_acceptor: MemberFunction,
    soft_limit_monitor: MemberFunction,
}

/// A function of a member's stack on the host, with the event its schedule delivers.
struct MemberFunction {
    host: Function,
    sweep: Value,
}

impl MemberFunction {
    /// Invokes the sweep; its summary and the process's peak RSS (KiB). The process is
    /// recycled afterwards so that N members do not keep N processes.
    async fn sweep(&self) -> Result<(Value, u64)> {
        let invocation = self.host.invoke(self.sweep.clone()).await;
        self.host.recycle().await;
        let rss = invocation.max_rss_kib.unwrap_or(0);
        let summary = invocation
            .result
            .with_context(|| format!("{} failed", self.host.config().name))?;
        Ok((summary, rss))
    }
}

/// What the central stack created.
struct Central {
    bus_arn: String,
    audit_queue_url: String,
    alerts_queue_url: String,
    relay: TopicRelay,
}

/// Runs the organization demo against a stack started with [`organization`]: prints one line
/// per step, then the timings and the summary line.
pub async fn demo(stack: &Stack, options: &OrgOptions, started: Instant) -> Outcome {
    let started_in = started.elapsed();
    let members = member_accounts(options.accounts);
    let clients = Clients::connect(&stack.moto_url(), &stack.license_manager_url()).await;
    let mut recorder = Recorder::new();
    let mut outcome = Outcome {
        summary: recorder.summary(),
        members: members.clone(),
        active: BTreeSet::new(),
        accepted_centrally: BTreeSet::new(),
        warning_on_bus: None,
        warning_on_topic: None,
        timings: Timings {
            started: started_in,
            ..Timings::default()
        },
    };
    let steps = Steps {
        stack,
        options,
        clients: &clients,
        members: &members,
        started,
    };
    let result = steps.run(&mut recorder, &mut outcome).await;
    recorder.end("the organization", result);
    outcome.summary = recorder.summary();
    outcome.timings.demo = Duration::from_secs_f64(outcome.summary.seconds);
    println!();
    println!(
        "{} member accounts: {}",
        members.len(),
        outcome.timings.describe()
    );
    println!("{}", outcome.summary);
    outcome
}

struct Steps<'a> {
    stack: &'a Stack,
    options: &'a OrgOptions,
    clients: &'a Clients,
    members: &'a [String],
    started: Instant,
}

impl Steps<'_> {
    async fn run(&self, recorder: &mut Recorder, outcome: &mut Outcome) -> Result<()> {
        recorder.begin("the central stack in moto (what central.yaml creates)");
        let central = self.central_stack(recorder).await?;
        recorder.begin(&format!(
            "{} member stacks (what template.yaml creates with CentralEventBusArn)",
            self.members.len()
        ));
        let members = self.member_stacks(recorder, &central.bus_arn).await?;
        outcome.timings.ready = self.started.elapsed();

        recorder.begin("the ISV grants a license to the organization");
        self.grant_to_organization(recorder).await?;

        recorder.begin("every member's grant-acceptor activates its own grant");
        for member in &members {
            let rss = self.activate(recorder, member).await?;
            outcome.active.insert(member.account.id.to_owned());
            outcome.timings.grant_acceptor_rss_kib =
                outcome.timings.grant_acceptor_rss_kib.max(rss);
        }
        let expected: BTreeSet<String> = self.members.iter().cloned().collect();
        outcome.accepted_centrally = recorder
            .step(
                "the central bus received every member's Grant Accepted, naming its account",
                async {
                    let accounts =
                        accepted_accounts(self.clients, &central, expected.len()).await?;
                    let missing: Vec<&String> = expected.difference(&accounts).collect();
                    ensure!(
                        missing.is_empty(),
                        "no Grant Accepted on the central bus from {missing:?} (got {accounts:?})"
                    );
                    let details =
                        format!("{} of {} member accounts", accounts.len(), expected.len());
                    done(accounts, details)
                },
            )
            .await?;

        let member = members.first().context("no member accounts")?;
        recorder.begin(&format!(
            "member {}'s soft limit, seen centrally",
            member.account.id
        ));
        self.soft_limit(recorder, member, &central, outcome).await
    }

    async fn central_stack(&self, recorder: &mut Recorder) -> Result<Central> {
        let clients = self.clients;
        let central_template = read(&self.options.central_template)?;
        let pattern = |rule: &str| {
            Template::required_property(
                &central_template,
                &central_locals(""),
                rule,
                "/EventPattern",
            )
            .with_context(|| self.options.central_template.display().to_string())
        };
        let bus_arn = recorder
            .step(&format!("create the central bus {CENTRAL_STACK}"), async {
                let out = clients
                    .events
                    .create_event_bus()
                    .name(CENTRAL_STACK)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                let arn = out.event_bus_arn().context("no EventBusArn")?.to_owned();
                done(arn.clone(), arn)
            })
            .await?;
        let audit_queue_url = recorder
            .step(
                "AuditRule: every event on the central bus to a queue (the audit log locally)",
                async {
                    let pattern = pattern("AuditRule")?;
                    let url = route_rule_to_queue(
                        &clients.events,
                        &clients.sqs,
                        CENTRAL_AUDIT_QUEUE,
                        Some(CENTRAL_STACK),
                        &pattern,
                    )
                    .await?;
                    done(url.clone(), format!("{pattern} -> {url}"))
                },
            )
            .await?;
        let (relay, alerts_queue_url) = recorder
            .step(
                "AlertsRule: alerts to the central alert topic (relayed: moto's EventBridge has no SNS targets), a queue subscribed to it",
                async {
                    let (topic_arn, queue_url) =
                        create_topic_with_queue(clients, CENTRAL_ALERT_TOPIC, CENTRAL_ALERTS_QUEUE).await?;
                    let relay = TopicRelay::start_for_template_rule(
                        &relay_clients(clients),
                        &central_template,
                        &central_locals(&topic_arn),
                        "AlertsRule",
                        CENTRAL_ALERTS_RULE,
                    )
                    .await?;
                    let details = format!(
                        "rule {CENTRAL_ALERTS_RULE} {}\n-> relay -> topic {topic_arn}\n-> queue {queue_url}",
                        relay.pattern
                    );
                    done((relay, queue_url), details)
                },
            )
            .await?;
        Ok(Central {
            bus_arn,
            audit_queue_url,
            alerts_queue_url,
            relay,
        })
    }

    async fn member_stacks(
        &self,
        recorder: &mut Recorder,
        central_bus_arn: &str,
    ) -> Result<Vec<Member>> {
        let clients = self.clients;
        let infra = recorder
            .step(
                "create the member stack's bus, state table, dead-letter queue and alert topic",
                async {
                    let infra = create_infra(clients).await?;
                    let details = format!(
                        "{}\n{}\n(moto has one account for every member's keys: the {} member \
                         stacks share these; License Manager keeps the accounts apart)",
                        infra.event_bus_arn,
                        infra.state_table_arn,
                        self.members.len()
                    );
                    done(infra, details)
                },
            )
            .await?;
        let parameters = self.member_parameters(central_bus_arn);
        let template_text = read(&self.options.template)?;
        recorder
            .step(
                "CentralForwardRule: every project event to the central bus, with its role",
                async {
                    let locals = locals_in(MANAGEMENT_ACCOUNT, &infra, parameters.clone());
                    let rule = forward_rule(&template_text, &locals, &self.options.template)?;
                    put_forward_rule(&clients.events, &rule).await?;
                    let details = format!(
                        "{} {} -> {} (role {})",
                        CENTRAL_FORWARD_RULE, rule.pattern, rule.target_arn, rule.role_arn
                    );
                    done((), details)
                },
            )
            .await?;
        recorder
            .step(
                "each member's grant-acceptor and soft-limit-monitor, with the member's identity",
                async {
                    let mut members = Vec::new();
                    for id in self.members {
                        members.push(self.member(id, &infra, &parameters).await?);
                    }
                    let details = format!(
                        "{} accounts: {} .. {}\nbootstraps from {}, logs in {}",
                        members.len(),
                        self.members.first().map_or("", String::as_str),
                        self.members.last().map_or("", String::as_str),
                        self.options.bin_dir.display(),
                        self.log_dir("<account>").display()
                    );
                    done(members, details)
                },
            )
            .await
    }

    fn member_parameters(&self, central_bus_arn: &str) -> BTreeMap<String, String> {
        let mut parameters = BTreeMap::from([
            ("TrustPolicy".to_owned(), local_trust_policy().to_string()),
            ("CentralEventBusArn".to_owned(), central_bus_arn.to_owned()),
        ]);
        parameters.extend(self.options.parameters.clone());
        parameters
    }

    fn log_dir(&self, account: &str) -> PathBuf {
        self.options.stack.work_dir.join("logs").join(account)
    }

    /// Member `id`'s functions, resolved from the template in its account.
    async fn member(
        &self,
        id: &str,
        infra: &Infra,
        parameters: &BTreeMap<String, String>,
    ) -> Result<Member> {
        let template = Template::load(
            &self.options.template,
            &locals_in(id, infra, parameters.clone()),
        )?;
        let runtime = RuntimeOptions {
            bin_dir: self.options.bin_dir.clone(),
            log_dir: self.log_dir(id),
            moto_url: self.stack.moto_url(),
            license_manager_url: self.stack.license_manager_url(),
            extra_environment: BTreeMap::new(),
            schedules: false,
            concurrency: BTreeMap::new(),
        };
        std::fs::create_dir_all(&runtime.log_dir)
            .with_context(|| format!("cannot create {}", runtime.log_dir.display()))?;
        let function = |binary: &str| -> Result<MemberFunction> {
            let definition = template.function(binary).with_context(|| {
                format!(
                    "{} has no function {binary}",
                    self.options.template.display()
                )
            })?;
            Ok(MemberFunction {
                host: Function::new(host_config(definition, &runtime, id)?),
                sweep: sweep_event(definition, id)?,
            })
        };
        // Account ids are 'static in the test kit's clients; a run has a bounded number.
        let id: &'static str = Box::leak(id.to_owned().into_boxed_str());
        Ok(Member {
            account: Account::connect(id, &self.stack.license_manager_url()).await,
            grant_acceptor: function("grant-acceptor")?,
            soft_limit_monitor: function("soft-limit-monitor")?,
        })
    }

    async fn grant_to_organization(&self, recorder: &mut Recorder) -> Result<()> {
        let isv = &self.clients.isv;
        let license_arn = recorder
            .step(
                &format!("ISV {ISSUER} ({}) issues a license", isv.id),
                async {
                    let arn = issue_license(isv, ISSUER, PRODUCT_SKU, MANAGEMENT_ACCOUNT).await?;
                    done(arn.clone(), format!("{arn}\nproduct {PRODUCT_SKU}"))
                },
            )
            .await?;
        let organization_arn = organization(self.members).arn();
        recorder
            .step(
                &format!("ISV {ISSUER} grants it to the organization {organization_arn}"),
                async {
                    let grant = grant_to(isv, &license_arn, &organization_arn).await?;
                    done(
                        (),
                        format!(
                            "{grant}\neach of the {} member accounts (and the management account) \
                         receives a grant of its own, PENDING_ACCEPT",
                            self.members.len()
                        ),
                    )
                },
            )
            .await
    }

    /// The member's grant-acceptor sweeps; its grant is then ACTIVE as the member reads it.
    /// Returns the process's peak RSS (KiB).
    async fn activate(&self, recorder: &mut Recorder, member: &Member) -> Result<u64> {
        let id = member.account.id;
        recorder
            .step(
                &format!("member {id}: grant-acceptor activates its grant"),
                async {
                    let (summary, rss) = member.grant_acceptor.sweep().await?;
                    ensure!(
                        summary["activated"] == json!(1),
                        "the sweep activated nothing: {summary}"
                    );
                    let grants = member
                        .account
                        .license_manager
                        .list_received_grants()
                        .send()
                        .await
                        .map_err(sdk_error)?
                        .grants
                        .unwrap_or_default();
                    let active: Vec<&str> = grants
                        .iter()
                        .filter(|grant| grant.grant_status() == &GrantStatus::Active)
                        .map(|grant| grant.grant_arn())
                        .collect();
                    ensure!(
                        grants.len() == 1 && active.len() == 1,
                        "{id} should hold one ACTIVE grant, holds {:?}",
                        grants
                            .iter()
                            .map(|g| (g.grant_arn(), g.grant_status().as_str()))
                            .collect::<Vec<_>>()
                    );
                    done(
                        rss,
                        format!("{summary}\n{} ACTIVE (as {id} reads it)", active.join(", ")),
                    )
                },
            )
            .await
    }

    async fn soft_limit(
        &self,
        recorder: &mut Recorder,
        member: &Member,
        central: &Central,
        outcome: &mut Outcome,
    ) -> Result<()> {
        let account = &member.account;
        let id = account.id;
        let configuration_arn = recorder
            .step(
                &format!("{id}: {CONFIGURATION_CONSUMED} of its {CONFIGURATION_COUNT} soft-limited instances in use"),
                async {
                    let arn = soft_limited_configuration(account).await?;
                    done(arn.clone(), arn)
                },
            )
            .await?;
        let rss = recorder
            .step(&format!("{id}: soft-limit-monitor warns"), async {
                let (summary, rss) = member.soft_limit_monitor.sweep().await?;
                ensure!(
                    summary["alerted"] == json!(1),
                    "the sweep alerted nothing: {summary}"
                );
                done(rss, summary.to_string())
            })
            .await?;
        outcome.timings.soft_limit_monitor_rss_kib = rss;
        let is_the_warning = |event: &Value| {
            event["detail-type"] == json!("Soft Limit Warning")
                && event["detail"]["account"] == json!(id)
                && event["detail"]["resourceArn"] == json!(configuration_arn)
        };
        let clients = self.clients;
        outcome.warning_on_bus = Some(
            recorder
                .step("the warning reached the central bus", async {
                    let event = first_event(clients, &central.audit_queue_url, |event| {
                        is_the_warning(event).then(|| event.clone())
                    })
                    .await?
                    .context("no Soft Limit Warning from the member on the central bus")?;
                    let details = bus::describe(&event);
                    done(event, details)
                })
                .await?,
        );
        outcome.warning_on_topic = Some(
            recorder
                .step("the warning reached the central alert topic", async {
                    let event = first_event(clients, &central.alerts_queue_url, |message| {
                        notified_event(message).filter(|event| is_the_warning(event))
                    })
                    .await?
                    .with_context(|| {
                        format!(
                            "no Soft Limit Warning from the member on the topic ({} events relayed)",
                            central.relay.relayed()
                        )
                    })?;
                    let details = format!(
                        "{}\n(message of {}, relayed from rule {})",
                        bus::describe(&event),
                        central.relay.topic_arn,
                        central.relay.rule
                    );
                    done(event, details)
                })
                .await?,
        );
        Ok(())
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// What central.yaml's intrinsic functions resolve to locally, the alert topic being
/// `topic_arn`.
fn central_locals(topic_arn: &str) -> Locals {
    let bus_arn = format!("arn:aws:events:{REGION}:{MANAGEMENT_ACCOUNT}:event-bus/{CENTRAL_STACK}");
    Locals {
        parameters: BTreeMap::from([("OrganizationId".to_owned(), ORGANIZATION_ID.to_owned())]),
        resources: BTreeMap::from([
            (
                "CentralEventBus".to_owned(),
                LocalResource {
                    reference: CENTRAL_STACK.to_owned(),
                    attributes: BTreeMap::from([
                        ("Arn".to_owned(), bus_arn),
                        ("Name".to_owned(), CENTRAL_STACK.to_owned()),
                    ]),
                },
            ),
            (
                "AlertTopic".to_owned(),
                LocalResource {
                    reference: topic_arn.to_owned(),
                    attributes: BTreeMap::new(),
                },
            ),
        ]),
        stack_name: CENTRAL_STACK.to_owned(),
        account: MANAGEMENT_ACCOUNT.to_owned(),
        region: REGION.to_owned(),
    }
}

fn relay_clients(clients: &Clients) -> RelayClients {
    RelayClients {
        events: clients.events.clone(),
        sqs: clients.sqs.clone(),
        sns: clients.sns.clone(),
    }
}

/// template.yaml's `CentralForwardRule`, resolved.
struct ForwardRule {
    pattern: Value,
    target_id: String,
    target_arn: String,
    role_arn: String,
}

fn forward_rule(template: &str, locals: &Locals, path: &Path) -> Result<ForwardRule> {
    let read = || -> Result<ForwardRule> {
        let text = |pointer: &str| {
            Template::required_string(template, locals, "CentralForwardRule", pointer)
        };
        Ok(ForwardRule {
            pattern: Template::required_property(
                template,
                locals,
                "CentralForwardRule",
                "/EventPattern",
            )?,
            target_id: text("/Targets/0/Id")?,
            target_arn: text("/Targets/0/Arn")?,
            role_arn: text("/Targets/0/RoleArn")?,
        })
    };
    read().with_context(|| format!("{} with CentralEventBusArn set", path.display()))
}

async fn put_forward_rule(events: &aws_sdk_eventbridge::Client, rule: &ForwardRule) -> Result<()> {
    events
        .put_rule()
        .name(CENTRAL_FORWARD_RULE)
        .event_bus_name(EVENT_BUS)
        .event_pattern(rule.pattern.to_string())
        .send()
        .await
        .map_err(sdk_error)?;
    let out = events
        .put_targets()
        .rule(CENTRAL_FORWARD_RULE)
        .event_bus_name(EVENT_BUS)
        .targets(
            Target::builder()
                .id(&rule.target_id)
                .arn(&rule.target_arn)
                .role_arn(&rule.role_arn)
                .build()?,
        )
        .send()
        .await
        .map_err(sdk_error)?;
    ensure!(
        out.failed_entry_count() == 0,
        "PutTargets failed: {:?}",
        out.failed_entries()
    );
    Ok(())
}

/// The event the function's first schedule delivers in `account`.
fn sweep_event(definition: &FunctionDef, account: &str) -> Result<Value> {
    let Some(schedule) = definition
        .events
        .iter()
        .find(|event| matches!(event.trigger, Trigger::Schedule { .. }))
    else {
        bail!("{} has no schedule to sweep with", definition.logical_id);
    };
    scheduled_event(definition, account, &schedule.name)
}

/// The accounts of the `Grant Accepted` events on the central bus, read until `expected` of
/// them arrived or [`DELIVERY`] passed.
async fn accepted_accounts(
    clients: &Clients,
    central: &Central,
    expected: usize,
) -> Result<BTreeSet<String>> {
    let deadline = Instant::now() + DELIVERY;
    let mut accounts = BTreeSet::new();
    loop {
        for event in bus::drain(&clients.sqs, &central.audit_queue_url).await? {
            if event["detail-type"] == json!("Grant Accepted")
                && let Some(account) = event["detail"]["account"].as_str()
            {
                accounts.insert(account.to_owned());
            }
        }
        if accounts.len() >= expected || Instant::now() >= deadline {
            return Ok(accounts);
        }
        tokio::time::sleep(POLL_PAUSE).await;
    }
}

/// The first message of `queue_url` that `pick` accepts, waiting up to [`DELIVERY`].
async fn first_event(
    clients: &Clients,
    queue_url: &str,
    pick: impl Fn(&Value) -> Option<Value>,
) -> Result<Option<Value>> {
    let deadline = Instant::now() + DELIVERY;
    loop {
        let messages = bus::drain(&clients.sqs, queue_url).await?;
        if let Some(found) = messages.iter().find_map(&pick) {
            return Ok(Some(found));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(POLL_PAUSE).await;
    }
}

/// A soft-limited license configuration of `account` with 9 of its 10 instances in use.
async fn soft_limited_configuration(account: &Account) -> Result<String> {
    let arn = account
        .license_manager
        .create_license_configuration()
        .name("instances")
        .license_counting_type(LicenseCountingType::Instance)
        .license_count(CONFIGURATION_COUNT)
        .license_count_hard_limit(false)
        .send()
        .await
        .map_err(sdk_error)?
        .license_configuration_arn
        .context("no LicenseConfigurationArn")?;
    for n in 1..=CONFIGURATION_CONSUMED {
        crate::flows::soft_limit_monitor::specify(account, &arn, n, true).await?;
    }
    Ok(arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_distinct_twelve_digit_accounts_of_a_valid_organization() {
        let members = member_accounts(NonZeroUsize::new(20).unwrap_or(NonZeroUsize::MIN));
        assert_eq!(members.len(), 20);
        assert_eq!(members[0], "210000000001");
        assert_eq!(members.iter().collect::<BTreeSet<_>>().len(), 20);
        let organization = organization(&members);
        organization
            .validate()
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!members.contains(&organization.management_account));
    }
}
