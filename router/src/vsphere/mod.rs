//! The vSphere SOAP client: just the methods an event router needs, on reqwest + quick-xml.

pub mod client;
mod decode;
pub mod event;
pub mod soap;
#[cfg(test)]
mod tree_oracle;
pub mod types;
pub mod xml;
