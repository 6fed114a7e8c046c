//! Processors: where CloudEvents go (Knative, AWS EventBridge, OpenFaaS, the console).

pub mod console;
pub mod eventbridge;
pub mod k8s;
pub mod knative;
pub mod openfaas;
pub mod pattern;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context;
use cloudevents::Event;

use crate::config::{ProcessorConfig, ProcessorType};

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

/// What a processor did with an event it did not fail on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// The sink acknowledged it.
    Sent,
    /// The processor's own selection (an EventBridge rule pattern) left it out.
    Skipped,
}

/// A sink for CloudEvents.
pub trait Processor: Send + Sync {
    /// Delivers one event; resolves once the sink acknowledged it or delivery gave up.
    fn process<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), ProcessError>>;

    /// Events one call of [`Processor::process_batch`] takes (1: no batching).
    fn max_batch(&self) -> usize {
        1
    }

    /// Delivers several events, one result per event in order. Processors that batch on the
    /// wire (EventBridge's PutEvents) override this; the default delivers one by one.
    fn process_batch<'a>(&'a self, events: &'a [Arc<Event>]) -> BoxFuture<'a, Vec<Result<Handled, ProcessError>>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(events.len());
            for e in events {
                out.push(self.process(e).await.map(|()| Handled::Sent));
            }
            out
        })
    }

    /// Why the processor cannot deliver yet (its destination has no address), shown by
    /// `/readyz`; `None` when it can.
    fn not_ready(&self) -> Option<String> {
        None
    }

    /// The component type as /stats names it (`knative`, `console`, ...).
    fn kind(&self) -> &'static str;
    /// Where events go, for /stats and logs.
    fn address(&self) -> String;
}

/// Builds one processor from its config section; `start` says whether a Kubernetes reference
/// must resolve now (see [`knative::Start`]).
pub async fn build(prefix: &str, p: &ProcessorConfig, start: knative::Start) -> anyhow::Result<Arc<dyn Processor>> {
    Ok(match p.kind {
        ProcessorType::Knative => {
            let k = p
                .knative
                .as_ref()
                .with_context(|| format!("{prefix}.knative is missing"))?;
            Arc::new(
                knative::Knative::new(k, start)
                    .await
                    .with_context(|| format!("cannot start the knative processor {}", p.name))?,
            )
        }
        ProcessorType::Console => Arc::new(console::Console),
        ProcessorType::Openfaas => {
            let o = (p.openfaas.as_ref()).with_context(|| format!("{prefix}.openfaas is missing"))?;
            Arc::new(
                openfaas::OpenFaas::new(o)
                    .await
                    .with_context(|| format!("cannot start the openfaas processor {}", p.name))?,
            )
        }
        ProcessorType::AwsEventBridge => {
            let a = (p.aws_event_bridge.as_ref()).with_context(|| format!("{prefix}.awsEventBridge is missing"))?;
            Arc::new(
                eventbridge::EventBridge::new(a)
                    .await
                    .with_context(|| format!("cannot start the aws_event_bridge processor {}", p.name))?,
            )
        }
    })
}
