//! The checkout API through the real handler against license-manager-local and moto: every
//! route's success, the error mappings, idempotent retries, sticky leases, the borrow token,
//! and one customer never reaching another's licenses or checkouts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use license_manager_local::{Config as EmulatorConfig, Fault};
use serde_json::{Value, json};

#[tokio::test]
async fn a_customer_checks_out_extends_checks_in_lists_and_reads_usage() {
    let world = World::start().await;
    let lm = world.lm(ISSUER_ACCOUNT).await;
    let license = issue_license(&lm, ALICE, 5).await;
    let proxy = world.proxy().await;

    // The fixture as it is: PROVISIONAL, node-1, an Idempotency-Key.
    let checkout = call(&proxy, &event("checkout.json", ALICE, None)).await;
    assert_eq!(checkout.status, 200, "{checkout:?}");
    let body = checkout.body.clone().unwrap();
    assert_eq!(body["licenseArn"], license.as_str());
    assert_eq!(body["checkoutType"], "PROVISIONAL");
    assert_eq!(body["nodeId"], "node-1");
    assert_eq!(body["reused"], false);
    assert_eq!(
        body["entitlementsAllowed"],
        json!([{"name": "Users", "unit": "Count", "value": "1"}])
    );
    assert!(
        body["signedToken"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
    let token = checkout.text("licenseConsumptionToken");
    let expiration = checkout.text("expiration");
    assert_eq!(consumed(&lm, &license, "Users").await, "1");

    let extended = call(&proxy, &token_event("extend.json", ALICE, &token)).await;
    assert_eq!(extended.status, 200, "{extended:?}");
    assert_eq!(extended.text("licenseConsumptionToken"), token);
    assert!(extended.text("expiration") >= expiration);

    let usage = call(
        &proxy,
        &usage_event(ALICE, license.rsplit(':').next().unwrap()),
    )
    .await;
    assert_eq!(usage.status, 200, "{usage:?}");
    let usages = &usage.body.as_ref().unwrap()["entitlementUsages"];
    assert!(
        usages.as_array().unwrap().contains(
            &json!({"name": "Users", "unit": "Count", "consumedValue": "1", "maxCount": "5"})
        ),
        "{usages}"
    );
    // The full ARN works as the id too.
    assert_eq!(
        call(&proxy, &usage_event(ALICE, &license)).await.status,
        200
    );

    let listed = call(&proxy, &event("licenses.json", ALICE, None)).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let licenses = listed.body.as_ref().unwrap()["licenses"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(licenses.len(), 1);
    assert_eq!(licenses[0]["licenseArn"], license.as_str());
    assert_eq!(licenses[0]["productSku"], SKU);

    let checked_in = call(&proxy, &token_event("checkin.json", ALICE, &token)).await;
    assert_eq!(
        (checked_in.status, checked_in.body.is_none()),
        (204, true),
        "{checked_in:?}"
    );
    assert_eq!(consumed(&lm, &license, "Users").await, "0");
    // A retried check-in is answered the same, and changes nothing.
    let calls = proxy.license_manager().stats().calls();
    assert_eq!(
        call(&proxy, &token_event("checkin.json", ALICE, &token))
            .await
            .status,
        204
    );
    assert_eq!(proxy.license_manager().stats().calls(), calls);
    // A checked-in lease cannot be extended.
    call(&proxy, &token_event("extend.json", ALICE, &token))
        .await
        .assert_problem(409, "conflict");

    // PERPETUAL draws for good: no expiration, and it cannot be checked in.
    let perpetual = call(&proxy, &event("checkout-perpetual.json", ALICE, None)).await;
    assert_eq!(perpetual.status, 200, "{perpetual:?}");
    assert!(perpetual.body.as_ref().unwrap().get("expiration").is_none());
    assert_eq!(consumed(&lm, &license, "Exports").await, "1");
    let token = perpetual.text("licenseConsumptionToken");
    call(&proxy, &token_event("checkin.json", ALICE, &token))
        .await
        .assert_problem(400, "invalid-request");
}

#[tokio::test]
async fn a_check_in_whose_answer_was_lost_is_done_on_retry_and_links_never_hold_the_token() {
    let world = World::start().await;
    let lm = world.lm(ISSUER_ACCOUNT).await;
    let license = issue_license(&lm, ALICE, 5).await;
    let proxy = world.proxy().await;
    let checkout = call(&proxy, &event("checkout.json", ALICE, None)).await;
    assert_eq!(checkout.status, 200, "{checkout:?}");
    let token = checkout.text("licenseConsumptionToken");

    // The link is keyed by the token's digest: no key holds the token. The link keeps the
    // token itself only while the lease is live (DELETE /v1/leases/{leaseId} checks it in
    // with it), as the sticky lease's record does.
    let items = world
        .dynamodb
        .scan()
        .table_name(TABLE)
        .send()
        .await
        .unwrap();
    let links: Vec<_> = items
        .items()
        .iter()
        .filter_map(|item| item.get("pk").and_then(|pk| pk.as_s().ok()))
        .filter(|pk| pk.starts_with("lease#"))
        .collect();
    assert_eq!(links.len(), 1, "{items:?}");
    assert!(
        links.iter().all(|pk| !pk.contains(&token)),
        "a key holds the token itself"
    );

    // The check-in reached License Manager but its answer never reached the caller.
    lm.check_in_license()
        .license_consumption_token(&token)
        .beneficiary(ALICE)
        .send()
        .await
        .unwrap();
    assert_eq!(consumed(&lm, &license, "Users").await, "0");
    let retried = call(&proxy, &token_event("checkin.json", ALICE, &token)).await;
    assert_eq!(retried.status, 204, "{retried:?}");
    // Checked in, no record holds the token any more.
    let items = world
        .dynamodb
        .scan()
        .table_name(TABLE)
        .send()
        .await
        .unwrap();
    assert!(
        !format!("{items:?}").contains(&token),
        "a record still holds a checked-in token: {items:?}"
    );
    // And from then on it is checked in for the proxy too.
    call(&proxy, &token_event("extend.json", ALICE, &token))
        .await
        .assert_problem(409, "conflict");
}

#[tokio::test]
async fn a_restart_and_checkout_reuses_the_lease_and_another_node_draws_a_seat() {
    let world = World::start().await;
    let lm = world.lm(ISSUER_ACCOUNT).await;
    let license = issue_license(&lm, ALICE, 2).await;
    let proxy = world.proxy().await;

    let first = call(
        &proxy,
        &checkout_event(ALICE, checkout_body(1, Some("node-1")), None),
    )
    .await;
    assert_eq!(first.status, 200, "{first:?}");
    // The app restarts and checks out again (no Idempotency-Key: a new request).
    let again = call(
        &proxy,
        &checkout_event(ALICE, checkout_body(1, Some("node-1")), None),
    )
    .await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(
        again.text("licenseConsumptionToken"),
        first.text("licenseConsumptionToken")
    );
    assert_eq!(again.body.as_ref().unwrap()["reused"], true);
    assert!(again.text("expiration") >= first.text("expiration"));
    assert_eq!(
        consumed(&lm, &license, "Users").await,
        "1",
        "no second seat"
    );

    // Another node draws the second seat; a third node finds the contract exhausted.
    let other = call(
        &proxy,
        &checkout_event(ALICE, checkout_body(1, Some("node-2")), None),
    )
    .await;
    assert_eq!(other.status, 200, "{other:?}");
    assert_ne!(
        other.text("licenseConsumptionToken"),
        first.text("licenseConsumptionToken")
    );
    assert_eq!(consumed(&lm, &license, "Users").await, "2");
    call(
        &proxy,
        &checkout_event(ALICE, checkout_body(1, Some("node-3")), None),
    )
    .await
    .assert_problem(409, "no-entitlements-allowed");
    // Without a node id every checkout draws: none left.
    call(&proxy, &checkout_event(ALICE, checkout_body(1, None), None))
        .await
        .assert_problem(409, "no-entitlements-allowed");

    // After check-in, node-1's next checkout is a new lease.
    let token = first.text("licenseConsumptionToken");
    assert_eq!(
        call(&proxy, &token_event("checkin.json", ALICE, &token))
            .await
            .status,
        204
    );
    let fresh = call(
        &proxy,
        &checkout_event(ALICE, checkout_body(1, Some("node-1")), None),
    )
    .await;
    assert_eq!(fresh.status, 200, "{fresh:?}");
    assert_ne!(fresh.text("licenseConsumptionToken"), token);
    assert_eq!(fresh.body.as_ref().unwrap()["reused"], false);
    assert_eq!(consumed(&lm, &license, "Users").await, "2");
}

#[tokio::test]
async fn a_retried_request_with_the_same_key_checks_out_once() {
    let world = World::start().await;
    let lm = world.lm(ISSUER_ACCOUNT).await;
    let alice_license = issue_license(&lm, ALICE, 5).await;
    let bob_license = issue_license(&lm, BOB, 5).await;
    let proxy = world.proxy().await;

    let body = checkout_body(2, None);
    let first = call(
        &proxy,
        &checkout_event(ALICE, body.clone(), Some("retry-key-1")),
    )
    .await;
    let retry = call(
        &proxy,
        &checkout_event(ALICE, body.clone(), Some("retry-key-1")),
    )
    .await;
    assert_eq!(
        (first.status, retry.status),
        (200, 200),
        "{first:?} {retry:?}"
    );
    assert_eq!(
        first.text("licenseConsumptionToken"),
        retry.text("licenseConsumptionToken")
    );
    assert_eq!(
        consumed(&lm, &alice_license, "Users").await,
        "2",
        "counted once"
    );

    // Another key is another checkout.
    let second = call(
        &proxy,
        &checkout_event(ALICE, body.clone(), Some("retry-key-2")),
    )
    .await;
    assert_ne!(
        second.text("licenseConsumptionToken"),
        first.text("licenseConsumptionToken")
    );
    assert_eq!(consumed(&lm, &alice_license, "Users").await, "4");

    // Bob's request with Alice's key is Bob's own checkout, from Bob's license.
    let bobs = call(
        &proxy,
        &checkout_event(BOB, body.clone(), Some("retry-key-1")),
    )
    .await;
    assert_eq!(bobs.status, 200, "{bobs:?}");
    assert_eq!(bobs.text("licenseArn"), bob_license);
    assert_ne!(
        bobs.text("licenseConsumptionToken"),
        first.text("licenseConsumptionToken")
    );
    assert_eq!(consumed(&lm, &alice_license, "Users").await, "4");

    // The same key with a different request is refused by the proxy itself, not a second
    // checkout.
    call(
        &proxy,
        &checkout_event(ALICE, checkout_body(1, None), Some("retry-key-1")),
    )
    .await
    .assert_problem(422, "idempotency-key-reused");
    // A key that breaks the rules is refused before anything is checked out.
    call(
        &proxy,
        &event("error-invalid-idempotency-key.json", ALICE, None),
    )
    .await
    .assert_problem(400, "invalid-idempotency-key");
    assert_eq!(consumed(&lm, &alice_license, "Users").await, "4");
}

#[tokio::test]
async fn customer_b_cannot_touch_customer_as_licenses_or_tokens() {
    let world = World::start().await;
    let lm = world.lm(ISSUER_ACCOUNT).await;
    let alice_license = issue_license(&lm, ALICE, 3).await;
    let proxy = world.proxy().await;

    let alice = call(
        &proxy,
        &checkout_event(ALICE, checkout_body(1, Some("node-1")), None),
    )
    .await;
    assert_eq!(alice.status, 200, "{alice:?}");
    let token = alice.text("licenseConsumptionToken");
    let expiration = alice.text("expiration");
    let calls = proxy.license_manager().stats().calls();

    // Bob has no license: his checkout of the same SKU finds none.
    call(
        &proxy,
        &checkout_event(BOB, checkout_body(1, Some("node-1")), None),
    )
    .await
    .assert_problem(404, "not-found");
    let after_checkout = proxy.license_manager().stats().calls();
    assert!(after_checkout > calls);
    // Extend and check-in of Alice's token fail without License Manager being called.
    call(&proxy, &token_event("extend.json", BOB, &token))
        .await
        .assert_problem(404, "lease-not-found");
    call(&proxy, &token_event("checkin.json", BOB, &token))
        .await
        .assert_problem(404, "lease-not-found");
    assert_eq!(proxy.license_manager().stats().calls(), after_checkout);
    // Nor can he read its usage, borrow from it, or see it listed.
    let license_id = alice_license.rsplit(':').next().unwrap().to_owned();
    call(&proxy, &usage_event(BOB, &license_id))
        .await
        .assert_problem(404, "license-not-found");
    let mut borrow = event("borrow.json", BOB, None);
    let mut body: Value = serde_json::from_str(borrow["body"].as_str().unwrap()).unwrap();
    body["licenseArn"] = Value::from(alice_license.clone());
    borrow["body"] = Value::from(body.to_string());
    call(&proxy, &borrow)
        .await
        .assert_problem(404, "license-not-found");
    let listed = call(&proxy, &event("licenses.json", BOB, None)).await;
    assert_eq!(listed.body.unwrap(), json!({"licenses": []}));
    // Nor name Alice as the beneficiary in the body.
    call(&proxy, &event("error-beneficiary-in-body.json", BOB, None))
        .await
        .assert_problem(400, "beneficiary-not-allowed");

    // Alice's lease is untouched: still one seat, same expiration, hers to check in.
    assert_eq!(consumed(&lm, &alice_license, "Users").await, "1");
    let again = call(
        &proxy,
        &checkout_event(ALICE, checkout_body(1, Some("node-1")), None),
    )
    .await;
    assert_eq!(again.text("licenseConsumptionToken"), token);
    assert!(again.text("expiration") >= expiration);
    assert_eq!(
        call(&proxy, &token_event("checkin.json", ALICE, &token))
            .await
            .status,
        204
    );
    assert_eq!(consumed(&lm, &alice_license, "Users").await, "0");
    // Unknown tokens are the same 404.
    call(&proxy, &token_event("extend.json", ALICE, "not-a-token"))
        .await
        .assert_problem(404, "lease-not-found");
}

#[tokio::test]
async fn a_borrowed_license_comes_with_a_token_that_verifies_against_the_emulators_key() {
    let world = World::start().await;
    let lm = world.lm(ISSUER_ACCOUNT).await;
    let license = issue_license(&lm, ALICE, 3).await;
    let proxy = world.proxy().await;

    let mut borrow = event("borrow.json", ALICE, None);
    let mut body: Value = serde_json::from_str(borrow["body"].as_str().unwrap()).unwrap();
    body["licenseArn"] = Value::from(license.clone());
    borrow["body"] = Value::from(body.to_string());
    let borrowed = call(&proxy, &borrow).await;
    assert_eq!(borrowed.status, 200, "{borrowed:?}");
    assert_eq!(
        borrowed.body.as_ref().unwrap()["checkoutMetadata"],
        json!([{"name": "hostname", "value": "laptop-7"}])
    );
    let token = borrowed.text("licenseConsumptionToken");

    let pem = std::fs::read(&world.public_key).unwrap();
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(&pem).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::PS384);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Value>(&borrowed.text("signedToken"), &key, &validation)
        .expect("the signed token verifies with the emulator's public key")
        .claims;
    assert_eq!(claims["licenseArn"], license.as_str());
    assert_eq!(claims["licenseConsumptionToken"], token.as_str());
    assert_eq!(claims["nodeId"], "laptop-7");
    assert_eq!(
        claims["entitlementsAllowed"],
        json!([{"name": "Users", "value": "1", "unit": "Count"}])
    );
    assert_eq!(consumed(&lm, &license, "Users").await, "1");
    // Early check-in of a borrow is allowed by this license.
    assert_eq!(
        call(&proxy, &token_event("checkin.json", ALICE, &token))
            .await
            .status,
        204
    );
    assert_eq!(consumed(&lm, &license, "Users").await, "0");
}

#[tokio::test]
async fn leases_are_listed_without_their_token_and_freed_by_id_only_by_their_customer() {
    let world = World::start().await;
    let lm = world.lm(ISSUER_ACCOUNT).await;
    let license = issue_license(&lm, ALICE, 3).await;
    let proxy = world.proxy().await;
    let empty = call(&proxy, &event("leases.json", ALICE, None)).await;
    assert_eq!(
        (empty.status, empty.body.clone()),
        (200, Some(json!({"leases": []})))
    );

    let checkout = call(
        &proxy,
        &checkout_event(ALICE, checkout_body(1, Some("node-1")), None),
    )
    .await;
    assert_eq!(checkout.status, 200, "{checkout:?}");
    let token = checkout.text("licenseConsumptionToken");
    let other = call(
        &proxy,
        &checkout_event(ALICE, checkout_body(1, Some("node-2")), None),
    )
    .await;
    let other_token = other.text("licenseConsumptionToken");
    // A PERPETUAL checkout is no lease: it is never listed.
    assert_eq!(
        call(&proxy, &event("checkout-perpetual.json", ALICE, None))
            .await
            .status,
        200
    );
    call(&proxy, &token_event("extend.json", ALICE, &token)).await;

    let listed = call(&proxy, &event("leases.json", ALICE, None)).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let text = listed.body.as_ref().unwrap().to_string();
    assert!(
        !text.contains(&token) && !text.contains(&other_token),
        "{text}"
    );
    let leases = listed.body.as_ref().unwrap()["leases"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(leases.len(), 2, "{leases:?}");
    let lease = &leases[0];
    let lease_id = lease["leaseId"].as_str().unwrap().to_owned();
    assert_eq!(lease_id, checkout_proxy::lease_id(&token));
    assert_eq!(lease["licenseArn"], license.as_str());
    assert_eq!(lease["productSku"], SKU);
    assert_eq!(lease["nodeId"], "node-1");
    assert_eq!(lease["checkoutType"], "PROVISIONAL");
    assert_eq!(
        lease["entitlements"],
        json!([{"name": "Users", "unit": "Count", "value": "1"}])
    );
    assert_eq!(lease["checkedOutAt"], checkout.text("issuedAt").as_str());
    assert!(lease["expiration"].as_str().unwrap() >= checkout.text("expiration").as_str());
    assert!(lease["lastExtendedAt"].as_str().unwrap() >= lease["checkedOutAt"].as_str().unwrap());
    assert_eq!(leases[1]["nodeId"], "node-2");

    // Bob sees none of them and cannot free them.
    let bobs = call(&proxy, &event("leases.json", BOB, None)).await;
    assert_eq!(bobs.body.unwrap(), json!({"leases": []}));
    call(&proxy, &release_event(BOB, &lease_id))
        .await
        .assert_problem(404, "lease-not-found");
    assert_eq!(consumed(&lm, &license, "Users").await, "2");

    // Another node of Alice's frees node-1's seat; a retry is answered the same.
    let released = call(&proxy, &release_event(ALICE, &lease_id)).await;
    assert_eq!((released.status, released.body), (204, None));
    assert_eq!(consumed(&lm, &license, "Users").await, "1");
    assert_eq!(
        call(&proxy, &release_event(ALICE, &lease_id)).await.status,
        204
    );
    let listed = call(&proxy, &event("leases.json", ALICE, None)).await;
    let leases = listed.body.unwrap()["leases"].as_array().unwrap().clone();
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0]["nodeId"], "node-2");
    // The freed token is checked in for its holder too, and node-1 draws afresh.
    call(&proxy, &token_event("extend.json", ALICE, &token))
        .await
        .assert_problem(409, "conflict");
    let fresh = call(
        &proxy,
        &checkout_event(ALICE, checkout_body(1, Some("node-1")), None),
    )
    .await;
    assert_eq!(fresh.body.unwrap()["reused"], false);

    // Ids that are no lease: malformed is 400, unknown is 404.
    call(&proxy, &release_event(ALICE, "not-an-id"))
        .await
        .assert_problem(400, "invalid-field");
    call(&proxy, &event("release.json", ALICE, None))
        .await
        .assert_problem(404, "lease-not-found");
}

#[tokio::test]
async fn keys_publish_the_issuers_sign_keys_and_a_borrowed_token_verifies_with_them() {
    let world = World::start().await;
    let lm = world.lm(ISSUER_ACCOUNT).await;
    let (license, key_id) = issue_signed_license(&world, ALICE, 3).await;
    // A license without a SignKey adds no key.
    issue_license(&lm, BOB, 1).await;
    let proxy = world.proxy().await;

    let keys = call(&proxy, &event("keys.json", ALICE, None)).await;
    assert_eq!(keys.status, 200, "{keys:?}");
    let jwks = keys.body.unwrap();
    let list = jwks["keys"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{jwks}");
    assert_eq!(list[0]["kid"], key_id.as_str());
    assert_eq!(
        (list[0]["kty"].as_str(), list[0]["alg"].as_str()),
        (Some("RSA"), Some("PS384"))
    );
    // The set is kept: a second call asks License Manager nothing.
    let calls = proxy.license_manager().stats().calls();
    assert_eq!(
        call(&proxy, &event("keys.json", BOB, None)).await.status,
        200
    );
    assert_eq!(proxy.license_manager().stats().calls(), calls);

    let mut borrow = event("borrow.json", ALICE, None);
    let mut body: Value = serde_json::from_str(borrow["body"].as_str().unwrap()).unwrap();
    body["licenseArn"] = Value::from(license.clone());
    borrow["body"] = Value::from(body.to_string());
    let borrowed = call(&proxy, &borrow).await;
    assert_eq!(borrowed.status, 200, "{borrowed:?}");
    let signed = borrowed.text("signedToken");
    let header = jsonwebtoken::decode_header(&signed).unwrap();
    assert_eq!(header.kid.as_deref(), Some(key_id.as_str()));
    let key = jsonwebtoken::DecodingKey::from_rsa_components(
        list[0]["n"].as_str().unwrap(),
        list[0]["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::PS384);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Value>(&signed, &key, &validation)
        .expect("the borrowed token verifies with the published key")
        .claims;
    assert_eq!(claims["licenseArn"], license.as_str());
    // The borrow is a lease too.
    let listed = call(&proxy, &event("leases.json", ALICE, None)).await;
    assert_eq!(listed.body.unwrap()["leases"][0]["checkoutType"], "BORROW");
}

#[tokio::test]
async fn refusals_are_problems_naming_the_field_and_call_nothing() {
    let world = World::start().await;
    let proxy = world.proxy().await;
    let cases = [
        ("error-no-claims.json", 401, "missing-beneficiary"),
        (
            "error-beneficiary-in-body.json",
            400,
            "beneficiary-not-allowed",
        ),
        ("error-unknown-field.json", 400, "unknown-field"),
        ("error-invalid-unit.json", 400, "invalid-field"),
        (
            "error-invalid-idempotency-key.json",
            400,
            "invalid-idempotency-key",
        ),
        ("error-too-large.json", 413, "payload-too-large"),
        ("error-unknown-route.json", 404, "route-not-found"),
        ("error-wrong-method.json", 405, "method-not-allowed"),
    ];
    for (fixture, status, code) in cases {
        let answer = call(&proxy, &event(fixture, ALICE, None)).await;
        answer.assert_problem(status, code);
        let detail = answer.body.as_ref().unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_owned();
        match code {
            "beneficiary-not-allowed" => assert!(detail.starts_with("beneficiary"), "{detail}"),
            "unknown-field" => assert!(detail.contains("priority"), "{detail}"),
            "invalid-field" => assert!(detail.starts_with("entitlements[0].unit"), "{detail}"),
            "invalid-idempotency-key" => assert!(detail.starts_with("Idempotency-Key"), "{detail}"),
            "missing-beneficiary" => assert!(detail.contains("sub"), "{detail}"),
            _ => {}
        }
    }
    let wrong_method = call(&proxy, &event("error-wrong-method.json", ALICE, None)).await;
    assert_eq!(wrong_method.headers["allow"], "POST");
    assert_eq!(proxy.license_manager().stats().calls(), 0);
}

#[tokio::test]
async fn throttling_is_429_with_retry_after_and_server_trouble_503() {
    let world = World::with_emulator(EmulatorConfig {
        fault_rate: 1.0,
        faults: vec![Fault::Throttle],
        ..EmulatorConfig::default()
    })
    .await;
    let proxy = world.proxy().await;
    let throttled = call(&proxy, &event("checkout.json", ALICE, None)).await;
    throttled.assert_problem(429, "rate-limited");
    assert_eq!(throttled.headers["retry-after"], "1");
    assert_eq!(
        proxy.license_manager().stats().calls(),
        3,
        "retried, then answered"
    );

    let world = World::with_emulator(EmulatorConfig {
        fault_rate: 1.0,
        faults: vec![Fault::Internal],
        ..EmulatorConfig::default()
    })
    .await;
    let proxy = world.proxy().await;
    let failed = call(&proxy, &event("licenses.json", ALICE, None)).await;
    failed.assert_problem(503, "service-unavailable");
    assert!(failed.headers.contains_key("retry-after"));
    assert!(
        !failed.body.unwrap().to_string().contains("ServerInternal"),
        "no internals in the body"
    );
}

#[tokio::test]
async fn without_the_state_table_nothing_is_extended_and_the_answer_is_503() {
    let world = World::start().await;
    let lm = world.lm(ISSUER_ACCOUNT).await;
    issue_license(&lm, ALICE, 3).await;
    let proxy = world.proxy_with("no-such-table", None).await;
    call(&proxy, &token_event("extend.json", ALICE, "some-token"))
        .await
        .assert_problem(503, "service-unavailable");
    assert_eq!(proxy.license_manager().stats().calls(), 0);
}

#[test]
fn every_fixture_of_events_checkout_proxy_is_used_by_a_test() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/checkout-proxy");
    let tests = [include_str!("api.rs"), include_str!("common/mod.rs")].concat();
    let mut fixtures = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            tests.contains(&format!("\"{name}\"")),
            "events/checkout-proxy/{name} is used by no test"
        );
        fixtures += 1;
    }
    assert!(fixtures >= 15, "{fixtures} fixtures");
}
