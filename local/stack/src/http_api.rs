//! A local front for the template's HttpApi: API Gateway HTTP API semantics on loopback.
//!
//! Requests are matched to routes as API Gateway does, checked by a JWT authorizer that
//! follows API Gateway's rules, turned into payload format 2.0 events and handed to the
//! route's [`InvokeFn`]; the function's answer is mapped back to HTTP as API Gateway maps a
//! payload 2.0 response. Errors have API Gateway's bodies: `{"message":"Not Found"}`,
//! `{"message":"Unauthorized"}`, `{"message":"Internal Server Error"}`.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HeaderName, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value, json};
use tokio::sync::{Mutex, oneshot};
use tokio::task::JoinHandle;

/// Largest request body API Gateway HTTP APIs accept (10 MB); larger ones get 413.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// The `apiId` of the local API in events.
pub const LOCAL_API_ID: &str = "localapi01";
/// The route key of the catch-all route.
pub const DEFAULT_ROUTE: &str = "$default";
/// How long the authorizer waits before fetching the issuer's keys again for an unknown kid.
pub const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// Invokes a function with an event: `Ok` is the function's response payload, `Err` means
/// the invocation failed (function error, crash, timeout).
pub type InvokeFn =
    Arc<dyn Fn(Value) -> Pin<Box<dyn Future<Output = anyhow::Result<Value>> + Send>> + Send + Sync>;

/// One route of the HttpApi, as the template declares it.
#[derive(Clone)]
pub struct Route {
    /// `GET`, `POST`, ... or `ANY`.
    pub method: String,
    /// SAM path such as `/v1/licenses/{licenseId}/usage` or `/files/{proxy+}`, or `$default`.
    pub path: String,
    /// Logical name of the function behind the route (for messages).
    pub function: String,
    /// `true` when the route uses the JWT authorizer, `false` for `Authorizer: NONE`.
    pub authorization: bool,
    /// Invokes the function.
    pub invoke: InvokeFn,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("function", &self.function)
            .field("authorization", &self.authorization)
            .finish_non_exhaustive()
    }
}

/// The JWT authorizer's configuration (`JwtConfiguration` and `IdentitySource` in SAM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtAuthorizerConfig {
    /// The issuer URL; tokens' `iss` must equal it and its discovery document is read from
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// Accepted audiences (`aud`, or `client_id` when the token has no `aud`).
    pub audience: Vec<String>,
    /// The header carrying the token: `Authorization` or `$request.header.Authorization`.
    pub identity_source: String,
}

impl JwtAuthorizerConfig {
    /// A configuration reading the token from the `Authorization` header.
    pub fn new(issuer: impl Into<String>, audience: Vec<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience,
            identity_source: "Authorization".to_owned(),
        }
    }

    /// The header name of the identity source.
    fn header_name(&self) -> Result<HeaderName> {
        let name = self
            .identity_source
            .strip_prefix("$request.header.")
            .unwrap_or(&self.identity_source);
        HeaderName::try_from(name).with_context(|| {
            format!(
                "the authorizer's identity source {:?} is not a request header",
                self.identity_source
            )
        })
    }
}

