//! The HTTP server: one `POST /` route speaking awsJson1_1, with latency and fault injection.

use crate::dispatch::{self, Ctx};
use crate::events::{self, EventSink};
use crate::jwt::Signer;
use crate::model;
use crate::ops;
use crate::protocol::{
    ApiError, ErrorKind, MAX_BODY_BYTES, Service, caller_account, target_operation,
};
use crate::quotas::Quotas;
use crate::state::State;
use crate::{Clock, Config, Fault};
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::{Arc, Mutex, PoisonError};

/// State shared by every request.
pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub signer: Signer,
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    /// splitmix64 state for deterministic fault injection.
    pub rng: Mutex<u64>,
    /// Serialises mutating calls when a state file is written, so snapshots reach the
    /// file in the order they were made (an older one never overwrites a newer one).
    pub writer: tokio::sync::Mutex<()>,
    /// Where License Manager events go once their change is committed.
    pub events: EventSink,
    /// The request quotas (`--rate-limit`) and what each account has used of them.
    pub quotas: Quotas,
}

impl Shared {
    fn next_random(&self) -> u64 {
        let mut s = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The injected fault for this request, if any.
    fn fault(&self) -> Option<ApiError> {
        let rate = self.config.fault_rate;
        if rate <= 0.0 {
            return None;
        }
        let draw = (self.next_random() >> 11) as f64 / (1u64 << 53) as f64;
        if draw >= rate {
            return None;
        }
        let all = [Fault::Throttle, Fault::Internal];
        let faults = if self.config.faults.is_empty() {
            &all[..]
        } else {
            &self.config.faults[..]
        };
        let idx = usize::try_from(self.next_random() % faults.len() as u64).unwrap_or(0);
        Some(match faults.get(idx).copied().unwrap_or(Fault::Internal) {
            Fault::Throttle => ApiError::new(
                ErrorKind::RateLimitExceeded,
                "Rate exceeded (fault injected by license-manager-local)",
            ),
            Fault::Internal => ApiError::new(
                ErrorKind::ServerInternal,
                "Internal error (fault injected by license-manager-local)",
            ),
        })
    }
}

/// Handles one request.
pub(crate) async fn handle(shared: Arc<Shared>, req: Request) -> Response {
    if !shared.config.latency.is_zero() {
        tokio::time::sleep(shared.config.latency).await;
    }
    let (parts, body) = req.into_parts();
    let account = caller_account(
        header_str(&parts.headers, header::AUTHORIZATION.as_str()),
        &shared.config.account_id,
    );
    let target = header_str(&parts.headers, "x-amz-target").map(str::to_string);
    let op_name = target
        .as_deref()
        .and_then(|t| target_operation(Some(t)).ok())
        .map_or("-", |(_, op)| op)
        .to_string();
    let content_type = header_str(&parts.headers, header::CONTENT_TYPE.as_str()).unwrap_or("");
    if target.is_none() && content_type.starts_with("application/x-www-form-urlencoded") {
        return crate::sts::handle(&account, body).await;
    }
    let result = if parts.method != axum::http::Method::POST || parts.uri.path() != "/" {
        Err(ApiError::new(
            ErrorKind::UnknownOperation,
            format!(
                "license-manager-local answers POST / only (got {} {})",
                parts.method,
                parts.uri.path()
            ),
        ))
    } else {
        process(&shared, &account, target.as_deref(), content_type, body).await
    };
    let (status, body) = match result {
        Ok(v) => (200, v),
        Err(e) => (e.kind.status(), e.body()),
    };
    tracing::info!(operation = %op_name, account = %account, status, "request");
    let mut response = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body.to_string(),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn process(
    shared: &Shared,
    account: &str,
    target: Option<&str>,
    content_type: &str,
    body: Body,
) -> Result<Value, ApiError> {
    let (service, op) = target_operation(target)?;
    if service == Service::LicenseManager && !model::has_operation(op) {
        return Err(ApiError::new(
            ErrorKind::UnknownOperation,
            format!("Unknown operation '{op}': AWSLicenseManager has no such operation"),
        ));
    }
    if !content_type.is_empty() && !content_type.contains("json") {
        return Err(ApiError::validation(format!(
            "Unsupported Content-Type '{content_type}' (expected application/x-amz-json-1.1)"
        )));
    }
    if service == Service::LicenseManager {
        shared.quotas.admit(account, op)?;
    }
    if let Some(fault) = shared.fault() {
        return Err(fault);
    }
    let bytes = to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        ApiError::validation(format!(
            "Request body is too large (limit {MAX_BODY_BYTES} bytes) or could not be read"
        ))
    })?;
    let mut input: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::validation(format!("Malformed JSON request body: {e}")))?
    };
    let entry = match service {
        Service::LicenseManager => {
            model::validate_input(op, &input).map_err(ApiError::validation)?;
            ops::find(op).ok_or_else(|| {
                ApiError::new(
                    ErrorKind::NotImplemented,
                    format!(
                        "Operation {op} is part of the License Manager API but is not \
                         implemented by license-manager-local (see docs/emulator-coverage.md)"
                    ),
                )
            })?
        }
        Service::Kms => crate::kms::find(op).ok_or_else(|| {
            ApiError::new(
                ErrorKind::NotImplemented,
                format!(
                    "KMS operation {op} is not implemented by license-manager-local (it answers \
                     {}; see docs/emulator-coverage.md)",
                    crate::kms::OPERATIONS
                        .iter()
                        .map(|o| o.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?,
    };
    if service == Service::Kms {
        crate::kms::generate_outside_lock(op, &mut input).await?;
    }
    let request_hash = dispatch::request_hash(&input);
    let now = shared.clock.now();
    // Runs the operation on `state`; returns its answer, the ClientToken entry to update
    // with the signed answer, if the call made one, and the events it causes.
    let apply = |state: &mut State| {
        let mut ctx = Ctx {
            state,
            account,
            region: &shared.config.region,
            now,
            signer: &shared.signer,
            operation: op,
            request_hash,
            cached: None,
            events: Vec::new(),
            organization: shared.config.organization.as_ref(),
        };
        let result = (entry.handler)(&mut ctx, input).map_err(|e| match service {
            Service::LicenseManager => declared(op, e),
            Service::Kms => e,
        })?;
        Ok::<_, ApiError>((result, ctx.cached.take(), std::mem::take(&mut ctx.events)))
    };
    // Checkouts the state found expired, announced even when the call itself fails.
    let take_expired = |state: &mut State| events::expiries(state, now.unix_timestamp());
    let state_file = shared.config.state_file.as_ref().filter(|_| entry.mutates);
    let Some(path) = state_file else {
        // In memory only: apply under the lock, sign after releasing it.
        let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.housekeeping(now.unix_timestamp(), dispatch::CLIENT_TOKEN_TTL_SECS);
        let applied = apply(&mut state);
        let expired = take_expired(&mut state);
        drop(state);
        shared.events.send(expired);
        let (result, cached, caused) = applied?;
        shared.events.send(caused);
        let signed = dispatch::sign_marked(&shared.signer, result)?;
        if let Some(key) = cached {
            // A replay of the ClientToken answers this very response (same SignedToken).
            let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = state.client_tokens.get_mut(&key) {
                entry.response = signed.clone();
            }
        }
        return Ok(signed);
    };
    // With a state file: apply the call to a copy, write the copy outside the state lock
    // (reads go on meanwhile) and make it current only once it is on disk, so a failed
    // save changes nothing.
    let _writer = shared.writer.lock().await;
    let mut next = {
        let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.housekeeping(now.unix_timestamp(), dispatch::CLIENT_TOKEN_TTL_SECS);
        state.clone()
    };
    let (result, cached, caused) = apply(&mut next)?;
    let signed = dispatch::sign_marked(&shared.signer, result)?;
    if let Some(key) = cached
        && let Some(entry) = next.client_tokens.get_mut(&key)
    {
        entry.response = signed.clone();
    }
    let persist_error = |e: String| {
        tracing::error!(error = %e, "cannot persist state; the call was not applied");
        ApiError::new(
            ErrorKind::ServerInternal,
            format!("cannot persist state (the call was not applied): {e}"),
        )
    };
    let bytes = serde_json::to_vec(&next).map_err(|e| persist_error(e.to_string()))?;
    let target = path.clone();
    tokio::task::spawn_blocking(move || crate::state::write_atomically(&target, &bytes))
        .await
        .map_err(|e| persist_error(e.to_string()))?
        .map_err(|e| persist_error(e.to_string()))?;
    let expired = {
        let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        *state = next;
        take_expired(&mut state)
    };
    shared.events.send(expired);
    shared.events.send(caused);
    Ok(signed)
}

/// Maps an error to one the model declares for `op`, as the real service's SDKs expect:
/// an undeclared client error becomes InvalidParameterValueException (or
/// ValidationException when that is not declared either).
fn declared(op: &str, e: ApiError) -> ApiError {
    let errors = model::declared_errors(op);
    let always = matches!(
        e.kind,
        ErrorKind::Validation | ErrorKind::ServerInternal | ErrorKind::RateLimitExceeded
    );
    if always || errors.contains(&e.kind.type_name()) {
        return e;
    }
    let kind = if errors.contains(&"InvalidParameterValueException") {
        ErrorKind::InvalidParameterValue
    } else {
        ErrorKind::Validation
    };
    ApiError::new(kind, e.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undeclared_errors_map_to_a_declared_one() {
        let e = declared("GetLicense", ApiError::not_found("License x not found"));
        assert_eq!(e.kind, ErrorKind::InvalidParameterValue);
        assert_eq!(e.message, "License x not found");
        let e = declared("CheckInLicense", ApiError::not_found("gone"));
        assert_eq!(e.kind, ErrorKind::ResourceNotFound);
        let e = declared("ListTokens", ApiError::conflict("x"));
        assert_eq!(e.kind, ErrorKind::Validation);
    }
}
