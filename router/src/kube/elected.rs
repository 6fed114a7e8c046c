//! A vCenter or Horizon stream run only while this replica holds the provider's Lease (leader
//! election, [`crate::kube::elector`]). A standby waits. A new leader reads (and claims) the
//! checkpoint, then streams. A leader whose Lease is lost drops its stream at once, mid-call if
//! need be, so nothing more is read or handed to the processors; the vCenter events it had
//! queued are not sent either, nor retried (`Fanout::dispatch_while`): the next leader resumes
//! before them from the checkpoint. It stops its checkpoint task and competes again; so does
//! one whose checkpoint write was fenced by another replica. Horizon keeps no checkpoint, so
//! the audit events a deposed leader had queued are still delivered by it (the next leader
//! starts from Horizon's present and does not repeat them).
//! At shutdown the leader finishes as a single process does and keeps renewing until its last
//! checkpoint is written, then releases the Lease so a standby takes over at once.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::elector::{Candidate, Leadership};
use crate::metrics::stats::{ComponentStats, Health};
use crate::pipeline::Fanout;
use crate::sources::checkpoint::{Checkpoint, CheckpointStore};
use crate::sources::horizon::{HorizonSettings, HorizonSource};
use crate::sources::vcenter::{VCenterSettings, VCenterSource};
use crate::sources::{backoff, ProblemLog};

/// The stream a Lease guards.
pub enum Stream {
    VCenter(Box<VCenterSettings>),
    Horizon(Box<HorizonSettings>),
}

/// A streaming provider under leader election.
pub struct Elected {
    pub stream: Stream,
    pub stats: Arc<ComponentStats>,
    pub health: Arc<Health>,
    pub candidate: Candidate,
}

/// How a term (one holding of the Lease) ended.
enum TermEnd {
    /// Shutdown: the checkpoint task to wait for before the Lease is released.
    Shutdown(Option<JoinHandle<()>>),
    /// No longer the leader: why.
    Deposed(String),
}

/// Resolves when `task` ends; never without one.
async fn ended(task: &mut Option<JoinHandle<()>>) {
    match task {
        Some(t) => {
            let _ = t.await;
        }
        None => std::future::pending::<()>().await,
    }
}

impl Elected {
    /// Competes, streams while leading, competes again after a loss, until shutdown. Returns
    /// the task that finishes the last term (its checkpoint, then the release of the Lease):
    /// wait for it after the fan-out's workers, as for a vCenter's checkpoint task.
    pub async fn run(mut self, fanout: Arc<Fanout>, mut shutdown: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
        let name = self.stats.name.clone();
        loop {
            self.health.set_leader(false);
            let mut leadership = self.candidate.acquire(&mut shutdown).await?;
            self.health.set_leader(true);
            info!(provider = %name, lease = %self.candidate.lease().what(), "this replica streams the provider now");
            match self.term(&fanout, &shutdown, &mut leadership).await {
                TermEnd::Shutdown(commit) => {
                    return Some(tokio::spawn(async move {
                        if let Some(c) = commit {
                            let _ = c.await;
                        }
                        leadership.release().await;
                    }));
                }
                TermEnd::Deposed(why) => {
                    let queued = match self.stream {
                        Stream::VCenter(_) => {
                            "the events it queued are not sent: the next leader resumes before them from the checkpoint"
                        }
                        Stream::Horizon(_) => {
                            "audit events already queued are still delivered (Horizon keeps no checkpoint)"
                        }
                    };
                    warn!(provider = %name, "stopped streaming ({why}): nothing more is read or handed to the processors, {queued}; competing for the Lease again");
                    // Nothing to release when the Lease was lost; a fenced leader gives it up.
                    leadership.release().await;
                }
            }
        }
    }

    /// One term: the stream until shutdown or the loss of the Lease.
    async fn term(
        &self,
        fanout: &Arc<Fanout>,
        shutdown: &watch::Receiver<bool>,
        leadership: &mut Leadership,
    ) -> TermEnd {
        let settings = match &self.stream {
            Stream::Horizon(settings) => {
                let mut settings = (**settings).clone();
                settings.leading = leadership.leading();
                let source = HorizonSource::new(settings, self.stats.clone(), self.health.clone());
                let run = source.run(fanout.clone(), shutdown.clone());
                tokio::pin!(run);
                return tokio::select! {
                    biased;
                    why = leadership.lost() => TermEnd::Deposed(why),
                    _ = &mut run => TermEnd::Shutdown(None),
                };
            }
            Stream::VCenter(settings) => settings,
        };
        let mut settings = (**settings).clone();
        settings.leading = leadership.leading();
        if let Some(c) = settings.checkpoint.as_mut() {
            match self.resume(c.store.as_ref(), shutdown, leadership).await {
                Ok(resume) => c.resume = resume,
                Err(end) => return end,
            }
        }
        let mut source = VCenterSource::new(settings, self.stats.clone(), self.health.clone());
        let mut commit = source.take_commit_task();
        let run = source.run(fanout.clone(), shutdown.clone());
        tokio::pin!(run);
        tokio::select! {
            biased;
            why = leadership.lost() => {
                // The stream is dropped with this select; its checkpoint task must not write a
                // position after another replica claimed the checkpoint.
                if let Some(c) = &commit {
                    c.abort();
                }
                TermEnd::Deposed(why)
            }
            _ = ended(&mut commit) => {
                TermEnd::Deposed("another replica writes its checkpoint now (fenced)".to_string())
            }
            _ = &mut run => TermEnd::Shutdown(commit),
        }
    }

    /// The checkpoint to resume from, read (and claimed) now that this replica leads; read
    /// again with backoff while that fails, unless the Lease is lost or shutdown comes.
    async fn resume(
        &self,
        store: &dyn CheckpointStore,
        shutdown: &watch::Receiver<bool>,
        leadership: &mut Leadership,
    ) -> Result<Option<Checkpoint>, TermEnd> {
        let mut failures = 0u32;
        let mut problems = ProblemLog::default();
        let mut shutdown = shutdown.clone();
        loop {
            let loaded = tokio::select! {
                biased;
                why = leadership.lost() => return Err(TermEnd::Deposed(why)),
                _ = shutdown.wait_for(|s| *s) => return Err(TermEnd::Shutdown(None)),
                r = store.load() => r,
            };
            if !leadership.leading().holds() {
                return Err(TermEnd::Deposed(
                    "the renew deadline passed while the checkpoint was read".to_string(),
                ));
            }
            match loaded {
                Ok(Some(cp)) => {
                    info!(location = %store.location(), key = cp.last_event_key, "checkpoint found: resuming after event {} of {}", cp.last_event_key, cp.last_event_key_timestamp);
                    return Ok(Some(cp));
                }
                Ok(None) => {
                    info!(location = %store.location(), "no checkpoint yet: starting from vCenter's current time");
                    return Ok(None);
                }
                Err(e) => {
                    failures += 1;
                    let wait = backoff(failures);
                    problems.report(&store.location(), e.to_string(), wait);
                    tokio::select! {
                        biased;
                        why = leadership.lost() => return Err(TermEnd::Deposed(why)),
                        _ = shutdown.wait_for(|s| *s) => return Err(TermEnd::Shutdown(None)),
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }
}
