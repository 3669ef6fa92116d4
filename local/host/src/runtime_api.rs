//! The Lambda Runtime API (`2018-06-01`) that one bootstrap process talks to.
//!
//! Each process gets its own listener, so nothing a killed process left behind (a pending
//! `next` long poll, a late answer) can take or answer another process's invocation.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Path prefix of every Runtime API route.
const PREFIX: &str = "/2018-06-01/runtime";
/// Largest response or error body Lambda accepts (6 MB, synchronous invocation).
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// One event handed to the process through `next`.
#[derive(Debug)]
pub struct Delivery {
    /// Lambda-Runtime-Aws-Request-Id.
    pub request_id: String,
    /// The event.
    pub payload: Value,
    /// Lambda-Runtime-Deadline-Ms (Unix epoch milliseconds).
    pub deadline_ms: i128,
    /// Lambda-Runtime-Invoked-Function-Arn.
    pub function_arn: String,
    /// Lambda-Runtime-Trace-Id.
    pub trace_id: String,
}

/// What the process answered for one request id.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `POST .../{id}/response`: the handler's result.
    Response(Value),
    /// `POST .../{id}/error`: the handler failed.
    Error {
        /// `errorType` (or the Lambda-Runtime-Function-Error-Type header).
        error_type: String,
        /// `errorMessage`.
        error_message: String,
    },
}

/// An error the process reported from `/init/error`.
#[derive(Debug, Clone, PartialEq)]
pub struct InitError {
    /// `errorType`.
    pub error_type: String,
    /// `errorMessage`.
    pub error_message: String,
}

/// The host's side of one process's Runtime API.
pub struct RuntimeApi {
    addr: SocketAddr,
    deliveries: mpsc::Sender<Pending>,
    /// Becomes true at the process's first `next`: its init is over.
    pub ready: watch::Receiver<bool>,
    /// Set when the process reports an init error.
    pub init_error: watch::Receiver<Option<InitError>>,
    /// Becomes `Some(request id)` when `next` hands an event over.
    pub delivered: watch::Receiver<Option<String>>,
    server: JoinHandle<()>,
}

/// An event on its way to the process, with where its answer goes.
type Pending = (Delivery, oneshot::Sender<Answer>);

#[derive(Clone)]
struct Shared {
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Pending>>>,
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<Answer>>>>,
    ready: Arc<watch::Sender<bool>>,
    init_error: Arc<watch::Sender<Option<InitError>>>,
    delivered: Arc<watch::Sender<Option<String>>>,
}

impl RuntimeApi {
    /// Serves a fresh Runtime API on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (deliveries, queue) = mpsc::channel(1);
        let (ready_tx, ready) = watch::channel(false);
        let (init_error_tx, init_error) = watch::channel(None);
        let (delivered_tx, delivered) = watch::channel(None);
        let shared = Shared {
            queue: Arc::new(tokio::sync::Mutex::new(queue)),
            waiting: Arc::default(),
            ready: Arc::new(ready_tx),
            init_error: Arc::new(init_error_tx),
            delivered: Arc::new(delivered_tx),
        };
        let router = Router::new()
            .route(&format!("{PREFIX}/invocation/next"), get(next))
            .route(
                &format!("{PREFIX}/invocation/{{request_id}}/response"),
                post(response),
            )
            .route(
                &format!("{PREFIX}/invocation/{{request_id}}/error"),
                post(error),
            )
            .route(&format!("{PREFIX}/init/error"), post(init_error_route))
            .fallback(|| async { rejection(StatusCode::NOT_FOUND, "UnknownRoute") })
            .layer(axum::extract::DefaultBodyLimit::max(MAX_PAYLOAD_BYTES))
            .with_state(shared);
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, router).await {
                tracing::warn!(%err, "runtime API server stopped");
            }
        });
        Ok(Self {
            addr,
            deliveries,
            ready,
            init_error,
            delivered,
            server,
        })
    }

    /// `host:port` for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues an event for the process's next `next`; the receiver gets its answer.
    pub async fn deliver(&self, delivery: Delivery) -> Option<oneshot::Receiver<Answer>> {
        let (answer_tx, answer_rx) = oneshot::channel();
        self.deliveries.send((delivery, answer_tx)).await.ok()?;
        Some(answer_rx)
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        // Dropping the server drops every pending `next` with it.
        self.server.abort();
    }
}

