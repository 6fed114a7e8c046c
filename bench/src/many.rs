//! Many vCenters in one router: `count` fake vCenters (each on its own thread), the events
//! spread across them. One router run measures, in order: the end-to-end rate and peak RSS over
//! the backlog; then, connected and idle, its RSS and CPU over [`IDLE`]; then latency in two
//! phases: every vCenter reports a new event every [`PACE`], first alone, then while the first
//! one also reports a burst. Each event's latency is its arrival at the sink minus its creation
//! time, per vCenter, so that one vCenter's traffic showing up in another's latency is seen as
//! the quiet vCenters' p99 rising from the first phase to the second. The router runs with the
//! default page size for that many vCenters.

use std::collections::HashMap;
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
    // The default page size, as a user with this many vCenters gets it.
    let spec = Spec {
        page_size: None,
        ..Spec::fake(&urls, &sink_url, 4)
    };
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

    // Latency: one event per vCenter per PACE, first alone, then with a burst on the first
    // vCenter; the quiet vCenters' p99 in the two phases shows what the burst costs them.
    let busy_port = format!(":{}/", crate::port_of(&urls[0])?);
    let alone = live_phase(&fakes, 0, &seen, &mut r, &mut peak).await?;
    let alone_quiet = worst_quiet_p99(&alone, &busy_port, count)?;
    let with_burst = live_phase(&fakes, BURST, &seen, &mut r, &mut peak).await?;
    let quiet_p99 = worst_quiet_p99(&with_burst, &busy_port, count)?;
    let busy = (with_burst.iter())
        .find(|(s, _)| s.contains(&busy_port))
        .map(|(_, l)| sink::percentile(l, 99.0))
        .context("no latencies from the busy vCenter")?;
    r.stop();
    let all: Vec<f64> = with_burst.values().flatten().copied().collect();
    Ok(results::ManyVcenters {
        vcenters: count as u64,
        events: total,
        events_per_sec: rate.round(),
        peak_rss_kib: peak,
        idle_rss_kib: idle_kib,
        idle_seconds: IDLE.as_secs(),
        idle_cpu_percent,
        live_events: all.len() as u64,
        burst: BURST as u64,
        p99_ms: sink::percentile(&all, 99.0),
        worst_quiet_p99_ms: quiet_p99,
        busy_p99_ms: busy,
        quiet_alone_p99_ms: Some(alone_quiet),
    })
}

/// One [`LATENCY_PHASE`]: every vCenter reports an event each [`PACE`], the first one also
/// `burst` events at the start. Returns each event's latency by CloudEvent source, once all
/// have arrived.
async fn live_phase(
    fakes: &[FakeVcenter],
    burst: usize,
    seen: &Seen,
    r: &mut Router,
    peak: &mut u64,
) -> anyhow::Result<HashMap<String, Vec<f64>>> {
    if let (Ok(mut all), Ok(mut by)) = (seen.latencies_ms.lock(), seen.by_source_ms.lock()) {
        all.clear();
        by.clear();
    }
    let before = seen.count();
    for _ in 0..burst {
        fakes[0].post();
    }
    let phase = Instant::now();
    let mut posted = burst as u64;
    while phase.elapsed() < LATENCY_PHASE {
        for f in fakes {
            f.post();
        }
        posted += fakes.len() as u64;
        tokio::time::sleep(PACE).await;
        *peak = (*peak).max(r.rss_kib());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.count() < before + posted {
        if Instant::now() > deadline {
            bail!(
                "{} vCenters: {} of {posted} live events arrived",
                fakes.len(),
                seen.count() - before
            );
        }
        r.check_running()?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(seen.latencies_by_source())
}

/// The highest p99 among the vCenters other than the first (`busy_port` names it in the
/// CloudEvent source); with one vCenter, its own.
fn worst_quiet_p99(by_source: &HashMap<String, Vec<f64>>, busy_port: &str, count: usize) -> anyhow::Result<f64> {
    let quiet: Vec<f64> = (by_source.iter())
        .filter(|(source, _)| !source.contains(busy_port) || count == 1)
        .map(|(_, l)| sink::percentile(l, 99.0))
        .collect();
    if quiet.len() != count.saturating_sub(1).max(1) {
        bail!("{count} vCenters: latencies from {} sources", by_source.len());
    }
    Ok(quiet.into_iter().fold(0.0, f64::max))
}
