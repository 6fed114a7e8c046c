//! Material that rendering needs but cannot derive from the properties alone: the root
//! password's crypt hash (salted, so it is reused while it still matches the password) and the
//! TLS certificate (the given one, else the self-signed one from an earlier run while it still
//! covers the FQDN and IP, else a new one). Loading it reads the root folder; rendering stays pure.

use ovf::keys;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine as _;

use crate::ovfenv::OvfEnv;
use crate::{password, tls};

/// Where the appliance keeps its TLS certificate and key.
pub const TLS_CERT: &str = "/etc/event-router/tls/tls.crt";
pub const TLS_KEY: &str = "/etc/event-router/tls/tls.key";

/// Re-issue a self-signed certificate that expires within this many seconds.
const RENEW_BEFORE: i64 = 30 * 86_400;

/// Inputs to rendering that come from the machine or from randomness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    /// The crypt hash to store for root.
    pub root_hash: String,
    /// The current `/etc/shadow` and its mode, when there is one.
    pub shadow: Option<(String, u32)>,
    pub tls_cert: String,
    pub tls_key: String,
    /// True when the certificate is the appliance's own self-signed one.
    pub self_signed: bool,
    /// Today, in days since the epoch (the shadow file's last-change field).
    pub today: i64,
}

/// Why the material could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum MaterialError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{0}")]
    Generate(String),
}

fn read_optional(root: &Path, path: &str) -> Result<Option<(String, u32)>, MaterialError> {
    let full = root.join(path.trim_start_matches('/'));
    let err = |source| MaterialError::Read {
        path: full.display().to_string(),
        source,
    };
    match std::fs::read_to_string(&full) {
        Ok(text) => {
            let mode = std::fs::metadata(&full).map_err(err)?.permissions().mode() & 0o7777;
            Ok(Some((text, mode)))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(err(e)),
    }
}

/// Decodes a Base64 PEM property (validation has checked that it decodes).
pub fn decode_pem(b64: &str) -> Option<String> {
    let compact: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(compact).ok()?;
    String::from_utf8(bytes).ok()
}

/// Prepares the material for `env` (already validated) on the system under `root`.
pub fn load(env: &OvfEnv, root: &Path) -> Result<Material, MaterialError> {
    let now = chrono::Utc::now().timestamp();
    let shadow = read_optional(root, "/etc/shadow")?;
    let pw = env.get(keys::ROOT_PASSWORD);
    let current = shadow.as_ref().and_then(|(s, _)| password::root_hash(s));
    let root_hash = match current {
        Some(h) if password::verifies(&pw, h) => h.to_string(),
        _ => password::hash(&pw).map_err(|e| MaterialError::Generate(e.to_string()))?,
    };
    let fqdn = env.get(keys::HOSTNAME);
    let ip = env.get(keys::IPADDRESS);
    let custom = (
        decode_pem(&env.get(keys::CUSTOM_TLS_CA_CERT)),
        decode_pem(&env.get(keys::CUSTOM_TLS_PRIVATE_KEY)),
    );
    let (tls_cert, tls_key, self_signed) = if let (Some(cert), Some(key)) = custom {
        (cert, key, false)
    } else {
        let cert = read_optional(root, TLS_CERT)?.map(|(c, _)| c);
        let key = read_optional(root, TLS_KEY)?.map(|(k, _)| k);
        let reusable = match (&cert, &key) {
            (Some(c), Some(k)) => tls::check_pair(c, k).is_ok_and(|info| {
                info.names.contains(&fqdn)
                    && (ip.is_empty() || info.names.contains(&ip))
                    && info.not_after > now + RENEW_BEFORE
            }),
            _ => false,
        };
        match (cert, key) {
            (Some(c), Some(k)) if reusable => (c, k, true),
            _ => {
                let (c, k) =
                    tls::self_signed(&fqdn, ip.parse().ok()).map_err(|e| MaterialError::Generate(e.to_string()))?;
                (c, k, true)
            }
        }
    };
    Ok(Material {
        root_hash,
        shadow,
        tls_cert,
        tls_key,
        self_signed,
        today: now / 86_400,
    })
}
