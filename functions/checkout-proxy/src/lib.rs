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
//! live lease for the same SKU, entitlements and node instead of drawing more seats, and two
//! requests for one node draw one seat (the slot is claimed before License Manager is called).
//! An `Idempotency-Key` (required for PERPETUAL checkouts and borrows) is recorded with the
//! request's digest before License Manager is called (see [`requests`]): a retry is replayed,
//! waits, or finishes what the first request drew; a seat drawn for a request that cannot be
//! recorded is checked back in. Every request keeps one deadline ([`checkout::REQUEST_BUDGET`]
//! at most) that all its calls share; `CUSTOMER_RATE_LIMIT` bounds each customer's rate.
//! Every refusal is `application/problem+json` with a stable `code`. EMF metrics:
//! `ApiRequests` by `Route` and `Status`, `ApiLatencyMs` by `Route`.

pub mod checkout;
mod config;
mod keys;
mod leases;
mod license_manager;
mod requests;
mod routes;

use std::future::Future;

use checkout::{
    ANSWER_MARGIN, BorrowRequest, CheckoutRequest, CheckoutType, MAX_BODY_BYTES, Problem,
    RECORD_RESERVE, REQUEST_BUDGET, SAME_NODE_WAIT, StoredAnswer, TokenRequest,
};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt as _, Response};
use leases::{Slot, Sticky};
use license_automation::calls::FailureKind;
use license_automation::deadline::Deadline;
use license_automation::state::{StateError, StateStore};
use requests::{Begun, Requests};
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

/// How often a checkout waiting for a concurrent checkout of its node looks again.
const SAME_NODE_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// How a request that may draw a seat ended.
enum Drawn {
    /// Answered (2xx) with a new draw: recorded for replay.
    Answered(Answer),
    /// Answered with what existed already (the node's lease): nothing to replay, a retry
    /// finds it again.
    Found(Answer),
    /// Refused or failed holding nothing: the Idempotency-Key is free again.
    Failed(Problem),
    /// Failed while a seat may be held under the key's ClientToken (License Manager did not
    /// answer, or the seat could be neither recorded nor checked back in): the key stays
    /// claimed until the deadline, then a retry with it finishes what was drawn.
    Unsettled(Problem),
}

/// Where a checkout for a node stands once its sticky slot is settled.
enum NodeSlot {
    /// The node's live lease, extended: the answer.
    Reused(Answer),
    /// This request claimed the slot (the claim's state): it draws.
    Claimed(String),
}

