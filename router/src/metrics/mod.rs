//! Internal metrics and health: counters per component ([`stats`]), the set the endpoints
//! report on ([`registry`]) and the handlers of /stats, /metrics and the probes ([`server`]).

pub mod process;
pub mod registry;
pub mod server;
pub mod stats;
