//! Times as License Manager writes them: ISO 8601 UTC strings, clamped to what RFC 3339 states.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The earliest time [`fmt_time`] states (0000-01-01T00:00:00Z).
pub const MIN_TIME: i64 = -62_167_219_200;
/// The latest time [`fmt_time`] states (9999-12-31T23:59:59Z).
pub const MAX_TIME: i64 = 253_402_300_799;

/// Unix seconds as an ISO8601 UTC string (`2026-01-01T00:00:00Z`), clamped to the years
/// 0000..=9999 that RFC 3339 can state: never empty.
pub fn fmt_time(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix.clamp(MIN_TIME, MAX_TIME))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "9999-12-31T23:59:59Z".to_string())
}

/// Parses an ISO8601 / RFC 3339 string to unix seconds.
pub fn parse_time(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_as_iso8601() {
        let s = fmt_time(1_800_000_000);
        assert_eq!(s, "2027-01-15T08:00:00Z");
        assert_eq!(parse_time(&s), Some(1_800_000_000));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(fmt_time(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(fmt_time(i64::MIN), "0000-01-01T00:00:00Z");
    }
}
