//! scripts/upgrade.sh: an appliance deployed into vcsim from an OVA built by `ova build` is
//! upgraded to a newer OVA. The vSphere side against vcsim: the dry run changes nothing and shows
//! passwords as `<set>`; --apply deploys the new VM with every property carried over (a property
//! the new OVA lacks is named, one the old VM lacks gets the new default, passwords vCenter does
//! not return come from --properties), powers the old VM off only after the new router's
//! readiness probe passed, swaps the names; --rollback restores the power states and names; a
//! static address is handed over with the old VM off first, and a new router that never gets
//! ready is undone. vcsim's VMs have no guest: SSH is tests/peers/fake-ssh.sh, which runs the
//! script's remote commands against folders standing in for the guests (answering for the VM
//! that is powered on). The state side: those folders are two `firstboot run` roots
//! (firstboot_run.rs's Machine), so the carried checkpoints, dead letters, Endpoint Password and
//! certificate are checked with the real firstboot rendering the new appliance.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use e2e::{output_text as text, repo_root, run_in, tool, workspace_bin, TempDir, Vcsim};

use crate::firstboot_run::Machine;

const CHECKPOINT: &str = r#"{"vCenter":"https://vcsa.corp.local/sdk","lastEventUUID":"","lastEventKey":4711,"lastEventType":"VmPoweredOffEvent","lastEventKeyTimestamp":"2026-11-22T04:10:27Z","createdTimestamp":"2026-11-22T04:10:30Z"}"#;
const DEAD_LETTERS: &str = "{\"processor\":\"sink\",\"error\":\"HTTP 400\",\"event\":{\"id\":\"4700\"}}\n{\"processor\":\"sink\",\"error\":\"HTTP 400\",\"event\":{\"id\":\"4702\"}}\n";

/// An OVA of `version` built by `ova build` from a small empty disk.
fn build_ova(dir: &Path, version: &str) -> PathBuf {
    let disk = dir.join("system.qcow2");
    if !disk.exists() {
        run_in(
            dir,
            "qemu-img",
            &["create", "-q", "-f", "qcow2", disk.to_str().expect("utf-8"), "16M"],
        );
    }
    let ova = dir.join(format!("appliance-{version}.ova"));
    let out = Command::new(workspace_bin("ova"))
        .args(["build", "--disk"])
        .arg(&disk)
        .arg("--out")
        .arg(&ova)
        .args(["--version", version, "--commit", "0123abcd"])
        .output()
        .expect("ova build");
    assert!(out.status.success(), "{}", text(&out));
    ova
}

/// A value for every property (text with spaces, `=` and `#`; booleans True; the last choice),
/// with the IP Address `ip` (DHCP when empty; a static one gets a gateway and DNS server).
fn properties(ip: &str) -> Vec<(String, String)> {
    ovf::PROPERTIES
        .iter()
        .filter_map(|p| {
            let value = match (p.key, p.kind) {
                ("hostname", _) => "veba.corp.local".to_string(),
                ("ipaddress", _) => ip.to_string(),
                ("gateway", _) | ("dns", _) if !ip.is_empty() => "192.168.30.1".to_string(),
                (_, ovf::Kind::Bool) => "True".to_string(),
                (_, ovf::Kind::Choice) => p.values.last().copied().unwrap_or_default().to_string(),
                _ => format!("v {}=x#{}", p.key, p.key.len()),
            };
            (!value.is_empty()).then(|| (p.ovf_key(), value))
        })
        .collect()
}

/// The few properties an appliance that streams one vCenter needs (DHCP, SSH on).
fn small_properties() -> Vec<(String, String)> {
    [
        ("guestinfo.hostname", "veba.corp.local"),
        ("guestinfo.root_password", "R00t pass#1"),
        ("guestinfo.enable_ssh", "True"),
        ("guestinfo.vcenter_server", "vcsa.corp.local"),
        ("guestinfo.vcenter_username", "events@vsphere.local"),
        ("guestinfo.vcenter_password", "Vc=pass 2"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn prop<'a>(props: &'a [(String, String)], key: &str) -> &'a str {
    props
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key}"))
}

fn is_secret(key: &str) -> bool {
    ovf::PROPERTIES.iter().any(|p| p.ovf_key() == key && p.secret())
}

fn write_properties(path: &Path, props: &[(String, String)]) {
    let body: String = props.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(path, body).expect("write properties");
}

