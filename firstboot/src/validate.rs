//! Validation of every OVF property before anything is changed: each value by its kind, then
//! the rules between properties. Every problem names the property by its vSphere Client label
//! and key, and all of them are reported at once.

use ovf::keys::{self, Key};
use std::net::Ipv4Addr;

use ovf::{Kind, Property};

use crate::material::decode_pem;
use crate::net::{parse_cidr, parse_prefix, Net4};
use crate::ovfenv::OvfEnv;
use crate::tls::{ca_bundle, cert_info, check_pair, name_covers, CaCert, TlsError};

/// Longest root password accepted (longer ones are almost always a paste gone wrong).
pub const MAX_PASSWORD: usize = 128;

/// One invalid property (or rule between properties).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let label = ovf::property(&self.key).map(|p| p.label).unwrap_or("");
        write!(f, "{label} (guestinfo.{}): {}", self.key, self.message)
    }
}

fn problem(key: Key, message: impl Into<String>) -> Problem {
    Problem {
        key: key.as_str().to_string(),
        message: message.into(),
    }
}

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_domain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

pub(crate) fn is_host(s: &str) -> bool {
    s.parse::<Ipv4Addr>().is_ok() || is_domain(s)
}

fn list(s: &str) -> impl Iterator<Item = &str> {
    s.split([' ', ',']).filter(|x| !x.is_empty())
}

fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && parts.last().is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_rule_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "events"
        && is_region(parts[3])
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5].starts_with("rule/")
        && parts[5].len() > 5
}

/// Checks one value by its property's kind.
fn check_kind(p: &Property, v: &str) -> Option<String> {
    if v.is_empty() {
        return None;
    }
    let ok = match p.kind {
        Kind::Text | Kind::Password => true,
        Kind::Bool => matches!(v.to_ascii_lowercase().as_str(), "true" | "false"),
        Kind::Port => v.parse::<u16>().is_ok_and(|n| n > 0),
        Kind::Seconds => v.parse::<u64>().is_ok_and(|n| n > 0),
        Kind::Ip => v.parse::<Ipv4Addr>().is_ok(),
        Kind::Prefix => parse_prefix(v).is_some(),
        Kind::Fqdn => is_domain(v) && v.contains('.'),
        Kind::Domain => is_domain(v),
        Kind::Host => is_host(v),
        Kind::HostPort => match v.rsplit_once(':') {
            Some((h, port)) => is_host(h) && port.parse::<u16>().is_ok_and(|n| n > 0),
            None => is_host(v),
        },
        Kind::IpList => list(v).all(|x| x.parse::<Ipv4Addr>().is_ok()),
        Kind::HostList => list(v).all(is_host),
        // Each entry is checked on its own (see `vcenters`), so every bad one is named.
        Kind::HostPortList => true,
        Kind::Url => url::Url::parse(v).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some()),
        Kind::Cidr => parse_cidr(v).is_some(),
        Kind::Choice => p.values.contains(&v),
        Kind::Base64Pem => v.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=\r\n ".contains(&b)),
        Kind::AwsRegion => is_region(v),
        Kind::RuleArns => list(v).all(is_rule_arn),
    };
    (!ok)
        .then(|| {
            match p.kind {
                Kind::Bool => "must be true or false",
                Kind::Port => "must be a port number between 1 and 65535",
                Kind::Seconds => "must be a whole number of seconds, at least 1",
                Kind::Ip => "must be an IPv4 address such as 192.168.1.10",
                Kind::Prefix => "must be a prefix length between 0 and 32, such as 24",
                Kind::Fqdn => "must be a fully qualified host name such as veba.corp.local",
                Kind::Domain => "must be a DNS domain such as corp.local",
                Kind::Host => "must be a host name or an IPv4 address",
                Kind::HostPort => "must be a host name or an IPv4 address, optionally with :port",
                Kind::IpList => "must be IPv4 addresses separated by spaces",
                Kind::HostList => "must be host names or IPv4 addresses separated by spaces",
                Kind::Url => "must be an http:// or https:// URL with a host",
                Kind::Cidr => "must be an IPv4 CIDR such as 10.10.0.0/16",
                Kind::Choice => "is not one of the allowed values",
                Kind::Base64Pem => "must be the Base64 encoding of a PEM file",
                Kind::AwsRegion => "must be an AWS region such as us-west-1",
                Kind::RuleArns => {
                    "must be rule ARNs such as arn:aws:events:us-west-1:123456789012:rule/NAME, comma separated"
                }
                Kind::Text | Kind::Password | Kind::HostPortList => "is invalid",
            }
            .to_string()
        })
        .map(|m| {
            if p.kind == Kind::Choice {
                format!("{m}: {:?}", p.values)
            } else {
                m
            }
        })
}

