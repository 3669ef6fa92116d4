//! A local Lambda host: runs a function's real `bootstrap` as Lambda does.
//!
//! The host serves the Lambda Runtime API to a child process started with the environment
//! Lambda gives (`AWS_LAMBDA_RUNTIME_API`, function name, memory size, log format, region,
//! credentials and the function's own variables). Like Lambda it keeps the process warm between
//! invocations and hands it one invocation at a time; it kills and replaces a process that
//! passes the function's timeout or crashes, and reports an init error. Each [`Invocation`]
//! carries what the benchmarks need: the init duration of a cold start (spawn until the first
//! `next`), the invocation's duration and the process's peak RSS (`VmHWM`).
//!
//! `cargo lambda watch` stays the loop for editing one function; this host is for what it does
//! not do: routing events from the template, the HTTP API's authorizer and measurement.

pub mod failure;
pub mod platform_report;
mod process;
pub mod runtime_api;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::process::Process;
use crate::runtime_api::{Answer, Delivery, RuntimeApi};

/// Lambda's limit on the init phase of an on-demand function.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the host runs one function.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// Function name (`AWS_LAMBDA_FUNCTION_NAME`).
    pub name: String,
    /// The `bootstrap` executable.
    pub bootstrap: PathBuf,
    /// The function's own environment variables (template `Environment`).
    pub environment: BTreeMap<String, String>,
    /// The function's timeout.
    pub timeout: Duration,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, in MB.
    pub memory_mb: u32,
    /// `AWS_REGION` / `AWS_DEFAULT_REGION`.
    pub region: String,
    /// The account in the function's ARN and its credentials' access key id.
    pub account: String,
    /// Secret of the execution role's (local) credentials.
    pub secret_access_key: String,
    /// `AWS_LAMBDA_LOG_FORMAT`: `JSON` or `Text`.
    pub log_format: String,
    /// `AWS_LAMBDA_LOG_LEVEL` when the log format is JSON.
    pub log_level: Option<String>,
    /// Where the process's stdout and stderr go (appended); `None` discards them.
    pub log_file: Option<PathBuf>,
}

impl FunctionConfig {
    /// A configuration with Lambda's defaults (128 MB, 3 s, us-east-1) for `bootstrap`,
    /// JSON logs (as the project's template sets them) and account 123456789012.
    pub fn new(name: impl Into<String>, bootstrap: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            bootstrap: bootstrap.into(),
            environment: BTreeMap::new(),
            timeout: Duration::from_secs(3),
            memory_mb: 128,
            region: "us-east-1".to_owned(),
            account: "123456789012".to_owned(),
            secret_access_key: "local-host-secret".to_owned(),
            log_format: "JSON".to_owned(),
            log_level: None,
            log_file: None,
        }
    }

    /// `arn:aws:lambda:<region>:<account>:function:<name>`.
    pub fn function_arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region, self.account, self.name
        )
    }
}

/// Why an invocation did not return a result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvokeError {
    /// The handler returned an error (the process stays warm).
    #[error("{error_type}: {error_message}")]
    Function {
        /// `errorType` the runtime reported.
        error_type: String,
        /// `errorMessage` the runtime reported.
        error_message: String,
    },
    /// The process failed its init: reported `/init/error`, exited or passed the init timeout.
    #[error("init failed ({error_type}): {error_message}")]
    Init {
        /// `errorType` reported, or `Runtime.ExitError` / `Sandbox.Timedout`.
        error_type: String,
        /// The reported message, or the last lines the process wrote.
        error_message: String,
    },
    /// The invocation passed the function's timeout; the process was killed.
    #[error("Task timed out after {:.2} seconds", .0.as_secs_f64())]
    Timeout(Duration),
    /// The process exited during the invocation.
    #[error("Runtime exited ({status}): {last_output}")]
    Crashed {
        /// The exit status.
        status: String,
        /// The last lines the process wrote.
        last_output: String,
    },
    /// The bootstrap could not be started.
    #[error("cannot start {bootstrap}: {message}")]
    Spawn {
        /// The executable.
        bootstrap: String,
        /// Why.
        message: String,
    },
}

