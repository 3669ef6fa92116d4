//! License Manager's own EventBridge events (`source: aws.license-manager`), published best
//! effort to the `default` bus of each account concerned when `--events-endpoint` is set.
//!
//! Operations record [`PendingEvent`]s in their [`crate::dispatch::Ctx`]; the server hands them
//! to an [`EventSink`] once the change is committed and the state lock released; a
//! background task ([`Publisher`]) batches them into PutEvents calls. Publishing never fails
//! or delays an API call: a full queue drops the event and a failed PutEvents is logged.
//!
//! AWS does not publish the `detail` of these events; the shapes below ([`EVENT_DOCS`]) are
//! the emulator's own choice.

use crate::state::{Consumption, State};
use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The `source` of every event.
pub const SOURCE: &str = "aws.license-manager";
/// Events queued for publishing at most; more are dropped with a warning.
pub const QUEUE_CAPACITY: usize = 10_000;
/// Entries per PutEvents call (the EventBridge limit).
const BATCH_SIZE: usize = 10;
/// How long [`Publisher::shutdown`] may spend flushing what is queued.
const FLUSH_BOUND: Duration = Duration::from_secs(3);
/// The header with which moto's server picks the account of a request.
const MOTO_ACCOUNT_HEADER: &str = "x-moto-account-id";

/// The four detail-types License Manager sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailType {
    /// A grant was created, accepted, rejected, versioned or deleted.
    GrantChange,
    /// A license got a new version (status changes included) or was deleted.
    LicenseChange,
    /// A checkout was made, borrowed, extended, checked in or expired.
    LicenseConsumptionChange,
    /// A refresh token was created or deleted.
    LicenseTokenChange,
}

impl DetailType {
    /// The `detail-type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GrantChange => "Grant Change",
            Self::LicenseChange => "License Change",
            Self::LicenseConsumptionChange => "License Consumption Change",
            Self::LicenseTokenChange => "License Token Change",
        }
    }
}

/// What is published for one detail-type (rendered into docs/emulator-coverage.md).
pub struct EventDoc {
    /// The detail-type.
    pub detail_type: DetailType,
    /// The operations (or moments) that publish it, with their `action`.
    pub when: &'static str,
    /// Whose `default` bus receives it.
    pub recipients: &'static str,
    /// The `detail` members.
    pub detail: &'static str,
}

/// The events the emulator publishes, one entry per detail-type.
pub const EVENT_DOCS: &[EventDoc] = &[
    EventDoc {
        detail_type: DetailType::GrantChange,
        when: "CreateGrant (`Created`), AcceptGrant (`Accepted`), RejectGrant (`Rejected`), \
               CreateGrantVersion (`NewVersion`, activation included), DeleteGrant (`Deleted`)",
        recipients: "the grantee and the granter",
        detail: "`action`, `grantArn`, `licenseArn`, `status`, `version`",
    },
    EventDoc {
        detail_type: DetailType::LicenseChange,
        when: "CreateLicenseVersion (`NewVersion`, status changes included), DeleteLicense \
               (`Deleted`)",
        recipients: "the issuer, every grantee of a grant of it that is neither rejected nor \
                     deleted, and the beneficiary when that is a 12-digit account",
        detail: "`action`, `licenseArn`, `status`, `version`",
    },
    EventDoc {
        detail_type: DetailType::LicenseConsumptionChange,
        when: "CheckoutLicense (`CheckedOut`), CheckoutBorrowLicense (`Borrowed`), \
               ExtendLicenseConsumption without DryRun (`Extended`), CheckInLicense \
               (`CheckedIn`), a PROVISIONAL or borrowed checkout found expired by the next \
               call (`Expired`)",
        recipients: "the consuming account and the license's issuer",
        detail: "`action`, `licenseArn`, `licenseConsumptionToken`, `checkoutType`, \
                 `expiration` (ISO 8601, absent for PERPETUAL)",
    },
    EventDoc {
        detail_type: DetailType::LicenseTokenChange,
        when: "CreateToken (`Created`), DeleteToken (`Deleted`)",
        recipients: "the caller",
        detail: "`action`, `tokenId`, `licenseArn`",
    },
];

