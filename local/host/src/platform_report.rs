//! The `platform.report` line Lambda writes to a function's log after each invocation when the
//! log format is JSON (and the system log level is INFO or lower): duration, billed duration,
//! memory, the init duration of a cold start and the outcome. The host appends the same line to
//! the function's log file, so what reads Lambda's logs (the dashboard's init-duration query,
//! `local-stack dashboard`) reads the local ones too.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::invocation::{Invocation, InvokeError};

/// The `platform.report` record of `invocation` of a function with `memory_mb`, at `at`.
pub fn platform_report(invocation: &Invocation, memory_mb: u32, at: OffsetDateTime) -> Value {
    let milliseconds =
        |duration: std::time::Duration| (duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    let duration_ms = milliseconds(invocation.duration);
    let mut metrics = json!({
        "durationMs": duration_ms,
        "billedDurationMs": invocation.duration.as_millis().max(1),
        "memorySizeMB": memory_mb,
    });
    if let Some(kib) = invocation.max_rss_kib {
        metrics["maxMemoryUsedMB"] = json!(kib.div_ceil(1024));
    }
    if let Some(init) = invocation.init {
        metrics["initDurationMs"] = json!(milliseconds(init));
    }
    let status = match &invocation.result {
        Ok(_) => "success",
        Err(InvokeError::Timeout(_)) => "timeout",
        Err(_) => "error",
    };
    let mut record = json!({
        "requestId": invocation.request_id,
        "metrics": metrics,
        "status": status,
    });
    if let Err(error) = &invocation.result {
        record["errorType"] = json!(error.error_type());
    }
    json!({
        "time": at.format(&Rfc3339).unwrap_or_default(),
        "type": "platform.report",
        "record": record,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn invocation(result: Result<Value, InvokeError>, init: Option<Duration>) -> Invocation {
        Invocation {
            request_id: "req-1".into(),
            result,
            init,
            duration: Duration::from_micros(12_345),
            max_rss_kib: Some(20_000),
            pid: Some(1),
        }
    }

    #[test]
    fn a_cold_start_reports_its_init_duration() {
        let report = platform_report(
            &invocation(Ok(json!({})), Some(Duration::from_millis(40))),
            128,
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(report["type"], "platform.report");
        assert_eq!(report["record"]["status"], "success");
        assert_eq!(report["record"]["metrics"]["durationMs"], 12.345);
        assert_eq!(report["record"]["metrics"]["initDurationMs"], 40.0);
        assert_eq!(report["record"]["metrics"]["maxMemoryUsedMB"], 20);
    }

    #[test]
    fn a_warm_failure_has_no_init_and_says_how_it_failed() {
        let report = platform_report(
            &invocation(Err(InvokeError::Timeout(Duration::from_secs(3))), None),
            128,
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(report["record"]["status"], "timeout");
        assert_eq!(report["record"]["errorType"], "Sandbox.Timedout");
        assert!(report["record"]["metrics"].get("initDurationMs").is_none());
    }
}
