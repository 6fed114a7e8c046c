//! The console processor: one structured CloudEvent JSON line per event on stdout.

use std::io::Write;

use cloudevents::{AttributesReader, Event};

use super::{BoxFuture, ProcessError, Processor};
use crate::cloudevent::Structured;

#[derive(Debug, Default)]
pub struct Console;

impl Processor for Console {
    fn process<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), ProcessError>> {
        Box::pin(async move {
            let line = serde_json::to_string(&Structured(event)).map_err(|e| ProcessError::Rejected {
                id: event.id().to_string(),
                detail: e.to_string(),
            })?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{line}")
                .and_then(|_| out.flush())
                .map_err(|e| ProcessError::Exhausted {
                    id: event.id().to_string(),
                    attempts: 1,
                    last: e.to_string(),
                })
        })
    }

    fn kind(&self) -> &'static str {
        "console"
    }

    fn address(&self) -> String {
        "stdout".into()
    }
}
