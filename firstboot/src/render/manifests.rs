//! Kubernetes manifests for k3s's auto-deploy folder: the router (its RouterConfig as a Secret,
//! RBAC to resolve Knative addresses, the Deployment and its Service), the appliance's TLS
//! certificate as a `kubernetes.io/tls` Secret for the ingress, and Knative Serving's domain.

use base64::Engine as _;

use super::{proxy, q};
use crate::material::Material;
use crate::ovfenv::OvfEnv;

/// The router's image, imported into k3s by the appliance build (never pulled).
pub const ROUTER_IMAGE: &str = concat!("localhost/event-router:", env!("CARGO_PKG_VERSION"));
pub const ROUTER_NAMESPACE: &str = "vmware-system";
pub const ROUTER_DEPLOYMENT: &str = "event-router";
/// The pod template annotation that carries the config digest, so a changed config (and only
/// that) rolls the router.
pub const CONFIG_HASH_ANNOTATION: &str = "event-router.vmware.com/config-sha256";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Hex SHA-256 of `text`.
pub(super) fn digest(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The router's log level with Debugging on: the router's own debug lines (one `queued` line per
/// event with its name, a line per checkpoint written) and not its HTTP libraries' (hyper's and
/// reqwest's connection-pool lines, several per vCenter poll, which plain `debug` adds).
pub const DEBUG_LOG_LEVEL: &str = "info,event_router=debug";

/// What the router's pod reads at start: its config, the trusted CA (both from the config
/// Secret) and its log level (an argument).
pub(super) struct Pod<'a> {
    pub config: &'a str,
    pub trusted_ca: Option<&'a str>,
    pub log_level: Option<&'a str>,
}

impl Pod<'_> {
    /// The digest the Deployment's pod template carries: a change of any input rolls the pod.
    /// Without a CA or a log level it is the config's own digest.
    pub fn digest(&self) -> String {
        let mut text = self.config.to_string();
        if let Some(ca) = self.trusted_ca {
            text.push_str("\n# trusted-ca.pem\n");
            text.push_str(ca);
        }
        if let Some(level) = self.log_level {
            text.push_str("\n# --log-level ");
            text.push_str(level);
        }
        digest(&text)
    }
}

const HEADER: &str =
    "# Rendered by firstboot from the OVF properties; k3s applies it. Edit the vApp options and power-cycle the VM instead.\n";

pub(super) fn tls_secret(m: &Material) -> String {
    format!(
        "{HEADER}{}---
apiVersion: v1
kind: Secret
metadata:
  name: appliance-tls
  namespace: {ROUTER_NAMESPACE}
  labels:
    app.kubernetes.io/part-of: event-broker-appliance
  annotations:
    event-router.vmware.com/self-signed: {}
type: kubernetes.io/tls
data:
  tls.crt: {}
  tls.key: {}
",
        base::NAMESPACE,
        q(&m.self_signed.to_string()),
        b64(&m.tls_cert),
        b64(&m.tls_key)
    )
}

/// The router's manifests shared with the kustomize base (manifests/base): one source for both.
mod base {
    pub const NAMESPACE: &str = include_str!("../../../manifests/base/namespace.yaml");
    pub const SERVICE_ACCOUNT: &str = include_str!("../../../manifests/base/serviceaccount.yaml");
    pub const RBAC: &str = include_str!("../../../manifests/base/rbac.yaml");
    pub const DEPLOYMENT: &str = include_str!("../../../manifests/base/deployment.yaml");
    pub const SERVICE: &str = include_str!("../../../manifests/base/service.yaml");
}

/// The appliance's release file, written by the build (packer/scripts/20-os.sh).
pub const RELEASE_FILE: &str = "/etc/event-broker-release";
/// Where the router's pod sees firstboot's status folder and the release file (read-only), for
/// the console's appliance view.
const POD_FIRSTBOOT_DIR: &str = "/run/appliance/firstboot";
const POD_RELEASE_FILE: &str = "/run/appliance/event-broker-release";
/// The namespace of VEBA's functions (manifests/knative), whose Knative Services the console lists.
pub const FUNCTIONS_NAMESPACE: &str = "vmware-functions";

