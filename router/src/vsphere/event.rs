//! A vSphere event read from SOAP, and its JSON form with govmomi's field names.
//!
//! Every field the type declares appears in the JSON (absent ones as govmomi's Go zero value:
//! an optional field is a pointer in govmomi (`*int32`, `*bool`, `*time.Time`, `*Type`), so it
//! is `null` whatever its kind, strings excepted (govmomi's optional strings are plain
//! `string`: `""`); a required one is `""`, `0`, `false`, the zero time or an empty reference;
//! arrays are `null`), in declaration order with inherited fields first. The `opt` flag of the
//! type table decides, so every optional field of every type follows the same rule. Fields the type
//! table does not know (a newer vCenter) are kept, so nothing the server sent is lost.

use serde_json::{Map, Number, Value};

use super::types::{json_name, FieldDef, Kind, TypeTable};
use super::xml::Element;

/// Which family an event belongs to; the router's CloudEvent `type` and `eventclass` use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventClass {
    Event,
    EventEx,
    ExtendedEvent,
}

impl EventClass {
    pub fn as_str(self) -> &'static str {
        match self {
            EventClass::Event => "event",
            EventClass::EventEx => "eventex",
            EventClass::ExtendedEvent => "extendedevent",
        }
    }
}

/// One vCenter event, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct VsphereEvent {
    pub key: i64,
    /// `createdTime` exactly as vCenter wrote it (RFC 3339).
    pub created_time: String,
    /// The SOAP type name, e.g. `VmPoweredOffEvent`.
    pub type_name: String,
    pub class: EventClass,
    /// The type name, or the `eventTypeId` for EventEx and ExtendedEvent.
    pub name: String,
    /// The event as JSON with govmomi's PascalCase names.
    pub data: Value,
}

/// Why an element could not be read as an event.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EventError {
    #[error("event element has no key")]
    MissingKey,
    #[error("event key {0:?} is not an integer")]
    BadKey(String),
}

/// The event's key alone, without decoding the rest (to skip events already delivered).
pub fn event_key(el: &Element) -> Result<i64, EventError> {
    let text = el.child_text("key").ok_or(EventError::MissingKey)?.trim();
    text.parse::<i64>().map_err(|_| EventError::BadKey(text.to_string()))
}

impl VsphereEvent {
    /// Decodes one `<returnval>`/`<Event>` element. An unknown type is decoded with the base
    /// `Event` fields plus whatever else it carries.
    pub fn from_element(el: &Element, table: &TypeTable) -> Result<VsphereEvent, EventError> {
        VsphereEvent::decode(el.clone(), table)
    }

    /// [`VsphereEvent::from_element`] taking the element, whose texts move into the JSON.
    pub fn decode(mut el: Element, table: &TypeTable) -> Result<VsphereEvent, EventError> {
        let type_name = el.xsi_type.clone().unwrap_or_else(|| "Event".to_string());
        let key = event_key(&el)?;
        let created_time = el.child_text("createdTime").unwrap_or_default().trim().to_string();
        let class = if table.is_a(&type_name, "EventEx") {
            EventClass::EventEx
        } else if table.is_a(&type_name, "ExtendedEvent") {
            EventClass::ExtendedEvent
        } else {
            EventClass::Event
        };
        let name = match class {
            EventClass::Event => type_name.clone(),
            _ => el
                .child_text("eventTypeId")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .unwrap_or(&type_name)
                .to_string(),
        };
        let known = if table.get(&type_name).is_some() {
            type_name.as_str()
        } else {
            "Event"
        };
        let data = object_to_json(&mut el, known, table, 0);
        Ok(VsphereEvent {
            key,
            created_time,
            type_name,
            class,
            name,
            data,
        })
    }
}

const MAX_DEPTH: usize = 64;

fn object_to_json(el: &mut Element, declared: &str, table: &TypeTable, depth: usize) -> Value {
    let def = match el.xsi_type.as_deref().and_then(|t| table.get(t)) {
        Some(def) => def,
        None => match table.get(declared) {
            Some(def) => def,
            None => return generic_to_json(el, depth),
        },
    };
    // Sized up front: the maps are kept while events wait in the queues.
    let mut out = Map::with_capacity(def.fields.len());
    for field in &def.fields {
        out.insert(field.json_name.clone(), field_value(el, field, table, depth));
    }
    // Anything the table does not declare (a newer API) is kept as generic JSON.
    for child in &mut el.children {
        if !def.fields.iter().any(|f| f.name == child.name) {
            let key = json_name(&child.name);
            if !out.contains_key(&key) {
                out.insert(key, generic_to_json(child, depth + 1));
            }
        }
    }
    Value::Object(out)
}