/// Every problem with `env`; empty when the appliance can be configured from it.
pub fn problems(env: &OvfEnv) -> Vec<Problem> {
    let together = |out: &mut Vec<Problem>, (a, b): (Key, Key), why: &str| {
        let (has_a, has_b) = (!env.get(a).trim().is_empty(), !env.get(b).trim().is_empty());
        if has_a != has_b {
            out.push(problem(if has_a { b } else { a }, why));
        }
    };
    let mut out = Vec::new();
    for &key in keys::ALL {
        let p = key.property();
        let v = env.get(key);
        if p.required && v.trim().is_empty() {
            out.push(problem(key, "is required"));
        } else if let Some(m) = check_kind(p, &v) {
            // A PEM text is not echoed either: a private key pasted into a certificate's field
            // would be.
            let shown = if p.secret() || p.kind == Kind::Base64Pem {
                String::new()
            } else {
                format!(" (got {v:?})")
            };
            out.push(problem(key, format!("{m}{shown}")));
        }
    }
    let on = |k: Key| env.get(k).eq_ignore_ascii_case("true");
    let set = |k: Key| !env.get(k).trim().is_empty();
    let need = |out: &mut Vec<Problem>, when: &str, keys: &[Key]| {
        for &k in keys {
            if !set(k) {
                out.push(problem(k, format!("is required when {when}")));
            }
        }
    };
    if set(keys::IPADDRESS) {
        need(
            &mut out,
            "a static IP address is set",
            &[keys::NETMASK, keys::GATEWAY, keys::DNS],
        );
    }
    // Every vCenter of the form, each bad entry of the list properties named on its own; the
    // shared account is required while a vCenter has no Per-vCenter Credentials entry.
    let (vcenters, entries) = crate::vcenters::vcenters(env);
    out.extend(entries.into_iter().map(|(k, m)| problem(k, m)));
    if vcenters.first().is_some_and(|v| !v.own_account) {
        need(
            &mut out,
            "a vCenter Server is set",
            &[keys::VCENTER_USERNAME, keys::VCENTER_PASSWORD],
        );
    } else if let Some(v) = vcenters.iter().find(|v| !v.own_account) {
        let reason = format!(
            "an Additional vCenter Server ({}) has no Per-vCenter Credentials entry",
            v.server
        );
        need(
            &mut out,
            reason.as_str(),
            &[keys::VCENTER_USERNAME, keys::VCENTER_PASSWORD],
        );
    }
    match env.get(keys::PROCESSOR).as_str() {
        "aws_event_bridge" => {
            need(
                &mut out,
                "the processor is aws_event_bridge",
                &[keys::EVENTBRIDGE_REGION, keys::EVENTBRIDGE_RULE_ARN],
            );
            together(
                &mut out,
                (keys::EVENTBRIDGE_ACCESS_KEY, keys::EVENTBRIDGE_SECRET_KEY),
                "access key and secret go together (leave both empty for an IAM role)",
            );
        }
        "openfaas" => need(
            &mut out,
            "the processor is openfaas",
            &[keys::OPENFAAS_ADDRESS, keys::OPENFAAS_PASSWORD],
        ),
        _ => {}
    }
    if on(keys::HORIZON) {
        need(
            &mut out,
            "Horizon is enabled",
            &[
                keys::HORIZON_SERVER,
                keys::HORIZON_DOMAIN,
                keys::HORIZON_USERNAME,
                keys::HORIZON_PASSWORD,
            ],
        );
        if env.get(keys::HORIZON_USERNAME).contains('@') {
            out.push(problem(
                keys::HORIZON_USERNAME,
                "give the user name without @domain (no UPN); the domain has its own field",
            ));
        }
    }
    together(
        &mut out,
        (keys::WEBHOOK_USERNAME, keys::WEBHOOK_PASSWORD),
        "webhook user name and password go together",
    );
    if on(keys::WEBHOOK) {
        // VEBA required credentials for its webhook; an open endpoint is not a default.
        need(
            &mut out,
            "the webhook is enabled",
            &[keys::WEBHOOK_USERNAME, keys::WEBHOOK_PASSWORD],
        );
    }
    veba_keys(env, &mut out);
    if set(keys::KNATIVE_HOST) {
        if env.get(keys::PROCESSOR) != "knative" {
            out.push(problem(
                keys::KNATIVE_HOST,
                "is an external Knative broker: the Event Processor must be knative",
            ));
        }
        if !matches!(
            env.get(keys::KNATIVE_SCHEME).to_ascii_lowercase().as_str(),
            "http" | "https"
        ) {
            out.push(problem(keys::KNATIVE_SCHEME, "must be HTTP or HTTPS"));
        }
        if !env.get(keys::KNATIVE_PATH).is_empty() && !env.get(keys::KNATIVE_PATH).starts_with('/') {
            out.push(problem(keys::KNATIVE_PATH, "must start with / (e.g. /default/default)"));
        }
    }
    together(
        &mut out,
        (keys::CUSTOM_TLS_PRIVATE_KEY, keys::CUSTOM_TLS_CA_CERT),
        "the TLS key and certificate go together",
    );
    if env.get(keys::ROOT_PASSWORD).chars().count() > MAX_PASSWORD {
        out.push(problem(
            keys::ROOT_PASSWORD,
            format!("must be at most {MAX_PASSWORD} characters"),
        ));
    }
    if set(keys::PROXY_PASSWORD) && !set(keys::PROXY_USERNAME) {
        out.push(problem(
            keys::PROXY_USERNAME,
            "is required when a proxy password is set",
        ));
    }
    custom_tls(env, &mut out);
    trusted_ca(env, &mut out);
    networks(env, &mut out);
    out
}

