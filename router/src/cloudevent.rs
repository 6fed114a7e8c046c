//! vSphere event -> CloudEvent, in VEBA's router contract or Tanzu Sources' contract.

use chrono::{DateTime, Utc};
use cloudevents::{Event, EventBuilder, EventBuilderV10};

use crate::config::EventFormat;
use crate::vsphere::event::VsphereEvent;

/// Why an event could not become a CloudEvent.
#[derive(Debug, thiserror::Error)]
#[error("cannot build CloudEvent for event {key}: {detail}")]
pub struct ConvertError {
    pub key: i64,
    pub detail: String,
}

/// The parts of a CloudEvent that come from the vCenter connection.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The vCenter SDK URL without credentials, e.g. `https://vc.corp.local/sdk`.
    pub source: String,
    /// `ServiceContent.about.apiVersion`.
    pub api_version: String,
    pub format: EventFormat,
}

/// Builds the CloudEvent for one vSphere event, taking its data (no copy). `id` is the event
/// key, so consumers can de-duplicate by (source, id).
pub fn from_vsphere(ev: VsphereEvent, origin: &Origin) -> Result<Event, ConvertError> {
    let err = |detail: String| ConvertError { key: ev.key, detail };
    let time: DateTime<Utc> = DateTime::parse_from_rfc3339(&ev.created_time)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| err(format!("createdTime {:?}: {e}", ev.created_time)))?;
    let mut b = EventBuilderV10::new()
        .id(ev.key.to_string())
        .source(origin.source.clone())
        .time(time)
        .extension("vsphereapiversion", origin.api_version.clone())
        .data("application/json", ev.data);
    b = match origin.format {
        EventFormat::Router => b
            .ty(format!("com.vmware.event.router/{}", ev.class.as_str()))
            .subject(ev.name),
        EventFormat::TanzuSources => b
            .ty(format!("com.vmware.vsphere.{}.v0", ev.name))
            .extension("eventclass", ev.class.as_str()),
    };
    b.build().map_err(|e| err(e.to_string()))
}

/// The event name that filters and metrics use: `subject` in the router contract, or the
/// name inside `com.vmware.vsphere.<Name>.v0`.
pub fn event_name(ev: &Event) -> String {
    use cloudevents::AttributesReader;
    if let Some(s) = ev.subject() {
        return s.to_string();
    }
    let ty = ev.ty();
    ty.strip_prefix("com.vmware.vsphere.")
        .and_then(|t| t.strip_suffix(".v0"))
        .unwrap_or(ty)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::event::EventClass;
    use cloudevents::AttributesReader;

    fn sample(class: EventClass, name: &str) -> VsphereEvent {
        VsphereEvent {
            key: 112,
            created_time: "2026-11-22T02:43:52.60621534Z".into(),
            type_name: "VmPoweredOffEvent".into(),
            class,
            name: name.into(),
            data: serde_json::json!({"Key": 112}),
        }
    }

    fn origin(format: EventFormat) -> Origin {
        Origin {
            source: "https://127.0.0.1:8989/sdk".into(),
            api_version: "6.5".into(),
            format,
        }
    }

    #[test]
    fn router_contract() {
        let ce = from_vsphere(
            sample(EventClass::Event, "VmPoweredOffEvent"),
            &origin(EventFormat::Router),
        )
        .unwrap();
        assert_eq!(ce.id(), "112");
        assert_eq!(ce.ty(), "com.vmware.event.router/event");
        assert_eq!(ce.subject(), Some("VmPoweredOffEvent"));
        assert_eq!(ce.source().to_string(), "https://127.0.0.1:8989/sdk");
        assert_eq!(ce.datacontenttype(), Some("application/json"));
        assert_eq!(ce.time().unwrap().to_rfc3339(), "2026-11-22T02:43:52.606215340+00:00");
        assert_eq!(ce.extension("vsphereapiversion").unwrap().to_string(), "6.5");
        assert!(ce.extension("eventclass").is_none());
        assert_eq!(event_name(&ce), "VmPoweredOffEvent");
    }

    #[test]
    fn tanzu_sources_contract() {
        let ev = sample(EventClass::EventEx, "com.vmware.applmgmt.backup.job.failed.event");
        let ce = from_vsphere(ev, &origin(EventFormat::TanzuSources)).unwrap();
        assert_eq!(
            ce.ty(),
            "com.vmware.vsphere.com.vmware.applmgmt.backup.job.failed.event.v0"
        );
        assert_eq!(ce.subject(), None);
        assert_eq!(ce.extension("eventclass").unwrap().to_string(), "eventex");
        assert_eq!(event_name(&ce), "com.vmware.applmgmt.backup.job.failed.event");
    }

    #[test]
    fn bad_time_is_an_error() {
        let mut ev = sample(EventClass::Event, "X");
        ev.created_time = "yesterday".into();
        let err = from_vsphere(ev, &origin(EventFormat::Router)).unwrap_err().to_string();
        assert!(err.contains("112") && err.contains("yesterday"), "{err}");
    }
}
