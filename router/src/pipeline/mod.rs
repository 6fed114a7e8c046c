//! Between sources and processors: every event goes to each processor whose filter accepts
//! it, through that processor's own queue and worker, so a slow or failing processor does not
//! hold up the others.

pub mod fanout;
pub mod filter;

pub use fanout::{Delivery, Fanout, Route, Settled};
pub use filter::Filter;