/// A running local HttpApi; stops when dropped or on [`HttpApi::shutdown`].
#[derive(Debug)]
pub struct HttpApi {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl HttpApi {
    /// Serves `routes` on `addr` (port 0 picks a free one). Fails on a malformed or repeated
    /// route, or when a route needs authorization and no authorizer is given.
    pub async fn start(
        addr: SocketAddr,
        routes: Vec<Route>,
        authorizer: Option<JwtAuthorizerConfig>,
    ) -> Result<Self> {
        let routes = routes
            .into_iter()
            .map(CompiledRoute::new)
            .collect::<Result<Vec<_>>>()?;
        let mut keys = std::collections::HashSet::new();
        if let Some(route) = routes.iter().find(|route| !keys.insert(&route.route_key)) {
            bail!("route {:?} is declared twice", route.route_key);
        }
        if let Some(route) = routes.iter().find(|route| route.route.authorization)
            && authorizer.is_none()
        {
            bail!(
                "route {:?} needs the JWT authorizer, but the HttpApi has none",
                route.route_key
            );
        }
        let authorizer = authorizer.map(JwtAuthorizer::new).transpose()?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the HttpApi to {addr}"))?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(ApiState { routes, authorizer });
        let app = axum::Router::new().fallback(handle).with_state(state);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(error) = server.await {
                eprintln!("HttpApi stopped: {error}");
            }
        });
        Ok(Self {
            url,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops serving and waits for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for HttpApi {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A JSON response with API Gateway's `content-type`.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// API Gateway's error answer: `{"message": ...}`.
fn message_response(status: StatusCode, message: &str) -> Response {
    json_response(status, &json!({ "message": message }))
}

// ---------------------------------------------------------------------------------------
// Serving a request
// ---------------------------------------------------------------------------------------

struct ApiState {
    routes: Vec<CompiledRoute>,
    authorizer: Option<JwtAuthorizer>,
}

/// Every request: route, authorize, read the body, invoke, map the answer.
async fn handle(
    State(state): State<Arc<ApiState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let request_id = new_request_id();
    let mut response = serve(&state, peer, request, &request_id).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("apigw-requestid", value);
    }
    response
}

async fn serve(state: &ApiState, peer: SocketAddr, request: Request, request_id: &str) -> Response {
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_owned();
    let raw_path = parts.uri.path().to_owned();
    let Some((route, path_parameters)) = match_route(&state.routes, &method, &raw_path) else {
        return message_response(StatusCode::NOT_FOUND, "Not Found");
    };
    let jwt = match (&state.authorizer, route.route.authorization) {
        (Some(authorizer), true) => match authorizer.authorize(&parts.headers).await {
            Ok(jwt) => Some(jwt),
            Err(rejection) => return rejection.response(),
        },
        _ => None,
    };
    let Some(body) = read_body(&parts.headers, body).await else {
        return message_response(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let event = build_event(&EventInput {
        method: &method,
        raw_path: &raw_path,
        raw_query: parts.uri.query().unwrap_or_default(),
        version: parts.version,
        headers: &parts.headers,
        body: &body,
        peer,
        route_key: &route.route_key,
        path_parameters,
        jwt,
        request_id,
        now: SystemTime::now(),
    });
    let outcome = invoke(&route.route.invoke, event).await;
    function_response(&route.route.function, outcome)
}

/// The HTTP response for a function's outcome: its mapped payload, or API Gateway's 500
/// when the invocation failed or the payload cannot be mapped.
fn function_response(function: &str, outcome: Result<Value>) -> Response {
    let mapped = outcome
        .with_context(|| format!("invoking {function} failed"))
        .and_then(|payload| {
            map_response(payload)
                .with_context(|| format!("{function} returned a malformed response"))
        });
    mapped.unwrap_or_else(|error| {
        eprintln!("HttpApi: {error:#}");
        internal_error()
    })
}

fn internal_error() -> Response {
    message_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

/// The body, or `None` when it is larger than [`MAX_BODY_BYTES`] (or cannot be read).
async fn read_body(headers: &HeaderMap, body: Body) -> Option<Bytes> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return None;
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES).await.ok()
}

/// Runs the function in its own task so that a panic is a failed invocation, not a lost
/// connection.
async fn invoke(invoke: &InvokeFn, event: Value) -> Result<Value> {
    tokio::spawn(invoke(event))
        .await
        .context("the function crashed")?
}

/// A request id shaped like API Gateway's (`JKJaXmPLvHcESHA=`).
fn new_request_id() -> String {
    BASE64.encode(&uuid::Uuid::new_v4().as_bytes()[..10])
}

// ---------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------

/// One segment of a route's path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Variable(String),
    /// `{name+}`: one or more trailing segments.
    Greedy(String),
}

/// A route with its path parsed and its route key (`GET /v1/licenses`, `$default`).
struct CompiledRoute {
    route: Route,
    route_key: String,
    /// `None` for `ANY`.
    method: Option<String>,
    /// `None` for `$default`.
    segments: Option<Vec<Segment>>,
}

const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
];

impl CompiledRoute {
    fn new(route: Route) -> Result<Self> {
        let method = route.method.to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            bail!(
                "route {} {}: the method must be one of {}",
                route.method,
                route.path,
                METHODS.join(", ")
            );
        }
        let segments = if route.path == DEFAULT_ROUTE {
            None
        } else {
            Some(parse_route_path(&route.path)?)
        };
        let route_key = if segments.is_none() {
            DEFAULT_ROUTE.to_owned()
        } else {
            format!("{method} {}", route.path)
        };
        let method = (method != "ANY").then_some(method);
        Ok(Self {
            route,
            route_key,
            method,
            segments,
        })
    }

    /// How specific the route is; the most specific matching route wins: any path before
    /// `$default`, a full match before a greedy one, literal segments before variables
    /// (left to right), a named method before `ANY`.
    fn specificity(&self) -> (bool, bool, Vec<u8>, bool) {
        let Some(segments) = &self.segments else {
            return (false, false, Vec::new(), self.method.is_some());
        };
        let ranks = segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(_) => 2,
                Segment::Variable(_) => 1,
                Segment::Greedy(_) => 0,
            })
            .collect();
        let greedy = matches!(segments.last(), Some(Segment::Greedy(_)));
        (true, !greedy, ranks, self.method.is_some())
    }

    /// The path parameters when the route matches `method` and `path`.
    fn matches(&self, method: &str, path: &str) -> Option<BTreeMap<String, String>> {
        if self.method.as_deref().is_some_and(|own| own != method) {
            return None;
        }
        match &self.segments {
            None => Some(BTreeMap::new()),
            Some(segments) => match_path(segments, path),
        }
    }
}

