//! The Knative processor: CloudEvents over HTTP to a Broker, Service or any URL, binary or
//! structured, with a timeout on every request and retries with backoff and jitter. A `ref`
//! destination is resolved through the Kubernetes API; in the running router a ref that has no
//! address yet (a Broker not Ready on a busy first boot, its RBAC not applied yet, the API not up)
//! does not stop the start: the processor is not ready (`/readyz` says why), events wait for the
//! address, and it is looked up again with backoff until it resolves, then every
//! [`RERESOLVE`] so a changed address is followed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cloudevents::{AttributesReader, Event};
use tokio::sync::watch;
use tracing::{error, info, warn};

use super::k8s;
use super::{BoxFuture, ProcessError, Processor};
use crate::apiserver::KubeEnv;
use crate::config::{defaults, Encoding, KReference, KnativeConfig};
use crate::delivery::client::{auth_header, Destination, Poster};
use crate::delivery::http::encode;
use crate::delivery::retry::{self, classify_status, Backoff, Final, Outcome};
use crate::tls::{self, TlsOptions};

/// How often a resolved `ref` is looked up again.
pub const RERESOLVE: Duration = Duration::from_secs(60);
/// The longest wait between lookups while a `ref` has no address.
const UNRESOLVED_RETRY_MAX: Duration = Duration::from_secs(30);

/// Why the processor could not start.
#[derive(Debug, thiserror::Error)]
pub enum KnativeError {
    #[error(transparent)]
    Resolve(#[from] k8s::ResolveError),
    #[error("knative destination {url:?} is not a valid URL: {detail}")]
    BadUrl { url: String, detail: String },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// When a `ref` destination must resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Now, or the start fails (`dlq replay`: nothing to wait for).
    Now,
    /// Now if it can; else in the background while events wait (the running router).
    Background,
}

/// Where events go: the URL and the client for it.
struct Target {
    destination: Destination,
    client: Poster,
}

/// What a target is built from besides its URL.
#[derive(Clone)]
struct TargetSettings {
    /// `destination.uri` joined to a resolved ref's address.
    uri: Option<String>,
    tls: TlsOptions,
    timeout: Duration,
}

impl TargetSettings {
    fn build(&self, base: Option<String>) -> Result<Target, KnativeError> {
        let text = match (base, self.uri.as_ref()) {
            (Some(b), Some(u)) => url::Url::parse(&b)
                .and_then(|b| b.join(u))
                .map(|u| u.to_string())
                .map_err(|e| KnativeError::BadUrl {
                    url: u.clone(),
                    detail: e.to_string(),
                })?,
            (Some(b), None) => b,
            (None, Some(u)) => u.clone(),
            (None, None) => String::new(),
        };
        let url = url::Url::parse(&text).map_err(|e| KnativeError::BadUrl {
            url: text.clone(),
            detail: e.to_string(),
        })?;
        let destination = Destination::new(url).ok_or_else(|| KnativeError::BadUrl {
            url: crate::redact::url_credentials(&text).into_owned(),
            detail: "not a valid HTTP request target, or its user information is not UTF-8 once percent-decoded".into(),
        })?;
        let client = Poster::new(&destination, &self.tls, self.timeout)?;
        Ok(Target { destination, client })
    }
}

pub struct Knative {
    target: watch::Receiver<Option<Arc<Target>>>,
    /// Why there is no target yet (shown by `/readyz`).
    waiting: Arc<Mutex<Option<String>>>,
    /// What `address()` says while there is no target.
    unresolved: String,
    encoding: Encoding,
    backoff: Backoff,
    /// The `Authorization` header for `auth.basicAuth`, made once.
    auth: Option<reqwest::header::HeaderValue>,
    resolver: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Knative {
    fn drop(&mut self) {
        if let Some(r) = &self.resolver {
            r.abort();
        }
    }
}

impl Knative {
    /// Resolves the destination (through the Kubernetes API for a `ref`; see [`Start`]) and
    /// builds the client.
    pub async fn new(cfg: &KnativeConfig, start: Start) -> Result<Knative, KnativeError> {
        let settings = TargetSettings {
            uri: cfg.destination.uri.as_ref().map(|u| u.to_url_string()),
            tls: TlsOptions {
                insecure: cfg.insecure_ssl,
                root_cas: vec![],
            },
            timeout: Duration::from_secs(cfg.timeout_seconds.unwrap_or(defaults::KNATIVE_TIMEOUT_SECONDS)),
        };
        let backoff = Backoff::configured(cfg.max_attempts, cfg.max_retry_seconds);
        let waiting = Arc::new(Mutex::new(None));
        let (target, resolver, unresolved) = match &cfg.destination.reference {
            None => {
                let (_, rx) = watch::channel(Some(Arc::new(settings.build(None)?)));
                (rx, None, String::new())
            }
            Some(r) => {
                let env = k8s::kube_env()?;
                let what = format!("{} {}/{}", r.kind, r.namespace, r.name);
                let first = match k8s::resolve(r, &env).await {
                    Ok(base) => Some(Arc::new(settings.build(Some(base))?)),
                    Err(e) if start == Start::Background && e.may_pass() => {
                        warn!(destination = %what, "{e}: the router runs, not ready, and events wait until it has an address (looked up again with backoff)");
                        set(&waiting, Some(e.to_string()));
                        None
                    }
                    Err(e) => return Err(e.into()),
                };
                let (tx, rx) = watch::channel(first);
                let resolver = (start == Start::Background).then(|| {
                    tokio::spawn(resolve_in_background(
                        r.clone(),
                        env,
                        settings.clone(),
                        tx,
                        waiting.clone(),
                    ))
                });
                (rx, resolver, format!("{what} (no address yet)"))
            }
        };
        Ok(Knative {
            target,
            waiting,
            unresolved,
            encoding: cfg.encoding,
            backoff,
            auth: auth_header(cfg.auth.as_ref()),
            resolver,
        })
    }

