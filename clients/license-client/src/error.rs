//! Errors, typed by the checkout API's problem codes.

use std::time::Duration;

/// A problem `code` of the checkout API (its OpenAPI document lists them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemCode {
    /// `invalid-json`: the body is not a JSON object.
    InvalidJson,
    /// `unknown-field`: the body has a member the route does not take.
    UnknownField,
    /// `missing-field`: a required member is missing.
    MissingField,
    /// `invalid-field`: a member breaks a rule (`detail` names it).
    InvalidField,
    /// `beneficiary-not-allowed`: the body names a beneficiary.
    BeneficiaryNotAllowed,
    /// `invalid-idempotency-key`: the `Idempotency-Key` header is malformed.
    InvalidIdempotencyKey,
    /// `idempotency-key-required`: a PERPETUAL checkout or a borrow without a key (428).
    IdempotencyKeyRequired,
    /// `idempotency-key-reused`: the key was used for a different request (422).
    IdempotencyKeyReused,
    /// `request-in-progress`: the request with this key, or one for this node, is in flight
    /// (409, retried after its `Retry-After`).
    RequestInProgress,
    /// `customer-rate-limited`: past the service's per-customer rate (429).
    CustomerRateLimited,
    /// `invalid-request`: License Manager refused the request as invalid.
    InvalidRequest,
    /// `missing-beneficiary`: the bearer token carries no beneficiary claim.
    MissingBeneficiary,
    /// `route-not-found`: no such route (a wrong `--api-url`?).
    RouteNotFound,
    /// `method-not-allowed`: the route takes another method.
    MethodNotAllowed,
    /// `license-not-found`: no license of yours has this id.
    LicenseNotFound,
    /// `lease-not-found`: no live lease of yours has this token or id.
    LeaseNotFound,
    /// `not-found`: no license of yours for the SKU.
    NotFound,
    /// `no-entitlements-allowed`: every seat is in use (or none is in your license).
    NoEntitlementsAllowed,
    /// `entitlement-not-allowed`: the license does not allow this checkout.
    EntitlementNotAllowed,
    /// `conflict`: the lease is checked in already.
    Conflict,
    /// `payload-too-large`: the body is too large.
    PayloadTooLarge,
    /// `rate-limited`: too many requests (429).
    RateLimited,
    /// `internal-error`: the service is misconfigured (500).
    InternalError,
    /// `service-unavailable`: the service is unavailable for now (503).
    ServiceUnavailable,
    /// A code this client does not know, or none (a gateway's own answer).
    Other(String),
}

impl ProblemCode {
    /// The code of `text`.
    pub fn parse(text: &str) -> Self {
        match text {
            "invalid-json" => Self::InvalidJson,
            "unknown-field" => Self::UnknownField,
            "missing-field" => Self::MissingField,
            "invalid-field" => Self::InvalidField,
            "beneficiary-not-allowed" => Self::BeneficiaryNotAllowed,
            "invalid-idempotency-key" => Self::InvalidIdempotencyKey,
            "idempotency-key-required" => Self::IdempotencyKeyRequired,
            "idempotency-key-reused" => Self::IdempotencyKeyReused,
            "request-in-progress" => Self::RequestInProgress,
            "customer-rate-limited" => Self::CustomerRateLimited,
            "invalid-request" => Self::InvalidRequest,
            "missing-beneficiary" => Self::MissingBeneficiary,
            "route-not-found" => Self::RouteNotFound,
            "method-not-allowed" => Self::MethodNotAllowed,
            "license-not-found" => Self::LicenseNotFound,
            "lease-not-found" => Self::LeaseNotFound,
            "not-found" => Self::NotFound,
            "no-entitlements-allowed" => Self::NoEntitlementsAllowed,
            "entitlement-not-allowed" => Self::EntitlementNotAllowed,
            "conflict" => Self::Conflict,
            "payload-too-large" => Self::PayloadTooLarge,
            "rate-limited" => Self::RateLimited,
            "internal-error" => Self::InternalError,
            "service-unavailable" => Self::ServiceUnavailable,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The code as the API writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidJson => "invalid-json",
            Self::UnknownField => "unknown-field",
            Self::MissingField => "missing-field",
            Self::InvalidField => "invalid-field",
            Self::BeneficiaryNotAllowed => "beneficiary-not-allowed",
            Self::InvalidIdempotencyKey => "invalid-idempotency-key",
            Self::IdempotencyKeyRequired => "idempotency-key-required",
            Self::IdempotencyKeyReused => "idempotency-key-reused",
            Self::RequestInProgress => "request-in-progress",
            Self::CustomerRateLimited => "customer-rate-limited",
            Self::InvalidRequest => "invalid-request",
            Self::MissingBeneficiary => "missing-beneficiary",
            Self::RouteNotFound => "route-not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::LicenseNotFound => "license-not-found",
            Self::LeaseNotFound => "lease-not-found",
            Self::NotFound => "not-found",
            Self::NoEntitlementsAllowed => "no-entitlements-allowed",
            Self::EntitlementNotAllowed => "entitlement-not-allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload-too-large",
            Self::RateLimited => "rate-limited",
            Self::InternalError => "internal-error",
            Self::ServiceUnavailable => "service-unavailable",
            Self::Other(code) => code,
        }
    }
}

/// A refusal of the API: its status, `code`, `detail` and `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The HTTP status.
    pub status: u16,
    /// The problem's `code`.
    pub code: ProblemCode,
    /// What is wrong (`detail`, or the gateway's message).
    pub detail: String,
    /// The `Retry-After` delay, when the answer had one.
    pub retry_after: Option<Duration>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code.as_str(), self.detail)
    }
}

/// What can go wrong talking to the checkout API or verifying a token.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API refused (4xx) or failed (5xx), after the retries a 429 or 503 gets.
    #[error("the license API answered {0}")]
    Api(Problem),
    /// No answer: the connection failed or the request timed out, after the retries.
    #[error("the license API at {url} did not answer: {message}")]
    Transport {
        /// The URL called.
        url: String,
        /// Why.
        message: String,
    },
    /// An answer that is not what the API documents.
    #[error("the license API answered something unexpected: {0}")]
    InvalidResponse(String),
    /// The client is set up wrongly (API URL, token, node id); names what is wrong.
    #[error("{0}")]
    Config(String),
    /// A signed token failed verification; says why.
    #[error("the token does not verify: {0}")]
    Verification(String),
}

impl Error {
    /// The API's problem, if the API answered one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Self::Api(problem) => Some(problem),
            _ => None,
        }
    }

    /// Whether the API answered with `code`.
    pub fn is(&self, code: &ProblemCode) -> bool {
        self.problem().is_some_and(|problem| &problem.code == code)
    }

    /// Whether the lease this error is about is gone for good (checked in by someone,
    /// expired, or never yours): 404 `lease-not-found` or 409 `conflict`.
    pub fn lease_is_gone(&self) -> bool {
        self.is(&ProblemCode::LeaseNotFound) || self.is(&ProblemCode::Conflict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back_as_written_and_unknown_ones_are_kept() {
        for code in [
            "invalid-json",
            "lease-not-found",
            "no-entitlements-allowed",
            "rate-limited",
            "customer-rate-limited",
            "request-in-progress",
            "service-unavailable",
        ] {
            assert_eq!(ProblemCode::parse(code).as_str(), code);
        }
        assert_eq!(
            ProblemCode::parse("some-future-code"),
            ProblemCode::Other("some-future-code".into())
        );
    }
}
