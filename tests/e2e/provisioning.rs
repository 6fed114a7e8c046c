//! The appliance build's provisioning, checked offline against what only a real build would
//! otherwise show: the provisioning dry run (every packer step in order, in a sandbox with only
//! Photon OS 5 minimal's commands, scripts/provision-dry-run.py) on the real Knative v1.20.0
//! release manifests from ../shared/reference/upstream; the image list and document filters on
//! those files; the boot command against the firmware; the binaries against Photon 5's glibc.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use e2e::{output_text as text, repo_root, workspace_bin, TempDir};

fn reference() -> PathBuf {
    repo_root().join("../shared/reference/upstream/knative-v1.20.0")
}

/// A copy of packer/ to break on purpose.
fn packer_copy(dir: &Path) -> PathBuf {
    let out = Command::new("cp")
        .arg("-r")
        .arg(repo_root().join("packer"))
        .arg(dir.join("packer"))
        .output()
        .expect("cp");
    assert!(out.status.success(), "{}", text(&out));
    dir.join("packer")
}

fn edit(path: &Path, from: &str, to: &str) {
    let s = std::fs::read_to_string(path).expect("read");
    assert!(s.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, s.replacen(from, to, 1)).expect("write");
}

fn dry_run(packer: &Path, keep: &Path) -> Output {
    Command::new("python3")
        .arg(repo_root().join("scripts/provision-dry-run.py"))
        .arg("--packer")
        .arg(packer)
        .arg("--keep")
        .arg(keep)
        .arg("--reference")
        .arg(reference())
        .output()
        .expect("provision-dry-run.py")
}

/// The 18 Knative images the appliance runs (knative-v1.20.0, by digest), without eventing-core's
/// integration and transformation images.
const KNATIVE_IMAGES: [&str; 18] = [
    "gcr.io/knative-releases/knative.dev/eventing/cmd/apiserver_receive_adapter",
    "gcr.io/knative-releases/knative.dev/eventing/cmd/auth_proxy",
    "gcr.io/knative-releases/knative.dev/eventing/cmd/broker/filter",
    "gcr.io/knative-releases/knative.dev/eventing/cmd/broker/ingress",
    "gcr.io/knative-releases/knative.dev/eventing/cmd/controller",
    "gcr.io/knative-releases/knative.dev/eventing/cmd/in_memory/channel_controller",
    "gcr.io/knative-releases/knative.dev/eventing/cmd/in_memory/channel_dispatcher",
    "gcr.io/knative-releases/knative.dev/eventing/cmd/jobsink",
    "gcr.io/knative-releases/knative.dev/eventing/cmd/mtchannel_broker",
    "gcr.io/knative-releases/knative.dev/eventing/cmd/mtping",
    "gcr.io/knative-releases/knative.dev/eventing/cmd/requestreply",
    "gcr.io/knative-releases/knative.dev/eventing/cmd/webhook",
    "gcr.io/knative-releases/knative.dev/net-contour/cmd/controller",
    "gcr.io/knative-releases/knative.dev/serving/cmd/activator",
    "gcr.io/knative-releases/knative.dev/serving/cmd/autoscaler",
    "gcr.io/knative-releases/knative.dev/serving/cmd/controller",
    "gcr.io/knative-releases/knative.dev/serving/cmd/queue",
    "gcr.io/knative-releases/knative.dev/serving/cmd/webhook",
];

fn names_and_digests(list: &str) -> Vec<String> {
    list.lines()
        .map(|l| {
            let (name, digest) = l.split_once("@sha256:").unwrap_or_else(|| panic!("{l}: not by digest"));
            assert!(
                digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
                "{l}"
            );
            name.to_string()
        })
        .collect()
}

