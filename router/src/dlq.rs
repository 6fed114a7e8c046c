//! Dead letters, listed and replayed (by `event-router dlq replay` and the web console): sends
//! dead letters again through the processors named in them, as the config defines them. The file is read and checked first (every
//! processor it names must start, or nothing is touched), then moved aside, so the running
//! router keeps appending to a fresh file; letters that fail again, name an unknown processor
//! or cannot be read (not JSON, not UTF-8) are appended back to the dead-letter file as they
//! were, so none is stranded in the moved-aside copy. A replay of one event (by id) keeps every
//! other letter the same way. What happened to each letter is returned, not printed. A replay
//! that was killed half-way leaves its moved-aside copy; [`recover`] puts it back (the router
//! at start, and every replay first).

use std::collections::{BTreeMap, VecDeque};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use cloudevents::AttributesReader;

use crate::config::RouterConfig;
use crate::delivery::dead_letter::{DeadLetter, DeadLetters};
use crate::processors::Processor;

/// What a replay did.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub replayed: usize,
    pub failed: usize,
    pub kept: usize,
    /// What happened to each letter that was looked at, in file order.
    pub outcomes: Vec<Outcome>,
}

/// One letter's fate in a replay.
#[derive(Debug, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    /// Its line in the dead-letter file (from 1).
    pub line: usize,
    /// The event's id, when the line is a dead letter.
    pub event: Option<String>,
    pub processor: Option<String>,
    /// `delivered`, `failed` (written back with the new error) or `kept` (written back as it was).
    pub result: &'static str,
    /// The new error, or why it was kept.
    pub detail: String,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.event, &self.processor) {
            (Some(e), Some(p)) => write!(f, "event {e} -> {p}: {}", self.result)?,
            _ => write!(f, "line {}: {}", self.line, self.result)?,
        }
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

/// Which letters a replay sends.
#[derive(Debug, Clone, Copy)]
pub enum Select<'a> {
    All,
    /// Only the letters of this event id; every other line stays in the file unchanged.
    Event(&'a str),
}

/// The dead-letter file a config writes: deadLetterFile, or the default beside the first
/// checkpoint (see [`RouterConfig::dead_letter_path`]).
pub fn path_for(cfg: &RouterConfig, file: Option<&Path>) -> anyhow::Result<PathBuf> {
    match (file, cfg.dead_letter_path()) {
        (Some(f), _) => Ok(f.to_path_buf()),
        (None, Some(f)) => Ok(f),
        (None, None) => bail!("the config has no deadLetterFile and no checkpointing vCenter (whose checkpointDir holds the default one): give the file with --file"),
    }
}

/// One dead letter as listed, or a line that is not one.
#[derive(Debug, serde::Serialize)]
pub struct Listed {
    pub line: usize,
    #[serde(flatten)]
    pub letter: Option<DeadLetter>,
    /// Why the line is not a dead letter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// The newest `limit` lines of a dead-letter file and how many there are; no file is none.
#[derive(Debug, Default, serde::Serialize)]
pub struct Listing {
    pub total: usize,
    pub letters: Vec<Listed>,
}

/// Reads the dead-letter file at `path` line by line, keeping only the newest `limit` letters
/// (newest first), so a large file costs at most `limit` letters of memory.
pub fn list(path: &Path, limit: usize) -> std::io::Result<Listing> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Listing::default()),
        Err(e) => return Err(e),
    };
    let mut reader = std::io::BufReader::new(file);
    let mut newest: VecDeque<(usize, Vec<u8>)> = VecDeque::with_capacity(limit.min(1024));
    let (mut n, mut total) = (0, 0);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        n += 1;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        total += 1;
        if limit == 0 {
            continue;
        }
        if newest.len() == limit {
            newest.pop_front();
        }
        newest.push_back((n, std::mem::take(&mut buf)));
    }
    let letters = (newest.into_iter().rev())
        .map(|(line, bytes)| match serde_json::from_slice::<DeadLetter>(&bytes) {
            Ok(letter) => Listed {
                line,
                letter: Some(letter),
                unreadable: None,
            },
            Err(e) => Listed {
                line,
                letter: None,
                unreadable: Some(format!("not a dead letter ({e})")),
            },
        })
        .collect();
    Ok(Listing { total, letters })
}

