//! How the host runs one function: its bootstrap, environment, limits and account.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

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
    /// How many invocations run at once, each in its own execution environment (process):
    /// the function's reserved concurrency, or the account's unreserved limit.
    pub concurrency: NonZeroUsize,
}

/// Lambda's default concurrency limit of an account, what a function without reserved
/// concurrency may take.
pub const UNRESERVED_CONCURRENCY: NonZeroUsize = match NonZeroUsize::new(1000) {
    Some(limit) => limit,
    None => NonZeroUsize::MIN,
};

impl FunctionConfig {
    /// A configuration with Lambda's defaults (128 MB, 3 s, us-east-1, the account's
    /// unreserved concurrency) for `bootstrap`, JSON logs (as the project's template sets
    /// them) and account 123456789012.
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
            concurrency: UNRESERVED_CONCURRENCY,
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