#[test]
fn the_image_lister_and_filters_on_the_real_knative_release() {
    let files: Vec<PathBuf> = std::fs::read_dir(reference())
        .expect("reference copies")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    assert_eq!(files.len(), 7, "{files:?}");
    let out = Command::new("bash")
        .arg(repo_root().join("packer/scripts/lib/list-images.sh"))
        .args(&files)
        .output()
        .expect("list-images.sh");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(names_and_digests(&String::from_utf8_lossy(&out.stdout)), KNATIVE_IMAGES);

    // Without the skip, eventing-core's integration/transformation ConfigMaps add 11 images.
    let all = std::fs::read_to_string(reference().join("eventing-core.yaml")).expect("read");
    for skipped in ["aws-sqs-source", "timer-source", "log-sink", "transform-jsonata"] {
        assert!(all.contains(skipped), "the release names {skipped}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains(skipped));
    }

    // serving-core has exactly one config-network and one config-domain; each is dropped alone.
    let serving = reference().join("serving-core.yaml");
    for name in ["config-network", "config-domain"] {
        let out = Command::new("awk")
            .arg("-f")
            .arg(repo_root().join("packer/scripts/lib/drop-doc.awk"))
            .args(["-v", "kind=ConfigMap", "-v", &format!("names={name}"), "-v", "report=1"])
            .arg(&serving)
            .output()
            .expect("awk");
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "1", "{name}");
        let kept = String::from_utf8_lossy(&out.stdout);
        assert!(!kept.contains(&format!("\n  name: {name}\n  namespace: knative-serving")));
        let other = if name == "config-network" {
            "config-domain"
        } else {
            "config-network"
        };
        assert!(
            kept.contains(&format!("  name: {other}\n")),
            "{name} dropped {other} too"
        );
    }
}

#[test]
fn every_provisioning_step_runs_on_photon_5_minimal_commands() {
    let dir = TempDir::new("dry-run");
    let keep = dir.path().join("sandbox");
    let out = dry_run(&repo_root().join("packer"), &keep);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("dry run passed: 4 provisioning steps"),
        "{}",
        text(&out)
    );
    let root = keep.join("root");
    let calls = std::fs::read_to_string(root.join("run/dry-run/calls.log")).expect("calls");
    let at = |call: &str| {
        calls
            .lines()
            .position(|l| l == call)
            .unwrap_or_else(|| panic!("no call {call:?} in:\n{calls}"))
    };
    // The update, then the reboot into its kernel, then k3s.
    assert!(at("tdnf -y update") < at("systemctl reboot"));
    assert!(at("systemctl reboot") < at("systemctl start k3s"));
    assert!(at("systemctl start k3s") < at("systemctl stop k3s"));
    // After the update, every kernel's initrd regenerated generic (not host-only), so a disk
    // built on one storage controller boots on another.
    let initrd = at("dracut --force --no-hostonly /boot/initrd.img-6.1.10-99.ph5 6.1.10-99.ph5");
    assert!(at("tdnf -y update") < initrd && initrd < at("systemctl reboot"));
    at("dracut --force --no-hostonly /boot/initrd.img-6.1.10-11.ph5 6.1.10-11.ph5");
    // Photon minimal's docker and cloud-init go.
    at("tdnf -y remove docker");
    at("tdnf -y remove cloud-init");

    // Every Knative image the appliance runs plus Contour's two, pulled once each; not JobSink's,
    // whose Deployment the build leaves out (lib/patch-manifests.sh).
    let pulled = std::fs::read_to_string(root.join("run/dry-run/pulled")).expect("pulled");
    let mut knative: Vec<&str> = pulled.lines().filter(|l| l.starts_with("gcr.io/")).collect();
    knative.sort();
    let runs: Vec<&str> = KNATIVE_IMAGES
        .into_iter()
        .filter(|i| !i.ends_with("/jobsink"))
        .collect();
    assert_eq!(names_and_digests(&knative.join("\n")), runs);
    assert_eq!(pulled.lines().count(), 19, "{pulled}");
    assert!(pulled.contains("ghcr.io/projectcontour/contour:v1.33.0\n"));

    // The agent images folder: k3s's air-gap tarball, the Knative/Contour export (moved in after
    // k3s stopped), the router image and the import cache.
    let images = root.join("var/lib/rancher/k3s/agent/images");
    let mut names: Vec<String> = std::fs::read_dir(&images)
        .expect("images")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".cache.json",
            "event-router.tar",
            "k3s-airgap-images-amd64.tar.zst",
            "knative-contour.tar"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(images.join(".cache.json"))
            .expect("cache")
            .trim(),
        "{}"
    );

    // The manifests k3s deploys: the release files (pinned sha256 checked by fetch.sh), with
    // serving-core's config-network and config-domain dropped and eventing-core kept whole.
    let manifests = root.join("var/lib/rancher/k3s/server/manifests");
    let serving = std::fs::read_to_string(manifests.join("11-serving-core.yaml")).expect("serving-core");
    assert!(!serving.contains("\n  name: config-network\n  namespace: knative-serving"));
    assert!(serving.contains("\n  name: config-deployment\n"));
    // The activator's CPU request sized to the appliance (300m upstream).
    assert!(!serving.contains("cpu: 300m"), "the activator keeps its 300m");
    // eventing-core as released but for JobSink's Deployment.
    let eventing = std::fs::read_to_string(manifests.join("31-eventing-core.yaml")).expect("eventing-core");
    let released = Command::new("awk")
        .arg("-f")
        .arg(repo_root().join("packer/scripts/lib/drop-doc.awk"))
        .args(["-v", "kind=Deployment", "-v", "names=job-sink"])
        .arg(reference().join("eventing-core.yaml"))
        .output()
        .expect("awk");
    assert_eq!(eventing.as_bytes(), released.stdout);
    assert!(eventing.contains("\n  name: eventing-controller\n"));
    assert!(manifests.join("12-config-network.yaml").exists());
    assert!(manifests.join("40-vmware-functions.yaml").exists());
    // VMware Tools leaves k3s's interfaces out of the address vCenter shows.
    let tools = std::fs::read_to_string(root.join("etc/vmware-tools/tools.conf")).expect("tools.conf");
    assert!(tools.contains("exclude-nics=veth*,vxlan*,flannel*,cni*"), "{tools}");
    // Nothing of the build is left: the payload is gone.
    assert!(!root.join("root/appliance-payload").exists());
}

