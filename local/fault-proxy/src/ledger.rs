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
    /// How the calls after `call` fail, when not as `mode` (`sticky`): a crash right after
    /// call k's effect is `{"mode": "drop-answer", "after": {"mode": "hold-request"}}`,
    /// where nothing after call k reaches the upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<FaultMode>,
}

impl Fault {
    /// The fault of call `number` under this fault, if any.
    pub fn of_call(&self, number: u64) -> Option<FaultMode> {
        if number == self.call {
            Some(self.mode.clone())
        } else if number > self.call {
            self.after
                .clone()
                .or_else(|| self.sticky.then(|| self.mode.clone()))
        } else {
            None
        }
    }
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
        let fault = ledger.fault.as_ref().and_then(|f| f.of_call(number));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_applies_to_its_call_and_later_ones_as_asked() {
        let fault = |sticky, after| Fault {
            call: 2,
            mode: FaultMode::DropAnswer,
            sticky,
            after,
        };
        let modes = |f: Fault| (1..=3).map(|n| f.of_call(n)).collect::<Vec<_>>();
        let drop = Some(FaultMode::DropAnswer);
        let hold = Some(FaultMode::HoldRequest);
        assert_eq!(modes(fault(false, None)), [None, drop.clone(), None]);
        assert_eq!(modes(fault(true, None)), [None, drop.clone(), drop.clone()]);
        assert_eq!(
            modes(fault(true, hold.clone())),
            [None, drop, hold],
            "after wins over sticky"
        );
        let parsed: Fault = serde_json::from_str(
            r#"{"call": 2, "mode": "drop-answer", "after": {"mode": "hold-request"}}"#,
        )
        .expect("a fault");
        assert_eq!(parsed, fault(false, Some(FaultMode::HoldRequest)));
    }
}
