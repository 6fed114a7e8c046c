//! Reading the OVF environment (`guestinfo.ovfEnv`): the `<Property oe:key oe:value>` elements
//! of its PropertySection, resolved by namespace, with the schema's defaults filled in, and the
//! deployment it describes (the Environment's `oe:id` and vSphere's `ve:vCenterId`).

use std::collections::BTreeMap;

use ovf::keys::Key;

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

/// The OVF environment namespace of `oe:key` and `oe:value`.
pub const OE_NS: &[u8] = b"http://schemas.dmtf.org/ovf/environment/1";

/// Why the environment could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EnvError {
    #[error("the OVF environment is not well-formed XML: {0}; redeploy the appliance or check guestinfo.ovfEnv")]
    Malformed(String),
    #[error("the OVF environment has no PropertySection: was the appliance deployed from its OVA with vApp options enabled?")]
    NoProperties,
    /// The key, as `shown::key` writes it (it cannot end a line).
    #[error("the OVF environment sets {0} twice")]
    Duplicate(String),
}

/// The properties as given (keys with the `guestinfo.` prefix removed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OvfEnv {
    pub values: BTreeMap<String, String>,
    /// Keys the schema does not know (kept, reported as warnings).
    pub unknown: Vec<String>,
    /// The deployment: `ve:vCenterId` and `oe:id` of the Environment element (`vm-42/`), empty
    /// when it has neither (an environment written by hand).
    pub identity: String,
}

impl OvfEnv {
    /// Parses the environment document.
    pub fn parse(xml: &str) -> Result<OvfEnv, EnvError> {
        let mut reader = NsReader::from_str(xml);
        let mut env = OvfEnv::default();
        let mut saw_section = false;
        let mut depth = 0usize;
        loop {
            let ev = reader.read_event().map_err(|e| EnvError::Malformed(e.to_string()))?;
            let start = match &ev {
                Event::Start(s) => {
                    depth += 1;
                    s
                }
                Event::Empty(s) => s,
                Event::End(_) => {
                    depth = depth.saturating_sub(1);
                    continue;
                }
                Event::Eof if depth > 0 => {
                    return Err(EnvError::Malformed("the document ends inside an element".into()))
                }
                Event::Eof => break,
                _ => continue,
            };
            match start.local_name().as_ref() {
                b"Environment" => {
                    let (mut id, mut vcenter_id) = (String::new(), String::new());
                    for attr in start.attributes().flatten() {
                        let (ns, local) = reader.resolve_attribute(attr.key);
                        let value = attr.unescape_value().map(|v| v.into_owned()).unwrap_or_default();
                        match local.as_ref() {
                            b"id" if matches!(ns, ResolveResult::Bound(n) if n.as_ref() == OE_NS) => id = value,
                            b"vCenterId" => vcenter_id = value,
                            _ => {}
                        }
                    }
                    if !id.is_empty() || !vcenter_id.is_empty() {
                        env.identity = format!("{vcenter_id}/{id}");
                    }
                }
                b"PropertySection" => saw_section = true,
                b"Property" => {
                    let (mut key, mut value) = (None, None);
                    for attr in start.attributes() {
                        let attr = attr.map_err(|e| EnvError::Malformed(e.to_string()))?;
                        let (ns, local) = reader.resolve_attribute(attr.key);
                        if !matches!(ns, ResolveResult::Bound(n) if n.as_ref() == OE_NS) {
                            continue;
                        }
                        let v = attr
                            .unescape_value()
                            .map_err(|e| EnvError::Malformed(e.to_string()))?
                            .into_owned();
                        match local.as_ref() {
                            b"key" => key = Some(v),
                            b"value" => value = Some(v),
                            _ => {}
                        }
                    }
                    if let Some(k) = key {
                        let k = k.strip_prefix("guestinfo.").unwrap_or(&k).to_string();
                        if ovf::property(&k).is_none() {
                            env.unknown.push(k.clone());
                        }
                        if env.values.insert(k.clone(), value.unwrap_or_default()).is_some() {
                            return Err(EnvError::Duplicate(format!("guestinfo.{}", crate::shown::key(&k))));
                        }
                    }
                }
                _ => {}
            }
        }
        if !saw_section {
            return Err(EnvError::NoProperties);
        }
        Ok(env)
    }

