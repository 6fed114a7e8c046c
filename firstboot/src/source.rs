//! Where the OVF environment comes from: a file (tests, development) or the platform's two OVF
//! transports (DSP0243), tried in vSphere's order: `guestinfo.ovfEnv` (the "VMware Tools"
//! transport), read through the VMware backdoor (as afterburn does) with `vmware-rpctool` and
//! then `vmtoolsd --cmd` as fallbacks; otherwise the ISO transport, a CD-ROM with `ovf-env.xml`
//! at its root (read without mounting, see `iso9660`), which also lets the appliance boot with
//! its properties under plain QEMU/KVM. After a successful run guestinfo is cleared (unless
//! debug is on) so the secrets in it do not linger; a CD-ROM cannot be changed from inside.
//!
//! Any process in the VM can write guestinfo.ovfEnv too (`info-set` through the backdoor), so
//! clearing it also sets [`CLEARED_MARKER`]: until the VM is powered off that key exists, and a
//! guestinfo.ovfEnv found while it does was written from inside the guest
//! ([`guest_set_refusal`]).

use std::path::PathBuf;
use std::process::Command;

use crate::iso9660;

const KEY: &str = "guestinfo.ovfEnv";

/// The key the `clear` step sets (to `1`) just before it clears guestinfo.ovfEnv. Nothing but
/// the guest sets it, and what the guest sets lives only as long as the running VM: VMware's VIX
/// API reference (`VixVM_WriteVariable`, also in its Perl binding as `VMWriteVariable`) calls a
/// guest variable, the `guestinfo.*` keys, "a runtime-only value; it is never stored
/// persistently", while vSphere writes guestinfo.ovfEnv from the vApp options at each power-on.
/// So while the marker exists the VM has not been powered off since firstboot cleared
/// guestinfo.ovfEnv, and a non-empty guestinfo.ovfEnv can only have come from inside the guest.
/// The guest cannot remove a key, only change its value, so the marker counts whatever its
/// value. Not verified on a live vSphere here; open-vm-tools issue #288 reports an `info-set`
/// value found in the .vmx after a reboot: should vSphere keep the marker over a power cycle,
/// every later environment is refused with a message saying how to remove it.
pub const CLEARED_MARKER: &str = "guestinfo.firstboot.ovfEnvCleared";

/// The name DSP0243 gives the environment file on the ISO transport's CD-ROM.
pub const ISO_FILE: &str = "ovf-env.xml";

/// Where to read the properties from.
#[derive(Debug, Clone)]
pub enum Source {
    File(PathBuf),
    /// guestinfo.ovfEnv, else `ovf-env.xml` on a CD-ROM.
    Platform,
}

/// Where a document was found (and so how it is cleared).
#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    File(PathBuf),
    GuestInfo,
    Iso(PathBuf),
}

/// An OVF environment document and where it came from.
#[derive(Debug, Clone)]
pub struct Document {
    pub text: String,
    pub from: Transport,
}

/// Why the environment could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    File { path: String, source: std::io::Error },
    #[error("cannot read guestinfo.ovfEnv: {0}; is this a VMware VM with VMware Tools (open-vm-tools) installed?")]
    GuestInfo(String),
    #[error("cannot set {key}: {detail}")]
    SetGuestInfo { key: &'static str, detail: String },
    #[error("no OVF environment: guestinfo.ovfEnv cannot be read ({guestinfo}) and no CD-ROM has {ISO_FILE} ({cdroms}); on vSphere enable the VMware Tools or ISO image OVF transport in the VM's vApp Options, elsewhere attach an ISO with {ISO_FILE} at its root")]
    Nowhere { guestinfo: String, cdroms: String },
    #[error("{path} holds {ISO_FILE} but it is not UTF-8 text")]
    NotText { path: String },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Platform => write!(f, "{KEY} or a CD-ROM with {ISO_FILE}"),
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::File(p) => write!(f, "{}", p.display()),
            Transport::GuestInfo => f.write_str(KEY),
            Transport::Iso(p) => write!(f, "{ISO_FILE} on {}", p.display()),
        }
    }
}

