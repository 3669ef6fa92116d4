//! The template's functions and their event sources, run locally as the deployed stack runs
//! them.
//!
//! Each `AWS::Serverless::Function` becomes a [`lambda_host::Function`] running its real
//! bootstrap. Each `EventBridgeRule` event becomes the same rule (pattern and bus) on moto
//! with an SQS queue as its target, and a poller that long-polls the queue and invokes the
//! function as EventBridge invokes Lambda: asynchronously, retried on error
//! (`EventInvokeConfig.MaximumRetryAttempts`, default two retries), then Lambda's invocation
//! record into the `OnFailure` destination queue (and the original event into a
//! `DeadLetterQueue`, if the function has one). Each schedule fires on demand ([`Runtime::fire`])
//! and, when asked, on its rate. HTTP routes are collected for the HTTP API front.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use aws_sdk_sqs::types::MessageAttributeValue;
use lambda_host::failure::on_failure_record;
use lambda_host::{Function, FunctionConfig, Invocation, UNRESERVED_CONCURRENCY};
use local_test_kit::clients::{CUSTOMER_ACCOUNT, LOCAL_SECRET_KEY, REGION, sdk_error};
use local_test_kit::queues::{queue_url_of_arn, route_rule_to_queue};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::template::{FunctionDef, Template, Trigger};

/// How long a poller's ReceiveMessage waits for an event (long polling).
const POLL_WAIT_SECONDS: i32 = 1;
/// Pause between the attempts of a failed asynchronous invocation (Lambda waits minutes;
/// locally the retries follow quickly so a test or demo sees the outcome).
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Where the functions run and what they reach.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Directory holding the bootstraps (`target/debug` or `target/release`).
    pub bin_dir: PathBuf,
    /// Directory for the functions' logs (`<logical id>.log`).
    pub log_dir: PathBuf,
    /// moto's endpoint URL (`AWS_ENDPOINT_URL` of every function).
    pub moto_url: String,
    /// license-manager-local's endpoint URL (`AWS_ENDPOINT_URL_LICENSE_MANAGER`).
    pub license_manager_url: String,
    /// Extra variables for every function (they win over the template's).
    pub extra_environment: BTreeMap<String, String>,
    /// Whether schedules also fire on their rate, not only on demand.
    pub schedules: bool,
    /// Concurrency per function (logical id or binary), winning over the template's
    /// `ReservedConcurrentExecutions`.
    pub concurrency: BTreeMap<String, NonZeroUsize>,
}

/// One invocation the stack made, as the demo and tests observe it.
#[derive(Debug, Clone)]
pub struct InvocationRecord {
    /// The function's logical id.
    pub function: String,
    /// What triggered it: the template event's name, or `http` / `fire`.
    pub trigger: String,
    /// 1 for the first attempt, 2 and 3 for Lambda's retries.
    pub attempt: u32,
    /// The event handed over.
    pub payload: Value,
    /// The host's measurements and result.
    pub invocation: Invocation,
    /// Whether the event went to the dead-letter queue after this (last) attempt.
    pub dead_lettered: bool,
}

/// A local function and how its asynchronous invocations fail over.
pub struct LocalFunction {
    /// What the template says about it.
    pub definition: FunctionDef,
    /// The host running its bootstrap.
    pub host: Function,
    /// URL of its dead-letter queue, if it has one.
    pub dead_letter_queue_url: Option<String>,
    /// URL of its `OnFailure` destination queue, if it has one.
    pub on_failure_queue_url: Option<String>,
}

/// An HTTP route of the template, for the HTTP API front.
#[derive(Debug, Clone)]
pub struct RouteDef {
    /// Method (`ANY` included).
    pub method: String,
    /// Path.
    pub path: String,
    /// Whether the JWT authorizer guards it.
    pub authorized: bool,
    /// The function's logical id.
    pub function: String,
}

/// What is wired: the functions, their pollers and schedules.
pub struct Runtime {
    functions: BTreeMap<String, Arc<LocalFunction>>,
    routes: Vec<RouteDef>,
    /// Rule names created on moto, per function and event (`Function/Event` → rule).
    pub rules: BTreeMap<String, String>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
    records: broadcast::Sender<InvocationRecord>,
}

/// The SDK clients the runtime uses (the stack account on moto).
#[derive(Clone)]
pub struct MotoClients {
    /// EventBridge.
    pub events: aws_sdk_eventbridge::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
}

