//! PutEvents with per-entry outcomes: entries AWS reports failed (FailedEntryCount) are sent
//! again, only those, with backoff; errors that cannot change (a malformed entry, no
//! permission) are not. Throttling and transient errors of the call itself are retried by the
//! SDK's standard retry mode, configured with the same attempt count.

use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;
use tracing::warn;

use super::entries::Entry;
use crate::delivery::retry::Backoff;

/// Entry error codes that another attempt cannot fix.
const PERMANENT: &[&str] = &[
    "MalformedDetail",
    "InvalidArgument",
    "ValidationException",
    "AccessDeniedException",
    "NotAuthorizedForSourceException",
    "NotAuthorizedForDetailTypeException",
];

/// The outcome of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryResult {
    Sent,
    /// Refused for good: (code, message).
    Rejected(String),
    /// Still failing after every attempt.
    Exhausted {
        attempts: u32,
        last: String,
    },
}

fn request_entry(e: &Entry, bus: &str) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .source(&e.source)
        .detail_type(&e.detail_type)
        .detail(&e.detail)
        .event_bus_name(bus)
        .set_time(e.time_millis.map(DateTime::from_millis))
        .build()
}

/// Sends one request's entries; returns (entry index in the processor's batch, outcome).
pub async fn put(client: &Client, bus: &str, entries: Vec<Entry>, backoff: &Backoff) -> Vec<(usize, EntryResult)> {
    let mut done = Vec::new();
    let mut pending = entries;
    let mut attempt = 1;
    loop {
        let request: Vec<PutEventsRequestEntry> = pending.iter().map(|e| request_entry(e, bus)).collect();
        let output = client.put_events().set_entries(Some(request)).send().await;
        let out = match output {
            Ok(out) => out,
            Err(e) => {
                // The SDK already retried what was retryable (throttling, 5xx, timeouts).
                let last = DisplayErrorContext(&e).to_string();
                warn!(bus, entries = pending.len(), "PutEvents failed: {last}");
                done.extend(pending.iter().map(|p| {
                    (
                        p.index,
                        EntryResult::Exhausted {
                            attempts: attempt,
                            last: last.clone(),
                        },
                    )
                }));
                return done;
            }
        };
        let results = out.entries();
        let mut again = Vec::new();
        for (i, entry) in pending.into_iter().enumerate() {
            let r = results.get(i);
            match r.and_then(|r| r.error_code()) {
                None if r.is_some() => done.push((entry.index, EntryResult::Sent)),
                None => again.push((entry, "PutEvents returned no result for the entry".to_string())),
                Some(code) => {
                    let msg = format!("{code}: {}", r.and_then(|r| r.error_message()).unwrap_or(""));
                    if PERMANENT.contains(&code) {
                        done.push((entry.index, EntryResult::Rejected(msg)));
                    } else {
                        again.push((entry, msg));
                    }
                }
            }
        }
        if again.is_empty() {
            return done;
        }
        if attempt >= backoff.max_attempts {
            done.extend(again.into_iter().map(|(e, last)| {
                (
                    e.index,
                    EntryResult::Exhausted {
                        attempts: attempt,
                        last,
                    },
                )
            }));
            return done;
        }
        let wait = backoff.delay(attempt);
        warn!(
            bus,
            failed = again.len(),
            attempt,
            "PutEvents reported failed entries ({}); sending them again in {wait:?}",
            again[0].1
        );
        tokio::time::sleep(wait).await;
        attempt += 1;
        pending = again.into_iter().map(|(e, _)| e).collect();
    }
}
