//! The appliance's OVF property schema: every property the vSphere Client form shows, with its
//! key, kind, default, label, description, category, password flag and allowed values. The OVF
//! descriptor, the first-boot agent's validation and the README table all come from this one
//! table, so they cannot disagree.

pub mod descriptor;
pub mod docs;
pub mod environment;
pub mod keys;
pub mod ova;

/// What a property holds; the first-boot agent validates by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text.
    Text,
    /// A secret: shown as a password field, never logged.
    Password,
    Bool,
    /// A TCP/UDP port, 1..=65535.
    Port,
    /// A whole number of seconds, 1 or more.
    Seconds,
    /// An IPv4 address.
    Ip,
    /// A network prefix length, 0..=32 (`24` or VEBA's `24 (255.255.255.0)`).
    Prefix,
    /// A fully qualified host name.
    Fqdn,
    /// A DNS domain.
    Domain,
    /// A host name or an IP address.
    Host,
    /// IP addresses separated by spaces or commas.
    IpList,
    /// Host names or IPs separated by spaces or commas.
    HostList,
    /// An http:// or https:// URL.
    Url,
    /// An IPv4 CIDR, e.g. `10.10.0.0/16`.
    Cidr,
    /// One of `values`.
    Choice,
    /// Base64 of a PEM document.
    Base64Pem,
    /// An AWS region, e.g. `us-west-1`.
    AwsRegion,
    /// A host name or IPv4 address, optionally followed by `:port`.
    HostPort,
    /// `host[:port]` entries separated by spaces or commas (each checked on its own, so every
    /// bad one is named).
    HostPortList,
    /// EventBridge rule ARNs separated by commas.
    RuleArns,
}

/// One OVF property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Property {
    /// The key without the `guestinfo.` prefix, e.g. `hostname`.
    pub key: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub label: &'static str,
    pub description: &'static str,
    pub category: &'static str,
    /// Allowed values (for `Choice`).
    pub values: &'static [&'static str],
    /// The appliance cannot work without it.
    pub required: bool,
    /// Never shown in a message or a log line, though not a password field (a private key).
    pub sensitive: bool,
}

impl Property {
    /// The key as vSphere passes it: `guestinfo.<key>`.
    pub fn ovf_key(&self) -> String {
        format!("guestinfo.{}", self.key)
    }

    /// The OVF `ovf:type`.
    pub fn ovf_type(&self) -> &'static str {
        if self.kind == Kind::Bool {
            "boolean"
        } else {
            "string"
        }
    }

    /// Shown as a password field in the vSphere Client.
    pub fn password(&self) -> bool {
        self.kind == Kind::Password
    }

    /// Its value must never reach a message, a log line or a status file.
    pub fn secret(&self) -> bool {
        self.password() || self.sensitive
    }
}

const fn p(
    category: &'static str,
    key: &'static str,
    kind: Kind,
    default: &'static str,
    label: &'static str,
    description: &'static str,
) -> Property {
    Property {
        key,
        kind,
        default,
        label,
        description,
        category,
        values: &[],
        required: false,
        sensitive: false,
    }
}

const fn required(mut prop: Property) -> Property {
    prop.required = true;
    prop
}

const fn sensitive(mut prop: Property) -> Property {
    prop.sensitive = true;
    prop
}

const fn choice(mut prop: Property, values: &'static [&'static str]) -> Property {
    prop.values = values;
    prop
}

const NET: &str = "Networking";
const PROXY: &str = "Proxy Settings (optional)";
const CREDS: &str = "Credentials";
const VSPHERE: &str = "vSphere";
const PROC: &str = "Event Processor";
const HORIZON: &str = "Horizon (optional)";
const WEBHOOK: &str = "Webhook (optional)";
const TLS: &str = "Custom TLS Certificate (optional)";
const SYSLOG: &str = "Syslog Forwarding (optional)";
const ADV: &str = "zAdvanced";
const VEBA07: &str = "zVEBA v0.7 keys (optional)";

