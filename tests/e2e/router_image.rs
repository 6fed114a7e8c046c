//! The router's OCI image, built without a Docker daemon by scripts/build-router-image.sh and
//! read back with skopeo (containers/image): its config (entrypoint, non-root user, port), its
//! name for k3s's import, and a layer that runs the router with only what the image carries.

use std::path::Path;
use std::process::{Command, Output};

use e2e::{repo_root, router_bin, TempDir};
use serde_json::Value;

fn build(binary: &Path, out: &Path) -> Output {
    Command::new("bash")
        .arg(repo_root().join("scripts/build-router-image.sh"))
        .arg(binary)
        .arg(out)
        .output()
        .expect("run build-router-image.sh")
}

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo").args(args).output().expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_oci_archive_runs_the_router_as_non_root() {
    let dir = TempDir::new("router-image");
    let archive = dir.path().join("event-router.tar");
    let out = build(&router_bin(), &archive);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let version = env!("CARGO_PKG_VERSION");
    let source = format!("oci-archive:{}", archive.display());

    let config: Value = serde_json::from_str(&skopeo(&["inspect", "--config", &source])).expect("config JSON");
    let c = &config["config"];
    assert_eq!(
        c["Entrypoint"],
        serde_json::json!(["/usr/local/bin/event-router"]),
        "{config}"
    );
    assert_eq!(c["User"], "65532:65532", "{config}");
    assert!(c["ExposedPorts"].get("8082/tcp").is_some(), "{config}");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(c["Labels"]["org.opencontainers.image.version"], version);

    // k3s (containerd) names the imported image from the index: the name the Deployment uses.
    let unpacked = dir.path().join("layout");
    std::fs::create_dir(&unpacked).expect("mkdir");
    let tar = Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .expect("tar");
    assert!(tar.success());
    let index: Value =
        serde_json::from_slice(&std::fs::read(unpacked.join("index.json")).expect("index.json")).expect("JSON");
    let annotations = &index["manifests"][0]["annotations"];
    let name = format!("localhost/event-router:{version}");
    assert_eq!(annotations["io.containerd.image.name"], name.as_str(), "{index}");
    assert_eq!(
        annotations["org.opencontainers.image.ref.name"],
        name.as_str(),
        "{index}"
    );

    // skopeo copies it to a plain folder (verifying every digest); the single layer holds the
    // binary and everything it loads, and runs the router through the image's own loader.
    let copied = dir.path().join("copied");
    skopeo(&[
        "copy",
        "--insecure-policy",
        &source,
        &format!("dir:{}", copied.display()),
    ]);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(copied.join("manifest.json")).expect("manifest")).expect("JSON");
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "{manifest}");
    let digest = layers[0]["digest"]
        .as_str()
        .expect("digest")
        .trim_start_matches("sha256:");
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir(&rootfs).expect("mkdir");
    let listing = Command::new("tar")
        .args(["--numeric-owner", "-tvzf"])
        .arg(copied.join(digest))
        .output()
        .expect("tar -t");
    let listing = String::from_utf8_lossy(&listing.stdout);
    let binary = listing
        .lines()
        .find(|l| l.ends_with("usr/local/bin/event-router"))
        .unwrap_or_else(|| panic!("no binary in the layer:\n{listing}"));
    assert!(
        binary.starts_with("-rwxr-xr-x 0/0 "),
        "owned by root, world-executable: {binary}"
    );
    for want in [
        "etc/ssl/certs/ca-certificates.crt",
        "etc/passwd",
        "lib64/ld-linux-x86-64.so.2",
    ] {
        assert!(listing.contains(want), "missing {want}:\n{listing}");
    }
    let x = Command::new("tar")
        .arg("-xzf")
        .arg(copied.join(digest))
        .arg("-C")
        .arg(&rootfs)
        .status()
        .expect("tar -x");
    assert!(x.success());
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).expect("passwd");
    assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
    let run = Command::new(rootfs.join("lib64/ld-linux-x86-64.so.2"))
        .arg("--inhibit-cache")
        .arg("--library-path")
        .arg(rootfs.join("lib/x86_64-linux-gnu"))
        .arg(rootfs.join("usr/local/bin/event-router"))
        .arg("--version")
        .output()
        .expect("run the image's router");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        format!("event-router {version}")
    );
}

#[test]
fn bad_inputs_are_named_and_leave_no_archive() {
    let dir = TempDir::new("router-image-bad");
    let out = dir.path().join("x.tar");
    let missing = build(&dir.path().join("nope"), &out);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("is not an executable file"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    let no_folder = build(&router_bin(), &dir.path().join("no/such/x.tar"));
    assert!(!no_folder.status.success());
    assert!(
        String::from_utf8_lossy(&no_folder.stderr).contains("does not exist"),
        "{}",
        String::from_utf8_lossy(&no_folder.stderr)
    );
    let names: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
    assert!(names.is_empty(), "left behind: {names:?}");
}
