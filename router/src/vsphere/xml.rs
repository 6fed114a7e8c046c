//! A small namespace-aware XML tree for SOAP responses.
//!
//! vCenter writes the polymorphic type attribute as `xsi:type`, vcsim 0.24.2 as
//! `XMLSchema-instance:type` (and newer Go as `_XMLSchema-instance:type`): the attribute is
//! therefore resolved by namespace URI, never by prefix.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

/// The XML Schema instance namespace that carries `type` on polymorphic values.
pub const XSI_NS: &[u8] = b"http://www.w3.org/2001/XMLSchema-instance";

/// Deepest nesting accepted; deeper documents are rejected instead of exhausting the stack.
const MAX_DEPTH: usize = 256;

/// One element: local name, its `xsi:type` (by namespace), its plain `type` attribute
/// (ManagedObjectReference), text content and children in document order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub xsi_type: Option<String>,
    pub type_attr: Option<String>,
    pub text: String,
    pub children: Vec<Element>,
}

/// Why a document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    #[error("malformed XML: {0}")]
    Malformed(String),
    #[error("XML document has no root element")]
    Empty,
    #[error("XML nesting deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

impl Element {
    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Text of the first child with this local name.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// Follows a path of local names from this element.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |el, n| el.child(n))
    }
}

fn malformed(e: impl std::fmt::Display) -> XmlError {
    XmlError::Malformed(e.to_string())
}

fn start_element(reader: &NsReader<&[u8]>, start: &BytesStart<'_>) -> Result<Element, XmlError> {
    let mut el = Element {
        name: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
        ..Element::default()
    };
    for attr in start.attributes() {
        let attr = attr.map_err(malformed)?;
        let (ns, local) = reader.resolve_attribute(attr.key);
        if local.as_ref() != b"type" {
            continue;
        }
        let value = attr.unescape_value().map_err(malformed)?.into_owned();
        match ns {
            ResolveResult::Bound(ns) if ns.as_ref() == XSI_NS => el.xsi_type = Some(value),
            ResolveResult::Unbound => el.type_attr = Some(value),
            _ => {}
        }
    }
    Ok(el)
}

/// Parses a whole document into its root element.
pub fn parse(doc: &str) -> Result<Element, XmlError> {
    let mut reader = NsReader::from_str(doc);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    loop {
        let event = reader.read_event().map_err(malformed)?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                let el = start_element(&reader, &start)?;
                stack.push(el);
            }
            Event::Empty(start) => {
                let el = start_element(&reader, &start)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Ok(el),
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| malformed("unexpected end tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Ok(el),
                }
            }
            Event::Text(text) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text.decode().map_err(malformed)?);
                }
            }
            Event::CData(data) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&data.decode().map_err(malformed)?);
                }
            }
            Event::GeneralRef(r) => {
                if let Some(top) = stack.last_mut() {
                    if let Some(ch) = r.resolve_char_ref().map_err(malformed)? {
                        top.text.push(ch);
                    } else {
                        let name = r.decode().map_err(malformed)?;
                        let resolved = quick_xml::escape::unescape(&format!("&{name};"))
                            .map_err(malformed)?
                            .into_owned();
                        top.text.push_str(&resolved);
                    }
                }
            }
            Event::Eof => {
                return Err(if stack.is_empty() {
                    XmlError::Empty
                } else {
                    malformed("document ends inside an element")
                })
            }
            _ => {}
        }
    }
}

/// Escapes text for an XML element body.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_type_attribute_by_namespace_not_prefix() {
        let doc = r#"<r xmlns="urn:vim25"><returnval xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="VmPoweredOffEvent"><key>1</key><vm><vm type="VirtualMachine">vm-1</vm></vm></returnval><returnval xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="VmPoweredOnEvent"/><returnval xmlns:x="urn:other" x:type="Nope"/></r>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.children[0].xsi_type.as_deref(), Some("VmPoweredOffEvent"));
        assert_eq!(root.children[1].xsi_type.as_deref(), Some("VmPoweredOnEvent"));
        assert_eq!(root.children[2].xsi_type, None);
        let moref = root.children[0].path(&["vm", "vm"]).unwrap();
        assert_eq!(moref.type_attr.as_deref(), Some("VirtualMachine"));
        assert_eq!(moref.text, "vm-1");
    }

    #[test]
    fn decodes_entities_and_char_refs() {
        let root = parse("<a>x &amp; y &lt;z&gt; &#x41;&#66; &quot;q&apos;</a>").unwrap();
        assert_eq!(root.text, "x & y <z> AB \"q'");
    }

    #[test]
    fn rejects_malformed_and_deep_documents() {
        assert!(matches!(parse("<a><b></a>"), Err(XmlError::Malformed(_))));
        assert!(matches!(parse(""), Err(XmlError::Empty)));
        assert!(matches!(parse("<a>"), Err(XmlError::Malformed(_))));
        let deep = "<a>".repeat(1000) + &"</a>".repeat(1000);
        assert!(matches!(parse(&deep), Err(XmlError::TooDeep)));
    }
}
