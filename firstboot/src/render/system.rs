//! The operating system's files: host name, hosts, systemd-networkd, timesyncd, the root
//! password in `/etc/shadow`, sshd's drop-in and rsyslog forwarding.

use super::{file, on, words, Tree};
use crate::material::Material;
use crate::net::parse_prefix;
use crate::ovfenv::OvfEnv;
use crate::password;
use ovf::keys;

pub(super) fn render(env: &OvfEnv, material: &Material, t: &mut Tree) {
    let fqdn = env.get(keys::HOSTNAME);
    let short = fqdn.split('.').next().unwrap_or(&fqdn).to_string();
    let ip = env.get(keys::IPADDRESS);
    file(t, "/etc/hostname", 0o644, format!("{fqdn}\n"));
    let own = if ip.is_empty() { "127.0.1.1" } else { ip.as_str() };
    file(
        t,
        "/etc/hosts",
        0o644,
        format!("127.0.0.1 localhost\n::1 localhost\n{own} {fqdn} {short}\n"),
    );
    file(t, "/etc/systemd/network/10-appliance.network", 0o644, network(env));
    let ntp = words(&env.get(keys::NTP));
    if !ntp.is_empty() {
        file(
            t,
            "/etc/systemd/timesyncd.conf.d/10-appliance.conf",
            0o644,
            format!("[Time]\nNTP={}\n", ntp.join(" ")),
        );
    }
    let (shadow, mode) = material.shadow.clone().unwrap_or((String::new(), 0o600));
    let shadow = if password::root_hash(&shadow) == Some(material.root_hash.as_str()) {
        shadow
    } else {
        password::set_root_hash(&shadow, &material.root_hash, material.today)
    };
    file(t, crate::paths::SHADOW, mode, shadow);
    let ssh = if on(env, keys::ENABLE_SSH) {
        "# Rendered by firstboot: SSH is enabled (Enable SSH = true).\nPermitRootLogin yes\nPasswordAuthentication yes\n"
    } else {
        "# Rendered by firstboot: SSH is disabled (Enable SSH = false); sshd is stopped.\nPermitRootLogin no\n"
    };
    file(t, "/etc/ssh/sshd_config.d/10-appliance.conf", 0o644, ssh.to_string());
    if let Some(conf) = rsyslog(env) {
        file(t, "/etc/rsyslog.d/10-appliance-forward.conf", 0o644, conf);
    }
}

fn network(env: &OvfEnv) -> String {
    let mut s = String::from("[Match]\nName=e*\n\n[Network]\n");
    let ip = env.get(keys::IPADDRESS);
    if ip.is_empty() {
        s.push_str("DHCP=ipv4\n");
    } else {
        let prefix = parse_prefix(&env.get(keys::NETMASK)).unwrap_or(24);
        s.push_str(&format!("Address={ip}/{prefix}\nGateway={}\n", env.get(keys::GATEWAY)));
        for dns in words(&env.get(keys::DNS)) {
            s.push_str(&format!("DNS={dns}\n"));
        }
    }
    let domain = env.get(keys::DOMAIN);
    if !domain.is_empty() {
        s.push_str(&format!("Domains={domain}\n"));
    }
    s
}

/// rsyslog forwarding of the system log and the containers' logs, when a syslog server is set.
/// Messages queue (on disk past memory) while the server cannot be reached, and sending is
/// retried every 10 s (rsyslog's default, 30 s and growing, left the first boot's log waiting
/// for minutes after the network restart; seen in tests/e2e/first_boot_vm.rs).
fn rsyslog(env: &OvfEnv) -> Option<String> {
    let host = env.get(keys::SYSLOG_SERVER_HOSTNAME);
    if host.is_empty() {
        return None;
    }
    let port = env.get(keys::SYSLOG_SERVER_PORT);
    let template = if env.get(keys::SYSLOG_SERVER_FORMAT) == "RFC3164" {
        "RSYSLOG_TraditionalForwardFormat"
    } else {
        "RSYSLOG_SyslogProtocol23Format"
    };
    let (protocol, tls) = match env.get(keys::SYSLOG_SERVER_PROTOCOL).as_str() {
        "UDP" => ("udp", String::new()),
        "TLS" => (
            "tcp",
            format!(
                "\n           StreamDriver=\"gtls\" StreamDriverMode=\"1\" StreamDriverAuthMode=\"x509/name\" StreamDriverPermittedPeers=\"{host}\""
            ),
        ),
        _ => ("tcp", String::new()),
    };
    let global = if tls.is_empty() {
        ""
    } else {
        "global(DefaultNetstreamDriverCAFile=\"/etc/pki/tls/certs/ca-bundle.crt\")\n"
    };
    Some(format!(
        "# Rendered by firstboot from the Syslog Forwarding properties.
{global}module(load=\"imfile\")
input(type=\"imfile\" File=\"/var/log/containers/*.log\" Tag=\"k8s\" addMetadata=\"on\")
*.* action(type=\"omfwd\" target=\"{host}\" port=\"{port}\" protocol=\"{protocol}\" template=\"{template}\"{tls}
           queue.type=\"LinkedList\" queue.size=\"50000\" queue.filename=\"forward\" queue.saveOnShutdown=\"on\"
           action.resumeRetryCount=\"-1\" action.resumeInterval=\"10\")
"
    ))
}
