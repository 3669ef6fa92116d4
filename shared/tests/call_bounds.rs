//! Every SDK call is bounded in time, and License Manager calls are retried by one layer only:
//! through the real SDK clients against a local server that counts the requests it gets and
//! answers each with a chosen error, or never.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_types::os_shim_internal::Env;
use license_automation::aws::{CallBounds, sdk_config_loader, sdk_config_loader_with};
use license_automation::calls::{FailureKind, LicenseManagerBase, LicenseManagerError};
use license_automation::deadline::Deadline;
use license_automation::retry::RetryPolicy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How the server answers.
#[derive(Clone, Copy)]
enum Answer {
    /// This status and License Manager error code.
    Error(u16, &'static str),
    /// Nothing, ever.
    Hang,
}

/// A server answering every request as `answer`; its URL and the count of requests.
async fn server(answer: Answer) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut buffer = vec![0; 64 * 1024];
                let mut read = 0;
                while !String::from_utf8_lossy(&buffer[..read]).contains("\r\n\r\n") {
                    match socket.read(&mut buffer[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(more) => read += more,
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                match answer {
                    Answer::Hang => {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        drop(socket);
                    }
                    Answer::Error(status, code) => {
                        let body = format!(r#"{{"__type":"{code}","message":"no"}}"#);
                        let response = format!(
                            "HTTP/1.1 {status} Error\r\ncontent-type: application/x-amz-json-1.1\r\n\
                             connection: close\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = socket.write_all(response.as_bytes()).await;
                    }
                }
            });
        }
    });
    (url, requests)
}

fn env(url: &str) -> Env {
    Env::from_slice(&[
        ("AWS_ENDPOINT_URL", url),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "111122223333"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
    ])
}

/// The License Manager adapter frame of the sweeping functions, as their `main` builds it,
/// retrying three times without waiting long.
async fn license_manager(url: &str) -> LicenseManagerBase {
    let config = sdk_config_loader().env(env(url)).load().await;
    LicenseManagerBase::new(aws_sdk_licensemanager::Client::new(&config), 4).with_retry(
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
        },
    )
}

async fn list(lm: &LicenseManagerBase) -> Result<(), LicenseManagerError> {
    lm.call("ListLicenses", "", |client| client.list_licenses().send())
        .await
        .map(|_| ())
}

#[tokio::test]
async fn rate_limit_exceeded_is_retried_as_throttling_by_the_gate_alone() {
    let (url, requests) = server(Answer::Error(400, "RateLimitExceededException")).await;
    let error = list(&license_manager(&url).await).await.unwrap_err();
    assert_eq!(error.kind, FailureKind::Transient, "{error}");
    assert!(error.is("RateLimitExceededException"), "{error}");
    assert_eq!(error.attempts, 3);
    assert_eq!(requests.load(Ordering::SeqCst), 3, "three attempts in all");
}

#[tokio::test]
async fn server_errors_are_sent_max_attempts_times_not_that_times_the_sdk_s() {
    let (url, requests) = server(Answer::Error(500, "ServerInternalException")).await;
    let error = list(&license_manager(&url).await).await.unwrap_err();
    assert_eq!(error.kind, FailureKind::Transient, "{error}");
    // The SDK alone would have tried each of the gate's attempts three times (nine).
    assert_eq!(requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_permanent_error_is_sent_once() {
    let (url, requests) = server(Answer::Error(400, "AccessDeniedException")).await;
    let error = list(&license_manager(&url).await).await.unwrap_err();
    assert!(error.needs_attention(), "{error}");
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_hung_call_of_any_client_ends_at_its_operation_timeout() {
    let (url, requests) = server(Answer::Hang).await;
    let bounds = CallBounds {
        attempt: Duration::from_millis(200),
        // Room for a second attempt: the SDK's first backoff is up to 1 s (jittered).
        operation: Duration::from_millis(1_500),
        max_attempts: 3,
    };
    let config = sdk_config_loader_with(bounds).env(env(&url)).load().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let started = Instant::now();
    let error = dynamodb
        .get_item()
        .table_name("state")
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("alert#x".into()),
        )
        .send()
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(error, aws_sdk_dynamodb::error::SdkError::TimeoutError(_)),
        "{error:?}"
    );
    assert!(took < Duration::from_millis(2_500), "took {took:?}");
    assert!(
        requests.load(Ordering::SeqCst) >= 2,
        "attempts were retried"
    );
}

#[tokio::test]
async fn the_gate_stops_at_the_invocation_s_deadline() {
    let (url, requests) = server(Answer::Hang).await;
    // Attempts of 5 s, six of them: without the deadline this call would take half a minute.
    let lm = license_manager(&url).await.with_retry(RetryPolicy {
        max_attempts: 6,
        ..RetryPolicy::default()
    });
    let started = Instant::now();
    let error = Deadline::after(Duration::from_millis(400))
        .scope(list(&lm))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(900), "took {took:?}");
    assert_eq!(error.kind, FailureKind::Transient, "{error}");
    assert!(error.message.contains("time budget"), "{error}");
    assert_eq!(requests.load(Ordering::SeqCst), 1);

    // Past the deadline, nothing is sent at all.
    let error = Deadline::after(Duration::ZERO)
        .scope(list(&lm))
        .await
        .unwrap_err();
    assert_eq!(error.attempts, 0, "{error}");
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}