impl Runtime {
    /// Wires every function of `template`: hosts, rules with their queues and pollers,
    /// schedules. `stack_name` prefixes what it creates on moto.
    pub async fn start(
        template: &Template,
        clients: &MotoClients,
        stack_name: &str,
        options: &RuntimeOptions,
    ) -> Result<Self> {
        std::fs::create_dir_all(&options.log_dir)
            .with_context(|| format!("cannot create {}", options.log_dir.display()))?;
        let (records, _) = broadcast::channel(1024);
        let mut runtime = Self {
            functions: BTreeMap::new(),
            routes: Vec::new(),
            rules: BTreeMap::new(),
            tasks: std::sync::Mutex::default(),
            records,
        };
        for definition in &template.functions {
            let function = Arc::new(local_function(definition, clients, options).await?);
            runtime
                .functions
                .insert(definition.logical_id.clone(), function.clone());
            for event in &definition.events {
                match &event.trigger {
                    Trigger::EventBridgeRule {
                        pattern,
                        bus,
                        rule_name,
                        enabled,
                    } => {
                        if !enabled {
                            continue;
                        }
                        let name = rule_name.clone().unwrap_or_else(|| {
                            resource_name(stack_name, &definition.logical_id, &event.name)
                        });
                        let queue_url = route_rule_to_queue(
                            &clients.events,
                            &clients.sqs,
                            &name,
                            bus.as_deref(),
                            pattern,
                        )
                        .await
                        .with_context(|| {
                            format!("{} event {}", definition.logical_id, event.name)
                        })?;
                        runtime
                            .rules
                            .insert(format!("{}/{}", definition.logical_id, event.name), name);
                        runtime.spawn(tokio::spawn(poll(
                            clients.sqs.clone(),
                            queue_url,
                            function.clone(),
                            event.name.clone(),
                            runtime.records.clone(),
                        )));
                    }
                    Trigger::Schedule {
                        expression,
                        enabled,
                        ..
                    } => {
                        let every = match rate(expression) {
                            Ok(every) => Some(every),
                            Err(err) if options.schedules => {
                                tracing::warn!(function = %definition.logical_id, schedule = %event.name, error = %err, "fires on demand only");
                                None
                            }
                            Err(_) => None,
                        };
                        if let (true, true, Some(every)) = (options.schedules, *enabled, every) {
                            runtime.spawn(tokio::spawn(tick(
                                every,
                                function.clone(),
                                event.name.clone(),
                                clients.sqs.clone(),
                                runtime.records.clone(),
                            )));
                        }
                    }
                    Trigger::HttpApi {
                        method,
                        path,
                        authorized,
                    } => runtime.routes.push(RouteDef {
                        method: method.clone(),
                        path: path.clone(),
                        authorized: *authorized,
                        function: definition.logical_id.clone(),
                    }),
                }
            }
        }
        Ok(runtime)
    }

    /// Keeps a poller or timer, to stop it with the runtime.
    fn spawn(&self, task: JoinHandle<()>) {
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(task);
    }

    /// Every invocation from now on (subscribe before causing them).
    pub fn subscribe(&self) -> broadcast::Receiver<InvocationRecord> {
        self.records.subscribe()
    }

    /// The functions by logical id.
    pub fn functions(&self) -> &BTreeMap<String, Arc<LocalFunction>> {
        &self.functions
    }

    /// The function whose logical id or binary is `name`.
    pub fn function(&self, name: &str) -> Option<&Arc<LocalFunction>> {
        self.functions.get(name).or_else(|| {
            self.functions
                .values()
                .find(|function| function.definition.binary == name)
        })
    }

    /// The HTTP routes of the template.
    pub fn routes(&self) -> &[RouteDef] {
        &self.routes
    }

