//! Semantic checks that serde cannot express: the sub-object matching each `type`, required
//! credentials, addresses and ranges. Every problem names the key and the fix.

use std::net::SocketAddr;

use super::model::*;
use super::API_VERSION;

/// All problems in `cfg`; empty when it is valid.
pub fn problems(cfg: &RouterConfig) -> Vec<String> {
    let mut p = Vec::new();
    if cfg.api_version != API_VERSION {
        p.push(format!(
            "apiVersion is {:?}: it must be {API_VERSION:?}",
            cfg.api_version
        ));
    }
    if cfg.kind != "RouterConfig" {
        p.push(format!("kind is {:?}: it must be \"RouterConfig\"", cfg.kind));
    }
    if cfg.metadata.name.trim().is_empty() {
        p.push("metadata.name is empty: give the configuration a name".into());
    }
    provider(&cfg.event_provider, &mut p);
    processor(&cfg.event_processor, &mut p);
    metrics(&cfg.metrics_provider, &mut p);
    if let Some(c) = &cfg.certificates {
        for (i, ca) in c.root_cas.iter().enumerate() {
            if ca.trim().is_empty() {
                p.push(format!(
                    "certificates.rootCAs[{i}] is empty: give the path of a PEM file"
                ));
            }
        }
    }
    p
}

fn one_section<T>(
    prefix: &str,
    kind: &str,
    key: &str,
    section: &Option<T>,
    others: &[(&str, bool)],
    p: &mut Vec<String>,
) {
    if section.is_none() {
        p.push(format!(
            "{prefix}.type is {kind} but {prefix}.{key} is missing: add a `{key}:` section"
        ));
    }
    for (other, present) in others {
        if *present && *other != key {
            p.push(format!(
                "{prefix}.{other} is set but {prefix}.type is {kind}: remove it or change the type"
            ));
        }
    }
}

fn provider(pr: &ProviderConfig, p: &mut Vec<String>) {
    if pr.name.trim().is_empty() {
        p.push("eventProvider.name is empty: name the provider".into());
    }
    let present = [
        ("vcenter", pr.vcenter.is_some()),
        ("vcsim", pr.vcsim.is_some()),
        ("webhook", pr.webhook.is_some()),
        ("horizon", pr.horizon.is_some()),
    ];
    match pr.kind {
        ProviderType::Vcenter => {
            one_section("eventProvider", "vcenter", "vcenter", &pr.vcenter, &present, p);
            if let Some(v) = &pr.vcenter {
                vcenter("eventProvider.vcenter", v, p);
            }
        }
        ProviderType::Vcsim => {
            one_section("eventProvider", "vcsim", "vcsim", &pr.vcsim, &present, p);
            if let Some(v) = &pr.vcsim {
                vcenter("eventProvider.vcsim", v, p);
            }
        }
        ProviderType::Webhook => {
            one_section("eventProvider", "webhook", "webhook", &pr.webhook, &present, p);
            if let Some(w) = &pr.webhook {
                bind_address("eventProvider.webhook.bindAddress", &w.bind_address, p);
                if w.path.trim() == "/" {
                    p.push("eventProvider.webhook.path is \"/\": use a path such as /webhook".into());
                }
                if let Some(a) = &w.auth {
                    basic_auth("eventProvider.webhook.auth", a, p);
                }
            }
        }
        ProviderType::Horizon => {
            one_section("eventProvider", "horizon", "horizon", &pr.horizon, &present, p);
            if let Some(h) = &pr.horizon {
                http_url("eventProvider.horizon.address", &h.address, p);
                let prefix = "eventProvider.horizon.auth";
                match (&h.auth.kind, &h.auth.active_directory_auth) {
                    (AuthType::ActiveDirectory, Some(ad)) => {
                        if ad.domain.trim().is_empty() || ad.username.trim().is_empty() || ad.password.is_empty() {
                            p.push(format!(
                                "{prefix}.activeDirectoryAuth needs domain, username and password"
                            ));
                        }
                        if ad.username.contains('@') {
                            p.push(format!(
                                "{prefix}.activeDirectoryAuth.username is a UPN: give the plain user name and the domain separately"
                            ));
                        }
                    }
                    _ => p.push(format!(
                        "{prefix} must be type active_directory with an activeDirectoryAuth section"
                    )),
                }
            }
        }
    }
}

fn vcenter(prefix: &str, v: &VCenterConfig, p: &mut Vec<String>) {
    http_url(&format!("{prefix}.address"), &v.address, p);
    basic_auth(&format!("{prefix}.auth"), &v.auth, p);
    if let Some(size) = v.page_size {
        if !(1..=1000).contains(&size) {
            p.push(format!("{prefix}.pageSize is {size}: it must be between 1 and 1000"));
        }
    }
    if v.keep_alive_seconds == Some(0) {
        p.push(format!("{prefix}.keepAliveSeconds is 0: use at least 1 (default 300)"));
    }
}

