//! `firstboot run` end to end under a root folder: properties from a stand-in for
//! vmware-rpctool, systemd through a stand-in for systemctl (tests/peers), and the router's
//! readiness through a fake Kubernetes API that answers as k3s does once it has applied the
//! manifests folder (there is no k3s to run here). Idempotency, incremental changes, invalid
//! properties and the router timeout.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use e2e::{repo_root, TempDir};
use serde_json::Value;

const TOKEN: &str = "test-token";
const HOSTILE_FUNCTION: &str = "<img src=x onerror=alert(1)>";

/// The fake API server: the router's Deployment mirrors the manifest k3s would have applied
/// from `root`; `healthy` decides whether its pod is ready or crash-looping.
struct FakeApi {
    port: u16,
    healthy: Arc<AtomicBool>,
}

fn manifest_hash(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(root.join("var/lib/rancher/k3s/server/manifests/event-router.yaml")).ok()?;
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("event-router.vmware.com/config-sha256:"))?;
    Some(line.split(':').nth(1)?.trim().to_string())
}

fn answer(path: &str, auth_ok: bool, root: &Path, healthy: bool) -> (u16, String) {
    if !auth_ok {
        return (401, r#"{"kind":"Status","code":401}"#.into());
    }
    if path == "/apis/apps/v1/namespaces/vmware-system/deployments/event-router" {
        let Some(hash) = manifest_hash(root) else {
            return (404, r#"{"kind":"Status","code":404}"#.into());
        };
        let ready = if healthy { 1 } else { 0 };
        let body = serde_json::json!({
            "metadata": {"name": "event-router", "namespace": "vmware-system", "generation": 2},
            "spec": {"replicas": 1, "template": {"metadata": {"annotations": {
                "event-router.vmware.com/config-sha256": hash}}}},
            "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "readyReplicas": ready}
        });
        return (200, body.to_string());
    }
    if path == "/apis/serving.knative.dev/v1/namespaces/vmware-functions/services" {
        // A function that is up, and one named like markup whose URL is a script, not yet ready.
        let body = serde_json::json!({"kind": "ServiceList", "items": [
            {"metadata": {"name": "echo", "namespace": "vmware-functions"},
             "status": {"url": "https://echo.vmware-functions.veba.corp.local",
                        "conditions": [{"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": HOSTILE_FUNCTION, "namespace": "vmware-functions"},
             "status": {"url": "javascript:alert(1)",
                        "conditions": [{"type": "Ready", "status": "False", "reason": "RevisionFailed",
                                        "message": "Back-off pulling image"}]}}
        ]});
        return (200, body.to_string());
    }
    if path.starts_with("/api/v1/namespaces/vmware-system/pods?labelSelector=") {
        let body = serde_json::json!({"items": [{
            "metadata": {"name": "event-router-7d9f-abcde"},
            "status": {"containerStatuses": [{"ready": healthy, "state": if healthy {
                serde_json::json!({"running": {}})
            } else {
                serde_json::json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}})
            }}]}
        }]});
        return (200, body.to_string());
    }
    (404, "{}".into())
}

impl FakeApi {
    fn start(root: &Path) -> FakeApi {
        let healthy = Arc::new(AtomicBool::new(true));
        let (flag, root) = (healthy.clone(), root.to_path_buf());
        let port = e2e::json_server(move |path, headers| {
            let auth_ok = headers
                .iter()
                .any(|h| h.to_ascii_lowercase().starts_with("authorization:") && h.contains(TOKEN));
            answer(path, auth_ok, &root, flag.load(Ordering::SeqCst))
        });
        FakeApi { port, healthy }
    }

    /// k3s's kubeconfig, pointing at this server.
    fn kubeconfig(&self, root: &Path) {
        let path = root.join("etc/rancher/k3s/k3s.yaml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: default\nclusters:\n- name: default\n  cluster:\n    server: http://127.0.0.1:{}\ncontexts:\n- name: default\n  context:\n    cluster: default\n    user: default\nusers:\n- name: default\n  user:\n    token: {TOKEN}\n",
                self.port
            ),
        )
        .unwrap();
    }
}

/// A machine under a temporary root: guestinfo, systemd state and the API server (also the
/// appliances of `upgrade`'s state test).
pub(crate) struct Machine {
    pub(crate) root: TempDir,
    pub(crate) work: TempDir,
    api: FakeApi,
}

