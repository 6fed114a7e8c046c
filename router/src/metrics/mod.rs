//! Internal metrics and health: counters per component and the HTTP endpoints serving them.

pub mod process;
pub mod server;
pub mod stats;
