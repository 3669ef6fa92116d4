//! The world checkout-proxy's tests run in: license-manager-local in-process (the stack's
//! account issues licenses to its customers), moto's server for the state table, and the
//! real handler fed the payload 2.0 fixtures of `events/checkout-proxy/`.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use checkout_proxy::{CheckoutProxy, Config, LicenseManager};
use license_automation::retry::RetryPolicy;
pub use local_test_kit::checkout::checkout_body;
use local_test_kit::checkout::issue_customer_license;
use local_test_kit::clients::Account;
pub use local_test_kit::resources::STATE_TABLE as TABLE;
pub use local_test_kit::world::World;
use serde_json::Value;

/// The account the stack (and the proxy) runs in: it issues the licenses.
pub const ISSUER_ACCOUNT: &str = local_test_kit::clients::CUSTOMER_ACCOUNT;
/// The product.
pub use local_test_kit::checkout::PRODUCT_SKU as SKU;
/// Two customers of the ISV (JWT `sub` claims).
pub const ALICE: &str = "customer-a";
pub const BOB: &str = "customer-b";

/// `KEY_FINGERPRINT` of the issuer's licenses.
pub use local_test_kit::checkout::local_key_fingerprint as fingerprint;

/// A fixture of `events/checkout-proxy/`, read next to this crate (not through the test kit,
/// whose compiled path may be another checkout's when target directories are shared).
pub fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/checkout-proxy")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("{} is not JSON: {err}", path.display()))
}

/// The fixture `name` as sent by `customer` (its `sub` claim), with `body` when given.
pub fn event(name: &str, customer: &str, body: Option<Value>) -> Value {
    let mut event = fixture(name);
    if event["requestContext"]["authorizer"]["jwt"]["claims"]
        .get("sub")
        .is_some()
    {
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = Value::from(customer);
    }
    if let Some(body) = body {
        event["body"] = Value::from(body.to_string());
    }
    event
}

/// An answer: status, headers (lower-case names) and the JSON body, if any.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Option<Value>,
}

impl Answer {
    /// The problem's `code`.
    pub fn code(&self) -> &str {
        self.body
            .as_ref()
            .and_then(|b| b["code"].as_str())
            .unwrap_or_default()
    }

    /// The body member `name` as a string.
    pub fn text(&self, name: &str) -> String {
        self.body.as_ref().unwrap()[name]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Asserts a problem+json answer with `status` and `code`.
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.code()), (status, code), "{self:?}");
        assert!(
            checkout_proxy::checkout::PROBLEM_CODES.contains(&code),
            "{code} is not a documented problem code"
        );
        assert_eq!(
            self.headers["content-type"], "application/problem+json",
            "{self:?}"
        );
        let body = self.body.as_ref().unwrap();
        assert_eq!(body["status"], status);
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
}

/// Invokes the handler with a payload 2.0 event, as Lambda does through lambda_http.
pub async fn call(proxy: &CheckoutProxy, event: &Value) -> Answer {
    let request = lambda_http::request::from_str(&event.to_string()).expect("a payload 2.0 event");
    answer(proxy.handle(request).await)
}

/// Invokes the handler as [`call`] does, in an invocation whose deadline is `timeout` away
/// (Lambda's `context.deadline`).
pub async fn call_within(
    proxy: &CheckoutProxy,
    event: &Value,
    timeout: std::time::Duration,
) -> Answer {
    use lambda_http::RequestExt as _;
    let request = lambda_http::request::from_str(&event.to_string()).expect("a payload 2.0 event");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let mut context = lambda_http::Context::default();
    context.deadline = u64::try_from((now + timeout).as_millis()).unwrap();
    answer(proxy.handle(request.with_lambda_context(context)).await)
}

fn answer(response: lambda_http::Response<lambda_http::Body>) -> Answer {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap().to_owned()))
        .collect();
    let bytes: &[u8] = response.body().as_ref();
    let body = (!bytes.is_empty()).then(|| serde_json::from_slice(bytes).unwrap());
    Answer {
        status,
        headers,
        body,
    }
}

/// The handler in a test [`World`].
pub trait ProxyWorld {
    /// The handler, configured as the template configures it.
    async fn proxy(&self) -> CheckoutProxy {
        self.proxy_with(TABLE, None).await
    }

    /// The handler on `table`, with `retry` instead of its own retry policy.
    async fn proxy_with(&self, table: &str, retry: Option<RetryPolicy>) -> CheckoutProxy;

    /// The handler with `env` added to its environment, calling DynamoDB at `dynamodb_url`
    /// and License Manager at `license_manager_url` (e.g. through a fault proxy).
    async fn proxy_at(
        &self,
        env: &[(&str, &str)],
        dynamodb_url: &str,
        license_manager_url: &str,
    ) -> CheckoutProxy;
}

impl ProxyWorld for World {
    async fn proxy_at(
        &self,
        env: &[(&str, &str)],
        dynamodb_url: &str,
        license_manager_url: &str,
    ) -> CheckoutProxy {
        proxy_at(self, env, dynamodb_url, license_manager_url).await
    }

    async fn proxy_with(&self, table: &str, retry: Option<RetryPolicy>) -> CheckoutProxy {
        let env = self.function_env(&[("KEY_FINGERPRINT", &fingerprint()), ("STATE_TABLE", table)]);
        let config = Config::from_env(&env).expect("valid configuration");
        let mut license_manager =
            LicenseManager::new(self.lm(ISSUER_ACCOUNT).await, config.max_concurrency);
        if let Some(retry) = retry {
            license_manager = license_manager.with_retry(retry);
        }
        CheckoutProxy::new(
            &config,
            license_manager,
            self.dynamodb.clone(),
            kms_client(self, ISSUER_ACCOUNT).await,
        )
    }
}

