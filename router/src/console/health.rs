//! The console's health view: `GET /ui/health` answers, per source, whether its session is up,
//! how long since its last poll, its events/s and the newest event it read (key and time), and
//! per processor what it delivered, failed, retried and dead-lettered, whether it is failing now,
//! its queue against its capacity and its last error; `ready` and the reasons are exactly what `/readyz` answers. The router samples
//! its own counters every [`INTERVAL`] into a ring of the last 15 minutes ([`History`]), which
//! the page draws as small charts; the ring is fixed in size, so watching costs no memory growth.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tokio::sync::watch;

use super::ConsoleState;
use crate::metrics::stats::CheckpointMark;

/// How often the counters are sampled.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// Samples kept: 15 minutes.
pub const SAMPLES: usize = 180;

/// One sample of every component's counters, in `Registry::components` order.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Unix seconds.
    pub t: i64,
    /// Per component: [events, errors, dead letters, queued].
    pub values: Vec<[u64; 4]>,
}

/// The last [`SAMPLES`] samples.
#[derive(Debug, Default)]
pub struct History(Mutex<VecDeque<Sample>>);

impl History {
    fn push(&self, sample: Sample) {
        if let Ok(mut h) = self.0.lock() {
            if h.len() == SAMPLES {
                h.pop_front();
            }
            h.push_back(sample);
        }
    }

    fn samples(&self) -> Vec<Sample> {
        self.0.lock().map(|h| h.iter().cloned().collect()).unwrap_or_default()
    }
}

fn sample(state: &ConsoleState) -> Sample {
    Sample {
        t: chrono::Utc::now().timestamp(),
        values: (state.registry.components.iter())
            .map(|c| [c.total(), c.errors(), c.dead_letters(), c.queue().0])
            .collect(),
    }
}

/// Samples the counters every [`INTERVAL`] until `stop`.
pub async fn sampler(state: Arc<ConsoleState>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut second = tokio::time::interval(Duration::from_secs(1));
    second.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => state.history.push(sample(&state)),
            _ = second.tick() => state.live.flush(),
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

#[derive(Serialize)]
struct Component {
    role: &'static str,
    kind: &'static str,
    name: String,
    address: String,
    events: u64,
    errors: u64,
    events_per_sec: f64,
    dead_letters: u64,
    queued: u64,
    capacity: u64,
    retries: u64,
    /// A processor whose last try failed, with nothing delivered since.
    failing: bool,
    /// Since when its sink has failed (RFC 3339), with nothing delivered since.
    unavailable_since: Option<String>,
    last_error: Option<LastError>,
    /// Sources with a stream: its state, and why it is not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<Stream>,
}

#[derive(Serialize)]
struct LastError {
    time: String,
    text: String,
}

#[derive(Serialize)]
struct Stream {
    session_up: bool,
    seconds_since_poll: Option<u64>,
    last_event_key: Option<i64>,
    last_event_time: Option<String>,
    /// vCenter's newest event and how far the stream is behind it.
    newest_event_key: Option<i64>,
    newest_event_time: Option<String>,
    behind_events: Option<i64>,
    behind_seconds: Option<i64>,
    /// The last checkpoint written (checkpoints on).
    checkpoint: Option<CheckpointMark>,
    not_ready: Option<String>,
}

fn seconds_between(from: &str, to: &str) -> Option<i64> {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    Some((parse(to)? - parse(from)?).num_seconds().max(0))
}

pub async fn health(State(state): State<Arc<ConsoleState>>) -> Response {
    let components: Vec<Component> = (state.registry.components.iter())
        .map(|c| {
            let (queued, capacity) = c.queue();
            let stream = (state.registry.health.iter())
                .find(|(name, _)| *name == c.name && c.role == "EventProvider")
                .map(|(_, h)| {
                    let position = h.position();
                    let newest = h.newest();
                    let (behind_events, behind_seconds) = match (&newest, &position) {
                        (Some((n, _)), Some((p, _))) if p >= n => (Some(0), Some(0)),
                        (Some((n, nt)), Some((p, pt))) => (Some(n - p), seconds_between(pt, nt)),
                        _ => (None, None),
                    };
                    Stream {
                        session_up: h.session_up(),
                        seconds_since_poll: h.since_progress().map(|d| d.as_secs()),
                        last_event_key: position.as_ref().map(|p| p.0),
                        last_event_time: position.map(|p| p.1),
                        newest_event_key: newest.as_ref().map(|n| n.0),
                        newest_event_time: newest.map(|n| n.1),
                        behind_events,
                        behind_seconds,
                        checkpoint: h.checkpoint(),
                        not_ready: h.ready().err().map(|e| e.to_string()),
                    }
                });
            Component {
                role: c.role,
                kind: c.kind,
                name: c.name.clone(),
                address: c.address.clone(),
                events: c.total(),
                errors: c.errors(),
                events_per_sec: c.events_per_sec(),
                dead_letters: c.dead_letters(),
                queued,
                capacity,
                retries: c.retries(),
                failing: c.failing(),
                unavailable_since: c.unavailable().map(|(_, since)| since),
                last_error: c.last_error().map(|(time, text)| LastError { time, text }),
                stream,
            }
        })
        .collect();
    let problems = state.registry.not_ready();
    super::secured(
        Json(serde_json::json!({
            "ready": problems.is_empty(),
            "problems": problems,
            "interval_seconds": INTERVAL.as_secs(),
            "components": components,
            "history": state.history.samples(),
        }))
        .into_response(),
    )
}
