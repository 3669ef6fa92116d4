//! The publisher: puts [`ProjectEvent`]s on the project's bus with PutEvents.
//!
//! It sends entries in batches within PutEvents' limits (ten entries, 256 KiB), retries only the
//! entries EventBridge reports as failed, with jittered exponential backoff ([`RetryPolicy`]),
//! and returns an error naming every entry that still failed, so the invocation fails and
//! Lambda's retry and dead-letter queue keep the event. Delivery is at least once: an entry
//! whose fate is unknown (a timeout the SDK retried, a missing result) may arrive twice, never
//! zero times.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::config::CommonConfig;
use crate::events_out::catalogue::ProjectEvent;
use crate::retry::RetryPolicy;

/// PutEvents accepts at most this many entries per call.
pub const MAX_ENTRIES_PER_CALL: usize = 10;
/// EventBridge's limit on the size of one entry, in bytes.
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;
/// EventBridge's limit on the summed size of the entries of one PutEvents call, in bytes.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// An entry EventBridge did not take, after all retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedEntry {
    /// The event's position in the events given to [`EventPublisher::publish`]: how a caller
    /// matches it (two entries can share a detail-type and resources).
    pub index: usize,
    /// The event's detail-type.
    pub detail_type: &'static str,
    /// The ARNs the event was about.
    pub resources: Vec<String>,
    /// EventBridge's error code: an entry's, or the whole call's when it failed and
    /// EventBridge answered (e.g. `ResourceNotFoundException` for a missing bus), else
    /// `TooLarge` / `CallFailed` from this publisher.
    pub error_code: String,
    /// EventBridge's message.
    pub error_message: String,
}

impl std::fmt::Display for FailedEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} [{}]: {}: {}",
            self.detail_type,
            self.resources.join(", "),
            self.error_code,
            self.error_message
        )
    }
}

/// Some events could not be published.
#[derive(Debug, thiserror::Error)]
#[error("{} of {total} events were not published to {bus}: {}", failed.len(), list(failed))]
pub struct PublishError {
    /// The bus.
    pub bus: String,
    /// How many events were to be published.
    pub total: usize,
    /// The entries that failed, with the reason.
    pub failed: Vec<FailedEntry>,
}

impl FailedEntry {
    /// Whether a person must act before this event can be published: access refused, or the
    /// bus does not exist ([`crate::attention`]).
    pub fn needs_attention(&self) -> bool {
        crate::attention::needs_attention_on_own_resource(&self.error_code)
    }
}

impl PublishError {
    /// Whether any event failed for a reason that needs a person ([`FailedEntry::needs_attention`]).
    pub fn needs_attention(&self) -> bool {
        self.failed.iter().any(FailedEntry::needs_attention)
    }
}

