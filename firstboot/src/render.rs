//! Rendering: validated properties -> the files the appliance needs, as a pure function into a
//! tree of (path, mode, content). Nothing here touches the system, so it is golden-testable.

use std::collections::BTreeMap;

use crate::net::parse_prefix;
use crate::ovfenv::OvfEnv;

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub mode: u32,
    pub content: String,
}

/// Rendered files by absolute path (`/etc/hostname`).
pub type Tree = BTreeMap<String, File>;

/// Where the router's config goes on the appliance.
pub const ROUTER_CONFIG: &str = "/etc/event-router/config.yaml";

fn file(tree: &mut Tree, path: &str, mode: u32, content: String) {
    tree.insert(path.to_string(), File { mode, content });
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn words(s: &str) -> Vec<String> {
    s.split([' ', ','])
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// Renders every file from a valid environment (validate first: see `validate::problems`).
pub fn render(env: &OvfEnv) -> Tree {
    let mut t = Tree::new();
    let fqdn = env.get("hostname");
    let short = fqdn.split('.').next().unwrap_or(&fqdn).to_string();
    let ip = env.get("ipaddress");
    file(&mut t, "/etc/hostname", 0o644, format!("{fqdn}\n"));
    let own = if ip.is_empty() {
        "127.0.1.1".to_string()
    } else {
        ip.clone()
    };
    file(
        &mut t,
        "/etc/hosts",
        0o644,
        format!("127.0.0.1 localhost\n::1 localhost\n{own} {fqdn} {short}\n"),
    );
    file(&mut t, "/etc/systemd/network/10-appliance.network", 0o644, network(env));
    let ntp = words(&env.get("ntp"));
    if !ntp.is_empty() {
        file(
            &mut t,
            "/etc/systemd/timesyncd.conf.d/10-appliance.conf",
            0o644,
            format!("[Time]\nNTP={}\n", ntp.join(" ")),
        );
    }
    file(&mut t, "/etc/rancher/k3s/config.yaml", 0o600, k3s(env, &fqdn, &ip));
    if let Some(cfg) = router_config(env) {
        file(&mut t, ROUTER_CONFIG, 0o600, cfg);
    }
    t
}

fn network(env: &OvfEnv) -> String {
    let mut s = String::from("[Match]\nName=e*\n\n[Network]\n");
    let ip = env.get("ipaddress");
    if ip.is_empty() {
        s.push_str("DHCP=ipv4\n");
    } else {
        let prefix = parse_prefix(&env.get("netmask")).unwrap_or(24);
        s.push_str(&format!("Address={ip}/{prefix}\nGateway={}\n", env.get("gateway")));
        for dns in words(&env.get("dns")) {
            s.push_str(&format!("DNS={dns}\n"));
        }
    }
    let domain = env.get("domain");
    if !domain.is_empty() {
        s.push_str(&format!("Domains={domain}\n"));
    }
    s
}

fn k3s(env: &OvfEnv, fqdn: &str, ip: &str) -> String {
    let mut s = format!(
        "# Rendered by firstboot from the OVF properties; edit the vApp options and reboot instead.\ncluster-cidr: {}\nservice-cidr: {}\ndisable:\n  - traefik\ntls-san:\n  - {}\n",
        q(&env.get("pod_network_cidr")),
        q(&env.get("service_cidr")),
        q(fqdn)
    );
    if !ip.is_empty() {
        s.push_str(&format!("  - {}\nnode-ip: {}\n", q(ip), q(ip)));
    }
    s.push_str("write-kubeconfig-mode: \"0600\"\n");
    s
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
    auth:
      type: basic_auth
      basicAuth:
        username: {}
        password: {}
eventProcessor:
",
        q(&format!("https://{server}/sdk")),
        q(&env.get("vcenter_username")),
        q(&env.get("vcenter_password")),
    );
    match env.get("processor").as_str() {
        "aws_event_bridge" => {
            let arns = words(&env.get("eventbridge_rule_arn"));
            let key = env.get("eventbridge_access_key");
            s.push_str(&format!(
                "  type: aws_event_bridge\n  name: eventbridge\n  awsEventBridge:\n    region: {}\n    eventBus: {}\n    ruleARN: {}\n",
                q(&env.get("eventbridge_region")),
                q(&env.get("eventbridge_event_bus")),
                q(arns.first().map(String::as_str).unwrap_or_default()),
            ));
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
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_yaml_specials() {
        assert_eq!(q(r#"a"b\c: #d"#), r#""a\"b\\c: #d""#);
        assert_eq!(q("x\ny"), "\"x\\ny\"");
    }
}
