//! slack-alarm: a Slack message when a vCenter alarm turns red. The template function: copy this
//! crate to write your own (README.md says what to change).
//!
//! A CloudEvents HTTP function. A Knative Trigger (or the router's knative processor) POSTs each
//! event to `/` in binary mode (`ce-*` headers, the JSON data as the body) or structured mode
//! (`Content-Type: application/cloudevents+json`). The answer is the contract with the broker:
//!
//! * 2xx when the event is done with: handled, or deliberately ignored;
//! * 503 when it could not be handled now (Slack rate limited, down or unreachable), so the
//!   broker sends it again (with Slack's `Retry-After`, for brokers that honour it);
//! * 502 when Slack refused the message for good (a revoked webhook): retried, then
//!   dead-lettered, where it can be replayed once the webhook is fixed;
//! * 400 for a request that is not a CloudEvent with JSON data (retrying cannot help).
//!
//! Configuration (environment):
//!
//! | variable | what |
//! | --- | --- |
//! | `SLACK_WEBHOOK_URL` or `SLACK_WEBHOOK_URL_FILE` | the incoming-webhook URL (a secret), or a file holding it |
//! | `ALARM_STATES` | comma-separated alarm states that post a message (default `red`) |
//! | `HTTP_TIMEOUT_SECONDS` | per Slack request (default 10) |
//! | `PORT`, `HOST` | where to listen (default 8080 on 0.0.0.0; `PORT=0` picks a free port) |
//!
//! Prints `LISTENING <port>` on stdout once it listens; logs are JSON lines on stderr. The webhook
//! URL is never logged, nor is any error text that could carry it.

mod message;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

/// The parts of a CloudEvent this function reads.
struct CloudEvent {
    id: String,
    source: String,
    subject: Option<String>,
    /// The event's data: for the router's events, the vSphere event as a JSON object.
    data: Value,
}

struct App {
    webhook_url: String,
    states: Vec<String>,
    timeout: Duration,
    http: reqwest::Client,
}

/// One JSON line on stderr: `{"level", "msg", ...fields}`.
fn log(level: &str, msg: &str, fields: Value) {
    let mut line = json!({"level": level, "msg": msg});
    if let (Some(out), Value::Object(extra)) = (line.as_object_mut(), fields) {
        out.extend(extra);
    }
    eprintln!("{line}");
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// An environment variable, or the content of the file named by `<NAME>_FILE` (a mounted Secret).
fn secret(name: &str) -> Option<String> {
    if let Some(v) = std::env::var(name).ok().filter(|v| !v.is_empty()) {
        return Some(v);
    }
    let path = std::env::var(format!("{name}_FILE")).ok()?;
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

/// A CloudEvent from an HTTP request, as the CloudEvents HTTP binding (1.0) defines the two
/// modes: structured when the Content-Type is `application/cloudevents+json`, else binary.
fn parse(headers: &HeaderMap, body: &[u8]) -> Result<CloudEvent, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (id, source, subject, data) = if content_type.starts_with("application/cloudevents+json") {
        let doc: Value =
            serde_json::from_slice(body).map_err(|e| format!("structured mode: the body is not JSON: {e}"))?;
        let attr = |name: &str| doc.get(name).and_then(Value::as_str).map(str::to_string);
        let data = match doc.get("data") {
            // JSON data may also arrive as a JSON document in a string.
            Some(Value::String(text)) => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone())),
            Some(v) => v.clone(),
            None => Value::Null,
        };
        if attr("specversion").is_none() {
            return Err("structured mode: no specversion".into());
        }
        (attr("id"), attr("source"), attr("subject"), data)
    } else {
        // Binary mode: attributes in ce-* headers, percent-encoded; the body is the data.
        let attr = |name: &str| {
            headers
                .get(format!("ce-{name}"))
                .and_then(|v| v.to_str().ok())
                .map(|v| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
        };
        if attr("specversion").is_none() {
            return Err("not a CloudEvent: no ce-specversion header".into());
        }
        let data = serde_json::from_slice(body).map_err(|e| format!("binary mode: the data is not JSON: {e}"))?;
        (attr("id"), attr("source"), attr("subject"), data)
    };
    if !data.is_object() {
        return Err("the event's data is not a JSON object".into());
    }
    Ok(CloudEvent {
        id: id.ok_or("the event has no id")?,
        source: source.ok_or("the event has no source")?,
        subject,
        data,
    })
}

