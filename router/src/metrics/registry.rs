//! What the router's HTTP endpoints report on: every component's counters and every stream's
//! health, shared by /stats, /metrics, /readyz and the console.

use std::sync::Arc;
use std::time::Instant;

use super::stats::{ComponentStats, Health};

/// Why a component cannot work yet (`None`: it can), asked each time readiness is.
pub type ReadyCheck = Box<dyn Fn() -> Option<String> + Send + Sync>;

/// The running configuration's components.
pub struct Registry {
    pub components: Vec<Arc<ComponentStats>>,
    /// One entry per streaming source (vCenter, Horizon): its provider name and stream health.
    pub health: Vec<(String, Arc<Health>)>,
    /// Per processor (by name): whether it can deliver (a destination with no address yet).
    pub checks: Vec<(String, ReadyCheck)>,
    pub started: Instant,
}

impl Registry {
    pub fn new(components: Vec<Arc<ComponentStats>>, health: Vec<(String, Arc<Health>)>) -> Registry {
        Registry {
            components,
            health,
            checks: Vec::new(),
            started: Instant::now(),
        }
    }

    /// Adds the processors' readiness checks.
    pub fn with_checks(mut self, checks: Vec<(String, ReadyCheck)>) -> Registry {
        self.checks = checks;
        self
    }

    /// Why the router is not ready, one line per source or processor (none: ready).
    pub fn not_ready(&self) -> Vec<String> {
        let sources = (self.health.iter()).filter_map(|(name, h)| h.ready().err().map(|why| format!("{name}: {why}")));
        let processors = (self.checks.iter()).filter_map(|(name, check)| check().map(|why| format!("{name}: {why}")));
        let sinks = (self.components.iter())
            .filter(|c| c.role == "EventProcessor")
            .filter_map(|c| c.unavailable_reason().map(|why| format!("{}: {why}", c.name)));
        sources.chain(processors).chain(sinks).collect()
    }
}
