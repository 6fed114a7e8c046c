//! Writing a rendered tree under a root folder: only files whose content or mode differ are
//! written (atomically: temporary file, then rename), and the changed paths are returned.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::render::Tree;

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct WriteError {
    pub path: String,
    pub source: std::io::Error,
}

/// Writes `tree` under `root`; returns the paths (as in the tree) that changed.
pub fn write_tree(tree: &Tree, root: &Path) -> Result<Vec<String>, WriteError> {
    let mut changed = Vec::new();
    for (path, file) in tree {
        let dest = root.join(path.trim_start_matches('/'));
        let err = |source| WriteError {
            path: dest.display().to_string(),
            source,
        };
        let same_content = std::fs::read(&dest)
            .map(|c| c == file.content.as_bytes())
            .unwrap_or(false);
        let same_mode = std::fs::metadata(&dest)
            .map(|m| m.permissions().mode() & 0o7777 == file.mode)
            .unwrap_or(false);
        if same_content && same_mode {
            continue;
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        let tmp = dest.with_extension("firstboot-tmp");
        {
            let mut f = std::fs::File::create(&tmp).map_err(err)?;
            f.set_permissions(std::fs::Permissions::from_mode(file.mode))
                .map_err(err)?;
            f.write_all(file.content.as_bytes()).map_err(err)?;
            f.sync_all().map_err(err)?;
        }
        std::fs::rename(&tmp, &dest).map_err(err)?;
        changed.push(path.clone());
    }
    Ok(changed)
}
