//! event-router: turns vCenter events into CloudEvents and delivers them to Knative (and,
//! later, AWS EventBridge and OpenFaaS), configured by VEBA's RouterConfig YAML.

pub mod client_error;
pub mod cloudevent;
pub mod config;
pub mod delivery;
pub mod dlq;
pub mod http_auth;
pub mod metrics;
pub mod pipeline;
pub mod processors;
pub mod run;
pub mod sources;
pub mod tls;
pub mod vsphere;
