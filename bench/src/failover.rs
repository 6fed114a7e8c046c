//! Failover between two replicas with leader election (issue 35), against a real Kubernetes API
//! server (tests/peers/kube-api.sh: kube-apiserver 1.20.2 and etcd on loopback, as the e2e tests
//! use) and the fake vCenter, with the defaults of `leaderElection` (Lease 12 s, renew deadline
//! 8 s, retry 2 s) and checkpoints in the ConfigMap. Events are posted to the fake vCenter at a
//! steady rate; the leader is SIGKILLed (a node lost) a few seconds in; the standby takes over
//! from the shared checkpoint. Reports the takeover time (from the kill to the standby's first
//! delivery), the events lost (posted, never delivered: must be 0), delivered twice (the
//! checkpoint's lag: at least once), and delayed (arriving over a second after they were
//! posted), with the longest delay.
//!
//! The routers call the API with the server's admin token: their RBAC is the e2e tests' subject
//! (tests/e2e/kube_api.rs), not this figure's.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::http::{HeaderMap, StatusCode};

use crate::fake_vcenter;
use crate::on_own_thread;
use crate::results::Failover;
use crate::router_run::{Router, Spec};

/// Events posted per second, the whole run.
const RATE: u64 = 100;
/// When the leader is killed, after posting began.
const KILL_AFTER: Duration = Duration::from_secs(5);
/// How long posting goes on after the kill (past the takeover).
const POST_AFTER_KILL: Duration = Duration::from_secs(30);
/// An event arriving later than this after it was posted counts as delayed.
const DELAYED: Duration = Duration::from_secs(1);

/// A running API server; stopped (end of file on its stdin) when dropped.
struct KubeApi {
    child: Child,
    stdin: Option<ChildStdin>,
    dir: PathBuf,
    port: u16,
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(40);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn start_api(root: &Path) -> anyhow::Result<KubeApi> {
    let port = free_port()?;
    let mut child = Command::new("bash")
        .arg(root.join("tests/peers/kube-api.sh"))
        .arg("--bin")
        .arg(root.join(".tools/kubernetes/bin"))
        .arg("--kubectl")
        .arg(root.join(".tools/bin/kubectl"))
        .args(["--api-port", &port.to_string()])
        .args(["--etcd-port", &free_port()?.to_string()])
        .args(["--etcd-peer-port", &free_port()?.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("run tests/peers/kube-api.sh (make tools builds the API server)")?;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().context("kube-api.sh's output")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut api = KubeApi {
        child,
        stdin,
        dir: PathBuf::new(),
        port,
    };
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .context("the Kubernetes API server was not ready within 180 s (its log is above)")?;
        if let Some(d) = line.strip_prefix("DIR ") {
            api.dir = PathBuf::from(d.trim());
        } else if line.starts_with("READY ") {
            return Ok(api);
        }
    }
}

/// What a replica's pod would see: the admin token, the server's CA, the namespace `default`.
fn service_account(api: &KubeApi, work: &Path) -> anyhow::Result<PathBuf> {
    let dir = work.join("serviceaccount");
    std::fs::create_dir_all(&dir)?;
    std::fs::copy(api.dir.join("admin.token"), dir.join("token"))?;
    std::fs::copy(api.dir.join("ca.crt"), dir.join("ca.crt"))?;
    std::fs::write(dir.join("namespace"), "default")?;
    Ok(dir)
}

/// kube-apiserver 1.20 holds the first create of a kind in a namespace until its quota
/// admission has an evaluator for it: one Lease made and removed first, so the takeover
/// measured is the router's own.
fn warm_up(api: &KubeApi, root: &Path) -> anyhow::Result<()> {
    let kubectl = root.join(".tools/bin/kubectl");
    let kubeconfig = api.dir.join("kubeconfig");
    let lease =
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: bench-warm-up\n  namespace: default\n";
    let mut create = Command::new(&kubectl)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["create", "-f", "-", "--request-timeout=180s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    if let Some(mut input) = create.stdin.take() {
        use std::io::Write;
        input.write_all(lease.as_bytes())?;
    }
    if !create.wait()?.success() {
        bail!("kubectl create of a Lease failed");
    }
    let _ = Command::new(&kubectl)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["-n", "default", "delete", "lease", "bench-warm-up"])
        .stdout(Stdio::null())
        .status();
    Ok(())
}

/// First arrival of each key at one replica's sink, and how many arrivals in all.
#[derive(Default)]
struct Arrivals {
    first: HashMap<i64, Instant>,
    total: u64,
}

/// A sink answering 202 at once, recording arrivals by `ce-id`.
async fn sink(seen: Arc<Mutex<Arrivals>>) -> anyhow::Result<String> {
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let seen = seen.clone();
        async move {
            let key: Option<i64> = (headers.get("ce-id"))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            if let (Some(key), Ok(mut s)) = (key, seen.lock()) {
                s.total += 1;
                s.first.entry(key).or_insert_with(Instant::now);
            }
            StatusCode::ACCEPTED
        }
    });
    crate::sink::serve(app).await
}

/// Whether the replica streams the vCenter, by its /stats.
async fn leads(metrics_port: u16) -> Option<bool> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = format!("127.0.0.1:{metrics_port}");
    let mut s = tokio::net::TcpStream::connect(&addr).await.ok()?;
    let req = format!("GET /stats HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).await.ok()?;
    let body = text.split_once("\r\n\r\n")?.1;
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v["vmware.event.router.stats"]["vcenter"]["leader"].as_bool()
}

