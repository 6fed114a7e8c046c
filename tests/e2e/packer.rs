//! The appliance build, offline: packer 1.6.6 validates the template and names the variables a
//! build is missing; the post-processor script turns a built disk into the OVA; the kickstart
//! and bill of materials are well formed; the provisioning helpers find every image in Knative's
//! manifests and drop the one ConfigMap we replace.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use e2e::{output_text as text, repo_root, run_in, workspace_bin, TempDir};
use serde_json::Value;

/// A copy of packer/ that Debian's packer 1.6.6 reads (scripts/packer16-template.sh), and the build
/// inputs packer checks for.
struct Template {
    dir: TempDir,
}

impl Template {
    fn new() -> Template {
        let dir = TempDir::new("packer");
        let out = Command::new("bash")
            .arg(repo_root().join("scripts/packer16-template.sh"))
            .arg(dir.path().join("packer"))
            .output()
            .expect("packer16-template.sh");
        assert!(out.status.success(), "{}", text(&out));
        std::fs::create_dir_all(dir.path().join("artifacts/http")).expect("mkdir");
        std::fs::write(dir.path().join("artifacts/payload.tar.gz"), b"").expect("payload");
        std::fs::copy(
            repo_root().join("packer/http/ks.json"),
            dir.path().join("artifacts/http/ks.json"),
        )
        .expect("ks");
        Template { dir }
    }

    fn packer(&self, args: &[&str]) -> Output {
        let home = self.dir.path().join("home");
        Command::new("packer")
            .args(args)
            .env("HOME", &home)
            .env("CHECKPOINT_DISABLE", "1")
            .env("PACKER_CACHE_DIR", self.dir.path().join("cache"))
            .current_dir(self.dir.path())
            .output()
            .expect("run packer")
    }

    fn artifacts(&self) -> String {
        format!("artifacts_dir={}", self.dir.path().join("artifacts").display())
    }
}

#[test]
fn the_template_is_formatted_and_both_sources_validate() {
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/check-packer.sh"))
        .output()
        .expect("check-packer.sh");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("validate (qemu, vsphere-iso) passed"),
        "{}",
        text(&out)
    );

    // The format check can fail: a misaligned attribute is reported with the file's name.
    let t = Template::new();
    let vars = t.dir.path().join("packer/variables.pkr.hcl");
    let src = std::fs::read_to_string(&vars).expect("read");
    std::fs::write(&vars, src.replacen("type        = string", "type = string", 1)).expect("write");
    let out = t.packer(&["fmt", "-check", "packer"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("variables.pkr.hcl"), "{}", text(&out));
}

#[test]
fn packer_names_what_a_build_is_missing() {
    let t = Template::new();
    let artifacts = t.artifacts();
    let base = [
        "-var",
        "version=1.0.0",
        "-var",
        "commit=abc",
        "-var",
        "build_password=long-enough-password",
        "-var",
        artifacts.as_str(),
    ];

    // vsphere-iso without its vCenter variables: the builder lists each one.
    let mut args = vec!["validate", "-only=vsphere-iso.photon"];
    args.extend(base);
    args.push("packer");
    let out = t.packer(&args);
    assert!(!out.status.success());
    for want in [
        "'vcenter_server' is required",
        "'username' is required",
        "'password' is required",
        "'host' or 'cluster' is required",
    ] {
        assert!(text(&out).contains(want), "missing {want:?}:\n{}", text(&out));
    }
    // The qemu source does not need them.
    let mut args = vec!["validate", "-only=qemu.photon"];
    args.extend(base);
    args.push("packer");
    let out = t.packer(&args);
    assert!(out.status.success(), "{}", text(&out));

    // Unset or empty build variables are named by packer's variable validation.
    let out = t.packer(&["validate", "-only=qemu.photon", "-var", artifacts.as_str(), "packer"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("Unset variable \"version\""), "{}", text(&out));
    let out = t.packer(&[
        "validate",
        "-only=qemu.photon",
        "-var",
        "version=",
        "-var",
        "commit=abc",
        "-var",
        "build_password=short",
        "-var",
        artifacts.as_str(),
        "packer",
    ]);
    assert!(!out.status.success());
    for want in [
        "The version variable must be set",
        "The build_password variable must have at least 12 characters",
    ] {
        assert!(text(&out).contains(want), "missing {want:?}:\n{}", text(&out));
    }
}

/// shell-local runs a `script` file directly (`/bin/sh -c "{{.Vars}} {{.Script}}"`; only inline
/// scripts are made executable: hashicorp/packer-plugin-sdk shell-local/config.go, run.go), so a
/// script whose mode a checkout lost would fail with exit 126 an hour into a build: every
/// shell-local step names its interpreter.
#[test]
fn every_shell_local_step_names_its_interpreter() {
    let mut steps = 0;
    for entry in std::fs::read_dir(repo_root().join("packer")).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".pkr.hcl") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for block in text.split("\"shell-local\"").skip(1) {
            let block = block.split("\n  }").next().unwrap_or("");
            steps += 1;
            assert!(
                block.contains("execute_command") && block.contains("bash {{.Script}}"),
                "{}: a shell-local step without execute_command naming bash:\n{block}",
                path.display()
            );
        }
    }
    assert!(steps >= 1, "the OVA's post-processor is a shell-local step");
}

