//! The Horizon source (`type: horizon`): Horizon Server audit events, polled with a time
//! filter, delivered oldest first and once each (de-duplicated by event id). At start the
//! newest existing event marks where the stream begins: nothing older is replayed (VEBA
//! replayed the last 10 on every restart). A poll reads one window of time whose events fit in
//! memory (see `client`): when more are waiting, the window is narrowed to its oldest events,
//! which are delivered first, and the next poll follows at once. De-duplication costs the same
//! per event however many are seen.

mod client;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use cloudevents::{Event, EventBuilder, EventBuilderV10};
use serde_json::value::RawValue;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

pub use client::{Audit, Credentials, HorizonClient, HorizonError, Window};

use crate::config::EventFormat;
use crate::metrics::stats::{ComponentStats, Health};
use crate::pipeline::Fanout;
use crate::sources::{backoff, Leading, ProblemLog};
use crate::tls::TlsOptions;

/// Settings of one Horizon stream.
#[derive(Debug, Clone)]
pub struct HorizonSettings {
    /// The config key, e.g. `eventProvider.horizon`, named in advice.
    pub key: String,
    pub address: url::Url,
    pub credentials: Credentials,
    /// TLS verification: `insecureSSL` and the config's `certificates.rootCAs`.
    pub tls: TlsOptions,
    pub poll: Duration,
    pub page_size: u32,
    /// The CloudEvent contract.
    pub format: EventFormat,
    /// Under leader election, whether this replica still leads: no event is handed on after.
    pub leading: Leading,
}

/// How far back each poll looks again, for events Horizon records with an earlier time than
/// one already seen.
const LOOKBACK_MS: i64 = 60_000;

/// The position of the stream: the newest delivered time and every (time, id) delivered within
/// [`LOOKBACK_MS`] of it, so events are neither repeated nor missed when written late. The floor
/// (the oldest time looked at) moves only when a poll is [`settled`](Watermark::settle), so
/// every event of one poll is judged against the same floor, and forgetting what fell below it
/// happens once per poll.
#[derive(Debug, Default)]
struct Watermark {
    newest: Option<i64>,
    floor: i64,
    seen: HashSet<(i64, i64)>,
}

impl Watermark {
    fn advance(&mut self, time: i64, id: i64) {
        self.seen.insert((time, id));
        if self.newest.is_none_or(|t| time > t) {
            self.newest = Some(time);
        }
    }

    /// Moves the floor to [`LOOKBACK_MS`] before the newest time and forgets what is below it.
    fn settle(&mut self) {
        self.floor = self.newest.map(|t| t.saturating_sub(LOOKBACK_MS)).unwrap_or(0);
        let floor = self.floor;
        self.seen.retain(|(t, _)| *t >= floor);
    }

    /// The oldest time still looked at.
    fn floor(&self) -> i64 {
        self.floor
    }

    fn is_new(&self, time: i64, id: i64) -> bool {
        time >= self.floor && !self.seen.contains(&(time, id))
    }
}

/// Why an audit event cannot become a CloudEvent (it is skipped and counted as an error).
#[derive(Debug, thiserror::Error)]
pub enum AuditEventError {
    #[error("audit event without a numeric id and time")]
    NoIdOrTime,
    #[error("audit event {id} without a type")]
    NoType { id: i64 },
    #[error("audit event {id}: time {time} is out of range")]
    TimeOutOfRange { id: i64, time: i64 },
    #[error("audit event {id}: {detail}")]
    Build { id: i64, detail: String },
}

