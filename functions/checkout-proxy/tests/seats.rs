//! A seat is never lost or doubled (the README's checkout-proxy section): Idempotency-Keys
//! owned by the function (428, 422, 409 in flight, replay), a drawn seat checked back in when
//! it cannot be recorded or finished by a retry with the same key, one seat per node under
//! concurrency, one deadline per request, and the per-customer rate limit. Through the real
//! handler and SDK against the emulator and moto, with local/fault-proxy failing chosen calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use fault_proxy::{Fault, FaultMode, FaultProxy, ProxyOptions, Upstreams};
use license_manager_local::Config as EmulatorConfig;
use serde_json::json;

/// A fault proxy in front of moto (DynamoDB) and the emulator (License Manager).
async fn fault_proxy(world: &World) -> FaultProxy {
    let upstreams =
        Upstreams::all_to(world.moto.url()).with("license-manager", &world.emulator_url);
    FaultProxy::start(ProxyOptions::new(upstreams))
        .await
        .expect("fault proxy starts")
}

/// From call `call` on, every call fails as `mode`.
fn from_call(call: u64, mode: FaultMode) -> Option<Fault> {
    Some(Fault {
        call,
        mode,
        sticky: true,
        after: None,
    })
}

fn server_error() -> FaultMode {
    FaultMode::Error {
        status: 500,
        code: "InternalServerError".into(),
    }
}

#[tokio::test]
async fn perpetual_checkouts_and_borrows_need_a_key_and_a_key_names_one_request() {
    let world = World::start().await;
    let lm = world.lm(ISSUER_ACCOUNT).await;
    let license = issue_license(&lm, ALICE, 5).await;
    let proxy = world.proxy().await;

    let perpetual = json!({"productSku": SKU, "checkoutType": "PERPETUAL",
                           "entitlements": [{"name": "Exports", "unit": "Count", "value": "1"}]});
    call(&proxy, &checkout_event(ALICE, perpetual.clone(), None))
        .await
        .assert_problem(428, "idempotency-key-required");
    let mut borrow = event("borrow.json", ALICE, None);
    borrow["headers"]
        .as_object_mut()
        .unwrap()
        .remove("idempotency-key");
    call(&proxy, &borrow)
        .await
        .assert_problem(428, "idempotency-key-required");
    assert_eq!(proxy.license_manager().stats().calls(), 0, "nothing drawn");
    assert_eq!(consumed(&lm, &license, "Exports").await, "0");

    // With a key: drawn once, replayed to its retry, refused for another body.
    let first = call(
        &proxy,
        &checkout_event(ALICE, perpetual.clone(), Some("p-1")),
    )
    .await;
    assert_eq!(first.status, 200, "{first:?}");
    let calls = proxy.license_manager().stats().calls();
    let again = call(
        &proxy,
        &checkout_event(ALICE, perpetual.clone(), Some("p-1")),
    )
    .await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.body, first.body, "the same answer");
    assert_eq!(
        proxy.license_manager().stats().calls(),
        calls,
        "replayed from the record, License Manager not called"
    );
    let mut other = perpetual.clone();
    other["entitlements"][0]["value"] = json!("2");
    call(&proxy, &checkout_event(ALICE, other, Some("p-1")))
        .await
        .assert_problem(422, "idempotency-key-reused");
    assert_eq!(consumed(&lm, &license, "Exports").await, "1");
}

#[tokio::test]
async fn a_retry_while_the_first_request_is_in_flight_gets_409_with_retry_after() {
    let world = World::with_emulator(EmulatorConfig {
        latency: Duration::from_millis(600),
        ..EmulatorConfig::default()
    })
    .await;
    let lm = world.lm(ISSUER_ACCOUNT).await;
    let license = issue_license(&lm, ALICE, 5).await;
    let proxy = world.proxy().await;
    let request = checkout_event(ALICE, checkout_body(1, None), Some("in-flight-1"));
    let (a, b) = tokio::join!(call(&proxy, &request), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        call(&proxy, &request).await
    });
    assert_eq!(a.status, 200, "{a:?}");
    b.assert_problem(409, "request-in-progress");
    let retry_after: u64 = b.headers["retry-after"].parse().unwrap();
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    assert_eq!(consumed(&lm, &license, "Users").await, "1");
    // Once it is done, the retry gets its answer.
    let retried = call(&proxy, &request).await;
    assert_eq!(retried.body, a.body);
    assert_eq!(consumed(&lm, &license, "Users").await, "1");
}

#[tokio::test]
async fn two_concurrent_checkouts_for_one_node_draw_one_seat() {
    let world = World::with_emulator(EmulatorConfig {
        latency: Duration::from_millis(300),
        ..EmulatorConfig::default()
    })
    .await;
    let lm = world.lm(ISSUER_ACCOUNT).await;
    let license = issue_license(&lm, ALICE, 3).await;
    let proxy = world.proxy().await;
    let body = checkout_body(1, Some("laptop-7"));
    let events = [
        checkout_event(ALICE, body.clone(), Some("node-a")),
        checkout_event(ALICE, body.clone(), Some("node-b")),
        checkout_event(ALICE, body.clone(), None),
    ];
    let (a, b, c) = tokio::join!(
        call(&proxy, &events[0]),
        call(&proxy, &events[1]),
        call(&proxy, &events[2]),
    );
    for answer in [&a, &b, &c] {
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(
            answer.text("licenseConsumptionToken"),
            a.text("licenseConsumptionToken"),
            "one lease for the node"
        );
    }
    let reused = [&a, &b, &c]
        .iter()
        .filter(|answer| answer.body.as_ref().unwrap()["reused"] == json!(true))
        .count();
    assert_eq!(reused, 2, "{a:?} {b:?} {c:?}");
    assert_eq!(
        consumed(&lm, &license, "Users").await,
        "1",
        "one seat drawn"
    );
}

