//! The OpenFaaS processor (`type: openfaas`): functions subscribe with a `topic` annotation
//! (comma-separated event names, matched on the event name, as VEBA's connector did); the
//! function list is read from the gateway's `/system/functions` and re-read on a timer. Each
//! subscribed function gets the structured CloudEvent, synchronously (`/function/<name>`) or
//! through the gateway's queue (`/async-function/<name>`), with a timeout per call and retries
//! with backoff on connection errors, 429 and 5xx.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use cloudevents::{AttributesReader, Event};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use super::{BoxFuture, Handled, ProcessError, Processor};
use crate::client_error::describe;
use crate::cloudevent::{event_name, Structured};
use crate::config::{defaults, OpenFaasConfig};
use crate::delivery::client::{auth_header, Destination, Poster};
use crate::delivery::retry::{self, classify_status, Backoff, Final, Outcome};
use crate::tls::{self, TlsOptions};

/// Functions by subscribed event name; `None` until the list was read once.
type Topics = Option<BTreeMap<String, Vec<String>>>;

/// Why the processor could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenFaasError {
    #[error("openfaas address {0:?} is not a valid URL")]
    BadUrl(String),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

#[derive(Clone)]
struct Gateway {
    /// For the function list.
    client: reqwest::Client,
    /// For invocations: the client every delivery POSTs through.
    poster: Arc<Poster>,
    base: url::Url,
    /// The `Authorization` header for `auth.basicAuth`, made once.
    auth: Option<HeaderValue>,
}

impl Gateway {
    /// `path` under the gateway's address.
    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base.as_str().trim_end_matches('/'), path)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.client.request(method, self.url(path));
        match &self.auth {
            Some(auth) => req.header(AUTHORIZATION, auth.clone()),
            None => req,
        }
    }

    /// The gateway's address for messages (no credentials).
    fn shown(&self) -> String {
        crate::redact::url_credentials(self.base.as_str()).into_owned()
    }

    /// Reads `/system/functions` into event name -> function names.
    async fn topics(&self) -> Result<BTreeMap<String, Vec<String>>, GatewayError> {
        let gateway = self.shown();
        let resp = (self.request(reqwest::Method::GET, "system/functions").send().await).map_err(|e| {
            GatewayError::Unreachable {
                gateway: gateway.clone(),
                detail: describe(&e),
            }
        })?;
        let status = resp.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(GatewayError::Credentials { gateway });
        }
        if !status.is_success() {
            return Err(GatewayError::Status {
                gateway,
                status: status.as_u16(),
            });
        }
        let list: serde_json::Value = (resp.json().await).map_err(|e| GatewayError::NotJson(e.to_string()))?;
        let mut topics: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in list.as_array().map(Vec::as_slice).unwrap_or_default() {
            let Some(name) = f["name"].as_str() else { continue };
            let namespace = f["namespace"].as_str().filter(|n| !n.is_empty());
            let target = match namespace {
                Some(ns) if ns != "openfaas-fn" => format!("{name}.{ns}"),
                _ => name.to_string(),
            };
            let annotation = f["annotations"]["topic"].as_str().unwrap_or("");
            for topic in annotation.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                topics.entry(topic.to_string()).or_default().push(target.clone());
            }
        }
        Ok(topics)
    }
}

/// Why the function list could not be read (the router keeps the last one and tries again).
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("cannot read the function list from {gateway}: {detail}")]
    Unreachable { gateway: String, detail: String },
    #[error("the gateway {gateway} refused the credentials (HTTP 401): fix openfaas.auth.basicAuth")]
    Credentials { gateway: String },
    #[error("the gateway {gateway} answered HTTP {status} for /system/functions")]
    Status { gateway: String, status: u16 },
    #[error("the function list is not JSON: {0}")]
    NotJson(String),
}