async fn next(State(shared): State<Shared>) -> Response {
    shared.ready.send_replace(true);
    let mut queue = shared.queue.lock().await;
    let Some((delivery, answer)) = queue.recv().await else {
        return rejection(StatusCode::GONE, "ShuttingDown");
    };
    drop(queue);
    let mut headers = HeaderMap::new();
    let mut insert = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    insert("lambda-runtime-aws-request-id", &delivery.request_id);
    insert(
        "lambda-runtime-deadline-ms",
        &delivery.deadline_ms.to_string(),
    );
    insert(
        "lambda-runtime-invoked-function-arn",
        &delivery.function_arn,
    );
    insert("lambda-runtime-trace-id", &delivery.trace_id);
    insert("content-type", "application/json");
    lock(&shared.waiting).insert(delivery.request_id.clone(), answer);
    shared
        .delivered
        .send_replace(Some(delivery.request_id.clone()));
    (StatusCode::OK, headers, delivery.payload.to_string()).into_response()
}

async fn response(
    State(shared): State<Shared>,
    Path(request_id): Path<String>,
    body: Bytes,
) -> Response {
    let value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(value) => value,
            // Lambda passes non-JSON responses through as a string.
            Err(_) => Value::String(String::from_utf8_lossy(&body).into_owned()),
        }
    };
    settle(&shared, &request_id, Answer::Response(value))
}

async fn error(
    State(shared): State<Shared>,
    Path(request_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (error_type, error_message) = diagnostic(&headers, &body);
    settle(
        &shared,
        &request_id,
        Answer::Error {
            error_type,
            error_message,
        },
    )
}

async fn init_error_route(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (error_type, error_message) = diagnostic(&headers, &body);
    shared.init_error.send_replace(Some(InitError {
        error_type,
        error_message,
    }));
    accepted()
}

fn settle(shared: &Shared, request_id: &str, answer: Answer) -> Response {
    match lock(&shared.waiting).remove(request_id) {
        Some(waiter) => {
            // The invoker may have given up (timeout); the answer is then dropped, as in Lambda.
            let _ = waiter.send(answer);
            accepted()
        }
        None => rejection(StatusCode::BAD_REQUEST, "InvalidRequestID"),
    }
}

/// `errorType` / `errorMessage` of an error body; the header names the type only when the
/// body does not (Lambda reports the body's: `lambda_runtime` sends the header `unhandled`
/// with every error, whatever the function's error type).
fn diagnostic(headers: &HeaderMap, body: &[u8]) -> (String, String) {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let field = |name: &str| parsed.get(name).and_then(Value::as_str).map(str::to_owned);
    let error_type = field("errorType")
        .or_else(|| {
            headers
                .get("lambda-runtime-function-error-type")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "Unhandled".to_owned());
    let error_message = field("errorMessage")
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(4096).collect());
    (error_type, error_message)
}

fn accepted() -> Response {
    json_response(StatusCode::ACCEPTED, &json!({"status": "OK"}))
}

fn rejection(status: StatusCode, error_type: &str) -> Response {
    json_response(
        status,
        &json!({"errorType": error_type, "errorMessage": error_type}),
    )
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bodys_error_type_wins_over_the_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "lambda-runtime-function-error-type",
            axum::http::HeaderValue::from_static("unhandled"),
        );
        let body = br#"{"errorType": "NeedsAttention", "errorMessage": "AccessDenied"}"#;
        assert_eq!(
            diagnostic(&headers, body),
            ("NeedsAttention".to_owned(), "AccessDenied".to_owned())
        );
        assert_eq!(diagnostic(&headers, b"{}").0, "unhandled");
        assert_eq!(diagnostic(&HeaderMap::new(), b"oops").0, "Unhandled");
    }
}
