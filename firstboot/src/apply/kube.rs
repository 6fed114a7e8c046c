//! Waiting for the router through the Kubernetes API (no kubectl wait chains): k3s's
//! kubeconfig gives the API address and credentials; the router's Deployment is polled until it
//! runs the expected config and is ready, or the timeout expires with a message that says what
//! was last seen and where to look.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

/// What was seen instead of a ready router (the message of the next poll's wait, the last one
/// in the timeout's error).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct NotYet(String);

impl From<String> for NotYet {
    fn from(s: String) -> Self {
        NotYet(s)
    }
}

impl From<&str> for NotYet {
    fn from(s: &str) -> Self {
        NotYet(s.to_string())
    }
}

/// Why the router was not seen ready.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the router did not become ready within {seconds} s; last seen: {last}. Look at `kubectl -n {namespace} describe deploy/{name}` and `kubectl -n {namespace} logs deploy/{name}`")]
    Timeout {
        seconds: u64,
        last: String,
        namespace: String,
        name: String,
    },
}

/// What the API server needs from a kubeconfig.
struct Api {
    server: String,
    client: reqwest::Client,
    token: Option<String>,
}

fn b64(v: Option<&serde_norway::Value>) -> Option<Vec<u8>> {
    let s = v?.as_str()?;
    base64::engine::general_purpose::STANDARD.decode(s.trim()).ok()
}

/// Reads a kubeconfig's current context (k3s writes one, `default`).
fn api_from_kubeconfig(path: &Path) -> Result<Api, NotYet> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let doc: serde_norway::Value =
        serde_norway::from_str(&text).map_err(|e| format!("{} is not a kubeconfig: {e}", path.display()))?;
    let current = doc.get("current-context").and_then(|v| v.as_str()).unwrap_or("");
    let named = |list: &str, name: &str, field: &str| -> Option<serde_norway::Value> {
        let items = doc.get(list)?.as_sequence()?;
        let item = items
            .iter()
            .find(|i| i.get("name").and_then(|n| n.as_str()) == Some(name))
            .or_else(|| items.first())?;
        item.get(field).cloned()
    };
    let context = named("contexts", current, "context").unwrap_or(serde_norway::Value::Null);
    let cluster_name = context.get("cluster").and_then(|v| v.as_str()).unwrap_or("");
    let user_name = context.get("user").and_then(|v| v.as_str()).unwrap_or("");
    let cluster = named("clusters", cluster_name, "cluster").ok_or("the kubeconfig has no cluster")?;
    let user = named("users", user_name, "user").unwrap_or(serde_norway::Value::Null);
    let server = cluster
        .get("server")
        .and_then(|v| v.as_str())
        .ok_or("the kubeconfig's cluster has no server")?
        .trim_end_matches('/')
        .to_string();
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(10));
    if let Some(ca) = b64(cluster.get("certificate-authority-data")) {
        let cert = reqwest::Certificate::from_pem(&ca).map_err(|e| format!("the kubeconfig's CA: {e}"))?;
        builder = builder.tls_built_in_root_certs(false).add_root_certificate(cert);
    }
    if let (Some(mut cert), Some(key)) = (
        b64(user.get("client-certificate-data")),
        b64(user.get("client-key-data")),
    ) {
        cert.push(b'\n');
        cert.extend(key);
        let id = reqwest::Identity::from_pem(&cert).map_err(|e| format!("the kubeconfig's client certificate: {e}"))?;
        builder = builder.identity(id);
    }
    let token = user.get("token").and_then(|v| v.as_str()).map(str::to_string);
    let client = builder.build().map_err(|e| format!("HTTP client: {e}"))?;
    Ok(Api { server, client, token })
}

impl Api {
    async fn get(&self, path: &str) -> Result<Option<Value>, NotYet> {
        let mut req = self.client.get(format!("{}{path}", self.server));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("the Kubernetes API is not answering yet ({e})"))?;
        match resp.status().as_u16() {
            404 => Ok(None),
            200 => resp
                .json()
                .await
                .map(Some)
                .map_err(|e| NotYet(format!("bad API answer: {e}"))),
            code => Err(NotYet(format!("the Kubernetes API answered {code} for {path}"))),
        }
    }
}

