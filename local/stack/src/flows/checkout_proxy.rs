//! The checkout API (checkout-proxy): the stack's account, as ISV Contoso, issues its
//! customer `customer-a` a license; the customer's app, holding a token from the local
//! issuer, checks out over HTTPS, restarts and gets the same lease back, extends it, reads
//! its usage and checks in; `customer-b`, with a valid token of its own, is refused the
//! first customer's license and checkout.

use anyhow::{Context as _, Result, ensure};
use aws_sdk_licensemanager::types::{
    BorrowConfiguration, ConsumptionConfiguration, Entitlement, EntitlementUnit, Issuer,
    ProvisionalConfiguration,
};
use serde_json::{Value, json};

use super::licenses::{client_token, consumed, validity_from_now};
use super::{Context, Flow, FlowFuture};
use crate::app::{App, LOCAL_AUDIENCE};
use crate::clients::{Account, CUSTOMER_ACCOUNT, REGION, sdk_error};
use crate::control::{Reply, send};
use crate::issuer::TokenRequest;
use crate::report::{Recorder, done};

/// The issuer name of the licenses the stack's account sells through the checkout API.
pub const ISSUER_NAME: &str = "Contoso";
/// Their product.
pub const PRODUCT_SKU: &str = "contoso-notes-pro";
/// The customer (the `sub` of its token, the Beneficiary of its license).
pub const CUSTOMER: &str = "customer-a";
/// Another customer of the same ISV.
pub const OTHER_CUSTOMER: &str = "customer-b";
/// Seats in the customer's license.
pub const SEATS: i64 = 3;

/// `KEY_FINGERPRINT` locally: licenses the stack's account issues as Contoso.
pub fn key_fingerprint() -> String {
    super::licenses::key_fingerprint(CUSTOMER_ACCOUNT, ISSUER_NAME)
}

/// The checkout flow.
pub const FLOW: Flow = Flow {
    title: "checkout-proxy: a customer without an AWS account checks out over HTTPS",
    run: boxed,
};

fn boxed<'a>(context: &'a mut Context, recorder: &'a mut Recorder) -> FlowFuture<'a> {
    Box::pin(run(context, recorder))
}

/// The alias of the KMS key that signs Contoso's tokens (its licenses' `Issuer.SignKey`).
pub const SIGN_KEY_ALIAS: &str = "alias/contoso-license-signing";

/// The key id of [`SIGN_KEY_ALIAS`] in `account_id` on the emulator at `url` (which serves
/// KMS on License Manager's port), created (RSA 3072, SIGN_VERIFY) on first use.
pub async fn contoso_sign_key(account_id: &str, url: &str) -> Result<String> {
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(&crate::clients::sdk_config(account_id).await)
            .endpoint_url(url)
            .build(),
    );
    if let Ok(found) = kms.describe_key().key_id(SIGN_KEY_ALIAS).send().await
        && let Some(key) = found.key_metadata()
    {
        return Ok(key.key_id().to_owned());
    }
    let created = kms
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::Rsa3072)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .description("Signs Contoso's license tokens (Issuer.SignKey)")
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "KMS CreateKey: {}",
                aws_sdk_kms::error::DisplayErrorContext(e)
            )
        })?;
    let key_id = created
        .key_metadata()
        .context("CreateKey answered no KeyMetadata")?
        .key_id()
        .to_owned();
    kms.create_alias()
        .alias_name(SIGN_KEY_ALIAS)
        .target_key_id(&key_id)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "KMS CreateAlias: {}",
                aws_sdk_kms::error::DisplayErrorContext(e)
            )
        })?;
    Ok(key_id)
}

/// Issues `customer` a license for [`PRODUCT_SKU`] from the stack's account as
/// [`ISSUER_NAME`]: `seats` Users (check-in allowed) and 100 Exports; PROVISIONAL checkouts
/// for an hour, borrowing for a day with early check-in. Its ARN.
pub async fn issue_customer_license(
    account: &Account,
    customer: &str,
    seats: i64,
) -> Result<String> {
    issue_signed_customer_license(account, customer, seats, None).await
}

