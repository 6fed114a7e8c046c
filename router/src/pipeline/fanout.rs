//! The fan-out: one bounded queue and one worker per processor. A source hands an event over
//! with [`Fanout::dispatch`]; the returned [`Delivery`] resolves when every processor that took
//! the event has delivered it or given up (the webhook source answers its caller from it; the
//! vCenter source does not wait). A worker with `concurrency` 1 delivers one event (or batch)
//! after the other, in total order; with more, up to that many at once, never two of one object
//! (see [`super::keyed`] and [`super::order_key`]): each object's events in order, different
//! objects in parallel.

use std::sync::Arc;
use std::time::Duration;

use cloudevents::Event;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use super::fair_queue::{self, Closed};
use super::filter::Filter;
use super::keyed::{Key, Scheduler};
use crate::cloudevent::{compact, event_name, Structured};
use crate::console::live::LiveEvents;
use crate::delivery::dead_letter::{DeadLetter, DeadLetters};
use crate::metrics::stats::ComponentStats;
use crate::processors::{Handled, ProcessError, Processor};
use crate::sources::Leading;
use cloudevents::AttributesReader;

/// Events waiting per processor before a source has to wait for room.
pub const QUEUE_CAPACITY: usize = crate::config::defaults::QUEUE_CAPACITY;

struct Job {
    event: Arc<Event>,
    /// What it is ordered with (see [`super::order_key`]).
    key: Key<u64>,
    /// Whether its provider's term still leads (leader election): once not, the job is not
    /// delivered (its ack is dropped: abandoned); the next leader resumes before it.
    leading: Leading,
    ack: oneshot::Sender<Result<(), ProcessError>>,
}

/// One processor with its filter, stats and queue settings.
pub struct Route {
    pub processor: Arc<dyn Processor>,
    pub stats: Arc<ComponentStats>,
    pub filter: Filter,
    /// Events that may wait for the processor (at least 1).
    pub capacity: usize,
    /// Deliveries in flight at once, never two of one object (1: one after the other, in
    /// total order).
    pub concurrency: usize,
}

impl Route {
    /// A route with the defaults (a queue of 1024 events, 8 deliveries at once, each object's
    /// events in order).
    pub fn new(processor: Arc<dyn Processor>, stats: Arc<ComponentStats>, filter: Filter) -> Route {
        Route {
            processor,
            stats,
            filter,
            capacity: QUEUE_CAPACITY,
            concurrency: crate::config::defaults::CONCURRENCY,
        }
    }
}

/// A processor's answer for one event: done, or why it gave up.
type Ack = oneshot::Receiver<Result<(), ProcessError>>;

struct Lane {
    /// Shared with every delivery that waits on this lane (no copy per event).
    name: Arc<str>,
    filter: Filter,
    tx: fair_queue::Sender<Job>,
    stats: Arc<ComponentStats>,
}

/// Hands events to the processors; dropping every clone closes the queues and the workers
/// finish what is queued.
pub struct Fanout {
    lanes: Vec<Lane>,
    needs_json: bool,
    /// Some processor delivers several events at once: events need their order key.
    keyed: bool,
    /// Shutdown: a source waiting for room in a full queue gives up when it turns true.
    stop: Option<watch::Receiver<bool>>,
    /// Every dispatched event, for the console's live view.
    live: Arc<LiveEvents>,
}

/// The workers behind a [`Fanout`], to wait for at shutdown.
pub struct Workers(Vec<(String, JoinHandle<()>)>);

/// How a dispatched event ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Every processor that took it delivered it (or skipped it).
    Done,
    /// A processor gave up on it.
    Failed(Vec<String>),
    /// A processor stopped before finishing it (shutdown grace exceeded).
    Abandoned,
}

/// What became of one dispatched event.
pub struct Delivery {
    pending: Vec<(Arc<str>, Ack)>,
    /// Shutdown came while a matching processor's queue was full: not every processor took it.
    abandoned: bool,
}

impl Delivery {
    /// How many processors took the event.
    pub fn matched(&self) -> usize {
        self.pending.len()
    }

    /// Whether shutdown stopped the hand-over before every matching processor took the event.
    pub fn abandoned(&self) -> bool {
        self.abandoned
    }

