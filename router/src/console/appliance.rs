//! The console's appliance view (`GET /ui/appliance`): firstboot's last run from its status
//! file, the appliance's version and commit from its release file, and the Knative Services of
//! the functions namespace with their URLs, each read when asked. All three are off unless the
//! router is told where to look ([`ApplianceOptions`]; the appliance's Deployment does), so a
//! router on any other cluster shows no appliance view.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;

use super::ConsoleState;
use crate::apiserver::{ApiClient, ApiError};

/// Where the appliance's facts are (flags, or the environment the Deployment sets).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ApplianceOptions {
    /// firstboot's status file, for the console's Appliance view.
    #[arg(long, global = true, env = "EVENT_ROUTER_FIRSTBOOT_STATUS")]
    pub firstboot_status: Option<PathBuf>,
    /// The appliance's release file (`Version:` and `Commit:` lines), for the Appliance view.
    #[arg(long, global = true, env = "EVENT_ROUTER_RELEASE_FILE")]
    pub release_file: Option<PathBuf>,
    /// The namespace whose Knative Services the Appliance view links to (needs list on
    /// services.serving.knative.dev there).
    #[arg(long, global = true, env = "EVENT_ROUTER_FUNCTIONS_NAMESPACE")]
    pub functions_namespace: Option<String>,
}

impl ApplianceOptions {
    pub fn enabled(&self) -> bool {
        self.firstboot_status.is_some() || self.release_file.is_some() || self.functions_namespace.is_some()
    }
}

/// Larger files are not a status or release file.
const MAX_FILE: u64 = 1 << 20;

#[derive(Serialize, Default)]
struct View {
    enabled: bool,
    release: Option<Release>,
    release_error: Option<String>,
    /// The status file as firstboot wrote it.
    firstboot: Option<Value>,
    firstboot_error: Option<String>,
    functions_namespace: Option<String>,
    functions: Option<Vec<Function>>,
    functions_error: Option<String>,
}

#[derive(Serialize, Debug, PartialEq)]
struct Release {
    product: Option<String>,
    version: Option<String>,
    commit: Option<String>,
}

#[derive(Serialize, Debug, PartialEq)]
struct Function {
    name: String,
    url: Option<String>,
    ready: Option<bool>,
    /// Why it is not ready, from its Ready condition.
    reason: Option<String>,
}

