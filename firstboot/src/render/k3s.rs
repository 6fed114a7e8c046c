//! k3s's config file: the cluster and service CIDRs, traefik off (Contour is the ingress),
//! metrics-server off (nothing on the appliance reads the metrics API, and its 100m would come
//! out of the two vCPUs functions run on: README.md, "Resources"), TLS SANs for the FQDN and IP.

use super::q;
use crate::ovfenv::OvfEnv;
use ovf::keys;

pub(super) fn config(env: &OvfEnv, fqdn: &str, ip: &str) -> String {
    let mut s = format!(
        "# Rendered by firstboot from the OVF properties; edit the vApp options and power-cycle the VM instead.\ncluster-cidr: {}\nservice-cidr: {}\ndisable:\n  - traefik\n  - metrics-server\ntls-san:\n  - {}\n",
        q(&env.get(keys::POD_NETWORK_CIDR)),
        q(&env.get(keys::SERVICE_CIDR)),
        q(fqdn)
    );
    if !ip.is_empty() {
        s.push_str(&format!("  - {}\nnode-ip: {}\n", q(ip), q(ip)));
    }
    s.push_str("write-kubeconfig-mode: \"0600\"\n");
    s
}
