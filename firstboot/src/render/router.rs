//! The router's RouterConfig, from the vSphere, Horizon, Webhook and Event Processor properties:
//! one provider in VEBA's `eventProvider` form, several as `eventProviders`.

use super::{q, words};
use crate::apply::CHECKPOINTS;
use crate::ovfenv::OvfEnv;
use ovf::keys;

/// A seconds property, its schema default when left empty.
fn seconds(env: &OvfEnv, key: ovf::keys::Key) -> String {
    let v = env.get(key);
    if v.is_empty() {
        key.property().default.to_string()
    } else {
        v
    }
}

/// The vCenter provider block (two-space indent), when a vCenter Server is set.
fn vcenter(env: &OvfEnv) -> Option<String> {
    let server = env.get(keys::VCENTER_SERVER);
    if server.is_empty() {
        return None;
    }
    let insecure = env
        .get(keys::VCENTER_DISABLE_TLS_VERIFICATION)
        .eq_ignore_ascii_case("true");
    let mut s = format!(
        "  type: vcenter
  name: vcenter
  vcenter:
    address: {}
    insecureSSL: {insecure}
    checkpoint: true
    checkpointDir: {CHECKPOINTS}
    checkpointPeriodSeconds: {}
    maxReplayAgeSeconds: {}
    auth:
      type: basic_auth
      basicAuth:
        username: {}
        password: {}
",
        q(&format!("https://{server}/sdk")),
        seconds(env, keys::VCENTER_CHECKPOINT_PERIOD),
        seconds(env, keys::VCENTER_CHECKPOINT_AGE),
        q(&env.get(keys::VCENTER_USERNAME)),
        q(&env.get(keys::VCENTER_PASSWORD)),
    );
    s.push_str(&event_format(env));
    Some(s)
}

/// `    eventFormat: tanzu-sources` when the CloudEvent Format property asks for it.
fn event_format(env: &OvfEnv) -> String {
    if env.get(keys::EVENT_FORMAT) == "tanzu-sources" {
        "    eventFormat: tanzu-sources\n".to_string()
    } else {
        String::new()
    }
}

/// The Horizon provider block, when Horizon is enabled.
fn horizon(env: &OvfEnv) -> Option<String> {
    if !env.get(keys::HORIZON).eq_ignore_ascii_case("true") {
        return None;
    }
    let insecure = env
        .get(keys::HORIZON_DISABLE_TLS_VERIFICATION)
        .eq_ignore_ascii_case("true");
    let mut s = format!(
        "  type: horizon
  name: horizon
  horizon:
    address: {}
    insecureSSL: {insecure}
    auth:
      type: active_directory
      activeDirectoryAuth:
        domain: {}
        username: {}
        password: {}
",
        q(&format!("https://{}", env.get(keys::HORIZON_SERVER))),
        q(&env.get(keys::HORIZON_DOMAIN)),
        q(&env.get(keys::HORIZON_USERNAME)),
        q(&env.get(keys::HORIZON_PASSWORD)),
    );
    s.push_str(&event_format(env));
    Some(s)
}

/// The webhook provider block, when the webhook is enabled: VEBA's port and path, basic auth.
fn webhook(env: &OvfEnv) -> Option<String> {
    if !env.get(keys::WEBHOOK).eq_ignore_ascii_case("true") {
        return None;
    }
    let mut s = format!("  type: webhook\n  name: webhook\n  webhook:\n    bindAddress: \"0.0.0.0:{WEBHOOK_PORT}\"\n    path: {WEBHOOK_PATH}\n");
    let (user, pw) = (env.get(keys::WEBHOOK_USERNAME), env.get(keys::WEBHOOK_PASSWORD));
    if !user.is_empty() && !pw.is_empty() {
        s.push_str(&format!(
            "    auth:\n      type: basic_auth\n      basicAuth:\n        username: {}\n        password: {}\n",
            q(&user),
            q(&pw)
        ));
    }
    Some(s)
}

/// The webhook's port and path, as VEBA's (its Service port 8080 and path /webhook).
pub const WEBHOOK_PORT: u16 = 8080;
pub const WEBHOOK_PATH: &str = "/webhook";

