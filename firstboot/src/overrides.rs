//! The operator's additions to the router's configuration: what the deploy form cannot express
//! goes in YAML files in `/etc/event-router/config.d/` (`*.yaml` or `*.yml`, merged in name
//! order), which firstboot reads at every run with properties and never writes or removes:
//!
//! ```yaml
//! eventProviders:          # more vCenter or Horizon providers, as RouterConfig entries
//!   - type: vcenter
//!     name: vc-lab
//!     vcenter:
//!       address: https://vc-lab.corp.local/sdk
//!       checkpoint: true
//!       auth: {type: basic_auth, basicAuth: {username: svc@lab.local, password: ...}}
//! eventProcessors:         # more processors, each with its own optional filter
//!   - type: knative
//!     name: ops-hook
//!     filter: {eventNames: [VmPoweredOffEvent]}
//!     knative: {destination: {uri: http://ops-hook.corp.local/}}
//! filters:                 # a filter for a processor the form renders, by its name
//!   broker: {eventNames: [VmPoweredOnEvent, VmPoweredOffEvent]}
//! ```
//!
//! Nothing else is accepted: another key is refused by name. Each of these is refused with the
//! file, the entry and the fix: a provider or processor name already taken (by the form or an
//! earlier file), a vCenter the configuration already streams from, a provider of type webhook
//! or vcsim (the webhook is the form's Enable Webhook property), a `checkpointDir` other than the
//! appliance's (a vCenter left without one gets it: the only folder the router's pod can write),
//! a filter for a processor the form does not render, for one a file adds (it takes `filter:` in
//! its own entry) or for one another file filters already. The merged configuration then has to
//! pass the router's own validation (`render::router`). Reading the folder is the only I/O here.

use std::collections::BTreeMap;
use std::path::Path;

use event_router::config::{
    checkpoint_file_name, normalise_vcenter_address, EventFilter, ProcessorConfig, ProviderConfig, ProviderType,
};
use serde::Deserialize;

use crate::paths::{CHECKPOINTS, CONFIG_D};

/// One file of the folder (its text may hold passwords: never shown, not even in `Debug`).
#[derive(Clone, PartialEq, Eq)]
pub struct Source {
    /// The file's path on the appliance, e.g. `/etc/event-router/config.d/50-lab.yaml`.
    pub path: String,
    pub mode: u32,
    pub text: String,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("path", &self.path)
            .field("mode", &format_args!("{:o}", self.mode))
            .field("bytes", &self.text.len())
            .finish()
    }
}

/// The folder's files, and what in it is not merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// The `*.yaml` and `*.yml` files, in name order.
    pub files: Vec<Source>,
    /// Other entries (by path), named in a note so a misnamed file is not silently ignored.
    pub ignored: Vec<String>,
}

/// Reads `/etc/event-router/config.d` under `root` (nothing when it does not exist). Hidden
/// entries (an editor's `.swp`) are passed over silently.
pub fn read(root: &Path) -> std::io::Result<Overrides> {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join(CONFIG_D.trim_start_matches('/'));
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Overrides::default()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            names.push((name, entry.path()));
        }
    }
    names.sort();
    let mut out = Overrides::default();
    for (name, path) in names {
        let shown = format!("{CONFIG_D}/{name}");
        let meta = std::fs::metadata(&path)?;
        if !meta.is_file() || !(name.ends_with(".yaml") || name.ends_with(".yml")) {
            out.ignored.push(shown);
            continue;
        }
        out.files.push(Source {
            path: shown,
            mode: meta.permissions().mode() & 0o7777,
            text: std::fs::read_to_string(path)?,
        });
    }
    Ok(out)
}

/// One file's content.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Fragment {
    #[serde(default)]
    event_providers: Vec<ProviderConfig>,
    #[serde(default)]
    event_processors: Vec<ProcessorConfig>,
    #[serde(default)]
    filters: BTreeMap<String, EventFilter>,
}

/// An entry of the router's configuration and where it comes from.
#[derive(Debug, Clone)]
pub struct Origin<T> {
    pub item: T,
    /// `None` for the form's entries, else the file and entry, e.g.
    /// `/etc/event-router/config.d/50-lab.yaml eventProviders[0]`.
    pub from: Option<String>,
}

impl<T> Origin<T> {
    /// An entry the form renders.
    pub fn form(item: T) -> Origin<T> {
        Origin { item, from: None }
    }

    fn describe(&self, name: &str) -> String {
        match &self.from {
            None => format!("the form's {name:?}"),
            Some(from) => format!("{from} ({name:?})"),
        }
    }
}

/// What merging did (no secret: these go to the status file and the log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// One line per merged file.
    pub merged: Vec<String>,
    /// Files others may read although they may hold passwords.
    pub warnings: Vec<String>,
}

