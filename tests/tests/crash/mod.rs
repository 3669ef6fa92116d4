//! Crash points: a function's real bootstrap runs a scenario on the local Lambda host with
//! `fault-proxy` between it and its endpoints (License Manager and KMS on the emulator, the
//! rest on moto). A fault-free run numbers the calls of the first invocation; then, for every
//! call k, the scenario runs again in a fresh world where the process dies
//!
//! - before call k's effect: call k and every later call are held, never forwarded;
//! - after call k's effect: call k is forwarded and its answer dropped, every later call held;
//!
//! and is killed at its timeout (the suites use short timeouts, [`timeout`]). Then the fault
//! is cleared and what Lambda and the schedule do next runs: an asynchronous invocation's two
//! retries, each after the failed attempt's deadline, its invocation record into the
//! dead-letter queue if all three failed, then the next sweep; a customer app retries its
//! checkout as the answer tells it. The scenario's promise is checked on what is left: the
//! events on the bus, the dead-letter queue, License Manager's state.
//!
//! Worlds run in parallel ([`parallel`]), each on its own moto server (reset between crash
//! points) with its own emulator, proxy and functions: a held invocation mostly waits for its
//! timeout. Needs moto's server from the venv (`scripts/venv.sh dev`) and the workspace's
//! bootstraps (`cargo build --workspace --bins`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod scenarios;

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use fault_proxy::{CallRecord, Fault, FaultMode, FaultProxy, ProxyOptions, Upstreams};
use integration_tests::profile_dir;
use lambda_host::InvokeError;
use license_manager_local::{Config as EmulatorConfig, Emulator};
use local_stack::app::{App, AppOptions};
use local_stack::event_sources::{InvocationRecord, LocalFunction, MotoClients, send_on_failure};
use local_test_kit::bus;
use local_test_kit::clients::{CUSTOMER_ACCOUNT, Clients, REGION};
use local_test_kit::moto::{MotoServer, default_moto_server};
use local_test_kit::resources::{Infra, create_infra};
use serde_json::Value;

pub use scenarios::Suite;

/// The functions' timeout in the suites (`CRASH_TIMEOUT_SECONDS`, default 8): every crash
/// point waits for it once, when the held invocation is killed.
pub fn timeout() -> Duration {
    Duration::from_secs(env_number("CRASH_TIMEOUT_SECONDS", 8))
}

/// Worlds run at once (`CRASH_PARALLEL`, default 6): each is a moto server, an emulator, a
/// proxy and a bootstrap, mostly idle while a held invocation waits for its timeout.
pub fn parallel() -> usize {
    usize::try_from(env_number("CRASH_PARALLEL", 6))
        .unwrap_or(1)
        .max(1)
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a whole number")),
        Err(_) => default,
    }
}

/// Where the bootstraps are: `CRASH_BIN_DIR` when set (a copy, so that a long run does not
/// depend on a shared target directory staying unchanged), else this build's profile directory.
fn bin_dir() -> PathBuf {
    std::env::var_os("CRASH_BIN_DIR").map_or_else(profile_dir, PathBuf::from)
}

/// How call k fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    /// The process dies before call k's effect: call k and every later call are held.
    Before,
    /// The process dies after call k's effect: its answer is dropped, every later call held.
    After,
    /// Call k and every later call are refused with AccessDeniedException (an IAM or SCP
    /// change): the invocation must fail loudly, every attempt, into the dead-letter queue.
    Denied,
}

impl Crash {
    fn fault(self, call: u64) -> Fault {
        let (mode, sticky, after) = match self {
            Self::Before => (FaultMode::HoldRequest, true, None),
            Self::After => (FaultMode::DropAnswer, false, Some(FaultMode::HoldRequest)),
            Self::Denied => (
                FaultMode::Error {
                    status: 400,
                    code: "AccessDeniedException".to_owned(),
                },
                true,
                None,
            ),
        };
        Fault {
            call,
            mode,
            sticky,
            after,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Before => "dies before (request held)",
            Self::After => "dies after (answer dropped)",
            Self::Denied => "AccessDenied from here on",
        }
    }
}

