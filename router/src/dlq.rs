//! `event-router dlq replay`: sends dead letters again through the processors named in them,
//! as the config file defines those processors. The file is moved aside first, so the running
//! router keeps appending to a fresh file; letters that fail again, name an unknown processor
//! or cannot be read are appended back to the dead-letter file.

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

/// Replays `file` (default: the config's `deadLetterFile`).
pub async fn replay(cfg: &RouterConfig, file: Option<&Path>) -> anyhow::Result<Summary> {
    let path: PathBuf = match (file, &cfg.dead_letter_file) {
        (Some(f), _) => f.to_path_buf(),
        (None, Some(f)) => PathBuf::from(f),
        (None, None) => bail!("the config has no deadLetterFile: give the file with --file"),
    };
    if !path.exists() {
        println!("{}: no dead letters", path.display());
        return Ok(Summary::default());
    }
    let aside = path.with_extension(format!("replay-{}", std::process::id()));
    std::fs::rename(&path, &aside).with_context(|| format!("cannot move {} aside for the replay", path.display()))?;
    let text = std::fs::read_to_string(&aside).with_context(|| format!("cannot read {}", aside.display()))?;
    let back = DeadLetters::new(&path);
    let processors: BTreeMap<String, (String, &crate::config::ProcessorConfig)> = cfg
        .processors()
        .into_iter()
        .map(|(k, p)| (p.name.clone(), (k, p)))
        .collect();
    let mut built: BTreeMap<String, Arc<dyn Processor>> = BTreeMap::new();
    let mut summary = Summary::default();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let letter: DeadLetter = match serde_json::from_str(line) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("line {}: not a dead letter ({e}); kept", n + 1);
                back.append(format!("{line}\n").as_bytes())?;
                summary.kept += 1;
                continue;
            }
        };
        let Some((key, pc)) = processors.get(&letter.processor) else {
            eprintln!(
                "line {}: processor {:?} is not in the config; kept",
                n + 1,
                letter.processor
            );
            back.write(&letter)?;
            summary.kept += 1;
            continue;
        };
        if !built.contains_key(&letter.processor) {
            let p = crate::run::processor(key, pc).await?;
            built.insert(letter.processor.clone(), p);
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
