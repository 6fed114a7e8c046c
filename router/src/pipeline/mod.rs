//! Between sources and processors: every event goes to each processor whose filter accepts
//! it, through that processor's own queue and worker, so a slow or failing processor does not
//! hold up the others; within a queue, each provider's events wait in their own line
//! (`fair_queue`), so a busy vCenter does not hold up a quiet one. A processor delivers up to
//! `concurrency` events at once but never two of one object (`keyed`, keys from `order_key`), so
//! each object's events arrive in order.

pub mod fair_queue;
pub mod fanout;
pub mod filter;
pub mod keyed;
pub mod order_key;

pub use fanout::{Delivery, Fanout, Route, Settled};
pub use filter::Filter;
