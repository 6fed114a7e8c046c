//! A vSphere event read from SOAP, and its JSON form with govmomi's field names: the JSON VEBA's
//! router sends (govmomi v0.30.2's types through Go's encoding/json).
//!
//! Every field the type declares appears, in declaration order with inherited fields first.
//! An absent one is what govmomi v0.30.2 leaves it: `null` for a pointer, slice or interface,
//! the Go zero value for a plain value (`0`, `false`, `""`, the zero time, an empty reference, a
//! struct of zero fields), as the type table's `zero` flag says per field (extracted from
//! govmomi's `types.go`). Times are written as Go writes them (RFC 3339, fraction trimmed, `Z`),
//! floats without `.0`, base64 fields encoded once more (govmomi keeps their text as bytes) and
//! `ArrayOfX` values as govmomi's `{"X": [...]}`. Fields the type table does not know (a newer
//! vCenter) are kept, where VEBA drops them, so nothing the server sent is lost.

use super::decode;
use super::types::TypeTable;
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
    /// The event as JSON text with govmomi's PascalCase names (exactly what serialising it as
    /// a `serde_json::Value` would give).
    pub data: Vec<u8>,
}

/// Why an element could not be read as an event.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EventError {
    #[error("event element has no key")]
    MissingKey,
    #[error("event key {0:?} is not an integer")]
    BadKey(String),
    #[error("event is not readable XML: {0}")]
    Xml(String),
}

/// The event's key alone, without decoding the rest (to skip events already delivered).
pub fn event_key(el: &Element) -> Result<i64, EventError> {
    let text = el.child_text("key").ok_or(EventError::MissingKey)?.trim();
    text.parse::<i64>().map_err(|_| EventError::BadKey(text.to_string()))
}

/// A data object (an `xsi:type`d element, e.g. a property's `val`) as JSON text, by the same
/// rules as an event's data.
pub fn decode_object(el: &Element, table: &TypeTable) -> Result<Vec<u8>, EventError> {
    let doc = el.xml().map_err(|e| EventError::Xml(e.to_string()))?;
    decode::decode(&doc, table)
        .map(|d| d.json)
        .map_err(|e| EventError::Xml(e.to_string()))
}

impl VsphereEvent {
    /// Decodes one `<returnval>`/`<Event>` element (a lazily read one from its own text). An
    /// unknown type is decoded with the base `Event` fields plus whatever else it carries.
    pub fn decode(el: &Element, table: &TypeTable) -> Result<VsphereEvent, EventError> {
        let doc = el.xml().map_err(|e| EventError::Xml(e.to_string()))?;
        VsphereEvent::from_wrapped_xml(&doc, table)
    }

    /// Decodes an event from its XML text, which declares the namespaces it uses.
    pub fn from_xml(xml: &str, table: &TypeTable) -> Result<VsphereEvent, EventError> {
        VsphereEvent::from_wrapped_xml(&format!("<_w>{xml}</_w>"), table)
    }

