//! Writing a rendered tree under a root folder: only files whose content or mode differ are
//! written (with the project's one atomic, durable writer, `durable`); files an earlier run wrote that the new
//! tree no longer has are removed. The list of files firstboot owns is kept in
//! `/var/lib/firstboot/files.json`.

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::render::Tree;

/// The files firstboot wrote last time, so that files it no longer renders are removed.
pub const OWNED: &str = "/var/lib/firstboot/files.json";

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct WriteError {
    pub path: String,
    pub source: std::io::Error,
}

/// What a write changed, by path as in the tree.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    pub written: Vec<String>,
    pub removed: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.written.is_empty() && self.removed.is_empty()
    }

    /// Every changed path.
    pub fn paths(&self) -> impl Iterator<Item = &String> {
        self.written.iter().chain(&self.removed)
    }
}

fn write_file(dest: &Path, mode: u32, content: &[u8]) -> Result<bool, WriteError> {
    let err = |source| WriteError {
        path: dest.display().to_string(),
        source,
    };
    let same_content = std::fs::read(dest).map(|c| c == content).unwrap_or(false);
    let same_mode = std::fs::metadata(dest)
        .map(|m| m.permissions().mode() & 0o7777 == mode)
        .unwrap_or(false);
    if same_content && same_mode {
        return Ok(false);
    }
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    durable::write(dest, content, mode, durable::Durability::Full).map_err(err)?;
    Ok(true)
}

/// Writes a file created with `mode`, atomically and durably.
pub fn file(path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
    durable::write(path, content, mode, durable::Durability::Full)
}

fn owned(root: &Path) -> Result<Vec<String>, WriteError> {
    let path = root.join(OWNED.trim_start_matches('/'));
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| WriteError {
            path: path.display().to_string(),
            source: std::io::Error::new(ErrorKind::InvalidData, e),
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(WriteError {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Writes `tree` under `root`, removes files from the last run that `tree` no longer has.
pub fn write_tree(tree: &Tree, root: &Path) -> Result<Changes, WriteError> {
    let previous = owned(root)?;
    let mut changes = Changes::default();
    for (path, file) in tree {
        if write_file(
            &root.join(path.trim_start_matches('/')),
            file.mode,
            file.content.as_bytes(),
        )? {
            changes.written.push(path.clone());
        }
    }
    for path in previous.iter().filter(|p| !tree.contains_key(*p)) {
        let dest = root.join(path.trim_start_matches('/'));
        match std::fs::remove_file(&dest) {
            Ok(()) => changes.removed.push(path.clone()),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(source) => {
                return Err(WriteError {
                    path: dest.display().to_string(),
                    source,
                })
            }
        }
    }
    let list: Vec<&String> = tree.keys().collect();
    let json = serde_json::to_vec_pretty(&list).unwrap_or_default();
    write_file(&root.join(OWNED.trim_start_matches('/')), 0o644, &json)?;
    Ok(changes)
}
