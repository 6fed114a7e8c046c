//! Typed names of the schema's properties: `keys::HOSTNAME` instead of `"hostname"`, so a
//! misspelt property does not compile. One constant per entry of [`PROPERTIES`] (checked by a
//! test), in the same order.

use crate::{property, Property, PROPERTIES};

/// A property's key (without `guestinfo.`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(&'static str);

impl Key {
    /// The key as the OVF environment has it after `guestinfo.`.
    pub const fn as_str(self) -> &'static str {
        self.0
    }

    /// The property's schema entry.
    pub fn property(self) -> &'static Property {
        // Every constant below names a property (the test checks), so this never falls back.
        property(self.0).unwrap_or(&PROPERTIES[0])
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

pub const HOSTNAME: Key = Key("hostname");
pub const IPADDRESS: Key = Key("ipaddress");
pub const NETMASK: Key = Key("netmask");
pub const GATEWAY: Key = Key("gateway");
pub const DNS: Key = Key("dns");
pub const DOMAIN: Key = Key("domain");
pub const NTP: Key = Key("ntp");
pub const HTTP_PROXY: Key = Key("http_proxy");
pub const HTTPS_PROXY: Key = Key("https_proxy");
pub const PROXY_USERNAME: Key = Key("proxy_username");
pub const PROXY_PASSWORD: Key = Key("proxy_password");
pub const NO_PROXY: Key = Key("no_proxy");
pub const ROOT_PASSWORD: Key = Key("root_password");
pub const ENABLE_SSH: Key = Key("enable_ssh");
pub const ENDPOINT_USERNAME: Key = Key("endpoint_username");
pub const ENDPOINT_PASSWORD: Key = Key("endpoint_password");
pub const VCENTER_SERVER: Key = Key("vcenter_server");
pub const VCENTER_USERNAME: Key = Key("vcenter_username");
pub const VCENTER_PASSWORD: Key = Key("vcenter_password");
pub const VCENTER_SERVERS: Key = Key("vcenter_servers");
pub const VCENTER_CREDENTIALS: Key = Key("vcenter_credentials");
pub const TRUSTED_CA_CERT: Key = Key("trusted_ca_cert");
pub const VCENTER_DISABLE_TLS_VERIFICATION: Key = Key("vcenter_disable_tls_verification");
pub const VCENTER_CHECKPOINT_AGE: Key = Key("vcenter_checkpoint_age");
pub const VCENTER_CHECKPOINT_PERIOD: Key = Key("vcenter_checkpoint_period");
pub const EVENT_FORMAT: Key = Key("event_format");
pub const PROCESSOR: Key = Key("processor");
pub const EVENTBRIDGE_REGION: Key = Key("eventbridge_region");
pub const EVENTBRIDGE_EVENT_BUS: Key = Key("eventbridge_event_bus");
pub const EVENTBRIDGE_RULE_ARN: Key = Key("eventbridge_rule_arn");
pub const EVENTBRIDGE_ACCESS_KEY: Key = Key("eventbridge_access_key");
pub const EVENTBRIDGE_SECRET_KEY: Key = Key("eventbridge_secret_key");
pub const OPENFAAS_ADDRESS: Key = Key("openfaas_address");
pub const OPENFAAS_PASSWORD: Key = Key("openfaas_password");
pub const HORIZON: Key = Key("horizon");
pub const HORIZON_SERVER: Key = Key("horizon_server");
pub const HORIZON_DOMAIN: Key = Key("horizon_domain");
pub const HORIZON_USERNAME: Key = Key("horizon_username");
pub const HORIZON_PASSWORD: Key = Key("horizon_password");
pub const HORIZON_DISABLE_TLS_VERIFICATION: Key = Key("horizon_disable_tls_verification");
pub const WEBHOOK: Key = Key("webhook");
pub const WEBHOOK_USERNAME: Key = Key("webhook_username");
pub const WEBHOOK_PASSWORD: Key = Key("webhook_password");
pub const CUSTOM_TLS_PRIVATE_KEY: Key = Key("custom_tls_private_key");
pub const CUSTOM_TLS_CA_CERT: Key = Key("custom_tls_ca_cert");
pub const SYSLOG_SERVER_HOSTNAME: Key = Key("syslog_server_hostname");
pub const SYSLOG_SERVER_PORT: Key = Key("syslog_server_port");
pub const SYSLOG_SERVER_PROTOCOL: Key = Key("syslog_server_protocol");
pub const SYSLOG_SERVER_FORMAT: Key = Key("syslog_server_format");
pub const DEBUG: Key = Key("debug");
pub const POD_NETWORK_CIDR: Key = Key("pod_network_cidr");
pub const SERVICE_CIDR: Key = Key("service_cidr");
pub const EVENT_PROCESSOR_TYPE: Key = Key("event_processor_type");
pub const KNATIVE_HOST: Key = Key("knative_host");
pub const KNATIVE_SCHEME: Key = Key("knative_scheme");
pub const KNATIVE_PATH: Key = Key("knative_path");
pub const KNATIVE_DISABLE_TLS_VERIFICATION: Key = Key("knative_disable_tls_verification");
pub const AWS_EB_ACCESS_KEY: Key = Key("aws_eb_access_key");
pub const AWS_EB_ACCESS_SECRET: Key = Key("aws_eb_access_secret");
pub const AWS_EB_EVENT_BUS: Key = Key("aws_eb_event_bus");
pub const AWS_EB_REGION: Key = Key("aws_eb_region");
pub const AWS_EB_ARN: Key = Key("aws_eb_arn");