/// Deploys `ova` as VM `name` with `props` through scripts/deploy-govc.sh (powered on).
fn deploy(vcsim: &Vcsim, dir: &Path, ova: &Path, name: &str, props: &[(String, String)]) {
    let file = dir.join(format!("{name}.properties"));
    write_properties(&file, props);
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/deploy-govc.sh"))
        .arg(ova)
        .arg(&file)
        .envs(vcsim.govc_env())
        .env("GOVC", tool(".tools/bin/govc"))
        .env("GOVC_DATASTORE", "LocalDS_0")
        .env("GOVC_RESOURCE_POOL", "/DC0/host/DC0_C0/Resources")
        .env("VM_NAME", name)
        .output()
        .expect("deploy-govc.sh");
    assert!(out.status.success(), "{}", text(&out));
}

/// The VMs' names in vcsim's VM folder.
fn vms(vcsim: &Vcsim) -> Vec<String> {
    vcsim
        .govc(&["ls", "/DC0/vm"])
        .lines()
        .filter_map(|l| l.rsplit('/').next())
        .map(str::to_string)
        .collect()
}

/// A VM's power state; `vm` is a path or a managed object reference.
fn power(vcsim: &Vcsim, vm: &str) -> String {
    vcsim
        .govc(&["object.collect", "-s", vm, "runtime.powerState"])
        .trim()
        .to_string()
}

fn moref(vcsim: &Vcsim, path: &str) -> String {
    vcsim.govc(&["ls", "-i", path]).trim().to_string()
}

fn write(root: &Path, rel: &str, content: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
}

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel} under {}: {e}", root.display()))
}

/// fake-ssh.sh's folder: `hosts` (`HOST VM ROOT` lines) and its log of logins.
struct Ssh {
    dir: TempDir,
}

impl Ssh {
    fn new(hosts: &[(&str, &str, &Path)]) -> Ssh {
        let dir = TempDir::new("fake-ssh");
        let lines: String = hosts
            .iter()
            .map(|(host, vm, root)| format!("{host} {vm} {}\n", root.display()))
            .collect();
        std::fs::write(dir.path().join("hosts"), lines).expect("write hosts");
        Ssh { dir }
    }

    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The index of the first logged login that starts with `prefix`.
    fn first(&self, prefix: &str) -> usize {
        let log = self.log();
        log.iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in the SSH log:\n{}", log.join("\n")))
    }
}

/// A readiness endpoint on loopback: 503 to the first `fail_first` probes (to all with `None`),
/// then 200; each probe records its answer and the old VM's power state at that moment.
struct Readiness {
    url: String,
    probes: Arc<Mutex<Vec<(u16, String)>>>,
}

impl Readiness {
    fn start(vcsim: &Vcsim, old_vm: &str, fail_first: Option<usize>) -> Readiness {
        let probes = Arc::new(Mutex::new(Vec::new()));
        let seen = probes.clone();
        let (env, vm, govc) = (vcsim.govc_env(), old_vm.to_string(), tool(".tools/bin/govc"));
        // Its own session folder: the upgrade script's govc runs at the same time, and govc
        // rewrites its session file in place (govmomi session/cache).
        let home = TempDir::new("govc-probe");
        let port = e2e::json_server(move |path, _| {
            let out = Command::new(&govc)
                .args(["object.collect", "-s", vm.as_str(), "runtime.powerState"])
                .envs(env.clone())
                .env("GOVMOMI_HOME", home.path())
                .output()
                .expect("govc");
            let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let mut seen = seen.lock().expect("lock");
            let code = match fail_first {
                _ if path != "/readyz" => 404,
                Some(n) if seen.len() >= n => 200,
                _ => 503,
            };
            seen.push((code, state));
            (code, "{}".to_string())
        });
        Readiness {
            url: format!("http://127.0.0.1:{port}/readyz"),
            probes,
        }
    }

    fn probes(&self) -> Vec<(u16, String)> {
        self.probes.lock().expect("lock").clone()
    }
}

/// Runs scripts/upgrade.sh against vcsim with fake-ssh.sh; `govc` is what the script calls govc.
fn upgrade(vcsim: &Vcsim, ssh: &Ssh, govc: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new("bash")
        .arg(repo_root().join("scripts/upgrade.sh"))
        .args(args)
        .envs(vcsim.govc_env())
        .env("GOVC", govc)
        .env("REAL_GOVC", tool(".tools/bin/govc"))
        .env("SSH", repo_root().join("tests/peers/fake-ssh.sh"))
        .env("FAKE_SSH_DIR", ssh.dir.path())
        .env("UPGRADE_POLL_SECONDS", "0.1")
        .env("UPGRADE_SHUTDOWN_SECONDS", "5")
        .env_remove("SSHPASS")
        .env_remove("NETWORK")
        .env_remove("GOVC_DATASTORE")
        .env_remove("GOVC_RESOURCE_POOL")
        .env_remove("GOVC_FOLDER")
        .envs(env.iter().copied())
        .output()
        .expect("upgrade.sh")
}

