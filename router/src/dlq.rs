//! Dead letters, listed and replayed (by `event-router dlq replay` and the web console): sends
//! dead letters again through the processors named in them, as the config defines them.
//!
//! - **Bounded memory.** The file is read line by line, never whole: a list keeps only the
//!   newest letters' heads (time, processor, error, the event's attributes, each cut at
//!   [`FIELD_CHARS`]) and one letter is fetched whole on demand ([`letter`]); a replay holds one
//!   letter at a time. A line longer than [`MAX_LINE`] is never held: it is listed as such, and a
//!   replay copies it back unread.
//! - **One replay at a time.** A replay holds a process-wide lock (also across a reload) and a
//!   `flock` on `<file>.lock` (against `dlq replay` in another process). It reads and checks the
//!   file first (every processor it names must start, or nothing is touched), then moves it
//!   aside to `<file>.replay-<pid>` (never over an existing copy: that is put back first, see
//!   [`recover`]) and takes the moved file's write lock once, so no append of the running router
//!   can land in it afterwards (see `delivery::dead_letter`). Letters that fail again, name an
//!   unknown processor or cannot be read are appended back to the dead-letter file as they were,
//!   so none is stranded in the copy; a replay of one event (by id) keeps every other letter the
//!   same way. What happened to each letter is returned (the first [`MAX_OUTCOMES`]), not printed.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use cloudevents::AttributesReader;
use serde::{Deserialize, Serialize};

use crate::config::RouterConfig;
use crate::delivery::dead_letter::{DeadLetter, DeadLetters};
use crate::processors::Processor;

/// Longest line read whole (a letter holds one event: far more than any source accepts by
/// default).
pub const MAX_LINE: usize = 16 << 20;
/// Characters of each listed field (error, id, type, ...); longer ones are cut with `…`.
pub const FIELD_CHARS: usize = 1024;
/// Outcomes a replay reports one by one; the counts cover every letter.
pub const MAX_OUTCOMES: usize = 1000;
/// Bytes of outcomes a replay reports (each outcome's fields are cut to [`FIELD_CHARS`]
/// characters, so a file of letters with huge ids costs no more).
pub const MAX_OUTCOME_BYTES: usize = 1 << 20;

/// What a replay did.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub replayed: usize,
    pub failed: usize,
    pub kept: usize,
    /// What happened to each letter that was looked at, in file order (the first
    /// [`MAX_OUTCOMES`]).
    pub outcomes: Vec<Outcome>,
    /// Outcomes beyond [`MAX_OUTCOMES`] (or [`MAX_OUTCOME_BYTES`]), counted but not listed.
    pub outcomes_omitted: usize,
    /// The bytes of `outcomes` so far.
    #[serde(skip)]
    outcome_bytes: usize,
}

impl Summary {
    /// Keeps `outcome` (its fields cut) while fewer than [`MAX_OUTCOMES`] and
    /// [`MAX_OUTCOME_BYTES`] are kept, else counts it.
    fn record(&mut self, outcome: Outcome) {
        let outcome = Outcome {
            event: outcome.event.map(cut),
            processor: outcome.processor.map(cut),
            detail: cut(outcome.detail),
            ..outcome
        };
        let size = outcome.event.as_ref().map_or(0, String::len)
            + outcome.processor.as_ref().map_or(0, String::len)
            + outcome.detail.len()
            + 128;
        if self.outcomes.len() < MAX_OUTCOMES && self.outcome_bytes + size <= MAX_OUTCOME_BYTES {
            self.outcome_bytes += size;
            self.outcomes.push(outcome);
        } else {
            self.outcomes_omitted += 1;
        }
    }
}

/// One letter's fate in a replay.
#[derive(Debug, PartialEq, Eq, Serialize)]
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

// ------------------------------------------------------------------------------------ lines

/// One non-blank line of the file.
enum Line {
    /// At most [`MAX_LINE`] bytes, without its newline.
    Text(Vec<u8>),
    /// Longer: where it starts and how long it is (newline excluded).
    Long { start: u64, len: u64 },
}

