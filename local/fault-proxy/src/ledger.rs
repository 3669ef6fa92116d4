//! What the proxy keeps: the fault to inject, the calls it saw, where calls go.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// How the faulty call fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum FaultMode {
    /// Never forwarded, never answered: the process dies before the effect.
    HoldRequest,
    /// Forwarded, the answer never delivered: the effect happened, the answer is lost.
    DropAnswer,
    /// Answered with this AWS error, not forwarded.
    Error {
        /// HTTP status, e.g. 400.
        status: u16,
        /// The error code, e.g. `AccessDeniedException`.
        code: String,
    },
}

/// The fault to inject: `mode` at call number `call` (the first call is 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// The call number it applies to.
    pub call: u64,
    /// How that call fails.
    #[serde(flatten)]
    pub mode: FaultMode,
    /// `true`: every call from `call` on fails this way, not only that one.
    #[serde(default)]
    pub sticky: bool,
}

/// One call the proxy saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    /// Its number, from 1.
    pub number: u64,
    /// The service, from the SigV4 credential scope (`license-manager`, `dynamodb`, ...).
    pub service: String,
    /// The operation, from `X-Amz-Target` or the query protocol's `Action`.
    pub operation: String,
    /// The upstream's status, when it answered and the answer was delivered or dropped.
    pub status: Option<u16>,
    /// The fault injected into this call, if any.
    pub fault: Option<FaultMode>,
}

/// Where calls go: an upstream per service name and one for the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstreams {
    /// Base URLs by service (the SigV4 credential scope's service name).
    pub by_service: BTreeMap<String, String>,
    /// Base URL for every other service.
    pub default: String,
}

impl Upstreams {
    /// Every service to `default`.
    pub fn all_to(default: impl Into<String>) -> Self {
        Self {
            by_service: BTreeMap::new(),
            default: default.into(),
        }
    }

    /// Calls of `service` to `url` instead.
    pub fn with(mut self, service: impl Into<String>, url: impl Into<String>) -> Self {
        self.by_service.insert(service.into(), url.into());
        self
    }

    /// The base URL for `service`.
    pub fn for_service(&self, service: &str) -> &str {
        self.by_service
            .get(service)
            .map_or(self.default.as_str(), String::as_str)
    }
}

/// What the proxy shares between its connections.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    pub(crate) calls: Vec<CallRecord>,
    pub(crate) fault: Option<Fault>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) upstreams: Upstreams,
    pub(crate) ledger: Mutex<Ledger>,
    /// Bumped to let every held call end.
    pub(crate) release: watch::Sender<u64>,
    pub(crate) hold_limit: Duration,
}

impl Shared {
    pub(crate) fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // A poisoned lock only means a panic elsewhere; the ledger is still consistent.
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Numbers a new call and says which fault, if any, it gets.
    pub(crate) fn begin(&self, service: String, operation: String) -> (u64, Option<FaultMode>) {
        let mut ledger = self.ledger();
        let number = ledger.calls.len() as u64 + 1;
        let fault = ledger
            .fault
            .as_ref()
            .filter(|f| f.call == number || (f.sticky && number > f.call))
            .map(|f| f.mode.clone());
        ledger.calls.push(CallRecord {
            number,
            service,
            operation,
            status: None,
            fault: fault.clone(),
        });
        (number, fault)
    }

    pub(crate) fn answered(&self, number: u64, status: u16) {
        if let Some(call) = self.ledger().calls.get_mut(number as usize - 1) {
            call.status = Some(status);
        }
    }

    pub(crate) fn release_held(&self) {
        self.release.send_modify(|generation| *generation += 1);
    }
}
