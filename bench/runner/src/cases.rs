//! What each function is asked to do, and the same work for the boto3 baseline.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use crate::world::{
    BENEFICIARY, BUS, CHECKOUT_ACCOUNT, ENTITLEMENT, SKU, STATE_TABLE, SWEEP_ACCOUNT,
    key_fingerprint,
};

/// The function that serves the checkout API (README, What it does).
pub const CHECKOUT_PROXY: &str = "checkout-proxy";

/// How one function is measured.
#[derive(Debug, Clone)]
pub struct Case {
    /// The function package (a directory under `functions/`).
    pub function: String,
    /// The account it runs as.
    pub account: &'static str,
    /// Its environment, beside the endpoints.
    pub environment: BTreeMap<String, String>,
    /// The event of every invocation.
    pub event: Value,
    /// What the event makes it do (the baseline does the same), for the results.
    pub work: &'static str,
}

/// The case of `function`, or `None` for a function the benchmark does not know.
pub fn case(function: &str, repo: &Path) -> Result<Option<Case>> {
    let mut environment = BTreeMap::from([
        ("EVENT_BUS_NAME".to_owned(), BUS.to_owned()),
        ("EVENT_SOURCE".to_owned(), "license-automation".to_owned()),
        ("STATE_TABLE".to_owned(), STATE_TABLE.to_owned()),
    ]);
    let (account, event, work) = match function {
        "grant-acceptor" => {
            environment.insert(
                "TRUST_POLICY".to_owned(),
                json!({
                    "trusted": [{"keyFingerprint": "aws:111122223333:Acme:issuer-fingerprint"}],
                    "untrusted": "ignore",
                })
                .to_string(),
            );
            (
                SWEEP_ACCOUNT,
                scheduled(repo, function)?,
                "scheduled sweep, no pending grant: ListReceivedGrants",
            )
        }
        "soft-limit-monitor" => (
            SWEEP_ACCOUNT,
            scheduled(repo, function)?,
            "scheduled sweep, nothing watched: ListLicenseConfigurations, ListLicenses, ListReceivedLicenses",
        ),
        "license-events" => (
            SWEEP_ACCOUNT,
            scheduled(repo, function)?,
            "scheduled expiry sweep, no license: ListLicenses, ListReceivedLicenses",
        ),
        CHECKOUT_PROXY => {
            environment.insert("KEY_FINGERPRINT".to_owned(), key_fingerprint());
            environment.insert("BENEFICIARY_CLAIM".to_owned(), "sub".to_owned());
            (
                CHECKOUT_ACCOUNT,
                checkout_request(),
                "POST /v1/checkout (payload 2.0, JWT claims): CheckoutLicense",
            )
        }
        _ => return Ok(None),
    };
    Ok(Some(Case {
        function: function.to_owned(),
        account,
        environment,
        event,
        work,
    }))
}

/// The function's sample scheduled event (`events/<function>/scheduled.json`), from the sweep
/// account.
fn scheduled(repo: &Path, function: &str) -> Result<Value> {
    let path = repo.join("events").join(function).join("scheduled.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut event: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    event["account"] = json!(SWEEP_ACCOUNT);
    Ok(event)
}

/// `POST /v1/checkout` as API Gateway's HTTP API hands it to the function (payload format
/// 2.0, after the JWT authorizer): a provisional checkout of the bench license's entitlement.
pub fn checkout_request() -> Value {
    let body = json!({
        "productSku": SKU,
        "checkoutType": "PROVISIONAL",
        "entitlements": [{"name": ENTITLEMENT, "unit": "None"}],
    });
    json!({
        "version": "2.0",
        "routeKey": "POST /v1/checkout",
        "rawPath": "/v1/checkout",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "localhost"},
        "requestContext": {
            "accountId": CHECKOUT_ACCOUNT,
            "apiId": "bench",
            "authorizer": {"jwt": {"claims": {"sub": BENEFICIARY}, "scopes": null}},
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": "POST",
                "path": "/v1/checkout",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "bench",
            },
            "requestId": "bench",
            "routeKey": "POST /v1/checkout",
            "stage": "$default",
            "time": "23/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1_795_435_200_000_u64,
        },
        "body": body.to_string(),
        "isBase64Encoded": false,
    })
}

/// Why an answer is not a success: an HTTP API answer must have status 2xx.
pub fn answer_error(answer: &Value) -> Option<String> {
    let status = answer.get("statusCode")?;
    match status.as_u64() {
        Some(200..=299) => None,
        _ => Some(format!("answered {answer}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sweeping_function_has_its_sample_event_from_the_sweep_account() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for function in ["grant-acceptor", "license-events", "soft-limit-monitor"] {
            let case = case(function, &repo).unwrap().unwrap();
            assert_eq!(case.event["detail-type"], "Scheduled Event");
            assert_eq!(case.event["account"], SWEEP_ACCOUNT);
            assert_eq!(case.environment["STATE_TABLE"], STATE_TABLE);
        }
        assert!(case("not-a-function", &repo).unwrap().is_none());
    }

    #[test]
    fn the_checkout_request_carries_the_contract_of_design_7() {
        let event = checkout_request();
        assert_eq!(event["routeKey"], "POST /v1/checkout");
        assert_eq!(
            event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"],
            BENEFICIARY
        );
        let body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["productSku"], SKU);
        assert_eq!(body["entitlements"][0]["name"], ENTITLEMENT);
    }

    #[test]
    fn http_answers_other_than_2xx_are_errors() {
        assert_eq!(
            answer_error(&json!({"statusCode": 200, "body": "{}"})),
            None
        );
        assert!(answer_error(&json!({"statusCode": 409})).is_some());
        assert_eq!(answer_error(&json!({"examined": 0})), None);
    }
}