/// Breaks a copy of packer/ with `change`, runs the dry run and returns its output (it must fail).
fn broken(tag: &str, change: impl Fn(&Path)) -> String {
    let dir = TempDir::new(tag);
    let packer = packer_copy(dir.path());
    change(&packer);
    let out = dry_run(&packer, &dir.path().join("sandbox"));
    assert_eq!(out.status.code(), Some(1), "{tag}: {}", text(&out));
    text(&out)
}

#[test]
fn the_dry_run_fails_on_each_defect_a_real_build_would_hit() {
    // tar installed after its first use (Photon minimal has only bsdtar).
    let log = broken("tar-late", |p| {
        edit(&p.join("scripts/00-packages.sh"), "install tar gzip", "install gzip");
        edit(
            &p.join("scripts/20-os.sh"),
            "set -euo pipefail\n",
            "set -euo pipefail\ntdnf -y install tar\n",
        );
    });
    assert!(
        log.contains("scripts/10-unpack.sh failed") && log.contains("uses tar before any package brings it"),
        "{log}"
    );

    // No gawk named: awk survives only as a leftover of the removed minimal metapackage, and
    // the dry run names the command and its package.
    let log = broken("no-gawk", |p| {
        edit(&p.join("scripts/00-packages.sh"), "  gawk findutils", "  findutils")
    });
    assert!(log.contains("uses awk") && log.contains("gawk"), "{log}");

    // No reboot after the update: k3s cannot load its kernel modules.
    let log = broken("no-reboot", |p| {
        edit(
            &p.join("build.pkr.hcl"),
            "inline            = [\"systemctl reboot\"]",
            "inline            = [\"true\"]",
        )
    });
    assert!(
        log.contains("tdnf update replaced the kernel") && log.contains("reboot first"),
        "{log}"
    );

    // The payload uploaded to /tmp does not survive the reboot.
    let log = broken("payload-in-tmp", |p| {
        edit(
            &p.join("sources.pkr.hcl"),
            "payload = \"/root/appliance-payload\"",
            "payload = \"/tmp/appliance\"",
        );
    });
    assert!(log.contains("scripts/10-unpack.sh failed"), "{log}");

    // The upload right after the reboot (what this template had before): one reconnect attempt.
    let log = broken("upload-after-reboot", |p| {
        let b = std::fs::read_to_string(p.join("build.pkr.hcl")).expect("read");
        let file_start = b.find("  # 2.").expect("step 2");
        let file_end = b.find("  # 3.").expect("step 3");
        let file = b[file_start..file_end].to_string();
        let b = b.replacen(&file, "", 1);
        let b = b.replacen("  # 4.", &format!("{file}  # 4."), 1);
        std::fs::write(p.join("build.pkr.hcl"), b).expect("write");
    });
    assert!(
        log.contains("a file provisioner right after the reboot gets one reconnect attempt"),
        "{log}"
    );

    // Images exported straight into the folder the running k3s watches.
    let log = broken("export-watched", |p| {
        edit(
            &p.join("scripts/40-knative.sh"),
            "export --platform linux/amd64 \"$STAGE/knative-contour.tar\"",
            "export --platform linux/amd64 \"$IMAGES/knative-contour.tar\"",
        );
    });
    assert!(log.contains("while k3s runs"), "{log}");

    // A Knative manifest whose bytes differ from bom.json's pin is refused by fetch.sh.
    let log = broken("bad-pin", |p| {
        edit(&p.join("bom.json"), "\"sha256\": \"e41fd020", "\"sha256\": \"f41fd020");
    });
    assert!(log.contains("eventing-core") && log.contains("refusing it"), "{log}");
}

