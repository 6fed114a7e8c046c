//! `event-router dlq replay`: sends dead letters again through the processors named in them,
//! as the config file defines those processors. The file is read and checked first (every
//! processor it names must start, or nothing is touched), then moved aside, so the running
//! router keeps appending to a fresh file; letters that fail again, name an unknown processor
//! or cannot be read (not JSON, not UTF-8) are appended back to the dead-letter file as they
//! were, so none is stranded in the moved-aside copy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use cloudevents::AttributesReader;

use crate::config::RouterConfig;
use crate::delivery::dead_letter::{DeadLetter, DeadLetters};
use crate::processors::Processor;

/// What a replay did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub replayed: usize,
    pub failed: usize,
    pub kept: usize,
}

/// Replays `file` (default: the config's dead-letter file, see
/// [`RouterConfig::dead_letter_path`]).
pub async fn replay(cfg: &RouterConfig, file: Option<&Path>) -> anyhow::Result<Summary> {
    let path: PathBuf = match (file, cfg.dead_letter_path()) {
        (Some(f), _) => f.to_path_buf(),
        (None, Some(f)) => f,
        (None, None) => bail!("the config has no deadLetterFile and no checkpointing vCenter (whose checkpointDir holds the default one): give the file with --file"),
    };
    // Read and check the file before moving anything: a letter whose processor cannot start
    // stops the replay here, with the file as it was.
    let before = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("{}: no dead letters", path.display());
            return Ok(Summary::default());
        }
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
        if built.contains_key(&letter.processor) {
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
    let aside = path.with_extension(format!("replay-{}", std::process::id()));
    std::fs::rename(&path, &aside).with_context(|| format!("cannot move {} aside for the replay", path.display()))?;
    let bytes = std::fs::read(&aside).with_context(|| format!("cannot read {}", aside.display()))?;
    let back = DeadLetters::new(&path);
    let keep = |line: &[u8], why: String| -> anyhow::Result<()> {
        eprintln!("{why}; kept");
        let mut raw = line.to_vec();
        raw.push(b'\n');
        back.append(&raw).with_context(|| {
            format!(
                "cannot write {} back; the letters not yet handled are in {}: move it back",
                path.display(),
                aside.display()
            )
        })
    };
    let mut summary = Summary::default();
    for (n, line) in lines(&bytes).enumerate() {
        let n = n + 1;
        let Ok(text) = std::str::from_utf8(line) else {
            keep(line, format!("line {n}: not UTF-8 text, so not a dead letter"))?;
            summary.kept += 1;
            continue;
        };
        let letter: DeadLetter = match serde_json::from_str(text) {
            Ok(l) => l,
            Err(e) => {
                keep(line, format!("line {n}: not a dead letter ({e})"))?;
                summary.kept += 1;
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
                    keep(line, format!("line {n}: {why}"))?;
                    summary.kept += 1;
                    continue;
                }
            }
        }
        let Some(p) = built.get(&letter.processor) else {
            continue;
        };
        match p.process(&letter.event).await {
            Ok(()) => {
                println!("event {} -> {}: delivered", letter.event.id(), letter.processor);
                summary.replayed += 1;
            }
            Err(e) => {
                eprintln!(
                    "event {} -> {}: failed again ({e}); kept",
                    letter.event.id(),
                    letter.processor
                );
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
    println!(
        "replayed {}, failed again {}, kept {} (in {})",
        summary.replayed,
        summary.failed,
        summary.kept,
        path.display()
    );
    Ok(summary)
}

/// The non-empty lines of a dead-letter file, as bytes.
fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
}