/// The one-line summary of invalid properties, the same on the console, in the log and in
/// `firstboot validate` (vSphere re-reads vApp properties at a power-cycle, not a reboot).
pub fn summary(count: usize) -> String {
    format!(
        "{count} invalid OVF propert{}; fix them in the VM's vApp Options and power-cycle it",
        if count == 1 { "y" } else { "ies" }
    )
}

/// VEBA v0.7's keys: a value VEBA allowed, and no conflict with the appliance's own key.
fn veba_keys(env: &OvfEnv, out: &mut Vec<Problem>) {
    for k in crate::veba_keys::VEBA_KEYS {
        let veba = env.raw(k.veba);
        if veba.is_empty() {
            continue;
        }
        let Some(mapped) = (k.map)(&veba) else {
            out.push(problem(
                k.veba,
                "is not one of VEBA's values: Knative, OpenFaaS or AWS EventBridge",
            ));
            continue;
        };
        let own = env.raw(k.ours);
        let default = k.ours.property().default;
        if !own.is_empty() && own != default && own != mapped {
            let label = k.ours.property().label;
            out.push(problem(
                k.veba,
                format!("conflicts with {label} (guestinfo.{}): set only one of them", k.ours),
            ));
        }
    }
}

/// Valid settings that do not (yet) do everything they say; shown, never fatal.
pub fn warnings(env: &OvfEnv) -> Vec<String> {
    let mut out = Vec::new();
    if env.get(keys::PROCESSOR) == "aws_event_bridge" && env.get(keys::EVENTBRIDGE_ACCESS_KEY).is_empty() {
        out.push(
            "AWS Access Key ID (guestinfo.eventbridge_access_key) is empty: the router uses the AWS default credential chain (environment, web identity, instance metadata), which an appliance on vSphere usually does not have; set the access key and secret unless you provide credentials another way"
                .to_string(),
        );
    }
    cert_warnings(env, &mut out);
    trusted_ca_warnings(env, &mut out);
    out
}

/// A time as the messages show it: `2026-11-22 04:10 UTC`.
fn shown_time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| t.to_string())
}

/// One certificate of the Trusted CA Certificate, as messages name it.
fn which(i: usize, all: &[CaCert]) -> String {
    let c = &all[i];
    if all.len() == 1 {
        format!("its certificate ({})", c.subject)
    } else {
        format!("certificate {} of {} ({})", i + 1, all.len(), c.subject)
    }
}

/// The Trusted CA Certificate: Base64 of PEM certificates only, each one valid now.
fn trusted_ca(env: &OvfEnv, out: &mut Vec<Problem>) {
    let key = keys::TRUSTED_CA_CERT;
    let v = env.get(key);
    if v.is_empty() || check_kind(key.property(), &v).is_some() {
        return;
    }
    let Some(pem) = decode_pem(&v) else {
        out.push(problem(
            key,
            "is not valid Base64 of a PEM file (use `base64 -w0 ca.pem`)",
        ));
        return;
    };
    let certs = match ca_bundle(&pem) {
        Ok(certs) => certs,
        Err(e) => {
            out.push(problem(key, e.to_string()));
            return;
        }
    };
    let now = chrono::Utc::now().timestamp();
    for (i, c) in certs.iter().enumerate() {
        if c.not_after <= now {
            out.push(problem(
                key,
                format!(
                    "{} expired on {}: give the CA's current certificate (vCenter's is in https://<vcenter>/certs/download.zip)",
                    which(i, &certs),
                    shown_time(c.not_after)
                ),
            ));
        } else if c.not_before > now {
            out.push(problem(
                key,
                format!(
                    "{} is not valid before {}: check the clock of the ESXi host (and NTP), or give a certificate valid now",
                    which(i, &certs),
                    shown_time(c.not_before)
                ),
            ));
        }
    }
}