#[test]
fn dhcp_upgrade_carries_every_property_turns_the_old_vm_off_after_the_new_router_is_ready_and_rolls_back() {
    let dir = TempDir::new("upgrade");
    let old_ova = build_ova(dir.path(), "1.0.0");
    let new_ova = build_ova(dir.path(), "1.1.0");
    let vcsim = Vcsim::start(&[]);
    let govc = tool(".tools/bin/govc");
    let props = properties("");
    deploy(&vcsim, dir.path(), &old_ova, "veba", &props);
    // A property of the old OVA that the new one no longer has (vcsim 0.24.2 keeps vApp property
    // values in ExtraConfig), and more memory than the OVA's.
    vcsim.govc(&[
        "vm.change",
        "-vm",
        "veba",
        "-e",
        "guestinfo.retired_setting=gone",
        "-m",
        "12288",
    ]);
    let old_ref = moref(&vcsim, "/DC0/vm/veba");

    // The guests: the old appliance's state; the checkpoint the new one's first boot writes.
    let old_root = TempDir::new("old-guest");
    write(
        old_root.path(),
        "var/lib/event-router/checkpoints/cp-vcsa.corp.local.json",
        CHECKPOINT,
    );
    write(
        old_root.path(),
        "var/lib/event-router/checkpoints/dead-letters.jsonl",
        DEAD_LETTERS,
    );
    write(
        old_root.path(),
        "etc/event-router/endpoint-password",
        "Gen3ratedEndpointPassw0rd\n",
    );
    // Its custom certificate comes with the properties: the files are not carried.
    write(
        old_root.path(),
        "etc/event-router/tls/tls.crt",
        "the custom certificate\n",
    );
    let new_root = TempDir::new("new-guest");
    write(
        new_root.path(),
        "var/lib/event-router/checkpoints/cp-vcsa.corp.local.json",
        "{\"first boot\":1}",
    );
    let ssh = Ssh::new(&[
        ("old.test", "veba", old_root.path()),
        ("new.test", "veba-upgrade", new_root.path()),
    ]);
    // A function runs on the old appliance (and, once applied, on the new one).
    let functions = "service.serving.knative.dev/echo\ntrigger.eventing.knative.dev/echo\n";
    for guest in ["guest-veba", "guest-veba-upgrade"] {
        write(ssh.dir.path(), &format!("{guest}/functions"), functions);
    }
    let manifest =
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: echo\n  namespace: vmware-functions\n";
    let manifest_file = dir.path().join("echo.yaml");
    std::fs::write(&manifest_file, manifest).expect("write");
    let ready = Readiness::start(&vcsim, &old_ref, Some(2));
    let new_ova = new_ova.to_str().expect("utf-8");
    let args = [
        "--vm",
        "veba",
        "--ova",
        new_ova,
        "--old-host",
        "old.test",
        "--new-host",
        "new.test",
        "--ready-url",
        ready.url.as_str(),
        "--timeout",
        "30",
    ];
    // fake-ssh.sh accepts the Root Password property, which the script logs in with.
    let env = [("FAKE_SSH_PASSWORD", prop(&props, "guestinfo.root_password"))];
    let secrets: Vec<&(String, String)> = props.iter().filter(|(k, _)| is_secret(k)).collect();
    assert!(secrets.len() >= 9, "{secrets:?}");

    // The dry run: the plan, read over SSH, and nothing changed.
    let out = upgrade(&vcsim, &ssh, &govc, &args, &env);
    let plan = text(&out);
    assert!(out.status.success(), "{plan}");
    for want in [
        "old VM:    /DC0/vm/veba (poweredOn), version 1.0.0 (commit 0123abcd)",
        "new OVA:   ",
        "version 1.1.0 (commit 0123abcd)",
        "address:   DHCP",
        "guestinfo.hostname = veba.corp.local\n",
        "guestinfo.root_password = <set>\n",
        "guestinfo.custom_tls_private_key = <set>\n",
        "guestinfo.vcenter_server = v vcenter_server=x#14\n",
        "not carried: guestinfo.retired_setting (the new OVA has no such property)",
        "state:     over SSH from root@old.test to the new VM: /etc/event-router/endpoint-password /var/lib/event-router/checkpoints\n",
        "checkpoint folder: cp-vcsa.corp.local.json dead-letters.jsonl\n",
        "stop the old router so its checkpoints are final",
        "power-cycle the new VM",
        "power the old VM off (the new router is ready)",
        "rename: veba -> veba-previous, veba-upgrade -> veba",
        "dry run: nothing was changed; run again with --apply to upgrade",
        "warning: the old appliance runs service.serving.knative.dev/echo trigger.eventing.knative.dev/echo: they are not carried. Give their manifests with --functions PATH",
    ] {
        assert!(plan.contains(want), "missing {want:?} in:\n{plan}");
    }
    for (key, secret) in &secrets {
        assert!(!plan.contains(secret.as_str()), "{key} leaked:\n{plan}");
    }
    assert!(!vms(&vcsim).contains(&"veba-upgrade".to_string()));
    assert_eq!(power(&vcsim, &old_ref), "poweredOn");
    assert!(
        ssh.log()
            .iter()
            .all(|l| !l.contains("--replicas=") && !l.contains("tar -C")),
        "the dry run changed something: {:?}",
        ssh.log()
    );
    assert!(ready.probes().is_empty());

    // --apply, with the function's manifest.
    let apply: Vec<&str> = args
        .iter()
        .copied()
        .chain(["--functions", manifest_file.to_str().expect("utf-8"), "--apply"])
        .collect();
    let out = upgrade(&vcsim, &ssh, &govc, &apply, &env);
    let output = text(&out);
    assert!(out.status.success(), "{output}");
    assert!(
        output.contains(
            "upgraded: veba runs version 1.1.0 (commit 0123abcd) at new.test; the old VM is powered off as veba-previous."
        ),
        "{output}"
    );
    for (key, secret) in &secrets {
        assert!(!output.contains(secret.as_str()), "{key} leaked:\n{output}");
    }
    let names = vms(&vcsim);
    assert!(
        names.contains(&"veba".to_string())
            && names.contains(&"veba-previous".to_string())
            && !names.contains(&"veba-upgrade".to_string()),
        "{names:?}"
    );
    assert_eq!(moref(&vcsim, "/DC0/vm/veba-previous"), old_ref);
    let new_ref = moref(&vcsim, "/DC0/vm/veba");
    assert_eq!(power(&vcsim, &new_ref), "poweredOn");
    assert_eq!(power(&vcsim, &old_ref), "poweredOff");

    // Every property carried over; the retired one not.
    let extra = vcsim.extra_config("veba");
    for (key, value) in &props {
        assert!(
            extra.contains(&(key.clone(), value.clone())),
            "{key} = {value} not on the new VM: {extra:?}"
        );
    }
    assert!(!extra.iter().any(|(k, _)| k == "guestinfo.retired_setting"));
    let info: serde_json::Value =
        serde_json::from_str(&vcsim.govc(&["vm.info", "-json", "/DC0/vm/veba"])).expect("vm.info json");
    let config = &info["VirtualMachines"][0]["Config"];
    assert_eq!(config["Hardware"]["MemoryMB"], 12288, "the old VM's memory");
    assert!(
        config["Annotation"].as_str().unwrap_or_default().contains("1.1.0"),
        "{}",
        config["Annotation"]
    );

    // The old VM was still on at every readiness probe, the failing ones and the passing one,
    // and went off only after it.
    let probes = ready.probes();
    let codes: Vec<u16> = probes.iter().map(|(c, _)| *c).collect();
    assert_eq!(codes, [503, 503, 200], "{probes:?}");
    assert!(probes.iter().all(|(_, state)| state == "poweredOn"), "{probes:?}");

    // The router was stopped on the old VM before its state was read, and the new router resumed
    // only once that state was in place.
    let stop_new = ssh.first("veba-upgrade: kubectl -n vmware-system scale deploy/event-router --replicas=0");
    let stop_old = ssh.first("veba: kubectl -n vmware-system scale deploy/event-router --replicas=0");
    let read_state = ssh.first("veba: tar -C / --numeric-owner -cf - ");
    let put_state = ssh.first("veba-upgrade: tar -C / --numeric-owner -xpf -");
    let functions_in = ssh.first("veba-upgrade: kubectl apply -f -");
    let resume = ssh.first("veba-upgrade: kubectl -n vmware-system scale deploy/event-router --replicas=1");
    assert!(
        stop_new < put_state
            && stop_old < read_state
            && read_state < put_state
            && put_state < functions_in
            && functions_in < resume,
        "{:#?}",
        ssh.log()
    );
    // The function was applied, and waited for, before the router resumed.
    let applied = std::fs::read_to_string(ssh.dir.path().join("guest-veba-upgrade/applied.yaml")).expect("applied");
    assert_eq!(applied, format!("---\n{manifest}\n"));
    let waited = std::fs::read_to_string(ssh.dir.path().join("guest-veba-upgrade/waited")).expect("waited");
    assert_eq!(
        waited,
        "-n vmware-functions wait --for=condition=Ready ksvc --all --timeout=30s\n\
         -n vmware-functions wait --for=condition=Ready trigger --all --timeout=30s\n"
    );
    assert!(
        !ssh.log()[read_state].contains("etc/event-router/tls") && !ssh.log()[read_state].contains("firstboot"),
        "{}",
        ssh.log()[read_state]
    );

    // The state on the new guest: the old one's checkpoint and dead letters, the generated
    // password; what its first boot wrote is moved aside, the certificate is its own.
    let cp = "var/lib/event-router/checkpoints";
    assert_eq!(
        read(new_root.path(), &format!("{cp}/cp-vcsa.corp.local.json")),
        CHECKPOINT
    );
    assert_eq!(read(new_root.path(), &format!("{cp}/dead-letters.jsonl")), DEAD_LETTERS);
    assert_eq!(
        read(new_root.path(), "etc/event-router/endpoint-password"),
        "Gen3ratedEndpointPassw0rd\n"
    );
    assert!(!new_root.path().join("etc/event-router/tls").exists());
    let aside: Vec<PathBuf> = std::fs::read_dir(new_root.path().join("var/lib/event-router"))
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().contains("checkpoints.first-boot-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        std::fs::read_to_string(aside[0].join("cp-vcsa.corp.local.json")).expect("read"),
        "{\"first boot\":1}"
    );
    let chown = std::fs::read_to_string(ssh.dir.path().join("guest-veba-upgrade/chown")).expect("chown log");
    assert_eq!(
        chown.trim(),
        format!("chown -R 65532:65532 {}/{cp}", new_root.path().display())
    );
    // The old guest keeps its state (for a rollback).
    assert_eq!(read(old_root.path(), &format!("{cp}/dead-letters.jsonl")), DEAD_LETTERS);

    // A second upgrade is refused: the old VM's name for after the upgrade is taken.
    let out = upgrade(&vcsim, &ssh, &govc, &args, &env);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("a VM named veba-previous exists (/DC0/vm/veba-previous)")
            && text(&out).contains("--rollback"),
        "{}",
        text(&out)
    );

    // --rollback: the plan first, then the new VM off, the old one on with its router scaled up,
    // the names as before.
    let rollback = [
        "--vm",
        "veba",
        "--rollback",
        "--old-host",
        "old.test",
        "--ready-url",
        ready.url.as_str(),
        "--timeout",
        "30",
    ];
    let out = upgrade(&vcsim, &ssh, &govc, &rollback, &env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("give the names back: veba -> veba-upgrade, veba-previous -> veba")
            && text(&out).contains("dry run: nothing was changed; run again with --apply to roll back"),
        "{}",
        text(&out)
    );
    assert_eq!(power(&vcsim, &new_ref), "poweredOn");
    let logged = ssh.log().len();
    let apply: Vec<&str> = rollback.iter().copied().chain(["--apply"]).collect();
    let out = upgrade(&vcsim, &ssh, &govc, &apply, &env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("rolled back: veba runs again"), "{}", text(&out));
    assert_eq!(moref(&vcsim, "/DC0/vm/veba"), old_ref);
    assert_eq!(moref(&vcsim, "/DC0/vm/veba-upgrade"), new_ref);
    assert!(!vms(&vcsim).contains(&"veba-previous".to_string()));
    assert_eq!(power(&vcsim, &old_ref), "poweredOn");
    assert_eq!(power(&vcsim, &new_ref), "poweredOff");
    assert_eq!(
        ssh.log()[logged..],
        ["veba: kubectl -n vmware-system scale deploy/event-router --replicas=1"]
    );
    assert_eq!(ready.probes().last().map(|p| p.0), Some(200));
}

