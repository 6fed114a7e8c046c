//! The router's one client of the Kubernetes API: GET, POST and PUT of JSON with the pod's
//! service-account token, read again for each call (the kubelet rotates it). Its Leases and
//! checkpoint ConfigMap (`kube::elector`, `kube::checkpoints`), Knative `ref` resolution
//! (`processors::k8s`) and the console's function list all call through it; it imports nothing
//! of theirs. The answers a caller branches on (404, 409) are errors of their own; no answer is
//! read past [`MAX_OBJECT`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::client_body::read_capped;
use crate::tls::{self, TlsOptions};

/// The service account folder Kubernetes mounts into every pod.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How to reach the API server.
#[derive(Debug, Clone)]
pub struct KubeEnv {
    pub api: String,
    pub sa_dir: PathBuf,
}

impl KubeEnv {
    /// From the in-cluster environment (`None` outside a cluster: `KUBERNETES_SERVICE_HOST`
    /// unset); `EVENT_ROUTER_KUBE_SCHEME` (default https) and `EVENT_ROUTER_SA_DIR` (the account
    /// folder) let tests point it at their own API server.
    pub fn from_env() -> Option<KubeEnv> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").ok()?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
        let scheme = std::env::var("EVENT_ROUTER_KUBE_SCHEME").unwrap_or_else(|_| "https".into());
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        let sa_dir = std::env::var_os("EVENT_ROUTER_SA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| SERVICE_ACCOUNT_DIR.into());
        Some(KubeEnv {
            api: format!("{scheme}://{host}:{port}"),
            sa_dir,
        })
    }
}

/// How long one API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read: a ConfigMap holds at most 1 MiB of data (etcd's request limit is
/// 1.5 MiB), a Lease or a Broker a few KiB; the console's list of Knative Services is the
/// largest, a few KiB per function.
const MAX_OBJECT: usize = 16 << 20;
/// The largest error answer read (a Status object, of which the message is kept).
const MAX_STATUS: usize = 64 << 10;

/// What to check when the API refuses the router's Lease or checkpoint calls.
const REFUSED_HINT: &str = "; the router's service account needs get, create and update on leases and configmaps in this namespace: the Role and RoleBinding event-router-leader-election (manifests/examples/cluster/leader-election.yaml)";

/// Why a call did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{what} needs the Kubernetes API, but the router is not running in a cluster (KUBERNETES_SERVICE_HOST is unset)")]
    NotInCluster { what: String },
    #[error("cannot read the service account's {path}: {detail}")]
    ServiceAccount { path: String, detail: String },
    #[error("cannot build the Kubernetes API client: {0}")]
    Client(String),
    #[error("Kubernetes API request for {what} failed: {detail}")]
    Transport { what: String, detail: String },
    #[error("{what} does not exist (HTTP 404){hint}")]
    NotFound { what: String, hint: &'static str },
    #[error("{what} was changed since it was read, or exists already (HTTP 409 Conflict)")]
    Conflict { what: String },
    #[error("the Kubernetes API refused the request for {what}: HTTP {status}{detail}{hint}")]
    Refused {
        what: String,
        status: u16,
        detail: String,
        hint: &'static str,
    },
    #[error("the Kubernetes API answered for {what} with an unexpected body: {detail}")]
    Decode { what: String, detail: String },
}

impl ApiError {
    /// Whether the router itself is set up wrong (no cluster, no service account, no client),
    /// rather than the API answering what may change later.
    pub fn is_setup(&self) -> bool {
        matches!(
            self,
            ApiError::NotInCluster { .. } | ApiError::ServiceAccount { .. } | ApiError::Client(_)
        )
    }
}

/// What to add to a refusal's message: the RBAC to check for 401/403, the object to check for
/// 404 (by status).
pub type Hints = fn(u16) -> &'static str;

/// The Leases' and checkpoint ConfigMap's hints.
fn lease_hints(status: u16) -> &'static str {
    match status {
        401 | 403 => REFUSED_HINT,
        _ => "",
    }
}

/// A client of the API server the pod runs under.
#[derive(Debug, Clone)]
pub struct ApiClient {
    env: KubeEnv,
    http: reqwest::Client,
    hints: Hints,
}

fn read(path: &Path) -> Result<String, ApiError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| ApiError::ServiceAccount {
            path: path.display().to_string(),
            detail: e.to_string(),
        })
}

