//! A real Kubernetes API server on loopback: etcd, kube-apiserver 1.20.2 (RBAC on, TLS with a
//! fresh CA, service-account issuer and keys, a static admin token) and kube-controller-manager
//! (service-account, token, namespace and garbage-collector controllers), built by
//! `scripts/install-kube-apiserver.sh` and started by `tests/peers/kube-api.sh`.
//!
//! [`KubeApi::shared`] starts one server per test-binary run, on first use; tests isolate
//! themselves by namespace ([`KubeApi::unique_namespace`]). It is never dropped: its processes
//! stop when the test process ends, whichever way it ends, because kube-api.sh waits for end of
//! file on its standard input and this process holds the only write end of that pipe (the
//! kernel closes it on exit, even on SIGKILL; Rust opens its pipes close-on-exec, so no other
//! child inherits it). A parent-death signal (PR_SET_PDEATHSIG) would not do: Linux sends it
//! when the thread that spawned the child ends, and every test runs on a thread of its own.
//! [`KubeApi::start`] gives a private server that stops on drop (controller manager, API
//! server, then etcd).
//!
//! What 1.20 lacks (CEL validation, field selectors on custom resources, strict field
//! validation of custom resources) and more: ../shared/reference/kube-apiserver-from-debian.md.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{free_port, line_reader, output_text, repo_root, stop, tool, Router, TempDir};

/// How long the supervisor may take from start to `READY` (about 8 s on an idle machine; the
/// tests run in parallel with others on 2 cores).
const START_WITHIN: Duration = Duration::from_secs(180);

/// The Knative v1.20 release manifests the CRDs come from (beside the repository, as in CI).
pub fn knative_reference() -> PathBuf {
    repo_root().join("../shared/reference/upstream/knative-v1.20.0")
}

/// A running API server (see the module documentation).
pub struct KubeApi {
    child: Child,
    /// Closing it stops the servers.
    stdin: Option<ChildStdin>,
    /// The supervisor's folder: ca.crt, admin.token, kubeconfig and the three logs.
    dir: PathBuf,
    /// `https://127.0.0.1:PORT`
    pub url: String,
    pub port: u16,
    token: String,
    knative_crds: OnceLock<Result<(), String>>,
}

static SHARED: OnceLock<Result<KubeApi, String>> = OnceLock::new();
static NAMESPACES: AtomicUsize = AtomicUsize::new(0);

