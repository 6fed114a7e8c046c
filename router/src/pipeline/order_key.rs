//! Which events must reach a sink in the order they were read: those of one object. An event's
//! key is its source and its primary managed object, the first of the vSphere event's arguments
//! that names one: the VM (`Vm`), else the host (`Host`), the datastore (`Ds`), the network
//! (`Net`), the distributed switch (`Dvs`), the alarm's entity (`Entity`), the cluster
//! (`ComputeResource`) or the datacenter (`Datacenter`). A webhook event is keyed by its
//! `subject`. An event with neither (a login, a vCenter-wide event), and every Horizon audit
//! event (its subject names the event type, not an object), has its source's own key, so such
//! events stay in order among themselves. Keys are hashed: two
//! objects that share a hash are merely ordered together.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use cloudevents::{AttributesReader, Data, Event};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

use super::keyed::Key;

/// The arguments that name an object, in the order they key an event, with the field of the
/// managed object reference inside each.
const ARGUMENTS: [(&str, &str); 8] = [
    ("Vm", "Vm"),
    ("Host", "Host"),
    ("Ds", "Datastore"),
    ("Net", "Network"),
    ("Dvs", "Dvs"),
    ("Entity", "Entity"),
    ("ComputeResource", "ComputeResource"),
    ("Datacenter", "Datacenter"),
];

/// The key that orders `event`.
pub fn of(event: &Event) -> Key<u64> {
    let mut h = DefaultHasher::new();
    event.source().as_str().hash(&mut h);
    let object = match event.data() {
        Some(Data::Binary(bytes)) => primary_object(bytes),
        Some(Data::Json(value)) => serde_json::to_vec(value).ok().and_then(|b| primary_object(&b)),
        _ => None,
    };
    match object {
        Some(moref) => {
            0u8.hash(&mut h);
            moref.hash(&mut h);
        }
        None if !is_vsphere(event) && !is_horizon(event) => {
            1u8.hash(&mut h);
            event.subject().unwrap_or("").hash(&mut h);
        }
        None => 2u8.hash(&mut h),
    }
    Key::Of(h.finish())
}

/// A Horizon audit event, in either of the router's event formats.
fn is_horizon(event: &Event) -> bool {
    let ty = event.ty();
    ty.starts_with("com.vmware.event.router/horizon.") || ty.starts_with("com.vmware.horizon.")
}

/// A vCenter event, in either of the router's event formats.
fn is_vsphere(event: &Event) -> bool {
    let ty = event.ty();
    (ty.starts_with("com.vmware.event.router/") && !ty.starts_with("com.vmware.event.router/horizon."))
        || ty.starts_with("com.vmware.vsphere.")
}

/// The managed object reference value (`vm-42`) of the first argument in [`ARGUMENTS`] order
/// that the event's JSON data carries, reading no further than needed.
pub fn primary_object(json: &[u8]) -> Option<String> {
    let mut found: [Option<String>; ARGUMENTS.len()] = Default::default();
    let mut de = serde_json::Deserializer::from_slice(json);
    // The visitor stops early once nothing later can win; the parser then reports the rest of
    // the document as unread, which is no error here.
    let _ = de.deserialize_map(Args { found: &mut found });
    found.into_iter().flatten().next()
}

struct Args<'a> {
    found: &'a mut [Option<String>; ARGUMENTS.len()],
}

impl<'de> Visitor<'de> for Args<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a vSphere event")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let Some(i) = ARGUMENTS.iter().position(|(arg, _)| *arg == name) else {
                // The base Event's arguments come before FullFormattedMessage; after it only
                // Entity (an alarm's) can still key the event.
                if name == "FullFormattedMessage" && self.found[..5].iter().any(Option::is_some) {
                    return Ok(());
                }
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let arg: Option<serde_json::Map<String, serde_json::Value>> = map.next_value()?;
            let moref = arg
                .as_ref()
                .and_then(|a| a.get(ARGUMENTS[i].1))
                .and_then(|r| r.get("Value"))
                .and_then(|v| v.as_str());
            if let Some(v) = moref {
                self.found[i] = Some(v.to_string());
                if i == 0 {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    fn event(ty: &str, subject: Option<&str>, data: &str) -> Event {
        let mut b = EventBuilderV10::new()
            .id("1")
            .source("https://vc/sdk")
            .ty(ty)
            .data("application/json", Data::Binary(data.as_bytes().to_vec()));
        if let Some(s) = subject {
            b = b.subject(s);
        }
        b.build().unwrap()
    }

    #[test]
    fn the_vm_else_the_host_else_the_rest_in_order() {
        let vm = r#"{"Key":1,"Datacenter":{"Name":"DC0","Datacenter":{"Type":"Datacenter","Value":"datacenter-2"}},"Host":{"Name":"h","Host":{"Type":"HostSystem","Value":"host-21"}},"Vm":{"Name":"v","Vm":{"Type":"VirtualMachine","Value":"vm-42"}},"FullFormattedMessage":"x","Template":false}"#;
        assert_eq!(primary_object(vm.as_bytes()).as_deref(), Some("vm-42"));
        let host = r#"{"Key":1,"Datacenter":{"Datacenter":{"Value":"datacenter-2"}},"Host":{"Host":{"Value":"host-21"}},"Vm":null,"FullFormattedMessage":"x"}"#;
        assert_eq!(primary_object(host.as_bytes()).as_deref(), Some("host-21"));
        let alarm = r#"{"Key":1,"Datacenter":{"Datacenter":{"Value":"datacenter-2"}},"FullFormattedMessage":"x","Alarm":{"Alarm":{"Value":"alarm-7"}},"Entity":{"Entity":{"Value":"datastore-9"}}}"#;
        assert_eq!(
            primary_object(alarm.as_bytes()).as_deref(),
            Some("datastore-9"),
            "the alarm's entity before the datacenter"
        );
        let login = r#"{"Key":1,"UserName":"u","FullFormattedMessage":"User logged in"}"#;
        assert_eq!(primary_object(login.as_bytes()), None);
        assert_eq!(primary_object(b"not json"), None);
    }

    #[test]
    fn keys_separate_objects_sources_and_subjects() {
        let vm = |v: &str| format!(r#"{{"Vm":{{"Vm":{{"Value":"{v}"}}}}}}"#);
        let ty = "com.vmware.event.router/event";
        assert_eq!(
            of(&event(ty, Some("VmPoweredOnEvent"), &vm("vm-1"))),
            of(&event(ty, Some("VmPoweredOffEvent"), &vm("vm-1")))
        );
        assert_ne!(of(&event(ty, None, &vm("vm-1"))), of(&event(ty, None, &vm("vm-2"))));
        // Objectless vCenter events share their source's key, whatever their name.
        assert_eq!(
            of(&event(ty, Some("UserLoginSessionEvent"), "{}")),
            of(&event(ty, Some("UserLogoutSessionEvent"), "{}"))
        );
        // Other sources: by subject.
        let hook = "com.example.thing";
        assert_ne!(of(&event(hook, Some("a"), "{}")), of(&event(hook, Some("b"), "{}")));
        // Horizon: one line per server, whatever the event type.
        let horizon = "com.vmware.event.router/horizon.vlsi_userloggedin_rest.v0";
        let other = "com.vmware.event.router/horizon.admin_added.v0";
        assert_eq!(of(&event(horizon, Some("A"), "{}")), of(&event(other, Some("B"), "{}")));
        assert_eq!(of(&event(hook, Some("a"), "{}")), of(&event(hook, Some("a"), "[1]")));
    }
}
