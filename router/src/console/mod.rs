//! The built-in web console, served on the metrics address behind its basic auth: `/ui/`, the
//! live view of every CloudEvent as it passes (what a Trigger filter must match), fed by
//! server-sent events from [`live::LiveEvents`]. Plain HTML, CSS and JavaScript embedded in the
//! binary (no Node build, nothing loaded from elsewhere), served with a strict
//! Content-Security-Policy; the page puts every value on screen as text.

pub mod dead_letters;
pub mod health;
pub mod live;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::broadcast::error::RecvError;

use crate::metrics::server::{authorized, unauthorized, MetricsState};

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
const DEAD_LETTERS_JS: &str = include_str!("assets/dead-letters.js");
const HEALTH_JS: &str = include_str!("assets/health.js");

/// Only this origin, no inline script or style, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The console's routes, to merge into the metrics server's.
pub fn routes() -> Router<Arc<MetricsState>> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(|s, h| asset(s, h, INDEX, "text/html; charset=utf-8")))
        .route(
            "/ui/app.js",
            get(|s, h| asset(s, h, APP_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/ui/app.css",
            get(|s, h| asset(s, h, APP_CSS, "text/css; charset=utf-8")),
        )
        .route(
            "/ui/dead-letters.js",
            get(|s, h| asset(s, h, DEAD_LETTERS_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/ui/health.js",
            get(|s, h| asset(s, h, HEALTH_JS, "text/javascript; charset=utf-8")),
        )
        .route("/ui/stream", get(stream))
        .route("/ui/dead-letters", get(dead_letters::list))
        .route("/ui/health", get(health::health))
        .route("/ui/dead-letters/replay", post(dead_letters::replay))
}

pub(crate) fn secured(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn asset(
    State(state): State<Arc<MetricsState>>,
    headers: HeaderMap,
    body: &'static str,
    content_type: &'static str,
) -> Response {
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    secured((StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// Server-sent events: one `message` per CloudEvent (its JSON), `lagged` with the number of
/// events this watcher lost when it fell behind.
async fn stream(State(state): State<Arc<MetricsState>>, headers: HeaderMap) -> Response {
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    let rx = state.live.subscribe();
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        let item = match rx.recv().await {
            Ok(json) => SseEvent::default().data(&*json),
            Err(RecvError::Lagged(n)) => SseEvent::default().event("lagged").data(n.to_string()),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok::<_, Infallible>(item), rx))
    });
    secured(
        Sse::new(events)
            .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
            .into_response(),
    )
}
