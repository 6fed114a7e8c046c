//! The project's one way to replace a file: write a temporary file beside it (created afresh
//! with its final mode, never through a symlink), flush it to disk, rename it over the target,
//! then flush the folder, so after a crash at any moment the target holds the old content or
//! the new one, never a mix or an empty file. Used by the router's checkpoints, firstboot's
//! files and status, and `ova build`.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// How much of the sequence runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file before the rename and the folder after it: survives a power loss.
    Full,
    /// Only the rename: readers never see a partial file, but a power loss may lose the new
    /// content (for large outputs that are made again anyway, such as an OVA).
    RenameOnly,
}

/// The temporary file for `path`: `.<name>.tmp` in the same folder (a rename stays in one file
/// system).
pub fn temporary(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Replaces `path` with `content`, mode `mode` (e.g. 0o600).
pub fn write(path: &Path, content: &[u8], mode: u32, durability: Durability) -> std::io::Result<()> {
    write_with(path, mode, durability, |f| f.write_all(content))
}

/// Replaces `path` with what `fill` writes into the temporary file. When `fill` fails, the
/// temporary file is removed and `path` is left as it was.
pub fn write_with(
    path: &Path,
    mode: u32,
    durability: Durability,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = temporary(path);
    // A temporary file left by a crash is replaced.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let result = (|| {
        let mut f = create(&tmp, mode)?;
        fill(&mut f)?;
        f.flush()?;
        if durability == Durability::Full {
            f.sync_all()?;
        }
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if durability == Durability::Full {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
    }
    Ok(())
}

/// Creates `path` exclusively with `mode` from the start (exactly `mode`, whatever the umask),
/// never following a symlink.
#[cfg(unix)]
pub fn create(path: &Path, mode: u32) -> std::io::Result<File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(f)
}

#[cfg(not(unix))]
pub fn create(path: &Path, _mode: u32) -> std::io::Result<File> {
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("durable-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn the_new_content_replaces_the_old_with_its_mode() {
        let d = dir("replace");
        let p = d.join("cp.json");
        write(&p, b"old", 0o644, Durability::Full).unwrap();
        write(&p, b"new", 0o600, Durability::Full).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(!temporary(&p).exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_write_that_fails_half_way_leaves_the_old_content_and_no_temporary_file() {
        let d = dir("fail");
        let p = d.join("status.json");
        write(&p, b"{\"old\": true}", 0o600, Durability::Full).unwrap();
        let e = write_with(&p, 0o600, Durability::Full, |f| {
            f.write_all(b"{\"new\": tr")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "disk full");
        assert_eq!(std::fs::read(&p).unwrap(), b"{\"old\": true}", "never a mix");
        assert!(!temporary(&p).exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_crash_before_the_rename_leaves_the_old_content_and_the_next_write_recovers() {
        let d = dir("crash");
        let p = d.join("files.json");
        write(&p, b"old", 0o600, Durability::Full).unwrap();
        // What a crash between the temporary file's write and the rename leaves.
        std::fs::write(temporary(&p), b"half").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        write(&p, b"new", 0o600, Durability::RenameOnly).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_symlink_planted_as_the_temporary_file_is_not_followed() {
        let d = dir("symlink");
        let p = d.join("cp.json");
        let victim = d.join("victim");
        std::fs::write(&victim, b"untouched").unwrap();
        std::os::unix::fs::symlink(&victim, temporary(&p)).unwrap();
        write(&p, b"secret", 0o600, Durability::Full).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
        assert_eq!(std::fs::read(&p).unwrap(), b"secret");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