/// The non-blank lines of a dead-letter file with their numbers (blank ones count), holding at
/// most [`MAX_LINE`] bytes at a time.
struct Lines<R> {
    r: BufReader<R>,
    pos: u64,
    n: usize,
    max: usize,
}

impl<R: Read> Lines<R> {
    fn new(r: R) -> Lines<R> {
        Lines {
            r: BufReader::with_capacity(64 * 1024, r),
            pos: 0,
            n: 0,
            max: MAX_LINE,
        }
    }

    fn next_line(&mut self) -> std::io::Result<Option<(usize, Line)>> {
        loop {
            let start = self.pos;
            let mut buf = Vec::new();
            let mut len: u64 = 0;
            let mut long = false;
            let mut ended = false;
            loop {
                let chunk = self.r.fill_buf()?;
                if chunk.is_empty() {
                    break;
                }
                let (take, newline) = match chunk.iter().position(|b| *b == b'\n') {
                    Some(i) => (i, true),
                    None => (chunk.len(), false),
                };
                len += take as u64;
                if !long && buf.len() + take > self.max {
                    long = true;
                    buf = Vec::new();
                }
                if !long {
                    buf.extend_from_slice(&chunk[..take]);
                }
                let used = take + usize::from(newline);
                self.r.consume(used);
                self.pos += used as u64;
                if newline {
                    ended = true;
                    break;
                }
            }
            if len == 0 && !ended {
                return Ok(None);
            }
            self.n += 1;
            if long {
                return Ok(Some((self.n, Line::Long { start, len })));
            }
            if !buf.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some((self.n, Line::Text(buf))));
            }
            if !ended {
                return Ok(None);
            }
        }
    }
}

