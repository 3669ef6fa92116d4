#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Bad input never crashes license-manager-local: for every operation of the API model,
//! random, garbage and mistyped bodies sent over raw HTTP get an answer; bad input gets a
//! 4xx with a JSON `__type`; nothing gets a 5xx (faults are off); the server stays up.
//!
//! The client is a few lines of HTTP/1.1 over `std::net::TcpStream` (one connection per
//! request, `Connection: close`), so the test sees exactly what goes over the wire.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use license_manager_local::{Config, Emulator};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Map, Value, json};

const TARGET_PREFIX: &str = "AWSLicenseManager.";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const ISV_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=111122223333/20260101/us-east-1/license-manager/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";

// ---------------------------------------------------------------------------------------
// The emulator under test: one per test binary, in-process, faults off.

struct Server {
    addr: SocketAddr,
    _emulator: Emulator,
    _runtime: tokio::runtime::Runtime,
}

fn server() -> SocketAddr {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let emulator = runtime
                .block_on(Emulator::start(
                    Config::default(),
                    "127.0.0.1:0".parse().unwrap(),
                ))
                .expect("the emulator starts");
            Server {
                addr: emulator.local_addr(),
                _emulator: emulator,
                _runtime: runtime,
            }
        })
        .addr
}

// ---------------------------------------------------------------------------------------
// The API model: operation names and their input members.

struct Operation {
    name: String,
    /// (member name, shape name)
    members: Vec<(String, String)>,
    required: Vec<String>,
}

fn model() -> &'static Value {
    static MODEL: OnceLock<Value> = OnceLock::new();
    MODEL.get_or_init(|| serde_json::from_str(license_manager_local::model::MODEL_JSON).unwrap())
}

fn shape(name: &str) -> &'static Value {
    let shape = &model()["shapes"][name];
    assert!(shape.is_object(), "shape {name} is in the model");
    shape
}

