//! VEBA v0.7.0's OVF keys for settings that have a key of their own here (its
//! `manual/photon.xml.template`): deployment scripts written for VEBA set `event_processor_type`
//! and `aws_eb_*`, and [`OvfEnv::get`](crate::ovfenv::OvfEnv::get) reads them where the
//! appliance's own key is left at its default. Both set to different values is a problem.

use ovf::keys::{self, Key};

/// One VEBA key and the appliance's key it stands for.
pub struct VebaKey {
    pub veba: Key,
    pub ours: Key,
    /// The VEBA value as ours (`None`: not a value VEBA allowed).
    pub map: fn(&str) -> Option<String>,
}

fn same(v: &str) -> Option<String> {
    Some(v.to_string())
}

/// VEBA's Event Processor values (ValueMap{"Knative", "OpenFaaS", "AWS EventBridge"}).
fn processor(v: &str) -> Option<String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "knative" => Some("knative".into()),
        "openfaas" => Some("openfaas".into()),
        "aws eventbridge" | "aws_event_bridge" | "eventbridge" => Some("aws_event_bridge".into()),
        _ => None,
    }
}

const fn alias(veba: Key, ours: Key, map: fn(&str) -> Option<String>) -> VebaKey {
    VebaKey { veba, ours, map }
}

pub const VEBA_KEYS: &[VebaKey] = &[
    alias(keys::EVENT_PROCESSOR_TYPE, keys::PROCESSOR, processor),
    alias(keys::AWS_EB_ACCESS_KEY, keys::EVENTBRIDGE_ACCESS_KEY, same),
    alias(keys::AWS_EB_ACCESS_SECRET, keys::EVENTBRIDGE_SECRET_KEY, same),
    alias(keys::AWS_EB_EVENT_BUS, keys::EVENTBRIDGE_EVENT_BUS, same),
    alias(keys::AWS_EB_REGION, keys::EVENTBRIDGE_REGION, same),
    alias(keys::AWS_EB_ARN, keys::EVENTBRIDGE_RULE_ARN, same),
];

/// The VEBA key that stands for `ours`, if any.
pub fn for_ours(ours: Key) -> Option<&'static VebaKey> {
    VEBA_KEYS.iter().find(|k| k.ours == ours)
}
