//! The status file (`/var/lib/firstboot/status.json`): the last run's steps, their durations
//! and errors, written after every step so a run that dies still leaves a trail, and printed by
//! `firstboot status`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::shown::one_line;

pub use crate::paths::STATUS;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Step {
    pub name: String,
    /// `ok`, `failed` or `skipped`.
    pub result: String,
    pub detail: String,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Status {
    pub started: String,
    pub finished: Option<String>,
    /// `running`, `ok`, `invalid` (properties rejected, nothing changed) or `failed`.
    pub result: String,
    /// Where the properties came from.
    pub source: String,
    pub steps: Vec<Step>,
    /// Every invalid property, when the result is `invalid`.
    #[serde(default)]
    pub problems: Vec<String>,
    /// Valid settings that need attention (an expiring certificate, ...).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// What the run did that an operator should know (a generated password's whereabouts).
    #[serde(default)]
    pub notes: Vec<String>,
    #[serde(default)]
    pub error: Option<String>,
}

/// Why the status file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("{path} is not a firstboot status file: {detail}")]
    Parse { path: String, detail: String },
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
}

pub fn path(root: &Path) -> PathBuf {
    root.join(STATUS.trim_start_matches('/'))
}

impl Status {
    /// Writes the status atomically, readable by all (0644): the router's console shows it
    /// (its pod runs as uid 65532), and it never holds a secret (property values are not in it;
    /// tests/e2e/firstboot_run.rs checks a pasted private key reaches neither it nor a log).
    pub fn save(&self, root: &Path) -> std::io::Result<()> {
        let p = path(root);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::write::file(&p, &json, 0o644)
    }

    pub fn load(root: &Path) -> Result<Option<Status>, StatusError> {
        let p = path(root);
        match std::fs::read(&p) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StatusError::Parse {
                    path: p.display().to_string(),
                    detail: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StatusError::Read {
                path: p.display().to_string(),
                source,
            }),
        }
    }

    /// The human-readable report `firstboot status` prints; every recorded text is shown on one
    /// line (`shown::one_line`), since errors and warnings may quote the OVF environment.
    pub fn report(&self) -> String {
        let mut s = format!(
            "last run: started {}, {}{}\nproperties from: {}\n\n",
            one_line(&self.started),
            one_line(&self.result),
            self.finished
                .as_ref()
                .map(|f| format!(" (finished {})", one_line(f)))
                .unwrap_or_else(|| " (did not finish: still running, or it was killed)".into()),
            one_line(&self.source)
        );
        for step in &self.steps {
            s.push_str(&format!(
                "  {:<10} {:<8} {:>7.1} s  {}\n",
                one_line(&step.name),
                one_line(&step.result),
                step.seconds,
                one_line(&step.detail)
            ));
        }
        if !self.notes.is_empty() {
            s.push_str("\nnotes:\n");
            for n in &self.notes {
                s.push_str(&format!("  - {}\n", one_line(n)));
            }
        }
        if !self.warnings.is_empty() {
            s.push_str("\nwarnings:\n");
            for w in &self.warnings {
                s.push_str(&format!("  - {}\n", one_line(w)));
            }
        }
        if !self.problems.is_empty() {
            s.push_str("\ninvalid properties (fix them in the VM's vApp Options, then power-cycle):\n");
            for p in &self.problems {
                s.push_str(&format!("  - {}\n", one_line(p)));
            }
        }
        if let Some(e) = &self.error {
            s.push_str(&format!("\nerror: {}\n", one_line(e)));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_keeps_each_recorded_text_on_its_line() {
        let status = Status {
            started: "2026-01-01T00:00:00Z".into(),
            result: "invalid".into(),
            source: "guestinfo.ovfEnv".into(),
            steps: vec![Step {
                name: "validate".into(),
                result: "failed".into(),
                detail: "the OVF environment sets guestinfo.x\nerror: forged twice".into(),
                seconds: 0.0,
            }],
            error: Some("invalid\r\nerror: forged".into()),
            ..Status::default()
        };
        let report = status.report();
        assert!(
            report.contains("guestinfo.x\\nerror: forged twice\n")
                && report.contains("\nerror: invalid\\r\\nerror: forged\n"),
            "{report}"
        );
        assert_eq!(
            report.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{report}"
        );
    }
}
