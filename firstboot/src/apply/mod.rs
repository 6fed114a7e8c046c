//! Applying on the appliance, as an ordered list of steps, each logged with its duration and
//! recorded in the status file. Step order:
//!
//! 1. `read`: the OVF environment (a file, or guestinfo.ovfEnv, else `ovf-env.xml` on a CD-ROM;
//!    empty = cleared by a past run). A guestinfo.ovfEnv written from inside the guest since the
//!    last `clear` (its marker is still set, see `source::CLEARED_MARKER`) is refused here.
//! 2. `validate`: every property; any problem ends the run before anything changes. An environment
//!    that arrives another way than the first valid one did is refused (`origin`); the first valid
//!    one's origin is recorded now, before anything is applied.
//! 3. `render`: the whole file tree (pure), with the prepared material (and the operator's
//!    `/etc/event-router/config.d` merged into the router's configuration)
//! 4. `write`: only files that differ; files no longer rendered are removed; a file changed by
//!    hand since firstboot wrote it is kept aside as `<file>.local-<time>` and reported
//! 5. `hostname`: the kernel's host name (live system only)
//! 6. `dirs`: the router's checkpoint folder, owned by the router's user
//! 7. `services`: restart the units whose files changed; enable or disable optional units
//! 8. `k3s`: start it, or restart it when its files changed (firstboot owns k3s's start, so k3s
//!    always starts with a current configuration)
//! 9. `router`: wait through the Kubernetes API until the router runs the new config and is ready
//! 10. `clear`: set `source::CLEARED_MARKER`, then clear guestinfo.ovfEnv (when it was read from
//!     there) unless debug is on

mod kube;
mod log;
pub mod status;
mod systemd;

use ovf::keys;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ovfenv::OvfEnv;
use crate::render::{self, Plan};
use crate::source::{Document, Source, Transport};
use crate::write::{write_tree, Changes};
use crate::{material, validate};

pub use log::BOOTSTRAP_LOG;

/// What `firstboot run` does.
pub struct Options {
    pub source: Source,
    pub root: PathBuf,
    pub router_timeout: Duration,
}

/// How a run ended (and the process's exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok = 0,
    Failed = 1,
    Invalid = 2,
}

/// Which unit reloads which rendered files.
const RESTARTS: &[(&str, &str)] = &[
    ("/etc/systemd/network/", "systemd-networkd"),
    ("/etc/systemd/timesyncd.conf.d/", "systemd-timesyncd"),
    ("/etc/ssh/sshd_config.d/", "sshd"),
    ("/etc/rsyslog.d/", "rsyslog"),
    ("/etc/rancher/k3s/", "k3s"),
    ("/etc/systemd/system/k3s.service.env", "k3s"),
];

/// The units whose files changed, in table order, each once.
fn units_to_restart(changes: &Changes) -> Vec<&'static str> {
    let mut out = Vec::new();
    for (prefix, unit) in RESTARTS {
        if changes.paths().any(|p| p.starts_with(prefix)) && !out.contains(unit) {
            out.push(*unit);
        }
    }
    out
}

fn live(root: &Path) -> bool {
    root == Path::new("/")
}

use crate::paths::CHECKPOINTS;
const ROUTER_UID: u32 = 65532;

pub fn run(opts: &Options) -> Outcome {
    let mut log = log::Log::open(&opts.root, opts.source.to_string());
    match steps(opts, &mut log) {
        Ok(()) => {
            log.finish("ok", None);
            Outcome::Ok
        }
        Err(Stop::Invalid) => {
            log.finish("invalid", Some("invalid OVF properties: nothing was changed".into()));
            Outcome::Invalid
        }
        Err(Stop::Failed(e)) => {
            log.finish("failed", Some(e));
            Outcome::Failed
        }
        Err(Stop::Refused(e)) => {
            log.finish("refused", Some(e));
            Outcome::Invalid
        }
    }
}

