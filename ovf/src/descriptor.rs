//! The OVF descriptor (`.ovf`) generated from the property schema: a ProductSection with the
//! categories, labels, descriptions, password flags and value maps the vSphere Client shows,
//! delivered through `com.vmware.guestInfo`; the virtual hardware (CPUs, memory, a paravirtual
//! SCSI controller with the disks, one vmxnet3 NIC); an annotation with version and commit;
//! the EULA.

use crate::{Kind, PROPERTIES};

/// One disk of the appliance, as the OVA carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// File name inside the OVA (a streamOptimized VMDK).
    pub file: String,
    /// The file's size in bytes.
    pub size: u64,
    /// The disk's capacity in bytes.
    pub capacity: u64,
}

/// What the descriptor describes besides the properties.
#[derive(Debug, Clone)]
pub struct Appliance {
    pub name: String,
    pub version: String,
    pub commit: String,
    pub cpus: u32,
    pub memory_mb: u32,
    pub disks: Vec<Disk>,
}

impl Default for Appliance {
    fn default() -> Self {
        Appliance {
            name: "event-broker-appliance".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            commit: "unknown".into(),
            cpus: 2,
            memory_mb: 8192,
            disks: Vec::new(),
        }
    }
}

/// XML-escapes text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

const EULA: &str = "Event Broker Appliance. Licensed under the Apache License, Version 2.0 \
(https://www.apache.org/licenses/LICENSE-2.0). Distributed on an \"AS IS\" BASIS, WITHOUT WARRANTIES \
OR CONDITIONS OF ANY KIND, either express or implied. Photon OS, k3s, Contour and Knative are \
distributed under their own licenses.";

fn item(lines: &[(&str, String)]) -> String {
    let mut s = String::from("      <Item>\n");
    for (tag, value) in lines {
        s.push_str(&format!("        <rasd:{tag}>{}</rasd:{tag}>\n", esc(value)));
    }
    s.push_str("      </Item>\n");
    s
}

fn hardware(a: &Appliance) -> String {
    let mut s = format!(
        "    <VirtualHardwareSection ovf:transport=\"com.vmware.guestInfo\">
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-15</vssd:VirtualSystemType>
      </System>
",
        esc(&a.name)
    );
    s.push_str(&item(&[
        ("AllocationUnits", "hertz * 10^6".into()),
        ("Description", "Number of Virtual CPUs".into()),
        ("ElementName", format!("{} virtual CPU(s)", a.cpus)),
        ("InstanceID", "1".into()),
        ("ResourceType", "3".into()),
        ("VirtualQuantity", a.cpus.to_string()),
    ]));
    s.push_str(&item(&[
        ("AllocationUnits", "byte * 2^20".into()),
        ("Description", "Memory Size".into()),
        ("ElementName", format!("{}MB of memory", a.memory_mb)),
        ("InstanceID", "2".into()),
        ("ResourceType", "4".into()),
        ("VirtualQuantity", a.memory_mb.to_string()),
    ]));
    s.push_str(&item(&[
        ("Address", "0".into()),
        ("Description", "SCSI Controller".into()),
        ("ElementName", "SCSI Controller 0".into()),
        ("InstanceID", "3".into()),
        ("ResourceSubType", "VirtualSCSI".into()),
        ("ResourceType", "6".into()),
    ]));
    let mut id = 4;
    for (i, _) in a.disks.iter().enumerate() {
        s.push_str(&item(&[
            ("AddressOnParent", i.to_string()),
            ("ElementName", format!("Hard Disk {}", i + 1)),
            ("HostResource", format!("ovf:/disk/disk{}", i + 1)),
            ("InstanceID", id.to_string()),
            ("Parent", "3".into()),
            ("ResourceType", "17".into()),
        ]));
        id += 1;
    }
    s.push_str(&item(&[
        ("AddressOnParent", "7".into()),
        ("AutomaticAllocation", "true".into()),
        ("Connection", "VM Network".into()),
        ("Description", "VmxNet3 ethernet adapter on \"VM Network\"".into()),
        ("ElementName", "Network adapter 1".into()),
        ("InstanceID", id.to_string()),
        ("ResourceSubType", "VmxNet3".into()),
        ("ResourceType", "10".into()),
    ]));
    s.push_str("    </VirtualHardwareSection>\n");
    s
}