/// Appends one line of the moved-aside copy `aside` back to the dead-letter file, as it was.
fn put_back(back: &DeadLetters, line: &[u8], aside: &Path) -> anyhow::Result<()> {
    let mut raw = line.to_vec();
    raw.push(b'\n');
    back.append(&raw).with_context(|| {
        format!(
            "cannot write {} back; the letters not yet handled are in {}: move them back",
            back.path().display(),
            aside.display()
        )
    })
}

/// Where a replay by process `pid` moves the dead-letter file `path` aside.
fn aside_path(path: &Path, pid: u32) -> PathBuf {
    path.with_extension(format!("replay-{pid}"))
}

/// The moved-aside copies of `path` whose replay is not running any more, with their pids.
/// `at_start`: this process has not replayed yet, so a copy with its own pid is from an earlier
/// process (PID 1 of a restarted container); otherwise that copy may be its replay running.
fn orphaned_asides(path: &Path, at_start: bool) -> Vec<(u32, PathBuf)> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let me = std::process::id();
    let mut found: Vec<(u32, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let pid: u32 = name.to_str()?.rsplit_once(".replay-")?.1.parse().ok()?;
            let candidate = e.path();
            (aside_path(path, pid) == candidate).then_some((pid, candidate))
        })
        .filter(|(pid, _)| {
            if *pid == me {
                at_start
            } else {
                !Path::new("/proc").join(pid.to_string()).exists()
            }
        })
        .collect();
    found.sort();
    found
}

/// Puts back the letters of replays that were interrupted (the router or `dlq replay` stopped
/// or killed half-way left the moved-aside copy): each line goes back into `path` unless a
/// letter of the same processor and event is already there (written back by that replay), so
/// nothing is forgotten; letters that replay had already delivered are kept too and may be
/// sent again (at least once). Returns how many lines went back. `at_start`: see
/// [`orphaned_asides`].
pub fn recover(path: &Path, at_start: bool) -> anyhow::Result<usize> {
    let orphans = orphaned_asides(path, at_start);
    if orphans.is_empty() {
        return Ok(0);
    }
    let key = |line: &[u8]| {
        let letter: DeadLetter = serde_json::from_slice(line).ok()?;
        Some((letter.processor, letter.event.id().to_string()))
    };
    let present = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut seen: std::collections::HashSet<(String, String)> = lines(&present).filter_map(key).collect();
    let back = DeadLetters::new(path);
    let mut restored = 0;
    for (_, aside) in orphans {
        let bytes = std::fs::read(&aside).with_context(|| format!("cannot read {}", aside.display()))?;
        for line in lines(&bytes) {
            if let Some(k) = key(line) {
                if !seen.insert(k) {
                    continue;
                }
            }
            put_back(&back, line, &aside)?;
            restored += 1;
        }
        std::fs::remove_file(&aside).with_context(|| format!("cannot remove {}", aside.display()))?;
    }
    Ok(restored)
}

