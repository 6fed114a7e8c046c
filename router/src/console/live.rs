//! The live view's feed: the events a source hands to the processors, as their CloudEvent JSON,
//! to whoever watches. A bounded broadcast: a slow or closed browser loses its oldest events
//! (it is told how many) and never slows delivery; with nobody watching, nothing is even
//! serialised. At most [`MAX_PER_SECOND`] events a second are shown (every event at the rates
//! vCenters produce; under a burst, the first of each second and a count of the rest), so an
//! open console costs the router a bounded amount however fast events flow; an event over
//! [`MAX_SHOWN_BYTES`] is shown without its data, so a slow watcher's backlog is bounded too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cloudevents::Event;
use tokio::sync::broadcast;

use crate::cloudevent::Structured;

/// Events one watcher may fall behind by before it loses the oldest.
pub const BACKLOG: usize = 256;

/// Events shown per second; the rest of that second are counted, not serialised.
pub const MAX_PER_SECOND: u64 = 200;

/// Largest event shown whole; a larger one is shown with its attributes and the size of its
/// data, so the backlog holds at most [`BACKLOG`] times this.
pub const MAX_SHOWN_BYTES: usize = 64 * 1024;

/// What a watcher receives.
#[derive(Debug, Clone)]
pub enum Live {
    /// One event's CloudEvent JSON.
    Event(Arc<str>),
    /// This many events passed in the last second beyond [`MAX_PER_SECOND`].
    Skipped(u64),
}

/// The feed, shared by the fan-out (which publishes) and the console (which subscribes).
pub struct LiveEvents {
    tx: broadcast::Sender<Live>,
    /// The current second (Unix), the events shown in it and those skipped.
    second: AtomicU64,
    shown: AtomicU64,
    skipped: AtomicU64,
}

impl Default for LiveEvents {
    fn default() -> Self {
        LiveEvents {
            tx: broadcast::channel(BACKLOG).0,
            second: AtomicU64::new(0),
            shown: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }
    }
}