    fn from_wrapped_xml(doc: &str, table: &TypeTable) -> Result<VsphereEvent, EventError> {
        let d = decode::decode(doc, table).map_err(|e| EventError::Xml(e.to_string()))?;
        let key_text = d.key.ok_or(EventError::MissingKey)?;
        let key = key_text
            .trim()
            .parse::<i64>()
            .map_err(|_| EventError::BadKey(key_text.trim().to_string()))?;
        let type_name = d.type_name.unwrap_or_else(|| "Event".to_string());
        let class = if table.is_a(&type_name, "EventEx") {
            EventClass::EventEx
        } else if table.is_a(&type_name, "ExtendedEvent") {
            EventClass::ExtendedEvent
        } else {
            EventClass::Event
        };
        let name = match class {
            EventClass::Event => type_name.clone(),
            _ => d
                .event_type_id
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .unwrap_or(&type_name)
                .to_string(),
        };
        Ok(VsphereEvent {
            key,
            created_time: d.created_time.unwrap_or_default().trim().to_string(),
            type_name,
            class,
            name,
            data: d.json,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::xml::parse;
    use serde_json::Value;

    /// A decoded event with its JSON text parsed back, for the assertions.
    struct Json {
        key: i64,
        type_name: String,
        name: String,
        class: EventClass,
        text: String,
        data: Value,
    }

    fn decode(xml: &str) -> Json {
        let ev = VsphereEvent::from_xml(xml, TypeTable::builtin()).unwrap();
        let text = String::from_utf8(ev.data).unwrap();
        Json {
            key: ev.key,
            type_name: ev.type_name,
            name: ev.name,
            class: ev.class,
            data: serde_json::from_str(&text).unwrap(),
            text,
        }
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
        assert_eq!(ev.text, serde_json::to_string(&expected).unwrap());
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
    fn unset_fields_are_what_govmomi_v0_30_2_leaves_them() {
        // A reconfiguration adding a disk without a unit number: govmomi v0.30.2 declares
        // ConfigSpec.NumCoresPerSocket and VirtualDevice.ControllerKey as plain int32 (Go's zero
        // value, 0, in VEBA's JSON) but UnitNumber and SevEnabled as pointers (null).
        let xml = r#"<returnval xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="VmReconfiguredEvent"><key>9</key><chainId>9</chainId><createdTime>2026-01-01T00:00:00Z</createdTime><userName>u</userName><configSpec><numCPUs>4</numCPUs><deviceChange><operation>add</operation><device xsi:type="VirtualDisk"><key>-100</key><controllerKey>1000</controllerKey><capacityInKB>1024</capacityInKB></device></deviceChange></configSpec></returnval>"#;
        let ev = decode(xml);
        let spec = &ev.data["ConfigSpec"];
        assert_eq!(spec["NumCPUs"], 4);
        assert_eq!(spec["NumCoresPerSocket"], 0, "a plain int32 in govmomi");
        assert_eq!(spec["MemoryMB"], 0, "a plain int64 in govmomi");
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
    fn wide_events_decode_in_linear_time_and_too_wide_ones_are_refused() {
        // With a quadratic lookup these two would take minutes: 150,000 distinct unknown
        // fields, and 150,000 children of one unknown field, all with the same name.
        let distinct: String = (0..150_000).map(|i| format!("<x{i}>{i}</x{i}>")).collect();
        let ev = decode(&format!("<returnval><key>1</key>{distinct}</returnval>"));
        assert_eq!(ev.data["X0"], "0");
        assert_eq!(ev.data["X149999"], "149999");
        let same = "<a>1</a>".repeat(150_000);
        let ev = decode(&format!("<returnval><key>1</key><wide>{same}</wide></returnval>"));
        assert_eq!(ev.data["Wide"]["A"].as_array().map(Vec::len), Some(150_000));
        // As many elements as one document may build as a tree, and no more.
        let too_many = "<a/>".repeat(crate::vsphere::xml::MAX_ELEMENTS);
        let err = VsphereEvent::from_xml(
            &format!("<returnval><key>1</key>{too_many}</returnval>"),
            TypeTable::builtin(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
    }

    #[test]
    fn missing_or_bad_key_is_an_error_not_a_panic() {
        let t = TypeTable::builtin();
        assert_eq!(VsphereEvent::from_xml("<e/>", t), Err(EventError::MissingKey));
        assert_eq!(
            VsphereEvent::decode(&parse("<e/>").unwrap(), t),
            Err(EventError::MissingKey)
        );
        assert_eq!(
            VsphereEvent::from_xml("<e><key>x</key></e>", t),
            Err(EventError::BadKey("x".into()))
        );
        assert!(matches!(
            VsphereEvent::from_xml("<e><key>1</key><vm></e>", t),
            Err(EventError::Xml(_))
        ));
        let cut = VsphereEvent::from_wrapped_xml("<_w><e><key>1</key><vm>", t).unwrap_err();
        assert!(cut.to_string().contains("ends inside an element"), "{cut}");
    }
}