#[tokio::test]
async fn a_lease_whose_link_cannot_be_written_is_checked_back_in() {
    let world = World::start().await;
    let lm = world.lm(ISSUER_ACCOUNT).await;
    let license = issue_license(&lm, ALICE, 5).await;
    let faults = fault_proxy(&world).await;
    let proxy = world
        .proxy_at(&[], &faults.url(), &world.emulator_url)
        .await;
    // DynamoDB calls: the key's GetItem (1) and claim (2); License Manager draws (not through
    // this proxy); the link's PutItem (3) and everything after it fail.
    faults.set_fault(from_call(3, server_error()));
    let answer = call(
        &proxy,
        &checkout_event(ALICE, checkout_body(2, None), Some("link-fails-1")),
    )
    .await;
    answer.assert_problem(503, "service-unavailable");
    assert!(answer.headers.contains_key("retry-after"));
    assert_eq!(
        consumed(&lm, &license, "Users").await,
        "0",
        "the seats went back"
    );

    // Without a key the same holds.
    faults.reset();
    faults.set_fault(from_call(1, server_error()));
    call(&proxy, &checkout_event(ALICE, checkout_body(1, None), None))
        .await
        .assert_problem(503, "service-unavailable");
    assert_eq!(consumed(&lm, &license, "Users").await, "0");
}

#[tokio::test]
async fn a_seat_that_could_be_neither_linked_nor_checked_in_is_finished_by_the_retry() {
    let world = World::start().await;
    let lm = world.lm(ISSUER_ACCOUNT).await;
    let license = issue_license(&lm, ALICE, 5).await;
    let faults = fault_proxy(&world).await;
    let proxy = world.proxy_at(&[], &faults.url(), &faults.url()).await;
    // 1 GetItem, 2 PutItem (claim), 3 CheckoutLicense, then the link and the check-in fail.
    faults.set_fault(from_call(4, server_error()));
    let request = checkout_event(ALICE, checkout_body(1, None), Some("finish-1"));
    let first = call_within(&proxy, &request, Duration::from_secs(3)).await;
    first.assert_problem(503, "service-unavailable");
    let calls = faults.calls();
    assert_eq!(calls[2].operation, "CheckoutLicense", "{calls:?}");
    assert!(
        calls.iter().any(|call| call.operation == "CheckInLicense"),
        "a check-in was tried: {calls:?}"
    );
    assert_eq!(consumed(&lm, &license, "Users").await, "1", "held");

    // A retry while the first request's claim lives is told to wait.
    faults.set_fault(None);
    let early = call(&proxy, &request).await;
    early.assert_problem(409, "request-in-progress");
    // After its deadline, the retry with the same key finishes the lease: the same seat.
    let wait: u64 = early.headers["retry-after"].parse().unwrap();
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let retried = call(&proxy, &request).await;
    assert_eq!(retried.status, 200, "{retried:?}");
    assert_eq!(
        consumed(&lm, &license, "Users").await,
        "1",
        "not drawn twice"
    );
    let token = retried.text("licenseConsumptionToken");
    let checked_in = call(&proxy, &token_event("checkin.json", ALICE, &token)).await;
    assert_eq!(checked_in.status, 204, "{checked_in:?}");
    assert_eq!(consumed(&lm, &license, "Users").await, "0");
}

#[tokio::test]
async fn a_request_never_outlives_its_budget() {
    let world = World::start().await;
    let lm = world.lm(ISSUER_ACCOUNT).await;
    issue_license(&lm, ALICE, 5).await;
    let faults = fault_proxy(&world).await;
    let proxy = world.proxy_at(&[], &faults.url(), &faults.url()).await;
    let invocation = Duration::from_secs(4);
    // The budget is the invocation's deadline less a second to answer: 3 s.
    let budget = Duration::from_secs(3);
    for (held, what) in [(3, "CheckoutLicense"), (1, "the key's GetItem")] {
        faults.reset();
        faults.set_fault(from_call(held, FaultMode::HoldRequest));
        let started = Instant::now();
        let answer = call_within(
            &proxy,
            &checkout_event(ALICE, checkout_body(1, None), Some(&format!("slow-{held}"))),
            invocation,
        )
        .await;
        let took = started.elapsed();
        answer.assert_problem(503, "service-unavailable");
        assert!(answer.headers.contains_key("retry-after"));
        assert!(
            took <= budget + Duration::from_millis(300),
            "{what} held: answered after {took:?}"
        );
        faults.release_held();
    }
}

#[tokio::test]
async fn a_customer_past_its_rate_gets_429_and_others_do_not() {
    let world = World::start().await;
    let proxy = world
        .proxy_at(
            &[("CUSTOMER_RATE_LIMIT", "2")],
            &world.moto.url(),
            &world.emulator_url,
        )
        .await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..5 {
        let answer = call(&proxy, &event("leases.json", ALICE, None)).await;
        statuses.push(answer.status);
        if answer.status == 429 {
            limited = Some(answer);
        }
    }
    let limited = limited.unwrap_or_else(|| panic!("no 429 in {statuses:?}"));
    limited.assert_problem(429, "customer-rate-limited");
    assert_eq!(limited.headers["retry-after"], "1");
    assert!(
        statuses.iter().filter(|s| **s == 200).count() >= 2,
        "{statuses:?}"
    );
    // Another customer has a rate of its own.
    let bob = call(&proxy, &event("leases.json", BOB, None)).await;
    assert_eq!(bob.status, 200, "{bob:?}");
}
