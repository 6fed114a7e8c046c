//! Where the appliance's properties may come from once a first run has found them valid (the
//! origin is recorded then, before anything is applied, so a run that fails later leaves it
//! bound all the same): the same transport as then (guestinfo stays guestinfo; an appliance
//! deployed with an ISO keeps its ISO), and on the ISO transport the same deployment
//! (`ve:vCenterId`/`oe:id`). Without this, once the first run has cleared guestinfo, a CD-ROM
//! with `ovf-env.xml` attached to the VM at any later boot would reconfigure it (root password,
//! SSH). guestinfo is written by vSphere from the VM's own vApp options (a clone gets its own), so
//! there only the transport is compared; what a process inside the guest writes into guestinfo
//! is caught by the `clear` step's marker (`source::CLEARED_MARKER`). A file given with
//! `--ovf-env` (tests, development) is neither recorded nor checked.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::source::Transport;

/// The recorded origin (`paths::ORIGIN`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// `guestinfo` or `iso`.
    pub transport: String,
    /// The deployment (see `OvfEnv::identity`).
    pub identity: String,
}

impl Origin {
    /// The origin of a document from `from` describing deployment `identity`; `None` for a file.
    pub fn of(from: &Transport, identity: &str) -> Option<Origin> {
        let transport = match from {
            Transport::File(_) => return None,
            Transport::GuestInfo => "guestinfo",
            Transport::Iso(_) => "iso",
        };
        Some(Origin {
            transport: transport.to_string(),
            identity: identity.to_string(),
        })
    }

    /// Why a document of this origin is refused when `first` was recorded; `None`: accepted.
    pub fn refused(&self, first: &Origin) -> Option<String> {
        let name = |t: &str| match t {
            "guestinfo" => "guestinfo.ovfEnv (the vApp options)",
            _ => "ovf-env.xml on a CD-ROM (the ISO transport)",
        };
        if self.transport != first.transport {
            return Some(format!(
                "the OVF environment came from {}, but this appliance was configured from {}: it is ignored and nothing was changed; detach the CD-ROM, and change the properties where they came from the first time",
                name(&self.transport),
                name(&first.transport)
            ));
        }
        if self.transport == "iso" && self.identity != first.identity {
            return Some(format!(
                "the CD-ROM's OVF environment describes another deployment ({:?}, this appliance is {:?}): it is ignored and nothing was changed; attach this appliance's own environment",
                self.identity, first.identity
            ));
        }
        None
    }
}

/// Why the record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not an origin record ({detail}): remove it to accept the next environment")]
    Corrupt { path: String, detail: String },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

fn path(root: &Path) -> std::path::PathBuf {
    root.join(crate::paths::ORIGIN.trim_start_matches('/'))
}

/// The recorded origin, `None` until a run has found the properties valid.
pub fn load(root: &Path) -> Result<Option<Origin>, OriginError> {
    let p = path(root);
    match std::fs::read(&p) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| OriginError::Corrupt {
                path: p.display().to_string(),
                detail: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(OriginError::Read {
            path: p.display().to_string(),
            source,
        }),
    }
}

/// Records `origin` (once the first valid properties are read, before anything is applied).
pub fn save(root: &Path, origin: &Origin) -> Result<(), OriginError> {
    let p = path(root);
    let write = |source| OriginError::Write {
        path: p.display().to_string(),
        source,
    };
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).map_err(write)?;
    }
    let json = serde_json::to_vec_pretty(origin).map_err(|e| write(std::io::Error::other(e)))?;
    crate::write::file(&p, &json, 0o600).map_err(write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_transport_or_another_iso_deployment_is_refused() {
        let guestinfo = Origin::of(&Transport::GuestInfo, "vm-42/").unwrap();
        let iso = Origin::of(&Transport::Iso("/dev/sr0".into()), "vm-42/").unwrap();
        assert!(Origin::of(&Transport::File("x".into()), "").is_none());
        assert!(iso.refused(&guestinfo).unwrap().contains("CD-ROM"));
        assert!(guestinfo.refused(&iso).is_some());
        assert!(guestinfo.refused(&guestinfo).is_none());
        let clone = Origin::of(&Transport::GuestInfo, "vm-43/").unwrap();
        assert!(clone.refused(&guestinfo).is_none(), "vSphere writes guestinfo per VM");
        let other = Origin::of(&Transport::Iso("/dev/sr0".into()), "vm-99/").unwrap();
        assert!(other.refused(&iso).unwrap().contains("another deployment"));
        assert!(
            iso.refused(&iso).is_none(),
            "an ISO appliance keeps its ISO across reboots"
        );
    }
}
