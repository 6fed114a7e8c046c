//! Per-component counters and the health state behind /stats, /metrics, /healthz, /readyz.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

/// Seconds over which `events_per_sec` is averaged.
pub const RATE_WINDOW_SECS: u64 = 60;

/// Success and failure counts for one event name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Invocations {
    #[serde(rename = "SuccessCount")]
    pub success: u64,
    #[serde(rename = "FailureCount")]
    pub failure: u64,
}

/// Why a source is not ready (the /readyz answer names it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    #[error("vCenter session is down")]
    SessionDown,
    #[error("event stream has not started")]
    NotStarted,
    #[error("event stream stalled: no poll for {seconds}s")]
    Stalled { seconds: u64 },
}

/// Counters for one provider or processor.
#[derive(Debug)]
pub struct ComponentStats {
    /// `EventProvider` or `EventProcessor`.
    pub role: &'static str,
    /// `vcenter`, `knative`, `console`, ...
    pub kind: &'static str,
    pub name: String,
    pub address: String,
    pub started: DateTime<Utc>,
    total: AtomicU64,
    errors: AtomicU64,
    dead_letters: AtomicU64,
    dead_letter_failures: AtomicU64,
    window: Mutex<VecDeque<(u64, u64)>>,
    invocations: Mutex<BTreeMap<String, Invocations>>,
    /// A processor's queue: events waiting (counted before they are handed over, so briefly
    /// one more than fit) and its capacity.
    queued: AtomicI64,
    queue_capacity: AtomicU64,
    /// The last error's time (RFC 3339) and text, as logged.
    last_error: Mutex<Option<(String, String)>>,
    /// A processor's retries, and whether its last try failed with no delivery since.
    retries: AtomicU64,
    failing: AtomicBool,
    /// Since when (monotonic, and as a time) a processor's sink has failed with nothing
    /// delivered since.
    failing_since: Mutex<Option<(Instant, DateTime<Utc>)>>,
    /// A vCenter source's reads of alarm definitions, and those that failed.
    alarm_lookups: AtomicU64,
    alarm_lookup_failures: AtomicU64,
}