/// Why an invocation cannot be sent at all (refused, never retried).
#[derive(Debug, thiserror::Error)]
enum InvocationError {
    #[error("{0} is not a valid URL")]
    Url(String),
    #[error("the event name {0:?} cannot be an X-Topic header")]
    Topic(String),
}

pub struct OpenFaas {
    gateway: Gateway,
    is_async: bool,
    backoff: Backoff,
    topics: Arc<RwLock<Topics>>,
    refresher: JoinHandle<()>,
}

impl Drop for OpenFaas {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

impl OpenFaas {
    /// Builds the client and reads the function list once (a failure is logged and retried by
    /// the refresh; events fail until the list was read).
    pub async fn new(cfg: &OpenFaasConfig) -> Result<OpenFaas, OpenFaasError> {
        let base = url::Url::parse(&cfg.address).map_err(|_| OpenFaasError::BadUrl(cfg.address.clone()))?;
        let tls = TlsOptions {
            insecure: cfg.insecure_ssl,
            root_cas: vec![],
        };
        let timeout = Duration::from_secs(cfg.timeout_seconds.unwrap_or(defaults::OPENFAAS_TIMEOUT_SECONDS));
        let client = tls::http_client(&tls, timeout)?;
        let destination = Destination::new(base.clone()).ok_or_else(|| OpenFaasError::BadUrl(cfg.address.clone()))?;
        let poster = Arc::new(Poster::new(&destination, &tls, timeout)?);
        let auth = auth_header(cfg.auth.as_ref());
        let gateway = Gateway {
            client,
            poster,
            base,
            auth,
        };
        let topics = Arc::new(RwLock::new(None));
        refresh_once(&gateway, &topics).await;
        let every = Duration::from_secs(cfg.refresh_seconds.unwrap_or(defaults::OPENFAAS_REFRESH_SECONDS));
        let refresher = tokio::spawn(refresh(gateway.clone(), topics.clone(), every));
        Ok(OpenFaas {
            gateway,
            is_async: cfg.is_async,
            backoff: Backoff::configured(cfg.max_attempts, cfg.max_retry_seconds),
            topics,
            refresher,
        })
    }

    /// Where an invocation goes and its headers; an error names what cannot be sent (a function
    /// name that makes no URL, an event name that cannot be a header).
    fn invocation(&self, path: &str, topic: &str) -> Result<(Destination, HeaderMap), InvocationError> {
        let url = self.gateway.url(path);
        let to = url::Url::parse(&url)
            .ok()
            .and_then(Destination::new)
            .ok_or_else(|| InvocationError::Url(crate::redact::url_credentials(&url).into_owned()))?;
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/cloudevents+json; charset=utf-8"),
        );
        let topic = HeaderValue::from_str(topic).map_err(|_| InvocationError::Topic(topic.to_string()))?;
        headers.insert("x-topic", topic);
        headers.insert("x-connector", HeaderValue::from_static("event-router"));
        if let Some(auth) = &self.gateway.auth {
            headers.insert(AUTHORIZATION, auth.clone());
        }
        Ok((to, headers))
    }

    /// One function's invocation with the shared retry loop.
    async fn invoke(&self, function: &str, topic: &str, body: &Bytes, id: &str) -> Final {
        let path = if self.is_async {
            format!("async-function/{function}")
        } else {
            format!("function/{function}")
        };
        let (to, headers) = match self.invocation(&path, topic) {
            Ok(r) => r,
            Err(e) => {
                error!(function, event_id = id, "cannot invoke the function: {e}");
                return Final::Rejected {
                    attempts: 1,
                    detail: e.to_string(),
                };
            }
        };
        let end = retry::run(
            &self.backoff,
            |_| async {
                match self.gateway.poster.post(&to, &headers, body).await {
                    Ok(status) => classify_status(status),
                    Err(e) => Outcome::Retryable(e.to_string()),
                }
            },
            |attempt, detail, wait| {
                warn!(
                    function,
                    event_id = id,
                    attempt,
                    "invocation failed ({detail}); retrying in {wait:?}"
                )
            },
        )
        .await;
        match &end {
            Final::Delivered => {}
            Final::Rejected { detail, .. } => {
                error!(
                    function,
                    event_id = id,
                    "function refused the event ({detail}); not retried"
                )
            }
            Final::Exhausted { attempts, last } => {
                error!(function, event_id = id, attempts, "giving up on the event: {last}")
            }
        }
        end
    }

