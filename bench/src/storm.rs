//! An event storm (a host failure, an HA restart): a backlog of events over many objects drained
//! into a sink that answers in a fixed time, with the router's default config (no
//! `concurrency` set). Reports the drain time, the rate against its limit (`concurrency` /
//! latency: what a sink of that latency allows with that many deliveries in flight; the latency
//! is the sink's own measured answer time, which the timer's 1 ms granularity makes somewhat
//! longer than the 5 ms asked for), and how often an object's event arrived after a later one of
//! the same object (must be 0).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};

use crate::fake_vcenter;
use crate::on_own_thread;
use crate::results::Storm;
use crate::router_run::{Router, Spec};

/// The sink's answer time.
pub const LATENCY: Duration = Duration::from_millis(5);

/// Each object's order as events arrive (binary mode: the key is `ce-id`, the object the
/// event's primary managed object, as the router's ordering key finds it).
#[derive(Default)]
pub struct ObjectOrder {
    /// Events that arrived after a later event of the same object.
    pub breaks: AtomicU64,
    /// The highest key delivered per object.
    last: Mutex<HashMap<String, i64>>,
}

impl ObjectOrder {
    /// Notes one arrival; its key.
    pub fn see(&self, headers: &HeaderMap, body: &[u8]) -> i64 {
        let key: i64 = (headers.get("ce-id"))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let object = event_router::pipeline::order_key::primary_object(body).unwrap_or_default();
        if let Ok(mut last) = self.last.lock() {
            let prev = last.entry(object).or_insert(i64::MIN);
            if key < *prev {
                self.breaks.fetch_add(1, Ordering::Relaxed);
            }
            *prev = (*prev).max(key);
        }
        key
    }
}

/// What the order-checking sink saw.
#[derive(Default)]
struct Arrivals {
    count: AtomicU64,
    /// Time spent answering, summed over requests (nanoseconds).
    busy_nanos: AtomicU64,
    order: ObjectOrder,
}

/// A sink answering 202 after `delay`, checking each object's order (binary mode: the key is
/// `ce-id`, the object from the data).
async fn sink(seen: Arc<Arrivals>, delay: Duration) -> anyhow::Result<String> {
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let seen = seen.clone();
        async move {
            let began = Instant::now();
            tokio::time::sleep(delay).await;
            seen.order.see(&headers, &body);
            seen.count.fetch_add(1, Ordering::Relaxed);
            let busy = u64::try_from(began.elapsed().as_nanos()).unwrap_or(u64::MAX);
            seen.busy_nanos.fetch_add(busy, Ordering::Relaxed);
            StatusCode::ACCEPTED
        }
    });
    crate::sink::serve(app).await
}

/// `events` over `objects` VMs into a sink answering in [`LATENCY`], default config.
pub async fn run(router: &str, events: usize, objects: usize, work: &Path) -> anyhow::Result<Storm> {
    let seen = Arc::new(Arrivals::default());
    let sink_url = {
        let seen = seen.clone();
        on_own_thread(move || sink(seen, LATENCY))?
    };
    let vcenter = on_own_thread(move || async move { Ok(fake_vcenter::serve_objects(events, objects).await?.url) })?;
    let vcenters = [vcenter];
    let spec = Spec {
        concurrency: None,
        ..Spec::fake(&vcenters, &sink_url, 1)
    };
    let mut r = Router::start(router, &spec, work)?;
    let start = Instant::now();
    while seen.count.load(Ordering::Relaxed) < events as u64 {
        if start.elapsed() > Duration::from_secs(300) {
            bail!(
                "storm: only {} of {events} events arrived in 300 s",
                seen.count.load(Ordering::Relaxed)
            );
        }
        r.check_running()?;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    r.stop();
    let concurrency = event_router::config::defaults::CONCURRENCY as u64;
    let answered = seen.count.load(Ordering::Relaxed).max(1);
    let latency = Duration::from_nanos(seen.busy_nanos.load(Ordering::Relaxed) / answered);
    let limit = concurrency as f64 / latency.as_secs_f64();
    let rate = events as f64 / seconds;
    Ok(Storm {
        events: events as u64,
        objects: objects as u64,
        sink_latency_ms: LATENCY.as_millis() as u64,
        measured_latency_ms: latency.as_secs_f64() * 1000.0,
        concurrency,
        seconds,
        events_per_sec: rate.round(),
        limit_events_per_sec: limit.round(),
        order_breaks: seen.order.breaks.load(Ordering::Relaxed),
    })
}