/// Replays the letters `select` picks from `file` (default: the config's dead-letter file, see
/// [`path_for`]). Letters of an interrupted earlier replay are put back first ([`recover`]).
pub async fn replay(cfg: &RouterConfig, file: Option<&Path>, select: Select<'_>) -> anyhow::Result<Summary> {
    let path = path_for(cfg, file)?;
    recover(&path, false)?;
    let picked = |letter: &DeadLetter| match select {
        Select::All => true,
        Select::Event(id) => letter.event.id() == id,
    };
    // Read and check the file before moving anything: a letter whose processor cannot start
    // stops the replay here, with the file as it was.
    let before = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Summary::default()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let processors: BTreeMap<String, (String, &crate::config::ProcessorConfig)> = cfg
        .processors()
        .into_iter()
        .map(|(k, p)| (p.name.clone(), (k, p)))
        .collect();
    let mut built: BTreeMap<String, Arc<dyn Processor>> = BTreeMap::new();
    for line in lines(&before) {
        let Some(letter) = std::str::from_utf8(line)
            .ok()
            .and_then(|l| serde_json::from_str::<DeadLetter>(l).ok())
        else {
            continue;
        };
        if !picked(&letter) || built.contains_key(&letter.processor) {
            continue;
        }
        if let Some((key, pc)) = processors.get(&letter.processor) {
            let p = crate::run::processor(key, pc).await.with_context(|| {
                format!(
                    "processor {:?} cannot start, so nothing was replayed; {} is left as it was",
                    letter.processor,
                    path.display()
                )
            })?;
            built.insert(letter.processor.clone(), p);
        }
    }

    // Moved aside, so the running router keeps appending to a fresh file; whatever is not
    // delivered goes back, byte for byte when it is not a readable letter.
    let aside = aside_path(&path, std::process::id());
    std::fs::rename(&path, &aside).with_context(|| format!("cannot move {} aside for the replay", path.display()))?;
    let bytes = std::fs::read(&aside).with_context(|| format!("cannot read {}", aside.display()))?;
    let back = DeadLetters::new(&path);
    let keep = |line: &[u8]| put_back(&back, line, &aside);
    let mut summary = Summary::default();
    for (n, line) in lines(&bytes).enumerate() {
        let n = n + 1;
        let kept = |letter: Option<&DeadLetter>, detail: String| Outcome {
            line: n,
            event: letter.map(|l| l.event.id().to_string()),
            processor: letter.map(|l| l.processor.clone()),
            result: "kept",
            detail,
        };
        let letter = match std::str::from_utf8(line) {
            Ok(text) => serde_json::from_str::<DeadLetter>(text).map_err(|e| format!("not a dead letter ({e})")),
            Err(_) => Err("not UTF-8 text, so not a dead letter".to_string()),
        };
        let letter = match letter {
            Ok(l) if picked(&l) => l,
            Ok(_) => {
                keep(line)?;
                continue;
            }
            Err(why) => {
                keep(line)?;
                if matches!(select, Select::All) {
                    summary.outcomes.push(kept(None, why));
                    summary.kept += 1;
                }
                continue;
            }
        };
        if !built.contains_key(&letter.processor) {
            // A letter appended since the check: its processor is started now, or it is kept.
            let started = match processors.get(&letter.processor) {
                Some((key, pc)) => crate::run::processor(key, pc)
                    .await
                    .map_err(|e| format!("processor {:?} cannot start: {e:#}", letter.processor)),
                None => Err(format!("processor {:?} is not in the config", letter.processor)),
            };
            match started {
                Ok(p) => {
                    built.insert(letter.processor.clone(), p);
                }
                Err(why) => {
                    keep(line)?;
                    summary.outcomes.push(kept(Some(&letter), why));
                    summary.kept += 1;
                    continue;
                }
            }
        }
        let Some(p) = built.get(&letter.processor) else {
            continue;
        };
        let mut outcome = Outcome {
            line: n,
            event: Some(letter.event.id().to_string()),
            processor: Some(letter.processor.clone()),
            result: "delivered",
            detail: String::new(),
        };
        match p.process(&letter.event).await {
            Ok(()) => {
                summary.replayed += 1;
                summary.outcomes.push(outcome);
            }
            Err(e) => {
                outcome.result = "failed";
                outcome.detail = e.to_string();
                summary.outcomes.push(outcome);
                back.write(&DeadLetter {
                    time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    error: e.to_string(),
                    ..letter
                })
                .with_context(|| {
                    format!(
                        "cannot write {} back; the letters not yet handled are in {}: move it back",
                        path.display(),
                        aside.display()
                    )
                })?;
                summary.failed += 1;
            }
        }
    }
    std::fs::remove_file(&aside).with_context(|| format!("cannot remove {}", aside.display()))?;
    Ok(summary)
}

