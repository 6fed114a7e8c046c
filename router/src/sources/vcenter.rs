//! The vCenter source: one session, one EventHistoryCollector, woken by WaitForUpdatesEx on
//! the collector's `latestPage`, delivering every new event once and in key order.
//!
//! Each wake-up merges two views: the `latestPage` that came with the update (the newest
//! events; the only view that works against vcsim 0.24.2, whose ReadNextEvents never tails)
//! and ReadNextEvents drained to the end (the tail on a real vCenter). Events at or below the
//! delivered key, or older than the begin time, are dropped. A full page that does not reach
//! back to the delivered key while ReadNextEvents returned nothing means the collector fell
//! behind (VEBA #716, #1054): a second collector re-reads from the last delivered event's time
//! before anything of that page is delivered, so the gap is filled in key order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::cloudevent::{self, Origin};
use crate::config::EventFormat;
use crate::metrics::stats::{ComponentStats, Health};
use crate::pipeline::Fanout;
use crate::sources::checkpoint::{Checkpoint, CheckpointStore, Committer, Pending};
use crate::sources::{alarms, backoff, AbortOnDrop, Leading, ProblemLog};
use crate::vsphere::client::{ClientOptions, VimClient};
use crate::vsphere::event::{event_key, EventError, VsphereEvent};
use crate::vsphere::soap::SoapError;
use crate::vsphere::types::TypeTable;
use crate::vsphere::xml::Element;
use tokio::task::JoinHandle;

/// An idle stream reads its latestPage directly once every this many quiet long polls (see
/// `stream`): once a minute with the 10 s wait.
const IDLE_READ_EVERY: u32 = 6;

/// How long each of the two clean-ups at shutdown may take: destroying the stream's filter and
/// collectors, then logging out. Both are courtesy (vCenter drops a session's collectors with
/// the session, and an abandoned session expires), so an unreachable or stuck vCenter does not
/// hold up the exit and the final checkpoint: vcsim 0.24.2 with eleven streams at times answered
/// none of the clean-up calls within the 30 s call timeout, and the router took 60 s to exit.
const CLEANUP_WAIT: Duration = Duration::from_secs(3);

/// Whether the `n`th quiet poll in a row (from 1) reads latestPage directly: the first, then
/// every [`IDLE_READ_EVERY`].
fn direct_read_due(n: u32) -> bool {
    n == 1 || n.saturating_sub(1).is_multiple_of(IDLE_READ_EVERY)
}

/// Settings of one vCenter stream.
#[derive(Debug, Clone)]
pub struct VCenterSettings {
    /// The config key of this vCenter, e.g. `eventProviders[1].vcenter`, named in advice.
    pub key: String,
    pub client: ClientOptions,
    pub format: EventFormat,
    pub page_size: u32,
    pub keep_alive: Duration,
    /// Longest single WaitForUpdatesEx.
    pub max_wait: Duration,
    /// Durable position (`checkpoint: true`).
    pub checkpoint: Option<CheckpointSettings>,
    /// Add alarm events' alarm definitions (`alarmDetails`, see [`super::alarms`]).
    pub alarm_details: bool,
    /// Under leader election, whether this replica still leads: no event is handed on after.
    pub leading: Leading,
}

/// Where and how often the stream's position is stored, and where it resumes.
#[derive(Debug, Clone)]
pub struct CheckpointSettings {
    /// A file or a ConfigMap: the stream does not need to know which.
    pub store: Arc<dyn CheckpointStore>,
    pub period: Duration,
    /// Resume no further back than this before vCenter's current time.
    pub max_replay_age: Duration,
    /// The checkpoint read at start.
    pub resume: Option<Checkpoint>,
}

/// Where the stream stands; survives re-logins so nothing is delivered twice.
#[derive(Debug, Default)]
struct Cursor {
    /// The checkpoint's event time, until the first session turned it into `begin`.
    resume_from: Option<DateTime<Utc>>,
    begin: Option<DateTime<Utc>>,
    begin_text: Option<String>,
    last_key: Option<i64>,
    last_time: Option<String>,
}

