//! `openapi.yaml` is a valid OpenAPI 3.1 document (openapi-spec-validator from the venv that
//! `scripts/venv.sh fuzz` creates) and says what the handler does: exactly its routes and
//! methods, every status each route can answer, the problem codes, units and bounds of the
//! code. Responses are checked against it by the schemathesis fuzz
//! (`scripts/fuzz-checkout-api.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use checkout_proxy::checkout::{
    ENTITLEMENT_UNITS, MAX_ENTITLEMENTS, MAX_IDEMPOTENCY_KEY_CHARS, MAX_METADATA, MAX_TEXT_CHARS,
    PROBLEM_CODES,
};
use checkout_proxy::route;
use serde_json::Value;

fn document_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.yaml")
}

fn document() -> Value {
    serde_norway::from_str(&std::fs::read_to_string(document_path()).unwrap()).unwrap()
}

/// Every route with its method and the statuses it can answer besides the common ones.
const ROUTES: [(&str, &str, &[&str]); 9] = [
    (
        "/v1/checkout",
        "post",
        &["200", "400", "404", "409", "413", "422", "428"],
    ),
    (
        "/v1/borrow",
        "post",
        &["200", "400", "404", "409", "413", "422", "428"],
    ),
    ("/v1/extend", "post", &["200", "400", "404", "409", "413"]),
    ("/v1/checkin", "post", &["204", "400", "404", "409", "413"]),
    ("/v1/licenses", "get", &["200"]),
    (
        "/v1/licenses/{licenseId}/usage",
        "get",
        &["200", "400", "404"],
    ),
    ("/v1/leases", "get", &["200"]),
    ("/v1/leases/{leaseId}", "delete", &["204", "400", "404"]),
    ("/v1/keys", "get", &["200"]),
];

/// What any route can answer: no or a claimless token, another method, throttling, the
/// proxy's misconfiguration, server trouble.
const COMMON: [&str; 5] = ["401", "405", "429", "500", "503"];

#[test]
fn the_document_is_valid_openapi_3_1() {
    let document = document();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1."));
    let validator = std::env::var_os("OPENAPI_SPEC_VALIDATOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../.venv-schemathesis/bin/openapi-spec-validator")
        });
    assert!(
        validator.is_file(),
        "openapi-spec-validator is not at {}: run `scripts/venv.sh fuzz` (or set \
         OPENAPI_SPEC_VALIDATOR)",
        validator.display()
    );
    let output = std::process::Command::new(&validator)
        .arg(document_path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_document_has_exactly_the_handlers_routes_and_their_statuses() {
    let document = document();
    let paths = document["paths"].as_object().unwrap();
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (path.clone(), method.clone()))
        })
        .collect();
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(path, method, _)| ((*path).to_owned(), (*method).to_owned()))
        .collect();
    assert_eq!(documented, routes);
    for (path, method, statuses) in ROUTES {
        let concrete = path
            .replace("{licenseId}", "l-0123456789abcdef")
            .replace("{leaseId}", &"a".repeat(64));
        assert!(
            route(&method.to_uppercase(), &concrete).is_ok(),
            "the handler serves {method} {path}"
        );
        let responses = document["paths"][path][method]["responses"]
            .as_object()
            .unwrap();
        let answered: BTreeSet<&str> = responses.keys().map(String::as_str).collect();
        let expected: BTreeSet<&str> = statuses.iter().chain(COMMON.iter()).copied().collect();
        assert!(
            expected.is_subset(&answered),
            "{method} {path} documents {answered:?}, missing {:?}",
            expected.difference(&answered).collect::<Vec<_>>()
        );
    }
}

#[test]
fn problem_codes_units_and_bounds_match_the_code() {
    let document = document();
    let schemas = &document["components"]["schemas"];
    let codes: Vec<&str> = schemas["Problem"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap())
        .collect();
    assert_eq!(codes, PROBLEM_CODES);
    let units: Vec<&str> = schemas["Unit"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|unit| unit.as_str().unwrap())
        .collect();
    assert_eq!(units, ENTITLEMENT_UNITS);
    assert_eq!(schemas["Entitlements"]["maxItems"], MAX_ENTITLEMENTS);
    assert_eq!(schemas["Text"]["maxLength"], MAX_TEXT_CHARS);
    assert_eq!(
        schemas["BorrowRequest"]["properties"]["checkoutMetadata"]["maxItems"],
        MAX_METADATA
    );
    assert_eq!(
        document["components"]["parameters"]["IdempotencyKey"]["schema"]["maxLength"],
        MAX_IDEMPOTENCY_KEY_CHARS
    );
    for request in ["CheckoutRequest", "BorrowRequest", "TokenRequest"] {
        assert_eq!(
            schemas[request]["additionalProperties"], false,
            "{request} refuses unknown fields, as the handler does"
        );
    }
}
