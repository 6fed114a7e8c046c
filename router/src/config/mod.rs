//! The router's configuration: VEBA's RouterConfig YAML, parsed strictly and validated as a
//! whole so every problem is reported at once.

pub mod defaults;
mod depth;
mod model;
mod secret;
mod uri;
mod validate;

use std::path::Path;

use crate::redact;

pub use model::*;
pub use secret::Secret;
pub use uri::{Uri, UrlObject};

/// The only accepted `apiVersion`.
pub const API_VERSION: &str = "event-router.vmware.com/v1alpha1";

/// Why a configuration was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid config {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid config {path}:\n  - {}", problems.join("\n  - "))]
    Invalid { path: String, problems: Vec<String> },
}

impl RouterConfig {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<RouterConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        RouterConfig::from_yaml(&text, &path.display().to_string())
    }

    /// Parses and validates YAML text; `origin` names it in errors. vCenter addresses are
    /// normalised first (see [`normalise_vcenter_address`]); [`RouterConfig::notes`] says what
    /// changed.
    pub fn from_yaml(text: &str, origin: &str) -> Result<RouterConfig, ConfigError> {
        if depth::nesting(text) > depth::MAX_DEPTH {
            return Err(ConfigError::Parse {
                path: origin.to_string(),
                message: format!(
                    "it nests deeper than {} levels, which no RouterConfig needs: check its indentation and brackets",
                    depth::MAX_DEPTH
                ),
            });
        }
        let mut cfg: RouterConfig = serde_norway::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: describe_parse_error(&e),
        })?;
        cfg.normalise();
        let problems = validate::problems(&cfg);
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigError::Invalid {
                path: origin.to_string(),
                problems,
            })
        }
    }

    fn normalise(&mut self) {
        let mut notes = Vec::new();
        let mut fix = |prefix: String, v: &mut VCenterConfig| {
            if let Some(n) = normalise_vcenter_address(&v.address).filter(|n| *n != v.address) {
                notes.push(format!(
                    "{prefix}.address {:?} is used as {:?} (https and /sdk added, as govmomi and VEBA do)",
                    redact::url_credentials(&v.address),
                    redact::url_credentials(&n)
                ));
                v.address = n;
            }
        };
        if let Some(p) = self.event_provider.as_mut() {
            for (section, v) in [("vcenter", p.vcenter.as_mut()), ("vcsim", p.vcsim.as_mut())] {
                if let Some(v) = v {
                    fix(format!("eventProvider.{section}"), v);
                }
            }
        }
        for (i, p) in self.event_providers.iter_mut().enumerate() {
            for (section, v) in [("vcenter", p.vcenter.as_mut()), ("vcsim", p.vcsim.as_mut())] {
                if let Some(v) = v {
                    fix(format!("eventProviders[{i}].{section}"), v);
                }
            }
        }
        self.notes = notes;
    }

    /// The configuration as the YAML file the router reads, secrets included (see
    /// [`Secret::revealed`]): for writing that file, never for a log line or a page.
    pub fn to_file_yaml(&self) -> Result<String, serde_norway::Error> {
        Secret::revealed(|| serde_norway::to_string(self))
    }

    /// The JSON Schema of the configuration file.
    pub fn json_schema() -> serde_json::Value {
        let schema = schemars::schema_for!(RouterConfig);
        let mut v = serde_json::to_value(schema).unwrap_or_default();
        defaults::annotate(&mut v);
        v
    }
}

/// A vCenter address as govmomi's `soap.ParseURL` reads it (and so VEBA's chart and README
/// allow): `https://` when no scheme is given, `/sdk` when the path is empty. `None` when it is
/// not a URL even then (validation names the problem).
pub fn normalise_vcenter_address(address: &str) -> Option<String> {
    let trimmed = address.trim();
    if trimmed.is_empty() {
        return None;
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("https://{trimmed}")
    };
    let mut url = url::Url::parse(&with_scheme).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return None;
    }
    if url.path().is_empty() || url.path() == "/" {
        url.set_path("/sdk");
    }
    Some(url.to_string())
}

fn describe_parse_error(e: &serde_norway::Error) -> String {
    let msg = e.to_string();
    if msg.contains("unknown field") {
        format!("{msg} (remove the key or fix its spelling; `event-router schema` prints every allowed key)")
    } else {
        msg
    }
}

#[cfg(test)]
mod tests;
