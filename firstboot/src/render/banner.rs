//! The console login banner (`/etc/issue`): the appliance's address, its endpoints and the
//! first commands to run when something is wrong; and, in a root-only part agetty prints after
//! it, the Endpoint Password firstboot generated.

use super::on;
use crate::material::{Endpoint, Material};
use crate::ovfenv::OvfEnv;
use ovf::keys;

pub(super) fn issue(env: &OvfEnv, material: &Material) -> String {
    let fqdn = env.get(keys::HOSTNAME);
    let ip = env.get(keys::IPADDRESS);
    // agetty replaces \4 with the machine's IPv4 address (DHCP).
    let addr = if ip.is_empty() { "\\4 (DHCP)".to_string() } else { ip };
    let cert = if material.self_signed { "self-signed" } else { "custom" };
    let ssh = if on(env, keys::ENABLE_SSH) {
        format!("ssh root@{fqdn}")
    } else {
        "disabled (set Enable SSH in the vApp options, then power-cycle)".to_string()
    };
    let sources = super::router::provider_names(env);
    let router = if sources.is_empty() {
        "not configured (no vCenter Server, Horizon or Webhook property)".to_string()
    } else {
        let mut from = Vec::new();
        for server in crate::vcenters::servers(env) {
            from.push(format!("vCenter {server}"));
        }
        if on(env, keys::HORIZON) {
            from.push(format!("Horizon {}", env.get(keys::HORIZON_SERVER)));
        }
        if on(env, keys::WEBHOOK) {
            from.push("webhook".to_string());
        }
        format!("{} -> {}", from.join(", "), env.get(keys::PROCESSOR))
    };
    let login = if material.endpoint.generated {
        format!(
            "user {}, the password firstboot generated (below; also in {})",
            material.endpoint.user,
            crate::paths::ENDPOINT_PASSWORD_FILE
        )
    } else {
        format!("user {}, the Endpoint Password property", material.endpoint.user)
    };
    let webhook = if on(env, keys::WEBHOOK) {
        format!("  Webhook:       https://{fqdn}/webhook  (CloudEvents, basic auth)\n")
    } else {
        String::new()
    };
    format!(
        "
Event Broker Appliance ({fqdn}, {addr})

  Events:        {router}
  Router stats:  https://{fqdn}/stats     (TLS: {cert} certificate)
  Metrics:       https://{fqdn}/metrics
  Console:       https://{fqdn}/events/   ({login})
{webhook}  SSH:           {ssh}

  Troubleshooting, as root:
    firstboot status                                  the last first-boot run, step by step
    kubectl -n vmware-system get pods                 is the router running?
    kubectl -n vmware-system logs deploy/event-router the router's log
    journalctl -u firstboot -u k3s                    first boot and Kubernetes logs
    less /var/log/bootstrap.log

"
    )
}

/// The banner's root-only part with a generated Endpoint Password (letters and digits, so no
/// agetty escape).
pub(super) fn generated_password(endpoint: &Endpoint) -> String {
    format!(
        "  Endpoint login (generated; set the Endpoint Password property to choose one):\n    user {}  password {}\n\n",
        endpoint.user,
        endpoint.password.expose()
    )
}
