//! Sources: where events come from (vCenter, the webhook; Horizon later).

pub mod vcenter;
pub mod webhook;
