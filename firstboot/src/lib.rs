//! The appliance's first-boot agent: read the OVF environment, validate every property, then
//! (next) render the system and router configuration and apply it.

pub mod net;
pub mod ovfenv;
pub mod render;
pub mod validate;
pub mod write;