#[test]
fn the_knative_pins_are_the_release_files_sha256() {
    let bom: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo_root().join("packer/bom.json")).expect("bom")).expect("json");
    let sums = std::fs::read_to_string(reference().join("SHA256SUMS")).expect("SHA256SUMS");
    let mut pinned = 0;
    for f in bom["knative"]["files"].as_array().expect("files") {
        let name = f["name"].as_str().expect("name");
        match sums.lines().find(|l| l.ends_with(&format!("  {name}.yaml"))) {
            Some(line) => {
                assert_eq!(f["sha256"].as_str(), line.split_whitespace().next(), "{name}");
                pinned += 1;
            }
            // Contour: the two files net-contour's release joins into contour.yaml, fetched at the
            // tag's commit (no offline copy), pinned all the same.
            None => {
                assert!(name.starts_with("contour-"), "{name}: no reference copy");
                let url = f["url"].as_str().expect("url");
                assert!(
                    url.starts_with("https://raw.githubusercontent.com/knative-extensions/net-contour/0e8fac14"),
                    "{url}"
                );
                let sha = f["sha256"].as_str().expect("contour is pinned");
                assert!(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()), "{sha}");
            }
        }
    }
    assert_eq!(pinned, 7);
}

#[test]
fn the_boot_command_fits_the_firmware() {
    let check = |path: &Path| {
        Command::new("python3")
            .arg(repo_root().join("scripts/check-boot-command.py"))
            .arg(path)
            .output()
            .expect("check-boot-command.py")
    };
    let out = check(&repo_root().join("packer/sources.pkr.hcl"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("fits the firmware of all 2 sources"),
        "{}",
        text(&out)
    );

    let dir = TempDir::new("boot-command");
    let packer = packer_copy(dir.path());
    let sources = packer.join("sources.pkr.hcl");
    // EFI firmware with the ISOLINUX command: vsphere-iso would land in GRUB's menu.
    edit(&sources, "firmware = \"bios\"", "firmware = \"efi\"");
    let out = check(&sources);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("source vsphere-iso: firmware 'efi'") && text(&out).contains("typed for isolinux"),
        "{}",
        text(&out)
    );
    // BIOS with a GRUB console sequence (what this template had before): both sources refuse it.
    edit(&sources, "firmware = \"efi\"", "firmware = \"bios\"");
    edit(
        &sources,
        "\"<esc><wait>\",\n    \"vmlinuz initrd=initrd.img root=/dev/ram0 loglevel=3 insecure_installation=1 \",\n    \"ks=http://{{ .HTTPIP }}:{{ .HTTPPort }}/ks.json photon.media=cdrom\",\n    \"<enter>\",",
        "\"<esc><wait>c<wait>\",\n    \"linux /isolinux/vmlinuz root=/dev/ram0 ks=http://{{ .HTTPIP }}:{{ .HTTPPort }}/ks.json<enter>\",\n    \"initrd /isolinux/initrd.img<enter>\",\n    \"boot<enter>\",",
    );
    let out = check(&sources);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    for source in ["vsphere-iso", "qemu"] {
        assert!(
            text(&out).contains(&format!("source {source}: firmware 'bios'")) && text(&out).contains("typed for grub"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn the_appliance_binaries_run_on_photon_5_glibc() {
    let bins = [workspace_bin("firstboot"), e2e::router_bin()];
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/check-glibc.sh"))
        .args(&bins)
        .output()
        .expect("check-glibc.sh");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("(<= 2.36)"), "{}", text(&out));
    // The check can fail: against an older ceiling the same binaries are refused by name.
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/check-glibc.sh"))
        .args(["--max", "2.17"])
        .args(&bins)
        .output()
        .expect("check-glibc.sh");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("firstboot needs glibc"), "{}", text(&out));
}
