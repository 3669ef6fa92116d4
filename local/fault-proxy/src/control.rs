//! The proxy's control API, for tests that drive the binary from outside:
//!
//! - `GET /__fault-proxy/calls`: every call so far (`[{number, service, operation, status, fault}]`);
//! - `PUT /__fault-proxy/fault` with a [`Fault`](crate::Fault) (`{"call": 3, "mode":
//!   "drop-answer"}`, `{"call": 2, "mode": "error", "status": 400, "code":
//!   "AccessDeniedException"}`, `{"call": 4, "mode": "drop-answer", "after": {"mode":
//!   "hold-request"}}`) or `null` to forward every call;
//! - `POST /__fault-proxy/release`: held calls end (answered 504);
//! - `POST /__fault-proxy/reset`: calls and fault forgotten, held calls released.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

use crate::ledger::{Fault, Ledger, Shared};

/// The control routes, on any router state.
pub(crate) fn router<S: Clone + Send + Sync + 'static>(shared: Arc<Shared>) -> Router<S> {
    Router::new()
        .route("/__fault-proxy/calls", get(calls))
        .route("/__fault-proxy/fault", put(set_fault))
        .route("/__fault-proxy/release", post(release))
        .route("/__fault-proxy/reset", post(reset))
        .with_state(shared)
}

async fn calls(State(shared): State<Arc<Shared>>) -> Response {
    let calls = serde_json::to_string(&shared.ledger().calls).unwrap_or_else(|_| "[]".into());
    ([(CONTENT_TYPE, "application/json")], calls).into_response()
}

async fn set_fault(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Option<Fault>>(&body) {
        Ok(fault) => {
            shared.ledger().fault = fault;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(error) => (
            StatusCode::BAD_REQUEST,
            format!("fault-proxy: the fault is not valid JSON of a fault or null: {error}"),
        )
            .into_response(),
    }
}

async fn release(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.release_held();
    StatusCode::NO_CONTENT
}

async fn reset(State(shared): State<Arc<Shared>>) -> StatusCode {
    *shared.ledger() = Ledger::default();
    shared.release_held();
    StatusCode::NO_CONTENT
}