impl KubeApi {
    /// The API server of this test run, started on first use.
    pub fn shared() -> &'static KubeApi {
        match SHARED.get_or_init(KubeApi::try_start) {
            Ok(api) => api,
            Err(e) => panic!("{e}"),
        }
    }

    /// A private API server, stopped on drop.
    pub fn start() -> KubeApi {
        KubeApi::try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts kube-api.sh; tries new ports twice more when one was taken in between.
    pub fn try_start() -> Result<KubeApi, String> {
        let mut last = String::new();
        for _ in 0..3 {
            match KubeApi::start_once() {
                Ok(api) => return Ok(api),
                Err((e, port_taken)) => {
                    last = e;
                    if !port_taken {
                        break;
                    }
                }
            }
        }
        Err(last)
    }

    /// One start: Err((message, whether a port was taken)).
    fn start_once() -> Result<KubeApi, (String, bool)> {
        let (port, etcd, peer) = (free_port(), free_port(), free_port());
        let mut child = Command::new("bash")
            .arg(repo_root().join("tests/peers/kube-api.sh"))
            .arg("--bin")
            .arg(tool(".tools/kubernetes/bin"))
            .arg("--kubectl")
            .arg(tool(".tools/bin/kubectl"))
            .args(["--api-port", &port.to_string()])
            .args(["--etcd-port", &etcd.to_string()])
            .args(["--etcd-peer-port", &peer.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| (format!("cannot run tests/peers/kube-api.sh: {e}"), false))?;
        let stdin = child.stdin.take();
        let lines = line_reader(child.stdout.take().expect("piped stdout"));
        let deadline = Instant::now() + START_WITHIN;
        let mut dir: Option<PathBuf> = None;
        let mut url: Option<String> = None;
        while url.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(d) = line.strip_prefix("DIR ") {
                        dir = Some(PathBuf::from(d.trim()));
                    } else if let Some(u) = line.strip_prefix("READY ") {
                        url = Some(u.trim().to_string());
                    }
                }
                Err(_) => break,
            }
        }
        let (Some(dir), Some(url)) = (dir.clone(), url) else {
            // Stop it (it keeps its folder when it did not get ready) and say where to look.
            drop(stdin);
            let exited = wait_exit(&mut child, Duration::from_secs(30));
            if !exited {
                stop(&mut child, Duration::from_secs(35));
            }
            let logs = dir
                .as_ref()
                .map(|d| {
                    ["etcd.log", "kube-apiserver.log", "kube-controller-manager.log"]
                        .iter()
                        .map(|l| std::fs::read_to_string(d.join(l)).unwrap_or_default())
                        .collect::<String>()
                })
                .unwrap_or_default();
            let port_taken = logs.contains("address already in use");
            let place = dir.map_or_else(
                || "no folder yet".to_string(),
                |d| {
                    format!(
                        "logs: {0}/kube-apiserver.log, {0}/etcd.log, {0}/kube-controller-manager.log",
                        d.display()
                    )
                },
            );
            return Err((
                format!(
                    "the Kubernetes API server (tests/peers/kube-api.sh) was not ready within {:?} \
                     (its message is above); {place}",
                    START_WITHIN
                ),
                port_taken,
            ));
        };
        let token = std::fs::read_to_string(dir.join("admin.token"))
            .map_err(|e| (format!("{}/admin.token: {e}", dir.display()), false))?
            .trim()
            .to_string();
        Ok(KubeApi {
            child,
            stdin,
            dir,
            url,
            port,
            token,
            knative_crds: OnceLock::new(),
        })
    }

    /// The CA that signed the API server's certificate (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// The static admin token (group system:masters).
    pub fn admin_token(&self) -> &str {
        &self.token
    }

    /// A kubeconfig for the admin.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// The folder with the logs (kube-apiserver.log, etcd.log, kube-controller-manager.log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs kubectl (.tools/bin/kubectl, 1.20) as the admin with `stdin` as its input.
    pub fn try_kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(tool(".tools/bin/kubectl"))
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .arg("--request-timeout=30s")
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("piped stdin");
            let input = input.to_string();
            // Written on a thread: kubectl may answer before it read everything.
            std::thread::spawn(move || {
                let _ = pipe.write_all(input.as_bytes());
            });
        }
        child.wait_with_output().expect("wait for kubectl")
    }

    /// Runs kubectl as the admin; panics with its output (and where the logs are) when it fails;
    /// returns its stdout.
    pub fn kubectl(&self, args: &[&str]) -> String {
        self.kubectl_with(args, None)
    }

    /// [`KubeApi::kubectl`] with `stdin` as kubectl's input (`-f -`).
    pub fn kubectl_with(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.try_kubectl(args, stdin);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}(API server logs in {})",
            output_text(&out),
            self.dir.display()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply -f -` of `yaml` (client-side apply, as an operator does).
    pub fn apply(&self, yaml: &str) -> String {
        self.kubectl_with(&["apply", "-f", "-"], Some(yaml))
    }

    /// Creates the namespace unless it exists (tests that share one may race to make it), with
    /// the annotation `kubectl apply` keeps, so a manifest may apply it again without a warning.
    pub fn create_namespace(&self, name: &str) {
        let out = self.try_kubectl(&["create", "namespace", name, "--save-config"], None);
        let text = output_text(&out);
        assert!(
            out.status.success() || text.contains("AlreadyExists"),
            "kubectl create namespace {name}: {text}"
        );
    }

    /// A new namespace of this test run, `PREFIX-N`, for a test to work in alone.
    pub fn unique_namespace(&self, prefix: &str) -> String {
        let name = format!("{prefix}-{}", NAMESPACES.fetch_add(1, Ordering::SeqCst));
        self.create_namespace(&name);
        name
    }

    /// `kubectl auth can-i ARGS --as=USER`: whether the real authorizer allows it.
    pub fn can_i(&self, user: &str, args: &[&str]) -> bool {
        let as_user = format!("--as={user}");
        let mut all = vec!["auth", "can-i"];
        all.extend_from_slice(args);
        all.push(&as_user);
        let out = self.try_kubectl(&all, None);
        let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // kubectl answers "no" for a resource it cannot find, with only a warning: that would
        // make a typo in a test look like a denial.
        assert!(
            !stderr.contains("doesn't have a resource type"),
            "kubectl auth can-i {args:?}: {stderr}"
        );
        match answer.as_str() {
            "yes" => true,
            "no" => false,
            _ => panic!("kubectl auth can-i {args:?} --as={user}: {}", output_text(&out)),
        }
    }

    /// Knative's v1.20 CRDs (Eventing, Serving, the in-memory channel), once per server, as
    /// tests/peers/knative_crds.py adapts them to 1.20, applied and Established.
    pub fn install_knative_crds(&self) {
        let done = self.knative_crds.get_or_init(|| {
            let out = Command::new(tool(".tools/venv/bin/python"))
                .arg(repo_root().join("tests/peers/knative_crds.py"))
                .arg(knative_reference())
                .output()
                .map_err(|e| format!("run knative_crds.py: {e}"))?;
            if !out.status.success() {
                return Err(format!("knative_crds.py: {}", output_text(&out)));
            }
            let list = String::from_utf8_lossy(&out.stdout).into_owned();
            // Server-side: the CRDs are too large for client-side apply's annotation.
            let applied = self.try_kubectl(&["apply", "--server-side", "-f", "-"], Some(list.as_str()));
            if !applied.status.success() {
                return Err(format!("applying the Knative CRDs: {}", output_text(&applied)));
            }
            let established = self.try_kubectl(
                &["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"],
                None,
            );
            if !established.status.success() {
                return Err(format!("the Knative CRDs: {}", output_text(&established)));
            }
            Ok(())
        });
        if let Err(e) = done {
            panic!("{e}");
        }
    }

    /// A token for the ServiceAccount `namespace/name` from the TokenRequest API (an hour).
    pub fn service_account_token(&self, namespace: &str, name: &str) -> String {
        let request =
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":3600}}"#;
        let path = format!("/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token");
        let answer = self.kubectl_with(&["create", "--raw", &path, "-f", "-"], Some(request));
        let v: Value = serde_json::from_str(&answer).unwrap_or_else(|e| panic!("TokenRequest answer {answer}: {e}"));
        v["status"]["token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| panic!("TokenRequest answer has no token: {answer}"))
            .to_string()
    }

    /// Sets an object's status as its controller would: GET `path` (the object's REST path,
    /// `/apis/GROUP/VERSION/namespaces/NS/PLURAL/NAME`), replace `status`, PUT `path/status`.
    /// Returns the object the server answered with.
    pub fn set_status(&self, path: &str, status: Value) -> Value {
        let current = self.kubectl(&["get", "--raw", path]);
        let mut object: Value = serde_json::from_str(&current).unwrap_or_else(|e| panic!("GET {path}: {e}: {current}"));
        object["status"] = status;
        let answer = self.kubectl_with(
            &["replace", "--raw", &format!("{path}/status"), "-f", "-"],
            Some(object.to_string().as_str()),
        );
        serde_json::from_str(&answer).unwrap_or_else(|e| panic!("PUT {path}/status: {e}: {answer}"))
    }

    /// The pod's view of the cluster for the ServiceAccount `namespace/name`: a folder with
    /// token (from the TokenRequest API), ca.crt and namespace, and the environment that points
    /// the router at this server.
    pub fn in_cluster(&self, namespace: &str, name: &str) -> InCluster {
        let dir = TempDir::new("sa");
        std::fs::write(dir.path().join("token"), self.service_account_token(namespace, name)).expect("write token");
        std::fs::copy(self.ca_file(), dir.path().join("ca.crt")).expect("copy ca.crt");
        std::fs::write(dir.path().join("namespace"), namespace).expect("write namespace");
        let dir_text = dir.path().display().to_string();
        InCluster {
            dir,
            dir_text,
            port: self.port.to_string(),
        }
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        // End of file on its stdin: the supervisor stops the controller manager, the API server
        // and etcd, in that order, and removes its folder.
        drop(self.stdin.take());
        if !wait_exit(&mut self.child, Duration::from_secs(40)) {
            stop(&mut self.child, Duration::from_secs(35));
        }
    }
}

/// Waits up to `within` for `child` to exit; whether it did.
fn wait_exit(child: &mut Child, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What a pod of a ServiceAccount sees (see [`KubeApi::in_cluster`]).
pub struct InCluster {
    dir: TempDir,
    dir_text: String,
    port: String,
}

impl InCluster {
    /// The service-account folder (token, ca.crt, namespace).
    pub fn sa_dir(&self) -> &Path {
        self.dir.path()
    }

    /// KUBERNETES_SERVICE_HOST/PORT, EVENT_ROUTER_SA_DIR and EVENT_ROUTER_KUBE_SCHEME (https).
    pub fn env(&self) -> Vec<(&str, &str)> {
        vec![
            ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
            ("KUBERNETES_SERVICE_PORT", self.port.as_str()),
            ("EVENT_ROUTER_SA_DIR", self.dir_text.as_str()),
            ("EVENT_ROUTER_KUBE_SCHEME", "https"),
        ]
    }

    /// Starts the router on `config` as a pod of this ServiceAccount would run it.
    pub fn start_router(&self, config: &str, metrics_port: u16) -> Router {
        Router::start_env(config, metrics_port, &["--log-level", "info"], &self.env())
    }
}