/// The base Deployment's last environment entry (the pod's name, for leader election).
const BASE_ENV_END: &str = "                  fieldPath: metadata.name\n";

/// The router's environment on the appliance, after the base's: where the console's appliance
/// view reads from (router/src/console/appliance.rs).
fn appliance_env() -> String {
    let status = std::path::Path::new(crate::paths::STATUS);
    let name = status.file_name().and_then(|n| n.to_str()).unwrap_or("status.json");
    format!(
        "{BASE_ENV_END}            - name: EVENT_ROUTER_FIRSTBOOT_STATUS
              value: {POD_FIRSTBOOT_DIR}/{name}
            - name: EVENT_ROUTER_RELEASE_FILE
              value: {POD_RELEASE_FILE}
            - name: EVENT_ROUTER_FUNCTIONS_NAMESPACE
              value: {FUNCTIONS_NAMESPACE}
"
    )
}

/// The host folder of firstboot's status file (mounted whole: firstboot replaces the file by
/// renaming, which a single-file mount would not follow).
fn firstboot_dir() -> &'static str {
    std::path::Path::new(crate::paths::STATUS)
        .parent()
        .and_then(|p| p.to_str())
        .unwrap_or("/var/lib/firstboot")
}

/// The base Deployment's arguments.
const BASE_ARGS: &str = "          args: [\"--config\", \"/etc/event-router/config.yaml\", \"--log-json\"]\n";

