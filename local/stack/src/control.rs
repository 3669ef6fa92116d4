//! A minimal HTTP client for the stack's control endpoint and its HTTP API (loopback, plain
//! HTTP).

use anyhow::{Context as _, Result};
use axum::http::HeaderMap;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

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