/// The SDK config of the issuing account as checkout-proxy's `main` bounds it.
async fn bounded_config() -> aws_config::SdkConfig {
    let config = local_test_kit::clients::sdk_config(ISSUER_ACCOUNT).await;
    let bounds = license_automation::aws::INTERACTIVE_CALLS;
    config
        .into_builder()
        .timeout_config(bounds.timeout_config())
        .retry_config(bounds.retry_config())
        .build()
}

/// See [`ProxyWorld::proxy_at`].
async fn proxy_at(
    world: &World,
    env: &[(&str, &str)],
    dynamodb_url: &str,
    license_manager_url: &str,
) -> CheckoutProxy {
    let fingerprint = fingerprint();
    let mut all = vec![
        ("KEY_FINGERPRINT", fingerprint.as_str()),
        ("STATE_TABLE", TABLE),
    ];
    all.extend_from_slice(env);
    let config = Config::from_env(&world.function_env(&all)).expect("valid configuration");
    let sdk = bounded_config().await;
    let lm = aws_sdk_licensemanager::Client::from_conf(
        aws_sdk_licensemanager::config::Builder::from(&sdk)
            .endpoint_url(license_manager_url)
            .build(),
    );
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(dynamodb_url)
            .build(),
    );
    CheckoutProxy::new(
        &config,
        LicenseManager::new(lm, config.max_concurrency),
        dynamodb,
        kms_client(world, ISSUER_ACCOUNT).await,
    )
}

/// A KMS client of `account` on the emulator (which implements KMS on the same port).
pub async fn kms_client(world: &World, account: &str) -> aws_sdk_kms::Client {
    let config = local_test_kit::clients::sdk_config(account).await;
    aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(&config)
            .endpoint_url(&world.emulator_url)
            .build(),
    )
}

/// Issues `customer` a license with `seats` Users (and 100 Exports; PROVISIONAL for an
/// hour, borrowing allowed) from the issuing account, as the demo does; its ARN.
pub async fn issue_license(
    lm: &aws_sdk_licensemanager::Client,
    customer: &str,
    seats: i64,
) -> String {
    let issuer = Account {
        id: ISSUER_ACCOUNT,
        license_manager: lm.clone(),
    };
    issue_customer_license(&issuer, customer, seats)
        .await
        .expect("create license")
}

/// Issues `customer` a license like [`issue_license`] whose tokens are signed by a KMS key
/// of the issuing account (its `Issuer.SignKey`); the license ARN and the key id.
pub async fn issue_signed_license(world: &World, customer: &str, seats: i64) -> (String, String) {
    let key_id = local_test_kit::checkout::contoso_sign_key(ISSUER_ACCOUNT, &world.emulator_url)
        .await
        .expect("sign key");
    let issuer = Account {
        id: ISSUER_ACCOUNT,
        license_manager: world.lm(ISSUER_ACCOUNT).await,
    };
    let arn = local_test_kit::checkout::issue_signed_customer_license(
        &issuer,
        customer,
        seats,
        Some(key_id.as_str()),
    )
    .await
    .expect("create license");
    (arn, key_id)
}

/// `DELETE /v1/leases/{leaseId}` (the `release.json` fixture) as `customer`.
pub fn release_event(customer: &str, lease_id: &str) -> Value {
    let mut event = event("release.json", customer, None);
    let path = format!("/v1/leases/{lease_id}");
    event["rawPath"] = Value::from(path.clone());
    event["requestContext"]["http"]["path"] = Value::from(path);
    event["pathParameters"]["leaseId"] = Value::from(lease_id);
    event
}

/// Units of `entitlement` of `license` in use now.
pub async fn consumed(
    lm: &aws_sdk_licensemanager::Client,
    license: &str,
    entitlement: &str,
) -> String {
    let usage = local_test_kit::licenses::consumed(lm, license, entitlement)
        .await
        .unwrap();
    usage.split(' ').next().unwrap_or_default().to_owned()
}

/// The checkout fixture as `customer` with `body` and an `Idempotency-Key` (or none).
pub fn checkout_event(customer: &str, body: Value, key: Option<&str>) -> Value {
    let mut event = event("checkout.json", customer, Some(body));
    match key {
        Some(key) => event["headers"]["idempotency-key"] = Value::from(key),
        None => {
            event["headers"]
                .as_object_mut()
                .unwrap()
                .remove("idempotency-key");
        }
    }
    event
}

/// A token request (`extend.json` / `checkin.json`) as `customer` for `token`.
pub fn token_event(name: &str, customer: &str, token: &str) -> Value {
    event(
        name,
        customer,
        Some(serde_json::json!({"licenseConsumptionToken": token})),
    )
}

/// The usage fixture as `customer` for `license_id` (an id or an ARN).
pub fn usage_event(customer: &str, license_id: &str) -> Value {
    let mut event = event("usage.json", customer, None);
    let encoded: String = license_id.replace(':', "%3A");
    let path = format!("/v1/licenses/{encoded}/usage");
    event["rawPath"] = Value::from(path.clone());
    event["requestContext"]["http"]["path"] = Value::from(path);
    event["pathParameters"]["licenseId"] = Value::from(license_id);
    event
}
