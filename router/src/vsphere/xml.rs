//! A small namespace-aware XML tree for SOAP responses.
//!
//! vCenter writes the polymorphic type attribute as `xsi:type`, vcsim 0.24.2 as
//! `XMLSchema-instance:type` (and newer Go as `_XMLSchema-instance:type`): the attribute is
//! therefore resolved by namespace URI, never by prefix.
//!
//! Event pages are read lazily ([`parse_lazy`]): each event stays the server's text, with only
//! its type and key read, until its turn to be delivered, when the streaming decoder
//! (`super::decode`) reads that text ([`Element::xml`]) straight to JSON. A 1000-event page as a
//! tree is about 4 MiB; as text, under 1 MiB.

use std::ops::Range;
use std::sync::Arc;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{PrefixDeclaration, ResolveResult};
use quick_xml::NsReader;

/// The XML Schema instance namespace that carries `type` on polymorphic values.
pub const XSI_NS: &[u8] = b"http://www.w3.org/2001/XMLSchema-instance";

/// Deepest nesting accepted; deeper documents are rejected instead of exhausting the stack.
pub(crate) const MAX_DEPTH: usize = 256;
/// Most elements one document may build (about 150 bytes each: 30 MiB at most). The byte cap
/// alone would let a 64 MiB answer of `<a/>` build 16 million elements (2 GB); a real answer has
/// a few thousand (event pages are read lazily and not built).
pub const MAX_ELEMENTS: usize = 200_000;

/// One element: local name, its `xsi:type` (by namespace), its plain `type` attribute
/// (ManagedObjectReference), text content and children in document order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub xsi_type: Option<String>,
    pub type_attr: Option<String>,
    pub text: String,
    pub children: Vec<Element>,
    /// Set on an element read lazily: its whole text, of which only `key` was read as a child.
    pub raw: Option<Box<Raw>>,
}

/// Where a lazily read element's text is: a span of the document, and the namespace
/// declarations in scope there (so its `xsi:type` prefixes still resolve on their own).
#[derive(Debug, Clone, PartialEq)]
pub struct Raw {
    doc: Arc<String>,
    span: Range<usize>,
    scope: Arc<str>,
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
    #[error("XML document with more than {MAX_ELEMENTS} elements: refused before it exhausts memory")]
    TooManyElements,
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

