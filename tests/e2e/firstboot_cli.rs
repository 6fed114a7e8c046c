//! The `firstboot` command line on sample OVF environments.

use std::process::Command;

use e2e::repo_root;

fn firstboot(args: &[&str]) -> (Option<i32>, String, String) {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let bin = target.join("debug/firstboot");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p firstboot` (make test does)",
        bin.display()
    );
    let out = Command::new(bin).args(args).output().expect("run firstboot");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sample(name: &str) -> String {
    repo_root().join("firstboot/testdata").join(name).display().to_string()
}

#[test]
fn validate_accepts_a_static_knative_environment() {
    let path = sample("static-knative.xml");
    let (code, out, err) = firstboot(&["validate", "--ovf-env", &path]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, format!("{path}: valid\n"));
}

#[test]
fn validate_lists_every_problem_by_label_and_key() {
    let path = sample("invalid.xml");
    let (code, out, err) = firstboot(&["validate", "--ovf-env", &path]);
    assert_eq!(code, Some(2));
    assert_eq!(out, "");
    assert_eq!(
        err,
        format!(
            "{path}: 3 invalid OVF properties; fix them in the VM's vApp Options and reboot:
  - IP Address (guestinfo.ipaddress): must be an IPv4 address such as 192.168.1.10 (got \"192.168.30.500\")
  - Event Processor (guestinfo.processor): is not one of the allowed values: [\"knative\", \"aws_event_bridge\", \"openfaas\"] (got \"kafka\")
  - vCenter Password (guestinfo.vcenter_password): is required when a vCenter Server is set
"
        )
    );
}

#[test]
fn validate_rejects_a_malformed_environment() {
    let dir = e2e::TempDir::new("ovfenv");
    let path = dir.path().join("env.xml");
    std::fs::write(&path, "<Environment><PropertySection>").unwrap();
    let (code, _, err) = firstboot(&["validate", "--ovf-env", path.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("the OVF environment is not well-formed XML"), "{err}");
}