fn package(env: &[(&str, &str)]) -> Output {
    Command::new("bash")
        .arg(repo_root().join("packer/scripts/package-ova.sh"))
        .envs(env.iter().copied())
        .output()
        .expect("package-ova.sh")
}

#[test]
fn the_post_processor_packages_a_qemu_disk_into_a_verified_ova() {
    let dir = TempDir::new("package-ova");
    let out_dir = dir.path().join("dist");
    std::fs::create_dir_all(out_dir.join("qemu")).expect("mkdir");
    let disk = out_dir.join("qemu/event-broker-appliance.qcow2");
    run_in(
        dir.path(),
        "qemu-img",
        &["create", "-q", "-f", "qcow2", disk.to_str().expect("utf-8"), "64M"],
    );
    let ova = out_dir.join("event-broker-appliance_1.2.3.ova");
    let ova_tool = workspace_bin("ova");
    let (o, t) = (out_dir.to_str().expect("utf-8"), ova_tool.to_str().expect("utf-8"));
    let env = [
        ("SOURCE_TYPE", "qemu"),
        ("OUTPUT_DIR", o),
        ("OVA", ova.to_str().expect("utf-8")),
        ("OVA_TOOL", t),
        ("VM_NAME", "event-broker-appliance"),
        ("VERSION", "1.2.3"),
        ("COMMIT", "abc123"),
    ];
    let out = package(&env);
    assert!(out.status.success(), "{}", text(&out));
    let check = run_in(
        &out_dir,
        "sha256sum",
        &["-c", "event-broker-appliance_1.2.3.ova.sha256"],
    );
    assert!(check.contains(": OK"), "{check}");
    let listing = run_in(&out_dir, "tar", &["-tf", "event-broker-appliance_1.2.3.ova"]);
    let first = listing.lines().next().unwrap_or_default();
    assert!(first.ends_with(".ovf"), "{listing}");
    assert!(listing.contains(".vmdk") && listing.contains(".mf"), "{listing}");
    let ovf = run_in(&out_dir, "tar", &["-xOf", "event-broker-appliance_1.2.3.ova", first]);
    assert!(
        ovf.contains("1.2.3") && ovf.contains("abc123"),
        "version and commit in the descriptor"
    );

    // A vsphere-iso build without an exported disk, or an unknown source, is refused clearly.
    let mut bad = env;
    bad[0] = ("SOURCE_TYPE", "vsphere-iso");
    std::fs::create_dir_all(out_dir.join("vsphere")).expect("mkdir");
    let out = package(&bad);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no disk from the vsphere-iso build"),
        "{}",
        text(&out)
    );
    bad[0] = ("SOURCE_TYPE", "vmware-iso");
    let out = package(&bad);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("unknown source type vmware-iso"), "{}", text(&out));
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read")).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn kickstart_and_bill_of_materials_are_well_formed() {
    let ks = json(&repo_root().join("packer/http/ks.json"));
    for key in [
        "hostname",
        "password",
        "disk",
        "partitions",
        "bootmode",
        "packages",
        "postinstall",
    ] {
        assert!(ks.get(key).is_some(), "ks.json lacks {key}");
    }
    assert_eq!(ks["password"]["crypted"], false);

    let bom = json(&repo_root().join("packer/bom.json"));
    let iso = bom["photon"]["iso_checksum"].as_str().expect("iso_checksum");
    let (algo, hex) = iso.split_once(':').expect("type:value");
    assert!(algo == "sha256" && hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
    let mut files = 0;
    for section in ["k3s", "knative"] {
        for f in bom[section]["files"].as_array().expect("files") {
            files += 1;
            let url = f["url"].as_str().expect("url");
            assert!(url.starts_with("https://"), "{url}");
            assert!(f["dest"].as_str().expect("dest").starts_with('/'), "{f}");
            match &f["sha256"] {
                Value::Null => {}
                Value::String(h) => assert!(h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()), "{f}"),
                other => panic!("sha256 must be a hex string or null: {other}"),
            }
        }
    }
    assert_eq!(files, 11);
    // k3s is pinned (its binary and air-gap images are executed and imported as root).
    for f in bom["k3s"]["files"].as_array().expect("files") {
        assert!(f["sha256"].is_string(), "{f}");
    }
    // The provisioning scripts read the same entries.
    let out = Command::new("bash")
        .arg("-c")
        .arg("set -euo pipefail; source \"$1\"; bom_files k3s; bom_files knative")
        .arg("bom")
        .arg(lib("fetch.sh"))
        .env("BOM", repo_root().join("packer/bom.json"))
        .output()
        .expect("bom_files");
    assert!(out.status.success(), "{}", text(&out));
    let rows: Vec<Vec<String>> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 11, "{rows:?}");
    assert!(
        rows.iter().all(|r| r.len() == 5 && r[1].starts_with("https://")),
        "{rows:?}"
    );
    assert_eq!(rows[0][3], "/usr/local/bin/k3s");
}