fn open_lines(path: &Path) -> std::io::Result<Option<Lines<std::fs::File>>> {
    match std::fs::File::open(path) {
        Ok(f) => Ok(Some(Lines::new(f))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn too_long(len: u64) -> String {
    format!("a line of {len} bytes, longer than the {MAX_LINE} a dead letter is read up to")
}

// ------------------------------------------------------------------------------------ list

/// A letter's head: what a list shows and a replay needs to plan (no event data is read).
#[derive(Debug, Deserialize)]
struct Head {
    #[serde(default)]
    time: String,
    processor: String,
    #[serde(default)]
    error: String,
    event: EventHead,
}

#[derive(Debug, Deserialize)]
struct EventHead {
    id: String,
    #[serde(rename = "type", default)]
    ty: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    time: Option<String>,
}

fn head(line: &[u8]) -> Result<Head, serde_json::Error> {
    serde_json::from_slice(line)
}

/// `s` cut to [`FIELD_CHARS`] characters.
fn cut(s: String) -> String {
    match s.char_indices().nth(FIELD_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// A listed event: its attributes, not its data.
#[derive(Debug, Serialize)]
pub struct ListedEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub source: String,
    pub subject: Option<String>,
    pub time: Option<String>,
}

/// One dead letter as listed (fetch it whole with [`letter`]), or a line that is not one.
#[derive(Debug, Serialize)]
pub struct Listed {
    pub line: usize,
    /// The line's length in bytes.
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<ListedEvent>,
    /// Why the line is not a dead letter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

impl Listed {
    fn from_line(line: usize, text: &[u8]) -> Listed {
        match head(text) {
            Ok(h) => Listed {
                line,
                bytes: text.len() as u64,
                time: Some(cut(h.time)),
                processor: Some(cut(h.processor)),
                error: Some(cut(h.error)),
                event: Some(ListedEvent {
                    id: cut(h.event.id),
                    ty: cut(h.event.ty),
                    source: cut(h.event.source),
                    subject: h.event.subject.map(cut),
                    time: h.event.time.map(cut),
                }),
                unreadable: None,
            },
            Err(e) => Listed::unreadable(line, text.len() as u64, format!("not a dead letter ({e})")),
        }
    }

    fn unreadable(line: usize, bytes: u64, why: String) -> Listed {
        Listed {
            line,
            bytes,
            time: None,
            processor: None,
            error: None,
            event: None,
            unreadable: Some(why),
        }
    }
}

/// The newest `limit` letters of a dead-letter file and how many there are; no file is none.
#[derive(Debug, Default, Serialize)]
pub struct Listing {
    pub total: usize,
    pub letters: Vec<Listed>,
}

/// Reads the dead-letter file at `path` line by line, keeping the heads of the newest `limit`
/// letters (newest first): at most one line and `limit` heads in memory.
pub fn list(path: &Path, limit: usize) -> std::io::Result<Listing> {
    let Some(mut lines) = open_lines(path)? else {
        return Ok(Listing::default());
    };
    let mut newest: VecDeque<Listed> = VecDeque::with_capacity(limit.min(1024));
    let mut total = 0;
    while let Some((n, line)) = lines.next_line()? {
        total += 1;
        if limit == 0 {
            continue;
        }
        if newest.len() == limit {
            newest.pop_front();
        }
        newest.push_back(match line {
            Line::Text(t) => Listed::from_line(n, &t),
            Line::Long { len, .. } => Listed::unreadable(n, len, too_long(len)),
        });
    }
    Ok(Listing {
        total,
        letters: newest.into_iter().rev().collect(),
    })
}

/// Why one letter could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum LetterError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("line {0} is not in the dead-letter file (any more): reload the list")]
    NoLine(usize),
    #[error("line {line} holds event {found:?}, not {wanted:?}: the file changed, reload the list")]
    Changed { line: usize, wanted: String, found: String },
    #[error("line {line} is {}", too_long(*len))]
    TooLong { line: usize, len: u64 },
}

/// Line `line` of the dead-letter file as it is written (one JSON letter), checked to hold the
/// event `id` when one is given.
pub fn letter(path: &Path, line: usize, id: Option<&str>) -> Result<Vec<u8>, LetterError> {
    let read = |source| LetterError::Read {
        path: path.display().to_string(),
        source,
    };
    let Some(mut lines) = open_lines(path).map_err(read)? else {
        return Err(LetterError::NoLine(line));
    };
    while let Some((n, found)) = lines.next_line().map_err(read)? {
        if n < line {
            continue;
        }
        if n > line {
            break;
        }
        let text = match found {
            Line::Text(t) => t,
            Line::Long { len, .. } => return Err(LetterError::TooLong { line, len }),
        };
        if let Some(wanted) = id {
            let found = head(&text).map(|h| h.event.id).unwrap_or_default();
            if found != wanted {
                return Err(LetterError::Changed {
                    line,
                    wanted: wanted.to_string(),
                    found,
                });
            }
        }
        return Ok(text);
    }
    Err(LetterError::NoLine(line))
}

// ---------------------------------------------------------------------------------- replay

/// Appends one line of the moved-aside copy `aside` back to the dead-letter file, as it was.
fn put_back(back: &DeadLetters, line: &[u8], aside: &Path) -> anyhow::Result<()> {
    let mut raw = Vec::with_capacity(line.len() + 1);
    raw.extend_from_slice(line);
    raw.push(b'\n');
    back.append(&raw).with_context(|| {
        format!(
            "cannot write {} back; the letters not yet handled are in {}: the next replay (or the router's next start) puts them back",
            back.path().display(),
            aside.display()
        )
    })
}

/// Appends a line longer than [`MAX_LINE`] from `aside` back, copied without holding it.
fn put_back_long(back: &DeadLetters, aside: &Path, start: u64, len: u64) -> anyhow::Result<()> {
    let mut f = std::fs::File::open(aside).with_context(|| format!("cannot read {}", aside.display()))?;
    f.seek(std::io::SeekFrom::Start(start))?;
    back.append_from(&mut f.take(len)).with_context(|| {
        format!(
            "cannot write {} back; the letters not yet handled are in {}: the next replay (or the router's next start) puts them back",
            back.path().display(),
            aside.display()
        )
    })
}

/// Where a replay by process `pid` moves the dead-letter file `path` aside.
fn aside_path(path: &Path, pid: u32) -> PathBuf {
    path.with_extension(format!("replay-{pid}"))
}

/// The moved-aside copies of `path` whose replay is not running any more, with their pids: a
/// copy of a process that has exited, and this process's own (its replays hold
/// [`REPLAYS`], so none of its own runs while the caller holds it, or before any started).
fn orphaned_asides(path: &Path) -> Vec<(u32, PathBuf)> {
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
        .filter(|(pid, _)| *pid == me || !Path::new("/proc").join(pid.to_string()).exists())
        .collect();
    found.sort();
    found
}

/// Puts back the letters of replays that were interrupted or failed (the router or `dlq replay`
/// killed half-way, or a write back that failed, left the moved-aside copy): each line goes back
/// into `path` unless a letter of the same processor and event is already there (written back by
/// that replay), so nothing is forgotten; letters that replay had already delivered are kept too
/// and may be sent again (at least once). Returns how many lines went back. Call it while no
/// replay of this process runs (holding [`REPLAYS`], or at start).
pub fn recover(path: &Path) -> anyhow::Result<usize> {
    let orphans = orphaned_asides(path);
    if orphans.is_empty() {
        return Ok(0);
    }
    // A letter's processor and event id as a SHA-256 digest: ids may be large, the set is not.
    let key = |line: &[u8]| {
        head(line).ok().map(|h| {
            use sha2::Digest as _;
            let mut d = sha2::Sha256::new();
            d.update(h.processor.len().to_le_bytes());
            d.update(h.processor.as_bytes());
            d.update(h.event.id.as_bytes());
            let mut k = [0u8; 32];
            k.copy_from_slice(&d.finalize());
            k
        })
    };
    let mut seen: HashSet<[u8; 32]> = HashSet::new();
    if let Some(mut lines) = open_lines(path).with_context(|| format!("cannot read {}", path.display()))? {
        while let Some((_, line)) = lines.next_line()? {
            if let Line::Text(t) = line {
                seen.extend(key(&t));
            }
        }
    }
    let back = DeadLetters::new(path);
    let mut restored = 0;
    for (_, aside) in orphans {
        let mut lines = open_lines(&aside)
            .with_context(|| format!("cannot read {}", aside.display()))?
            .context("the moved-aside copy vanished")?;
        while let Some((_, line)) = lines.next_line()? {
            match line {
                Line::Text(t) => {
                    if key(&t).is_some_and(|k| !seen.insert(k)) {
                        continue;
                    }
                    put_back(&back, &t, &aside)?;
                }
                Line::Long { start, len } => put_back_long(&back, &aside, start, len)?,
            }
            restored += 1;
        }
        std::fs::remove_file(&aside).with_context(|| format!("cannot remove {}", aside.display()))?;
    }
    Ok(restored)
}

/// Held by every replay of this process (console replays across reloads and the CLI's).
static REPLAYS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Holds `<file>.lock` with `flock`, so replays in different processes run one at a time.
fn lock_across_processes(path: &Path) -> anyhow::Result<std::fs::File> {
    let lock_path = path.with_extension("lock");
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let f = open_lock_file(&lock_path).with_context(|| format!("cannot open {}", lock_path.display()))?;
    crate::delivery::dead_letter::lock(&f).with_context(|| format!("cannot lock {}", lock_path.display()))?;
    Ok(f)
}

#[cfg(unix)]
fn open_lock_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

#[cfg(not(unix))]
fn open_lock_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// Moves `path` to `aside` (never over an existing file), then waits once for the moved file's
/// write lock: after that every writer opens the new file.
fn move_aside(path: &Path, aside: &Path) -> anyhow::Result<()> {
    std::fs::hard_link(path, aside)
        .with_context(|| format!("cannot move {} aside to {}", path.display(), aside.display()))?;
    std::fs::remove_file(path).with_context(|| format!("cannot move {} aside", path.display()))?;
    let moved = std::fs::File::open(aside).with_context(|| format!("cannot read {}", aside.display()))?;
    crate::delivery::dead_letter::lock(&moved).with_context(|| format!("cannot lock {}", aside.display()))?;
    Ok(())
}

/// The processors a replay of `select` needs, started (checked before anything is moved): a
/// letter whose processor cannot start stops the replay with the file as it was.
async fn start_processors(
    cfg: &RouterConfig,
    path: &Path,
    select: Select<'_>,
) -> anyhow::Result<BTreeMap<String, Arc<dyn Processor>>> {
    let mut needed = HashSet::new();
    let p = path.to_path_buf();
    let wanted = match select {
        Select::All => None,
        Select::Event(id) => Some(id.to_string()),
    };
    let names = tokio::task::spawn_blocking(move || -> std::io::Result<HashSet<String>> {
        let mut names = HashSet::new();
        if let Some(mut lines) = open_lines(&p)? {
            while let Some((_, line)) = lines.next_line()? {
                let Line::Text(t) = line else { continue };
                if let Ok(h) = head(&t) {
                    if wanted.as_deref().is_none_or(|id| id == h.event.id) {
                        names.insert(h.processor);
                    }
                }
            }
        }
        Ok(names)
    })
    .await
    .context("reading the dead-letter file stopped")?
    .with_context(|| format!("cannot read {}", path.display()))?;
    needed.extend(names);
    let mut built = BTreeMap::new();
    for (key, pc) in cfg.processors() {
        if needed.contains(&pc.name) && !built.contains_key(&pc.name) {
            let p = crate::processors::build(&key, pc, crate::processors::knative::Start::Now)
                .await
                .with_context(|| {
                    format!(
                        "processor {:?} cannot start, so nothing was replayed; {} is left as it was",
                        pc.name,
                        path.display()
                    )
                })?;
            built.insert(pc.name.clone(), p);
        }
    }
    Ok(built)
}

/// Replays the letters `select` picks from `file` (default: the config's dead-letter file, see
/// [`path_for`]), one replay at a time in this process and across processes. Letters of an
/// interrupted or failed earlier replay are put back first ([`recover`]).
pub async fn replay(cfg: &RouterConfig, file: Option<&Path>, select: Select<'_>) -> anyhow::Result<Summary> {
    let path = path_for(cfg, file)?;
    let _one_in_this_process = REPLAYS.lock().await;
    let lock_path = path.clone();
    let _one_across_processes = tokio::task::spawn_blocking(move || lock_across_processes(&lock_path))
        .await
        .context("locking the dead-letter file stopped")??;
    recover(&path)?;
    if !path.exists() {
        return Ok(Summary::default());
    }
    let built = start_processors(cfg, &path, select).await?;
    let aside = aside_path(&path, std::process::id());
    move_aside(&path, &aside)?;
    let result = send(cfg, &path, &aside, select, built).await;
    if result.is_ok() {
        std::fs::remove_file(&aside).with_context(|| format!("cannot remove {}", aside.display()))?;
    }
    // On an error the copy stays: the next replay, or the router's next start, puts it back.
    result
}

/// Sends the picked letters of the moved-aside copy, writing every other line back.
async fn send(
    cfg: &RouterConfig,
    path: &Path,
    aside: &Path,
    select: Select<'_>,
    mut built: BTreeMap<String, Arc<dyn Processor>>,
) -> anyhow::Result<Summary> {
    let processors: BTreeMap<String, (String, &crate::config::ProcessorConfig)> = cfg
        .processors()
        .into_iter()
        .map(|(k, p)| (p.name.clone(), (k, p)))
        .collect();
    let back = DeadLetters::new(path);
    let keep = |line: &[u8]| put_back(&back, line, aside);
    let mut summary = Summary::default();
    let mut lines = open_lines(aside)
        .with_context(|| format!("cannot read {}", aside.display()))?
        .context("the moved-aside copy vanished")?;
    while let Some((n, line)) = lines.next_line()? {
        let kept = |letter: Option<&DeadLetter>, detail: String| Outcome {
            line: n,
            event: letter.map(|l| l.event.id().to_string()),
            processor: letter.map(|l| l.processor.clone()),
            result: "kept",
            detail,
        };
        let text = match line {
            Line::Text(t) => t,
            Line::Long { start, len } => {
                put_back_long(&back, aside, start, len)?;
                if matches!(select, Select::All) {
                    summary.record(kept(None, too_long(len)));
                    summary.kept += 1;
                }
                continue;
            }
        };
        let picked = |letter: &DeadLetter| match select {
            Select::All => true,
            Select::Event(id) => letter.event.id() == id,
        };
        let letter = match DeadLetter::parse(&text) {
            Ok(l) if picked(&l) => l,
            Ok(_) => {
                keep(&text)?;
                continue;
            }
            Err(why) => {
                keep(&text)?;
                if matches!(select, Select::All) {
                    summary.record(kept(None, why.to_string()));
                    summary.kept += 1;
                }
                continue;
            }
        };
        if !built.contains_key(&letter.processor) {
            // A letter appended since the check: its processor is started now, or it is kept.
            let started = match processors.get(&letter.processor) {
                Some((key, pc)) => crate::processors::build(key, pc, crate::processors::knative::Start::Now)
                    .await
                    .map_err(|e| format!("processor {:?} cannot start: {e:#}", letter.processor)),
                None => Err(format!("processor {:?} is not in the config", letter.processor)),
            };
            match started {
                Ok(p) => {
                    built.insert(letter.processor.clone(), p);
                }
                Err(why) => {
                    keep(&text)?;
                    summary.record(kept(Some(&letter), why));
                    summary.kept += 1;
                    continue;
                }
            }
        }
        drop(text);
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
                summary.record(outcome);
            }
            Err(e) => {
                outcome.result = "failed";
                outcome.detail = e.to_string();
                summary.record(outcome);
                back.write(&DeadLetter {
                    time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    error: cut(e.to_string()),
                    ..letter
                })
                .with_context(|| {
                    format!(
                        "cannot write {} back; the letters not yet handled are in {}: the next replay (or the router's next start) puts them back",
                        path.display(),
                        aside.display()
                    )
                })?;
                summary.failed += 1;
            }
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_outcomes_are_cut_and_bounded_in_bytes() {
        let mut s = Summary::default();
        for line in 0..600 {
            s.record(Outcome {
                line,
                event: Some("x".repeat(512 * 1024)),
                processor: Some("p".into()),
                result: "failed",
                detail: "y".repeat(100_000),
            });
        }
        assert_eq!(s.outcomes.len() + s.outcomes_omitted, 600, "every letter counted");
        assert!(s.outcomes_omitted > 0, "the bytes bound cut the list");
        for o in &s.outcomes {
            assert_eq!(o.event.as_deref().map(|e| e.chars().count()), Some(FIELD_CHARS + 1));
            assert_eq!(o.detail.chars().count(), FIELD_CHARS + 1);
        }
        let listed = serde_json::to_string(&s).unwrap().len();
        assert!(listed <= MAX_OUTCOME_BYTES, "{listed} bytes listed");
    }
    use cloudevents::{EventBuilder, EventBuilderV10};

    fn letter_line(id: &str) -> String {
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

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dlq-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn an_interrupted_replay_is_put_back_once_and_a_running_one_is_left_alone() {
        let dir = dir("recover");
        let path = dir.join("dead-letters.jsonl");
        // A replay that died: its process has exited.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        // One that is running: a live process.
        let mut live = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        // The dead replay had written "a" back (it failed again) before it was killed.
        std::fs::write(&path, format!("{}\n", letter_line("a"))).unwrap();
        std::fs::write(
            aside_path(&path, dead),
            format!("{}\nnot json\n{}\n", letter_line("a"), letter_line("b")),
        )
        .unwrap();
        std::fs::write(aside_path(&path, live.id()), format!("{}\n", letter_line("c"))).unwrap();
        // This process's own copy (a replay of it that failed) goes back too: its replays hold
        // the process-wide lock, so none is running when recover is called.
        std::fs::write(aside_path(&path, std::process::id()), format!("{}\n", letter_line("d"))).unwrap();

        assert_eq!(recover(&path).unwrap(), 3, "b, the unreadable line and d");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!(
                "{}\n{}\nnot json\n{}\n",
                letter_line("a"),
                letter_line("d"),
                letter_line("b")
            )
        );
        assert!(!aside_path(&path, dead).exists());
        assert!(aside_path(&path, live.id()).exists(), "a running replay's copy stays");
        live.kill().unwrap();
        live.wait().unwrap();
        assert_eq!(recover(&path).unwrap(), 1, "once its process is gone");
        assert_eq!(list(&path, 10).unwrap().total, 5);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn list_keeps_the_newest_heads_first_and_names_unreadable_lines() {
        let dir = dir("list");
        let path = dir.join("dead-letters.jsonl");
        assert_eq!(list(&path, 10).unwrap().total, 0, "no file: no letters");
        let text = format!(
            "{}\n\n{}\nnot json\n{}\n",
            letter_line("a"),
            letter_line("b"),
            letter_line("c")
        );
        std::fs::write(&path, text).unwrap();

        let all = list(&path, 10).unwrap();
        assert_eq!(all.total, 4);
        let lines: Vec<usize> = all.letters.iter().map(|l| l.line).collect();
        assert_eq!(
            lines,
            [5, 4, 3, 1],
            "newest first, blank lines skipped but counted as lines"
        );
        assert!(all.letters[1].event.is_none());
        assert!(all.letters[1]
            .unreadable
            .as_deref()
            .unwrap()
            .starts_with("not a dead letter"));
        assert_eq!(all.letters[0].event.as_ref().unwrap().id, "c");

        let two = list(&path, 2).unwrap();
        assert_eq!(two.total, 4);
        assert_eq!(two.letters.len(), 2);
        let json = serde_json::to_value(&two.letters[0]).unwrap();
        assert_eq!(json["processor"], "sink");
        assert_eq!(json["event"]["id"], "c");
        assert!(json["event"].get("data").is_none(), "heads only: {json}");

        // One letter whole, by line and id.
        assert_eq!(letter(&path, 5, Some("c")).unwrap(), letter_line("c").into_bytes());
        assert!(matches!(letter(&path, 5, Some("a")), Err(LetterError::Changed { .. })));
        assert!(matches!(letter(&path, 9, None), Err(LetterError::NoLine(9))));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn long_fields_are_cut_and_long_lines_are_never_held() {
        let dir = dir("long");
        let path = dir.join("dead-letters.jsonl");
        let long_error = serde_json::to_string(&DeadLetter {
            time: "t".into(),
            processor: "sink".into(),
            error: "e".repeat(5000),
            event: EventBuilderV10::new().id("x").ty("t").source("s").build().unwrap(),
        })
        .unwrap();
        std::fs::write(&path, format!("{long_error}\n")).unwrap();
        let l = list(&path, 10).unwrap();
        assert_eq!(l.letters[0].error.as_ref().unwrap().chars().count(), FIELD_CHARS + 1);

        let mut lines = Lines::new(std::io::Cursor::new(b"ab\n\ncdefgh\nij".to_vec()));
        lines.max = 3;
        let got: Vec<String> = std::iter::from_fn(|| lines.next_line().unwrap())
            .map(|(n, l)| match l {
                Line::Text(t) => format!("{n}:{}", String::from_utf8(t).unwrap()),
                Line::Long { start, len } => format!("{n}:long@{start}+{len}"),
            })
            .collect();
        assert_eq!(got, ["1:ab", "3:long@4+6", "4:ij"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
