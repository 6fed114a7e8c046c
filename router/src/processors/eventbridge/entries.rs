//! PutEvents entries from CloudEvents, sized the way AWS counts them, grouped into requests of
//! at most 10 entries within the request-size limit, and the event envelope that rule patterns
//! are matched against. Pure: no I/O.

use cloudevents::{AttributesReader, Event};
use serde_json::{json, Value};

use crate::cloudevent::event_name;

/// Entries per PutEvents call (an API limit).
pub const MAX_ENTRIES: usize = 10;
/// Bytes AWS adds to an entry's size when `Time` is set.
const TIME_BYTES: usize = 14;

/// One PutEvents entry and where its event sits in the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Index of the event in the batch handed to the processor.
    pub index: usize,
    pub source: String,
    pub detail_type: String,
    /// The CloudEvent in structured JSON form.
    pub detail: String,
    /// Milliseconds since the epoch (the CloudEvent's `time`), when it has one.
    pub time_millis: Option<i64>,
}

impl Entry {
    /// The entry for `event`, whose structured JSON form is `detail` (already built to match
    /// the rules, so it is written, not serialized again).
    pub fn new(index: usize, event: &Event, detail: &Value) -> Entry {
        Entry {
            index,
            source: event.source().to_string(),
            detail_type: event_name(event),
            detail: detail.to_string(),
            time_millis: event.time().map(|t| t.timestamp_millis()),
        }
    }

    /// The entry size as the EventBridge user guide defines it: 14 bytes when `Time` is set,
    /// plus the UTF-8 bytes of Source, DetailType and Detail (no Resources are sent).
    pub fn size(&self) -> usize {
        let time = if self.time_millis.is_some() { TIME_BYTES } else { 0 };
        time + self.source.len() + self.detail_type.len() + self.detail.len()
    }
}

/// The event as EventBridge will present it to rules: the envelope fields the router knows
/// (`source`, `detail-type`, `region`, `time`, `resources`) and `detail`, the CloudEvent.
/// `account` and `id` are assigned by AWS and are absent here, so patterns on them never match
/// locally.
pub fn envelope(event: &Event, detail: &Value, region: &str) -> Value {
    let mut v = json!({
        "version": "0",
        "detail-type": event_name(event),
        "source": event.source().to_string(),
        "region": region,
        "resources": [],
        "detail": detail,
    });
    if let Some(t) = event.time() {
        v["time"] = Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    v
}

/// Splits entries (in order) into requests of at most [`MAX_ENTRIES`] entries and at most
/// `max_bytes`. An entry larger than `max_bytes` on its own is returned apart: it can never be
/// sent.
pub fn requests(entries: Vec<Entry>, max_bytes: usize) -> (Vec<Vec<Entry>>, Vec<Entry>) {
    let mut out: Vec<Vec<Entry>> = Vec::new();
    let mut too_big = Vec::new();
    let mut current: Vec<Entry> = Vec::new();
    let mut bytes = 0;
    for e in entries {
        let size = e.size();
        if size > max_bytes {
            too_big.push(e);
            continue;
        }
        if current.len() == MAX_ENTRIES || bytes + size > max_bytes {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(e);
    }
    if !current.is_empty() {
        out.push(current);
    }
    (out, too_big)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudevent::Structured;
    use cloudevents::{EventBuilder, EventBuilderV10};

    fn event(id: &str, data: &str) -> Event {
        EventBuilderV10::new()
            .id(id)
            .source("https://vc/sdk")
            .ty("com.vmware.event.router/event")
            .subject("VmPoweredOffEvent")
            .time("2026-11-30T10:00:00Z")
            .data("application/json", json!({ "x": data }))
            .build()
            .unwrap()
    }

    fn entry(index: usize, ev: &Event) -> Entry {
        Entry::new(index, ev, &serde_json::to_value(Structured(ev)).unwrap())
    }

    #[test]
    fn entry_carries_source_name_json_and_time_and_is_sized_like_aws() {
        let e = entry(3, &event("1", "é"));
        assert_eq!(e.index, 3);
        assert_eq!(e.source, "https://vc/sdk");
        assert_eq!(e.detail_type, "VmPoweredOffEvent");
        let detail: Value = serde_json::from_str(&e.detail).unwrap();
        assert_eq!(detail["subject"], "VmPoweredOffEvent");
        assert_eq!(detail["data"]["x"], "é");
        assert_eq!(e.time_millis, Some(1_796_032_800_000));
        // UTF-8 bytes, not characters: "é" is two bytes.
        assert_eq!(e.size(), 14 + 14 + 17 + e.detail.len());
        assert_eq!(e.detail.len(), e.detail.chars().count() + 1);
    }

    #[test]
    fn requests_hold_at_most_ten_entries_within_the_byte_limit() {
        let entries: Vec<Entry> = (0..23).map(|i| entry(i, &event(&i.to_string(), "a"))).collect();
        let size = entries[0].size();
        let (reqs, big) = requests(entries.clone(), 1_000_000);
        assert!(big.is_empty());
        assert_eq!(reqs.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 3]);
        // Room for three entries per request.
        let (reqs, _) = requests(entries.clone(), size * 3 + 1);
        assert!(reqs
            .iter()
            .all(|r| r.len() <= 3 && r.iter().map(Entry::size).sum::<usize>() <= size * 3 + 1));
        let order: Vec<usize> = reqs.iter().flatten().map(|e| e.index).collect();
        assert_eq!(order, (0..23).collect::<Vec<_>>(), "order kept");
    }

    #[test]
    fn an_entry_over_the_limit_is_set_apart() {
        let small = entry(0, &event("0", "a"));
        let big = entry(1, &event("1", &"x".repeat(5000)));
        let (reqs, too_big) = requests(vec![small.clone(), big, small], 2000);
        assert_eq!(too_big.len(), 1);
        assert_eq!(too_big[0].index, 1);
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].len(), 2);
    }

    #[test]
    fn envelope_puts_the_cloudevent_under_detail() {
        let ev = event("1", "a");
        let detail = serde_json::to_value(Structured(&ev)).unwrap();
        let env = envelope(&ev, &detail, "us-west-1");
        assert_eq!(env["detail"]["id"], "1");
        assert_eq!(env["detail-type"], "VmPoweredOffEvent");
        assert_eq!(env["source"], "https://vc/sdk");
        assert_eq!(env["region"], "us-west-1");
        assert_eq!(env["time"], "2026-11-30T10:00:00Z");
        assert!(env.get("account").is_none());
    }
}