enum Stop {
    Invalid,
    Failed(String),
    /// An environment from another transport or deployment than the first run's.
    Refused(String),
}

impl From<log::StepError> for Stop {
    fn from(e: log::StepError) -> Self {
        Stop::Failed(e.0)
    }
}

fn steps(opts: &Options, log: &mut log::Log) -> Result<(), Stop> {
    let root = opts.root.as_path();
    let systemctl = systemd::Systemctl::default();
    let doc = log.step("read", |_| match opts.source.read() {
        Ok(Some(doc)) => {
            let detail = format!("{} bytes from {}", doc.text.len(), doc.from);
            Ok((Some(doc), detail))
        }
        Ok(None) => Ok((
            None,
            format!("{} is empty: cleared after the last successful run", opts.source),
        )),
        Err(e) => Err(e.to_string().into()),
    })?;
    let Some(Document { text, from }) = doc else {
        start_previous_k3s(log, root, &systemctl)?;
        log.skip(
            "validate",
            "no properties to apply (vSphere sets them again at the next power-on)",
        );
        return Ok(());
    };
    if matches!(from, Transport::GuestInfo) {
        if let Some(why) = crate::source::guest_set_refusal() {
            return refuse(log, root, &systemctl, why);
        }
    }
    let env = match validated(log, &text) {
        Ok(env) => env,
        Err(stop) => {
            start_previous_k3s(log, root, &systemctl)?;
            return Err(stop);
        }
    };
    let origin = crate::origin::Origin::of(&from, &env.identity);
    let first = crate::origin::load(root).map_err(|e| Stop::Failed(e.to_string()))?;
    if let (Some(now), Some(first)) = (&origin, &first) {
        if let Some(why) = now.refused(first) {
            return refuse(log, root, &systemctl, why);
        }
    }
    // Recorded before anything is applied: a run that fails later leaves the appliance bound to
    // this origin all the same.
    if let (Some(origin), None) = (&origin, &first) {
        crate::origin::save(root, origin).map_err(|e| Stop::Failed(e.to_string()))?;
    }
    log.verbose = render::on(&env, keys::DEBUG);
    debug_properties(log, &env);
    let rendered = log.step("render", |log| {
        let material = material::load(&env, root).map_err(|e| e.to_string())?;
        let plan = render::render(&env, &material).map_err(|e| {
            if let render::RenderError::Refused(problems) = &e {
                for p in problems {
                    log.line(&format!("refused: {p}"));
                }
            }
            e.to_string()
        })?;
        for note in &plan.notes {
            log.line(&format!("note: {note}"));
            log.status.notes.push(note.clone());
        }
        for w in &plan.warnings {
            log.line(&format!("warning: {w}"));
            log.status.warnings.push(w.clone());
        }
        for d in &plan.details {
            log.debug(d);
        }
        let n = plan.files.len();
        Ok((plan, format!("{n} files")))
    });
    // Nothing was written: k3s starts with the last good configuration.
    let plan = match rendered {
        Ok(plan) => plan,
        Err(e) => {
            start_previous_k3s(log, root, &systemctl)?;
            return Err(e.into());
        }
    };
    let changes = log.step("write", |log| {
        let changes = write_tree(&plan.files, root).map_err(|e| e.to_string())?;
        for (path, copy) in &changes.kept {
            let note = Changes::kept_note(path, copy);
            log.line(&format!("note: {note}"));
            log.status.notes.push(note);
        }
        let unchanged = plan.files.len().saturating_sub(changes.written.len());
        log.debug(&format!("{unchanged} rendered files already as rendered"));
        let detail = if changes.is_empty() {
            "nothing changed".to_string()
        } else {
            let mut parts: Vec<String> = changes.written.clone();
            parts.extend(changes.removed.iter().map(|p| format!("removed {p}")));
            parts.extend(changes.kept.iter().map(|(p, c)| format!("kept your {p} as {c}")));
            parts.join(", ")
        };
        Ok((changes, detail))
    })?;
    hostname(log, root, &env.get(keys::HOSTNAME))?;
    log.step("dirs", |_| {
        let dir = root.join(CHECKPOINTS.trim_start_matches('/'));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        if live(root) && nix::unistd::geteuid().is_root() {
            let id = Some(nix::unistd::Uid::from_raw(ROUTER_UID));
            nix::unistd::chown(&dir, id, Some(nix::unistd::Gid::from_raw(ROUTER_UID)))
                .map_err(|e| format!("cannot chown {}: {e}", dir.display()))?;
        }
        Ok(((), format!("{CHECKPOINTS} for the router's checkpoints")))
    })?;
    let restart = units_to_restart(&changes);
    log.debug(&format!(
        "units to restart for changed files: {}",
        if restart.is_empty() {
            "none".to_string()
        } else {
            restart.join(", ")
        }
    ));
    services(log, &systemctl, &plan, &restart)?;
    k3s(log, &systemctl, restart.contains(&"k3s"))?;
    match &plan.router_config_hash {
        Some(hash) => {
            let kubeconfig = root.join("etc/rancher/k3s/k3s.yaml");
            log.debug(&format!(
                "waiting for Deployment {}/{} with {} {hash}",
                render::ROUTER_NAMESPACE,
                render::ROUTER_DEPLOYMENT,
                render::CONFIG_HASH_ANNOTATION
            ));
            log.step("router", |log| {
                kube::wait_router(
                    &kubeconfig,
                    render::ROUTER_NAMESPACE,
                    render::ROUTER_DEPLOYMENT,
                    hash,
                    render::CONFIG_HASH_ANNOTATION,
                    opts.router_timeout,
                    &mut |seen| log.debug(&format!("router: {seen}")),
                )
                .map(|d| {
                    let from = plan.router_sources.join(", ");
                    ((), format!("{d} (events from: {from})"))
                })
                .map_err(Into::into)
            })?;
        }
        None => log.skip(
            "router",
            "no vCenter Server, Horizon or Webhook property: the router is not deployed",
        ),
    }
    if render::on(&env, keys::DEBUG) {
        log.skip("clear", "debug is on: guestinfo.ovfEnv is kept");
    } else {
        log.step("clear", |_| match from.clear() {
            Ok(true) => Ok((
                (),
                format!(
                    "guestinfo.ovfEnv cleared; {} set until the next power-off",
                    crate::source::CLEARED_MARKER
                ),
            )),
            Ok(false) => Ok(((), format!("the properties came from {from}: left alone"))),
            Err(e) => Err(e.to_string().into()),
        })?;
    }
    Ok(())
}

