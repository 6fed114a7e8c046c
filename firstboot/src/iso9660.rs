//! Reads one file from the root folder of an ISO 9660 image or CD-ROM without mounting it: the
//! OVF environment's ISO transport (DSP0243: a CD-ROM with `ovf-env.xml` at its root).
//!
//! Only the primary volume descriptor's root directory is read (ECMA-119 sections 8.4 and 9.1).
//! Its names are the plain ISO 9660 ones (`OVF_ENV.XML;1` for genisoimage's default level,
//! `OVF-ENV.XML;1` with relaxed names), so a name matches case-insensitively, without the
//! `;version` suffix and with `_` and `-` taken as the same character. Rock Ridge and Joliet
//! names are extensions on top of these and are not needed.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The largest file this reader returns (an OVF environment is a few KiB).
pub const MAX_FILE: u32 = 1 << 20;
/// The largest root folder it walks.
const MAX_DIR: u32 = 1 << 20;
const SECTOR: u64 = 2048;

/// Why an image could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IsoError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not an ISO 9660 image: {0}")]
    Format(&'static str),
    #[error("{name} is {size} bytes, over the {MAX_FILE}-byte limit")]
    TooLarge { name: String, size: u32 },
}

fn le32(b: &[u8], at: usize) -> Result<u32, IsoError> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(IsoError::Format("a record is cut short"))
}

fn read_at(f: &mut File, offset: u64, len: usize) -> Result<Vec<u8>, IsoError> {
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; len];
    f.read_exact(&mut buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => IsoError::Format("the image ends early"),
        _ => IsoError::Io(e),
    })?;
    Ok(buf)
}

/// The ISO 9660 name without its `;version` and a trailing dot, folded for comparison.
fn fold(name: &str) -> String {
    let base = name.split(';').next().unwrap_or(name).trim_end_matches('.');
    base.to_ascii_lowercase().replace('_', "-")
}

/// The contents of the first root-folder file named like one of `names` (see the module doc),
/// or `None` when the image has no such file.
pub fn read_root_file(path: &Path, names: &[&str]) -> Result<Option<Vec<u8>>, IsoError> {
    let mut f = File::open(path)?;
    let wanted: Vec<String> = names.iter().map(|n| fold(n)).collect();
    // Volume descriptors start at sector 16; the primary one has type 1, the set ends at 255.
    let mut pvd = None;
    for i in 16..64u64 {
        let d = read_at(&mut f, i * SECTOR, SECTOR as usize)?;
        if &d[1..6] != b"CD001" {
            return Err(IsoError::Format("no CD001 volume descriptor at sector 16"));
        }
        match d[0] {
            1 => {
                pvd = Some(d);
                break;
            }
            255 => break,
            _ => {}
        }
    }
    let pvd = pvd.ok_or(IsoError::Format("no primary volume descriptor"))?;
    let block = u64::from(u16::from_le_bytes([pvd[128], pvd[129]]));
    if !(512..=SECTOR).contains(&block) || !block.is_power_of_two() {
        return Err(IsoError::Format("the logical block size is not 512, 1024 or 2048"));
    }
    let root = &pvd[156..190];
    let (extent, size) = (le32(root, 2)?, le32(root, 10)?);
    if size > MAX_DIR {
        return Err(IsoError::Format("the root folder is implausibly large"));
    }
    let dir = read_at(&mut f, u64::from(extent) * block, size as usize)?;
    let mut at = 0usize;
    while at < dir.len() {
        let len = usize::from(dir[at]);
        if len == 0 {
            // Records do not cross a sector: a zero length means "go to the next sector".
            at = (at / SECTOR as usize + 1) * SECTOR as usize;
            continue;
        }
        let rec = dir
            .get(at..at + len)
            .ok_or(IsoError::Format("a folder record is cut short"))?;
        at += len;
        if len < 34 {
            return Err(IsoError::Format("a folder record is shorter than its header"));
        }
        let name_len = usize::from(rec[32]);
        let name = rec
            .get(33..33 + name_len)
            .ok_or(IsoError::Format("a file name is cut short"))?;
        let is_dir = rec[25] & 0x02 != 0;
        let name = String::from_utf8_lossy(name);
        if is_dir || !wanted.contains(&fold(&name)) {
            continue;
        }
        let (extent, size) = (le32(rec, 2)?, le32(rec, 10)?);
        if size > MAX_FILE {
            return Err(IsoError::TooLarge {
                name: name.into_owned(),
                size,
            });
        }
        return Ok(Some(read_at(&mut f, u64::from(extent) * block, size as usize)?));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_as_iso_9660_writes_them() {
        assert_eq!(fold("OVF_ENV.XML;1"), "ovf-env.xml");
        assert_eq!(fold("OVF-ENV.XML;1"), "ovf-env.xml");
        assert_eq!(fold("ovf-env.xml"), "ovf-env.xml");
        assert_eq!(fold("README.;1"), "readme");
    }

    #[test]
    fn what_is_not_an_iso_is_refused_without_a_panic() {
        let dir = std::env::temp_dir().join(format!("iso9660-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let short = dir.join("short");
        std::fs::write(&short, b"abc").unwrap();
        assert!(matches!(
            read_root_file(&short, &["ovf-env.xml"]),
            Err(IsoError::Format("the image ends early"))
        ));
        let zeros = dir.join("zeros");
        std::fs::write(&zeros, vec![0u8; 40 * 2048]).unwrap();
        assert!(matches!(
            read_root_file(&zeros, &["ovf-env.xml"]),
            Err(IsoError::Format(_))
        ));
        // A primary descriptor whose root folder points past the end of the image.
        let mut img = vec![0u8; 18 * 2048];
        let pvd = &mut img[16 * 2048..17 * 2048];
        pvd[0] = 1;
        pvd[1..6].copy_from_slice(b"CD001");
        pvd[128..130].copy_from_slice(&2048u16.to_le_bytes());
        pvd[156] = 34;
        pvd[158..162].copy_from_slice(&1000u32.to_le_bytes());
        pvd[166..170].copy_from_slice(&2048u32.to_le_bytes());
        let bad = dir.join("bad");
        std::fs::write(&bad, &img).unwrap();
        assert!(matches!(
            read_root_file(&bad, &["ovf-env.xml"]),
            Err(IsoError::Format("the image ends early"))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