/// Parses a SAM path: `/`, literal segments, `{name}` and a final `{name+}`.
fn parse_route_path(path: &str) -> Result<Vec<Segment>> {
    let Some(rest) = path.strip_prefix('/') else {
        bail!("route path {path:?} must start with '/' (or be $default)");
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let mut segments = Vec::with_capacity(parts.len());
    for (index, part) in parts.iter().enumerate() {
        let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => match name.strip_suffix('+') {
                Some(greedy) if index + 1 == parts.len() && !greedy.is_empty() => {
                    Segment::Greedy(greedy.to_owned())
                }
                Some(_) => bail!("route path {path:?}: a greedy variable must be the last segment"),
                None if !name.is_empty() => Segment::Variable(name.to_owned()),
                None => bail!("route path {path:?}: a path variable needs a name"),
            },
            None => Segment::Literal((*part).to_owned()),
        };
        segments.push(segment);
    }
    Ok(segments)
}

/// Matches a request path against route segments; values are percent-decoded.
fn match_path(segments: &[Segment], path: &str) -> Option<BTreeMap<String, String>> {
    let parts: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    let mut parameters = BTreeMap::new();
    for (index, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Literal(literal) => {
                let part = parts.get(index)?;
                if percent_decode(part) != *literal {
                    return None;
                }
            }
            Segment::Variable(name) => {
                let part = parts.get(index).filter(|part| !part.is_empty())?;
                parameters.insert(name.clone(), percent_decode(part));
            }
            Segment::Greedy(name) => {
                let rest = parts.get(index..).filter(|rest| !rest.is_empty())?;
                let value = rest.join("/");
                if value.is_empty() {
                    return None;
                }
                parameters.insert(name.clone(), percent_decode(&value));
                return Some(parameters);
            }
        }
    }
    (parts.len() == segments.len()).then_some(parameters)
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// The most specific route matching the request, with its path parameters.
fn match_route<'a>(
    routes: &'a [CompiledRoute],
    method: &str,
    path: &str,
) -> Option<(&'a CompiledRoute, BTreeMap<String, String>)> {
    routes
        .iter()
        .filter_map(|route| route.matches(method, path).map(|params| (route, params)))
        .max_by(|(a, _), (b, _)| a.specificity().cmp(&b.specificity()))
}

// ---------------------------------------------------------------------------------------
// The payload 2.0 event
// ---------------------------------------------------------------------------------------

/// What the event is built from.
struct EventInput<'a> {
    method: &'a str,
    raw_path: &'a str,
    raw_query: &'a str,
    version: axum::http::Version,
    headers: &'a HeaderMap,
    body: &'a [u8],
    peer: SocketAddr,
    route_key: &'a str,
    path_parameters: BTreeMap<String, String>,
    jwt: Option<Value>,
    request_id: &'a str,
    now: SystemTime,
}

