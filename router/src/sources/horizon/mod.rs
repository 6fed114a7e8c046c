//! The Horizon source (`type: horizon`): Horizon Server audit events, polled with a time
//! filter, delivered oldest first and once each (de-duplicated by event id). At start the
//! newest existing event marks where the stream begins: nothing older is replayed (VEBA
//! replayed the last 10 on every restart).

mod client;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use cloudevents::{Event, EventBuilder, EventBuilderV10};
use serde_json::Value;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

pub use client::{Credentials, HorizonClient, HorizonError};

use crate::config::EventFormat;
use crate::metrics::stats::{ComponentStats, Health};
use crate::pipeline::Fanout;
use crate::sources::{backoff, ProblemLog};

/// Settings of one Horizon stream.
#[derive(Debug, Clone)]
pub struct HorizonSettings {
    /// The config key, e.g. `eventProvider.horizon`, named in advice.
    pub key: String,
    pub address: url::Url,
    pub credentials: Credentials,
    pub insecure: bool,
    pub poll: Duration,
    pub page_size: u32,
    /// The CloudEvent contract.
    pub format: EventFormat,
}

/// How far back each poll looks again, for events Horizon records with an earlier time than
/// one already seen.
const LOOKBACK_MS: i64 = 60_000;

/// The position of the stream: the newest delivered time and every (time, id) delivered within
/// [`LOOKBACK_MS`] of it, so events are neither repeated nor missed when written late.
#[derive(Debug, Default)]
struct Watermark {
    newest: Option<i64>,
    seen: BTreeSet<(i64, i64)>,
}

impl Watermark {
    fn advance(&mut self, time: i64, id: i64) {
        self.seen.insert((time, id));
        if self.newest.is_none_or(|t| time > t) {
            self.newest = Some(time);
        }
        let floor = self.floor();
        self.seen.retain(|(t, _)| *t >= floor);
    }

    /// The oldest time still looked at.
    fn floor(&self) -> i64 {
        self.newest.map(|t| t.saturating_sub(LOOKBACK_MS)).unwrap_or(0)
    }

    fn is_new(&self, time: i64, id: i64) -> bool {
        time >= self.floor() && !self.seen.contains(&(time, id))
    }
}

/// One audit event's id and time (milliseconds), when it has them.
fn id_time(ev: &Value) -> Option<(i64, i64)> {
    Some((ev["id"].as_i64()?, ev["time"].as_i64()?))
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
pub fn to_cloudevent(ev: &Value, source: &str, format: EventFormat) -> Result<Event, AuditEventError> {
    let (id, time) = id_time(ev).ok_or(AuditEventError::NoIdOrTime)?;
    let kind = ev["type"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or(AuditEventError::NoType { id })?;
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
        .data("application/json", ev.clone())
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
            self.settings.insecure,
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
                Ok(()) => {
                    self.health.set_session_up(true);
                    self.health.progress();
                    failures = 0;
                    self.settings.poll
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

    async fn poll(
        &self,
        client: &mut HorizonClient,
        mark: &mut Option<Watermark>,
        source: &str,
        fanout: &Fanout,
    ) -> Result<(), HorizonError> {
        let Some(m) = mark else {
            // First contact: everything that exists now (the newest page, then the look-back
            // window before its newest event) counts as seen, so a restart replays nothing.
            let mut w = Watermark::default();
            for (id, time) in client.latest_events().await?.iter().filter_map(id_time) {
                w.advance(time, id);
            }
            if w.newest.is_some() {
                let recent = client.audit_events(w.floor(), self.settings.page_size).await?;
                for (id, time) in recent.iter().filter_map(id_time) {
                    w.advance(time, id);
                }
            }
            info!(horizon = %source, user = %self.settings.credentials.username, "logged in to Horizon; streaming audit events newer than {}", w.newest.map(|t| t.to_string()).unwrap_or_else(|| "the start (none exist yet)".into()));
            *mark = Some(w);
            return Ok(());
        };
        let from = m.floor();
        let mut events: Vec<(i64, i64, Value)> = client
            .audit_events(from, self.settings.page_size)
            .await?
            .into_iter()
            .filter_map(|ev| match id_time(&ev) {
                Some((id, time)) => Some((time, id, ev)),
                None => {
                    self.stats.error();
                    warn!(horizon = %source, "skipping an audit event without a numeric id and time: {ev}");
                    None
                }
            })
            .collect();
        events.sort_by_key(|(time, id, _)| (*time, *id));
        events.dedup_by_key(|(time, id, _)| (*time, *id));
        let from: Arc<str> = self.stats.name.as_str().into();
        for (time, id, ev) in events {
            if !m.is_new(time, id) {
                continue;
            }
            m.advance(time, id);
            self.stats.event();
            match to_cloudevent(&ev, source, self.settings.format) {
                Ok(ce) => {
                    let queued = fanout.dispatch(&from, ce).await;
                    debug!(event_id = id, processors = queued.matched(), "queued");
                }
                Err(e) => {
                    self.stats.error();
                    warn!(horizon = %source, "skipping audit event: {e}");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::AttributesReader;
    use serde_json::json;

    #[test]
    fn audit_event_becomes_vebas_router_cloudevent_by_default() {
        let ev = json!({"id": 1234, "time": 1796032800123i64, "type": "VLSI_USERLOGIN_REST_FAILED"});
        let ce = to_cloudevent(&ev, "https://horizon.corp.local", EventFormat::Router).unwrap();
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
        let ce = to_cloudevent(&ev, "https://horizon.corp.local", EventFormat::TanzuSources).unwrap();
        assert_eq!(ce.id(), "1234");
        assert_eq!(ce.ty(), "com.vmware.horizon.vlsi_userloggedin_rest.v0");
        assert_eq!(ce.subject(), Some("VLSI_USERLOGGEDIN_REST"));
        assert_eq!(ce.source().as_str(), "https://horizon.corp.local");
        assert_eq!(ce.time().unwrap().to_rfc3339(), "2026-11-30T10:00:00+00:00");
        assert_eq!(ce.data(), Some(&cloudevents::Data::Json(ev)));
        let tanzu = EventFormat::TanzuSources;
        assert!(
            to_cloudevent(&json!({"id": 1, "time": 2}), "s", tanzu).is_err(),
            "no type"
        );
        assert!(to_cloudevent(&json!({"id": "x", "time": 2, "type": "T"}), "s", tanzu).is_err());
    }

    #[test]
    fn watermark_drops_repeats_and_older_events_but_keeps_late_ones_within_the_look_back() {
        let mut w = Watermark::default();
        assert!(w.is_new(100_000, 1));
        w.advance(100_000, 1);
        assert!(!w.is_new(100_000, 1), "repeat");
        assert!(w.is_new(100_000, 2), "same millisecond, other id");
        assert!(w.is_new(99_000, 9), "written late, within the look-back");
        w.advance(99_000, 9);
        assert!(!w.is_new(99_000, 9));
        assert!(!w.is_new(100_000 - LOOKBACK_MS - 1, 5), "older than the look-back");
        w.advance(200_000, 3);
        assert_eq!(w.seen.len(), 1, "events before the look-back are forgotten");
        assert_eq!(w.floor(), 200_000 - LOOKBACK_MS);
    }
}
