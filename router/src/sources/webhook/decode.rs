//! CloudEvents from an HTTP request (HTTP protocol binding v1.0.2): structured mode
//! (`application/cloudevents+json`), batch mode (`application/cloudevents-batch+json`) and
//! binary mode (`ce-` headers, percent-decoded, with the body as data). JSON is read without a
//! tree ([`crate::cloudevent::parse`]; a JSON body is kept as its text), and an event carries at
//! most [`MAX_EXTENSIONS`] extension attributes, so a request costs about its own size.

use axum::http::{header, HeaderMap, StatusCode};
use cloudevents::{Event, EventBuilder, EventBuilderV10};
use percent_encoding::percent_decode_str;

use crate::cloudevent::parse::{self, MAX_EXTENSIONS};

/// Why a request does not carry usable CloudEvents; `status` is the HTTP answer.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    pub status: StatusCode,
    pub message: String,
}

fn bad(message: impl Into<String>) -> DecodeError {
    DecodeError {
        status: StatusCode::BAD_REQUEST,
        message: message.into(),
    }
}

/// Names an extension attribute cannot have: the CloudEvents context attributes and the data
/// members of the JSON format. An event carrying one could not be written out and read back as
/// the same event (a dead letter would not replay).
const RESERVED: &[&str] = &[
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "dataschema",
    "data",
    "data_base64",
];

/// Refuses extension names the CloudEvents spec does not allow (lower-case ASCII letters and
/// digits) or reserves.
fn check_extensions(event: &Event) -> Result<(), DecodeError> {
    if event.iter_extensions().count() > MAX_EXTENSIONS {
        return Err(bad(format!(
            "more than {MAX_EXTENSIONS} extension attributes: an event may carry at most {MAX_EXTENSIONS}"
        )));
    }
    for (name, _) in event.iter_extensions() {
        if RESERVED.contains(&name)
            || name.is_empty()
            || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(bad(format!(
                "extension attribute {name:?} is not allowed: CloudEvents extension names are lower-case letters and digits, and not a context attribute or data member ({})",
                RESERVED.join(", ")
            )));
        }
    }
    Ok(())
}

/// The events in a request, in order.
pub fn decode(headers: &HeaderMap, body: &[u8]) -> Result<Vec<Event>, DecodeError> {
    let events = decode_all(headers, body)?;
    for e in &events {
        check_extensions(e)?;
    }
    Ok(events)
}

fn decode_all(headers: &HeaderMap, body: &[u8]) -> Result<Vec<Event>, DecodeError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_string();
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match media.as_str() {
        "application/cloudevents-batch+json" => parse::batch(body)
            .map_err(|e| bad(format!("invalid CloudEvents batch (application/cloudevents-batch+json): {e}"))),
        "application/cloudevents+json" => parse::event(body)
            .map(|e| vec![e])
            .map_err(|e| bad(format!("invalid structured CloudEvent (application/cloudevents+json): {e}"))),
        m if m.starts_with("application/cloudevents") => Err(DecodeError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: format!("event format {m:?} is not supported: send application/cloudevents+json, application/cloudevents-batch+json or binary mode"),
        }),
        _ => binary(headers, &content_type, body).map(|e| vec![e]),
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Result<Option<String>, DecodeError> {
    let Some(raw) = headers.get(name) else {
        return Ok(None);
    };
    let text = raw
        .to_str()
        .map_err(|_| bad(format!("header {name} is not ASCII: percent-encode it")))?;
    percent_decode_str(text)
        .decode_utf8()
        .map(|s| Some(s.into_owned()))
        .map_err(|_| bad(format!("header {name} is not percent-encoded UTF-8")))
}

