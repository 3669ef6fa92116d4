//! license-client (the crate and its CLI) against checkout-proxy's real bootstrap behind the
//! local HTTP API, with tokens minted by the local issuer: `run` holds exactly one seat while
//! its command runs and none after; a killed client's seat is listed and freed by another
//! node of the same customer, never by another customer; the keep-alive survives a 429 and
//! a lost answer and reports a lease freed elsewhere at once; `verify` accepts a borrowed
//! token and refuses a tampered or expired one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use common::TestStack;
use integration_tests::bootstrap;
use license_client::{Client, Lease, LeaseLost, LeaseState, RetryPolicy, Verifier};
use local_stack::app::LOCAL_AUDIENCE;
use local_stack::issuer::TokenRequest;
use local_test_kit::checkout::{
    CUSTOMER, OTHER_CUSTOMER, PRODUCT_SKU, contoso_sign_key, issue_signed_customer_license,
};
use local_test_kit::licenses::consumed;
use serde_json::Value;
use tokio::process::Command;

/// The stack with customer-a's license (`seats` Users, tokens signed by Contoso's KMS key).
async fn stack_with_license(seats: i64) -> (TestStack, String) {
    let stack = TestStack::start("template.yaml", &[]).await;
    let issuer = &stack.clients().customer;
    let key = contoso_sign_key(issuer.id, &stack.stack.license_manager_url())
        .await
        .unwrap();
    let license = issue_signed_customer_license(issuer, CUSTOMER, seats, Some(key.as_str()))
        .await
        .unwrap();
    (stack, license)
}

fn api_url(stack: &TestStack) -> String {
    stack.app().stack_file.api_url.clone().unwrap()
}

fn token(stack: &TestStack, customer: &str) -> String {
    stack
        .app()
        .issuer
        .mint(TokenRequest::new(customer, LOCAL_AUDIENCE))
        .unwrap()
}