/// The non-empty lines of a dead-letter file, as bytes.
fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    fn letter(id: &str) -> String {
        let event = EventBuilderV10::new()
            .id(id)
            .ty("com.vmware.event.router/event")
            .source("https://vc/sdk")
            .build()
            .unwrap();
        serde_json::to_string(&DeadLetter {
            time: "2026-12-01T00:00:00.000Z".into(),
            processor: "sink".into(),
            error: "400".into(),
            event,
        })
        .unwrap()
    }

    #[test]
    fn an_interrupted_replay_is_put_back_once_and_a_running_one_is_left_alone() {
        let dir = std::env::temp_dir().join(format!("dlq-recover-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dead-letters.jsonl");
        // A replay that died: its process has exited.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        // One that is running: a live process.
        let mut live = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        // The dead replay had written "a" back (it failed again) before it was killed.
        std::fs::write(&path, format!("{}\n", letter("a"))).unwrap();
        std::fs::write(
            aside_path(&path, dead),
            format!("{}\nnot json\n{}\n", letter("a"), letter("b")),
        )
        .unwrap();
        std::fs::write(aside_path(&path, live.id()), format!("{}\n", letter("c"))).unwrap();
        std::fs::write(aside_path(&path, std::process::id()), format!("{}\n", letter("d"))).unwrap();

        assert_eq!(recover(&path, false).unwrap(), 2, "b and the unreadable line");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\nnot json\n{}\n", letter("a"), letter("b")));
        assert!(!aside_path(&path, dead).exists());
        assert!(aside_path(&path, live.id()).exists(), "a running replay's copy stays");
        assert!(
            aside_path(&path, std::process::id()).exists(),
            "this process's own replay may be running"
        );

        // At start, this process has not replayed: a copy with its pid is an earlier process's.
        assert_eq!(recover(&path, true).unwrap(), 1);
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .ends_with(&format!("{}\n", letter("d"))));
        live.kill().unwrap();
        live.wait().unwrap();
        assert_eq!(recover(&path, false).unwrap(), 1, "once its process is gone");
        assert_eq!(list(&path, 10).unwrap().total, 5);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn list_keeps_the_newest_first_and_names_unreadable_lines() {
        let dir = std::env::temp_dir().join(format!("dlq-list-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dead-letters.jsonl");
        assert_eq!(list(&path, 10).unwrap().total, 0, "no file: no letters");
        let text = format!("{}\n\n{}\nnot json\n{}\n", letter("a"), letter("b"), letter("c"));
        std::fs::write(&path, text).unwrap();

        let all = list(&path, 10).unwrap();
        assert_eq!(all.total, 4);
        let lines: Vec<usize> = all.letters.iter().map(|l| l.line).collect();
        assert_eq!(
            lines,
            [5, 4, 3, 1],
            "newest first, blank lines skipped but counted as lines"
        );
        assert!(all.letters[1].letter.is_none());
        assert!(all.letters[1]
            .unreadable
            .as_deref()
            .unwrap()
            .starts_with("not a dead letter"));
        assert_eq!(all.letters[0].letter.as_ref().unwrap().event.id(), "c");

        let two = list(&path, 2).unwrap();
        assert_eq!(two.total, 4);
        assert_eq!(two.letters.len(), 2);
        assert_eq!(two.letters[0].line, 5);
        let json = serde_json::to_value(&two.letters[0]).unwrap();
        assert_eq!(json["processor"], "sink");
        assert_eq!(json["event"]["id"], "c");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
