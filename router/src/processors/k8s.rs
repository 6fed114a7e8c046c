//! Resolving a Knative destination `ref` to a URL through the Kubernetes API, with the pod's
//! service account (in-cluster only), as Knative's addressable resolver does; the calls go
//! through the router's one API client ([`crate::apiserver`]).

use crate::apiserver::{ApiClient, ApiError, KubeEnv};
use crate::config::KReference;

/// Why a ref could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("destination.ref needs the Kubernetes API, but the router is not running in a cluster (KUBERNETES_SERVICE_HOST is unset): use destination.uri outside a cluster")]
    NotInCluster,
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("{what} has no status.address.url yet: is it Ready? (kubectl get {plural} -n {namespace})")]
    NotAddressable {
        what: String,
        plural: String,
        namespace: String,
    },
}

impl ResolveError {
    /// Whether a lookup may succeed later (the object, its status or its RBAC may still come),
    /// unlike a router set up wrong.
    pub fn may_pass(&self) -> bool {
        match self {
            ResolveError::NotInCluster => false,
            ResolveError::Api(e) => !e.is_setup(),
            ResolveError::NotAddressable { .. } => true,
        }
    }
}

/// The in-cluster API server, or why there is none.
pub fn kube_env() -> Result<KubeEnv, ResolveError> {
    KubeEnv::from_env().ok_or(ResolveError::NotInCluster)
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

/// What to check when the API refuses a ref: manifests/base/rbac.yaml grants `get` through a Role
/// in the namespace the refs live in (vmware-functions), to be copied to any other one a ref names.
const REFUSED_HINT: &str = "; the router's service account needs get on this resource in its namespace: the Role and RoleBinding event-router-addressable-resolver (manifests/base/rbac.yaml) in that namespace";

fn hints(status: u16) -> &'static str {
    match status {
        401 | 403 => REFUSED_HINT,
        404 => "; check the ref's apiVersion, kind, name and namespace",
        _ => "",
    }
}

/// Resolves `r` to its address URL.
pub async fn resolve(r: &KReference, env: &KubeEnv) -> Result<String, ResolveError> {
    let client = ApiClient::new(env.clone())?.with_hints(hints);
    let namespace = if r.namespace.is_empty() {
        client.namespace().unwrap_or_else(|_| "default".into())
    } else {
        r.namespace.clone()
    };
    let what = format!("{} {}/{}", r.kind, namespace, r.name);
    if r.api_version == "v1" && r.kind == "Service" {
        return Ok(format!("http://{}.{}.svc.cluster.local", r.name, namespace));
    }
    let plural = plural(&r.kind);
    let path = format!("/apis/{}/namespaces/{}/{}/{}", r.api_version, namespace, plural, r.name);
    let body = client.get(&path, &what).await?;
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
