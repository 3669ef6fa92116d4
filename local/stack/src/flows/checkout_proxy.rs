//! The checkout API (checkout-proxy): the stack's account, as ISV Contoso, issues its
//! customer `customer-a` a license; the customer's app, holding a token from the local
//! issuer, checks out over HTTPS, restarts and gets the same lease back, extends it, reads
//! its usage and checks in; `customer-b`, with a valid token of its own, is refused the
//! first customer's license and checkout.

use anyhow::{Context as _, Result, ensure};
use local_test_kit::checkout::{
    CUSTOMER, ISSUER_NAME, OTHER_CUSTOMER, SEATS, contoso_sign_key, issue_signed_customer_license,
};
use local_test_kit::licenses::consumed;
use serde_json::json;

use crate::context::{Context, Flow, FlowFuture};
use crate::control::{ApiCaller, Reply};
use crate::report::{Recorder, done};

/// The checkout flow.
pub const FLOW: Flow = Flow {
    title: "checkout-proxy: a customer without an AWS account checks out over HTTPS",
    steps: boxed,
};

fn boxed<'a>(context: &'a mut Context, recorder: &'a mut Recorder) -> FlowFuture<'a> {
    Box::pin(run(context, recorder))
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
