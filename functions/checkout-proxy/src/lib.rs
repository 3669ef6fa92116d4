//! checkout-proxy: License Manager checkout, borrow, extend, check-in and usage over HTTPS
//! for customers without an AWS account (the README's checkout-proxy section), behind API
//! Gateway's JWT authorizer; the caller's live leases (`GET /v1/leases`, `DELETE
//! /v1/leases/{leaseId}`) and the issuer's token-signing keys (`GET /v1/keys`).
//!
//! The customer (the licenses' beneficiary) is the `BENEFICIARY_CLAIM` claim of the verified
//! token, never anything in the request. Checkouts draw from the licenses the account issued
//! under `KEY_FINGERPRINT` with that beneficiary; consumption tokens are linked to their
//! customer in the state table (see [`leases`]) so that nobody can extend or check in
//! another's; a PROVISIONAL checkout naming a `nodeId` reuses (extends) the same customer's
//! live lease for the same SKU, entitlements and node instead of drawing more seats.
//! Every refusal is `application/problem+json` with a stable `code`. EMF metrics:
//! `ApiRequests` by `Route` and `Status`, `ApiLatencyMs` by `Route`.

pub mod checkout;
mod config;
mod keys;
mod leases;
mod license_manager;
mod routes;

use checkout::{BorrowRequest, CheckoutRequest, MAX_BODY_BYTES, Problem, TokenRequest};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt as _, Response};
use license_automation::state::{StateError, StateStore};
use serde_json::{Value, json};

pub use config::Config;
pub use keys::{KeysError, SigningKeys, rsa_components};
pub use leases::{Leases, Link, is_lease_id, lease_id};
pub use license_manager::{
    CallStats, Checkout, LicenseManager, LicenseManagerError, interactive_retry,
};
pub use routes::{Route, route};

/// A successful answer: status and JSON body (none for 204).
type Answer = (StatusCode, Option<Value>);

/// The handler with its clients and configuration, built once per cold start.
#[derive(Debug, Clone)]
pub struct CheckoutProxy {
    license_manager: LicenseManager,
    leases: Leases,
    keys: SigningKeys,
    key_fingerprint: String,
    issuer_account: String,
    beneficiary_claim: String,
}

impl CheckoutProxy {
    /// The handler for `config`, calling License Manager through `license_manager`, the
    /// state table through `dynamodb` and KMS (the signing keys' public halves) through `kms`.
    pub fn new(
        config: &Config,
        license_manager: LicenseManager,
        dynamodb: aws_sdk_dynamodb::Client,
        kms: aws_sdk_kms::Client,
    ) -> Self {
        Self {
            license_manager,
            leases: Leases::new(StateStore::new(dynamodb, &config.state_table)),
            keys: SigningKeys::new(kms),
            key_fingerprint: config.key_fingerprint.clone(),
            issuer_account: config.issuer_account().to_owned(),
            beneficiary_claim: config.beneficiary_claim.clone(),
        }
    }

    /// The License Manager adapter (its call counts, in tests and benchmarks).
    pub fn license_manager(&self) -> &LicenseManager {
        &self.license_manager
    }

