//! A fault-injecting HTTP proxy for crash-point tests.
//!
//! Point a function's `AWS_ENDPOINT_URL` at the proxy and it forwards every call to the
//! upstream of the call's service (License Manager to the emulator, the rest to moto), numbering
//! the calls from 1. A [`Fault`] at call `k` makes that call fail in one of three ways:
//!
//! - [`FaultMode::HoldRequest`]: the request is never forwarded and never answered, as if the
//!   process died before the effect;
//! - [`FaultMode::DropAnswer`]: the request is forwarded (the effect happens) and the answer is
//!   never delivered, as if the process died right after the effect;
//! - [`FaultMode::Error`]: the call is answered with an AWS error (e.g. `AccessDeniedException`)
//!   without being forwarded.
//!
//! A crash-point test runs its scenario once without a fault to count the calls, then once per
//! call number and mode. Held calls stay open until [`FaultProxy::release_held`], a reset, or
//! `hold_limit` (then 504), so the caller's own timeout, or its death, ends them.
//!
//! The same controls are served over HTTP for tests that drive the `fault-proxy` binary from
//! outside: `GET /__fault-proxy/calls`, `PUT /__fault-proxy/fault` (a [`Fault`] as JSON, or
//! `null`), `POST /__fault-proxy/release` and `POST /__fault-proxy/reset`.

mod control;
mod forward;
mod ledger;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use ledger::{CallRecord, Fault, FaultMode, Upstreams};
use ledger::{Ledger, Shared};

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listener could not bind.
    #[error("fault-proxy cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// An upstream URL is not `http://host:port`.
    #[error("fault-proxy upstream {url:?} is not an http:// URL")]
    Upstream {
        /// The URL given.
        url: String,
    },
}

/// Options of a proxy.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// Where to listen (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Where calls go.
    pub upstreams: Upstreams,
    /// How long a held call stays open at most before it is answered 504.
    pub hold_limit: Duration,
}

impl ProxyOptions {
    /// A proxy on a free loopback port in front of `upstreams`, holding calls up to 10 minutes.
    pub fn new(upstreams: Upstreams) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            upstreams,
            hold_limit: Duration::from_secs(600),
        }
    }
}

/// A running proxy. Dropping it stops it.
#[derive(Debug)]
pub struct FaultProxy {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy with `options`.
    pub async fn start(options: ProxyOptions) -> Result<Self, StartError> {
        for url in options
            .upstreams
            .by_service
            .values()
            .chain(std::iter::once(&options.upstreams.default))
        {
            if !url.starts_with("http://") || url.parse::<axum::http::Uri>().is_err() {
                return Err(StartError::Upstream { url: url.clone() });
            }
        }
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: options.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: options.listen,
            source,
        })?;
        let shared = Arc::new(Shared {
            upstreams: options.upstreams,
            ledger: Mutex::new(Ledger::default()),
            release: watch::channel(0).0,
            hold_limit: options.hold_limit,
        });
        let app = forward::router(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "fault-proxy stopped");
            }
        });
        Ok(Self {
            shared,
            addr,
            server,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, for `AWS_ENDPOINT_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Injects `fault` from now on (replacing any other); `None` forwards every call.
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.shared.ledger().fault = fault;
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.shared.ledger().calls.clone()
    }

    /// Lets every held call end (answered 504).
    pub fn release_held(&self) {
        self.shared.release_held();
    }

    /// Forgets the calls and the fault, and releases held calls: numbering starts again at 1.
    pub fn reset(&self) {
        *self.shared.ledger() = Ledger::default();
        self.shared.release_held();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.release_held();
        self.server.abort();
    }
}
