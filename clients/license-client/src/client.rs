//! The checkout API over HTTPS: one method per route, retries that honour `Retry-After`, and
//! one `Idempotency-Key` per logical operation.

use std::fmt;
use std::time::Duration;

use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Problem, ProblemCode};

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// How requests are retried: a 429 or 503 (after its `Retry-After`), a 409
/// `request-in-progress` (the same request still in flight, after its `Retry-After`), a
/// gateway's 502 or 504,
/// and a request that got no answer (a refused or reset connection, a timeout) are sent
/// again, with the same `Idempotency-Key`, until `max_attempts` or `max_elapsed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (1: no retry).
    pub max_attempts: u32,
    /// The first backoff without `Retry-After`; it doubles each attempt (with jitter).
    pub initial_backoff: Duration,
    /// The longest wait between attempts (a longer `Retry-After` is cut to it).
    pub max_backoff: Duration,
    /// How long one attempt may take before it counts as unanswered.
    pub attempt_timeout: Duration,
    /// No new attempt starts after this much time since the first.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(20),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (1-based `attempt`): `retry_after` when the
    /// answer had one, else exponential backoff with full jitter; never over `max_backoff`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_backoff);
        }
        let cap = self
            .initial_backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.max_backoff);
        let cap_micros = u64::try_from(cap.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rand::random_range(cap_micros / 2..=cap_micros))
    }
}

/// One entitlement to check out: a name, a unit (`Count` by default) and a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entitlement {
    /// Its name in the license (e.g. `Users`).
    pub name: String,
    /// Its unit (e.g. `Count`).
    pub unit: String,
    /// How much (License Manager's default is 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Entitlement {
    /// `count` of the `Count` entitlement `name`.
    pub fn count(name: &str, count: u32) -> Self {
        Self {
            name: name.to_owned(),
            unit: "Count".to_owned(),
            value: Some(count.to_string()),
        }
    }

    /// Parses `NAME[=VALUE][:UNIT]` (e.g. `Users=1`, `Storage=10:Gigabytes`).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let (rest, unit) = match text.rsplit_once(':') {
            Some((rest, unit)) if !unit.is_empty() => (rest, unit),
            Some(_) => {
                return Err(Error::Config(format!(
                    "entitlement {text:?}: the unit after ':' is empty"
                )));
            }
            None => (text, "Count"),
        };
        let (name, value) = match rest.split_once('=') {
            Some((name, value)) if !value.is_empty() => (name, Some(value.to_owned())),
            Some(_) => {
                return Err(Error::Config(format!(
                    "entitlement {text:?}: the value after '=' is empty"
                )));
            }
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(Error::Config(format!(
                "entitlement {text:?}: expected NAME[=VALUE][:UNIT], e.g. Users=1"
            )));
        }
        Ok(Self {
            name: name.to_owned(),
            unit: unit.to_owned(),
            value,
        })
    }
}

/// `POST /v1/checkout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutRequest {
    /// The product SKU of your license.
    pub product_sku: String,
    /// `PROVISIONAL` (a lease, extended and checked in) or `PERPETUAL`.
    pub checkout_type: String,
    /// What to check out.
    pub entitlements: Vec<Entitlement>,
    /// This app instance: a restart with the same node id gets its live lease back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
}

impl CheckoutRequest {
    /// A PROVISIONAL checkout of `entitlements` of `sku` on `node_id`.
    pub fn provisional(sku: &str, entitlements: Vec<Entitlement>, node_id: &str) -> Self {
        Self {
            product_sku: sku.to_owned(),
            checkout_type: "PROVISIONAL".to_owned(),
            entitlements,
            node_id: Some(node_id.to_owned()),
        }
    }
}

/// `POST /v1/borrow`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BorrowRequest {
    /// The license to borrow from (one of yours).
    pub license_arn: String,
    /// What to borrow.
    pub entitlements: Vec<Entitlement>,
    /// This app instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
}