/// The providers as VEBA's single `eventProvider` when there is one, else `eventProviders`.
fn providers(blocks: &[String]) -> String {
    match blocks {
        [one] => format!("eventProvider:\n{one}"),
        many => {
            let mut s = String::from("eventProviders:\n");
            for b in many {
                for (i, line) in b.lines().enumerate() {
                    let line = line.strip_prefix("  ").unwrap_or(line);
                    s.push_str(if i == 0 { "  - " } else { "    " });
                    s.push_str(line);
                    s.push('\n');
                }
            }
            s
        }
    }
}

/// The providers the router config has, by name (for the banner and `firstboot status`).
pub fn provider_names(env: &OvfEnv) -> Vec<&'static str> {
    [
        ("vcenter", vcenter(env)),
        ("horizon", horizon(env)),
        ("webhook", webhook(env)),
    ]
    .into_iter()
    .filter_map(|(name, block)| block.map(|_| name))
    .collect()
}

/// The router's RouterConfig; `None` when no provider (vCenter, Horizon, webhook) is configured.
pub fn router_config(env: &OvfEnv) -> Option<String> {
    let blocks: Vec<String> = [vcenter(env), horizon(env), webhook(env)]
        .into_iter()
        .flatten()
        .collect();
    if blocks.is_empty() {
        return None;
    }
    let mut s = String::from(
        "apiVersion: event-router.vmware.com/v1alpha1\nkind: RouterConfig\nmetadata:\n  name: appliance\n",
    );
    s.push_str(&providers(&blocks));
    s.push_str("eventProcessor:\n");
    match env.get(keys::PROCESSOR).as_str() {
        "aws_event_bridge" => {
            let arns = words(&env.get(keys::EVENTBRIDGE_RULE_ARN));
            let key = env.get(keys::EVENTBRIDGE_ACCESS_KEY);
            s.push_str(&format!(
                "  type: aws_event_bridge\n  name: eventbridge\n  awsEventBridge:\n    region: {}\n    eventBus: {}\n",
                q(&env.get(keys::EVENTBRIDGE_REGION)),
                q(&env.get(keys::EVENTBRIDGE_EVENT_BUS)),
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
                    q(&env.get(keys::EVENTBRIDGE_SECRET_KEY))
                ));
            }
        }
        "openfaas" => s.push_str(&format!(
            "  type: openfaas\n  name: openfaas\n  openfaas:\n    address: {}\n    async: false\n    auth:\n      type: basic_auth\n      basicAuth:\n        username: \"admin\"\n        password: {}\n",
            q(&env.get(keys::OPENFAAS_ADDRESS)),
            q(&env.get(keys::OPENFAAS_PASSWORD))
        )),
        _ if !env.get(keys::KNATIVE_HOST).is_empty() => s.push_str(&format!(
            // VEBA v0.7's external broker: scheme://host/path, outside the appliance.
            "  type: knative\n  name: broker\n  knative:\n    encoding: binary\n    insecureSSL: {}\n    destination:\n      uri: {}\n",
            env.get(keys::KNATIVE_DISABLE_TLS_VERIFICATION).eq_ignore_ascii_case("true"),
            q(&format!(
                "{}://{}{}",
                env.get(keys::KNATIVE_SCHEME).to_ascii_lowercase(),
                env.get(keys::KNATIVE_HOST),
                env.get(keys::KNATIVE_PATH)
            )),
        )),
        _ => s.push_str(&format!(
            "  type: knative\n  name: broker\n  knative:\n    encoding: binary\n    destination:\n      ref:\n        apiVersion: eventing.knative.dev/v1\n        kind: Broker\n        name: default\n        namespace: {}\n",
            super::manifests::FUNCTIONS_NAMESPACE
        )),
    }
    s.push_str("metricsProvider:\n  type: default\n  name: metrics\n  default:\n    bindAddress: \"0.0.0.0:8082\"\n");
    let (user, pw) = (env.get(keys::ENDPOINT_USERNAME), env.get(keys::ENDPOINT_PASSWORD));
    if !user.is_empty() && !pw.is_empty() {
        s.push_str(&format!(
            "    auth:\n      type: basic_auth\n      basicAuth:\n        username: {}\n        password: {}\n",
            q(&user),
            q(&pw)
        ));
    }
    // On the host folder the router's Deployment mounts, beside the checkpoint.
    s.push_str(&format!("deadLetterFile: {CHECKPOINTS}/dead-letters.jsonl\n"));
    Some(s)
}