/// The API Gateway HTTP API payload format 2.0 event of a request.
fn build_event(input: &EventInput<'_>) -> Value {
    let headers = event_headers(input);
    let user_agent = headers
        .get("user-agent")
        .cloned()
        .unwrap_or(Value::String(String::new()));
    let domain_name = headers
        .get("host")
        .and_then(Value::as_str)
        .unwrap_or("localhost")
        .to_owned();
    let domain_prefix = domain_name.split('.').next().unwrap_or_default().to_owned();
    let epoch_ms = input
        .now
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis())
        .unwrap_or_default();
    let mut request_context = json!({
        // The account the API is deployed in: the stack's.
        "accountId": local_test_kit::clients::CUSTOMER_ACCOUNT,
        "apiId": LOCAL_API_ID,
        "domainName": domain_name,
        "domainPrefix": domain_prefix,
        "http": {
            "method": input.method,
            "path": input.raw_path,
            "protocol": format!("{:?}", input.version),
            "sourceIp": input.peer.ip().to_string(),
            "userAgent": user_agent,
        },
        "requestId": input.request_id,
        "routeKey": input.route_key,
        "stage": "$default",
        "time": api_gateway_time(input.now),
        "timeEpoch": epoch_ms,
    });
    if let Some(jwt) = &input.jwt {
        request_context["authorizer"] = json!({ "jwt": jwt });
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": input.route_key,
        "rawPath": input.raw_path,
        "rawQueryString": input.raw_query,
        "headers": headers,
        "requestContext": request_context,
        "isBase64Encoded": false,
    });
    let cookies = event_cookies(input.headers);
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    let query = query_string_parameters(input.raw_query);
    if !query.is_empty() {
        event["queryStringParameters"] = json!(query);
    }
    if !input.path_parameters.is_empty() {
        event["pathParameters"] = json!(input.path_parameters);
    }
    if !input.body.is_empty() {
        match std::str::from_utf8(input.body) {
            Ok(text) => event["body"] = json!(text),
            Err(_) => {
                event["body"] = json!(BASE64.encode(input.body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    event
}

/// Headers as API Gateway passes them: names lower-cased, repeated values joined with
/// commas, cookies moved to `cookies`, and the `x-forwarded-*` headers it adds.
fn event_headers(input: &EventInput<'_>) -> Map<String, Value> {
    let mut joined: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in input.headers {
        if name == COOKIE {
            continue;
        }
        joined
            .entry(name.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let forwarded = [
        ("x-forwarded-for", input.peer.ip().to_string()),
        ("x-forwarded-port", input.forwarded_port()),
        ("x-forwarded-proto", "http".to_owned()),
    ];
    for (name, value) in forwarded {
        joined.entry(name.to_owned()).or_insert_with(|| vec![value]);
    }
    joined
        .into_iter()
        .map(|(name, values)| (name, Value::String(values.join(","))))
        .collect()
}

impl EventInput<'_> {
    /// The port the client connected to, from the `Host` header (80 when it names none).
    fn forwarded_port(&self) -> String {
        self.headers
            .get("host")
            .and_then(|host| host.to_str().ok())
            .and_then(|host| host.rsplit_once(':'))
            .map(|(_, port)| port.to_owned())
            .unwrap_or_else(|| "80".to_owned())
    }
}

/// The `Cookie` headers split into single cookies.
fn event_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|value| {
            String::from_utf8_lossy(value.as_bytes())
                .split(';')
                .map(|cookie| cookie.trim().to_owned())
                .filter(|cookie| !cookie.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Decoded query parameters; a repeated name has its values joined with commas.
fn query_string_parameters(raw_query: &str) -> BTreeMap<String, String> {
    let mut parameters: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in form_urlencoded::parse(raw_query.as_bytes()) {
        parameters
            .entry(name.into_owned())
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    parameters
}

/// `requestContext.time`: `12/Mar/2020:19:03:58 +0000`.
fn api_gateway_time(now: SystemTime) -> String {
    let format = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    );
    time::OffsetDateTime::from(now)
        .format(format)
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// The function's response
// ---------------------------------------------------------------------------------------

/// Maps a payload 2.0 response: an object with `statusCode` gives the status, `headers`,
/// `cookies` (one `set-cookie` each) and `body`; any other JSON is a 200 `application/json`
/// response with that JSON as its body. Format 2.0 has no `multiValueHeaders`, so, as in
/// API Gateway, they are ignored.
fn map_response(payload: Value) -> Result<Response> {
    let Some(status) = payload.get("statusCode") else {
        return Ok(json_response(StatusCode::OK, &payload));
    };
    let status = status_code(status)?;
    let body = response_body(&payload)?;
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(map) = payload.get("headers").and_then(Value::as_object) {
        for (name, value) in map {
            append_header(headers, name, value)?;
        }
    }
    for cookie in payload
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        append_header(headers, SET_COOKIE.as_str(), cookie)?;
    }
    Ok(response)
}

fn status_code(value: &Value) -> Result<StatusCode> {
    let code = match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.parse().ok(),
        _ => None,
    };
    code.and_then(|code| u16::try_from(code).ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .with_context(|| format!("statusCode {value} is not an HTTP status"))
}

fn response_body(payload: &Value) -> Result<Vec<u8>> {
    let body = match payload.get("body") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    if payload.get("isBase64Encoded") == Some(&Value::Bool(true)) {
        BASE64
            .decode(body.as_bytes())
            .context("isBase64Encoded is true but the body is not base64")
    } else {
        Ok(body.into_bytes())
    }
}

fn append_header(headers: &mut HeaderMap, name: &str, value: &Value) -> Result<()> {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Number(_) | Value::Bool(_) => value.to_string(),
        other => bail!("header {name}: {other} is not a header value"),
    };
    let name =
        HeaderName::try_from(name).with_context(|| format!("{name:?} is not a header name"))?;
    let value = HeaderValue::try_from(text)
        .with_context(|| format!("header {name}: not a header value"))?;
    headers.append(name, value);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The JWT authorizer
// ---------------------------------------------------------------------------------------

/// Why a request was refused; becomes a 401 with a `www-authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rejection {
    /// No token in the identity source.
    MissingToken,
    /// A token that fails validation, with API Gateway's kind of description.
    InvalidToken(String),
}

impl Rejection {
    fn invalid(description: impl Into<String>) -> Self {
        Self::InvalidToken(description.into())
    }

    fn response(&self) -> Response {
        let mut response = message_response(StatusCode::UNAUTHORIZED, "Unauthorized");
        let challenge = match self {
            Self::MissingToken => "Bearer".to_owned(),
            Self::InvalidToken(description) => format!(
                "Bearer scope=\"\" error=\"invalid_token\" error_description=\"{}\"",
                description.replace('"', "'")
            ),
        };
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert("www-authenticate", value);
        }
        response
    }
}

/// API Gateway's JWT authorizer: RSA signature by `kid` against the issuer's JWKS, then
/// `iss`, `aud`/`client_id`, `exp`, `nbf` and `iat`, with no leeway.
struct JwtAuthorizer {
    config: JwtAuthorizerConfig,
    header: HeaderName,
    client: Client<HttpConnector, Full<Bytes>>,
    keys: Mutex<KeyCache>,
}

/// The issuer's keys by kid, and when they were last fetched.
#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

/// Algorithms API Gateway accepts: RSA-based ones only.
const RSA_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

impl JwtAuthorizer {
    fn new(config: JwtAuthorizerConfig) -> Result<Self> {
        if config.audience.is_empty() {
            bail!("the JWT authorizer needs at least one audience");
        }
        let header = config.header_name()?;
        let client = Client::builder(TokioExecutor::new()).build_http();
        Ok(Self {
            config,
            header,
            client,
            keys: Mutex::new(KeyCache::default()),
        })
    }

    /// The `requestContext.authorizer.jwt` object of a request with a valid token.
    async fn authorize(&self, headers: &HeaderMap) -> Result<Value, Rejection> {
        let token = bearer_token(headers.get(&self.header)).ok_or(Rejection::MissingToken)?;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Rejection::invalid("the token is malformed"))?;
        if !RSA_ALGORITHMS.contains(&header.alg) {
            return Err(Rejection::invalid(format!(
                "signing method {:?} is invalid",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| Rejection::invalid("the token has no kid header"))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(header.alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|_| Rejection::invalid("the token's signature is invalid"))?
            .claims;
        check_claims(&claims, &self.config, unix_now())?;
        Ok(json!({
            "claims": stringify_claims(&claims),
            // API Gateway fills `scopes` only for routes with authorizationScopes, which the
            // template's routes do not have.
            "scopes": Value::Null,
        }))
    }

    /// The key for `kid`, fetching the issuer's JWKS on first use and again for an unknown
    /// kid at most once per [`JWKS_REFETCH_INTERVAL`].
    async fn key(&self, kid: &str) -> Result<DecodingKey, Rejection> {
        let mut cache = self.keys.lock().await;
        if let Some(key) = cache.keys.get(kid) {
            return Ok(key.clone());
        }
        let due = cache
            .fetched_at
            .is_none_or(|at| at.elapsed() >= JWKS_REFETCH_INTERVAL);
        if due {
            // A failed fetch is retried on the next request: locally the issuer may simply
            // not be up yet.
            match self.fetch_keys().await {
                Ok(keys) => {
                    cache.keys = keys;
                    cache.fetched_at = Some(Instant::now());
                }
                Err(error) => {
                    eprintln!("HttpApi: JWT authorizer: {error:#}");
                    return Err(Rejection::invalid("could not fetch the issuer's keys"));
                }
            }
        }
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| Rejection::invalid(format!("no key in the issuer's JWKS has kid {kid}")))
    }

    /// Reads the issuer's discovery document, then the JWKS it names.
    async fn fetch_keys(&self) -> Result<HashMap<String, DecodingKey>> {
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let discovery = self.get_json(&discovery_url).await?;
        let jwks_uri = discovery
            .get("jwks_uri")
            .and_then(Value::as_str)
            .with_context(|| format!("{discovery_url} has no jwks_uri"))?;
        let jwks: JwkSet = serde_json::from_value(self.get_json(jwks_uri).await?)
            .with_context(|| format!("{jwks_uri} is not a JSON Web Key Set"))?;
        let keys = jwks
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
            })
            .collect();
        Ok(keys)
    }

    /// GETs a JSON document over plain HTTP.
    async fn get_json(&self, url: &str) -> Result<Value> {
        let uri: axum::http::Uri = url
            .parse()
            .with_context(|| format!("{url:?} is not a URL"))?;
        if uri.scheme_str() != Some("http") {
            bail!("{url}: the local authorizer reads issuers over plain http only");
        }
        let request = axum::http::Request::get(uri)
            .body(Full::new(Bytes::new()))
            .with_context(|| format!("building a request for {url}"))?;
        let fetch = async {
            let response = self.client.request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        };
        let (status, body) = tokio::time::timeout(Duration::from_secs(5), fetch)
            .await
            .with_context(|| format!("{url} did not answer within 5 s"))?
            .with_context(|| format!("fetching {url}"))?;
        if !status.is_success() {
            bail!("{url} answered {status}");
        }
        serde_json::from_slice(&body).with_context(|| format!("{url} did not answer JSON"))
    }
}

/// The token in the identity source: the whole value, or what follows `Bearer `.
fn bearer_token(value: Option<&HeaderValue>) -> Option<&str> {
    let value = value?.to_str().ok()?.trim();
    if value.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = match value.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => value.get(7..)?.trim(),
        _ => value,
    };
    (!token.is_empty()).then_some(token)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// API Gateway's claim checks on a token whose signature is valid.
fn check_claims(
    claims: &Map<String, Value>,
    config: &JwtAuthorizerConfig,
    now: i64,
) -> Result<(), Rejection> {
    if claims.get("iss").and_then(Value::as_str) != Some(config.issuer.as_str()) {
        return Err(Rejection::invalid("the token does not have a valid issuer"));
    }
    // `client_id` counts only when the token has no `aud`.
    let audiences: Vec<&str> = match claims.get("aud").or_else(|| claims.get("client_id")) {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences
        .iter()
        .any(|audience| config.audience.iter().any(|accepted| accepted == audience))
    {
        return Err(Rejection::invalid(
            "the token does not have a valid audience",
        ));
    }
    match numeric_claim(claims, "exp")? {
        Some(exp) if exp > now => {}
        Some(_) => return Err(Rejection::invalid("the token has expired")),
        None => return Err(Rejection::invalid("the token has no exp claim")),
    }
    if numeric_claim(claims, "nbf")?.is_some_and(|nbf| nbf > now) {
        return Err(Rejection::invalid("the token is not valid yet"));
    }
    if numeric_claim(claims, "iat")?.is_some_and(|iat| iat > now) {
        return Err(Rejection::invalid("the token was issued in the future"));
    }
    Ok(())
}

/// A NumericDate claim in whole seconds; `None` when absent.
fn numeric_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, Rejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_f64()
            .map(|seconds| Some(seconds.floor() as i64))
            .ok_or_else(|| Rejection::invalid(format!("the {name} claim is not a number"))),
    }
}

/// Claims as API Gateway passes them to the function: every value a string, claims whose
/// value is null left out (as measured against API Gateway, see [`stringify_claim`]).
fn stringify_claims(claims: &Map<String, Value>) -> BTreeMap<String, String> {
    claims
        .iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(name, value)| (name.clone(), stringify_claim(value)))
        .collect()
}

/// One claim value as API Gateway's HTTP API renders it in `authorizer.jwt.claims`: strings
/// as they are, numbers and booleans in their JSON spelling, arrays as `[a b]` (space
/// separated in brackets, elements rendered the same way), objects as their JSON text.
pub fn stringify_claim(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(stringify_claim).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Null | Value::Number(_) | Value::Bool(_) | Value::Object(_) => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str) -> CompiledRoute {
        let invoke: InvokeFn = Arc::new(|_| Box::pin(async { Ok(Value::Null) }));
        CompiledRoute::new(Route {
            method: method.to_owned(),
            path: path.to_owned(),
            function: "f".to_owned(),
            authorization: false,
            invoke,
        })
        .unwrap()
    }

    fn chosen(routes: &[CompiledRoute], method: &str, path: &str) -> Option<String> {
        match_route(routes, method, path).map(|(route, _)| route.route_key.clone())
    }

    #[test]
    fn the_most_specific_route_wins() {
        let routes = [
            route("ANY", "$default"),
            route("ANY", "/pets/{proxy+}"),
            route("GET", "/pets/{petId}"),
            route("ANY", "/pets/{petId}"),
            route("GET", "/pets/dog"),
        ];
        assert_eq!(
            chosen(&routes, "GET", "/pets/dog").unwrap(),
            "GET /pets/dog"
        );
        assert_eq!(
            chosen(&routes, "GET", "/pets/cat").unwrap(),
            "GET /pets/{petId}"
        );
        assert_eq!(
            chosen(&routes, "POST", "/pets/cat").unwrap(),
            "ANY /pets/{petId}"
        );
        assert_eq!(
            chosen(&routes, "GET", "/pets/a/b").unwrap(),
            "ANY /pets/{proxy+}"
        );
        assert_eq!(chosen(&routes, "GET", "/other").unwrap(), "$default");
    }

    #[test]
    fn path_parameters_are_decoded_and_greedy_takes_the_rest() {
        let routes = [route("GET", "/files/{proxy+}"), route("GET", "/u/{id}/x")];
        let (_, params) = match_route(&routes, "GET", "/files/a/b%20c").unwrap();
        assert_eq!(params["proxy"], "a/b c");
        let (_, params) = match_route(&routes, "GET", "/u/a%3Ab/x").unwrap();
        assert_eq!(params["id"], "a:b");
        assert!(match_route(&routes, "GET", "/files").is_none());
        assert!(match_route(&routes, "GET", "/u//x").is_none());
    }

    #[test]
    fn malformed_route_paths_are_refused() {
        for path in ["v1", "/a/{proxy+}/b", "/a/{}"] {
            assert!(parse_route_path(path).is_err(), "{path}");
        }
    }

    #[test]
    fn claims_are_stringified_like_api_gateway() {
        assert_eq!(stringify_claim(&json!(1_700_000_000)), "1700000000");
        assert_eq!(stringify_claim(&json!(true)), "true");
        assert_eq!(stringify_claim(&json!(["a", "b"])), "[a b]");
        assert_eq!(stringify_claim(&json!({"a": "x"})), r#"{"a":"x"}"#);
        let claims = json!({"sub": "c", "gone": null})
            .as_object()
            .cloned()
            .unwrap();
        assert_eq!(
            stringify_claims(&claims).into_iter().collect::<Vec<_>>(),
            [("sub".to_owned(), "c".to_owned())]
        );
    }

    #[test]
    fn bearer_prefix_is_optional() {
        let value = HeaderValue::from_static("Bearer abc");
        assert_eq!(bearer_token(Some(&value)), Some("abc"));
        let value = HeaderValue::from_static("abc");
        assert_eq!(bearer_token(Some(&value)), Some("abc"));
        let value = HeaderValue::from_static("Bearer ");
        assert_eq!(bearer_token(Some(&value)), None);
    }

    #[test]
    fn query_parameters_are_decoded_and_repeats_joined() {
        let params = query_string_parameters("a=1&b=x%20y&a=2");
        assert_eq!(params["a"], "1,2");
        assert_eq!(params["b"], "x y");
    }
}