/// Like [`issue_customer_license`], with `sign_key` (a KMS key) as the `Issuer.SignKey`
/// that signs its tokens (`GET /v1/keys` publishes it).
pub async fn issue_signed_customer_license(
    account: &Account,
    customer: &str,
    seats: i64,
    sign_key: Option<&str>,
) -> Result<String> {
    let out = account
        .license_manager
        .create_license()
        .license_name(format!("Contoso Notes Pro for {customer}"))
        .product_name("Contoso Notes Pro")
        .product_sku(PRODUCT_SKU)
        .issuer(
            Issuer::builder()
                .name(ISSUER_NAME)
                .set_sign_key(sign_key.map(str::to_owned))
                .build()?,
        )
        .home_region(REGION)
        .validity(validity_from_now(Some(365))?)
        .entitlements(
            Entitlement::builder()
                .name("Users")
                .unit(EntitlementUnit::Count)
                .max_count(seats)
                .allow_check_in(true)
                .build()?,
        )
        .entitlements(
            Entitlement::builder()
                .name("Exports")
                .unit(EntitlementUnit::Count)
                .max_count(100)
                .build()?,
        )
        .beneficiary(customer)
        .consumption_configuration(
            ConsumptionConfiguration::builder()
                .provisional_configuration(
                    ProvisionalConfiguration::builder()
                        .max_time_to_live_in_minutes(60)
                        .build()?,
                )
                .borrow_configuration(
                    BorrowConfiguration::builder()
                        .max_time_to_live_in_minutes(24 * 60)
                        .allow_early_check_in(true)
                        .build()?,
                )
                .build(),
        )
        .client_token(client_token())
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(out.license_arn().context("no LicenseArn")?.to_owned())
}

/// The checkout API of a running app, as one customer calls it.
pub struct ApiCaller {
    url: String,
    bearer: String,
}

impl ApiCaller {
    /// `customer`'s caller, with a token minted by the app's local issuer.
    pub fn new(app: &App, customer: &str) -> Result<Self> {
        let url = app
            .stack_file
            .api_url
            .clone()
            .context("the template has no HTTP API")?;
        let token = app
            .issuer
            .mint(TokenRequest::new(customer, LOCAL_AUDIENCE))?;
        Ok(Self {
            url,
            bearer: format!("Bearer {token}"),
        })
    }

    /// `method path` with an optional JSON body and `Idempotency-Key`.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Reply> {
        let mut headers = vec![
            ("authorization", self.bearer.as_str()),
            ("content-type", "application/json"),
        ];
        if let Some(key) = idempotency_key {
            headers.push(("idempotency-key", key));
        }
        send(
            method,
            &format!("{}{path}", self.url.trim_end_matches('/')),
            &headers,
            body.map(|body| body.to_string()),
        )
        .await
    }
}

impl ApiCaller {
    /// `POST /v1/checkout` of one seat on `node`, with `idempotency_key` when given.
    pub async fn checkout(&self, node: &str, idempotency_key: Option<&str>) -> Result<Reply> {
        self.call(
            "POST",
            "/v1/checkout",
            Some(checkout_body(1, Some(node))),
            idempotency_key,
        )
        .await
    }

    /// `POST path` (`/v1/extend`, `/v1/checkin`) of `token`.
    pub async fn with_token(&self, path: &str, token: &str) -> Result<Reply> {
        self.call(
            "POST",
            path,
            Some(json!({"licenseConsumptionToken": token})),
            None,
        )
        .await
    }
}

/// A PROVISIONAL checkout of `seats` Users, on `node` when given.
pub fn checkout_body(seats: u32, node: Option<&str>) -> Value {
    let mut body = json!({
        "productSku": PRODUCT_SKU,
        "checkoutType": "PROVISIONAL",
        "entitlements": [{"name": "Users", "unit": "Count", "value": seats.to_string()}],
    });
    if let Some(node) = node {
        body["nodeId"] = json!(node);
    }
    body
}

/// Fails with the reply unless it has `status`.
pub fn expect_status(reply: &Reply, status: u16) -> Result<()> {
    ensure!(
        reply.status == status,
        "expected {status}, got {}: {}",
        reply.status,
        reply.body
    );
    Ok(())
}

