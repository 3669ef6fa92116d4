//! Events in: EventBridge envelopes from License Manager (the events the README names under
//! each function's triggers).
//!
//! AWS does not publish the `detail` payload of License Manager's events and delivers them on
//! a best-effort basis, so the envelope is parsed strictly while `detail` and `resources` are
//! only searched for hints: grant and license ARNs, wherever they appear and whatever the key
//! is called. Handlers read the truth from the License Manager API.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

/// The `source` License Manager's events carry.
pub const LICENSE_MANAGER_SOURCE: &str = "aws.license-manager";
/// The `detail-type` of scheduled events (EventBridge rules and the template's Scheduler input).
pub const SCHEDULED_DETAIL_TYPE: &str = "Scheduled Event";
/// The sources a scheduled event may carry: EventBridge Scheduler (the template's `Input`) and
/// EventBridge's scheduled rules.
pub const SCHEDULER_SOURCES: [&str; 2] = ["aws.scheduler", "aws.events"];

/// The detail-types License Manager sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LicenseManagerDetailType {
    /// `Grant Change`
    GrantChange,
    /// `License Change`
    LicenseChange,
    /// `License Consumption Change`
    LicenseConsumptionChange,
    /// `License Token Change`
    LicenseTokenChange,
}

impl LicenseManagerDetailType {
    /// All detail-types, in the order of the list above.
    pub const ALL: [Self; 4] = [
        Self::GrantChange,
        Self::LicenseChange,
        Self::LicenseConsumptionChange,
        Self::LicenseTokenChange,
    ];

    /// The `detail-type` string as AWS sends it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GrantChange => "Grant Change",
            Self::LicenseChange => "License Change",
            Self::LicenseConsumptionChange => "License Consumption Change",
            Self::LicenseTokenChange => "License Token Change",
        }
    }

    /// The detail-type for `value`, if License Manager sends it.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
    }
}

/// An envelope that is not a well-formed EventBridge event.
#[derive(Debug, thiserror::Error)]
#[error("malformed EventBridge event: {0}")]
pub struct MalformedEvent(String);

/// The EventBridge envelope, with the members every EventBridge event has.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Envelope {
    /// Envelope version (`"0"`).
    #[serde(default)]
    pub version: Option<String>,
    /// The event id, unique per event (and the key for idempotent replays).
    pub id: String,
    /// The detail-type.
    pub detail_type: String,
    /// The source, e.g. `aws.license-manager`.
    pub source: String,
    /// The account the event belongs to.
    pub account: String,
    /// When the event happened.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The region.
    pub region: String,
    /// ARNs of the resources involved.
    #[serde(default)]
    pub resources: Vec<String>,
    /// The service-specific payload; not documented by AWS for License Manager.
    pub detail: Value,
}

/// An event from License Manager, with its detail-type recognised.
#[derive(Debug, Clone)]
pub struct LicenseManagerEvent {
    /// Which of the four detail-types it is.
    pub detail_type: LicenseManagerDetailType,
    /// The whole envelope.
    pub envelope: Envelope,
}

impl LicenseManagerEvent {
    /// The grant and license ARNs mentioned anywhere in `resources` and `detail`.
    pub fn arn_hints(&self) -> ArnHints {
        let mut hints = ArnHints::default();
        for resource in &self.envelope.resources {
            hints.add_from_text(resource);
        }
        hints.add_from_json(&self.envelope.detail);
        hints
    }
}

/// What an incoming event turned out to be.
#[derive(Debug, Clone)]
pub enum IncomingEvent {
    /// A License Manager event of a known detail-type.
    LicenseManager(LicenseManagerEvent),
    /// A scheduled event: `detail-type: Scheduled Event` from `aws.scheduler` or `aws.events`,
    /// or `{}` (what EventBridge Scheduler sends when a schedule has no `Input`; its envelope
    /// then has source `aws.scheduler`, empty id, account and region, and the parse time).
    Scheduled(Envelope),
    /// A well-formed event of another source or detail-type: acknowledge it with a log line.
    Unrecognized(Envelope),
}

/// Parses an EventBridge event as Lambda hands it over.
///
/// A malformed envelope is an error; a well-formed one that License Manager did not send, or
/// whose detail-type we do not know, is [`IncomingEvent::Unrecognized`].
pub fn parse_event(payload: Value) -> Result<IncomingEvent, MalformedEvent> {
    if payload.as_object().is_some_and(serde_json::Map::is_empty) {
        return Ok(IncomingEvent::Scheduled(Envelope {
            version: None,
            id: String::new(),
            detail_type: SCHEDULED_DETAIL_TYPE.to_owned(),
            source: SCHEDULER_SOURCES[0].to_owned(),
            account: String::new(),
            time: OffsetDateTime::now_utc(),
            region: String::new(),
            resources: Vec::new(),
            detail: Value::Object(serde_json::Map::new()),
        }));
    }
    let envelope: Envelope = serde_path_to_error::deserialize(payload).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        MalformedEvent(if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        })
    })?;
    if envelope.detail_type == SCHEDULED_DETAIL_TYPE
        && SCHEDULER_SOURCES.contains(&envelope.source.as_str())
    {
        return Ok(IncomingEvent::Scheduled(envelope));
    }
    if envelope.source != LICENSE_MANAGER_SOURCE {
        return Ok(IncomingEvent::Unrecognized(envelope));
    }
    Ok(
        match LicenseManagerDetailType::parse(&envelope.detail_type) {
            Some(detail_type) => IncomingEvent::LicenseManager(LicenseManagerEvent {
                detail_type,
                envelope,
            }),
            None => IncomingEvent::Unrecognized(envelope),
        },
    )
}