/// The CD-ROM drives to look at: `FIRSTBOOT_CDROMS` (colon-separated paths, for tests and
/// unusual devices) or every `/dev/sr*` the kernel lists in /sys/block.
fn cdroms() -> Vec<PathBuf> {
    if let Ok(list) = std::env::var("FIRSTBOOT_CDROMS") {
        return list.split(':').filter(|p| !p.is_empty()).map(PathBuf::from).collect();
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/sys/block")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("sr").then(|| PathBuf::from("/dev").join(name))
        })
        .collect();
    found.sort();
    found
}

/// What each CD-ROM drive held instead of the environment file (for the error).
#[derive(Debug)]
struct NoCdrom(String);

/// The first CD-ROM with the environment file, or what each drive said.
fn from_cdroms() -> Result<Result<Document, NoCdrom>, SourceError> {
    let mut seen = Vec::new();
    for dev in cdroms() {
        match iso9660::read_root_file(&dev, &[ISO_FILE]) {
            Ok(Some(bytes)) => {
                let text = String::from_utf8(bytes).map_err(|_| SourceError::NotText {
                    path: dev.display().to_string(),
                })?;
                return Ok(Ok(Document {
                    text,
                    from: Transport::Iso(dev),
                }));
            }
            Ok(None) => seen.push(format!("{}: no {ISO_FILE}", dev.display())),
            Err(e) => seen.push(format!("{}: {e}", dev.display())),
        }
    }
    if seen.is_empty() {
        seen.push("no CD-ROM drive".into());
    }
    Ok(Err(NoCdrom(seen.join("; "))))
}

/// The rpctool programs to try, in order; `FIRSTBOOT_RPCTOOL` replaces them (tests).
fn rpctools() -> Vec<(String, Vec<String>)> {
    if let Ok(tool) = std::env::var("FIRSTBOOT_RPCTOOL") {
        return vec![(tool, vec![])];
    }
    vec![
        ("vmware-rpctool".to_string(), vec![]),
        ("vmtoolsd".to_string(), vec!["--cmd".to_string()]),
    ]
}

/// Why no rpctool answered: each tool tried and what it said.
#[derive(Debug)]
struct RpcFailed(String);

/// Runs one RPC command (`info-get guestinfo.ovfEnv`) through the first tool that exists.
fn rpc(command: &str) -> Result<Option<String>, RpcFailed> {
    let mut tried = Vec::new();
    for (tool, args) in rpctools() {
        match Command::new(&tool).args(&args).arg(command).output() {
            Ok(out) if out.status.success() => return Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned())),
            Ok(out) => {
                let err = String::from_utf8_lossy(&out.stderr);
                if err.contains("No value found") || err.trim().is_empty() {
                    return Ok(None);
                }
                return Err(RpcFailed(format!("{tool}: {}", err.trim())));
            }
            Err(e) => tried.push(format!("{tool}: {e}")),
        }
    }
    Err(RpcFailed(tried.join("; ")))
}

/// `key`'s value read through the backdoor; `None` when it is unset or the backdoor cannot be
/// used (the rpctools are asked then).
#[cfg(target_arch = "x86_64")]
fn backdoor(key: &str) -> Option<String> {
    if std::env::var_os("FIRSTBOOT_RPCTOOL").is_some() || !vmw_backdoor::is_vmware_cpu() {
        return None;
    }
    let mut guard = vmw_backdoor::probe_backdoor_privileged().ok()?;
    let mut chan = guard.open_enhanced_chan().ok()?;
    let value = chan.get_guestinfo(key.as_bytes()).ok()??;
    String::from_utf8(value).ok()
}

#[cfg(not(target_arch = "x86_64"))]
fn backdoor(_key: &str) -> Option<String> {
    None
}

/// `key`'s value (the backdoor, else the rpctools); `Ok(None)` when it is unset.
fn guestinfo_get(key: &str) -> Result<Option<String>, RpcFailed> {
    match backdoor(key) {
        Some(t) => Ok(Some(t)),
        None => rpc(&format!("info-get {key}")),
    }
}

