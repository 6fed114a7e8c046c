//! VEBA v0.7.0's OVF keys for settings that have a key of their own here (its
//! `manual/photon.xml.template`): deployment scripts written for VEBA set `event_processor_type`
//! and `aws_eb_*`, and [`OvfEnv::get`](crate::ovfenv::OvfEnv::get) reads them where the
//! appliance's own key is left at its default. Both set to different values is a problem.

/// One VEBA key and the appliance's key it stands for.
pub struct VebaKey {
    pub veba: &'static str,
    pub ours: &'static str,
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

pub const VEBA_KEYS: &[VebaKey] = &[
    VebaKey {
        veba: "event_processor_type",
        ours: "processor",
        map: processor,
    },
    VebaKey {
        veba: "aws_eb_access_key",
        ours: "eventbridge_access_key",
        map: same,
    },
    VebaKey {
        veba: "aws_eb_access_secret",
        ours: "eventbridge_secret_key",
        map: same,
    },
    VebaKey {
        veba: "aws_eb_event_bus",
        ours: "eventbridge_event_bus",
        map: same,
    },
    VebaKey {
        veba: "aws_eb_region",
        ours: "eventbridge_region",
        map: same,
    },
    VebaKey {
        veba: "aws_eb_arn",
        ours: "eventbridge_rule_arn",
        map: same,
    },
];

/// The VEBA key that stands for `ours`, if any.
pub fn for_ours(ours: &str) -> Option<&'static VebaKey> {
    VEBA_KEYS.iter().find(|k| k.ours == ours)
}