    /// The value of `key`, or the schema's default when absent; surrounding whitespace is
    /// trimmed except for passwords. Where `key` is left at its default and VEBA v0.7's key for
    /// the same setting is set (see `veba_keys`), that one's value.
    pub fn get(&self, key: Key) -> String {
        let own = self.raw(key);
        if let Some(alias) = crate::veba_keys::for_ours(key) {
            let default = key.property().default;
            let veba = self.raw(alias.veba);
            if (own.is_empty() || own == default) && !veba.is_empty() {
                if let Some(v) = (alias.map)(&veba) {
                    return v;
                }
            }
        }
        own
    }

    /// The value of `key` as given (or its default), without VEBA's keys.
    pub fn raw(&self, key: Key) -> String {
        let prop = key.property();
        let raw = (self.values.get(key.as_str()).cloned()).unwrap_or_else(|| prop.default.to_string());
        if prop.password() {
            raw
        } else {
            raw.trim().to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ovf::keys;

    const ENV: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:oe="http://schemas.dmtf.org/ovf/environment/1" xmlns:ve="http://www.vmware.com/schema/ovfenv" oe:id="" ve:vCenterId="vm-42">
   <PlatformSection><Kind>VMware ESXi</Kind><Version>8.0.2</Version><Vendor>VMware, Inc.</Vendor><Locale>en</Locale></PlatformSection>
   <PropertySection>
         <Property oe:key="guestinfo.hostname" oe:value=" veba.corp.local "/>
         <Property oe:key="guestinfo.root_password" oe:value=" s3cret &amp; more "/>
         <Property oe:key="guestinfo.future_thing" oe:value="x"/>
   </PropertySection>
   <ve:EthernetAdapterSection><ve:Adapter ve:mac="00:50:56:a1:b2:c3" ve:network="VM Network" ve:unitNumber="7"/></ve:EthernetAdapterSection>
</Environment>"#;

    #[test]
    fn reads_properties_by_namespace_with_defaults() {
        let env = OvfEnv::parse(ENV).unwrap();
        assert_eq!(env.get(keys::HOSTNAME), "veba.corp.local");
        assert_eq!(
            env.get(keys::ROOT_PASSWORD),
            " s3cret & more ",
            "passwords are not trimmed"
        );
        assert_eq!(env.get(keys::PROCESSOR), "knative", "schema default");
        assert_eq!(env.unknown, ["future_thing"]);
        assert_eq!(env.identity, "vm-42/");
        let by_hand = ENV.replace(r#" oe:id="" ve:vCenterId="vm-42""#, "");
        assert_eq!(OvfEnv::parse(&by_hand).unwrap().identity, "");
    }

    #[test]
    fn malformed_missing_section_and_duplicates_are_errors() {
        assert!(matches!(
            OvfEnv::parse("<Environment><PropertySection>"),
            Err(EnvError::Malformed(_))
        ));
        assert_eq!(OvfEnv::parse("<Environment/>"), Err(EnvError::NoProperties));
        let dup = ENV.replace("guestinfo.future_thing", "guestinfo.hostname");
        assert_eq!(
            OvfEnv::parse(&dup),
            Err(EnvError::Duplicate("guestinfo.hostname".into()))
        );
        // A duplicated key with a line break in it cannot forge a log line.
        let forged = ENV.replace(
            "guestinfo.future_thing",
            "guestinfo.x&#10;[2026-01-01T00:00:00Z] firstboot: run ok",
        );
        let forged = forged.replace(
            r#"<Property oe:key="guestinfo.hostname""#,
            r#"<Property oe:key="guestinfo.x&#10;[2026-01-01T00:00:00Z] firstboot: run ok""#,
        );
        let err = OvfEnv::parse(&forged).unwrap_err().to_string();
        assert!(
            !err.contains('\n') && err.contains("guestinfo.x\\u{a}\\u{5b}2026"),
            "{err}"
        );
    }
}
