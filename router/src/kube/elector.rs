//! Competing for one Lease and holding it, as client-go's LeaderElector does
//! (kubernetes/client-go, tools/leaderelection/leaderelection.go, `acquire`, `renew` and
//! `release`): [`Candidate::acquire`] tries every retry period (and at the moment the holder's
//! Lease would expire) until this replica holds the Lease or shutdown comes; the [`Leadership`]
//! it returns renews the Lease in the background every retry period and reports its loss:
//! another holder in the Lease, or no successful renewal within the renew deadline. The deadline
//! counts from when the last successful renewal was *sent*, and a standby counts its lease
//! duration from when it *saw* that renewal, later: with renewDeadline < leaseDuration the
//! leader stops before any standby may start. Released on request, or when the Leadership is
//! dropped (client-go's ReleaseOnCancel), so a standby takes over at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::Value;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::lease::{self, Decision, Observed};
use crate::apiserver::{ApiClient, ApiError};
use crate::sources::{Leading, ProblemLog};

/// One Lease and how this replica competes for it.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub name: String,
    pub namespace: String,
    /// This replica's holder identity.
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl LeaseSettings {
    fn collection(&self) -> String {
        format!("/apis/coordination.k8s.io/v1/namespaces/{}/leases", self.namespace)
    }

    fn path(&self) -> String {
        format!("{}/{}", self.collection(), self.name)
    }

    /// The Lease as messages name it.
    pub fn what(&self) -> String {
        format!("Lease {}/{}", self.namespace, self.name)
    }

    /// The retry period with up to 20 % added at random, so replicas started together do not
    /// ask in step (client-go adds up to 120 %; less keeps a takeover quick).
    fn jittered(&self) -> Duration {
        let extra: f64 = rand::rng().random_range(0.0..0.2);
        self.retry_period.mul_f64(1.0 + extra)
    }
}

/// A replica that does not hold the Lease, competing for it.
#[derive(Debug)]
pub struct Candidate {
    api: ApiClient,
    lease: LeaseSettings,
    /// The record last read, and since when it has not changed (expiry is judged by it).
    observed: Option<Observed>,
}

/// What one try to acquire came to.
enum Attempt {
    /// This replica holds the Lease: the object as written.
    Held(Value),
    /// Another replica holds it (or won the race): try again at the latest at `next`.
    Wait { holder: String, next: Instant },
}

impl Candidate {
    pub fn new(api: ApiClient, lease: LeaseSettings) -> Candidate {
        Candidate {
            api,
            lease,
            observed: None,
        }
    }

    pub fn lease(&self) -> &LeaseSettings {
        &self.lease
    }

    /// Waits until this replica holds the Lease (`None`: shutdown came first).
    pub async fn acquire(&mut self, shutdown: &mut watch::Receiver<bool>) -> Option<Leadership> {
        let mut problems = ProblemLog::default();
        let mut waiting_for: Option<String> = None;
        loop {
            if *shutdown.borrow() {
                return None;
            }
            let sent = Instant::now();
            let attempt = tokio::select! {
                a = self.try_acquire() => a,
                _ = shutdown.wait_for(|s| *s) => return None,
            };
            let retry = Instant::now() + self.lease.jittered();
            let next = match attempt {
                Ok(Attempt::Held(object)) => {
                    info!(lease = %self.lease.what(), identity = %self.lease.identity, "acquired the Lease: this replica leads");
                    return Some(Leadership::start(self.api.clone(), self.lease.clone(), object, sent));
                }
                Ok(Attempt::Wait { holder, next }) => {
                    if waiting_for.as_deref() != Some(holder.as_str()) {
                        info!(lease = %self.lease.what(), "standing by: {holder} holds the Lease");
                        waiting_for = Some(holder);
                    }
                    next.min(retry)
                }
                Err(e) => {
                    problems.report(&self.lease.what(), e.to_string(), self.lease.retry_period);
                    retry
                }
            };
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = shutdown.wait_for(|s| *s) => return None,
            }
        }
    }

    async fn try_acquire(&mut self) -> Result<Attempt, ApiError> {
        let (path, what) = (self.lease.path(), self.lease.what());
        let me = self.lease.identity.clone();
        let read = match self.api.get(&path, &what).await {
            Ok(object) => Some(object),
            Err(ApiError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let now = Instant::now();
        let raced = || Attempt::Wait {
            holder: "another replica".to_string(),
            next: now,
        };
        let Some(object) = read else {
            self.observed = None;
            let spec = lease::holding(None, &me, self.lease.lease_duration, &lease::micro_time());
            let body = lease::new_lease(&self.lease.name, &self.lease.namespace, &spec);
            return match self.api.create(&self.lease.collection(), &body, &what).await {
                Ok(written) => Ok(Attempt::Held(written)),
                Err(ApiError::Conflict { .. }) => Ok(raced()),
                Err(e) => Err(e),
            };
        };
        let spec = lease::spec_of(&object, &what)?;
        let seen = Observed::see(self.observed.take(), spec, now);
        let decision = lease::decide(Some(&seen), &me, false, now);
        self.observed = Some(seen.clone());
        match decision {
            Decision::Acquire | Decision::Renew | Decision::Create => {
                let spec = lease::holding(Some(&seen.spec), &me, self.lease.lease_duration, &lease::micro_time());
                let Some(body) = lease::with_spec(&object, &spec) else {
                    return Err(ApiError::Decode {
                        what,
                        detail: "not a JSON object".to_string(),
                    });
                };
                match self.api.replace(&path, &body, &what).await {
                    Ok(written) => Ok(Attempt::Held(written)),
                    Err(ApiError::Conflict { .. }) => Ok(raced()),
                    Err(e) => Err(e),
                }
            }
            Decision::Wait { holder, expires } => Ok(Attempt::Wait { holder, next: expires }),
            Decision::Lost { holder } => Ok(Attempt::Wait {
                holder,
                next: now + self.lease.retry_period,
            }),
        }
    }
}

/// Until when this replica may act as the leader by its own clock: the send time of its last
/// successful renewal plus the renew deadline (no later than any standby may take over).
#[derive(Debug, Clone)]
struct Valid {
    base: Instant,
    /// Milliseconds after `base`; 0 once the Lease is lost or released.
    until_ms: Arc<AtomicU64>,
}

/// Milliseconds from `base` to `t`.
fn ms_since(base: Instant, t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(base).as_millis()).unwrap_or(u64::MAX)
}

