//! The `event-router` command line: validate, schema, and start-up refusals.

use std::process::Command;

use e2e::{repo_root, router_bin, TempDir};

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(router_bin())
        .args(args)
        .output()
        .expect("run event-router");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn example(name: &str) -> String {
    repo_root()
        .join("router/testdata/veba")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn validate_accepts_every_veba_example() {
    for name in [
        "vcenter-knative.yaml",
        "vcenter-aws.yaml",
        "vcenter-aws-iam-role-auth.yaml",
        "vcenter-openfaas.yaml",
        "horizon-knative.yaml",
        "webhook-knative.yaml",
    ] {
        let path = example(name);
        let (code, out, err) = run(&["validate", "--config", &path]);
        assert_eq!(code, Some(0), "{name}: {err}");
        assert_eq!(out, format!("{path}: valid\n"));
    }
}

#[test]
fn validate_names_the_unknown_key_and_its_line() {
    let dir = TempDir::new("cli");
    let text = std::fs::read_to_string(example("vcenter-knative.yaml"))
        .unwrap()
        .replace("    checkpoint: false\n", "    checkpiont: false\n");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, text).unwrap();
    let (code, out, err) = run(&["validate", "--config", path.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert_eq!(out, "");
    assert_eq!(
        err.trim_end(),
        format!(
            "invalid config {}: eventProvider.vcenter: unknown field `checkpiont`, expected one of `address`, `insecureSSL`, `checkpoint`, `checkpointDir`, `checkpointPeriodSeconds`, `maxReplayAgeSeconds`, `auth`, `eventFormat`, `pageSize`, `keepAliveSeconds`, `alarmDetails`, `checkpointStore`, `checkpointConfigMap` at line 13 column 5 (remove the key or fix its spelling; `event-router schema` prints every allowed key)",
            path.display()
        )
    );
}

#[test]
fn validate_reports_a_missing_file() {
    let (code, _, err) = run(&["validate", "--config", "/nonexistent/router.yaml"]);
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with("cannot read config file /nonexistent/router.yaml: "),
        "{err}"
    );
}

#[test]
fn schema_is_json_schema_of_the_config() {
    let (code, out, _) = run(&["schema"]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["title"], "RouterConfig");
    let req: Vec<&str> = v["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    for key in ["apiVersion", "kind", "metadata", "metricsProvider"] {
        assert!(req.contains(&key), "{key} not required: {req:?}");
    }
    // One form or the other: the single VEBA section or the router's list (checked by validate).
    for key in ["eventProvider", "eventProviders", "eventProcessor", "eventProcessors"] {
        assert!(v["properties"][key].is_object(), "{key} missing from the schema");
        assert!(!req.contains(&key), "{key} must not be required: {req:?}");
    }
    let filter = &v["definitions"]["EventFilter"]["properties"];
    for key in ["types", "eventNames", "pattern"] {
        assert!(filter[key].is_object(), "filter.{key} missing: {filter}");
    }
}

#[test]
fn a_knative_ref_outside_a_cluster_is_refused_with_the_fix() {
    let (code, _, err) = Command::new(router_bin())
        .args(["--config", &example("vcenter-knative.yaml")])
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .map(|o| (o.status.code(), (), String::from_utf8_lossy(&o.stderr).into_owned()))
        .unwrap();
    assert_eq!(code, Some(1));
    assert!(
        err.contains("not running in a cluster") && err.contains("use destination.uri"),
        "{err}"
    );
}

#[test]
fn an_invalid_config_exits_2_before_doing_anything() {
    let dir = TempDir::new("cli");
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, "apiVersion: v0\n").unwrap();
    let (code, _, err) = run(&["--config", path.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("missing field `kind`"), "{err}");
}
