//! Checkpoints in a ConfigMap, as Tanzu Sources keep theirs (vmware-tanzu/sources-for-knative,
//! pkg/vsphere/adapter.go: a knative.dev/pkg kvstore ConfigMap, `VSPHERE_KVSTORE_CONFIGMAP`,
//! key `checkpoint`), so a replica on another node resumes where the leader stopped. One data
//! key per vCenter, named and shaped as the file store's (`cp-<host>.json`, VEBA's JSON).
//!
//! Fencing: every write carries the resourceVersion read, so a write based on an old read fails
//! with 409; the writer then reads again, and when the annotation
//! `event-router.vmware.com/checkpoint-writers` names another replica for its key, it stops
//! ([`CheckpointError::Fenced`]) instead of overwriting the new leader's position. A write that
//! conflicted only with another key's writer is made again on the fresh copy. [`ConfigMapStore`]'s
//! `load` claims the key for this replica (a write naming it), so from then on a deposed leader's
//! writes fail. With no entry yet and a checkpoint file in `checkpointDir`, `load` starts from
//! the file's position (moving from the file store keeps the position).

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{json, Value};
use tracing::info;

use crate::apiserver::{child, ApiClient, ApiError};
use crate::sources::checkpoint::{self, Checkpoint, CheckpointError, CheckpointStore, Store, StoreFuture};

/// The annotation naming, per data key, the replica that last wrote it (a JSON object).
pub const WRITERS_ANNOTATION: &str = "event-router.vmware.com/checkpoint-writers";

/// Tries of one read-modify-write when others keep changing the ConfigMap.
const ATTEMPTS: usize = 5;

/// One vCenter's checkpoint in a ConfigMap.
#[derive(Debug)]
pub struct ConfigMapStore {
    api: ApiClient,
    namespace: String,
    name: String,
    /// The data key: the file store's name (`cp-<host>.json`).
    key: String,
    vcenter: String,
    /// This replica's identity, written as the key's writer.
    writer: String,
    /// The file to start from when the ConfigMap has no entry yet.
    file: Option<Store>,
    /// The ConfigMap as last read or written: its resourceVersion fences the next write.
    last: Mutex<Option<Value>>,
}

impl ConfigMapStore {
    /// The entry `file.path()`'s name in ConfigMap `namespace/name`, written as `writer`; the
    /// file is where a first start takes its position from.
    pub fn new(api: ApiClient, namespace: &str, name: &str, writer: &str, file: Store) -> ConfigMapStore {
        let key = (file.path().file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "checkpoint".to_string());
        ConfigMapStore {
            api,
            namespace: namespace.to_string(),
            name: name.to_string(),
            key,
            vcenter: file.vcenter().to_string(),
            writer: writer.to_string(),
            file: Some(file),
            last: Mutex::new(None),
        }
    }

    fn collection(&self) -> String {
        format!("/api/v1/namespaces/{}/configmaps", self.namespace)
    }

    fn path(&self) -> String {
        format!("{}/{}", self.collection(), self.name)
    }

    fn what(&self) -> String {
        format!("ConfigMap {}/{}", self.namespace, self.name)
    }

    fn api_error(&self, e: ApiError) -> CheckpointError {
        CheckpointError::Api {
            location: self.location(),
            detail: e.to_string(),
        }
    }