impl Valid {
    fn new(renewed: Instant, deadline: Duration) -> Valid {
        let until = ms_since(renewed, renewed + deadline).max(1);
        Valid {
            base: renewed,
            until_ms: Arc::new(AtomicU64::new(until)),
        }
    }

    /// Moves the deadline on after a renewal sent at `sent`; false (and nothing moves) once the
    /// deadline has passed: a term whose gate closed stays closed, even when a late answer to a
    /// renewal sent before the deadline arrives after it.
    fn renewed(&self, sent: Instant, deadline: Duration) -> bool {
        let until = ms_since(self.base, sent + deadline);
        let now = ms_since(self.base, Instant::now());
        self.until_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |current| {
                (current != 0 && now < current).then_some(until.max(current))
            })
            .is_ok()
    }

    fn end(&self) {
        self.until_ms.store(0, Ordering::SeqCst);
    }

    /// Whether the deadline is still ahead; once it is not, the term's gate stays closed.
    fn holds(&self) -> bool {
        let now = ms_since(self.base, Instant::now());
        let until = self.until_ms.load(Ordering::SeqCst);
        if now < until {
            return true;
        }
        self.end();
        false
    }
}

/// This replica holds the Lease: renewed in the background until it is lost or released.
#[derive(Debug)]
pub struct Leadership {
    valid: Valid,
    /// Why the Lease was lost, once it was.
    lost: watch::Receiver<Option<String>>,
    /// Asks the renewal task to release the Lease and end (also when dropped).
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Leadership {
    /// Starts renewing `object` (the Lease as written), whose write was sent at `sent`.
    fn start(api: ApiClient, lease: LeaseSettings, object: Value, sent: Instant) -> Leadership {
        let (lost_tx, lost_rx) = watch::channel(None);
        let (stop_tx, stop_rx) = oneshot::channel();
        let valid = Valid::new(sent, lease.renew_deadline);
        let task = tokio::spawn(hold(api, lease, object, sent, valid.clone(), lost_tx, stop_rx));
        Leadership {
            valid,
            lost: lost_rx,
            stop: Some(stop_tx),
            task: Some(task),
        }
    }

    /// Whether this replica still leads by its own clock (see [`Leading`]): false from the
    /// moment its renew deadline passed without a renewal, even before the renewal task runs.
    pub fn leading(&self) -> Leading {
        let valid = self.valid.clone();
        Leading::new(move || valid.holds())
    }

    /// Resolves when the Lease is lost: why.
    pub async fn lost(&mut self) -> String {
        match self.lost.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or_default(),
            Err(_) => "the Lease's renewal stopped".to_string(),
        }
    }