/// A checkout or borrow as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkout {
    /// The license it draws from.
    pub license_arn: String,
    /// The lease's token: extend and check in with it.
    pub license_consumption_token: String,
    /// What it holds.
    #[serde(default)]
    pub entitlements_allowed: Vec<Entitlement>,
    /// PROVISIONAL or PERPETUAL (absent for a borrow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_type: Option<String>,
    /// The node that holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// The signed token (PS384 JWT for a borrow), to verify offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_token: Option<String>,
    /// When it was issued (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<String>,
    /// When it expires unless extended (RFC 3339); none for PERPETUAL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    /// The node's live lease was returned (extended) instead of drawing another.
    #[serde(default)]
    pub reused: bool,
}

/// `POST /v1/extend`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    /// The lease's token.
    pub license_consumption_token: String,
    /// Its new expiration (RFC 3339).
    pub expiration: String,
}

/// One of your live leases, as `GET /v1/leases` lists it (never with its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseInfo {
    /// Its id (free it with [`Client::release`]).
    pub lease_id: String,
    /// The license it draws from.
    pub license_arn: String,
    /// PROVISIONAL or BORROW.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_type: Option<String>,
    /// The license's product SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_sku: Option<String>,
    /// The node that holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// What it holds.
    #[serde(default)]
    pub entitlements: Vec<Entitlement>,
    /// When it was checked out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_out_at: Option<String>,
    /// When it expires unless extended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    /// Its last checkout or extension: a node that stopped extending has died.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_extended_at: Option<String>,
}

/// A client of the checkout API at one URL with one bearer token (never printed: `Debug`
/// shows it redacted).
#[derive(Clone)]
pub struct Client {
    base: String,
    authorization: HeaderValue,
    http: HyperClient<Connector, Full<Bytes>>,
    retry: RetryPolicy,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("authorization", &"Bearer <redacted>")
            .field("retry", &self.retry)
            .finish()
    }
}

/// An answer: status, `Retry-After`, the gateway's `WWW-Authenticate` and body.
struct Answer {
    status: StatusCode,
    retry_after: Option<Duration>,
    challenge: Option<String>,
    body: Bytes,
}