/// How long a sink may fail before `/readyz` says so (a blip does not flap readiness).
pub const UNAVAILABLE_NOT_READY: Duration = Duration::from_secs(30);

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl ComponentStats {
    pub fn new(role: &'static str, kind: &'static str, name: &str, address: &str) -> Arc<ComponentStats> {
        Arc::new(ComponentStats {
            role,
            kind,
            name: name.to_string(),
            address: address.to_string(),
            started: Utc::now(),
            total: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            dead_letter_failures: AtomicU64::new(0),
            window: Mutex::new(VecDeque::new()),
            invocations: Mutex::new(BTreeMap::new()),
            queued: AtomicI64::new(0),
            queue_capacity: AtomicU64::new(0),
            last_error: Mutex::new(None),
            retries: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            failing_since: Mutex::new(None),
            alarm_lookups: AtomicU64::new(0),
            alarm_lookup_failures: AtomicU64::new(0),
        })
    }

    /// Counts one event handled by this component (for a processor: delivered, so it is no
    /// longer failing).
    pub fn event(&self) {
        self.total.fetch_add(1, Ordering::Relaxed);
        if self.failing.swap(false, Ordering::Relaxed) {
            if let Ok(mut since) = self.failing_since.lock() {
                *since = None;
            }
        }
        let now = now_secs();
        if let Ok(mut w) = self.window.lock() {
            match w.back_mut() {
                Some((sec, n)) if *sec == now => *n += 1,
                _ => w.push_back((now, 1)),
            }
            while w.front().is_some_and(|(s, _)| *s + RATE_WINDOW_SECS <= now) {
                w.pop_front();
            }
        }
    }

    /// Counts one error (an event that could not be read or delivered).
    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a delivery outcome for an event name.
    pub fn invocation(&self, event_name: &str, ok: bool) {
        if let Ok(mut m) = self.invocations.lock() {
            let e = m.entry(event_name.to_string()).or_default();
            if ok {
                e.success += 1;
            } else {
                e.failure += 1;
            }
        }
    }

    /// Counts one event written to the dead-letter file.
    pub fn dead_letter(&self) {
        self.dead_letters.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dead_letters(&self) -> u64 {
        self.dead_letters.load(Ordering::Relaxed)
    }

    /// Counts one failed write to the dead-letter file (the event stays undelivered and is
    /// tried again).
    pub fn dead_letter_failure(&self) {
        self.dead_letter_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dead_letter_failures(&self) -> u64 {
        self.dead_letter_failures.load(Ordering::Relaxed)
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Events per second over the last [`RATE_WINDOW_SECS`] (or since start, if shorter).
    pub fn events_per_sec(&self) -> f64 {
        let now = now_secs();
        let elapsed = (Utc::now() - self.started).num_milliseconds().max(1) as f64 / 1000.0;
        let span = elapsed.clamp(1.0, RATE_WINDOW_SECS as f64);
        let count: u64 = self
            .window
            .lock()
            .map(|w| {
                w.iter()
                    .filter(|(s, _)| *s + RATE_WINDOW_SECS > now)
                    .map(|(_, n)| n)
                    .sum()
            })
            .unwrap_or(0);
        ((count as f64 / span) * 100.0).round() / 100.0
    }

    pub fn invocations(&self) -> BTreeMap<String, Invocations> {
        self.invocations.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// A processor's queue holds at most `capacity` events.
    pub fn set_queue_capacity(&self, capacity: usize) {
        self.queue_capacity.store(capacity as u64, Ordering::Relaxed);
    }

    /// `n` events joined (positive) or left (negative) the queue.
    pub fn queue_moved(&self, n: i64) {
        self.queued.fetch_add(n, Ordering::Relaxed);
    }

    /// Events waiting in the queue and its capacity (0 for a source).
    pub fn queue(&self) -> (u64, u64) {
        let capacity = self.queue_capacity.load(Ordering::Relaxed);
        let queued = self.queued.load(Ordering::Relaxed).max(0) as u64;
        (queued.min(capacity), capacity)
    }

    /// Remembers the last error's text (already fit for a log line).
    pub fn set_last_error(&self, text: String) {
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some((now, text));
        }
    }

    /// A delivery failed and is tried again: counted, and the processor is failing until its
    /// next delivery.
    pub fn retrying(&self, detail: &str) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        if !self.failing.swap(true, Ordering::Relaxed) {
            if let Ok(mut since) = self.failing_since.lock() {
                since.get_or_insert((Instant::now(), Utc::now()));
            }
        }
        self.set_last_error(detail.to_string());
    }

    /// A read of alarm definitions (one PropertyCollector call).
    pub fn alarm_lookup(&self) {
        self.alarm_lookups.fetch_add(1, Ordering::Relaxed);
    }

    /// An alarm whose definition could not be read (its events go without `AlarmInfo`).
    pub fn alarm_lookup_failed(&self) {
        self.alarm_lookup_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn alarm_lookups(&self) -> u64 {
        self.alarm_lookups.load(Ordering::Relaxed)
    }

    pub fn alarm_lookup_failures(&self) -> u64 {
        self.alarm_lookup_failures.load(Ordering::Relaxed)
    }

    /// Since when the sink has failed with nothing delivered since: how long, and the time
    /// (RFC 3339); `None` while it delivers.
    pub fn unavailable(&self) -> Option<(Duration, String)> {
        let since = self.failing_since.lock().ok().and_then(|s| *s)?;
        Some((
            since.0.elapsed(),
            since.1.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ))
    }

    /// What `/readyz` says of a processor whose sink has been unavailable for at least
    /// [`UNAVAILABLE_NOT_READY`]: since when, how many events wait, the last error.
    pub fn unavailable_reason(&self) -> Option<String> {
        let (for_how_long, since) = self.unavailable().filter(|(d, _)| *d >= UNAVAILABLE_NOT_READY)?;
        let _ = for_how_long;
        let waiting = self.queue().0;
        let last = self
            .last_error()
            .map(|(_, text)| format!(" (last error: {text})"))
            .unwrap_or_default();
        Some(format!(
            "sink unavailable since {since}, {waiting} events waiting{last}"
        ))
    }

    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Whether the last try failed and nothing was delivered since.
    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// The last error's time and text.
    pub fn last_error(&self) -> Option<(String, String)> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }
}

/// Liveness of the vCenter stream, for /readyz.
#[derive(Debug)]
pub struct Health {
    session_up: AtomicBool,
    last_progress: Mutex<Option<Instant>>,
    stall_after: Duration,
    /// The newest event read: its vCenter key and creation time.
    position: Mutex<Option<(i64, String)>>,
    /// vCenter's newest event (the top of its latestPage): key and creation time.
    newest: Mutex<Option<(i64, String)>>,
    /// The last checkpoint written.
    checkpoint: Mutex<Option<CheckpointMark>>,
    /// The source takes part in leader election (`leaderElection.enabled`).
    elected: AtomicBool,
    /// With leader election: this replica holds the source's Lease and streams it.
    leader: AtomicBool,
}

/// A checkpoint as written: the event it is past and when it was written.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CheckpointMark {
    pub key: i64,
    pub event_time: String,
    pub written: String,
}

impl Health {
    pub fn new(stall_after: Duration) -> Arc<Health> {
        Arc::new(Health {
            session_up: AtomicBool::new(false),
            last_progress: Mutex::new(None),
            stall_after,
            position: Mutex::new(None),
            newest: Mutex::new(None),
            checkpoint: Mutex::new(None),
            elected: AtomicBool::new(false),
            leader: AtomicBool::new(false),
        })
    }

    /// With leader election: whether this replica now leads (streams) the source. Either way a
    /// stream starts or ends here, so the session and progress of the last one are forgotten.
    pub fn set_leader(&self, leader: bool) {
        self.elected.store(true, Ordering::Relaxed);
        self.leader.store(leader, Ordering::Relaxed);
        self.session_up.store(false, Ordering::Relaxed);
        if let Ok(mut p) = self.last_progress.lock() {
            *p = None;
        }
    }

    /// `None` without leader election; else whether this replica leads the source.
    pub fn leader(&self) -> Option<bool> {
        self.elected
            .load(Ordering::Relaxed)
            .then(|| self.leader.load(Ordering::Relaxed))
    }

    pub fn set_session_up(&self, up: bool) {
        self.session_up.store(up, Ordering::Relaxed);
    }

    pub fn session_up(&self) -> bool {
        self.session_up.load(Ordering::Relaxed)
    }

    /// The stream completed a poll cycle.
    pub fn progress(&self) {
        if let Ok(mut p) = self.last_progress.lock() {
            *p = Some(Instant::now());
        }
    }

    /// Seconds since the last poll cycle, if any.
    pub fn since_progress(&self) -> Option<Duration> {
        self.last_progress.lock().ok().and_then(|p| p.map(|t| t.elapsed()))
    }

    /// The stream read the event with this key, created at `time` (per event: reuses the text's
    /// buffer, no allocation).
    pub fn set_position(&self, key: i64, time: &str) {
        if let Ok(mut p) = self.position.lock() {
            match &mut *p {
                Some((k, t)) => {
                    *k = key;
                    t.clear();
                    t.push_str(time);
                }
                None => *p = Some((key, time.to_string())),
            }
        }
    }

    /// The newest event read: (key, creation time).
    pub fn position(&self) -> Option<(i64, String)> {
        self.position.lock().ok().and_then(|p| p.clone())
    }

    /// vCenter reported this as its newest event (once per poll cycle).
    pub fn set_newest(&self, key: i64, time: String) {
        if let Ok(mut n) = self.newest.lock() {
            *n = Some((key, time));
        }
    }

    /// vCenter's newest event seen: (key, creation time).
    pub fn newest(&self) -> Option<(i64, String)> {
        self.newest.lock().ok().and_then(|n| n.clone())
    }

    pub fn set_checkpoint(&self, mark: CheckpointMark) {
        if let Ok(mut c) = self.checkpoint.lock() {
            *c = Some(mark);
        }
    }

    /// The last checkpoint written, if checkpoints are on.
    pub fn checkpoint(&self) -> Option<CheckpointMark> {
        self.checkpoint.lock().ok().and_then(|c| c.clone())
    }

    /// Ready: session up and a poll cycle within the stall limit; a standby (leader election,
    /// another replica streams) is ready: it is healthy and waits.
    pub fn ready(&self) -> Result<(), NotReady> {
        if self.leader() == Some(false) {
            return Ok(());
        }
        if !self.session_up() {
            return Err(NotReady::SessionDown);
        }
        match self.since_progress() {
            None => Err(NotReady::NotStarted),
            Some(d) if d > self.stall_after => Err(NotReady::Stalled { seconds: d.as_secs() }),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_rates() {
        let s = ComponentStats::new("EventProvider", "vcenter", "vc", "https://vc/sdk");
        for _ in 0..5 {
            s.event();
        }
        s.error();
        s.invocation("VmPoweredOnEvent", true);
        s.invocation("VmPoweredOnEvent", false);
        assert_eq!(s.total(), 5);
        assert_eq!(s.errors(), 1);
        assert!(s.events_per_sec() > 0.0);
        assert_eq!(
            s.invocations()["VmPoweredOnEvent"],
            Invocations { success: 1, failure: 1 }
        );
    }

    #[test]
    fn a_failing_sink_is_unavailable_from_its_first_retry_until_it_delivers() {
        let s = ComponentStats::new("EventProcessor", "knative", "sink", "http://sink");
        assert!(s.unavailable().is_none());
        s.retrying("HTTP 503");
        let (_, since) = s.unavailable().expect("unavailable after a retry");
        s.retrying("HTTP 502");
        assert_eq!(s.unavailable().map(|u| u.1), Some(since), "since the first retry");
        assert!(
            s.unavailable_reason().is_none(),
            "not for /readyz within the first 30 s"
        );
        s.event();
        assert!(s.unavailable().is_none(), "a delivery ends it");
    }

    #[test]
    fn a_standby_is_ready_and_a_new_leader_starts_afresh() {
        let h = Health::new(Duration::from_secs(30));
        assert_eq!(h.leader(), None, "no election");
        h.set_session_up(true);
        h.progress();
        assert_eq!(h.ready(), Ok(()));
        h.set_leader(false);
        assert_eq!(h.leader(), Some(false));
        assert!(!h.session_up(), "a standby has no session");
        assert_eq!(h.ready(), Ok(()), "a standby is ready");
        h.set_leader(true);
        assert_eq!(h.leader(), Some(true));
        assert_eq!(
            h.ready(),
            Err(NotReady::SessionDown),
            "the new term's stream has not logged in"
        );
        h.set_session_up(true);
        assert_eq!(h.ready(), Err(NotReady::NotStarted), "nor polled yet");
        h.progress();
        assert_eq!(h.ready(), Ok(()));
    }

    #[test]
    fn readiness_needs_session_and_progress() {
        let h = Health::new(Duration::from_millis(50));
        assert!(h.ready().is_err());
        h.set_session_up(true);
        assert_eq!(h.ready().unwrap_err().to_string(), "event stream has not started");
        h.progress();
        assert!(h.ready().is_ok());
        std::thread::sleep(Duration::from_millis(80));
        assert!(h.ready().unwrap_err().to_string().contains("stalled"));
    }
}
