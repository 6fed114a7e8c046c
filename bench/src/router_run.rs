//! Starting the release event-router for one benchmark scenario: its RouterConfig (one or more
//! vCenters, a Knative processor in binary mode with checkpoints on), sampling its RSS, and
//! stopping it with SIGTERM.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// What one scenario runs.
pub struct Spec<'a> {
    /// vCenter SDK URLs; every one becomes a provider.
    pub vcenters: &'a [String],
    pub sink: &'a str,
    /// The processor's `concurrency`, or `None` to leave it out (the router's default).
    pub concurrency: Option<usize>,
    /// vcsim speaks HTTPS with a self-signed certificate.
    pub insecure: bool,
    /// (username, password) for every vCenter.
    pub credentials: (&'a str, &'a str),
    /// The vCenter provider's `pageSize`, or `None` to leave it out (the router's default:
    /// 1000, smaller with more than ten vCenters).
    pub page_size: Option<u32>,
    /// Top-level YAML added to the config (each line ending in a newline).
    pub top: &'a str,
    /// Environment variables for the router process.
    pub env: &'a [(&'a str, &'a str)],
}

impl<'a> Spec<'a> {
    /// The fake vCenters (plain HTTP, any credentials) to `sink`.
    pub fn fake(vcenters: &'a [String], sink: &'a str, concurrency: usize) -> Spec<'a> {
        Spec {
            vcenters,
            sink,
            concurrency: Some(concurrency),
            insecure: false,
            credentials: ("bench", "bench"),
            page_size: Some(1000),
            top: "",
            env: &[],
        }
    }
}

fn config(spec: &Spec, work: &Path, metrics_port: u16) -> String {
    let providers: String = spec
        .vcenters
        .iter()
        .enumerate()
        .map(|(i, url)| {
            format!(
                "  - type: vcenter
    name: vc{i}
    vcenter:
      address: {url}
      insecureSSL: {}
      checkpoint: true
{}      checkpointDir: {}
      auth: {{type: basic_auth, basicAuth: {{username: {}, password: {}}}}}
",
                spec.insecure,
                spec.page_size
                    .map(|p| format!("      pageSize: {p}\n"))
                    .unwrap_or_default(),
                work.join("checkpoints").display(),
                spec.credentials.0,
                spec.credentials.1
            )
        })
        .collect();
    format!(
        "apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata: {{name: bench}}
{}eventProviders:
{providers}eventProcessors:
  - type: knative
    name: sink
{}    knative: {{encoding: binary, destination: {{uri: \"{}\"}}}}
metricsProvider:
  type: default
  name: metrics
  default: {{bindAddress: \"127.0.0.1:{metrics_port}\"}}
",
        spec.top,
        spec.concurrency
            .map(|c| format!("    concurrency: {c}\n"))
            .unwrap_or_default(),
        spec.sink
    )
}

/// A running router; killed when dropped if not stopped.
pub struct Router {
    child: Child,
    pub metrics_port: u16,
}

impl Router {
    pub fn start(binary: &str, spec: &Spec, work: &Path) -> anyhow::Result<Router> {
        let _ = std::fs::remove_dir_all(work);
        std::fs::create_dir_all(work).with_context(|| format!("create {}", work.display()))?;
        let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let path: PathBuf = work.join("config.yaml");
        std::fs::write(&path, config(spec, work, metrics_port))?;
        let mut command = Command::new(binary);
        // SAFETY: prctl is async-signal-safe; the router dies with the bench, however it ends.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .arg("--config")
            .arg(&path)
            .args([
                "--log-level",
                &std::env::var("BENCH_ROUTER_LOG").unwrap_or_else(|_| "error".into()),
            ])
            .envs(spec.env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("start {binary}"))?;
        Ok(Router { child, metrics_port })
    }

    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id()).unwrap_or(0)
    }

    /// CPU time (user + system) the router has used so far.
    pub fn cpu(&self) -> Duration {
        cpu_time(&self.child.id().to_string()).unwrap_or_default()
    }

    /// SIGKILL: no shutdown work, as when a node is lost.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Ok(Some(status)) = self.child.try_wait() {
            bail!("the router exited early: {status}");
        }
        Ok(())
    }

    /// Waits until /readyz answers 200 (every vCenter logged in and its collector created).
    pub async fn wait_ready(&mut self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        let addr = format!("127.0.0.1:{}", self.metrics_port);
        while Instant::now() < deadline {
            self.check_running()?;
            if ready(&addr).await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the router was not ready within {within:?}")
    }

    /// SIGTERM, then waits; returns how long the router took to exit.
    pub fn stop(mut self) -> Duration {
        let start = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        start.elapsed()
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn ready(addr: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let req = format!("GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).await.is_ok() && head.ends_with(b"200")
}

/// User + system CPU time of a process (`self` for this one, all threads) from /proc.
pub fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let ticks = fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?;
    // SAFETY: sysconf reads a constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| Duration::from_secs_f64(ticks as f64 / per_second as f64))
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}
