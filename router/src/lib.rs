//! event-router: turns vCenter and Horizon events (and CloudEvents posted to its webhook) into
//! CloudEvents and delivers them to Knative, AWS EventBridge and OpenFaaS, at least once with
//! checkpoints, configured by VEBA's RouterConfig YAML and its extensions.

pub mod apiserver;
pub mod client_body;
pub mod client_error;
pub mod cloudevent;
pub mod config;
pub mod console;
pub mod delivery;
pub mod dlq;
pub mod endpoints;
pub mod http_auth;
pub mod http_server;
pub mod kube;
pub mod metrics;
pub mod pipeline;
pub mod processors;
pub mod redact;
pub mod run;
pub mod sources;
pub mod tls;
pub mod vsphere;
