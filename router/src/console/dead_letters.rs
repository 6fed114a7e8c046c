//! The console's dead letters: `GET /ui/dead-letters` lists the newest letters of the
//! dead-letter file (processor, time, last error, the whole event), and
//! `POST /ui/dead-letters/replay` sends all of them, or one event's, again through
//! [`crate::dlq::replay`], as `event-router dlq replay` does, answering what happened to each.
//! A replay changes state, so it must carry the page's anti-forgery token (see
//! [`super::token_ok`]) and is refused when the browser says the request came from another
//! site; one replay runs at a time.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::config::RouterConfig;
use crate::dlq::{self, Select};
use crate::metrics::server::{authorized, unauthorized, MetricsState};

/// How many letters the list shows (the newest).
pub const LIST_LIMIT: usize = 200;

/// What the console needs to list and replay: the running config and its dead-letter file.
pub struct DeadLetterConsole {
    cfg: RouterConfig,
    path: PathBuf,
    replaying: tokio::sync::Mutex<()>,
}

impl DeadLetterConsole {
    pub fn new(cfg: RouterConfig, path: PathBuf) -> DeadLetterConsole {
        DeadLetterConsole {
            cfg,
            path,
            replaying: tokio::sync::Mutex::new(()),
        }
    }
}

fn error(status: StatusCode, message: String) -> Response {
    super::secured((status, Json(serde_json::json!({ "error": message }))).into_response())
}

pub async fn list(State(state): State<Arc<MetricsState>>, headers: HeaderMap) -> Response {
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    let Some(dl) = state.dead_letters.clone() else {
        return super::secured(Json(serde_json::json!({ "configured": false })).into_response());
    };
    let path = dl.path.clone();
    let listed = tokio::task::spawn_blocking(move || dlq::list(&path, LIST_LIMIT)).await;
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

/// The replay request: one event's letters, or all.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    pub event: Option<String>,
}

pub async fn replay(
    State(state): State<Arc<MetricsState>>,
    headers: HeaderMap,
    body: Option<Json<ReplayRequest>>,
) -> Response {
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    if !super::token_ok(&state, &headers) {
        return error(
            StatusCode::FORBIDDEN,
            "a replay must carry the console page's token in X-CSRF-Token (reload the console)".to_string(),
        );
    }
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| s != "same-origin" && s != "none") {
        return error(
            StatusCode::FORBIDDEN,
            "a replay must come from the console's own page".to_string(),
        );
    }
    let Some(dl) = state.dead_letters.clone() else {
        return error(
            StatusCode::NOT_FOUND,
            "this router writes no dead-letter file (set deadLetterFile, or checkpointing on a vCenter)".to_string(),
        );
    };
    let request = body.map(|Json(r)| r).unwrap_or_default();
    // Its own task: a browser that goes away mid-replay does not stop it half-way (with the
    // file moved aside).
    let replayed = tokio::spawn(async move {
        let _one_at_a_time = dl.replaying.lock().await;
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
