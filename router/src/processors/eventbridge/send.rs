//! PutEvents with per-entry outcomes: entries AWS reports failed (FailedEntryCount) are sent
//! again, only those, with backoff; errors that cannot change (a malformed entry, no
//! permission) are not. A call that fails as a whole after the SDK's own few attempts
//! (throttling, 5xx, no connection) is tried again, every entry, under the shared policy's time
//! budget; a call refused for good (no permission, a bad request) refuses every entry.

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

/// Error codes of a whole call that another attempt cannot fix (credentials, a missing bus).
const CALL_PERMANENT: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "ResourceNotFoundException",
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
                        let permanent = e
                            .as_service_error()
                            .and_then(|s| aws_sdk_eventbridge::error::ProvideErrorMetadata::code(s))
                            .is_some_and(|code| PERMANENT.contains(&code) || CALL_PERMANENT.contains(&code));
                        let last = DisplayErrorContext(&e).to_string();
                        warn!(bus, entries = count, permanent, "PutEvents failed: {last}");
                        CallFailed { last, permanent }
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
