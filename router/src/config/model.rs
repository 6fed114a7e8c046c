//! VEBA's RouterConfig (`event-router.vmware.com/v1alpha1`), field for field, plus the
//! router's extensions (marked as such in their doc comments). Unknown keys are errors. The
//! extensions' defaults are in `defaults.rs`, not here.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::secret::Secret;
use super::uri::Uri;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RouterConfig {
    /// Must be `event-router.vmware.com/v1alpha1`.
    pub api_version: String,
    /// Must be `RouterConfig`.
    pub kind: String,
    pub metadata: Metadata,
    /// VEBA's one provider. Give this or `eventProviders`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_provider: Option<ProviderConfig>,
    /// Extension: several providers (for example one per vCenter), each with a unique name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_providers: Vec<ProviderConfig>,
    /// VEBA's one processor. Give this or `eventProcessors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_processor: Option<ProcessorConfig>,
    /// Extension: several processors, each with a unique name and an optional `filter`; every
    /// event goes to every processor whose filter it passes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_processors: Vec<ProcessorConfig>,
    pub metrics_provider: MetricsProviderConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<Certificates>,
    /// Extension: JSON-lines file for events a processor gave up on (`event-router dlq replay`
    /// sends them again). Default with checkpoints on: `dead-letters.jsonl` in the first
    /// checkpointing vCenter's `checkpointDir`; without checkpoints (and without this key) such
    /// events are logged and lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_file: Option<String>,
    /// Extension: seconds queued deliveries may still take after SIGTERM or SIGHUP before they
    /// are abandoned (abandoned events stay before the checkpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_seconds: Option<u64>,
    /// Extension: leader election between replicas (several pods of one Deployment): each vCenter
    /// and Horizon provider streams only in the replica that holds its Lease. Off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_election: Option<LeaderElectionConfig>,
    /// What loading changed (not part of the file): vCenter addresses normalised.
    #[serde(skip)]
    #[schemars(skip)]
    pub notes: Vec<String>,
}

/// Extension: leader election as client-go's (`tools/leaderelection`): the replicas of one router
/// compete for a `coordination.k8s.io/v1` Lease per vCenter and Horizon provider
/// (`<leaseNamePrefix>-<provider name>`, see [`lease_name`]); only the holder streams that
/// provider, a standby takes over when the holder stops renewing. Webhook providers are not
/// elected: every replica serves them. Needs the Kubernetes API (the pod's service account).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LeaderElectionConfig {
    /// Compete for the Leases (false: every replica streams, as one process does).
    #[serde(default)]
    pub enabled: bool,
    /// The Leases' names start with this (default `event-router`): give each router that shares
    /// a namespace its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_name_prefix: Option<String>,
    /// The namespace of the Leases and of the checkpoint ConfigMap (default: the pod's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// How long a standby waits, after it last saw the Lease change, before it takes over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_duration_seconds: Option<u64>,
    /// How long a leader tries to renew before it stops streaming (less than the lease duration,
    /// so it stops before another replica may start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_deadline_seconds: Option<u64>,
    /// Seconds between renewals, and between a standby's tries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_period_seconds: Option<u64>,
}

/// Where a vCenter provider's checkpoint is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckpointStoreKind {
    /// `checkpointDir/cp-<host>.json` (VEBA's).
    File,
    /// The key `cp-<host>.json` of the ConfigMap `checkpointConfigMap`, readable by a replica on
    /// another node.
    Configmap,
}