fn lib(name: &str) -> PathBuf {
    repo_root().join("packer/scripts/lib").join(name)
}

#[test]
fn provisioning_helpers_find_images_and_replace_only_config_network() {
    let dir = TempDir::new("packer-lib");
    let serving = dir.path().join("serving-core.yaml");
    let digest = "a".repeat(64);
    std::fs::write(
        &serving,
        format!(
            "# license header
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: config-network
  namespace: knative-serving
data:
  _example: |
    ingress-class: istio
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: config-deployment
  labels:
    name: config-network
data:
  queue-sidecar-image: gcr.io/knative-releases/knative.dev/serving/cmd/queue@sha256:{digest}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: controller
spec:
  template:
    spec:
      containers:
        - name: controller
          image: gcr.io/knative-releases/knative.dev/serving/cmd/controller@sha256:{digest}
          env:
            - name: X_IMAGE
              value: \"docker.io/envoyproxy/envoy:v1.35.2\"
"
        ),
    )
    .expect("write");
    let images = run_in(
        dir.path(),
        "bash",
        &[
            lib("list-images.sh").to_str().expect("utf-8"),
            "serving-core.yaml",
            "serving-core.yaml",
        ],
    );
    let images: Vec<&str> = images.lines().collect();
    assert_eq!(
        images,
        [
            "docker.io/envoyproxy/envoy:v1.35.2".to_string(),
            format!("gcr.io/knative-releases/knative.dev/serving/cmd/controller@sha256:{digest}"),
            format!("gcr.io/knative-releases/knative.dev/serving/cmd/queue@sha256:{digest}"),
        ]
    );

    let kept = run_in(
        dir.path(),
        "awk",
        &[
            "-f",
            lib("drop-doc.awk").to_str().expect("utf-8"),
            "-v",
            "kind=ConfigMap",
            "-v",
            "names=config-network",
            "serving-core.yaml",
        ],
    );
    assert!(!kept.contains("ingress-class: istio"), "{kept}");
    assert!(
        kept.contains("name: config-deployment") && kept.contains("name: controller"),
        "{kept}"
    );
    assert_eq!(kept.matches("\n---\n").count(), 2, "{kept}");
}