#[test]
fn a_static_address_passes_to_the_new_vm_with_the_old_one_off_and_a_new_router_that_never_gets_ready_is_undone() {
    let dir = TempDir::new("upgrade-static");
    let old_ova = build_ova(dir.path(), "1.0.0");
    let new_ova = build_ova(dir.path(), "1.1.0");
    let vcsim = Vcsim::start(&[]);
    let props = properties("192.168.30.50");
    deploy(&vcsim, dir.path(), &old_ova, "veba", &props);
    let old_ref = moref(&vcsim, "/DC0/vm/veba");
    let old_root = TempDir::new("old-guest");
    write(
        old_root.path(),
        "var/lib/event-router/checkpoints/cp-vcsa.corp.local.json",
        CHECKPOINT,
    );
    let new_root = TempDir::new("new-guest");
    // Both at the static address: fake-ssh.sh reaches the one that is powered on and reports a
    // conflict when both are.
    let ssh = Ssh::new(&[
        ("192.168.30.50", "veba", old_root.path()),
        ("192.168.30.50", "veba-upgrade", new_root.path()),
    ]);
    let ready = Readiness::start(&vcsim, &old_ref, None);
    // As vCenter answers: vApp properties in vAppConfig, password values left out; and the old
    // OVA had no Syslog Port property.
    let vcenter = repo_root().join("tests/peers/govc-vcenter.sh");
    let env = [
        ("FAKE_VCENTER_HIDE_PASSWORDS", "1"),
        ("FAKE_VCENTER_DROP", "guestinfo.syslog_server_port"),
        ("FAKE_SSH_PASSWORD", prop(&props, "guestinfo.root_password")),
    ];
    let new_ova = new_ova.to_str().expect("utf-8");
    let args = [
        "--vm",
        "veba",
        "--ova",
        new_ova,
        "--ready-url",
        ready.url.as_str(),
        "--timeout",
        "5",
    ];

    // Without the passwords the upgrade is refused, naming the fix.
    let out = upgrade(&vcsim, &ssh, &vcenter, &args, &env);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("required properties have no value on veba: Root Password (guestinfo.root_password)")
            && text(&out).contains("--properties FILE"),
        "{}",
        text(&out)
    );
    assert!(ssh.log().is_empty(), "{:?}", ssh.log());

    // With them in --properties, the plan.
    let passwords: Vec<(String, String)> = props
        .iter()
        .filter(|(k, _)| ovf::PROPERTIES.iter().any(|p| p.ovf_key() == *k && p.password()))
        .cloned()
        .collect();
    assert_eq!(passwords.len(), 10, "{passwords:?}");
    let file = dir.path().join("passwords.properties");
    write_properties(&file, &passwords);
    let file = file.to_str().expect("utf-8");
    let args: Vec<&str> = args.iter().copied().chain(["--properties", file]).collect();
    let out = upgrade(&vcsim, &ssh, &vcenter, &args, &env);
    let plan = text(&out);
    assert!(out.status.success(), "{plan}");
    let given = format!("guestinfo.root_password = <set>   (from {file})");
    for want in [
        "address:   static 192.168.30.50: the new VM takes it over, so the old one is powered off before the new one boots",
        "properties from the old VM's config.vAppConfig.property:",
        given.as_str(),
        "guestinfo.syslog_server_port = 514   (new in this OVA: its default)",
        "guestinfo.ipaddress = 192.168.30.50\n",
        "power the old VM off (before the new one boots: they share 192.168.30.50)",
    ] {
        assert!(plan.contains(want), "missing {want:?} in:\n{plan}");
    }
    for (key, secret) in &passwords {
        assert!(!plan.contains(secret.as_str()), "{key} leaked:\n{plan}");
    }

    // --apply, and the new router never gets ready: everything is undone but the new VM, kept
    // powered off and named.
    let apply: Vec<&str> = args.iter().copied().chain(["--apply"]).collect();
    let out = upgrade(&vcsim, &ssh, &vcenter, &apply, &env);
    let output = text(&out);
    assert_eq!(out.status.code(), Some(1), "{output}");
    for want in [
        "error: the new router is not ready after 5 s",
        "undoing what was done, last first:\n  - power the new VM off\n  - power the old VM back on\n  - scale the old router back up\n",
        "left:\n  - the new VM veba-upgrade, powered off, for a look at what went wrong",
        "govc vm.destroy '/DC0/vm/veba-upgrade'",
    ] {
        assert!(output.contains(want), "missing {want:?} in:\n{output}");
    }
    assert_eq!(power(&vcsim, &old_ref), "poweredOn");
    assert_eq!(power(&vcsim, "/DC0/vm/veba-upgrade"), "poweredOff");
    assert!(!vms(&vcsim).contains(&"veba-previous".to_string()));
    // The old VM was off at every probe of the new router (they share the address), and the two
    // were never on together.
    let probes = ready.probes();
    assert!(!probes.is_empty());
    assert!(
        probes.iter().all(|p| *p == (503, "poweredOff".to_string())),
        "{probes:?}"
    );
    let log = ssh.log();
    assert!(log.iter().all(|l| !l.contains(": conflict: ")), "{log:#?}");
    let stop_old = ssh.first("veba: kubectl -n vmware-system scale deploy/event-router --replicas=0");
    let read_state = ssh.first("veba: tar -C / --numeric-owner -cf - ");
    let new_first = ssh.first("veba-upgrade: ");
    assert!(stop_old < read_state && read_state < new_first, "{log:#?}");
    assert_eq!(
        log.last().map(String::as_str),
        Some("veba: kubectl -n vmware-system scale deploy/event-router --replicas=1"),
        "{log:#?}"
    );
    // The new VM had every property: the old VM's, the passwords from the file, the new default.
    let extra = vcsim.extra_config("veba-upgrade");
    for (key, value) in &props {
        let want = if key == "guestinfo.syslog_server_port" {
            "514"
        } else {
            value.as_str()
        };
        assert!(
            extra.contains(&(key.clone(), want.to_string())),
            "{key} = {want} not on the new VM: {extra:?}"
        );
    }

    // Run again: refused while the kept VM has the name, with what to do.
    let out = upgrade(&vcsim, &ssh, &vcenter, &args, &env);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("a VM named veba-upgrade exists")
            && text(&out).contains("govc vm.destroy '/DC0/vm/veba-upgrade'"),
        "{}",
        text(&out)
    );
}

