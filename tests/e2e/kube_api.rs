//! Against a real Kubernetes API server (kube-apiserver 1.20.2 with etcd and the controller
//! manager on loopback, `e2e::kube`): the router's RBAC asked of the real authorizer, the
//! manifests we ship and the ones firstboot renders through a server-side dry run, and a Knative
//! destination `ref` resolved by the real router with its own ServiceAccount's token.

use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use e2e::kube::KubeApi;
use e2e::{free_port, output_text, repo_root, router_config, tool, CeReceiver};
use serde_json::{json, Value};

/// The router's ServiceAccount (manifests/base/serviceaccount.yaml), as RBAC names it.
const ROUTER: &str = "system:serviceaccount:vmware-system:event-router";

/// What the router resolves a destination `ref` to, by the resource names RBAC uses (k8s.rs).
const RESOLVED: [&str; 4] = [
    "brokers.eventing.knative.dev",
    "channels.messaging.knative.dev",
    "inmemorychannels.messaging.knative.dev",
    "services.serving.knative.dev",
];

/// The kustomize base applied as an operator would (`kubectl apply`), once per server: its
/// namespaces, ServiceAccount, Role and RoleBinding are what the tests of the shared server use.
fn base_applied(api: &KubeApi) {
    static BASE: OnceLock<()> = OnceLock::new();
    BASE.get_or_init(|| {
        api.install_knative_crds();
        // The Role lives where the Broker does (VEBA's namespace): that namespace comes first.
        api.create_namespace("vmware-functions");
        let base = repo_root().join("manifests/base");
        let yaml = api.kubectl(&["kustomize", base.to_str().expect("utf-8 path")]);
        api.apply(&yaml);
    });
}

#[test]
fn the_routers_rbac_allows_each_call_it_makes_and_nothing_else() {
    let api = KubeApi::shared();
    base_applied(api);
    let elsewhere = api.unique_namespace("e2e-rbac");

    // Every call the router makes: GET of the object a destination ref names, in the namespace
    // where the Role is (vmware-functions).
    let mut wrong = Vec::new();
    for resource in RESOLVED {
        if !api.can_i(ROUTER, &["get", resource, "-n", "vmware-functions"]) {
            wrong.push(format!(
                "get {resource} -n vmware-functions: no, but the router needs it"
            ));
        }
    }
    // The Role also grants get on core Services, although the router resolves a v1 Service
    // ref to its cluster DNS name without asking the API (k8s.rs).
    assert!(api.can_i(ROUTER, &["get", "services", "-n", "vmware-functions"]));

    // A sample of what it must not do.
    let mut denied: Vec<Vec<String>> = Vec::new();
    let mut add = |args: &[&str]| denied.push(args.iter().map(|s| s.to_string()).collect());
    for resource in RESOLVED.iter().copied().chain(["services"]) {
        // The same read anywhere else, or across the cluster.
        for ns in ["default", "vmware-system", "kube-system", elsewhere.as_str()] {
            add(&["get", resource, "-n", ns]);
        }
        add(&["get", resource, "--all-namespaces"]);
        // Anything but get, even where get is allowed.
        for verb in [
            "list",
            "watch",
            "create",
            "update",
            "patch",
            "delete",
            "deletecollection",
        ] {
            add(&[verb, resource, "-n", "vmware-functions"]);
        }
    }
    for resource in ["secrets", "configmaps"] {
        for verb in ["get", "list", "watch", "create", "update", "delete"] {
            for ns in ["vmware-functions", "vmware-system", "default"] {
                add(&[verb, resource, "-n", ns]);
            }
            add(&[verb, resource, "--all-namespaces"]);
        }
    }
    add(&[
        "create",
        "serviceaccounts",
        "--subresource=token",
        "-n",
        "vmware-system",
    ]);
    add(&["create", "pods", "-n", "vmware-system"]);
    add(&["create", "pods", "--subresource=exec", "-n", "vmware-functions"]);
    add(&["list", "namespaces"]);
    add(&["get", "nodes"]);
    add(&["create", "roles.rbac.authorization.k8s.io", "-n", "vmware-functions"]);
    add(&[
        "create",
        "rolebindings.rbac.authorization.k8s.io",
        "-n",
        "vmware-functions",
    ]);
    add(&["impersonate", "serviceaccounts", "-n", "vmware-system"]);
    add(&["*", "*", "--all-namespaces"]);
    for args in &denied {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if api.can_i(ROUTER, &args) {
            wrong.push(format!("{}: yes, but the router must not", args.join(" ")));
        }
    }
    assert!(
        wrong.is_empty(),
        "the router's RBAC (manifests/base/rbac.yaml):\n{}",
        wrong.join("\n")
    );
}