fn list(failed: &[FailedEntry]) -> String {
    failed
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// EventBridge entry error codes that will not go away by retrying.
const PERMANENT_ERROR_CODES: &[&str] = &[
    "InvalidArgument",
    "MalformedDetail",
    "AccessDeniedException",
    "NotAuthorizedForSourceException",
    "NotAuthorizedForDetailTypeException",
];

/// Publishes [`ProjectEvent`]s to the project's bus.
#[derive(Debug, Clone)]
pub struct EventPublisher {
    client: Client,
    bus: String,
    source: String,
    retry: RetryPolicy,
}

impl EventPublisher {
    /// A publisher for `bus`, publishing as `source`.
    pub fn new(client: Client, bus: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
            source: source.into(),
            retry: RetryPolicy::default(),
        }
    }

    /// A publisher for the bus and source of `config`.
    pub fn from_config(client: Client, config: &CommonConfig) -> Self {
        Self::new(client, &config.event_bus_name, &config.event_source)
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Publishes `events`, retrying failed entries; errs naming every event not published.
    pub async fn publish(&self, events: &[ProjectEvent]) -> Result<(), PublishError> {
        let mut failed = Vec::new();
        let mut pending = Vec::with_capacity(events.len());
        let mut sizes = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            let entry = self.entry(event);
            let size = entry_size(&entry);
            if size > MAX_ENTRY_BYTES {
                failed.push(failure(
                    index,
                    event,
                    "TooLarge",
                    format!("entry is {size} bytes, EventBridge takes at most {MAX_ENTRY_BYTES}"),
                ));
            } else {
                pending.push((index, event, entry));
                sizes.push(size);
            }
        }
        for batch in batch_ranges(&sizes) {
            failed.extend(self.publish_batch(&pending[batch]).await);
        }
        if failed.is_empty() {
            Ok(())
        } else {
            for entry in &failed {
                tracing::error!(bus = %self.bus, failed = %entry, "event not published");
            }
            Err(PublishError {
                bus: self.bus.clone(),
                total: events.len(),
                failed,
            })
        }
    }

    /// Sends up to ten entries, retrying those that fail transiently; returns what still failed.
    async fn publish_batch(
        &self,
        batch: &[(usize, &ProjectEvent, PutEventsRequestEntry)],
    ) -> Vec<FailedEntry> {
        let mut failed = Vec::new();
        // Indexes into `batch` still to be sent, with the last error each one got.
        let mut pending: Vec<(usize, String, String)> = (0..batch.len())
            .map(|index| (index, String::new(), String::new()))
            .collect();
        for attempt in 1..=self.retry.max_attempts.max(1) {
            if attempt > 1 {
                tokio::time::sleep(self.retry.jittered_backoff(attempt - 2)).await;
            }
            let entries = pending.iter().map(|(index, ..)| batch[*index].2.clone());
            let output = match self
                .client
                .put_events()
                .set_entries(Some(entries.collect()))
                .send()
                .await
            {
                Ok(output) => output,
                Err(error) => {
                    // The SDK has already retried throttling and transient faults of the call.
                    let message = DisplayErrorContext(&error).to_string();
                    // EventBridge's own code when it answered (e.g. a missing bus), so that
                    // what needs a person is recognised ([`FailedEntry::needs_attention`]).
                    let code = error.code().unwrap_or("CallFailed").to_owned();
                    failed.extend(pending.iter().map(|(index, ..)| {
                        let (position, event, _) = &batch[*index];
                        failure(*position, event, &code, message.clone())
                    }));
                    return failed;
                }
            };
            // PutEvents answers one result per request entry, in the same order.
            let results = output.entries();
            let mut retry = Vec::new();
            for (position, (index, ..)) in pending.into_iter().enumerate() {
                let (original, event, _) = &batch[index];
                let (original, event) = (*original, *event);
                let Some(result) = results.get(position) else {
                    retry.push((
                        index,
                        "NoResult".to_owned(),
                        "PutEvents returned no result for the entry".to_owned(),
                    ));
                    continue;
                };
                let Some(code) = result.error_code() else {
                    continue; // published
                };
                let message = result.error_message().unwrap_or_default().to_owned();
                if PERMANENT_ERROR_CODES.contains(&code) {
                    failed.push(failure(original, event, code, message));
                } else {
                    tracing::warn!(
                        detail_type = event.detail_type(),
                        code,
                        message,
                        attempt,
                        "PutEvents entry failed; retrying"
                    );
                    retry.push((index, code.to_owned(), message));
                }
            }
            pending = retry;
            if pending.is_empty() {
                return failed;
            }
        }
        let attempts = self.retry.max_attempts.max(1);
        failed.extend(pending.into_iter().map(|(index, code, message)| {
            failure(
                batch[index].0,
                batch[index].1,
                &code,
                format!("{message} (still failing after {attempts} attempts)"),
            )
        }));
        failed
    }

    fn entry(&self, event: &ProjectEvent) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(&self.source)
            .detail_type(event.detail_type())
            .detail(event.detail().to_string())
            .set_resources(Some(event.resources()))
            .time(DateTime::from_secs(event.time().unix_timestamp()))
            .build()
    }
}

fn failure(index: usize, event: &ProjectEvent, code: &str, message: String) -> FailedEntry {
    FailedEntry {
        index,
        detail_type: event.detail_type(),
        resources: event.resources(),
        error_code: code.to_owned(),
        error_message: message,
    }
}

/// Splits entries of the given sizes into consecutive batches of at most
/// [`MAX_ENTRIES_PER_CALL`] entries and [`MAX_REQUEST_BYTES`] bytes (each entry is at most
/// [`MAX_ENTRY_BYTES`], so every batch holds at least one).
fn batch_ranges(sizes: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (index, size) in sizes.iter().enumerate() {
        if index > start
            && (index - start == MAX_ENTRIES_PER_CALL || bytes + size > MAX_REQUEST_BYTES)
        {
            batches.push(start..index);
            (start, bytes) = (index, 0);
        }
        bytes += size;
    }
    if start < sizes.len() {
        batches.push(start..sizes.len());
    }
    batches
}

/// The size EventBridge charges an entry, as its documentation computes it.
fn entry_size(entry: &PutEventsRequestEntry) -> usize {
    let text = |value: Option<&str>| value.map_or(0, str::len);
    14 + text(entry.source())
        + text(entry.detail_type())
        + text(entry.detail())
        + entry.resources().iter().map(String::len).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_both_the_entry_count_and_the_request_size() {
        assert!(batch_ranges(&[]).is_empty());
        assert_eq!(batch_ranges(&[100; 25]), [0..10, 10..20, 20..25]);
        let big = 150 * 1024;
        assert_eq!(batch_ranges(&[big, big, 100, big]), [0..1, 1..3, 3..4]);
        assert_eq!(batch_ranges(&[MAX_ENTRY_BYTES, 1]), [0..1, 1..2]);
    }
}