#[test]
fn bad_input_is_refused_before_anything_changes_with_the_fix() {
    let dir = TempDir::new("upgrade-bad");
    let ova = build_ova(dir.path(), "1.1.0");
    let vcsim = Vcsim::start(&[]);
    let govc = tool(".tools/bin/govc");
    let mut props = small_properties();
    deploy(&vcsim, dir.path(), &ova, "veba", &props);
    let root = TempDir::new("guest");
    let ssh = Ssh::new(&[("old.test", "veba", root.path())]);
    let ova = ova.to_str().expect("utf-8");
    let refused = |args: &[&str], want: &str| {
        let out = upgrade(&vcsim, &ssh, &govc, args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains(want),
            "{args:?}: missing {want:?} in {}",
            text(&out)
        );
    };
    refused(
        &["--vm", "nosuch", "--ova", ova],
        "error: no VM named nosuch (govc find -type m -name 'nosuch' finds none",
    );
    refused(
        &["--vm", "veba", "--ova", "/nonexistent/new.ova"],
        "error: no OVA at /nonexistent/new.ova",
    );
    refused(&["--vm", "veba"], "--ova FILE is required");
    // No guest answers at that address.
    refused(
        &["--vm", "veba", "--ova", ova, "--old-host", "unknown.test"],
        "cannot log in to root@unknown.test over SSH (exit 255: ssh: connect to host unknown.test port 22: No route to host). The upgrade carries the state over SSH: turn Enable SSH (guestinfo.enable_ssh) on",
    );
    // A guest that is not an appliance.
    refused(
        &["--vm", "veba", "--ova", ova, "--old-host", "old.test"],
        "old.test answers SSH but is not an Event Broker Appliance",
    );
    vcsim.govc(&[
        "vm.create",
        "-on=false",
        "-pool",
        "/DC0/host/DC0_C0/Resources",
        "-ds",
        "LocalDS_0",
        "-net",
        "VM Network",
        "veba-upgrade",
    ]);
    refused(
        &["--vm", "veba", "--ova", ova, "--old-host", "old.test"],
        "a VM named veba-upgrade exists",
    );
    refused(
        &[
            "--vm",
            "veba",
            "--ova",
            ova,
            "--old-host",
            "old.test",
            "--new-name",
            "veba-2",
        ],
        "answers SSH but is not an Event Broker Appliance",
    );
    let typo = dir.path().join("typo.properties");
    std::fs::write(&typo, "guestinfo.vcenter_sever=vc\n").expect("write");
    refused(
        &[
            "--vm",
            "veba",
            "--ova",
            ova,
            "--new-name",
            "veba-2",
            "--properties",
            typo.to_str().expect("utf-8"),
        ],
        "sets guestinfo.vcenter_sever, which the new OVA does not have",
    );
    // SSH off on the old appliance.
    props[2].1 = "False".to_string();
    deploy(&vcsim, dir.path(), Path::new(ova), "veba-nossh", &props);
    refused(
        &["--vm", "veba-nossh", "--ova", ova],
        "Enable SSH (guestinfo.enable_ssh) is off on veba-nossh",
    );
    // Nothing to roll back.
    refused(&["--vm", "veba-nossh", "--rollback"], "nothing to roll back");
    assert!(!vms(&vcsim).contains(&"veba-2".to_string()));
    assert!(
        ssh.log()
            .iter()
            .all(|l| l.ends_with(": true") || l.contains("test -d ")),
        "{:?}",
        ssh.log()
    );
}