/// A valid Trusted CA Certificate that would still not let the router verify a server: one that
/// is no CA (a server's own certificate), one without a CA that names none of the servers, one
/// about to expire, or one that vCenter TLS verification being off makes moot.
fn trusted_ca_warnings(env: &OvfEnv, out: &mut Vec<String>) {
    let key = keys::TRUSTED_CA_CERT;
    let Some(certs) = decode_pem(&env.get(key)).and_then(|pem| ca_bundle(&pem).ok()) else {
        return;
    };
    let label = key.property().label;
    let now = chrono::Utc::now().timestamp();
    for (i, c) in certs.iter().enumerate() {
        if c.not_after > now && c.not_after - now < 30 * 86_400 {
            out.push(format!(
                "{label} (guestinfo.{key}): {} expires on {}, in {} days: the router refuses the servers it issued after that; renew it",
                which(i, &certs),
                shown_time(c.not_after),
                (c.not_after - now) / 86_400
            ));
        }
        if !c.is_ca {
            out.push(format!(
                "{label} (guestinfo.{key}): {} is not a CA certificate (no basicConstraints CA:TRUE): the router can trust it only as a server's own self-signed certificate, and no longer once that is renewed; give the CA that issued the server's certificate (vCenter's VMCA root is in https://<vcenter>/certs/download.zip)",
                which(i, &certs)
            ));
        }
    }
    let mut hosts: Vec<String> = crate::vcenters::servers(env)
        .iter()
        .filter_map(|s| crate::vcenters::identity(s).map(|(host, _)| host))
        .collect();
    if env.get(keys::HORIZON).eq_ignore_ascii_case("true") && !env.get(keys::HORIZON_SERVER).is_empty() {
        hosts.push(env.get(keys::HORIZON_SERVER).to_ascii_lowercase());
    }
    if !certs.iter().any(|c| c.is_ca) {
        let named: Vec<&String> = certs.iter().flat_map(|c| &c.names).collect();
        for host in &hosts {
            if !named.iter().any(|n| name_covers(n, host)) {
                out.push(format!(
                    "{label} (guestinfo.{key}) would not verify {host}: it holds no CA certificate and none of its certificates names {host} (they name: {}); give the CA that issued {host}'s certificate",
                    if named.is_empty() {
                        "nothing in subjectAltName".to_string()
                    } else {
                        named.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ")
                    }
                ));
            }
        }
    }
    if env
        .get(keys::VCENTER_DISABLE_TLS_VERIFICATION)
        .eq_ignore_ascii_case("true")
    {
        let off = keys::VCENTER_DISABLE_TLS_VERIFICATION.property().label;
        out.push(format!(
            "{label} (guestinfo.{key}) is set while {off} (guestinfo.{}) is on: vCenter certificates are not checked at all; turn {off} off to use the CA",
            keys::VCENTER_DISABLE_TLS_VERIFICATION
        ));
    }
}

/// A custom certificate that has expired, expires within 30 days, or does not name the
/// appliance's host name: valid input, but clients will refuse it (VEBA users were bitten).
fn cert_warnings(env: &OvfEnv, out: &mut Vec<String>) {
    let key = keys::CUSTOM_TLS_CA_CERT;
    let Some(info) = decode_pem(&env.get(key)).and_then(|pem| cert_info(&pem).ok()) else {
        return;
    };
    let label = key.property().label;
    let now = chrono::Utc::now().timestamp();
    let when = chrono::DateTime::from_timestamp(info.not_after, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| info.not_after.to_string());
    if info.not_after <= now {
        out.push(format!(
            "{label} (guestinfo.{key}) expired on {when}: browsers and clients refuse it; deploy a renewed certificate"
        ));
    } else if info.not_after - now < 30 * 86_400 {
        out.push(format!(
            "{label} (guestinfo.{key}) expires on {when}, in {} days: renew it",
            (info.not_after - now) / 86_400
        ));
    }
    let host = env.get(keys::HOSTNAME).to_ascii_lowercase();
    if !host.is_empty() && !info.names.iter().any(|n| name_covers(n, &host)) {
        out.push(format!(
            "{label} (guestinfo.{key}) does not cover the host name {host} (it names: {}): clients will refuse it",
            if info.names.is_empty() {
                "nothing in subjectAltName".to_string()
            } else {
                info.names.join(", ")
            }
        ));
    }
}

/// A given certificate and key must parse and belong together.
fn custom_tls(env: &OvfEnv, out: &mut Vec<Problem>) {
    let (cert_key, key_key) = (keys::CUSTOM_TLS_CA_CERT, keys::CUSTOM_TLS_PRIVATE_KEY);
    let (cert, key) = (env.get(cert_key), env.get(key_key));
    if cert.is_empty() || key.is_empty() {
        return;
    }
    let (Some(cert), Some(key)) = (decode_pem(&cert), decode_pem(&key)) else {
        for (k, v) in [(cert_key, &cert), (key_key, &key)] {
            if decode_pem(v).is_none() {
                out.push(problem(k, "is not valid Base64 of a PEM file (use `base64 -w0 FILE`)"));
            }
        }
        return;
    };
    match check_pair(&cert, &key) {
        Ok(_) => {}
        Err(e @ TlsError::Key(_)) => out.push(problem(key_key, e.to_string())),
        Err(e) => out.push(problem(cert_key, e.to_string())),
    }
}

