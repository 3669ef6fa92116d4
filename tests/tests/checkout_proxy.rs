//! checkout-proxy's real bootstrap behind the local stack's HTTP API, called over HTTP with
//! tokens minted by the local issuer: customer isolation, the sticky lease, an idempotent
//! retry, and the API's own refusals (no token, another method, an unknown route).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestStack;
use local_stack::control::{ApiCaller, send};
use local_test_kit::checkout::{CUSTOMER, OTHER_CUSTOMER, issue_customer_license};
use local_test_kit::licenses::consumed;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_check_out_their_own_licenses_only_through_the_http_api() {
    let stack = TestStack::start("template.yaml", &[]).await;
    let issuer = &stack.clients().customer;
    let alice_license = issue_customer_license(issuer, CUSTOMER, 2).await.unwrap();
    let bob_license = issue_customer_license(issuer, OTHER_CUSTOMER, 2)
        .await
        .unwrap();
    let alice = ApiCaller::new(stack.app(), CUSTOMER).unwrap();
    let bob = ApiCaller::new(stack.app(), OTHER_CUSTOMER).unwrap();
    let users = |license: &str| {
        let license = license.to_owned();
        let lm = issuer.license_manager.clone();
        async move { consumed(&lm, &license, "Users").await.unwrap() }
    };

    // An idempotent retry: the same key, the same token, one seat.
    let first = alice.checkout("node-1", Some("key-1")).await.unwrap();
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.headers["content-type"], "application/json");
    let token = first.json()["licenseConsumptionToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(first.json()["licenseArn"], alice_license.as_str());
    let retry = alice.checkout("node-1", Some("key-1")).await.unwrap();
    assert_eq!(retry.json()["licenseConsumptionToken"], token.as_str());
    assert!(users(&alice_license).await.starts_with("1 of 2"));

    // The sticky lease: a restart without the key gets the same lease; another node draws.
    let restart = alice.checkout("node-1", None).await.unwrap();
    assert_eq!(restart.json()["licenseConsumptionToken"], token.as_str());
    assert_eq!(restart.json()["reused"], true);
    assert!(users(&alice_license).await.starts_with("1 of 2"));
    let node_2 = alice.checkout("node-2", None).await.unwrap();
    assert_eq!(node_2.status, 200, "{}", node_2.body);
    assert!(users(&alice_license).await.starts_with("2 of 2"));
    let exhausted = alice.checkout("node-3", None).await.unwrap();
    assert_eq!(exhausted.status, 409, "{}", exhausted.body);
    assert_eq!(
        exhausted.headers["content-type"],
        "application/problem+json"
    );
    assert_eq!(exhausted.json()["code"], "no-entitlements-allowed");

    // Bob checks out from his own license, and can do nothing with Alice's.
    let bobs = bob.checkout("node-1", Some("key-1")).await.unwrap();
    assert_eq!(bobs.status, 200, "{}", bobs.body);
    assert_eq!(bobs.json()["licenseArn"], bob_license.as_str());
    for path in ["/v1/extend", "/v1/checkin"] {
        let reply = bob.with_token(path, &token).await.unwrap();
        assert_eq!(
            (reply.status, reply.json()["code"].clone()),
            (404, json!("lease-not-found")),
            "{path}"
        );
    }
    let alice_id = alice_license.rsplit(':').next().unwrap();
    let usage = bob
        .call("GET", &format!("/v1/licenses/{alice_id}/usage"), None, None)
        .await
        .unwrap();
    assert_eq!(usage.status, 404, "{}", usage.body);
    let listed = bob.call("GET", "/v1/licenses", None, None).await.unwrap();
    let arns: Vec<_> = listed.json()["licenses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|license| license["licenseArn"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(arns, [bob_license.as_str()]);
    let named = bob
        .call(
            "POST",
            "/v1/checkout",
            Some(
                json!({"productSku": "contoso-notes-pro", "checkoutType": "PROVISIONAL",
                        "entitlements": [{"name": "Users", "unit": "Count"}],
                        "beneficiary": CUSTOMER}),
            ),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (named.status, named.json()["code"].clone()),
        (400, json!("beneficiary-not-allowed"))
    );
    assert!(users(&alice_license).await.starts_with("2 of 2"));

    // Alice's own calls still work: usage, extend, check-in.
    let usage = alice
        .call("GET", &format!("/v1/licenses/{alice_id}/usage"), None, None)
        .await
        .unwrap();
    assert_eq!(usage.status, 200, "{}", usage.body);
    let extended = alice.with_token("/v1/extend", &token).await.unwrap();
    assert_eq!(extended.status, 200, "{}", extended.body);
    let checked_in = alice.with_token("/v1/checkin", &token).await.unwrap();
    assert_eq!(checked_in.status, 204, "{}", checked_in.body);
    assert!(users(&alice_license).await.starts_with("1 of 2"));

    // The API's own answers: no token (the authorizer), another method and an unknown route
    // (the function, as problem+json).
    let api = stack.app().stack_file.api_url.clone().unwrap();
    let anonymous = send("GET", &format!("{api}/v1/licenses"), &[], None)
        .await
        .unwrap();
    assert_eq!(anonymous.status, 401);
    let wrong_method = alice.call("GET", "/v1/checkout", None, None).await.unwrap();
    assert_eq!(
        (wrong_method.status, wrong_method.json()["code"].clone()),
        (405, json!("method-not-allowed"))
    );
    let unknown = alice.call("POST", "/v1/refund", None, None).await.unwrap();
    assert_eq!(
        (unknown.status, unknown.json()["code"].clone()),
        (404, json!("route-not-found"))
    );
    stack.stop().await;
}