impl InvokeError {
    /// The `errorType` Lambda would report for it.
    pub fn error_type(&self) -> &str {
        match self {
            Self::Function { error_type, .. } | Self::Init { error_type, .. } => error_type,
            Self::Timeout(_) => "Sandbox.Timedout",
            Self::Crashed { .. } => "Runtime.ExitError",
            Self::Spawn { .. } => "Runtime.InvalidEntrypoint",
        }
    }
}

/// One invocation's result and measurements.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The request id handed to the function.
    pub request_id: String,
    /// The function's response, or why there is none.
    pub result: Result<Value, InvokeError>,
    /// For a cold start: spawn until the process's first `next` (Lambda's init duration).
    pub init: Option<Duration>,
    /// From handing the event over until the answer (Lambda's duration).
    pub duration: Duration,
    /// Peak resident memory of the process so far (`VmHWM`), in KiB, when it is still alive.
    pub max_rss_kib: Option<u64>,
    /// Process id that served it.
    pub pid: Option<u32>,
}

impl Invocation {
    /// Whether this invocation started a new process.
    pub fn cold(&self) -> bool {
        self.init.is_some()
    }
}

/// A function with at most one warm process, serving one invocation at a time.
///
/// Cheap to clone (clones share the process). An invocation runs to its end (answer, crash or
/// timeout) even when its caller stops waiting, so a process never keeps an abandoned event.
#[derive(Clone)]
pub struct Function {
    inner: Arc<Inner>,
}

struct Inner {
    config: FunctionConfig,
    instance: Mutex<Option<Instance>>,
}

/// A running bootstrap and the Runtime API it talks to.
struct Instance {
    process: Process,
    api: RuntimeApi,
}

impl Function {
    /// A function that starts its process on the first invocation (a cold start).
    pub fn new(config: FunctionConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                instance: Mutex::new(None),
            }),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &FunctionConfig {
        &self.inner.config
    }

    /// Invokes the function with `payload` under a new request id, starting a process if
    /// none is warm.
    pub async fn invoke(&self, payload: Value) -> Invocation {
        self.invoke_with_id(payload, uuid::Uuid::new_v4().to_string())
            .await
    }

    /// Invokes the function with `payload` under `request_id` (Lambda keeps the request id
    /// of an asynchronous invocation across its retries).
    pub async fn invoke_with_id(&self, payload: Value, request_id: String) -> Invocation {
        let inner = Arc::clone(&self.inner);
        let failed_id = request_id.clone();
        let task = tokio::spawn(async move { inner.invoke(payload, request_id).await });
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

    /// Stops the warm process, if any, so the next invocation is a cold start.
    pub async fn recycle(&self) {
        if let Some(instance) = self.inner.instance.lock().await.take() {
            instance.process.kill().await;
        }
    }
}

impl Inner {
    async fn invoke(&self, payload: Value, request_id: String) -> Invocation {
        let mut slot = self.instance.lock().await;
        let mut init = None;
        let failed = |error| Invocation {
            request_id: request_id.clone(),
            result: Err(error),
            init: None,
            duration: Duration::ZERO,
            max_rss_kib: None,
            pid: None,
        };
        if slot
            .as_mut()
            .is_none_or(|instance| !instance.process.alive())
        {
            *slot = None;
            match self.cold_start().await {
                Ok((instance, took)) => {
                    *slot = Some(instance);
                    init = Some(took);
                }
                Err(error) => return failed(error),
            }
        }
        let Some(instance) = slot.as_mut() else {
            return failed(InvokeError::Spawn {
                bootstrap: self.config.bootstrap.display().to_string(),
                message: "no process is running".to_owned(),
            });
        };
        let (result, duration) = self.run(instance, &request_id, payload).await;
        let pid = instance.process.pid();
        let max_rss_kib = instance.process.max_rss_kib();
        if matches!(
            result,
            Err(InvokeError::Timeout(_) | InvokeError::Crashed { .. })
        ) {
            // Lambda replaces an environment that timed out or crashed.
            if let Some(instance) = slot.take() {
                instance.process.kill().await;
            }
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
            Ok(took) => Ok((Instance { process, api }, took)),
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
