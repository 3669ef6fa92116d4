//! The awsJson1_1 wire protocol: error bodies, HTTP statuses and the caller's account.

use serde_json::json;

/// The `X-Amz-Target` prefix of KMS (`TrentService.<Operation>`).
pub const KMS_TARGET_PREFIX: &str = "TrentService.";
/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The error shapes of the License Manager model, plus the protocol-level errors the
/// emulator itself answers (unknown target, operation not implemented).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `AccessDeniedException`
    AccessDenied,
    /// `AuthorizationException`
    Authorization,
    /// `ConflictException`
    Conflict,
    /// `EntitlementNotAllowedException`
    EntitlementNotAllowed,
    /// `FailedDependencyException`
    FailedDependency,
    /// `FilterLimitExceededException`
    FilterLimitExceeded,
    /// `InvalidParameterValueException`
    InvalidParameterValue,
    /// `InvalidResourceStateException`
    InvalidResourceState,
    /// `LicenseUsageException`
    LicenseUsage,
    /// `NoEntitlementsAllowedException`
    NoEntitlementsAllowed,
    /// `RateLimitExceededException`
    RateLimitExceeded,
    /// `RedirectException`
    Redirect,
    /// `ResourceLimitExceededException`
    ResourceLimitExceeded,
    /// `ResourceNotFoundException`
    ResourceNotFound,
    /// `ServerInternalException`
    ServerInternal,
    /// `UnsupportedDigitalSignatureMethodException`
    UnsupportedDigitalSignatureMethod,
    /// `ValidationException`
    Validation,
    /// `UnknownOperationException`: the `X-Amz-Target` names no operation of the service.
    UnknownOperation,
    /// `NotImplementedException`: an operation of the model this emulator does not implement.
    NotImplemented,
    /// KMS `NotFoundException`.
    KmsNotFound,
    /// KMS `InvalidKeyUsageException`.
    KmsInvalidKeyUsage,
    /// KMS `UnsupportedOperationException`.
    KmsUnsupportedOperation,
    /// KMS `KMSInvalidSignatureException`.
    KmsInvalidSignature,
    /// KMS `AlreadyExistsException`.
    KmsAlreadyExists,
    /// KMS `InvalidMarkerException`.
    KmsInvalidMarker,
    /// KMS `InvalidAliasNameException`.
    KmsInvalidAliasName,
}

impl ErrorKind {
    /// The `__type` written in the error body.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::AccessDenied => "AccessDeniedException",
            Self::Authorization => "AuthorizationException",
            Self::Conflict => "ConflictException",
            Self::EntitlementNotAllowed => "EntitlementNotAllowedException",
            Self::FailedDependency => "FailedDependencyException",
            Self::FilterLimitExceeded => "FilterLimitExceededException",
            Self::InvalidParameterValue => "InvalidParameterValueException",
            Self::InvalidResourceState => "InvalidResourceStateException",
            Self::LicenseUsage => "LicenseUsageException",
            Self::NoEntitlementsAllowed => "NoEntitlementsAllowedException",
            Self::RateLimitExceeded => "RateLimitExceededException",
            Self::Redirect => "RedirectException",
            Self::ResourceLimitExceeded => "ResourceLimitExceededException",
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::ServerInternal => "ServerInternalException",
            Self::UnsupportedDigitalSignatureMethod => "UnsupportedDigitalSignatureMethodException",
            Self::Validation => "ValidationException",
            Self::UnknownOperation => "UnknownOperationException",
            Self::NotImplemented => "NotImplementedException",
            Self::KmsNotFound => "NotFoundException",
            Self::KmsInvalidKeyUsage => "InvalidKeyUsageException",
            Self::KmsUnsupportedOperation => "UnsupportedOperationException",
            Self::KmsInvalidSignature => "KMSInvalidSignatureException",
            Self::KmsAlreadyExists => "AlreadyExistsException",
            Self::KmsInvalidMarker => "InvalidMarkerException",
            Self::KmsInvalidAliasName => "InvalidAliasNameException",
        }
    }

    /// The HTTP status. The model declares no `httpStatusCode` for its errors, so the
    /// awsJson convention applies: client errors 400, faults (`ServerInternalException`)
    /// 500; throttling answers 429. An unimplemented operation is a client error (400) so
    /// that no client retries it.
    pub fn status(self) -> u16 {
        match self {
            Self::ServerInternal => 500,
            Self::RateLimitExceeded => 429,
            _ => 400,
        }
    }
}