/// A message of serde's with every double-quoted value replaced by `"***"`: a password in the
/// wrong place would otherwise be shown (`invalid type: string "..."`). Key names (in backticks)
/// and the line and column stay.
pub fn without_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let (mut quoted, mut escaped) = (false, false);
    for c in message.chars() {
        if !quoted {
            out.push(c);
            quoted = c == '"';
        } else if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            out.push_str("***\"");
            quoted = false;
        }
    }
    if quoted {
        out.push_str("***");
    }
    out
}

/// Text with nothing but blanks and comments.
fn is_empty_yaml(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    })
}

/// The checkpoint file a vCenter provider's stream would have (one per host and port).
fn vcenter_identity(p: &ProviderConfig) -> Option<String> {
    let v = p.vcenter.as_ref()?;
    let url = url::Url::parse(&normalise_vcenter_address(&v.address)?).ok()?;
    Some(checkpoint_file_name(&url))
}

/// Adds the files' entries to the form's `providers` and `processors`, in file order; every
/// refusal, each naming the file, the entry and the fix.
pub fn merge(
    files: &[Source],
    providers: &mut Vec<Origin<ProviderConfig>>,
    processors: &mut Vec<Origin<ProcessorConfig>>,
) -> Result<Report, Vec<String>> {
    let mut problems = Vec::new();
    let mut report = Report::default();
    let form_processors: Vec<String> = processors
        .iter()
        .filter(|p| p.from.is_none())
        .map(|p| p.item.name.clone())
        .collect();
    // Processor name -> the file whose `filters` set its filter.
    let mut filtered: BTreeMap<String, String> = BTreeMap::new();
    for file in files {
        if file.mode & 0o077 != 0 {
            report.warnings.push(format!(
                "{} can be read by other users (mode {:o}) and may hold passwords: chmod 600 {}",
                file.path, file.mode, file.path
            ));
        }
        if is_empty_yaml(&file.text) {
            report.merged.push(format!("{}: empty, nothing merged", file.path));
            continue;
        }
        let fragment: Fragment = match serde_norway::from_str(&file.text) {
            Ok(f) => f,
            Err(e) => {
                problems.push(format!(
                    "{}: {} (it may hold eventProviders, eventProcessors and filters only)",
                    file.path,
                    without_quoted_values(&e.to_string())
                ));
                continue;
            }
        };
        let counts = (
            fragment.event_providers.len(),
            fragment.event_processors.len(),
            fragment.filters.len(),
        );
        for (i, mut p) in fragment.event_providers.into_iter().enumerate() {
            let at = format!("{} eventProviders[{i}]", file.path);
            let refused = match p.kind {
                ProviderType::Vcenter | ProviderType::Horizon => None,
                ProviderType::Webhook => Some("webhook"),
                ProviderType::Vcsim => Some("vcsim"),
            };
            if let Some(kind) = refused {
                problems.push(format!(
                    "{at}: type {kind} cannot be added here, only vcenter and horizon (the webhook is the form's Enable Webhook property)"
                ));
                continue;
            }
            if let Some(taken) = providers.iter().find(|e| e.item.name.trim() == p.name.trim()) {
                problems.push(format!(
                    "{at}: the name {:?} is taken by {}: give this provider another name",
                    p.name,
                    taken.describe(&taken.item.name)
                ));
                continue;
            }
            if let Some(v) = p.vcenter.as_mut() {
                let dir = v.checkpoint_dir.clone();
                match dir.as_deref() {
                    None => v.checkpoint_dir = Some(CHECKPOINTS.to_string()),
                    Some(d) if d.trim_end_matches('/') == CHECKPOINTS => {}
                    Some(d) => {
                        problems.push(format!(
                            "{at}: vcenter.checkpointDir {d:?} is not the appliance's checkpoint folder {CHECKPOINTS}, the only one the router's pod can write: leave the key out"
                        ));
                        continue;
                    }
                }
            }
            if let Some(id) = vcenter_identity(&p) {
                if let Some(same) = providers
                    .iter()
                    .find(|e| vcenter_identity(&e.item).as_ref() == Some(&id))
                {
                    problems.push(format!(
                        "{at}: streams from the same vCenter (host and port) as {}: keep one of them, or every event arrives twice",
                        same.describe(&same.item.name)
                    ));
                    continue;
                }
            }
            providers.push(Origin {
                item: p,
                from: Some(at),
            });
        }
        for (i, p) in fragment.event_processors.into_iter().enumerate() {
            let at = format!("{} eventProcessors[{i}]", file.path);
            if let Some(taken) = processors.iter().find(|e| e.item.name.trim() == p.name.trim()) {
                problems.push(format!(
                    "{at}: the name {:?} is taken by {}: give this processor another name",
                    p.name,
                    taken.describe(&taken.item.name)
                ));
                continue;
            }
            processors.push(Origin {
                item: p,
                from: Some(at),
            });
        }
        for (name, filter) in fragment.filters {
            let at = format!("{} filters.{name}", file.path);
            match processors.iter_mut().find(|e| e.item.name == name) {
                None => problems.push(format!(
                    "{at}: no processor is named {name:?}; the form's is {}",
                    form_processors.join(", ")
                )),
                Some(Origin { from: Some(from), .. }) => problems.push(format!(
                    "{at}: {name:?} is added by {from}: give it a `filter:` in that entry instead"
                )),
                Some(e) => match filtered.get(&name) {
                    Some(first) => problems.push(format!(
                        "{at}: {first} sets the filter of {name:?} already: keep one of them"
                    )),
                    None => {
                        e.item.filter = Some(filter);
                        filtered.insert(name, file.path.clone());
                    }
                },
            }
        }
        report.merged.push(format!(
            "{}: {} provider(s), {} processor(s), {} filter(s)",
            file.path, counts.0, counts.1, counts.2
        ));
    }
    if problems.is_empty() {
        Ok(report)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use event_router::config::{ProcessorType, VCenterConfig};

    fn source(name: &str, text: &str) -> Source {
        Source {
            path: format!("{CONFIG_D}/{name}"),
            mode: 0o600,
            text: text.to_string(),
        }
    }

    fn form() -> (Vec<Origin<ProviderConfig>>, Vec<Origin<ProcessorConfig>>) {
        let vcenter: ProviderConfig = serde_norway::from_str(
            "type: vcenter\nname: vcenter\nvcenter: {address: https://vc-a.corp.local/sdk, checkpoint: true, auth: {type: basic_auth, basicAuth: {username: u, password: p}}}\n",
        )
        .unwrap();
        let broker: ProcessorConfig = serde_norway::from_str(
            "type: knative\nname: broker\nknative: {destination: {uri: http://broker.local/}}\n",
        )
        .unwrap();
        (vec![Origin::form(vcenter)], vec![Origin::form(broker)])
    }

    const LAB: &str = "eventProviders:
  - type: vcenter
    name: vc-lab
    vcenter:
      address: vc-lab.corp.local
      checkpoint: true
      auth: {type: basic_auth, basicAuth: {username: svc, password: \"hunter2\"}}
eventProcessors:
  - type: knative
    name: ops-hook
    filter: {eventNames: [VmPoweredOffEvent]}
    knative: {destination: {uri: http://ops-hook.corp.local/}}
filters:
  broker: {eventNames: [VmPoweredOnEvent]}
";

    #[test]
    fn providers_processors_and_filters_are_added_with_the_appliances_checkpoint_folder() {
        let (mut providers, mut processors) = form();
        let report = merge(&[source("50-lab.yaml", LAB)], &mut providers, &mut processors).unwrap();
        assert_eq!(
            report.merged,
            ["/etc/event-router/config.d/50-lab.yaml: 1 provider(s), 1 processor(s), 1 filter(s)"]
        );
        assert!(report.warnings.is_empty());
        let names: Vec<&str> = providers.iter().map(|p| p.item.name.as_str()).collect();
        assert_eq!(names, ["vcenter", "vc-lab"]);
        let lab: &VCenterConfig = providers[1].item.vcenter.as_ref().unwrap();
        assert_eq!(lab.checkpoint_dir.as_deref(), Some(CHECKPOINTS));
        assert_eq!(
            providers[1].from.as_deref(),
            Some("/etc/event-router/config.d/50-lab.yaml eventProviders[0]")
        );
        assert_eq!(processors.len(), 2);
        assert_eq!(processors[1].item.kind, ProcessorType::Knative);
        let filter = processors[0].item.filter.as_ref().unwrap();
        assert_eq!(filter.event_names, ["VmPoweredOnEvent"]);
    }

    #[test]
    fn every_conflict_is_refused_with_the_file_the_entry_and_the_fix() {
        let (mut providers, mut processors) = form();
        let bad = "eventProviders:
  - {type: webhook, name: hook2, webhook: {bindAddress: \"0.0.0.0:9090\"}}
  - type: vcenter
    name: vcenter
    vcenter: {address: https://vc-b.corp.local/sdk, auth: {type: basic_auth, basicAuth: {username: u, password: p}}}
  - type: vcenter
    name: vc-a-again
    vcenter: {address: VC-A.corp.local:443, auth: {type: basic_auth, basicAuth: {username: u, password: p}}}
  - type: vcenter
    name: vc-c
    vcenter: {address: vc-c.corp.local, checkpointDir: /tmp, auth: {type: basic_auth, basicAuth: {username: u, password: p}}}
eventProcessors:
  - {type: console, name: broker}
  - {type: console, name: print, filter: {eventNames: [A]}}
filters:
  print: {eventNames: [B]}
  nothing: {eventNames: [C]}
";
        let twice = "filters:\n  broker: {eventNames: [D]}\n";
        let problems = merge(
            &[
                source("10-bad.yaml", bad),
                source("20-ok.yaml", "filters:\n  broker: {eventNames: [E]}\n"),
                source("30-twice.yaml", twice),
            ],
            &mut providers,
            &mut processors,
        )
        .unwrap_err();
        let f = "/etc/event-router/config.d/10-bad.yaml";
        assert_eq!(
            problems,
            [
                format!("{f} eventProviders[0]: type webhook cannot be added here, only vcenter and horizon (the webhook is the form's Enable Webhook property)"),
                format!("{f} eventProviders[1]: the name \"vcenter\" is taken by the form's \"vcenter\": give this provider another name"),
                format!("{f} eventProviders[2]: streams from the same vCenter (host and port) as the form's \"vcenter\": keep one of them, or every event arrives twice"),
                format!("{f} eventProviders[3]: vcenter.checkpointDir \"/tmp\" is not the appliance's checkpoint folder /var/lib/event-router/checkpoints, the only one the router's pod can write: leave the key out"),
                format!("{f} eventProcessors[0]: the name \"broker\" is taken by the form's \"broker\": give this processor another name"),
                format!("{f} filters.nothing: no processor is named \"nothing\"; the form's is broker"),
                format!("{f} filters.print: \"print\" is added by {f} eventProcessors[1]: give it a `filter:` in that entry instead"),
                "/etc/event-router/config.d/30-twice.yaml filters.broker: /etc/event-router/config.d/20-ok.yaml sets the filter of \"broker\" already: keep one of them".to_string(),
            ]
        );
    }

    #[test]
    fn unknown_keys_and_misplaced_passwords_are_named_without_their_values() {
        let (mut providers, mut processors) = form();
        let text = "certificates: {rootCAs: [/x]}\n";
        let p = merge(&[source("a.yaml", text)], &mut providers, &mut processors).unwrap_err();
        assert!(
            p[0].starts_with("/etc/event-router/config.d/a.yaml: unknown field `certificates`"),
            "{p:?}"
        );
        let text = "eventProviders:\n  - type: vcenter\n    name: x\n    vcenter:\n      address: vc\n      auth: {type: basic_auth, basicAuth: \"s3cr3t-pass\"}\n";
        let p = merge(&[source("b.yaml", text)], &mut providers, &mut processors).unwrap_err();
        assert!(!p[0].contains("s3cr3t"), "{p:?}");
        assert!(p[0].contains("line"), "{p:?}");
        assert_eq!(without_quoted_values(r#"a "b\"c" d "e"#), r#"a "***" d "***"#);
    }

    #[test]
    fn empty_files_merge_nothing_and_open_files_are_a_warning() {
        let (mut providers, mut processors) = form();
        let mut open = source("lab.yml", "# nothing yet\n");
        open.mode = 0o644;
        let report = merge(&[open], &mut providers, &mut processors).unwrap();
        assert_eq!(
            report.merged,
            ["/etc/event-router/config.d/lab.yml: empty, nothing merged"]
        );
        assert_eq!(
            report.warnings,
            ["/etc/event-router/config.d/lab.yml can be read by other users (mode 644) and may hold passwords: chmod 600 /etc/event-router/config.d/lab.yml"]
        );
        assert_eq!(providers.len(), 1);
    }

    #[test]
    fn the_folder_is_read_in_name_order_and_other_files_are_named() {
        let root = std::env::temp_dir().join(format!("overrides-{}", std::process::id()));
        let dir = root.join(CONFIG_D.trim_start_matches('/'));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for (name, text) in [
            ("20-b.yml", "b"),
            ("10-a.yaml", "a"),
            ("notes.txt", "n"),
            (".x.yaml.swp", "s"),
        ] {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let o = read(&root).unwrap();
        let paths: Vec<&str> = o.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/etc/event-router/config.d/10-a.yaml",
                "/etc/event-router/config.d/20-b.yml"
            ]
        );
        assert_eq!(
            o.ignored,
            ["/etc/event-router/config.d/notes.txt", "/etc/event-router/config.d/sub"]
        );
        assert!(!format!("{o:?}").contains("text"), "no content in Debug");
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(read(&root).unwrap(), Overrides::default());
    }
}