/// The handler with its clients and configuration, built once per cold start.
#[derive(Debug, Clone)]
pub struct CheckoutProxy {
    license_manager: LicenseManager,
    leases: Leases,
    requests: Requests,
    customer_rate_limit: u64,
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
        let store = StateStore::new(dynamodb, &config.state_table);
        Self {
            license_manager,
            leases: Leases::new(store.clone()),
            requests: Requests::new(store),
            customer_rate_limit: config.customer_rate_limit,
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
        // One deadline for the whole request: License Manager calls stop RECORD_RESERVE before
        // it (time to record or undo a draw), and at it the request answers 503 whatever is
        // still in flight, before Lambda's timeout would.
        let deadline = request.lambda_context_ref().map_or_else(
            || Deadline::after(REQUEST_BUDGET),
            |context| Deadline::of_invocation(context.deadline, ANSWER_MARGIN, REQUEST_BUDGET),
        );
        let reserve = RECORD_RESERVE.min(deadline.remaining() / 3);
        let served = tokio::time::timeout(
            deadline.remaining(),
            deadline
                .less(reserve)
                .scope(self.serve(&request, &path, &deadline)),
        )
        .await
        .unwrap_or_else(|_| {
            tracing::error!(route = route_name, "the request's time budget ran out");
            Err(Problem::unavailable())
        });
        let response = match served {
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

    async fn serve(
        &self,
        request: &Request,
        path: &str,
        deadline: &Deadline,
    ) -> Result<Answer, Problem> {
        let route = route(request.method().as_str(), path)?;
        let beneficiary = self.beneficiary(request)?;
        self.admit(&beneficiary).await?;
        let body: &[u8] = request.body().as_ref();
        if body.len() > MAX_BODY_BYTES {
            return Err(Problem::payload_too_large(body.len()));
        }
        match route {
            Route::Checkout => {
                self.checkout(&beneficiary, body, idempotency_key(request)?, deadline)
                    .await
            }
            Route::Borrow => {
                self.borrow(&beneficiary, body, idempotency_key(request)?, deadline)
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

    /// 429 when the customer is past `CUSTOMER_RATE_LIMIT` this second (one conditional
    /// write per request; none when the limit is off). A table that cannot count lets the
    /// request through: the limit protects the service, it must not take it down.
    async fn admit(&self, beneficiary: &str) -> Result<(), Problem> {
        if self.customer_rate_limit == 0 {
            return Ok(());
        }
        let customer = checkout::token_digest(beneficiary);
        match self
            .requests
            .admit(&customer, self.customer_rate_limit)
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => {
                tracing::warn!(
                    decision = "rate limited",
                    beneficiary,
                    limit = self.customer_rate_limit
                );
                Err(Problem::customer_rate_limited(self.customer_rate_limit))
            }
            Err(error) => {
                tracing::warn!(error = %error, "the customer's rate could not be counted; request let through");
                Ok(())
            }
        }
    }

    /// Runs `work` once per Idempotency-Key (`record_key`, `None` without one): the key is
    /// claimed with the request's `digest` until `deadline` first; a retry of an answered
    /// request is replayed, one of a request in flight gets 409 `request-in-progress`, another
    /// request with the key 422. `work` gets the ClientToken to call License Manager with and
    /// the key's record.
    async fn once<F, Fut>(
        &self,
        operation: &str,
        record_key: Option<String>,
        digest: &str,
        deadline: &Deadline,
        work: F,
    ) -> Result<Answer, Problem>
    where
        F: FnOnce(String, Option<String>) -> Fut,
        Fut: Future<Output = Drawn>,
    {
        let fresh = format!("{operation}-{}", uuid::Uuid::new_v4());
        let Some(record_key) = record_key else {
            return match work(fresh, None).await {
                Drawn::Answered(answer) | Drawn::Found(answer) => Ok(answer),
                Drawn::Failed(problem) | Drawn::Unsettled(problem) => Err(problem),
            };
        };
        let claim = match self
            .requests
            .begin(&record_key, digest, fresh, deadline)
            .await
            .map_err(state_failed)?
        {
            Begun::Claimed(claim) => claim,
            Begun::Replay(answer) => {
                tracing::info!(decision = "replayed", operation);
                let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
                return Ok((status, answer.body));
            }
            Begun::InProgress(secs) => {
                return Err(Problem::request_in_progress(
                    "Idempotency-Key: the request with this key is still in progress; retry \
                     after the Retry-After delay",
                    secs,
                ));
            }
            Begun::Reused => return Err(Problem::idempotency_key_reused()),
            Begun::CheckedIn => {
                return Err(Problem::new(
                    409,
                    "conflict",
                    "Idempotency-Key: the lease drawn with this key is checked in already; use \
                     a new key for a new request",
                ));
            }
        };
        match work(claim.client_token().to_owned(), Some(record_key)).await {
            Drawn::Answered((status, body)) => {
                let stored = StoredAnswer {
                    status: status.as_u16(),
                    body: body.clone(),
                };
                if let Err(error) = self.requests.complete(&claim, &stored).await {
                    // The claim expires at the deadline; a retry then calls License Manager
                    // with the same ClientToken and gets this answer's checkout back.
                    tracing::warn!(error = %error, "the answer could not be recorded for replay");
                }
                Ok((status, body))
            }
            Drawn::Found(answer) => {
                if let Err(error) = self.requests.release(&claim).await {
                    tracing::warn!(error = %error, "the Idempotency-Key could not be released; it frees itself at the deadline");
                }
                Ok(answer)
            }
            Drawn::Failed(problem) => {
                if let Err(error) = self.requests.release(&claim).await {
                    tracing::warn!(error = %error, "the Idempotency-Key could not be released; it frees itself at the deadline");
                }
                Err(problem)
            }
            Drawn::Unsettled(problem) => Err(problem),
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
        deadline: &Deadline,
    ) -> Result<Answer, Problem> {
        let request: CheckoutRequest = checkout::parse_body(body)?;
        let record_key = checkout::key_record(beneficiary, "checkout", key)?;
        if record_key.is_none() && request.checkout_type == CheckoutType::Perpetual {
            return Err(Problem::idempotency_key_required("a PERPETUAL checkout"));
        }
        let digest = checkout::request_digest("checkout", &request);
        self.once(
            "checkout",
            record_key,
            &digest,
            deadline,
            |client_token, record| {
                self.draw_checkout(beneficiary, &request, client_token, record, deadline)
            },
        )
        .await
    }

    /// CheckoutLicense for `request`, after settling the node's sticky slot when it names a
    /// node: the node's live lease is reused, or this request claims the slot and draws.
    async fn draw_checkout(
        &self,
        beneficiary: &str,
        request: &CheckoutRequest,
        client_token: String,
        record: Option<String>,
        deadline: &Deadline,
    ) -> Drawn {
        let sticky_key = checkout::lease_key(beneficiary, request);
        let slot = match &sticky_key {
            Some(sticky_key) => match self.settle_node(beneficiary, sticky_key, deadline).await {
                Ok(NodeSlot::Reused(answer)) => return Drawn::Found(answer),
                Ok(NodeSlot::Claimed(claim)) => Some((sticky_key.as_str(), claim)),
                Err(problem) => return Drawn::Failed(problem),
            },
            None => None,
        };
        let drawn = self
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
            .await;
        let checkout = match drawn {
            Ok(checkout) => checkout,
            Err(error) => {
                if let Some((sticky_key, claim)) = &slot {
                    self.drop_sticky(sticky_key, claim).await;
                }
                return not_drawn(error);
            }
        };
        let link = Link {
            idempotency_record: record,
            ..Link::new(
                beneficiary,
                request.checkout_type.as_str(),
                Some(&request.product_sku),
                sticky_key.clone(),
                &checkout.body,
            )
        };
        if let Err(problem) = self.record_lease(&checkout, &link).await {
            return self
                .undo(beneficiary, &checkout, &link, slot, problem, deadline)
                .await;
        }
        if let Some((sticky_key, claim)) = &slot
            && let Err(error) = self
                .leases
                .set_sticky(
                    sticky_key,
                    claim,
                    &checkout.body,
                    checkout.expiration.as_deref(),
                )
                .await
        {
            // The lease is drawn and linked: it is answered; the node's next checkout draws
            // anew once the claim expires.
            tracing::warn!(error = %error, "the node's sticky lease could not be recorded");
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
        Drawn::Answered((StatusCode::OK, Some(checkout.body)))
    }

    /// A seat was drawn but could not be recorded (`problem`): a PERPETUAL draw is answered
    /// anyway (it is the customer's for good); a lease is checked back in and answered 503,
    /// or, when even that fails, left to a retry with the same key to finish.
    async fn undo(
        &self,
        beneficiary: &str,
        checkout: &Checkout,
        link: &Link,
        slot: Option<(&str, String)>,
        problem: Problem,
        deadline: &Deadline,
    ) -> Drawn {
        if link.checkout_type == CheckoutType::Perpetual.as_str() {
            tracing::warn!(
                decision = "checkout served",
                beneficiary,
                license_arn = %link.license_arn,
                token = %checkout::token_reference(&checkout.token),
                "drawn for good but not linked: extend and check-in do not apply to it"
            );
            return Drawn::Answered((StatusCode::OK, Some(checkout.body.clone())));
        }
        // The check-in may use the whole deadline, the reserve included.
        let checked_in = deadline
            .scope(self.license_manager.check_in(&checkout.token, beneficiary))
            .await;
        match checked_in {
            Ok(()) => {
                tracing::warn!(decision = "checked in", beneficiary, license_arn = %link.license_arn, token = %checkout::token_reference(&checkout.token), "the lease could not be recorded, so it was checked back in");
                if let Some((sticky_key, claim)) = &slot {
                    self.drop_sticky(sticky_key, claim).await;
                }
                Drawn::Failed(problem)
            }
            Err(error) => {
                tracing::error!(error = %error, beneficiary, token = %checkout::token_reference(&checkout.token), "a lease that could not be recorded could not be checked in either; a retry with the same Idempotency-Key finishes it, else it expires");
                Drawn::Unsettled(problem)
            }
        }
    }

    /// Empties the node's slot of this request's claim (best effort: it expires anyway).
    async fn drop_sticky(&self, sticky_key: &str, claim: &str) {
        if let Err(error) = self.leases.drop_sticky(sticky_key, claim).await {
            tracing::warn!(error = %error, "the node's claim could not be dropped; it expires at the deadline");
        }
    }

    /// Settles the sticky slot of a node: its live lease is reused (extended); an empty slot is
    /// claimed; a slot another request has claimed is waited on for up to
    /// [`SAME_NODE_WAIT`], then 409 `request-in-progress`.
    async fn settle_node(
        &self,
        beneficiary: &str,
        sticky_key: &str,
        deadline: &Deadline,
    ) -> Result<NodeSlot, Problem> {
        let wait_until = Deadline::after(SAME_NODE_WAIT).min(deadline.less(RECORD_RESERVE));
        loop {
            match self.leases.sticky(sticky_key).await.map_err(state_failed)? {
                None => {
                    if let Some(claim) = self
                        .leases
                        .claim_sticky(sticky_key, deadline)
                        .await
                        .map_err(state_failed)?
                    {
                        return Ok(NodeSlot::Claimed(claim));
                    }
                }
                Some(Slot::Lease(sticky)) => {
                    if let Some(answer) = self.reuse(beneficiary, sticky_key, sticky).await? {
                        return Ok(NodeSlot::Reused(answer));
                    }
                }
                Some(Slot::Claimed(_)) => {}
            }
            if wait_until.is_past() {
                return Err(Problem::request_in_progress(
                    "nodeId: another checkout for this node is in progress; retry after the \
                     Retry-After delay to get its lease",
                    1,
                ));
            }
            tokio::time::sleep(SAME_NODE_POLL).await;
        }
    }

    /// The node's live sticky lease, extended, or `None` when it is gone (the slot is emptied
    /// and the caller tries again).
    async fn reuse(
        &self,
        beneficiary: &str,
        sticky_key: &str,
        sticky: Sticky,
    ) -> Result<Option<Answer>, Problem> {
        let link = self
            .leases
            .link(&sticky.token)
            .await
            .map_err(state_failed)?;
        let Some((link, link_state)) =
            link.filter(|(link, _)| link.beneficiary == beneficiary && !link.checked_in)
        else {
            self.leases
                .drop_sticky(sticky_key, sticky.state())
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
                    .drop_sticky(sticky_key, sticky.state())
                    .await
                    .map_err(state_failed)?;
                return Ok(None);
            }
            Err(error) => return Err(license_manager_failed(error)),
        };
        let mut body = sticky.body.clone();
        body["expiration"] = json!(expiration);
        self.leases
            .set_sticky(sticky_key, sticky.state(), &body, Some(&expiration))
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
        deadline: &Deadline,
    ) -> Result<Answer, Problem> {
        let request: BorrowRequest = checkout::parse_body(body)?;
        let Some(record_key) = checkout::key_record(beneficiary, "borrow", key)? else {
            return Err(Problem::idempotency_key_required("a borrow"));
        };
        let digest = checkout::request_digest("borrow", &request);
        self.once(
            "borrow",
            Some(record_key),
            &digest,
            deadline,
            |client_token, record| {
                self.draw_borrow(beneficiary, &request, client_token, record, deadline)
            },
        )
        .await
    }

    /// CheckoutBorrowLicense for `request`, from one of the caller's licenses.
    async fn draw_borrow(
        &self,
        beneficiary: &str,
        request: &BorrowRequest,
        client_token: String,
        record: Option<String>,
        deadline: &Deadline,
    ) -> Drawn {
        // CheckoutBorrowLicense takes no beneficiary: the license must be the caller's.
        let product_sku = match self
            .own_license(beneficiary, &request.license_arn, "licenseArn")
            .await
        {
            Ok(product_sku) => product_sku,
            Err(problem) => return Drawn::Failed(problem),
        };
        let checkout = match self
            .license_manager
            .borrow(
                &request.license_arn,
                &request.entitlements,
                request.node_id.as_deref(),
                request.checkout_metadata.as_deref(),
                &client_token,
            )
            .await
        {
            Ok(checkout) => checkout,
            Err(error) => return not_drawn(error),
        };
        let link = Link {
            idempotency_record: record,
            ..Link::new(
                beneficiary,
                "BORROW",
                product_sku.as_deref(),
                None,
                &checkout.body,
            )
        };
        if let Err(problem) = self.record_lease(&checkout, &link).await {
            return self
                .undo(beneficiary, &checkout, &link, None, problem, deadline)
                .await;
        }
        tracing::info!(
            decision = "borrow served",
            beneficiary,
            license_arn = %request.license_arn,
            token = %checkout::token_reference(&checkout.token),
        );
        Drawn::Answered((StatusCode::OK, Some(checkout.body)))
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
                .sticky_lease(sticky_key)
                .await
                .map_err(state_failed)?
                .filter(|sticky| sticky.token == *token)
        {
            let mut body = sticky.body.clone();
            body["expiration"] = json!(expiration);
            self.leases
                .set_sticky(sticky_key, sticky.state(), &body, Some(&expiration))
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
        if let Some(record) = &link.idempotency_record
            && let Err(error) = self.requests.checked_in(record).await
        {
            tracing::warn!(error = %error, "the Idempotency-Key's answer could not be forgotten; it expires with the key");
        }
        if let Some(sticky_key) = &link.sticky_key
            && let Some(sticky) = self
                .leases
                .sticky_lease(sticky_key)
                .await
                .map_err(state_failed)?
                .filter(|sticky| sticky.token == token)
        {
            self.leases
                .drop_sticky(sticky_key, sticky.state())
                .await
                .map_err(state_failed)?;
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

/// A draw License Manager refused (nothing held: the key is free again) or did not answer
/// (a timeout, throttling, 5xx: it may have drawn, so the key stays claimed until the deadline
/// and a retry with it calls with the same ClientToken).
fn not_drawn(error: LicenseManagerError) -> Drawn {
    // Throttling is a refusal: License Manager drew nothing.
    let throttled = error.is("RateLimitExceededException") || error.is("ThrottlingException");
    let transient = error.kind == FailureKind::Transient && !throttled;
    let problem = license_manager_failed(error);
    if transient {
        Drawn::Unsettled(problem)
    } else {
        Drawn::Failed(problem)
    }
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