fn product(a: &Appliance) -> String {
    let mut s = format!(
        "    <ProductSection ovf:required=\"false\">
      <Info>Information about the installed software</Info>
      <Product>Event Broker Appliance</Product>
      <Vendor>Event Broker Appliance project</Vendor>
      <Version>{v}</Version>
      <FullVersion>{v} ({c})</FullVersion>
",
        v = esc(&a.version),
        c = esc(&a.commit)
    );
    let mut category = "";
    for p in PROPERTIES {
        if p.category != category {
            category = p.category;
            s.push_str(&format!("      <Category>{}</Category>\n", esc(category)));
        }
        let mut attrs = format!(
            "ovf:key=\"{}\" ovf:type=\"{}\" ovf:userConfigurable=\"true\" ovf:value=\"{}\"",
            esc(&p.ovf_key()),
            p.ovf_type(),
            esc(p.default)
        );
        if p.password() {
            attrs.push_str(" ovf:password=\"true\"");
        }
        if p.kind == Kind::Choice {
            let values: Vec<String> = p.values.iter().map(|v| format!("&quot;{}&quot;", esc(v))).collect();
            attrs.push_str(&format!(" ovf:qualifiers=\"ValueMap{{{}}}\"", values.join(",")));
        } else if p.required && p.kind != Kind::Bool {
            attrs.push_str(" ovf:qualifiers=\"MinLen(1)\"");
        }
        s.push_str(&format!(
            "      <Property {attrs}>\n        <Label>{}</Label>\n        <Description>{}</Description>\n      </Property>\n",
            esc(p.label),
            esc(p.description)
        ));
    }
    s.push_str("    </ProductSection>\n");
    s
}

/// The whole descriptor.
pub fn descriptor(a: &Appliance) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" xmlns:cim=\"http://schemas.dmtf.org/wbem/wscim/1/common\" xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\" xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData\" xmlns:vmw=\"http://www.vmware.com/schema/ovf\" xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">
  <References>
",
    );
    for (i, d) in a.disks.iter().enumerate() {
        s.push_str(&format!(
            "    <File ovf:href=\"{}\" ovf:id=\"file{}\" ovf:size=\"{}\"/>\n",
            esc(&d.file),
            i + 1,
            d.size
        ));
    }
    s.push_str("  </References>\n");
    if !a.disks.is_empty() {
        s.push_str("  <DiskSection>\n    <Info>Virtual disk information</Info>\n");
        for (i, d) in a.disks.iter().enumerate() {
            s.push_str(&format!(
                "    <Disk ovf:capacity=\"{}\" ovf:capacityAllocationUnits=\"byte\" ovf:diskId=\"disk{n}\" ovf:fileRef=\"file{n}\" ovf:format=\"http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized\"/>\n",
                d.capacity,
                n = i + 1
            ));
        }
        s.push_str("  </DiskSection>\n");
    }
    s.push_str(&format!(
        "  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name=\"VM Network\">
      <Description>The network the appliance reaches vCenter and its event processor on</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id=\"{name}\">
    <Info>The Event Broker Appliance</Info>
    <Name>{name}</Name>
    <OperatingSystemSection ovf:id=\"36\" vmw:osType=\"vmwarePhoton64Guest\">
      <Info>The kind of installed guest operating system</Info>
    </OperatingSystemSection>
",
        name = esc(&a.name)
    ));
    s.push_str(&hardware(a));
    s.push_str(&format!(
        "    <AnnotationSection>
      <Info>A human-readable annotation</Info>
      <Annotation>Event Broker Appliance {} (commit {}): vCenter events as CloudEvents to Knative, AWS EventBridge or OpenFaaS.</Annotation>
    </AnnotationSection>
",
        esc(&a.version),
        esc(&a.commit)
    ));
    s.push_str(&product(a));
    s.push_str(&format!(
        "    <EulaSection>\n      <Info>An end-user license agreement</Info>\n      <License>{}</License>\n    </EulaSection>\n  </VirtualSystem>\n</Envelope>\n",
        esc(EULA)
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_carry_password_flags_value_maps_and_categories() {
        let d = descriptor(&Appliance::default());
        assert!(d.contains(
            "<Property ovf:key=\"guestinfo.vcenter_password\" ovf:type=\"string\" ovf:userConfigurable=\"true\" ovf:value=\"\" ovf:password=\"true\">"
        ));
        assert!(d.contains(
            "ovf:qualifiers=\"ValueMap{&quot;knative&quot;,&quot;aws_event_bridge&quot;,&quot;openfaas&quot;}\""
        ));
        assert!(d.contains("<Category>Networking</Category>"));
        assert!(d.contains("ovf:transport=\"com.vmware.guestInfo\""));
        assert_eq!(d.matches("<Property ").count(), PROPERTIES.len());
        assert!(!d.contains("<DiskSection>"), "no disks, no DiskSection");
        let with_disk = descriptor(&Appliance {
            disks: vec![Disk {
                file: "disk-1.vmdk".into(),
                size: 1000,
                capacity: 20 << 30,
            }],
            ..Appliance::default()
        });
        assert!(with_disk.contains("<File ovf:href=\"disk-1.vmdk\" ovf:id=\"file1\" ovf:size=\"1000\"/>"));
        assert!(with_disk.contains("ovf:capacity=\"21474836480\""));
        assert!(with_disk.contains("<rasd:HostResource>ovf:/disk/disk1</rasd:HostResource>"));
    }
}