/// Every property, in the order the vSphere Client shows them.
pub const PROPERTIES: &[Property] = &[
    required(p(
        NET,
        "hostname",
        Kind::Fqdn,
        "",
        "Hostname (FQDN)",
        "Fully qualified host name of the appliance, e.g. veba.corp.local.",
    )),
    p(
        NET,
        "ipaddress",
        Kind::Ip,
        "",
        "IP Address",
        "Static IPv4 address. Leave empty for DHCP.",
    ),
    p(
        NET,
        "netmask",
        Kind::Prefix,
        "24",
        "Network Prefix",
        "Prefix length of the static network, e.g. 24 for 255.255.255.0.",
    ),
    p(
        NET,
        "gateway",
        Kind::Ip,
        "",
        "Gateway",
        "Default gateway for the static network.",
    ),
    p(
        NET,
        "dns",
        Kind::IpList,
        "",
        "DNS Servers",
        "DNS server IPs, separated by spaces.",
    ),
    p(
        NET,
        "domain",
        Kind::Domain,
        "",
        "DNS Domain",
        "DNS search domain, e.g. corp.local.",
    ),
    p(
        NET,
        "ntp",
        Kind::HostList,
        "",
        "NTP Servers",
        "NTP servers, separated by spaces.",
    ),
    p(
        PROXY,
        "http_proxy",
        Kind::Url,
        "",
        "HTTP Proxy",
        "e.g. http://proxy.corp.local:3128",
    ),
    p(
        PROXY,
        "https_proxy",
        Kind::Url,
        "",
        "HTTPS Proxy",
        "e.g. http://proxy.corp.local:3128",
    ),
    p(
        PROXY,
        "proxy_username",
        Kind::Text,
        "",
        "Proxy Username",
        "Optional user name for the proxy.",
    ),
    p(
        PROXY,
        "proxy_password",
        Kind::Password,
        "",
        "Proxy Password",
        "Optional password for the proxy.",
    ),
    p(
        PROXY,
        "no_proxy",
        Kind::Text,
        "",
        "No Proxy",
        "Hosts and domains that bypass the proxy, comma separated.",
    ),
    required(p(
        CREDS,
        "root_password",
        Kind::Password,
        "",
        "Root Password",
        "Password of the appliance's root account.",
    )),
    p(
        CREDS,
        "enable_ssh",
        Kind::Bool,
        "false",
        "Enable SSH",
        "Start the SSH server for troubleshooting with kubectl.",
    ),
    p(
        CREDS,
        "endpoint_username",
        Kind::Text,
        "admin",
        "Endpoint Username",
        "User name for the appliance's web endpoints.",
    ),
    p(
        CREDS,
        "endpoint_password",
        Kind::Password,
        "",
        "Endpoint Password",
        "Password for the appliance's web endpoints.",
    ),
    p(
        VSPHERE,
        "vcenter_server",
        Kind::HostPort,
        "",
        "vCenter Server",
        "vCenter host name or IP (with :port when not 443) whose events are routed.",
    ),
    p(
        VSPHERE,
        "vcenter_username",
        Kind::Text,
        "",
        "vCenter Username",
        "A read-only vCenter account is enough.",
    ),
    p(
        VSPHERE,
        "vcenter_password",
        Kind::Password,
        "",
        "vCenter Password",
        "Password of the vCenter account.",
    ),
    p(
        VSPHERE,
        "vcenter_servers",
        Kind::HostPortList,
        "",
        "Additional vCenter Servers",
        "More vCenters whose events are routed, host[:port] separated by spaces or commas. They log in with the vCenter Username and Password (as Enhanced Linked Mode vCenters share them) unless Per-vCenter Credentials names them.",
    ),
    p(
        VSPHERE,
        "vcenter_credentials",
        Kind::Password,
        "",
        "Per-vCenter Credentials",
        "Optional, for vCenters with an account of their own: host[:port]=user:password entries separated by semicolons. In a password, a backslash escapes a semicolon or a backslash.",
    ),
    p(
        VSPHERE,
        "trusted_ca_cert",
        Kind::Base64Pem,
        "",
        "Trusted CA Certificate (Base64 PEM)",
        "The CA that issued the vCenter (and Horizon) certificates, as Base64 of its PEM file (base64 -w0 ca.pem; several certificates may follow each other). TLS stays verified.",
    ),
    p(
        VSPHERE,
        "vcenter_disable_tls_verification",
        Kind::Bool,
        "false",
        "Disable vCenter TLS Verification",
        "Accept any vCenter certificate (lab use only).",
    ),
    p(
        VSPHERE,
        "vcenter_checkpoint_age",
        Kind::Seconds,
        "3600",
        "Checkpoint Maximum Age (s)",
        "Longest outage after which missed events are still replayed.",
    ),
    p(
        VSPHERE,
        "vcenter_checkpoint_period",
        Kind::Seconds,
        "10",
        "Checkpoint Period (s)",
        "How often the stream position is saved.",
    ),
    choice(
        p(
            PROC,
            "event_format",
            Kind::Choice,
            "router",
            "CloudEvent Format",
            "router (default): VEBA's event router contract, type com.vmware.event.router/event with the event name as subject (VEBA v0.7 functions). tanzu-sources: type com.vmware.vsphere.<Event>.v0 with eventclass (VEBA v0.8 and Tanzu Sources functions).",
        ),
        &["router", "tanzu-sources"],
    ),
    choice(
        p(
            PROC,
            "processor",
            Kind::Choice,
            "knative",
            "Event Processor",
            "Where events go: knative (the default), aws_event_bridge or openfaas.",
        ),
        &["knative", "aws_event_bridge", "openfaas"],
    ),
    p(
        PROC,
        "eventbridge_region",
        Kind::AwsRegion,
        "",
        "AWS EventBridge Region",
        "e.g. us-west-1",
    ),
    p(
        PROC,
        "eventbridge_event_bus",
        Kind::Text,
        "default",
        "AWS EventBridge Event Bus",
        "Event bus name or ARN.",
    ),
    p(
        PROC,
        "eventbridge_rule_arn",
        Kind::RuleArns,
        "",
        "AWS EventBridge Rule ARN(s)",
        "Rule ARNs whose patterns select the events to send, comma separated.",
    ),
    p(
        PROC,
        "eventbridge_access_key",
        Kind::Text,
        "",
        "AWS Access Key ID",
        "Leave empty to use an IAM role.",
    ),
    p(
        PROC,
        "eventbridge_secret_key",
        Kind::Password,
        "",
        "AWS Secret Access Key",
        "Secret for the access key.",
    ),
    p(
        PROC,
        "openfaas_address",
        Kind::Url,
        "",
        "OpenFaaS Gateway",
        "e.g. http://gateway.openfaas:8080",
    ),
    p(
        PROC,
        "openfaas_password",
        Kind::Password,
        "",
        "OpenFaaS Password",
        "Password of the gateway's admin user.",
    ),
    p(
        HORIZON,
        "horizon",
        Kind::Bool,
        "false",
        "Enable Horizon Event Provider",
        "Route Horizon audit events too.",
    ),
    p(
        HORIZON,
        "horizon_server",
        Kind::Host,
        "",
        "Horizon Server",
        "Horizon connection server host name or IP.",
    ),
    p(
        HORIZON,
        "horizon_domain",
        Kind::Text,
        "",
        "Horizon Domain",
        "Active Directory domain of the Horizon account.",
    ),
    p(
        HORIZON,
        "horizon_username",
        Kind::Text,
        "",
        "Horizon Username",
        "User name without the domain (no UPN).",
    ),
    p(
        HORIZON,
        "horizon_password",
        Kind::Password,
        "",
        "Horizon Password",
        "Password of the Horizon account.",
    ),
    p(
        HORIZON,
        "horizon_disable_tls_verification",
        Kind::Bool,
        "false",
        "Disable Horizon TLS Verification",
        "Accept any Horizon certificate (lab use only).",
    ),
    p(
        WEBHOOK,
        "webhook",
        Kind::Bool,
        "false",
        "Enable Webhook Event Provider",
        "Accept CloudEvents on https://<hostname>/webhook.",
    ),
    p(
        WEBHOOK,
        "webhook_username",
        Kind::Text,
        "",
        "Webhook Username",
        "Optional basic auth user name.",
    ),
    p(
        WEBHOOK,
        "webhook_password",
        Kind::Password,
        "",
        "Webhook Password",
        "Optional basic auth password.",
    ),
    sensitive(p(
        TLS,
        "custom_tls_private_key",
        Kind::Base64Pem,
        "",
        "TLS Private Key (Base64 PEM)",
        "Leave empty for a self-signed certificate.",
    )),
    p(
        TLS,
        "custom_tls_ca_cert",
        Kind::Base64Pem,
        "",
        "TLS Certificate (Base64 PEM)",
        "Certificate matching the private key.",
    ),
    p(
        SYSLOG,
        "syslog_server_hostname",
        Kind::Host,
        "",
        "Syslog Server",
        "Host name or IP of a syslog server.",
    ),
    p(
        SYSLOG,
        "syslog_server_port",
        Kind::Port,
        "514",
        "Syslog Port",
        "Port of the syslog server.",
    ),
    choice(
        p(
            SYSLOG,
            "syslog_server_protocol",
            Kind::Choice,
            "TCP",
            "Syslog Protocol",
            "TCP, TLS or UDP.",
        ),
        &["TCP", "TLS", "UDP"],
    ),
    choice(
        p(
            SYSLOG,
            "syslog_server_format",
            Kind::Choice,
            "RFC5424",
            "Syslog Format",
            "RFC5424 or RFC3164.",
        ),
        &["RFC5424", "RFC3164"],
    ),
    p(
        ADV,
        "debug",
        Kind::Bool,
        "false",
        "Debugging",
        "Verbose logs: the router logs every event (kubectl -n vmware-system logs deploy/event-router) and firstboot logs detail lines; keeps guestinfo.ovfEnv after first boot.",
    ),
    p(
        ADV,
        "pod_network_cidr",
        Kind::Cidr,
        "10.10.0.0/16",
        "Pod Network CIDR",
        "Must not overlap the service network or the appliance's network.",
    ),
    p(
        ADV,
        "service_cidr",
        Kind::Cidr,
        "10.43.0.0/16",
        "Service Network CIDR",
        "Must not overlap the pod network or the appliance's network.",
    ),
    p(
        VEBA07,
        "event_processor_type",
        Kind::Text,
        "",
        "Event Processor (VEBA v0.7)",
        "VEBA v0.7's key for Event Processor: Knative, OpenFaaS or AWS EventBridge. Leave empty and use Event Processor.",
    ),
    p(
        VEBA07,
        "knative_host",
        Kind::HostPort,
        "",
        "External Knative Broker Host (VEBA v0.7)",
        "Send events to a Knative broker outside the appliance, e.g. mybroker.corp.local:8080 (with the scheme and path below).",
    ),
    p(
        VEBA07,
        "knative_scheme",
        Kind::Text,
        "HTTP",
        "External Knative Broker Scheme (VEBA v0.7)",
        "HTTP or HTTPS.",
    ),
    p(
        VEBA07,
        "knative_path",
        Kind::Text,
        "",
        "External Knative Broker Path (VEBA v0.7)",
        "e.g. /default/default.",
    ),
    p(
        VEBA07,
        "knative_disable_tls_verification",
        Kind::Bool,
        "false",
        "Disable External Knative Broker TLS Verification (VEBA v0.7)",
        "Accept any certificate of the external broker (lab use only).",
    ),
    p(
        VEBA07,
        "aws_eb_access_key",
        Kind::Text,
        "",
        "AWS Access Key ID (VEBA v0.7)",
        "VEBA v0.7's key for AWS Access Key ID.",
    ),
    p(
        VEBA07,
        "aws_eb_access_secret",
        Kind::Password,
        "",
        "AWS Secret Access Key (VEBA v0.7)",
        "VEBA v0.7's key for AWS Secret Access Key.",
    ),
    p(
        VEBA07,
        "aws_eb_event_bus",
        Kind::Text,
        "",
        "AWS EventBridge Event Bus (VEBA v0.7)",
        "VEBA v0.7's key for the EventBridge event bus.",
    ),
    p(
        VEBA07,
        "aws_eb_region",
        Kind::AwsRegion,
        "",
        "AWS Region (VEBA v0.7)",
        "VEBA v0.7's key for the AWS region.",
    ),
    p(
        VEBA07,
        "aws_eb_arn",
        Kind::RuleArns,
        "",
        "AWS EventBridge Rule ARN (VEBA v0.7)",
        "VEBA v0.7's key for the EventBridge rule ARN.",
    ),
];

/// The property with this key (with or without the `guestinfo.` prefix).
pub fn property(key: &str) -> Option<&'static Property> {
    let key = key.strip_prefix("guestinfo.").unwrap_or(key);
    PROPERTIES.iter().find(|p| p.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_choices_hold_their_default() {
        let mut keys: Vec<_> = PROPERTIES.iter().map(|p| p.key).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "duplicate keys");
        for p in PROPERTIES {
            if p.kind == Kind::Choice {
                assert!(p.values.contains(&p.default), "{}: default not allowed", p.key);
            } else {
                assert!(p.values.is_empty(), "{}: values on a non-choice", p.key);
            }
            assert!(!p.label.is_empty() && !p.description.is_empty(), "{}", p.key);
        }
    }

    #[test]
    fn lookup_with_and_without_prefix() {
        assert_eq!(property("guestinfo.hostname").map(|p| p.label), Some("Hostname (FQDN)"));
        assert!(property("vcenter_password").unwrap().password());
        let key = property("custom_tls_private_key").unwrap();
        assert!(key.secret() && !key.password(), "a secret, in a plain field");
        assert_eq!(property("enable_ssh").unwrap().ovf_type(), "boolean");
        assert!(property("nope").is_none());
    }
}
