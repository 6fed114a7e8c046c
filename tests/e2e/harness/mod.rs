//! End-to-end test harness: starts vcsim, the Python CloudEvents receiver and the real
//! `event-router` binary on loopback, drives vcsim with govc, and stops everything it started
//! (on drop, also when a test fails).
//!
//! Needs the tools from `scripts/install-test-tools.sh` (`make test` runs it) and a built
//! `event-router` (`make test` builds it first).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver as Rx};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod browser;
pub mod kube;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A tool installed by `scripts/install-test-tools.sh` under the repository (`.tools/...`).
pub fn tool(rel: &str) -> PathBuf {
    let p = repo_root().join(rel);
    assert!(
        p.exists(),
        "{} is missing: run scripts/install-test-tools.sh (make test does)",
        p.display()
    );
    p
}

/// A binary of this workspace, built by `cargo build -p PACKAGE` (make test builds them).
pub fn workspace_bin(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let p = target.join("debug").join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build -p {name}` (make test does)",
        p.display()
    );
    p
}

/// The `event-router` binary.
pub fn router_bin() -> PathBuf {
    workspace_bin("event-router")
}

/// A private temporary folder, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!("er-e2e-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Stops a child: SIGTERM, then SIGKILL after `grace`.
fn stop(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Polls `check` every 50 ms until it gives a value, for at most `within`; panics with
/// `what` (and the last value seen) otherwise. The one poll loop of the end-to-end tests.
pub fn eventually<T>(within: Duration, what: impl std::fmt::Display, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// [`eventually`] for a condition.
pub fn eventually_true(within: Duration, what: impl std::fmt::Display, mut check: impl FnMut() -> bool) {
    eventually(within, what, || check().then_some(()))
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Reads a child's stdout line by line on a thread.
fn line_reader(out: impl Read + Send + 'static) -> Rx<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A loopback HTTP server answering every GET with `answer(path, headers)` -> (status, JSON
/// body); for the fakes of peers that cannot run here (the Kubernetes API). Runs until the
/// test process ends.
pub fn json_server(answer: impl Fn(&str, &[String]) -> (u16, String) + Send + 'static) -> u16 {
    use std::io::Write as _;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let Ok(clone) = stream.try_clone() else { continue };
            let mut reader = BufReader::new(clone);
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                headers.push(line.trim_end().to_string());
            }
            let (code, body) = answer(&path, &headers);
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// A finished process's stdout followed by its stderr, for assertions and failure messages.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `program args` in `dir`; panics with its stderr when it fails; returns its stdout.
pub fn run_in(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running vcsim (govmomi 0.24.2).
pub struct Vcsim {
    child: Child,
    /// `https://user:pass@127.0.0.1:PORT/sdk`
    pub govc_url: String,
    home: TempDir,
}

