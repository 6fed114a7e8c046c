//! `make bench`: the event-router (release build) measured in one run on this machine.
//!
//! - throughput: N events from a fast fake vCenter through the router to a loopback
//!   Knative-style sink (binary mode, checkpoints on), at 1, 2, 4 and 8 concurrent deliveries
//!   and with 1 and 2 vCenters, with peak RSS and CPU per event; pyVmomi and govmomi (govc's
//!   library) reading and decoding the same pages as peers;
//! - the limits: the router's own decoder alone on the same pages, and bare HTTP POSTs of the
//!   same requests to the same sink from a minimal hyper client;
//! - the web console: the concurrency-1 run again with a client reading the console's live
//!   stream (`/ui/stream`) the whole time;
//! - memory: idle, under load, and with a sink that takes 1 s per request;
//! - many vCenters: 1, 10 and 50 fake vCenters in one router (`many`): rate, RSS, idle CPU and
//!   each vCenter's latency while another has a burst;
//! - an event storm (`storm`): 10,000 events over 1,000 objects, and the same over one object,
//!   into a sink answering in 5 ms, with the default config: drain time, the rate against
//!   `concurrency` / latency, and order breaks per object;
//! - a sink outage (`outage`): 2,000 events over 200 objects into a sink answering 503 for 30 s,
//!   default config: the drain after the sink's return, dead letters and order breaks (0 each);
//! - failover (`failover`): two replicas with leader election against a real kube-apiserver
//!   (tests/peers/kube-api.sh), events posted at 100/s, the leader SIGKILLed: takeover time,
//!   events lost (0), delivered twice, delayed;
//! - latency on vcsim: VM power operations with govc to each event's arrival at the sink.
//!
//! Prints the table and writes target/bench/results.json (its schema: `results`).
//!
//!     event-bench --router target/release/event-router [--events 100000] [--concurrency 1,2,4,8]
//!     event-bench --compare OLD.json [--new NEW.json]  (each figure's change; NEW: the last run)
//!     event-bench --markdown RESULTS.json          (the table of a run)
//!     event-bench --readme RESULTS.json [--root .] (README.md's table regenerated from a run)
//!     event-bench --serve-fake [--events N]    (only the fake vCenter, to point a client at)
//!     event-bench --router R --throughput-only  (limits and the concurrency rows, for profiling)
//!     event-bench --router R --many-only [--vcenters 50]  (only the many-vCenter rows, printed)
//!     event-bench --router R --storm-only      (only the storm rows, printed)
//!     event-bench --router R --outage-only     (only the sink-outage row, printed)
//!     event-bench --router R --failover-only   (only the failover row, printed)

mod failover;
mod fake_vcenter;
mod latency;
mod limits;
mod many;
mod outage;
mod peers;
mod results;
mod router_run;
mod sink;
mod storm;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use results::Results;

use router_run::{Router, Spec};
use sink::Seen;

/// The sink-outage scenario: a backlog over many objects (bench/src/outage.rs).
const OUTAGE_EVENTS: usize = 2_000;
const OUTAGE_OBJECTS: usize = 200;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Runs a server on its own thread and single-threaded runtime, so the sink and the fake
/// vCenter do not share a scheduler with the client being measured. Returns what `make` gave.
pub fn on_own_thread<T, F, Fut>(make: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Err(anyhow::Error::from(e)));
                return;
            }
        };
        runtime.block_on(async move {
            let _ = tx.send(make().await);
            std::future::pending::<()>().await
        });
    });
    rx.recv().context("the server thread ended")?
}

pub(crate) fn port_of(url: &str) -> anyhow::Result<u16> {
    url.rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next()?.parse().ok())
        .with_context(|| format!("no port in {url}"))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// One throughput run.
struct Run {
    label: String,
    concurrency: usize,
    vcenters: usize,
    page_size: u32,
    rate: f64,
    seconds: f64,
    peak_kib: u64,
    /// CPU the router used per event, and the bench's own (sink, fake vCenter) per event.
    router_cpu_us: f64,
    bench_cpu_us: f64,
    /// With the console open: events its stream carried, and events it reported as skipped
    /// (beyond the console's rate) or lost because the reader fell behind.
    console_seen: Option<(u64, u64)>,
}