impl ApiClient {
    /// A client trusting the service account's `ca.crt` (when there is one).
    pub fn new(env: KubeEnv) -> Result<ApiClient, ApiError> {
        let ca = env.sa_dir.join("ca.crt");
        let tls = TlsOptions {
            insecure: false,
            root_cas: if ca.exists() { vec![ca] } else { vec![] },
        };
        let http = tls::http_client(&tls, CALL_TIMEOUT).map_err(|e| ApiError::Client(e.to_string()))?;
        Ok(ApiClient {
            env,
            http,
            hints: lease_hints,
        })
    }

    /// The in-cluster client (see [`KubeEnv::from_env`]); `what` names the feature that needs it.
    pub fn in_cluster(what: &str) -> Result<ApiClient, ApiError> {
        let env = KubeEnv::from_env().ok_or_else(|| ApiError::NotInCluster { what: what.to_string() })?;
        ApiClient::new(env)
    }

    /// The same client with other hints for refusals (the RBAC its caller needs).
    pub fn with_hints(mut self, hints: Hints) -> ApiClient {
        self.hints = hints;
        self
    }

    /// The pod's namespace (the service account's `namespace` file).
    pub fn namespace(&self) -> Result<String, ApiError> {
        read(&self.env.sa_dir.join("namespace"))
    }

    /// GETs the object at `path` (`what` names it in errors).
    pub async fn get(&self, path: &str, what: &str) -> Result<Value, ApiError> {
        self.call(reqwest::Method::GET, path, None, what).await
    }

    /// POSTs `body` to the collection at `path`: the object as created.
    pub async fn create(&self, path: &str, body: &Value, what: &str) -> Result<Value, ApiError> {
        self.call(reqwest::Method::POST, path, Some(body), what).await
    }

    /// PUTs `body` to `path`: with `metadata.resourceVersion` set, the server refuses it (409)
    /// when the object changed since that version. The object as written.
    pub async fn replace(&self, path: &str, body: &Value, what: &str) -> Result<Value, ApiError> {
        self.call(reqwest::Method::PUT, path, Some(body), what).await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Value, ApiError> {
        let token = read(&self.env.sa_dir.join("token"))?;
        let mut request = (self.http)
            .request(method, format!("{}{path}", self.env.api))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| ApiError::Transport {
            what: what.to_string(),
            detail: e.to_string(),
        })?;
        let status = response.status().as_u16();
        match status {
            200..=299 => {
                let bytes = read_capped(response, MAX_OBJECT).await.map_err(|e| ApiError::Decode {
                    what: what.to_string(),
                    detail: e.to_string(),
                })?;
                serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode {
                    what: what.to_string(),
                    detail: e.to_string(),
                })
            }
            404 => Err(ApiError::NotFound {
                what: what.to_string(),
                hint: (self.hints)(404),
            }),
            409 => Err(ApiError::Conflict { what: what.to_string() }),
            _ => {
                // The API's Status object says why (a field, a quota); never a credential.
                let text = read_capped(response, MAX_STATUS).await.unwrap_or_default();
                let message = serde_json::from_slice::<Value>(&text)
                    .ok()
                    .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                    .map(|m| format!(" ({})", m.chars().take(300).collect::<String>()))
                    .unwrap_or_default();
                Err(ApiError::Refused {
                    what: what.to_string(),
                    status,
                    detail: message,
                    hint: (self.hints)(status),
                })
            }
        }
    }
}

/// The object's `metadata.resourceVersion`, if any.
pub fn resource_version(object: &Value) -> Option<&str> {
    object.pointer("/metadata/resourceVersion").and_then(Value::as_str)
}

/// A JSON object's fields.
pub type Object = serde_json::Map<String, Value>;

/// The JSON object under `key` in `map`, made (empty) when it is missing or null; `None` when
/// it is something else.
pub fn child<'a>(map: &'a mut Object, key: &str) -> Option<&'a mut Object> {
    let slot = map
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Object::new()));
    if slot.is_null() {
        *slot = Value::Object(Object::new());
    }
    slot.as_object_mut()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn child_objects_are_made_but_never_forced() {
        let mut v = json!({"data": null, "metadata": {"name": "x"}, "spec": "text"});
        let map = v.as_object_mut().unwrap();
        child(map, "data").unwrap().insert("k".into(), json!("v"));
        assert!(child(map, "spec").is_none(), "a string is not replaced");
        child(map, "metadata").unwrap().insert("labels".into(), json!({}));
        child(map, "new").unwrap();
        assert_eq!(
            v,
            json!({"data": {"k": "v"}, "metadata": {"name": "x", "labels": {}}, "spec": "text", "new": {}})
        );
        assert_eq!(
            resource_version(&json!({"metadata": {"resourceVersion": "7"}})),
            Some("7")
        );
        assert_eq!(resource_version(&json!({"metadata": []})), None);
    }
}