/// What the router's Deployment says: `Ok(())` when ready, else what is missing.
async fn check(api: &Api, namespace: &str, name: &str, hash: &str, annotation: &str) -> Result<(), NotYet> {
    let Some(d) = api
        .get(&format!("/apis/apps/v1/namespaces/{namespace}/deployments/{name}"))
        .await?
    else {
        return Err(format!(
            "Deployment {namespace}/{name} does not exist yet (k3s applies its manifests folder after it starts)"
        )
        .into());
    };
    let n = |v: &Value| v.as_i64().unwrap_or(0);
    let running_hash = d["spec"]["template"]["metadata"]["annotations"][annotation]
        .as_str()
        .unwrap_or("");
    if running_hash != hash {
        return Err(format!(
            "Deployment {namespace}/{name} does not have the new configuration yet (k3s re-applies changed manifests)"
        )
        .into());
    }
    let (want, ready, updated, total) = (
        n(&d["spec"]["replicas"]).max(1),
        n(&d["status"]["readyReplicas"]),
        n(&d["status"]["updatedReplicas"]),
        n(&d["status"]["replicas"]),
    );
    let observed = n(&d["status"]["observedGeneration"]) >= n(&d["metadata"]["generation"]);
    if observed && ready >= want && updated >= want && total == updated {
        return Ok(());
    }
    let mut why = format!("{ready} of {want} router pods ready");
    let selector = format!("/api/v1/namespaces/{namespace}/pods?labelSelector=app.kubernetes.io%2Fname%3D{name}");
    if let Ok(Some(pods)) = api.get(&selector).await {
        for pod in pods["items"].as_array().into_iter().flatten() {
            for c in pod["status"]["containerStatuses"].as_array().into_iter().flatten() {
                let waiting = &c["state"]["waiting"];
                if let Some(reason) = waiting["reason"].as_str() {
                    why.push_str(&format!(
                        "; pod {}: {reason} {}",
                        pod["metadata"]["name"].as_str().unwrap_or("?"),
                        waiting["message"].as_str().unwrap_or("")
                    ));
                }
                if c["ready"] == Value::Bool(false) && c["state"]["running"].is_object() {
                    why.push_str(&format!(
                        "; pod {} runs but is not ready (it reports ready once it is connected to vCenter)",
                        pod["metadata"]["name"].as_str().unwrap_or("?")
                    ));
                }
            }
        }
    }
    Err(why.trim_end().into())
}

/// Polls until the router's Deployment is ready with config `hash`, or `timeout` passes;
/// `seen` is told each new thing seen in between (for Debugging's detail lines).
pub fn wait_router(
    kubeconfig: &Path,
    namespace: &str,
    name: &str,
    hash: &str,
    annotation: &str,
    timeout: Duration,
    seen: &mut dyn FnMut(&str),
) -> Result<String, WaitError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(WaitError::Runtime)?;
    rt.block_on(async {
        let start = Instant::now();
        let mut last = String::from("nothing seen yet");
        let mut told = String::new();
        // Built once k3s has written its kubeconfig; the client then serves every poll.
        let mut api: Option<Api> = None;
        while start.elapsed() < timeout {
            if api.is_none() {
                if kubeconfig.exists() {
                    match api_from_kubeconfig(kubeconfig) {
                        Ok(a) => api = Some(a),
                        Err(e) => last = e.0,
                    }
                } else {
                    last = format!("k3s has not written {} yet", kubeconfig.display());
                }
            }
            if let Some(a) = &api {
                match check(a, namespace, name, hash, annotation).await {
                    Ok(()) => {
                        return Ok(format!(
                            "the router is ready after {:.0} s",
                            start.elapsed().as_secs_f64()
                        ))
                    }
                    Err(e) => last = e.0,
                }
            }
            if last != told {
                seen(&last);
                told.clone_from(&last);
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        Err(WaitError::Timeout {
            seconds: timeout.as_secs(),
            last,
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
    })
}
