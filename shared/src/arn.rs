//! ARNs (`arn:partition:service:region:account:resource`): the one reading of their account
//! field that the functions share.

use crate::ids::is_account_id;

/// The account of `arn` when its account field is a 12-digit AWS account id; `None` for an
/// ARN without one (an AWS-owned resource, a malformed ARN, not an ARN at all).
pub fn account_id(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|field| is_account_id(field))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_is_the_fifth_field_when_it_is_twelve_digits() {
        let cases = [
            (
                "arn:aws:license-manager::111122223333:grant:g-1",
                Some("111122223333"),
            ),
            ("arn:aws:iam::444455556666:root", Some("444455556666")),
            (
                "arn:aws:organizations::111122223333:organization/o-abc",
                Some("111122223333"),
            ),
            ("arn:aws:license-manager::1234:grant:g-1", None),
            ("arn:aws:license-manager::aws:license:l-1", None),
            ("arn:aws:license-manager:::license:l-1", None),
            ("g-1", None),
            ("", None),
        ];
        for (arn, expected) in cases {
            assert_eq!(account_id(arn), expected, "{arn}");
        }
    }
}
