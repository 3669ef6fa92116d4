//! The customer apps: each makes its step of a phase through the HTTP API with its own token
//! and retries as a customer app does (license-client's policy: `Retry-After` when the answer
//! has one, else exponential backoff with jitter; at most six attempts). Every attempt is a
//! sample.

use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde_json::{Value, json};

/// Attempts per step at most.
const MAX_ATTEMPTS: u32 = 6;
/// The first backoff (doubling per attempt).
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A step every app makes once, all apps at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Phase {
    /// `POST /v1/checkout` of one seat.
    Checkout,
    /// `POST /v1/extend` of the app's lease.
    Extend,
    /// `POST /v1/checkin` of the app's lease.
    CheckIn,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Self; 3] = [Self::Checkout, Self::Extend, Self::CheckIn];

    /// Its route.
    pub fn route(self) -> &'static str {
        match self {
            Self::Checkout => "POST /v1/checkout",
            Self::Extend => "POST /v1/extend",
            Self::CheckIn => "POST /v1/checkin",
        }
    }

    fn path(self) -> &'static str {
        self.route().trim_start_matches("POST ")
    }
}

/// One attempt.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Its phase.
    pub phase: Phase,
    /// The HTTP status (0: no answer).
    pub status: u16,
    /// From sending to the whole answer, in ms.
    pub ms: f64,
    /// Whether it was the step's last attempt.
    pub last: bool,
}

impl Sample {
    /// Whether the attempt succeeded (2xx).
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// One customer app.
#[derive(Debug, Clone)]
pub struct AppPlan {
    /// The HTTP API.
    pub api: String,
    /// Its bearer token (its customer is the `sub`).
    pub token: String,
    /// Its node id.
    pub node: String,
}

/// Every app makes `phase`'s step at once; `tokens` are the apps' leases (an app without one
/// skips extend and check-in). The samples and the lease each app holds afterwards.
pub async fn phase(
    plans: &[AppPlan],
    phase: Phase,
    tokens: &[Option<String>],
) -> (Vec<Sample>, Vec<Option<String>>) {
    let client: Client<HttpConnector, Full<hyper::body::Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let tasks: Vec<_> = plans
        .iter()
        .zip(tokens)
        .map(|(plan, token)| {
            let (client, plan, token) = (client.clone(), plan.clone(), token.clone());
            tokio::spawn(async move { step(&client, &plan, phase, token.as_deref()).await })
        })
        .collect();
    let mut samples = Vec::new();
    let mut leases = Vec::new();
    for task in tasks {
        match task.await {
            Ok((mut made, lease)) => {
                samples.append(&mut made);
                leases.push(lease);
            }
            Err(_) => leases.push(None),
        }
    }
    (samples, leases)
}

/// One app's step with its retries: the samples and the lease it holds afterwards.
async fn step(
    client: &Client<HttpConnector, Full<hyper::body::Bytes>>,
    plan: &AppPlan,
    phase: Phase,
    token: Option<&str>,
) -> (Vec<Sample>, Option<String>) {
    let body = match (phase, token) {
        (Phase::Checkout, _) => local_test_kit::checkout::checkout_body(1, Some(&plan.node)),
        (_, Some(token)) => json!({"licenseConsumptionToken": token}),
        (_, None) => return (Vec::new(), None),
    };
    let idempotency_key = uuid::Uuid::new_v4().to_string();
    let mut samples = Vec::new();
    for attempt in 1..=MAX_ATTEMPTS {
        let started = Instant::now();
        let answer = send(client, plan, phase, &body, &idempotency_key).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let (status, retry_after, value) = answer.unwrap_or((0, None, Value::Null));
        let retry = matches!(status, 0 | 429 | 502 | 503 | 504) && attempt < MAX_ATTEMPTS;
        samples.push(Sample {
            phase,
            status,
            ms,
            last: !retry,
        });
        if !retry {
            let lease = match phase {
                Phase::Checkout => value
                    .get("licenseConsumptionToken")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                // A lease whose extension or check-in failed is still held.
                Phase::Extend => token.map(str::to_owned),
                Phase::CheckIn => token.filter(|_| status / 100 != 2).map(str::to_owned),
            };
            return (samples, lease);
        }
        tokio::time::sleep(delay(attempt, retry_after)).await;
    }
    (
        samples,
        token
            .filter(|_| phase != Phase::Checkout)
            .map(str::to_owned),
    )
}

/// `Retry-After` (at most [`MAX_BACKOFF`]), else exponential backoff with full jitter.
fn delay(attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(after) = retry_after {
        return after.min(MAX_BACKOFF);
    }
    let cap = INITIAL_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    let jitter = f64::from(uuid::Uuid::new_v4().as_u128() as u16) / f64::from(u16::MAX);
    cap.mul_f64(0.5 + jitter / 2.0)
}

/// One attempt: status, `Retry-After` and JSON body, or `None` when nothing came back.
async fn send(
    client: &Client<HttpConnector, Full<hyper::body::Bytes>>,
    plan: &AppPlan,
    phase: Phase,
    body: &Value,
    idempotency_key: &str,
) -> Option<(u16, Option<Duration>, Value)> {
    let request = http::Request::post(format!("{}{}", plan.api, phase.path()))
        .header("authorization", format!("Bearer {}", plan.token))
        .header("content-type", "application/json")
        .header("idempotency-key", idempotency_key)
        .body(Full::new(hyper::body::Bytes::from(body.to_string())))
        .ok()?;
    let response = tokio::time::timeout(Duration::from_secs(35), client.request(request))
        .await
        .ok()?
        .ok()?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = response.into_body().collect().await.ok()?.to_bytes();
    Some((
        status,
        retry_after,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}
