//! A local Lambda host: runs a function's real `bootstrap` as Lambda does.
//!
//! The host serves the Lambda Runtime API to a child process started with the environment
//! Lambda gives (`AWS_LAMBDA_RUNTIME_API`, function name, memory size, log format, region,
//! credentials and the function's own variables). Like Lambda it runs up to the function's
//! concurrency of processes (execution environments), keeps each warm between invocations and
//! hands it one invocation at a time; past the concurrency a synchronous caller is throttled
//! and an asynchronous one waits. It kills and replaces a process that passes the function's
//! timeout or crashes, and reports an init error. Each [`Invocation`]
//! carries what the benchmarks need: the init duration of a cold start (spawn until the first
//! `next`), the invocation's duration and the process's peak RSS (`VmHWM`).
//!
//! `cargo lambda watch` stays the loop for editing one function; this host is for what it does
//! not do: routing events from the template, the HTTP API's authorizer and measurement.

mod config;
pub mod failure;
mod invocation;
pub mod platform_report;
mod process;
pub mod runtime_api;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use crate::config::{FunctionConfig, UNRESERVED_CONCURRENCY};
pub use crate::invocation::{Invocation, InvokeError};
use crate::process::Process;
use crate::runtime_api::{Answer, Delivery, RuntimeApi};

/// Lambda's limit on the init phase of an on-demand function.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// A function served by up to `concurrency` execution environments (processes), each
/// handling one invocation at a time, as Lambda runs a function.
///
/// An invocation takes a warm idle environment (the most recently used) or starts a new one
/// (a cold start) while fewer than `concurrency` invocations run. Past that, [`Function::invoke`]
/// waits for a free environment (an asynchronous event waits in Lambda's queue) and
/// [`Function::try_invoke`] is refused at once (Lambda's `TooManyRequestsException` to a
/// synchronous caller). Cheap to clone (clones share the environments). An invocation runs
/// to its end (answer, crash or timeout) even when its caller stops waiting, so a process
/// never keeps an abandoned event.
#[derive(Clone)]
pub struct Function {
    inner: Arc<Inner>,
}

struct Inner {
    config: FunctionConfig,
    /// One permit per invocation that may run at once.
    slots: Arc<Semaphore>,
    /// Warm environments waiting for an invocation, the most recently used last.
    idle: std::sync::Mutex<Vec<Instance>>,
    /// Bumped by [`Function::recycle`]: an environment of an older generation is not reused.
    generation: AtomicU64,
    usage: std::sync::Mutex<Usage>,
}

/// A running bootstrap and the Runtime API it talks to.
struct Instance {
    process: Process,
    api: RuntimeApi,
    generation: u64,
}

/// What a function's environments have done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Environments started (cold starts, failed inits included).
    pub cold_starts: u64,
    /// Invocations refused because `concurrency` invocations were running.
    pub throttles: u64,
    /// Invocations running now.
    pub running: usize,
    /// The most invocations that ran at once.
    pub peak_running: usize,
}

