//! The record Lambda sends to an asynchronous invocation's `OnFailure` destination, both ways:
//! [`on_failure_record`] builds it when the retries are exhausted (the local stack sends it to
//! the function's destination queue, as Lambda does) and [`FailedInvocation::parse`] reads one
//! back from the queue (`local-stack redrive`).
//!
//! The shape is Lambda's "invocation record" (AWS Lambda Developer Guide, "Capturing records of
//! Lambda asynchronous invocations"): `version`, `timestamp`, `requestContext` (request id,
//! function ARN with its qualifier, `condition`, `approximateInvokeCount`), `requestPayload`
//! (the event, unchanged), `responseContext` and `responsePayload` (the error).

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::invocation::InvokeError;

/// The qualifier Lambda names when the function is invoked without one.
const LATEST: &str = "$LATEST";

/// The invocation record of an asynchronous invocation whose attempts all failed.
///
/// `function_arn` is unqualified (as [`crate::FunctionConfig::function_arn`] gives it); the
/// record names `$LATEST`, as Lambda does for an unqualified invocation.
pub fn on_failure_record(
    function_arn: &str,
    request_id: &str,
    payload: &Value,
    error: &InvokeError,
    attempts: u32,
    at: OffsetDateTime,
) -> Value {
    let timestamp = at
        .format(&Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string());
    json!({
        "version": "1.0",
        "timestamp": timestamp,
        "requestContext": {
            "requestId": request_id,
            "functionArn": format!("{function_arn}:{LATEST}"),
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": payload,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": LATEST,
            "functionError": "Unhandled",
        },
        "responsePayload": {
            "errorType": error.error_type(),
            "errorMessage": error.to_string(),
        },
    })
}

/// A failed invocation read back from its invocation record.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedInvocation {
    /// The function's name (from `requestContext.functionArn`).
    pub function_name: String,
    /// The request id of the failed invocation.
    pub request_id: String,
    /// The event it failed on (`requestPayload`), to invoke the function with again.
    pub payload: Value,
    /// `responsePayload.errorType`, when the record has one.
    pub error_type: Option<String>,
}

/// A message is not an invocation record this host can replay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The body is not JSON.
    #[error("not an invocation record: the body is not JSON ({0})")]
    NotJson(String),
    /// A member the record must have is missing or has the wrong type.
    #[error("not an invocation record: {0}")]
    Missing(&'static str),
    /// `requestContext.functionArn` is not a Lambda function ARN.
    #[error("not an invocation record: {0:?} is not a Lambda function ARN")]
    FunctionArn(String),
}

impl FailedInvocation {
    /// Reads an invocation record (a destination message's body).
    pub fn parse(body: &str) -> Result<Self, RecordError> {
        let record: Value =
            serde_json::from_str(body).map_err(|error| RecordError::NotJson(error.to_string()))?;
        let context = record
            .get("requestContext")
            .filter(|context| context.is_object())
            .ok_or(RecordError::Missing("it has no requestContext object"))?;
        let arn =
            context
                .get("functionArn")
                .and_then(Value::as_str)
                .ok_or(RecordError::Missing(
                    "requestContext has no functionArn string",
                ))?;
        let function_name = function_name(arn)?;
        let request_id =
            context
                .get("requestId")
                .and_then(Value::as_str)
                .ok_or(RecordError::Missing(
                    "requestContext has no requestId string",
                ))?;
        let payload = record
            .get("requestPayload")
            .cloned()
            .ok_or(RecordError::Missing("it has no requestPayload"))?;
        Ok(Self {
            function_name,
            request_id: request_id.to_owned(),
            payload,
            error_type: record
                .pointer("/responsePayload/errorType")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

/// `arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]` → `<name>`.
fn function_name(arn: &str) -> Result<String, RecordError> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, _, "function", name, ..]
            if !name.is_empty() && parts.len() <= 8 =>
        {
            Ok((*name).to_owned())
        }
        _ => Err(RecordError::FunctionArn(arn.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Value {
        on_failure_record(
            "arn:aws:lambda:us-east-1:123456789012:function:GrantAcceptorFunction",
            "req-1",
            &json!({"detail-type": "Grant Change", "detail": {"grantArn": "g"}}),
            &InvokeError::Function {
                error_type: "GrantsFailed".into(),
                error_message: "2 grants failed".into(),
            },
            3,
            OffsetDateTime::UNIX_EPOCH,
        )
    }

    #[test]
    fn the_record_has_lambdas_shape() {
        let record = record();
        assert_eq!(record["version"], "1.0");
        assert_eq!(record["timestamp"], "1970-01-01T00:00:00Z");
        assert_eq!(
            record["requestContext"],
            json!({
                "requestId": "req-1",
                "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:GrantAcceptorFunction:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            })
        );
        assert_eq!(record["requestPayload"]["detail"]["grantArn"], "g");
        assert_eq!(record["responseContext"]["functionError"], "Unhandled");
        assert_eq!(
            record["responsePayload"],
            json!({"errorType": "GrantsFailed", "errorMessage": "GrantsFailed: 2 grants failed"})
        );
    }

    #[test]
    fn a_record_reads_back_as_the_function_and_its_event() {
        let failed = FailedInvocation::parse(&record().to_string()).unwrap();
        assert_eq!(failed.function_name, "GrantAcceptorFunction");
        assert_eq!(failed.request_id, "req-1");
        assert_eq!(failed.payload["detail-type"], "Grant Change");
        assert_eq!(failed.error_type.as_deref(), Some("GrantsFailed"));
    }

    #[test]
    fn what_is_not_a_record_is_named() {
        let error = |body: &str| FailedInvocation::parse(body).unwrap_err().to_string();
        assert!(error("{").contains("not JSON"));
        assert!(error(r#"{"detail-type":"Grant Change"}"#).contains("no requestContext"));
        assert!(error(r#"{"requestContext":{"requestId":"r"}}"#).contains("functionArn"));
        assert!(
            error(
                r#"{"requestContext":{"requestId":"r","functionArn":"arn:aws:sqs:us-east-1:1:q"}}"#
            )
            .contains("is not a Lambda function ARN")
        );
        assert!(
            error(r#"{"requestContext":{"requestId":"r","functionArn":"arn:aws:lambda:r:1:function:f"}}"#)
                .contains("no requestPayload")
        );
    }
}
