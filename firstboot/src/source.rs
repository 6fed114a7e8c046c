//! Where the OVF environment comes from: a file (tests, development) or the VM's
//! `guestinfo.ovfEnv`, read through the VMware backdoor (as afterburn does) with
//! `vmware-rpctool` and then `vmtoolsd --cmd` as fallbacks. After a successful run the
//! environment is cleared (unless debug is on) so the secrets in it do not linger.

use std::path::PathBuf;
use std::process::Command;

const KEY: &str = "guestinfo.ovfEnv";

/// Where to read the properties from.
#[derive(Debug, Clone)]
pub enum Source {
    File(PathBuf),
    GuestInfo,
}

/// Why the environment could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    File { path: String, source: std::io::Error },
    #[error("cannot read guestinfo.ovfEnv: {0}; is this a VMware VM with VMware Tools (open-vm-tools) installed?")]
    GuestInfo(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::GuestInfo => f.write_str(KEY),
        }
    }
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

/// Runs one RPC command (`info-get guestinfo.ovfEnv`) through the first tool that exists.
fn rpc(command: &str) -> Result<Option<String>, String> {
    let mut tried = Vec::new();
    for (tool, args) in rpctools() {
        match Command::new(&tool).args(&args).arg(command).output() {
            Ok(out) if out.status.success() => return Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned())),
            Ok(out) => {
                let err = String::from_utf8_lossy(&out.stderr);
                if err.contains("No value found") || err.trim().is_empty() {
                    return Ok(None);
                }
                return Err(format!("{tool}: {}", err.trim()));
            }
            Err(e) => tried.push(format!("{tool}: {e}")),
        }
    }
    Err(tried.join("; "))
}

#[cfg(target_arch = "x86_64")]
fn backdoor() -> Option<String> {
    if std::env::var_os("FIRSTBOOT_RPCTOOL").is_some() || !vmw_backdoor::is_vmware_cpu() {
        return None;
    }
    let mut guard = vmw_backdoor::probe_backdoor_privileged().ok()?;
    let mut chan = guard.open_enhanced_chan().ok()?;
    let value = chan.get_guestinfo(KEY.as_bytes()).ok()??;
    String::from_utf8(value).ok()
}

#[cfg(not(target_arch = "x86_64"))]
fn backdoor() -> Option<String> {
    None
}

fn cleared(text: &str) -> bool {
    let t = text.trim();
    t.is_empty() || t == "NULL"
}

impl Source {
    /// The environment document, or `None` when it is empty or was cleared by an earlier run.
    pub fn read(&self) -> Result<Option<String>, SourceError> {
        let text = match self {
            Source::File(path) => std::fs::read_to_string(path).map_err(|source| SourceError::File {
                path: path.display().to_string(),
                source,
            })?,
            Source::GuestInfo => match backdoor() {
                Some(t) => t,
                None => rpc(&format!("info-get {KEY}"))
                    .map_err(SourceError::GuestInfo)?
                    .unwrap_or_default(),
            },
        };
        Ok((!cleared(&text)).then_some(text))
    }

    /// Clears `guestinfo.ovfEnv` (a file source is left alone); vSphere sets it again at the
    /// next power-on.
    pub fn clear(&self) -> Result<bool, SourceError> {
        match self {
            Source::File(_) => Ok(false),
            Source::GuestInfo => rpc(&format!("info-set {KEY} NULL"))
                .map(|_| true)
                .map_err(SourceError::GuestInfo),
        }
    }
}