/// An event to publish once the change that caused it is committed.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEvent {
    /// Its detail-type.
    pub detail_type: DetailType,
    /// ARNs of the resources involved.
    pub resources: Vec<String>,
    /// The emulator's own `detail`.
    pub detail: Value,
    /// The accounts whose `default` bus receives it (each gets its own copy).
    pub accounts: BTreeSet<String>,
    /// When it happened (unix seconds of the emulator's clock).
    pub time: i64,
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `Grant Change` for the current version of grant `arn`, to its grantee and granter.
pub fn grant_change(state: &State, arn: &str, action: &str, now: i64) -> Option<PendingEvent> {
    let rec = state.grants.get(arn)?;
    let grant = rec.current()?;
    Some(PendingEvent {
        detail_type: DetailType::GrantChange,
        resources: vec![grant.grant_arn.clone(), grant.license_arn.clone()],
        detail: json!({
            "action": action,
            "grantArn": grant.grant_arn,
            "licenseArn": grant.license_arn,
            "status": grant.grant_status,
            "version": grant.version,
        }),
        // A grant to an organization or OU has no account as grantee: its members' own
        // grants tell them.
        accounts: [&rec.grantee, &rec.granter]
            .into_iter()
            .filter(|a| is_account_id(a))
            .cloned()
            .collect(),
        time: now,
    })
}

/// `License Change` for the current view of license `arn`, to its issuer, the grantees
/// that still hold a grant of it and its beneficiary account.
pub fn license_change(state: &State, arn: &str, action: &str, now: i64) -> Option<PendingEvent> {
    let rec = state.licenses.get(arn)?;
    let license = rec.view()?;
    let mut accounts = BTreeSet::from([rec.owner.clone()]);
    accounts.extend(
        state
            .grants
            .values()
            .filter(|g| {
                g.current().is_some_and(|c| {
                    c.license_arn == arn
                        && !matches!(c.grant_status.as_str(), "REJECTED" | "DELETED")
                })
            })
            .map(|g| g.grantee.clone()),
    );
    if let Some(beneficiary) = license.beneficiary.as_deref().filter(|b| is_account_id(b)) {
        accounts.insert(beneficiary.to_string());
    }
    Some(PendingEvent {
        detail_type: DetailType::LicenseChange,
        resources: vec![arn.to_string()],
        detail: json!({
            "action": action,
            "licenseArn": arn,
            "status": license.status,
            "version": license.version,
        }),
        accounts,
        time: now,
    })
}

/// `License Consumption Change` for checkout `token`, to the consuming account and the
/// license's issuer.
pub fn consumption_change(
    state: &State,
    token: &str,
    c: &Consumption,
    action: &str,
    now: i64,
) -> PendingEvent {
    let mut accounts = BTreeSet::from([c.account.clone()]);
    if let Some(rec) = state.licenses.get(&c.license_arn) {
        accounts.insert(rec.owner.clone());
    }
    let mut detail = json!({
        "action": action,
        "licenseArn": c.license_arn,
        "licenseConsumptionToken": token,
        "checkoutType": c.checkout_type,
    });
    if let Some(expiration) = c.expiration {
        detail["expiration"] = json!(crate::dates::fmt_time(expiration));
    }
    PendingEvent {
        detail_type: DetailType::LicenseConsumptionChange,
        resources: vec![c.license_arn.clone()],
        detail,
        accounts,
        time: now,
    }
}

/// `License Consumption Change` (`Expired`) for every checkout the state found expired
/// since the last call; empties that record.
pub fn expiries(state: &mut State, now: i64) -> Vec<PendingEvent> {
    let expired = state.take_expired();
    expired
        .iter()
        .map(|(token, c)| consumption_change(state, token, c, "Expired", now))
        .collect()
}

/// `License Token Change` for refresh token `token_id`, to `account` (its owner).
pub fn token_change(
    account: &str,
    token_id: &str,
    license_arn: &str,
    action: &str,
    now: i64,
) -> PendingEvent {
    PendingEvent {
        detail_type: DetailType::LicenseTokenChange,
        resources: vec![license_arn.to_string()],
        detail: json!({ "action": action, "tokenId": token_id, "licenseArn": license_arn }),
        accounts: BTreeSet::from([account.to_string()]),
        time: now,
    }
}

/// Where committed events go: the publisher's queue, or nowhere when no endpoint is set.
#[derive(Debug, Clone, Default)]
pub struct EventSink(Option<mpsc::Sender<PendingEvent>>);

impl EventSink {
    /// Queues `events` without waiting; drops (with a warning) what does not fit.
    pub fn send(&self, events: Vec<PendingEvent>) {
        let Some(queue) = &self.0 else {
            return;
        };
        for event in events {
            if let Err(mpsc::error::TrySendError::Full(event)) = queue.try_send(event) {
                tracing::warn!(
                    detail_type = event.detail_type.as_str(),
                    resources = ?event.resources,
                    "event queue full ({QUEUE_CAPACITY}); License Manager event dropped"
                );
            }
        }
    }
}

