//! The `firstboot` command line on sample OVF environments.

use std::process::Command;

use e2e::repo_root;

fn firstboot(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(e2e::workspace_bin("firstboot"))
        .args(args)
        .output()
        .expect("run firstboot");
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

/// Every file under `dir`, by path relative to it.
fn files(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn render_matches_the_golden_trees_and_the_router_accepts_its_config() {
    use std::os::unix::fs::PermissionsExt;
    for name in ["static-knative", "dhcp-eventbridge"] {
        let root = e2e::TempDir::new("render");
        let (code, out, err) = firstboot(&[
            "render",
            "--ovf-env",
            &sample(&format!("{name}.xml")),
            "--root",
            root.path().to_str().unwrap(),
        ]);
        assert_eq!(code, Some(0), "{name}: {err}");
        assert!(out.contains("wrote /etc/event-router/config.yaml"), "{out}");
        let golden = repo_root().join("firstboot/testdata/golden").join(name);
        let (got, want) = (files(root.path()), files(&golden));
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{name}: file list"
        );
        for (path, content) in &want {
            assert!(
                got[path] == *content,
                "{name}: {path} differs from the golden file:\n{}",
                String::from_utf8_lossy(&got[path])
            );
        }
        let cfg = root.path().join("etc/event-router/config.yaml");
        assert_eq!(
            std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777,
            0o600,
            "the router config holds secrets"
        );
        let router = e2e::router_bin();
        let v = Command::new(router)
            .args(["validate", "--config", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            v.status.success(),
            "{name}: event-router rejects the rendered config: {}",
            String::from_utf8_lossy(&v.stderr)
        );
        // A second run with the same properties changes nothing.
        let (code, out, _) = firstboot(&[
            "render",
            "--ovf-env",
            &sample(&format!("{name}.xml")),
            "--root",
            root.path().to_str().unwrap(),
        ]);
        assert_eq!((code, out.as_str()), (Some(0), "nothing changed\n"));
    }
}

#[test]
fn render_refuses_an_invalid_environment_and_writes_nothing() {
    let root = e2e::TempDir::new("render");
    let (code, out, err) = firstboot(&[
        "render",
        "--ovf-env",
        &sample("invalid.xml"),
        "--root",
        root.path().to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2));
    assert_eq!(out, "");
    assert!(err.contains("3 invalid OVF properties"), "{err}");
    assert!(files(root.path()).is_empty(), "files were written");
}