fn member_shapes(shape: &Value) -> Vec<(String, String)> {
    shape["members"]
        .as_object()
        .map(|members| {
            members
                .iter()
                .map(|(member, spec)| (member.clone(), spec["shape"].as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn required_members(shape: &Value) -> Vec<String> {
    shape["required"]
        .as_array()
        .map(|names| {
            names
                .iter()
                .map(|name| name.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn operations() -> &'static [Operation] {
    static OPERATIONS: OnceLock<Vec<Operation>> = OnceLock::new();
    OPERATIONS.get_or_init(|| {
        let mut operations: Vec<Operation> = model()["operations"]
            .as_object()
            .expect("operations in the model")
            .iter()
            .map(|(name, operation)| {
                let input = operation["input"]["shape"].as_str().map(shape);
                Operation {
                    name: name.clone(),
                    members: input.map(member_shapes).unwrap_or_default(),
                    required: input.map(required_members).unwrap_or_default(),
                }
            })
            .collect();
        operations.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(operations.len(), 62, "the model has 62 operations");
        operations
    })
}

impl Operation {
    fn shape_of(&self, member: &str) -> &str {
        self.members
            .iter()
            .find(|(name, _)| name == member)
            .map(|(_, shape)| shape.as_str())
            .unwrap()
    }

    /// A body with every required member present and well typed (nested required members
    /// too, enums with a valid value), so one mistyped member is the only problem.
    fn well_typed_required(&self) -> Map<String, Value> {
        self.required
            .iter()
            .map(|name| (name.clone(), well_typed(self.shape_of(name))))
            .collect()
    }
}

/// A value of the right JSON type for a shape (not necessarily a meaningful one).
fn well_typed(shape_name: &str) -> Value {
    let shape = shape(shape_name);
    match shape["type"].as_str().unwrap() {
        "string" => shape["enum"].get(0).cloned().unwrap_or_else(|| json!("x")),
        "long" | "integer" => json!(1),
        "boolean" => json!(true),
        "list" => json!([]),
        "map" => json!({}),
        "structure" => {
            let members = member_shapes(shape);
            Value::Object(
                required_members(shape)
                    .into_iter()
                    .map(|name| {
                        let member = &members.iter().find(|(m, _)| *m == name).unwrap().1;
                        (name, well_typed(member))
                    })
                    .collect(),
            )
        }
        "timestamp" => json!(1_700_000_000),
        "blob" => json!("eA=="),
        other => panic!("model type {other} not handled"),
    }
}

/// A value of a JSON type the shape never accepts.
fn mistyped(shape_name: &str) -> Value {
    match shape(shape_name)["type"].as_str().unwrap() {
        "string" | "blob" => json!(12345),
        "long" | "integer" => json!("twelve"),
        "boolean" => json!("yes"),
        "list" => json!({"not": "a list"}),
        "structure" | "map" => json!(["not", "an", "object"]),
        "timestamp" => json!({"not": "a time"}),
        other => panic!("model type {other} not handled"),
    }
}

// ---------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client.

#[derive(Debug)]
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    fn error_type(&self) -> Option<String> {
        self.json()?["__type"].as_str().map(str::to_owned)
    }

    fn message(&self) -> String {
        self.json()
            .and_then(|body| {
                body.get("message")
                    .or_else(|| body.get("Message"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default()
    }

    fn describe(&self) -> String {
        format!(
            "{} {}",
            self.status,
            String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
        )
    }
}

/// POSTs `body` to `/` with the given headers (name, value), writing while reading so a
/// server that answers before reading a large body is seen answering.
fn post(headers: &[(&str, &str)], body: Vec<u8>) -> Response {
    let mut stream = TcpStream::connect(server()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut head = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut writer = stream.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        // The server may answer and close before reading everything: not an error here.
        let _ = writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(&body));
    });
    let mut raw = Vec::new();
    let read = stream.read_to_end(&mut raw);
    sending.join().unwrap();
    if raw.is_empty() {
        panic!("no response at all ({read:?})");
    }
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Response { status, head, body }
}

fn dechunk(mut chunked: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(end) = chunked.windows(2).position(|window| window == b"\r\n") {
        let size_text = String::from_utf8_lossy(&chunked[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        body.extend_from_slice(&chunked[end + 2..end + 2 + size]);
        chunked = &chunked[end + 2 + size + 2..];
    }
    body
}

/// A request as the SDKs send it: the operation's target and the JSON content type.
fn call(operation: &str, body: impl Into<Vec<u8>>) -> Response {
    let target = format!("{TARGET_PREFIX}{operation}");
    post(
        &[("X-Amz-Target", &target), ("Content-Type", CONTENT_TYPE)],
        body.into(),
    )
}

fn call_json(operation: &str, body: &Value) -> Response {
    call(operation, serde_json::to_vec(body).unwrap())
}

/// Bad input: a 4xx whose body is JSON with a `__type`.
fn assert_client_error(response: &Response, what: &str) {
    assert!(
        (400..500).contains(&response.status),
        "{what}: expected a 4xx, got {}",
        response.describe()
    );
    assert!(
        response.error_type().is_some(),
        "{what}: a 4xx without a JSON __type: {}\n{}",
        response.describe(),
        response.head
    );
}

/// Any input: an answer that is not a 5xx; errors carry a JSON `__type`.
fn assert_answered_without_server_error(response: &Response, what: &str) {
    assert!(
        response.status < 500,
        "{what}: server error {}",
        response.describe()
    );
    if response.status >= 400 {
        assert_client_error(response, what);
    }
}

fn assert_still_up() {
    let response = call("ListLicenses", "{}");
    assert_eq!(response.status, 200, "{}", response.describe());
}

// ---------------------------------------------------------------------------------------
// Every operation, deterministically.

#[test]
fn every_operation_answers_an_empty_body_and_names_a_missing_required_member() {
    for operation in operations() {
        let response = call(&operation.name, "{}");
        let what = format!("{} with {{}}", operation.name);
        if operation.required.is_empty() {
            assert_answered_without_server_error(&response, &what);
        } else {
            assert_client_error(&response, &what);
            let message = response.message();
            assert!(
                operation
                    .required
                    .iter()
                    .any(|member| message.contains(member.as_str()))
                    || message.contains(&operation.name),
                "{what}: the message names neither a missing member ({:?}) nor the operation: {}",
                operation.required,
                response.describe()
            );
        }
    }
    assert_still_up();
}

#[test]
fn every_operation_names_a_required_member_of_the_wrong_type() {
    for operation in operations() {
        for member in &operation.required {
            let mut body = operation.well_typed_required();
            body.insert(member.clone(), mistyped(operation.shape_of(member)));
            let response = call_json(&operation.name, &Value::Object(body));
            let what = format!("{} with {member} mistyped", operation.name);
            assert_client_error(&response, &what);
            let message = response.message();
            assert!(
                message.contains(member.as_str()) || message.contains(&operation.name),
                "{what}: the message names neither {member} nor the operation: {}",
                response.describe()
            );
        }
    }
    assert_still_up();
}

// ---------------------------------------------------------------------------------------
// Named cases.

#[test]
fn malformed_json_is_a_client_error() {
    for body in [
        &b"{\"LicenseArn\": "[..],
        b"not json",
        b"[1, 2",
        b"\xff\xfe\x00",
    ] {
        let response = call("GetLicense", body);
        assert_client_error(&response, &format!("GetLicense with {body:?}"));
    }
    assert_still_up();
}

#[test]
fn a_body_that_is_not_an_object_is_a_client_error() {
    for body in ["[]", "42", "\"text\"", "null"] {
        let response = call("GetLicense", body);
        assert_client_error(&response, &format!("GetLicense with {body}"));
    }
}

#[test]
fn missing_required_member_is_named() {
    let response = call("GetLicense", "{}");
    assert_client_error(&response, "GetLicense without LicenseArn");
    assert!(
        response.message().contains("LicenseArn"),
        "{}",
        response.describe()
    );
}

#[test]
fn wrong_type_is_named() {
    let response = call_json("GetLicense", &json!({"LicenseArn": 42}));
    assert_client_error(&response, "GetLicense with a numeric LicenseArn");
    assert!(
        response.message().contains("LicenseArn"),
        "{}",
        response.describe()
    );
    let response = call_json(
        "CreateLicenseConfiguration",
        &json!({"Name": "n", "LicenseCountingType": "Instance", "LicenseCount": "ten"}),
    );
    assert_client_error(
        &response,
        "CreateLicenseConfiguration with a string LicenseCount",
    );
    assert!(
        response.message().contains("LicenseCount"),
        "{}",
        response.describe()
    );
}

#[test]
fn unknown_target_is_named() {
    let response = call("NoSuchOperation", "{}");
    assert_client_error(&response, "unknown operation");
    assert!(
        response.message().contains("NoSuchOperation"),
        "{}",
        response.describe()
    );
    let response = post(
        &[
            ("X-Amz-Target", "SomeOtherService.GetLicense"),
            ("Content-Type", CONTENT_TYPE),
        ],
        b"{}".to_vec(),
    );
    assert_client_error(&response, "another service's target");
}

#[test]
fn missing_target_is_a_client_error() {
    let response = post(&[("Content-Type", CONTENT_TYPE)], b"{}".to_vec());
    assert_client_error(&response, "no X-Amz-Target");
}

#[test]
fn wrong_content_type_is_a_client_error() {
    for content_type in ["text/plain", "application/xml"] {
        let response = post(
            &[
                ("X-Amz-Target", "AWSLicenseManager.ListLicenses"),
                ("Content-Type", content_type),
            ],
            b"{}".to_vec(),
        );
        assert_client_error(&response, &format!("Content-Type {content_type}"));
    }
    assert_still_up();
}

#[test]
fn oversized_body_is_refused_and_the_server_stays_up() {
    let huge = "a".repeat(8 * 1024 * 1024);
    let body = serde_json::to_vec(&json!({ "LicenseArn": huge })).unwrap();
    let response = call("GetLicense", body);
    assert_client_error(&response, "an 8 MiB body");
    assert_still_up();
}

#[test]
fn get_is_not_an_operation() {
    let mut stream = TcpStream::connect(server()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let response = parse_response(&raw);
    assert!(
        (400..500).contains(&response.status),
        "{}",
        response.describe()
    );
}

// ---------------------------------------------------------------------------------------
// Random bodies for every operation.

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,10}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn operation_index() -> impl Strategy<Value = usize> {
    0..operations().len()
}

/// An object made of the operation's own member names with random values: it passes the
/// "is it an object" stage and exercises each member's type and value checks.
fn members_with_random_values() -> impl Strategy<Value = (usize, Value)> {
    operation_index().prop_flat_map(|index| {
        let mut names: Vec<String> = operations()[index]
            .members
            .iter()
            .map(|(name, _)| name.clone())
            .collect();
        if names.is_empty() {
            names.push("Unexpected".to_owned());
        }
        let base = operations()[index].well_typed_required();
        (
            Just(index),
            prop::collection::vec((prop::sample::select(names), json_value()), 0..5).prop_map(
                move |pairs| {
                    let mut body = base.clone();
                    body.extend(pairs);
                    Value::Object(body)
                },
            ),
        )
    })
}

fn authorization() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        Just(None),
        Just(Some(ISV_AUTHORIZATION)),
        Just(Some("AWS4-HMAC-SHA256 Credential=/, garbage")),
        Just(Some("Bearer nonsense")),
    ]
}

fn send_random(index: usize, body: Vec<u8>, authorization: Option<&str>) -> Response {
    let target = format!("{TARGET_PREFIX}{}", operations()[index].name);
    let mut headers = vec![
        ("X-Amz-Target", target.as_str()),
        ("Content-Type", CONTENT_TYPE),
    ];
    if let Some(value) = authorization {
        headers.push(("Authorization", value));
    }
    post(&headers, body)
}

fn proptest_config() -> ProptestConfig {
    ProptestConfig {
        // Bounded so the suite runs in seconds; PROPTEST_CASES=20000 for a deeper search.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|cases| cases.parse().ok())
            .unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Existing resources (created once by the default account) whose identifiers the typed
/// strategy mixes into bodies, so random requests also reach the operations' logic.
struct Seeded {
    license_arn: String,
    configuration_arn: String,
    consumption_token: String,
}

fn seeded() -> &'static Seeded {
    static SEEDED: OnceLock<Seeded> = OnceLock::new();
    SEEDED.get_or_init(|| {
        let created = call_json(
            "CreateLicense",
            &json!({
                "LicenseName": "fuzz", "ProductName": "fuzz", "ProductSKU": "fuzz-sku",
                "Issuer": {"Name": "Fuzz"}, "HomeRegion": "us-east-1",
                "Validity": {"Begin": "2026-01-01T00:00:00Z"},
                "Entitlements": [
                    {"Name": "Users", "Unit": "Count", "MaxCount": 5, "AllowCheckIn": true},
                    {"Name": "Feature", "Unit": "None", "Value": "On"}
                ],
                "Beneficiary": "123456789012",
                "ConsumptionConfiguration": {
                    "ProvisionalConfiguration": {"MaxTimeToLiveInMinutes": 60},
                    "BorrowConfiguration": {"MaxTimeToLiveInMinutes": 60, "AllowEarlyCheckIn": true}
                },
                "ClientToken": "fuzz-license"
            }),
        );
        assert_eq!(created.status, 200, "{}", created.describe());
        let configuration = call_json(
            "CreateLicenseConfiguration",
            &json!({"Name": "fuzz", "LicenseCountingType": "Instance", "LicenseCount": 2,
                    "LicenseCountHardLimit": true}),
        );
        assert_eq!(configuration.status, 200, "{}", configuration.describe());
        let checkout = call_json(
            "CheckoutLicense",
            &json!({"ProductSKU": "fuzz-sku", "CheckoutType": "PROVISIONAL",
                    "KeyFingerprint": "aws:123456789012:Fuzz:issuer-fingerprint",
                    "Entitlements": [{"Name": "Users", "Unit": "Count", "Value": "1"}],
                    "Beneficiary": "123456789012", "ClientToken": "fuzz-checkout"}),
        );
        assert_eq!(checkout.status, 200, "{}", checkout.describe());
        let field = |response: &Response, name: &str| {
            response.json().unwrap()[name].as_str().unwrap().to_owned()
        };
        Seeded {
            license_arn: field(&created, "LicenseArn"),
            configuration_arn: field(&configuration, "LicenseConfigurationArn"),
            consumption_token: field(&checkout, "LicenseConsumptionToken"),
        }
    })
}

/// Strings worth trying anywhere a string goes: real identifiers, near misses, numbers as
/// text, extremes.
fn interesting_strings() -> Vec<String> {
    let seeded = seeded();
    [
        seeded.license_arn.as_str(),
        seeded.configuration_arn.as_str(),
        seeded.consumption_token.as_str(),
        "arn:aws:license-manager::123456789012:license:l-00000000000000000000000000000000",
        "arn:aws:license-manager::111122223333:grant:g-00000000000000000000000000000000",
        "arn:aws:iam::111122223333:root",
        "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0",
        "aws:123456789012:Fuzz:issuer-fingerprint",
        "fuzz-sku",
        "Users",
        "Feature",
        "123456789012",
        "",
        "x",
        "0",
        "1",
        "-1",
        "1.5",
        "18446744073709551616",
        "9223372036854775807",
        "2026-01-01T00:00:00Z",
        "not a date",
        "\u{0}",
        "\u{1F4A5}",
    ]
    .iter()
    .map(|text| (*text).to_owned())
    .chain(["a".repeat(5000)])
    .collect()
}

/// A random value of the right JSON type for a shape: enums from their values (or not),
/// numbers including the extremes, strings from [`interesting_strings`].
fn typed(shape_name: &str, depth: u32) -> BoxedStrategy<Value> {
    let shape = shape(shape_name);
    let strings = prop::sample::select(interesting_strings());
    match shape["type"].as_str().unwrap() {
        "string" | "blob" => match shape["enum"].as_array() {
            Some(values) => prop_oneof![
                3 => prop::sample::select(values.clone()),
                1 => strings.prop_map(Value::String),
            ]
            .boxed(),
            None => prop_oneof![
                4 => strings.prop_map(Value::String),
                1 => ".{0,12}".prop_map(Value::String),
            ]
            .boxed(),
        },
        "long" | "integer" => prop_oneof![
            prop::sample::select(vec![
                0_i64,
                1,
                -1,
                5,
                i64::MAX,
                i64::MIN,
                i64::from(i32::MAX)
            ]),
            any::<i64>(),
        ]
        .prop_map(|n| json!(n))
        .boxed(),
        "boolean" => any::<bool>().prop_map(Value::Bool).boxed(),
        "timestamp" => prop_oneof![
            any::<i32>().prop_map(|n| json!(n)),
            strings.prop_map(Value::String),
        ]
        .boxed(),
        "list" if depth < 4 => {
            let member = shape["member"]["shape"].as_str().unwrap();
            prop::collection::vec(typed(member, depth + 1), 0..3)
                .prop_map(Value::Array)
                .boxed()
        }
        "map" if depth < 4 => {
            let value = shape["value"]["shape"].as_str().unwrap();
            prop::collection::btree_map(strings, typed(value, depth + 1), 0..3)
                .prop_map(|map| Value::Object(map.into_iter().collect()))
                .boxed()
        }
        "structure" if depth < 4 => {
            let required = required_members(shape);
            let members: Vec<BoxedStrategy<Option<(String, Value)>>> = member_shapes(shape)
                .into_iter()
                .map(|(name, member)| {
                    let value = typed(&member, depth + 1);
                    if required.contains(&name) {
                        value.prop_map(move |v| Some((name.clone(), v))).boxed()
                    } else {
                        prop::option::of(value.prop_map(move |v| (name.clone(), v))).boxed()
                    }
                })
                .collect();
            members
                .prop_map(|pairs| Value::Object(pairs.into_iter().flatten().collect()))
                .boxed()
        }
        "list" => Just(json!([])).boxed(),
        _ => Just(json!({})).boxed(),
    }
}

/// An operation and a body of the right shape with random values.
fn well_typed_random_body() -> impl Strategy<Value = (usize, Value)> {
    operation_index().prop_flat_map(|index| {
        let input = model()["operations"][&operations()[index].name]["input"]["shape"]
            .as_str()
            .map(str::to_owned);
        let body = match input {
            Some(input) => typed(&input, 0),
            None => Just(json!({})).boxed(),
        };
        (Just(index), body)
    })
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn random_bytes_never_cause_a_server_error(
        index in operation_index(),
        body in prop::collection::vec(any::<u8>(), 0..1024),
        auth in authorization(),
    ) {
        let response = send_random(index, body, auth);
        assert_answered_without_server_error(&response, &operations()[index].name);
        assert_still_up();
    }

    #[test]
    fn random_json_never_causes_a_server_error(
        index in operation_index(),
        body in json_value(),
        auth in authorization(),
    ) {
        let response = send_random(index, serde_json::to_vec(&body).unwrap(), auth);
        assert_answered_without_server_error(&response, &format!("{} {body}", operations()[index].name));
        assert_still_up();
    }

    #[test]
    fn well_typed_random_values_never_cause_a_server_error(
        (index, body) in well_typed_random_body(),
        auth in authorization(),
    ) {
        let response = send_random(index, serde_json::to_vec(&body).unwrap(), auth);
        assert_answered_without_server_error(&response, &format!("{} {body}", operations()[index].name));
        assert_still_up();
    }

    #[test]
    fn model_members_with_random_values_never_cause_a_server_error(
        (index, body) in members_with_random_values(),
        auth in authorization(),
    ) {
        let response = send_random(index, serde_json::to_vec(&body).unwrap(), auth);
        assert_answered_without_server_error(&response, &format!("{} {body}", operations()[index].name));
        assert_still_up();
    }
}

// ---------------------------------------------------------------------------------------
// Concurrency: counts hold when many clients check out at once.

fn create_counted_license(sku: &str, max_count: i64) -> String {
    let created = call_json(
        "CreateLicense",
        &json!({
            "LicenseName": sku, "ProductName": sku, "ProductSKU": sku,
            "Issuer": {"Name": "Race"}, "HomeRegion": "us-east-1",
            "Validity": {"Begin": "2026-01-01T00:00:00Z"},
            "Entitlements": [{"Name": "Seats", "Unit": "Count", "MaxCount": max_count}],
            "Beneficiary": "123456789012",
            "ConsumptionConfiguration": {"ProvisionalConfiguration": {"MaxTimeToLiveInMinutes": 60}},
            "ClientToken": format!("create-{sku}")
        }),
    );
    assert_eq!(created.status, 200, "{}", created.describe());
    created.json().unwrap()["LicenseArn"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn checkout_seat(sku: &str, client_token: &str) -> Response {
    call_json(
        "CheckoutLicense",
        &json!({
            "ProductSKU": sku, "CheckoutType": "PROVISIONAL",
            "KeyFingerprint": "aws:123456789012:Race:issuer-fingerprint",
            "Entitlements": [{"Name": "Seats", "Unit": "Count", "Value": "1"}],
            "Beneficiary": "123456789012", "ClientToken": client_token
        }),
    )
}

fn seats_consumed(license_arn: &str) -> String {
    let usage = call_json("GetLicenseUsage", &json!({ "LicenseArn": license_arn }));
    assert_eq!(usage.status, 200, "{}", usage.describe());
    usage.json().unwrap()["LicenseUsage"]["EntitlementUsages"][0]["ConsumedValue"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn concurrent_checkouts_never_overdraw_an_entitlement() {
    let license_arn = create_counted_license("race-sku", 10);
    let answers: Vec<Response> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..40)
            .map(|n| scope.spawn(move || checkout_seat("race-sku", &format!("race-{n}"))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let granted = answers.iter().filter(|r| r.status == 200).count();
    let refused = answers
        .iter()
        .filter(|r| r.error_type().as_deref() == Some("NoEntitlementsAllowedException"))
        .count();
    assert_eq!((granted, refused), (10, 30), "{answers:?}");
    assert_eq!(seats_consumed(&license_arn), "10");
}

#[test]
fn concurrent_retries_with_one_client_token_check_out_once() {
    let license_arn = create_counted_license("retry-sku", 10);
    let tokens: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| scope.spawn(|| checkout_seat("retry-sku", "one-token")))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                let response = h.join().unwrap();
                assert_eq!(response.status, 200, "{}", response.describe());
                response.json().unwrap()["LicenseConsumptionToken"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    });
    assert!(tokens.iter().all(|token| *token == tokens[0]), "{tokens:?}");
    assert_eq!(seats_consumed(&license_arn), "1");
}
