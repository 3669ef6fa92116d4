//! `license-manager-local`: a local emulator of AWS License Manager speaking the real
//! awsJson1_1 wire protocol (`POST /`, `X-Amz-Target: AWSLicenseManager.<Operation>`), so
//! the AWS SDKs and boto3 work against it unchanged. On the same port it also answers the
//! KMS operations a license issuer uses ([`kms`]: `TrentService.<Operation>`, the signing
//! keys of `Issuer.SignKey`) and STS GetCallerIdentity ([`sts`]), with the caller's account
//! decided the same way for all three.
//!
//! Start it in-process with [`Emulator::start`] (port 0 is fine) or run the binary.

pub mod coverage;
pub mod dates;
pub mod dispatch;
pub mod events;
pub mod jwt;
pub mod keys;
pub mod kms;
pub mod model;
pub mod ops;
pub mod organization;
pub mod protocol;
pub mod quotas;
mod server;
pub mod shapes;
pub mod state;
pub mod sts;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A fault the emulator can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `RateLimitExceededException` (HTTP 429).
    Throttle,
    /// `ServerInternalException` (HTTP 500).
    Internal,
}

impl std::str::FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "throttle" => Ok(Self::Throttle),
            "internal" => Ok(Self::Internal),
            other => Err(format!(
                "unknown fault '{other}' (expected throttle or internal)"
            )),
        }
    }
}

/// How the emulator runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Account of callers whose access key id is not 12 digits.
    pub account_id: String,
    /// Region in license-configuration ARNs.
    pub region: String,
    /// Where state is persisted (atomically, after each change) and reloaded from.
    pub state_file: Option<PathBuf>,
    /// Added to every call.
    pub latency: Duration,
    /// Probability (0..=1) that a call fails with an injected fault.
    pub fault_rate: f64,
    /// Faults to choose among (both when empty).
    pub faults: Vec<Fault>,
    /// Seed making fault injection deterministic.
    pub seed: Option<u64>,
    /// Where the PEM public key of the JWT signing key is written.
    pub public_key_out: Option<PathBuf>,
    /// EventBridge endpoint (e.g. moto's server) that receives License Manager's own
    /// events, best effort; `None` publishes nothing.
    pub events_endpoint: Option<String>,
    /// The organization whose ARN and OUs grants may name (`--organization FILE`).
    pub organization: Option<organization::Organization>,
    /// License Manager's request quotas to emulate: chosen operations rate-limited per
    /// account (none by default).
    pub rate_limits: Vec<quotas::RateLimit>,
}

impl Config {
    /// Checks the settings (the one place for these rules: the CLI and
    /// [`Emulator::start_with_clock`] both use it).
    pub fn validate(&self) -> Result<(), StartError> {
        let invalid = |m: String| Err(StartError::Config(m));
        if self.account_id.len() != 12 || !self.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return invalid(format!(
                "--account-id must be 12 digits, got '{}'",
                self.account_id
            ));
        }
        if !self.fault_rate.is_finite() || !(0.0..=1.0).contains(&self.fault_rate) {
            return invalid(format!(
                "--fault-rate must be between 0 and 1, got {}",
                self.fault_rate
            ));
        }
        if self.region.is_empty()
            || !self
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return invalid(format!(
                "--region must be a region name like us-east-1, got '{}'",
                self.region
            ));
        }
        if let Some(endpoint) = &self.events_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return invalid(format!(
                "--events-endpoint must be an http:// or https:// URL, got '{endpoint}'"
            ));
        }
        if let Some(organization) = &self.organization {
            organization
                .validate()
                .map_err(|e| StartError::Config(format!("--organization: {e}")))?;
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            account_id: "123456789012".to_string(),
            region: "us-east-1".to_string(),
            state_file: None,
            latency: Duration::ZERO,
            fault_rate: 0.0,
            faults: vec![Fault::Throttle, Fault::Internal],
            seed: None,
            public_key_out: None,
            events_endpoint: None,
            organization: None,
            rate_limits: Vec::new(),
        }
    }
}

/// The emulator's notion of now (injectable for tests).
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        Self(Mutex::new(start))
    }

    /// Sets the time.
    pub fn set(&self, t: OffsetDateTime) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = t;
    }

    /// Moves the time forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut t = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *t = t.saturating_add(time::Duration::try_from(d).unwrap_or(time::Duration::MAX));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The state file could not be loaded (e.g. it is corrupt).
    #[error(transparent)]
    State(#[from] state::StateError),
    /// The signing key could not be created or loaded.
    #[error("signing key: {0}")]
    Key(#[from] jwt::KeyError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The public key could not be written.
    #[error("cannot write the public key to {path}: {source}")]
    PublicKey {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A running emulator.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    publisher: Option<events::Publisher>,
}

impl Emulator {
    /// Starts the emulator on `addr` with the system clock.
    pub async fn start(config: Config, addr: SocketAddr) -> Result<Emulator, StartError> {
        Self::start_with_clock(config, addr, Arc::new(SystemClock)).await
    }

    /// Starts the emulator on `addr` with `clock`.
    pub async fn start_with_clock(
        config: Config,
        addr: SocketAddr,
        clock: Arc<dyn Clock>,
    ) -> Result<Emulator, StartError> {
        config.validate()?;
        let loaded = match &config.state_file {
            Some(path) => state::State::load(path)?,
            None => None,
        };
        let (state, signer, fresh) = match loaded {
            Some(s) => {
                let signer = jwt::Signer::from_pkcs8_base64(&s.signing_key)?;
                (s, signer, false)
            }
            None => {
                let (signer, encoded) = jwt::Signer::generate()?;
                (state::State::new(encoded), signer, true)
            }
        };
        if fresh && let Some(path) = &config.state_file {
            state.save(path)?;
        }
        if let Some(path) = &config.public_key_out {
            std::fs::write(path, signer.public_key_pem()?).map_err(|source| {
                StartError::PublicKey {
                    path: path.clone(),
                    source,
                }
            })?;
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let (event_sink, publisher) = match &config.events_endpoint {
            Some(endpoint) => {
                let (sink, publisher) = events::Publisher::start(endpoint, &config.region);
                (sink, Some(publisher))
            }
            None => (events::EventSink::default(), None),
        };
        let seed = config
            .seed
            .unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0);
        let quotas = quotas::Quotas::new(&config.rate_limits);
        let shared = Arc::new(server::Shared {
            state: Mutex::new(state),
            signer,
            config,
            clock,
            rng: Mutex::new(seed),
            writer: tokio::sync::Mutex::new(()),
            events: event_sink,
            quotas,
        });
        let app = axum::Router::new()
            .fallback(move |req: axum::extract::Request| server::handle(shared.clone(), req));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "server stopped");
            }
        });
        tracing::info!(address = %local, "license-manager-local listening");
        Ok(Emulator {
            addr: local,
            stop,
            task,
            publisher,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, for `endpoint_url`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving, waits for the server task, then publishes the License Manager events
    /// still queued (for at most a few seconds).
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
        if let Some(publisher) = self.publisher {
            publisher.shutdown().await;
        }
    }
}
