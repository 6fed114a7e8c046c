//! Per-vCenter checkpoints in VEBA's JSON shape, kept where a [`CheckpointStore`] keeps them:
//! the file store ([`Store`], `cp-<host>.json` in `checkpointDir`, written atomically: temporary
//! file, fsync, rename, fsync of the folder, so a crash leaves the old or the new checkpoint,
//! never a torn one) or a ConfigMap (`crate::kube::checkpoints`). The [`Committer`] advances the
//! checkpoint only past events every matching processor has finished with, in key order.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::metrics::stats::{CheckpointMark, Health};
use crate::pipeline::{Delivery, Settled};

/// One vCenter's position, as VEBA writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    #[serde(rename = "vCenter")]
    pub vcenter: String,
    #[serde(rename = "lastEventUUID", default)]
    pub last_event_uuid: String,
    pub last_event_key: i64,
    #[serde(default)]
    pub last_event_type: String,
    /// The event's `createdTime` (RFC 3339).
    pub last_event_key_timestamp: String,
    /// When this checkpoint was written (RFC 3339).
    #[serde(default)]
    pub created_timestamp: String,
}

impl Checkpoint {
    /// The position a stream starts from before any event is delivered (written at start, so a
    /// crash before the first event resumes from there): vCenter's time, no event key.
    pub fn start(vcenter: &str, time: &str) -> Checkpoint {
        Checkpoint {
            vcenter: vcenter.to_string(),
            last_event_uuid: String::new(),
            last_event_key: 0,
            last_event_type: String::new(),
            last_event_key_timestamp: time.to_string(),
            created_timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }
    }

    /// The last delivered event's key; `None` for a start position (resume by time alone).
    pub fn key(&self) -> Option<i64> {
        let start = self.last_event_uuid.is_empty() && self.last_event_type.is_empty() && self.last_event_key == 0;
        (!start).then_some(self.last_event_key)
    }
}

/// Why a checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read checkpoint {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("checkpoint {path} is not a valid checkpoint ({detail}): move it away to start from vCenter's current time, or repair it")]
    Corrupt { path: String, detail: String },
    #[error("cannot write checkpoint {path}: {source}; check that checkpointDir is writable")]
    Write { path: String, source: std::io::Error },
    #[error("checkpoint {location}: {detail}")]
    Api { location: String, detail: String },
    #[error("checkpoint {location} is written by {writer} now: this replica no longer leads this vCenter and stops writing it (fencing)")]
    Fenced { location: String, writer: String },
}

/// What a [`CheckpointStore`] call returns (boxed: the trait is used as `dyn`).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, CheckpointError>> + Send + 'a>>;

/// Where a stream's position is kept: a file ([`Store`]) or a ConfigMap
/// (`crate::kube::checkpoints::ConfigMapStore`); the vCenter source uses either through this.
pub trait CheckpointStore: Send + Sync + std::fmt::Debug {
    /// Where, for messages: the file's path, or the ConfigMap and its key.
    fn location(&self) -> String;
    /// The vCenter host the checkpoint names.
    fn vcenter(&self) -> &str;
    /// The stored checkpoint; `None` when there is none yet.
    fn load(&self) -> StoreFuture<'_, Option<Checkpoint>>;
    /// Stores `cp`; [`CheckpointError::Fenced`] when another replica writes it now.
    fn save<'a>(&'a self, cp: &'a Checkpoint) -> StoreFuture<'a, ()>;
}

/// A checkpoint's text read from `location` (`None` for an empty one, as VEBA leaves at first
/// start); a text that is not a checkpoint is named with the fix.
pub fn parse(text: &str, location: &str) -> Result<Option<Checkpoint>, CheckpointError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let cp: Checkpoint = serde_json::from_str(text).map_err(|e| CheckpointError::Corrupt {
        path: location.to_string(),
        detail: e.to_string(),
    })?;
    if chrono::DateTime::parse_from_rfc3339(&cp.last_event_key_timestamp).is_err() {
        return Err(CheckpointError::Corrupt {
            path: location.to_string(),
            detail: format!("lastEventKeyTimestamp {:?} is not a time", cp.last_event_key_timestamp),
        });
    }
    Ok(Some(cp))
}

