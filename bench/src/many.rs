//! Many vCenters in one router: `count` fake vCenters (each on its own thread), the events
//! spread across them. One router run measures, in order: the end-to-end rate and peak RSS over
//! the backlog; then, connected and idle, its RSS and CPU over [`IDLE`]; then latency: every
//! vCenter reports a new event every [`PACE`] while the first one also reports a burst, each
//! event's arrival at the sink minus its creation time, per vCenter, so that one vCenter's
//! traffic showing up in another's latency would be seen.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::fake_vcenter::{self, FakeVcenter};
use crate::router_run::{Router, Spec};
use crate::sink::{self, Seen};
use crate::{on_own_thread, results};

/// How long the router sits connected with nothing to do.
pub const IDLE: Duration = Duration::from_secs(60);
/// Time between two events of one vCenter in the latency phase, and how long it lasts.
pub const PACE: Duration = Duration::from_millis(1000);
pub const LATENCY_PHASE: Duration = Duration::from_secs(20);
/// Events the first vCenter reports at once at the start of the latency phase.
pub const BURST: usize = 5000;

pub async fn run(router: &str, count: usize, events: usize, work: &Path) -> anyhow::Result<results::ManyVcenters> {
    let per = events / count;
    let mut fakes: Vec<FakeVcenter> = Vec::with_capacity(count);
    for _ in 0..count {
        fakes.push(on_own_thread(move || fake_vcenter::serve(per))?);
    }
    let urls: Vec<String> = fakes.iter().map(|f| f.url.clone()).collect();
    let seen = Arc::new(Seen::default());
    let sink_url = {
        let seen = seen.clone();
        on_own_thread(move || sink::start(seen, Duration::ZERO, true))?
    };
    let spec = Spec::fake(&urls, &sink_url, 4);
    let mut r = Router::start(router, &spec, work)?;

    // The backlog: every vCenter's history, end to end.
    let total = (per * count) as u64;
    let start = Instant::now();
    let mut peak = 0;
    while seen.count() < total {
        if start.elapsed() > Duration::from_secs(600) {
            bail!(
                "{count} vCenters: only {} of {total} events arrived in 600 s",
                seen.count()
            );
        }
        r.check_running()?;
        peak = peak.max(r.rss_kib());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();

    // Idle: connected, long-polling, nothing to deliver.
    let cpu_before = r.cpu();
    let idle_start = Instant::now();
    while idle_start.elapsed() < IDLE {
        r.check_running()?;
        peak = peak.max(r.rss_kib());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let idle_cpu_percent =
        (r.cpu().saturating_sub(cpu_before)).as_secs_f64() / idle_start.elapsed().as_secs_f64() * 100.0;
    let idle_kib = r.rss_kib();

    // Latency: one event per vCenter per PACE, and a burst on the first.
    if let (Ok(mut all), Ok(mut by)) = (seen.latencies_ms.lock(), seen.by_source_ms.lock()) {
        all.clear();
        by.clear();
    }
    let before = seen.count();
    for _ in 0..BURST {
        fakes[0].post();
    }
    let phase = Instant::now();
    let mut posted = BURST as u64;
    while phase.elapsed() < LATENCY_PHASE {
        for f in &fakes {
            f.post();
        }
        posted += count as u64;
        tokio::time::sleep(PACE).await;
        peak = peak.max(r.rss_kib());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.count() < before + posted {
        if Instant::now() > deadline {
            bail!(
                "{count} vCenters: {} of {posted} live events arrived",
                seen.count() - before
            );
        }
        r.check_running()?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    r.stop();
    let by_source = seen.latencies_by_source();
    // The CloudEvent source is the vCenter's URL: the busy one is the first fake's port.
    let busy_port = format!(":{}/", crate::port_of(&urls[0])?);
    let busy = by_source
        .keys()
        .find(|s| s.contains(&busy_port))
        .cloned()
        .context("no latencies from the busy vCenter")?;
    let quiet_p99: Vec<f64> = (by_source.iter())
        .filter(|(source, _)| **source != busy || count == 1)
        .map(|(_, l)| sink::percentile(l, 99.0))
        .collect();
    if quiet_p99.len() != count.saturating_sub(1).max(1) {
        bail!("{count} vCenters: latencies from {} sources", by_source.len());
    }
    let all = seen.latencies();
    Ok(results::ManyVcenters {
        vcenters: count as u64,
        events: total,
        events_per_sec: rate.round(),
        peak_rss_kib: peak,
        idle_rss_kib: idle_kib,
        idle_seconds: IDLE.as_secs(),
        idle_cpu_percent,
        live_events: posted,
        burst: BURST as u64,
        p99_ms: sink::percentile(&all, 99.0),
        worst_quiet_p99_ms: quiet_p99.iter().copied().fold(0.0, f64::max),
        busy_p99_ms: by_source
            .get(&busy)
            .map(|l| sink::percentile(l, 99.0))
            .unwrap_or(f64::NAN),
    })
}
