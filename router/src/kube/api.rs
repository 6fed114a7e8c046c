//! The router's own reads and writes of Kubernetes objects (its Leases and its checkpoint
//! ConfigMap): GET, POST and PUT of JSON with the pod's service-account token, read again for
//! each call (the kubelet rotates it), as `processors::k8s` does for its GETs. The answers a
//! caller branches on (404, 409) are errors of their own.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::processors::k8s::KubeEnv;
use crate::tls::{self, TlsOptions};

/// How long one API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What to check when the API refuses the router's Lease or checkpoint calls.
const REFUSED_HINT: &str = "; the router's service account needs get, create and update on leases and configmaps in this namespace: the Role and RoleBinding event-router-leader-election (manifests/base/leader-election.yaml)";

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
    #[error("{what} does not exist (HTTP 404)")]
    NotFound { what: String },
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

/// A client of the API server the pod runs under.
#[derive(Debug, Clone)]
pub struct ApiClient {
    env: KubeEnv,
    http: reqwest::Client,
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
        Ok(ApiClient { env, http })
    }

    /// The in-cluster client (see [`KubeEnv::from_env`]); `what` names the feature that needs it.
    pub fn in_cluster(what: &str) -> Result<ApiClient, ApiError> {
        let env = KubeEnv::from_env().map_err(|_| ApiError::NotInCluster { what: what.to_string() })?;
        ApiClient::new(env)
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
            200..=299 => response.json::<Value>().await.map_err(|e| ApiError::Decode {
                what: what.to_string(),
                detail: e.to_string(),
            }),
            404 => Err(ApiError::NotFound { what: what.to_string() }),
            409 => Err(ApiError::Conflict { what: what.to_string() }),
            _ => {
                // The API's Status object says why (a field, a quota); never a credential.
                let text = response.text().await.unwrap_or_default();
                let message = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                    .map(|m| format!(" ({})", m.chars().take(300).collect::<String>()))
                    .unwrap_or_default();
                Err(ApiError::Refused {
                    what: what.to_string(),
                    status,
                    detail: message,
                    hint: if matches!(status, 401 | 403) { REFUSED_HINT } else { "" },
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
