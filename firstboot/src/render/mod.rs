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

pub use manifests::{CONFIG_HASH_ANNOTATION, DEBUG_LOG_LEVEL, ROUTER_DEPLOYMENT, ROUTER_IMAGE, ROUTER_NAMESPACE};
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
    /// The digest of what the router's pod reads at start (its config, the trusted CA, its log
    /// level) when a router is deployed; its Deployment carries it, so a change rolls the pod.
    pub router_config_hash: Option<String>,
    /// The router's providers by name (the form's and the operator's files').
    pub router_sources: Vec<String>,
    /// What an operator should know about this rendering (no secret: it goes to the status file).
    pub notes: Vec<String>,
    /// Valid input that needs attention (no secret: it goes to the status file).
    pub warnings: Vec<String>,
    /// Detail lines for Debugging (no secret): what was rendered and from where.
    pub details: Vec<String>,
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
    let mut router_sources = Vec::new();
    let mut notes = Vec::new();
    let mut warnings = Vec::new();
    let mut details = Vec::new();
    for path in &material.overrides.ignored {
        notes.push(format!(
            "{path} is not merged into the router's configuration: only *.yaml and *.yml files in {} are",
            crate::paths::CONFIG_D
        ));
    }
    let debug = on(env, keys::DEBUG);
    if let Some(rendered) = router::rendered(env, &material.endpoint, &material.overrides.files)? {
        let cfg = rendered.yaml;
        for merged in rendered.merged {
            notes.push(format!("merged into the router's configuration: {merged}"));
        }
        warnings.extend(rendered.warnings);
        details.extend(rendered.details.into_iter().map(|d| format!("router {d}")));
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
        let ca = router::trusted_ca(env);
        if let Some(pem) = &ca {
            file(&mut t, crate::paths::TRUSTED_CA, 0o644, pem.clone());
            details.push(format!(
                "router trusts the Trusted CA Certificate for vCenter and Horizon: {} (certificates.rootCAs)",
                crate::paths::TRUSTED_CA
            ));
        }
        let log_level = debug.then_some(DEBUG_LOG_LEVEL);
        details.push(format!(
            "router log level: {}",
            log_level.unwrap_or("info (the image's default)")
        ));
        if debug {
            notes.push(format!(
                "Debugging is on: the router logs every event at debug level (--log-level {DEBUG_LOG_LEVEL}; kubectl -n {ROUTER_NAMESPACE} logs deploy/{ROUTER_DEPLOYMENT}), firstboot logs detail lines and guestinfo.ovfEnv is kept; turn Debugging off in the vApp options and power-cycle to go back"
            ));
        }
        let pod = manifests::Pod {
            config: &cfg,
            trusted_ca: ca.as_deref(),
            log_level,
        };
        let hash = pod.digest();
        file(
            &mut t,
            &format!("{K3S_MANIFESTS}/event-router.yaml"),
            0o600,
            manifests::router(env, &pod, &hash),
        );
        file(
            &mut t,
            &format!("{K3S_MANIFESTS}/event-router-ingress.yaml"),
            0o600,
            manifests::ingress(&fqdn, env.get(keys::WEBHOOK).eq_ignore_ascii_case("true")),
        );
        file(&mut t, ROUTER_CONFIG, 0o600, cfg);
        router_config_hash = Some(hash);
        router_sources = rendered.sources;
    }
    file(&mut t, "/etc/issue", 0o644, banner::issue(env, material));
    for (path, f) in &t {
        details.push(format!(
            "rendered {path} (mode {:o}, {} bytes)",
            f.mode,
            f.content.len()
        ));
    }
    Ok(Plan {
        files: t,
        units,
        router_config_hash,
        router_sources,
        notes,
        warnings,
        details,
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
