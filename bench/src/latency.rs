//! Latency on vcsim: VM power operations driven with govc, each event's arrival at the sink
//! minus its `createdTime` (vcsim stamps it with the host clock while the operation runs, and
//! the router carries it as the CloudEvent `time`).

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::router_run::{Router, Spec};
use crate::sink::{self, Seen};

/// Time between the starts of two power operations.
pub const PACE: Duration = Duration::from_millis(200);

pub struct Latency {
    pub operations: usize,
    pub events: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

struct Vcsim {
    _child: tokio::process::Child,
    govc_url: String,
    sdk_url: String,
}

async fn start_vcsim(tools: &Path) -> anyhow::Result<Vcsim> {
    let bin = tools.join("vcsim");
    let mut child = tokio::process::Command::new(&bin)
        .args(["-l", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start {} (run 'make tools')", bin.display()))?;
    let out = child.stdout.take().context("vcsim stdout")?;
    let mut lines = BufReader::new(out).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .context("vcsim printed no URL within 20 s")??
        .context("vcsim exited before printing its URL")?;
    let govc_url = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("GOVC_URL="))
        .context("no GOVC_URL in vcsim's first line")?
        .to_string();
    let (scheme, rest) = govc_url.split_once("://").context("GOVC_URL has no scheme")?;
    let host = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    let sdk_url = format!("{scheme}://{host}");
    Ok(Vcsim {
        _child: child,
        govc_url,
        sdk_url,
    })
}

async fn govc(tools: &Path, vc: &Vcsim, home: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new(tools.join("govc"))
        .args(args)
        .env("GOVC_URL", &vc.govc_url)
        .env("GOVC_INSECURE", "1")
        .env("GOVMOMI_HOME", home)
        .output()
        .await
        .context("run govc")?;
    if !out.status.success() {
        bail!("govc {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `operations` power operations (alternating off and on over vcsim's VMs), one every [`PACE`].
pub async fn on_vcsim(router: &str, tools: &Path, work: &Path, operations: usize) -> anyhow::Result<Latency> {
    let vc = start_vcsim(tools).await?;
    let seen = Arc::new(Seen::default());
    let sink_url = {
        let seen = seen.clone();
        crate::on_own_thread(move || sink::start(seen, Duration::ZERO, true))?
    };
    let vcenters = [vc.sdk_url.clone()];
    let spec = Spec {
        vcenters: &vcenters,
        sink: &sink_url,
        concurrency: Some(1),
        insecure: true,
        credentials: ("user", "pass"),
        page_size: Some(1000),
        top: "",
        env: &[],
    };
    let mut router = Router::start(router, &spec, &work.join("router"))?;
    router.wait_ready(Duration::from_secs(30)).await?;
    let home = work.join("govc");
    std::fs::create_dir_all(&home)?;
    let vms: Vec<String> = govc(tools, &vc, &home, &["find", "/", "-type", "m"])
        .await?
        .lines()
        .map(str::to_string)
        .collect();
    if vms.is_empty() {
        bail!("vcsim has no VMs");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = seen.latencies().len();
    let mut on = vec![true; vms.len()];
    // One operation every PACE: a steady stream as operators cause it, not a backlog (the
    // throughput rows cover storms).
    let mut next = tokio::time::Instant::now();
    for i in 0..operations {
        tokio::time::sleep_until(next).await;
        next += PACE;
        let v = i % vms.len();
        let flag = if on[v] { "-off" } else { "-on" };
        govc(tools, &vc, &home, &["vm.power", flag, "-force", &vms[v]]).await?;
        on[v] = !on[v];
    }
    // Wait until the sink has been quiet for 2 s (at most 30 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = seen.count();
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline && quiet_since.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        router.check_running()?;
        let now = seen.count();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
    router.stop();
    let all = seen.latencies();
    let latencies = &all[before.min(all.len())..];
    if latencies.len() < 200 {
        bail!(
            "only {} events arrived for {operations} power operations (need at least 200)",
            latencies.len()
        );
    }
    Ok(Latency {
        operations,
        events: latencies.len(),
        p50_ms: sink::percentile(latencies, 50.0),
        p99_ms: sink::percentile(latencies, 99.0),
        max_ms: sink::percentile(latencies, 100.0),
    })
}