    fn remember(&self, written: Value) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(written);
    }

    /// The ConfigMap now (`None`: there is none).
    async fn read(&self) -> Result<Option<Value>, CheckpointError> {
        match self.api.get(&self.path(), &self.what()).await {
            Ok(map) => Ok(Some(map)),
            Err(ApiError::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.api_error(e)),
        }
    }

    /// This key's checkpoint in `map` (`None`: no entry, or an empty one).
    fn entry(&self, map: &Value) -> Result<Option<Checkpoint>, CheckpointError> {
        match map.get("data").and_then(|d| d.get(&self.key)) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => checkpoint::parse(text, &self.location()),
            Some(_) => Err(CheckpointError::Corrupt {
                path: self.location(),
                detail: "the entry is not text".to_string(),
            }),
        }
    }

    /// Who last wrote this key, by the annotation (`None`: nobody named).
    fn writer_of(&self, map: &Value) -> Option<String> {
        let text = map
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(WRITERS_ANNOTATION))
            .and_then(Value::as_str)?;
        let writers: BTreeMap<String, String> = serde_json::from_str(text).ok()?;
        writers.get(&self.key).cloned()
    }

    /// Fails with [`CheckpointError::Fenced`] when `map` names another writer for this key.
    fn still_mine(&self, map: &Value) -> Result<(), CheckpointError> {
        match self.writer_of(map) {
            Some(writer) if writer != self.writer => Err(CheckpointError::Fenced {
                location: self.location(),
                writer,
            }),
            _ => Ok(()),
        }
    }

    /// `map` (as read: its resourceVersion fences the write) with this key set to `cp` (kept
    /// as it is when `None`) and this replica as its writer.
    fn with_entry(&self, map: &Value, cp: Option<&Checkpoint>) -> Result<Value, CheckpointError> {
        let corrupt = |detail: &str| CheckpointError::Corrupt {
            path: self.location(),
            detail: detail.to_string(),
        };
        let mut map = map.clone();
        let mut writers: BTreeMap<String, String> = map
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(WRITERS_ANNOTATION))
            .and_then(Value::as_str)
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        writers.insert(self.key.clone(), self.writer.clone());
        let writers = serde_json::to_string(&writers).map_err(|e| corrupt(&e.to_string()))?;
        let object = map
            .as_object_mut()
            .ok_or_else(|| corrupt("the ConfigMap is not a JSON object"))?;
        if let Some(cp) = cp {
            let text = serde_json::to_string_pretty(cp).map_err(|e| corrupt(&e.to_string()))?;
            child(object, "data")
                .ok_or_else(|| corrupt("its data is not an object"))?
                .insert(self.key.clone(), Value::String(text));
        }
        child(object, "metadata")
            .and_then(|m| child(m, "annotations"))
            .ok_or_else(|| corrupt("its metadata is not an object"))?
            .insert(WRITERS_ANNOTATION.to_string(), Value::String(writers));
        Ok(map)
    }

    /// A new ConfigMap holding this key.
    fn new_map(&self) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/name": "event-router"},
            },
            "data": {},
        })
    }

    /// The file's checkpoint, when the ConfigMap has none yet.
    fn file_checkpoint(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        match &self.file {
            Some(f) => f.read(),
            None => Ok(None),
        }
    }

    /// Writes `body` (a replace of `current`, or a create when `None`): `Ok(false)` on 409, and
    /// on 404 for a replace (the ConfigMap was deleted: the caller reads again and creates it).
    async fn put(&self, current: Option<&Value>, body: &Value) -> Result<bool, CheckpointError> {
        let written = match current {
            Some(_) => self.api.replace(&self.path(), body, &self.what()).await,
            None => self.api.create(&self.collection(), body, &self.what()).await,
        };
        match written {
            Ok(w) => {
                self.remember(w);
                Ok(true)
            }
            Err(ApiError::Conflict { .. }) => Ok(false),
            Err(ApiError::NotFound { .. }) if current.is_some() => Ok(false),
            Err(e) => Err(self.api_error(e)),
        }
    }

    /// Reads the position and claims the key for this replica (see the module documentation).
    async fn claim(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        for _ in 0..ATTEMPTS {
            let current = self.read().await?;
            let in_map = match &current {
                Some(map) => self.entry(map)?,
                None => None,
            };
            let (cp, moved) = match in_map {
                Some(cp) => (Some(cp), false),
                None => {
                    let cp = self.file_checkpoint()?;
                    let moved = cp.is_some();
                    (cp, moved)
                }
            };
            let base = current.clone().unwrap_or_else(|| self.new_map());
            let body = self.with_entry(&base, cp.as_ref())?;
            if self.put(current.as_ref(), &body).await? {
                if moved {
                    let file = self.file.as_ref().map(|f| f.path().display().to_string());
                    info!(from = %file.unwrap_or_default(), to = %self.location(), "the checkpoint file's position moved into the ConfigMap");
                }
                return Ok(cp);
            }
        }
        Err(self.api_error(ApiError::Conflict { what: self.what() }))
    }

    /// Writes `cp` fenced by the version last read or written (see the module documentation).
    async fn write(&self, cp: &Checkpoint) -> Result<(), CheckpointError> {
        let mut current = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for _ in 0..ATTEMPTS {
            let base = match current.take() {
                Some(map) => Some(map),
                None => {
                    let map = self.read().await?;
                    if let Some(m) = &map {
                        self.still_mine(m)?;
                    }
                    map
                }
            };
            let body = self.with_entry(base.as_ref().unwrap_or(&self.new_map()), Some(cp))?;
            if self.put(base.as_ref(), &body).await? {
                return Ok(());
            }
            // 409: someone wrote since. Another writer of this key means this replica was
            // deposed; another key's writer only means the write is made again. 404: the
            // ConfigMap is gone; the next try creates it.
            if let Some(fresh) = self.read().await? {
                self.still_mine(&fresh)?;
                current = Some(fresh);
            }
        }
        Err(self.api_error(ApiError::Conflict { what: self.what() }))
    }
}

impl CheckpointStore for ConfigMapStore {
    fn location(&self) -> String {
        format!("ConfigMap {}/{} key {}", self.namespace, self.name, self.key)
    }

    fn vcenter(&self) -> &str {
        &self.vcenter
    }

    fn load(&self) -> StoreFuture<'_, Option<Checkpoint>> {
        Box::pin(self.claim())
    }

    fn save<'a>(&'a self, cp: &'a Checkpoint) -> StoreFuture<'a, ()> {
        Box::pin(self.write(cp))
    }
}

#[cfg(test)]
#[path = "checkpoints_tests.rs"]
mod tests;
