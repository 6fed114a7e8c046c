//! The built-in web console, served on the metrics address behind its access layer (see
//! `crate::endpoints`): `/ui/`, the
//! live view of every CloudEvent as it passes (what a Trigger filter must match), fed by
//! server-sent events from [`live::LiveEvents`]. Plain HTML, CSS and JavaScript embedded in the
//! binary (no Node build, nothing loaded from elsewhere), served with a strict
//! Content-Security-Policy; the page puts every value on screen as text.

pub mod appliance;
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
use axum::routing::{get, post, MethodRouter};
use tokio::sync::broadcast::error::RecvError;

use crate::metrics::registry::Registry;

/// What the console's routes read.
pub struct ConsoleState {
    pub registry: Arc<Registry>,
    /// The live events the console shows.
    pub live: Arc<live::LiveEvents>,
    /// The dead-letter file and the config to replay it with, when there is one.
    pub dead_letters: Option<Arc<dead_letters::DeadLetterConsole>>,
    /// The counters of the last 15 minutes, for the console's charts.
    pub history: health::History,
    /// The console's anti-forgery token (see [`new_token`]).
    pub csrf: String,
    /// Where the console's appliance view reads from.
    pub appliance: Arc<appliance::ApplianceOptions>,
}

const JS: &str = "text/javascript; charset=utf-8";

/// The page and its files (path, body, content type), built into the binary.
const ASSETS: [(&str, &str, &str); 7] = [
    ("/ui/", include_str!("assets/index.html"), "text/html; charset=utf-8"),
    ("/ui/app.css", include_str!("assets/app.css"), "text/css; charset=utf-8"),
    ("/ui/dom.js", include_str!("assets/dom.js"), JS),
    ("/ui/app.js", include_str!("assets/app.js"), JS),
    ("/ui/health.js", include_str!("assets/health.js"), JS),
    ("/ui/dead-letters.js", include_str!("assets/dead-letters.js"), JS),
    ("/ui/appliance.js", include_str!("assets/appliance.js"), JS),
];

/// Only this origin, no inline script or style, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The console's routes, by path.
pub fn routes() -> Vec<(&'static str, MethodRouter<Arc<ConsoleState>>)> {
    let mut routes: Vec<(&'static str, MethodRouter<Arc<ConsoleState>>)> = vec![
        ("/ui", get(|| async { Redirect::permanent("/ui/") })),
        ("/ui/stream", get(stream)),
        ("/ui/health", get(health::health)),
        ("/ui/appliance", get(appliance::appliance)),
        ("/ui/dead-letters", get(dead_letters::list)),
        ("/ui/dead-letters/letter", get(dead_letters::letter)),
        ("/ui/dead-letters/replay", post(dead_letters::replay)),
    ];
    for (path, body, content_type) in ASSETS {
        routes.push((path, get(move |s| asset(s, body, content_type))));
    }
    routes
}

pub(crate) fn secured(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn asset(State(state): State<Arc<ConsoleState>>, body: &'static str, content_type: &'static str) -> Response {
    // The page carries this process's anti-forgery token for the POSTs it makes.
    let body = body.replace(TOKEN_SLOT, &state.csrf);
    secured((StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// Where the page's `<meta name="csrf-token">` takes the token.
const TOKEN_SLOT: &str = "{{CSRF_TOKEN}}";

/// A new anti-forgery token: 32 random bytes as hex, one per router process. A page on another
/// origin cannot read it (the console answers no CORS request), so it cannot make a POST that
/// carries it.
pub fn new_token() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `headers` carry this process's token in `X-CSRF-Token` (compared in constant time).
pub fn token_ok(state: &ConsoleState, headers: &HeaderMap) -> bool {
    use subtle::ConstantTimeEq;
    let given = headers.get("x-csrf-token").map(|v| v.as_bytes()).unwrap_or_default();
    given.len() == state.csrf.len() && bool::from(given.ct_eq(state.csrf.as_bytes()))
}

/// Server-sent events: first one `history` per event of the last ones (oldest first, see
/// [`live::HISTORY`]), then one `message` per CloudEvent (its JSON), `lagged` with the number of
/// events this watcher lost when it fell behind, `skipped` with the events of the last second
/// beyond [`live::MAX_PER_SECOND`].
async fn stream(State(state): State<Arc<ConsoleState>>) -> Response {
    let (history, rx) = state.live.subscribe_with_history();
    let history = futures_util::stream::iter(
        history
            .into_iter()
            .map(|json| Ok::<_, Infallible>(SseEvent::default().event("history").data(&*json))),
    );
    let from_now = futures_util::stream::unfold(rx, |mut rx| async move {
        let item = match rx.recv().await {
            Ok(live::Live::Event(json)) => SseEvent::default().data(&*json),
            Ok(live::Live::Skipped(n)) => SseEvent::default().event("skipped").data(n.to_string()),
            Err(RecvError::Lagged(n)) => SseEvent::default().event("lagged").data(n.to_string()),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok::<_, Infallible>(item), rx))
    });
    secured(
        Sse::new(futures_util::StreamExt::chain(history, from_now))
            .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
            .into_response(),
    )
}
