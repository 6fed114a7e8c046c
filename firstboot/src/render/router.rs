//! The router's RouterConfig, from the vSphere and Event Processor properties.

use super::{q, words};
use crate::ovfenv::OvfEnv;

/// A seconds property, its schema default when left empty.
fn seconds(env: &OvfEnv, key: &str) -> String {
    let v = env.get(key);
    if v.is_empty() {
        ovf::property(key).map(|p| p.default.to_string()).unwrap_or_default()
    } else {
        v
    }
}

/// The router's RouterConfig; `None` when no vCenter is configured.
pub fn router_config(env: &OvfEnv) -> Option<String> {
    let server = env.get("vcenter_server");
    if server.is_empty() {
        return None;
    }
    let insecure = env.get("vcenter_disable_tls_verification").eq_ignore_ascii_case("true");
    let mut s = format!(
        "apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata:
  name: appliance
eventProvider:
  type: vcenter
  name: vcenter
  vcenter:
    address: {}
    insecureSSL: {insecure}
    checkpoint: true
    checkpointDir: /var/lib/event-router/checkpoints
    checkpointPeriodSeconds: {}
    maxReplayAgeSeconds: {}
    auth:
      type: basic_auth
      basicAuth:
        username: {}
        password: {}
eventProcessor:
",
        q(&format!("https://{server}/sdk")),
        seconds(env, "vcenter_checkpoint_period"),
        seconds(env, "vcenter_checkpoint_age"),
        q(&env.get("vcenter_username")),
        q(&env.get("vcenter_password")),
    );
    match env.get("processor").as_str() {
        "aws_event_bridge" => {
            let arns = words(&env.get("eventbridge_rule_arn"));
            let key = env.get("eventbridge_access_key");
            s.push_str(&format!(
                "  type: aws_event_bridge\n  name: eventbridge\n  awsEventBridge:\n    region: {}\n    eventBus: {}\n",
                q(&env.get("eventbridge_region")),
                q(&env.get("eventbridge_event_bus")),
            ));
            // VEBA's single ruleARN when there is one, the router's list when there are more.
            match arns.as_slice() {
                [one] => s.push_str(&format!("    ruleARN: {}\n", q(one))),
                many => {
                    s.push_str("    ruleARNs:\n");
                    for arn in many {
                        s.push_str(&format!("      - {}\n", q(arn)));
                    }
                }
            }
            if key.is_empty() {
                s.push_str("    auth:\n      type: aws_iam_role\n");
            } else {
                s.push_str(&format!(
                    "    auth:\n      type: aws_access_key\n      awsAccessKeyAuth:\n        accessKey: {}\n        secretKey: {}\n",
                    q(&key),
                    q(&env.get("eventbridge_secret_key"))
                ));
            }
        }
        "openfaas" => s.push_str(&format!(
            "  type: openfaas\n  name: openfaas\n  openfaas:\n    address: {}\n    async: false\n    auth:\n      type: basic_auth\n      basicAuth:\n        username: \"admin\"\n        password: {}\n",
            q(&env.get("openfaas_address")),
            q(&env.get("openfaas_password"))
        )),
        _ => s.push_str(
            "  type: knative\n  name: broker\n  knative:\n    encoding: binary\n    destination:\n      ref:\n        apiVersion: eventing.knative.dev/v1\n        kind: Broker\n        name: default\n        namespace: vmware-functions\n",
        ),
    }
    s.push_str("metricsProvider:\n  type: default\n  name: metrics\n  default:\n    bindAddress: \"0.0.0.0:8082\"\n");
    let (user, pw) = (env.get("endpoint_username"), env.get("endpoint_password"));
    if !user.is_empty() && !pw.is_empty() {
        s.push_str(&format!(
            "    auth:\n      type: basic_auth\n      basicAuth:\n        username: {}\n        password: {}\n",
            q(&user),
            q(&pw)
        ));
    }
    // On the host folder the router's Deployment mounts, beside the checkpoint.
    s.push_str("deadLetterFile: /var/lib/event-router/checkpoints/dead-letters.jsonl\n");
    Some(s)
}
