//! Sources: where events come from (vCenter, Horizon, the webhook), and the streaming ones run
//! under leader election ([`elected`]).

pub mod alarms;
pub mod checkpoint;
pub mod elected;
pub mod horizon;
pub mod vcenter;
pub mod webhook;

use std::time::Duration;

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
