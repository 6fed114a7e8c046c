//! The AWS EventBridge processor (`type: aws_event_bridge`): the official AWS SDK for Rust,
//! static keys or the SDK's default credential chain, the configured rules' event patterns
//! matched locally (so only events some rule wants leave the appliance), and PutEvents in
//! requests of up to 10 entries within a size limit, with failed entries sent again.

mod entries;
mod rules;
mod send;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_eventbridge::config::Credentials;
use aws_sdk_eventbridge::Client;
use cloudevents::{AttributesReader, Event};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use super::{BoxFuture, Handled, ProcessError, Processor};
use crate::cloudevent::Structured;
use crate::config::{defaults, AuthType, AwsEventBridgeConfig};
use crate::delivery::retry::Backoff;
use crate::delivery::retry::Final;
use entries::{envelope, requests, Entry, MAX_ENTRIES};
use rules::RuleSet;
pub use rules::RulesError;

/// Default PutEvents request-size limit: 256 KiB.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = defaults::EVENTBRIDGE_MAX_REQUEST_BYTES;
const DEFAULT_REFRESH: Duration = Duration::from_secs(defaults::EVENTBRIDGE_RULE_REFRESH_SECONDS);

pub struct EventBridge {
    client: Client,
    bus: String,
    region: String,
    /// Swapped whole by the refresh; a batch holds its own `Arc` while it runs.
    rules: Arc<RwLock<Arc<RuleSet>>>,
    max_bytes: usize,
    backoff: Backoff,
    refresher: JoinHandle<()>,
}

impl Drop for EventBridge {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

impl EventBridge {
    /// Builds the client, reads the rules' patterns (failing when one cannot be used) and
    /// starts the periodic re-read.
    pub async fn new(cfg: &AwsEventBridgeConfig) -> Result<EventBridge, RulesError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(cfg.region.clone()))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(defaults::EVENTBRIDGE_SDK_ATTEMPTS)
                    .with_initial_backoff(Duration::from_millis(200)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .build(),
            );
        if let (AuthType::AwsAccessKey, Some(k)) = (cfg.auth.kind, &cfg.auth.aws_access_key_auth) {
            loader = loader.credentials_provider(Credentials::new(
                k.access_key.clone(),
                k.secret_key.expose().to_string(),
                None,
                None,
                "event-router config",
            ));
        }
        if let Some(endpoint) = &cfg.endpoint {
            loader = loader.endpoint_url(endpoint.clone());
        }
        let sdk = loader.load().await;
        let client = Client::new(&sdk);
        let arns = cfg.all_rule_arns();
        let set = rules::load(&client, &cfg.event_bus, &arns).await?;
        info!(bus = %cfg.event_bus, rules = ?set.arns(), "read the event patterns of {} rule(s)", arns.len());
        let rules = Arc::new(RwLock::new(Arc::new(set)));
        let every = cfg
            .rule_refresh_seconds
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_REFRESH);
        let refresher = tokio::spawn(refresh(
            client.clone(),
            cfg.event_bus.clone(),
            arns,
            rules.clone(),
            every,
        ));
        Ok(EventBridge {
            client,
            bus: cfg.event_bus.clone(),
            region: cfg.region.clone(),
            rules,
            max_bytes: cfg.max_request_bytes.unwrap_or(DEFAULT_MAX_REQUEST_BYTES),
            backoff: Backoff::configured(cfg.max_attempts, cfg.max_retry_seconds),
            refresher,
        })
    }

    /// The entry for the event when a rule wants it; the error is an event that cannot be
    /// written as JSON.
    fn select(&self, rules: &RuleSet, index: usize, event: &Event) -> Result<Option<Entry>, ProcessError> {
        let detail = serde_json::to_value(Structured(event)).map_err(|e| ProcessError::Rejected {
            id: event.id().to_string(),
            detail: format!("cannot write the event as JSON: {e}"),
        })?;
        let wanted = rules.matches(&envelope(event, &detail, &self.region));
        Ok(wanted.then(|| Entry::new(index, event, &detail)))
    }

    async fn send(&self, events: &[Arc<Event>]) -> Vec<Result<Handled, ProcessError>> {
        let rules = match self.rules.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let mut results: Vec<Option<Result<Handled, ProcessError>>> = (0..events.len()).map(|_| None).collect();
        let mut chosen = Vec::new();
        for (i, event) in events.iter().enumerate() {
            match self.select(&rules, i, event) {
                Ok(Some(entry)) => chosen.push(entry),
                Ok(None) => results[i] = Some(Ok(Handled::Skipped)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        let (batches, too_big) = requests(chosen, self.max_bytes);
        for e in too_big {
            let id = events[e.index].id().to_string();
            error!(event_id = %id, size = e.size(), limit = self.max_bytes, "event is larger than the PutEvents request limit and cannot be sent; raise awsEventBridge.maxRequestBytes (AWS accepts up to 1 MiB)");
            results[e.index] = Some(Err(ProcessError::Rejected {
                id,
                detail: format!("entry of {} bytes exceeds maxRequestBytes {}", e.size(), self.max_bytes),
            }));
        }
        for batch in batches {
            debug!(bus = %self.bus, entries = batch.len(), "PutEvents");
            for (index, outcome) in send::put(&self.client, &self.bus, batch, &self.backoff).await {
                let id = events[index].id().to_string();
                results[index] = Some(match outcome {
                    Final::Delivered => Ok(Handled::Sent),
                    Final::Rejected { detail, .. } => {
                        error!(event_id = %id, "EventBridge refused the entry ({detail}); it will not be retried");
                        Err(ProcessError::Rejected { id, detail })
                    }
                    Final::Exhausted { attempts, last } => {
                        error!(event_id = %id, attempts, "giving up on the event: {last}");
                        Err(ProcessError::Exhausted { id, attempts, last })
                    }
                });
            }
        }
        (results.into_iter().enumerate())
            .map(|(i, r)| {
                r.unwrap_or_else(|| {
                    Err(ProcessError::Exhausted {
                        id: events[i].id().to_string(),
                        attempts: 0,
                        last: "no outcome recorded".into(),
                    })
                })
            })
            .collect()
    }
}

async fn refresh(client: Client, bus: String, arns: Vec<String>, rules: Arc<RwLock<Arc<RuleSet>>>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        match rules::load(&client, &bus, &arns).await {
            Ok(set) => {
                if let Ok(mut r) = rules.write() {
                    *r = Arc::new(set);
                }
                debug!(bus = %bus, "re-read the rules' event patterns");
            }
            Err(e) => warn!("{e}; keeping the patterns read before"),
        }
    }
}

impl Processor for EventBridge {
    fn process<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), ProcessError>> {
        Box::pin(async move {
            let one = [Arc::new(event.clone())];
            match self.send(&one).await.pop() {
                Some(Ok(_)) => Ok(()),
                Some(Err(e)) => Err(e),
                None => Ok(()),
            }
        })
    }

    fn max_batch(&self) -> usize {
        MAX_ENTRIES
    }

    fn process_batch<'a>(&'a self, events: &'a [Arc<Event>]) -> BoxFuture<'a, Vec<Result<Handled, ProcessError>>> {
        Box::pin(self.send(events))
    }

    fn kind(&self) -> &'static str {
        "aws_event_bridge"
    }

    fn address(&self) -> String {
        format!("{} ({})", self.bus, self.region)
    }
}

#[cfg(test)]
mod tests;