async fn wait_leads(r: &mut Router, leading: bool, within: Duration, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        r.check_running()?;
        if leads(r.metrics_port).await == Some(leading) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("failover: {what} not within {within:?}")
}

pub async fn run(router: &str, root: &Path, work: &Path) -> anyhow::Result<Failover> {
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work)?;
    let api = start_api(root)?;
    warm_up(&api, root)?;
    let sa = service_account(&api, work)?;
    let vc = on_own_thread(move || async move { fake_vcenter::serve_objects(0, 100).await })?;
    let (seen_a, seen_b) = (
        Arc::new(Mutex::new(Arrivals::default())),
        Arc::new(Mutex::new(Arrivals::default())),
    );
    let sink_a = {
        let seen = seen_a.clone();
        on_own_thread(move || sink(seen))?
    };
    let sink_b = {
        let seen = seen_b.clone();
        on_own_thread(move || sink(seen))?
    };
    let vcenters = [vc.url.clone()];
    let port = api.port.to_string();
    let sa_text = sa.display().to_string();
    let env_of = |pod: &str| -> Vec<(&'static str, String)> {
        vec![
            ("KUBERNETES_SERVICE_HOST", "127.0.0.1".to_string()),
            ("KUBERNETES_SERVICE_PORT", port.clone()),
            ("EVENT_ROUTER_SA_DIR", sa_text.clone()),
            ("POD_NAME", pod.to_string()),
        ]
    };
    let (owned_a, owned_b) = (env_of("bench-a"), env_of("bench-b"));
    let env_a: Vec<(&str, &str)> = owned_a.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let env_b: Vec<(&str, &str)> = owned_b.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let top = "leaderElection: {enabled: true}\n";
    let spec_a = Spec {
        concurrency: None,
        top,
        env: &env_a,
        ..Spec::fake(&vcenters, &sink_a, 1)
    };
    let spec_b = Spec {
        concurrency: None,
        top,
        env: &env_b,
        ..Spec::fake(&vcenters, &sink_b, 1)
    };
    let mut a = Router::start(router, &spec_a, &work.join("a"))?;
    wait_leads(&mut a, true, Duration::from_secs(60), "replica a leads").await?;
    a.wait_ready(Duration::from_secs(30)).await?;
    let mut b = Router::start(router, &spec_b, &work.join("b"))?;
    wait_leads(&mut b, false, Duration::from_secs(30), "replica b stands by").await?;

    // Post at a steady rate; the key of the i-th event posted is i (no history before).
    let began = Instant::now();
    let mut posted: Vec<Instant> = Vec::new();
    let mut killed: Option<Instant> = None;
    let period = Duration::from_micros(1_000_000 / RATE);
    while began.elapsed() < KILL_AFTER + POST_AFTER_KILL {
        if killed.is_none() && began.elapsed() >= KILL_AFTER {
            a.kill();
            killed = Some(Instant::now());
        }
        vc.post();
        posted.push(Instant::now());
        let next = began + period * u32::try_from(posted.len()).unwrap_or(u32::MAX);
        tokio::time::sleep_until(next.into()).await;
    }
    let killed = killed.context("the leader was never killed")?;
    let total = posted.len() as i64;
    let delivered = |s: &Arc<Mutex<Arrivals>>| {
        s.lock()
            .map(|s| s.first.keys().copied().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut keys = delivered(&seen_a);
        keys.extend(delivered(&seen_b));
        keys.sort_unstable();
        keys.dedup();
        if keys.len() as i64 >= total || Instant::now() > deadline {
            break;
        }
        b.check_running()?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.stop();
    let (a_seen, b_seen) = (
        seen_a.lock().map_err(|_| anyhow::anyhow!("sink a"))?,
        seen_b.lock().map_err(|_| anyhow::anyhow!("sink b"))?,
    );
    let takeover = b_seen
        .first
        .values()
        .min()
        .map(|t| t.saturating_duration_since(killed))
        .context("the standby delivered nothing")?;
    let mut lost = 0u64;
    let mut delayed = 0u64;
    let mut max_delay = Duration::ZERO;
    for (i, at) in posted.iter().enumerate() {
        let key = i as i64 + 1;
        let arrived = match (a_seen.first.get(&key), b_seen.first.get(&key)) {
            (Some(x), Some(y)) => Some(*x.min(y)),
            (Some(x), None) | (None, Some(x)) => Some(*x),
            (None, None) => None,
        };
        match arrived {
            None => lost += 1,
            Some(t) => {
                let delay = t.saturating_duration_since(*at);
                max_delay = max_delay.max(delay);
                if delay > DELAYED {
                    delayed += 1;
                }
            }
        }
    }
    let distinct = (total as u64).saturating_sub(lost);
    Ok(Failover {
        events: total as u64,
        rate_per_sec: RATE,
        lease_duration_seconds: event_router::config::defaults::LEASE_DURATION_SECONDS,
        takeover_seconds: takeover.as_secs_f64(),
        lost,
        duplicates: (a_seen.total + b_seen.total).saturating_sub(distinct),
        delayed,
        max_delay_seconds: max_delay.as_secs_f64(),
    })
}