/// Where decoded events go: the type table, the CloudEvent origin of this session and the
/// fan-out.
struct Out<'a> {
    client: &'a VimClient,
    table: &'static TypeTable,
    origin: Origin,
    fanout: &'a Fanout,
    /// This provider's name: its line in each processor's queue.
    from: Arc<str>,
}

/// Why a session ended.
enum SessionEnd {
    Shutdown,
    Failed(SoapError),
}

pub struct VCenterSource {
    settings: VCenterSettings,
    stats: Arc<ComponentStats>,
    health: Arc<Health>,
    committer: Option<Committer>,
    commit_task: Option<JoinHandle<()>>,
    /// The alarm definitions read so far (kept across sessions).
    alarms: super::alarms::Alarms,
}

/// Runs a vCenter call unless shutdown comes first (`None`): SIGTERM is honoured during set-up
/// calls too, not after each one's timeout.
async fn or_shutdown<T>(shutdown: &mut watch::Receiver<bool>, call: impl std::future::Future<Output = T>) -> Option<T> {
    if *shutdown.borrow() {
        return None;
    }
    tokio::select! {
        r = call => Some(r),
        _ = shutdown.wait_for(|s| *s) => None,
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// A hint that tells the operator what to do about a connection failure.
fn advice(e: &SoapError, user: &str, key: &str) -> String {
    let text = e.to_string();
    if e.is_invalid_login() {
        format!("vCenter rejected the login for user {user:?}: fix {key}.auth.basicAuth (username or password)")
    } else if text.contains("certificate") || text.contains("UnknownIssuer") || text.contains("CertNotValid") {
        format!("{text}; the vCenter certificate is not trusted: add its CA to certificates.rootCAs, or set insecureSSL: true")
    } else if matches!(e, SoapError::Transport { .. }) {
        format!("{text}; check {key}.address and that the router can reach it (TCP 443)")
    } else {
        text
    }
}

/// A full latestPage whose oldest event is past the next expected key, with nothing from
/// ReadNextEvents: events between them may be missing from both views.
fn fell_behind(last_key: Option<i64>, page: &[Element], read_empty: bool, page_size: u32) -> bool {
    let Some(last) = last_key else { return false };
    if !read_empty || page.len() < page_size as usize {
        return false;
    }
    let oldest = page.iter().filter_map(|el| ordinal_of(el, last_key)).min();
    oldest.is_some_and(|k| k > last + 1)
}

/// Event keys are 32-bit in vCenter and wrap from 2147483647 to -2147483648 (VEBA #809).
/// A negative key seen while the position is in the top quarter of the range continues the
/// sequence: it is ordered as key + 2^32, so ordering and "already delivered" keep working.
fn ordinal(key: i64, reference: Option<i64>) -> i64 {
    const QUARTER: i64 = 1 << 30;
    match reference {
        Some(r) if r > QUARTER && key < -QUARTER => key + (1 << 32),
        _ => key,
    }
}

fn ordinal_of(el: &Element, reference: Option<i64>) -> Option<i64> {
    event_key(el).ok().map(|k| ordinal(k, reference))
}

impl VCenterSource {
    /// Must be called inside the runtime: with checkpoints on it starts the commit task.
    pub fn new(settings: VCenterSettings, stats: Arc<ComponentStats>, health: Arc<Health>) -> VCenterSource {
        let (committer, commit_task) = match &settings.checkpoint {
            Some(c) => {
                let (committer, task) = Committer::start(c.store.clone(), c.period, health.clone());
                (Some(committer), Some(task))
            }
            None => (None, None),
        };
        VCenterSource {
            settings,
            stats,
            health,
            committer,
            commit_task,
            alarms: Default::default(),
        }
    }

    /// The checkpoint task, taken by a caller that waits for it (or stops it) itself: see
    /// [`VCenterSource::run`], which then returns `None`.
    pub fn take_commit_task(&mut self) -> Option<JoinHandle<()>> {
        self.commit_task.take()
    }

    /// Streams until shutdown, reconnecting with backoff after any failure. Returns the
    /// checkpoint task, which writes the final checkpoint once the processors have finished
    /// (or abandoned) what was handed to them: wait for it after the fan-out's workers.
    pub async fn run(mut self, fanout: Arc<Fanout>, shutdown: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
        let mut cursor = Cursor::default();
        if let Some(cp) = self.settings.checkpoint.as_ref().and_then(|c| c.resume.as_ref()) {
            cursor.last_key = cp.key();
            cursor.resume_from = parse_time(&cp.last_event_key_timestamp);
        }
        self.stream_until_shutdown(&mut cursor, &fanout, shutdown).await;
        self.committer = None;
        self.commit_task.take()
    }

    async fn stream_until_shutdown(&self, cursor: &mut Cursor, fanout: &Fanout, mut shutdown: watch::Receiver<bool>) {
        let mut failures: u32 = 0;
        let mut problems = ProblemLog::default();
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.session(cursor, fanout, &mut shutdown, &mut failures).await {
                SessionEnd::Shutdown => return,
                SessionEnd::Failed(e) if e.is_not_authenticated() && failures == 0 => {
                    self.health.set_session_up(false);
                    failures += 1;
                    warn!(vcenter = %self.settings.client.url, "vCenter session ended (NotAuthenticated: expired, or terminated by an administrator): logging in again");
                }
                SessionEnd::Failed(e) if e.is_managed_object_not_found() && failures == 0 => {
                    self.health.set_session_up(false);
                    failures += 1;
                    warn!(vcenter = %self.settings.client.url, "vCenter session ended (ManagedObjectNotFound: the event collector went away with its session): logging in again");
                }
                SessionEnd::Failed(e) => {
                    self.health.set_session_up(false);
                    failures += 1;
                    let wait = backoff(failures);
                    let problem = advice(&e, &self.settings.client.username, &self.settings.key);
                    self.stats.set_last_error(problem.clone());
                    problems.report(self.settings.client.url.as_str(), problem, wait);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
        }
    }

    async fn session(
        &self,
        cursor: &mut Cursor,
        fanout: &Fanout,
        shutdown: &mut watch::Receiver<bool>,
        failures: &mut u32,
    ) -> SessionEnd {
        let client = match or_shutdown(shutdown, VimClient::connect(self.settings.client.clone())).await {
            None => return SessionEnd::Shutdown,
            Some(Ok(c)) => Arc::new(c),
            Some(Err(e)) => return SessionEnd::Failed(e),
        };
        match or_shutdown(shutdown, client.login()).await {
            None => return SessionEnd::Shutdown,
            Some(Err(e)) => return SessionEnd::Failed(e),
            Some(Ok(())) => {}
        }
        self.health.set_session_up(true);
        info!(
            vcenter = %self.settings.client.url, server = %client.service().full_name,
            api = %client.service().api_version, page_size = self.settings.page_size,
            "logged in to vCenter as {}", self.settings.client.username
        );
        // Aborted however the stream ends, also when it is dropped mid-call: vCenter then
        // expires the idle session.
        let keep_alive = {
            let client = client.clone();
            let every = self.settings.keep_alive;
            AbortOnDrop(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    if let Err(e) = client.current_time().await {
                        debug!("session keep-alive failed: {e}");
                    }
                }
            }))
        };
        let end = self.stream(&client, cursor, fanout, shutdown, failures).await;
        drop(keep_alive);
        if matches!(end, SessionEnd::Shutdown) {
            match tokio::time::timeout(CLEANUP_WAIT, client.logout()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => debug!("logout at shutdown failed: {e}"),
                Err(_) => debug!("logout at shutdown took over {CLEANUP_WAIT:?}: left to expire"),
            }
        }
        end
    }

    async fn stream(
        &self,
        client: &VimClient,
        cursor: &mut Cursor,
        fanout: &Fanout,
        shutdown: &mut watch::Receiver<bool>,
        failures: &mut u32,
    ) -> SessionEnd {
        let origin = Origin {
            source: self.settings.client.url.to_string(),
            api_version: client.service().api_version.clone(),
            format: self.settings.format,
        };
        if cursor.begin.is_none() {
            match or_shutdown(shutdown, client.current_time()).await {
                None => return SessionEnd::Shutdown,
                Some(Ok(now)) => self.begin(cursor, now).await,
                Some(Err(e)) => return SessionEnd::Failed(e),
            }
        }
        let out = Out {
            client,
            table: TypeTable::builtin(),
            origin,
            fanout,
            from: self.stats.name.as_str().into(),
        };
        let from = cursor
            .last_time
            .clone()
            .or_else(|| cursor.begin_text.clone())
            .unwrap_or_default();
        let collector = match or_shutdown(shutdown, self.open_collector(client, &from)).await {
            None => return SessionEnd::Shutdown,
            Some(Ok(c)) => c,
            Some(Err(e)) => return SessionEnd::Failed(e),
        };
        // This stream's own PropertyCollector (see `create_property_collector`), or the
        // session's when the server gives none.
        let own_pc = match or_shutdown(shutdown, client.create_property_collector()).await {
            None => return SessionEnd::Shutdown,
            Some(Ok(pc)) => Some(pc),
            Some(Err(e)) => {
                warn!(vcenter = %self.settings.client.url, "CreatePropertyCollector failed ({e}); the stream uses the session's PropertyCollector");
                None
            }
        };
        let pc = own_pc
            .clone()
            .unwrap_or_else(|| client.service().property_collector.clone());
        let mut filter = match or_shutdown(shutdown, client.watch_latest_page(&pc, &collector)).await {
            None => return SessionEnd::Shutdown,
            Some(Ok(f)) => f,
            Some(Err(e)) => return SessionEnd::Failed(e),
        };
        let mut version = String::new();
        let mut resyncs = 0u64;
        let mut recoveries = 0u64;
        // Polls in a row that reported no change; the direct read below runs on the first of
        // them and then every IDLE_READ_EVERY.
        let mut quiet_polls = 0u32;
        loop {
            let update = tokio::select! {
                r = client.wait_for_latest_page(&pc, &version, self.settings.max_wait) => r,
                _ = shutdown.changed() => {
                    let cleanup = async {
                        let _ = client.destroy_filter(&filter).await;
                        if let Some(own) = &own_pc {
                            let _ = client.destroy_property_collector(own).await;
                        }
                        let _ = client.destroy_collector(&collector).await;
                    };
                    if tokio::time::timeout(CLEANUP_WAIT, cleanup).await.is_err() {
                        debug!(vcenter = %self.settings.client.url, "destroying the stream's collectors at shutdown took over {CLEANUP_WAIT:?}: left to the session's end");
                    }
                    return SessionEnd::Shutdown;
                }
            };
            let (v, page) = match update {
                Ok(u) => u,
                Err(SoapError::TooLarge { limit, .. }) => {
                    // Page changes queued up while the stream was paused (vcsim sends each
                    // one): start a fresh filter and re-read from the last delivered event.
                    resyncs += 1;
                    let msg = format!("vCenter's update answer exceeded {limit} bytes (page changes queued while delivery was paused): re-reading from the last delivered event");
                    if resyncs == 1 {
                        warn!(vcenter = %self.settings.client.url, "{msg} (further occurrences are logged at debug)");
                    } else {
                        debug!(vcenter = %self.settings.client.url, "{msg}");
                    }
                    let _ = client.destroy_filter(&filter).await;
                    filter = match client.watch_latest_page(&pc, &collector).await {
                        Ok(f) => f,
                        Err(e) => return SessionEnd::Failed(e),
                    };
                    version.clear();
                    let from = cursor
                        .last_time
                        .clone()
                        .or_else(|| cursor.begin_text.clone())
                        .unwrap_or_default();
                    if let Err(e) = self.reread(client, &from, cursor, &out).await {
                        return SessionEnd::Failed(e);
                    }
                    continue;
                }
                Err(e) => return SessionEnd::Failed(e),
            };
            version = v;
            self.health.progress();
            *failures = 0;
            // No change reported within max_wait: read the page directly, so events recorded
            // while the stream was paused (a full queue) are not missed on servers that only
            // report changes made during a pending wait (vcsim). Such events can only come
            // from a time no wait was pending, so the read runs after the first quiet poll
            // (which followed the last delivery) and then once every IDLE_READ_EVERY polls,
            // not on every poll of an idle stream (each read is a whole page: 1000 events).
            if page.is_none() {
                quiet_polls += 1;
                if !direct_read_due(quiet_polls) {
                    continue;
                }
            } else {
                quiet_polls = 0;
            }
            let page = match page {
                Some(p) => p,
                None => match or_shutdown(shutdown, client.read_latest_page(&pc, &collector)).await {
                    None => return SessionEnd::Shutdown,
                    Some(Ok(p))
                        if p.iter().any(|el| {
                            ordinal_of(el, cursor.last_key).is_some_and(|k| cursor.last_key.is_none_or(|l| k > l))
                        }) =>
                    {
                        quiet_polls = 0;
                        p
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return SessionEnd::Failed(e),
                },
            };
            self.detect_history_restart(cursor, &page);
            self.note_newest(&page, cursor.last_key);
            // Older events first, batch by batch (memory stays at one batch however large the
            // backlog), then the newest page; keys already delivered are skipped.
            let read = self.drain(client, &collector, cursor, &out).await;
            let read = match read {
                Ok(n) => n,
                Err(e) => return SessionEnd::Failed(e),
            };
            if fell_behind(cursor.last_key, &page, read == 0, self.settings.page_size) {
                recoveries += 1;
                let from = cursor.last_time.clone().unwrap_or_default();
                let msg = format!(
                    "event collector fell behind latestPage (more than {} events between two reads, or a stuck collector): re-reading from {from} with a second collector",
                    self.settings.page_size
                );
                if recoveries == 1 {
                    warn!(vcenter = %self.settings.client.url, "{msg} (further occurrences are logged at debug)");
                } else {
                    debug!(vcenter = %self.settings.client.url, "{msg}");
                }
                if let Err(e) = self.reread(client, &from, cursor, &out).await {
                    return SessionEnd::Failed(e);
                }
            }
            self.deliver(cursor, page, &out).await;
        }
    }

    /// Tells the console vCenter's newest event: the top of its latestPage.
    fn note_newest(&self, page: &[Element], reference: Option<i64>) {
        let newest = (page.iter())
            .filter_map(|el| ordinal_of(el, reference).map(|k| (k, el)))
            .max_by_key(|(k, _)| *k);
        if let Some((_, el)) = newest {
            // Lazily read events carry only their key: read this one's time (one per poll).
            if let (Ok(key), Ok(whole)) = (event_key(el), el.clone().expand()) {
                let time = whole.child_text("createdTime").unwrap_or_default().trim().to_string();
                self.health.set_newest(key, time);
            }
        }
    }

    /// A page from the collector (which reads from the last delivered time) whose newest key
    /// is below the last delivered key means vCenter's key sequence started again: a vCenter
    /// restored or restarted with a new history (vcsim restarts), or keys that wrapped around.
    /// Keys cannot be compared across that point, so from here the stream goes by time alone.
    fn detect_history_restart(&self, cursor: &mut Cursor, page: &[Element]) {
        let newest = page.iter().filter_map(|el| ordinal_of(el, cursor.last_key)).max();
        let (Some(last), Some(newest)) = (cursor.last_key, newest) else {
            return;
        };
        if newest < last {
            warn!(
                vcenter = %self.settings.client.url,
                "vCenter's newest event key {newest} is below the last delivered key {last}: its event history started again (a restore or a restart with new history); delivering every event recorded after {}",
                cursor.last_time.as_deref().unwrap_or("the start")
            );
            cursor.last_key = None;
        }
    }

    /// Where the stream starts: vCenter's current time, or the checkpoint's event time clamped
    /// to the replay age (events older than that are not read again, which is logged).
    async fn begin(&self, cursor: &mut Cursor, now: String) {
        let now_t = parse_time(&now);
        if let Some(t) = now_t {
            let skew = (Utc::now() - t).num_seconds();
            if skew.abs() > 60 {
                warn!(vcenter = %self.settings.client.url, "vCenter's clock is {skew}s off the router's: the stream and checkpoints use vCenter's time, so delivery is not affected, but check NTP on both");
            }
        }
        let max_age = self.settings.checkpoint.as_ref().map(|c| c.max_replay_age);
        match (cursor.resume_from.take(), now_t, max_age) {
            (Some(cp), Some(now_t), Some(age)) => {
                let floor = now_t - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::hours(1));
                let begin = cp.max(floor);
                if cp < floor {
                    warn!(vcenter = %self.settings.client.url, "checkpoint is from {cp}, older than the replay limit ({}s, maxReplayAgeSeconds): events between {cp} and {floor} are not read again", age.as_secs());
                }
                info!(vcenter = %self.settings.client.url, key = ?cursor.last_key, "resuming after the checkpoint from {begin}");
                let text = begin.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
                cursor.begin = Some(begin);
                cursor.begin_text = Some(text.clone());
                cursor.last_time = Some(text);
            }
            _ => {
                cursor.begin = now_t;
                cursor.begin_text = Some(now.clone());
                // No checkpoint yet: store where the stream starts before any event arrives,
                // so a crash from here on resumes from this point, not from a later "now".
                if let Some(c) = self.settings.checkpoint.as_ref().filter(|c| c.resume.is_none()) {
                    match c.store.save(&Checkpoint::start(c.store.vcenter(), &now)).await {
                        Ok(()) => {
                            info!(location = %c.store.location(), "first checkpoint written: the stream starts at {now}")
                        }
                        Err(e) => error!("{e}"),
                    }
                }
            }
        }
    }

    /// Reads and delivers everything from `from` with a temporary collector of the stream's
    /// page size (so a re-read holds no more than a drain).
    async fn reread(
        &self,
        client: &VimClient,
        from: &str,
        cursor: &mut Cursor,
        out: &Out<'_>,
    ) -> Result<usize, SoapError> {
        let collector = self.open_collector(client, from).await?;
        let read = self.drain(client, &collector, cursor, out).await;
        let _ = client.destroy_collector(&collector).await;
        read
    }

    /// A collector from `from` with the stream's page size.
    async fn open_collector(&self, client: &VimClient, from: &str) -> Result<String, SoapError> {
        let collector = client.create_event_collector(from).await?;
        client
            .set_collector_page_size(&collector, self.settings.page_size)
            .await?;
        Ok(collector)
    }

    /// ReadNextEvents until the collector has nothing more, delivering each batch of the
    /// stream's page size; returns how many events were read.
    async fn drain(
        &self,
        client: &VimClient,
        collector: &str,
        cursor: &mut Cursor,
        out: &Out<'_>,
    ) -> Result<usize, SoapError> {
        let batch = self.settings.page_size;
        let mut total = 0;
        loop {
            let got = tokio::select! {
                got = client.read_next_events(collector, batch) => got?,
                _ = out.fanout.stopped() => return Ok(total),
            };
            let n = got.len();
            total += n;
            self.deliver(cursor, got, out).await;
            if n < batch as usize || out.fanout.is_stopping() {
                return Ok(total);
            }
        }
    }

    async fn deliver(&self, cursor: &mut Cursor, elements: Vec<Element>, out: &Out<'_>) {
        let (table, origin, fanout) = (out.table, &out.origin, out.fanout);
        // Keys are compared as ordinals (see `ordinal`) relative to the last delivered key, or
        // for the very first page to its largest key.
        let reference = cursor
            .last_key
            .or_else(|| elements.iter().filter_map(|el| event_key(el).ok()).max());
        // The new events in key order; each is decoded only when its turn comes, so a page
        // waits for room in the queues as (lazily read) text.
        let mut fresh: BTreeMap<i64, Element> = BTreeMap::new();
        for el in elements {
            match event_key(&el).map(|k| ordinal(k, reference)) {
                Ok(key) if cursor.last_key.is_some_and(|last| key <= last) => {}
                Ok(key) => {
                    fresh.entry(key).or_insert(el);
                }
                Err(e) => {
                    self.stats.error();
                    warn!(vcenter = %origin.source, "skipping unreadable event: {e}");
                }
            }
        }
        // Alarm events are decoded first, so every alarm of the page not cached yet is read in
        // one call before its events go (see `alarms`).
        let mut early: BTreeMap<i64, Result<VsphereEvent, EventError>> = BTreeMap::new();
        if self.settings.alarm_details {
            let mut wanted = Vec::new();
            for (ord, el) in &fresh {
                let Some(ty) = el.xsi_type.as_deref() else { continue };
                let ty = ty.rsplit(':').next().unwrap_or(ty);
                if !alarms::is_alarm_event(table, ty) {
                    continue;
                }
                let decoded = VsphereEvent::decode(el, table);
                if let Ok(ev) = &decoded {
                    if let Some(alarm) = alarms::alarm_of(&ev.data) {
                        if alarms::invalidates(&ev.type_name) {
                            self.alarms.forget(&alarm);
                        }
                        wanted.push(alarm);
                    }
                }
                early.insert(*ord, decoded);
            }
            if !wanted.is_empty() {
                self.alarms.prepare(out.client, table, &wanted, &self.stats).await;
            }
        }
        for (ord, el) in fresh {
            let decoded = early.remove(&ord).unwrap_or_else(|| VsphereEvent::decode(&el, table));
            drop(el);
            let decoded = decoded.map(|mut ev| {
                if self.settings.alarm_details {
                    if let Some(info) = alarms::alarm_of(&ev.data).and_then(|a| self.alarms.get(&a)) {
                        ev.data = alarms::with_alarm_info(std::mem::take(&mut ev.data), &info);
                    }
                }
                ev
            });
            let ev = match decoded {
                Ok(ev) => ev,
                Err(e) => {
                    self.stats.error();
                    warn!(vcenter = %origin.source, "skipping unreadable event: {e}");
                    continue;
                }
            };
            if let (Some(begin), Some(t)) = (cursor.begin, parse_time(&ev.created_time)) {
                if t < begin {
                    continue;
                }
            }
            if !self.settings.leading.holds() {
                // The Lease's renew deadline passed (this process was frozen or cut off): the
                // next leader resumes from the checkpoint, before this event.
                warn!(vcenter = %origin.source, "this replica no longer holds the provider's Lease: event {} and those after it are left to the next leader", ev.key);
                return;
            }
            let (key, event_type, created_time) = (ev.key, ev.name.clone(), ev.created_time.clone());
            self.stats.event();
            cursor.last_key = Some(ord);
            cursor.last_time = Some(created_time.clone());
            self.health.set_position(key, &created_time);
            let ce = match cloudevent::from_vsphere(ev, origin) {
                Ok(ce) => ce,
                Err(e) => {
                    self.stats.error();
                    warn!("{e}");
                    continue;
                }
            };
            let name = tracing::enabled!(tracing::Level::DEBUG).then(|| cloudevent::event_name(&ce));
            let queued = fanout.dispatch_while(&out.from, &self.settings.leading, ce).await;
            if let Some(name) = name {
                debug!(event_id = key, event = %name, processors = queued.matched(), "queued");
            }
            let abandoned = queued.abandoned();
            if let Some(c) = &self.committer {
                let pending = Pending {
                    key,
                    event_type,
                    created_time,
                    delivery: queued,
                };
                // The committer also waits for room; at shutdown an untracked event simply
                // stays after the checkpoint.
                tokio::select! {
                    biased;
                    _ = c.track(pending) => {}
                    _ = fanout.stopped() => return,
                }
            }
            if abandoned {
                return;
            }
        }
    }
}