fn binary(headers: &HeaderMap, content_type: &str, body: &[u8]) -> Result<Event, DecodeError> {
    let Some(spec) = header_text(headers, "ce-specversion")? else {
        return Err(bad(
            "not a CloudEvent: no ce-specversion header (binary mode) and Content-Type is not application/cloudevents+json",
        ));
    };
    if spec != "1.0" {
        return Err(bad(format!("ce-specversion {spec:?} is not supported: send 1.0")));
    }
    let required = |name: &str| -> Result<String, DecodeError> {
        header_text(headers, name)?
            .filter(|v| !v.is_empty())
            .ok_or_else(|| bad(format!("binary-mode CloudEvent without the {name} header")))
    };
    let mut b = EventBuilderV10::new()
        .id(required("ce-id")?)
        .source(required("ce-source")?)
        .ty(required("ce-type")?);
    let mut schema = None;
    for name in headers.keys() {
        let Some(attr) = name.as_str().strip_prefix("ce-") else {
            continue;
        };
        let Some(value) = header_text(headers, name.as_str())? else {
            continue;
        };
        match attr {
            "specversion" | "id" | "source" | "type" => {}
            "subject" => b = b.subject(value),
            "time" => b = b.time(value),
            "dataschema" => schema = Some(value),
            "datacontenttype" => {
                return Err(bad(
                    "ce-datacontenttype is not allowed in binary mode: use Content-Type",
                ));
            }
            ext => b = b.extension(ext, value),
        }
    }
    if !body.is_empty() {
        let ct = if content_type.is_empty() {
            "application/json"
        } else {
            content_type
        };
        let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let is_json = crate::cloudevent::is_json(&media);
        b = match (is_json, schema) {
            (true, s) => {
                // Checked, and kept as its text (no tree).
                serde_json::from_slice::<serde::de::IgnoredAny>(body)
                    .map_err(|e| bad(format!("Content-Type is {ct} but the body is not JSON: {e}")))?;
                let v = cloudevents::Data::Binary(body.to_vec());
                match s {
                    Some(s) => b.data_with_schema(ct, s, v),
                    None => b.data(ct, v),
                }
            }
            (false, s) => {
                let data = match std::str::from_utf8(body) {
                    Ok(t) if media.starts_with("text/") => cloudevents::Data::String(t.to_string()),
                    _ => cloudevents::Data::Binary(body.to_vec()),
                };
                match s {
                    Some(s) => b.data_with_schema(ct, s, data),
                    None => b.data(ct, data),
                }
            }
        };
    }
    b.build()
        .map_err(|e| bad(format!("invalid binary-mode CloudEvent: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::AttributesReader;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn binary_mode_decodes_percent_encoded_headers_and_json_data() {
        let h = headers(&[
            ("ce-specversion", "1.0"),
            ("ce-id", "42"),
            ("ce-source", "urn:test"),
            ("ce-type", "com.example.test"),
            ("ce-subject", "VM%20%C3%A9"),
            ("ce-time", "2026-11-30T10:00:00Z"),
            ("ce-vspherevm", "vm-1"),
            ("content-type", "application/json"),
        ]);
        let ev = &decode(&h, br#"{"hello":"world"}"#).unwrap()[0];
        assert_eq!(
            (ev.id(), ev.source().as_str(), ev.ty()),
            ("42", "urn:test", "com.example.test")
        );
        assert_eq!(ev.subject(), Some("VM é"));
        assert_eq!(ev.extension("vspherevm").unwrap().to_string(), "vm-1");
        assert_eq!(
            ev.data(),
            Some(&cloudevents::Data::Binary(br#"{"hello":"world"}"#.to_vec())),
            "held as its text"
        );
        let written = serde_json::to_value(crate::cloudevent::Structured(ev)).unwrap();
        assert_eq!(written["data"], serde_json::json!({"hello": "world"}));
    }

    #[test]
    fn structured_and_batch_modes() {
        let one = r#"{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"a":1}}"#;
        let h = headers(&[("content-type", "application/cloudevents+json; charset=utf-8")]);
        assert_eq!(decode(&h, one.as_bytes()).unwrap()[0].id(), "1");
        let h = headers(&[("content-type", "application/cloudevents-batch+json")]);
        let batch = format!("[{one},{}]", one.replace("\"id\":\"1\"", "\"id\":\"2\""));
        let ids: Vec<String> = decode(&h, batch.as_bytes())
            .unwrap()
            .iter()
            .map(|e| e.id().to_string())
            .collect();
        assert_eq!(ids, ["1", "2"]);
    }

    #[test]
    fn reserved_or_malformed_extension_names_are_refused() {
        let base = [
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "s"),
            ("ce-type", "t"),
        ];
        for (name, value) in [("ce-data", "x"), ("ce-data_base64", "eA=="), ("ce-my_ext", "x")] {
            let mut h = base.to_vec();
            h.push((name, value));
            let e = decode(&headers(&h), b"").unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(e.message.contains("is not allowed"), "{name}: {e}");
        }
        let mut h = base.to_vec();
        h.push(("ce-vspherevm", "vm-1"));
        assert!(decode(&headers(&h), b"").is_ok());
        let structured = headers(&[("content-type", "application/cloudevents+json")]);
        let body = br#"{"specversion":"1.0","id":"1","source":"s","type":"t","Bad-Name":"x"}"#;
        assert!(decode(&structured, body).is_err());
        // At most 100 extension attributes, in binary mode too.
        let names: Vec<String> = (0..=MAX_EXTENSIONS).map(|i| format!("ce-x{i}")).collect();
        let mut h = base.to_vec();
        h.extend(names.iter().map(|n| (n.as_str(), "v")));
        let e = decode(&headers(&h), b"").unwrap_err();
        assert!(e.message.contains("more than 100 extension attributes"), "{e}");
    }

    #[test]
    fn bad_requests_name_the_problem() {
        type Case<'a> = (Vec<(&'a str, &'a str)>, &'a [u8], StatusCode, &'a str);
        let cases: Vec<Case> = vec![
            (
                vec![("content-type", "application/json")],
                b"{}",
                StatusCode::BAD_REQUEST,
                "no ce-specversion",
            ),
            (
                vec![("ce-specversion", "1.0"), ("ce-id", "1"), ("ce-type", "t")],
                b"",
                StatusCode::BAD_REQUEST,
                "without the ce-source header",
            ),
            (
                vec![("ce-specversion", "0.3"), ("ce-id", "1")],
                b"",
                StatusCode::BAD_REQUEST,
                "ce-specversion \"0.3\"",
            ),
            (
                vec![
                    ("ce-specversion", "1.0"),
                    ("ce-id", "1"),
                    ("ce-source", "s"),
                    ("ce-type", "t"),
                    ("content-type", "application/json"),
                ],
                b"{not json",
                StatusCode::BAD_REQUEST,
                "the body is not JSON",
            ),
            (
                vec![("content-type", "application/cloudevents+json")],
                b"{\"id\":1}",
                StatusCode::BAD_REQUEST,
                "invalid structured CloudEvent",
            ),
            (
                vec![("content-type", "application/cloudevents+avro")],
                b"x",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "is not supported",
            ),
        ];
        for (h, body, status, want) in cases {
            let e = decode(&headers(&h), body).unwrap_err();
            assert_eq!(e.status, status, "{e}");
            assert!(e.message.contains(want), "{want:?} not in {e}");
        }
    }
}
