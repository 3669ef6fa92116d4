//! What a license event or sweep item calls for: the pure decisions behind
//! [`crate::watch`], as the README's license-events table states them (status change,
//! expiring, overage, nothing), and which licenses are this account's concern.
//!
//! "Once" is not decided here: the checks record each event in the state table before it is
//! sent, and the previous alert level of an entitlement comes from there too.

use aws_sdk_licensemanager::types::{
    EntitlementUsage, GrantStatus, GrantedLicense, License, ReceivedStatus,
};
use license_automation::limits::{Level, Usage};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What is known about a license, from GetLicense, ListLicenses or ListReceivedLicenses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseFacts {
    /// The license.
    pub arn: String,
    /// Its status (`AVAILABLE`, `DEACTIVATED`, ...).
    pub status: String,
    /// Its version.
    pub version: String,
    /// Its product SKU.
    pub product_sku: String,
    /// `Validity.End` as License Manager gives it.
    pub validity_end: Option<String>,
    /// Its entitlements that allow overage, with their unit and MaxCount.
    pub overage_entitlements: Vec<(String, String, Option<i64>)>,
}

macro_rules! facts_from {
    ($license:expr) => {{
        let license = $license;
        LicenseFacts {
            arn: license.license_arn().unwrap_or_default().to_owned(),
            status: license
                .status()
                .map(|status| status.as_str().to_owned())
                .unwrap_or_default(),
            version: license.version().unwrap_or_default().to_owned(),
            product_sku: license.product_sku().unwrap_or_default().to_owned(),
            validity_end: license
                .validity()
                .and_then(|validity| validity.end())
                .map(str::to_owned),
            overage_entitlements: license
                .entitlements()
                .iter()
                .filter(|entitlement| entitlement.overage() == Some(true))
                .map(|entitlement| {
                    (
                        entitlement.name().to_owned(),
                        entitlement.unit().as_str().to_owned(),
                        entitlement.max_count(),
                    )
                })
                .collect(),
        }
    }};
}

impl From<&License> for LicenseFacts {
    fn from(license: &License) -> Self {
        facts_from!(license)
    }
}

impl From<&GrantedLicense> for LicenseFacts {
    fn from(license: &GrantedLicense) -> Self {
        facts_from!(license)
    }
}

/// Statuses in which a license cannot be used: `License Status Changed` is emitted for them.
pub const UNUSABLE_STATUSES: [&str; 5] = [
    "DEACTIVATED",
    "SUSPENDED",
    "EXPIRED",
    "PENDING_DELETE",
    "DELETED",
];

/// Whether a license in `status` cannot be used.
pub fn unusable(status: &str) -> bool {
    UNUSABLE_STATUSES.contains(&status)
}

/// A license's `Validity.End` within the warning window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiring {
    /// `Validity.End`.
    pub end: OffsetDateTime,
    /// Whole days until then.
    pub days_remaining: i64,
}

/// An overage-allowed entitlement whose usage was read: whether it is over is decided with
/// the level last recorded ([`overage_due`](license_automation::limits::overage_due)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeteredEntitlement {
    /// The entitlement.
    pub name: String,
    /// Its unit.
    pub unit: String,
    /// What it consumes of its MaxCount.
    pub usage: Usage,
}

/// What a license, as read back, calls for before "once" is applied.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LicenseAssessment {
    /// `License Status Changed` is due (the status is unusable).
    pub status_change: bool,
    /// `License Expiring` is due.
    pub expiring: Option<Expiring>,
    /// The overage-allowed entitlements to compare with their recorded level.
    pub metered: Vec<MeteredEntitlement>,
    /// What could not be read (the audit line's `note`; the last one wins).
    pub note: Option<String>,
}