    /// Handles one HTTP request. Never fails: every refusal and failure is a problem answer
    /// (failures are logged with their details, which stay out of the body).
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let path = request.raw_http_path().to_owned();
        let path = if path.is_empty() {
            request.uri().path().to_owned()
        } else {
            path
        };
        let started = std::time::Instant::now();
        let route_name = route(request.method().as_str(), &path).map_or("none", |r| r.name());
        let response = match self.serve(&request, &path).await {
            Ok((status, body)) => respond(status, body),
            Err(problem) => {
                tracing::info!(decision = "refused", route = route_name, status = problem.status, code = problem.code, detail = %problem.detail);
                problem_response(&problem, &path)
            }
        };
        let status = response.status().as_u16().to_string();
        metrics::counter!("ApiRequests", "Route" => route_name, "Status" => status).increment(1);
        metrics::histogram!("ApiLatencyMs", "Route" => route_name)
            .record(started.elapsed().as_secs_f64() * 1000.0);
        response
    }

    async fn serve(&self, request: &Request, path: &str) -> Result<Answer, Problem> {
        let route = route(request.method().as_str(), path)?;
        let beneficiary = self.beneficiary(request)?;
        let body: &[u8] = request.body().as_ref();
        if body.len() > MAX_BODY_BYTES {
            return Err(Problem::payload_too_large(body.len()));
        }
        match route {
            Route::Checkout => {
                self.checkout(&beneficiary, body, idempotency_key(request)?)
                    .await
            }
            Route::Borrow => {
                self.borrow(&beneficiary, body, idempotency_key(request)?)
                    .await
            }
            Route::Extend => self.extend(&beneficiary, body).await,
            Route::CheckIn => self.check_in(&beneficiary, body).await,
            Route::Licenses => self.licenses(&beneficiary).await,
            Route::Usage(id) => self.usage(&beneficiary, &id).await,
            Route::Leases => self.leases(&beneficiary).await,
            Route::Release(id) => self.release(&beneficiary, &id).await,
            Route::Keys => self.keys().await,
        }
    }

    /// The caller: the `BENEFICIARY_CLAIM` claim of the JWT the authorizer verified.
    fn beneficiary(&self, request: &Request) -> Result<String, Problem> {
        let claims = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(context)) => context
                .authorizer
                .as_ref()
                .and_then(|authorizer| authorizer.jwt.as_ref())
                .map(|jwt| &jwt.claims),
            _ => None,
        };
        claims
            .and_then(|claims| claims.get(&self.beneficiary_claim))
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
            .ok_or_else(|| Problem::unauthorized(&self.beneficiary_claim))
    }

    async fn checkout(
        &self,
        beneficiary: &str,
        body: &[u8],
        key: Option<&str>,
    ) -> Result<Answer, Problem> {
        let request: CheckoutRequest = checkout::parse_body(body)?;
        let client_token = new_client_token(beneficiary, "checkout", key)?;
        let sticky_key = checkout::lease_key(beneficiary, &request);
        if let Some(sticky_key) = &sticky_key
            && let Some(answer) = self.reuse(beneficiary, sticky_key).await?
        {
            return Ok(answer);
        }
        let checkout = self
            .license_manager
            .checkout(
                &request.product_sku,
                request.checkout_type,
                &self.key_fingerprint,
                beneficiary,
                &request.entitlements,
                request.node_id.as_deref(),
                &client_token,
            )
            .await
            .map_err(license_manager_failed)?;
        let link = Link::new(
            beneficiary,
            request.checkout_type.as_str(),
            Some(&request.product_sku),
            sticky_key.clone(),
            &checkout.body,
        );
        self.record_lease(&checkout, &link).await?;
        if let Some(sticky_key) = &sticky_key {
            // A lease recorded meanwhile (a concurrent checkout of the same node) stays the
            // one that is reused; this one expires or is checked in on its own.
            self.leases
                .set_sticky(
                    sticky_key,
                    None,
                    &checkout.body,
                    checkout.expiration.as_deref(),
                )
                .await
                .map_err(state_failed)?;
        }
        tracing::info!(
            decision = "checkout served",
            beneficiary,
            license_arn = %link.license_arn,
            token = %checkout::token_reference(&checkout.token),
            checkout_type = request.checkout_type.as_str(),
            node_id = request.node_id.as_deref().unwrap_or_default(),
            reused = false,
        );
        Ok((StatusCode::OK, Some(checkout.body)))
    }

    /// The live sticky lease under `sticky_key`, extended, or `None` when there is none to
    /// reuse (then the caller draws a new one).
    async fn reuse(&self, beneficiary: &str, sticky_key: &str) -> Result<Option<Answer>, Problem> {
        let Some(sticky) = self.leases.sticky(sticky_key).await.map_err(state_failed)? else {
            return Ok(None);
        };
        let link = self
            .leases
            .link(&sticky.token)
            .await
            .map_err(state_failed)?;
        let Some((link, link_state)) =
            link.filter(|(link, _)| link.beneficiary == beneficiary && !link.checked_in)
        else {
            self.leases
                .forget_sticky(sticky_key)
                .await
                .map_err(state_failed)?;
            return Ok(None);
        };
        let expiration = match self.license_manager.extend(&sticky.token).await {
            Ok(expiration) => expiration,
            // Checked in or expired behind our back: draw a new lease.
            Err(error)
                if error.is("ResourceNotFoundException")
                    || error.is("ConflictException")
                    || error.is("ValidationException") =>
            {
                tracing::info!(token = %checkout::token_reference(&sticky.token), error = %error, "sticky lease is gone; drawing a new one");
                self.leases
                    .forget_sticky(sticky_key)
                    .await
                    .map_err(state_failed)?;
                return Ok(None);
            }
            Err(error) => return Err(license_manager_failed(error)),
        };
        let mut body = sticky.body.clone();
        body["expiration"] = json!(expiration);
        self.leases
            .set_sticky(sticky_key, Some(&sticky), &body, Some(&expiration))
            .await
            .map_err(state_failed)?;
        self.leases
            .extend_link(&sticky.token, &link_state, &link, &expiration)
            .await
            .map_err(state_failed)?;
        body["reused"] = json!(true);
        tracing::info!(
            decision = "checkout served",
            beneficiary,
            license_arn = %link.license_arn,
            token = %checkout::token_reference(&sticky.token),
            checkout_type = "PROVISIONAL",
            reused = true,
        );
        Ok(Some((StatusCode::OK, Some(body))))
    }

    async fn borrow(
        &self,
        beneficiary: &str,
        body: &[u8],
        key: Option<&str>,
    ) -> Result<Answer, Problem> {
        let request: BorrowRequest = checkout::parse_body(body)?;
        let client_token = new_client_token(beneficiary, "borrow", key)?;
        // CheckoutBorrowLicense takes no beneficiary: the license must be the caller's.
        let product_sku = self
            .own_license(beneficiary, &request.license_arn, "licenseArn")
            .await?;
        let checkout = self
            .license_manager
            .borrow(
                &request.license_arn,
                &request.entitlements,
                request.node_id.as_deref(),
                request.checkout_metadata.as_deref(),
                &client_token,
            )
            .await
            .map_err(license_manager_failed)?;
        let link = Link::new(
            beneficiary,
            "BORROW",
            product_sku.as_deref(),
            None,
            &checkout.body,
        );
        self.record_lease(&checkout, &link).await?;
        tracing::info!(
            decision = "borrow served",
            beneficiary,
            license_arn = %request.license_arn,
            token = %checkout::token_reference(&checkout.token),
        );
        Ok((StatusCode::OK, Some(checkout.body)))
    }

    /// The link of the caller's `token`; 404 when it is unknown, expired or another's.
    async fn own_link(&self, beneficiary: &str, token: &str) -> Result<(Link, String), Problem> {
        match self.leases.link(token).await.map_err(state_failed)? {
            Some((link, state)) if link.beneficiary == beneficiary => Ok((link, state)),
            Some((link, _)) => {
                tracing::warn!(decision = "refused", beneficiary, owner = %link.beneficiary, token = %checkout::token_reference(token), "token of another customer");
                Err(Problem::lease_not_found())
            }
            None => Err(Problem::lease_not_found()),
        }
    }

    async fn extend(&self, beneficiary: &str, body: &[u8]) -> Result<Answer, Problem> {
        let request: TokenRequest = checkout::parse_body(body)?;
        let token = &request.license_consumption_token;
        let (link, link_state) = self.own_link(beneficiary, token).await?;
        if link.checked_in {
            return Err(Problem::new(
                409,
                "conflict",
                "licenseConsumptionToken: the checkout is already checked in",
            ));
        }
        let expiration = self
            .license_manager
            .extend(token)
            .await
            .map_err(license_manager_failed)?;
        self.leases
            .extend_link(token, &link_state, &link, &expiration)
            .await
            .map_err(state_failed)?;
        if let Some(sticky_key) = &link.sticky_key
            && let Some(sticky) = self
                .leases
                .sticky(sticky_key)
                .await
                .map_err(state_failed)?
                .filter(|sticky| sticky.token == *token)
        {
            let mut body = sticky.body.clone();
            body["expiration"] = json!(expiration);
            self.leases
                .set_sticky(sticky_key, Some(&sticky), &body, Some(&expiration))
                .await
                .map_err(state_failed)?;
        }
        tracing::info!(decision = "extended", beneficiary, license_arn = %link.license_arn, token = %checkout::token_reference(token), %expiration);
        Ok((
            StatusCode::OK,
            Some(json!({"licenseConsumptionToken": token, "expiration": expiration})),
        ))
    }

    async fn check_in(&self, beneficiary: &str, body: &[u8]) -> Result<Answer, Problem> {
        let request: TokenRequest = checkout::parse_body(body)?;
        let token = &request.license_consumption_token;
        let (link, link_state) = self.own_link(beneficiary, token).await?;
        if !link.checked_in {
            self.free(beneficiary, token, &link, &link_state).await?;
        }
        Ok((StatusCode::NO_CONTENT, None))
    }

    /// Links a new checkout's token to its customer and lists a lease (PROVISIONAL, BORROW)
    /// among the customer's leases. A retry that got the same token back changes nothing.
    async fn record_lease(&self, checkout: &Checkout, link: &Link) -> Result<(), Problem> {
        self.leases
            .link_token(&checkout.token, link, checkout.expiration.as_deref())
            .await
            .map_err(state_failed)?;
        if link.token.is_some() {
            self.leases
                .index_lease(&link.beneficiary, &checkout.token)
                .await
                .map_err(state_failed)?;
        }
        Ok(())
    }

    /// Checks in the caller's live lease `token` (whose link is `link`, read as
    /// `link_state`), marks it checked in and forgets it as a sticky and a listed lease.
    async fn free(
        &self,
        beneficiary: &str,
        token: &str,
        link: &Link,
        link_state: &str,
    ) -> Result<(), Problem> {
        match self.license_manager.check_in(token, beneficiary).await {
            Ok(()) => {}
            // The caller's token is checked in or gone at License Manager: an earlier
            // check-in whose answer was lost (a retry), or an expired lease. Either way
            // its seats are back in the pool, which is what the caller asks for.
            Err(error)
                if error.is("ConflictException") || error.is("ResourceNotFoundException") =>
            {
                tracing::info!(error = %error, "token already gone; treating the check-in as done");
            }
            Err(error) => return Err(license_manager_failed(error)),
        }
        self.leases
            .mark_checked_in(token, link_state, link)
            .await
            .map_err(state_failed)?;
        if let Some(sticky_key) = &link.sticky_key {
            let sticky = self.leases.sticky(sticky_key).await.map_err(state_failed)?;
            if sticky.is_some_and(|sticky| sticky.token == token) {
                self.leases
                    .forget_sticky(sticky_key)
                    .await
                    .map_err(state_failed)?;
            }
        }
        self.leases
            .unindex_lease(beneficiary, &lease_id(token))
            .await
            .map_err(state_failed)?;
        tracing::info!(decision = "checked in", beneficiary, license_arn = %link.license_arn, token = %checkout::token_reference(token));
        Ok(())
    }

    async fn leases(&self, beneficiary: &str) -> Result<Answer, Problem> {
        let leases = self
            .leases
            .leases_of(beneficiary)
            .await
            .map_err(state_failed)?;
        let leases: Vec<Value> = leases.iter().map(|(id, link)| link.summary(id)).collect();
        Ok((StatusCode::OK, Some(json!({ "leases": leases }))))
    }

    /// `DELETE /v1/leases/{leaseId}`: checks in one of the caller's leases, whichever node
    /// holds it (a node that died is freed by another or by the customer's admin).
    async fn release(&self, beneficiary: &str, lease_id: &str) -> Result<Answer, Problem> {
        let lease_id = percent_encoding::percent_decode_str(lease_id).decode_utf8_lossy();
        if !is_lease_id(&lease_id) {
            return Err(Problem::invalid(
                "leaseId",
                "must be a lease id as GET /v1/leases lists it (64 hexadecimal digits)",
            ));
        }
        let not_found = || {
            Problem::new(
                404,
                "lease-not-found",
                "leaseId: no live lease of yours has this id",
            )
        };
        let Some((link, link_state)) = self
            .leases
            .link_by_id(&lease_id)
            .await
            .map_err(state_failed)?
        else {
            return Err(not_found());
        };
        if link.beneficiary != beneficiary {
            tracing::warn!(decision = "refused", beneficiary, owner = %link.beneficiary, lease_id = %lease_id, "lease of another customer");
            return Err(not_found());
        }
        if link.checked_in {
            // Freed already (a retried DELETE): the same answer.
            return Ok((StatusCode::NO_CONTENT, None));
        }
        let Some(token) = link.token.clone() else {
            // A PERPETUAL checkout (not a lease), or a link written before leases were listed.
            return Err(not_found());
        };
        self.free(beneficiary, &token, &link, &link_state).await?;
        tracing::info!(decision = "released", beneficiary, lease_id = %lease_id, node_id = link.node_id.as_deref().unwrap_or_default());
        Ok((StatusCode::NO_CONTENT, None))
    }

    /// `GET /v1/keys`: the JWKS of the issuer's signing keys (cached per instance).
    async fn keys(&self) -> Result<Answer, Problem> {
        if let Some(jwks) = self.keys.cached().await {
            return Ok((StatusCode::OK, Some(jwks)));
        }
        let sign_keys = self
            .license_manager
            .sign_keys(&self.key_fingerprint)
            .await
            .map_err(license_manager_failed)?;
        let jwks = self.keys.jwks(&sign_keys).await.map_err(|error| {
            tracing::error!(error = %error, "signing keys unavailable");
            match error {
                KeysError::Kms {
                    transient: true, ..
                } => Problem::unavailable(),
                _ => Problem::internal(),
            }
        })?;
        self.keys.remember(&jwks).await;
        Ok((StatusCode::OK, Some(jwks)))
    }

    async fn licenses(&self, beneficiary: &str) -> Result<Answer, Problem> {
        let licenses = self
            .license_manager
            .licenses_of(beneficiary, &self.key_fingerprint, None)
            .await
            .map_err(license_manager_failed)?;
        let licenses: Vec<Value> = licenses
            .iter()
            .map(license_manager::license_summary)
            .collect();
        Ok((StatusCode::OK, Some(json!({ "licenses": licenses }))))
    }

    async fn usage(&self, beneficiary: &str, license_id: &str) -> Result<Answer, Problem> {
        let arn = checkout::license_arn_of(license_id, &self.issuer_account)?;
        self.own_license(beneficiary, &arn, "licenseId").await?;
        let usage = self
            .license_manager
            .usage(&arn)
            .await
            .map_err(license_manager_failed)?;
        Ok((StatusCode::OK, Some(usage)))
    }

    /// 404 unless `arn` is a license of the configured issuer whose beneficiary is the caller;
    /// its product SKU.
    async fn own_license(
        &self,
        beneficiary: &str,
        arn: &str,
        field: &str,
    ) -> Result<Option<String>, Problem> {
        let owned = self
            .license_manager
            .licenses_of(beneficiary, &self.key_fingerprint, Some(arn))
            .await
            .map_err(license_manager_failed)?;
        if let Some(license) = owned
            .iter()
            .find(|license| license.license_arn() == Some(arn))
        {
            Ok(license.product_sku().map(str::to_owned))
        } else {
            tracing::info!(
                decision = "refused",
                beneficiary,
                license_arn = arn,
                "not the caller's license"
            );
            Err(Problem::license_not_found(field))
        }
    }
}

