#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The local HttpApi and OIDC issuer over real HTTP: API Gateway's JWT authorizer rules,
//! payload 2.0 events, response mapping, and the issuer's discovery document, JWKS and key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::RequestExt as _;
use lambda_http::request::RequestContext;
use local_stack::http_api::{HttpApi, InvokeFn, JwtAuthorizerConfig, MAX_BODY_BYTES, Route};
use local_stack::issuer::{self, LocalIssuer, SigningKey, TokenRequest};
use serde_json::{Value, json};

const AUDIENCE: &str = "checkout-api";
const LOOPBACK: &str = "127.0.0.1:0";

/// What the test functions answer.
#[derive(Clone, Copy)]
enum Answer {
    /// `{"statusCode": 201, headers, cookies, body}`.
    Structured,
    /// A bare JSON object.
    Bare,
    /// A base64-encoded binary body.
    Binary,
    /// A failed invocation.
    Fail,
    /// A function that crashes.
    Panic,
}

impl Answer {
    fn payload(self) -> anyhow::Result<Value> {
        match self {
            Self::Structured => Ok(json!({
                "statusCode": 201,
                "headers": {"content-type": "application/json", "x-checkout": "yes"},
                "cookies": ["session=abc; Path=/", "theme=dark"],
                "body": "{\"ok\":true}",
            })),
            Self::Bare => Ok(json!({"usage": 3})),
            Self::Binary => Ok(json!({
                "statusCode": 200,
                "headers": {"content-type": "application/octet-stream"},
                "isBase64Encoded": true,
                "body": "AAEC/w==",
            })),
            Self::Fail => Err(anyhow::anyhow!("the function failed")),
            Self::Panic => panic!("the function crashed"),
        }
    }
}

/// Events each route's function received.
type Received = Arc<Mutex<Vec<Value>>>;

fn recording_route(
    method: &str,
    path: &str,
    authorization: bool,
    answer: Answer,
) -> (Route, Received) {
    let received: Received = Arc::default();
    let log = received.clone();
    let invoke: InvokeFn = Arc::new(move |event| {
        log.lock().unwrap().push(event);
        Box::pin(async move { answer.payload() })
    });
    let route = Route {
        method: method.to_owned(),
        path: path.to_owned(),
        function: format!("{method} {path}"),
        authorization,
        invoke,
    };
    (route, received)
}

/// An issuer, an HttpApi in front of recording functions, and their event logs.
struct Setup {
    key_dir: PathBuf,
    issuer: LocalIssuer,
    api: HttpApi,
    checkout: Received,
    usage: Received,
    health: Received,
    failing: Received,
    binary: Received,
}

impl Setup {
    async fn start() -> Self {
        let key_dir = temp_dir();
        let issuer = LocalIssuer::start(addr(), &key_dir).await.unwrap();
        let (checkout_route, checkout) =
            recording_route("POST", "/v1/checkout", true, Answer::Structured);
        let (usage_route, usage) =
            recording_route("GET", "/v1/licenses/{licenseId}/usage", true, Answer::Bare);
        let (health_route, health) = recording_route("GET", "/health", false, Answer::Bare);
        let (failing_route, failing) = recording_route("GET", "/fail", false, Answer::Fail);
        let (binary_route, binary) = recording_route("POST", "/binary", false, Answer::Binary);
        let (crashing_route, _) = recording_route("GET", "/crash", false, Answer::Panic);
        let authorizer = JwtAuthorizerConfig::new(issuer.issuer_url(), vec![AUDIENCE.to_owned()]);
        let api = HttpApi::start(
            addr(),
            vec![
                checkout_route,
                usage_route,
                health_route,
                failing_route,
                binary_route,
                crashing_route,
            ],
            Some(authorizer),
        )
        .await
        .unwrap();
        Self {
            key_dir,
            issuer,
            api,
            checkout,
            usage,
            health,
            failing,
            binary,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api.url())
    }

    fn good_token(&self) -> String {
        self.issuer
            .mint(TokenRequest::new("customer-a", AUDIENCE))
            .unwrap()
    }

    /// Claims signed with the issuer's own key and kid, exactly as given.
    fn signed(&self, claims: Value) -> String {
        let pem = std::fs::read(issuer::key_file(&self.key_dir)).unwrap();
        sign(&pem, self.issuer.kid(), &claims)
    }