#[test]
fn the_new_appliance_keeps_the_old_ones_endpoint_password_certificate_checkpoints_and_dead_letters() {
    // Two appliances under firstboot: the old one after its first run with some history, the new
    // one after its own first run. Each generates its own Endpoint Password and certificate (the
    // golden seed's are removed).
    let fresh = |m: &Machine| {
        std::fs::remove_file(m.root.path().join("etc/event-router/endpoint-password")).expect("seeded password");
        std::fs::remove_dir_all(m.root.path().join("etc/event-router/tls")).expect("seeded certificate");
    };
    let old = Machine::new("static-knative");
    fresh(&old);
    let (code, out, err) = old.firstboot(&["run", "--router-timeout", "20"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let cp = "var/lib/event-router/checkpoints";
    write(old.root.path(), &format!("{cp}/cp-vcsa.corp.local.json"), CHECKPOINT);
    write(old.root.path(), &format!("{cp}/dead-letters.jsonl"), DEAD_LETTERS);
    let new = Machine::new("static-knative");
    fresh(&new);
    let (code, out, err) = new.firstboot(&["run", "--router-timeout", "20"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let password = "etc/event-router/endpoint-password";
    let old_password = read(old.root.path(), password);
    let first_password = read(new.root.path(), password);
    assert_ne!(old_password, first_password, "each appliance generates its own");
    let (cert, key) = ("etc/event-router/tls/tls.crt", "etc/event-router/tls/tls.key");
    assert_ne!(read(old.root.path(), cert), read(new.root.path(), cert));
    let manifest = "var/lib/rancher/k3s/server/manifests/event-router.yaml";
    let first_manifest = read(new.root.path(), manifest);

    // The upgrade, with their roots as the guests of the old and the new VM.
    let dir = TempDir::new("upgrade-state");
    let old_ova = build_ova(dir.path(), "1.0.0");
    let new_ova = build_ova(dir.path(), "1.1.0");
    let vcsim = Vcsim::start(&[]);
    let props = small_properties();
    deploy(&vcsim, dir.path(), &old_ova, "veba", &props);
    let ssh = Ssh::new(&[
        ("old.test", "veba", old.root.path()),
        ("new.test", "veba-upgrade", new.root.path()),
    ]);
    let old_ref = moref(&vcsim, "/DC0/vm/veba");
    let ready = Readiness::start(&vcsim, &old_ref, Some(0));
    let out = upgrade(
        &vcsim,
        &ssh,
        &tool(".tools/bin/govc"),
        &[
            "--vm",
            "veba",
            "--ova",
            new_ova.to_str().expect("utf-8"),
            "--old-host",
            "old.test",
            "--new-host",
            "new.test",
            "--ready-url",
            ready.url.as_str(),
            "--timeout",
            "30",
            "--apply",
        ],
        &[("FAKE_SSH_PASSWORD", prop(&props, "guestinfo.root_password"))],
    );
    let output = text(&out);
    assert!(out.status.success(), "{output}");
    assert!(
        output.contains(
            "copy the state from the old VM: /etc/event-router/endpoint-password /etc/event-router/tls /var/lib/event-router/checkpoints"
        ) && output.contains("power-cycle the new VM: firstboot renders the carried Endpoint Password and certificate"),
        "{output}"
    );
    assert!(!output.contains(old_password.trim()), "the password leaked: {output}");
    // firstboot's own records stay with each appliance.
    assert!(
        ssh.log().iter().all(|l| !l.contains("var/lib/firstboot")),
        "{:?}",
        ssh.log()
    );

    // The power cycle's boot: vSphere hands the properties over again, firstboot renders.
    new.set_guestinfo(
        &std::fs::read_to_string(repo_root().join("firstboot/testdata/static-knative.xml")).expect("sample"),
    );
    let (code, out, err) = new.firstboot(&["run", "--router-timeout", "20"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(new.status()["result"], "ok");

    // The old appliance's password, certificate, checkpoint and dead letters.
    assert_eq!(read(new.root.path(), password), old_password);
    let config = read(new.root.path(), "etc/event-router/config.yaml");
    assert!(
        config.contains(old_password.trim()) && !config.contains(first_password.trim()),
        "the router's config does not use the carried password"
    );
    assert_ne!(
        read(new.root.path(), manifest),
        first_manifest,
        "the router's Deployment changes (and rolls) with the new config"
    );
    assert_eq!(read(new.root.path(), cert), read(old.root.path(), cert));
    assert_eq!(read(new.root.path(), key), read(old.root.path(), key));
    use base64::Engine as _;
    let tls_secret = read(
        new.root.path(),
        "var/lib/rancher/k3s/server/manifests/appliance-tls.yaml",
    );
    let encoded = base64::engine::general_purpose::STANDARD.encode(read(old.root.path(), cert));
    assert!(
        tls_secret.contains(&encoded),
        "the TLS Secret does not serve the carried certificate"
    );
    assert_eq!(
        read(new.root.path(), &format!("{cp}/cp-vcsa.corp.local.json")),
        CHECKPOINT
    );
    assert_eq!(read(new.root.path(), &format!("{cp}/dead-letters.jsonl")), DEAD_LETTERS);
    // The old appliance still has all of it, for a rollback.
    assert_eq!(read(old.root.path(), password), old_password);
    assert_eq!(read(old.root.path(), &format!("{cp}/dead-letters.jsonl")), DEAD_LETTERS);
}
