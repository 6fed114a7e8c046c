//! The CloudEvents HTTP protocol binding (v1.0.2): binary and structured content modes.
//!
//! Binary-mode header values are percent-encoded as the binding requires (space, `"`, `%`
//! and everything outside printable ASCII); the cloudevents-sdk crate does not do this.

use std::borrow::Cow;

use cloudevents::event::{AttributeValue, Data};
use cloudevents::{AttributesReader, Event};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};

use crate::cloudevent::Structured;
use crate::config::Encoding;

/// Characters the HTTP binding requires to be percent-encoded in `ce-` header values
/// (non-ASCII is always encoded by `utf8_percent_encode`).
const HEADER_ENCODE: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'%');

/// The `ce-` header for an attribute: the router's own attributes without an allocation.
fn header_name(attribute: &str) -> Result<HeaderName, axum::http::header::InvalidHeaderName> {
    Ok(HeaderName::from_static(match attribute {
        "id" => "ce-id",
        "source" => "ce-source",
        "specversion" => "ce-specversion",
        "type" => "ce-type",
        "subject" => "ce-subject",
        "time" => "ce-time",
        "dataschema" => "ce-dataschema",
        "vsphereapiversion" => "ce-vsphereapiversion",
        "eventclass" => "ce-eventclass",
        other => return HeaderName::from_bytes(format!("ce-{other}").as_bytes()),
    }))
}

/// An attribute's text, borrowed where it already is text.
fn attribute_text<'a>(value: &AttributeValue<'a>) -> Cow<'a, str> {
    match *value {
        AttributeValue::String(s) => Cow::Borrowed(s),
        AttributeValue::URI(u) => Cow::Borrowed(u.as_str()),
        AttributeValue::URIRef(u) => Cow::Borrowed(u.as_str()),
        ref other => Cow::Owned(other.to_string()),
    }
}

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
    let mut headers = HeaderMap::with_capacity(12);
    match encoding {
        Encoding::Structured => {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/cloudevents+json; charset=utf-8"),
            );
            let body = serde_json::to_vec(&Structured(event)).map_err(|e| err(e.to_string()))?;
            Ok((headers, body))
        }
        Encoding::Binary => {
            for (name, value) in event.iter() {
                if name == "datacontenttype" {
                    continue;
                }
                let header = header_name(name).map_err(|e| err(format!("attribute {name:?}: {e}")))?;
                let text = attribute_text(&value);
                let encoded: Cow<'_, str> = utf8_percent_encode(&text, HEADER_ENCODE).into();
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
            .extension("mycount", 7i64)
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
        assert_eq!(h["ce-mycount"], "7", "other extensions get their header too");
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
