//! The appliance's first-boot agent: read the OVF environment, validate every property, render
//! the system and router configuration into a tree, then apply it.

pub mod apply;
pub mod iso9660;
pub mod material;
pub mod net;
pub mod origin;
pub mod overrides;
pub mod ovfenv;
pub mod password;
pub mod paths;
pub mod render;
pub mod shown;
pub mod source;
pub mod tls;
pub mod validate;
pub mod vcenters;
pub mod veba_keys;
pub mod write;