/// Ends the run without applying anything: `why` goes to the console, the log and the status
/// file's warnings, and k3s starts with the last good run's configuration.
fn refuse(log: &mut log::Log, root: &Path, sd: &systemd::Systemctl, why: String) -> Result<(), Stop> {
    log.line(&format!("refused: {why}"));
    log.status.warnings.push(why.clone());
    start_previous_k3s(log, root, sd)?;
    Err(Stop::Refused(why))
}

/// Debugging's detail lines about the properties: each one set, with its value unless it is a
/// secret or a PEM text (a key pasted into the wrong field would show).
fn debug_properties(log: &mut log::Log, env: &OvfEnv) {
    if !log.verbose {
        return;
    }
    for (key, value) in &env.values {
        let Some(p) = ovf::property(key) else {
            continue;
        };
        let shown = if value.is_empty() {
            "empty".to_string()
        } else if p.secret() {
            "set (secret)".to_string()
        } else if p.kind == ovf::Kind::Base64Pem {
            format!("set ({} characters)", value.len())
        } else {
            format!("{:?}", value.chars().take(200).collect::<String>())
        };
        log.debug(&format!("property guestinfo.{key} ({}): {shown}", p.label));
    }
}

fn validated(log: &mut log::Log, text: &str) -> Result<OvfEnv, Stop> {
    let env = OvfEnv::parse(text);
    let result = log.step("validate", |log| {
        let env = env.as_ref().map_err(|e| e.to_string())?;
        for key in &env.unknown {
            log.line(&format!(
                "warning: guestinfo.{} is not a property of this appliance and is ignored",
                crate::shown::key(key)
            ));
        }
        for w in validate::warnings(env) {
            log.line(&format!("warning: {w}"));
            log.status.warnings.push(w);
        }
        let problems = validate::problems(env);
        if problems.is_empty() {
            return Ok(((), format!("{} properties valid", env.values.len())));
        }
        for p in &problems {
            log.line(&format!("invalid property: {p}"));
        }
        log.status.problems = problems.iter().map(ToString::to_string).collect();
        Err(validate::summary(problems.len()).into())
    });
    match (result, env) {
        (Ok(()), Ok(env)) => Ok(env),
        _ => Err(Stop::Invalid),
    }
}