/// Where one vCenter's checkpoint lives.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
    vcenter: String,
}

impl Store {
    /// `cp-<host>.json` (`cp-<host>_<port>.json` for a non-default port) in `dir`.
    pub fn new(dir: &Path, url: &url::Url) -> Store {
        Store {
            path: dir.join(crate::config::checkpoint_file_name(url)),
            vcenter: url.host_str().unwrap_or_default().to_string(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The vCenter host the checkpoint names.
    pub fn vcenter(&self) -> &str {
        &self.vcenter
    }

    /// The stored checkpoint; `None` when there is none yet (or an empty file).
    pub fn read(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        let p = self.path.display().to_string();
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CheckpointError::Read { path: p, source }),
        };
        parse(&text, &p)
    }

    /// Writes atomically and durably (`durable`: a temporary file created 0600 without following
    /// symlinks, fsync, rename, fsync of the folder).
    pub fn write(&self, cp: &Checkpoint) -> Result<(), CheckpointError> {
        let err = |source| CheckpointError::Write {
            path: self.path.display().to_string(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(err)?;
        let body = serde_json::to_vec_pretty(cp).map_err(|e| err(std::io::Error::other(e)))?;
        durable::write(&self.path, &body, 0o600, durable::Durability::Full).map_err(err)
    }
}

/// The file store, as the appliance and systemd keep it; its calls are quick local writes,
/// made on the task that asks (as before there were other stores).
impl CheckpointStore for Store {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn vcenter(&self) -> &str {
        &self.vcenter
    }

    fn load(&self) -> StoreFuture<'_, Option<Checkpoint>> {
        Box::pin(async move { self.read() })
    }

    fn save<'a>(&'a self, cp: &'a Checkpoint) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.write(cp) })
    }
}

/// An event handed to the processors, waiting to be acknowledged.
pub struct Pending {
    /// The event key; also its CloudEvent id (`lastEventUUID`).
    pub key: i64,
    pub event_type: String,
    pub created_time: String,
    pub delivery: Delivery,
}

/// Takes pending events in key order and writes the checkpoint past those finished.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Pending>,
}

impl Committer {
    /// Starts the commit task; it writes at most every `period` and once more when every
    /// sender is gone (shutdown). It ends early, writing nothing more, when the store says
    /// another replica writes the checkpoint now ([`CheckpointError::Fenced`]).
    /// Each checkpoint written is also reported to `health` (the console shows it).
    pub fn start(
        store: Arc<dyn CheckpointStore>,
        period: Duration,
        health: Arc<Health>,
    ) -> (Committer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(crate::pipeline::fanout::QUEUE_CAPACITY);
        (Committer { tx }, tokio::spawn(commit(store, rx, period, health)))
    }

    /// Waits while too many events are unacknowledged (backpressure).
    pub async fn track(&self, p: Pending) {
        if self.tx.send(p).await.is_err() {
            warn!("checkpoint task has stopped; the checkpoint no longer advances");
        }
    }
}

/// The newest finished event: what the checkpoint will say.
struct Finished {
    key: i64,
    event_type: String,
    created_time: String,
}

/// The store said another replica writes the checkpoint now: nothing more is written.
struct Deposed;