/// The CloudEvent for one audit event, id = the event id, subject = the Horizon event type:
/// - router contract (VEBA's router, internal/provider/horizon/horizon.go): type
///   `com.vmware.event.router/horizon.<type lowercased>.v0`, time in whole seconds;
/// - tanzu-sources contract (HorizonSource): type `com.vmware.horizon.<type lowercased>.v0`,
///   time in milliseconds.
pub fn to_cloudevent(ev: &RawValue, source: &str, format: EventFormat) -> Result<Event, AuditEventError> {
    #[derive(serde::Deserialize)]
    struct Head {
        id: Option<i64>,
        time: Option<i64>,
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    let head: Head = serde_json::from_str(ev.get()).map_err(|_| AuditEventError::NoIdOrTime)?;
    let (Some(id), Some(time)) = (head.id, head.time) else {
        return Err(AuditEventError::NoIdOrTime);
    };
    let kind = head
        .kind
        .filter(|t| !t.is_empty())
        .ok_or(AuditEventError::NoType { id })?;
    let kind = kind.as_str();
    let (ty, millis) = match format {
        EventFormat::Router => (
            format!("com.vmware.event.router/horizon.{}.v0", kind.to_ascii_lowercase()),
            time.div_euclid(1000) * 1000,
        ),
        EventFormat::TanzuSources => (format!("com.vmware.horizon.{}.v0", kind.to_ascii_lowercase()), time),
    };
    let when = Utc
        .timestamp_millis_opt(millis)
        .single()
        .ok_or(AuditEventError::TimeOutOfRange { id, time })?;
    EventBuilderV10::new()
        .id(id.to_string())
        .source(source)
        .ty(ty)
        .subject(kind)
        .time(when)
        .data(
            "application/json",
            cloudevents::Data::Binary(ev.get().as_bytes().to_vec()),
        )
        .build()
        .map_err(|e| AuditEventError::Build {
            id,
            detail: e.to_string(),
        })
}

pub struct HorizonSource {
    settings: HorizonSettings,
    stats: Arc<ComponentStats>,
    health: Arc<Health>,
}

impl HorizonSource {
    pub fn new(settings: HorizonSettings, stats: Arc<ComponentStats>, health: Arc<Health>) -> HorizonSource {
        HorizonSource {
            settings,
            stats,
            health,
        }
    }

    fn advice(&self, e: &HorizonError) -> String {
        match e {
            HorizonError::Transport { .. } => format!(
                "{e}; check {}.address and that the router can reach it (TCP 443)",
                self.settings.key
            ),
            _ => e.to_string(),
        }
    }

    /// Polls until shutdown, logging in again with backoff after any failure.
    pub async fn run(self, fanout: Arc<Fanout>, mut shutdown: watch::Receiver<bool>) {
        let source = self.settings.address.as_str().trim_end_matches('/').to_string();
        let mut mark: Option<Watermark> = None;
        let mut failures: u32 = 0;
        let mut problems = ProblemLog::default();
        let mut client = match HorizonClient::new(
            self.settings.address.clone(),
            self.settings.credentials.clone(),
            &self.settings.tls,
        ) {
            Ok(c) => c,
            Err(e) => {
                error!(horizon = %source, "{e}");
                return;
            }
        };
        loop {
            let step = self.poll(&mut client, &mut mark, &source, &fanout).await;
            let wait = match step {
                Ok(more) => {
                    self.health.set_session_up(true);
                    self.health.progress();
                    failures = 0;
                    if more {
                        Duration::ZERO
                    } else {
                        self.settings.poll
                    }
                }
                Err(e) => {
                    self.health.set_session_up(false);
                    failures += 1;
                    let wait = backoff(failures);
                    problems.report(&source, self.advice(&e), wait);
                    wait
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {
                    client.logout().await;
                    return;
                }
            }
        }
    }

    /// One poll; true when more events wait beyond the window it read (poll again at once).
    async fn poll(
        &self,
        client: &mut HorizonClient,
        mark: &mut Option<Watermark>,
        source: &str,
        fanout: &Fanout,
    ) -> Result<bool, HorizonError> {
        let Some(m) = mark else {
            // First contact: everything that exists now (the newest page, then the look-back
            // window before its newest event) counts as seen, so a restart replays nothing.
            let mut w = Watermark::default();
            for (id, time) in client.latest_events().await? {
                w.advance(time, id);
            }
            w.settle();
            if w.newest.is_some() {
                // Only their keys are kept; a window too busy to read whole is skipped here.
                let all = |_: i64, _: i64| true;
                if let Window::All { events, .. } = client
                    .audit_events(w.floor(), None, self.settings.page_size, client::MAX_WINDOW_EVENTS, all)
                    .await?
                {
                    for e in events {
                        w.advance(e.time, e.id);
                    }
                }
                w.settle();
            }
            info!(horizon = %source, user = %self.settings.credentials.username, "logged in to Horizon; streaming audit events newer than {}", w.newest.map(|t| t.to_string()).unwrap_or_else(|| "the start (none exist yet)".into()));
            *mark = Some(w);
            return Ok(false);
        };
        // The oldest window that fits: the whole stream when it does; else pages come newest
        // first, so the window is narrowed to end at the oldest new event read, until its new
        // events fit. A backlog is thus read oldest first, window by window.
        let from = m.floor();
        let page = self.settings.page_size;
        let new = |time: i64, id: i64| m.is_new(time, id);
        let (mut to, mut narrowed) = (None, false);
        let window = loop {
            match client
                .audit_events(from, to, page, client::MAX_WINDOW_EVENTS, new)
                .await?
            {
                Window::TooMany { oldest } if to != Some(oldest) => {
                    debug!(horizon = %source, to = oldest, "more audit events than fit at once: reading the oldest first");
                    (to, narrowed) = (Some(oldest), true);
                }
                Window::TooMany { oldest } => {
                    warn!(horizon = %source, time = oldest, "more than {} audit events at one time: reading them whole", client::MAX_WINDOW_EVENTS);
                    break client.audit_events(from, to, page, usize::MAX, new).await?;
                }
                all => break all,
            }
        };
        let Window::All { mut events, unreadable } = window else {
            warn!(horizon = %source, "more audit events at one time than 1000 pages hold: they are skipped");
            return Ok(false);
        };
        for _ in 0..unreadable {
            self.stats.error();
        }
        if unreadable > 0 {
            warn!(horizon = %source, "skipped {unreadable} audit event(s) without a numeric id and time");
        }
        events.sort_unstable_by_key(|e| (e.time, e.id));
        events.dedup_by_key(|e| (e.time, e.id));
        let from: Arc<str> = self.stats.name.as_str().into();
        for Audit { id, time, json } in events {
            if !m.is_new(time, id) {
                continue;
            }
            if !self.settings.leading.holds() {
                warn!(horizon = %source, "this replica no longer holds the provider's Lease: audit event {id} and those after it are not delivered by it (Horizon keeps no checkpoint: the next leader starts from Horizon's present)");
                return Ok(false);
            }
            m.advance(time, id);
            self.stats.event();
            match to_cloudevent(&json, source, self.settings.format) {
                Ok(ce) => {
                    drop(json);
                    let queued = fanout.dispatch(&from, ce).await;
                    debug!(event_id = id, processors = queued.matched(), "queued");
                }
                Err(e) => {
                    self.stats.error();
                    warn!(horizon = %source, "skipping audit event: {e}");
                }
            }
        }
        m.settle();
        Ok(narrowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::AttributesReader;
    use serde_json::json;

    fn raw(v: serde_json::Value) -> Box<RawValue> {
        serde_json::value::to_raw_value(&v).unwrap()
    }

    #[test]
    fn audit_event_becomes_vebas_router_cloudevent_by_default() {
        let ev = json!({"id": 1234, "time": 1796032800123i64, "type": "VLSI_USERLOGIN_REST_FAILED"});
        let ce = to_cloudevent(&raw(ev), "https://horizon.corp.local", EventFormat::Router).unwrap();
        // What VEBA's kn-ps-horizon-login-slack Trigger filters on.
        assert_eq!(ce.ty(), "com.vmware.event.router/horizon.vlsi_userlogin_rest_failed.v0");
        assert_eq!(
            ce.time().unwrap().to_rfc3339(),
            "2026-11-30T10:00:00+00:00",
            "whole seconds"
        );
        assert_eq!(ce.source().as_str(), "https://horizon.corp.local");
    }

    #[test]
    fn audit_event_becomes_a_tanzu_style_cloudevent() {
        let ev = json!({"id": 1234, "time": 1796032800000i64, "type": "VLSI_USERLOGGEDIN_REST", "message": "User CORP\\\\bob has logged in", "severity": "AUDIT_SUCCESS", "module": "Vlsi"});
        let ce = to_cloudevent(
            &raw(ev.clone()),
            "https://horizon.corp.local",
            EventFormat::TanzuSources,
        )
        .unwrap();
        assert_eq!(ce.id(), "1234");
        assert_eq!(ce.ty(), "com.vmware.horizon.vlsi_userloggedin_rest.v0");
        assert_eq!(ce.subject(), Some("VLSI_USERLOGGEDIN_REST"));
        assert_eq!(ce.source().as_str(), "https://horizon.corp.local");
        assert_eq!(ce.time().unwrap().to_rfc3339(), "2026-11-30T10:00:00+00:00");
        let data = serde_json::to_value(crate::cloudevent::Structured(&ce)).unwrap()["data"].clone();
        assert_eq!(data, ev, "the audit event whole");
        let tanzu = EventFormat::TanzuSources;
        assert!(
            to_cloudevent(&raw(json!({"id": 1, "time": 2})), "s", tanzu).is_err(),
            "no type"
        );
        assert!(to_cloudevent(&raw(json!({"id": "x", "time": 2, "type": "T"})), "s", tanzu).is_err());
    }

    #[test]
    fn watermark_drops_repeats_and_older_events_but_keeps_late_ones_within_the_look_back() {
        let mut w = Watermark::default();
        assert!(w.is_new(100_000, 1));
        w.advance(100_000, 1);
        w.settle();
        assert!(!w.is_new(100_000, 1), "repeat");
        assert!(w.is_new(100_000, 2), "same millisecond, other id");
        assert!(w.is_new(99_000, 9), "written late, within the look-back");
        w.advance(99_000, 9);
        assert!(!w.is_new(99_000, 9));
        assert!(!w.is_new(100_000 - LOOKBACK_MS - 1, 5), "older than the look-back");
        w.advance(200_000, 3);
        assert!(w.is_new(150_000, 4), "the floor moves only when the poll settles");
        w.settle();
        assert_eq!(w.seen.len(), 1, "events before the look-back are forgotten");
        assert_eq!(w.floor(), 200_000 - LOOKBACK_MS);
    }
}
