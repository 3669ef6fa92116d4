//! A minimal HTTP client for the stack's control endpoint (loopback, plain HTTP).

use anyhow::{Context as _, Result};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// POSTs an empty body to `url`; returns the status and the body as text.
pub async fn post(url: &str) -> Result<(u16, String)> {
    let client: Client<_, Full<axum::body::Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let request = axum::http::Request::post(url)
        .body(Full::default())
        .context("a malformed control URL")?;
    let response = client
        .request(request)
        .await
        .with_context(|| format!("the running stack does not answer at {url}"))?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