impl Function {
    /// A function that starts its environments on demand (each start a cold start).
    pub fn new(config: FunctionConfig) -> Self {
        let slots = Arc::new(Semaphore::new(config.concurrency.get()));
        Self {
            inner: Arc::new(Inner {
                config,
                slots,
                idle: std::sync::Mutex::default(),
                generation: AtomicU64::new(0),
                usage: std::sync::Mutex::default(),
            }),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &FunctionConfig {
        &self.inner.config
    }

    /// What its environments have done so far.
    pub fn usage(&self) -> Usage {
        *lock(&self.inner.usage)
    }

    /// Invokes the function with `payload` under a new request id, waiting for a free
    /// environment when `concurrency` invocations are running.
    pub async fn invoke(&self, payload: Value) -> Invocation {
        self.invoke_with_id(payload, uuid::Uuid::new_v4().to_string())
            .await
    }

    /// Invokes the function with `payload` under `request_id` (Lambda keeps the request id
    /// of an asynchronous invocation across its retries), waiting for a free environment.
    pub async fn invoke_with_id(&self, payload: Value, request_id: String) -> Invocation {
        let inner = Arc::clone(&self.inner);
        let slots = Arc::clone(&self.inner.slots);
        self.spawn(payload, request_id, async move {
            // The semaphore is never closed, so acquiring only fails if it were.
            let permit = slots.acquire_owned().await.ok();
            (inner, permit)
        })
        .await
    }

    /// Invokes the function with `payload` as a synchronous caller does: when `concurrency`
    /// invocations are running it is refused at once with [`InvokeError::Throttled`].
    pub async fn try_invoke(&self, payload: Value) -> Invocation {
        let request_id = uuid::Uuid::new_v4().to_string();
        let Ok(permit) = Arc::clone(&self.inner.slots).try_acquire_owned() else {
            lock(&self.inner.usage).throttles += 1;
            return Invocation {
                request_id,
                result: Err(InvokeError::Throttled {
                    function: self.inner.config.name.clone(),
                    concurrency: self.inner.config.concurrency.get(),
                }),
                init: None,
                duration: Duration::ZERO,
                max_rss_kib: None,
                pid: None,
            };
        };
        let inner = Arc::clone(&self.inner);
        self.spawn(payload, request_id, async move { (inner, Some(permit)) })
            .await
    }

    /// Runs one invocation in its own task, once `slot` gives it a permit.
    async fn spawn(
        &self,
        payload: Value,
        request_id: String,
        slot: impl Future<Output = (Arc<Inner>, Option<OwnedSemaphorePermit>)> + Send + 'static,
    ) -> Invocation {
        let failed_id = request_id.clone();
        let task = tokio::spawn(async move {
            let (inner, permit) = slot.await;
            inner.started();
            let invocation = inner.invoke(payload, request_id).await;
            lock(&inner.usage).running -= 1;
            drop(permit);
            invocation
        });
        match task.await {
            Ok(invocation) => invocation,
            Err(err) => Invocation {
                request_id: failed_id,
                result: Err(InvokeError::Crashed {
                    status: "the host's invocation task failed".to_owned(),
                    last_output: err.to_string(),
                }),
                init: None,
                duration: Duration::ZERO,
                max_rss_kib: None,
                pid: None,
            },
        }
    }

    /// Stops every idle environment, and every busy one once its invocation ends, so the
    /// next invocation is a cold start.
    pub async fn recycle(&self) {
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        let idle = std::mem::take(&mut *lock(&self.inner.idle));
        for instance in idle {
            instance.process.kill().await;
        }
    }
}
impl Inner {
    /// Counts an invocation that got its slot.
    fn started(&self) {
        let mut usage = lock(&self.usage);
        usage.running += 1;
        usage.peak_running = usage.peak_running.max(usage.running);
    }

    /// A warm environment of the current generation, if one is idle (dead ones are dropped).
    fn take_idle(&self) -> Option<Instance> {
        let generation = self.generation.load(Ordering::SeqCst);
        let mut idle = lock(&self.idle);
        while let Some(mut instance) = idle.pop() {
            if instance.generation == generation && instance.process.alive() {
                return Some(instance);
            }
            // Dropping it kills its process (kill_on_drop).
        }
        None
    }

    async fn invoke(&self, payload: Value, request_id: String) -> Invocation {
        let failed = |error| Invocation {
            request_id: request_id.clone(),
            result: Err(error),
            init: None,
            duration: Duration::ZERO,
            max_rss_kib: None,
            pid: None,
        };
        let (mut instance, init) = match self.take_idle() {
            Some(instance) => (instance, None),
            None => {
                lock(&self.usage).cold_starts += 1;
                match self.cold_start().await {
                    Ok((instance, took)) => (instance, Some(took)),
                    Err(error) => return failed(error),
                }
            }
        };
        let (result, duration) = self.run(&mut instance, &request_id, payload).await;
        let pid = instance.process.pid();
        let max_rss_kib = instance.process.max_rss_kib();
        let replaced = matches!(
            result,
            Err(InvokeError::Timeout(_) | InvokeError::Crashed { .. })
        );
        if replaced || instance.generation != self.generation.load(Ordering::SeqCst) {
            // Lambda replaces an environment that timed out or crashed.
            instance.process.kill().await;
        } else {
            lock(&self.idle).push(instance);
        }
        let invocation = Invocation {
            request_id,
            result,
            init,
            duration,
            max_rss_kib,
            pid,
        };
        self.log_report(&invocation);
        invocation
    }

    /// Appends Lambda's `platform.report` line to the function's log (JSON log format only).
    fn log_report(&self, invocation: &Invocation) {
        let Some(path) = &self.config.log_file else {
            return;
        };
        if !self.config.log_format.eq_ignore_ascii_case("JSON") {
            return;
        }
        let report = platform_report::platform_report(
            invocation,
            self.config.memory_mb,
            OffsetDateTime::now_utc(),
        );
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| {
                std::io::Write::write_all(&mut file, format!("{report}\n").as_bytes())
            });
        if let Err(error) = written {
            tracing::warn!(log = %path.display(), %error, "cannot write the platform.report line");
        }
    }

    /// Starts a process and waits for its first `next`.
    async fn cold_start(&self) -> Result<(Instance, Duration), InvokeError> {
        let spawn_error = |err: std::io::Error| InvokeError::Spawn {
            bootstrap: self.config.bootstrap.display().to_string(),
            message: err.to_string(),
        };
        let api = RuntimeApi::start().await.map_err(spawn_error)?;
        let started = Instant::now();
        let mut process = Process::spawn(&self.config, &api.address()).map_err(spawn_error)?;
        let mut ready = api.ready.clone();
        let mut init_error = api.init_error.clone();
        let outcome = tokio::select! {
            ready = async { ready.wait_for(|ready| *ready).await.is_ok() } => {
                if ready { Ok(started.elapsed()) } else { Err(None) }
            }
            reported = async {
                init_error.wait_for(Option::is_some).await.ok().and_then(|e| e.clone())
            } => Err(reported),
            status = process.wait() => {
                // An exit right after /init/error is that error, not a crash.
                let reported = api.init_error.borrow().clone();
                match reported {
                    Some(reported) => Err(Some(reported)),
                    None => {
                        return Err(InvokeError::Init {
                            error_type: "Runtime.ExitError".to_owned(),
                            error_message: format!(
                                "Runtime exited during init ({status}): {}",
                                process.last_output()
                            ),
                        });
                    }
                }
            }
            () = tokio::time::sleep(INIT_TIMEOUT) => {
                process.kill().await;
                return Err(InvokeError::Init {
                    error_type: "Sandbox.Timedout".to_owned(),
                    error_message: format!("init did not finish within {INIT_TIMEOUT:?}"),
                });
            }
        };
        match outcome {
            Ok(took) => Ok((
                Instance {
                    process,
                    api,
                    generation: self.generation.load(Ordering::SeqCst),
                },
                took,
            )),
            Err(reported) => {
                let (error_type, error_message) = reported.map_or_else(
                    || ("Runtime.Unknown".to_owned(), process.last_output()),
                    |e| (e.error_type, e.error_message),
                );
                process.kill().await;
                Err(InvokeError::Init {
                    error_type,
                    error_message,
                })
            }
        }
    }

    /// Hands `payload` to a warm instance and waits for its answer, its exit or the timeout.
    async fn run(
        &self,
        instance: &mut Instance,
        request_id: &str,
        payload: Value,
    ) -> (Result<Value, InvokeError>, Duration) {
        let deadline = OffsetDateTime::now_utc() + self.config.timeout;
        let delivery = Delivery {
            request_id: request_id.to_owned(),
            payload,
            deadline_ms: deadline.unix_timestamp_nanos() / 1_000_000,
            function_arn: self.config.function_arn(),
            trace_id: trace_id(),
        };
        let mut started = Instant::now();
        let crashed = |process: &Process, status: String| InvokeError::Crashed {
            status,
            last_output: process.last_output(),
        };
        let Some(answer) = instance.api.deliver(delivery).await else {
            return (
                Err(crashed(&instance.process, "runtime API closed".to_owned())),
                Duration::ZERO,
            );
        };
        // The clock starts when the process takes the event (its `next` returns).
        let mut delivered = instance.api.delivered.clone();
        tokio::select! {
            taken = async {
                delivered.wait_for(|id| id.as_deref() == Some(request_id)).await.is_ok()
            } => {
                if taken {
                    started = Instant::now();
                }
            }
            status = instance.process.wait() => {
                return (Err(crashed(&instance.process, status)), Duration::ZERO);
            }
            // A process that never asks for its next event is as stuck as a slow handler.
            () = tokio::time::sleep(self.config.timeout) => {
                return (Err(InvokeError::Timeout(self.config.timeout)), self.config.timeout);
            }
        }
        let result = tokio::select! {
            answer = answer => match answer {
                Ok(Answer::Response(value)) => Ok(value),
                Ok(Answer::Error { error_type, error_message }) => {
                    Err(InvokeError::Function { error_type, error_message })
                }
                Err(_) => Err(crashed(&instance.process, "runtime API closed".to_owned())),
            },
            status = instance.process.wait() => Err(crashed(&instance.process, status)),
            () = tokio::time::sleep(self.config.timeout) => Err(InvokeError::Timeout(self.config.timeout)),
        };
        (result, started.elapsed())
    }
}

/// An X-Ray trace header like Lambda's: `Root=1-<epoch hex>-<96 bits>;Parent=<64 bits>;Sampled=0`.
fn trace_id() -> String {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{now:08x}-{};Parent={};Sampled=0",
        &random[..24],
        &random[16..32]
    )
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
