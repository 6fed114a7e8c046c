//! The Kubernetes manifests we ship (the kustomize base and examples in manifests/, the use-case
//! functions' in examples/, and what firstboot renders into k3s's manifests folder) pass an
//! offline schema check: kubernetes-validate (strict) for Kubernetes' kinds, a documented subset
//! of the Knative and Contour APIs for theirs, each kustomization built by kubectl's own kustomize.

use std::path::Path;
use std::process::{Command, Output};

use e2e::{output_text as text, repo_root, router_bin, tool, TempDir};

fn check(args: &[&str]) -> Output {
    Command::new(tool(".tools/venv/bin/python"))
        .arg(repo_root().join("scripts/check-manifests.py"))
        .args(args)
        .env("KUBECTL", tool(".tools/bin/kubectl"))
        .current_dir(repo_root())
        .output()
        .expect("run check-manifests.py")
}

fn rendered_manifests() -> Vec<String> {
    let golden = repo_root().join("firstboot/testdata/golden");
    let mut files = Vec::new();
    for sample in std::fs::read_dir(&golden).expect("golden samples") {
        let dir = sample
            .expect("entry")
            .path()
            .join("var/lib/rancher/k3s/server/manifests");
        for f in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            files.push(f.expect("entry").path().display().to_string());
        }
    }
    files.sort();
    files
}

#[test]
fn shipped_and_rendered_manifests_pass_the_schema_check() {
    let mut args = vec![
        "manifests/base".to_string(),
        "manifests/knative".to_string(),
        "manifests/examples/echo".to_string(),
        "manifests/examples/cluster".to_string(),
        "examples/slack-alarm/manifests".to_string(),
        "examples/vrops-maintenance/manifests".to_string(),
        "examples/zone-drift/manifests".to_string(),
    ];
    let rendered = rendered_manifests();
    assert!(
        rendered.len() >= 16,
        "expected 4 manifests per golden sample (router, ingress, TLS, Knative domain): {rendered:?}"
    );
    args.extend(rendered);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = check(&args);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    // Every kind we ship was actually checked: the router's objects, the Broker, the echo
    // function and its Trigger, the TLS Secret and the ingress.
    let objects: usize = log
        .split_whitespace()
        .skip_while(|w| *w != "checked")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(objects >= 50, "{log}");
}

#[test]
fn the_cluster_example_builds_with_the_image_and_a_hashed_config_secret() {
    let out = Command::new(tool(".tools/bin/kubectl"))
        .args(["kustomize", "manifests/examples/cluster"])
        .current_dir(repo_root())
        .output()
        .expect("kubectl kustomize");
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        yaml.contains("image: registry.example.com/event-router:0.1.0"),
        "{yaml}"
    );
    let secret = yaml
        .lines()
        .find_map(|l| l.trim().strip_prefix("secretName: event-router-config-"))
        .expect("the Deployment mounts the generated Secret");
    assert!(yaml.contains(&format!("name: event-router-config-{secret}")), "{yaml}");
    // The example RouterConfig is one the router accepts.
    let v = Command::new(router_bin())
        .args(["--config", "manifests/examples/cluster/config.yaml", "validate"])
        .current_dir(repo_root())
        .output()
        .expect("event-router validate");
    assert!(v.status.success(), "{}", text(&v));
}

#[test]
fn broken_manifests_are_named_with_the_problem() {
    let dir = TempDir::new("bad-manifests");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: c, image: i, readinesProbe: {}}]
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t}
spec:
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: e}}
---
apiVersion: projectcontour.io/v1
kind: HTTPProxy
metadata: {name: p}
spec:
  routes: [{services: [{name: s, port: 0}]}]
---
apiVersion: example.com/v1
kind: Foo
metadata: {name: f}
",
    )
    .expect("write");
    let out = check(&[bad.to_str().expect("utf-8 path")]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    for want in [
        "Deployment/x: spec/template/spec/containers/0: Additional properties are not allowed ('readinesProbe' was unexpected)",
        "Trigger/t: spec: 'broker' is a required property",
        "HTTPProxy/p: spec/routes/0/services/0/port: 0 is less than the minimum of 1",
        "Foo/f: unknown kind example.com/v1 Foo",
    ] {
        assert!(log.contains(want), "missing {want:?} in:\n{log}");
    }

    // A kustomization folder with a manifest it does not use: that file would go unchecked.
    let k = dir.path().join("kust");
    std::fs::create_dir(&k).expect("mkdir");
    std::fs::write(k.join("kustomization.yaml"), "resources:\n  - ns.yaml\n").expect("write");
    std::fs::write(
        k.join("ns.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
    )
    .expect("write");
    std::fs::write(
        k.join("stray.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
    )
    .expect("write");
    let out = check(&[k.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("stray.yaml: not used by"), "{}", text(&out));
    assert!(Path::new(&k).exists());
}

#[test]
fn the_router_ingress_carries_the_class_net_contour_serves() {
    // net-contour's config-contour (knative-v1.20.0, the copy in ../shared/reference/upstream)
    // names the class of the Contour that serves external traffic: ExternalIP -> class.
    let net_contour =
        std::fs::read_to_string(repo_root().join("../shared/reference/upstream/knative-v1.20.0/net-contour.yaml"))
            .expect("net-contour.yaml");
    let external = net_contour
        .split("ExternalIP:")
        .nth(1)
        .and_then(|rest| rest.lines().find_map(|l| l.trim().strip_prefix("class: ")))
        .expect("config-contour names the ExternalIP class");
    assert_eq!(external, "contour-external");
    for sample in std::fs::read_dir(repo_root().join("firstboot/testdata/golden")).expect("golden") {
        let path = sample
            .expect("entry")
            .path()
            .join("var/lib/rancher/k3s/server/manifests/event-router-ingress.yaml");
        let proxy = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            proxy.contains(&format!("\nspec:\n  ingressClassName: {external}\n")),
            "{}: Contour would not serve it:\n{proxy}",
            path.display()
        );
    }
}