    /// Registered claims that pass every check, for tests to spoil one of.
    fn valid_claims(&self) -> Value {
        let now = now();
        json!({
            "iss": self.issuer.issuer_url(), "sub": "customer-a", "aud": AUDIENCE,
            "iat": now, "nbf": now, "exp": now + 600,
        })
    }

    /// POSTs to /v1/checkout with `authorization`, asserts a 401 that left the function
    /// uninvoked, and returns the response headers.
    async fn assert_unauthorized(&self, authorization: Option<&str>) -> HeaderMap {
        let headers: Vec<(&str, &str)> = authorization
            .map(|value| vec![("authorization", value)])
            .unwrap_or_default();
        let invocations = self.checkout.lock().unwrap().len();
        let response = send(Method::POST, &self.url("/v1/checkout"), &headers, "{}").await;
        assert_eq!(
            response.status,
            StatusCode::UNAUTHORIZED,
            "{authorization:?}"
        );
        assert_eq!(response.json(), json!({"message": "Unauthorized"}));
        assert_eq!(
            self.checkout.lock().unwrap().len(),
            invocations,
            "the function ran for {authorization:?}"
        );
        response.headers
    }
}

fn addr() -> SocketAddr {
    LOOPBACK.parse().unwrap()
}

fn temp_dir() -> PathBuf {
    std::env::temp_dir().join(format!("local-stack-issuer-{}", uuid::Uuid::new_v4()))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign(pem: &[u8], kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(pem).unwrap()).unwrap()
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

async fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(request.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

async fn get(url: &str) -> Reply {
    send(Method::GET, url, &[], Bytes::new()).await
}

#[tokio::test]
async fn a_request_without_a_valid_token_gets_401_and_never_reaches_the_function() {
    let setup = Setup::start().await;
    let other_dir = temp_dir();
    let other_key = SigningKey::load_or_generate(&other_dir).unwrap();
    let other_pem = std::fs::read(issuer::key_file(&other_dir)).unwrap();
    let now = now();
    let good = TokenRequest::new("customer-a", AUDIENCE);
    let with = |name: &str, value: Value| {
        let mut claims = setup.valid_claims();
        claims[name] = value;
        setup.signed(claims)
    };
    let refused = [
        // (what is wrong, Authorization header, www-authenticate)
        ("no token", None, "Bearer".to_owned()),
        (
            "malformed",
            Some("not-a-jwt".to_owned()),
            invalid("the token is malformed"),
        ),
        (
            "another key under the issuer's kid",
            Some(sign(&other_pem, setup.issuer.kid(), &setup.valid_claims())),
            invalid("the token's signature is invalid"),
        ),
        (
            "a kid the issuer does not publish",
            Some(other_key.mint(setup.issuer.issuer_url(), &good).unwrap()),
            invalid(&format!(
                "no key in the issuer's JWKS has kid {}",
                other_key.kid()
            )),
        ),
        (
            "another issuer",
            Some(with("iss", json!("http://127.0.0.1:1"))),
            invalid("the token does not have a valid issuer"),
        ),
        (
            "another audience",
            Some(
                setup
                    .issuer
                    .mint(TokenRequest::new("customer-a", "another-api"))
                    .unwrap(),
            ),
            invalid("the token does not have a valid audience"),
        ),
        (
            "expired",
            Some(with("exp", json!(now - 1))),
            invalid("the token has expired"),
        ),
        (
            "not valid yet",
            Some(with("nbf", json!(now + 300))),
            invalid("the token is not valid yet"),
        ),
    ];
    for (case, token, challenge) in refused {
        let authorization = token.map(|token| format!("Bearer {token}"));
        let headers = setup.assert_unauthorized(authorization.as_deref()).await;
        assert_eq!(headers["www-authenticate"], challenge, "{case}");
    }

    // The same route answers once the token is right.
    let response = send(
        Method::POST,
        &setup.url("/v1/checkout"),
        &[("authorization", &format!("Bearer {}", setup.good_token()))],
        "{}",
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED);
    assert_eq!(setup.checkout.lock().unwrap().len(), 1);
}

/// The `www-authenticate` header API Gateway sends for an invalid token.
fn invalid(description: &str) -> String {
    format!("Bearer scope=\"\" error=\"invalid_token\" error_description=\"{description}\"")
}

#[tokio::test]
async fn client_id_counts_only_when_the_token_has_no_aud() {
    let setup = Setup::start().await;
    let mut claims = setup.valid_claims();
    claims.as_object_mut().unwrap().remove("aud");
    claims["client_id"] = json!(AUDIENCE);
    let token = setup.signed(claims.clone());
    let response = send(
        Method::POST,
        &setup.url("/v1/checkout"),
        &[("authorization", &token)],
        "{}",
    )
    .await;
    assert_eq!(
        response.status,
        StatusCode::CREATED,
        "a bare token without Bearer works too"
    );

    claims["aud"] = json!("another-api");
    let token = setup.signed(claims);
    setup.assert_unauthorized(Some(&token)).await;
}

#[tokio::test]
async fn a_valid_token_s_claims_and_the_request_reach_the_function_as_a_payload_2_event() {
    let setup = Setup::start().await;
    let mut request = TokenRequest::new("customer-a", AUDIENCE);
    request
        .extra_claims
        .insert("beneficiary".to_owned(), json!("customer-a"));
    request
        .extra_claims
        .insert("groups".to_owned(), json!(["admins", "buyers"]));
    request
        .extra_claims
        .insert("verified".to_owned(), json!(true));
    let token = setup.issuer.mint(request).unwrap();
    let authorization = format!("Bearer {token}");

    let response = send(
        Method::GET,
        &setup.url("/v1/licenses/lic-123/usage?unit=Count&verbose=1&unit=Hours"),
        &[
            ("authorization", authorization.as_str()),
            ("x-trace", "one"),
            ("x-trace", "two"),
            ("cookie", "a=1; b=2"),
            ("user-agent", "tests/1.0"),
        ],
        Bytes::new(),
    )
    .await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.headers["content-type"], "application/json");
    assert_eq!(response.json(), json!({"usage": 3}));
    let event = setup.usage.lock().unwrap()[0].clone();
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "GET /v1/licenses/{licenseId}/usage");
    assert_eq!(event["rawPath"], "/v1/licenses/lic-123/usage");
    assert_eq!(event["rawQueryString"], "unit=Count&verbose=1&unit=Hours");
    assert_eq!(event["pathParameters"], json!({"licenseId": "lic-123"}));
    assert_eq!(
        event["queryStringParameters"],
        json!({"unit": "Count,Hours", "verbose": "1"})
    );
    assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
    assert_eq!(event["headers"]["x-trace"], "one,two");
    assert_eq!(event["headers"]["x-forwarded-for"], "127.0.0.1");
    assert!(event["headers"].get("cookie").is_none());
    assert_eq!(event["isBase64Encoded"], false);
    assert!(event.get("body").is_none());

    let context = &event["requestContext"];
    assert_eq!(context["stage"], "$default");
    assert_eq!(context["routeKey"], "GET /v1/licenses/{licenseId}/usage");
    assert_eq!(context["http"]["method"], "GET");
    assert_eq!(context["http"]["path"], "/v1/licenses/lic-123/usage");
    assert_eq!(context["http"]["protocol"], "HTTP/1.1");
    assert_eq!(context["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(context["http"]["userAgent"], "tests/1.0");
    assert_eq!(
        response.headers["apigw-requestid"],
        context["requestId"].as_str().unwrap()
    );
    let claims = &context["authorizer"]["jwt"]["claims"];
    assert_eq!(claims["sub"], "customer-a");
    assert_eq!(claims["beneficiary"], "customer-a");
    assert_eq!(claims["iss"], setup.issuer.issuer_url());
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(claims["groups"], "[admins buyers]");
    assert_eq!(claims["verified"], "true");
    assert!(claims["exp"].as_str().unwrap().parse::<u64>().unwrap() > now());

    // The event has the shape of aws_lambda_events' payload 2.0 request.
    let typed: ApiGatewayV2httpRequest = serde_json::from_value(event.clone()).unwrap();
    assert_eq!(typed.path_parameters["licenseId"], "lic-123");
    assert_eq!(typed.query_string_parameters.first("verbose"), Some("1"));
    let jwt = typed.request_context.authorizer.unwrap().jwt.unwrap();
    assert_eq!(jwt.claims["sub"], "customer-a");
    assert_eq!(
        typed.request_context.http.source_ip.as_deref(),
        Some("127.0.0.1")
    );

    // lambda_http (what checkout-proxy runs on) reads it as an HTTP API request.
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    assert_eq!(request.method(), "GET");
    assert_eq!(request.uri().path(), "/v1/licenses/lic-123/usage");
    assert_eq!(request.headers()["x-trace"], "one,two");
    assert_eq!(
        request.path_parameters().first("licenseId"),
        Some("lic-123")
    );
    assert_eq!(
        request.query_string_parameters().all("unit"),
        Some(vec!["Count", "Hours"]),
        "lambda_http splits the comma-joined values again"
    );
    let RequestContext::ApiGatewayV2(context) = request.request_context() else {
        panic!("lambda_http did not see an HTTP API (payload 2.0) request");
    };
    let claims = context.authorizer.unwrap().jwt.unwrap().claims;
    assert_eq!(claims["groups"], "[admins buyers]");
}

#[tokio::test]
async fn a_structured_response_maps_status_headers_cookies_and_body() {
    let setup = Setup::start().await;
    let token = format!("Bearer {}", setup.good_token());
    let response = send(
        Method::POST,
        &setup.url("/v1/checkout"),
        &[
            ("authorization", token.as_str()),
            ("content-type", "application/json"),
        ],
        r#"{"productSku":"sku-1"}"#,
    )
    .await;

    assert_eq!(response.status, StatusCode::CREATED);
    assert_eq!(response.headers["x-checkout"], "yes");
    let cookies: Vec<_> = response.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["session=abc; Path=/", "theme=dark"]);
    assert_eq!(response.json(), json!({"ok": true}));
    let event = setup.checkout.lock().unwrap()[0].clone();
    assert_eq!(event["body"], r#"{"productSku":"sku-1"}"#);
    assert_eq!(event["isBase64Encoded"], false);
    assert_eq!(event["routeKey"], "POST /v1/checkout");
}

#[tokio::test]
async fn binary_bodies_travel_base64_encoded_both_ways() {
    let setup = Setup::start().await;
    let response = send(
        Method::POST,
        &setup.url("/binary"),
        &[],
        vec![0xff_u8, 0xfe, 0x00],
    )
    .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body.as_ref(), [0x00, 0x01, 0x02, 0xff]);
    let event = setup.binary.lock().unwrap()[0].clone();
    assert_eq!(event["isBase64Encoded"], true);
    assert_eq!(event["body"], "//4A");
}

#[tokio::test]
async fn a_route_without_authorization_needs_no_token_and_has_no_authorizer_context() {
    let setup = Setup::start().await;
    let response = get(&setup.url("/health")).await;
    assert_eq!(response.status, StatusCode::OK);
    let event = setup.health.lock().unwrap()[0].clone();
    assert!(event["requestContext"].get("authorizer").is_none());
    assert!(event.get("pathParameters").is_none());
    assert!(event.get("queryStringParameters").is_none());
}

#[tokio::test]
async fn unknown_routes_get_404_and_failed_invocations_500() {
    let setup = Setup::start().await;
    let response = get(&setup.url("/v1/nothing")).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert_eq!(response.json(), json!({"message": "Not Found"}));
    // A route exists for POST only.
    let response = get(&setup.url("/v1/checkout")).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);

    let response = get(&setup.url("/fail")).await;
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.json(), json!({"message": "Internal Server Error"}));
    assert_eq!(setup.failing.lock().unwrap().len(), 1);
    let response = get(&setup.url("/crash")).await;
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.json(), json!({"message": "Internal Server Error"}));
}

