//! One bootstrap process: Lambda's environment, its output, its exit and its memory.

use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::config::FunctionConfig;

/// How many of the process's last output lines are kept for error messages.
const KEPT_LINES: usize = 20;

/// A running (or exited) bootstrap.
pub struct Process {
    child: Child,
    pid: Option<u32>,
    exit: Option<String>,
    tail: Arc<Mutex<VecDeque<String>>>,
    copiers: Vec<tokio::task::JoinHandle<()>>,
}

impl Process {
    /// Starts `config.bootstrap` with only the environment Lambda gives a function.
    pub fn spawn(config: &FunctionConfig, runtime_api: &str) -> std::io::Result<Self> {
        // Absolute, because the process starts in the bootstrap's directory (LAMBDA_TASK_ROOT)
        // and a relative program path would be looked up from there.
        let bootstrap = std::path::absolute(&config.bootstrap)?;
        let mut command = Command::new(&bootstrap);
        command
            .env_clear()
            .envs(&config.environment)
            .envs(lambda_environment(config, &bootstrap, runtime_api))
            .current_dir(
                bootstrap
                    .parent()
                    .filter(|dir| !dir.as_os_str().is_empty())
                    .unwrap_or(Path::new(".")),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn()?;
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(KEPT_LINES)));
        let sink = match &config.log_file {
            Some(path) => Some(Arc::new(tokio::sync::Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map(tokio::fs::File::from_std)?,
            ))),
            None => None,
        };
        let mut copiers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            copiers.push(tokio::spawn(copy_lines(stdout, sink.clone(), tail.clone())));
        }
        if let Some(stderr) = child.stderr.take() {
            copiers.push(tokio::spawn(copy_lines(stderr, sink, tail.clone())));
        }
        Ok(Self {
            pid: child.id(),
            child,
            exit: None,
            tail,
            copiers,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        if self.exit.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                self.exit = Some(status.to_string());
                false
            }
            Err(_) => false,
        }
    }

    /// Waits until it exits and describes how (cancel safe).
    pub async fn wait(&mut self) -> String {
        let exit = match &self.exit {
            Some(exit) => exit.clone(),
            None => {
                let exit = match self.child.wait().await {
                    Ok(status) => status.to_string(),
                    Err(err) => format!("unknown exit ({err})"),
                };
                self.exit = Some(exit.clone());
                exit
            }
        };
        // Let the last lines it wrote reach the log and the kept tail. A copier is removed
        // only once finished, so a cancelled wait leaves the rest for the next one.
        while let Some(copier) = self.copiers.last_mut() {
            let _ = tokio::time::timeout(Duration::from_millis(500), copier).await;
            self.copiers.pop();
        }
        exit
    }

    /// Kills it and reaps it.
    pub async fn kill(mut self) {
        // An error means it already exited.
        let _ = self.child.kill().await;
    }

    /// Peak resident set size so far (`VmHWM` of /proc), in KiB.
    pub fn max_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// The last lines it wrote (stdout and stderr), for error messages.
    pub fn last_output(&self) -> String {
        let tail = self
            .tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tail.is_empty() {
            "(no output)".to_owned()
        } else {
            tail.iter().cloned().collect::<Vec<_>>().join("\n")
        }
    }
}

/// The variables Lambda sets for a custom runtime (provided.al2023).
fn lambda_environment(
    config: &FunctionConfig,
    bootstrap: &Path,
    runtime_api: &str,
) -> Vec<(String, String)> {
    let task_root = bootstrap
        .parent()
        .map(|dir| dir.display().to_string())
        .unwrap_or_default();
    let stream = format!(
        "{}/[$LATEST]{}",
        time::OffsetDateTime::now_utc().date(),
        uuid::Uuid::new_v4().simple()
    );
    let mut variables = vec![
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", config.name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            config.memory_mb.to_string(),
        ),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", config.name),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", stream),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        ("AWS_LAMBDA_LOG_FORMAT", config.log_format.clone()),
        ("AWS_REGION", config.region.clone()),
        ("AWS_DEFAULT_REGION", config.region.clone()),
        ("AWS_ACCESS_KEY_ID", config.account.clone()),
        ("AWS_SECRET_ACCESS_KEY", config.secret_access_key.clone()),
        ("LAMBDA_TASK_ROOT", task_root.clone()),
        ("LAMBDA_RUNTIME_DIR", task_root),
        ("_HANDLER", "bootstrap".to_owned()),
        ("TZ", ":UTC".to_owned()),
        ("LANG", "en_US.UTF-8".to_owned()),
        ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".to_owned()),
    ];
    if let Some(level) = &config.log_level {
        variables.push(("AWS_LAMBDA_LOG_LEVEL", level.clone()));
    }
    variables
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// Copies `reader` line by line to the log file (if any), keeping the last lines.
async fn copy_lines(
    reader: impl AsyncRead + Unpin,
    sink: Option<Arc<tokio::sync::Mutex<tokio::fs::File>>>,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    // Bytes, not text: output that is not UTF-8 must not stop the copy (the process would
    // then write into a closed pipe).
    let mut reader = BufReader::new(reader);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buffer)
            .trim_end_matches(['\n', '\r'])
            .to_owned();
        if let Some(sink) = &sink {
            let mut file = sink.lock().await;
            // A log write failure must not stop the function; the line is still kept below.
            let _ = file.write_all(format!("{line}\n").as_bytes()).await;
        }
        let mut tail = tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tail.len() == KEPT_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}