fn processor(pr: &ProcessorConfig, p: &mut Vec<String>) {
    if pr.name.trim().is_empty() {
        p.push("eventProcessor.name is empty: name the processor".into());
    }
    let present = [
        ("knative", pr.knative.is_some()),
        ("openfaas", pr.openfaas.is_some()),
        ("awsEventBridge", pr.aws_event_bridge.is_some()),
    ];
    match pr.kind {
        ProcessorType::Knative => {
            one_section("eventProcessor", "knative", "knative", &pr.knative, &present, p);
            if let Some(k) = &pr.knative {
                knative(k, p);
            }
        }
        ProcessorType::Openfaas => {
            one_section("eventProcessor", "openfaas", "openfaas", &pr.openfaas, &present, p);
            if let Some(o) = &pr.openfaas {
                http_url("eventProcessor.openfaas.address", &o.address, p);
                if let Some(a) = &o.auth {
                    basic_auth("eventProcessor.openfaas.auth", a, p);
                }
            }
        }
        ProcessorType::AwsEventBridge => {
            one_section(
                "eventProcessor",
                "aws_event_bridge",
                "awsEventBridge",
                &pr.aws_event_bridge,
                &present,
                p,
            );
            if let Some(a) = &pr.aws_event_bridge {
                aws(a, p);
            }
        }
        ProcessorType::Console => {
            for (other, set) in present {
                if set {
                    p.push(format!(
                        "eventProcessor.{other} is set but eventProcessor.type is console: remove it"
                    ));
                }
            }
        }
    }
}

fn knative(k: &KnativeConfig, p: &mut Vec<String>) {
    let prefix = "eventProcessor.knative";
    match (&k.destination.reference, &k.destination.uri) {
        (None, None) => p.push(format!("{prefix}.destination needs a ref (e.g. a Broker) or a uri")),
        (None, Some(u)) => http_url(&format!("{prefix}.destination.uri"), &u.to_url_string(), p),
        (Some(r), _) => {
            for (field, value) in [("apiVersion", &r.api_version), ("kind", &r.kind), ("name", &r.name)] {
                if value.trim().is_empty() {
                    p.push(format!("{prefix}.destination.ref.{field} is empty"));
                }
            }
        }
    }
    if let Some(a) = &k.auth {
        basic_auth(&format!("{prefix}.auth"), a, p);
    }
    if k.timeout_seconds == Some(0) {
        p.push(format!("{prefix}.timeoutSeconds is 0: use at least 1 (default 10)"));
    }
    if k.max_attempts == Some(0) {
        p.push(format!("{prefix}.maxAttempts is 0: use at least 1 (default 5)"));
    }
}

fn aws(a: &AwsEventBridgeConfig, p: &mut Vec<String>) {
    let prefix = "eventProcessor.awsEventBridge";
    if a.region.trim().is_empty() {
        p.push(format!("{prefix}.region is empty: give the AWS region, e.g. us-west-1"));
    }
    if a.event_bus.trim().is_empty() {
        p.push(format!(
            "{prefix}.eventBus is empty: give the bus name or ARN (e.g. default)"
        ));
    }
    if !a.rule_arn.starts_with("arn:") {
        p.push(format!(
            "{prefix}.ruleARN {:?} is not an ARN (arn:aws:events:REGION:ACCOUNT:rule/NAME)",
            a.rule_arn
        ));
    }
    match a.auth.kind {
        AuthType::AwsAccessKey => match &a.auth.aws_access_key_auth {
            Some(k) if !k.access_key.trim().is_empty() && !k.secret_key.is_empty() => {}
            _ => p.push(format!("{prefix}.auth.awsAccessKeyAuth needs accessKey and secretKey")),
        },
        AuthType::AwsIamRole => {}
        _ => p.push(format!("{prefix}.auth.type must be aws_access_key or aws_iam_role")),
    }
}

fn metrics(m: &MetricsProviderConfig, p: &mut Vec<String>) {
    if m.name.trim().is_empty() {
        p.push("metricsProvider.name is empty: name the metrics provider".into());
    }
    bind_address("metricsProvider.default.bindAddress", &m.default.bind_address, p);
    if let Some(a) = &m.default.auth {
        basic_auth("metricsProvider.default.auth", a, p);
    }
}

fn basic_auth(prefix: &str, a: &AuthMethod, p: &mut Vec<String>) {
    match (&a.kind, &a.basic_auth) {
        (AuthType::BasicAuth, Some(b)) => {
            if b.username.trim().is_empty() {
                p.push(format!("{prefix}.basicAuth.username is empty"));
            }
            if b.password.is_empty() {
                p.push(format!("{prefix}.basicAuth.password is empty"));
            }
        }
        (AuthType::BasicAuth, None) => p.push(format!("{prefix}.type is basic_auth but {prefix}.basicAuth is missing")),
        (other, _) => p.push(format!("{prefix}.type is {other:?}: only basic_auth is supported here")),
    }
}

fn http_url(key: &str, value: &str, p: &mut Vec<String>) {
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()) => {}
        Ok(_) => p.push(format!(
            "{key} {value:?} must be an http:// or https:// URL with a host"
        )),
        Err(e) => p.push(format!(
            "{key} {value:?} is not a URL ({e}): use e.g. https://vcenter.corp.local/sdk"
        )),
    }
}

fn bind_address(key: &str, value: &str, p: &mut Vec<String>) {
    if value.parse::<SocketAddr>().is_err() {
        p.push(format!("{key} {value:?} is not IP:port: use e.g. 0.0.0.0:8082"));
    }
}