/// The Lease a provider's replicas compete for: `<prefix>-<name>` with the provider name
/// lowercased and each run of characters other than a-z and 0-9 made one `-` (the API wants a
/// DNS subdomain name), at most 253 characters.
pub fn lease_name(prefix: &str, provider: &str) -> String {
    let mut name = String::new();
    for c in provider.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name.trim_end_matches('-');
    let name = if name.is_empty() { "provider" } else { name };
    let full: String = format!("{prefix}-{name}").chars().take(253).collect();
    full.trim_end_matches(['-', '.']).to_string()
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Certificates {
    /// PEM files with root CAs trusted for the vCenter and Horizon connections.
    #[serde(default, rename = "rootCAs")]
    pub root_cas: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderType {
    Vcenter,
    Webhook,
    Vcsim,
    Horizon,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProviderConfig {
    #[serde(rename = "type")]
    pub kind: ProviderType,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcenter: Option<VCenterConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcsim: Option<VCenterConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon: Option<HorizonConfig>,
}

/// Which CloudEvent contract the vCenter provider emits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EventFormat {
    /// VEBA's event router: `type` com.vmware.event.router/<class>, `subject` = event name.
    #[default]
    Router,
    /// Tanzu Sources (VEBA v0.8): `type` com.vmware.vsphere.<Name>.v0 and extension `eventclass`.
    TanzuSources,
}

/// The checkpoint folder when `checkpointDir` is not given (relative to the working folder).
pub const DEFAULT_CHECKPOINT_DIR: &str = "checkpoints";
/// The dead-letter file's name in the checkpoint folder when `deadLetterFile` is not given.
pub const DEFAULT_DEAD_LETTER_FILE: &str = "dead-letters.jsonl";

impl VCenterConfig {
    /// `checkpointDir`, or [`DEFAULT_CHECKPOINT_DIR`].
    pub fn checkpoint_folder(&self) -> &str {
        self.checkpoint_dir.as_deref().unwrap_or(DEFAULT_CHECKPOINT_DIR)
    }

    /// Where this vCenter's checkpoint is written (with `checkpoint: true`); `None` when the
    /// address is not a URL.
    pub fn checkpoint_path(&self) -> Option<std::path::PathBuf> {
        let url = url::Url::parse(&self.address).ok()?;
        Some(std::path::Path::new(self.checkpoint_folder()).join(checkpoint_file_name(&url)))
    }
}

/// VEBA's checkpoint file name for a vCenter: `cp-<host>.json`, `cp-<host>_<port>.json` for a
/// port other than the scheme's.
pub fn checkpoint_file_name(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("vcenter").replace([':', '/', '[', ']'], "_");
    match url.port() {
        Some(p) => format!("cp-{host}_{p}.json"),
        None => format!("cp-{host}.json"),
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VCenterConfig {
    /// The SDK URL, e.g. `https://vcenter.corp.local/sdk`.
    pub address: String,
    /// Skip TLS verification (prefer `certificates.rootCAs`).
    #[serde(default, rename = "insecureSSL")]
    pub insecure_ssl: bool,
    /// Store the stream's position and resume from it after a restart (at-least-once).
    #[serde(default)]
    pub checkpoint: bool,
    /// Folder of the checkpoint files (default `checkpoints`, relative to the working folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_dir: Option<String>,
    /// Extension: seconds between checkpoint writes (VEBA's default); also written at shutdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_period_seconds: Option<u64>,
    /// Extension: how far back before vCenter's current time a resume may start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replay_age_seconds: Option<u64>,
    pub auth: AuthMethod,
    /// Extension: the CloudEvent contract (`router`, the default, or `tanzu-sources`).
    #[serde(default)]
    pub event_format: EventFormat,
    /// Extension: events per collector page (1..=1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    /// Extension: seconds between session keep-alives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive_seconds: Option<u64>,
    /// Extension: add each alarm event's alarm definition to its data as `AlarmInfo` (default
    /// true; false leaves alarm events as vCenter sends them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_details: Option<bool>,
    /// Extension: where the checkpoint is kept: `file` (in `checkpointDir`) or `configmap` (in
    /// `checkpointConfigMap`). Default: `configmap` with `leaderElection.enabled`, else `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_store: Option<CheckpointStoreKind>,
    /// Extension: the ConfigMap of `checkpointStore: configmap` (default
    /// `event-router-checkpoints`), in `leaderElection.namespace` or the pod's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_config_map: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookConfig {
    pub bind_address: String,
    /// Where CloudEvents are POSTed: slashes around it trimmed, lowercased; `webhook` when empty.
    #[serde(default)]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthMethod>,
    /// Extension: the largest request body accepted, in bytes; larger gets 413.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<usize>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HorizonConfig {
    /// The Horizon Connection Server, e.g. `https://horizon.corp.local`.
    pub address: String,
    #[serde(default, rename = "insecureSSL")]
    pub insecure_ssl: bool,
    pub auth: AuthMethod,
    /// Extension: seconds between polls for new audit events (VEBA's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval_seconds: Option<u64>,
    /// Extension: audit events per page (1..=1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    /// Extension: the CloudEvent contract (`router`, VEBA's router: type
    /// `com.vmware.event.router/horizon.<type>.v0`, time in whole seconds; or `tanzu-sources`,
    /// HorizonSource: type `com.vmware.horizon.<type>.v0`, time in milliseconds).
    #[serde(default)]
    pub event_format: EventFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProcessorType {
    Knative,
    Openfaas,
    AwsEventBridge,
    /// Extension: writes each CloudEvent as one JSON line on stdout (demos, debugging).
    Console,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProcessorConfig {
    #[serde(rename = "type")]
    pub kind: ProcessorType,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knative: Option<KnativeConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openfaas: Option<OpenFaasConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_event_bridge: Option<AwsEventBridgeConfig>,
    /// Extension: which events this processor receives (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventFilter>,
    /// Extension: events waiting for this processor before the sources pause reading; bounds
    /// memory when the sink is slow or down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_capacity: Option<usize>,
    /// Extension: deliveries (or batches) in flight at once, never two events of one object (1:
    /// one at a time, in total order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
}

/// Extension: a processor's event filter. Every part given must match.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventFilter {
    /// CloudEvent `type` values, e.g. `com.vmware.event.router/event`; any when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// Event names, e.g. `VmPoweredOffEvent` (the `subject` in the router contract, the name
    /// inside the type for Tanzu Sources); any when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_names: Vec<String>,
    /// An EventBridge-style event pattern matched against the CloudEvent in structured JSON
    /// form, e.g. `{"data": {"Vm": {"Name": [{"prefix": "prod-"}]}}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<std::collections::BTreeMap<String, serde_json::Value>>")]
    pub pattern: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Binary,
    #[default]
    Structured,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KnativeConfig {
    pub destination: Destination,
    #[serde(default)]
    pub encoding: Encoding,
    #[serde(default, rename = "insecureSSL")]
    pub insecure_ssl: bool,
    /// Sent as HTTP basic auth when `basic_auth` (VEBA accepted and ignored it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthMethod>,
    /// Extension: seconds before one request is abandoned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// Extension: attempts per event, the first included (default: no limit but
    /// `maxRetrySeconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Extension: seconds a transient failure is retried before the event is dead-lettered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retry_seconds: Option<u64>,
}

/// A Knative duck-typed destination: a `ref` to an Addressable, a `uri`, or both (then the
/// `uri` is resolved relative to the ref's address).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<KReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<Uri>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KReference {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub namespace: String,
}

/// OpenFaaS's section. Its delivery keys (`auth`, `timeoutSeconds`, `maxAttempts`,
/// `maxRetrySeconds`) repeat Knative's field by field on purpose: serde's `flatten` cannot be
/// combined with `deny_unknown_fields` (serde's attribute docs), and an unknown key must stay an
/// error. Each default is stated once in `defaults.rs`; one helper in `validate.rs` checks both.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OpenFaasConfig {
    /// The gateway, e.g. `http://gateway.openfaas:8080`.
    pub address: String,
    /// Invoke through `/async-function/<name>` (the gateway queues) instead of `/function/<name>`.
    #[serde(default, rename = "async")]
    pub is_async: bool,
    /// Basic auth for the gateway (its `/system` API needs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthMethod>,
    /// Extension: seconds before one invocation is abandoned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// Extension: attempts per function and event, the first included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Extension: longest time one invocation is retried, in seconds (no limit but maxAttempts
    /// when unset), as knative.maxRetrySeconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retry_seconds: Option<u64>,
    /// Extension: seconds between re-reads of the function list and topics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_seconds: Option<u64>,
    #[serde(default, rename = "insecureSSL")]
    pub insecure_ssl: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AwsEventBridgeConfig {
    pub region: String,
    /// The event bus name or ARN (`default` for the account's default bus).
    pub event_bus: String,
    /// The rule whose event pattern selects the events to send (VEBA's single rule).
    #[serde(default, rename = "ruleARN", skip_serializing_if = "String::is_empty")]
    pub rule_arn: String,
    /// Extension: several rules; an event is sent when any rule's pattern matches (VEBA #138).
    #[serde(default, rename = "ruleARNs", skip_serializing_if = "Vec::is_empty")]
    pub rule_arns: Vec<String>,
    pub auth: AuthMethod,
    /// Extension: another EventBridge endpoint (a VPC endpoint, a test server); the
    /// `AWS_ENDPOINT_URL` environment variable works too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Extension: the PutEvents request-size limit in bytes as AWS counts entries (AWS accepts
    /// 1 MiB since 2026-01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_bytes: Option<usize>,
    /// Extension: attempts per call and per failed entry, the first included (default: no limit
    /// but `maxRetrySeconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Extension: seconds a failed call or entry is retried before the event is dead-lettered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retry_seconds: Option<u64>,
    /// Extension: seconds between re-reads of the rules' event patterns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_refresh_seconds: Option<u64>,
}

impl AwsEventBridgeConfig {
    /// `ruleARN` and `ruleARNs` together, without repeats.
    pub fn all_rule_arns(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for arn in std::iter::once(&self.rule_arn).chain(&self.rule_arns) {
            if !arn.is_empty() && !all.contains(arn) {
                all.push(arn.clone());
            }
        }
        all
    }
}

impl RouterConfig {
    /// Every provider with the key path that names it in messages (`eventProvider` or
    /// `eventProviders[i]`).
    pub fn providers(&self) -> Vec<(String, &ProviderConfig)> {
        let one = self.event_provider.iter().map(|p| ("eventProvider".to_string(), p));
        let many = (self.event_providers.iter().enumerate()).map(|(i, p)| (format!("eventProviders[{i}]"), p));
        one.chain(many).collect()
    }

    /// Where events a processor gives up on are written: `deadLetterFile`, or by default (when
    /// a vCenter provider keeps checkpoints, so the router promises no loss)
    /// `dead-letters.jsonl` in the first such provider's checkpoint folder; `None` when neither.
    pub fn dead_letter_path(&self) -> Option<std::path::PathBuf> {
        if let Some(f) = &self.dead_letter_file {
            return Some(f.into());
        }
        self.providers()
            .into_iter()
            .find_map(|(_, p)| p.vcenter.as_ref().or(p.vcsim.as_ref()).filter(|v| v.checkpoint))
            .map(|v| std::path::Path::new(v.checkpoint_folder()).join(DEFAULT_DEAD_LETTER_FILE))
    }

    /// Whether leader election is on (`leaderElection.enabled`).
    pub fn elected(&self) -> bool {
        self.leader_election.as_ref().is_some_and(|l| l.enabled)
    }

    /// Where `v`'s checkpoint is kept: its `checkpointStore`, else a ConfigMap with leader
    /// election (a standby on another node reads it) and a file without.
    pub fn checkpoint_store(&self, v: &VCenterConfig) -> CheckpointStoreKind {
        v.checkpoint_store.unwrap_or(if self.elected() {
            CheckpointStoreKind::Configmap
        } else {
            CheckpointStoreKind::File
        })
    }

    /// Every processor with the key path that names it in messages.
    pub fn processors(&self) -> Vec<(String, &ProcessorConfig)> {
        let one = self.event_processor.iter().map(|p| ("eventProcessor".to_string(), p));
        let many = (self.event_processors.iter().enumerate()).map(|(i, p)| (format!("eventProcessors[{i}]"), p));
        one.chain(many).collect()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsProviderConfig {
    #[serde(rename = "type")]
    pub kind: MetricsType,
    pub name: String,
    pub default: MetricsDefault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MetricsType {
    Default,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricsDefault {
    pub bind_address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthMethod>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthType {
    BasicAuth,
    AwsAccessKey,
    AwsIamRole,
    ActiveDirectory,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthMethod {
    #[serde(rename = "type")]
    pub kind: AuthType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_access_key_auth: Option<AwsAccessKeyAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_directory_auth: Option<ActiveDirectoryAuth>,
}

impl AuthMethod {
    /// (user name, password) when this is `basic_auth` with its section.
    pub fn basic_credentials(&self) -> Option<(String, Secret)> {
        match (self.kind, &self.basic_auth) {
            (AuthType::BasicAuth, Some(b)) => Some((b.username.clone(), b.password.clone())),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    pub password: Secret,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AwsAccessKeyAuth {
    pub access_key: String,
    pub secret_key: Secret,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActiveDirectoryAuth {
    pub domain: String,
    pub username: String,
    pub password: Secret,
}