impl App {
    /// What this function does with one event. Change this (and `message.rs`) for your own.
    async fn handle(&self, event: &CloudEvent) -> Response {
        let id = event.id.as_str();
        if event.subject.as_deref() != Some("AlarmStatusChangedEvent") {
            return reply(
                StatusCode::OK,
                json!({"status": "ignored", "reason": "not an AlarmStatusChangedEvent"}),
            );
        }
        let to = event
            .data
            .get("To")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_lowercase();
        if !self.states.contains(&to) {
            log("info", "alarm state not selected", json!({"id": id, "to": to}));
            return reply(
                StatusCode::OK,
                json!({"status": "ignored", "reason": format!("state {to} is not in ALARM_STATES")}),
            );
        }
        let payload = message::slack_message(id, &event.source, &event.data);
        let sent = self
            .http
            .post(&self.webhook_url)
            .json(&payload)
            .timeout(self.timeout)
            .send()
            .await;
        let answer = match sent {
            Ok(answer) => answer,
            Err(e) => {
                // reqwest's error text names the URL: log what kind of failure it was, only.
                let kind = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "connect"
                } else {
                    "request"
                };
                log(
                    "warn",
                    "Slack could not be reached; the event will be retried",
                    json!({"id": id, "error": kind}),
                );
                return reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"status": "retry", "reason": "Slack unreachable"}),
                );
            }
        };
        let status = answer.status();
        let retry_after = answer.headers().get(header::RETRY_AFTER).cloned();
        let body: String = answer.text().await.unwrap_or_default().chars().take(200).collect();
        if status == StatusCode::OK {
            let alarm = event.data.pointer("/Alarm/Name").cloned().unwrap_or(Value::Null);
            log("info", "posted to Slack", json!({"id": id, "alarm": alarm, "to": to}));
            return reply(StatusCode::OK, json!({"status": "posted"}));
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            log(
                "warn",
                "Slack refused the message for now; the event will be retried",
                json!({"id": id, "slack_status": status.as_u16(), "slack_error": body,
                       "retry_after": retry_after.as_ref().and_then(|v| v.to_str().ok())}),
            );
            let mut response = reply(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"status": "retry", "reason": format!("Slack answered {}", status.as_u16())}),
            );
            if let Some(value) = retry_after {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
        log(
            "error",
            "Slack rejected the message",
            json!({"id": id, "slack_status": status.as_u16(), "slack_error": body}),
        );
        reply(
            StatusCode::BAD_GATEWAY,
            json!({"status": "failed", "reason": format!("Slack answered {} {body}", status.as_u16())}),
        )
    }
}

async fn receive(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    match parse(&headers, &body) {
        Ok(event) => app.handle(&event).await,
        Err(reason) => {
            log("warn", "not a CloudEvent with JSON data", json!({"error": reason}));
            reply(StatusCode::BAD_REQUEST, json!({"status": "rejected", "reason": reason}))
        }
    }
}

/// Readiness and liveness probes.
async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Resolves at SIGTERM (Kubernetes stopping the pod) or Ctrl-C.
async fn shutdown() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

#[tokio::main]
async fn main() {
    let Some(webhook_url) = secret("SLACK_WEBHOOK_URL") else {
        eprintln!("slack-alarm: set SLACK_WEBHOOK_URL or SLACK_WEBHOOK_URL_FILE (the Slack incoming-webhook URL)");
        std::process::exit(2);
    };
    let states: Vec<String> = env_or("ALARM_STATES", "red")
        .split(',')
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    let timeout = env_or("HTTP_TIMEOUT_SECONDS", "10")
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(10));
    let http = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            eprintln!("slack-alarm: cannot set up the HTTP client: {e}");
            std::process::exit(1);
        }
    };
    let host = env_or("HOST", "0.0.0.0");
    let port: u16 = env_or("PORT", "8080").parse().unwrap_or(8080);
    let listener = match tokio::net::TcpListener::bind((host.as_str(), port)).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("slack-alarm: cannot listen on {host}:{port}: {e}");
            std::process::exit(1);
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    log("info", "slack-alarm starting", json!({"states": states}));
    let app = Arc::new(App {
        webhook_url,
        states,
        timeout,
        http,
    });
    let router = Router::new()
        .route("/", post(receive).get(health))
        .route("/healthz", get(health))
        .with_state(app);
    println!("LISTENING {port}");
    if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(shutdown()).await {
        eprintln!("slack-alarm: the server stopped: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn binary_and_structured_requests_give_the_same_event() {
        let data = r#"{"To": "red", "Alarm": {"Name": "a"}}"#;
        let binary = parse(
            &headers(&[
                ("content-type", "application/json"),
                ("ce-specversion", "1.0"),
                ("ce-id", "7"),
                ("ce-source", "https://vc/sdk"),
                ("ce-type", "com.vmware.event.router/event"),
                ("ce-subject", "AlarmStatus%43hangedEvent"),
            ]),
            data.as_bytes(),
        )
        .unwrap();
        let structured = parse(
            &headers(&[("content-type", "application/cloudevents+json; charset=utf-8")]),
            format!(r#"{{"specversion": "1.0", "id": "7", "source": "https://vc/sdk", "type": "t", "subject": "AlarmStatusChangedEvent", "data": {data}}}"#).as_bytes(),
        )
        .unwrap();
        for e in [&binary, &structured] {
            assert_eq!(e.id, "7");
            assert_eq!(e.source, "https://vc/sdk");
            assert_eq!(e.subject.as_deref(), Some("AlarmStatusChangedEvent"));
            assert_eq!(e.data["To"], "red");
        }
    }

    #[test]
    fn requests_that_are_not_cloudevents_with_json_data_are_refused() {
        assert!(parse(&headers(&[("content-type", "application/json")]), b"{}").is_err());
        let ce = [("ce-specversion", "1.0"), ("ce-id", "1"), ("ce-source", "s")];
        assert!(parse(&headers(&ce), b"not json").is_err());
        assert!(parse(&headers(&ce), b"[1]").is_err());
        assert!(parse(&headers(&ce[..2]), b"{}").is_err(), "no source");
    }
}
