//! The SDK configuration honours AWS_ENDPOINT_URL_<SERVICE> and AWS_ENDPOINT_URL: a client
//! built from it reaches a local server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_types::os_shim_internal::Env;
use license_automation::aws::sdk_config_loader;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Answers one HTTP request with `body` and hands back the request's head.
async fn one_shot_server(body: &'static str) -> (String, oneshot::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (sender, receiver) = oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buffer = vec![0; 64 * 1024];
        let mut read = 0;
        while !String::from_utf8_lossy(&buffer[..read]).contains("\r\n\r\n") {
            let more =
                tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buffer[read..]))
                    .await
                    .expect("the client sent its request within 10 s")
                    .unwrap();
            assert!(
                more > 0,
                "the client closed the connection before its request ended"
            );
            read += more;
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(response.as_bytes()).await.unwrap();
        let _ = sender.send(String::from_utf8_lossy(&buffer[..read]).into_owned());
    });
    (url, receiver)
}

fn env(endpoint_variable: &str, url: &str) -> Env {
    Env::from_slice(&[
        (endpoint_variable, url),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "111122223333"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
    ])
}

#[tokio::test]
async fn license_manager_client_follows_its_service_endpoint_variable() {
    let (url, request) = one_shot_server(r#"{"Licenses":[]}"#).await;
    let config = sdk_config_loader()
        .env(env("AWS_ENDPOINT_URL_LICENSE_MANAGER", &url))
        .load()
        .await;
    let client = aws_sdk_licensemanager::Client::new(&config);

    let output = client.list_licenses().send().await.unwrap();

    assert!(output.licenses().is_empty());
    let head = request.await.unwrap().to_ascii_lowercase();
    assert!(head.starts_with("post / http/1.1"), "{head}");
    assert!(
        head.contains("x-amz-target: awslicensemanager.listlicenses"),
        "{head}"
    );
    assert!(head.contains("credential=111122223333/"), "{head}");
}

#[tokio::test]
async fn every_client_follows_the_global_endpoint_variable() {
    let (url, request) = one_shot_server(r#"{"Entries":[],"FailedEntryCount":0}"#).await;
    let config = sdk_config_loader()
        .env(env("AWS_ENDPOINT_URL", &url))
        .load()
        .await;
    let client = aws_sdk_eventbridge::Client::new(&config);

    client.put_events().send().await.unwrap();

    let head = request.await.unwrap().to_ascii_lowercase();
    assert!(head.contains("x-amz-target: awsevents.putevents"), "{head}");
}
