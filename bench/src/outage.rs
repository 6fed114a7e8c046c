//! A sink outage (a Broker restarted or upgraded): a backlog of events over many objects into a
//! sink that answers 503 for the first [`OUTAGE`], then 202 in [`crate::storm::LATENCY`], with
//! the router's default config. Reports how long the backlog took to drain once the sink came
//! back, the events delivered (each key once at least), the events dead-lettered (must be 0:
//! a transient failure is retried for `maxRetrySeconds`, an hour by default), and how often an
//! object's event arrived after a later one of the same object (must be 0).

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};

use crate::fake_vcenter;
use crate::on_own_thread;
use crate::results::Outage;
use crate::router_run::{Router, Spec};
use crate::storm::{ObjectOrder, LATENCY};

/// How long the sink refuses everything.
pub const OUTAGE: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Seen {
    refused: AtomicU64,
    duplicates: AtomicU64,
    keys: Mutex<HashSet<i64>>,
    order: ObjectOrder,
}

/// A sink answering 503 until `back`, then 202 after [`LATENCY`], checking each object's order.
async fn sink(seen: Arc<Seen>, back: Instant) -> anyhow::Result<String> {
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let seen = seen.clone();
        async move {
            if Instant::now() < back {
                seen.refused.fetch_add(1, Ordering::Relaxed);
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            tokio::time::sleep(LATENCY).await;
            let key = seen.order.see(&headers, &body);
            if let Ok(mut keys) = seen.keys.lock() {
                if !keys.insert(key) {
                    seen.duplicates.fetch_add(1, Ordering::Relaxed);
                }
            }
            StatusCode::ACCEPTED
        }
    });
    crate::sink::serve(app).await
}

fn delivered(seen: &Seen) -> u64 {
    seen.keys.lock().map(|k| k.len() as u64).unwrap_or(0)
}

/// Dead letters the router wrote (lines of the default file in `checkpointDir`).
fn dead_letters(work: &Path) -> u64 {
    std::fs::read_to_string(work.join("checkpoints").join("dead-letters.jsonl"))
        .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count() as u64)
        .unwrap_or(0)
}

/// `events` over `objects` VMs into a sink down for [`OUTAGE`], default config.
pub async fn run(router: &str, events: usize, objects: usize, work: &Path) -> anyhow::Result<Outage> {
    let seen = Arc::new(Seen::default());
    let vcenter = on_own_thread(move || async move { Ok(fake_vcenter::serve_objects(events, objects).await?.url) })?;
    let vcenters = [vcenter];
    let started = Instant::now();
    let back = started + OUTAGE;
    let sink_url = {
        let seen = seen.clone();
        on_own_thread(move || sink(seen, back))?
    };
    let spec = Spec {
        concurrency: None,
        ..Spec::fake(&vcenters, &sink_url, 1)
    };
    let mut r = Router::start(router, &spec, work)?;
    while delivered(&seen) < events as u64 {
        if started.elapsed() > OUTAGE + Duration::from_secs(300) {
            bail!(
                "outage: only {} of {events} events arrived 300 s after the sink came back ({} dead-lettered)",
                delivered(&seen),
                dead_letters(work)
            );
        }
        r.check_running()?;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let drain = Instant::now().saturating_duration_since(back);
    r.stop();
    Ok(Outage {
        events: events as u64,
        objects: objects as u64,
        outage_seconds: OUTAGE.as_secs(),
        drain_seconds: drain.as_secs_f64(),
        refused: seen.refused.load(Ordering::Relaxed),
        delivered: delivered(&seen),
        duplicates: seen.duplicates.load(Ordering::Relaxed),
        dead_letters: dead_letters(work),
        order_breaks: seen.order.breaks.load(Ordering::Relaxed),
    })
}