/// A folder served over HTTPS on loopback with a fresh self-signed certificate (stopped on drop).
struct HttpsFiles {
    child: std::process::Child,
    port: u16,
    ca: PathBuf,
}

impl HttpsFiles {
    fn start(dir: &Path, folder: &Path) -> HttpsFiles {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        run_in(
            dir,
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                key.to_str().expect("utf-8"),
                "-out",
                cert.to_str().expect("utf-8"),
            ],
        );
        let mut child = Command::new(e2e::tool(".tools/venv/bin/python"))
            .arg(repo_root().join("tests/peers/https_files.py"))
            .args([folder, &cert, &key])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start https_files.py");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("read port");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .expect("PORT line");
        HttpsFiles { child, port, ca: cert }
    }
}

impl Drop for HttpsFiles {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `fetch NAME URL SHA DEST MODE` from packer/scripts/lib/fetch.sh.
fn fetch(https: &HttpsFiles, lock: &Path, args: [&str; 5], strict: bool) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg("set -euo pipefail; source \"$1\"; shift; fetch \"$@\"")
        .arg("fetch")
        .arg(lib("fetch.sh"))
        .args(args)
        .env("CURL_CA_BUNDLE", &https.ca)
        .env("BOM_LOCK", lock)
        .env("BOM_STRICT", if strict { "1" } else { "0" })
        .output()
        .expect("fetch")
}

#[test]
fn downloads_are_checked_against_the_bill_of_materials() {
    let dir = TempDir::new("fetch");
    let served = dir.path().join("served");
    std::fs::create_dir(&served).expect("mkdir");
    std::fs::write(served.join("k3s"), b"#!/bin/sh\necho k3s\n").expect("write");
    let sha = run_in(&served, "sha256sum", &["k3s"])
        .split_whitespace()
        .next()
        .expect("sum")
        .to_string();
    let https = HttpsFiles::start(dir.path(), &served);
    let url = format!("https://127.0.0.1:{}/k3s", https.port);
    let lock = dir.path().join("bom.lock.json");
    let dest = dir.path().join("root/usr/local/bin/k3s");
    let d = dest.to_str().expect("utf-8");

    // Pinned and matching: installed with its mode, recorded as pinned.
    let out = fetch(&https, &lock, ["k3s", &url, &sha, d, "0755"], false);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read(&dest).expect("installed"), b"#!/bin/sh\necho k3s\n");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&dest).expect("stat").permissions());
    assert_eq!(mode & 0o777, 0o755);
    let recorded = json(&lock);
    assert_eq!(recorded[0]["sha256"], sha.as_str());
    assert_eq!(recorded[0]["pinned"], true);

    // A different checksum: refused, nothing installed, no partial download left.
    std::fs::remove_file(&dest).expect("rm");
    let wrong = "0".repeat(64);
    let out = fetch(&https, &lock, ["k3s", &url, &wrong, d, "0755"], false);
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&format!("has sha256 {sha}, bom.json pins {wrong}: refusing it")),
        "{}",
        text(&out)
    );
    let left: Vec<_> = std::fs::read_dir(dest.parent().expect("parent")).expect("ls").collect();
    assert!(left.is_empty(), "{left:?}");

    // Not pinned: fetched with a warning and recorded as unpinned; refused when strict.
    let out = fetch(&https, &lock, ["k3s", &url, "null", d, "0644"], false);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("is not pinned in bom.json"), "{}", text(&out));
    assert_eq!(json(&lock)[1]["pinned"], false);
    std::fs::remove_file(&dest).expect("rm");
    let out = fetch(&https, &lock, ["k3s", &url, "null", d, "0644"], true);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("BOM_STRICT=1: pin it with scripts/pin-bom.sh"),
        "{}",
        text(&out)
    );
    assert!(!dest.exists());

    // A missing file is a download error naming the URL.
    let missing = format!("https://127.0.0.1:{}/nope", https.port);
    let out = fetch(&https, &lock, ["nope", &missing, &sha, d, "0644"], false);
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&format!("cannot download nope from {missing}")),
        "{}",
        text(&out)
    );
}
