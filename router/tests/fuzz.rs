//! Property tests over the router's untrusted inputs: the SOAP/event XML vCenter sends, the
//! config file, webhook requests and event patterns. Whatever the input, parsing returns a
//! value or an error and never panics. A bounded run (PROPTEST_CASES, default 256 per
//! property) is part of `make test`.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use event_router::config::RouterConfig;
use event_router::processors::pattern::Pattern;
use event_router::sources::webhook::decode::decode;
use event_router::vsphere::client::{is_page_event, is_read_event};
use event_router::vsphere::event::{event_key, VsphereEvent};
use event_router::vsphere::soap::{parse_response, parse_response_lazy};
use event_router::vsphere::types::TypeTable;
use event_router::vsphere::xml::{parse, Element};
use proptest::prelude::*;

/// A real ReadNextEvents answer (the shape vcsim sends), to mutate.
const EVENTS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body><ReadNextEventsResponse xmlns="urn:vim25">
<returnval xsi:type="VmPoweredOffEvent"><key>42</key><chainId>42</chainId><createdTime>2026-11-30T10:00:00.123Z</createdTime><userName>user</userName>
<datacenter><name>DC0</name><datacenter type="Datacenter">datacenter-2</datacenter></datacenter>
<host><name>DC0_H0</name><host type="HostSystem">host-21</host></host>
<vm><name>DC0_H0_VM0</name><vm type="VirtualMachine">vm-54</vm></vm>
<fullFormattedMessage>DC0_H0_VM0 on DC0_H0 in DC0 is powered off</fullFormattedMessage><template>false</template></returnval>
<returnval xsi:type="EventEx"><key>43</key><chainId>43</chainId><createdTime>2026-11-30T10:00:01Z</createdTime><eventTypeId>com.vmware.vc.Custom</eventTypeId>
<arguments><key>a</key><value xsi:type="xsd:string">b</value></arguments></returnval>
</ReadNextEventsResponse></soapenv:Body></soapenv:Envelope>"#;

const CONFIG: &str = "apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata:
  name: x
eventProvider:
  type: vcenter
  name: vc
  vcenter:
    address: https://vc/sdk
    auth: {type: basic_auth, basicAuth: {username: u, password: p}}
eventProcessor:
  type: knative
  name: k
  filter: {pattern: {data: {Vm: {Name: [{prefix: a}]}}}}
  knative: {destination: {uri: http://sink/}}
metricsProvider:
  type: default
  name: m
  default: {bindAddress: 127.0.0.1:8082}
";

/// `base` with up to 8 bytes replaced, removed or inserted at random places.
fn mutated(base: &'static str) -> impl Strategy<Value = String> {
    let len = base.len();
    prop::collection::vec((0..len, any::<u8>(), 0u8..3), 0..8).prop_map(move |edits| {
        let mut bytes = base.as_bytes().to_vec();
        for (at, b, op) in edits {
            let at = at.min(bytes.len().saturating_sub(1));
            match op {
                0 if !bytes.is_empty() => bytes[at] = b,
                1 if !bytes.is_empty() => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, b),
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Decodes one element as an event; what decodes must be valid JSON.
fn decode_one(el: &Element, table: &TypeTable) -> bool {
    let _ = event_key(el);
    match VsphereEvent::decode(el, table) {
        Ok(ev) => {
            let json = serde_json::from_slice::<serde_json::Value>(&ev.data);
            assert!(
                json.is_ok(),
                "decoded to invalid JSON: {}",
                String::from_utf8_lossy(&ev.data)
            );
            true
        }
        Err(_) => false,
    }
}

/// Decodes every element of the document as an event; returns how many decoded.
fn decode_events(doc: &str) -> usize {
    fn walk(el: &Element, table: &TypeTable, ok: &mut usize) {
        if decode_one(el, table) {
            *ok += 1;
        }
        for c in &el.children {
            walk(c, table, ok);
        }
    }
    let table = TypeTable::builtin();
    let mut ok = 0;
    if let Ok(body) = parse_response(doc) {
        walk(&body, table, &mut ok);
    }
    if let Ok(el) = parse(doc) {
        walk(&el, table, &mut 0);
    }
    // As the router reads pages: events left as text, each decoded from it when delivered.
    let mut lazy_ok = 0;
    for lazy in [is_read_event, is_page_event] {
        if let Ok(body) = parse_response_lazy(doc.to_string(), lazy) {
            for el in body.children {
                decode_one(&el, table);
                if let Ok(whole) = el.expand() {
                    walk(&whole, table, &mut lazy_ok);
                }
            }
        }
    }
    ok
}

#[test]
fn the_unmutated_inputs_parse() {
    assert_eq!(decode_events(EVENTS), 2, "both events decode");
    let body = parse_response_lazy(EVENTS.to_string(), is_read_event).unwrap();
    let eager = parse_response(EVENTS).unwrap();
    assert!(body.children.iter().all(|el| el.raw.is_some()), "read lazily");
    let whole: Vec<Element> = body.children.into_iter().map(|el| el.expand().unwrap()).collect();
    assert_eq!(
        whole, eager.children,
        "expanded lazily read events equal the eager tree"
    );
    assert!(RouterConfig::from_yaml(CONFIG, "fuzz").is_ok());
}

proptest! {
    #[test]
    fn soap_event_xml_never_panics(doc in mutated(EVENTS)) {
        let _ = decode_events(&doc);
    }

    #[test]
    fn arbitrary_text_as_xml_never_panics(doc in "\\PC{0,300}") {
        let _ = decode_events(&doc);
    }

    #[test]
    fn config_never_panics(text in mutated(CONFIG)) {
        let _ = RouterConfig::from_yaml(&text, "fuzz");
    }

    #[test]
    fn webhook_requests_never_panic(
        headers in prop::collection::vec(("ce-[a-z]{1,12}|content-type", "[ -~]{0,40}"), 0..8),
        body in prop::collection::vec(any::<u8>(), 0..200),
        structured in any::<bool>(),
    ) {
        let mut h = HeaderMap::new();
        for (k, v) in &headers {
            if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
                h.insert(k, v);
            }
        }
        if structured {
            h.insert("content-type", HeaderValue::from_static("application/cloudevents+json"));
        }
        let _ = decode(&h, &body);
    }

    #[test]
    fn patterns_never_panic(pattern in "\\PC{0,120}", event in "\\PC{0,120}") {
        if let Ok(p) = Pattern::parse(&pattern) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&event) {
                let _ = p.matches(&v);
            }
        }
    }
}