/// `license-client ARGS` as `customer` (its token in LICENSE_API_TOKEN).
fn cli(stack: &TestStack, customer: &str) -> Command {
    let mut command = Command::new(bootstrap("license-client"));
    command
        .env("LICENSE_API_URL", api_url(stack))
        .env("LICENSE_API_TOKEN", token(stack, customer))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

async fn run_cli(stack: &TestStack, customer: &str, args: &[&str]) -> Output {
    cli(stack, customer).args(args).output().await.unwrap()
}

async fn leases_of(stack: &TestStack, customer: &str) -> Vec<Value> {
    let output = run_cli(stack, customer, &["leases"]).await;
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice::<Value>(&output.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

async fn users_in_use(stack: &TestStack, license: &str) -> String {
    let used = consumed(&stack.clients().customer.license_manager, license, "Users")
        .await
        .unwrap();
    used.split(' ').next().unwrap().to_owned()
}

/// Polls `check` every 100 ms for up to 20 s.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 20 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_holds_one_seat_while_the_command_runs_and_a_killed_clients_seat_is_freed_by_another_node()
 {
    let (stack, license) = stack_with_license(3).await;

    // run: one seat while the command runs, the command's status, none after.
    let run = cli(&stack, CUSTOMER)
        .args([
            "run",
            "--sku",
            PRODUCT_SKU,
            "--entitlement",
            "Users=1",
            "--node-id",
            "n1",
            "--",
            "sh",
            "-c",
            "sleep 2; exit 3",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually("the lease to be listed", async || {
        leases_of(&stack, CUSTOMER).await.len() == 1
    })
    .await;
    assert_eq!(users_in_use(&stack, &license).await, "1");
    let output = run.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("checked in"), "{stderr}");
    assert!(
        !stderr.contains("eyJ"),
        "the bearer token was printed: {stderr}"
    );
    assert_eq!(users_in_use(&stack, &license).await, "0");
    assert!(leases_of(&stack, CUSTOMER).await.is_empty());

    // A client killed while it holds a seat: the seat stays, listed with its node.
    let pid_file = std::env::temp_dir().join(format!("license-client-{}.pid", std::process::id()));
    let mut holder = cli(&stack, CUSTOMER)
        .args([
            "run",
            "--sku",
            PRODUCT_SKU,
            "--entitlement",
            "Users=1",
            "--node-id",
            "crashed-node",
            "--",
            "sh",
            "-c",
        ])
        .arg(format!("echo $$ > {}; exec sleep 60", pid_file.display()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually("the lease to be listed", async || {
        leases_of(&stack, CUSTOMER).await.len() == 1
    })
    .await;
    eventually("the command to start", async || pid_file.is_file()).await;
    holder.kill().await.unwrap();
    let sleeper = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_owned();
    Command::new("kill").arg(&sleeper).status().await.unwrap();
    let _ = std::fs::remove_file(&pid_file);
    let leases = leases_of(&stack, CUSTOMER).await;
    assert_eq!(leases.len(), 1, "{leases:?}");
    assert_eq!(leases[0]["nodeId"], "crashed-node");
    assert_eq!(users_in_use(&stack, &license).await, "1");
    let lease_id = leases[0]["leaseId"].as_str().unwrap().to_owned();

    // Another customer neither sees nor frees it.
    assert!(leases_of(&stack, OTHER_CUSTOMER).await.is_empty());
    let refused = run_cli(&stack, OTHER_CUSTOMER, &["release", &lease_id]).await;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("lease-not-found"));
    assert_eq!(users_in_use(&stack, &license).await, "1");

    // Another node of the same customer frees it.
    let released = run_cli(&stack, CUSTOMER, &["release", &lease_id]).await;
    assert!(released.status.success(), "{released:?}");
    assert_eq!(users_in_use(&stack, &license).await, "0");
    assert!(leases_of(&stack, CUSTOMER).await.is_empty());

    // A token the API refuses is exit status 77, without running anything.
    let unauthorized = Command::new(bootstrap("license-client"))
        .env("LICENSE_API_URL", api_url(&stack))
        .args(["--token", "not-a-jwt", "leases"])
        .output()
        .await
        .unwrap();
    assert_eq!(unauthorized.status.code(), Some(77), "{unauthorized:?}");
    assert!(!String::from_utf8_lossy(&unauthorized.stderr).contains("not-a-jwt"));
    stack.stop().await;
}

/// What the fault proxy does to the n-th `POST /v1/extend`.
#[derive(Clone)]
struct Faults {
    upstream: String,
    extends: Arc<AtomicUsize>,
}

/// Forwards to the HTTP API, except: the first extension is answered 429 with
/// `Retry-After: 1`; the second is forwarded and its answer withheld (lost).
async fn fault_proxy(State(faults): State<Faults>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let extend = parts.uri.path() == "/v1/extend";
    let n = if extend {
        faults.extends.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        0
    };
    if n == 1 {
        return Response::builder()
            .status(429)
            .header("retry-after", "1")
            .header("content-type", "application/problem+json")
            .body(Body::from(
                r#"{"type":"about:blank","title":"Too Many Requests","status":429,"detail":"injected","code":"rate-limited"}"#,
            ))
            .unwrap();
    }
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(name, _)| *name != "host")
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let reply = local_stack::control::send(
        parts.method.as_str(),
        &format!("{}{}", faults.upstream, parts.uri.path()),
        &headers,
        (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned()),
    )
    .await
    .unwrap();
    if n == 2 {
        // The extension happened; its answer never arrives.
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    let mut response = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    response.body(Body::from(reply.body)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keep_alive_survives_a_429_and_a_lost_answer_and_reports_a_freed_lease_at_once() {
    let (stack, license) = stack_with_license(3).await;
    let faults = Faults {
        upstream: api_url(&stack).trim_end_matches('/').to_owned(),
        extends: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .fallback(fault_proxy)
        .with_state(faults.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = Client::new(&proxy_url, &token(&stack, CUSTOMER))
        .unwrap()
        .with_retry(RetryPolicy {
            attempt_timeout: Duration::from_secs(2),
            ..RetryPolicy::default()
        });

    let request = license_client::CheckoutRequest::provisional(
        PRODUCT_SKU,
        vec![license_client::Entitlement::count("Users", 1)],
        "keep-alive-node",
    );
    let mut checkout = client.checkout(&request).await.unwrap();
    let real_expiration = checkout.expiration.clone().unwrap();
    // Told it expires in 4 s, the keep-alive extends within about 2 s.
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(4);
    checkout.expiration = Some(
        soon.format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
    );
    let lease = Lease::keep(client.clone(), checkout);
    eventually(
        "the lease to be extended through the faults",
        async || matches!(lease.state(), LeaseState::Held(at) if at >= real_expiration),
    )
    .await;
    assert_eq!(
        faults.extends.load(Ordering::SeqCst),
        3,
        "429, lost, then answered"
    );
    assert_eq!(users_in_use(&stack, &license).await, "1");

    // Freed by another node: the next extension reports it lost at once.
    let mut checkout = lease.checkout().clone();
    let lease_id = license_client::lease_id(&checkout.license_consumption_token);
    client.release(&lease_id).await.unwrap();
    assert_eq!(users_in_use(&stack, &license).await, "0");
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    checkout.expiration = Some(
        soon.format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
    );
    let mut watcher = Lease::keep(client.clone(), checkout);
    let lost = tokio::time::timeout(Duration::from_secs(10), watcher.lost())
        .await
        .expect("the loss is reported");
    assert!(matches!(lost, LeaseLost::Gone(_)), "{lost:?}");
    drop((lease, watcher));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_accepts_a_borrowed_token_and_refuses_a_tampered_or_expired_one() {
    let (stack, license) = stack_with_license(3).await;
    let borrowed = run_cli(
        &stack,
        CUSTOMER,
        &[
            "borrow",
            "--license-arn",
            &license,
            "--entitlement",
            "Users=1",
            "--node-id",
            "laptop-7",
        ],
    )
    .await;
    assert!(borrowed.status.success(), "{borrowed:?}");
    let borrowed: Value = serde_json::from_slice(&borrowed.stdout).unwrap();
    let signed = borrowed["signedToken"].as_str().unwrap().to_owned();

    let verified = run_cli(&stack, CUSTOMER, &["verify", &signed]).await;
    assert!(verified.status.success(), "{verified:?}");
    let claims: Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(claims["licenseArn"], license.as_str());
    assert_eq!(claims["nodeId"], "laptop-7");

    // One changed character of the claims breaks the signature.
    let mut parts: Vec<String> = signed.split('.').map(str::to_owned).collect();
    let flipped = if parts[1].ends_with('A') { 'B' } else { 'A' };
    parts[1].pop();
    parts[1].push(flipped);
    let tampered = run_cli(&stack, CUSTOMER, &["verify", &parts.join(".")]).await;
    assert_eq!(tampered.status.code(), Some(65), "{tampered:?}");
    // Another customer's licenses do not include this one.
    let other = run_cli(&stack, OTHER_CUSTOMER, &["verify", &signed]).await;
    assert_eq!(other.status.code(), Some(65), "{other:?}");

    // Expired: checked as of two days on (the borrow lasts a day), beyond the skew.
    let client = Client::new(&api_url(&stack), &token(&stack, CUSTOMER)).unwrap();
    let verifier = Verifier::fetch(&client).await.unwrap();
    assert!(verifier.verify(&signed).is_ok());
    let later = time::OffsetDateTime::now_utc() + time::Duration::days(2);
    let expired = verifier.verify_at(&signed, later).unwrap_err();
    assert!(expired.to_string().contains("expired"), "{expired}");
    stack.stop().await;
}
