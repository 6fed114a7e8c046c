//! Every number a RouterConfig extension defaults to, stated once. The code reads these
//! constants, the JSON Schema gets each as its property's `default` ([`annotate`]), and the
//! README's table is printed from [`DEFAULTS`] (`event-router defaults`, checked by a test).

pub const SHUTDOWN_GRACE_SECONDS: u64 = 10;
pub const VCENTER_PAGE_SIZE: u32 = 1000;
/// Events the default-sized pages of all vCenters may hold at once: with more than ten vCenters
/// each one's default page is this divided by their number (see [`vcenter_page_size`]).
pub const VCENTER_PAGES_EVENTS: u32 = 10_000;
/// The smallest default page, however many vCenters.
pub const VCENTER_MIN_PAGE_SIZE: u32 = 100;
pub const VCENTER_KEEP_ALIVE_SECONDS: u64 = 300;
/// Alarm events carry their alarm's definition (`alarmDetails`).
pub const VCENTER_ALARM_DETAILS: bool = true;
pub const CHECKPOINT_PERIOD_SECONDS: u64 = 5;
pub const MAX_REPLAY_AGE_SECONDS: u64 = 3600;
pub const WEBHOOK_MAX_BODY_BYTES: usize = 1024 * 1024;
pub const HORIZON_POLL_SECONDS: u64 = 1;
pub const HORIZON_PAGE_SIZE: u32 = 100;
pub const QUEUE_CAPACITY: usize = 1024;
pub const CONCURRENCY: usize = 8;
pub const KNATIVE_TIMEOUT_SECONDS: u64 = 10;
/// How long every processor retries a transient failure (`maxRetrySeconds`); `maxAttempts`
/// has no default (no limit but this).
pub const RETRY_BUDGET_SECONDS: u64 = 3600;
pub const OPENFAAS_TIMEOUT_SECONDS: u64 = 15;
pub const OPENFAAS_REFRESH_SECONDS: u64 = 10;
/// Attempts of one PutEvents call inside the AWS SDK (its standard retry mode), before the
/// shared policy takes over.
pub const EVENTBRIDGE_SDK_ATTEMPTS: u32 = 3;
pub const EVENTBRIDGE_RULE_REFRESH_SECONDS: u64 = 300;
/// AWS's PutEvents size rule: 256 KiB as AWS counts entries.
pub const EVENTBRIDGE_MAX_REQUEST_BYTES: usize = 256 * 1024;
/// Leader election's timing. client-go's defaults for core components are 15/10/2 s
/// (kubernetes/client-go tools/leaderelection); a standby takes over at most a lease duration
/// plus one retry period (with its 20 % jitter) after the leader's last renewal, so 12/8/2 s
/// bounds a takeover at 14.4 s: within the 15 s operators are promised, with client-go's
/// ratios kept (renew deadline > 1.2 × retry period, lease duration > renew deadline).
pub const LEASE_DURATION_SECONDS: u64 = 12;
pub const RENEW_DEADLINE_SECONDS: u64 = 8;
pub const RETRY_PERIOD_SECONDS: u64 = 2;
/// The Leases' name prefix (`leaderElection.leaseNamePrefix`).
pub const LEASE_NAME_PREFIX: &str = "event-router";
/// The checkpoint ConfigMap (`checkpointConfigMap`); the Role in
/// manifests/examples/cluster/leader-election.yaml grants get and update on this name only.
pub const CHECKPOINT_CONFIG_MAP: &str = "event-router-checkpoints";

/// One default: where it is in the config (the JSON Schema definition and property) and why.
pub struct Default {
    pub definition: &'static str,
    pub property: &'static str,
    pub value: u64,
    pub what: &'static str,
}

const fn d(definition: &'static str, property: &'static str, value: u64, what: &'static str) -> Default {
    Default {
        definition,
        property,
        value,
        what,
    }
}

