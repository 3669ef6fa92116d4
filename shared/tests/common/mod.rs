//! What the adapter tests share: moto's server from the local stack, and SDK clients of the
//! local customer account pointed at it.
#![allow(dead_code, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};

use local_test_kit::clients::{CUSTOMER_ACCOUNT, sdk_config};
use local_test_kit::moto::{MotoServer, default_moto_server};

/// Starts a fresh moto server (killed when dropped). Fails, never skips, when moto is missing.
pub async fn moto() -> MotoServer {
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    let log = std::env::temp_dir().join(format!(
        "license-automation-moto-{}-{}.log",
        std::process::id(),
        STARTED.fetch_add(1, Ordering::Relaxed)
    ));
    MotoServer::start(&default_moto_server(), &log)
        .await
        .expect("moto's server must start (`scripts/venv.sh dev` installs it)")
}

/// An EventBridge client on `moto`.
pub async fn eventbridge(moto: &MotoServer) -> aws_sdk_eventbridge::Client {
    let config = sdk_config(CUSTOMER_ACCOUNT).await;
    aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(&config)
            .endpoint_url(moto.url())
            .build(),
    )
}

/// An SQS client on `moto`.
pub async fn sqs(moto: &MotoServer) -> aws_sdk_sqs::Client {
    let config = sdk_config(CUSTOMER_ACCOUNT).await;
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&config)
            .endpoint_url(moto.url())
            .build(),
    )
}

/// A DynamoDB client on `moto`.
pub async fn dynamodb(moto: &MotoServer) -> aws_sdk_dynamodb::Client {
    let config = sdk_config(CUSTOMER_ACCOUNT).await;
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .endpoint_url(moto.url())
            .build(),
    )
}