impl Vcsim {
    pub fn start(extra: &[&str]) -> Vcsim {
        let home = TempDir::new("govc");
        // vcsim's stderr is kept: a Go runtime crash (vcsim 0.24.2 is not race-free) is printed
        // there, and the drop below shows it when vcsim ended before the test did.
        let stderr = std::fs::File::create(home.path().join("vcsim.stderr")).expect("vcsim stderr file");
        let mut child = Command::new(tool(".tools/bin/vcsim"))
            .args(["-l", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start vcsim");
        let lines = line_reader(child.stdout.take().unwrap());
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("vcsim printed no URL");
        let govc_url = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("GOVC_URL="))
            .expect("GOVC_URL in vcsim output")
            .to_string();
        Vcsim { child, govc_url, home }
    }

    /// The SDK URL without credentials, as the router's CloudEvent `source`.
    pub fn sdk_url(&self) -> String {
        let (scheme, rest) = self.govc_url.split_once("://").unwrap();
        let host = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
        format!("{scheme}://{host}")
    }

    /// The environment that points govc at this vcsim.
    pub fn govc_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GOVC_URL", self.govc_url.clone()),
            ("GOVC_INSECURE", "1".to_string()),
            ("GOVMOMI_HOME", self.home.path().display().to_string()),
        ]
    }

    /// A VM's ExtraConfig as (key, value) pairs (vcsim 0.24.2 keeps vApp property values there).
    pub fn extra_config(&self, vm: &str) -> Vec<(String, String)> {
        let info: Value = serde_json::from_str(&self.govc(&["vm.info", "-e", "-json", vm])).expect("vm.info json");
        info["VirtualMachines"][0]["Config"]["ExtraConfig"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| {
                (
                    o["Key"].as_str().unwrap_or_default().to_string(),
                    o["Value"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Runs govc against this vcsim; panics with its output when it fails.
    pub fn govc(&self, args: &[&str]) -> String {
        let out = Command::new(tool(".tools/bin/govc"))
            .args(args)
            .envs(self.govc_env())
            .output()
            .expect("run govc");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "govc {args:?} failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    /// Deploys an OVF or OVA (`verb`: import.ovf or import.ova) the operator's way: the
    /// `import.spec` options with `set(key) -> Some(value)` applied to the properties, written to
    /// `dir/options.json`, VM Network mapped; returns the property keys import.spec listed.
    pub fn import(&self, verb: &str, path: &str, dir: &Path, set: impl Fn(&str) -> Option<String>) -> Vec<String> {
        let mut spec: Value = serde_json::from_str(&self.govc(&["import.spec", path])).expect("import.spec json");
        let mut keys = Vec::new();
        for p in spec["PropertyMapping"].as_array_mut().into_iter().flatten() {
            let key = p["Key"].as_str().unwrap_or_default().to_string();
            if let Some(v) = set(&key) {
                p["Value"] = Value::from(v);
            }
            keys.push(key);
        }
        spec["NetworkMapping"] = serde_json::json!([{"Name": "VM Network", "Network": "VM Network"}]);
        let options = dir.join("options.json");
        std::fs::write(&options, spec.to_string()).expect("write options.json");
        let options = options.display().to_string();
        self.govc(&[
            verb,
            "-options",
            &options,
            "-ds",
            "LocalDS_0",
            "-pool",
            "/DC0/host/DC0_C0/Resources",
            "-name",
            "veba",
            path,
        ]);
        keys
    }

    /// Ends every session except govc's own (the router's, among others).
    pub fn terminate_other_sessions(&self) -> usize {
        let v: Value = serde_json::from_str(&self.govc(&["session.ls", "-json"])).expect("session.ls json");
        let mine = v["CurrentSession"]["Key"].as_str().unwrap_or_default().to_string();
        let keys: Vec<String> = v["SessionList"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["Key"].as_str())
            .filter(|k| *k != mine)
            .map(str::to_string)
            .collect();
        if !keys.is_empty() {
            let mut args = vec!["session.rm"];
            args.extend(keys.iter().map(String::as_str));
            self.govc(&args);
        }
        keys.len()
    }
}

impl Drop for Vcsim {
    fn drop(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let stderr = std::fs::read_to_string(self.home.path().join("vcsim.stderr")).unwrap_or_default();
            let tail: String = stderr.lines().take(40).collect::<Vec<_>>().join("\n");
            eprintln!("vcsim ended before the test did ({status}); the first lines of its stderr:\n{tail}");
        }
        stop(&mut self.child, Duration::from_secs(5));
    }
}

/// The Python CloudEvents receiver (tests/peers/ce_receiver.py, CloudEvents SDK).
pub struct CeReceiver {
    peer: Peer,
    pub port: u16,
}

impl CeReceiver {
    pub fn start(extra: &[&str]) -> CeReceiver {
        let args: Vec<&str> = ["--port", "0"].iter().chain(extra).copied().collect();
        let peer = Peer::start("ce_receiver.py", &args);
        let port = peer.port;
        CeReceiver { peer, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// The next request the receiver logged, within `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Value> {
        self.peer.next(timeout)
    }

    /// Waits for the event whose subject or type names `event`, each step within `step`;
    /// returns every event received up to and including it.
    pub fn until(&self, event: &str, step: Duration) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let Some(rec) = self.next(step) else {
                panic!("no CloudEvent within {step:?} while waiting for {event}; received so far: {seen:#?}");
            };
            let a = &rec["attributes"];
            let hit = a["subject"] == event || a["type"].as_str().is_some_and(|t| t.contains(&format!(".{event}.")));
            seen.push(rec);
            if hit {
                return seen;
            }
        }
    }
}

/// A running `event-router` with its config and log in a temp folder.
pub struct Router {
    child: Child,
    pub metrics_port: u16,
    dir: TempDir,
}

/// A RouterConfig for a vCenter provider and the given processor YAML block.
pub fn config(vcenter_url: &str, vcenter_extra: &str, processor: &str, metrics_port: u16) -> String {
    config_with(vcenter_url, vcenter_extra, processor, "", metrics_port)
}

/// [`config`] with top-level keys appended (`deadLetterFile: ...`). `vcenter_extra` lines are
/// indented four spaces, the processor block two, `top` none.
pub fn config_with(vcenter_url: &str, vcenter_extra: &str, processor: &str, top: &str, metrics_port: u16) -> String {
    let provider = format!(
        "eventProvider:
  type: vcenter
  name: vcsim
  vcenter:
    address: {vcenter_url}
    auth:
      type: basic_auth
      basicAuth:
        username: user
        password: pass
{vcenter_extra}
"
    );
    router_config(
        "e2e",
        &provider,
        &format!("eventProcessor:\n{processor}\n"),
        metrics_port,
        None,
        top,
    )
}

/// A RouterConfig named `name`: `providers` and `processors` are whole `eventProvider(s):` and
/// `eventProcessor(s):` blocks, the metrics server listens on loopback `metrics_port` (behind
/// basic auth with `auth`), `top` adds top-level keys (each line ending in a newline).
pub fn router_config(
    name: &str,
    providers: &str,
    processors: &str,
    metrics_port: u16,
    auth: Option<(&str, &str)>,
    top: &str,
) -> String {
    let auth = auth
        .map(|(user, password)| {
            format!("    auth:\n      type: basic_auth\n      basicAuth: {{username: {user}, password: {password}}}\n")
        })
        .unwrap_or_default();
    format!(
        "apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata:
  name: {name}
{top}{providers}{processors}metricsProvider:
  type: default
  name: metrics
  default:
    bindAddress: 127.0.0.1:{metrics_port}
{auth}"
    )
}

/// A Knative processor block named `sink`, binary mode, to `url`, with `extra` lines (four
/// spaces) inside `knative:`.
pub fn knative_with(url: &str, extra: &str) -> String {
    format!(
        "  type: knative\n  name: sink\n  knative:\n    encoding: binary\n    destination:\n      uri: {url}\n{extra}"
    )
}

/// The processor block for a Knative sink at `url`.
pub fn knative(url: &str, encoding: &str) -> String {
    format!("  type: knative\n  name: sink\n  knative:\n    encoding: {encoding}\n    destination:\n      uri: {url}\n    maxAttempts: 4\n")
}

impl Router {
    /// Starts the router on `config` (with `{metrics_port}` unfilled: pass a port).
    pub fn start(config: &str, metrics_port: u16) -> Router {
        Router::start_with(config, metrics_port, &["--log-level", "info"])
    }

    /// Starts the router with these command-line flags after `--config`.
    pub fn start_with(config: &str, metrics_port: u16, flags: &[&str]) -> Router {
        Router::start_env(config, metrics_port, flags, &[])
    }

    /// Starts the router with extra environment variables.
    pub fn start_env(config: &str, metrics_port: u16, flags: &[&str], env: &[(&str, &str)]) -> Router {
        Router::start_wrapped(config, metrics_port, flags, env, &[])
    }

    /// Starts the router through `wrapper` (a program and its arguments that end by exec'ing the
    /// router with the rest of the command line), so it runs as the same process.
    pub fn start_wrapped(
        config: &str,
        metrics_port: u16,
        flags: &[&str],
        env: &[(&str, &str)],
        wrapper: &[&str],
    ) -> Router {
        let dir = TempDir::new("router");
        let cfg = dir.path().join("config.yaml");
        std::fs::write(&cfg, config).unwrap();
        let log = std::fs::File::create(dir.path().join("router.log")).unwrap();
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(router_bin());
                c
            }
            None => Command::new(router_bin()),
        };
        let child = command
            .arg("--config")
            .arg(&cfg)
            .args(flags)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start event-router");
        Router {
            child,
            metrics_port,
            dir,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("router.log")).unwrap_or_default()
    }

    /// GET on the metrics server: (status, body), or None when not listening.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.metrics_port, path)
    }

    /// Waits until /readyz answers 200.
    pub fn wait_ready(&self, within: Duration) {
        let deadline = Instant::now() + within;
        let mut last = None;
        while Instant::now() < deadline {
            last = self.get("/readyz");
            if matches!(last, Some((200, _))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The answer first (it names the source that is not ready), then the log's last lines.
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(60)..].join("\n");
        panic!("router not ready within {within:?}; last /readyz answer: {last:?}; the log's last lines:\n{tail}");
    }

    /// Waits until the log contains `text`.
    pub fn wait_log(&self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let log = self.log();
            if log.contains(text) {
                return log;
            }
            if Instant::now() > deadline {
                panic!("router log lacks {text:?} after {within:?}; log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The router's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The resident set size in KiB (VmRSS from /proc), while running.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    }

    /// Replaces the config file and sends SIGHUP.
    pub fn reload(&self, config: &str) {
        std::fs::write(self.dir.path().join("config.yaml"), config).unwrap();
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -HUP failed");
    }

    /// SIGKILL: no shutdown work at all, as after a crash or an OOM kill.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits up to `within`: the exit code, or `None` when the router was still
    /// running then (it is killed).
    pub fn terminate_within(&mut self, within: Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        None
    }

    /// The highest RSS the router reached (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    }

    /// Sends SIGTERM and returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        stop(&mut self.child, Duration::from_secs(10));
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        stop(&mut self.child, Duration::from_secs(5));
    }
}

/// A minimal HTTP/1.1 GET on loopback (no client crate needed).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    get_with(port, path, "").map(|(status, body, _)| (status, body))
}

/// [`http_get`] with basic auth: (status, body, the header lines lowercased).
pub fn http_get_auth(port: u16, path: &str, user: &str, password: &str) -> Option<(u16, String, String)> {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    get_with(port, path, &format!("Authorization: Basic {token}\r\n"))
}

fn get_with(port: u16, path: &str, extra: &str) -> Option<(u16, String, String)> {
    http_request(port, "GET", path, extra, "")
}

/// A POST with basic auth, `extra` header lines and a JSON body: (status, body, headers).
pub fn http_post_auth(
    port: u16,
    path: &str,
    (user, password): (&str, &str),
    extra: &str,
    body: &str,
) -> Option<(u16, String, String)> {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let headers = format!(
        "Authorization: Basic {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}",
        body.len()
    );
    http_request(port, "POST", path, &headers, body)
}

fn http_request(port: u16, method: &str, path: &str, extra: &str, body: &str) -> Option<(u16, String, String)> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n{body}"
    )
    .ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let status = resp.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    Some((status, body.to_string(), head.to_ascii_lowercase()))
}