fn hostname(log: &mut log::Log, root: &Path, fqdn: &str) -> Result<(), Stop> {
    if !live(root) {
        log.skip("hostname", "rendering under --root: the live host name is left alone");
        return Ok(());
    }
    log.step("hostname", |_| {
        let current = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        if current == fqdn {
            return Ok(((), format!("already {fqdn}")));
        }
        nix::unistd::sethostname(fqdn).map_err(|e| format!("cannot set the host name to {fqdn}: {e}"))?;
        Ok(((), format!("{current} -> {fqdn}")))
    })?;
    Ok(())
}

fn services(log: &mut log::Log, sd: &systemd::Systemctl, plan: &Plan, restart: &[&str]) -> Result<(), Stop> {
    log.step("services", |log| {
        let mut done = Vec::new();
        for (unit, wanted) in plan.units.iter().filter(|(u, _)| **u != "k3s") {
            let enabled = sd.is_enabled(unit)?;
            log.debug(&format!(
                "{unit}: wanted {}, enabled now: {enabled}",
                if *wanted { "on" } else { "off" }
            ));
            if *wanted && !enabled {
                sd.enable_now(unit)?;
                done.push(format!("enabled {unit}"));
            } else if !*wanted && (enabled || sd.is_active(unit)?) {
                sd.disable_now(unit)?;
                done.push(format!("disabled {unit}"));
            }
        }
        for unit in restart.iter().filter(|u| **u != "k3s") {
            let wanted = plan.units.get(unit).copied().unwrap_or(true);
            if wanted && !done.iter().any(|d| d.ends_with(unit)) {
                sd.restart(unit)?;
                done.push(format!("restarted {unit}"));
            }
        }
        let detail = if done.is_empty() {
            "no change".to_string()
        } else {
            done.join(", ")
        };
        Ok(((), detail))
    })?;
    Ok(())
}

fn k3s(log: &mut log::Log, sd: &systemd::Systemctl, changed: bool) -> Result<(), Stop> {
    log.step("k3s", |_| {
        if !sd.is_active("k3s")? {
            sd.start_no_block("k3s", false)?;
            Ok(((), "started".into()))
        } else if changed {
            sd.start_no_block("k3s", true)?;
            Ok(((), "restarted: its configuration changed".into()))
        } else {
            Ok(((), "running; configuration unchanged".into()))
        }
    })?;
    Ok(())
}

/// With no new properties, k3s still starts with the configuration of the last good run.
fn start_previous_k3s(log: &mut log::Log, root: &Path, sd: &systemd::Systemctl) -> Result<(), Stop> {
    if !root.join("etc/rancher/k3s/config.yaml").exists() {
        log.skip("k3s", "never configured: no k3s configuration yet");
        return Ok(());
    }
    k3s(log, sd, false)
}