/// The background task that publishes queued events with PutEvents.
#[derive(Debug)]
pub struct Publisher {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Publisher {
    /// Starts publishing to the EventBridge `endpoint` in `region`; returns the sink that
    /// feeds it.
    pub fn start(endpoint: &str, region: &str) -> (EventSink, Publisher) {
        let config = aws_sdk_eventbridge::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(endpoint)
            .credentials_provider(credentials("000000000000"))
            .timeout_config(
                aws_sdk_eventbridge::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(1))
                    .operation_timeout(Duration::from_secs(5))
                    .build(),
            )
            .retry_config(aws_sdk_eventbridge::config::retry::RetryConfig::standard())
            .build();
        let client = aws_sdk_eventbridge::Client::from_conf(config);
        let (queue, received) = mpsc::channel(QUEUE_CAPACITY);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(client, received, stopped));
        (EventSink(Some(queue)), Publisher { stop, task })
    }

    /// Stops taking events and publishes what is queued, for at most a few seconds.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let mut task = self.task;
        if tokio::time::timeout(FLUSH_BOUND, &mut task).await.is_err() {
            tracing::warn!("License Manager events still queued at shutdown were dropped");
            task.abort();
        }
    }
}

fn credentials(account: &str) -> Credentials {
    Credentials::new(
        account,
        "license-manager-local",
        None,
        None,
        "license-manager-local",
    )
}

async fn run(
    client: aws_sdk_eventbridge::Client,
    mut received: mpsc::Receiver<PendingEvent>,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        let first = tokio::select! {
            event = received.recv() => event,
            _ = &mut stopped => None,
        };
        let Some(first) = first else {
            break;
        };
        let mut batch = vec![first];
        while batch.len() < BATCH_SIZE {
            match received.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        publish(&client, batch).await;
    }
    // Stopping (or every sink gone): publish what is already queued.
    received.close();
    let mut rest = Vec::new();
    while let Ok(event) = received.try_recv() {
        rest.push(event);
    }
    for batch in rest.chunks(BATCH_SIZE) {
        publish(&client, batch.to_vec()).await;
    }
}

/// Publishes `events` (in order) to the default bus of each of their accounts.
async fn publish(client: &aws_sdk_eventbridge::Client, events: Vec<PendingEvent>) {
    let mut per_account: BTreeMap<&str, Vec<&PendingEvent>> = BTreeMap::new();
    for event in &events {
        for account in &event.accounts {
            per_account.entry(account).or_default().push(event);
        }
    }
    for (account, events) in per_account {
        for chunk in events.chunks(BATCH_SIZE) {
            put_events(client, account, chunk).await;
        }
    }
}

fn entry(event: &PendingEvent) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .source(SOURCE)
        .detail_type(event.detail_type.as_str())
        .detail(event.detail.to_string())
        .set_resources(Some(event.resources.clone()))
        .time(DateTime::from_secs(event.time))
        .event_bus_name("default")
        .build()
}

/// One PutEvents call for `account` (credentials and moto's account header name it);
/// failures are logged per event.
async fn put_events(client: &aws_sdk_eventbridge::Client, account: &str, events: &[&PendingEvent]) {
    let header_account = account.to_string();
    let sent = client
        .put_events()
        .set_entries(Some(events.iter().map(|e| entry(e)).collect()))
        .customize()
        .config_override(
            aws_sdk_eventbridge::Config::builder().credentials_provider(credentials(account)),
        )
        .mutate_request(move |request| {
            if let Err(e) = request
                .headers_mut()
                .try_insert(MOTO_ACCOUNT_HEADER, header_account.clone())
            {
                tracing::warn!(error = %e, "cannot set {MOTO_ACCOUNT_HEADER}");
            }
        })
        .send()
        .await;
    match sent {
        Err(e) => {
            for event in events {
                tracing::warn!(
                    account,
                    detail_type = event.detail_type.as_str(),
                    resources = ?event.resources,
                    error = %DisplayErrorContext(&e),
                    "cannot publish License Manager event"
                );
            }
        }
        Ok(output) if output.failed_entry_count() > 0 => {
            for (event, result) in events.iter().zip(output.entries()) {
                if let Some(code) = result.error_code() {
                    tracing::warn!(
                        account,
                        detail_type = event.detail_type.as_str(),
                        resources = ?event.resources,
                        error_code = code,
                        error = result.error_message().unwrap_or(""),
                        "EventBridge refused a License Manager event"
                    );
                }
            }
        }
        Ok(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_types_are_the_four_aws_sends() {
        let names: Vec<&str> = EVENT_DOCS.iter().map(|d| d.detail_type.as_str()).collect();
        assert_eq!(
            names,
            [
                "Grant Change",
                "License Change",
                "License Consumption Change",
                "License Token Change"
            ]
        );
    }

    #[test]
    fn an_absent_endpoint_drops_events_silently() {
        EventSink::default().send(vec![token_change("123456789012", "t", "arn", "Created", 0)]);
    }
}