    /// Waits for every processor that took the event, telling a failure (the processor gave
    /// up, the event is logged and dead-lettered) from an abandoned delivery (shutdown).
    pub async fn settle(self) -> Settled {
        if self.abandoned {
            return Settled::Abandoned;
        }
        let mut failed = Vec::new();
        for (name, rx) in self.pending {
            match rx.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failed.push(format!("processor {name}: {e}")),
                Err(_) => return Settled::Abandoned,
            }
        }
        if failed.is_empty() {
            Settled::Done
        } else {
            Settled::Failed(failed)
        }
    }

    /// Waits for every processor that took the event; the error lists each failure.
    pub async fn outcome(self) -> Result<usize, Vec<String>> {
        let n = self.pending.len();
        let mut failed = Vec::new();
        if self.abandoned {
            failed.push("the router is shutting down: not every processor took the event".to_string());
        }
        for (name, rx) in self.pending {
            match rx.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failed.push(format!("processor {name}: {e}")),
                Err(_) => failed.push(format!("processor {name}: stopped before delivering")),
            }
        }
        if failed.is_empty() {
            Ok(n)
        } else {
            Err(failed)
        }
    }
}

impl Fanout {
    /// Starts one worker per route; events a processor gives up on go to `dead_letters`.
    pub fn start(routes: Vec<Route>, dead_letters: Option<Arc<DeadLetters>>) -> (Arc<Fanout>, Workers) {
        Fanout::launch(routes, dead_letters, None)
    }

    fn launch(
        routes: Vec<Route>,
        dead_letters: Option<Arc<DeadLetters>>,
        stop: Option<watch::Receiver<bool>>,
    ) -> (Arc<Fanout>, Workers) {
        let mut lanes = Vec::new();
        let mut workers = Vec::new();
        let keyed = routes.iter().any(|r| r.concurrency > 1);
        for route in routes {
            let (tx, rx) = fair_queue::channel(route.capacity.max(1));
            let name = route.stats.name.clone();
            route.stats.set_queue_capacity(route.capacity.max(1));
            info!(processor = %name, kind = route.processor.kind(), sink = %route.processor.address(), filter = %route.filter.describe(), "processor ready");
            lanes.push(Lane {
                name: name.as_str().into(),
                filter: route.filter,
                tx,
                stats: route.stats.clone(),
            });
            workers.push((
                name,
                tokio::spawn(work(
                    route.processor,
                    route.stats,
                    dead_letters.clone(),
                    (route.concurrency.max(1), route.capacity.max(1)),
                    rx,
                )),
            ));
        }
        let needs_json = lanes.iter().any(|l| l.filter.needs_json());
        (
            Arc::new(Fanout {
                lanes,
                needs_json,
                keyed,
                stop,
                live: Arc::default(),
            }),
            Workers(workers),
        )
    }

    /// Like [`Fanout::start`]; a source waiting for room in a full queue stops waiting when
    /// `stop` turns true, and that event counts as abandoned (held back from checkpoints).
    pub fn start_until(
        routes: Vec<Route>,
        dead_letters: Option<Arc<DeadLetters>>,
        stop: watch::Receiver<bool>,
    ) -> (Arc<Fanout>, Workers) {
        Fanout::launch(routes, dead_letters, Some(stop))
    }

    /// The feed of every dispatched event (the console's live view).
    pub fn live(&self) -> Arc<LiveEvents> {
        self.live.clone()
    }

    /// Whether shutdown has begun (never, for a fan-out started without a stop signal).
    pub fn is_stopping(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| *s.borrow())
    }

    /// Resolves when shutdown begins; never for a fan-out started without a stop signal (or
    /// once its sender is gone).
    pub async fn stopped(&self) {
        if let Some(stop) = &self.stop {
            if stop.clone().wait_for(|s| *s).await.is_ok() {
                return;
            }
        }
        std::future::pending::<()>().await
    }

    /// Sends `job` into `lane` in `from`'s line, waiting for room unless shutdown comes first
    /// (`None`).
    async fn send(&self, lane: &Lane, from: &Arc<str>, job: Job) -> Option<Result<(), Closed<Job>>> {
        tokio::select! {
            biased;
            sent = lane.tx.send(from, job) => Some(sent),
            _ = self.stopped() => None,
        }
    }

    /// Queues the event from provider `from` for every processor whose filter accepts it,
    /// waiting while `from`'s share of a queue is full. JSON data is queued as its text.
    pub async fn dispatch(&self, from: &Arc<str>, event: Event) -> Delivery {
        self.dispatch_while(from, &Leading::default(), event).await
    }

    /// Like [`Fanout::dispatch`], for a provider under leader election: the event is delivered
    /// only while `leading` holds. Once its term has lost the Lease, the event is no longer
    /// sent: not when it is taken from the queue, and not on a retry (a delivery under way is
    /// stopped); its [`Delivery`] settles as abandoned and the next leader delivers it from the
    /// shared checkpoint, so two replicas never deliver one provider's events at once.
    pub async fn dispatch_while(&self, from: &Arc<str>, leading: &Leading, event: Event) -> Delivery {
        let json = if self.needs_json {
            match serde_json::to_value(Structured(&event)) {
                Ok(v) => Some(v),
                Err(e) => {
                    warn!("cannot render event as JSON for pattern filters: {e}");
                    None
                }
            }
        } else {
            None
        };
        // Held as JSON text while it waits (see cloudevent::compact).
        let event = Arc::new(compact(event));
        self.live.publish(&event);
        let key = if self.keyed {
            super::order_key::of(&event)
        } else {
            Key::Barrier
        };
        let mut pending = Vec::new();
        let mut abandoned = false;
        for lane in &self.lanes {
            if !lane.filter.accepts(&event, json.as_ref()) {
                continue;
            }
            let (ack, rx) = oneshot::channel();
            let job = Job {
                event: event.clone(),
                key: key.clone(),
                leading: leading.clone(),
                ack,
            };
            lane.stats.queue_moved(1);
            let sent = self.send(lane, from, job).await;
            if !matches!(sent, Some(Ok(()))) {
                lane.stats.queue_moved(-1);
            }
            match sent {
                Some(Ok(())) => pending.push((lane.name.clone(), rx)),
                Some(Err(_)) => warn!(processor = %lane.name, "processor worker has stopped; event not queued"),
                None => {
                    debug!(processor = %lane.name, "shutting down while the queue is full; event not queued");
                    abandoned = true;
                    break;
                }
            }
        }
        Delivery { pending, abandoned }
    }
}