#[cfg(test)]
#[path = "vcenter_tests.rs"]
mod stream_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::xml::parse;

    #[test]
    fn an_idle_stream_reads_its_page_after_the_first_quiet_poll_then_once_a_minute() {
        let due: Vec<u32> = (1..=20).filter(|n| direct_read_due(*n)).collect();
        assert_eq!(due, [1, 7, 13, 19]);
    }

    fn page(keys: &[i64]) -> Vec<Element> {
        keys.iter()
            .map(|k| {
                parse(&format!(
                    "<returnval><key>{k}</key><createdTime>2026-01-01T00:00:00Z</createdTime></returnval>"
                ))
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn falling_behind_needs_a_full_page_past_the_next_key_and_an_empty_read() {
        assert!(fell_behind(Some(10), &page(&[14, 13]), true, 2));
        assert!(
            !fell_behind(Some(10), &page(&[12, 11]), true, 2),
            "page reaches back to key 11"
        );
        assert!(
            !fell_behind(Some(10), &page(&[14]), true, 2),
            "page not full: nothing older exists"
        );
        assert!(
            !fell_behind(Some(10), &page(&[14, 13]), false, 2),
            "ReadNextEvents is tailing"
        );
        assert!(!fell_behind(None, &page(&[14, 13]), true, 2), "nothing delivered yet");
    }
}
