//! The Knative processor: CloudEvents over HTTP to a Broker, Service or any URL, binary or
//! structured, with a timeout on every request and retries with backoff and jitter.

use std::time::Duration;

use bytes::Bytes;
use cloudevents::{AttributesReader, Event};
use tracing::{error, warn};

use super::k8s::{self, KubeEnv};
use super::{BoxFuture, ProcessError, Processor};
use crate::config::{defaults, Encoding, KnativeConfig};
use crate::delivery::client::{auth_header, Destination, Poster};
use crate::delivery::http::encode;
use crate::delivery::retry::{self, classify_status, Backoff, Final, Outcome};
use crate::tls::{self, TlsOptions};

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

pub struct Knative {
    client: Poster,
    destination: Destination,
    encoding: Encoding,
    backoff: Backoff,
    /// The `Authorization` header for `auth.basicAuth`, made once.
    auth: Option<reqwest::header::HeaderValue>,
}

impl Knative {
    /// Resolves the destination (through the Kubernetes API for a `ref`) and builds the client.
    pub async fn new(cfg: &KnativeConfig) -> Result<Knative, KnativeError> {
        let base = match &cfg.destination.reference {
            Some(r) => Some(k8s::resolve(r, &KubeEnv::from_env()?).await?),
            None => None,
        };
        let uri = cfg.destination.uri.as_ref().map(|u| u.to_url_string());
        let text = match (base, uri) {
            (Some(b), Some(u)) => url::Url::parse(&b)
                .and_then(|b| b.join(&u))
                .map(|u| u.to_string())
                .map_err(|e| KnativeError::BadUrl {
                    url: u.clone(),
                    detail: e.to_string(),
                })?,
            (Some(b), None) => b,
            (None, Some(u)) => u,
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
        let timeout = Duration::from_secs(cfg.timeout_seconds.unwrap_or(defaults::KNATIVE_TIMEOUT_SECONDS));
        let client = Poster::new(
            &destination,
            &TlsOptions {
                insecure: cfg.insecure_ssl,
                root_cas: vec![],
            },
            timeout,
        )?;
        let auth = auth_header(cfg.auth.as_ref());
        let backoff = Backoff {
            max_attempts: cfg.max_attempts.unwrap_or(defaults::KNATIVE_MAX_ATTEMPTS),
            max_elapsed: cfg.max_retry_seconds.map(Duration::from_secs),
            ..Backoff::default()
        };
        Ok(Knative {
            client,
            destination,
            encoding: cfg.encoding,
            backoff,
            auth,
        })
    }

    /// One request; the body is shared between attempts, not copied.
    async fn attempt(&self, headers: &reqwest::header::HeaderMap, body: &Bytes) -> Outcome {
        match self.client.post(&self.destination, headers, body).await {
            Ok(status) => classify_status(status),
            Err(e) => Outcome::Retryable(e.to_string()),
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
            let end = retry::run(
                &self.backoff,
                |_| self.attempt(&headers, &body),
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
        crate::redact::url_credentials(self.destination.url().as_str()).into_owned()
    }
}
