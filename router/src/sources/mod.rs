//! Sources: where events come from (vCenter now; webhook and Horizon later).

pub mod vcenter;