impl Run {
    /// How the CPU split while the events flowed.
    fn cpu_note(&self) -> String {
        format!(
            "router CPU {:.0} µs/event ({:.2} cores), sink + fake vCenter {:.0} µs/event",
            self.router_cpu_us,
            self.router_cpu_us * self.rate / 1e6,
            self.bench_cpu_us
        )
    }
}

async fn throughput(
    router: &str,
    vcenters: &[String],
    n: usize,
    concurrency: usize,
    page_size: u32,
    console: bool,
    work: &Path,
) -> anyhow::Result<Run> {
    let seen = Arc::new(Seen::default());
    let sink_url = {
        let seen = seen.clone();
        on_own_thread(move || sink::start(seen, Duration::ZERO, false))?
    };
    let spec = Spec {
        page_size: Some(page_size),
        ..Spec::fake(vcenters, &sink_url, concurrency)
    };
    let mut r = Router::start(router, &spec, work)?;
    let start = Instant::now();
    let watcher = if console {
        Some(console_watch(r.metrics_port).await?)
    } else {
        None
    };
    let (router_cpu, bench_cpu) = (r.cpu(), router_run::cpu_time("self").unwrap_or_default());
    let mut peak = 0;
    while seen.count() < n as u64 {
        if start.elapsed() > Duration::from_secs(600) {
            bail!("only {} of {n} events arrived in 600 s", seen.count());
        }
        r.check_running()?;
        peak = peak.max(r.rss_kib());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    let per_event = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    let router_cpu_us = per_event(r.cpu().saturating_sub(router_cpu));
    let bench_cpu_us = per_event(
        router_run::cpu_time("self")
            .unwrap_or_default()
            .saturating_sub(bench_cpu),
    );
    r.stop();
    let console_seen = match watcher {
        Some(w) => Some(w.await.unwrap_or_default()),
        None => None,
    };
    Ok(Run {
        router_cpu_us,
        bench_cpu_us,
        label: format!(
            "concurrency {concurrency}, {} vCenter(s), pageSize {page_size}{}",
            vcenters.len(),
            if console { ", web console open" } else { "" }
        ),
        console_seen,
        concurrency,
        vcenters: vcenters.len(),
        page_size,
        rate: n as f64 / seconds,
        seconds,
        peak_kib: peak,
    })
}

/// Reads the console's live stream (`/ui/stream`, no auth in the bench's config) until the
/// router closes it, as an open browser tab would; answers (events, skipped).
async fn console_watch(port: u16) -> anyhow::Result<tokio::task::JoinHandle<(u64, u64)>> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    // The metrics port is bound before the sources start: connect as soon as it listens.
    let started = Instant::now();
    let mut stream = loop {
        match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            Ok(s) => break s,
            Err(e) if started.elapsed() > Duration::from_secs(10) => {
                return Err(e).context("the router's metrics port never answered");
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    };
    stream
        .write_all(b"GET /ui/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        .await?;
    Ok(tokio::spawn(async move {
        let (mut events, mut skipped) = (0u64, 0u64);
        let mut lines = BufReader::new(stream).lines();
        let mut lagged = false;
        while let Ok(Some(line)) = lines.next_line().await {
            if line == "event: lagged" || line == "event: skipped" {
                lagged = true;
            } else if let Some(data) = line.strip_prefix("data: ") {
                if lagged {
                    skipped += data.trim().parse::<u64>().unwrap_or(0);
                    lagged = false;
                } else if data.starts_with('{') {
                    events += 1;
                }
            }
        }
        (events, skipped)
    }))
}

/// RSS once the router is connected to a vCenter with no events and has settled.
async fn idle_rss(router: &str, work: &Path) -> anyhow::Result<u64> {
    let vcenter = on_own_thread(|| fake_vcenter::start(0))?;
    let sink_url = on_own_thread(|| sink::start(Arc::new(Seen::default()), Duration::ZERO, false))?;
    let vcenters = [vcenter];
    let spec = Spec::fake(&vcenters, &sink_url, 1);
    let mut r = Router::start(router, &spec, work)?;
    r.wait_ready(Duration::from_secs(30)).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss = r.rss_kib();
    r.stop();
    Ok(rss)
}

/// The sink takes 1 s per request while the vCenter offers N events: RSS must stay flat.
struct Slow {
    seconds: u64,
    delivered: u64,
    peak_first_half_kib: u64,
    peak_kib: u64,
    /// SIGTERM to exit, with a full queue (the grace period is 10 s).
    stop_seconds: f64,
}

async fn slow_sink(router: &str, vcenter: &str, work: &Path, seconds: u64) -> anyhow::Result<Slow> {
    let seen = Arc::new(Seen::default());
    let sink_url = {
        let seen = seen.clone();
        on_own_thread(move || sink::start(seen, Duration::from_secs(1), false))?
    };
    let vcenters = [vcenter.to_string()];
    let spec = Spec::fake(&vcenters, &sink_url, 1);
    let mut r = Router::start(router, &spec, work)?;
    let start = Instant::now();
    let (mut first, mut peak) = (0, 0);
    while start.elapsed() < Duration::from_secs(seconds) {
        r.check_running()?;
        let rss = r.rss_kib();
        peak = peak.max(rss);
        if start.elapsed() < Duration::from_secs(seconds / 2) {
            first = first.max(rss);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delivered = seen.count();
    let stop_seconds = r.stop().as_secs_f64();
    Ok(Slow {
        stop_seconds,
        seconds,
        delivered,
        peak_first_half_kib: first,
        peak_kib: peak,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> anyhow::Result<()> {
    let n: usize = arg("--events").map(|v| v.parse()).transpose()?.unwrap_or(100_000);
    if std::env::args().any(|a| a == "--serve-fake") {
        // Only the fake vCenter, for trying a client against it by hand.
        let url = fake_vcenter::start(n).await?;
        println!("fake vCenter with {n} events: {url} (Ctrl-C to stop)");
        return tokio::signal::ctrl_c().await.context("wait for Ctrl-C");
    }
    if let Some(old) = arg("--compare") {
        // Two runs side by side: OLD against --new (default: the last run's results.json).
        let new = arg("--new").unwrap_or_else(|| "target/bench/results.json".into());
        let (old, new) = (Results::load(Path::new(&old))?, Results::load(Path::new(&new))?);
        print!("{}", results::compare(&old, &new));
        return Ok(());
    }
    if let Some(file) = arg("--markdown") {
        print!("{}", results::markdown(&Results::load(Path::new(&file))?));
        return Ok(());
    }
    if let Some(file) = arg("--readme") {
        // The README's table, regenerated from a run (docs/bench/results.json holds the one shown).
        let run = Results::load(Path::new(&file))?;
        let readme_path = PathBuf::from(arg("--root").unwrap_or_else(|| ".".into())).join("README.md");
        let readme =
            std::fs::read_to_string(&readme_path).with_context(|| format!("read {}", readme_path.display()))?;
        let updated = results::readme_with_table(&readme, &run)
            .with_context(|| format!("{} has no bench table markers", readme_path.display()))?;
        std::fs::write(&readme_path, updated)?;
        println!("{}: table regenerated from {file}", readme_path.display());
        return Ok(());
    }
    let router = arg("--router").context("give --router PATH (the release event-router)")?;
    let out_dir = PathBuf::from(arg("--out").unwrap_or_else(|| "target/bench".into()));
    let root = PathBuf::from(arg("--root").unwrap_or_else(|| ".".into()));
    let tools = root.join(".tools/bin");
    if std::env::args().any(|a| a == "--many-only") {
        let counts: Vec<usize> = arg("--vcenters")
            .unwrap_or_else(|| "1,10,50".into())
            .split(',')
            .map(|v| v.trim().parse().context("--vcenters takes a list like 1,10,50"))
            .collect::<anyhow::Result<_>>()?;
        let work = out_dir.join("work");
        for count in counts {
            let m = many::run(&router, count, n, &work.join(format!("many{count}"))).await?;
            println!("{}", serde_json::to_string(&m)?);
        }
        return Ok(());
    }
    if std::env::args().any(|a| a == "--failover-only") {
        let f = failover::run(&router, &root, &out_dir.join("work").join("failover")).await?;
        println!("{}", serde_json::to_string(&f)?);
        return Ok(());
    }
    if std::env::args().any(|a| a == "--outage-only") {
        let o = outage::run(
            &router,
            OUTAGE_EVENTS,
            OUTAGE_OBJECTS,
            &out_dir.join("work").join("outage"),
        )
        .await?;
        println!("{}", serde_json::to_string(&o)?);
        return Ok(());
    }
    if std::env::args().any(|a| a == "--storm-only") {
        let work = out_dir.join("work");
        for objects in [1000usize, 1] {
            let s = storm::run(&router, 10_000, objects, &work.join(format!("storm{objects}"))).await?;
            println!("{}", serde_json::to_string(&s)?);
        }
        return Ok(());
    }
    let levels: Vec<usize> = arg("--concurrency")
        .unwrap_or_else(|| "1,2,4,8".into())
        .split(',')
        .map(|v| v.trim().parse().context("--concurrency takes a list like 1,2,4"))
        .collect::<anyhow::Result<_>>()?;
    std::fs::create_dir_all(&out_dir)?;
    let work = out_dir.join("work");
    let step = |what: &str| eprintln!("bench: {what}");

    step("the router's decoder alone");
    let pages = limits::pages(n);
    let parser = limits::parser_rate(&pages, n)?;
    if std::env::args().any(|a| a == "--decoder-only") {
        // For profiling: the decoder alone, five times over.
        for _ in 0..5 {
            println!("| decoder alone | {:.0} events/s |", limits::parser_rate(&pages, n)?);
        }
        return Ok(());
    }
    step("bare HTTP POSTs to the sink");
    let requests = Arc::new(limits::requests(&pages)?);
    drop(pages);
    let mut bare = Vec::new();
    for connections in [1usize, 4] {
        let url = on_own_thread(|| sink::start(Arc::new(Seen::default()), Duration::ZERO, false))?;
        bare.push((
            connections,
            limits::bare_post_rate(requests.clone(), &url, connections).await?,
        ));
    }
    drop(requests);

    let vcenter = on_own_thread(move || fake_vcenter::start(n))?;
    let mut runs = Vec::new();
    for &c in &levels {
        step(&format!("router, concurrency {c}"));
        let one = std::slice::from_ref(&vcenter);
        runs.push(throughput(&router, one, n, c, 1000, false, &work.join(format!("c{c}"))).await?);
    }
    if std::env::args().any(|a| a == "--throughput-only") {
        println!("| decoder alone | {parser:.0} events/s |");
        for (c, rate) in &bare {
            println!("| bare POSTs, {c} connections | {rate:.0} events/s |");
        }
        for r in &runs {
            println!(
                "| router end to end, {n} events, {} | {:.0} events/s, peak RSS {:.1} MiB, {} |",
                r.label,
                r.rate,
                mib(r.peak_kib),
                r.cpu_note()
            );
        }
        return Ok(());
    }
    step("router, 2 vCenters");
    let half = n / 2;
    let two = [
        on_own_thread(move || fake_vcenter::start(half))?,
        on_own_thread(move || fake_vcenter::start(half))?,
    ];
    runs.push(throughput(&router, &two, half * 2, 1, 1000, false, &work.join("two")).await?);
    step("router, pageSize 100");
    let one = std::slice::from_ref(&vcenter);
    runs.push(throughput(&router, one, n, 1, 100, false, &work.join("page100")).await?);
    step("router, concurrency 1, with the web console's live stream open");
    runs.push(throughput(&router, one, n, 1, 1000, true, &work.join("console")).await?);

    step("router idle");
    let idle = idle_rss(&router, &work.join("idle")).await?;
    step("router with a sink that takes 1 s per request (20 s)");
    let slow = slow_sink(&router, &vcenter, &work.join("slow"), 20).await?;

    let mut many = Vec::new();
    for count in [1usize, 10, 50] {
        step(&format!(
            "router with {count} vCenters: backlog, idle {} s, live events",
            many::IDLE.as_secs()
        ));
        many.push(many::run(&router, count, n, &work.join(format!("many{count}"))).await?);
    }

    let mut storms = Vec::new();
    for objects in [1000usize, 1] {
        step(&format!(
            "storm: 10,000 events over {objects} object(s), sink answering in 5 ms"
        ));
        storms.push(storm::run(&router, 10_000, objects, &work.join(format!("storm{objects}"))).await?);
    }

    step(&format!(
        "sink outage: {OUTAGE_EVENTS} events over {OUTAGE_OBJECTS} objects, sink answering 503 for {} s",
        outage::OUTAGE.as_secs()
    ));
    let outages = vec![outage::run(&router, OUTAGE_EVENTS, OUTAGE_OBJECTS, &work.join("outage")).await?];

    step("failover: two replicas with leader election, the leader SIGKILLed");
    let failover = Some(failover::run(&router, &root, &work.join("failover")).await?);

    step("pyVmomi reading the same pages");
    let port = port_of(&vcenter)?;
    let pyvmomi = peers::pyvmomi(&root, port, n).await?;
    step("govmomi reading the same pages");
    let govmomi = peers::govmomi(&root, port, n).await?;

    step("latency on vcsim (200 power operations)");
    let lat = latency::on_vcsim(&router, &tools, &work.join("latency"), 200).await?;

    let base = runs.first().context("no concurrency levels")?;
    let bare1 = bare.first().map(|b| b.1).unwrap_or(f64::NAN);
    let limit = parser.min(bare1);
    // The default settings: one vCenter, pageSize 1000.
    let peak_load = (runs.iter())
        .filter(|r| r.vcenters == 1 && r.page_size == 1000 && r.console_seen.is_none())
        .map(|r| r.peak_kib)
        .max()
        .unwrap_or(0);
    let cores = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(0);
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next()?.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);

    let results = Results {
        schema_version: results::SCHEMA_VERSION,
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        events: n as u64,
        machine: results::Machine {
            cores: cores as u64,
            memory_gib: (mem_kib as f64 / 1048576.0).round(),
        },
        throughput: (runs.iter())
            .map(|r| results::Throughput {
                label: r.label.clone(),
                concurrency: r.concurrency as u64,
                vcenters: r.vcenters as u64,
                page_size: r.page_size as u64,
                events_per_sec: r.rate.round(),
                seconds: r.seconds,
                peak_rss_kib: r.peak_kib,
                router_cpu_us_per_event: r.router_cpu_us,
                sink_and_fake_cpu_us_per_event: r.bench_cpu_us,
                checkpoint: true,
                encoding: "binary".into(),
                console_open: r.console_seen.is_some(),
                console_events: r.console_seen.map(|c| c.0),
                console_skipped: r.console_seen.map(|c| c.1),
            })
            .collect(),
        peers: results::Peers {
            pyvmomi_events_per_sec: pyvmomi.round(),
            govmomi_events_per_sec: govmomi.round(),
            router_vs_pyvmomi: base.rate / pyvmomi,
            best_router_vs_pyvmomi: runs.iter().map(|r| r.rate).fold(0.0, f64::max) / pyvmomi,
            router_vs_govmomi: base.rate / govmomi,
        },
        limits: results::Limits {
            parser_events_per_sec: parser.round(),
            bare_post: (bare.iter())
                .map(|(c, r)| results::BarePost {
                    connections: *c as u64,
                    requests_per_sec: r.round(),
                })
                .collect(),
            router_vs_limit: base.rate / limit,
        },
        memory: results::Memory {
            idle_kib: idle,
            peak_under_load_kib: peak_load,
            slow_sink: results::SlowSink {
                seconds: slow.seconds,
                delivered: slow.delivered,
                peak_first_half_kib: slow.peak_first_half_kib,
                peak_kib: slow.peak_kib,
                sigterm_to_exit_seconds: slow.stop_seconds,
            },
        },
        latency_vcsim: results::Latency {
            operations: lat.operations as u64,
            pace_ms: latency::PACE.as_millis() as u64,
            events: lat.events as u64,
            p50_ms: lat.p50_ms,
            p99_ms: lat.p99_ms,
            max_ms: lat.max_ms,
        },
        many_vcenters: many,
        storms,
        outages,
        failover,
    };
    let path = out_dir.join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results)?)?;
    print!("{}", results::markdown(&results));
    println!("results: {}", path.display());
    Ok(())
}
