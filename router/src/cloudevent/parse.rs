//! Structured-mode CloudEvents (the JSON event format, 1.0) read into an [`Event`] without the
//! SDK's deserializer, which holds the whole document as a `serde_json` tree first (a 1 MiB event
//! cost 77 MB): each member is read as its raw JSON text, borrowed from the input; JSON data is
//! kept as that text (as [`super::compact`] keeps it; data without a media type is JSON by the
//! format's rule, and gets `datacontenttype: application/json` said explicitly), so an event
//! costs about its own size twice. An event has at most [`MAX_EXTENSIONS`] extension
//! attributes; a batch holds at most [`MAX_BATCH_HELD`] bytes of events
//! ([`super::cost::held_bytes`]). 0.3 events (rare) are read by the SDK as a tree, up to
//! [`MAX_V03_BYTES`] each. The rules are the SDK's (cloudevents-sdk 0.9, event/v10/format.rs):
//! `null` is an absent attribute, `data` with a JSON media type (or none) is JSON, with another
//! one a string, `data_base64` is bytes.

use base64::Engine as _;
use cloudevents::event::{AttributesWriter, ExtensionValue};
use cloudevents::{Data, Event, EventBuilder, EventBuilderV10};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::is_json;

/// Extension attributes one event may carry.
pub const MAX_EXTENSIONS: usize = 100;
/// The context attributes and data members of the format: the members an event has besides
/// its extensions.
const KNOWN: usize = 10;
/// Largest 0.3 event read (by the SDK, which holds it as a tree of up to about 30 times its
/// size): 0.3 is rare, and 1.0 has no such bound.
pub const MAX_V03_BYTES: usize = 64 * 1024;
/// Most bytes the events of one batch may hold once read (see [`super::cost`]).
pub const MAX_BATCH_HELD: usize = 16 << 20;