/// moto's server mode (AWS EventBridge + SQS on loopback), driven with boto3 through
/// tests/peers/moto_aws.py.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        let child = Command::new(tool(".tools/venv/bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Runs `moto_aws.py <args>` against this server and parses its one JSON line.
    pub fn aws(&self, cmd: &str, args: &[&str]) -> Value {
        let out = Command::new(tool(".tools/venv/bin/python"))
            .arg(repo_root().join("tests/peers/moto_aws.py"))
            .args([cmd, "--endpoint", &self.endpoint])
            .args(args)
            .output()
            .expect("run moto_aws.py");
        assert!(out.status.success(), "moto_aws.py {cmd} failed: {}", output_text(&out));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("moto_aws.py {cmd}: {e}: {}", output_text(&out)))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        stop(&mut self.child, Duration::from_secs(5));
    }
}

/// A Python peer from tests/peers that prints `LISTENING <port>` and then one JSON line per
/// thing it saw (the fake OpenFaaS gateway, the fake Horizon server).
pub struct Peer {
    child: Child,
    pub port: u16,
    lines: Rx<String>,
}

impl Peer {
    pub fn start(script: &str, args: &[&str]) -> Peer {
        let mut child = Command::new(tool(".tools/venv/bin/python"))
            .arg(repo_root().join("tests/peers").join(script))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {script}: {e}"));
        let lines = line_reader(child.stdout.take().unwrap());
        let first = lines
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{script} did not start"));
        let port = first
            .strip_prefix("LISTENING ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("{script}: expected LISTENING <port>, got {first:?}"));
        Peer { child, port, lines }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The next JSON line, within `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Value> {
        let line = self.lines.recv_timeout(timeout).ok()?;
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad peer line {line:?}: {e}")))
    }

    /// The next line as it was printed, within `timeout`.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// Every line that arrives within `quiet` of the previous one.
    pub fn drain(&self, quiet: Duration) -> Vec<Value> {
        std::iter::from_fn(|| self.next(quiet)).collect()
    }

    /// A request to the peer's test controls: (status, body).
    pub fn control(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect to peer");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("write to peer");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read from peer");
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        stop(&mut self.child, Duration::from_secs(3));
    }
}

/// Every event the vCenter recorded, as (key, type), read with pyVmomi (tests/peers/vc_events.py).
pub fn vc_events(vc: &Vcsim) -> Vec<(i64, String)> {
    let out = Command::new(tool(".tools/venv/bin/python"))
        .arg(repo_root().join("tests/peers/vc_events.py"))
        .args(["--url", &vc.govc_url])
        .output()
        .expect("run vc_events.py");
    assert!(out.status.success(), "vc_events.py: {}", output_text(&out));
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).expect("vc_events.py JSON");
    list.iter()
        .map(|e| (e["key"].as_i64().unwrap(), e["type"].as_str().unwrap().to_string()))
        .collect()
}