/// An error answered to the caller as `{"__type": ..., "message": ...}`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {message}", kind.type_name())]
pub struct ApiError {
    /// Which error shape.
    pub kind: ErrorKind,
    /// Human-readable explanation.
    pub message: String,
}

impl ApiError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// `ValidationException`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Validation, message)
    }

    /// `InvalidParameterValueException`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParameterValue, message)
    }

    /// `ResourceNotFoundException`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ResourceNotFound, message)
    }

    /// `AccessDeniedException`.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AccessDenied, message)
    }

    /// `ConflictException`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// The JSON body of the error.
    pub fn body(&self) -> serde_json::Value {
        json!({ "__type": self.kind.type_name(), "message": self.message })
    }
}

/// The caller's account: the SigV4 access key id of the `Authorization` header when it is
/// 12 digits, else `default`.
pub fn caller_account(authorization: Option<&str>, default: &str) -> String {
    authorization
        .and_then(|h| h.split("Credential=").nth(1))
        .and_then(|c| c.split('/').next())
        .map(str::trim)
        .filter(|akid| akid.len() == 12 && akid.bytes().all(|b| b.is_ascii_digit()))
        .map_or_else(|| default.to_string(), str::to_string)
}

/// The service an `X-Amz-Target` addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `AWSLicenseManager.<Operation>`.
    LicenseManager,
    /// KMS: `TrentService.<Operation>`.
    Kms,
}

/// The service and operation named by `X-Amz-Target: AWSLicenseManager.<Operation>` or
/// `TrentService.<Operation>` (KMS).
pub fn target_operation(target: Option<&str>) -> Result<(Service, &str), ApiError> {
    const EXPECTED: &str = "AWSLicenseManager.<Operation> or TrentService.<Operation>";
    let target = target.ok_or_else(|| {
        ApiError::new(
            ErrorKind::UnknownOperation,
            format!("Missing X-Amz-Target header (expected {EXPECTED})"),
        )
    })?;
    let routed = if let Some(op) = target.strip_prefix("AWSLicenseManager.") {
        Some((Service::LicenseManager, op))
    } else {
        target
            .strip_prefix(KMS_TARGET_PREFIX)
            .map(|op| (Service::Kms, op))
    };
    routed.filter(|(_, op)| !op.is_empty()).ok_or_else(|| {
        ApiError::new(
            ErrorKind::UnknownOperation,
            format!("Unknown X-Amz-Target '{target}' (expected {EXPECTED})"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_comes_from_a_12_digit_access_key_id() {
        let h = "AWS4-HMAC-SHA256 Credential=444455556666/20260101/us-east-1/license-manager/aws4_request, SignedHeaders=host, Signature=abc";
        assert_eq!(caller_account(Some(h), "123456789012"), "444455556666");
    }

    #[test]
    fn other_access_key_ids_fall_back_to_the_default_account() {
        let h = "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/us-east-1/license-manager/aws4_request";
        assert_eq!(caller_account(Some(h), "123456789012"), "123456789012");
        assert_eq!(caller_account(None, "123456789012"), "123456789012");
        assert_eq!(
            caller_account(Some("Credential=1234/x"), "123456789012"),
            "123456789012"
        );
    }

    #[test]
    fn target_must_carry_the_service_prefix() {
        assert_eq!(
            target_operation(Some("AWSLicenseManager.GetLicense")).ok(),
            Some((Service::LicenseManager, "GetLicense"))
        );
        assert_eq!(
            target_operation(Some("TrentService.Sign")).ok(),
            Some((Service::Kms, "Sign"))
        );
        let err = target_operation(Some("Foo.GetLicense")).err();
        assert_eq!(err.map(|e| e.kind), Some(ErrorKind::UnknownOperation));
        assert!(target_operation(None).is_err());
    }

    #[test]
    fn statuses_follow_the_awsjson_convention() {
        assert_eq!(ErrorKind::Validation.status(), 400);
        assert_eq!(ErrorKind::ServerInternal.status(), 500);
        assert_eq!(ErrorKind::RateLimitExceeded.status(), 429);
    }
}