/// Why a guestinfo.ovfEnv read at this boot must not be applied: [`CLEARED_MARKER`] is still
/// set (written from inside the guest since firstboot cleared it), or it cannot be read; `None`
/// when it may be applied.
pub fn guest_set_refusal() -> Option<String> {
    refusal(guestinfo_get(CLEARED_MARKER))
}

/// [`guest_set_refusal`] for a marker read as `marker`.
fn refusal(marker: Result<Option<String>, RpcFailed>) -> Option<String> {
    match marker {
        Ok(None) => None,
        Ok(Some(_)) => Some(format!(
            "{KEY} was set from inside the guest since the last power-off (the marker {CLEARED_MARKER} is still set): ignored and nothing was changed; change vApp properties with the VM powered off (should this persist after a power-off, remove {CLEARED_MARKER} from the VM's Configuration Parameters)"
        )),
        Err(RpcFailed(e)) => Some(format!(
            "cannot tell whether {KEY} was set from inside the guest ({CLEARED_MARKER} cannot be read: {e}): ignored and nothing was changed"
        )),
    }
}

fn cleared(text: &str) -> bool {
    let t = text.trim();
    t.is_empty() || t == "NULL"
}

impl Source {
    /// The environment document, or `None` when it is empty or was cleared by an earlier run
    /// (and no CD-ROM carries one).
    pub fn read(&self) -> Result<Option<Document>, SourceError> {
        match self {
            Source::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| SourceError::File {
                    path: path.display().to_string(),
                    source,
                })?;
                Ok((!cleared(&text)).then(|| Document {
                    text,
                    from: Transport::File(path.clone()),
                }))
            }
            Source::Platform => {
                let guestinfo = guestinfo_get(KEY);
                if let Ok(Some(text)) = &guestinfo {
                    if !cleared(text) {
                        return Ok(Some(Document {
                            text: text.clone(),
                            from: Transport::GuestInfo,
                        }));
                    }
                }
                match (from_cdroms()?, guestinfo) {
                    (Ok(doc), _) => Ok(Some(doc)),
                    (Err(_), Ok(_)) => Ok(None),
                    (Err(NoCdrom(cdroms)), Err(RpcFailed(guestinfo))) => {
                        Err(SourceError::Nowhere { guestinfo, cdroms })
                    }
                }
            }
        }
    }
}

impl Transport {
    /// Sets [`CLEARED_MARKER`], then clears `guestinfo.ovfEnv` (a file or a CD-ROM is left
    /// alone); vSphere sets guestinfo.ovfEnv again at the next power-on, when the marker is gone.
    /// The marker comes first: should the clearing fail, the environment still in guestinfo is
    /// refused at the next boot rather than an environment written in between accepted.
    pub fn clear(&self) -> Result<bool, SourceError> {
        match self {
            Transport::File(_) | Transport::Iso(_) => Ok(false),
            Transport::GuestInfo => {
                for (key, value) in [(CLEARED_MARKER, "1"), (KEY, "NULL")] {
                    rpc(&format!("info-set {key} {value}"))
                        .map_err(|RpcFailed(detail)| SourceError::SetGuestInfo { key, detail })?;
                }
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_environment_is_refused_while_the_marker_exists_whatever_its_value() {
        assert_eq!(refusal(Ok(None)), None, "powered off since the clearing: accepted");
        for value in ["1", "", "NULL", "0"] {
            let why = refusal(Ok(Some(value.into()))).unwrap_or_default();
            assert!(
                why.contains("was set from inside the guest since the last power-off")
                    && why.contains(CLEARED_MARKER)
                    && why.contains("change vApp properties with the VM powered off"),
                "{value:?}: {why}"
            );
        }
        let why = refusal(Err(RpcFailed("vmware-rpctool: No such file".into()))).unwrap_or_default();
        assert!(why.contains("cannot tell") && why.contains("No such file"), "{why}");
    }
}