impl Machine {
    pub(crate) fn new(sample: &str) -> Machine {
        let root = TempDir::new("root");
        let work = TempDir::new("machine");
        let seed = repo_root().join("firstboot/testdata/seed").join(sample);
        assert!(Command::new("cp")
            .arg("-r")
            .arg(format!("{}/.", seed.display()))
            .arg(root.path())
            .status()
            .unwrap()
            .success());
        let api = FakeApi::start(root.path());
        api.kubeconfig(root.path());
        let m = Machine { root, work, api };
        m.set_guestinfo(
            &std::fs::read_to_string(repo_root().join(format!("firstboot/testdata/{sample}.xml"))).unwrap(),
        );
        m
    }

    fn guestinfo(&self) -> PathBuf {
        self.work.path().join("guestinfo")
    }

    /// The folder where the fake rpctool keeps the other keys the guest set (a power cycle
    /// empties it).
    fn guest_set_keys(&self) -> PathBuf {
        self.work.path().join("guestinfo.keys")
    }

    /// A power cycle, as vSphere hands the properties over at power-on: guestinfo.ovfEnv holds
    /// `xml`, and the keys the guest set while the VM ran are gone.
    pub(crate) fn set_guestinfo(&self, xml: &str) {
        if let Err(e) = std::fs::remove_dir_all(self.guest_set_keys()) {
            assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
        }
        std::fs::write(self.guestinfo(), xml).unwrap();
    }

    /// A process in the running guest writes guestinfo.ovfEnv through the backdoor (no power
    /// cycle: what the guest set before stays).
    fn guest_sets_ovfenv(&self, xml: &str) {
        let out = Command::new(repo_root().join("tests/peers/fake-rpctool.sh"))
            .arg(format!("info-set guestinfo.ovfEnv {xml}"))
            .env("FAKE_GUESTINFO", self.guestinfo())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    /// A key the guest set (other than guestinfo.ovfEnv), `None` when it is unset.
    fn guest_set_key(&self, key: &str) -> Option<String> {
        std::fs::read_to_string(self.guest_set_keys().join(key)).ok()
    }

    /// `firstboot ARGS` with the stand-ins; returns (exit code, stdout, stderr).
    pub(crate) fn firstboot(&self, args: &[&str]) -> (Option<i32>, String, String) {
        self.firstboot_with(args, &[], &[])
    }

    /// The same with more environment (`env`) and without some of the stand-ins' (`unset`).
    fn firstboot_with(&self, args: &[&str], env: &[(&str, &str)], unset: &[&str]) -> (Option<i32>, String, String) {
        let peers = repo_root().join("tests/peers");
        let mut cmd = Command::new(e2e::workspace_bin("firstboot"));
        cmd.args(args)
            .arg("--root")
            .arg(self.root.path())
            .env("FIRSTBOOT_SYSTEMCTL", peers.join("fake-systemctl.sh"))
            .env("FIRSTBOOT_RPCTOOL", peers.join("fake-rpctool.sh"))
            .env("FAKE_SYSTEMD_DIR", self.work.path().join("systemd"))
            .env("FAKE_GUESTINFO", self.guestinfo())
            .envs(env.iter().copied());
        for key in unset {
            cmd.env_remove(key);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The systemctl calls that changed something since the last call of this.
    fn actions(&self) -> Vec<String> {
        let path = self.work.path().join("systemd/calls");
        let calls = std::fs::read_to_string(&path).unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        calls
            .lines()
            .filter(|c| !c.starts_with("is-"))
            .map(str::to_string)
            .collect()
    }

    pub(crate) fn status(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.root.path().join("var/lib/firstboot/status.json")).unwrap()).unwrap()
    }
}

fn step_results(status: &serde_json::Value) -> Vec<String> {
    status["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{} {}", s["name"].as_str().unwrap(), s["result"].as_str().unwrap()))
        .collect()
}

