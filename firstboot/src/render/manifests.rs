//! Kubernetes manifests for k3s's auto-deploy folder: the router (its RouterConfig as a Secret,
//! RBAC to resolve Knative addresses, the Deployment and its Service) and the appliance's TLS
//! certificate as a `kubernetes.io/tls` Secret for the ingress.

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

const HEADER: &str =
    "# Rendered by firstboot from the OVF properties; k3s applies it. Edit the vApp options and reboot instead.\n";

fn namespace(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

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
        namespace(ROUTER_NAMESPACE),
        q(&m.self_signed.to_string()),
        b64(&m.tls_cert),
        b64(&m.tls_key)
    )
}

pub(super) fn router(env: &OvfEnv, config: &str, hash: &str) -> String {
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
    format!(
        "{HEADER}{ns}---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: event-router
  namespace: {ROUTER_NAMESPACE}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: event-router-addressable-resolver
rules:
  - apiGroups: [\"eventing.knative.dev\"]
    resources: [\"brokers\"]
    verbs: [\"get\"]
  - apiGroups: [\"messaging.knative.dev\"]
    resources: [\"channels\", \"inmemorychannels\"]
    verbs: [\"get\"]
  - apiGroups: [\"serving.knative.dev\"]
    resources: [\"services\"]
    verbs: [\"get\"]
  - apiGroups: [\"\"]
    resources: [\"services\"]
    verbs: [\"get\"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: event-router-addressable-resolver
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: event-router-addressable-resolver
subjects:
  - kind: ServiceAccount
    name: event-router
    namespace: {ROUTER_NAMESPACE}
---
apiVersion: v1
kind: Secret
metadata:
  name: event-router-config
  namespace: {ROUTER_NAMESPACE}
type: Opaque
data:
  config.yaml: {config}
{proxy_secret}---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {ROUTER_DEPLOYMENT}
  namespace: {ROUTER_NAMESPACE}
  labels:
    app.kubernetes.io/name: event-router
spec:
  replicas: 1
  strategy:
    type: Recreate
  selector:
    matchLabels:
      app.kubernetes.io/name: event-router
  template:
    metadata:
      labels:
        app.kubernetes.io/name: event-router
      annotations:
        {CONFIG_HASH_ANNOTATION}: {hash}
    spec:
      serviceAccountName: event-router
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        fsGroup: 65532
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: event-router
          image: {ROUTER_IMAGE}
          imagePullPolicy: Never
          args: [\"--config\", \"/etc/event-router/config.yaml\", \"--log-json\"]
{env_from}          ports:
            - name: metrics
              containerPort: 8082
          readinessProbe:
            httpGet:
              path: /readyz
              port: metrics
            periodSeconds: 5
          livenessProbe:
            httpGet:
              path: /healthz
              port: metrics
            periodSeconds: 20
          resources:
            requests:
              cpu: 50m
              memory: 32Mi
            limits:
              memory: 256Mi
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: [\"ALL\"]
          volumeMounts:
            - name: config
              mountPath: /etc/event-router
              readOnly: true
            - name: checkpoints
              mountPath: /var/lib/event-router/checkpoints
      volumes:
        - name: config
          secret:
            secretName: event-router-config
            defaultMode: 0400
        - name: checkpoints
          hostPath:
            path: /var/lib/event-router/checkpoints
            type: DirectoryOrCreate
---
apiVersion: v1
kind: Service
metadata:
  name: event-router
  namespace: {ROUTER_NAMESPACE}
  labels:
    app.kubernetes.io/name: event-router
spec:
  selector:
    app.kubernetes.io/name: event-router
  ports:
    - name: metrics
      port: 8082
      targetPort: metrics
",
        ns = namespace(ROUTER_NAMESPACE),
        config = b64(config),
    )
}