/// Assesses `facts` (and `usage`, read for consumption changes) at `now`.
pub fn assess(
    facts: &LicenseFacts,
    usage: &[EntitlementUsage],
    now: OffsetDateTime,
    warning_days: u32,
) -> LicenseAssessment {
    let mut assessment = LicenseAssessment {
        status_change: unusable(&facts.status),
        ..LicenseAssessment::default()
    };
    match expiry(facts, now, warning_days) {
        Ok(expiring) => assessment.expiring = expiring,
        Err(note) => assessment.note = Some(note),
    }
    for entitlement in usage {
        match metered(facts, entitlement) {
            Ok(Some(metered)) => assessment.metered.push(metered),
            Ok(None) => {}
            Err(note) => assessment.note = Some(note),
        }
    }
    assessment
}

/// `License Expiring` for a usable license whose `Validity.End` is within `warning_days`;
/// an end that is not ISO 8601 is a note.
fn expiry(
    facts: &LicenseFacts,
    now: OffsetDateTime,
    warning_days: u32,
) -> Result<Option<Expiring>, String> {
    if unusable(&facts.status) {
        return Ok(None);
    }
    let Some(end_text) = facts.validity_end.as_deref() else {
        return Ok(None);
    };
    let end = OffsetDateTime::parse(end_text, &Rfc3339)
        .map_err(|_| format!("Validity.End {end_text:?} is not an ISO 8601 time"))?;
    Ok(expiring_within(end, now, warning_days).then(|| Expiring {
        end,
        days_remaining: (end - now).whole_days(),
    }))
}

/// The usage of `usage`'s entitlement when the license allows it overage and it has a
/// MaxCount (GetLicenseUsage's, else the license's); a consumed value that is not a whole
/// number is a note.
fn metered(
    facts: &LicenseFacts,
    usage: &EntitlementUsage,
) -> Result<Option<MeteredEntitlement>, String> {
    let Some((name, unit, max_count)) = facts
        .overage_entitlements
        .iter()
        .find(|(name, _, _)| name == usage.name())
    else {
        return Ok(None);
    };
    let Some(count) = usage
        .max_count()
        .and_then(|count| count.parse().ok())
        .or(*max_count)
    else {
        return Ok(None);
    };
    let consumed = usage.consumed_value().parse::<i64>().map_err(|_| {
        format!(
            "entitlement {name}: consumed value {:?} is not a whole number",
            usage.consumed_value()
        )
    })?;
    Ok(Some(MeteredEntitlement {
        name: name.clone(),
        unit: unit.clone(),
        usage: Usage { consumed, count },
    }))
}

/// Whether a license valid until `end` is, at `now`, still valid and within `warning_days` of
/// its end.
pub fn expiring_within(end: OffsetDateTime, now: OffsetDateTime, warning_days: u32) -> bool {
    let remaining = end - now;
    remaining > time::Duration::ZERO && remaining <= time::Duration::days(i64::from(warning_days))
}

/// The status to name as `previousStatus`: the one last recorded, when it differs.
pub fn previous_status(recorded: Option<&str>, status: &str) -> Option<String> {
    recorded
        .filter(|before| *before != status)
        .map(str::to_owned)
}

/// Whether an entitlement was over its MaxCount when last seen, from its recorded level
/// (`recorded`, when the table could be read): `None` when unknown, which alerts again
/// rather than stay silent.
pub fn previously_over(recorded: Option<&str>, readable: bool) -> Option<bool> {
    match recorded.map(str::parse::<Level>) {
        Some(Ok(level)) => Some(level == Level::Exceeded),
        Some(Err(_)) => None,
        None if readable => Some(false),
        None => None,
    }
}

/// Whether a `Grant Change` makes the grant's license this account's concern: a grantee
/// holds it only through an ACTIVE grant; a grant this account gave is always followed.
pub fn follows_grant(status: &GrantStatus, granted_here: bool) -> bool {
    *status == GrantStatus::Active || granted_here
}

