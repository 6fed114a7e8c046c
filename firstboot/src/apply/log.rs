//! Step logging: every step's start, end and duration goes to the console (stdout, which the
//! systemd unit sends to the journal and the console) and is appended to
//! `/var/log/bootstrap.log`; the status file is updated after each step. Callers never pass
//! secrets here.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::status::{Status, Step};

pub const BOOTSTRAP_LOG: &str = "/var/log/bootstrap.log";

/// Why a step failed: the line the console, the log and `firstboot status` show.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct StepError(pub String);

impl From<String> for StepError {
    fn from(s: String) -> Self {
        StepError(s)
    }
}

impl From<super::systemd::SystemctlError> for StepError {
    fn from(e: super::systemd::SystemctlError) -> Self {
        StepError(e.to_string())
    }
}

impl From<super::kube::WaitError> for StepError {
    fn from(e: super::kube::WaitError) -> Self {
        StepError(e.to_string())
    }
}

pub struct Log {
    file: Option<std::fs::File>,
    root: PathBuf,
    pub status: Status,
    /// Debugging is on: [`Log::debug`] lines are written too.
    pub verbose: bool,
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Log {
    pub fn open(root: &Path, source: String) -> Log {
        let path = root.join(BOOTSTRAP_LOG.trim_start_matches('/'));
        let file = path
            .parent()
            .and_then(|d| std::fs::create_dir_all(d).ok())
            .and_then(|_| {
                use std::os::unix::fs::OpenOptionsExt;
                // Root only: it holds the appliance's settings (never a secret, but private).
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(&path)
                    .ok()
            });
        let mut log = Log {
            file,
            verbose: false,
            root: root.to_path_buf(),
            status: Status {
                started: now(),
                result: "running".into(),
                source,
                ..Status::default()
            },
        };
        if log.file.is_none() {
            log.line(&format!("warning: cannot append to {}", path.display()));
        }
        log.save();
        log
    }

    /// One line to the console and the log file. Control characters in `text` are written as
    /// escapes (see `shown::one_line`), so text quoted from the OVF environment (a duplicated
    /// key, a value in an error) cannot end the line and forge another.
    pub fn line(&mut self, text: &str) {
        let line = format!("[{}] firstboot: {}", now(), crate::shown::one_line(text));
        println!("{line}");
        if let Some(f) = &mut self.file {
            let _ = writeln!(f, "{line}");
        }
    }

    /// A detail line, written only while Debugging is on (never a secret either).
    pub fn debug(&mut self, text: &str) {
        if self.verbose {
            self.line(&format!("debug: {text}"));
        }
    }

    fn save(&mut self) {
        if let Err(e) = self.status.save(&self.root) {
            let msg = format!("warning: cannot write the status file: {e}");
            println!("{msg}");
        }
    }

    /// Runs one step: logs its start and end with the duration, records it in the status file.
    /// `f` returns the detail line on success.
    pub fn step<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut Log) -> Result<(T, String), StepError>,
    ) -> Result<T, StepError> {
        self.line(&format!("step {name}: started"));
        let start = Instant::now();
        let result = f(self);
        let seconds = start.elapsed().as_secs_f64();
        let (outcome, detail) = match &result {
            Ok((_, d)) => ("ok", d.clone()),
            Err(e) => ("failed", e.0.clone()),
        };
        self.line(&format!("step {name}: {outcome} in {seconds:.1} s: {detail}"));
        self.status.steps.push(Step {
            name: name.to_string(),
            result: outcome.to_string(),
            detail,
            seconds: (seconds * 10.0).round() / 10.0,
        });
        self.save();
        result.map(|(t, _)| t)
    }

    /// Records a step that did not need to run.
    pub fn skip(&mut self, name: &str, why: &str) {
        self.line(&format!("step {name}: skipped: {why}"));
        self.status.steps.push(Step {
            name: name.to_string(),
            result: "skipped".into(),
            detail: why.to_string(),
            seconds: 0.0,
        });
        self.save();
    }

    /// Ends the run with `result` (and an error message when it failed).
    pub fn finish(&mut self, result: &str, error: Option<String>) {
        self.status.result = result.to_string();
        self.status.error = error;
        self.status.finished = Some(now());
        self.line(&format!("run {result}"));
        self.save();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_with_an_embedded_newline_stays_one_physical_line() {
        let root = std::env::temp_dir().join(format!("firstboot-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let mut log = Log::open(&root, "test".into());
        // What a duplicated key written `x&#10;[...] firstboot: run ok` in the XML would carry.
        log.line("the OVF environment sets guestinfo.x\n[2026-01-01T00:00:00Z] firstboot: run ok twice");
        drop(log);
        let text = std::fs::read_to_string(root.join(BOOTSTRAP_LOG.trim_start_matches('/'))).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains("guestinfo.x\\n[2026-01-01T00:00:00Z] firstboot: run ok twice"),
            "{text}"
        );
    }
}
