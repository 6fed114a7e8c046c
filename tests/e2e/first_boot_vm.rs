//! First boot in a real VM (issue 21): a Debian bookworm image carrying the appliance's parts
//! (scripts/vm-image.sh) boots under QEMU with its Debian kernel, the disk on virtio, QEMU's user
//! network and the OVF environment on a CD-ROM (vSphere's ISO transport). systemd runs
//! firstboot.service; firstboot applies the properties to the real networkd, resolved,
//! timesyncd, sshd and rsyslog, starts k3s (a stand-in serving the Kubernetes API subset it
//! polls, tests/vm/) which starts the router's systemd unit, and waits for the router streaming
//! from a vcsim on this host (the guest reaches the host's loopback as 10.0.2.2). The test reads
//! the guest over SSH (a key baked into the image) and its serial console.
//!
//! Boots: the properties applied (address, route, DNS, host name, sshd, NTP, syslog forwarding,
//! the root password, the router delivering a vCenter event to a sink on this host, no secret
//! readable by others); the same properties again (a no-op: nothing written, nothing
//! restarted); one changed property (only its file and its service); and, from a fresh disk,
//! an invalid property (named on the console with its vSphere Client label, the router not
//! started, nothing applied). Photon OS and k3s themselves are the appliance build's CI's part.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use e2e::{free_port, repo_root, workspace_bin, CeReceiver, TempDir, Vcsim};
use serde_json::Value;

const ROOT_PASSWORD: &str = "Vm-Root-Pass1";
const VC_PASSWORD: &str = "Vc-Secret-42";
const ENDPOINT_PASSWORD: &str = "Endpoint-Pass1";
const STATIC_IP: &str = "10.0.2.50";
/// QEMU's user network: the host (its loopback) and the DNS relay, as the guest sees them.
const HOST: &str = "10.0.2.2";
const DNS: &str = "10.0.2.3";
/// The address QEMU's DHCP server hands out (the image's fallback network).
const DHCP_IP: &str = "10.0.2.15";
const FQDN: &str = "veba-vm.corp.local";

/// One VM at a time: two under software emulation on two cores would starve each other.
static ONE_VM: Mutex<()> = Mutex::new(());

/// The image, built once per run (scripts/vm-image.sh; the Debian system is cached).
fn image() -> &'static Path {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let out = repo_root().join("target/vm");
        let started = Instant::now();
        let status = Command::new("bash")
            .arg(repo_root().join("scripts/vm-image.sh"))
            .arg(&out)
            .env("FIRSTBOOT_BIN", workspace_bin("firstboot"))
            .env("ROUTER_BIN", workspace_bin("event-router"))
            .status()
            .expect("bash");
        assert!(status.success(), "scripts/vm-image.sh failed");
        eprintln!("vm image ready in {:.0?}", started.elapsed());
        out
    })
}

/// The OVF environment ISO for these `guestinfo.<key>=<value>` lines.
fn env_iso(dir: &Path, name: &str, properties: &[(&str, String)]) -> PathBuf {
    let props = dir.join(format!("{name}.properties"));
    let text: String = properties.iter().map(|(k, v)| format!("guestinfo.{k}={v}\n")).collect();
    std::fs::write(&props, text).unwrap();
    let iso = dir.join(format!("{name}.iso"));
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/smoke-ova.sh"))
        .args(["make-iso", props.to_str().unwrap(), iso.to_str().unwrap()])
        .env("OVA_TOOL", workspace_bin("ova"))
        .output()
        .unwrap();
    assert!(out.status.success(), "make-iso: {}", e2e::output_text(&out));
    iso
}

/// A copy-on-write disk over the image: each test starts from the image as built.
fn overlay(dir: &Path, name: &str) -> PathBuf {
    let disk = dir.join(format!("{name}.qcow2"));
    let out = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(image().join("disk.raw"))
        .arg(&disk)
        .output()
        .expect("qemu-img (scripts/install-test-tools.sh installs qemu-utils)");
    assert!(out.status.success(), "{}", e2e::output_text(&out));
    disk
}

/// A running guest.
struct Vm {
    child: Child,
    ssh_port: u16,
    metrics_port: u16,
    serial: PathBuf,
}