fn field_value(el: &mut Element, field: &FieldDef, table: &TypeTable, depth: usize) -> Value {
    if field.array {
        let items: Vec<Value> = el
            .children
            .iter_mut()
            .filter(|c| c.name == field.name)
            .map(|c| scalar_or_object(c, &field.kind, table, depth))
            .collect();
        return if items.is_empty() {
            Value::Null
        } else {
            Value::Array(items)
        };
    }
    match el.children.iter_mut().find(|c| c.name == field.name) {
        Some(child) => scalar_or_object(child, &field.kind, table, depth),
        None => zero_value(field),
    }
}

fn zero_value(field: &FieldDef) -> Value {
    match (&field.kind, field.optional) {
        (Kind::String | Kind::Enum | Kind::Binary, _) => Value::String(String::new()),
        (Kind::Int, false) => Value::from(0),
        (Kind::Float, false) => Value::from(0.0),
        (Kind::Bool, false) => Value::Bool(false),
        (Kind::DateTime, false) => Value::String("0001-01-01T00:00:00Z".into()),
        (Kind::MoRef, false) => moref("", ""),
        _ => Value::Null,
    }
}

fn moref(ty: &str, value: &str) -> Value {
    let mut m = Map::with_capacity(2);
    m.insert("Type".into(), Value::String(ty.into()));
    m.insert("Value".into(), Value::String(value.into()));
    Value::Object(m)
}

fn scalar_or_object(el: &mut Element, kind: &Kind, table: &TypeTable, depth: usize) -> Value {
    if depth >= MAX_DEPTH {
        return Value::Null;
    }
    match kind {
        Kind::String | Kind::Enum | Kind::DateTime | Kind::Binary => Value::String(std::mem::take(&mut el.text)),
        Kind::Bool => Value::Bool(matches!(el.text.trim(), "true" | "1")),
        Kind::Int => int_value(&el.text),
        Kind::Float => float_value(&el.text),
        Kind::MoRef => moref(el.type_attr.as_deref().unwrap_or(""), el.text.trim()),
        Kind::Obj(t) => object_to_json(el, t, table, depth + 1),
        Kind::Any => any_to_json(el, table, depth + 1),
    }
}

fn int_value(text: &str) -> Value {
    text.trim()
        .parse::<i64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::String(text.to_string()))
}

fn float_value(text: &str) -> Value {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
        .unwrap_or_else(|| Value::String(text.to_string()))
}

/// An `xsd:anyType` value: its `xsi:type` says what it is.
fn any_to_json(el: &mut Element, table: &TypeTable, depth: usize) -> Value {
    let xsi_type = el.xsi_type.take().unwrap_or_default();
    let ty = xsi_type.rsplit(':').next().unwrap_or(&xsi_type);
    match ty {
        "string" | "dateTime" | "base64Binary" | "anyURI" => Value::String(std::mem::take(&mut el.text)),
        "boolean" => Value::Bool(matches!(el.text.trim(), "true" | "1")),
        "int" | "long" | "short" | "byte" => int_value(&el.text),
        "float" | "double" => float_value(&el.text),
        "ManagedObjectReference" => moref(el.type_attr.as_deref().unwrap_or(""), el.text.trim()),
        t if t.starts_with("ArrayOf") => Value::Array(
            el.children
                .iter_mut()
                .map(|c| any_to_json(c, table, depth + 1))
                .collect(),
        ),
        t if table.get(t).is_some() => object_to_json(el, t, table, depth),
        _ => generic_to_json(el, depth),
    }
}

