//! Getting a CloudEvent to an HTTP sink: the CloudEvents HTTP binding and retries.

pub mod dead_letter;
pub mod http;
pub mod retry;
