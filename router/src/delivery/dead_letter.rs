//! The dead-letter file: events a processor gave up on, one JSON line each with the processor's
//! name, the last error and the whole CloudEvent, so nothing a sink refused is lost and
//! `event-router dlq replay` can send it again. Each line is appended with O_APPEND and fsynced;
//! the file is opened per write, so a replay can move it aside safely while the router runs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cloudevents::Event;
use serde::{Deserialize, Serialize};

/// One dead letter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadLetter {
    /// When the processor gave up (RFC 3339).
    pub time: String,
    /// The processor's `name` in the config.
    pub processor: String,
    pub error: String,
    pub event: Event,
}

/// Appends dead letters to one file.
#[derive(Debug)]
pub struct DeadLetters {
    path: PathBuf,
    lock: Mutex<()>,
}

impl DeadLetters {
    pub fn new(path: impl Into<PathBuf>) -> DeadLetters {
        DeadLetters {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one dead letter and fsyncs it.
    pub fn write(&self, letter: &DeadLetter) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(letter).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.append(&line)
    }

    /// Appends raw bytes (a line kept as it was).
    pub fn append(&self, bytes: &[u8]) -> std::io::Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = open_append(&self.path)?;
        f.write_all(bytes)?;
        f.sync_data()
    }
}

#[cfg(unix)]
fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().append(true).create(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{AttributesReader, EventBuilder, EventBuilderV10};

    #[test]
    fn letters_are_json_lines_with_the_whole_event() {
        let dir = std::env::temp_dir().join(format!("dlq-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let dl = DeadLetters::new(dir.join("sub/dead.jsonl"));
        let event = EventBuilderV10::new()
            .id("7")
            .source("https://vc/sdk")
            .ty("com.vmware.event.router/event")
            .subject("VmPoweredOffEvent")
            .data("application/json", serde_json::json!({"Key": 7}))
            .build()
            .unwrap();
        for n in 0..2 {
            dl.write(&DeadLetter {
                time: "2026-11-30T10:00:00Z".into(),
                processor: format!("p{n}"),
                error: "sink rejected event 7: HTTP 400".into(),
                event: event.clone(),
            })
            .unwrap();
        }
        let text = std::fs::read_to_string(dl.path()).unwrap();
        let lines: Vec<DeadLetter> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].processor, "p1");
        assert_eq!(lines[0].event.id(), "7");
        assert_eq!(lines[0].event.data(), event.data());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