#[tokio::test]
async fn bodies_over_10_mb_get_413() {
    let setup = Setup::start().await;
    let response = send(
        Method::POST,
        &setup.url("/binary"),
        &[],
        vec![b'a'; MAX_BODY_BYTES + 1],
    )
    .await;
    assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn routes_needing_a_missing_authorizer_or_declared_twice_are_refused() {
    let (route, _) = recording_route("GET", "/x", true, Answer::Bare);
    let error = HttpApi::start(addr(), vec![route], None).await.unwrap_err();
    assert!(error.to_string().contains("GET /x"), "{error}");

    let (first, _) = recording_route("GET", "/x", false, Answer::Bare);
    let (second, _) = recording_route("get", "/x", false, Answer::Bare);
    let error = HttpApi::start(addr(), vec![first, second], None)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("declared twice"), "{error}");
}

#[tokio::test]
async fn the_issuer_publishes_discovery_and_jwks_that_verify_its_tokens() {
    let key_dir = temp_dir();
    let issuer = LocalIssuer::start(addr(), &key_dir).await.unwrap();
    let url = issuer.issuer_url().to_owned();
    assert!(url.starts_with("http://127.0.0.1:") && !url.ends_with('/'));

    let discovery = get(&format!("{url}/.well-known/openid-configuration"))
        .await
        .json();
    assert_eq!(discovery["issuer"], url);
    assert_eq!(
        discovery["jwks_uri"],
        format!("{url}/.well-known/jwks.json")
    );
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );

    let jwks = get(discovery["jwks_uri"].as_str().unwrap()).await.json();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["kid"], issuer.kid());
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["e"], "AQAB");
    assert!(key["n"].as_str().unwrap().len() > 300);

    // A token minted from the key file alone verifies against the served JWKS.
    let token =
        issuer::mint_with_key_file(&key_dir, &url, &TokenRequest::new("customer-b", AUDIENCE))
            .unwrap();
    let jwks: JwkSet = serde_json::from_value(jwks).unwrap();
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    let decoding = DecodingKey::from_jwk(jwks.find(&kid).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&[&url]);
    let claims = jsonwebtoken::decode::<Value>(&token, &decoding, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], "customer-b");
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!(exp - iat, 3600);
    assert_eq!(claims["nbf"], claims["iat"]);
    issuer.shutdown().await;
}