impl Workers {
    /// Waits up to `grace` for the queues to drain (the fan-out must be dropped first).
    pub async fn finish(self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        for (name, handle) in self.0 {
            let abort = handle.abort_handle();
            if tokio::time::timeout_at(deadline, handle).await.is_err() {
                abort.abort();
                warn!(processor = %name, "stopped with events still queued after {}s: they were not delivered", grace.as_secs());
            }
        }
    }
}

/// One processor's worker: `limits` is (concurrency, queue capacity).
async fn work(
    processor: Arc<dyn Processor>,
    stats: Arc<ComponentStats>,
    dead_letters: Option<Arc<DeadLetters>>,
    (concurrency, capacity): (usize, usize),
    mut rx: fair_queue::Receiver<Job>,
) {
    let max = processor.max_batch().max(1);
    if concurrency == 1 {
        // Total order: one delivery (or batch) after the other.
        loop {
            let mut jobs: Vec<Job> = Vec::with_capacity(max);
            let n = rx.recv_many(&mut jobs, max).await;
            if n == 0 {
                return;
            }
            stats.queue_moved(-(n as i64));
            deliver(processor.clone(), stats.clone(), dead_letters.clone(), jobs).await;
        }
    }
    // Keyed: up to `concurrency` deliveries (batches of distinct objects) at once; the jobs the
    // scheduler holds back still count as queued, and it holds at most a queue's worth.
    let mut sched: Scheduler<u64, Job> = Scheduler::new(concurrency * max);
    let mut in_flight = tokio::task::JoinSet::new();
    let mut running: std::collections::HashMap<tokio::task::Id, Vec<Key<u64>>> = Default::default();
    let mut open = true;
    let mut received: Vec<Job> = Vec::with_capacity(max.max(64));
    loop {
        while in_flight.len() < concurrency {
            let mut batch = Vec::new();
            let mut keys = Vec::new();
            while batch.len() < max {
                let Some((_, key, job)) = sched.start_next() else { break };
                keys.push(key);
                batch.push(job);
            }
            if batch.is_empty() {
                break;
            }
            stats.queue_moved(-(batch.len() as i64));
            let (p, s, d) = (processor.clone(), stats.clone(), dead_letters.clone());
            let handle = in_flight.spawn(deliver(p, s, d, batch));
            running.insert(handle.id(), keys);
        }
        if !open && sched.is_idle() && in_flight.is_empty() {
            return;
        }
        tokio::select! {
            n = rx.recv_many(&mut received, max.max(64)), if open && sched.waiting() < capacity => {
                if n == 0 {
                    open = false;
                }
                for job in received.drain(..) {
                    let key = job.key.clone();
                    sched.push(key, job);
                }
            }
            Some(done) = in_flight.join_next_with_id(), if !in_flight.is_empty() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => e.id(),
                };
                for key in running.remove(&id).unwrap_or_default() {
                    sched.done(&key);
                }
            }
        }
    }
}

/// A batch split by the jobs' Lease gates, each part in arrival order: one part unless the
/// providers of several leadership terms share the batch (EventBridge batches several events),
/// so one provider's loss of its Lease never stops or repeats another's delivery.
fn by_gate(jobs: Vec<Job>) -> Vec<Vec<Job>> {
    let mut parts: Vec<Vec<Job>> = Vec::new();
    for job in jobs {
        match parts.iter_mut().find(|p| p[0].leading.same(&job.leading)) {
            Some(part) => part.push(job),
            None => parts.push(vec![job]),
        }
    }
    parts
}

