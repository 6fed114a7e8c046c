//! A fake Kubernetes API server for the unit tests of this module: objects kept by path, GET,
//! POST to a collection (409 when the name exists), PUT refused with 409 when its
//! resourceVersion is not the stored one, as kube-apiserver answers. The end-to-end tests use a
//! real kube-apiserver (tests/e2e/failover.rs).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use serde_json::{json, Value};

use crate::apiserver::{ApiClient, KubeEnv};

#[derive(Default)]
pub struct Objects {
    by_path: BTreeMap<String, Value>,
    version: u64,
    /// Every request is answered with this status while it is set.
    fail_with: Option<u16>,
    /// PUTs refused for a stale resourceVersion.
    pub conflicts: usize,
}

pub struct FakeApi {
    objects: Arc<Mutex<Objects>>,
    pub client: ApiClient,
    dir: PathBuf,
    server: tokio::task::JoinHandle<()>,
}

fn status(code: u16, reason: &str) -> (StatusCode, String) {
    let body = json!({"kind": "Status", "status": "Failure", "reason": reason, "code": code});
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body.to_string(),
    )
}

async fn handle(
    State(objects): State<Arc<Mutex<Objects>>>,
    method: Method,
    uri: Uri,
    body: String,
) -> (StatusCode, String) {
    let path = uri.path().to_string();
    let mut o = objects.lock().unwrap();
    if let Some(code) = o.fail_with {
        return status(code, "InternalError");
    }
    let sent: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if method == Method::GET {
        return match o.by_path.get(&path) {
            Some(v) => (StatusCode::OK, v.to_string()),
            None => status(404, "NotFound"),
        };
    }
    let (full, exists) = if method == Method::POST {
        let name = sent["metadata"]["name"].as_str().unwrap_or_default();
        let full = format!("{path}/{name}");
        let exists = o.by_path.contains_key(&full);
        if exists {
            return status(409, "AlreadyExists");
        }
        (full, false)
    } else if method == Method::PUT {
        let Some(stored) = o.by_path.get(&path) else {
            return status(404, "NotFound");
        };
        if sent["metadata"]["resourceVersion"] != stored["metadata"]["resourceVersion"] {
            o.conflicts += 1;
            return status(409, "Conflict");
        }
        (path, true)
    } else {
        return status(405, "MethodNotAllowed");
    };
    o.version += 1;
    let mut object = sent;
    object["metadata"]["resourceVersion"] = Value::String(o.version.to_string());
    o.by_path.insert(full, object.clone());
    let code = if exists { StatusCode::OK } else { StatusCode::CREATED };
    (code, object.to_string())
}

impl FakeApi {
    pub async fn start(tag: &str) -> FakeApi {
        let objects = Arc::new(Mutex::new(Objects::default()));
        let app = axum::Router::new().fallback(handle).with_state(objects.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("er-kube-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("token"), "test-token\n").unwrap();
        std::fs::write(dir.join("namespace"), "ns\n").unwrap();
        let client = ApiClient::new(KubeEnv {
            api: format!("http://{addr}"),
            sa_dir: dir.clone(),
        })
        .unwrap();
        FakeApi {
            objects,
            client,
            dir,
            server,
        }
    }

    /// The folder the test may put files in (removed on drop).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    pub fn get(&self, path: &str) -> Option<Value> {
        self.objects.lock().unwrap().by_path.get(path).cloned()
    }

    /// Stores `object` at `path` as another client would (a new resourceVersion).
    pub fn put(&self, path: &str, mut object: Value) {
        let mut o = self.objects.lock().unwrap();
        o.version += 1;
        object["metadata"]["resourceVersion"] = Value::String(o.version.to_string());
        o.by_path.insert(path.to_string(), object);
    }

    /// Changes the object at `path` behind the router's back (a new resourceVersion).
    pub fn edit(&self, path: &str, change: impl FnOnce(&mut Value)) {
        let mut object = self.get(path).expect("the object exists");
        change(&mut object);
        self.put(path, object);
    }

    /// Deletes the object at `path`, as `kubectl delete` would.
    pub fn delete(&self, path: &str) {
        self.objects.lock().unwrap().by_path.remove(path);
    }

    /// Answers every request with `code` (`None`: serve again).
    pub fn fail_with(&self, code: Option<u16>) {
        self.objects.lock().unwrap().fail_with = code;
    }

    pub fn conflicts(&self) -> usize {
        self.objects.lock().unwrap().conflicts
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.server.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