/// Pod and service networks must not overlap each other or the appliance's own network.
fn networks(env: &OvfEnv, out: &mut Vec<Problem>) {
    let (Some(pods), Some(svc)) = (
        parse_cidr(&env.get(keys::POD_NETWORK_CIDR)),
        parse_cidr(&env.get(keys::SERVICE_CIDR)),
    ) else {
        return;
    };
    if pods.overlaps(&svc) {
        out.push(problem(
            keys::SERVICE_CIDR,
            format!("{svc} overlaps the Pod Network CIDR {pods}"),
        ));
    }
    // The gateway and DNS servers must stay reachable outside k3s's networks, whatever the
    // appliance's own address (valid, invalid or DHCP).
    let gateway = env.get(keys::GATEWAY);
    let dns = env.get(keys::DNS);
    let outside: Vec<(&str, Ipv4Addr)> = std::iter::once(("gateway", gateway.as_str()))
        .chain(list(&dns).map(|d| ("DNS server", d)))
        .filter_map(|(what, v)| v.parse::<Ipv4Addr>().ok().map(|ip| (what, ip)))
        .collect();
    for (key, net) in [(keys::POD_NETWORK_CIDR, pods), (keys::SERVICE_CIDR, svc)] {
        for (what, ip) in &outside {
            if net.contains(*ip) {
                out.push(problem(
                    key,
                    format!("{net} contains the {what} {ip}: k3s would route it into the cluster; pick a range that does not"),
                ));
            }
        }
    }
    let host = env
        .get(keys::IPADDRESS)
        .parse::<Ipv4Addr>()
        .ok()
        .zip(parse_prefix(&env.get(keys::NETMASK)));
    if let Some((addr, prefix)) = host {
        let own = Net4 { addr, prefix };
        for (key, net) in [(keys::POD_NETWORK_CIDR, pods), (keys::SERVICE_CIDR, svc)] {
            if net.overlaps(&own) {
                out.push(problem(key, format!("{net} overlaps the appliance's network {own}")));
            }
        }
        if let Ok(gw) = env.get(keys::GATEWAY).parse::<Ipv4Addr>() {
            if !own.contains(gw) {
                out.push(problem(
                    keys::GATEWAY,
                    format!("{gw} is not in the appliance's network {own}"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> OvfEnv {
        let mut values: BTreeMap<String, String> = [("hostname", "veba.corp.local"), ("root_password", "VMware1!")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in pairs {
            values.insert(k.to_string(), v.to_string());
        }
        OvfEnv {
            values,
            ..OvfEnv::default()
        }
    }

    fn messages(e: &OvfEnv) -> Vec<String> {
        problems(e).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn minimal_dhcp_environment_is_valid() {
        assert_eq!(messages(&env(&[])), Vec::<String>::new());
    }

    fn b64(pem: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(pem)
    }

    /// A certificate for `names`, valid from `from` to `until` (days from now), and its key.
    fn cert(names: &[&str], from: i64, until: i64) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(from);
        params.not_after = now + time::Duration::days(until);
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    #[test]
    fn a_private_key_pasted_as_pem_is_never_echoed() {
        let (cert_pem, key_pem) = cert(&["veba.corp.local"], -1, 365);
        let e = env(&[
            ("custom_tls_ca_cert", &b64(&cert_pem)),
            ("custom_tls_private_key", &key_pem),
        ]);
        let m = messages(&e);
        assert!(!m.is_empty());
        let body = key_pem.lines().nth(1).unwrap();
        for line in &m {
            assert!(!line.contains("PRIVATE KEY") && !line.contains(body), "{line}");
        }
        assert!(
            m.iter()
                .any(|l| l.contains("TLS Private Key (Base64 PEM) (guestinfo.custom_tls_private_key)")),
            "{m:?}"
        );
    }

    #[test]
    fn vebas_v07_keys_stand_in_for_ours_and_bad_ones_are_named() {
        let e = env(&[
            ("event_processor_type", "AWS EventBridge"),
            ("aws_eb_region", "us-east-1"),
            ("aws_eb_arn", "arn:aws:events:us-east-1:123456789012:rule/r"),
        ]);
        assert_eq!(e.get(keys::PROCESSOR), "aws_event_bridge");
        assert_eq!(e.get(keys::EVENTBRIDGE_REGION), "us-east-1");
        assert!(messages(&e).is_empty(), "{:?}", messages(&e));

        let m = messages(&env(&[("event_processor_type", "Kafka")]));
        assert_eq!(
            m,
            ["Event Processor (VEBA v0.7) (guestinfo.event_processor_type): is not one of VEBA's values: Knative, OpenFaaS or AWS EventBridge"]
        );
        let m = messages(&env(&[
            ("processor", "openfaas"),
            ("openfaas_address", "http://gw:8080"),
            ("openfaas_password", "x"),
            ("event_processor_type", "Knative"),
        ]));
        assert!(
            m.iter().any(|l| l
                .contains("(guestinfo.event_processor_type): conflicts with Event Processor (guestinfo.processor)")),
            "{m:?}"
        );
    }

    #[test]
    fn the_webhook_needs_credentials_and_an_external_broker_needs_knative() {
        let m = messages(&env(&[("webhook", "true")]));
        assert_eq!(
            m,
            [
                "Webhook Username (guestinfo.webhook_username): is required when the webhook is enabled",
                "Webhook Password (guestinfo.webhook_password): is required when the webhook is enabled",
            ]
        );
        let m = messages(&env(&[
            ("knative_host", "broker:8080"),
            ("knative_scheme", "ftp"),
            ("knative_path", "x"),
        ]));
        assert!(
            m.iter()
                .any(|l| l.contains("(guestinfo.knative_scheme): must be HTTP or HTTPS")),
            "{m:?}"
        );
        assert!(
            m.iter()
                .any(|l| l.contains("(guestinfo.knative_path): must start with /")),
            "{m:?}"
        );
    }

    #[test]
    fn root_password_length_is_bounded() {
        let long = "x".repeat(MAX_PASSWORD + 1);
        let m = messages(&env(&[("root_password", &long)]));
        assert!(
            m.iter()
                .any(|l| l.contains("must be at most 128 characters") && !l.contains("xxxx")),
            "{m:?}"
        );
        assert!(messages(&env(&[("root_password", &"x".repeat(MAX_PASSWORD))])).is_empty());
    }

    #[test]
    fn the_pod_network_may_not_contain_the_gateway_or_a_dns_server_whatever_the_ip() {
        let m = messages(&env(&[
            ("ipaddress", "10.10.0.300"),
            ("netmask", "24"),
            ("gateway", "10.10.0.1"),
            ("dns", "192.168.1.1 10.43.0.10"),
        ]));
        assert!(m.iter().any(|l| l.starts_with("IP Address")), "{m:?}");
        assert!(
            m.iter()
                .any(|l| l.contains("10.10.0.0/16 contains the gateway 10.10.0.1")),
            "{m:?}"
        );
        assert!(
            m.iter().any(|l| l.contains("contains the DNS server 10.43.0.10")),
            "{m:?}"
        );
    }

    #[test]
    fn an_expired_or_foreign_certificate_is_a_warning() {
        let (c, k) = cert(&["veba.corp.local"], -400, -10);
        let e = env(&[("custom_tls_ca_cert", &b64(&c)), ("custom_tls_private_key", &b64(&k))]);
        assert!(messages(&e).is_empty(), "valid input");
        let w = warnings(&e);
        assert!(w.iter().any(|l| l.contains("expired on")), "{w:?}");

        let (c, k) = cert(&["other.corp.local", "*.lab.local"], -1, 365);
        let e = env(&[("custom_tls_ca_cert", &b64(&c)), ("custom_tls_private_key", &b64(&k))]);
        let w = warnings(&e);
        assert!(
            w.iter().any(|l| l
                .contains("does not cover the host name veba.corp.local (it names: other.corp.local, *.lab.local)")),
            "{w:?}"
        );
        let (c, k) = cert(&["*.corp.local"], -1, 365);
        let e = env(&[("custom_tls_ca_cert", &b64(&c)), ("custom_tls_private_key", &b64(&k))]);
        assert!(warnings(&e).is_empty(), "a wildcard covers it");
        let (c, k) = cert(&["veba.corp.local"], -1, 10);
        let e = env(&[("custom_tls_ca_cert", &b64(&c)), ("custom_tls_private_key", &b64(&k))]);
        assert!(warnings(&e).iter().any(|l| l.contains("renew it")));
    }

    #[test]
    fn every_bad_value_is_reported_at_once_by_label_and_key() {
        let m = messages(&env(&[
            ("hostname", ""),
            ("ipaddress", "10.0.0.300"),
            ("netmask", "40"),
            ("pod_network_cidr", "10.10.0.0"),
            ("processor", "kafka"),
            ("vcenter_password", "not-shown"),
            ("enable_ssh", "yes"),
        ]));
        assert_eq!(
            m,
            [
                "Hostname (FQDN) (guestinfo.hostname): is required",
                "IP Address (guestinfo.ipaddress): must be an IPv4 address such as 192.168.1.10 (got \"10.0.0.300\")",
                "Network Prefix (guestinfo.netmask): must be a prefix length between 0 and 32, such as 24 (got \"40\")",
                "Enable SSH (guestinfo.enable_ssh): must be true or false (got \"yes\")",
                "Event Processor (guestinfo.processor): is not one of the allowed values: [\"knative\", \"aws_event_bridge\", \"openfaas\"] (got \"kafka\")",
                "Pod Network CIDR (guestinfo.pod_network_cidr): must be an IPv4 CIDR such as 10.10.0.0/16 (got \"10.10.0.0\")",
                "Gateway (guestinfo.gateway): is required when a static IP address is set",
                "DNS Servers (guestinfo.dns): is required when a static IP address is set",
            ]
        );
    }

    #[test]
    fn required_together_rules() {
        let m = messages(&env(&[
            ("vcenter_server", "vc.corp.local"),
            ("processor", "aws_event_bridge"),
            ("eventbridge_access_key", "AKIA123"),
            ("ipaddress", "192.168.1.10"),
        ]));
        assert_eq!(
            m,
            [
                "Gateway (guestinfo.gateway): is required when a static IP address is set",
                "DNS Servers (guestinfo.dns): is required when a static IP address is set",
                "vCenter Username (guestinfo.vcenter_username): is required when a vCenter Server is set",
                "vCenter Password (guestinfo.vcenter_password): is required when a vCenter Server is set",
                "AWS EventBridge Region (guestinfo.eventbridge_region): is required when the processor is aws_event_bridge",
                "AWS EventBridge Rule ARN(s) (guestinfo.eventbridge_rule_arn): is required when the processor is aws_event_bridge",
                "AWS Secret Access Key (guestinfo.eventbridge_secret_key): access key and secret go together (leave both empty for an IAM role)",
            ]
        );
    }

    #[test]
    fn several_vcenters_are_checked_entry_by_entry_with_the_shared_account() {
        let ok = env(&[
            ("vcenter_server", "vc-a.corp.local"),
            ("vcenter_servers", "vc-b.corp.local,vc-c.corp.local:8443"),
            ("vcenter_username", "svc@vsphere.local"),
            ("vcenter_password", "p"),
        ]);
        assert_eq!(messages(&ok), Vec::<String>::new());
        let m = messages(&env(&[
            ("vcenter_server", "vc-a.corp.local"),
            ("vcenter_servers", "vc-b.corp.local bad_host vc-c.corp.local:0"),
            (
                "vcenter_credentials",
                "vc-a.corp.local=admin@a.local:Pa55;vc-d.corp.local=u:Secret9",
            ),
        ]));
        assert_eq!(
            m,
            [
                "Additional vCenter Servers (guestinfo.vcenter_servers): \"bad_host\" is not a host name or IPv4 address with an optional :port: write e.g. vc-b.corp.local or vc-b.corp.local:8443, separated by spaces or commas",
                "Additional vCenter Servers (guestinfo.vcenter_servers): \"vc-c.corp.local:0\" is not a host name or IPv4 address with an optional :port: write e.g. vc-b.corp.local or vc-b.corp.local:8443, separated by spaces or commas",
                "Per-vCenter Credentials (guestinfo.vcenter_credentials): entry 2 names vc-d.corp.local, which is neither the vCenter Server nor one of the Additional vCenter Servers: add it to Additional vCenter Servers (guestinfo.vcenter_servers) or remove the entry",
                "vCenter Username (guestinfo.vcenter_username): is required when an Additional vCenter Server (vc-b.corp.local) has no Per-vCenter Credentials entry",
                "vCenter Password (guestinfo.vcenter_password): is required when an Additional vCenter Server (vc-b.corp.local) has no Per-vCenter Credentials entry",
            ]
        );
        assert!(m.iter().all(|l| !l.contains("Pa55") && !l.contains("Secret9")), "{m:?}");
        // Every vCenter with an account of its own: no shared account needed.
        let own = env(&[
            ("vcenter_server", "vc-a.corp.local"),
            ("vcenter_servers", "vc-b.corp.local"),
            ("vcenter_credentials", "vc-a.corp.local=a:1;vc-b.corp.local=b:2"),
        ]);
        assert_eq!(messages(&own), Vec::<String>::new());
    }

    /// A certificate named `CN=Test CA` for `names`, valid from `from` to `until` days from now,
    /// a CA or not.
    fn ca(names: &[&str], from: i64, until: i64, is_ca: bool) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CommonName, "Test CA");
        if is_ca {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(from);
        params.not_after = now + time::Duration::days(until);
        params.self_signed(&key).unwrap().pem()
    }

    fn with_ca(pem: &str) -> OvfEnv {
        env(&[
            ("vcenter_server", "vc.corp.local"),
            ("vcenter_username", "u"),
            ("vcenter_password", "p"),
            ("trusted_ca_cert", &b64(pem)),
        ])
    }

    #[test]
    fn a_trusted_ca_must_be_pem_certificates_valid_now() {
        let good = ca(&[], -1, 3650, true);
        assert_eq!(messages(&with_ca(&good)), Vec::<String>::new());
        assert_eq!(warnings(&with_ca(&good)), Vec::<String>::new());
        let label = "Trusted CA Certificate (Base64 PEM) (guestinfo.trusted_ca_cert)";
        let m = messages(&with_ca(&ca(&[], -400, -1, true)));
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].starts_with(&format!("{label}: its certificate (CN=Test CA) expired on ")),
            "{m:?}"
        );
        let m = messages(&with_ca(&ca(&[], 2, 30, true)));
        assert!(
            m[0].starts_with(&format!("{label}: its certificate (CN=Test CA) is not valid before ")),
            "{m:?}"
        );
        let bundle = format!("{good}{}", ca(&[], -400, -1, true));
        let m = messages(&with_ca(&bundle));
        assert!(
            m[0].starts_with(&format!("{label}: certificate 2 of 2 (CN=Test CA) expired on ")),
            "{m:?}"
        );
        let m = messages(&env(&[("trusted_ca_cert", &b64("hello"))]));
        assert_eq!(m, [format!("{label}: is not a PEM certificate: no PEM block found")]);
        let m = messages(&env(&[("trusted_ca_cert", "not base64!")]));
        assert_eq!(m, [format!("{label}: must be the Base64 encoding of a PEM file")]);
        // A private key pasted in its place is refused without a word of it.
        let (_, key) = cert(&["x"], -1, 1);
        let m = messages(&env(&[("trusted_ca_cert", &b64(&key))]));
        assert_eq!(
            m,
            [format!(
                "{label}: holds a private key: give only the CA's certificate, and treat the key as exposed"
            )]
        );
        let m = messages(&env(&[("trusted_ca_cert", &key)]));
        assert_eq!(
            m,
            [format!("{label}: must be the Base64 encoding of a PEM file")],
            "not echoed"
        );
    }

    #[test]
    fn a_trusted_ca_that_would_not_verify_the_servers_is_a_warning() {
        // A server's own certificate naming another host: two warnings.
        let w = warnings(&with_ca(&ca(&["other.corp.local"], -1, 365, false)));
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("is not a CA certificate"), "{w:?}");
        assert!(
            w[1].starts_with("Trusted CA Certificate (Base64 PEM) (guestinfo.trusted_ca_cert) would not verify vc.corp.local: it holds no CA certificate and none of its certificates names vc.corp.local (they name: other.corp.local)"),
            "{w:?}"
        );
        // The vCenter's own self-signed certificate: only the not-a-CA warning.
        let w = warnings(&with_ca(&ca(&["*.corp.local"], -1, 365, false)));
        assert_eq!(w.len(), 1, "{w:?}");
        // Expiring soon, and verification switched off anyway.
        let mut e = with_ca(&ca(&[], -1, 10, true));
        e.values
            .insert("vcenter_disable_tls_verification".into(), "true".into());
        let w = warnings(&e);
        assert!(w[0].contains("expires on") && w[0].contains("renew it"), "{w:?}");
        assert!(
            w[1].contains(
                "is set while Disable vCenter TLS Verification (guestinfo.vcenter_disable_tls_verification) is on"
            ),
            "{w:?}"
        );
    }

    #[test]
    fn networks_must_not_overlap() {
        let m = messages(&env(&[
            ("ipaddress", "10.10.1.5"),
            ("netmask", "24 (255.255.255.0)"),
            ("gateway", "10.10.2.1"),
            ("dns", "10.10.1.1"),
            ("service_cidr", "10.10.128.0/17"),
        ]));
        assert_eq!(
            m,
            [
                "Service Network CIDR (guestinfo.service_cidr): 10.10.128.0/17 overlaps the Pod Network CIDR 10.10.0.0/16",
                "Pod Network CIDR (guestinfo.pod_network_cidr): 10.10.0.0/16 contains the gateway 10.10.2.1: k3s would route it into the cluster; pick a range that does not",
                "Pod Network CIDR (guestinfo.pod_network_cidr): 10.10.0.0/16 contains the DNS server 10.10.1.1: k3s would route it into the cluster; pick a range that does not",
                "Pod Network CIDR (guestinfo.pod_network_cidr): 10.10.0.0/16 overlaps the appliance's network 10.10.1.0/24",
                "Gateway (guestinfo.gateway): 10.10.2.1 is not in the appliance's network 10.10.1.0/24",
            ]
        );
    }

    #[test]
    fn arns_and_regions() {
        assert!(is_rule_arn(
            "arn:aws:events:us-west-1:123456789012:rule/vmware-event-router"
        ));
        assert!(
            !is_rule_arn("arn:aws:events:us-west-1:1234567890:rule/x"),
            "account ids have 12 digits"
        );
        assert!(!is_rule_arn("arn:aws:sqs:us-west-1:123456789012:rule/x"));
        assert!(is_region("eu-central-1") && is_region("us-gov-west-1") && !is_region("Europe"));
        let ok = env(&[
            ("processor", "aws_event_bridge"),
            ("eventbridge_region", "us-west-1"),
            (
                "eventbridge_rule_arn",
                "arn:aws:events:us-west-1:123456789012:rule/a, arn:aws:events:us-west-1:123456789012:rule/b",
            ),
        ]);
        assert_eq!(messages(&ok), Vec::<String>::new());
        let w = warnings(&ok);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("AWS Access Key ID (guestinfo.eventbridge_access_key) is empty"),
            "{w:?}"
        );
    }
}