/// The template with every function's timeout set to `timeout` (the suites need short ones),
/// written once per test process.
fn short_timeout_template(timeout: Duration) -> Result<PathBuf> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let text = std::fs::read_to_string(&source)
        .with_context(|| format!("cannot read {}", source.display()))?;
    let seconds = timeout.as_secs();
    let mut changed = 0;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            match trimmed.strip_prefix("Timeout: ") {
                Some(value) if value.chars().all(|c| c.is_ascii_digit()) => {
                    changed += 1;
                    format!("{}Timeout: {seconds}", &line[..line.len() - trimmed.len()])
                }
                _ => line.to_owned(),
            }
        })
        .collect();
    if changed == 0 {
        bail!("{} sets no Timeout to shorten", source.display());
    }
    let dir = std::env::temp_dir().join(format!("crash-points-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("template-{seconds}s.yaml"));
    std::fs::write(&path, lines.join("\n") + "\n")?;
    Ok(path)
}

/// One crash point's world: the emulator, the proxy, the template's functions behind it, and
/// clients that reach moto and the emulator directly (to set up and to look).
pub struct World {
    /// The emulator's URL (direct).
    pub emulator_url: String,
    emulator: Emulator,
    /// The proxy every function's calls go through.
    pub proxy: FaultProxy,
    /// Direct clients: the customer's (stack) account on moto and both accounts on the emulator.
    pub clients: Clients,
    /// What the template creates on moto.
    pub infra: Infra,
    /// The template's functions on the host, its HTTP API and issuer.
    pub app: App,
}

impl World {
    async fn start(
        moto_url: &str,
        work_dir: &Path,
        template: &Path,
        parameters: &[(String, String)],
    ) -> Result<Self> {
        let reset = local_stack::control::post(&format!("{moto_url}/moto-api/reset")).await?;
        if reset.0 != 200 {
            bail!("moto's reset answered {}: {}", reset.0, reset.1);
        }
        // No License Manager events: the only calls are those of the invocations a suite makes.
        let emulator = Emulator::start(
            EmulatorConfig {
                account_id: CUSTOMER_ACCOUNT.to_owned(),
                region: REGION.to_owned(),
                ..EmulatorConfig::default()
            },
            "127.0.0.1:0".parse()?,
        )
        .await?;
        let emulator_url = emulator.endpoint_url();
        let upstreams = Upstreams::all_to(moto_url)
            .with("license-manager", &emulator_url)
            .with("kms", &emulator_url)
            .with("sts", &emulator_url);
        let proxy = FaultProxy::start(ProxyOptions::new(upstreams)).await?;
        let clients = Clients::connect(moto_url, &emulator_url).await;
        let infra = create_infra(&clients).await?;
        let options = AppOptions {
            template: template.to_path_buf(),
            bin_dir: bin_dir(),
            work_dir: work_dir.to_path_buf(),
            api_port: 0,
            issuer_port: 0,
            parameters: parameters.iter().cloned().collect(),
            schedules: false,
            concurrency: BTreeMap::new(),
        };
        let moto = MotoClients {
            events: clients.events.clone(),
            sqs: clients.sqs.clone(),
        };
        let app = App::start(&options, &infra, &moto, &proxy.url(), &proxy.url()).await?;
        Ok(Self {
            emulator_url,
            emulator,
            proxy,
            clients,
            infra,
            app,
        })
    }

    async fn stop(self) {
        self.app.stop().await;
        self.emulator.shutdown().await;
        // The proxy stops when dropped, releasing what it still holds.
    }

    /// The function whose binary is `binary`.
    pub fn function(&self, binary: &str) -> Result<Arc<LocalFunction>> {
        self.app
            .runtime
            .function(binary)
            .cloned()
            .with_context(|| format!("no function {binary} in the template"))
    }

    /// The fault is lifted: later calls go through, held ones end. Returns how many calls
    /// were made until now.
    pub fn clear_fault(&self) -> usize {
        self.proxy.set_fault(None);
        self.proxy.release_held();
        self.proxy.calls().len()
    }

    /// An asynchronous invocation as Lambda makes it: the first attempt (under whatever fault
    /// is set), then, when `clear` is set, the fault lifted; up to two retries, each after the
    /// failed attempt's deadline (Lambda waits a minute or two; the point is that an attempt
    /// killed at its deadline is over); the invocation record into the function's OnFailure
    /// destination when all fail. Returns the last attempt's record and how many calls the
    /// first attempt made.
    pub async fn invoke_async(
        &self,
        function: &LocalFunction,
        trigger: &str,
        payload: Value,
        clear: bool,
    ) -> (InvocationRecord, usize) {
        let attempts = function.definition.async_retries + 1;
        let request_id = format!("crash-{}", unique());
        let timeout = function.host.config().timeout;
        let mut attempt = 1;
        let mut first_calls = 0;
        loop {
            let started = Instant::now();
            let invocation = function
                .host
                .invoke_with_id(payload.clone(), request_id.clone())
                .await;
            if attempt == 1 {
                first_calls = if clear {
                    self.clear_fault()
                } else {
                    self.proxy.calls().len()
                };
            }
            let record = InvocationRecord {
                function: function.definition.logical_id.clone(),
                trigger: trigger.to_owned(),
                attempt,
                payload: payload.clone(),
                invocation,
                dead_lettered: false,
            };
            if record.invocation.result.is_ok() {
                return (record, first_calls);
            }
            if attempt == attempts {
                let mut record = record;
                record.dead_lettered = send_on_failure(function, &record, &self.clients.sqs).await;
                return (record, first_calls);
            }
            // An attempt that failed early may hold a claim until its deadline.
            tokio::time::sleep(
                (timeout + Duration::from_millis(200)).saturating_sub(started.elapsed()),
            )
            .await;
            attempt += 1;
        }
    }

    /// Fires `binary`'s schedule now (an asynchronous invocation, fault-free).
    pub async fn sweep(&self, binary: &str) -> Result<InvocationRecord> {
        let function = self.function(binary)?;
        let schedule = function
            .definition
            .events
            .iter()
            .find(|event| {
                matches!(
                    event.trigger,
                    local_stack::template::Trigger::Schedule { .. }
                )
            })
            .map(|event| event.name.clone())
            .with_context(|| format!("{binary} has no schedule"))?;
        let payload = local_stack::event_sources::scheduled_payload(&function, &schedule)?;
        Ok(self
            .invoke_async(&function, &schedule, payload, false)
            .await
            .0)
    }

    /// Every event on the project's bus so far (each read once).
    pub async fn events(&self) -> Result<Vec<Value>> {
        bus::drain(&self.clients.sqs, &self.infra.events_queue_url).await
    }

    /// Every message in the dead-letter queue so far (each read once).
    pub async fn dead_letters(&self) -> Result<Vec<Value>> {
        bus::drain(&self.clients.sqs, &self.infra.dead_letter_queue_url).await
    }
}

/// A number no other call of this process returns.
pub fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// What one run of a scenario left.
#[derive(Debug)]
pub struct RunOutcome {
    /// Every call the proxy saw, in order.
    pub calls: Vec<CallRecord>,
    /// How many of them the first invocation made (the fault is lifted after it).
    pub first_calls: usize,
    /// What the scenario's promise is missing (empty: it held).
    pub failures: Vec<String>,
}

/// Runs `suite`'s scenario once in a fresh world on `moto_url`, with `fault` at the first
/// invocation.
async fn run_once(
    suite: Suite,
    moto_url: &str,
    work_dir: &Path,
    template: &Path,
    fault: Option<(Crash, Fault)>,
) -> Result<RunOutcome> {
    let world = World::start(moto_url, work_dir, template, &suite.parameters()).await?;
    let outcome = async {
        let scenario = suite.setup(&world).await?;
        world.proxy.reset();
        if let Some((_, fault)) = &fault {
            world.proxy.set_fault(Some(fault.clone()));
        }
        let denied = matches!(fault, Some((Crash::Denied, _)));
        let observed = suite.run(&world, &scenario, !denied).await?;
        let calls = world.proxy.calls();
        let first_calls = observed.first_calls.min(calls.len());
        let mut failures = if denied {
            scenarios::check_dead_lettered(&observed)
        } else {
            suite.check(&world, &scenario, &observed).await?
        };
        if !denied && calls[first_calls..].iter().any(|call| call.fault.is_some()) {
            failures.push("harness: a call after the first invocation met the fault".to_owned());
        }
        Ok::<_, anyhow::Error>(RunOutcome {
            calls,
            first_calls,
            failures,
        })
    }
    .await;
    world.stop().await;
    outcome
}

/// One crash point's result.
#[derive(Debug)]
pub struct PointResult {
    /// The call number.
    pub call: u64,
    /// How it failed.
    pub crash: Crash,
    /// Whether the first invocation reached call k (a shorter run never meets the fault).
    pub reached: bool,
    /// Call k as this run made it (`service operation`): calls made concurrently may come in
    /// another order than in the fault-free run.
    pub operation: String,
    /// What the scenario's promise is missing; empty when it held.
    pub failures: Vec<String>,
}

/// A suite's crash points and what became of them.
#[derive(Debug)]
pub struct Report {
    /// The suite.
    pub suite: String,
    /// The fault-free first invocation's calls (`service operation`).
    pub calls: Vec<String>,
    /// Every crash point tried.
    pub points: Vec<PointResult>,
    /// Wall time of the whole suite.
    pub took: Duration,
}

impl Report {
    /// Crash points whose fault was met.
    pub fn tried(&self) -> usize {
        self.points.iter().filter(|point| point.reached).count()
    }

    /// Crash points whose fault was met and whose promise held.
    pub fn held(&self) -> usize {
        self.points
            .iter()
            .filter(|point| point.reached && point.failures.is_empty())
            .count()
    }

    /// The report as text: a summary line, the calls, and each failed point.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "crash points of {}: {} calls, {} tried, {} held, {} not reached, in {:.1} s \
             (timeout {} s, {} worlds at once)\n",
            self.suite,
            self.calls.len(),
            self.tried(),
            self.held(),
            self.points.len() - self.tried(),
            self.took.as_secs_f64(),
            timeout().as_secs(),
            parallel(),
        );
        for (n, call) in self.calls.iter().enumerate() {
            let _ = writeln!(out, "  call {}: {call}", n + 1);
        }
        for point in &self.points {
            let name = if point.operation.is_empty() {
                self.calls
                    .get(usize::try_from(point.call).unwrap_or(usize::MAX) - 1)
                    .map_or("?", String::as_str)
            } else {
                point.operation.as_str()
            };
            if !point.reached {
                let _ = writeln!(
                    out,
                    "  not reached: call {} {name}, {}",
                    point.call,
                    point.crash.describe()
                );
            } else if !point.failures.is_empty() {
                let _ = writeln!(
                    out,
                    "  FAILED: call {} {name}, {}: {}",
                    point.call,
                    point.crash.describe(),
                    point.failures.join("; ")
                );
            }
        }
        out
    }

    /// Prints the report; panics with it unless every crash point whose fault was met held
    /// (a run that made fewer calls than the fault-free one is listed, not failed).
    pub fn assert_all_held(&self) {
        let text = self.describe();
        println!("{text}");
        assert!(
            self.tried() > 0 && self.held() == self.tried(),
            "some crash points did not hold:\n{text}"
        );
    }
}