/// The appliance's changes to the base Deployment: (what the base says, what we write instead).
/// Each anchor occurs exactly once in the base (checked by a test), so none is silently lost.
fn deployment_edits(hash: &str, env_from: &str, log_level: Option<&str>) -> [(&'static str, String); 7] {
    let args = match log_level {
        Some(level) => BASE_ARGS.replacen("]\n", &format!(", \"--log-level\", {}]\n", super::q(level)), 1),
        None => BASE_ARGS.to_string(),
    };
    [
        (BASE_ARGS, args),
        (
            "          image: event-router\n          imagePullPolicy: IfNotPresent\n",
            format!("          image: {ROUTER_IMAGE}\n          imagePullPolicy: Never\n"),
        ),
        (
            "    metadata:\n      labels:\n        app.kubernetes.io/name: event-router\n    spec:\n",
            format!(
                "    metadata:\n      labels:\n        app.kubernetes.io/name: event-router\n      annotations:\n        \
                 {CONFIG_HASH_ANNOTATION}: {hash}\n    spec:\n"
            ),
        ),
        (BASE_ENV_END, appliance_env()),
        ("          ports:\n", format!("{env_from}          ports:\n")),
        (
            "              mountPath: /var/lib/event-router/checkpoints\n",
            format!(
                "              mountPath: /var/lib/event-router/checkpoints
            - name: firstboot-status
              mountPath: {POD_FIRSTBOOT_DIR}
              readOnly: true
            - name: release
              mountPath: {POD_RELEASE_FILE}
              readOnly: true
"
            ),
        ),
        (
            "          emptyDir: {}\n",
            format!(
                "          hostPath:
            path: {}
            type: DirectoryOrCreate
        - name: firstboot-status
          hostPath:
            path: {}
            type: Directory
        - name: release
          hostPath:
            path: {RELEASE_FILE}
            type: File
",
                crate::paths::CHECKPOINTS,
                firstboot_dir()
            ),
        ),
    ]
}

fn deployment(hash: &str, env_from: &str, log_level: Option<&str>) -> String {
    deployment_edits(hash, env_from, log_level)
        .iter()
        .fold(base::DEPLOYMENT.to_string(), |text, (from, to)| {
            text.replacen(from, to, 1)
        })
}

/// Lets the router list the Knative Services in the functions namespace (nothing else there),
/// for the console's links to the functions. The namespace comes from the build's
/// 40-vmware-functions.yaml; k3s applies the auto-deploy files in sorted path order and retries a
/// failing one every 15 s (k3s-io/k3s, pkg/deploy/controller.go), so this Role lands once it exists.
fn functions_reader() -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: event-router-functions
  namespace: {FUNCTIONS_NAMESPACE}
rules:
  - apiGroups: [\"serving.knative.dev\"]
    resources: [\"services\"]
    verbs: [\"list\"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: event-router-functions
  namespace: {FUNCTIONS_NAMESPACE}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: event-router-functions
subjects:
  - kind: ServiceAccount
    name: event-router
    namespace: {ROUTER_NAMESPACE}
"
    )
}

/// The router's manifests: the namespace, RBAC, its config Secret (`config.yaml` and, when set,
/// `trusted-ca.pem`: the pod mounts it on /etc/event-router), the Deployment and its Service.
pub(super) fn router(env: &OvfEnv, pod: &Pod<'_>, hash: &str) -> String {
    let vars = proxy::variables(env);
    let (proxy_secret, env_from) = if vars.is_empty() {
        (String::new(), String::new())
    } else {
        let data: String = vars.iter().map(|(k, v)| format!("  {k}: {}\n", b64(v))).collect();
        (
            format!(
                "---
apiVersion: v1
kind: Secret
metadata:
  name: event-router-proxy
  namespace: {ROUTER_NAMESPACE}
type: Opaque
data:
{data}"
            ),
            "          envFrom:\n            - secretRef:\n                name: event-router-proxy\n".to_string(),
        )
    };
    let ca = pod
        .trusted_ca
        .map(|pem| format!("  trusted-ca.pem: {}\n", b64(pem)))
        .unwrap_or_default();
    let config_secret = format!(
        "apiVersion: v1
kind: Secret
metadata:
  name: event-router-config
  namespace: {ROUTER_NAMESPACE}
type: Opaque
data:
  config.yaml: {}
{ca}{proxy_secret}",
        b64(pod.config)
    );
    let docs = [
        base::NAMESPACE,
        base::SERVICE_ACCOUNT,
        base::RBAC,
        &functions_reader(),
        &config_secret,
        &deployment(hash, &env_from, pod.log_level),
        base::SERVICE,
    ];
    format!("{HEADER}{}", docs.join("---\n"))
}

/// The ingress class of the Contour that net-contour runs for external traffic: its
/// `--ingress-class-name=contour-external` (knative-extensions/net-contour,
/// config/contour/external.yaml; the ExternalIP visibility class in config-contour). Contour
/// serves only HTTPProxies of its class, so without it nothing below is published.
pub const INGRESS_CLASS: &str = "contour-external";

/// Contour's HTTPProxy that publishes the router's /stats and /metrics on the appliance's FQDN
/// over HTTPS (the appliance-tls certificate; the router's own basic auth protects them),
/// /readyz (no auth, no secrets: whether every source is streaming, for monitors), VEBA v0.7's
/// per-provider stats paths (`/stats/vcenter`, `/stats/horizon`, `/stats/webhook`, each the
/// whole /stats document), the web console at VEBA's Sockeye path `/events/`, and with the
/// webhook on, VEBA's `/webhook` to the router's webhook.
pub(super) fn ingress(fqdn: &str, webhook: bool) -> String {
    let route = |condition: &str, port: u16, rewrite: Option<&str>| {
        let mut r = format!("    - conditions:\n        - {condition}\n");
        if let Some(to) = rewrite {
            r.push_str(&format!(
                "      pathRewritePolicy:\n        replacePrefix:\n          - replacement: {to}\n"
            ));
        }
        r.push_str(&format!(
            "      services:\n        - name: event-router\n          port: {port}\n"
        ));
        r
    };
    let mut routes = String::new();
    routes.push_str(&route("prefix: /stats", 8082, None));
    routes.push_str(&route("prefix: /metrics", 8082, None));
    routes.push_str(&route("exact: /readyz", 8082, None));
    for provider in ["vcenter", "horizon", "webhook"] {
        routes.push_str(&route(&format!("prefix: /stats/{provider}"), 8082, Some("/stats")));
    }
    // The web console at VEBA's Sockeye path: /events/ is the router's /ui/ (its links are
    // relative), /events itself redirects there.
    routes.push_str(&route("prefix: /events/", 8082, Some("/ui/")));
    routes.push_str(
        "    - conditions:\n        - exact: /events\n      requestRedirectPolicy:\n        path: /events/\n        statusCode: 301\n",
    );
    if webhook {
        routes.push_str(&route(
            &format!("prefix: {}", super::router::WEBHOOK_PATH),
            super::router::WEBHOOK_PORT,
            None,
        ));
    }
    format!(
        "{HEADER}apiVersion: projectcontour.io/v1
kind: HTTPProxy
metadata:
  name: event-router
  namespace: {ROUTER_NAMESPACE}
spec:
  ingressClassName: {INGRESS_CLASS}
  virtualhost:
    fqdn: {}
    tls:
      secretName: appliance-tls
      minimumProtocolVersion: \"1.2\"
  routes:
{routes}",
        q(fqdn)
    )
}

/// Knative Serving's `config-domain`: functions get `<name>.<namespace>.<fqdn>` as VEBA's do
/// (the appliance build drops serving-core's own copy so the two never fight over it).
pub(super) fn config_domain(fqdn: &str) -> String {
    format!(
        "{HEADER}apiVersion: v1
kind: ConfigMap
metadata:
  name: config-domain
  namespace: knative-serving
  labels:
    app.kubernetes.io/name: knative-serving
    app.kubernetes.io/component: controller
data:
  {}: \"\"
",
        q(fqdn)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_deployment_edit_applies_exactly_once() {
        for (from, _) in deployment_edits("h", "", Some(DEBUG_LOG_LEVEL)) {
            assert_eq!(
                base::DEPLOYMENT.matches(from).count(),
                1,
                "anchor not unique in the base: {from}"
            );
        }
        let d = deployment("abc", "", None);
        assert!(d.contains(&format!("image: {ROUTER_IMAGE}\n")));
        assert!(d.contains("imagePullPolicy: Never"));
        assert!(d.contains(&format!("{CONFIG_HASH_ANNOTATION}: abc")));
        assert!(d.contains("hostPath:") && !d.contains("emptyDir: {}"));
        assert!(d.contains("value: /run/appliance/firstboot/status.json\n"), "{d}");
        assert!(d.contains("path: /var/lib/firstboot\n"), "{d}");
        assert!(d.contains(BASE_ARGS), "no log level: the base's arguments");
    }

    #[test]
    fn debugging_sets_the_routers_log_level_and_changes_the_pods_digest() {
        let d = deployment("abc", "", Some(DEBUG_LOG_LEVEL));
        assert!(
            d.contains(
                "          args: [\"--config\", \"/etc/event-router/config.yaml\", \"--log-json\", \"--log-level\", \"info,event_router=debug\"]\n"
            ),
            "{d}"
        );
        let plain = Pod {
            config: "c",
            trusted_ca: None,
            log_level: None,
        };
        assert_eq!(plain.digest(), digest("c"), "the config's own digest");
        let debug = Pod {
            log_level: Some(DEBUG_LOG_LEVEL),
            ..plain
        };
        let ca = Pod {
            trusted_ca: Some("-----BEGIN CERTIFICATE-----\n"),
            ..plain
        };
        assert_ne!(debug.digest(), plain.digest());
        assert_ne!(ca.digest(), plain.digest());
        assert_ne!(ca.digest(), debug.digest());
    }
}