    async fn deliver(&self, event: &Event) -> Result<Handled, ProcessError> {
        let id = event.id().to_string();
        let topic = event_name(event);
        let functions = match self.topics.read() {
            Ok(t) => t.as_ref().map(|m| m.get(&topic).cloned().unwrap_or_default()),
            Err(p) => p
                .into_inner()
                .as_ref()
                .map(|m| m.get(&topic).cloned().unwrap_or_default()),
        };
        let Some(functions) = functions else {
            return Err(ProcessError::Exhausted {
                id,
                attempts: 0,
                last: format!("the function list of {} has not been read yet", self.gateway.base),
            });
        };
        if functions.is_empty() {
            return Ok(Handled::Skipped);
        }
        let body = serde_json::to_vec(&Structured(event)).map_err(|e| ProcessError::Rejected {
            id: id.clone(),
            detail: format!("cannot write the event as JSON: {e}"),
        })?;
        // Shared by every function and attempt, not copied.
        let body = Bytes::from(body);
        // Every subscribed function; the event failed when one did: refused when every failure
        // was a refusal (retrying cannot help), exhausted otherwise, with the real attempt count.
        let (mut refused, mut exhausted, mut attempts) = (Vec::new(), Vec::new(), 0);
        for f in &functions {
            match self.invoke(f, &topic, &body, &id).await {
                Final::Delivered => {}
                Final::Rejected { detail, .. } => refused.push(format!("function {f}: {detail}")),
                Final::Exhausted { attempts: n, last } => {
                    attempts = attempts.max(n);
                    exhausted.push(format!("function {f}: {last}"));
                }
            }
        }
        match (refused.is_empty(), exhausted.is_empty()) {
            (true, true) => Ok(Handled::Sent),
            (false, true) => Err(ProcessError::Rejected {
                id,
                detail: refused.join("; "),
            }),
            _ => Err(ProcessError::Exhausted {
                id,
                attempts,
                last: exhausted.into_iter().chain(refused).collect::<Vec<_>>().join("; "),
            }),
        }
    }
}

async fn refresh_once(gateway: &Gateway, topics: &RwLock<Topics>) -> bool {
    match gateway.topics().await {
        Ok(t) => {
            let changed = topics.read().map(|old| old.as_ref() != Some(&t)).unwrap_or(true);
            if changed {
                let subscribed: usize = t.values().map(Vec::len).sum();
                info!(gateway = %gateway.base, topics = ?t.keys().collect::<Vec<_>>(), "function topics updated ({subscribed} subscriptions)");
            }
            if let Ok(mut w) = topics.write() {
                *w = Some(t);
            }
            true
        }
        Err(e) => {
            warn!("{e}; retrying");
            false
        }
    }
}

async fn refresh(gateway: Gateway, topics: Arc<RwLock<Topics>>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        if !refresh_once(&gateway, &topics).await {
            debug!("keeping the function topics read before");
        }
    }
}

impl Processor for OpenFaas {
    fn process<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), ProcessError>> {
        Box::pin(async move { self.deliver(event).await.map(|_| ()) })
    }

    fn process_batch<'a>(&'a self, events: &'a [Arc<Event>]) -> BoxFuture<'a, Vec<Result<Handled, ProcessError>>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(events.len());
            for e in events {
                out.push(self.deliver(e).await);
            }
            out
        })
    }

    fn kind(&self) -> &'static str {
        "openfaas"
    }

    fn address(&self) -> String {
        crate::redact::url_credentials(self.gateway.base.as_str()).into_owned()
    }
}
