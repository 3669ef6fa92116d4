//! Errors that will not heal without a person: the one classification every function acts on.
//!
//! A call refused for lack of permission or with credentials AWS does not accept (an IAM or SCP
//! change), or aimed at the project's state table or bus when it does not exist, fails the same
//! way on every retry. The functions finish the other work of the invocation, then fail it
//! naming these errors, so that Lambda's retries end in the dead-letter queue and its alarm
//! instead of a `failed` count no one reads.

/// Error codes of any AWS service that mean the caller is not allowed or not recognised.
const REFUSED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationException",
    "AuthorizationErrorException",
    "AuthFailure",
    "InvalidClientTokenId",
    "MissingAuthenticationToken",
    "NotAuthorizedForSourceException",
    "NotAuthorizedForDetailTypeException",
    "UnauthorizedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
];

/// The code DynamoDB and EventBridge answer for a table or bus that does not exist.
const MISSING_RESOURCE_CODE: &str = "ResourceNotFoundException";

/// Whether an error code of any AWS call means a person must act (permissions, credentials).
pub fn refused(code: &str) -> bool {
    REFUSED_CODES.contains(&code)
}

/// Whether an error code of a call to the project's own state table or bus means a person must
/// act: refused, or the table or bus does not exist. (For License Manager a missing resource
/// is a grant or license that went away, which is no one's problem.)
pub fn needs_attention_on_own_resource(code: &str) -> bool {
    refused(code) || code == MISSING_RESOURCE_CODE
}

/// Most distinct errors an [`Attention`] keeps (one missing table fails every item alike).
const MAX_NOTES: usize = 10;

/// The errors of one invocation that need a person, noted where they happen (also where the
/// work goes on without them, e.g. a state table that cannot be written) and named when the
/// invocation fails. Shared by the concurrent items of an invocation.
#[derive(Debug, Default)]
pub struct Attention {
    notes: std::sync::Mutex<Vec<String>>,
}

impl Attention {
    /// Notes `error` (once, and at most [`MAX_NOTES`] distinct ones).
    pub fn note(&self, error: impl std::fmt::Display) {
        let error = error.to_string();
        let mut notes = self
            .notes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if notes.len() < MAX_NOTES && !notes.contains(&error) {
            notes.push(error);
        }
    }

    /// The errors noted so far.
    pub fn notes(&self) -> Vec<String> {
        self.notes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_and_credentials_need_a_person_throttling_does_not() {
        for code in [
            "AccessDeniedException",
            "AccessDenied",
            "UnrecognizedClientException",
            "AuthorizationException",
        ] {
            assert!(refused(code), "{code}");
            assert!(needs_attention_on_own_resource(code), "{code}");
        }
        for code in [
            "ThrottlingException",
            "ValidationException",
            "ConflictException",
        ] {
            assert!(!refused(code), "{code}");
            assert!(!needs_attention_on_own_resource(code), "{code}");
        }
        assert!(
            !refused("ResourceNotFoundException"),
            "a grant that went away"
        );
        assert!(
            needs_attention_on_own_resource("ResourceNotFoundException"),
            "a missing table or bus"
        );
    }

    #[test]
    fn the_same_error_is_named_once() {
        let attention = Attention::default();
        attention.note("AccessDeniedException: no");
        attention.note("AccessDeniedException: no");
        attention.note("ResourceNotFoundException: table");
        assert_eq!(attention.notes().len(), 2);
    }
}
