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
    components(
        "eventProvider",
        cfg.event_provider.is_some(),
        "eventProviders",
        &cfg.providers(),
        |pr| &pr.name,
        &mut p,
    );
    for (prefix, pr) in cfg.providers() {
        provider(&prefix, pr, &mut p);
    }
    shared_checkpoints(cfg, &mut p);
    leader_election(cfg, &mut p);
    checkpoint_stores(cfg, &mut p);
    components(
        "eventProcessor",
        cfg.event_processor.is_some(),
        "eventProcessors",
        &cfg.processors(),
        |pr| &pr.name,
        &mut p,
    );
    for (prefix, pr) in cfg.processors() {
        processor(&prefix, pr, &mut p);
    }
    metrics(&cfg.metrics_provider, &mut p);
    if cfg.dead_letter_file.as_deref().is_some_and(|f| f.trim().is_empty()) {
        p.push("deadLetterFile is empty: give a file path, or leave the key out".into());
    }
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

/// The longest leader-election period accepted (a day): the Lease holds it as int32 seconds.
const MAX_ELECTION_SECONDS: u64 = 86_400;

/// Leader election's timing as client-go requires it (NewLeaderElector: leaseDuration >
/// renewDeadline > 1.2 × retryPeriod), its names, and one Lease per elected provider.
fn leader_election(cfg: &RouterConfig, p: &mut Vec<String>) {
    let Some(le) = &cfg.leader_election else { return };
    let values = [
        ("leaseDurationSeconds", le.lease_duration_seconds),
        ("renewDeadlineSeconds", le.renew_deadline_seconds),
        ("retryPeriodSeconds", le.retry_period_seconds),
    ];
    at_least_one("leaderElection", "LeaderElectionConfig", &values, p);
    for (key, v) in values {
        if v.is_some_and(|v| v > MAX_ELECTION_SECONDS) {
            p.push(format!(
                "leaderElection.{key} is over {MAX_ELECTION_SECONDS}: use at most a day{}",
                default_note("LeaderElectionConfig", key)
            ));
        }
    }
    let lease = le
        .lease_duration_seconds
        .unwrap_or(super::defaults::LEASE_DURATION_SECONDS);
    let renew = le
        .renew_deadline_seconds
        .unwrap_or(super::defaults::RENEW_DEADLINE_SECONDS);
    let retry = le.retry_period_seconds.unwrap_or(super::defaults::RETRY_PERIOD_SECONDS);
    if lease <= renew {
        p.push(format!(
            "leaderElection.leaseDurationSeconds ({lease}) must be greater than renewDeadlineSeconds ({renew}): a leader that cannot renew must stop before another replica may take over"
        ));
    }
    if renew.saturating_mul(10) <= retry.saturating_mul(12) {
        p.push(format!(
            "leaderElection.renewDeadlineSeconds ({renew}) must be greater than 1.2 × retryPeriodSeconds ({retry}), as client-go requires: a leader needs more than one try before its deadline"
        ));
    }
    if let Some(prefix) = &le.lease_name_prefix {
        if !dns_subdomain(prefix) || prefix.len() > 200 {
            p.push(format!(
                "leaderElection.leaseNamePrefix {prefix:?} is not a Kubernetes name: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 200 characters"
            ));
        }
    }
    if let Some(ns) = &le.namespace {
        if !dns_label(ns) {
            p.push(format!(
                "leaderElection.namespace {ns:?} is not a namespace name: use lowercase letters, digits and '-', at most 63 characters, or leave it out for the pod's own"
            ));
        }
    }
    if !le.enabled {
        return;
    }
    let prefix = le
        .lease_name_prefix
        .as_deref()
        .unwrap_or(super::defaults::LEASE_NAME_PREFIX);
    let mut leases: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (key, pr) in cfg.providers() {
        if pr.kind != ProviderType::Webhook {
            leases.entry(lease_name(prefix, &pr.name)).or_default().push(key);
        }
    }
    for (lease, keys) in leases.into_iter().filter(|(_, k)| k.len() > 1) {
        p.push(format!(
            "{} would compete for one Lease ({lease}): their names differ only in case or punctuation; rename one",
            keys.join(" and ")
        ));
    }
}