    /// The children with this local name, taken out of the element.
    pub fn into_children_named(self, name: &str) -> impl Iterator<Item = Element> + '_ {
        self.children.into_iter().filter(move |c| c.name == name)
    }

    /// Text of the first child with this local name.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// Follows a path of local names from this element.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |el, n| el.child(n))
    }

    /// The whole tree of a lazily read element (see [`parse_lazy`]); other elements are
    /// already whole and are returned as they are.
    pub fn expand(self) -> Result<Element, XmlError> {
        if self.raw.is_none() {
            return Ok(self);
        }
        parse(&self.xml()?)?.children.into_iter().next().ok_or(XmlError::Empty)
    }

    /// The element as XML text inside a `<_w>` wrapper that declares the namespaces it uses:
    /// for a lazily read element, the server's own text; otherwise written from the tree.
    pub fn xml(&self) -> Result<String, XmlError> {
        let Some(raw) = &self.raw else {
            let mut out = format!("<_w xmlns:xsi=\"{}\">", String::from_utf8_lossy(XSI_NS));
            self.write_xml(&mut out);
            out.push_str("</_w>");
            return Ok(out);
        };
        let text = raw.doc.get(raw.span.clone()).ok_or(XmlError::Empty)?;
        let mut wrapped = String::with_capacity(text.len() + raw.scope.len() + 12);
        wrapped.push_str("<_w");
        wrapped.push_str(&raw.scope);
        wrapped.push('>');
        wrapped.push_str(text);
        wrapped.push_str("</_w>");
        Ok(wrapped)
    }

    fn write_xml(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        if let Some(t) = &self.xsi_type {
            out.push_str(&format!(" xsi:type=\"{}\"", escape(t)));
        }
        if let Some(t) = &self.type_attr {
            out.push_str(&format!(" type=\"{}\"", escape(t)));
        }
        out.push('>');
        out.push_str(&escape(&self.text));
        for child in &self.children {
            child.write_xml(out);
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

fn malformed(e: impl std::fmt::Display) -> XmlError {
    XmlError::Malformed(e.to_string())
}

fn start_element(reader: &NsReader<&[u8]>, start: &BytesStart<'_>) -> Result<Element, XmlError> {
    let (xsi_type, type_attr) = type_attributes(reader, start)?;
    Ok(Element {
        name: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
        xsi_type,
        type_attr,
        ..Element::default()
    })
}

/// A start tag's `xsi:type` (by namespace) and plain `type` attribute.
pub(crate) fn type_attributes(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
) -> Result<(Option<String>, Option<String>), XmlError> {
    let (mut xsi_type, mut type_attr) = (None, None);
    for attr in start.attributes() {
        let attr = attr.map_err(malformed)?;
        let (ns, local) = reader.resolve_attribute(attr.key);
        if local.as_ref() != b"type" {
            continue;
        }
        let value = attr.unescape_value().map_err(malformed)?.into_owned();
        match ns {
            ResolveResult::Bound(ns) if ns.as_ref() == XSI_NS => xsi_type = Some(value),
            ResolveResult::Unbound => type_attr = Some(value),
            _ => {}
        }
    }
    Ok((xsi_type, type_attr))
}

/// The namespace declarations in scope, as attribute text (` xmlns:p="uri"`).
fn scope_of(reader: &NsReader<&[u8]>) -> String {
    let mut out = String::new();
    for (prefix, ns) in reader.resolver().bindings() {
        let uri = escape(&String::from_utf8_lossy(ns.as_ref())).into_owned();
        match prefix {
            PrefixDeclaration::Default => out.push_str(&format!(" xmlns=\"{uri}\"")),
            PrefixDeclaration::Named(p) => {
                out.push_str(&format!(" xmlns:{}=\"{uri}\"", String::from_utf8_lossy(p)));
            }
        }
    }
    out
}

/// A lazily read element being scanned: its depth below it, and its `key` child's text.
struct Lazy {
    el: Element,
    start: usize,
    depth: usize,
    in_key: bool,
}

/// Where an element sits: the local names of its ancestors from the root, and its own.
pub struct Path<'a> {
    ancestors: &'a [Element],
    name: &'a str,
}

impl Path<'_> {
    /// Whether the path ends with these local names (the last one is the element's own;
    /// `*` stands for any name).
    pub fn ends_with(&self, names: &[&str]) -> bool {
        let Some((own, above)) = names.split_last() else {
            return true;
        };
        let is = |name: &str, pattern: &str| pattern == "*" || name == pattern;
        is(self.name, own)
            && above.len() <= self.ancestors.len()
            && self.ancestors[self.ancestors.len() - above.len()..]
                .iter()
                .zip(above)
                .all(|(a, n)| is(&a.name, n))
    }
}

/// Parses a whole document into its root element.
pub fn parse(doc: &str) -> Result<Element, XmlError> {
    build(doc, None, |_| false)
}

