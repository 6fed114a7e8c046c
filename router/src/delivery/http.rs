//! The CloudEvents HTTP protocol binding (v1.0.2): binary and structured content modes.
//!
//! Binary-mode header values are percent-encoded as the binding requires (space, `"`, `%`
//! and everything outside printable ASCII); the cloudevents-sdk crate does not do this.

use cloudevents::event::Data;
use cloudevents::{AttributesReader, Event};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};

use crate::config::Encoding;

/// Characters the HTTP binding requires to be percent-encoded in `ce-` header values
/// (non-ASCII is always encoded by `utf8_percent_encode`).
const HEADER_ENCODE: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'%');

/// Why an event could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode CloudEvent {id}: {detail}")]
pub struct EncodeError {
    pub id: String,
    pub detail: String,
}

/// Headers and body for one HTTP request carrying `event`.
pub fn encode(event: &Event, encoding: Encoding) -> Result<(HeaderMap, Vec<u8>), EncodeError> {
    let err = |detail: String| EncodeError {
        id: event.id().to_string(),
        detail,
    };
    let mut headers = HeaderMap::new();
    match encoding {
        Encoding::Structured => {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/cloudevents+json; charset=utf-8"),
            );
            let body = serde_json::to_vec(event).map_err(|e| err(e.to_string()))?;
            Ok((headers, body))
        }
        Encoding::Binary => {
            for (name, value) in event.iter() {
                if name == "datacontenttype" {
                    continue;
                }
                let header = HeaderName::from_bytes(format!("ce-{name}").as_bytes()).map_err(|e| err(e.to_string()))?;
                let text = value.to_string();
                let encoded = utf8_percent_encode(&text, HEADER_ENCODE).to_string();
                headers.insert(header, HeaderValue::from_str(&encoded).map_err(|e| err(e.to_string()))?);
            }
            let content_type = event.datacontenttype().unwrap_or("application/json");
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_str(content_type).map_err(|e| err(e.to_string()))?,
            );
            let body = match event.data() {
                Some(Data::Json(v)) => serde_json::to_vec(v).map_err(|e| err(e.to_string()))?,
                Some(Data::String(s)) => s.clone().into_bytes(),
                Some(Data::Binary(b)) => b.clone(),
                None => Vec::new(),
            };
            Ok((headers, body))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    fn event() -> Event {
        EventBuilderV10::new()
            .id("42")
            .source("https://vc/sdk")
            .ty("com.vmware.event.router/event")
            .subject("VM \"ü\" 100%")
            .extension("vsphereapiversion", "6.5")
            .data("application/json", serde_json::json!({"Key": 42}))
            .build()
            .unwrap()
    }

    #[test]
    fn binary_mode_percent_encodes_header_values() {
        let (h, body) = encode(&event(), Encoding::Binary).unwrap();
        assert_eq!(h["ce-subject"], "VM%20%22%C3%BC%22%20100%25");
        assert_eq!(h["ce-id"], "42");
        assert_eq!(h["ce-specversion"], "1.0");
        assert_eq!(h["ce-source"], "https://vc/sdk");
        assert_eq!(h["ce-vsphereapiversion"], "6.5");
        assert_eq!(h[CONTENT_TYPE], "application/json");
        assert!(h.get("ce-datacontenttype").is_none());
        assert_eq!(body, br#"{"Key":42}"#);
    }

    #[test]
    fn structured_mode_carries_the_whole_event() {
        let (h, body) = encode(&event(), Encoding::Structured).unwrap();
        assert!(h[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/cloudevents+json"));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["id"], "42");
        assert_eq!(v["subject"], "VM \"ü\" 100%");
        assert_eq!(v["data"]["Key"], 42);
    }
}