/// Delivers one batch and acknowledges each job (see [`deliver_part`]).
async fn deliver(
    processor: Arc<dyn Processor>,
    stats: Arc<ComponentStats>,
    dead_letters: Option<Arc<DeadLetters>>,
    jobs: Vec<Job>,
) {
    for part in by_gate(jobs) {
        deliver_part(&processor, &stats, dead_letters.as_deref(), part).await;
    }
}

/// Notes that `n` events were left unsent because their term lost its Lease (their acks are
/// dropped: abandoned, held back from the checkpoint).
fn deposed(stats: &ComponentStats, n: usize) {
    debug!(processor = %stats.name, "{n} event(s) not delivered: their provider's Lease was lost; the next leader delivers them from the checkpoint");
}

/// Delivers jobs of one Lease gate. Once the gate has closed nothing more is sent: not the
/// jobs, not a retry of a delivery under way (it is stopped), not a dead-letter retry; the jobs
/// are neither acknowledged nor dead-lettered, and the next leader delivers them.
async fn deliver_part(
    processor: &Arc<dyn Processor>,
    stats: &Arc<ComponentStats>,
    dead_letters: Option<&DeadLetters>,
    jobs: Vec<Job>,
) {
    let Some(gate) = jobs.first().map(|j| j.leading.clone()) else {
        return;
    };
    if !gate.holds() {
        return deposed(stats, jobs.len());
    }
    let events: Vec<Arc<Event>> = jobs.iter().map(|j| j.event.clone()).collect();
    let results = tokio::select! {
        biased;
        _ = gate.closed() => return deposed(stats, jobs.len()),
        r = crate::delivery::retry::observed(stats.clone(), processor.process_batch(&events)) => r,
    };
    let mut results = results.into_iter();
    for job in jobs {
        let name = event_name(&job.event);
        let result = results.next().unwrap_or_else(|| {
            Err(ProcessError::Exhausted {
                id: job.event.id().to_string(),
                attempts: 0,
                last: "the processor returned no result for the event".into(),
            })
        });
        let result = match result {
            Ok(handled) => Ok(handled),
            Err(e) if !gate.holds() => {
                // Given up on after the Lease was lost: the next leader tries it.
                debug!(processor = %stats.name, "delivery failed after the Lease was lost: {e}");
                deposed(stats, 1);
                continue;
            }
            Err(e) => {
                stats.error();
                stats.set_last_error(e.to_string());
                stats.invocation(&name, false);
                debug!(processor = %stats.name, "delivery failed: {e}");
                match dead_letters {
                    Some(dl) => match dead_letter(dl, processor.as_ref(), stats, &job.event, &gate, e).await {
                        Some(result) => result,
                        None => {
                            deposed(stats, 1);
                            continue;
                        }
                    },
                    None => {
                        warn!(processor = %stats.name, event_id = %job.event.id(), "event not delivered and no dead-letter file (deadLetterFile, or checkpoints on a vCenter provider): it is lost ({e})");
                        Err(e)
                    }
                }
            }
        };
        match &result {
            Ok(Handled::Sent) => {
                stats.event();
                stats.invocation(&name, true);
            }
            Ok(Handled::Skipped) => debug!(processor = %stats.name, event = %name, "not selected by the processor"),
            Err(_) => {}
        }
        let _ = job.ack.send(result.map(|_| ()));
    }
}

/// Longest wait between two tries while the dead-letter file cannot be written.
const DEAD_LETTER_RETRY_MAX: Duration = Duration::from_secs(30);

