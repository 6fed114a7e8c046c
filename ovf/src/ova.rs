//! Assembling the OVA: each disk as a streamOptimized VMDK (converted with `qemu-img` when it is
//! raw or qcow2), the descriptor generated from the schema with the disks' sizes and capacities,
//! and a tar with the descriptor first, then the disks, then the `.mf` with the SHA256 of every
//! file. The OVA is written with the project's one atomic writer (`durable`), so a failure
//! leaves no partial OVA behind.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::descriptor::{descriptor, Appliance, Disk};

/// Why the OVA could not be built.
#[derive(Debug, thiserror::Error)]
pub enum OvaError {
    #[error("cannot read disk {path}: {source}")]
    DiskUnreadable { path: String, source: std::io::Error },
    #[error("disk {path}: unknown format {ext:?}; give a raw (.raw, .img), qcow2 (.qcow2) or VMDK (.vmdk) disk")]
    UnknownFormat { path: String, ext: String },
    #[error("disk {path} is named .{expected} but qemu-img reads it as {actual}")]
    WrongFormat {
        path: String,
        expected: String,
        actual: String,
    },
    #[error("qemu-img {what} {path}: {detail} (qemu-img is in Debian's qemu-utils package)")]
    QemuImg {
        what: &'static str,
        path: String,
        detail: String,
    },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("no disk given: pass --disk at least once")]
    NoDisk,
}

fn qemu_img(args: &[&str], what: &'static str, path: &Path) -> Result<String, OvaError> {
    let err = |detail: String| OvaError::QemuImg {
        what,
        path: path.display().to_string(),
        detail,
    };
    let out = Command::new("qemu-img")
        .args(args)
        .output()
        .map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        return Err(err(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What qemu-img says about a disk: (format, virtual size, VMDK create type).
fn inspect(path: &Path) -> Result<(String, u64, String), OvaError> {
    let text = qemu_img(&["info", "--output=json", &path.display().to_string()], "info", path)?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| OvaError::QemuImg {
        what: "info",
        path: path.display().to_string(),
        detail: e.to_string(),
    })?;
    Ok((
        v["format"].as_str().unwrap_or("").to_string(),
        v["virtual-size"].as_u64().unwrap_or(0),
        v["format-specific"]["data"]["create-type"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    ))
}

/// The disk as a streamOptimized VMDK in `work` (converted when needed) and its capacity.
fn stream_optimized(disk: &Path, n: usize, work: &Path) -> Result<(PathBuf, u64), OvaError> {
    std::fs::File::open(disk)
        .and_then(|mut f| f.read(&mut [0u8; 1]))
        .map_err(|source| OvaError::DiskUnreadable {
            path: disk.display().to_string(),
            source,
        })?;
    let ext = disk
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let expected = match ext.as_str() {
        "raw" | "img" => "raw",
        "qcow2" => "qcow2",
        "vmdk" => "vmdk",
        _ => {
            return Err(OvaError::UnknownFormat {
                path: disk.display().to_string(),
                ext,
            })
        }
    };
    let (format, capacity, create_type) = inspect(disk)?;
    if format != expected {
        return Err(OvaError::WrongFormat {
            path: disk.display().to_string(),
            expected: ext,
            actual: format,
        });
    }
    if format == "vmdk" && create_type == "streamOptimized" {
        return Ok((disk.to_path_buf(), capacity));
    }
    let out = work.join(format!("disk{n}.vmdk"));
    qemu_img(
        &[
            "convert",
            "-f",
            &format,
            "-O",
            "vmdk",
            "-o",
            "subformat=streamOptimized,adapter_type=lsilogic",
            &disk.display().to_string(),
            &out.display().to_string(),
        ],
        "convert",
        disk,
    )?;
    Ok((out, capacity))
}

/// Maps an I/O error on `path` to [`OvaError::Write`].
fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> OvaError {
    let path = path.display().to_string();
    move |source| OvaError::Write { path, source }
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Builds `out` from `disks`; returns the files in the OVA, in order.
pub fn build(disks: &[PathBuf], out: &Path, appliance: &Appliance) -> Result<Vec<String>, OvaError> {
    if disks.is_empty() {
        return Err(OvaError::NoDisk);
    }
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = out.file_name().and_then(|n| n.to_str()).unwrap_or("appliance.ova");
    let work = dir.join(format!(".{base}.work"));
    if !dir.is_dir() {
        return Err(OvaError::Write {
            path: out.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "its folder does not exist"),
        });
    }
    // A killed earlier build may have left its work folder.
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir(&work).map_err(write_err(&work))?;
    let result = assemble(disks, out, &work, appliance);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn assemble(disks: &[PathBuf], out: &Path, work: &Path, appliance: &Appliance) -> Result<Vec<String>, OvaError> {
    let mut vmdks = Vec::new();
    for (i, disk) in disks.iter().enumerate() {
        vmdks.push(stream_optimized(disk, i + 1, work)?);
    }
    let mut a = appliance.clone();
    a.disks = vmdks
        .iter()
        .enumerate()
        .map(|(i, (path, capacity))| {
            let size = std::fs::metadata(path).map(|m| m.len()).map_err(write_err(path))?;
            Ok(Disk {
                file: format!("{}-disk{}.vmdk", a.name, i + 1),
                size,
                capacity: *capacity,
            })
        })
        .collect::<Result<_, OvaError>>()?;
    let ovf_name = format!("{}.ovf", a.name);
    let ovf_path = work.join(&ovf_name);
    std::fs::write(&ovf_path, descriptor(&a)).map_err(write_err(&ovf_path))?;
    let mut entries: Vec<(String, PathBuf)> = vec![(ovf_name, ovf_path)];
    for (disk, (path, _)) in a.disks.iter().zip(&vmdks) {
        entries.push((disk.file.clone(), path.clone()));
    }
    let mut manifest = String::new();
    for (name, path) in &entries {
        manifest.push_str(&format!(
            "SHA256({name})= {}\n",
            sha256_file(path).map_err(write_err(path))?
        ));
    }
    let mf_name = format!("{}.mf", a.name);
    let mf_path = work.join(&mf_name);
    std::fs::write(&mf_path, manifest).map_err(write_err(&mf_path))?;
    entries.push((mf_name, mf_path));
    // The OVA is made again by the next build after a crash: the rename alone suffices.
    durable::write_with(out, 0o644, durable::Durability::RenameOnly, |file| {
        let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
        tar.mode(tar::HeaderMode::Deterministic);
        for (name, path) in &entries {
            let mut f = std::fs::File::open(path)?;
            let len = f.metadata()?.len();
            let mut header = tar::Header::new_ustar();
            header.set_size(len);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, &mut f)?;
        }
        tar.into_inner()?.flush()
    })
    .map_err(write_err(out))?;
    Ok(entries.into_iter().map(|(n, _)| n).collect())
}
