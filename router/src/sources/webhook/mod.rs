//! The webhook source (`type: webhook`): an HTTP server that takes CloudEvents in binary,
//! structured and batch mode at the configured path, checks optional basic auth, limits the
//! body size, and answers only after the processors took each event: 200 when every
//! processor that selected it delivered it, 502 naming each failure otherwise. The requests in
//! flight hold at most [`MEMORY_BUDGET`] bytes: a body is charged its declared size (or
//! `maxBodyBytes` when it is not declared) while it is read, its events what they hold
//! ([`crate::cloudevent::cost`]) until every processor is done with them, even when the client
//! has gone. A request that finds no room waits for it as long as a body may take to arrive,
//! then gets 503, so no number of clients costs more.

pub mod decode;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use cloudevents::AttributesReader;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, info};

use crate::cloudevent::cost;
use crate::config::{AuthMethod, Secret, WebhookConfig};
use crate::http_auth;
use crate::http_server::{self, BodyError, Listeners, BODY_READ_TIMEOUT, CONN_LIMITS};
use crate::metrics::stats::ComponentStats;
use crate::pipeline::Fanout;

/// Default request-body limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = crate::config::defaults::WEBHOOK_MAX_BODY_BYTES;

/// The path events are accepted on, as VEBA derives it: slashes around it trimmed,
/// lowercased, `webhook` when empty.
pub fn route_path(configured: &str) -> String {
    let p = configured.trim().trim_matches('/').to_ascii_lowercase();
    format!("/{}", if p.is_empty() { "webhook" } else { &p })
}

/// Request bodies (and the events made of them) the webhook holds at once, in bytes.
pub const MEMORY_BUDGET: usize = 64 << 20;

/// The budget's unit: a permit is this many bytes.
const BUDGET_UNIT: usize = 1024;

struct Shared {
    /// [`MEMORY_BUDGET`] in [`BUDGET_UNIT`]s.
    budget: Arc<tokio::sync::Semaphore>,
    fanout: Arc<Fanout>,
    /// This provider's name: its line in each processor's queue.
    from: Arc<str>,
    stats: Arc<ComponentStats>,
    auth: Option<(String, Secret)>,
    max_body: usize,
    path: String,
}

/// A bound, not yet serving, webhook server.
pub struct WebhookSource {
    listener: TcpListener,
    path: String,
    auth: Option<(String, Secret)>,
    max_body: usize,
    stats: Arc<ComponentStats>,
}

impl WebhookSource {
    /// Binds the listener now (through `listeners`, which keeps it across reloads), so a taken
    /// port fails the start.
    pub async fn bind(
        prefix: &str,
        cfg: &WebhookConfig,
        name: &str,
        listeners: &mut Listeners,
    ) -> anyhow::Result<WebhookSource> {
        use anyhow::Context;
        let listener = listeners.bind(&cfg.bind_address).await.with_context(|| {
            format!(
                "cannot listen on {prefix}.bindAddress {}: is another process using it?",
                cfg.bind_address
            )
        })?;
        let path = route_path(&cfg.path);
        let local = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| cfg.bind_address.clone());
        let auth = cfg.auth.as_ref().and_then(AuthMethod::basic_credentials);
        let stats = ComponentStats::new("EventProvider", "webhook", name, &format!("http://{local}{path}"));
        Ok(WebhookSource {
            listener,
            path,
            auth,
            max_body: cfg.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            stats,
        })
    }

    pub fn stats(&self) -> Arc<ComponentStats> {
        self.stats.clone()
    }

    /// Serves until shutdown; open connections get `grace` to finish.
    pub async fn run(self, fanout: Arc<Fanout>, shutdown: watch::Receiver<bool>, grace: Duration) {
        info!(address = %self.stats.address, auth = self.auth.is_some(), "webhook listening for CloudEvents (binary, structured, batch)");
        let shared = Arc::new(Shared {
            budget: Arc::new(tokio::sync::Semaphore::new(MEMORY_BUDGET / BUDGET_UNIT)),
            fanout,
            from: self.stats.name.as_str().into(),
            stats: self.stats.clone(),
            auth: self.auth,
            max_body: self.max_body,
            path: self.path.clone(),
        });
        let app = Router::new()
            .route(&self.path, any(receive))
            .fallback(not_found)
            .with_state(shared);
        http_server::serve("webhook", self.listener, app, shutdown, grace, CONN_LIMITS).await;
    }
}