impl Client {
    /// A client of the API at `api_url` (`https://...`, or `http://` for a local stack),
    /// calling with `bearer_token` (from your identity provider).
    ///
    /// ```
    /// let client = license_client::Client::new("https://licenses.example.com", "eyJ...")?;
    /// assert!(!format!("{client:?}").contains("eyJ"));
    /// # Ok::<(), license_client::Error>(())
    /// ```
    pub fn new(api_url: &str, bearer_token: &str) -> Result<Self, Error> {
        let base = api_url.trim_end_matches('/').to_owned();
        let uri: http::Uri = base
            .parse()
            .map_err(|error| Error::Config(format!("API URL {api_url:?}: {error}")))?;
        if !matches!(uri.scheme_str(), Some("https" | "http")) || uri.host().is_none() {
            return Err(Error::Config(format!(
                "API URL {api_url:?}: expected https://host[/stage]"
            )));
        }
        let token = bearer_token.trim();
        if token.is_empty() {
            return Err(Error::Config(
                "the bearer token is empty (--token, LICENSE_API_TOKEN or --token-file)".into(),
            ));
        }
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                Error::Config("the bearer token has characters a header cannot carry".into())
            })?;
        authorization.set_sensitive(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|error| Error::Config(format!("no system root certificates: {error}")))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            base,
            authorization,
            http: HyperClient::builder(TokioExecutor::new()).build(connector),
            retry: RetryPolicy::default(),
        })
    }

    /// The same client with `retry` as its retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Its retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// `POST /v1/checkout`, with one `Idempotency-Key` for all its retries.
    pub async fn checkout(&self, request: &CheckoutRequest) -> Result<Checkout, Error> {
        let key = new_idempotency_key();
        let body = self
            .call(
                Method::POST,
                "/v1/checkout",
                Some(json!(request)),
                Some(&key),
            )
            .await?;
        parse(&body)
    }

    /// `POST /v1/borrow`, with one `Idempotency-Key` for all its retries.
    pub async fn borrow(&self, request: &BorrowRequest) -> Result<Checkout, Error> {
        let key = new_idempotency_key();
        let body = self
            .call(Method::POST, "/v1/borrow", Some(json!(request)), Some(&key))
            .await?;
        parse(&body)
    }

    /// `POST /v1/extend` of the lease `token`.
    pub async fn extend(&self, token: &str) -> Result<Extension, Error> {
        let body = self
            .call(
                Method::POST,
                "/v1/extend",
                Some(json!({"licenseConsumptionToken": token})),
                None,
            )
            .await?;
        parse(&body)
    }

    /// `POST /v1/checkin` of `token` (a repeated check-in succeeds again).
    pub async fn check_in(&self, token: &str) -> Result<(), Error> {
        self.call(
            Method::POST,
            "/v1/checkin",
            Some(json!({"licenseConsumptionToken": token})),
            None,
        )
        .await
        .map(drop)
    }

    /// `GET /v1/leases`: your live leases, whichever node holds them.
    pub async fn leases(&self) -> Result<Vec<LeaseInfo>, Error> {
        #[derive(Deserialize)]
        struct Leases {
            leases: Vec<LeaseInfo>,
        }
        let body = self.call(Method::GET, "/v1/leases", None, None).await?;
        Ok(parse::<Leases>(&body)?.leases)
    }

    /// `DELETE /v1/leases/{leaseId}`: frees one of your leases (a node that died).
    pub async fn release(&self, lease_id: &str) -> Result<(), Error> {
        if lease_id.is_empty() || !lease_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::Config(format!(
                "lease id {lease_id:?}: expected an id as `leases` lists it"
            )));
        }
        self.call(
            Method::DELETE,
            &format!("/v1/leases/{lease_id}"),
            None,
            None,
        )
        .await
        .map(drop)
    }

    /// `GET /v1/licenses`: your licenses (License Manager's summary of each).
    pub async fn licenses(&self) -> Result<Vec<Value>, Error> {
        let body = self.call(Method::GET, "/v1/licenses", None, None).await?;
        let mut value: Value = parse(&body)?;
        match value["licenses"].take() {
            Value::Array(licenses) => Ok(licenses),
            _ => Err(Error::InvalidResponse("no licenses array".into())),
        }
    }

    /// `GET /v1/keys`: the JWKS that verifies the issuer's signed tokens.
    pub async fn keys(&self) -> Result<Value, Error> {
        let body = self.call(Method::GET, "/v1/keys", None, None).await?;
        parse(&body)
    }

    /// One logical request, retried as [`RetryPolicy`] says; the body of a 2xx answer.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Bytes, Error> {
        let url = format!("{}{path}", self.base);
        let body = body.map(|body| Bytes::from(body.to_string()));
        let started = tokio::time::Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = tokio::time::timeout(
                self.retry.attempt_timeout,
                self.send(&method, &url, body.clone(), idempotency_key),
            )
            .await
            .unwrap_or_else(|_| {
                Err(Error::Transport {
                    url: url.clone(),
                    message: format!("no answer within {:?}", self.retry.attempt_timeout),
                })
            });
            let (error, retry_after) = match outcome {
                Ok(answer) if answer.status.is_success() => return Ok(answer.body),
                Ok(answer) => {
                    let problem = problem_of(&answer);
                    let retryable = matches!(answer.status.as_u16(), 429 | 502 | 503 | 504)
                        || problem.code == ProblemCode::RequestInProgress;
                    if !retryable {
                        return Err(Error::Api(problem));
                    }
                    (Error::Api(problem), answer.retry_after)
                }
                Err(error @ Error::Transport { .. }) => (error, None),
                Err(error) => return Err(error),
            };
            let delay = self.retry.delay(attempt, retry_after);
            if attempt >= self.retry.max_attempts
                || started.elapsed() + delay > self.retry.max_elapsed
            {
                return Err(error);
            }
            tokio::time::sleep(delay).await;
        }
    }

    async fn send(
        &self,
        method: &Method,
        url: &str,
        body: Option<Bytes>,
        idempotency_key: Option<&str>,
    ) -> Result<Answer, Error> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(url)
            .header(header::AUTHORIZATION, self.authorization.clone())
            .header(header::ACCEPT, "application/json")
            .header(
                header::USER_AGENT,
                concat!("license-client/", env!("CARGO_PKG_VERSION")),
            );
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|error| Error::Config(format!("{url}: {error}")))?;
        let transport = |message: String| Error::Transport {
            url: url.to_owned(),
            message,
        };
        let response = self
            .http
            .request(request)
            .await
            .map_err(|error| transport(error_chain(&error)))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|error| transport(format!("the answer broke off: {}", error_chain(&error))))?
            .to_bytes();
        Ok(Answer {
            status,
            retry_after,
            challenge,
            body,
        })
    }
}

