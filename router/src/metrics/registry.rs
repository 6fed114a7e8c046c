//! What the router's HTTP endpoints report on: every component's counters and every stream's
//! health, shared by /stats, /metrics, /readyz and the console.

use std::sync::Arc;
use std::time::Instant;

use super::stats::{ComponentStats, Health};

/// The running configuration's components.
pub struct Registry {
    pub components: Vec<Arc<ComponentStats>>,
    /// One entry per streaming source (vCenter, Horizon): its provider name and stream health.
    pub health: Vec<(String, Arc<Health>)>,
    pub started: Instant,
}

impl Registry {
    pub fn new(components: Vec<Arc<ComponentStats>>, health: Vec<(String, Arc<Health>)>) -> Registry {
        Registry {
            components,
            health,
            started: Instant::now(),
        }
    }

    /// Why the router is not ready, one line per source (none: ready).
    pub fn not_ready(&self) -> Vec<String> {
        (self.health.iter())
            .filter_map(|(name, h)| h.ready().err().map(|why| format!("{name}: {why}")))
            .collect()
    }
}
