//! The vSphere SOAP client: just the methods an event router needs, on reqwest + quick-xml.

pub mod client;
pub mod event;
pub mod soap;
pub mod types;
pub mod xml;
