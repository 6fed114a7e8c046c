//! Rendering: validated properties (and the prepared material) -> every file the appliance
//! needs, as a pure function into a tree of (path, mode, content), plus which optional services
//! should be enabled. Nothing here touches the system, so it is golden-testable.

mod banner;
mod k3s;
mod manifests;
mod proxy;
pub mod router;
mod system;

use ovf::keys;
use std::collections::BTreeMap;

use crate::material::Material;
use crate::ovfenv::OvfEnv;

pub use manifests::{CONFIG_HASH_ANNOTATION, ROUTER_DEPLOYMENT, ROUTER_IMAGE, ROUTER_NAMESPACE};
pub use router::{router_config, router_config_yaml, RenderError};

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub mode: u32,
    pub content: String,
}

/// Rendered files by absolute path (`/etc/hostname`).
pub type Tree = BTreeMap<String, File>;

/// What the appliance should look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub files: Tree,
    /// systemd units to enable and start (true) or stop and disable (false).
    pub units: BTreeMap<&'static str, bool>,
    /// The router's config digest when a router is deployed (its Deployment carries it).
    pub router_config_hash: Option<String>,
    /// What an operator should know about this rendering (no secret: it goes to the status file).
    pub notes: Vec<String>,
}

/// Where the router's config goes on the appliance.
pub const ROUTER_CONFIG: &str = "/etc/event-router/config.yaml";
/// k3s applies every manifest in this folder, and re-applies it when it changes.
pub const K3S_MANIFESTS: &str = "/var/lib/rancher/k3s/server/manifests";

fn file(tree: &mut Tree, path: &str, mode: u32, content: String) {
    tree.insert(path.to_string(), File { mode, content });
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
pub(crate) fn q(s: &str) -> String {
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

pub(crate) fn words(s: &str) -> Vec<String> {
    s.split([' ', ','])
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

pub(crate) fn on(env: &OvfEnv, key: ovf::keys::Key) -> bool {
    env.get(key).eq_ignore_ascii_case("true")
}

/// Renders everything from a valid environment (validate first: see `validate::problems`).
pub fn render(env: &OvfEnv, material: &Material) -> Result<Plan, RenderError> {
    let mut t = Tree::new();
    let mut units = BTreeMap::new();
    let fqdn = env.get(keys::HOSTNAME);
    let ip = env.get(keys::IPADDRESS);
    system::render(env, material, &mut t);
    proxy::render(env, &mut t);
    file(
        &mut t,
        "/etc/rancher/k3s/config.yaml",
        0o600,
        k3s::config(env, &fqdn, &ip),
    );
    units.insert("k3s", true);
    units.insert("sshd", on(env, keys::ENABLE_SSH));
    units.insert("rsyslog", !env.get(keys::SYSLOG_SERVER_HOSTNAME).is_empty());
    file(&mut t, crate::material::TLS_CERT, 0o644, material.tls_cert.clone());
    file(&mut t, crate::material::TLS_KEY, 0o600, material.tls_key.clone());
    file(
        &mut t,
        &format!("{K3S_MANIFESTS}/appliance-tls.yaml"),
        0o600,
        manifests::tls_secret(material),
    );
    file(
        &mut t,
        &format!("{K3S_MANIFESTS}/knative-config-domain.yaml"),
        0o600,
        manifests::config_domain(&fqdn),
    );
    let mut router_config_hash = None;
    let mut notes = Vec::new();
    if let Some(cfg) = router_config_yaml(env, &material.endpoint)? {
        if material.endpoint.generated {
            notes.push(format!(
                "the Endpoint Password property is empty: firstboot generated one for user {} (/stats, /metrics, the console); it is on the VM console's login banner and in {} (root only)",
                material.endpoint.user,
                crate::paths::ENDPOINT_PASSWORD_FILE
            ));
            let password = material.endpoint.password.expose();
            file(
                &mut t,
                crate::paths::ENDPOINT_PASSWORD_FILE,
                0o600,
                format!("{password}\n"),
            );
            file(
                &mut t,
                crate::paths::ENDPOINT_PASSWORD_ISSUE,
                0o600,
                banner::generated_password(&material.endpoint),
            );
        }
        let hash = manifests::digest(&cfg);
        file(
            &mut t,
            &format!("{K3S_MANIFESTS}/event-router.yaml"),
            0o600,
            manifests::router(env, &cfg, &hash),
        );
        file(
            &mut t,
            &format!("{K3S_MANIFESTS}/event-router-ingress.yaml"),
            0o600,
            manifests::ingress(&fqdn, env.get(keys::WEBHOOK).eq_ignore_ascii_case("true")),
        );
        file(&mut t, ROUTER_CONFIG, 0o600, cfg);
        router_config_hash = Some(hash);
    }
    file(&mut t, "/etc/issue", 0o644, banner::issue(env, material));
    Ok(Plan {
        files: t,
        units,
        router_config_hash,
        notes,
    })
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