/// Every key, in the schema's order.
pub const ALL: &[Key] = &[
    HOSTNAME,
    IPADDRESS,
    NETMASK,
    GATEWAY,
    DNS,
    DOMAIN,
    NTP,
    HTTP_PROXY,
    HTTPS_PROXY,
    PROXY_USERNAME,
    PROXY_PASSWORD,
    NO_PROXY,
    ROOT_PASSWORD,
    ENABLE_SSH,
    ENDPOINT_USERNAME,
    ENDPOINT_PASSWORD,
    VCENTER_SERVER,
    VCENTER_USERNAME,
    VCENTER_PASSWORD,
    VCENTER_SERVERS,
    VCENTER_CREDENTIALS,
    TRUSTED_CA_CERT,
    VCENTER_DISABLE_TLS_VERIFICATION,
    VCENTER_CHECKPOINT_AGE,
    VCENTER_CHECKPOINT_PERIOD,
    EVENT_FORMAT,
    PROCESSOR,
    EVENTBRIDGE_REGION,
    EVENTBRIDGE_EVENT_BUS,
    EVENTBRIDGE_RULE_ARN,
    EVENTBRIDGE_ACCESS_KEY,
    EVENTBRIDGE_SECRET_KEY,
    OPENFAAS_ADDRESS,
    OPENFAAS_PASSWORD,
    HORIZON,
    HORIZON_SERVER,
    HORIZON_DOMAIN,
    HORIZON_USERNAME,
    HORIZON_PASSWORD,
    HORIZON_DISABLE_TLS_VERIFICATION,
    WEBHOOK,
    WEBHOOK_USERNAME,
    WEBHOOK_PASSWORD,
    CUSTOM_TLS_PRIVATE_KEY,
    CUSTOM_TLS_CA_CERT,
    SYSLOG_SERVER_HOSTNAME,
    SYSLOG_SERVER_PORT,
    SYSLOG_SERVER_PROTOCOL,
    SYSLOG_SERVER_FORMAT,
    DEBUG,
    POD_NETWORK_CIDR,
    SERVICE_CIDR,
    EVENT_PROCESSOR_TYPE,
    KNATIVE_HOST,
    KNATIVE_SCHEME,
    KNATIVE_PATH,
    KNATIVE_DISABLE_TLS_VERIFICATION,
    AWS_EB_ACCESS_KEY,
    AWS_EB_ACCESS_SECRET,
    AWS_EB_EVENT_BUS,
    AWS_EB_REGION,
    AWS_EB_ARN,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_constant_per_property_in_order() {
        let names: Vec<&str> = ALL.iter().map(|k| k.as_str()).collect();
        let schema: Vec<&str> = PROPERTIES.iter().map(|p| p.key).collect();
        assert_eq!(names, schema);
        assert_eq!(HOSTNAME.property().label, "Hostname (FQDN)");
    }
}