#[test]
fn run_applies_everything_then_changes_nothing_then_only_the_difference() {
    let m = Machine::new("proxy-credentials");
    let (code, out, err) = m.firstboot(&["run", "--router-timeout", "20"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(
        m.actions(),
        [
            "enable --now rsyslog",
            "restart systemd-networkd",
            "start --no-block k3s"
        ],
        "sshd stays disabled (Enable SSH = false); networkd picks up its new file; k3s starts"
    );
    let status = m.status();
    assert_eq!(status["result"], "ok");
    assert_eq!(
        step_results(&status),
        [
            "read ok",
            "validate ok",
            "render ok",
            "write ok",
            "hostname skipped",
            "dirs ok",
            "services ok",
            "k3s ok",
            "router ok",
            "clear ok"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(m.guestinfo()).unwrap(),
        "NULL",
        "guestinfo.ovfEnv is cleared"
    );
    let log = std::fs::read_to_string(m.root.path().join("var/log/bootstrap.log")).unwrap();
    assert!(log.contains("step router: ok in"), "{log}");
    for secret in ["VMware1!", "p@ss", "Stats!Pass"] {
        assert!(
            !log.contains(secret) && !out.contains(secret),
            "a secret reached the log"
        );
    }

    // Reboot without new properties: guestinfo is empty, k3s is already running, nothing to do.
    let (code, out, _) = m.firstboot(&["run"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("cleared after the last successful run"), "{out}");
    assert_eq!(m.actions(), Vec::<String>::new());

    // Power-cycle with the same properties: nothing is rewritten or restarted.
    m.set_guestinfo(&std::fs::read_to_string(repo_root().join("firstboot/testdata/proxy-credentials.xml")).unwrap());
    let (code, out, _) = m.firstboot(&["run"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("step write: ok in") && out.contains("nothing changed"),
        "{out}"
    );
    assert_eq!(m.actions(), Vec::<String>::new());

    // A new vCenter password: only the router's config and manifest change, no service restarts;
    // the run waits until the Deployment carries the new config.
    let xml = std::fs::read_to_string(repo_root().join("firstboot/testdata/proxy-credentials.xml"))
        .unwrap()
        .replace(
            r#"guestinfo.vcenter_password" oe:value="VMware1!""#,
            r#"guestinfo.vcenter_password" oe:value="N3w-pass!""#,
        );
    m.set_guestinfo(&xml);
    let (code, out, _) = m.firstboot(&["run"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("step write: ok in")
            && out
                .contains(": /etc/event-router/config.yaml, /var/lib/rancher/k3s/server/manifests/event-router.yaml\n"),
        "{out}"
    );
    assert_eq!(
        m.actions(),
        Vec::<String>::new(),
        "only the router restarts (k3s rolls its Deployment)"
    );

    // `firstboot status` tells the story.
    let (code, out, _) = m.firstboot(&["status"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("last run: started") && out.contains("  router     ok"),
        "{out}"
    );
}

#[test]
fn invalid_properties_change_nothing_and_are_kept_in_the_status() {
    let m = Machine::new("static-knative");
    m.set_guestinfo(&std::fs::read_to_string(repo_root().join("firstboot/testdata/invalid.xml")).unwrap());
    let before = std::fs::read(m.root.path().join("etc/shadow")).unwrap();
    let (code, out, _) = m.firstboot(&["run"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("invalid property: IP Address (guestinfo.ipaddress): must be an IPv4 address"),
        "shown on the console: {out}"
    );
    assert_eq!(m.actions(), Vec::<String>::new());
    assert_eq!(std::fs::read(m.root.path().join("etc/shadow")).unwrap(), before);
    assert!(!m.root.path().join("etc/hostname").exists(), "nothing is rendered");
    assert_ne!(
        std::fs::read_to_string(m.guestinfo()).unwrap(),
        "NULL",
        "kept for the next try"
    );
    let (code, out, _) = m.firstboot(&["status"]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("invalid properties (fix them in the VM's vApp Options, then power-cycle):")
            && out.contains(
                "  - vCenter Password (guestinfo.vcenter_password): is required when a vCenter Server is set"
            ),
        "{out}"
    );
}

#[test]
fn a_router_that_does_not_get_ready_fails_the_run_with_what_was_seen() {
    let m = Machine::new("static-knative");
    m.api.healthy.store(false, Ordering::SeqCst);
    let (code, out, _) = m.firstboot(&["run", "--router-timeout", "3"]);
    assert_eq!(code, Some(1), "{out}");
    let status = m.status();
    assert_eq!(status["result"], "failed");
    let error = status["error"].as_str().unwrap();
    assert!(
        error.contains("the router did not become ready within 3 s")
            && error.contains("CrashLoopBackOff")
            && error.contains("kubectl -n vmware-system logs deploy/event-router"),
        "{error}"
    );
    assert_ne!(
        std::fs::read_to_string(m.guestinfo()).unwrap(),
        "NULL",
        "not cleared after a failure"
    );
    assert!(
        m.root.path().join("var/lib/firstboot/origin.json").exists(),
        "the origin is recorded once the properties are valid, before anything is applied"
    );
}

#[test]
fn status_before_any_run_says_so() {
    let m = Machine::new("static-knative");
    let (code, _, err) = m.firstboot(&["status"]);
    assert_eq!(code, Some(3));
    assert!(err.contains("firstboot has not run yet"), "{err}");
}

/// An ISO image with `ovf-env.xml` at its root, made by Debian's xorriso as vSphere's ISO
/// transport (or a QEMU user with `-cdrom`) attaches it.
fn ovf_env_iso(dir: &std::path::Path, xml: &str) -> PathBuf {
    let content = dir.join("iso-content");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("ovf-env.xml"), xml).unwrap();
    let iso = dir.join("ovf-env.iso");
    let out = Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-V", "OVF_ENV", "-J", "-R", "-o"])
        .arg(&iso)
        .arg(&content)
        .output()
        .expect("xorriso (scripts/install-test-tools.sh installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    iso
}

#[test]
fn the_iso_transport_is_read_when_guestinfo_has_no_environment() {
    let m = Machine::new("proxy-credentials");
    let xml = std::fs::read_to_string(repo_root().join("firstboot/testdata/proxy-credentials.xml")).unwrap();
    m.set_guestinfo("");
    let iso = ovf_env_iso(m.work.path(), &xml);
    // The first drive is empty (no medium): the next one is read.
    let drives = format!("{}:{}", m.work.path().join("sr0-no-medium").display(), iso.display());
    let env = [("FIRSTBOOT_CDROMS", drives.as_str())];
    let (code, out, err) = m.firstboot_with(&["run", "--router-timeout", "20"], &env, &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains(&format!("{} bytes from ovf-env.xml on {}", xml.len(), iso.display())),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "the properties came from ovf-env.xml on {}: left alone",
            iso.display()
        )),
        "{out}"
    );
    assert_eq!(m.status()["result"], "ok");
    assert!(m.root.path().join("etc/event-router/config.yaml").exists());
    assert_eq!(
        std::fs::read_to_string(m.guestinfo()).unwrap(),
        "",
        "guestinfo is not touched"
    );
    m.actions();

    // The CD-ROM stays attached: the next boot reads it again and changes nothing.
    let (code, out, _) = m.firstboot_with(&["run"], &env, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("nothing changed"), "{out}");
    assert_eq!(m.actions(), Vec::<String>::new());

    // guestinfo is read first when it has an environment (vSphere's order), but this appliance
    // was configured from its CD-ROM: an environment arriving another way is refused.
    let changed = xml.replace("VMware1!", "Guest1nfo!");
    m.set_guestinfo(&changed);
    let config = std::fs::read(m.root.path().join("etc/event-router/config.yaml")).unwrap();
    let (code, out, _) = m.firstboot_with(&["run", "--router-timeout", "20"], &env, &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(&format!("{} bytes from guestinfo.ovfEnv", changed.len())),
        "{out}"
    );
    assert!(out.contains("was configured from ovf-env.xml on a CD-ROM"), "{out}");
    assert_eq!(m.status()["result"], "refused");
    assert_eq!(
        std::fs::read(m.root.path().join("etc/event-router/config.yaml")).unwrap(),
        config
    );
    m.set_guestinfo("");

    // Not a VMware VM and no CD-ROM with the file: one error that names both transports.
    let not_iso = m.work.path().join("not-an-iso");
    std::fs::write(&not_iso, vec![0u8; 64 * 2048]).unwrap();
    let none = [("FIRSTBOOT_CDROMS", not_iso.to_str().unwrap())];
    let (code, out, _) = m.firstboot_with(&["run"], &none, &["FAKE_GUESTINFO"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("no OVF environment: guestinfo.ovfEnv cannot be read")
            && out.contains("not an ISO 9660 image")
            && out.contains("attach an ISO with ovf-env.xml at its root"),
        "{out}"
    );
}

#[test]
fn a_cd_rom_attached_after_the_first_boot_does_not_reconfigure_the_appliance() {
    let m = Machine::new("proxy-credentials");
    let (code, out, err) = m.firstboot(&["run", "--router-timeout", "20"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let shadow = std::fs::read(m.root.path().join("etc/shadow")).unwrap();
    let sshd = std::fs::read(m.root.path().join("etc/ssh/sshd_config.d/10-appliance.conf")).ok();
    assert!(
        m.root.path().join("var/lib/firstboot/origin.json").exists(),
        "the first run's origin is recorded"
    );
    // guestinfo was cleared by that run; later an attacker attaches a CD-ROM with another
    // environment: another root password, SSH on with root login.
    assert_eq!(std::fs::read_to_string(m.guestinfo()).unwrap().trim(), "NULL");
    let xml = std::fs::read_to_string(repo_root().join("firstboot/testdata/proxy-credentials.xml")).unwrap();
    let hostile = xml.replace("VMware1!", "Att4cker!").replace(
        r#"guestinfo.enable_ssh" oe:value="False""#,
        r#"guestinfo.enable_ssh" oe:value="True""#,
    );
    let iso = ovf_env_iso(m.work.path(), &hostile);
    let env = [("FIRSTBOOT_CDROMS", iso.to_str().unwrap())];
    let (code, out, _) = m.firstboot_with(&["run", "--router-timeout", "20"], &env, &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("came from ovf-env.xml on a CD-ROM") && out.contains("configured from guestinfo.ovfEnv"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(m.root.path().join("etc/shadow")).unwrap(),
        shadow,
        "root password unchanged"
    );
    assert_eq!(
        std::fs::read(m.root.path().join("etc/ssh/sshd_config.d/10-appliance.conf")).ok(),
        sshd
    );
    let status = m.status();
    assert_eq!(status["result"], "refused");
    assert!(
        status["warnings"][0].as_str().unwrap().contains("nothing was changed"),
        "{status}"
    );
}

const CLEARED_MARKER: &str = "guestinfo.firstboot.ovfEnvCleared";

#[test]
fn an_environment_written_from_inside_the_guest_is_refused_until_a_power_cycle() {
    let m = Machine::new("proxy-credentials");
    let xml = std::fs::read_to_string(repo_root().join("firstboot/testdata/proxy-credentials.xml")).unwrap();
    let (code, out, err) = m.firstboot(&["run", "--router-timeout", "20"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(std::fs::read_to_string(m.guestinfo()).unwrap(), "NULL");
    assert_eq!(
        m.guest_set_key(CLEARED_MARKER).as_deref(),
        Some("1"),
        "the clear step sets the marker"
    );
    assert!(
        out.contains(&format!(
            "guestinfo.ovfEnv cleared; {CLEARED_MARKER} set until the next power-off"
        )),
        "{out}"
    );
    m.actions();
    let shadow = std::fs::read(m.root.path().join("etc/shadow")).unwrap();
    let sshd = std::fs::read(m.root.path().join("etc/ssh/sshd_config.d/10-appliance.conf")).ok();

    // A process in the guest writes another environment into guestinfo.ovfEnv (another root
    // password, SSH on) and the guest reboots: the VM was not powered off, the marker is there.
    let hostile = xml.replace("VMware1!", "Att4cker!").replace(
        r#"guestinfo.enable_ssh" oe:value="False""#,
        r#"guestinfo.enable_ssh" oe:value="True""#,
    );
    m.guest_sets_ovfenv(&hostile);
    let (code, out, _) = m.firstboot(&["run", "--router-timeout", "20"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(&format!(
            "guestinfo.ovfEnv was set from inside the guest since the last power-off (the marker {CLEARED_MARKER} is still set)"
        )) && out.contains("change vApp properties with the VM powered off"),
        "{out}"
    );
    assert!(!out.contains("step validate"), "nothing of it is even validated: {out}");
    assert_eq!(std::fs::read(m.root.path().join("etc/shadow")).unwrap(), shadow);
    assert_eq!(
        std::fs::read(m.root.path().join("etc/ssh/sshd_config.d/10-appliance.conf")).ok(),
        sshd
    );
    assert_eq!(m.actions(), Vec::<String>::new(), "nothing is enabled or restarted");
    let status = m.status();
    assert_eq!(status["result"], "refused");
    assert!(
        status["warnings"][0]
            .as_str()
            .unwrap()
            .contains("set from inside the guest"),
        "{status}"
    );
    // A marker the guest overwrote still counts: it cannot remove the key.
    let out = Command::new(repo_root().join("tests/peers/fake-rpctool.sh"))
        .arg(format!("info-set {CLEARED_MARKER} "))
        .env("FAKE_GUESTINFO", m.guestinfo())
        .output()
        .unwrap();
    assert!(out.status.success());
    let (code, out, _) = m.firstboot(&["run", "--router-timeout", "20"]);
    assert_eq!(code, Some(2), "{out}");
    assert_eq!(std::fs::read(m.root.path().join("etc/shadow")).unwrap(), shadow);

    // After a power cycle vSphere hands over the vApp options' environment and the marker is
    // gone: a new root password set there is applied, and the marker is set again.
    let changed = xml.replace("VMware1!", "N3w-r00t!");
    m.set_guestinfo(&changed);
    assert_eq!(m.guest_set_key(CLEARED_MARKER), None);
    let (code, out, err) = m.firstboot(&["run", "--router-timeout", "20"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(m.status()["result"], "ok");
    assert_ne!(
        std::fs::read(m.root.path().join("etc/shadow")).unwrap(),
        shadow,
        "the new root password is applied"
    );
    assert_eq!(m.guest_set_key(CLEARED_MARKER).as_deref(), Some("1"));
}

/// A certificate for veba.corp.local valid from `from` to `until` days from now, and its key,
/// made with the Python `cryptography` package (PEM texts).
fn certificate(host: &str, from: i64, until: i64) -> (String, String) {
    let script = r#"
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
host, start, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
key = ec.generate_private_key(ec.SECP256R1())
now = datetime.datetime.now(datetime.timezone.utc)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=start)).not_valid_after(now + datetime.timedelta(days=end))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256()))
print(cert.public_bytes(serialization.Encoding.PEM).decode(), end="")
print("=====")
print(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(), end="")
"#;
    let out = Command::new(e2e::tool(".tools/venv/bin/python"))
        .args(["-c", script, host, &from.to_string(), &until.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let (cert, key) = text.split_once("=====\n").unwrap();
    (cert.to_string(), key.to_string())
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The sample's environment with more properties (values XML-escaped).
fn with_properties(sample: &str, extra: &[(&str, &str)]) -> String {
    let mut props = String::new();
    for (k, v) in extra {
        let v = v
            .replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;")
            .replace('\n', "&#10;");
        props.push_str(&format!(
            "         <Property oe:key=\"guestinfo.{k}\" oe:value=\"{v}\"/>\n"
        ));
    }
    std::fs::read_to_string(repo_root().join(format!("firstboot/testdata/{sample}.xml")))
        .unwrap()
        .replace("   </PropertySection>", &format!("{props}   </PropertySection>"))
}

fn file_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_private_key_pasted_as_pem_reaches_no_console_log_or_status_file() {
    let m = Machine::new("static-knative");
    let (cert, key) = certificate("veba.corp.local", -1, 365);
    m.set_guestinfo(&with_properties(
        "static-knative",
        &[("custom_tls_ca_cert", &b64(&cert)), ("custom_tls_private_key", &key)],
    ));
    let (code, out, err) = m.firstboot(&["run"]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        out.contains("TLS Private Key (Base64 PEM) (guestinfo.custom_tls_private_key)"),
        "{out}"
    );
    let log_path = m.root.path().join("var/log/bootstrap.log");
    let status_path = m.root.path().join("var/lib/firstboot/status.json");
    let (_, status_text, _) = m.firstboot(&["status"]);
    let body = key.lines().nth(1).unwrap();
    for (what, text) in [
        ("console", out),
        ("stderr", err),
        ("bootstrap.log", std::fs::read_to_string(&log_path).unwrap()),
        ("status.json", std::fs::read_to_string(&status_path).unwrap()),
        ("firstboot status", status_text),
    ] {
        assert!(
            !text.contains("PRIVATE KEY") && !text.contains(body),
            "the key reached the {what}:\n{text}"
        );
    }
    assert_eq!(file_mode(&log_path), 0o600);
    // Readable by the router's console (it holds no secret, as checked above).
    assert_eq!(file_mode(&status_path), 0o644);
}

#[test]
fn an_expired_certificate_is_a_warning_on_the_console_and_in_firstboot_status() {
    let m = Machine::new("static-knative");
    let (cert, key) = certificate("veba.corp.local", -400, -2);
    m.set_guestinfo(&with_properties(
        "static-knative",
        &[
            ("custom_tls_ca_cert", &b64(&cert)),
            ("custom_tls_private_key", &b64(&key)),
        ],
    ));
    let (code, out, err) = m.firstboot(&["run", "--router-timeout", "20"]);
    assert_eq!(code, Some(0), "valid input, it applies: {out}{err}");
    assert!(
        out.contains("warning: TLS Certificate (Base64 PEM) (guestinfo.custom_tls_ca_cert) expired on"),
        "{out}"
    );
    let (_, status, _) = m.firstboot(&["status"]);
    assert!(
        status.contains("warnings:\n  - TLS Certificate") && status.contains("expired on"),
        "{status}"
    );
}

#[test]
fn debugging_is_verbose_and_turning_it_off_on_a_later_boot_takes_effect() {
    let m = Machine::new("static-knative");
    let manifest = m
        .root
        .path()
        .join("var/lib/rancher/k3s/server/manifests/event-router.yaml");
    m.set_guestinfo(&with_properties("static-knative", &[("debug", "True")]));
    let (code, out, err) = m.firstboot(&["run", "--router-timeout", "20"]);
    assert_eq!(code, Some(0), "{out}{err}");
    // Detail lines: the properties (no secret value), the router's log level, what was rendered.
    assert!(
        out.contains("firstboot: debug: property guestinfo.vcenter_password (vCenter Password): set (secret)"),
        "{out}"
    );
    assert!(
        out.contains("firstboot: debug: property guestinfo.vcenter_server (vCenter Server): \"vcsa.corp.local\""),
        "{out}"
    );
    assert!(
        out.contains("firstboot: debug: router log level: info,event_router=debug"),
        "{out}"
    );
    assert!(
        out.contains("firstboot: debug: rendered /etc/event-router/config.yaml (mode 600, "),
        "{out}"
    );
    assert!(!out.contains("VMware1!"), "a secret in a detail line: {out}");
    let debug_manifest = std::fs::read_to_string(manifest.as_path()).unwrap();
    assert!(
        debug_manifest.contains("\"--log-level\", \"info,event_router=debug\"]"),
        "{debug_manifest}"
    );
    let debug_hash = manifest_hash(m.root.path()).unwrap();
    let status = m.status();
    assert!(
        status["notes"]
            .to_string()
            .contains("Debugging is on: the router logs every event at debug level"),
        "{status}"
    );
    assert!(step_results(&status).contains(&"clear skipped".to_string()), "{status}");
    let (_, report, _) = m.firstboot(&["status"]);
    assert!(
        report.contains("notes:\n") && report.contains("Debugging is on"),
        "{report}"
    );

    // The next boot with Debugging off: the router's Deployment as without it, which rolls the
    // pod (the run waits for the new digest), and no detail lines.
    m.set_guestinfo(&std::fs::read_to_string(repo_root().join("firstboot/testdata/static-knative.xml")).unwrap());
    let (code, out, err) = m.firstboot(&["run", "--router-timeout", "20"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(!out.contains("firstboot: debug:"), "{out}");
    assert!(
        out.contains(": /var/lib/rancher/k3s/server/manifests/event-router.yaml\n"),
        "only the router's Deployment is written again: {out}"
    );
    assert!(!std::fs::read_to_string(manifest.as_path())
        .unwrap()
        .contains("--log-level"));
    assert_ne!(manifest_hash(m.root.path()).unwrap(), debug_hash);
    let status = m.status();
    assert!(!status["notes"].to_string().contains("Debugging is on"), "{status}");
    assert!(step_results(&status).contains(&"clear ok".to_string()), "{status}");
}

#[test]
fn a_file_changed_by_hand_is_kept_and_reported_on_the_console_and_in_the_status() {
    let m = Machine::new("static-knative");
    let (code, out, err) = m.firstboot(&["run", "--router-timeout", "20"]);
    assert_eq!(code, Some(0), "{out}{err}");
    m.actions();
    let sshd = m.root.path().join("etc/ssh/sshd_config.d/10-appliance.conf");
    let rendered = std::fs::read_to_string(&sshd).unwrap();
    std::fs::write(&sshd, "PermitRootLogin prohibit-password\n").unwrap();
    m.set_guestinfo(&std::fs::read_to_string(repo_root().join("firstboot/testdata/static-knative.xml")).unwrap());
    let (code, out, err) = m.firstboot(&["run", "--router-timeout", "20"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let note = "note: /etc/ssh/sshd_config.d/10-appliance.conf was changed by hand since firstboot wrote it: your copy is kept as /etc/ssh/sshd_config.d/10-appliance.conf.local-";
    assert!(out.contains(note), "on the console: {out}");
    let status = m.status();
    let notes: Vec<&str> = status["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    let kept = notes
        .iter()
        .find_map(|n| n.strip_prefix(&note["note: ".len()..]))
        .unwrap_or_else(|| panic!("not in the status: {status}"));
    let copy_name = format!("10-appliance.conf.local-{}", kept.split_whitespace().next().unwrap());
    let copy = sshd.with_file_name(copy_name);
    assert_eq!(
        std::fs::read_to_string(copy.as_path()).unwrap(),
        "PermitRootLogin prohibit-password\n"
    );
    assert_eq!(
        std::fs::read_to_string(sshd.as_path()).unwrap(),
        rendered,
        "rendered again"
    );
    assert!(m.actions().contains(&"restart sshd".to_string()));
}

/// The release file as the appliance build writes it (packer/scripts/20-os.sh's here-document,
/// with this version and commit).
fn release_file(version: &str, commit: &str) -> String {
    let script = std::fs::read_to_string(repo_root().join("packer/scripts/20-os.sh")).unwrap();
    let body = script
        .split_once("cat >/etc/event-broker-release <<RELEASE\n")
        .and_then(|(_, rest)| rest.split_once("\nRELEASE\n"))
        .expect("20-os.sh writes /etc/event-broker-release")
        .0;
    format!("{body}\n")
        .replace("${APPLIANCE_VERSION}", version)
        .replace("${APPLIANCE_COMMIT}", commit)
}

#[test]
fn the_console_shows_the_first_boot_the_release_and_the_functions() {
    let m = Machine::new("static-knative");
    let (code, out, err) = m.firstboot(&["run", "--router-timeout", "20"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let status = m.status();
    let release = m.work.path().join("event-broker-release");
    std::fs::write(&release, release_file("1.4.2", "0123abcd")).unwrap();
    let sa = TempDir::new("sa");
    std::fs::write(sa.path().join("token"), TOKEN).unwrap();

    // The router as the rendered Deployment runs it: the three appliance variables, the API
    // through the service account.
    let rendered = std::fs::read_to_string(
        m.root
            .path()
            .join("var/lib/rancher/k3s/server/manifests/event-router.yaml"),
    )
    .unwrap();
    for var in [
        "EVENT_ROUTER_FIRSTBOOT_STATUS",
        "EVENT_ROUTER_RELEASE_FILE",
        "EVENT_ROUTER_FUNCTIONS_NAMESPACE",
    ] {
        assert!(
            rendered.contains(&format!("- name: {var}\n")),
            "{var} is not in the Deployment"
        );
    }
    let sink = e2e::CeReceiver::start(&[]);
    let (port, hook) = (e2e::free_port(), e2e::free_port());
    let config = e2e::router_config(
        "appliance-console",
        &format!("eventProvider:\n  type: webhook\n  name: hook\n  webhook:\n    bindAddress: 127.0.0.1:{hook}\n    path: /webhook\n"),
        &format!("eventProcessor:\n{}", e2e::knative(&sink.url(), "binary")),
        port,
        Some(("admin", "Stats-Pass1")),
        "",
    );
    let status_path = m.root.path().join("var/lib/firstboot/status.json");
    let api_port = m.api.port.to_string();
    let router = e2e::Router::start_env(
        &config,
        port,
        &[],
        &[
            ("EVENT_ROUTER_FIRSTBOOT_STATUS", status_path.to_str().unwrap()),
            ("EVENT_ROUTER_RELEASE_FILE", release.to_str().unwrap()),
            ("EVENT_ROUTER_FUNCTIONS_NAMESPACE", "vmware-functions"),
            ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
            ("KUBERNETES_SERVICE_PORT", api_port.as_str()),
            ("EVENT_ROUTER_KUBE_SCHEME", "http"),
            ("EVENT_ROUTER_SA_DIR", sa.path().to_str().unwrap()),
        ],
    );
    router.wait_ready(std::time::Duration::from_secs(20));

    let mut browser = e2e::browser::Browser::open(
        &format!("http://127.0.0.1:{port}/ui/#appliance"),
        "admin",
        "Stats-Pass1",
    );
    let view = browser.ask("appliance ^Last run ok");
    assert_eq!(view["ok"], true, "{view}");
    assert_eq!(view["nav"], true, "the Appliance link is shown: {view}");
    assert_eq!(view["release"], serde_json::json!(["1.4.2", "0123abcd"]), "{view}");
    assert!(
        view["summary"]
            .as_str()
            .unwrap()
            .contains(status["started"].as_str().unwrap()),
        "{view}"
    );
    // Every step of the status file, in order, with its result and duration.
    let want: Vec<Value> = (status["steps"].as_array().unwrap().iter())
        .map(|s| {
            serde_json::json!([
                s["name"],
                s["result"],
                format!("{:.1} s", s["seconds"].as_f64().unwrap()),
                s["detail"]
            ])
        })
        .collect();
    assert_eq!(view["steps"], Value::Array(want), "{view}");
    // The functions: the ready one links to its URL; the other is named as text, its script URL
    // is not a link, and it says why it is not ready.
    assert_eq!(
        view["functions"],
        serde_json::json!([
            [
                HOSTILE_FUNCTION,
                "javascript:alert(1)",
                "not ready: Back-off pulling image"
            ],
            ["echo", "https://echo.vmware-functions.veba.corp.local", "ready"]
        ]),
        "{view}"
    );
    assert_eq!(
        view["links"],
        serde_json::json!(["https://echo.vmware-functions.veba.corp.local"])
    );
    let dir = repo_root().join("target/console");
    std::fs::create_dir_all(&dir).unwrap();
    assert_eq!(
        browser.ask(&format!("shot {}", dir.join("appliance.png").display()))["ok"],
        true
    );
    let checks = browser.ask("dialogs");
    assert_eq!(checks["dialogs"], 0, "a function's name ran as script: {checks}");

    // Without the service account's token the API refuses, and the page says what to grant.
    std::fs::write(sa.path().join("token"), "wrong").unwrap();
    let (code, body, _) = e2e::http_get_auth(port, "/ui/appliance", "admin", "Stats-Pass1").unwrap();
    assert_eq!(code, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    let e = v["functions_error"].as_str().unwrap_or_default();
    assert!(
        e.contains("401") && e.contains("list on services.serving.knative.dev"),
        "{v}"
    );
}