async fn write(
    store: &dyn CheckpointStore,
    latest: &Option<Finished>,
    written: &mut Option<i64>,
    health: &Health,
) -> Result<(), Deposed> {
    let Some(f) = latest else { return Ok(()) };
    if *written == Some(f.key) {
        return Ok(());
    }
    let cp = Checkpoint {
        vcenter: store.vcenter().to_string(),
        last_event_uuid: f.key.to_string(),
        last_event_key: f.key,
        last_event_type: f.event_type.clone(),
        last_event_key_timestamp: f.created_time.clone(),
        created_timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    };
    match store.save(&cp).await {
        Ok(()) => {
            *written = Some(cp.last_event_key);
            health.set_checkpoint(CheckpointMark {
                key: cp.last_event_key,
                event_time: cp.last_event_key_timestamp,
                written: cp.created_timestamp,
            });
            debug!(location = %store.location(), key = cp.last_event_key, "checkpoint written");
            Ok(())
        }
        Err(e @ CheckpointError::Fenced { .. }) => {
            error!("{e}");
            Err(Deposed)
        }
        Err(e) => {
            error!("{e}");
            Ok(())
        }
    }
}

async fn commit(
    store: Arc<dyn CheckpointStore>,
    mut rx: mpsc::Receiver<Pending>,
    period: Duration,
    health: Arc<Health>,
) {
    let store = store.as_ref();
    let mut latest: Option<Finished> = None;
    let mut written: Option<i64> = None;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let p = tokio::select! {
            p = rx.recv() => match p {
                Some(p) => p,
                None => break,
            },
            _ = tick.tick() => {
                if write(store, &latest, &mut written, &health).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let outcome = p.delivery.settle();
        tokio::pin!(outcome);
        let result = loop {
            tokio::select! {
                r = &mut outcome => break r,
                _ = tick.tick() => {
                    if write(store, &latest, &mut written, &health).await.is_err() {
                        return;
                    }
                }
            }
        };
        match result {
            Settled::Done => {}
            // The fan-out already logged it (and dead-lettered it when a file is set).
            Settled::Failed(problems) => debug!(key = p.key, "event finished with failures: {}", problems.join("; ")),
            Settled::Abandoned => {
                warn!(key = p.key, "delivery abandoned at shutdown: the checkpoint stays before this event, which is read again at the next start");
                break;
            }
        }
        latest = Some(Finished {
            key: p.key,
            event_type: p.event_type,
            created_time: p.created_time,
        });
    }
    if write(store, &latest, &mut written, &health).await.is_ok() {
        if let Some(f) = &latest {
            info!(location = %store.location(), key = f.key, "checkpoint written at shutdown");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cp-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn round_trip_in_vebas_shape_with_private_mode() {
        let dir = temp("rt");
        let store = Store::new(&dir, &url::Url::parse("https://vc01.corp.local/sdk").unwrap());
        assert!(store.path().ends_with("cp-vc01.corp.local.json"));
        assert_eq!(store.read().unwrap(), None);
        let cp = Checkpoint {
            vcenter: "vc01.corp.local".into(),
            last_event_uuid: "42".into(),
            last_event_key: 42,
            last_event_type: "VmPoweredOffEvent".into(),
            last_event_key_timestamp: "2026-11-30T10:00:00.123Z".into(),
            created_timestamp: "2026-11-30T10:00:05Z".into(),
        };
        store.write(&cp).unwrap();
        assert_eq!(store.read().unwrap(), Some(cp));
        let text = std::fs::read_to_string(store.path()).unwrap();
        for key in [
            "vCenter",
            "lastEventUUID",
            "lastEventKey",
            "lastEventType",
            "lastEventKeyTimestamp",
            "createdTimestamp",
        ] {
            assert!(text.contains(&format!("\"{key}\"")), "{key} in {text}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!durable::temporary(store.path()).exists(), "no temporary file left");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupt_checkpoint_is_named_with_the_fix() {
        let dir = temp("bad");
        let store = Store::new(&dir, &url::Url::parse("https://127.0.0.1:8989/sdk").unwrap());
        assert!(store.path().ends_with("cp-127.0.0.1_8989.json"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(store.path(), "{\"vCenter\": \"x\", \"lastEventKey\": ").unwrap();
        let e = store.read().unwrap_err().to_string();
        assert!(
            e.contains("is not a valid checkpoint") && e.contains("move it away"),
            "{e}"
        );
        std::fs::write(store.path(), "").unwrap();
        assert_eq!(store.read().unwrap(), None, "VEBA leaves an empty file at first start");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
