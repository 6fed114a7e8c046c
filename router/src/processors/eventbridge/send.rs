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
use crate::delivery::retry::{self, Backoff, CallFailed, Final, Outcome};

/// Entry error codes that another attempt cannot fix.
const PERMANENT: &[&str] = &[
    "MalformedDetail",
    "InvalidArgument",
    "ValidationException",
    "AccessDeniedException",
    "NotAuthorizedForSourceException",
    "NotAuthorizedForDetailTypeException",
];

fn request_entry(e: &Entry, bus: &str) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .source(&e.source)
        .detail_type(&e.detail_type)
        .detail(&e.detail)
        .event_bus_name(bus)
        .set_time(e.time_millis.map(DateTime::from_millis))
        .build()
}

/// Sends one request's entries with the shared partial retry (`delivery::retry::run_partial`):
/// entries AWS reports failed with a code another attempt may fix go again, alone; returns
/// (entry index in the processor's batch, how it ended).
pub async fn put(client: &Client, bus: &str, entries: Vec<Entry>, backoff: &Backoff) -> Vec<(usize, Final)> {
    let ended = retry::run_partial(
        backoff,
        entries,
        |_, pending: &[Entry]| {
            let request: Vec<PutEventsRequestEntry> = pending.iter().map(|e| request_entry(e, bus)).collect();
            let count = pending.len();
            async move {
                let out = client
                    .put_events()
                    .set_entries(Some(request))
                    .send()
                    .await
                    .map_err(|e| {
                        // The SDK already retried what was retryable (throttling, 5xx, timeouts).
                        let last = DisplayErrorContext(&e).to_string();
                        warn!(bus, entries = count, "PutEvents failed: {last}");
                        CallFailed(last)
                    })?;
                let results = out.entries();
                Ok((0..count)
                    .map(|i| {
                        let r = results.get(i);
                        let outcome = match r.and_then(|r| r.error_code()) {
                            None if r.is_some() => Outcome::Delivered,
                            None => Outcome::Retryable("PutEvents returned no result for the entry".into()),
                            Some(code) => {
                                let msg = format!("{code}: {}", r.and_then(|r| r.error_message()).unwrap_or(""));
                                if PERMANENT.contains(&code) {
                                    Outcome::Rejected(msg)
                                } else {
                                    Outcome::Retryable(msg)
                                }
                            }
                        };
                        (i, outcome)
                    })
                    .collect())
            }
        },
        |attempt, failed, first, wait| {
            warn!(
                bus,
                failed, attempt, "PutEvents reported failed entries ({first}); sending them again in {wait:?}"
            )
        },
    )
    .await;
    ended.into_iter().map(|(e, end)| (e.index, end)).collect()
}