/// Grant and license ARNs found in an event, deduplicated and sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArnHints {
    /// ARNs of grants (`arn:aws:license-manager::<account>:grant:g-...`).
    pub grant_arns: BTreeSet<String>,
    /// ARNs of licenses (`arn:aws:license-manager::<account>:license:l-...`).
    pub license_arns: BTreeSet<String>,
}

/// How deep [`ArnHints::add_from_json`] descends; deeper values are not searched.
const MAX_DEPTH: usize = 32;

impl ArnHints {
    /// Whether no ARN was found.
    pub fn is_empty(&self) -> bool {
        self.grant_arns.is_empty() && self.license_arns.is_empty()
    }

    /// Adds every grant or license ARN found in any string of `value`, at any depth up to a
    /// limit, under any key.
    pub fn add_from_json(&mut self, value: &Value) {
        self.walk(value, 0);
    }

    fn walk(&mut self, value: &Value, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        match value {
            Value::String(text) => self.add_from_text(text),
            Value::Array(items) => items.iter().for_each(|item| self.walk(item, depth + 1)),
            Value::Object(members) => members.values().for_each(|item| self.walk(item, depth + 1)),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Adds every grant or license ARN that appears in `text` (which may hold other words).
    pub fn add_from_text(&mut self, text: &str) {
        for token in text.split(|c: char| c.is_whitespace() || ",;\"'()[]{}<>=".contains(c)) {
            // An ARN may end a sentence ("... changed arn:...:g-1.").
            let token = token.trim_end_matches(['.', ':']);
            match classify_arn(token) {
                Some(ArnKind::Grant) => {
                    self.grant_arns.insert(token.to_owned());
                }
                Some(ArnKind::License) => {
                    self.license_arns.insert(token.to_owned());
                }
                None => {}
            }
        }
    }
}

/// The kinds of License Manager ARN we look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArnKind {
    /// `...:grant:g-<id>`
    Grant,
    /// `...:license:l-<id>`
    License,
}

/// Recognises `arn:<partition>:license-manager:<region?>:<account>:(grant:g-|license:l-)<id>`.
pub fn classify_arn(candidate: &str) -> Option<ArnKind> {
    let mut parts = candidate.splitn(6, ':');
    let (arn, partition, service, _region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if arn != "arn"
        || !partition.starts_with("aws")
        || service != "license-manager"
        || !crate::ids::is_account_id(account)
    {
        return None;
    }
    let (kind, id) = if let Some(id) = resource.strip_prefix("grant:g-") {
        (ArnKind::Grant, id)
    } else if let Some(id) = resource.strip_prefix("license:l-") {
        (ArnKind::License, id)
    } else {
        return None;
    };
    let well_formed =
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    well_formed.then_some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GRANT: &str =
        "arn:aws:license-manager::111122223333:grant:g-0123456789abcdef0123456789abcdef";
    const LICENSE: &str =
        "arn:aws:license-manager::111122223333:license:l-fedcba9876543210fedcba9876543210";

    fn envelope(detail_type: &str, source: &str) -> Value {
        json!({
            "version": "0",
            "id": "7bf73129-1428-4cd3-a780-95db273d1602",
            "detail-type": detail_type,
            "source": source,
            "account": "123456789012",
            "time": "2026-11-22T10:00:00Z",
            "region": "us-east-1",
            "resources": [GRANT],
            "detail": {"status": "PENDING_ACCEPT"}
        })
    }

    #[test]
    fn each_license_manager_detail_type_is_recognised() {
        for kind in LicenseManagerDetailType::ALL {
            let event = parse_event(envelope(kind.as_str(), LICENSE_MANAGER_SOURCE)).unwrap();
            match event {
                IncomingEvent::LicenseManager(event) => {
                    assert_eq!(event.detail_type, kind);
                    assert_eq!(event.envelope.account, "123456789012");
                    assert_eq!(event.envelope.time.year(), 2026);
                }
                other => panic!("{kind:?} not recognised: {other:?}"),
            }
        }
    }

    #[test]
    fn other_detail_types_and_sources_are_unrecognized_not_errors() {
        for (detail_type, source) in [
            ("Grant Deleted", LICENSE_MANAGER_SOURCE),
            ("grant change", LICENSE_MANAGER_SOURCE),
            ("Grant Change", "aws.ec2"),
            ("Scheduled Event", "acme.cron"),
            ("Scheduled Event", LICENSE_MANAGER_SOURCE),
        ] {
            let event = parse_event(envelope(detail_type, source)).unwrap();
            assert!(
                matches!(&event, IncomingEvent::Unrecognized(e) if e.detail_type == detail_type),
                "{detail_type} from {source}: {event:?}"
            );
        }
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let cases = [
            json!(null),
            json!("Grant Change"),
            json!([1, 2, 3]),
            json!({"id": "x"}),
            json!({"detail-type": "Grant Change", "source": LICENSE_MANAGER_SOURCE}),
        ];
        for case in cases {
            let error = parse_event(case.clone()).unwrap_err();
            assert!(
                error.to_string().starts_with("malformed EventBridge event"),
                "{case}"
            );
        }
        let mut bad_time = envelope("Grant Change", LICENSE_MANAGER_SOURCE);
        bad_time["time"] = json!("yesterday");
        assert!(
            parse_event(bad_time)
                .unwrap_err()
                .to_string()
                .contains("time")
        );
        let mut missing_id = envelope("Grant Change", LICENSE_MANAGER_SOURCE);
        missing_id.as_object_mut().unwrap().remove("id");
        assert!(
            parse_event(missing_id)
                .unwrap_err()
                .to_string()
                .contains("`id`")
        );
    }

    #[test]
    fn scheduled_events_and_the_empty_object_are_scheduled() {
        for source in SCHEDULER_SOURCES {
            let mut payload = envelope(SCHEDULED_DETAIL_TYPE, source);
            payload["detail"] = json!({});
            payload["resources"] =
                json!(["arn:aws:scheduler:us-east-1:123456789012:schedule/default/sweep"]);
            let event = parse_event(payload).unwrap();
            assert!(
                matches!(&event, IncomingEvent::Scheduled(e) if e.source == source && e.account == "123456789012"),
                "{source}: {event:?}"
            );
        }
        let event = parse_event(json!({})).unwrap();
        assert!(
            matches!(&event, IncomingEvent::Scheduled(e) if e.source == "aws.scheduler" && e.detail_type == SCHEDULED_DETAIL_TYPE),
            "{event:?}"
        );
        // A scheduled envelope must still be well formed.
        let mut bad = envelope(SCHEDULED_DETAIL_TYPE, "aws.scheduler");
        bad["time"] = json!("<aws.scheduler.scheduled-time>");
        assert!(parse_event(bad).unwrap_err().to_string().contains("time"));
    }

    #[test]
    fn hints_come_from_resources_and_any_key_casing_at_any_depth() {
        let mut payload = envelope("Grant Change", LICENSE_MANAGER_SOURCE);
        payload["resources"] = json!([GRANT, "arn:aws:ec2:us-east-1:123456789012:instance/i-1"]);
        payload["detail"] = json!({
            "GrantArn": GRANT,
            "grant": {"license_arn": LICENSE, "parents": [{"LICENSEARN": LICENSE}]},
            "message": format!("license {LICENSE} changed"),
            "count": 3,
        });
        let IncomingEvent::LicenseManager(event) = parse_event(payload).unwrap() else {
            panic!("not recognised");
        };
        let hints = event.arn_hints();
        assert_eq!(hints.grant_arns.iter().collect::<Vec<_>>(), [GRANT]);
        assert_eq!(hints.license_arns.iter().collect::<Vec<_>>(), [LICENSE]);
    }

    #[test]
    fn arns_inside_prose_and_key_value_text_are_found() {
        for text in [
            format!("grantArn={GRANT}."),
            format!("The grant {GRANT}: accepted"),
            format!("({LICENSE})"),
        ] {
            let mut hints = ArnHints::default();
            hints.add_from_text(&text);
            assert!(!hints.is_empty(), "{text}");
        }
    }

    #[test]
    fn non_arns_and_other_resources_are_not_hints() {
        let mut hints = ArnHints::default();
        hints.add_from_json(&json!({
            "a": "arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-1",
            "b": "arn:aws:license-manager::1234:grant:g-abc",
            "c": "arn:aws:s3:::bucket",
            "d": "arn:aws:license-manager::111122223333:grant:g-",
            "e": "arn:aws:license-manager::111122223333:grant:g-abc/../x",
            "f": "g-0123456789abcdef0123456789abcdef",
        }));
        assert!(hints.is_empty(), "{hints:?}");
    }

    #[test]
    fn deeply_nested_detail_does_not_overflow() {
        let mut value = json!(GRANT);
        // serde_json refuses more than 128 levels when parsing, so this is already beyond what
        // Lambda can hand over.
        for _ in 0..200 {
            value = json!([value]);
        }
        let mut hints = ArnHints::default();
        hints.add_from_json(&value);
        assert!(hints.is_empty());
        // Within the depth limit, it is found.
        let mut value = json!(GRANT);
        for _ in 0..10 {
            value = json!({"x": value});
        }
        hints.add_from_json(&value);
        assert_eq!(hints.grant_arns.len(), 1);
    }

    #[test]
    fn other_partitions_are_recognised() {
        assert_eq!(
            classify_arn("arn:aws-cn:license-manager::111122223333:license:l-abc123"),
            Some(ArnKind::License)
        );
        assert_eq!(
            classify_arn("arn:aws-us-gov:license-manager::111122223333:grant:g-abc123"),
            Some(ArnKind::Grant)
        );
    }
}
