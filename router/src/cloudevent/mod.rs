//! vSphere event -> CloudEvent, in VEBA's router contract or Tanzu Sources' contract; events
//! written in the JSON format ([`Structured`]) and read from it ([`parse`]).

pub mod cost;
pub mod parse;

use chrono::{DateTime, Utc};
use cloudevents::event::SpecVersion;
use cloudevents::{AttributesReader, Data, Event, EventBuilder, EventBuilderV10};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;

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
        .data("application/json", Data::Binary(ev.data));
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

/// An event in the CloudEvents JSON format (structured mode), as the SDK writes it, except that
/// JSON data held as bytes (a vCenter event's data is the decoder's JSON text, kept compact
/// while it waits in the queues) is written as the JSON value `data`, where the SDK would write
/// the bytes as `data_base64`. Everything that renders a whole event uses this.
pub struct Structured<'a>(pub &'a Event);

/// `serialize_with` for an [`Event`] field: [`Structured`].
pub fn serialize_structured<S: Serializer>(event: &Event, serializer: S) -> Result<S::Ok, S::Error> {
    Structured(event).serialize(serializer)
}

/// A JSON media type, as the SDK tells them (cloudevents-sdk 0.9, event/data.rs).
pub fn is_json(content_type: &str) -> bool {
    content_type.starts_with("application/json")
        || content_type.starts_with("text/json")
        || content_type.ends_with("+json")
}

/// The event's data when it is JSON text held as bytes.
fn json_bytes(event: &Event) -> Option<&RawValue> {
    match event.data() {
        Some(Data::Binary(bytes)) if event.datacontenttype().is_some_and(is_json) => serde_json::from_slice(bytes).ok(),
        _ => None,
    }
}

/// The event with JSON data (a `serde_json::Value` tree, as webhooks and Horizon give it) held
/// as its text instead, as vCenter events already are, so it waits in the queues compactly.
/// [`Structured`] writes it out as the same JSON.
pub fn compact(mut event: Event) -> Event {
    // Only the 1.0 format is written by `Structured`; anything else keeps its tree.
    if event.specversion() != SpecVersion::V10 || !event.datacontenttype().is_some_and(is_json) {
        return event;
    }
    let text = match event.data() {
        Some(Data::Json(value)) => serde_json::to_vec(value),
        _ => return event,
    };
    if let Ok(text) = text {
        event.set_data_unchecked(Data::Binary(text));
    }
    event
}

impl Serialize for Structured<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let ev = self.0;
        let raw = match (ev.specversion(), json_bytes(ev)) {
            (SpecVersion::V10, Some(raw)) => raw,
            _ => return ev.serialize(serializer),
        };
        // The entries and their order are the SDK's (cloudevents-sdk 0.9, event/v10/format.rs).
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("specversion", "1.0")?;
        map.serialize_entry("id", ev.id())?;
        map.serialize_entry("type", ev.ty())?;
        map.serialize_entry("source", ev.source())?;
        if let Some(ct) = ev.datacontenttype() {
            map.serialize_entry("datacontenttype", ct)?;
        }
        if let Some(schema) = ev.dataschema() {
            map.serialize_entry("dataschema", schema)?;
        }
        if let Some(subject) = ev.subject() {
            map.serialize_entry("subject", subject)?;
        }
        if let Some(time) = ev.time() {
            map.serialize_entry("time", time)?;
        }
        map.serialize_entry("data", raw)?;
        for (name, value) in ev.iter_extensions() {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// The event name that filters and metrics use: `subject` in the router contract, or the
/// name inside `com.vmware.vsphere.<Name>.v0`.
pub fn event_name(ev: &Event) -> String {
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
            data: br#"{"Key":112}"#.to_vec(),
        }
    }

    fn origin(format: EventFormat) -> Origin {
        Origin {
            source: "https://127.0.0.1:8989/sdk".into(),
            api_version: "6.5".into(),
            format,
        }
    }

    /// The sample VmPoweredOffEvent in the router contract.
    fn powered_off() -> Event {
        from_vsphere(
            sample(EventClass::Event, "VmPoweredOffEvent"),
            &origin(EventFormat::Router),
        )
        .unwrap()
    }

    #[test]
    fn router_contract() {
        let ce = powered_off();
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
    fn structured_json_writes_json_bytes_as_the_data_value_and_is_otherwise_the_sdks() {
        let ce = powered_off();
        assert!(matches!(ce.data(), Some(Data::Binary(_))), "held as bytes");
        // The same event with its data as a JSON value, written by the SDK itself.
        let mut as_value = ce.clone();
        as_value.set_data("application/json", serde_json::json!({"Key": 112}));
        let sdk = serde_json::to_string(&as_value).unwrap();
        assert_eq!(serde_json::to_string(&Structured(&ce)).unwrap(), sdk);
        assert!(sdk.contains(r#""data":{"Key":112}"#), "{sdk}");
        assert_eq!(serde_json::to_string(&Structured(&as_value)).unwrap(), sdk);
        assert_eq!(
            serde_json::to_value(Structured(&ce)).unwrap(),
            serde_json::to_value(&as_value).unwrap()
        );
        // Bytes that are not JSON stay base64, as the SDK writes them.
        for (ct, bytes) in [
            ("application/json", b"{not json".to_vec()),
            ("image/png", b"{}".to_vec()),
        ] {
            let mut other = ce.clone();
            other.set_data(ct, Data::Binary(bytes));
            let text = serde_json::to_string(&Structured(&other)).unwrap();
            assert_eq!(text, serde_json::to_string(&other).unwrap());
            assert!(text.contains("data_base64"), "{text}");
        }
    }

    #[test]
    fn compact_holds_json_values_as_text_and_writes_the_same_event() {
        let mut ev = powered_off();
        let data = serde_json::json!({"b": [1, 2.5, "x\u{e9}\n"], "a": {"z": null, "y": true}});
        ev.set_data("application/json", data.clone());
        let sdk = serde_json::to_string(&ev).unwrap();
        let small = compact(ev.clone());
        assert_eq!(small.data(), Some(&Data::Binary(serde_json::to_vec(&data).unwrap())));
        assert_eq!(serde_json::to_string(&Structured(&small)).unwrap(), sdk);
        // Data that is not JSON, or JSON without a JSON media type, is left as it is.
        let mut text = ev.clone();
        text.set_data("text/plain", Data::String("{}".into()));
        assert_eq!(compact(text.clone()), text);
        let mut no_type = ev;
        no_type.take_data();
        no_type.set_data_unchecked(Data::Json(data.clone()));
        assert_eq!(no_type.datacontenttype(), None);
        assert_eq!(compact(no_type.clone()), no_type);
        let v03 = cloudevents::EventBuilderV03::new()
            .id("1")
            .source("urn:x")
            .ty("t")
            .data("application/json", data)
            .build()
            .unwrap();
        assert_eq!(compact(v03.clone()), v03, "0.3 events keep their tree");
    }

    #[test]
    fn bad_time_is_an_error() {
        let mut ev = sample(EventClass::Event, "X");
        ev.created_time = "yesterday".into();
        let err = from_vsphere(ev, &origin(EventFormat::Router)).unwrap_err().to_string();
        assert!(err.contains("112") && err.contains("yesterday"), "{err}");
    }
}