#[tokio::test]
async fn the_issuer_key_is_kept_private_and_reused_across_restarts() {
    let key_dir = temp_dir();
    let first = LocalIssuer::start(addr(), &key_dir).await.unwrap();
    let kid = first.kid().to_owned();
    first.shutdown().await;
    let second = LocalIssuer::start(addr(), &key_dir).await.unwrap();
    assert_eq!(second.kid(), kid);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(issuer::key_file(&key_dir))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let other = LocalIssuer::start(addr(), &temp_dir()).await.unwrap();
    assert_ne!(other.kid(), kid);
}

#[tokio::test]
async fn minting_from_a_missing_key_file_says_which_file() {
    let key_dir = temp_dir();
    let error = issuer::mint_with_key_file(
        &key_dir,
        "http://127.0.0.1:1",
        &TokenRequest::new("c", AUDIENCE),
    )
    .unwrap_err();
    assert!(format!("{error:#}").contains("issuer-key.pem"), "{error:#}");
}

#[tokio::test]
async fn the_authorizer_reads_the_issuer_s_keys_once_the_issuer_is_up() {
    let key_dir = temp_dir();
    let issuer = LocalIssuer::start(addr(), &key_dir).await.unwrap();
    let issuer_addr: SocketAddr = issuer
        .issuer_url()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let token = issuer
        .mint(TokenRequest::new("customer-a", AUDIENCE))
        .unwrap();
    issuer.shutdown().await;
    let (route, received) = recording_route("GET", "/v1/licenses", true, Answer::Bare);
    let authorizer = JwtAuthorizerConfig {
        identity_source: "$request.header.Authorization".to_owned(),
        ..JwtAuthorizerConfig::new(format!("http://{issuer_addr}"), vec![AUDIENCE.to_owned()])
    };
    let api = HttpApi::start(addr(), vec![route], Some(authorizer))
        .await
        .unwrap();
    let url = format!("{}/v1/licenses", api.url());
    let authorization = [("authorization", format!("Bearer {token}"))];
    let authorization: Vec<(&str, &str)> = authorization
        .iter()
        .map(|(n, v)| (*n, v.as_str()))
        .collect();

    let response = send(Method::GET, &url, &authorization, Bytes::new()).await;
    assert_eq!(
        response.status,
        StatusCode::UNAUTHORIZED,
        "the issuer is down"
    );
    let _issuer = LocalIssuer::start(issuer_addr, &key_dir).await.unwrap();
    let response = send(Method::GET, &url, &authorization, Bytes::new()).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(received.lock().unwrap().len(), 1);
}
