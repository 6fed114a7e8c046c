//! Sources: where events come from (vCenter, Horizon, the webhook).

pub mod checkpoint;
pub mod horizon;
pub mod vcenter;
pub mod webhook;