    /// The target, waiting for the first address when there is none yet.
    async fn target(&self) -> Option<Arc<Target>> {
        let mut rx = self.target.clone();
        let t = rx.wait_for(Option::is_some).await.ok()?;
        t.clone()
    }

    /// One request; the body is shared between attempts, not copied.
    async fn attempt(&self, to: &Target, headers: &reqwest::header::HeaderMap, body: &Bytes) -> Outcome {
        match to.client.post(&to.destination, headers, body).await {
            Ok(status) => classify_status(status),
            Err(e) => Outcome::Retryable(e.to_string()),
        }
    }
}

fn set(waiting: &Mutex<Option<String>>, why: Option<String>) {
    if let Ok(mut w) = waiting.lock() {
        *w = why;
    }
}

/// Looks `r` up again: with capped backoff while it has no address, every [`RERESOLVE`] once it
/// has one; publishes each new address. Ends when the processor is gone.
async fn resolve_in_background(
    r: KReference,
    env: KubeEnv,
    settings: TargetSettings,
    tx: watch::Sender<Option<Arc<Target>>>,
    waiting: Arc<Mutex<Option<String>>>,
) {
    let what = format!("{} {}/{}", r.kind, r.namespace, r.name);
    let mut failures: u32 = 0;
    let mut last_error = String::new();
    loop {
        let resolved = tx.borrow().is_some();
        let wait = if resolved {
            RERESOLVE
        } else {
            Duration::from_millis(500u64 << failures.min(6)).min(UNRESOLVED_RETRY_MAX)
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = tx.closed() => return,
        }
        match k8s::resolve(&r, &env).await {
            Ok(base) => {
                failures = 0;
                last_error.clear();
                let current = tx.borrow().as_ref().map(|t| t.destination.url().to_string());
                let fresh = match settings.build(Some(base)) {
                    Ok(t) => t,
                    Err(e) => {
                        error!(destination = %what, "{e}");
                        continue;
                    }
                };
                if current.as_deref() != Some(fresh.destination.url().as_str()) {
                    info!(destination = %what, url = %crate::redact::url_credentials(fresh.destination.url().as_str()), "{}", if current.is_some() { "the destination's address changed: delivering there" } else { "the destination has an address: delivering" });
                    set(&waiting, None);
                    tx.send_replace(Some(Arc::new(fresh)));
                }
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let text = e.to_string();
                if !resolved {
                    if text != last_error {
                        warn!(destination = %what, "still no address: {text}");
                    }
                    set(&waiting, Some(text.clone()));
                } else if text != last_error {
                    // Keep delivering to the last address; say once what the lookup answered.
                    warn!(destination = %what, "cannot look the destination up again ({text}); delivering to its last address");
                }
                last_error = text;
            }
        }
    }
}

impl Processor for Knative {
    fn process<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), ProcessError>> {
        Box::pin(async move {
            let (mut headers, body) = encode(event, self.encoding)?;
            if let Some(auth) = &self.auth {
                headers.insert(reqwest::header::AUTHORIZATION, auth.clone());
            }
            let body = Bytes::from(body);
            let id = event.id().to_string();
            let Some(to) = self.target().await else {
                return Err(ProcessError::Exhausted {
                    id,
                    attempts: 0,
                    last: format!("{} never got an address", self.unresolved),
                });
            };
            let end = retry::run(
                &self.backoff,
                |_| self.attempt(&to, &headers, &body),
                |attempt, detail, wait| {
                    warn!(sink = %self.address(), event_id = %id, attempt, "delivery failed ({detail}); retrying in {wait:?}")
                },
            )
            .await;
            match end {
                Final::Delivered => Ok(()),
                Final::Rejected { detail, .. } => {
                    error!(
                        sink = %self.address(), event_id = %id, "sink rejected the event ({detail}): it will not be retried; check that {} accepts {:?}-mode CloudEvents and look at the sink's logs",
                        self.address(), self.encoding
                    );
                    Err(ProcessError::Rejected { id, detail })
                }
                Final::Exhausted { attempts, last } => {
                    error!(sink = %self.address(), event_id = %id, attempts, "giving up on the event: {last}; check that the sink is up and reachable");
                    Err(ProcessError::Exhausted { id, attempts, last })
                }
            }
        })
    }

    fn kind(&self) -> &'static str {
        "knative"
    }

    fn address(&self) -> String {
        match self.target.borrow().as_ref() {
            Some(t) => crate::redact::url_credentials(t.destination.url().as_str()).into_owned(),
            None => self.unresolved.clone(),
        }
    }

    fn not_ready(&self) -> Option<String> {
        if self.target.borrow().is_some() {
            return None;
        }
        let why = self.waiting.lock().ok().and_then(|w| w.clone());
        Some(why.unwrap_or_else(|| format!("{}: no address yet", self.unresolved)))
    }
}
