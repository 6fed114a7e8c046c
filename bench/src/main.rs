//! `make bench`: throughput and memory of the event-router (release build) streaming N events
//! from a fast fake vCenter to a loopback Knative-style sink with checkpoints on, next to the
//! rate of the router's own parser alone on the same pages. Prints a table and writes
//! target/bench/results.json.
//!
//!     event-bench --router target/release/event-router [--events 100000]

mod fake_vcenter;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use event_router::cloudevent::{self, Origin};
use event_router::config::EventFormat;
use event_router::vsphere::event::VsphereEvent;
use event_router::vsphere::soap::parse_response;
use event_router::vsphere::types::TypeTable;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The loopback sink: 202 for every POST, counting them.
async fn sink(count: Arc<AtomicU64>) -> anyhow::Result<String> {
    let app = axum::Router::new().fallback(move || {
        let count = count.clone();
        async move {
            count.fetch_add(1, Ordering::Relaxed);
            axum::http::StatusCode::ACCEPTED
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}/"))
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Events per second of the router's decoder alone: SOAP pages of 1000 -> CloudEvents.
fn parser_rate(n: usize) -> anyhow::Result<f64> {
    let pages: Vec<String> = (0..n.div_ceil(1000))
        .map(|p| {
            let events: String = (p * 1000 + 1..=((p + 1) * 1000).min(n))
                .map(|k| fake_vcenter::event_xml(k, "returnval"))
                .collect();
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><ReadNextEventsResponse xmlns="urn:vim25">{events}</ReadNextEventsResponse></soapenv:Body></soapenv:Envelope>"#
            )
        })
        .collect();
    let table = TypeTable::builtin();
    let origin = Origin {
        source: "http://127.0.0.1/sdk".into(),
        api_version: "8.0.3.0".into(),
        format: EventFormat::Router,
    };
    let start = Instant::now();
    let mut done = 0usize;
    for page in &pages {
        let body = parse_response(page)?;
        for el in body.children.iter() {
            let ev = VsphereEvent::from_element(el, table)?;
            let ce = cloudevent::from_vsphere(&ev, &origin)?;
            std::hint::black_box(&ce);
            done += 1;
        }
    }
    if done != n {
        bail!("the parser decoded {done} of {n} events");
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// One router run: N events through the release binary.
struct Run {
    concurrency: usize,
    rate: f64,
    seconds: f64,
    peak_kib: u64,
    after_kib: u64,
}

async fn run_router(
    router: &str,
    vcenter: &str,
    n: usize,
    concurrency: usize,
    work: &std::path::Path,
) -> anyhow::Result<Run> {
    let received = Arc::new(AtomicU64::new(0));
    let sink_url = sink(received.clone()).await?;
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work)?;
    let metrics = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let config = format!(
        "apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata: {{name: bench}}
eventProvider:
  type: vcenter
  name: fake
  vcenter:
    address: {vcenter}
    checkpoint: true
    checkpointDir: {}
    auth: {{type: basic_auth, basicAuth: {{username: bench, password: bench}}}}
eventProcessor:
  type: knative
  name: sink
  concurrency: {concurrency}
  knative: {{encoding: binary, destination: {{uri: \"{sink_url}\"}}}}
metricsProvider:
  type: default
  name: metrics
  default: {{bindAddress: \"127.0.0.1:{metrics}\"}}
",
        work.join("checkpoints").display()
    );
    let cfg = work.join("config.yaml");
    std::fs::write(&cfg, config)?;
    let mut child = Command::new(router)
        .arg("--config")
        .arg(&cfg)
        .args(["--log-level", "error"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("start {router}"))?;
    let pid = child.id();
    let start = Instant::now();
    let mut peak = 0;
    let deadline = start + Duration::from_secs(600);
    while received.load(Ordering::Relaxed) < n as u64 {
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!(
                "only {} of {n} events arrived in 600 s",
                received.load(Ordering::Relaxed)
            );
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!("the router exited early: {status}");
        }
        peak = peak.max(rss_kib(pid).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kib(pid).unwrap_or(0);
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let _ = child.wait();
    Ok(Run {
        concurrency,
        rate: n as f64 / seconds,
        seconds,
        peak_kib: peak,
        after_kib: after,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> anyhow::Result<()> {
    let router = arg("--router").context("give --router PATH (the release event-router)")?;
    let n: usize = arg("--events").map(|v| v.parse()).transpose()?.unwrap_or(100_000);
    let out_dir = std::path::PathBuf::from(arg("--out").unwrap_or_else(|| "target/bench".into()));
    std::fs::create_dir_all(&out_dir)?;

    let parser = parser_rate(n)?;
    let vcenter = fake_vcenter::start(n).await?;
    let mut runs = Vec::new();
    for concurrency in [1usize, 2, 4] {
        runs.push(run_router(&router, &vcenter, n, concurrency, &out_dir.join("run")).await?);
    }
    let base = &runs[0];
    let rate = base.rate;
    let (elapsed, peak, idle) = (base.seconds, base.peak_kib, base.after_kib);
    let cores = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(0);
    let scaling: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| serde_json::json!({"concurrency": r.concurrency, "events_per_sec": r.rate.round(), "peak_rss_kib": r.peak_kib}))
        .collect();
    let results = serde_json::json!({
        "events": n,
        "machine": {"cores": cores},
        "router": {"events_per_sec": rate.round(), "seconds": elapsed, "peak_rss_kib": peak, "rss_after_kib": idle, "checkpoint": true, "encoding": "binary", "concurrency": 1},
        "scaling": scaling,
        "parser_only": {"events_per_sec": parser.round()},
        "router_vs_parser": rate / parser,
    });
    std::fs::write(out_dir.join("results.json"), serde_json::to_string_pretty(&results)?)?;
    println!("| measure | value |");
    println!("| --- | --- |");
    println!("| events | {n} |");
    println!("| router end to end (fake vCenter -> loopback sink, binary, checkpoints on) | {:.0} events/s ({elapsed:.1} s) |", rate);
    println!("| router peak RSS under load | {:.1} MiB |", peak as f64 / 1024.0);
    println!("| router RSS after the run | {:.1} MiB |", idle as f64 / 1024.0);
    println!(
        "| router parser alone (SOAP pages -> CloudEvents, 1 core) | {:.0} events/s |",
        parser
    );
    println!("| end to end / parser | {:.2} |", rate / parser);
    for r in &runs[1..] {
        println!(
            "| router end to end, concurrency {} | {:.0} events/s, peak RSS {:.1} MiB |",
            r.concurrency,
            r.rate,
            r.peak_kib as f64 / 1024.0
        );
    }
    println!("| machine | {cores} cores |");
    println!("results: {}", out_dir.join("results.json").display());
    Ok(())
}