/// Whether a license received from another account is in use here: its grant was accepted
/// and activated (a listing without the metadata is taken as in use).
pub fn in_use_here(received: Option<&ReceivedStatus>) -> bool {
    received.is_none_or(|status| *status == ReceivedStatus::Active)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_licensemanager::types::EntitlementDataUnit;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);

    /// (status, Validity.End, usage, status change, expiring in days, metered consumption,
    /// note)
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        &'a [EntitlementUsage],
        bool,
        Option<i64>,
        Option<i64>,
        Option<&'a str>,
    );

    fn facts(status: &str, end: Option<&str>) -> LicenseFacts {
        LicenseFacts {
            arn: "arn:aws:license-manager::111122223333:license:l-1".to_owned(),
            status: status.to_owned(),
            version: "2".to_owned(),
            product_sku: "acme-pro".to_owned(),
            validity_end: end.map(str::to_owned),
            overage_entitlements: vec![("Users".to_owned(), "Count".to_owned(), Some(10))],
        }
    }

    fn usage(name: &str, consumed: &str, max: Option<&str>) -> EntitlementUsage {
        EntitlementUsage::builder()
            .name(name)
            .consumed_value(consumed)
            .set_max_count(max.map(str::to_owned))
            .unit(EntitlementDataUnit::Count)
            .build()
            .unwrap()
    }

    #[test]
    fn a_license_calls_for_a_status_change_expiring_overage_or_nothing() {
        let soon = Some("2026-12-01T00:00:00Z");
        let later = Some("2027-06-01T00:00:00Z");
        let over = [usage("Users", "11", None)];
        let under = [usage("Users", "9", None)];
        let other = [usage("Cores", "99", Some("4"))];
        // (status, Validity.End, usage) -> (status change, expiring in days, metered
        // consumption, note)
        let cases: [Case<'_>; 12] = [
            ("AVAILABLE", None, &[], false, None, None, None),
            ("AVAILABLE", later, &[], false, None, None, None),
            ("AVAILABLE", soon, &[], false, Some(7), None, None),
            (
                "AVAILABLE",
                Some("2026-11-01T00:00:00Z"),
                &[],
                false,
                None,
                None,
                None,
            ),
            (
                "AVAILABLE",
                Some("soon"),
                &[],
                false,
                None,
                None,
                Some("Validity.End \"soon\" is not an ISO 8601 time"),
            ),
            ("EXPIRED", soon, &[], true, None, None, None),
            ("DEACTIVATED", None, &[], true, None, None, None),
            ("SUSPENDED", later, &over, true, None, Some(11), None),
            ("PENDING_AVAILABLE", soon, &[], false, Some(7), None, None),
            ("AVAILABLE", None, &over, false, None, Some(11), None),
            ("AVAILABLE", soon, &under, false, Some(7), Some(9), None),
            ("AVAILABLE", None, &other, false, None, None, None),
        ];
        for (status, end, usage, status_change, days, consumed, note) in cases {
            let assessment = assess(&facts(status, end), usage, NOW, 30);
            let case = format!("{status} {end:?} {usage:?}");
            assert_eq!(assessment.status_change, status_change, "{case}");
            assert_eq!(
                assessment.expiring.map(|e| e.days_remaining),
                days,
                "{case}"
            );
            assert_eq!(
                assessment.metered.first().map(|m| m.usage.consumed),
                consumed,
                "{case}"
            );
            assert_eq!(assessment.note.as_deref(), note, "{case}");
        }
    }

    #[test]
    fn max_count_comes_from_the_usage_else_the_license_and_bad_numbers_are_noted() {
        let read = |u: EntitlementUsage| assess(&facts("AVAILABLE", None), &[u], NOW, 30);
        let metered = read(usage("Users", "3", Some("20"))).metered;
        assert_eq!(
            metered[0].usage,
            Usage {
                consumed: 3,
                count: 20
            }
        );
        assert_eq!(metered[0].unit, "Count");
        let metered = read(usage("Users", "3", Some("lots"))).metered;
        assert_eq!(
            metered[0].usage,
            Usage {
                consumed: 3,
                count: 10
            }
        );
        let noted = read(usage("Users", "2.5", None));
        assert!(noted.metered.is_empty());
        assert_eq!(
            noted.note.as_deref(),
            Some("entitlement Users: consumed value \"2.5\" is not a whole number")
        );
        let mut unlimited = facts("AVAILABLE", None);
        unlimited.overage_entitlements[0].2 = None;
        assert!(
            assess(&unlimited, &[usage("Users", "3", None)], NOW, 30)
                .metered
                .is_empty()
        );
    }

    #[test]
    fn a_license_is_expiring_from_the_window_start_until_its_end() {
        let cases = [
            (datetime!(2026-12-23 12:00 UTC), true, "exactly 30 days"),
            (datetime!(2026-12-23 12:00:01 UTC), false, "just outside"),
            (datetime!(2026-11-23 12:00:01 UTC), true, "a second left"),
            (NOW, false, "ended now"),
            (datetime!(2026-11-01 00:00 UTC), false, "ended before"),
        ];
        for (end, expected, case) in cases {
            assert_eq!(expiring_within(end, NOW, 30), expected, "{case}");
        }
    }

    #[test]
    fn the_previous_level_is_unknown_only_when_unreadable_or_odd() {
        let cases = [
            (Some("exceeded"), true, Some(true)),
            (Some("ok"), true, Some(false)),
            (Some("warning"), true, Some(false)),
            (Some("odd"), true, None),
            (None, true, Some(false)),
            (None, false, None),
        ];
        for (recorded, readable, expected) in cases {
            assert_eq!(
                previously_over(recorded, readable),
                expected,
                "{recorded:?} {readable}"
            );
        }
        assert_eq!(
            previous_status(Some("AVAILABLE"), "EXPIRED").as_deref(),
            Some("AVAILABLE")
        );
        assert_eq!(previous_status(Some("EXPIRED"), "EXPIRED"), None);
        assert_eq!(previous_status(None, "EXPIRED"), None);
    }

    #[test]
    fn a_grant_s_license_is_followed_when_held_here_or_granted_from_here() {
        use GrantStatus::{Active, Disabled, PendingAccept, Rejected};
        let cases = [
            (Active, false, true),
            (PendingAccept, false, false),
            (Disabled, false, false),
            (Rejected, false, false),
            (PendingAccept, true, true),
            (Rejected, true, true),
        ];
        for (status, granted_here, expected) in cases {
            assert_eq!(
                follows_grant(&status, granted_here),
                expected,
                "{status} {granted_here}"
            );
        }
        assert!(in_use_here(Some(&ReceivedStatus::Active)));
        assert!(in_use_here(None));
        assert!(!in_use_here(Some(&ReceivedStatus::PendingAccept)));
        assert!(!in_use_here(Some(&ReceivedStatus::Disabled)));
    }

    #[test]
    fn facts_keep_only_entitlements_that_allow_overage() {
        use aws_sdk_licensemanager::types::{DatetimeRange, Entitlement, EntitlementUnit};
        let license = License::builder()
            .license_arn("arn:aws:license-manager::111122223333:license:l-1")
            .status(aws_sdk_licensemanager::types::LicenseStatus::Available)
            .version("3")
            .product_sku("acme-pro")
            .validity(
                DatetimeRange::builder()
                    .begin("2026-01-01T00:00:00Z")
                    .end("2027-01-01T00:00:00Z")
                    .build()
                    .unwrap(),
            )
            .entitlements(
                Entitlement::builder()
                    .name("Users")
                    .unit(EntitlementUnit::Count)
                    .max_count(10)
                    .overage(true)
                    .build()
                    .unwrap(),
            )
            .entitlements(
                Entitlement::builder()
                    .name("Cores")
                    .unit(EntitlementUnit::Count)
                    .max_count(4)
                    .build()
                    .unwrap(),
            )
            .build();
        let facts = LicenseFacts::from(&license);
        assert_eq!(facts.status, "AVAILABLE");
        assert_eq!(facts.version, "3");
        assert_eq!(facts.validity_end.as_deref(), Some("2027-01-01T00:00:00Z"));
        assert_eq!(
            facts.overage_entitlements,
            vec![("Users".to_owned(), "Count".to_owned(), Some(10))]
        );
    }
}
