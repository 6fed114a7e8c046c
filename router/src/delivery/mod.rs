//! Getting a CloudEvent to an HTTP sink: the client, the CloudEvents HTTP
//! binding and retries.

pub mod client;
pub mod dead_letter;
pub mod http;
pub mod retry;
