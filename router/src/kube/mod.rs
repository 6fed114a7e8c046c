//! Several replicas on Kubernetes, calling the API through [`crate::apiserver`]: Leases and what a
//! replica decides about them ([`lease`]), competing for and holding one ([`elector`]), a
//! vCenter or Horizon stream run only while holding it ([`elected`]), and checkpoints in a
//! ConfigMap that a replica on another node reads ([`checkpoints`]); with what the providers of
//! one configuration share ([`Cluster`]). This layer builds on `crate::sources`, never the
//! other way.

pub mod checkpoints;
pub mod elected;
pub mod elector;
pub mod lease;

#[cfg(test)]
mod fake;

use std::sync::OnceLock;
use std::time::Duration;

use rand::Rng;

use crate::apiserver::{ApiClient, ApiError};
use crate::config::{defaults, lease_name, CheckpointStoreKind, RouterConfig};
use elector::{Candidate, LeaseSettings};

/// This process's holder identity: the pod's name (`POD_NAME` from the downward API, else
/// `HOSTNAME`, else /etc/hostname) and a random suffix, as client-go's users build theirs
/// (hostname, `_`, a UUID), so a pod restarted under the same name is another holder.
pub fn identity() -> &'static str {
    static IDENTITY: OnceLock<String> = OnceLock::new();
    IDENTITY.get_or_init(|| {
        let name = ["POD_NAME", "HOSTNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|s| s.trim().chars().take(200).collect::<String>())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "event-router".to_string());
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut rng = rand::rng();
        let suffix: String = (0..5)
            .filter_map(|_| ALPHABET.get(rng.random_range(0..ALPHABET.len())))
            .map(|b| char::from(*b))
            .collect();
        format!("{name}_{suffix}")
    })
}

/// What the providers of one configuration share for leader election and ConfigMap
/// checkpoints: the API client, the namespace of the Leases and the ConfigMap, this replica.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub api: ApiClient,
    pub namespace: String,
    pub identity: String,
    lease: LeaseTiming,
}

/// Leader election's settings from the config (defaults filled in).
#[derive(Debug, Clone)]
struct LeaseTiming {
    prefix: String,
    duration: Duration,
    renew_deadline: Duration,
    retry_period: Duration,
}

impl Cluster {
    /// Set up when `cfg` elects leaders or keeps a checkpoint in a ConfigMap (`None` otherwise);
    /// an error when it does but the API cannot be used (not in a cluster, no service account).
    pub fn for_config(cfg: &RouterConfig) -> Result<Option<Cluster>, ApiError> {
        let configmaps = cfg.providers().iter().any(|(_, p)| {
            (p.vcenter.as_ref().or(p.vcsim.as_ref()))
                .is_some_and(|v| v.checkpoint && cfg.checkpoint_store(v) == CheckpointStoreKind::Configmap)
        });
        if !cfg.elected() && !configmaps {
            return Ok(None);
        }
        let what = if cfg.elected() {
            "leaderElection"
        } else {
            "checkpointStore: configmap"
        };
        let api = ApiClient::in_cluster(what)?;
        let le = cfg.leader_election.clone().unwrap_or_default();
        let namespace = match le.namespace {
            Some(ns) => ns,
            None => api.namespace()?,
        };
        let secs = |v: Option<u64>, default: u64| Duration::from_secs(v.unwrap_or(default));
        Ok(Some(Cluster {
            api,
            namespace,
            identity: identity().to_string(),
            lease: LeaseTiming {
                prefix: le
                    .lease_name_prefix
                    .unwrap_or_else(|| defaults::LEASE_NAME_PREFIX.to_string()),
                duration: secs(le.lease_duration_seconds, defaults::LEASE_DURATION_SECONDS),
                renew_deadline: secs(le.renew_deadline_seconds, defaults::RENEW_DEADLINE_SECONDS),
                retry_period: secs(le.retry_period_seconds, defaults::RETRY_PERIOD_SECONDS),
            },
        }))
    }

    /// A candidate for the Lease of the provider named `provider`.
    pub fn candidate(&self, provider: &str) -> Candidate {
        Candidate::new(
            self.api.clone(),
            LeaseSettings {
                name: lease_name(&self.lease.prefix, provider),
                namespace: self.namespace.clone(),
                identity: self.identity.clone(),
                lease_duration: self.lease.duration,
                renew_deadline: self.lease.renew_deadline,
                retry_period: self.lease.retry_period,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_identity_is_the_pod_name_with_a_suffix_and_stays_the_same() {
        let id = super::identity();
        let (name, suffix) = id.rsplit_once('_').unwrap();
        assert!(!name.is_empty(), "{id}");
        assert_eq!(suffix.len(), 5, "{id}");
        assert_eq!(super::identity(), id, "one identity per process");
    }
}
