//! The router's configuration: VEBA's RouterConfig YAML, parsed strictly and validated as a
//! whole so every problem is reported at once.

mod model;
mod secret;
mod uri;
mod validate;

use std::path::Path;

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

    /// Parses and validates YAML text; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<RouterConfig, ConfigError> {
        let cfg: RouterConfig = serde_norway::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: describe_parse_error(&e),
        })?;
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

    /// The JSON Schema of the configuration file.
    pub fn json_schema() -> serde_json::Value {
        let schema = schemars::schema_for!(RouterConfig);
        serde_json::to_value(schema).unwrap_or_default()
    }
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