/// Why a document is not a CloudEvent.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("missing required attribute {0:?}")]
    Missing(&'static str),
    #[error("attribute {name:?} must be {want}")]
    Type { name: String, want: &'static str },
    #[error("specversion {0:?} is not supported: send 1.0")]
    Version(String),
    #[error("a 0.3 event larger than {MAX_V03_BYTES} bytes is not read: send 1.0")]
    V03TooLarge,
    #[error("more than {MAX_EXTENSIONS} extension attributes")]
    TooManyExtensions,
    #[error("the batch's events would hold more than {} MiB once read: send fewer events per batch", MAX_BATCH_HELD >> 20)]
    BatchTooLarge,
    #[error("attribute {0:?} appears twice")]
    Duplicate(String),
    #[error("cannot have both data and data_base64")]
    BothData,
    #[error("data_base64 is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("{0}")]
    Build(#[from] cloudevents::event::EventBuilderError),
}

/// An object's members as raw JSON text, in order, at most `KNOWN + MAX_EXTENSIONS`.
struct Members<'a>(Vec<(&'a str, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a CloudEvent (a JSON object)")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Members<'a>, M::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<&'de str, &'de RawValue>()? {
                    if out.len() == KNOWN + MAX_EXTENSIONS {
                        return Err(serde::de::Error::custom(ParseError::TooManyExtensions));
                    }
                    out.push((k, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// One structured-mode event.
pub fn event(bytes: &[u8]) -> Result<Event, ParseError> {
    let members: Members = serde_json::from_slice(bytes)?;
    let spec = members.0.iter().find(|(k, _)| *k == "specversion").map(|(_, v)| *v);
    if text("specversion", spec)?.as_deref() == Some("0.3") {
        if bytes.len() > MAX_V03_BYTES {
            return Err(ParseError::V03TooLarge);
        }
        return Ok(serde_json::from_slice::<Event>(bytes)?);
    }
    from_members(members)
}

/// A batch (`application/cloudevents-batch+json`): a JSON array of events.
pub fn batch(bytes: &[u8]) -> Result<Vec<Event>, ParseError> {
    let items: Vec<&RawValue> = serde_json::from_slice(bytes)?;
    let mut held = 0;
    let mut out = Vec::with_capacity(items.len().min(1024));
    for raw in items {
        let ev = event(raw.get().as_bytes())?;
        held += super::cost::held_bytes(&ev);
        if held > MAX_BATCH_HELD {
            return Err(ParseError::BatchTooLarge);
        }
        out.push(ev);
    }
    Ok(out)
}

/// A string attribute, `None` when absent or null.
fn text(name: &str, raw: Option<&RawValue>) -> Result<Option<String>, ParseError> {
    match raw.map(RawValue::get) {
        None | Some("null") => Ok(None),
        Some(json) => serde_json::from_str::<String>(json)
            .map(Some)
            .map_err(|_| ParseError::Type {
                name: name.to_string(),
                want: "a string",
            }),
    }
}

fn from_members(members: Members) -> Result<Event, ParseError> {
    let mut attrs: [Option<&RawValue>; KNOWN] = [None; KNOWN];
    const NAMES: [&str; KNOWN] = [
        "specversion",
        "id",
        "source",
        "type",
        "datacontenttype",
        "dataschema",
        "subject",
        "time",
        "data",
        "data_base64",
    ];
    let mut extensions = Vec::new();
    for (name, raw) in members.0 {
        match NAMES.iter().position(|n| *n == name) {
            Some(i) if attrs[i].is_some() => return Err(ParseError::Duplicate(name.to_string())),
            Some(i) => attrs[i] = Some(raw),
            None => {
                if extensions.iter().any(|(n, _)| *n == name) {
                    return Err(ParseError::Duplicate(name.to_string()));
                }
                if extensions.len() == MAX_EXTENSIONS {
                    return Err(ParseError::TooManyExtensions);
                }
                extensions.push((name, raw));
            }
        }
    }
    let [spec, id, source, ty, content_type, schema, subject, time, data, data_base64] = attrs;
    match text("specversion", spec)?.as_deref() {
        Some("1.0") => {}
        Some(other) => return Err(ParseError::Version(other.to_string())),
        None => return Err(ParseError::Missing("specversion")),
    }
    let required = |name: &'static str, raw| text(name, raw)?.ok_or(ParseError::Missing(name));
    let mut b = EventBuilderV10::new()
        .id(required("id", id)?)
        .source(required("source", source)?)
        .ty(required("type", ty)?);
    if let Some(s) = text("subject", subject)? {
        b = b.subject(s);
    }
    if let Some(t) = text("time", time)? {
        b = b.time(t);
    }
    for (name, raw) in extensions {
        let value = match raw.get() {
            "null" => continue,
            json => serde_json::from_str::<ExtensionValue>(json).map_err(|_| ParseError::Type {
                name: name.to_string(),
                want: "a string, a boolean or an integer",
            })?,
        };
        b = b.extension(name, value);
    }
    let mut event = b.build()?;
    let mut content_type = text("datacontenttype", content_type)?;
    if let Some(s) = text("dataschema", schema)? {
        let url = url::Url::parse(&s).map_err(|_| ParseError::Type {
            name: "dataschema".into(),
            want: "an absolute URI",
        })?;
        event.set_dataschema(Some(url));
    }
    let json = content_type.as_deref().is_none_or(is_json);
    let data = match (
        data.filter(|d| d.get() != "null"),
        data_base64.filter(|d| d.get() != "null"),
    ) {
        (Some(_), Some(_)) => return Err(ParseError::BothData),
        (None, None) => None,
        (None, Some(b64)) => {
            let text = text("data_base64", Some(b64))?.unwrap_or_default();
            Some(Data::Binary(base64::engine::general_purpose::STANDARD.decode(text)?))
        }
        // JSON data stays its text, with its media type said (bytes without one would be
        // written back as data_base64); the format makes data without one JSON already.
        (Some(d), None) if json => {
            content_type.get_or_insert_with(|| "application/json".to_string());
            Some(Data::Binary(d.get().as_bytes().to_vec()))
        }
        (Some(d), None) => Some(Data::String(text("data", Some(d))?.unwrap_or_default())),
    };
    event.set_datacontenttype(content_type);
    if let Some(data) = data {
        event.set_data_unchecked(data);
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudevent::Structured;
    use cloudevents::AttributesReader;

    /// The SDK's reading of the same document, written back out: the two must agree.
    fn same_as_sdk(doc: &str) {
        let ours = event(doc.as_bytes()).unwrap_or_else(|e| panic!("{doc}: {e}"));
        let sdk: Event = serde_json::from_str(doc).unwrap();
        let mut want = serde_json::to_value(Structured(&sdk)).unwrap();
        // JSON data without a media type gets application/json said explicitly.
        if sdk.datacontenttype().is_none() && matches!(sdk.data(), Some(Data::Json(_))) {
            want["datacontenttype"] = "application/json".into();
        }
        assert_eq!(serde_json::to_value(Structured(&ours)).unwrap(), want, "{doc}");
    }

    #[test]
    fn reads_what_the_sdk_reads() {
        for doc in [
            r#"{"specversion":"1.0","id":"1","source":"urn:s","type":"t"}"#,
            r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","subject":"VM é","time":"2026-12-01T10:00:00.5Z","data":{"a":[1,2.5,"x"],"b":null}}"#,
            r#"{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"application/json","data":{"a":1}}"#,
            r#"{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"application/cloudevents+json","data":[1]}"#,
            r#"{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"text/plain","data":"hello"}"#,
            r#"{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"image/png","data_base64":"aGk="}"#,
            r#"{"specversion":"1.0","id":"1","source":"s","type":"t","dataschema":"https://x/s.json","data":{}}"#,
            r#"{"specversion":"1.0","id":"1","source":"s","type":"t","vspherevm":"vm-1","n":7,"flag":true,"gone":null,"subject":null}"#,
        ] {
            same_as_sdk(doc);
        }
    }

    #[test]
    fn json_data_without_a_media_type_is_held_as_its_text_and_said_to_be_json() {
        let ev = event(br#"{"specversion":"1.0","id":"1","source":"s","type":"t","data":[0,0,0]}"#).unwrap();
        assert_eq!(ev.data(), Some(&Data::Binary(b"[0,0,0]".to_vec())));
        assert_eq!(ev.datacontenttype(), Some("application/json"));
    }

    #[test]
    fn a_batch_is_refused_when_its_events_would_hold_too_much() {
        let mut one = String::from(r#"{"specversion":"1.0","id":"1","source":"s","type":"t""#);
        for i in 0..MAX_EXTENSIONS {
            one.push_str(&format!(",\"a{i}\":1"));
        }
        one.push('}');
        let held = crate::cloudevent::cost::held_bytes(&event(one.as_bytes()).unwrap());
        let fits = MAX_BATCH_HELD / held;
        let batch_of = |n: usize| format!("[{}]", vec![one.as_str(); n].join(","));
        assert_eq!(batch(batch_of(fits).as_bytes()).unwrap().len(), fits);
        let e = batch(batch_of(fits + 1).as_bytes()).unwrap_err();
        assert!(matches!(e, ParseError::BatchTooLarge), "{e}");
        assert!(e.to_string().contains("send fewer events per batch"), "{e}");
    }

    #[test]
    fn json_data_with_a_media_type_is_held_as_its_text() {
        let ev = event(br#"{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"application/json","data":{"k":1}}"#).unwrap();
        assert_eq!(ev.data(), Some(&Data::Binary(br#"{"k":1}"#.to_vec())));
    }

    #[test]
    fn bad_documents_are_named() {
        let cases = [
            (r#"[]"#, "a CloudEvent"),
            (r#"{"id":"1","source":"s","type":"t"}"#, "specversion"),
            (r#"{"specversion":"1.0","source":"s","type":"t"}"#, "\"id\""),
            (
                r#"{"specversion":"1.0","id":1,"source":"s","type":"t"}"#,
                "\"id\" must be a string",
            ),
            (
                r#"{"specversion":"2.0","id":"1","source":"s","type":"t"}"#,
                "not supported",
            ),
            (
                r#"{"specversion":"1.0","id":"1","id":"2","source":"s","type":"t"}"#,
                "twice",
            ),
            (
                r#"{"specversion":"1.0","id":"1","source":"s","type":"t","x":{"a":1}}"#,
                "\"x\" must be",
            ),
            (
                r#"{"specversion":"1.0","id":"1","source":"s","type":"t","data":1,"data_base64":"eA=="}"#,
                "both",
            ),
            (
                r#"{"specversion":"1.0","id":"1","source":"s","type":"t","time":"yesterday"}"#,
                "time",
            ),
            (
                r#"{"specversion":"1.0","id":"1","source":"s","type":"t","dataschema":"rel"}"#,
                "absolute URI",
            ),
        ];
        for (doc, want) in cases {
            let e = event(doc.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(want), "{doc}: {e}");
        }
    }

    #[test]
    fn extensions_are_capped() {
        let mut doc = String::from(r#"{"specversion":"1.0","id":"1","source":"s","type":"t""#);
        for i in 0..MAX_EXTENSIONS {
            doc.push_str(&format!(",\"x{i}\":\"v\""));
        }
        let ok = format!("{doc}}}");
        assert_eq!(event(ok.as_bytes()).unwrap().iter_extensions().count(), MAX_EXTENSIONS);
        let over = format!("{doc},\"y\":\"v\"}}");
        let e = event(over.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("more than 100 extension attributes"), "{e}");
    }

    #[test]
    fn version_0_3_goes_to_the_sdk_within_its_bound() {
        let doc = r#"{"specversion":"0.3","id":"1","source":"s","type":"t"}"#;
        let ev = event(doc.as_bytes()).unwrap();
        assert_eq!(ev.specversion(), cloudevents::event::SpecVersion::V03);
        let big = format!(
            r#"{{"specversion":"0.3","id":"1","source":"s","type":"t","data":"{}"}}"#,
            "x".repeat(MAX_V03_BYTES)
        );
        assert!(matches!(event(big.as_bytes()), Err(ParseError::V03TooLarge)));
    }

    #[test]
    fn batches() {
        let one = r#"{"specversion":"1.0","id":"1","source":"s","type":"t"}"#;
        let ids: Vec<String> = batch(format!("[{one},{}]", one.replace("\"1\"", "\"2\"")).as_bytes())
            .unwrap()
            .iter()
            .map(|e| e.id().to_string())
            .collect();
        assert_eq!(ids, ["1", "2"]);
        assert!(batch(b"{}").is_err());
    }
}
