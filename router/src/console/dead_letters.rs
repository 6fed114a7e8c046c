//! The console's dead letters: `GET /ui/dead-letters` lists the newest letters of the
//! dead-letter file (processor, time, last error, the event's attributes; at most [`LIST_LIMIT`]
//! heads, each field cut, so the answer is bounded), `GET /ui/dead-letters/letter?line=N&id=ID`
//! answers one letter whole as it is written, and `POST /ui/dead-letters/replay` sends all of
//! them, or one event's, again through [`crate::dlq::replay`], as `event-router dlq replay`
//! does, answering what happened to each. A replay changes state, so it must carry the page's
//! anti-forgery token (see [`super::token_ok`]), is refused when the browser says the request
//! came from another site, and its body is at most [`MAX_REPLAY_BODY`] bytes; replays run one at
//! a time (see [`crate::dlq`]). At most [`MAX_READS`] lists and letters are read at once.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::ConsoleState;
use crate::config::RouterConfig;
use crate::dlq::{self, LetterError, Select};
use crate::http_server::{self, BodyError};

/// How many letters the list shows (the newest).
pub const LIST_LIMIT: usize = 200;
/// Largest replay request body (`{"event": "<id>"}`).
pub const MAX_REPLAY_BODY: usize = 4096;

/// Reads of the dead-letter file (lists and letters) running at once; more get 503, so
/// concurrent requests cost no more memory than this many reads.
pub const MAX_READS: usize = 2;
static READS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_READS);

/// The 503 for a read that finds every slot taken.
fn busy() -> Response {
    let mut r = error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("{MAX_READS} reads of the dead-letter file are running: try again in a second"),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    r
}

/// What the console needs to list and replay: the running config and its dead-letter file.
pub struct DeadLetterConsole {
    cfg: RouterConfig,
    path: PathBuf,
}

impl DeadLetterConsole {
    pub fn new(cfg: RouterConfig, path: PathBuf) -> DeadLetterConsole {
        DeadLetterConsole { cfg, path }
    }
}

fn error(status: StatusCode, message: String) -> Response {
    super::secured((status, Json(serde_json::json!({ "error": message }))).into_response())
}

pub async fn list(State(state): State<Arc<ConsoleState>>) -> Response {
    let Some(dl) = state.dead_letters.clone() else {
        return super::secured(Json(serde_json::json!({ "configured": false })).into_response());
    };
    let Ok(slot) = READS.try_acquire() else {
        return busy();
    };
    let path = dl.path.clone();
    let listed = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        dlq::list(&path, LIST_LIMIT)
    })
    .await;
    match listed {
        Ok(Ok(listing)) => super::secured(
            Json(serde_json::json!({
                "configured": true,
                "file": dl.path.display().to_string(),
                "total": listing.total,
                "letters": listing.letters,
            }))
            .into_response(),
        ),
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read {}: {e}", dl.path.display()),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("listing stopped: {e}")),
    }
}

/// Which letter to show.
#[derive(Debug, Deserialize)]
pub struct Which {
    line: usize,
    id: Option<String>,
}

pub async fn letter(
    State(state): State<Arc<ConsoleState>>,
    which: Result<Query<Which>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(which)) = which else {
        return error(
            StatusCode::BAD_REQUEST,
            "give the letter's line (and event id): /ui/dead-letters/letter?line=N&id=ID".to_string(),
        );
    };
    let Some(dl) = state.dead_letters.clone() else {
        return error(
            StatusCode::NOT_FOUND,
            "this router writes no dead-letter file".to_string(),
        );
    };
    let Ok(slot) = READS.try_acquire() else {
        return busy();
    };
    let path = dl.path.clone();
    let found = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        dlq::letter(&path, which.line, which.id.as_deref())
    })
    .await;
    match found {
        Ok(Ok(bytes)) => super::secured(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                Body::from(bytes),
            )
                .into_response(),
        ),
        Ok(Err(e @ (LetterError::NoLine(_) | LetterError::Changed { .. }))) => {
            error(StatusCode::CONFLICT, e.to_string())
        }
        Ok(Err(e @ LetterError::TooLong { .. })) => error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("reading stopped: {e}")),
    }
}

/// The replay request: one event's letters, or all.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    pub event: Option<String>,
}

fn replay_refused(headers: &HeaderMap, state: &ConsoleState) -> Option<Response> {
    if !super::token_ok(state, headers) {
        return Some(error(
            StatusCode::FORBIDDEN,
            "a replay must carry the console page's token in X-CSRF-Token (reload the console)".to_string(),
        ));
    }
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| s != "same-origin" && s != "none") {
        return Some(error(
            StatusCode::FORBIDDEN,
            "a replay must come from the console's own page".to_string(),
        ));
    }
    None
}

pub async fn replay(State(state): State<Arc<ConsoleState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if let Some(refused) = replay_refused(&parts.headers, &state) {
        return refused;
    }
    let Some(dl) = state.dead_letters.clone() else {
        return error(
            StatusCode::NOT_FOUND,
            "this router writes no dead-letter file (set deadLetterFile, or checkpointing on a vCenter)".to_string(),
        );
    };
    let bytes = match http_server::read_body(&parts.headers, body, MAX_REPLAY_BODY).await {
        Ok(b) => b,
        Err(e @ BodyError::TooLarge(_)) => return error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        Err(e @ BodyError::Slow) => return error(StatusCode::REQUEST_TIMEOUT, e.to_string()),
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let request: ReplayRequest = if bytes.iter().all(u8::is_ascii_whitespace) {
        ReplayRequest::default()
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(r) => r,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("the replay request must be {{}} or {{\"event\": \"<id>\"}}: {e}"),
                )
            }
        }
    };
    // Its own task: a browser that goes away mid-replay does not stop it half-way (with the
    // file moved aside).
    let replayed = tokio::spawn(async move {
        let select = match request.event.as_deref() {
            Some(id) => Select::Event(id),
            None => Select::All,
        };
        dlq::replay(&dl.cfg, Some(&dl.path), select).await
    })
    .await;
    let replayed = match replayed {
        Ok(r) => r,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("the replay stopped: {e}")),
    };
    match replayed {
        Ok(summary) => {
            tracing::info!(
                replayed = summary.replayed,
                failed = summary.failed,
                kept = summary.kept,
                "dead letters replayed from the console"
            );
            super::secured(Json(summary).into_response())
        }
        Err(e) => error(StatusCode::CONFLICT, format!("{e:#}")),
    }
}