    /// Fires the schedules of function `name` (logical id or binary) now, as EventBridge
    /// Scheduler would: an asynchronous invocation per schedule, with retries and DLQ.
    pub async fn fire(
        &self,
        name: &str,
        sqs: &aws_sdk_sqs::Client,
    ) -> Result<Vec<InvocationRecord>> {
        let Some(function) = self.function(name) else {
            bail!(
                "no function {name:?} in the template (functions: {})",
                self.functions
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        let schedules: Vec<_> = function
            .definition
            .events
            .iter()
            .filter(|event| matches!(event.trigger, Trigger::Schedule { .. }))
            .map(|event| event.name.clone())
            .collect();
        if schedules.is_empty() {
            bail!("function {name} has no schedule to fire");
        }
        let mut outcomes = Vec::new();
        for schedule in schedules {
            outcomes.push(fire_schedule(function, &schedule, sqs, &self.records).await?);
        }
        Ok(outcomes)
    }

    /// Invokes `function` asynchronously now (retries, then its failure path), as a redrive
    /// does.
    pub async fn invoke_event(
        &self,
        function: &LocalFunction,
        trigger: &str,
        payload: Value,
        sqs: &aws_sdk_sqs::Client,
    ) -> InvocationRecord {
        invoke_async(function, trigger, payload, sqs, &self.records).await
    }

    /// Invokes `function` synchronously (as API Gateway does): one attempt, no retries, and
    /// throttled ([`lambda_host::InvokeError::Throttled`]) when its concurrency is in use.
    pub async fn invoke_sync(
        &self,
        function: &LocalFunction,
        trigger: &str,
        payload: Value,
    ) -> InvocationRecord {
        let invocation = function.host.try_invoke(payload.clone()).await;
        let record = InvocationRecord {
            function: function.definition.logical_id.clone(),
            trigger: trigger.to_owned(),
            attempt: 1,
            payload,
            invocation,
            dead_lettered: false,
        };
        let _ = self.records.send(record.clone());
        record
    }

    /// Stops the pollers and timers and the functions' processes.
    pub async fn stop(&self) {
        self.abort_tasks();
        for function in self.functions.values() {
            function.host.recycle().await;
        }
    }
}

impl Runtime {
    fn abort_tasks(&self) {
        let tasks = std::mem::take(
            &mut *self
                .tasks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for task in tasks {
            task.abort();
        }
    }
}

/// A runtime dropped half-wired (a later function failed to start) leaves no poller behind.
impl Drop for Runtime {
    fn drop(&mut self) {
        self.abort_tasks();
    }
}

/// The host configuration of `definition` running in `account`: its bootstrap from the
/// bin directory, the template's environment with the local endpoints, timeout, memory, logs
/// (`<log dir>/<logical id>.log`). Concurrency is left at the host's default.
pub fn host_config(
    definition: &FunctionDef,
    options: &RuntimeOptions,
    account: &str,
) -> Result<FunctionConfig> {
    let bootstrap = options.bin_dir.join(&definition.binary);
    if !bootstrap.is_file() {
        bail!(
            "{}: its bootstrap {} is not built (run `cargo build --bins`)",
            definition.logical_id,
            bootstrap.display()
        );
    }
    let mut config = FunctionConfig::new(definition.logical_id.clone(), bootstrap);
    config.environment = definition.environment.clone();
    config.environment.extend([
        ("AWS_ENDPOINT_URL".to_owned(), options.moto_url.clone()),
        (
            "AWS_ENDPOINT_URL_LICENSE_MANAGER".to_owned(),
            options.license_manager_url.clone(),
        ),
        // The emulator also serves the KMS keys of `Issuer.SignKey` (checkout-proxy's keys).
        (
            "AWS_ENDPOINT_URL_KMS".to_owned(),
            options.license_manager_url.clone(),
        ),
    ]);
    config.environment.extend(options.extra_environment.clone());
    config.timeout = definition.timeout;
    config.memory_mb = definition.memory_mb;
    config.region = REGION.to_owned();
    config.account = account.to_owned();
    config.secret_access_key = LOCAL_SECRET_KEY.to_owned();
    config.log_format.clone_from(&definition.log_format);
    config.log_level.clone_from(&definition.log_level);
    config.log_file = Some(log_path(&options.log_dir, &definition.logical_id));
    Ok(config)
}

async fn local_function(
    definition: &FunctionDef,
    clients: &MotoClients,
    options: &RuntimeOptions,
) -> Result<LocalFunction> {
    let mut config = host_config(definition, options, CUSTOMER_ACCOUNT)?;
    config.concurrency = concurrency(definition, &options.concurrency)?;
    let dead_letter_queue_url = match &definition.dead_letter_queue_arn {
        Some(arn) => Some(queue_url_of_arn(&clients.sqs, arn).await?),
        None => None,
    };
    let on_failure_queue_url = match &definition.on_failure_queue_arn {
        Some(arn) => Some(queue_url_of_arn(&clients.sqs, arn).await?),
        None => None,
    };
    Ok(LocalFunction {
        definition: definition.clone(),
        host: Function::new(config),
        dead_letter_queue_url,
        on_failure_queue_url,
    })
}

/// How many invocations of `definition` run at once: the stack's option for it, else its
/// `ReservedConcurrentExecutions`, else the account's unreserved concurrency.
fn concurrency(
    definition: &FunctionDef,
    options: &BTreeMap<String, NonZeroUsize>,
) -> Result<NonZeroUsize> {
    let chosen = options
        .get(&definition.logical_id)
        .or_else(|| options.get(&definition.binary));
    if let Some(chosen) = chosen {
        return Ok(*chosen);
    }
    match definition.reserved_concurrency {
        None => Ok(UNRESERVED_CONCURRENCY),
        Some(reserved) => usize::try_from(reserved)
            .ok()
            .and_then(NonZeroUsize::new)
            .with_context(|| {
                format!(
                    "{}: ReservedConcurrentExecutions {reserved} would throttle every \
                     invocation; give the local stack a concurrency for it (--concurrency {}=N)",
                    definition.logical_id, definition.binary
                )
            }),
    }
}

/// Where a function's output goes.
pub fn log_path(log_dir: &Path, logical_id: &str) -> PathBuf {
    log_dir.join(format!("{logical_id}.log"))
}

/// `<stack>-<function>-<event>`; when that passes the 64 characters a rule name allows, cut
/// (on a character boundary) and made unique again with a hash of the whole name.
fn resource_name(stack_name: &str, function: &str, event: &str) -> String {
    const MAX: usize = 64;
    let name = format!("{stack_name}-{function}-{event}");
    if name.len() <= MAX {
        return name;
    }
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let suffix = format!("-{:08x}", hash & 0xffff_ffff);
    let mut cut = MAX - suffix.len();
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}", &name[..cut])
}

/// Long-polls a rule's queue and invokes the function asynchronously with each event.
async fn poll(
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    function: Arc<LocalFunction>,
    trigger: String,
    records: broadcast::Sender<InvocationRecord>,
) {
    loop {
        let messages = receive_batch(&sqs, &queue_url).await;
        // The events of a batch run at once, as far as the function's concurrency allows (the
        // others wait for an environment); the next batch is taken once this one is done, so
        // no event outlives its visibility timeout in the queue.
        let mut batch = tokio::task::JoinSet::new();
        for message in messages {
            let (function, trigger, sqs, records, queue_url) = (
                function.clone(),
                trigger.clone(),
                sqs.clone(),
                records.clone(),
                queue_url.clone(),
            );
            batch.spawn(async move {
                let payload = message
                    .body()
                    .map_or(Ok(Value::Null), serde_json::from_str)
                    .unwrap_or_else(|_| {
                        Value::String(message.body().unwrap_or_default().to_owned())
                    });
                invoke_async(&function, &trigger, payload, &sqs, &records).await;
                delete_handled(&sqs, &queue_url, &message).await;
            });
        }
        while batch.join_next().await.is_some() {}
    }
}

/// One long poll of up to 10 messages of a rule's queue; none (after a pause) when the
/// receive fails, which is logged.
pub(crate) async fn receive_batch(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> Vec<aws_sdk_sqs::types::Message> {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .wait_time_seconds(POLL_WAIT_SECONDS)
        .max_number_of_messages(10)
        .send()
        .await;
    match received {
        Ok(out) => out.messages.unwrap_or_default(),
        Err(err) => {
            tracing::warn!(queue = %queue_url, error = %sdk_error(err), "cannot poll");
            tokio::time::sleep(Duration::from_secs(1)).await;
            Vec::new()
        }
    }
}

/// Deletes a message once handled; a failure is logged (the message comes back later).
pub(crate) async fn delete_handled(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    message: &aws_sdk_sqs::types::Message,
) {
    if let Some(receipt) = message.receipt_handle()
        && let Err(err) = sqs
            .delete_message()
            .queue_url(queue_url)
            .receipt_handle(receipt)
            .send()
            .await
    {
        tracing::warn!(queue = %queue_url, error = %sdk_error(err), "cannot delete a handled message");
    }
}

/// Invokes as Lambda invokes asynchronously: the first attempt, the configured retries,
/// then the original event to the dead-letter queue. Returns the last attempt's record.
pub async fn invoke_async(
    function: &LocalFunction,
    trigger: &str,
    payload: Value,
    sqs: &aws_sdk_sqs::Client,
    records: &broadcast::Sender<InvocationRecord>,
) -> InvocationRecord {
    let attempts = function.definition.async_retries + 1;
    // Lambda keeps one request id across an asynchronous invocation's retries.
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut attempt = 1;
    loop {
        let invocation = function
            .host
            .invoke_with_id(payload.clone(), request_id.clone())
            .await;
        let failed = invocation.result.is_err();
        let last = !failed || attempt == attempts;
        let mut record = InvocationRecord {
            function: function.definition.logical_id.clone(),
            trigger: trigger.to_owned(),
            attempt,
            payload: payload.clone(),
            invocation,
            dead_lettered: false,
        };
        if failed && last {
            // Lambda sends to both when a function has both (the template keeps one).
            let destination = send_on_failure(function, &record, sqs).await;
            record.dead_lettered = dead_letter(function, &record, sqs).await || destination;
        }
        // Nobody listening is fine: records are for observers.
        let _ = records.send(record.clone());
        if last {
            return record;
        }
        attempt += 1;
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

/// Sends the original event to the function's DLQ with Lambda's attributes.
async fn dead_letter(
    function: &LocalFunction,
    record: &InvocationRecord,
    sqs: &aws_sdk_sqs::Client,
) -> bool {
    let Some(queue_url) = &function.dead_letter_queue_url else {
        if function.on_failure_queue_url.is_none() {
            tracing::warn!(function = %record.function, "failed event dropped: the function has no dead-letter queue or OnFailure destination");
        }
        return false;
    };
    let error = record
        .invocation
        .result
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    let attribute = |value: &str| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
    };
    let (Ok(request_id), Ok(error_code), Ok(error_message)) = (
        attribute(&record.invocation.request_id),
        attribute("200"),
        attribute(&error),
    ) else {
        return false;
    };
    let sent = sqs
        .send_message()
        .queue_url(queue_url)
        .message_body(record.payload.to_string())
        .message_attributes("RequestID", request_id)
        .message_attributes("ErrorCode", error_code)
        .message_attributes("ErrorMessage", error_message)
        .send()
        .await;
    match sent {
        Ok(_) => true,
        Err(err) => {
            tracing::error!(function = %record.function, error = %sdk_error(err), "cannot dead-letter a failed event");
            false
        }
    }
}

/// Fires one schedule of `function` now.
async fn fire_schedule(
    function: &LocalFunction,
    schedule: &str,
    sqs: &aws_sdk_sqs::Client,
    records: &broadcast::Sender<InvocationRecord>,
) -> Result<InvocationRecord> {
    let payload = scheduled_payload(function, schedule)?;
    Ok(invoke_async(function, schedule, payload, sqs, records).await)
}

/// The event EventBridge Scheduler delivers: the schedule's `Input` with its context
/// attributes filled in, or `{}` when it has none.
pub fn scheduled_payload(function: &LocalFunction, schedule: &str) -> Result<Value> {
    scheduled_event(&function.definition, CUSTOMER_ACCOUNT, schedule)
}

/// The event schedule `schedule` of `definition`, a function in `account`, delivers (see
/// [`scheduled_payload`]).
pub fn scheduled_event(definition: &FunctionDef, account: &str, schedule: &str) -> Result<Value> {
    let input = definition
        .events
        .iter()
        .find_map(|event| match &event.trigger {
            Trigger::Schedule { input, .. } if event.name == schedule => Some(input.clone()),
            _ => None,
        })
        .with_context(|| format!("no schedule {schedule}"))?;
    let Some(input) = input else {
        return Ok(Value::Object(serde_json::Map::new()));
    };
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    let schedule_arn = format!(
        "arn:aws:scheduler:{REGION}:{account}:schedule/default/{}-{schedule}",
        definition.logical_id
    );
    let filled = input
        .replace(
            "<aws.scheduler.execution-id>",
            &uuid::Uuid::new_v4().to_string(),
        )
        .replace(
            "<aws.scheduler.scheduled-time>",
            &now.format(&Rfc3339).unwrap_or_default(),
        )
        .replace("<aws.scheduler.schedule-arn>", &schedule_arn)
        .replace("<aws.scheduler.attempt-number>", "1");
    serde_json::from_str(&filled)
        .with_context(|| format!("the Input of schedule {schedule} is not JSON: {filled}"))
}

/// Fires a schedule on its rate until aborted.
async fn tick(
    every: Duration,
    function: Arc<LocalFunction>,
    schedule: String,
    sqs: aws_sdk_sqs::Client,
    records: broadcast::Sender<InvocationRecord>,
) {
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        interval.tick().await;
        if let Err(err) = fire_schedule(&function, &schedule, &sqs, &records).await {
            tracing::error!(function = %function.definition.logical_id, %schedule, error = %err, "cannot fire");
        }
    }
}

/// The period of `rate(N unit)`; `cron(...)` schedules fire on demand only.
pub fn rate(expression: &str) -> Result<Duration> {
    let Some(inner) = expression
        .strip_prefix("rate(")
        .and_then(|rest| rest.strip_suffix(')'))
    else {
        bail!(
            "{expression}: only rate(...) schedules run on a timer locally; fire others on demand"
        );
    };
    let (count, unit) = inner
        .trim()
        .split_once(' ')
        .with_context(|| format!("{expression}: expected rate(<number> <unit>)"))?;
    let count: u64 = count
        .parse()
        .with_context(|| format!("{expression}: {count:?} is not a number"))?;
    let seconds = match unit.trim() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        other => bail!("{expression}: unknown unit {other:?}"),
    };
    anyhow::ensure!(count > 0, "{expression}: the rate must be positive");
    Ok(Duration::from_secs(count * seconds))
}

/// A record as JSON, for `local-stack fire` and logs.
pub fn describe_invocation(record: &InvocationRecord) -> Value {
    let invocation = &record.invocation;
    json!({
        "function": record.function,
        "trigger": record.trigger,
        "attempt": record.attempt,
        "requestId": invocation.request_id,
        "coldStart": invocation.cold(),
        "initMs": invocation.init.map(|init| init.as_secs_f64() * 1000.0),
        "durationMs": invocation.duration.as_secs_f64() * 1000.0,
        "maxRssKiB": invocation.max_rss_kib,
        "deadLettered": record.dead_lettered,
        "result": match &invocation.result {
            Ok(value) => json!({"ok": value}),
            Err(err) => json!({"error": err.to_string(), "errorType": err.error_type()}),
        },
    })
}

/// Sends the invocation record of `record` (the last of its attempts) to the function's
/// `OnFailure` destination queue. `true` when it was sent.
pub async fn send_on_failure(
    function: &LocalFunction,
    record: &InvocationRecord,
    sqs: &aws_sdk_sqs::Client,
) -> bool {
    let (Some(queue_url), Err(error)) = (&function.on_failure_queue_url, &record.invocation.result)
    else {
        return false;
    };
    let body = on_failure_record(
        &function.host.config().function_arn(),
        &record.invocation.request_id,
        &record.payload,
        error,
        record.attempt,
        OffsetDateTime::now_utc(),
    );
    match sqs
        .send_message()
        .queue_url(queue_url)
        .message_body(body.to_string())
        .send()
        .await
    {
        Ok(_) => true,
        Err(err) => {
            tracing::error!(function = %record.function, error = %sdk_error(err), "cannot send the invocation record to the OnFailure destination");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_resource_names_stay_within_64_characters_and_distinct() {
        let short = resource_name("stack", "Function", "Event");
        assert_eq!(short, "stack-Function-Event");
        let long = "E".repeat(80);
        let a = resource_name("stack", "Function", &format!("{long}a"));
        let b = resource_name("stack", "Function", &format!("{long}b"));
        assert!(a.len() <= 64 && b.len() <= 64);
        assert_ne!(a, b);
        let unicode = resource_name("stäck", "Fünction", &"é".repeat(40));
        assert!(unicode.len() <= 64);
    }

    #[test]
    fn rates_are_read_and_cron_is_refused_for_the_timer() {
        assert_eq!(rate("rate(15 minutes)").unwrap(), Duration::from_secs(900));
        assert_eq!(rate("rate(1 hour)").unwrap(), Duration::from_secs(3600));
        assert!(rate("cron(0 12 * * ? *)").is_err());
        assert!(rate("rate(0 hours)").is_err());
        assert!(rate("rate(5 fortnights)").is_err());
    }
}
