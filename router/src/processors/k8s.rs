//! Resolving a Knative destination `ref` to a URL through the Kubernetes API, with the pod's
//! service account (in-cluster only), as Knative's addressable resolver does; [`get_json`] is
//! the one authenticated GET (the console lists the functions with it too).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::KReference;
use crate::tls::{self, TlsOptions};

/// The service account folder Kubernetes mounts into every pod.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Why a ref could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("destination.ref needs the Kubernetes API, but the router is not running in a cluster (KUBERNETES_SERVICE_HOST is unset): use destination.uri outside a cluster")]
    NotInCluster,
    #[error("cannot read the service account {path}: {detail}")]
    ServiceAccount { path: String, detail: String },
    #[error("Kubernetes API request for {what} failed: {detail}")]
    Api { what: String, detail: String },
    #[error("{what} has no status.address.url yet: is it Ready? (kubectl get {plural} -n {namespace})")]
    NotAddressable {
        what: String,
        plural: String,
        namespace: String,
    },
}

/// How to reach the API server.
#[derive(Debug, Clone)]
pub struct KubeEnv {
    pub api: String,
    pub sa_dir: PathBuf,
}

impl KubeEnv {
    /// From the in-cluster environment; `EVENT_ROUTER_SA_DIR` overrides the account folder.
    pub fn from_env() -> Result<KubeEnv, ResolveError> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| ResolveError::NotInCluster)?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
        let scheme = std::env::var("EVENT_ROUTER_KUBE_SCHEME").unwrap_or_else(|_| "https".into());
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        let sa_dir = std::env::var_os("EVENT_ROUTER_SA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| SERVICE_ACCOUNT_DIR.into());
        Ok(KubeEnv {
            api: format!("{scheme}://{host}:{port}"),
            sa_dir,
        })
    }
}

fn read(path: &Path) -> Result<String, ResolveError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| ResolveError::ServiceAccount {
            path: path.display().to_string(),
            detail: e.to_string(),
        })
}

/// The resource's plural as the API names it (Broker -> brokers).
fn plural(kind: &str) -> String {
    let k = kind.to_ascii_lowercase();
    if k.ends_with('s') {
        format!("{k}es")
    } else {
        format!("{k}s")
    }
}

/// GETs `path` from the API server with the service account's token; `what` names the object
/// in errors and `hint(status)` adds what to check for a refused answer.
pub async fn get_json(
    env: &KubeEnv,
    path: &str,
    what: &str,
    hint: impl Fn(u16) -> &'static str,
) -> Result<serde_json::Value, ResolveError> {
    let api_err = |detail: String| ResolveError::Api {
        what: what.to_string(),
        detail,
    };
    let token = read(&env.sa_dir.join("token"))?;
    let ca = env.sa_dir.join("ca.crt");
    let tls = TlsOptions {
        insecure: false,
        root_cas: if ca.exists() { vec![ca] } else { vec![] },
    };
    let client = tls::http_client(&tls, Duration::from_secs(10)).map_err(|e| api_err(e.to_string()))?;
    let resp = (client.get(format!("{}{path}", env.api)).bearer_auth(token).send())
        .await
        .map_err(|e| api_err(e.to_string()))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(api_err(format!("HTTP {status}{}", hint(status.as_u16()))));
    }
    resp.json().await.map_err(|e| api_err(e.to_string()))
}

/// What to check when the API refuses a ref: manifests/base/rbac.yaml grants `get` through a Role
/// in the namespace the refs live in (vmware-functions), to be copied to any other one a ref names.
const REFUSED_HINT: &str = "; the router's service account needs get on this resource in its namespace: the Role and RoleBinding event-router-addressable-resolver (manifests/base/rbac.yaml) in that namespace";

/// Resolves `r` to its address URL.
pub async fn resolve(r: &KReference, env: &KubeEnv) -> Result<String, ResolveError> {
    let namespace = if r.namespace.is_empty() {
        read(&env.sa_dir.join("namespace")).unwrap_or_else(|_| "default".into())
    } else {
        r.namespace.clone()
    };
    let what = format!("{} {}/{}", r.kind, namespace, r.name);
    if r.api_version == "v1" && r.kind == "Service" {
        return Ok(format!("http://{}.{}.svc.cluster.local", r.name, namespace));
    }
    let plural = plural(&r.kind);
    let path = format!("/apis/{}/namespaces/{}/{}/{}", r.api_version, namespace, plural, r.name);
    let hint = |status: u16| match status {
        401 | 403 => REFUSED_HINT,
        404 => "; check the ref's apiVersion, kind, name and namespace",
        _ => "",
    };
    let body = get_json(env, &path, &what, hint).await?;
    body.pointer("/status/address/url")
        .and_then(|u| u.as_str())
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .ok_or(ResolveError::NotAddressable {
            what,
            plural,
            namespace,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals() {
        assert_eq!(plural("Broker"), "brokers");
        assert_eq!(plural("InMemoryChannel"), "inmemorychannels");
        assert_eq!(plural("Service"), "services");
    }

    /// A fake API server following the Kubernetes REST paths (no runnable API server here).
    #[tokio::test]
    async fn resolves_a_broker_through_the_api() {
        use axum::{extract::Path as AxPath, http::HeaderMap, routing::get, Json, Router};
        let app = Router::new().route(
            "/apis/eventing.knative.dev/v1/namespaces/{ns}/brokers/{name}",
            get(
                |AxPath((ns, name)): AxPath<(String, String)>, headers: HeaderMap| async move {
                    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer tok") {
                        return (axum::http::StatusCode::UNAUTHORIZED, Json(serde_json::json!({})));
                    }
                    let url = format!("http://broker-ingress.knative-eventing.svc.cluster.local/{ns}/{name}");
                    (
                        axum::http::StatusCode::OK,
                        Json(serde_json::json!({"status": {"address": {"url": url}}})),
                    )
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let dir = std::env::temp_dir().join(format!("er-sa-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("token"), "tok\n").unwrap();
        let env = KubeEnv {
            api: format!("http://{addr}"),
            sa_dir: dir.clone(),
        };
        let r = KReference {
            api_version: "eventing.knative.dev/v1".into(),
            kind: "Broker".into(),
            name: "default".into(),
            namespace: "vmware-functions".into(),
        };
        let url = resolve(&r, &env).await.unwrap();
        assert_eq!(
            url,
            "http://broker-ingress.knative-eventing.svc.cluster.local/vmware-functions/default"
        );
        std::fs::write(dir.join("token"), "wrong").unwrap();
        let err = resolve(&r, &env).await.unwrap_err().to_string();
        assert!(
            err.contains("401") && err.contains("Role and RoleBinding event-router-addressable-resolver"),
            "{err}"
        );
        let svc = KReference {
            api_version: "v1".into(),
            kind: "Service".into(),
            name: "sink".into(),
            namespace: "ns".into(),
        };
        assert_eq!(resolve(&svc, &env).await.unwrap(), "http://sink.ns.svc.cluster.local");
        server.abort();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