/// Runs `suite` fault-free to number its calls, then once per call and each of `crashes`,
/// [`parallel`] worlds at a time.
pub async fn enumerate(suite: Suite, crashes: &[Crash]) -> Report {
    let started = Instant::now();
    let template = short_timeout_template(timeout()).expect("the short-timeout template");
    let root = std::env::temp_dir().join(format!(
        "crash-points-{}/{}-{}",
        std::process::id(),
        suite.slug(),
        unique()
    ));
    let mut motos = Vec::new();
    for n in 0..parallel() {
        let dir = root.join(format!("world-{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        let moto = MotoServer::start(&default_moto_server(), &dir.join("moto.log"))
            .await
            .expect("moto's server must start (`scripts/venv.sh dev` installs it)");
        motos.push((moto, dir));
    }

    let baseline = run_once(suite, &motos[0].0.url(), &motos[0].1, &template, None)
        .await
        .unwrap_or_else(|error| panic!("{suite:?}: the fault-free run failed: {error:#}"));
    assert!(
        baseline.failures.is_empty(),
        "{suite:?}: the fault-free run does not keep the promise, so its crash points mean \
         nothing: {:?}",
        baseline.failures
    );
    let first = &baseline.calls[..baseline.first_calls];
    assert!(!first.is_empty(), "{suite:?}: the scenario made no call");
    let calls: Vec<String> = first
        .iter()
        .map(|call| format!("{} {}", call.service, call.operation))
        .collect();

    let queue: VecDeque<(u64, Crash)> = (1..=first.len() as u64)
        .flat_map(|call| crashes.iter().map(move |crash| (call, *crash)))
        .collect();
    let queue = Arc::new(Mutex::new(queue));
    let results = Arc::new(Mutex::new(Vec::new()));
    let mut workers = tokio::task::JoinSet::new();
    for (moto, dir) in motos {
        let (queue, results, template) = (queue.clone(), results.clone(), template.clone());
        workers.spawn(async move {
            loop {
                let next = queue.lock().unwrap().pop_front();
                let Some((call, crash)) = next else { break };
                let fault = crash.fault(call);
                let outcome =
                    run_once(suite, &moto.url(), &dir, &template, Some((crash, fault))).await;
                let point = match outcome {
                    Ok(outcome) => {
                        let faulted = outcome
                            .calls
                            .iter()
                            .find(|record| record.number == call && record.fault.is_some());
                        PointResult {
                            call,
                            crash,
                            reached: faulted.is_some(),
                            operation: faulted.map_or_else(String::new, |record| {
                                format!("{} {}", record.service, record.operation)
                            }),
                            failures: outcome.failures,
                        }
                    }
                    Err(error) => PointResult {
                        call,
                        crash,
                        reached: true,
                        operation: String::new(),
                        failures: vec![format!("harness: {error:#}")],
                    },
                };
                results.lock().unwrap().push(point);
            }
            moto.stop().await;
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined.expect("a crash-point worker panicked");
    }
    let mut points = std::mem::take(&mut *results.lock().unwrap());
    points.sort_by_key(|point| (point.call, point.crash as u8));
    let _ = std::fs::remove_dir_all(&root);
    Report {
        suite: suite.describe(),
        calls,
        points,
        took: started.elapsed(),
    }
}

/// The error type of a failed invocation, for messages.
pub fn error_type(record: &InvocationRecord) -> Option<String> {
    record
        .invocation
        .result
        .as_ref()
        .err()
        .map(|error: &InvokeError| error.error_type().to_owned())
}