pub const DEFAULTS: &[Default] = &[
    d(
        "RouterConfig",
        "shutdownGraceSeconds",
        SHUTDOWN_GRACE_SECONDS,
        "seconds queued deliveries may still take after SIGTERM or SIGHUP",
    ),
    d(
        "VCenterConfig",
        "pageSize",
        VCENTER_PAGE_SIZE as u64,
        "events per collector page (with more than 10 vCenters: 10000 / their number, at least 100)",
    ),
    d(
        "VCenterConfig",
        "keepAliveSeconds",
        VCENTER_KEEP_ALIVE_SECONDS,
        "seconds between session keep-alives",
    ),
    d(
        "VCenterConfig",
        "checkpointPeriodSeconds",
        CHECKPOINT_PERIOD_SECONDS,
        "seconds between checkpoint writes (VEBA's)",
    ),
    d(
        "VCenterConfig",
        "maxReplayAgeSeconds",
        MAX_REPLAY_AGE_SECONDS,
        "how far back before vCenter's time a resume reads",
    ),
    d(
        "WebhookConfig",
        "maxBodyBytes",
        WEBHOOK_MAX_BODY_BYTES as u64,
        "largest request body (larger gets 413)",
    ),
    d(
        "HorizonConfig",
        "pollIntervalSeconds",
        HORIZON_POLL_SECONDS,
        "seconds between polls (VEBA's)",
    ),
    d(
        "HorizonConfig",
        "pageSize",
        HORIZON_PAGE_SIZE as u64,
        "audit events per page",
    ),
    d(
        "ProcessorConfig",
        "queueCapacity",
        QUEUE_CAPACITY as u64,
        "events that may wait for a processor",
    ),
    d(
        "ProcessorConfig",
        "concurrency",
        CONCURRENCY as u64,
        "deliveries in flight at once, never two of one object (1: one at a time, in total order)",
    ),
    d(
        "KnativeConfig",
        "timeoutSeconds",
        KNATIVE_TIMEOUT_SECONDS,
        "seconds before one request is abandoned",
    ),
    d(
        "KnativeConfig",
        "maxRetrySeconds",
        RETRY_BUDGET_SECONDS,
        "seconds a transient failure (no connection, timeout, 408, 409, 429, 5xx) is retried, at most 30 s apart, before the event is dead-lettered (set maxAttempts to limit the attempts too)",
    ),
    d(
        "OpenFaasConfig",
        "timeoutSeconds",
        OPENFAAS_TIMEOUT_SECONDS,
        "seconds before one invocation is abandoned",
    ),
    d(
        "OpenFaasConfig",
        "maxRetrySeconds",
        RETRY_BUDGET_SECONDS,
        "seconds a transient failure is retried per function and event (set maxAttempts to limit the attempts too)",
    ),
    d(
        "OpenFaasConfig",
        "refreshSeconds",
        OPENFAAS_REFRESH_SECONDS,
        "seconds between re-reads of the function list",
    ),
    d(
        "AwsEventBridgeConfig",
        "maxRetrySeconds",
        RETRY_BUDGET_SECONDS,
        "seconds a failed call or entry is retried (throttling, 5xx, no connection; set maxAttempts to limit the attempts too)",
    ),
    d(
        "AwsEventBridgeConfig",
        "ruleRefreshSeconds",
        EVENTBRIDGE_RULE_REFRESH_SECONDS,
        "seconds between re-reads of the rules' patterns",
    ),
    d(
        "AwsEventBridgeConfig",
        "maxRequestBytes",
        EVENTBRIDGE_MAX_REQUEST_BYTES as u64,
        "PutEvents request size limit (AWS's rule)",
    ),
    d(
        "LeaderElectionConfig",
        "leaseDurationSeconds",
        LEASE_DURATION_SECONDS,
        "seconds a standby waits after it last saw the Lease renewed before it takes over",
    ),
    d(
        "LeaderElectionConfig",
        "renewDeadlineSeconds",
        RENEW_DEADLINE_SECONDS,
        "seconds a leader tries to renew before it stops streaming (less than leaseDurationSeconds)",
    ),
    d(
        "LeaderElectionConfig",
        "retryPeriodSeconds",
        RETRY_PERIOD_SECONDS,
        "seconds between renewals, and between a standby's tries",
    ),
];

/// Puts each default into the JSON Schema as its property's `default`.
/// The stated default of `definition.property` (for example `KnativeConfig`, `maxAttempts`).
pub fn value(definition: &str, property: &str) -> Option<u64> {
    DEFAULTS
        .iter()
        .find(|d| d.definition == definition && d.property == property)
        .map(|d| d.value)
}

pub fn annotate(schema: &mut serde_json::Value) {
    for def in DEFAULTS {
        let root = schema.get("title").and_then(|t| t.as_str()) == Some(def.definition);
        let target = if root {
            schema.get_mut("properties")
        } else {
            schema
                .get_mut("definitions")
                .and_then(|d| d.get_mut(def.definition))
                .and_then(|d| d.get_mut("properties"))
        };
        if let Some(p) = target
            .and_then(|p| p.get_mut(def.property))
            .and_then(|p| p.as_object_mut())
        {
            p.insert("default".into(), def.value.into());
        }
    }
}

/// The README's table of defaults (between its markers).
pub fn markdown() -> String {
    let mut s = String::from("<!-- BEGIN ROUTER DEFAULTS (generated: event-router defaults) -->\n| key | default | what |\n| --- | --- | --- |\n");
    for def in DEFAULTS {
        let section = match def.definition {
            "RouterConfig" => String::new(),
            "VCenterConfig" => "vcenter.".into(),
            "WebhookConfig" => "webhook.".into(),
            "HorizonConfig" => "horizon.".into(),
            "ProcessorConfig" => "eventProcessor.".into(),
            "KnativeConfig" => "knative.".into(),
            "OpenFaasConfig" => "openfaas.".into(),
            "AwsEventBridgeConfig" => "awsEventBridge.".into(),
            "LeaderElectionConfig" => "leaderElection.".into(),
            other => format!("{other}."),
        };
        s.push_str(&format!(
            "| `{section}{}` | {} | {} |\n",
            def.property, def.value, def.what
        ));
    }
    s.push_str("<!-- END ROUTER DEFAULTS -->");
    s
}

/// A vCenter's default page size when the router streams from `vcenters` of them. Each stream
/// holds up to two pages while it waits for room in the queues (the newest page and a
/// ReadNextEvents batch, as text), so the default shrinks as vCenters are added: in `make
/// bench`, 50 vCenters draining backlogs at once peaked at 133 MiB with 1000-event pages and
/// at 47 MiB with 200-event ones, at the same rate.
pub fn vcenter_page_size(vcenters: usize) -> u32 {
    let share = VCENTER_PAGES_EVENTS / u32::try_from(vcenters.max(1)).unwrap_or(u32::MAX);
    share.clamp(VCENTER_MIN_PAGE_SIZE, VCENTER_PAGE_SIZE)
}
