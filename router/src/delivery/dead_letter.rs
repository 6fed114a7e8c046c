//! The dead-letter file: events a processor gave up on, one JSON line each with the processor's
//! name, the last error and the whole CloudEvent, so nothing a sink refused is lost and
//! `event-router dlq replay` can send it again. Each line is appended whole, with O_APPEND, in
//! one write, and fsynced; the file is opened per write (never through a symlink) and locked
//! (`flock`), and a writer that finds the name now leads to another file (a replay moved it
//! aside) opens it again, so once a replay holds the lock on the moved file no append can land
//! in it. A line cut short by a failed write (a full disk) is cut off again before the next one,
//! so lines are never torn or glued together.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cloudevents::Event;
use serde::Serialize;
use serde_json::value::RawValue;

/// One dead letter.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    /// When the processor gave up (RFC 3339).
    pub time: String,
    /// The processor's `name` in the config.
    pub processor: String,
    pub error: String,
    #[serde(serialize_with = "crate::cloudevent::serialize_structured")]
    pub event: Event,
}

/// Why a line is not a dead letter.
#[derive(Debug, thiserror::Error)]
pub enum LetterError {
    #[error("not a dead letter ({0})")]
    Shape(#[from] serde_json::Error),
    #[error("its event is not a CloudEvent ({0})")]
    Event(#[from] crate::cloudevent::parse::ParseError),
}

impl DeadLetter {
    /// Reads one line of the dead-letter file (the event without a tree: see
    /// [`crate::cloudevent::parse`]).
    pub fn parse(line: &[u8]) -> Result<DeadLetter, LetterError> {
        #[derive(serde::Deserialize)]
        struct Raw<'a> {
            time: String,
            processor: String,
            error: String,
            #[serde(borrow)]
            event: &'a RawValue,
        }
        let raw: Raw = serde_json::from_slice(line)?;
        Ok(DeadLetter {
            time: raw.time,
            processor: raw.processor,
            error: raw.error,
            event: crate::cloudevent::parse::event(raw.event.get().as_bytes())?,
        })
    }
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

    /// Appends whole lines (`bytes` ends with a newline); on failure the file is left as it
    /// was before the call.
    pub fn append(&self, bytes: &[u8]) -> std::io::Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = open_locked(&self.path)?;
        let len = whole_lines(&mut f)?;
        let written = f.write_all(bytes).and_then(|()| f.sync_data());
        if written.is_err() {
            // Take back what part of the line made it, so the next write starts a line.
            let _ = f.set_len(len);
        }
        written
    }
}

impl DeadLetters {
    /// Appends one line read from `from` (without its newline; one is added) in chunks, so a
    /// line too long to hold is copied without holding it; on failure the file is left as it
    /// was before the call.
    pub fn append_from(&self, from: &mut impl std::io::Read) -> std::io::Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut f = open_locked(&self.path)?;
        let len = whole_lines(&mut f)?;
        let written = std::io::copy(from, &mut f)
            .and_then(|_| f.write_all(b"\n"))
            .and_then(|()| f.sync_data());
        if written.is_err() {
            let _ = f.set_len(len);
        }
        written
    }
}

/// Cuts a torn last line (no newline: a write that failed half-way) off the file; returns the
/// length of the whole lines.
fn whole_lines(f: &mut std::fs::File) -> std::io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(0);
    }
    // Look back in chunks for the last newline.
    let mut end = len;
    let mut buf = vec![0u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            let keep = start + i as u64 + 1;
            if keep != len {
                tracing::warn!(
                    bytes = len - keep,
                    "the dead-letter file ended in a torn line (a write failed half-way); it is cut off"
                );
                f.set_len(keep)?;
            }
            return Ok(keep);
        }
        end = start;
    }
    tracing::warn!(
        bytes = len,
        "the dead-letter file holds no whole line (a write failed half-way); it is emptied"
    );
    f.set_len(0)?;
    Ok(0)
}

/// An exclusive `flock` on an open file, released when the file is closed.
#[cfg(unix)]
pub fn lock(f: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: flock on a file descriptor this process owns; no memory is shared.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(not(unix))]
pub fn lock(_: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}

/// Whether `f` is still the file at `path` (a replay may have moved it aside since it was opened).
#[cfg(unix)]
fn still_named(f: &std::fs::File, path: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let open = f.metadata()?;
    Ok(match std::fs::symlink_metadata(path) {
        Ok(named) => named.ino() == open.ino() && named.dev() == open.dev(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    })
}

#[cfg(not(unix))]
fn still_named(_: &std::fs::File, _: &Path) -> std::io::Result<bool> {
    Ok(true)
}

/// The file at `path`, opened to append and locked, and still the file of that name.
fn open_locked(path: &Path) -> std::io::Result<std::fs::File> {
    loop {
        let f = open_append(path)?;
        lock(&f)?;
        if still_named(&f, path)? {
            return Ok(f);
        }
    }
}

#[cfg(unix)]
fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

#[cfg(not(unix))]
fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
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
        let lines: Vec<DeadLetter> = text.lines().map(|l| DeadLetter::parse(l.as_bytes()).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].processor, "p1");
        assert_eq!(lines[0].event.id(), "7");
        let written = |e: &Event| serde_json::to_value(crate::cloudevent::Structured(e)).unwrap();
        assert_eq!(written(&lines[0].event), written(&event), "the same event");

        // A torn tail (a write that failed half-way) is cut off before the next line.
        let mut f = std::fs::OpenOptions::new().append(true).open(dl.path()).unwrap();
        f.write_all(b"{\"time\":\"2026-").unwrap();
        drop(f);
        dl.append(b"{\"x\":1}\n").unwrap();
        let text = std::fs::read_to_string(dl.path()).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.ends_with("}\n{\"x\":1}\n"), "{text}");

        // Never through a symlink (a planted link cannot redirect letters elsewhere).
        #[cfg(unix)]
        {
            let link = dir.join("link.jsonl");
            std::os::unix::fs::symlink(dl.path(), &link).unwrap();
            let e = DeadLetters::new(&link).append(b"{}\n").unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
