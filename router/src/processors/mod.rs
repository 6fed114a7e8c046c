//! Processors: where CloudEvents go (Knative, the console; EventBridge and OpenFaaS later).

pub mod console;
pub mod k8s;
pub mod knative;
pub mod pattern;

use std::future::Future;
use std::pin::Pin;

use cloudevents::Event;

/// A boxed future, so processors can sit behind `dyn Processor`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a processor did not take an event.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The sink refused the event; retrying cannot help.
    #[error("sink rejected event {id}: {detail}")]
    Rejected { id: String, detail: String },
    /// Every attempt failed with a retryable error.
    #[error("event {id} not delivered after {attempts} attempts: {last}")]
    Exhausted { id: String, attempts: u32, last: String },
    #[error(transparent)]
    Encode(#[from] crate::delivery::http::EncodeError),
}

/// A sink for CloudEvents.
pub trait Processor: Send + Sync {
    /// Delivers one event; resolves once the sink acknowledged it or delivery gave up.
    fn process<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), ProcessError>>;
    /// The component type as /stats names it (`knative`, `console`, ...).
    fn kind(&self) -> &'static str;
    /// Where events go, for /stats and logs.
    fn address(&self) -> String;
}
