//! Identifiers the functions check in the same way: AWS account ids and License Manager's key
//! fingerprints (grant-acceptor's trust rules and checkout-proxy's `KEY_FINGERPRINT`; event
//! envelopes' accounts).

/// Whether `value` is a 12-digit AWS account id.
pub fn is_account_id(value: &str) -> bool {
    value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())
}

/// Checks the shape License Manager gives key fingerprints:
/// `aws:<12-digit issuer account>:<issuer name>:issuer-fingerprint`.
pub fn validate_key_fingerprint(value: &str) -> Result<(), String> {
    const EXPECTED: &str = "expected aws:<12-digit account>:<issuer name>:issuer-fingerprint";
    let name = value
        .strip_prefix("aws:")
        .and_then(|rest| rest.split_once(':'))
        .filter(|(account, _)| is_account_id(account))
        .and_then(|(_, rest)| rest.strip_suffix(":issuer-fingerprint"));
    match name {
        Some(name) if !name.trim().is_empty() => Ok(()),
        _ => Err(format!("{value:?} is not a key fingerprint; {EXPECTED}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(is_account_id("111122223333"));
        for bad in [
            "",
            "11112222333",
            "1111222233334",
            "11112222333a",
            " 11112222333",
        ] {
            assert!(!is_account_id(bad), "{bad}");
        }
    }

    #[test]
    fn key_fingerprints_follow_license_managers_format() {
        assert!(validate_key_fingerprint("aws:111122223333:Acme:issuer-fingerprint").is_ok());
        assert!(
            validate_key_fingerprint("aws:294406891311:AWS/Marketplace:issuer-fingerprint").is_ok()
        );
        for bad in [
            "",
            "Acme",
            "aws:1111:Acme:issuer-fingerprint",
            "aws:111122223333::issuer-fingerprint",
            "aws:111122223333:Acme",
        ] {
            assert!(validate_key_fingerprint(bad).is_err(), "{bad}");
        }
    }
}