    /// Gives the Lease up, so a standby takes over at once (call it once the stream and its
    /// last checkpoint have finished); nothing to do when it was lost already.
    pub async fn release(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Why a renewal did not renew.
enum Renewal {
    /// The Lease is not this replica's any more: why.
    Taken(String),
    /// The call failed: tried again next period, until the deadline.
    Failed(ApiError),
}

/// Renews every retry period until the Lease is lost (reported on `lost`) or `stop` (released).
async fn hold(
    api: ApiClient,
    lease: LeaseSettings,
    mut object: Value,
    mut renewed: Instant,
    valid: Valid,
    lost: watch::Sender<Option<String>>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut problems = ProblemLog::default();
    let missed = || {
        format!(
            "no renewal within renewDeadlineSeconds ({}s)",
            lease.renew_deadline.as_secs()
        )
    };
    let why = loop {
        tokio::select! {
            biased;
            _ = &mut stop => {
                valid.end();
                return release(&api, &lease, &object).await;
            }
            _ = tokio::time::sleep(lease.retry_period) => {}
        }
        let sent = Instant::now();
        if lease::deadline_passed(renewed, lease.renew_deadline, sent) {
            break missed();
        }
        let deadline = renewed.checked_add(lease.renew_deadline).unwrap_or(sent);
        let renewal = tokio::time::timeout_at(deadline, renew(&api, &lease, &object));
        let outcome = tokio::select! {
            biased;
            _ = &mut stop => {
                valid.end();
                return release(&api, &lease, &object).await;
            }
            r = renewal => r,
        };
        match outcome {
            Ok(Ok(written)) => {
                object = written;
                renewed = sent;
                if !valid.renewed(sent, lease.renew_deadline) {
                    // The gate closed before this answer came (a frozen process, a slow
                    // runtime): the term ends, whatever the API says now, and the Lease it
                    // still holds is given up so a standby need not wait for it to expire.
                    release(&api, &lease, &object).await;
                    break missed();
                }
                problems = ProblemLog::default();
                debug!(lease = %lease.what(), "renewed the Lease");
            }
            Ok(Err(Renewal::Taken(why))) => break why,
            Ok(Err(Renewal::Failed(e))) => {
                problems.report(&lease.what(), format!("renewing: {e}"), lease.retry_period);
            }
            Err(_) => break missed(),
        }
    };
    valid.end();
    warn!(lease = %lease.what(), "lost the Lease: {why}");
    let _ = lost.send(Some(why));
}

/// One renewal: the record last written updated with its resourceVersion (client-go's fast
/// path); when that conflicts, the Lease read again and renewed only while it names this
/// replica.
async fn renew(api: &ApiClient, lease: &LeaseSettings, object: &Value) -> Result<Value, Renewal> {
    let (path, what) = (lease.path(), lease.what());
    let me = lease.identity.as_str();
    let last = lease::spec_of(object, &what).unwrap_or_default();
    let next = lease::holding(Some(&last), me, lease.lease_duration, &lease::micro_time());
    if let Some(body) = lease::with_spec(object, &next) {
        match api.replace(&path, &body, &what).await {
            Ok(written) => return Ok(written),
            Err(ApiError::Conflict { .. } | ApiError::NotFound { .. }) => {}
            Err(e) => return Err(Renewal::Failed(e)),
        }
    }
    let fresh = match api.get(&path, &what).await {
        Ok(o) => o,
        Err(ApiError::NotFound { .. }) => return Err(Renewal::Taken("the Lease was deleted".to_string())),
        Err(e) => return Err(Renewal::Failed(e)),
    };
    let spec = lease::spec_of(&fresh, &what).map_err(Renewal::Failed)?;
    let now = Instant::now();
    let seen = Observed {
        spec: spec.clone(),
        since: now,
    };
    match lease::decide(Some(&seen), me, true, now) {
        Decision::Renew => {
            let next = lease::holding(Some(&spec), me, lease.lease_duration, &lease::micro_time());
            let body = lease::with_spec(&fresh, &next).ok_or_else(|| {
                Renewal::Failed(ApiError::Decode {
                    what: what.clone(),
                    detail: "not a JSON object".to_string(),
                })
            })?;
            api.replace(&path, &body, &what).await.map_err(Renewal::Failed)
        }
        _ if spec.holder().is_empty() => Err(Renewal::Taken("the Lease names no holder now".to_string())),
        _ => Err(Renewal::Taken(format!("{} holds the Lease now", spec.holder()))),
    }
}

/// Gives the Lease up when it still names this replica (client-go's tryRelease), within the
/// renew deadline; a standby otherwise takes over when it expires.
async fn release(api: &ApiClient, lease: &LeaseSettings, object: &Value) {
    let attempt = async {
        let mut current = object.clone();
        for _ in 0..3 {
            let spec = lease::spec_of(&current, &lease.what()).unwrap_or_default();
            if spec.holder() != lease.identity {
                return Ok(false);
            }
            let Some(body) = lease::with_spec(&current, &lease::released(&spec, &lease::micro_time())) else {
                return Ok(false);
            };
            match api.replace(&lease.path(), &body, &lease.what()).await {
                Ok(_) => return Ok(true),
                Err(ApiError::Conflict { .. }) => current = api.get(&lease.path(), &lease.what()).await?,
                Err(e) => return Err(e),
            }
        }
        Ok::<bool, ApiError>(false)
    };
    match tokio::time::timeout(lease.renew_deadline, attempt).await {
        Ok(Ok(true)) => info!(lease = %lease.what(), "released the Lease: a standby takes over at once"),
        Ok(Ok(false)) => debug!(lease = %lease.what(), "the Lease does not name this replica: nothing to release"),
        Ok(Err(e)) => {
            warn!(lease = %lease.what(), "cannot release the Lease ({e}): a standby takes over when it expires")
        }
        Err(_) => warn!(
            lease = %lease.what(),
            "releasing the Lease took over {}s: a standby takes over when it expires",
            lease.renew_deadline.as_secs()
        ),
    }
}

#[cfg(test)]
#[path = "elector_tests.rs"]
mod tests;