/// `text` split into its YAML documents (lines `---` separate them), empty ones left out.
fn documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else {
            let doc = docs.last_mut().expect("one document");
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs.retain(|d| d.lines().any(|l| l.starts_with("kind:")));
    docs
}

/// `kubectl apply --dry-run=server` of `docs`: every object must come back as a server dry run.
fn dry_run(api: &KubeApi, what: &str, docs: &[String]) {
    let out = api.try_kubectl(
        &["apply", "--dry-run=server", "-f", "-"],
        Some(docs.join("---\n").as_str()),
    );
    let text = output_text(&out);
    assert!(out.status.success(), "{what}: the API server refused it:\n{text}");
    let accepted = text.lines().filter(|l| l.ends_with("(server dry run)")).count();
    assert_eq!(accepted, docs.len(), "{what}: not every object was dry-run:\n{text}");
}

#[test]
fn shipped_and_rendered_manifests_pass_a_server_side_dry_run() {
    // A server of its own: nothing of the manifests exists yet, so every object is sent whole
    // and checked (kubectl sends no request for an object an earlier apply left unchanged).
    let api = KubeApi::start();
    api.install_knative_crds();
    // A dry run creates no namespace: the ones the objects live in exist first, as on the
    // appliance (k3s applies the Namespaces, Knative Serving makes knative-serving).
    for ns in ["vmware-system", "vmware-functions", "knative-serving"] {
        api.create_namespace(ns);
    }

    // The kustomizations (the base, the Knative namespace and Broker, the examples).
    let kustomizations = [
        "manifests/base",
        "manifests/knative",
        "manifests/examples/echo",
        "manifests/examples/cluster",
        "examples/slack-alarm/manifests",
        "examples/vrops-maintenance/manifests",
        "examples/zone-drift/manifests",
    ];
    let mut kinds = Vec::new();
    for k in kustomizations {
        let path = repo_root().join(k);
        let docs = documents(&api.kubectl(&["kustomize", path.to_str().expect("utf-8 path")]));
        assert!(!docs.is_empty(), "{k} builds to nothing");
        dry_run(&api, k, &docs);
        kinds.extend(docs.iter().filter_map(|d| kind(d)));
    }
    for want in [
        "Deployment",
        "Role",
        "RoleBinding",
        "Broker",
        "Trigger",
        "Service",
        "Secret",
    ] {
        assert!(kinds.iter().any(|k| k == want), "no {want} was dry-run: {kinds:?}");
    }

    // What firstboot renders into k3s's manifests folder, for every golden sample. Contour's
    // HTTPProxy is left out: no copy of its CRD is at hand (only net-contour's manifest is in
    // ../shared/reference/upstream); the offline schema check (manifests.rs) covers it.
    let golden = repo_root().join("firstboot/testdata/golden");
    let mut files = 0;
    let mut skipped = Vec::new();
    for sample in std::fs::read_dir(&golden).expect("golden samples") {
        let dir = sample
            .expect("entry")
            .path()
            .join("var/lib/rancher/k3s/server/manifests");
        for file in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = file.expect("entry").path();
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let (contour, docs): (Vec<String>, Vec<String>) = documents(&text)
                .into_iter()
                .partition(|d| d.lines().any(|l| l.starts_with("apiVersion: projectcontour.io/")));
            skipped.extend(contour.iter().filter_map(|d| kind(d)));
            if !docs.is_empty() {
                dry_run(&api, &path.display().to_string(), &docs);
                files += 1;
            }
        }
    }
    assert!(
        files >= 18,
        "expected 3 manifests with Kubernetes objects per golden sample: {files}"
    );
    assert!(
        skipped.iter().all(|k| k == "HTTPProxy"),
        "only the HTTPProxy may be left out: {skipped:?}"
    );

    // The dry run checks what it is sent: a type error in a Knative object (the CRD's schema,
    // on the server) and a TLS Secret without its key (the server's own validation) are refused.
    let bad_broker = "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: bad, namespace: vmware-functions}\nspec:\n  delivery: {retry: five}\n";
    let out = api.try_kubectl(&["apply", "--dry-run=server", "-f", "-"], Some(bad_broker));
    assert!(
        !out.status.success() && output_text(&out).contains("spec.delivery.retry"),
        "{}",
        output_text(&out)
    );
    let tls =
        std::fs::read_to_string(golden.join("static-knative/var/lib/rancher/k3s/server/manifests/appliance-tls.yaml"))
            .expect("appliance-tls.yaml");
    let keyless: String = tls
        .lines()
        .filter(|l| !l.trim_start().starts_with("tls.key:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(keyless, tls, "the golden TLS Secret has a tls.key");
    let out = api.try_kubectl(&["apply", "--dry-run=server", "-f", "-"], Some(keyless.as_str()));
    assert!(
        !out.status.success() && output_text(&out).contains("tls.key"),
        "{}",
        output_text(&out)
    );

    // A private server stops on drop: its port closes and its folder is removed.
    let (port, dir) = (api.port, api.dir().to_path_buf());
    drop(api);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the API server still listens"
    );
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

/// The `kind:` of a YAML document.
fn kind(doc: &str) -> Option<String> {
    doc.lines()
        .find_map(|l| l.strip_prefix("kind:"))
        .map(|k| k.trim().to_string())
}

/// Posts one binary-mode CloudEvent (`kube-0`) with the Python SDK to the router's webhook.
fn send_one(url: &str) -> Value {
    let out = Command::new(tool(".tools/venv/bin/python"))
        .arg(repo_root().join("tests/peers/ce_send.py"))
        .args(["--url", url, "--mode", "binary", "--id-prefix", "kube-"])
        .output()
        .expect("run ce_send.py");
    assert!(out.status.success(), "ce_send.py: {}", output_text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("ce_send.py: {e}: {}", output_text(&out)))
}

/// A router with a webhook provider and a Knative processor whose destination is a Broker ref.
fn broker_config(hook: u16, metrics: u16, broker: &str, namespace: &str) -> String {
    router_config(
        "e2e-kube",
        &format!("eventProvider:\n  type: webhook\n  name: hook\n  webhook:\n    bindAddress: 127.0.0.1:{hook}\n    path: /webhook\n"),
        &format!(
            "eventProcessor:\n  type: knative\n  name: broker\n  knative:\n    encoding: binary\n    destination:\n      ref:\n        apiVersion: eventing.knative.dev/v1\n        kind: Broker\n        name: {broker}\n        namespace: {namespace}\n"
        ),
        metrics,
        None,
        "",
    )
}

/// A Broker made through the API with the address its controller would give it.
fn addressable_broker(api: &KubeApi, namespace: &str, name: &str, url: &str) {
    api.apply(&format!(
        "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"
    ));
    let path = format!("/apis/eventing.knative.dev/v1/namespaces/{namespace}/brokers/{name}");
    let answer = api.set_status(&path, json!({"address": {"url": url}}));
    assert_eq!(answer["status"]["address"]["url"], url, "{answer}");
}

#[test]
fn a_broker_ref_resolves_through_the_api_with_the_routers_own_service_account() {
    let api = KubeApi::shared();
    base_applied(api);
    let sink = CeReceiver::start(&[]);
    addressable_broker(api, "vmware-functions", "e2e-resolve", &sink.url());

    // The router as its pod runs it: the API at KUBERNETES_SERVICE_HOST/PORT over TLS checked
    // against the cluster CA, with event-router's token.
    let pod = api.in_cluster("vmware-system", "event-router");
    let (hook, metrics) = (free_port(), free_port());
    let router = pod.start_router(
        &broker_config(hook, metrics, "e2e-resolve", "vmware-functions"),
        metrics,
    );
    router.wait_ready(Duration::from_secs(30));
    let answer = send_one(&format!("http://127.0.0.1:{hook}/webhook"));
    assert_eq!(answer["status"], 200, "{answer}; log:\n{}", router.log());
    let rec = sink
        .next(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no event at the Broker's address; log:\n{}", router.log()));
    assert_eq!(rec["attributes"]["id"], "kube-0", "{rec}");
    assert_eq!(rec["attributes"]["source"], "urn:e2e:webhook", "{rec}");
    assert_eq!(rec["mode"], "binary", "{rec}");

    // The same ref to a Broker in a namespace without the Role: the real authorizer refuses
    // the router's GET, and nothing is delivered.
    let other = api.unique_namespace("e2e-norole");
    addressable_broker(api, &other, "e2e-resolve", &sink.url());
    let (hook, metrics) = (free_port(), free_port());
    let refused = pod.start_router(&broker_config(hook, metrics, "e2e-resolve", &other), metrics);
    refused.wait_log("403", Duration::from_secs(30));
    assert!(
        !matches!(refused.get("/readyz"), Some((200, _))),
        "ready without its destination; log:\n{}",
        refused.log()
    );
    assert!(
        sink.next(Duration::from_secs(1)).is_none(),
        "nothing may reach the sink"
    );
}

/// The cluster overlay's Role for leader election (manifests/examples/cluster/leader-election.yaml),
/// asked of the real authorizer: the calls the router makes for its Leases and its checkpoint
/// ConfigMap (GET, POST, PUT: kube/elector.rs, kube/checkpoints.rs) and nothing more.
#[test]
fn the_leader_election_role_allows_the_lease_and_checkpoint_calls_and_nothing_else() {
    let api = KubeApi::shared();
    base_applied(api);
    // In a namespace of its own (its ServiceAccount too), so the other tests' view of
    // vmware-system stays the base's alone.
    let home = api.unique_namespace("e2e-le");
    let role = std::fs::read_to_string(repo_root().join("manifests/examples/cluster/leader-election.yaml"))
        .expect("read leader-election.yaml")
        .replace("vmware-system", &home);
    api.apply(&role);
    let router = format!("system:serviceaccount:{home}:event-router");
    let ns = ["-n", home.as_str()];
    let mut wrong = Vec::new();
    let mut want = |allowed: bool, args: &[&str]| {
        let all: Vec<&str> = args.iter().chain(ns.iter()).copied().collect();
        if api.can_i(&router, &all) != allowed {
            wrong.push(format!(
                "{}: {}",
                all.join(" "),
                if allowed {
                    "no, but the router needs it"
                } else {
                    "yes, but the router must not"
                }
            ));
        }
    };
    for verb in ["get", "create", "update"] {
        want(true, &[verb, "leases.coordination.k8s.io"]);
    }
    want(true, &["create", "configmaps"]);
    for verb in ["get", "update"] {
        want(true, &[verb, "configmaps/event-router-checkpoints"]);
        want(false, &[verb, "configmaps/kube-root-ca.crt"]);
        want(false, &[verb, "configmaps"]);
    }
    for verb in ["list", "watch", "delete", "patch", "deletecollection"] {
        want(false, &[verb, "leases.coordination.k8s.io"]);
        want(false, &[verb, "configmaps"]);
    }
    for verb in ["get", "list", "create", "update"] {
        want(false, &[verb, "secrets"]);
    }
    assert!(wrong.is_empty(), "leader-election.yaml:\n{}", wrong.join("\n"));
    // Nothing of it reaches another namespace.
    assert!(!api.can_i(&router, &["get", "leases.coordination.k8s.io", "-n", "default"]));
    assert!(!api.can_i(&router, &["create", "configmaps", "-n", "vmware-functions"]));
}
