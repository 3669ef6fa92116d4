//! SDK clients of the demo's two accounts, pointed at the local stack.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_licensemanager::config::{Credentials, Region};
use aws_sdk_licensemanager::error::{DisplayErrorContext, ProvideErrorMetadata};

/// The region of everything in the local stack.
pub const REGION: &str = "us-east-1";
/// The ISV that issues and grants licenses ("Acme").
pub const ISV_ACCOUNT: &str = "111122223333";
/// The customer that receives grants and owns the functions' resources (emulator default).
pub const CUSTOMER_ACCOUNT: &str = "123456789012";
/// Secret key of the local credentials (signatures are not verified locally).
pub const LOCAL_SECRET_KEY: &str = "local-stack-secret";

/// The clients one account uses. The access key id is the account id, which is how the
/// emulator (and moto) tell accounts apart.
#[derive(Clone, Debug)]
pub struct Account {
    /// 12-digit account id.
    pub id: &'static str,
    /// License Manager (license-manager-local).
    pub license_manager: aws_sdk_licensemanager::Client,
}

impl Account {
    /// License Manager at `license_manager_url` as account `id`.
    pub async fn connect(id: &'static str, license_manager_url: &str) -> Self {
        Self {
            id,
            license_manager: aws_sdk_licensemanager::Client::from_conf(
                aws_sdk_licensemanager::config::Builder::from(&sdk_config(id).await)
                    .endpoint_url(license_manager_url)
                    .build(),
            ),
        }
    }
}

/// Every client the demo needs.
#[derive(Clone, Debug)]
pub struct Clients {
    /// The ISV's account.
    pub isv: Account,
    /// The customer's account.
    pub customer: Account,
    /// EventBridge of the customer's account (moto).
    pub events: aws_sdk_eventbridge::Client,
    /// DynamoDB of the customer's account (moto).
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SQS of the customer's account (moto).
    pub sqs: aws_sdk_sqs::Client,
    /// SNS of the customer's account (moto).
    pub sns: aws_sdk_sns::Client,
}

impl Clients {
    /// Builds the clients. Endpoints are set on each client so that a developer's own
    /// `AWS_ENDPOINT_URL_*` variables cannot send the demo elsewhere.
    pub async fn connect(moto_url: &str, license_manager_url: &str) -> Self {
        let isv = sdk_config(ISV_ACCOUNT).await;
        let customer = sdk_config(CUSTOMER_ACCOUNT).await;
        let license_manager = |config: &SdkConfig| {
            aws_sdk_licensemanager::Client::from_conf(
                aws_sdk_licensemanager::config::Builder::from(config)
                    .endpoint_url(license_manager_url)
                    .build(),
            )
        };
        Self {
            isv: Account {
                id: ISV_ACCOUNT,
                license_manager: license_manager(&isv),
            },
            customer: Account {
                id: CUSTOMER_ACCOUNT,
                license_manager: license_manager(&customer),
            },
            events: aws_sdk_eventbridge::Client::from_conf(
                aws_sdk_eventbridge::config::Builder::from(&customer)
                    .endpoint_url(moto_url)
                    .build(),
            ),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&customer)
                    .endpoint_url(moto_url)
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(&customer)
                    .endpoint_url(moto_url)
                    .build(),
            ),
            sns: aws_sdk_sns::Client::from_conf(
                aws_sdk_sns::config::Builder::from(&customer)
                    .endpoint_url(moto_url)
                    .build(),
            ),
        }
    }
}

/// Shared SDK configuration of one account: fixed region and static local credentials whose
/// access key id is the account id. Endpoints are set per client.
pub async fn sdk_config(account: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            account,
            LOCAL_SECRET_KEY,
            None,
            None,
            "local-stack",
        ))
        .load()
        .await
}

/// Turns an SDK error into one line: the service's error code and message when it answered
/// (`NoEntitlementsAllowedException: ...`), else the full cause chain (connection refused, ...).
pub fn sdk_error<E: ProvideErrorMetadata + std::error::Error>(err: E) -> anyhow::Error {
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => anyhow::anyhow!("{code}: {message}"),
        (Some(code), None) => anyhow::anyhow!("{code}"),
        _ => anyhow::anyhow!("{}", DisplayErrorContext(err)),
    }
}
