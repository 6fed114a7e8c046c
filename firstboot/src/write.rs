//! Writing a rendered tree under a root folder: only files whose content or mode differ are
//! written (with the project's one atomic, durable writer, `durable`); files an earlier run wrote that the new
//! tree no longer has are removed. What firstboot wrote last time is kept in
//! `/var/lib/firstboot/files.json` (root only): each file's path and the SHA-256 of what was
//! written, so a file changed by hand since then is noticed. Such a file is not overwritten
//! silently: the operator's copy is moved aside to `<file>.local-<UTC time>` (same owner and
//! mode) and reported, then the rendered file takes its place (or, for a file no longer
//! rendered, is not recreated). `/etc/shadow` is the exception: it is rendered from its own
//! current content, so changes to other accounts are kept in place. A copy kept in k3s's
//! manifests folder is not applied: k3s applies only `*.yaml`, `*.yml` and `*.json` there
//! (k3s-io/k3s, pkg/deploy/controller.go, shouldSkipFile).

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde::Deserialize;

use crate::render::Tree;

/// The files firstboot wrote last time with their digests, so that files it no longer renders
/// are removed and files changed by hand are noticed.
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
    /// Files changed by hand since firstboot wrote them: (the file, where the operator's copy
    /// now is).
    pub kept: Vec<(String, String)>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.written.is_empty() && self.removed.is_empty() && self.kept.is_empty()
    }

    /// Every changed path.
    pub fn paths(&self) -> impl Iterator<Item = &String> {
        self.written.iter().chain(&self.removed)
    }

    /// The line that reports a kept copy (the console, the log, the status's notes).
    pub fn kept_note(path: &str, copy: &str) -> String {
        format!(
            "{path} was changed by hand since firstboot wrote it: your copy is kept as {copy} and {path} is rendered again from the vApp properties (firstboot renders it at every boot with properties; put router additions in {}, other settings in the vApp options)",
            crate::paths::CONFIG_D
        )
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

/// Hex SHA-256 of `bytes`.
fn sha256(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `files.json`: path -> digest of what was written; an older firstboot kept the paths alone
/// (no digest: nothing to compare, so such a file is simply rendered again).
#[derive(Deserialize)]
#[serde(untagged)]
enum Owned {
    Digests(BTreeMap<String, String>),
    Paths(Vec<String>),
}

fn owned(root: &Path) -> Result<BTreeMap<String, Option<String>>, WriteError> {
    let path = root.join(OWNED.trim_start_matches('/'));
    match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(Owned::Digests(map)) => Ok(map.into_iter().map(|(p, d)| (p, Some(d))).collect()),
            Ok(Owned::Paths(list)) => Ok(list.into_iter().map(|p| (p, None)).collect()),
            Err(e) => Err(WriteError {
                path: path.display().to_string(),
                source: std::io::Error::new(ErrorKind::InvalidData, e),
            }),
        },
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(source) => Err(WriteError {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Moves `dest` (the tree's `path`) aside when it was changed since firstboot wrote content
/// with digest `recorded`, unless it already holds `new` (nothing would be lost); returns the
/// copy's path as in the tree.
fn keep_hand_edit(
    dest: &Path,
    path: &str,
    recorded: &str,
    new: Option<&[u8]>,
    stamp: &str,
) -> Result<Option<String>, WriteError> {
    let err = |source| WriteError {
        path: dest.display().to_string(),
        source,
    };
    if path == crate::paths::SHADOW {
        return Ok(None);
    }
    let current = match std::fs::read(dest) {
        Ok(c) => c,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(e)),
    };
    if sha256(&current) == recorded || new == Some(current.as_slice()) {
        return Ok(None);
    }
    // Next to the file, named after this run's time (a number added if that name is taken).
    let (mut copy, mut target) = (
        format!("{path}.local-{stamp}"),
        format!("{}.local-{stamp}", dest.display()),
    );
    let mut n = 1;
    while Path::new(&target).exists() {
        n += 1;
        copy = format!("{path}.local-{stamp}-{n}");
        target = format!("{}.local-{stamp}-{n}", dest.display());
    }
    std::fs::rename(dest, target).map_err(err)?;
    Ok(Some(copy))
}

/// Writes `tree` under `root`, removes files from the last run that `tree` no longer has, and
/// keeps aside what was changed by hand (see the module's documentation).
pub fn write_tree(tree: &Tree, root: &Path) -> Result<Changes, WriteError> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    write_tree_at(tree, root, &stamp)
}

/// [`write_tree`] with the time that names kept copies.
pub fn write_tree_at(tree: &Tree, root: &Path, stamp: &str) -> Result<Changes, WriteError> {
    let previous = owned(root)?;
    let mut changes = Changes::default();
    let mut digests = BTreeMap::new();
    for (path, file) in tree {
        let dest = root.join(path.trim_start_matches('/'));
        let content = file.content.as_bytes();
        if let Some(Some(recorded)) = previous.get(path) {
            if let Some(copy) = keep_hand_edit(&dest, path, recorded, Some(content), stamp)? {
                changes.kept.push((path.clone(), copy));
            }
        }
        if write_file(&dest, file.mode, content)? {
            changes.written.push(path.clone());
        }
        digests.insert(path.clone(), sha256(content));
    }
    for (path, recorded) in previous.iter().filter(|(p, _)| !tree.contains_key(*p)) {
        let dest = root.join(path.trim_start_matches('/'));
        if let Some(recorded) = recorded {
            if let Some(copy) = keep_hand_edit(&dest, path, recorded, None, stamp)? {
                changes.kept.push((path.clone(), copy));
                changes.removed.push(path.clone());
                continue;
            }
        }
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
    // Root only: a digest of a file with a guessable password in it would let others test
    // guesses offline.
    let json = serde_json::to_vec_pretty(&digests).unwrap_or_default();
    write_file(&root.join(OWNED.trim_start_matches('/')), 0o600, &json)?;
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::File;

    fn tree(files: &[(&str, &str)]) -> Tree {
        files
            .iter()
            .map(|(p, c)| {
                (
                    p.to_string(),
                    File {
                        mode: 0o600,
                        content: c.to_string(),
                    },
                )
            })
            .collect()
    }

    struct Root(std::path::PathBuf);

    impl Root {
        fn new(tag: &str) -> Root {
            let p = std::env::temp_dir().join(format!("write-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Root(p)
        }

        fn read(&self, path: &str) -> Option<String> {
            std::fs::read_to_string(self.0.join(path.trim_start_matches('/'))).ok()
        }

        fn write(&self, path: &str, text: &str) {
            std::fs::write(self.0.join(path.trim_start_matches('/')), text).unwrap();
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_file_changed_by_hand_is_kept_aside_and_reported_then_rendered_again() {
        let root = Root::new("kept");
        let first = tree(&[("/etc/a.conf", "a=1\n"), ("/etc/b.conf", "b=1\n")]);
        let c = write_tree_at(&first, &root.0, "T1").unwrap();
        assert_eq!(c.written, ["/etc/a.conf", "/etc/b.conf"]);
        assert!(c.kept.is_empty());
        // Untouched: nothing to do.
        assert!(write_tree_at(&first, &root.0, "T2").unwrap().is_empty());

        root.write("/etc/a.conf", "a=2 # mine\n");
        let c = write_tree_at(&first, &root.0, "T3").unwrap();
        assert_eq!(
            c.kept,
            [("/etc/a.conf".to_string(), "/etc/a.conf.local-T3".to_string())]
        );
        assert_eq!(c.written, ["/etc/a.conf"]);
        assert_eq!(root.read("/etc/a.conf.local-T3").as_deref(), Some("a=2 # mine\n"));
        assert_eq!(root.read("/etc/a.conf").as_deref(), Some("a=1\n"));
        assert!(Changes::kept_note("/etc/a.conf", "/etc/a.conf.local-T3")
            .contains("your copy is kept as /etc/a.conf.local-T3"));

        // An edit that the new rendering makes anyway loses nothing: no copy.
        root.write("/etc/b.conf", "b=2\n");
        let second = tree(&[("/etc/a.conf", "a=1\n"), ("/etc/b.conf", "b=2\n")]);
        let c = write_tree_at(&second, &root.0, "T4").unwrap();
        assert!(c.kept.is_empty() && c.written.is_empty(), "{c:?}");

        // A file no longer rendered but changed by hand is kept aside, not deleted.
        root.write("/etc/b.conf", "b=3\n");
        let c = write_tree_at(&tree(&[("/etc/a.conf", "a=1\n")]), &root.0, "T5").unwrap();
        assert_eq!(
            c.kept,
            [("/etc/b.conf".to_string(), "/etc/b.conf.local-T5".to_string())]
        );
        assert_eq!(c.removed, ["/etc/b.conf"]);
        assert_eq!(root.read("/etc/b.conf.local-T5").as_deref(), Some("b=3\n"));
        assert_eq!(root.read("/etc/b.conf"), None);
    }

    #[test]
    fn an_older_list_without_digests_and_the_shadow_file_are_rendered_over() {
        let root = Root::new("older");
        std::fs::create_dir_all(root.0.join("var/lib/firstboot")).unwrap();
        std::fs::create_dir_all(root.0.join("etc")).unwrap();
        root.write(OWNED, "[\n  \"/etc/a.conf\",\n  \"/etc/gone.conf\"\n]");
        root.write("/etc/a.conf", "edited before the upgrade\n");
        root.write("/etc/gone.conf", "x\n");
        let c = write_tree_at(&tree(&[("/etc/a.conf", "a=1\n")]), &root.0, "T1").unwrap();
        assert!(c.kept.is_empty(), "no digest to compare with: {c:?}");
        assert_eq!(c.removed, ["/etc/gone.conf"]);
        let json = root.read(OWNED).unwrap();
        assert!(
            json.contains(&format!("\"/etc/a.conf\": \"{}\"", sha256(b"a=1\n"))),
            "{json}"
        );
        let mode = std::fs::metadata(root.0.join(OWNED.trim_start_matches('/')))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        let shadow = tree(&[(crate::paths::SHADOW, "root:$6$x:1::::::\n")]);
        write_tree_at(&shadow, &root.0, "T2").unwrap();
        root.write(crate::paths::SHADOW, "root:$6$changed:2::::::\n");
        let c = write_tree_at(&shadow, &root.0, "T3").unwrap();
        assert!(c.kept.is_empty(), "/etc/shadow is never copied aside: {c:?}");
        assert_eq!(c.written, [crate::paths::SHADOW]);
    }
}