async fn run(context: &mut Context, recorder: &mut Recorder) -> Result<()> {
    let app = context.app.as_ref().context("the host flow did not run")?;
    let settings = context.settings.as_ref().context("no settings")?;
    let issuer = &context.clients.customer;
    let alice = ApiCaller::new(app, CUSTOMER)?;
    let bob = ApiCaller::new(app, OTHER_CUSTOMER)?;
    let license = recorder
        .step(
            &format!("the stack's account (ISV {ISSUER_NAME}) issues {CUSTOMER} a license"),
            async {
                let sign_key = contoso_sign_key(issuer.id, &settings.license_manager_url).await?;
                let arn =
                    issue_signed_customer_license(issuer, CUSTOMER, SEATS, Some(sign_key.as_str()))
                        .await?;
                let details = format!(
                    "{arn}\nbeneficiary {CUSTOMER}, {SEATS} Users seats, tokens signed by KMS key {sign_key}"
                );
                done(arn, details)
            },
        )
        .await?;
    let license_id = license.rsplit(':').next().unwrap_or_default().to_owned();
    let token = recorder
        .step(
            &format!("{CUSTOMER}'s app checks out a seat over HTTPS (POST /v1/checkout)"),
            async {
                let reply = alice.checkout("laptop-1", Some("demo-checkout-1")).await?;
                expect_status(&reply, 200)?;
                let body = reply.json();
                let token = body["licenseConsumptionToken"]
                    .as_str()
                    .context("no licenseConsumptionToken")?
                    .to_owned();
                let details = format!("token {token}\nexpires {}", body["expiration"]);
                done(token, details)
            },
        )
        .await?;
    recorder
        .step(
            "the app restarts and checks out again: the same lease, extended",
            async {
                let reply = alice.checkout("laptop-1", None).await?;
                expect_status(&reply, 200)?;
                let body = reply.json();
                ensure!(
                    body["licenseConsumptionToken"] == token.as_str(),
                    "a new lease: {body}"
                );
                ensure!(body["reused"] == true, "not reused: {body}");
                let used = consumed(&issuer.license_manager, &license, "Users").await?;
                ensure!(used.starts_with("1 of "), "{used} seats in use, expected 1");
                done(
                    (),
                    format!(
                        "reused, expires {}; 1 of {SEATS} seats in use",
                        body["expiration"]
                    ),
                )
            },
        )
        .await?;
    recorder
        .step("the app extends its lease (POST /v1/extend)", async {
            let reply = alice.with_token("/v1/extend", &token).await?;
            expect_status(&reply, 200)?;
            done((), format!("expires {}", reply.json()["expiration"]))
        })
        .await?;
    recorder
        .step(
            "the customer reads its usage (GET /v1/licenses/{licenseId}/usage)",
            async {
                let reply = alice
                    .call(
                        "GET",
                        &format!("/v1/licenses/{license_id}/usage"),
                        None,
                        None,
                    )
                    .await?;
                expect_status(&reply, 200)?;
                done((), reply.json()["entitlementUsages"].to_string())
            },
        )
        .await?;
    recorder
        .step(
            &format!("{OTHER_CUSTOMER} is refused {CUSTOMER}'s license and lease"),
            async {
                let checkout = bob.checkout("laptop-1", None).await?;
                expect_status(&checkout, 404)?;
                let check_in = bob.with_token("/v1/checkin", &token).await?;
                expect_status(&check_in, 404)?;
                let usage = bob
                    .call(
                        "GET",
                        &format!("/v1/licenses/{license_id}/usage"),
                        None,
                        None,
                    )
                    .await?;
                expect_status(&usage, 404)?;
                let listed = bob.call("GET", "/v1/licenses", None, None).await?;
                expect_status(&listed, 200)?;
                ensure!(listed.json() == json!({"licenses": []}), "{}", listed.body);
                let used = consumed(&issuer.license_manager, &license, "Users").await?;
                ensure!(used.starts_with("1 of "), "{used} seats in use, expected 1");
                done(
                    (),
                    format!(
                        "checkout {} ({}), check-in {} ({}), usage {}, list: none; \
                         {CUSTOMER}'s seat untouched",
                        checkout.status,
                        checkout.json()["code"],
                        check_in.status,
                        check_in.json()["code"],
                        usage.status
                    ),
                )
            },
        )
        .await?;
    recorder
        .step("the app checks in on shutdown (POST /v1/checkin)", async {
            let reply = alice.with_token("/v1/checkin", &token).await?;
            expect_status(&reply, 204)?;
            let used = consumed(&issuer.license_manager, &license, "Users").await?;
            ensure!(
                used.starts_with("0 of "),
                "{used} seats in use after check-in"
            );
            done((), format!("204; Users in use: {used}"))
        })
        .await?;
    Ok(())
}