/// A value whose type is unknown: text for leaves, objects for elements with children
/// (repeated names become arrays), `{Type, Value}` for references.
fn generic_to_json(el: &mut Element, depth: usize) -> Value {
    if depth >= MAX_DEPTH {
        return Value::Null;
    }
    if el.children.is_empty() {
        return match &el.type_attr {
            Some(t) => moref(t, el.text.trim()),
            None => Value::String(std::mem::take(&mut el.text)),
        };
    }
    let mut out = Map::new();
    for child in &mut el.children {
        let key = json_name(&child.name);
        let value = generic_to_json(child, depth + 1);
        match out.get_mut(&key) {
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                out.insert(key, value);
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::xml::parse;

    fn decode(xml: &str) -> VsphereEvent {
        VsphereEvent::from_element(&parse(xml).unwrap(), TypeTable::builtin()).unwrap()
    }

    /// A VmPoweredOffEvent exactly as vcsim 0.24.2 sends it (offline-tools.md §2.3).
    const VCSIM_POWERED_OFF: &str = r#"<returnval xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="VmPoweredOffEvent"><key>112</key><chainId>112</chainId><createdTime>2026-11-22T02:43:52.60621534Z</createdTime><userName>user</userName><datacenter><name>DC0</name><datacenter type="Datacenter">datacenter-2</datacenter></datacenter><computeResource><name>DC0_H0</name><computeResource type="ComputeResource">computeresource-23</computeResource></computeResource><host><name>DC0_H0</name><host type="HostSystem">host-21</host></host><vm><name>DC0_H0_VM1</name><vm type="VirtualMachine">vm-60</vm></vm><fullFormattedMessage>DC0_H0_VM1 on DC0_H0 in DC0 is powered off</fullFormattedMessage><template>false</template></returnval>"#;

    #[test]
    fn vcsim_powered_off_event_matches_govmomi_json() {
        let ev = decode(VCSIM_POWERED_OFF);
        assert_eq!(ev.key, 112);
        assert_eq!(ev.type_name, "VmPoweredOffEvent");
        assert_eq!(ev.name, "VmPoweredOffEvent");
        assert_eq!(ev.class, EventClass::Event);
        let expected = serde_json::json!({
            "Key": 112, "ChainId": 112, "CreatedTime": "2026-11-22T02:43:52.60621534Z", "UserName": "user",
            "Datacenter": {"Name": "DC0", "Datacenter": {"Type": "Datacenter", "Value": "datacenter-2"}},
            "ComputeResource": {"Name": "DC0_H0", "ComputeResource": {"Type": "ComputeResource", "Value": "computeresource-23"}},
            "Host": {"Name": "DC0_H0", "Host": {"Type": "HostSystem", "Value": "host-21"}},
            "Vm": {"Name": "DC0_H0_VM1", "Vm": {"Type": "VirtualMachine", "Value": "vm-60"}},
            "Ds": null, "Net": null, "Dvs": null,
            "FullFormattedMessage": "DC0_H0_VM1 on DC0_H0 in DC0 is powered off", "ChangeTag": "",
            "Template": false
        });
        assert_eq!(ev.data, expected);
        let keys: Vec<_> = ev.data.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys[..4], ["Key", "ChainId", "CreatedTime", "UserName"]);
    }

    /// The seed document's AlarmStatusChangedEvent (AWS EventBridge blog), as vCenter sends it.
    #[test]
    fn alarm_status_changed_event_matches_seed_example() {
        let xml = r#"<returnval xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="AlarmStatusChangedEvent"><key>23555</key><chainId>23555</chainId><createdTime>2020-05-14T15:35:03.288149Z</createdTime><userName></userName><datacenter><name>SDDC-Datacenter</name><datacenter type="Datacenter">datacenter-3</datacenter></datacenter><computeResource><name>Cluster-1</name><computeResource type="ClusterComputeResource">domain-c8</computeResource></computeResource><fullFormattedMessage>Alarm 'vSAN health alarm 'Cluster disk space utilization'' on Cluster-1 changed from Green to Yellow</fullFormattedMessage><alarm><name>vSAN health alarm 'Cluster disk space utilization'</name><alarm type="Alarm">alarm-183</alarm></alarm><source><name>Datacenters</name><entity type="Folder">group-d1</entity></source><entity><name>Cluster-1</name><entity type="ClusterComputeResource">domain-c8</entity></entity><from>green</from><to>yellow</to></returnval>"#;
        let ev = decode(xml);
        let d = &ev.data;
        assert_eq!(d["Key"], 23555);
        assert_eq!(d["UserName"], "");
        assert_eq!(d["Host"], Value::Null);
        assert_eq!(d["Vm"], Value::Null);
        assert_eq!(d["ChangeTag"], "");
        assert_eq!(
            d["Alarm"],
            serde_json::json!({"Name": "vSAN health alarm 'Cluster disk space utilization'", "Alarm": {"Type": "Alarm", "Value": "alarm-183"}})
        );
        assert_eq!(
            d["Source"],
            serde_json::json!({"Name": "Datacenters", "Entity": {"Type": "Folder", "Value": "group-d1"}})
        );
        assert_eq!(d["Entity"]["Entity"]["Value"], "domain-c8");
        assert_eq!(d["From"], "green");
        assert_eq!(d["To"], "yellow");
    }

    /// The seed documents' VmPoweredOffEvent (VEBA event router README), field for field.
    #[test]
    fn seed_vm_powered_off_event_is_reproduced_exactly() {
        let xml = r#"<returnval xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="VmPoweredOffEvent"><key>9902</key><chainId>9895</chainId><createdTime>2020-02-11T21:28:23.677595Z</createdTime><userName>VSPHERE.LOCAL\Administrator</userName><datacenter><name>testDC</name><datacenter type="Datacenter">datacenter-2</datacenter></datacenter><computeResource><name>cls</name><computeResource type="ClusterComputeResource">domain-c7</computeResource></computeResource><host><name>10.185.22.74</name><host type="HostSystem">host-21</host></host><vm><name>test-01</name><vm type="VirtualMachine">vm-56</vm></vm><fullFormattedMessage>test-01 on  10.0.0.1 in testDC is powered off</fullFormattedMessage><template>false</template></returnval>"#;
        let seed = r#"{
    "Key": 9902,
    "ChainId": 9895,
    "CreatedTime": "2020-02-11T21:28:23.677595Z",
    "UserName": "VSPHERE.LOCAL\\Administrator",
    "Datacenter": {"Name": "testDC", "Datacenter": {"Type": "Datacenter", "Value": "datacenter-2"}},
    "ComputeResource": {"Name": "cls", "ComputeResource": {"Type": "ClusterComputeResource", "Value": "domain-c7"}},
    "Host": {"Name": "10.185.22.74", "Host": {"Type": "HostSystem", "Value": "host-21"}},
    "Vm": {"Name": "test-01", "Vm": {"Type": "VirtualMachine", "Value": "vm-56"}},
    "Ds": null,
    "Net": null,
    "Dvs": null,
    "FullFormattedMessage": "test-01 on  10.0.0.1 in testDC is powered off",
    "ChangeTag": "",
    "Template": false
  }"#;
        let ev = decode(xml);
        let expected: Value = serde_json::from_str(seed).unwrap();
        assert_eq!(
            serde_json::to_string(&ev.data).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
    }

    /// The seed documents' EnteredMaintenanceModeEvent (a HostEvent: no fields of its own).
    #[test]
    fn seed_entered_maintenance_mode_event() {
        let xml = r#"<returnval xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="EnteredMaintenanceModeEvent"><key>8122856</key><chainId>8122827</chainId><createdTime>2021-05-06T16:20:05.137999Z</createdTime><userName>VSPHERE.LOCAL\Administrator</userName><datacenter><name>Datacenter</name><datacenter type="Datacenter">datacenter-3</datacenter></datacenter><computeResource><name>Virtual-SAN-Cluster</name><computeResource type="ClusterComputeResource">domain-c9</computeResource></computeResource><host><name>esx01.cork.local</name><host type="HostSystem">host-19</host></host><fullFormattedMessage>Host esx01.cork.local in Datacenter has entered maintenance mode</fullFormattedMessage></returnval>"#;
        let ev = decode(xml);
        let keys: Vec<&str> = ev.data.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, crate::vsphere::types::EVENT_FIELDS);
        assert_eq!(ev.data["ChainId"], 8122827);
        assert_eq!(
            ev.data["Host"]["Host"],
            serde_json::json!({"Type": "HostSystem", "Value": "host-19"})
        );
        assert_eq!(ev.data["Vm"], Value::Null);
        assert_eq!(ev.data["UserName"], "VSPHERE.LOCAL\\Administrator");
    }

    #[test]
    fn event_ex_uses_event_type_id_and_arrays() {
        let xml = r#"<returnval xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="EventEx"><key>7</key><chainId>7</chainId><createdTime>2026-01-01T00:00:00Z</createdTime><userName>u</userName><fullFormattedMessage>m</fullFormattedMessage><eventTypeId>com.vmware.applmgmt.backup.job.failed.event</eventTypeId><arguments><key>a</key><value xsi:type="xsd:string">x</value></arguments><arguments><key>n</key><value xsi:type="xsd:int">3</value></arguments></returnval>"#;
        let ev = decode(xml);
        assert_eq!(ev.class, EventClass::EventEx);
        assert_eq!(ev.name, "com.vmware.applmgmt.backup.job.failed.event");
        assert_eq!(ev.data["EventTypeId"], "com.vmware.applmgmt.backup.job.failed.event");
        assert_eq!(
            ev.data["Arguments"],
            serde_json::json!([{"Key": "a", "Value": "x"}, {"Key": "n", "Value": 3}])
        );
    }

    #[test]
    fn unset_optional_numbers_and_booleans_are_null_as_in_govmomi() {
        // A reconfiguration adding a disk without a unit number: govmomi's *int32 and *bool
        // are nil, which VEBA's encoding/json writes as null.
        let xml = r#"<returnval xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="VmReconfiguredEvent"><key>9</key><chainId>9</chainId><createdTime>2026-01-01T00:00:00Z</createdTime><userName>u</userName><configSpec><numCPUs>4</numCPUs><deviceChange><operation>add</operation><device xsi:type="VirtualDisk"><key>-100</key><controllerKey>1000</controllerKey><capacityInKB>1024</capacityInKB></device></deviceChange></configSpec></returnval>"#;
        let ev = decode(xml);
        let spec = &ev.data["ConfigSpec"];
        assert_eq!(spec["NumCPUs"], 4);
        assert_eq!(spec["NumCoresPerSocket"], Value::Null, "optional int");
        assert_eq!(
            spec["SevEnabled"],
            Value::Null,
            "in govmomi v0.30.2's ConfigSpec (vSphere 7.0.1)"
        );
        let device = &spec["DeviceChange"][0]["Device"];
        assert_eq!(device["ControllerKey"], 1000);
        assert_eq!(device["UnitNumber"], Value::Null, "optional int");
        assert_eq!(device["Key"], -100, "a required int keeps its value");
    }

    #[test]
    fn single_array_element_is_still_an_array_and_absent_array_is_null() {
        let xml = r#"<returnval xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="EventEx"><key>8</key><chainId>8</chainId><createdTime>2026-01-01T00:00:00Z</createdTime><eventTypeId>x.y</eventTypeId><arguments><key>a</key><value xsi:type="xsd:string">x</value></arguments></returnval>"#;
        let ev = decode(xml);
        assert!(ev.data["Arguments"].is_array());
        let xml = xml.replace(
            r#"<arguments><key>a</key><value xsi:type="xsd:string">x</value></arguments>"#,
            "",
        );
        assert_eq!(decode(&xml).data["Arguments"], Value::Null);
    }

    #[test]
    fn unknown_event_type_is_kept_with_base_fields_and_extra_fields() {
        let xml = r#"<returnval xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="FutureShinyEvent"><key>9</key><chainId>9</chainId><createdTime>2026-01-01T00:00:00Z</createdTime><vm><name>v</name><vm type="VirtualMachine">vm-1</vm></vm><shiny>yes</shiny><nested><a>1</a><a>2</a></nested></returnval>"#;
        let ev = decode(xml);
        assert_eq!(ev.type_name, "FutureShinyEvent");
        assert_eq!(ev.name, "FutureShinyEvent");
        assert_eq!(ev.data["Key"], 9);
        assert_eq!(ev.data["Host"], Value::Null);
        assert_eq!(ev.data["Vm"]["Vm"]["Value"], "vm-1");
        assert_eq!(ev.data["Shiny"], "yes");
        assert_eq!(ev.data["Nested"], serde_json::json!({"A": ["1", "2"]}));
    }

    #[test]
    fn missing_or_bad_key_is_an_error_not_a_panic() {
        let t = TypeTable::builtin();
        assert_eq!(
            VsphereEvent::from_element(&parse("<e/>").unwrap(), t),
            Err(EventError::MissingKey)
        );
        assert_eq!(
            VsphereEvent::from_element(&parse("<e><key>x</key></e>").unwrap(), t),
            Err(EventError::BadKey("x".into()))
        );
    }
}