/// `checkpointStore` and `checkpointConfigMap` of each vCenter: meaningful only with
/// `checkpoint: true`; a file with leader election is refused (a standby on another node could
/// not read it), and so is a vCenter without a checkpoint under leader election (a standby
/// that takes over would start at vCenter's present and skip what the old leader had not
/// delivered); two vCenters must not share one ConfigMap entry.
fn checkpoint_stores(cfg: &RouterConfig, p: &mut Vec<String>) {
    let mut entries: std::collections::BTreeMap<(String, String), Vec<String>> = Default::default();
    for (prefix, pr) in cfg.providers() {
        let (section, v) = match (&pr.vcenter, &pr.vcsim) {
            (Some(v), _) => ("vcenter", v),
            (None, Some(v)) => ("vcsim", v),
            _ => continue,
        };
        let key = format!("{prefix}.{section}");
        let store = cfg.checkpoint_store(v);
        if !v.checkpoint && cfg.elected() {
            p.push(format!(
                "{key}.checkpoint is false with leaderElection.enabled: a replica that takes over would start at vCenter's present and skip the events the old leader had not delivered; set {key}.checkpoint: true (kept in the ConfigMap event-router-checkpoints)"
            ));
        }
        if !v.checkpoint {
            for (name, set) in [
                ("checkpointStore", v.checkpoint_store.is_some()),
                ("checkpointConfigMap", v.checkpoint_config_map.is_some()),
            ] {
                if set {
                    p.push(format!(
                        "{key}.{name} is set but {key}.checkpoint is false: set checkpoint: true, or remove it"
                    ));
                }
            }
            continue;
        }
        if let Some(name) = &v.checkpoint_config_map {
            if !dns_subdomain(name) {
                p.push(format!(
                    "{key}.checkpointConfigMap {name:?} is not a ConfigMap name: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
                ));
            }
            if store == CheckpointStoreKind::File {
                p.push(format!(
                    "{key}.checkpointConfigMap is set but the checkpoint is kept in a file: set checkpointStore: configmap, or remove it"
                ));
            }
        }
        match store {
            CheckpointStoreKind::File if cfg.elected() => p.push(format!(
                "{key}.checkpointStore is file with leaderElection.enabled: a replica that takes over on another node cannot read this file and would start without the position; use checkpointStore: configmap (the default with leader election)"
            )),
            CheckpointStoreKind::File => {}
            CheckpointStoreKind::Configmap => {
                if let Ok(url) = url::Url::parse(&v.address) {
                    let map = (v.checkpoint_config_map.as_deref())
                        .unwrap_or(super::defaults::CHECKPOINT_CONFIG_MAP)
                        .to_string();
                    entries
                        .entry((map, checkpoint_file_name(&url)))
                        .or_default()
                        .push(prefix);
                }
            }
        }
    }
    for ((map, entry), prefixes) in entries.into_iter().filter(|(_, v)| v.len() > 1) {
        p.push(format!(
            "{} stream from one vCenter into one checkpoint (ConfigMap {map}, key {entry}): give each its own checkpointConfigMap, or stream it once",
            prefixes.join(" and ")
        ));
    }
}