impl Vm {
    /// Boots `disk` with `iso` as its CD-ROM; SSH and the router's metrics port are forwarded
    /// from this host's loopback to `guest_ip`.
    fn boot(dir: &Path, disk: &Path, iso: &Path, guest_ip: &str, name: &str) -> Vm {
        let (ssh_port, metrics_port) = (free_port(), free_port());
        let serial = dir.join(format!("{name}-serial.log"));
        let accel = std::env::var("VM_ACCEL").unwrap_or_else(|_| "tcg".into());
        let cpu = if accel == "kvm" { "host" } else { "max" };
        let child = Command::new("qemu-system-x86_64")
            .args(["-machine", &format!("pc,accel={accel}"), "-cpu", cpu, "-smp", "2", "-m", "1024"])
            .arg("-kernel")
            .arg(image().join("vmlinuz"))
            .arg("-initrd")
            .arg(image().join("initrd.img"))
            .args(["-append", "root=/dev/vda rw console=ttyS0 systemd.show_status=1"])
            .arg("-drive")
            .arg(format!("file={},if=virtio,format=qcow2", disk.display()))
            .arg("-drive")
            .arg(format!("file={},media=cdrom,readonly=on", iso.display()))
            .arg("-netdev")
            .arg(format!(
                "user,id=n0,hostfwd=tcp:127.0.0.1:{ssh_port}-{guest_ip}:22,hostfwd=tcp:127.0.0.1:{metrics_port}-{guest_ip}:8082"
            ))
            .args(["-device", "virtio-net-pci,netdev=n0"])
            .args(["-display", "none", "-monitor", "none", "-no-reboot"])
            .arg("-serial")
            .arg(format!("file:{}", serial.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("qemu-system-x86_64 (scripts/install-test-tools.sh installs qemu-system-x86)");
        Vm {
            child,
            ssh_port,
            metrics_port,
            serial,
        }
    }

    fn ssh_command(&self) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.arg("-i")
            .arg(image().join("id_ed25519"))
            .args(["-p", &self.ssh_port.to_string()])
            .args(["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5", "-o", "BatchMode=yes"])
            .arg("root@127.0.0.1")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `script` in the guest: (exit code, stdout + stderr).
    fn sh(&self, script: &str) -> (i32, String) {
        let out = self.ssh_command().arg(script).output().unwrap();
        (out.status.code().unwrap_or(-1), e2e::output_text(&out))
    }

    /// Runs `script` in the guest and returns its output; it must succeed.
    fn run(&self, script: &str) -> String {
        let (code, out) = self.sh(script);
        assert_eq!(code, 0, "`{script}` in the guest: {out}");
        out
    }

    /// Waits until SSH answers and firstboot.service has finished; returns its ActiveState.
    fn wait_firstboot(&mut self, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the VM stopped ({status}); serial console:\n{}", self.console());
            }
            let (code, out) = self.sh("systemctl show -p ActiveState --value firstboot.service");
            let state = out.trim().to_string();
            if code == 0 && (state == "active" || state == "failed") {
                return state;
            }
            assert!(
                Instant::now() < deadline,
                "firstboot did not finish within {within:?} (last: {code} {out}); serial console:\n{}",
                self.console()
            );
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    /// Waits until the serial console shows `text`; the console so far.
    fn wait_console(&mut self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let console = self.console();
            if console.contains(text) {
                return console;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the VM stopped ({status}); serial console:\n{console}");
            }
            assert!(
                Instant::now() < deadline,
                "no {text:?} on the console within {within:?}:\n{console}"
            );
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    /// firstboot's status file.
    fn status(&self) -> Value {
        serde_json::from_str(&self.run("cat /var/lib/firstboot/status.json")).unwrap()
    }

    fn console(&self) -> String {
        std::fs::read_to_string(&self.serial).unwrap_or_default()
    }

    /// Shuts the guest down and waits for QEMU to exit.
    fn poweroff(mut self) {
        let _ = self.sh("systemctl poweroff");
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("the VM did not power off within 120 s");
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Step name -> (result, detail) of a status document.
fn steps(status: &Value) -> Vec<(String, String, String)> {
    (status["steps"].as_array().unwrap().iter())
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["result"].as_str().unwrap().to_string(),
                s["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn step<'a>(status: &'a [(String, String, String)], name: &str) -> &'a (String, String, String) {
    status
        .iter()
        .find(|s| s.0 == name)
        .unwrap_or_else(|| panic!("no step {name}: {status:?}"))
}

fn properties(vc_port: u16, sink_port: u16, syslog_port: u16, ntp: &str) -> Vec<(&'static str, String)> {
    vec![
        ("hostname", FQDN.into()),
        ("ipaddress", STATIC_IP.into()),
        ("netmask", "24".into()),
        ("gateway", HOST.into()),
        ("dns", DNS.into()),
        ("domain", "corp.local".into()),
        ("ntp", ntp.into()),
        ("root_password", ROOT_PASSWORD.into()),
        ("enable_ssh", "true".into()),
        ("endpoint_username", "admin".into()),
        ("endpoint_password", ENDPOINT_PASSWORD.into()),
        ("vcenter_server", format!("{HOST}:{vc_port}")),
        ("vcenter_username", "user".into()),
        ("vcenter_password", VC_PASSWORD.into()),
        ("vcenter_disable_tls_verification", "true".into()),
        // VEBA v0.7's external broker keys: deliver to a sink on this host.
        ("knative_host", format!("{HOST}:{sink_port}")),
        ("knative_scheme", "HTTP".into()),
        ("knative_path", "/".into()),
        ("syslog_server_hostname", HOST.into()),
        ("syslog_server_port", syslog_port.to_string()),
        ("syslog_server_protocol", "UDP".into()),
    ]
}

/// A syslog server on this host's loopback (UDP): its port, and every datagram as a line,
/// read from the start on its own thread (the guest's boot log arrives as a burst that
/// overflowed the socket's buffer while nobody read it, and later lines were dropped).
fn syslog_server() -> (u16, std::sync::mpsc::Receiver<String>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = socket.recv(&mut buf) {
            if tx.send(String::from_utf8_lossy(&buf[..n]).into_owned()).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

/// The rendered files' digests, to tell whether a boot rewrote any.
const RENDERED: &str = "sha256sum /etc/systemd/network/10-appliance.network /etc/ssh/sshd_config.d/10-appliance.conf \
     /etc/systemd/timesyncd.conf.d/10-appliance.conf /etc/event-router/config.yaml /etc/hostname /etc/shadow \
     /var/lib/rancher/k3s/server/manifests/event-router.yaml";

#[test]
fn firstboot_applies_the_properties_to_a_real_system_then_only_what_changes() {
    let _one = ONE_VM.lock().unwrap_or_else(|p| p.into_inner());
    let dir = TempDir::new("vm");
    let vc = Vcsim::start(&[]);
    let vc_port: u16 = vc
        .sdk_url()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/sdk")
        .parse()
        .unwrap();
    let sink = CeReceiver::start(&[]);
    let sink_port: u16 = sink
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let (syslog_port, syslog) = syslog_server();
    let ntp = "ntp1.corp.local ntp2.corp.local";
    let first = env_iso(dir.path(), "first", &properties(vc_port, sink_port, syslog_port, ntp));
    let disk = overlay(dir.path(), "appliance");

    // First boot: everything applied.
    let started = Instant::now();
    let (vm, status) = boot_applied(dir.path(), &disk, &first, "boot1");
    eprintln!("first boot done in {:.0?}", started.elapsed());
    assert_eq!(status["result"], "ok", "{status:#}");
    let names: Vec<String> = steps(&status).into_iter().map(|s| format!("{} {}", s.0, s.1)).collect();
    assert_eq!(
        names,
        [
            "read ok",
            "validate ok",
            "render ok",
            "write ok",
            "hostname ok",
            "dirs ok",
            "services ok",
            "k3s ok",
            "router ok",
            "clear ok"
        ],
        "{status:#}"
    );
    let report = vm.run("firstboot status");
    assert!(
        report.contains("last run: started") && report.contains("router"),
        "{report}"
    );

    // The network as the properties say, live.
    let addr = vm.run("ip -4 -o addr show scope global");
    assert!(addr.contains(&format!("inet {STATIC_IP}/24")), "{addr}");
    let route = vm.run("ip -4 route show default");
    assert!(route.starts_with(&format!("default via {HOST}")), "{route}");
    let resolv = vm.run("cat /etc/resolv.conf; resolvectl dns; resolvectl domain");
    assert!(resolv.contains(DNS) && resolv.contains("corp.local"), "{resolv}");
    assert_eq!(vm.run("hostname").trim(), FQDN);
    // sshd accepts the rendered drop-in; root logs in with the property's password.
    vm.run("sshd -t");
    let sshd = vm.run("sshd -T");
    assert!(
        sshd.contains("permitrootlogin yes") && sshd.contains("passwordauthentication yes"),
        "{sshd}"
    );
    let password_login = Command::new("sshpass")
        .args(["-p", ROOT_PASSWORD, "ssh", "-p", &vm.ssh_port.to_string()])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
        ])
        .args([
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password",
        ])
        .args(["root@127.0.0.1", "echo logged-in"])
        .stdin(Stdio::null())
        .output()
        .expect("sshpass (scripts/install-test-tools.sh installs it)");
    assert!(
        String::from_utf8_lossy(&password_login.stdout).contains("logged-in"),
        "root password login: {}",
        e2e::output_text(&password_login)
    );
    // timesyncd runs with the NTP servers.
    let ntp_live = vm.run("timedatectl show-timesync -p SystemNTPServers --value");
    assert_eq!(ntp_live.trim(), ntp);
    // rsyslog forwards to the syslog server (the boot's log first, then the line; sending
    // may have paused while networkd restarted, and resumes within 10 s).
    vm.run("logger -t vm-test forwarded-line");
    let deadline = Instant::now() + Duration::from_secs(90);
    let (mut received, mut last) = (0, String::new());
    let forwarded = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = syslog.recv_timeout(left.max(Duration::from_millis(1))) else {
            panic!(
                "no forwarded line at the syslog server within 90 s ({received} others, the last: {last}); {}",
                vm.run("systemctl status rsyslog --no-pager; cat /etc/rsyslog.d/*")
            );
        };
        received += 1;
        if line.contains("forwarded-line") {
            break line;
        }
        last = line;
    };
    assert!(
        forwarded.contains("vm-test") && forwarded.starts_with("<13>1 "),
        "RFC 5424: {forwarded}"
    );

    // The router: ready, and a vCenter event reaches the sink on this host.
    let (code, _) = e2e::http_get(vm.metrics_port, "/readyz").expect("the router's /readyz through QEMU");
    assert_eq!(code, 200);
    assert_eq!(
        vm.run("systemctl is-active event-router.service k3s.service").trim(),
        "active\nactive"
    );
    vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    let events = sink.until("VmPoweredOffEvent", Duration::from_secs(60));
    let off = events.last().unwrap();
    assert_eq!(off["data"]["Vm"]["Name"], "DC0_H0_VM0", "{off:#}");

    // No secret is readable by others: the files that hold one are root's alone, the CD-ROM is
    // not world-readable, and no log has one.
    let modes = vm.run(
        "stat -c '%a %U %n' /etc/event-router/config.yaml /var/lib/rancher/k3s/server/manifests/event-router.yaml /etc/shadow; \
         stat -L -c '%a %n' /dev/sr0",
    );
    for line in modes.lines() {
        let mode = line.split_whitespace().next().unwrap();
        assert!(mode.ends_with('0'), "readable by others: {line}");
    }
    let holders = vm.run(&format!(
        "grep -rlsF -e '{VC_PASSWORD}' -e '{ROOT_PASSWORD}' -e '{ENDPOINT_PASSWORD}' /etc /var /root /run /tmp || true"
    ));
    // The config (0600 root) and systemd's copy for the router (its credential, in a folder
    // only the service's user can read).
    let mut holders: Vec<&str> = holders.lines().collect();
    holders.sort();
    assert_eq!(
        holders,
        [
            "/etc/event-router/config.yaml",
            "/run/credentials/event-router.service/config.yaml"
        ],
        "files holding a secret"
    );
    // The router logs to the journal as plain text (no terminal colours).
    let router_log = vm.run("journalctl -b --no-pager -o cat -u event-router.service");
    assert!(
        router_log.contains("metrics server listening") && !router_log.contains('\u{1b}'),
        "{router_log}"
    );
    let journal = vm.run("journalctl -b --no-pager -o cat");
    for secret in [VC_PASSWORD, ROOT_PASSWORD, ENDPOINT_PASSWORD] {
        assert!(!journal.contains(secret), "a secret reached the journal");
    }
    let before = vm.run(RENDERED);
    vm.poweroff();

    // Second boot, the same properties: nothing written, nothing restarted.
    let (vm, status) = boot_applied(dir.path(), &disk, &first, "boot2");
    let s = steps(&status);
    assert_eq!(step(&s, "write").2, "nothing changed", "{status:#}");
    assert_eq!(step(&s, "services").2, "no change", "{status:#}");
    assert_eq!(vm.run(RENDERED), before, "a second boot rewrote a file");
    let stops = vm.run(
        "journalctl -b --no-pager -o cat -u sshd -u systemd-networkd -u systemd-timesyncd -u systemd-resolved -u rsyslog | grep -c '^Stopping' || true",
    );
    assert_eq!(stops.trim(), "0", "a unit was restarted");
    vm.poweroff();

    // Third boot, one property changed: only its file and its service.
    let ntp2 = "ntp3.corp.local";
    let changed = env_iso(
        dir.path(),
        "changed",
        &properties(vc_port, sink_port, syslog_port, ntp2),
    );
    let (vm, status) = boot_applied(dir.path(), &disk, &changed, "boot3");
    let s = steps(&status);
    assert_eq!(
        step(&s, "write").2,
        "/etc/systemd/timesyncd.conf.d/10-appliance.conf",
        "{status:#}"
    );
    assert!(
        step(&s, "services").2.contains("restarted systemd-timesyncd"),
        "{status:#}"
    );
    assert!(!step(&s, "services").2.contains("sshd"), "{status:#}");
    assert_eq!(
        vm.run("timedatectl show-timesync -p SystemNTPServers --value").trim(),
        ntp2
    );
    vm.poweroff();

    // Fourth boot, SSH turned off: sshd is disabled and stopped, so nothing answers on port 22
    // (read from the serial console: there is no SSH to read it with).
    let mut no_ssh = properties(vc_port, sink_port, syslog_port, ntp2);
    for p in no_ssh.iter_mut().filter(|p| p.0 == "enable_ssh") {
        p.1 = "false".into();
    }
    let off = env_iso(dir.path(), "no-ssh", &no_ssh);
    let mut vm = Vm::boot(dir.path(), &disk, &off, STATIC_IP, "boot4");
    let console = vm.wait_console("firstboot: run ", Duration::from_secs(600));
    assert!(console.contains("firstboot: run ok"), "{console}");
    let services = console
        .lines()
        .find(|l| l.contains("step services: ok"))
        .unwrap_or_default();
    assert!(services.contains("disabled sshd"), "{services}");
    let (code, out) = vm.sh("true");
    assert_ne!(code, 0, "SSH still answers with Enable SSH = false: {out}");
}

/// Boots and waits until firstboot has applied the properties; the guest and firstboot's status.
fn boot_applied(dir: &Path, disk: &Path, iso: &Path, name: &str) -> (Vm, Value) {
    let mut vm = Vm::boot(dir, disk, iso, STATIC_IP, name);
    assert_eq!(
        vm.wait_firstboot(Duration::from_secs(600)),
        "active",
        "{}",
        vm.console()
    );
    let status = vm.status();
    (vm, status)
}

#[test]
fn an_invalid_property_is_named_on_the_console_and_nothing_is_applied() {
    let _one = ONE_VM.lock().unwrap_or_else(|p| p.into_inner());
    let dir = TempDir::new("vm-bad");
    let mut props = properties(4431, 8081, 514, "ntp1.corp.local");
    for p in props.iter_mut() {
        if p.0 == "ipaddress" {
            p.1 = "10.0.2.300".into();
        }
    }
    let iso = env_iso(dir.path(), "bad", &props);
    let disk = overlay(dir.path(), "bad");
    // Nothing is applied, so the image's own DHCP fallback keeps the guest reachable.
    let mut vm = Vm::boot(dir.path(), &disk, &iso, DHCP_IP, "bad");
    assert_eq!(vm.wait_firstboot(Duration::from_secs(600)), "failed");
    let console = vm.console();
    assert!(
        console.contains("invalid property: IP Address (guestinfo.ipaddress)"),
        "named on the console with its vSphere Client label:\n{console}"
    );
    let status = vm.status();
    assert_eq!(status["result"], "invalid", "{status:#}");
    assert!(
        status["problems"].to_string().contains("IP Address"),
        "the problem names the vSphere Client label: {status:#}"
    );
    // Nothing half-applied: no rendered file, the host name and the router untouched.
    let (code, _) = vm.sh("ls /etc/systemd/network/10-appliance.network /etc/event-router/config.yaml");
    assert_ne!(code, 0, "a rendered file was written");
    assert_eq!(vm.run("hostname").trim(), "vm-test");
    let (_, active) = vm.sh("systemctl is-active event-router.service k3s.service");
    assert_eq!(active.trim(), "inactive\ninactive");
    vm.poweroff();
}
