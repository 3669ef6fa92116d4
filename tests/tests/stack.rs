//! The template run locally: rules, retries and the DLQ, schedules and the HTTP API reach the
//! tests' own bootstrap as they would reach a deployed function. And the project's real
//! template: every event of every function has a local counterpart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use common::{TestStack, workspace};
use local_stack::app::locals;
use local_stack::issuer::TokenRequest;
use local_stack::template::{Template, Trigger};
use local_test_kit::bus;
use local_test_kit::clients::CUSTOMER_ACCOUNT;
use local_test_kit::resources::{EVENT_BUS, Infra};
use serde_json::{Value, json};

const FIXTURE: &str = "tests/fixtures/template.yaml";
const SETTLE: Duration = Duration::from_secs(3);

async fn put_event(stack: &TestStack, bus: &str, source: &str, detail_type: &str, detail: Value) {
    let entry = PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(source)
        .detail_type(detail_type)
        .detail(detail.to_string())
        .build();
    let out = stack
        .clients()
        .events
        .put_events()
        .entries(entry)
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_entry_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_matching_a_rule_invokes_the_function_once_and_others_not_at_all() {
    let mut stack = TestStack::start(FIXTURE, &[]).await;
    put_event(
        &stack,
        EVENT_BUS,
        "test.orders",
        "Order Cancelled",
        json!({}),
    )
    .await;
    put_event(&stack, "default", "test.orders", "Order Placed", json!({})).await;
    put_event(
        &stack,
        EVENT_BUS,
        "test.orders",
        "Order Placed",
        json!({"order": 7}),
    )
    .await;

    let started = std::time::Instant::now();
    let record = stack.invocation_of("EchoFunction", SETTLE).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "delivered within a second or so"
    );
    assert_eq!(record.trigger, "Orders");
    let body = record.invocation.result.as_ref().unwrap();
    let event = &body["payload"];
    assert_eq!(event["detail"], json!({"order": 7}));
    assert_eq!(event["detail-type"], json!("Order Placed"));
    assert_eq!(
        event["account"],
        json!(CUSTOMER_ACCOUNT),
        "the whole envelope arrives"
    );
    assert_eq!(
        body["env"]["GREETING"],
        json!("hello from license-automation in us-east-1"),
        "the template's environment, resolved"
    );
    assert_eq!(body["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], json!("256"));

    assert!(
        stack.next_record(SETTLE).await.is_none(),
        "the non-matching events (wrong detail-type, wrong bus) invoke nothing"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_invocation_is_retried_twice_then_the_event_goes_to_the_dlq() {
    let mut stack = TestStack::start(FIXTURE, &[]).await;
    put_event(
        &stack,
        "default",
        "test.failures",
        "Boom",
        json!({"action": "fail"}),
    )
    .await;
    let mut attempts = Vec::new();
    for _ in 0..3 {
        let record = stack.invocation_of("FlakyFunction", SETTLE).await;
        assert!(
            record.invocation.result.is_err(),
            "{:?}",
            record.invocation.result
        );
        attempts.push((record.attempt, record.dead_lettered));
    }
    assert_eq!(attempts, [(1, false), (2, false), (3, true)]);
    assert!(
        stack.next_record(Duration::from_secs(1)).await.is_none(),
        "no fourth attempt"
    );

    let dead = bus::receive(
        &stack.clients().sqs,
        &stack.infra().dead_letter_queue_url,
        1,
        SETTLE,
    )
    .await
    .unwrap();
    assert_eq!(dead.len(), 1, "one message in the DLQ: {dead:?}");
    let original = &dead[0];
    assert_eq!(original["source"], json!("test.failures"));
    assert_eq!(original["detail"], json!({"action": "fail"}));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_fires_on_demand_with_the_templates_input() {
    let mut stack = TestStack::start(FIXTURE, &[]).await;
    let records = stack
        .app()
        .runtime
        .fire("test-bootstrap", &stack.clients().sqs)
        .await
        .unwrap();
    assert_eq!(records.len(), 1, "EchoFunction has one schedule");
    let body = records[0].invocation.result.as_ref().unwrap();
    let event = &body["payload"];
    assert_eq!(event["source"], json!("aws.scheduler"));
    assert_eq!(event["detail-type"], json!("Scheduled Event"));
    assert_eq!(event["account"], json!(CUSTOMER_ACCOUNT));
    assert!(
        event["resources"][0]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:scheduler:us-east-1:123456789012:schedule/"),
        "{event}"
    );
    assert!(
        !event["id"].as_str().unwrap().contains('<'),
        "placeholders filled: {event}"
    );
    assert!(
        stack.next_record(SETTLE).await.is_some(),
        "the firing is recorded"
    );

    let missing = stack
        .app()
        .runtime
        .fire("nonexistent", &stack.clients().sqs)
        .await;
    assert!(missing.unwrap_err().to_string().contains("no function"));
    stack.stop().await;
}

/// A GET through the HTTP API with an optional bearer token: status and body.
async fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    let client: Client<_, Empty<axum::body::Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let mut request = axum::http::Request::get(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = client
        .request(request.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_refuses_bad_tokens_and_hands_good_claims_to_the_function() {
    let mut stack = TestStack::start(FIXTURE, &[]).await;
    let api = stack.app().stack_file.api_url.clone().unwrap();
    let url = format!("{api}/v1/echo/ada?verbose=1");
    let audience = stack.app().stack_file.audience.clone();

    let expired = {
        let mut request = TokenRequest::new("customer-a", &audience);
        request.extra_claims.insert("exp".into(), json!(1));
        // exp cannot be overridden by a claim: mint one that lived a second instead.
        request.extra_claims.remove("exp");
        request.ttl = Duration::from_secs(1);
        stack.app().issuer.mint(request).unwrap()
    };
    let wrong_audience = stack
        .app()
        .issuer
        .mint(TokenRequest::new("customer-a", "someone-else"))
        .unwrap();
    let other_issuer = local_stack::issuer::SigningKey::load_or_generate(
        &std::env::temp_dir().join(format!("other-issuer-{}", std::process::id())),
    )
    .unwrap()
    .mint(
        "http://127.0.0.1:1",
        &TokenRequest::new("customer-a", &audience),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for (what, token) in [
        ("no token", None),
        ("garbage", Some("not.a.jwt")),
        ("expired", Some(expired.as_str())),
        ("wrong audience", Some(wrong_audience.as_str())),
        ("another issuer's key", Some(other_issuer.as_str())),
    ] {
        let (status, body) = get(&url, token).await;
        assert_eq!(status, 401, "{what}");
        assert_eq!(body, json!({"message": "Unauthorized"}), "{what}");
    }
    assert!(
        stack
            .next_record(Duration::from_millis(300))
            .await
            .is_none(),
        "no refused request reached the function"
    );

    let mut request = TokenRequest::new("customer-a", &audience);
    request.extra_claims.insert("tier".into(), json!("gold"));
    let token = stack.app().issuer.mint(request).unwrap();
    let (status, body) = get(&url, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    let event = &body["payload"];
    assert_eq!(event["version"], json!("2.0"));
    assert_eq!(event["routeKey"], json!("GET /v1/echo/{name}"));
    assert_eq!(event["pathParameters"], json!({"name": "ada"}));
    assert_eq!(event["queryStringParameters"], json!({"verbose": "1"}));
    let claims = &event["requestContext"]["authorizer"]["jwt"]["claims"];
    assert_eq!(claims["sub"], json!("customer-a"));
    assert_eq!(claims["tier"], json!("gold"));
    assert_eq!(claims["iss"], json!(stack.app().stack_file.issuer_url));
    let record = stack.invocation_of("EchoFunction", SETTLE).await;
    assert_eq!(record.trigger, "http");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_reserved_concurrency_a_function_behind_the_http_api_answers_429() {
    let stack = TestStack::start(FIXTURE, &[]).await;
    let api = stack.app().stack_file.api_url.clone().unwrap();
    let audience = stack.app().stack_file.audience.clone();
    let token = stack
        .app()
        .issuer
        .mint(TokenRequest::new("customer-a", &audience))
        .unwrap();
    // EchoFunction reserves 2: two slow requests take both environments.
    let slow = |name: &str| {
        let (url, token) = (
            format!("{api}/v1/echo/{name}?action=sleep&ms=1500"),
            token.clone(),
        );
        tokio::spawn(async move { get(&url, Some(&token)).await })
    };
    let (first, second) = (slow("first"), slow("second"));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (status, body) = get(&format!("{api}/v1/echo/third"), Some(&token)).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body, json!({"message": "Too Many Requests"}));
    for slow in [first, second] {
        let (status, body) = slow.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"slept": 1500}));
    }
    // Once they are done, a request is served again, by a warm environment.
    let (status, body) = get(&format!("{api}/v1/echo/fourth"), Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    let usage = stack
        .app()
        .runtime
        .function("EchoFunction")
        .unwrap()
        .host
        .usage();
    assert_eq!(usage.cold_starts, 2, "one cold start per environment");
    assert_eq!(usage.throttles, 1);
    assert_eq!(usage.peak_running, 2);
    stack.stop().await;
}

#[test]
fn a_functions_concurrency_is_its_reserved_concurrency_in_the_template() {
    let load = |concurrency: &str| {
        let mut parameters = local_stack::app::local_parameters("http://127.0.0.1:4598");
        parameters.insert("CheckoutProxyConcurrency".into(), concurrency.into());
        let template = Template::load(
            &workspace().join("template.yaml"),
            &locals(&sample_infra(), parameters),
        )
        .unwrap();
        template
            .functions
            .into_iter()
            .find(|function| function.binary == "checkout-proxy")
            .unwrap()
            .reserved_concurrency
    };
    assert_eq!(load("50"), Some(50));
    assert_eq!(
        load("0"),
        None,
        "0 reserves nothing: the account's concurrency"
    );
}

fn sample_infra() -> Infra {
    Infra {
        event_bus_arn: "arn:aws:events:us-east-1:123456789012:event-bus/license-automation".into(),
        state_table_arn: "arn:aws:dynamodb:us-east-1:123456789012:table/state".into(),
        dead_letter_queue_url: "http://127.0.0.1:1/123456789012/dlq".into(),
        alert_topic_arn: "arn:aws:sns:us-east-1:123456789012:alerts".into(),
        alerts_queue_url: "http://127.0.0.1:1/123456789012/alerts".into(),
        events_queue_url: "http://127.0.0.1:1/123456789012/events".into(),
    }
}

#[test]
fn every_event_of_the_projects_template_has_a_local_counterpart() {
    let parameters = local_stack::app::local_parameters("http://127.0.0.1:4598");
    let template = Template::load(
        &workspace().join("template.yaml"),
        &locals(&sample_infra(), parameters),
    )
    .expect("template.yaml runs locally: every event type has a local counterpart");
    for function in &template.functions {
        assert!(!function.binary.is_empty());
        for event in &function.events {
            if let Trigger::EventBridgeRule { pattern, .. } = &event.trigger {
                assert!(
                    pattern.is_object(),
                    "{}/{}",
                    function.logical_id,
                    event.name
                );
            }
        }
    }
    let api = template.http_api.expect("the checkout API exists locally");
    assert_eq!(api.issuer, "http://127.0.0.1:4598");
    assert_eq!(api.audience, ["license-automation-local"]);
}

#[test]
fn an_event_type_without_a_local_counterpart_fails_by_name() {
    let text = std::fs::read_to_string(workspace().join(FIXTURE))
        .unwrap()
        .replace("Type: ScheduleV2", "Type: SQS");
    let err = Template::parse(&text, &locals(&sample_infra(), Default::default())).unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("EchoFunction"), "{message}");
    assert!(message.contains("Nightly"), "{message}");
    assert!(
        message.contains("SQS has no local counterpart"),
        "{message}"
    );
}

#[test]
fn a_rule_that_reshapes_its_event_is_refused_and_a_disabled_one_is_not_wired() {
    let text = std::fs::read_to_string(workspace().join(FIXTURE)).unwrap();
    let bus_line = "            EventBusName: !Ref EventBus\n";
    assert!(text.contains(bus_line));
    let reshaped = text.replace(
        bus_line,
        &format!("{bus_line}            InputPath: $.detail\n"),
    );
    let err = Template::parse(&reshaped, &locals(&sample_infra(), Default::default())).unwrap_err();
    assert!(
        format!("{err:#}").contains("InputPath on an EventBridgeRule"),
        "{err:#}"
    );

    let disabled = text.replace(
        bus_line,
        &format!("{bus_line}            State: DISABLED\n"),
    );
    let template =
        Template::parse(&disabled, &locals(&sample_infra(), Default::default())).unwrap();
    let orders = template
        .function("EchoFunction")
        .unwrap()
        .events
        .iter()
        .find(|event| event.name == "Orders")
        .unwrap();
    assert!(matches!(
        orders.trigger,
        Trigger::EventBridgeRule { enabled: false, .. }
    ));
}