/// A DNS subdomain name, as Kubernetes names most objects: lowercase letters, digits, '-' and
/// '.', starting and ending with a letter or digit, at most 253 characters.
fn dns_subdomain(s: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    s.len() <= 253
        && edge(s.chars().next())
        && edge(s.chars().last())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

/// A DNS label, as Kubernetes names namespaces: a subdomain name without '.', at most 63.
fn dns_label(s: &str) -> bool {
    s.len() <= 63 && !s.contains('.') && dns_subdomain(s)
}

/// Two vCenter providers checkpointing in files must not write one checkpoint file (VEBA names it
/// by the vCenter's host and port): each would resume from the other's position and skip events.
fn shared_checkpoints(cfg: &RouterConfig, p: &mut Vec<String>) {
    let mut by_path: std::collections::BTreeMap<std::path::PathBuf, Vec<String>> = Default::default();
    for (prefix, pr) in cfg.providers() {
        let file = |v: &&VCenterConfig| v.checkpoint && cfg.checkpoint_store(v) == CheckpointStoreKind::File;
        let Some(v) = pr.vcenter.as_ref().or(pr.vcsim.as_ref()).filter(file) else {
            continue;
        };
        if let Some(path) = v.checkpoint_path() {
            by_path.entry(path).or_default().push(prefix);
        }
    }
    for (path, prefixes) in by_path.into_iter().filter(|(_, v)| v.len() > 1) {
        p.push(format!(
            "{} stream from one vCenter into one checkpoint file ({}): give each its own checkpointDir, or stream it once",
            prefixes.join(" and "),
            path.display()
        ));
    }
}

/// One of the two forms, at least one entry, and unique names (they key /stats and /metrics).
fn components<T>(
    single: &str,
    has_single: bool,
    list: &str,
    all: &[(String, &T)],
    name: impl Fn(&T) -> &String,
    p: &mut Vec<String>,
) {
    if all.is_empty() {
        p.push(format!(
            "{single} is missing: add an `{single}:` section (or `{list}:`, a list of them)"
        ));
    } else if has_single && all.len() > 1 {
        p.push(format!(
            "both {single} and {list} are set: move {single} into the {list} list"
        ));
    }
    let mut seen = std::collections::BTreeMap::new();
    for (prefix, c) in all {
        let n = name(c).trim();
        if n.is_empty() {
            continue;
        }
        if let Some(first) = seen.insert(n.to_string(), prefix.clone()) {
            p.push(format!(
                "{prefix}.name {n:?} is also the name of {first}: give each a unique name"
            ));
        }
    }
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

fn provider(prefix: &str, pr: &ProviderConfig, p: &mut Vec<String>) {
    if pr.name.trim().is_empty() {
        p.push(format!("{prefix}.name is empty: name the provider"));
    }
    let present = [
        ("vcenter", pr.vcenter.is_some()),
        ("vcsim", pr.vcsim.is_some()),
        ("webhook", pr.webhook.is_some()),
        ("horizon", pr.horizon.is_some()),
    ];
    match pr.kind {
        ProviderType::Vcenter => {
            one_section(prefix, "vcenter", "vcenter", &pr.vcenter, &present, p);
            if let Some(v) = &pr.vcenter {
                vcenter(&format!("{prefix}.vcenter"), v, p);
            }
        }
        ProviderType::Vcsim => {
            one_section(prefix, "vcsim", "vcsim", &pr.vcsim, &present, p);
            if let Some(v) = &pr.vcsim {
                vcenter(&format!("{prefix}.vcsim"), v, p);
            }
        }
        ProviderType::Webhook => {
            one_section(prefix, "webhook", "webhook", &pr.webhook, &present, p);
            if let Some(w) = &pr.webhook {
                webhook(&format!("{prefix}.webhook"), w, p);
            }
        }
        ProviderType::Horizon => {
            one_section(prefix, "horizon", "horizon", &pr.horizon, &present, p);
            if let Some(h) = &pr.horizon {
                horizon(&format!("{prefix}.horizon"), h, p);
            }
        }
    }
}

fn webhook(prefix: &str, w: &WebhookConfig, p: &mut Vec<String>) {
    bind_address(&format!("{prefix}.bindAddress"), &w.bind_address, p);
    if w.path.trim() == "/" {
        p.push(format!("{prefix}.path is \"/\": use a path such as /webhook"));
    }
    if let Some(a) = &w.auth {
        basic_auth(&format!("{prefix}.auth"), a, p);
    }
    at_least_one(
        prefix,
        "WebhookConfig",
        &[("maxBodyBytes", w.max_body_bytes.map(|n| n as u64))],
        p,
    );
}

fn horizon(prefix: &str, h: &HorizonConfig, p: &mut Vec<String>) {
    http_url(&format!("{prefix}.address"), &h.address, p);
    at_least_one(
        prefix,
        "HorizonConfig",
        &[("pollIntervalSeconds", h.poll_interval_seconds)],
        p,
    );
    if let Some(size) = h.page_size {
        if !(1..=1000).contains(&size) {
            p.push(format!("{prefix}.pageSize is {size}: it must be between 1 and 1000"));
        }
    }
    let prefix = format!("{prefix}.auth");
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

fn vcenter(prefix: &str, v: &VCenterConfig, p: &mut Vec<String>) {
    http_url(&format!("{prefix}.address"), &v.address, p);
    basic_auth(&format!("{prefix}.auth"), &v.auth, p);
    if let Some(size) = v.page_size {
        if !(1..=1000).contains(&size) {
            p.push(format!("{prefix}.pageSize is {size}: it must be between 1 and 1000"));
        }
    }
    at_least_one(
        prefix,
        "VCenterConfig",
        &[
            ("keepAliveSeconds", v.keep_alive_seconds),
            ("checkpointPeriodSeconds", v.checkpoint_period_seconds),
        ],
        p,
    );
    if v.checkpoint_dir.as_deref().is_some_and(|d| d.trim().is_empty()) {
        p.push(format!(
            "{prefix}.checkpointDir is empty: give a folder, or leave the key out for ./checkpoints"
        ));
    }
}

fn processor(prefix: &str, pr: &ProcessorConfig, p: &mut Vec<String>) {
    if pr.name.trim().is_empty() {
        p.push(format!("{prefix}.name is empty: name the processor"));
    }
    let present = [
        ("knative", pr.knative.is_some()),
        ("openfaas", pr.openfaas.is_some()),
        ("awsEventBridge", pr.aws_event_bridge.is_some()),
    ];
    match pr.kind {
        ProcessorType::Knative => {
            one_section(prefix, "knative", "knative", &pr.knative, &present, p);
            if let Some(k) = &pr.knative {
                knative(&format!("{prefix}.knative"), k, p);
            }
        }
        ProcessorType::Openfaas => {
            one_section(prefix, "openfaas", "openfaas", &pr.openfaas, &present, p);
            if let Some(o) = &pr.openfaas {
                http_url(&format!("{prefix}.openfaas.address"), &o.address, p);
                if let Some(a) = &o.auth {
                    basic_auth(&format!("{prefix}.openfaas.auth"), a, p);
                }
                at_least_one(
                    &format!("{prefix}.openfaas"),
                    "OpenFaasConfig",
                    &[
                        ("timeoutSeconds", o.timeout_seconds),
                        ("maxAttempts", o.max_attempts.map(u64::from)),
                        ("maxRetrySeconds", o.max_retry_seconds),
                        ("refreshSeconds", o.refresh_seconds),
                    ],
                    p,
                );
            }
        }
        ProcessorType::AwsEventBridge => {
            one_section(
                prefix,
                "aws_event_bridge",
                "awsEventBridge",
                &pr.aws_event_bridge,
                &present,
                p,
            );
            if let Some(a) = &pr.aws_event_bridge {
                aws(&format!("{prefix}.awsEventBridge"), a, p);
            }
        }
        ProcessorType::Console => {
            for (other, set) in present {
                if set {
                    p.push(format!(
                        "{prefix}.{other} is set but {prefix}.type is console: remove it"
                    ));
                }
            }
        }
    }
    if let Some(f) = &pr.filter {
        filter(&format!("{prefix}.filter"), f, p);
    }
    if let Some(n) = pr.queue_capacity {
        if !(1..=1_000_000).contains(&n) {
            p.push(format!(
                "{prefix}.queueCapacity is {n}: use 1..=1000000{}",
                default_note("ProcessorConfig", "queueCapacity")
            ));
        }
    }
    if let Some(n) = pr.concurrency {
        if !(1..=256).contains(&n) {
            p.push(format!(
                "{prefix}.concurrency is {n}: use 1..=256{}",
                default_note("ProcessorConfig", "concurrency")
            ));
        }
    }
}

fn filter(prefix: &str, f: &EventFilter, p: &mut Vec<String>) {
    for (key, list) in [("types", &f.types), ("eventNames", &f.event_names)] {
        if list.iter().any(|v| v.trim().is_empty()) {
            p.push(format!("{prefix}.{key} has an empty entry: remove it"));
        }
    }
    if let Some(pattern) = &f.pattern {
        if let Err(e) = crate::processors::pattern::Pattern::from_value(pattern) {
            p.push(format!("{prefix}.pattern: {e}"));
        }
    }
}

fn knative(prefix: &str, k: &KnativeConfig, p: &mut Vec<String>) {
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
    at_least_one(
        prefix,
        "KnativeConfig",
        &[
            ("timeoutSeconds", k.timeout_seconds),
            ("maxAttempts", k.max_attempts.map(u64::from)),
            ("maxRetrySeconds", k.max_retry_seconds),
        ],
        p,
    );
}

/// ` (default N)` when `definition.property` has a stated default, else `, or leave it out`.
fn default_note(definition: &str, property: &str) -> String {
    match super::defaults::value(definition, property) {
        Some(v) => format!(" (default {v})"),
        None => ", or leave it out".to_string(),
    }
}

/// Each `(property, value)` given as 0 is a problem: every one of these counts something.
fn at_least_one(prefix: &str, definition: &str, values: &[(&str, Option<u64>)], p: &mut Vec<String>) {
    for (property, v) in values {
        if *v == Some(0) {
            p.push(format!(
                "{prefix}.{property} is 0: use at least 1{}",
                default_note(definition, property)
            ));
        }
    }
}

fn aws(prefix: &str, a: &AwsEventBridgeConfig, p: &mut Vec<String>) {
    if a.region.trim().is_empty() {
        p.push(format!("{prefix}.region is empty: give the AWS region, e.g. us-west-1"));
    }
    if a.event_bus.trim().is_empty() {
        p.push(format!(
            "{prefix}.eventBus is empty: give the bus name or ARN (e.g. default)"
        ));
    }
    if a.rule_arn.is_empty() && a.rule_arns.is_empty() {
        p.push(format!(
            "{prefix}.ruleARN is missing: give the rule whose pattern selects events (or ruleARNs, a list)"
        ));
    }
    let named = (!a.rule_arn.is_empty()).then(|| ("ruleARN".to_string(), &a.rule_arn));
    let listed = (a.rule_arns.iter().enumerate()).map(|(i, arn)| (format!("ruleARNs[{i}]"), arn));
    for (key, arn) in named.into_iter().chain(listed) {
        if !is_rule_arn(arn) {
            p.push(format!(
                "{prefix}.{key} {arn:?} is not a rule ARN (arn:aws:events:REGION:ACCOUNT:rule/[BUS/]NAME)"
            ));
        }
    }
    if let Some(e) = &a.endpoint {
        http_url(&format!("{prefix}.endpoint"), e, p);
    }
    if let Some(n) = a.max_request_bytes {
        if !(1024..=1_048_576).contains(&n) {
            p.push(format!(
                "{prefix}.maxRequestBytes is {n}: use 1024..=1048576{}",
                default_note("AwsEventBridgeConfig", "maxRequestBytes")
            ));
        }
    }
    at_least_one(
        prefix,
        "AwsEventBridgeConfig",
        &[
            ("maxAttempts", a.max_attempts.map(u64::from)),
            ("maxRetrySeconds", a.max_retry_seconds),
            ("ruleRefreshSeconds", a.rule_refresh_seconds),
        ],
        p,
    );
    match a.auth.kind {
        AuthType::AwsAccessKey => match &a.auth.aws_access_key_auth {
            Some(k) if !k.access_key.trim().is_empty() && !k.secret_key.is_empty() => {}
            _ => p.push(format!("{prefix}.auth.awsAccessKeyAuth needs accessKey and secretKey")),
        },
        AuthType::AwsIamRole => {}
        _ => p.push(format!("{prefix}.auth.type must be aws_access_key or aws_iam_role")),
    }
}

/// `arn:<partition>:events:<region>:<account>:rule/<name>` (or `rule/<bus>/<name>`).
fn is_rule_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "events", region, account, resource]
        if !partition.is_empty() && !region.is_empty() && !account.is_empty()
            && resource.strip_prefix("rule/").is_some_and(|r| !r.is_empty()))
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
