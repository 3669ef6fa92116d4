//! A minimal HTTP client for the stack's control endpoint and its HTTP API (loopback, plain
//! HTTP).

use anyhow::{Context as _, Result};
use axum::http::HeaderMap;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use local_test_kit::checkout::checkout_body;
use serde_json::{Value, json};

use crate::app::{App, LOCAL_AUDIENCE};
use crate::issuer::TokenRequest;

/// An HTTP answer: status, headers and the body as text.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, as text.
    pub body: String,
}

impl Reply {
    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
}

/// Sends `method` to `url` with `headers` and `body`.
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Result<Reply> {
    let client: Client<_, Full<axum::body::Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut request = axum::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(body.map(Full::from).unwrap_or_default())
        .with_context(|| format!("a malformed request to {url}"))?;
    let response = client
        .request(request)
        .await
        .with_context(|| format!("the running stack does not answer at {url}"))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// POSTs an empty body to `url`; returns the status and the body as text.
pub async fn post(url: &str) -> Result<(u16, String)> {
    let reply = send("POST", url, &[], None).await?;
    Ok((reply.status, reply.body))
}

/// The checkout API of a running app, as one customer calls it.
pub struct ApiCaller {
    url: String,
    bearer: String,
}

impl ApiCaller {
    /// `customer`'s caller, with a token minted by the app's local issuer.
    pub fn new(app: &App, customer: &str) -> Result<Self> {
        let url = app
            .stack_file
            .api_url
            .clone()
            .context("the template has no HTTP API")?;
        let token = app
            .issuer
            .mint(TokenRequest::new(customer, LOCAL_AUDIENCE))?;
        Ok(Self {
            url,
            bearer: format!("Bearer {token}"),
        })
    }

    /// `method path` with an optional JSON body and `Idempotency-Key`.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Reply> {
        let mut headers = vec![
            ("authorization", self.bearer.as_str()),
            ("content-type", "application/json"),
        ];
        if let Some(key) = idempotency_key {
            headers.push(("idempotency-key", key));
        }
        send(
            method,
            &format!("{}{path}", self.url.trim_end_matches('/')),
            &headers,
            body.map(|body| body.to_string()),
        )
        .await
    }
}

impl ApiCaller {
    /// `POST /v1/checkout` of one seat on `node`, with `idempotency_key` when given.
    pub async fn checkout(&self, node: &str, idempotency_key: Option<&str>) -> Result<Reply> {
        self.call(
            "POST",
            "/v1/checkout",
            Some(checkout_body(1, Some(node))),
            idempotency_key,
        )
        .await
    }

    /// `POST path` (`/v1/extend`, `/v1/checkin`) of `token`.
    pub async fn with_token(&self, path: &str, token: &str) -> Result<Reply> {
        self.call(
            "POST",
            path,
            Some(json!({"licenseConsumptionToken": token})),
            None,
        )
        .await
    }
}
