//! The live view's feed: the events a source hands to the processors, as their CloudEvent JSON,
//! to whoever watches. A bounded broadcast: a slow or closed browser loses its oldest events
//! (it is told how many) and never slows delivery; with nobody watching, nothing is even
//! serialised. At most [`MAX_PER_SECOND`] events a second are shown (every event at the rates
//! vCenters produce; under a burst, the first of each second and a count of the rest), so an
//! open console costs the router a bounded amount however fast events flow; an event over
//! [`MAX_SHOWN_BYTES`] is shown without its data, so a slow watcher's backlog is bounded too.
//! The last [`HISTORY`] events (at most [`HISTORY_BYTES`]) are kept, shared with their
//! deliveries, and shown to a watcher when it connects, marked as history.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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

/// Events kept for a watcher who connects later (the newest), ...
pub const HISTORY: usize = 100;
/// ... holding at most this many bytes (an event over [`MAX_SHOWN_BYTES`] is kept as its
/// attributes only).
pub const HISTORY_BYTES: usize = 4 << 20;

/// One kept event: the event itself (shared with its deliveries), or a large one's attributes.
enum Kept {
    Event(Arc<Event>, usize),
    Slim(Arc<str>),
}

impl Kept {
    fn bytes(&self) -> usize {
        match self {
            Kept::Event(_, n) => *n,
            Kept::Slim(s) => s.len(),
        }
    }

    fn json(&self) -> Option<Arc<str>> {
        match self {
            Kept::Event(e, _) => serde_json::to_string(&Structured(e)).ok().map(Into::into),
            Kept::Slim(s) => Some(s.clone()),
        }
    }
}

/// The last events, oldest first, and their bytes.
#[derive(Default)]
struct Recent {
    events: VecDeque<Kept>,
    bytes: usize,
}

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
    /// The last [`HISTORY`] events; sends happen under its lock, so a new watcher gets each
    /// event once, from the history or live.
    recent: Mutex<Recent>,
    /// The current second (Unix), the events shown in it and those skipped.
    second: AtomicU64,
    shown: AtomicU64,
    skipped: AtomicU64,
}

impl Default for LiveEvents {
    fn default() -> Self {
        LiveEvents {
            tx: broadcast::channel(BACKLOG).0,
            recent: Mutex::new(Recent::default()),
            second: AtomicU64::new(0),
            shown: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }
    }
}

impl LiveEvents {
    /// Keeps the event among the last ones and sends it to every watcher (nothing is
    /// serialised when there is none).
    pub fn publish(&self, event: &Arc<Event>) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.publish_at(event, now);
    }

    fn publish_at(&self, event: &Arc<Event>, now: u64) {
        let held = crate::cloudevent::cost::held_bytes(event);
        let kept = if held > MAX_SHOWN_BYTES {
            match serde_json::to_string(&without_data(event, held)) {
                Ok(json) => Kept::Slim(json.into()),
                Err(_) => return,
            }
        } else {
            Kept::Event(event.clone(), held)
        };
        let Ok(mut recent) = self.recent.lock() else {
            return;
        };
        recent.bytes += kept.bytes();
        recent.events.push_back(kept);
        while recent.events.len() > HISTORY || recent.bytes > HISTORY_BYTES {
            match recent.events.pop_front() {
                Some(old) => recent.bytes -= old.bytes(),
                None => break,
            }
        }
        if self.tx.receiver_count() > 0 {
            self.send(event, held, now);
        }
    }

    /// Sends one event to the watchers, within [`MAX_PER_SECOND`].
    fn send(&self, event: &Event, held: usize, now: u64) {
        if self.second.swap(now, Ordering::Relaxed) != now {
            self.shown.store(0, Ordering::Relaxed);
            self.report_skipped();
        }
        if self.shown.fetch_add(1, Ordering::Relaxed) >= MAX_PER_SECOND {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        }
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

    /// A new watcher: the last events (oldest first, as JSON) and the events from then on,
    /// each event in exactly one of the two.
    pub fn subscribe_with_history(&self) -> (Vec<Arc<str>>, broadcast::Receiver<Live>) {
        let Ok(recent) = self.recent.lock() else {
            return (Vec::new(), self.tx.subscribe());
        };
        let rx = self.tx.subscribe();
        let kept: Vec<Kept> = recent
            .events
            .iter()
            .map(|k| match k {
                Kept::Event(e, n) => Kept::Event(e.clone(), *n),
                Kept::Slim(s) => Kept::Slim(s.clone()),
            })
            .collect();
        drop(recent);
        (kept.iter().filter_map(Kept::json).collect(), rx)
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

    fn event(id: &str) -> Arc<Event> {
        Arc::new(EventBuilderV10::new().id(id).source("s").ty("t").build().unwrap())
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
        let mut big = EventBuilderV10::new().id("big").source("s").ty("t").build().unwrap();
        big.set_data("application/json", serde_json::json!({"m": "y".repeat(1 << 20)}));
        big.set_extension("vspherevm", "vm-1");
        live.publish_at(&Arc::new(big), 1);
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
    async fn a_new_watcher_gets_the_last_events_then_the_live_ones_each_once() {
        let live = LiveEvents::default();
        for i in 0..HISTORY + 20 {
            live.publish_at(&event(&i.to_string()), i as u64);
        }
        let (history, mut rx) = live.subscribe_with_history();
        assert_eq!(history.len(), HISTORY, "the newest {HISTORY}");
        assert!(history[0].contains("\"id\":\"20\""), "oldest first: {}", history[0]);
        assert!(history[HISTORY - 1].contains(&format!("\"id\":\"{}\"", HISTORY + 19)));
        live.publish_at(&event("next"), 1000);
        match rx.try_recv() {
            Ok(Live::Event(json)) => assert!(json.contains("\"id\":\"next\""), "{json}"),
            other => panic!("expected the live event, got {other:?}"),
        }
        assert!(rx.try_recv().is_err(), "nothing twice");
    }

    #[test]
    fn the_history_is_bounded_in_bytes() {
        let live = LiveEvents::default();
        for i in 0..HISTORY {
            let mut e = EventBuilderV10::new()
                .id(i.to_string())
                .source("s")
                .ty("t")
                .build()
                .unwrap();
            e.set_data(
                "application/json",
                serde_json::json!({"m": "y".repeat(60 * 1024)}).to_string().into_bytes(),
            );
            live.publish_at(&Arc::new(e), 1);
        }
        let recent = live.recent.lock().unwrap();
        assert!(recent.bytes <= HISTORY_BYTES, "{}", recent.bytes);
        assert!(recent.events.len() < HISTORY, "{}", recent.events.len());
        assert_eq!(recent.bytes, recent.events.iter().map(Kept::bytes).sum::<usize>());
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