/// Why one part of the view could not be read (the page shows it in that part's place).
#[derive(Debug, thiserror::Error)]
enum PartError {
    #[error("{} does not exist: {missing}", path.display())]
    Missing { path: PathBuf, missing: &'static str },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} is larger than {MAX_FILE} bytes, more than a status or release file can be", path.display())]
    TooLarge { path: PathBuf },
    #[error("{} is not a firstboot status file: {source}", path.display())]
    NotStatus { path: PathBuf, source: serde_json::Error },
    #[error(transparent)]
    Kubernetes(#[from] ApiError),
}

/// The file at `path`, at most [`MAX_FILE`] bytes (read once); `missing` says what its absence
/// means.
fn read_small(path: &Path, missing: &'static str) -> Result<Vec<u8>, PartError> {
    use std::io::Read;
    let read = |source| PartError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => PartError::Missing {
            path: path.to_path_buf(),
            missing,
        },
        _ => read(e),
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1).read_to_end(&mut bytes).map_err(read)?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(PartError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

/// `Key: value` lines.
fn parse_release(text: &str) -> Release {
    let field = |name: &str| {
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    Release {
        product: field("Product"),
        version: field("Version"),
        commit: field("Commit"),
    }
}

fn firstboot(path: &Path) -> Result<Value, PartError> {
    let bytes = read_small(path, "firstboot has not run yet")?;
    serde_json::from_slice(&bytes).map_err(|source| PartError::NotStatus {
        path: path.to_path_buf(),
        source,
    })
}

/// The Knative Services of a KService list, with their URL and Ready condition.
fn functions(list: &Value) -> Vec<Function> {
    let items = list
        .get("items")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut out: Vec<Function> = items
        .iter()
        .map(|item| {
            let text = |p: &str| item.pointer(p).and_then(Value::as_str).map(str::to_string);
            let ready = (item.pointer("/status/conditions").and_then(Value::as_array)).and_then(|cs| {
                cs.iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
            });
            let status = ready.and_then(|c| c.get("status")).and_then(Value::as_str);
            Function {
                name: text("/metadata/name").unwrap_or_default(),
                url: text("/status/url"),
                ready: status.map(|s| s == "True"),
                reason: ready
                    .filter(|_| status != Some("True"))
                    .and_then(|c| c.get("message").or(c.get("reason")))
                    .and_then(Value::as_str)
                    .map(str::to_string),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn function_hints(status: u16) -> &'static str {
    match status {
        401 | 403 => "; the router's service account needs list on services.serving.knative.dev in this namespace (Role event-router-functions)",
        404 => "; is Knative Serving installed?",
        _ => "",
    }
}

async fn list_functions(namespace: &str) -> Result<Vec<Function>, PartError> {
    let client = ApiClient::in_cluster("the console's function list")?.with_hints(function_hints);
    let path = format!("/apis/serving.knative.dev/v1/namespaces/{namespace}/services");
    let what = format!("the Knative Services in {namespace}");
    let list = client.get(&path, &what).await?;
    Ok(functions(&list))
}

pub async fn appliance(State(state): State<Arc<ConsoleState>>) -> Response {
    let o = &state.appliance;
    let mut view = View {
        enabled: o.enabled(),
        functions_namespace: o.functions_namespace.clone(),
        ..View::default()
    };
    if let Some(path) = &o.release_file {
        match read_small(path, "the appliance build writes it") {
            Ok(bytes) => view.release = Some(parse_release(&String::from_utf8_lossy(&bytes))),
            Err(e) => view.release_error = Some(e.to_string()),
        }
    }
    if let Some(path) = &o.firstboot_status {
        match firstboot(path) {
            Ok(v) => view.firstboot = Some(v),
            Err(e) => view.firstboot_error = Some(e.to_string()),
        }
    }
    if let Some(ns) = &o.functions_namespace {
        match list_functions(ns).await {
            Ok(f) => view.functions = Some(f),
            Err(e) => view.functions_error = Some(e.to_string()),
        }
    }
    super::secured(Json(view).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_lines() {
        let r = parse_release("Product: Event Broker Appliance\nVersion: 1.2.3\nCommit: abc123\n");
        assert_eq!(r.version.as_deref(), Some("1.2.3"));
        assert_eq!(r.commit.as_deref(), Some("abc123"));
        assert_eq!(r.product.as_deref(), Some("Event Broker Appliance"));
        let empty = parse_release("garbage\nVersion:\n");
        assert_eq!(empty.version, None);
    }

    #[test]
    fn functions_from_a_kservice_list() {
        let list = serde_json::json!({"items": [
            {"metadata": {"name": "zeta"}, "status": {"url": "https://zeta.vmware-functions.veba.example",
              "conditions": [{"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": "alpha"}, "status": {"conditions": [
              {"type": "ConfigurationsReady", "status": "True"},
              {"type": "Ready", "status": "False", "reason": "RevisionMissing", "message": "image pull failed"}]}},
            {"metadata": {"name": "new"}}
        ]});
        let f = functions(&list);
        assert_eq!(
            f.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["alpha", "new", "zeta"]
        );
        assert_eq!(f[0].ready, Some(false));
        assert_eq!(f[0].reason.as_deref(), Some("image pull failed"));
        assert_eq!(f[1].ready, None);
        assert_eq!(f[2].url.as_deref(), Some("https://zeta.vmware-functions.veba.example"));
        assert_eq!(f[2].reason, None);
        assert!(functions(&serde_json::json!({"kind": "Status"})).is_empty());
    }

    #[test]
    fn a_missing_or_foreign_status_file_is_named() {
        let dir = std::env::temp_dir().join(format!("er-appliance-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = firstboot(&dir.join("status.json")).unwrap_err();
        assert!(matches!(missing, PartError::Missing { .. }));
        let missing = missing.to_string();
        assert!(missing.contains("firstboot has not run yet"), "{missing}");
        std::fs::write(dir.join("status.json"), "not json").unwrap();
        let foreign = firstboot(&dir.join("status.json")).unwrap_err();
        assert!(matches!(foreign, PartError::NotStatus { .. }));
        let foreign = foreign.to_string();
        assert!(foreign.contains("is not a firstboot status file"), "{foreign}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