/// Writes the event the processor gave up on to the dead-letter file; the result is the
/// processor's error once the letter is safe. While the file cannot be written (a full disk,
/// a permission), the event is not given up: the delivery and then the write are tried again
/// with a capped backoff, so this processor's queue fills and the sources pause; at shutdown the
/// worker is stopped here and the event stays before the checkpoint. `None`: `gate` closed
/// first (the Lease was lost), and the event is left to the next leader.
async fn dead_letter(
    dl: &DeadLetters,
    processor: &dyn Processor,
    stats: &ComponentStats,
    event: &Event,
    gate: &Leading,
    mut e: ProcessError,
) -> Option<Result<Handled, ProcessError>> {
    let mut failures: u32 = 0;
    loop {
        if !gate.holds() {
            return None;
        }
        let letter = DeadLetter {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            processor: stats.name.clone(),
            error: e.to_string(),
            event: event.clone(),
        };
        match dl.write(&letter) {
            Ok(()) => {
                stats.dead_letter();
                warn!(processor = %stats.name, event_id = %event.id(), file = %dl.path().display(), "event written to the dead-letter file ({e}); `event-router dlq replay` sends it again");
                return Some(Err(e));
            }
            Err(io) => {
                stats.dead_letter_failure();
                failures += 1;
                let wait = Duration::from_millis(500u64 << failures.min(6)).min(DEAD_LETTER_RETRY_MAX);
                if failures == 1 {
                    error!(processor = %stats.name, event_id = %event.id(), file = %dl.path().display(), "cannot write the dead-letter file ({io}): the event stays undelivered and is tried again every {}s at most; fix the file or its disk", DEAD_LETTER_RETRY_MAX.as_secs());
                } else {
                    debug!(processor = %stats.name, event_id = %event.id(), "dead-letter write failed again ({io})");
                }
                let again = tokio::select! {
                    biased;
                    _ = gate.closed() => return None,
                    again = async {
                        tokio::time::sleep(wait).await;
                        processor.process(event).await
                    } => again,
                };
                match again {
                    Ok(()) => {
                        info!(processor = %stats.name, event_id = %event.id(), "event delivered on a later try");
                        return Some(Ok(Handled::Sent));
                    }
                    Err(again) => e = again,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::BoxFuture;
    use cloudevents::{EventBuilder, EventBuilderV10};
    use std::sync::Mutex;

    /// Records ids; fails events whose subject is "fail"; waits on `gate` when set.
    struct Probe {
        got: Mutex<Vec<String>>,
        gate: Option<Arc<tokio::sync::Notify>>,
        /// Events per batch (1: no batching).
        batch: usize,
    }

    impl Processor for Probe {
        fn process<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), ProcessError>> {
            Box::pin(async move {
                if let Some(g) = &self.gate {
                    g.notified().await;
                }
                self.got.lock().unwrap().push(event.id().to_string());
                if event.subject() == Some("fail") {
                    return Err(ProcessError::Rejected {
                        id: event.id().into(),
                        detail: "no".into(),
                    });
                }
                Ok(())
            })
        }
        fn kind(&self) -> &'static str {
            "probe"
        }
        fn address(&self) -> String {
            "memory".into()
        }
        fn max_batch(&self) -> usize {
            self.batch
        }
    }

    /// The provider every test event comes from, unless a test names another.
    fn src() -> Arc<str> {
        "vc".into()
    }

    fn event(id: &str, subject: &str) -> Event {
        EventBuilderV10::new()
            .id(id)
            .source("s")
            .ty("t")
            .subject(subject)
            .build()
            .unwrap()
    }

    fn route(name: &str, names: &[&str], gate: Option<Arc<tokio::sync::Notify>>) -> (Route, Arc<Probe>) {
        let probe = Arc::new(Probe {
            got: Mutex::new(Vec::new()),
            gate,
            batch: 1,
        });
        let cfg = crate::config::EventFilter {
            event_names: names.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let route = Route::new(
            probe.clone(),
            ComponentStats::new("EventProcessor", "probe", name, "memory"),
            Filter::new(Some(&cfg)).unwrap(),
        );
        (route, probe)
    }

    #[tokio::test]
    async fn events_reach_only_matching_processors_and_failures_are_reported() {
        let (a, pa) = route("a", &["on", "fail"], None);
        let (b, pb) = route("b", &["off", "fail"], None);
        let (stats_a, stats_b) = (a.stats.clone(), b.stats.clone());
        let (fanout, workers) = Fanout::start(vec![a, b], None);
        assert_eq!(fanout.dispatch(&src(), event("1", "on")).await.outcome().await, Ok(1));
        assert_eq!(fanout.dispatch(&src(), event("2", "off")).await.outcome().await, Ok(1));
        let none = fanout.dispatch(&src(), event("3", "other")).await;
        assert_eq!(none.matched(), 0);
        let failed = fanout
            .dispatch(&src(), event("4", "fail"))
            .await
            .outcome()
            .await
            .unwrap_err();
        assert_eq!(failed.len(), 2, "{failed:?}");
        assert!(
            failed[0].starts_with("processor a: sink rejected event 4"),
            "{failed:?}"
        );
        drop(fanout);
        workers.finish(Duration::from_secs(5)).await;
        assert_eq!(*pa.got.lock().unwrap(), ["1", "4"]);
        assert_eq!(*pb.got.lock().unwrap(), ["2", "4"]);
        assert_eq!((stats_a.total(), stats_a.errors()), (1, 1));
        assert_eq!(stats_b.invocations()["fail"].failure, 1);
    }

    #[tokio::test]
    async fn a_provider_that_lost_its_lease_has_nothing_more_sent_and_others_go_on() {
        for concurrency in [1, crate::config::defaults::CONCURRENCY] {
            // The sink holds each delivery (as a retrying one does) until released.
            let hold = Arc::new(tokio::sync::Notify::new());
            let (mut r, probe) = route("held", &[], Some(hold.clone()));
            r.concurrency = concurrency;
            let (fanout, workers) = Fanout::start(vec![r], None);
            let (leading, open) = gate();
            let elected: Arc<str> = "elected".into();
            let first = fanout.dispatch_while(&elected, &leading, event("1", "x")).await;
            let second = fanout.dispatch_while(&elected, &leading, event("2", "x")).await;
            let other = fanout.dispatch(&src(), event("3", "x")).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(probe.got.lock().unwrap().is_empty(), "the first delivery is under way");
            // The Lease is lost: the delivery under way stops, the queued event is not sent,
            // and the other provider's event is delivered.
            open.store(false, std::sync::atomic::Ordering::SeqCst);
            let settled = tokio::time::timeout(Duration::from_secs(2), first.settle()).await;
            assert_eq!(settled, Ok(Settled::Abandoned), "concurrency {concurrency}");
            // The other provider's event may come first (the queue takes providers in turn).
            hold.notify_one();
            assert_eq!(second.settle().await, Settled::Abandoned);
            assert_eq!(other.settle().await, Settled::Done);
            assert_eq!(*probe.got.lock().unwrap(), ["3"], "concurrency {concurrency}");
            drop(fanout);
            workers.finish(Duration::from_secs(5)).await;
        }
    }

    /// A gate that closes when `open` turns false.
    fn gate() -> (Leading, Arc<std::sync::atomic::AtomicBool>) {
        let open = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = open.clone();
        (
            Leading::new(move || flag.load(std::sync::atomic::Ordering::SeqCst)),
            open,
        )
    }

    #[tokio::test]
    async fn a_batch_shared_by_two_terms_is_sent_per_term_and_a_lost_lease_repeats_nothing() {
        let hold = Arc::new(tokio::sync::Notify::new());
        let probe = Arc::new(Probe {
            got: Mutex::new(Vec::new()),
            gate: Some(hold.clone()),
            batch: 2,
        });
        let mut r = Route::new(
            probe.clone(),
            ComponentStats::new("EventProcessor", "probe", "batched", "memory"),
            Filter::new(None).unwrap(),
        );
        r.concurrency = 1;
        let (fanout, workers) = Fanout::start(vec![r], None);
        let ((gate_a, open_a), (gate_b, _)) = (gate(), gate());
        // One event holds the worker, so the next two wait and are taken as one batch: b's, a's.
        let first = fanout.dispatch(&src(), event("x", "x")).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let b = fanout.dispatch_while(&"b".into(), &gate_b, event("b1", "x")).await;
        let a = fanout.dispatch_while(&"a".into(), &gate_a, event("a1", "x")).await;
        hold.notify_one();
        assert_eq!(first.settle().await, Settled::Done);
        tokio::time::sleep(Duration::from_millis(50)).await;
        hold.notify_one();
        let b = tokio::time::timeout(Duration::from_secs(2), b.settle()).await;
        assert_eq!(b, Ok(Settled::Done), "b's term is sent on its own");
        // a's delivery is under way when a's term loses its Lease: it stops, and b's event,
        // already delivered, is not sent again.
        tokio::time::sleep(Duration::from_millis(50)).await;
        open_a.store(false, std::sync::atomic::Ordering::SeqCst);
        let a = tokio::time::timeout(Duration::from_secs(2), a.settle()).await;
        assert_eq!(a, Ok(Settled::Abandoned));
        assert_eq!(*probe.got.lock().unwrap(), ["x", "b1"]);
        drop(fanout);
        workers.finish(Duration::from_secs(5)).await;
    }

    #[tokio::test]
    async fn a_dead_letter_retry_stops_when_the_lease_is_lost() {
        // The sink refuses the event and the dead-letter file cannot be written (its folder is
        // a device): the event is tried again every second or so, until the Lease is lost.
        let (r, probe) = route("refusing", &[], None);
        let letters = Arc::new(DeadLetters::new("/dev/null/letters/dead-letters.jsonl"));
        let (fanout, workers) = Fanout::start(vec![r], Some(letters));
        let (leading, open) = gate();
        let refused = fanout.dispatch_while(&src(), &leading, event("1", "fail")).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        open.store(false, std::sync::atomic::Ordering::SeqCst);
        let settled = tokio::time::timeout(Duration::from_secs(2), refused.settle()).await;
        assert_eq!(
            settled,
            Ok(Settled::Abandoned),
            "left to the next leader, not dead-lettered"
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            *probe.got.lock().unwrap(),
            ["1"],
            "not tried again after the Lease was lost"
        );
        drop(fanout);
        workers.finish(Duration::from_secs(5)).await;
    }

    #[tokio::test]
    async fn a_stuck_processor_does_not_hold_up_another() {
        let gate = Arc::new(tokio::sync::Notify::new());
        let (slow, ps) = route("slow", &[], Some(gate.clone()));
        let (fast, pf) = route("fast", &[], None);
        let (fanout, workers) = Fanout::start(vec![slow, fast], None);
        let mut slow_acks = Vec::new();
        for i in 0..10 {
            let d = fanout.dispatch(&src(), event(&i.to_string(), "x")).await;
            slow_acks.push(d);
        }
        // The fast one has everything while the slow one has nothing yet.
        for _ in 0..100 {
            if pf.got.lock().unwrap().len() == 10 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(pf.got.lock().unwrap().len(), 10);
        assert!(ps.got.lock().unwrap().is_empty());
        drop(fanout);
        // At shutdown the stuck worker is abandoned after the grace period and its callers hear so.
        workers.finish(Duration::from_millis(100)).await;
        let outcome = slow_acks.pop().unwrap().outcome().await.unwrap_err();
        assert_eq!(outcome, ["processor slow: stopped before delivering"]);
    }

    #[tokio::test]
    async fn shutdown_stops_a_source_waiting_for_room_and_the_event_is_held_back() {
        let gate = Arc::new(tokio::sync::Notify::new());
        let (mut stuck, _probe) = route("stuck", &[], Some(gate));
        stuck.capacity = 1;
        // One delivery at a time: the queue alone holds what waits.
        stuck.concurrency = 1;
        let (stop_tx, stop_rx) = watch::channel(false);
        let (fanout, workers) = Fanout::start_until(vec![stuck], None, stop_rx);
        // One in the worker (waiting on the gate), one in the queue: the third has no room.
        let first = fanout.dispatch(&src(), event("1", "x")).await;
        let _second = fanout.dispatch(&src(), event("2", "x")).await;
        let waiting = tokio::spawn({
            let fanout = fanout.clone();
            async move { fanout.dispatch(&src(), event("3", "x")).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the third event should wait for room");
        stop_tx.send(true).unwrap();
        let third = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("shutdown ends the wait")
            .unwrap();
        assert!(third.abandoned());
        assert_eq!(third.settle().await, Settled::Abandoned);
        assert!(!first.abandoned());
        drop(fanout);
        workers.finish(Duration::from_millis(50)).await;
    }

    #[tokio::test]
    async fn a_quiet_provider_is_not_held_up_by_a_busy_ones_backlog() {
        let gate = Arc::new(tokio::sync::Notify::new());
        let (mut r, probe) = route("r", &[], Some(gate.clone()));
        r.capacity = 4;
        r.concurrency = 1;
        let stats = r.stats.clone();
        let (fanout, workers) = Fanout::start(vec![r], None);
        let (busy, quiet): (Arc<str>, Arc<str>) = ("busy".into(), "quiet".into());
        // The busy provider fills the queue (the worker holds one at the gate) and then waits.
        let busy_source = tokio::spawn({
            let (fanout, busy) = (fanout.clone(), busy.clone());
            async move {
                let mut acks = Vec::new();
                for i in 0..10 {
                    acks.push(fanout.dispatch(&busy, event(&format!("b{i}"), "x")).await);
                }
                acks
            }
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while stats.queue().0 < 4 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the busy provider never filled the queue"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!busy_source.is_finished(), "the busy provider waits for room");
        // The quiet provider's event is queued at once, beside the busy backlog.
        let quiet_ack = tokio::time::timeout(Duration::from_secs(5), fanout.dispatch(&quiet, event("q0", "x")))
            .await
            .expect("the quiet provider waited behind the busy one");
        while probe.got.lock().unwrap().len() < 11 {
            assert!(
                tokio::time::Instant::now() < deadline + Duration::from_secs(5),
                "deliveries stalled"
            );
            gate.notify_one();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let got = probe.got.lock().unwrap().clone();
        let at = got.iter().position(|id| id == "q0").unwrap();
        assert!(at <= 2, "q0 waited behind the busy backlog: {got:?}");
        let busy_order: Vec<&String> = got.iter().filter(|id| id.starts_with('b')).collect();
        let want: Vec<String> = (0..10).map(|i| format!("b{i}")).collect();
        assert_eq!(
            busy_order,
            want.iter().collect::<Vec<_>>(),
            "each provider's own order is kept"
        );
        assert_eq!(quiet_ack.settle().await, Settled::Done);
        for ack in busy_source.await.unwrap() {
            assert_eq!(ack.settle().await, Settled::Done);
        }
        drop(fanout);
        workers.finish(Duration::from_secs(5)).await;
    }

    #[tokio::test]
    async fn a_dropped_stop_sender_never_abandons() {
        let (stop_tx, stop_rx) = watch::channel(false);
        drop(stop_tx);
        let (r, probe) = route("r", &[], None);
        let (fanout, workers) = Fanout::start_until(vec![r], None, stop_rx);
        for i in 0..5 {
            let d = fanout.dispatch(&src(), event(&i.to_string(), "x")).await;
            assert_eq!(d.settle().await, Settled::Done);
        }
        drop(fanout);
        workers.finish(Duration::from_secs(5)).await;
        assert_eq!(probe.got.lock().unwrap().len(), 5);
    }

    /// Counts how many deliveries run at once.
    struct Overlap {
        now: std::sync::atomic::AtomicUsize,
        max: std::sync::atomic::AtomicUsize,
    }

    impl Processor for Overlap {
        fn process<'a>(&'a self, _event: &'a Event) -> BoxFuture<'a, Result<(), ProcessError>> {
            use std::sync::atomic::Ordering::SeqCst;
            Box::pin(async move {
                let n = self.now.fetch_add(1, SeqCst) + 1;
                self.max.fetch_max(n, SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                self.now.fetch_sub(1, SeqCst);
                Ok(())
            })
        }
        fn kind(&self) -> &'static str {
            "overlap"
        }
        fn address(&self) -> String {
            "memory".into()
        }
    }

    #[tokio::test]
    async fn concurrency_is_the_configured_limit() {
        for limit in [1, 4] {
            let p = Arc::new(Overlap {
                now: Default::default(),
                max: Default::default(),
            });
            let mut r = Route::new(
                p.clone(),
                ComponentStats::new("EventProcessor", "o", "o", "m"),
                Filter::default(),
            );
            r.concurrency = limit;
            let (fanout, workers) = Fanout::start(vec![r], None);
            let mut pending = Vec::new();
            for i in 0..12 {
                // Twelve objects (a webhook event's key is its subject).
                pending.push(fanout.dispatch(&src(), event(&i.to_string(), &format!("x{i}"))).await);
            }
            for d in pending {
                assert_eq!(d.settle().await, Settled::Done);
            }
            drop(fanout);
            workers.finish(Duration::from_secs(5)).await;
            assert_eq!(p.max.load(std::sync::atomic::Ordering::SeqCst), limit);
        }
    }

    /// A processor that records, per subject, each event's start and end, taking a little time.
    struct Timeline {
        log: Mutex<Vec<(String, String, bool)>>,
    }

    impl Processor for Timeline {
        fn process<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), ProcessError>> {
            Box::pin(async move {
                let subject = event.subject().unwrap_or("").to_string();
                self.log
                    .lock()
                    .unwrap()
                    .push((subject.clone(), event.id().to_string(), true));
                tokio::time::sleep(Duration::from_millis(1 + (event.id().len() as u64 % 3))).await;
                self.log.lock().unwrap().push((subject, event.id().to_string(), false));
                Ok(())
            })
        }
        fn kind(&self) -> &'static str {
            "timeline"
        }
        fn address(&self) -> String {
            "memory".into()
        }
    }

    #[tokio::test]
    async fn by_default_one_objects_events_never_overlap_and_keep_their_order() {
        let p = Arc::new(Timeline {
            log: Mutex::new(Vec::new()),
        });
        let r = Route::new(
            p.clone(),
            ComponentStats::new("EventProcessor", "t", "t", "m"),
            Filter::default(),
        );
        assert_eq!(r.concurrency, 8, "the default");
        let (fanout, workers) = Fanout::start(vec![r], None);
        let mut pending = Vec::new();
        for i in 0..60 {
            let object = format!("obj{}", i % 4);
            pending.push(fanout.dispatch(&src(), event(&format!("{i:03}"), &object)).await);
        }
        for d in pending {
            assert_eq!(d.settle().await, Settled::Done);
        }
        drop(fanout);
        workers.finish(Duration::from_secs(5)).await;
        let log = p.log.lock().unwrap().clone();
        let mut open: std::collections::HashMap<String, String> = Default::default();
        let mut last: std::collections::HashMap<String, String> = Default::default();
        let mut overlap = 0usize;
        let mut running = 0usize;
        for (object, id, start) in log {
            if start {
                assert!(
                    open.insert(object.clone(), id.clone()).is_none(),
                    "two of {object} at once"
                );
                if let Some(prev) = last.get(&object) {
                    assert!(prev < &id, "{object}: {id} after {prev}");
                }
                last.insert(object, id);
                running += 1;
                overlap = overlap.max(running);
            } else {
                open.remove(&object);
                running -= 1;
            }
        }
        assert!(overlap > 1, "different objects ran in parallel");
    }
}
