//! Sources: where events come from (vCenter, Horizon, the webhook). Under leader election
//! (`crate::kube::elected`) a streaming source hands events on only while [`Leading`] says
//! this replica still leads.

pub mod alarms;
pub mod checkpoint;
pub mod horizon;
pub mod vcenter;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

/// A task that ends with its owner: aborted when dropped, so a stream dropped mid-call (a lost
/// Lease ends a term that way) leaves nothing of its session running.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Whether this replica may still hand events on. Under leader election: whether its Lease is
/// still valid by its own clock, so a leader frozen past its renew deadline (a paused VM, a
/// partitioned node) stops at once when it runs again, before its renewal task has noticed;
/// always for a single process.
#[derive(Clone, Default)]
pub struct Leading(Option<Arc<dyn Fn() -> bool + Send + Sync>>);

impl Leading {
    pub fn new(holds: impl Fn() -> bool + Send + Sync + 'static) -> Leading {
        Leading(Some(Arc::new(holds)))
    }

    /// Whether events may be handed on now.
    pub fn holds(&self) -> bool {
        self.0.as_ref().is_none_or(|f| f())
    }

    /// Whether this is the same gate as `other` (one leadership term's, or both a single
    /// process's).
    pub fn same(&self, other: &Leading) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Resolves once the gate has closed; never for a single process's. Each poll looks at the
    /// gate before anything else, so a process that wakes after its deadline (thawed, or a slow
    /// runtime) sees it closed at its first poll; otherwise it looks again every 200 ms.
    pub async fn closed(&self) {
        if self.0.is_none() {
            return std::future::pending().await;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        std::future::poll_fn(|cx| {
            if !self.holds() {
                return std::task::Poll::Ready(());
            }
            // Ticks that are due are taken until the next one is registered to wake us.
            while tick.poll_tick(cx).is_ready() {}
            std::task::Poll::Pending
        })
        .await
    }
}

impl std::fmt::Debug for Leading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Leading(elected)"
        } else {
            "Leading(always)"
        })
    }
}

/// The wait after `failures` consecutive failures of a source: 2 s, doubling, at most 60 s.
pub(crate) fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.min(6)).min(Duration::from_secs(60))
}

/// Logs a source's failure as an error the first time it reads so, and at debug while it
/// repeats, so an unreachable server does not flood the log.
#[derive(Debug, Default)]
pub(crate) struct ProblemLog(String);

impl ProblemLog {
    pub(crate) fn report(&mut self, source: &str, problem: String, wait: Duration) {
        if problem != self.0 {
            tracing::error!(
                source,
                "{problem}; retrying in {}s (repeats are logged at debug)",
                wait.as_secs()
            );
            self.0 = problem;
        } else {
            tracing::debug!(source, "{problem}; retrying in {}s", wait.as_secs());
        }
    }
}