/// Parses a document, but an element whose [`Path`] `lazy` accepts is not built: it keeps its
/// name, type attributes, its `key` child if it has one, and a reference to its text (the
/// document is kept, not copied) for [`Element::expand`].
pub fn parse_lazy(doc: String, lazy: impl Fn(&Path<'_>) -> bool) -> Result<Element, XmlError> {
    let doc = Arc::new(doc);
    build(&doc, Some(&doc), lazy)
}

fn build(doc: &str, shared: Option<&Arc<String>>, lazy: impl Fn(&Path<'_>) -> bool) -> Result<Element, XmlError> {
    let mut reader = NsReader::from_str(doc);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut skipping: Option<Lazy> = None;
    // The namespace scope of the current parent's children, once a lazy child needed it.
    let mut scope: Option<Arc<str>> = None;
    let mut own_scope: Option<Arc<str>> = None;
    let mut elements = 0usize;
    loop {
        let at = reader.buffer_position() as usize;
        let event = reader.read_event().map_err(malformed)?;
        if let Some(l) = skipping.as_mut() {
            match event {
                Event::Start(start) => {
                    l.depth += 1;
                    l.in_key = l.depth == 1 && start.local_name().as_ref() == b"key";
                }
                Event::End(_) if l.depth > 0 => {
                    l.depth -= 1;
                    l.in_key = false;
                }
                Event::End(_) => {
                    let Some(mut l) = skipping.take() else { continue };
                    let end = reader.buffer_position() as usize;
                    let scope = own_scope
                        .take()
                        .or_else(|| scope.clone())
                        .unwrap_or_else(|| Arc::from(""));
                    let doc = shared.cloned().unwrap_or_else(|| Arc::new(doc.to_owned()));
                    l.el.raw = Some(Box::new(Raw {
                        doc,
                        span: l.start..end,
                        scope,
                    }));
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(l.el),
                        None => return Ok(l.el),
                    }
                }
                Event::Text(text) if l.in_key => {
                    let key = l.el.children.last_mut().filter(|k| k.name == "key");
                    match key {
                        Some(k) => k.text.push_str(&text.decode().map_err(malformed)?),
                        None => {
                            l.el.children = vec![Element {
                                name: "key".into(),
                                text: text.decode().map_err(malformed)?.into_owned(),
                                ..Element::default()
                            }]
                        }
                    }
                }
                Event::Eof => return Err(malformed("document ends inside an element")),
                _ => {}
            }
            continue;
        }
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(XmlError::TooManyElements);
                }
                let el = start_element(&reader, &start)?;
                let path = Path {
                    ancestors: &stack,
                    name: &el.name,
                };
                if lazy(&path) {
                    // Siblings share their parent's scope; one declaring namespaces itself
                    // gets its own (its declarations are also in its text: harmless twice).
                    let declares = start
                        .attributes()
                        .any(|a| a.is_ok_and(|a| a.key.as_namespace_binding().is_some()));
                    if declares {
                        own_scope = Some(Arc::from(scope_of(&reader)));
                    } else if scope.is_none() {
                        scope = Some(Arc::from(scope_of(&reader)));
                    }
                    skipping = Some(Lazy {
                        el,
                        start: at,
                        depth: 0,
                        in_key: false,
                    });
                } else {
                    stack.push(el);
                    scope = None;
                }
            }
            Event::Empty(start) => {
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(XmlError::TooManyElements);
                }
                let el = start_element(&reader, &start)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Ok(el),
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| malformed("unexpected end tag"))?;
                scope = None;
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
    fn a_wide_document_is_refused_by_its_element_count() {
        let mut doc = String::from("<r>");
        doc.push_str(&"<a/>".repeat(MAX_ELEMENTS));
        doc.push_str("</r>");
        assert!(matches!(parse(&doc), Err(XmlError::TooManyElements)));
        let ok = format!("<r>{}</r>", "<a></a>".repeat(MAX_ELEMENTS - 1));
        assert_eq!(parse(&ok).unwrap().children.len(), MAX_ELEMENTS - 1);
    }

    #[test]
    fn rejects_malformed_and_deep_documents() {
        assert!(matches!(parse("<a><b></a>"), Err(XmlError::Malformed(_))));
        assert!(matches!(parse(""), Err(XmlError::Empty)));
        assert!(matches!(parse("<a>"), Err(XmlError::Malformed(_))));
        let deep = "<a>".repeat(1000) + &"</a>".repeat(1000);
        assert!(matches!(parse(&deep), Err(XmlError::TooDeep)));
    }

    const PAGE: &str = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><ReadNextEventsResponse xmlns="urn:vim25"><returnval xsi:type="VmPoweredOffEvent"><key>7</key><vm><name>a &amp; b</name><vm type="VirtualMachine">vm-1</vm></vm></returnval><returnval xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="EventEx"><chainId>8</chainId><key> 8 </key><arguments XMLSchema-instance:type="KeyAnyValue"><value XMLSchema-instance:type="xsd:int">1</value></arguments></returnval><returnval xsi:type="Event"/></ReadNextEventsResponse></soapenv:Body></soapenv:Envelope>"#;

    fn events(root: &Element) -> &[Element] {
        &root.path(&["Body", "ReadNextEventsResponse"]).unwrap().children
    }

    #[test]
    fn lazy_elements_keep_type_and_key_and_expand_to_the_whole_tree() {
        let eager = parse(PAGE).unwrap();
        let lazy = parse_lazy(PAGE.into(), |p| p.ends_with(&["ReadNextEventsResponse", "returnval"])).unwrap();
        let (eager, lazy) = (events(&eager), events(&lazy));
        assert_eq!(lazy.len(), 3);
        assert_eq!(lazy[0].xsi_type.as_deref(), Some("VmPoweredOffEvent"));
        assert_eq!(
            lazy[1].xsi_type.as_deref(),
            Some("EventEx"),
            "prefix declared on the event itself"
        );
        assert_eq!(lazy[0].child_text("key"), Some("7"));
        assert_eq!(lazy[1].child_text("key"), Some(" 8 "));
        assert!(lazy[0].child("vm").is_none(), "only the key is read up front");
        assert!(
            lazy[0].raw.is_some() && lazy[2].raw.is_none(),
            "an empty element is already whole"
        );
        for (l, e) in lazy.iter().zip(eager) {
            let whole = l.clone().expand().unwrap();
            assert_eq!(&whole, e);
        }
        let whole = lazy[1].clone().expand().unwrap();
        assert_eq!(
            whole.path(&["arguments", "value"]).unwrap().xsi_type.as_deref(),
            Some("xsd:int")
        );
        assert_eq!(
            lazy[0].clone().expand().unwrap().path(&["vm", "name"]).unwrap().text,
            "a & b"
        );
    }

    #[test]
    fn a_namespace_declared_on_one_lazy_sibling_does_not_leak_to_the_next() {
        let doc = r#"<r xmlns:a="urn:a" xmlns:x="http://www.w3.org/2001/XMLSchema-instance"><e x:type="A"><key>1</key></e><e xmlns:y="http://www.w3.org/2001/XMLSchema-instance" y:type="B"><key>2</key></e><e y:type="C"><key>3</key></e><e x:type="D"><key>4</key></e></r>"#;
        let eager = parse(doc).unwrap();
        let lazy = parse_lazy(doc.into(), |p| p.ends_with(&["r", "e"])).unwrap();
        let types: Vec<_> = lazy.children.iter().map(|e| e.xsi_type.clone()).collect();
        assert_eq!(types, [Some("A".into()), Some("B".into()), None, Some("D".into())]);
        for (l, e) in lazy.children.into_iter().zip(eager.children) {
            assert_eq!(l.expand().unwrap(), e);
        }
    }

    #[test]
    fn lazy_paths_match_from_the_end_with_wildcards() {
        let doc = "<a><changeSet><val><Event><key>1</key></Event></val></changeSet><val><x/></val></a>";
        let root = parse_lazy(doc.into(), |p| p.ends_with(&["changeSet", "val", "*"])).unwrap();
        let ev = root.path(&["changeSet", "val", "Event"]).unwrap();
        assert!(ev.raw.is_some());
        assert!(root.path(&["val", "x"]).unwrap().raw.is_none());
        let root = parse_lazy(doc.into(), |p| p.ends_with(&["b", "a"])).unwrap();
        assert_eq!(
            root,
            parse(doc).unwrap(),
            "a longer pattern than the path matches nothing"
        );
    }

    #[test]
    fn malformed_lazy_elements_are_rejected_while_scanning() {
        let lazy = |p: &Path<'_>| p.ends_with(&["r", "e"]);
        assert!(matches!(
            parse_lazy("<r><e><key>1</b></e></r>".into(), lazy),
            Err(XmlError::Malformed(_))
        ));
        assert!(matches!(
            parse_lazy("<r><e><key>1</key>".into(), lazy),
            Err(XmlError::Malformed(_))
        ));
        // Attributes inside an event are read when it is expanded: an error then, not a panic.
        let root = parse_lazy("<r><e><key>1</key><v a=></v></e></r>".into(), lazy).unwrap();
        assert_eq!(root.children[0].child_text("key"), Some("1"));
        assert!(matches!(root.children[0].clone().expand(), Err(XmlError::Malformed(_))));
    }
}
