//! Forwarding: which service and operation a call is, where it goes, and the fault it meets.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::control;
use crate::ledger::{FaultMode, Shared};

/// The largest request body the proxy takes (DynamoDB's item limit is 400 KB; PutEvents 256 KiB).
const MAX_BODY: usize = 8 * 1024 * 1024;

type UpstreamClient = Client<HttpConnector, Full<Bytes>>;

#[derive(Clone)]
struct Proxy {
    shared: Arc<Shared>,
    client: UpstreamClient,
}

/// The proxy's routes: its control API, and every other request forwarded.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let proxy = Proxy {
        shared: shared.clone(),
        client: Client::builder(TokioExecutor::new()).build_http(),
    };
    control::router::<Proxy>(shared)
        .fallback(forward)
        .with_state(proxy)
}

/// The service a signed AWS request is for: the fourth field of SigV4's credential scope
/// (`Credential=AKID/20260101/us-east-1/license-manager/aws4_request`).
pub(crate) fn service_of(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|scope| scope.split('/').nth(3))
        .unwrap_or("unknown")
        .to_owned()
}

/// The operation: the JSON protocols' `X-Amz-Target` (`AWSLicenseManager.CheckoutLicense`),
/// else the query protocol's `Action` form field, else the method and path.
pub(crate) fn operation_of(headers: &HeaderMap, method: &str, path: &str, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    if let Some(action) = form_urlencoded::parse(body)
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.into_owned())
    {
        return action;
    }
    format!("{method} {path}")
}

/// An AWS JSON-protocol error answer, as the SDKs parse it.
fn aws_error(status: u16, code: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let body =
        serde_json::json!({"__type": code, "message": format!("{code} injected by fault-proxy")});
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(value) = HeaderValue::from_str(code) {
        headers.insert("x-amzn-errortype", value);
    }
    response
}

/// Holds a call open until released (or the hold limit), then answers 504.
async fn hold(shared: &Shared) -> Response {
    let mut release = shared.release.subscribe();
    let _ = tokio::time::timeout(shared.hold_limit, release.changed()).await;
    (StatusCode::GATEWAY_TIMEOUT, "held by fault-proxy").into_response()
}

async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(error) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("fault-proxy: unreadable body: {error}"),
            )
                .into_response();
        }
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let service = service_of(&parts.headers);
    let operation = operation_of(
        &parts.headers,
        parts.method.as_str(),
        parts.uri.path(),
        &body,
    );
    let (number, fault) = proxy.shared.begin(service.clone(), operation.clone());
    tracing::debug!(number, %service, %operation, ?fault, "call");
    match &fault {
        Some(FaultMode::HoldRequest) => return hold(&proxy.shared).await,
        Some(FaultMode::Error { status, code }) => {
            proxy.shared.answered(number, *status);
            return aws_error(*status, code);
        }
        Some(FaultMode::DropAnswer) | None => {}
    }

    let base = proxy.shared.upstreams.for_service(&service);
    let uri: Uri = match format!("{}{}", base.trim_end_matches('/'), path_and_query).parse() {
        Ok(uri) => uri,
        Err(error) => {
            return (
                StatusCode::BAD_GATEWAY,
                format!("fault-proxy: bad upstream URI: {error}"),
            )
                .into_response();
        }
    };
    let mut upstream = axum::http::Request::builder().method(parts.method).uri(uri);
    for (name, value) in &parts.headers {
        // The original Host stays: moto builds URLs (SQS queue URLs) from it, so they point back
        // at the proxy. Lengths and connection handling are the upstream connection's own.
        if name != CONTENT_LENGTH && name != TRANSFER_ENCODING && name != CONNECTION {
            upstream = upstream.header(name, value);
        }
    }
    if !parts.headers.contains_key(HOST) {
        upstream = upstream.header(HOST, base.trim_start_matches("http://"));
    }
    let upstream = match upstream.body(Full::new(body)) {
        Ok(request) => request,
        Err(error) => {
            return (StatusCode::BAD_GATEWAY, format!("fault-proxy: {error}")).into_response();
        }
    };
    let answer = match proxy.client.request(upstream).await {
        Ok(answer) => answer,
        Err(error) => {
            return (
                StatusCode::BAD_GATEWAY,
                format!("fault-proxy: upstream: {error}"),
            )
                .into_response();
        }
    };
    let (parts, body) = answer.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            return (
                StatusCode::BAD_GATEWAY,
                format!("fault-proxy: upstream body: {error}"),
            )
                .into_response();
        }
    };
    proxy.shared.answered(number, parts.status.as_u16());
    if fault == Some(FaultMode::DropAnswer) {
        return hold(&proxy.shared).await;
    }
    let mut response = Response::from_parts(parts, Body::from(body));
    response.headers_mut().remove(TRANSFER_ENCODING);
    response.headers_mut().remove(CONNECTION);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("test header"));
        }
        map
    }

    #[test]
    fn the_service_is_read_from_the_credential_scope() {
        let h = headers(&[(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=123456789012/20260101/us-east-1/license-manager/aws4_request, SignedHeaders=host, Signature=ab",
        )]);
        assert_eq!(service_of(&h), "license-manager");
        assert_eq!(service_of(&HeaderMap::new()), "unknown");
        let garbled = headers(&[("authorization", "Bearer x")]);
        assert_eq!(service_of(&garbled), "unknown");
    }

    #[test]
    fn the_operation_comes_from_the_target_then_the_action_then_the_path() {
        let h = headers(&[("x-amz-target", "DynamoDB_20120810.PutItem")]);
        assert_eq!(operation_of(&h, "POST", "/", b"{}"), "PutItem");
        assert_eq!(
            operation_of(
                &HeaderMap::new(),
                "POST",
                "/",
                b"Action=Publish&Version=2010-03-31"
            ),
            "Publish"
        );
        assert_eq!(operation_of(&HeaderMap::new(), "GET", "/x", b""), "GET /x");
    }
}
