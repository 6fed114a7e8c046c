//! A processor's event filter: CloudEvent types, event names and an EventBridge-style pattern
//! over the CloudEvent's structured JSON. Every part given must match.

use cloudevents::{AttributesReader, Event};
use serde_json::Value;

use crate::cloudevent::event_name;
use crate::config::EventFilter;
use crate::processors::pattern::{Pattern, PatternError};

#[derive(Debug, Clone, Default)]
pub struct Filter {
    types: Vec<String>,
    names: Vec<String>,
    pattern: Option<Pattern>,
}

impl Filter {
    /// The filter for a processor's `filter` section; accepts everything when absent.
    pub fn new(cfg: Option<&EventFilter>) -> Result<Filter, PatternError> {
        let Some(cfg) = cfg else {
            return Ok(Filter::default());
        };
        Ok(Filter {
            types: cfg.types.clone(),
            names: cfg.event_names.clone(),
            pattern: cfg.pattern.as_ref().map(Pattern::from_value).transpose()?,
        })
    }

    /// Whether matching needs the event as JSON (built once per event by the caller).
    pub fn needs_json(&self) -> bool {
        self.pattern.is_some()
    }

    /// Whether the event passes. `json` is the structured form, required when
    /// [`Filter::needs_json`].
    pub fn accepts(&self, event: &Event, json: Option<&Value>) -> bool {
        if !self.types.is_empty() && !self.types.iter().any(|t| t == event.ty()) {
            return false;
        }
        if !self.names.is_empty() {
            let name = event_name(event);
            if !self.names.contains(&name) {
                return false;
            }
        }
        match (&self.pattern, json) {
            (Some(p), Some(j)) => p.matches(j),
            (Some(_), None) => false,
            (None, _) => true,
        }
    }

    /// A one-line description for logs.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.types.is_empty() {
            parts.push(format!("types {:?}", self.types));
        }
        if !self.names.is_empty() {
            parts.push(format!("event names {:?}", self.names));
        }
        if self.pattern.is_some() {
            parts.push("a pattern".to_string());
        }
        if parts.is_empty() {
            "all events".to_string()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    fn event(subject: &str, vm: &str) -> Event {
        EventBuilderV10::new()
            .id("1")
            .source("https://vc/sdk")
            .ty("com.vmware.event.router/event")
            .subject(subject)
            .data("application/json", serde_json::json!({"Vm": {"Name": vm}}))
            .build()
            .unwrap()
    }

    fn filter(yaml: &str) -> Filter {
        let cfg: EventFilter = serde_norway::from_str(yaml).unwrap();
        Filter::new(Some(&cfg)).unwrap()
    }

    fn accepts(f: &Filter, e: &Event) -> bool {
        let json = f
            .needs_json()
            .then(|| serde_json::to_value(crate::cloudevent::Structured(e)).unwrap());
        f.accepts(e, json.as_ref())
    }

    #[test]
    fn absent_filter_accepts_everything() {
        let f = Filter::new(None).unwrap();
        assert!(accepts(&f, &event("VmPoweredOnEvent", "a")));
        assert_eq!(f.describe(), "all events");
    }

    #[test]
    fn types_names_and_pattern_all_must_match() {
        let f = filter("types: [com.vmware.event.router/event]\neventNames: [VmPoweredOffEvent, VmPoweredOnEvent]\npattern: {data: {Vm: {Name: [{prefix: prod-}]}}}\n");
        assert!(accepts(&f, &event("VmPoweredOffEvent", "prod-db")));
        assert!(!accepts(&f, &event("VmPoweredOffEvent", "test-db")), "pattern");
        assert!(!accepts(&f, &event("VmCreatedEvent", "prod-db")), "name");
        let other_type = filter("types: [com.vmware.event.router/eventex]\n");
        assert!(!accepts(&other_type, &event("VmPoweredOffEvent", "prod-db")));
    }

    #[test]
    fn pattern_without_json_does_not_match() {
        let f = filter("pattern: {subject: [VmPoweredOnEvent]}\n");
        assert!(!f.accepts(&event("VmPoweredOnEvent", "a"), None));
        assert!(accepts(&f, &event("VmPoweredOnEvent", "a")));
    }

    #[test]
    fn bad_pattern_is_named() {
        let cfg: EventFilter = serde_norway::from_str("pattern: {subject: VmPoweredOnEvent}\n").unwrap();
        let e = Filter::new(Some(&cfg)).unwrap_err();
        assert!(e.to_string().contains("subject"), "{e}");
    }
}