async fn not_found(State(s): State<Arc<Shared>>) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!("not found: POST CloudEvents to {}\n", s.path),
    )
        .into_response()
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn receive(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if let Some((user, pass)) = &s.auth {
        if !http_auth::authorized(&parts.headers, user, pass) {
            debug!("webhook request with missing or wrong credentials");
            return http_auth::challenge("event-router-webhook");
        }
    }
    match parts.method {
        Method::POST => {}
        Method::OPTIONS => return handshake(&parts.headers),
        _ => {
            return (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, "POST, OPTIONS")],
                "send CloudEvents with POST\n",
            )
                .into_response()
        }
    }
    // Room in the memory budget for this request's body and the most its events can hold once
    // read (the excess is given back after decoding), until it is answered.
    let declared = (parts.headers.get(header::CONTENT_LENGTH))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(s.max_body)
        .min(s.max_body);
    let room = match room(&s, declared + decoding_room(&parts.headers)).await {
        Ok(room) => room,
        Err(full) => return full,
    };
    // A client that sends its body slowly is cut off (408), so it holds no connection for long.
    let bytes = match http_server::read_body(&parts.headers, Body::new(body), s.max_body).await {
        Ok(b) => b,
        Err(BodyError::TooLarge(_)) => return too_large(&s),
        Err(BodyError::Slow) => {
            debug!(
                "webhook request body not received within {}s",
                BODY_READ_TIMEOUT.as_secs()
            );
            return text(
                StatusCode::REQUEST_TIMEOUT,
                format!("request body not received within {}s\n", BODY_READ_TIMEOUT.as_secs()),
            );
        }
        Err(e @ BodyError::Read(_)) => {
            debug!("webhook request body: {e}");
            return text(StatusCode::BAD_REQUEST, format!("{e}\n"));
        }
    };
    let events = match decode::decode(&parts.headers, &bytes) {
        Ok(e) => e,
        Err(e) => {
            s.stats.error();
            debug!("webhook request refused: {e}");
            return text(e.status, format!("{e}\n"));
        }
    };
    drop(bytes);
    // The events are charged what they hold (see `cost`) in place of the body, until every
    // processor is done with them: a client that hangs up does not take their charge away.
    // The charge moves from the body to the events without a moment uncharged: more is taken
    // only if it is free at once (else 503: nothing was accepted), the excess is given back.
    let held: usize = events.iter().map(cost::held_bytes).sum();
    let mut room = room;
    let need = units(held);
    let have = room.num_permits();
    if need > have {
        let more = u32::try_from(need - have).unwrap_or(u32::MAX);
        match s.budget.clone().try_acquire_many_owned(more) {
            Ok(more) => room.merge(more),
            Err(_) => return full(),
        }
    } else if let Some(excess) = room.split(have - need) {
        drop(excess);
    }
    let delivery = tokio::spawn(deliver(s.clone(), events, room));
    match delivery.await {
        Ok(answer) => answer,
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("delivery stopped: {e}\n")),
    }
}

/// `bytes` of the memory budget, waiting for them as long as a body may take to arrive;
/// the 503 to answer when they do not come.
async fn room(s: &Shared, bytes: usize) -> Result<tokio::sync::OwnedSemaphorePermit, Response> {
    let permits = u32::try_from(units(bytes)).unwrap_or(u32::MAX);
    match tokio::time::timeout(BODY_READ_TIMEOUT, s.budget.clone().acquire_many_owned(permits)).await {
        Ok(Ok(room)) => Ok(room),
        _ => Err(full()),
    }
}

/// What decoding may hold besides the body: a batch's events up to their bound, one event's
/// attributes and extensions (its data is about the body's size).
fn decoding_room(headers: &HeaderMap) -> usize {
    let batch = (headers.get(header::CONTENT_TYPE))
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/cloudevents-batch+json")
        });
    if batch {
        crate::cloudevent::parse::MAX_BATCH_HELD
    } else {
        EVENT_ROOM
    }
}

/// One event's attributes and up to 100 extensions, in memory (see [`cost`]).
const EVENT_ROOM: usize = 16 * 1024;

/// The budget's units for `bytes` (at least one, at most the whole budget).
fn units(bytes: usize) -> usize {
    bytes.div_ceil(BUDGET_UNIT).clamp(1, MEMORY_BUDGET / BUDGET_UNIT)
}

/// The answer when the budget has no room: come back shortly.
fn full() -> Response {
    debug!("webhook memory budget full: request refused with 503");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        format!(
            "the webhook holds {} MiB of requests already: send it again shortly\n",
            MEMORY_BUDGET >> 20
        ),
    )
        .into_response()
}

/// Hands the events to the processors and answers once each is done with them; `_room` (their
/// charge) is held until then.
async fn deliver(
    s: Arc<Shared>,
    events: Vec<cloudevents::Event>,
    _room: tokio::sync::OwnedSemaphorePermit,
) -> Response {
    let mut deliveries = Vec::with_capacity(events.len());
    for event in events {
        s.stats.event();
        let id = event.id().to_string();
        deliveries.push((id, s.fanout.dispatch(&s.from, event).await));
    }
    let mut failed = Vec::new();
    for (id, d) in deliveries {
        if let Err(problems) = d.outcome().await {
            failed.push(format!("event {id}: {}", problems.join("; ")));
        }
    }
    if failed.is_empty() {
        StatusCode::OK.into_response()
    } else {
        s.stats.error();
        text(
            StatusCode::BAD_GATEWAY,
            format!("not delivered: {}\n", failed.join("\n")),
        )
    }
}

fn too_large(s: &Shared) -> Response {
    s.stats.error();
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body over {} bytes (webhook.maxBodyBytes)\n", s.max_body),
    )
}

/// The CloudEvents webhook validation handshake (abuse protection): any origin, any rate.
fn handshake(headers: &HeaderMap) -> Response {
    let origin = (headers.get("webhook-request-origin"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*")
        .to_string();
    (
        StatusCode::OK,
        [
            ("webhook-allowed-origin", origin),
            ("webhook-allowed-rate", "*".to_string()),
            ("allow", "POST, OPTIONS".to_string()),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_veba() {
        assert_eq!(route_path(""), "/webhook");
        assert_eq!(route_path("/Webhook/"), "/webhook");
        assert_eq!(route_path("hooks/vc"), "/hooks/vc");
    }
}