impl LiveEvents {
    /// Sends the event to every watcher; free when there is none.
    pub fn publish(&self, event: &Event) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.publish_at(event, now);
    }

    fn publish_at(&self, event: &Event, now: u64) {
        if self.second.swap(now, Ordering::Relaxed) != now {
            self.shown.store(0, Ordering::Relaxed);
            self.report_skipped();
        }
        if self.shown.fetch_add(1, Ordering::Relaxed) >= MAX_PER_SECOND {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let held = crate::cloudevent::cost::held_bytes(event);
        let json = if held > MAX_SHOWN_BYTES {
            serde_json::to_string(&without_data(event, held))
        } else {
            serde_json::to_string(&Structured(event))
        };
        if let Ok(json) = json {
            let _ = self.tx.send(Live::Event(json.into()));
        }
    }

    /// Sends the count of a finished second's skipped events now, not with the next event
    /// (called every second by the console's sampler, so a burst's count arrives even when no
    /// event follows it).
    pub fn flush(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.flush_at(now);
    }

    fn flush_at(&self, now: u64) {
        if self.second.load(Ordering::Relaxed) != now {
            self.report_skipped();
        }
    }

    fn report_skipped(&self) {
        let skipped = self.skipped.swap(0, Ordering::Relaxed);
        if skipped > 0 {
            let _ = self.tx.send(Live::Skipped(skipped));
        }
    }

    /// A new watcher: events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Live> {
        self.tx.subscribe()
    }

    /// How many watch now.
    pub fn watchers(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// A large event as the live view shows it: its attributes and extensions (each cut to 1024
/// characters), and in place of its data what it held.
fn without_data(event: &Event, held: usize) -> serde_json::Value {
    use cloudevents::AttributesReader;
    let cut = |s: &str| -> String {
        match s.char_indices().nth(1024) {
            Some((i, _)) => format!("{}…", &s[..i]),
            None => s.to_string(),
        }
    };
    let mut v = serde_json::Map::new();
    v.insert("specversion".into(), event.specversion().to_string().into());
    v.insert("id".into(), cut(event.id()).into());
    v.insert("source".into(), cut(event.source()).into());
    v.insert("type".into(), cut(event.ty()).into());
    for (name, value) in [
        ("datacontenttype", event.datacontenttype().map(cut)),
        ("subject", event.subject().map(cut)),
        ("time", event.time().map(|t| t.to_rfc3339())),
    ] {
        if let Some(value) = value {
            v.insert(name.into(), value.into());
        }
    }
    for (name, value) in event.iter_extensions() {
        v.insert(cut(name), cut(&value.to_string()).into());
    }
    v.insert(
        "data_omitted".into(),
        format!("the event holds about {held} bytes, more than the live view shows ({MAX_SHOWN_BYTES}): its sink received it whole").into(),
    );
    serde_json::Value::Object(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    fn event(id: &str) -> Event {
        EventBuilderV10::new().id(id).source("s").ty("t").build().unwrap()
    }

    #[tokio::test]
    async fn a_slow_watcher_loses_the_oldest_and_nobody_watching_costs_nothing() {
        let live = LiveEvents::default();
        live.publish(&event("0"));
        let mut rx = live.subscribe();
        for i in 1..=(BACKLOG + 10) {
            live.publish_at(&event(&i.to_string()), i as u64);
        }
        match rx.recv().await {
            Err(broadcast::error::RecvError::Lagged(n)) => assert_eq!(n, 10),
            other => panic!("expected a lag, got {other:?}"),
        }
        match rx.recv().await.unwrap() {
            Live::Event(next) => assert!(next.contains("\"id\":\"11\""), "{next}"),
            other => panic!("expected an event, got {other:?}"),
        }
        drop(rx);
        assert_eq!(live.watchers(), 0);
    }

    #[tokio::test]
    async fn a_large_event_is_shown_without_its_data() {
        let live = LiveEvents::default();
        let mut rx = live.subscribe();
        let mut big = event("big");
        big.set_data("application/json", serde_json::json!({"m": "y".repeat(1 << 20)}));
        big.set_extension("vspherevm", "vm-1");
        live.publish_at(&big, 1);
        let Ok(Live::Event(json)) = rx.try_recv() else {
            panic!("nothing shown");
        };
        assert!(json.len() < 4096, "{} bytes", json.len());
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["id"], "big");
        assert_eq!(v["vspherevm"], "vm-1");
        assert!(v.get("data").is_none());
        assert!(
            v["data_omitted"]
                .as_str()
                .unwrap()
                .contains("more than the live view shows"),
            "{v}"
        );
    }

    #[tokio::test]
    async fn a_burst_shows_the_first_of_each_second_and_counts_the_rest() {
        let live = LiveEvents::default();
        let mut rx = live.subscribe();
        for i in 0..MAX_PER_SECOND + 50 {
            live.publish_at(&event(&i.to_string()), 100);
        }
        live.publish_at(&event("next"), 101);
        let mut shown = 0;
        loop {
            match rx.recv().await.unwrap() {
                Live::Event(json) if json.contains("\"id\":\"next\"") => break,
                Live::Event(_) => shown += 1,
                Live::Skipped(n) => {
                    assert_eq!(n, 50);
                    assert_eq!(
                        shown, MAX_PER_SECOND,
                        "the skipped count comes before the next second's events"
                    );
                }
            }
        }
        assert_eq!(shown, MAX_PER_SECOND);
    }

    #[tokio::test]
    async fn a_bursts_count_arrives_once_its_second_is_over_without_a_next_event() {
        let live = LiveEvents::default();
        let mut rx = live.subscribe();
        for i in 0..MAX_PER_SECOND + 7 {
            live.publish_at(&event(&i.to_string()), 100);
        }
        live.flush_at(100);
        for _ in 0..MAX_PER_SECOND {
            assert!(matches!(rx.try_recv(), Ok(Live::Event(_))));
        }
        assert!(rx.try_recv().is_err(), "nothing while the second is still going");
        live.flush_at(101);
        assert!(matches!(rx.try_recv(), Ok(Live::Skipped(7))));
        live.flush_at(102);
        assert!(rx.try_recv().is_err(), "counted once");
    }
}