/// A new `Idempotency-Key` (a UUID): one per logical operation, reused by its retries.
pub fn new_idempotency_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The error and its sources, as one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The problem of a non-2xx answer: its problem+json, or the gateway's `{"message"}`.
fn problem_of(answer: &Answer) -> Problem {
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    let code = body["code"]
        .as_str()
        .map_or_else(|| ProblemCode::Other(String::new()), ProblemCode::parse);
    let mut detail = body["detail"]
        .as_str()
        .or_else(|| body["message"].as_str())
        .map_or_else(
            || {
                String::from_utf8_lossy(&answer.body)
                    .chars()
                    .take(200)
                    .collect()
            },
            str::to_owned,
        );
    // The gateway's 401 says why only in its challenge (`error_description="..."`).
    if let Some(why) = answer
        .challenge
        .as_deref()
        .and_then(|challenge| challenge.split("error_description=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
    {
        detail = format!("{detail} ({why})");
    }
    Problem {
        status: answer.status.as_u16(),
        code,
        detail,
        retry_after: answer.retry_after,
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|error| Error::InvalidResponse(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entitlements_parse_with_value_and_unit_and_name_what_is_wrong() {
        assert_eq!(
            Entitlement::parse("Users=1").ok(),
            Some(Entitlement::count("Users", 1))
        );
        let storage = Entitlement::parse("Storage=10:Gigabytes").ok();
        assert_eq!(
            storage.map(|e| (e.name, e.unit, e.value)),
            Some(("Storage".into(), "Gigabytes".into(), Some("10".into())))
        );
        assert_eq!(
            Entitlement::parse("Users").ok().map(|e| e.value),
            Some(None)
        );
        for bad in ["", "=1", "Users=", "Users=1:"] {
            let error = Entitlement::parse(bad).err().map(|e| e.to_string());
            assert!(
                error.as_deref().is_some_and(|e| e.contains("entitlement")),
                "{bad}: {error:?}"
            );
        }
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap_and_backoff_grows() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3600))),
            policy.max_backoff
        );
        let first = policy.delay(1, None);
        assert!(first <= policy.initial_backoff && first >= policy.initial_backoff / 2);
        let later = policy.delay(4, None);
        assert!(later >= policy.initial_backoff * 4, "{later:?}");
    }

    #[test]
    fn a_client_needs_a_url_and_a_token_and_never_shows_the_token() {
        assert!(matches!(Client::new("ftp://x", "t"), Err(Error::Config(_))));
        assert!(matches!(
            Client::new("https://api.example.com", " "),
            Err(Error::Config(_))
        ));
        let client = Client::new("https://api.example.com/", "secret-token");
        let shown = format!("{client:?}");
        assert!(!shown.contains("secret-token"), "{shown}");
    }
}