/// The request's `Idempotency-Key` header, if any.
fn idempotency_key(request: &Request) -> Result<Option<&str>, Problem> {
    request
        .headers()
        .get("idempotency-key")
        .map(|value| {
            value.to_str().map_err(|_| {
                Problem::new(
                    400,
                    "invalid-idempotency-key",
                    "Idempotency-Key: must be visible ASCII characters",
                )
            })
        })
        .transpose()
}

/// The ClientToken for a request: from its Idempotency-Key, else a fresh one.
fn new_client_token(
    beneficiary: &str,
    operation: &str,
    key: Option<&str>,
) -> Result<String, Problem> {
    Ok(checkout::client_token(beneficiary, operation, key)?
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()))
}

/// Logs a License Manager failure with its details and answers as the README says.
fn license_manager_failed(error: LicenseManagerError) -> Problem {
    let problem = checkout::license_manager_problem(&error);
    if problem.status >= 500 {
        tracing::error!(error = %error, status = problem.status, "License Manager call failed");
    } else {
        tracing::info!(error = %error, status = problem.status, "License Manager refused");
    }
    problem
}

/// Logs a state-table failure and answers 503 (retrying with the same key is safe).
fn state_failed(error: StateError) -> Problem {
    tracing::error!(error = %error, "state table failed");
    Problem::unavailable()
}

fn respond(status: StatusCode, body: Option<Value>) -> Response<Body> {
    let mut response = Response::new(match &body {
        Some(body) => Body::from(body.to_string()),
        None => Body::Empty,
    });
    *response.status_mut() = status;
    if body.is_some() {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    response
}

/// The `application/problem+json` answer of `problem` for the request to `path`.
pub fn problem_response(problem: &Problem, path: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(problem.body(path).to_string()));
    *response.status_mut() =
        StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(seconds) = problem.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if let Some(allow) = problem.allow {
        headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    response
}
