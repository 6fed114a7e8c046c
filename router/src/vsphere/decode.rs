//! The streaming event decoder: one event's XML text straight to the JSON text its CloudEvent
//! carries, read with quick-xml's reader without building an element tree.
//!
//! Each object's values are written as they come, one after another; when the object ends its
//! fields are laid out in declaration order (inherited first), absent ones as their zero value
//! and fields the type table does not know after them (see [`super::event`] for the rules). A
//! leaf's text is the only thing held apart while it is read.

use std::collections::HashMap;
use std::ops::Range;

use quick_xml::events::{BytesStart, Event};
use quick_xml::NsReader;
use serde_json::Number;

use super::types::{json_name, FieldDef, Kind, TypeDef, TypeTable};
use super::xml::{self, XmlError};

/// Nesting below which values are written as `null` (a guard against hostile depth).
const MAX_DEPTH: usize = 64;

/// An event's JSON text and the top-level texts the CloudEvent needs.
pub(super) struct Decoded {
    pub json: Vec<u8>,
    pub type_name: Option<String>,
    pub key: Option<String>,
    pub created_time: Option<String>,
    pub event_type_id: Option<String>,
}

/// How a primitive value's text becomes JSON.
#[derive(Clone, Copy)]
enum Leaf {
    Str,
    Bool,
    Int,
    Float,
    MoRef,
    /// An `xsd:dateTime`, written as Go's `time.Time` writes it (RFC 3339 with the fraction's
    /// trailing zeros cut, `Z` for a zero offset).
    Time,
    /// An `xsd:base64Binary`: govmomi keeps the element's text as bytes, which Go's JSON writes
    /// in base64 (so the text is encoded once more).
    Bytes,
}

/// What an open element is being read as.
enum Shape<'t> {
    /// A data object of a known type: `spans` are its values in arrival order, by slot (a
    /// field's index, or `fields.len()` + an extra's index in `extras`).
    Object {
        def: &'t TypeDef,
        depth: usize,
        spans: Vec<(usize, Range<usize>)>,
        extras: Names,
    },
    /// A value of unknown type: its text if it stays a leaf, otherwise an object of its
    /// children (a name repeated becomes an array).
    Generic {
        depth: usize,
        text: String,
        type_attr: Option<String>,
        spans: Vec<(usize, Range<usize>)>,
        keys: Names,
    },
    Leaf {
        leaf: Leaf,
        text: String,
        type_attr: Option<String>,
    },
    /// An `ArrayOf…` value: every child is one item, inside the object govmomi's `ArrayOfX`
    /// struct makes (`{"X": [...]}`).
    AnyArray {
        depth: usize,
        items: usize,
        wrapper: String,
    },
    /// Written as `null`, its content skipped.
    Null,
    /// Not written at all (a repeated unknown field, the children of a leaf).
    Ignored,
}

struct Open<'t> {
    shape: Shape<'t>,
    /// Where the value starts in the output.
    start: usize,
    /// The slot the parent files it under.
    slot: usize,
}

/// What an element's start tag says: its `xsi:type` (by namespace) and plain `type`.
struct Attrs {
    xsi_type: Option<String>,
    type_attr: Option<String>,
}

fn malformed(e: impl std::fmt::Display) -> XmlError {
    XmlError::Malformed(e.to_string())
}

fn attrs(reader: &NsReader<&[u8]>, start: &BytesStart<'_>) -> Result<Attrs, XmlError> {
    let (xsi_type, type_attr) = xml::type_attributes(reader, start)?;
    Ok(Attrs { xsi_type, type_attr })
}

/// Decodes the first child of `doc`'s root (the event, wrapped as [`super::xml::Element::xml`]
/// writes it).
pub(super) fn decode(doc: &str, table: &TypeTable) -> Result<Decoded, XmlError> {
    let mut reader = NsReader::from_str(doc);
    reader.config_mut().trim_text(false);
    let mut d = Decoder {
        table,
        out: Vec::with_capacity(doc.len() + 256),
        scratch: Vec::new(),
        stack: Vec::new(),
        level: 0,
        elements: 0,
        found: Decoded {
            json: Vec::new(),
            type_name: None,
            key: None,
            created_time: None,
            event_type_id: None,
        },
    };
    loop {
        match reader.read_event().map_err(malformed)? {
            Event::Start(start) => {
                d.level += 1;
                if d.level > xml::MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                d.count()?;
                if d.level >= 2 {
                    let a = attrs(&reader, &start)?;
                    d.open(start.local_name().as_ref(), a);
                }
            }
            Event::Empty(start) if d.level >= 1 => {
                d.count()?;
                let a = attrs(&reader, &start)?;
                d.open(start.local_name().as_ref(), a);
                if d.close(start.local_name().as_ref()) {
                    return Ok(d.finish());
                }
            }
            Event::End(end) => {
                d.level = d.level.saturating_sub(1);
                if d.level >= 1 && d.close(end.local_name().as_ref()) {
                    return Ok(d.finish());
                }
            }
            Event::Text(text) => {
                if let Some(buf) = d.text_buffer() {
                    buf.push_str(&text.decode().map_err(malformed)?);
                }
            }
            Event::CData(data) => {
                if let Some(buf) = d.text_buffer() {
                    buf.push_str(&data.decode().map_err(malformed)?);
                }
            }
            Event::GeneralRef(r) => {
                if let Some(buf) = d.text_buffer() {
                    if let Some(ch) = r.resolve_char_ref().map_err(malformed)? {
                        buf.push(ch);
                    } else {
                        let name = r.decode().map_err(malformed)?;
                        let resolved = quick_xml::escape::unescape(&format!("&{name};"))
                            .map_err(malformed)?
                            .into_owned();
                        buf.push_str(&resolved);
                    }
                }
            }
            Event::Eof if d.level > 0 => return Err(malformed("document ends inside an element")),
            Event::Eof => return Err(XmlError::Empty),
            _ => {}
        }
    }
}

struct Decoder<'t> {
    table: &'t TypeTable,
    out: Vec<u8>,
    scratch: Vec<u8>,
    stack: Vec<Open<'t>>,
    /// Nesting of the reader: 1 is the wrapper, 2 the event.
    level: usize,
    /// Elements read: as many as one document may build as a tree ([`xml::MAX_ELEMENTS`]).
    elements: usize,
    found: Decoded,
}

impl<'t> Decoder<'t> {
    fn count(&mut self) -> Result<(), XmlError> {
        self.elements += 1;
        if self.elements > xml::MAX_ELEMENTS {
            return Err(XmlError::TooManyElements);
        }
        Ok(())
    }

    fn finish(mut self) -> Decoded {
        // The text waits in the queues: no spare capacity.
        self.out.shrink_to_fit();
        self.found.json = self.out;
        self.found
    }

    /// The text buffer of the element being read, when its text matters.
    fn text_buffer(&mut self) -> Option<&mut String> {
        match self.stack.last_mut().map(|o| &mut o.shape) {
            Some(Shape::Leaf { text, .. }) | Some(Shape::Generic { text, .. }) => Some(text),
            _ => None,
        }
    }

    /// An element starts: decides how it is read from its parent's shape.
    fn open(&mut self, name: &[u8], a: Attrs) {
        let Some(parent) = self.stack.last_mut() else {
            // The event itself.
            let declared = (a.xsi_type.clone())
                .filter(|t| self.table.get(t).is_some())
                .unwrap_or_else(|| "Event".to_string());
            self.found.type_name = a.xsi_type.clone();
            let shape = self.object(a, &declared, 0);
            self.push(shape, 0);
            return;
        };
        let (shape, slot) = match &mut parent.shape {
            Shape::Object { def, depth, extras, .. } => {
                let (def, depth) = (*def, *depth);
                match def.fields.iter().position(|f| f.name.as_bytes() == name) {
                    Some(i) if depth >= MAX_DEPTH => (Shape::Null, i),
                    Some(i) => (self.field(&def.fields[i], a, depth), i),
                    None => {
                        let key = json_name(&String::from_utf8_lossy(name));
                        if def.fields.iter().any(|f| f.json_name == key) {
                            // Named like a declared field: the declared one is kept.
                            (Shape::Ignored, 0)
                        } else {
                            match extras.slot(key) {
                                (j, true) => (generic(a, depth + 1), def.fields.len() + j),
                                // A repeated unknown field keeps its first value.
                                _ => (Shape::Ignored, 0),
                            }
                        }
                    }
                }
            }
            Shape::Generic { depth, keys, .. } => {
                let depth = *depth;
                let (slot, _) = keys.slot(json_name(&String::from_utf8_lossy(name)));
                (generic(a, depth + 1), slot)
            }
            Shape::AnyArray { depth, items, .. } => {
                let depth = *depth;
                if *items > 0 {
                    self.out.push(b',');
                }
                *items += 1;
                let shape = self.any(a, depth + 1);
                self.push(shape, 0);
                return;
            }
            Shape::Leaf { .. } | Shape::Null | Shape::Ignored => (Shape::Ignored, 0),
        };
        self.push(shape, slot);
    }

    /// Opens a value at the end of the output (an array's bracket is written at once).
    fn push(&mut self, shape: Shape<'t>, slot: usize) {
        let start = self.out.len();
        if let Shape::AnyArray { wrapper, .. } = &shape {
            self.out.push(b'{');
            write_key(&mut self.out, wrapper);
            self.out.push(b'[');
        }
        self.stack.push(Open { shape, start, slot });
    }

    /// A declared field's element, read by its kind.
    fn field(&self, field: &FieldDef, a: Attrs, depth: usize) -> Shape<'t> {
        match &field.kind {
            Kind::String | Kind::Enum => leaf(Leaf::Str, a),
            Kind::DateTime => leaf(Leaf::Time, a),
            Kind::Binary => leaf(Leaf::Bytes, a),
            Kind::Bool => leaf(Leaf::Bool, a),
            Kind::Int => leaf(Leaf::Int, a),
            Kind::Float => leaf(Leaf::Float, a),
            Kind::MoRef => leaf(Leaf::MoRef, a),
            Kind::Obj(t) => self.object(a, t, depth + 1),
            Kind::Any => self.any(a, depth + 1),
        }
    }

    /// A data object: its own `xsi:type` if the table knows it, else the declared type.
    fn object(&self, a: Attrs, declared: &str, depth: usize) -> Shape<'t> {
        let def = a.xsi_type.as_deref().and_then(|t| self.table.get(t));
        match def.or_else(|| self.table.get(declared)) {
            Some(def) => Shape::Object {
                def,
                depth,
                spans: Vec::new(),
                extras: Names::default(),
            },
            None => generic(a, depth),
        }
    }

    /// An `xsd:anyType` value: its `xsi:type` says what it is.
    fn any(&self, a: Attrs, depth: usize) -> Shape<'t> {
        let xsi_type = a.xsi_type.clone().unwrap_or_default();
        let ty = xsi_type.rsplit(':').next().unwrap_or(&xsi_type);
        match ty {
            "string" => leaf(Leaf::Str, a),
            "dateTime" => leaf(Leaf::Time, a),
            "base64Binary" => leaf(Leaf::Bytes, a),
            "boolean" => leaf(Leaf::Bool, a),
            "int" | "long" | "short" | "byte" => leaf(Leaf::Int, a),
            "float" | "double" => leaf(Leaf::Float, a),
            "ManagedObjectReference" => leaf(Leaf::MoRef, a),
            // govmomi v0.30.2 has no ArrayOfFloat, ArrayOfDateTime or ArrayOfURI, and no Go
            // type for xsd:anyURI: such a value decodes to nothing (null).
            "anyURI" | "ArrayOfFloat" | "ArrayOfDateTime" | "ArrayOfURI" | "ArrayOfAnyURI" => Shape::Null,
            t if t.starts_with("ArrayOf") => Shape::AnyArray {
                depth,
                items: 0,
                wrapper: t.trim_start_matches("ArrayOf").to_string(),
            },
            t if self.table.get(t).is_some() => self.object(a, t, depth),
            _ => generic(a, depth),
        }
    }

    /// An element ends: writes its value and files it with its parent. True when it was the
    /// event itself.
    fn close(&mut self, name: &[u8]) -> bool {
        let Some(open) = self.stack.pop() else {
            return false;
        };
        let is_event = self.stack.is_empty();
        let own_text = |shape: &Shape<'_>| match shape {
            Shape::Leaf { text, .. } | Shape::Generic { text, .. } => Some(text.clone()),
            _ => None,
        };
        if self.stack.len() == 1 {
            let found = &mut self.found;
            let wanted = match name {
                b"key" => Some(&mut found.key),
                b"createdTime" => Some(&mut found.created_time),
                b"eventTypeId" => Some(&mut found.event_type_id),
                _ => None,
            };
            if let Some(slot) = wanted.filter(|s| s.is_none()) {
                *slot = own_text(&open.shape);
            }
        }
        let filed = !matches!(open.shape, Shape::Ignored);
        match open.shape {
            Shape::Object { def, spans, extras, .. } => self.write_object(open.start, def, spans, &extras.order),
            Shape::Generic {
                text,
                type_attr,
                spans,
                keys,
                ..
            } => {
                if keys.order.is_empty() {
                    match type_attr {
                        Some(t) => write_moref(&mut self.out, &t, text.trim()),
                        None => write_str(&mut self.out, &text),
                    }
                } else {
                    self.write_generic(open.start, spans, &keys.order);
                }
            }
            Shape::Leaf { leaf, text, type_attr } => write_leaf(&mut self.out, leaf, &text, type_attr.as_deref()),
            Shape::AnyArray { .. } => self.out.extend_from_slice(b"]}"),
            Shape::Null => self.out.extend_from_slice(b"null"),
            Shape::Ignored => {}
        }
        if filed {
            let end = self.out.len();
            match self.stack.last_mut().map(|p| &mut p.shape) {
                Some(Shape::Object { spans, .. }) | Some(Shape::Generic { spans, .. }) => {
                    spans.push((open.slot, open.start..end))
                }
                _ => {}
            }
        }
        is_event
    }

    /// Lays out an object's values (written from `start` in arrival order) in declaration
    /// order, then the extras.
    fn write_object(&mut self, start: usize, def: &TypeDef, spans: Vec<(usize, Range<usize>)>, extras: &[String]) {
        let table = self.table;
        self.relay(start, spans, |out, values| {
            for (i, field) in def.fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_key(out, &field.json_name);
                match (field.array, values.take(i)) {
                    (true, []) => out.extend_from_slice(b"null"),
                    (false, []) => write_zero(out, table, field, 0),
                    (true, items) => values.write_array(out, items),
                    (false, [(_, first), ..]) => values.write(out, first),
                }
            }
            for (j, key) in extras.iter().enumerate() {
                if let [(_, r), ..] = values.take(def.fields.len() + j) {
                    if out.last() != Some(&b'{') {
                        out.push(b',');
                    }
                    write_key(out, key);
                    values.write(out, r);
                }
            }
        });
    }

    /// Lays out a generic object: each name once, where it first came, repeated ones as arrays.
    fn write_generic(&mut self, start: usize, spans: Vec<(usize, Range<usize>)>, keys: &[String]) {
        self.relay(start, spans, |out, values| {
            for (k, key) in keys.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                write_key(out, key);
                match values.take(k) {
                    [(_, one)] => values.write(out, one),
                    many => values.write_array(out, many),
                }
            }
        });
    }

    /// Moves the values written from `start` aside, grouped by slot, and has `lay_out` write
    /// them again as one object's members.
    fn relay(
        &mut self,
        start: usize,
        mut spans: Vec<(usize, Range<usize>)>,
        lay_out: impl FnOnce(&mut Vec<u8>, &mut Values<'_>),
    ) {
        // Grouped by slot, each slot's values in arrival order (a stable sort): linear in the
        // values, however many there are.
        spans.sort_by_key(|(slot, _)| *slot);
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.out[start..]);
        self.out.truncate(start);
        let mut values = Values {
            text: &self.scratch,
            start,
            rest: &spans,
        };
        self.out.push(b'{');
        lay_out(&mut self.out, &mut values);
        self.out.push(b'}');
    }
}

/// An object's values set aside: their text, and their spans sorted by slot, taken one slot's
/// run at a time in increasing slots.
struct Values<'s> {
    text: &'s [u8],
    /// Where the text was in the output (the spans' origin).
    start: usize,
    rest: &'s [(usize, Range<usize>)],
}

impl<'s> Values<'s> {
    /// The values filed under `slot` (slots are asked for in increasing order).
    fn take(&mut self, slot: usize) -> &'s [(usize, Range<usize>)] {
        let skip = self.rest.iter().take_while(|(s, _)| *s < slot).count();
        let rest = &self.rest[skip..];
        let len = rest.iter().take_while(|(s, _)| *s == slot).count();
        let (group, after) = rest.split_at(len);
        self.rest = after;
        group
    }

    fn write(&self, out: &mut Vec<u8>, r: &Range<usize>) {
        out.extend_from_slice(&self.text[r.start - self.start..r.end - self.start]);
    }

    fn write_array(&self, out: &mut Vec<u8>, items: &[(usize, Range<usize>)]) {
        out.push(b'[');
        for (n, (_, r)) in items.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            self.write(out, r);
        }
        out.push(b']');
    }
}

/// Names in the order they first came, each with its index (looked up by hash, so an element
/// with many distinct children stays linear).
#[derive(Default)]
struct Names {
    order: Vec<String>,
    index: HashMap<String, usize>,
}

impl Names {
    /// The name's index, and whether it is new.
    fn slot(&mut self, name: String) -> (usize, bool) {
        if let Some(&i) = self.index.get(&name) {
            return (i, false);
        }
        let i = self.order.len();
        self.order.push(name.clone());
        self.index.insert(name, i);
        (i, true)
    }
}

fn leaf(leaf: Leaf, a: Attrs) -> Shape<'static> {
    Shape::Leaf {
        leaf,
        text: String::new(),
        type_attr: a.type_attr,
    }
}

/// A value of unknown type; `null` below [`MAX_DEPTH`].
fn generic(a: Attrs, depth: usize) -> Shape<'static> {
    if depth >= MAX_DEPTH {
        return Shape::Null;
    }
    Shape::Generic {
        depth,
        text: String::new(),
        type_attr: a.type_attr,
        spans: Vec::new(),
        keys: Names::default(),
    }
}

/// What VEBA's JSON (govmomi v0.30.2 through Go's encoding/json) has for an absent field: `null`
/// for a pointer, slice or interface, else the Go zero value of its type (a struct's being
/// each of its fields absent in turn). See [`super::event`].
fn write_zero(out: &mut Vec<u8>, table: &TypeTable, field: &FieldDef, depth: usize) {
    if field.array || !field.zero {
        out.extend_from_slice(b"null");
        return;
    }
    match &field.kind {
        Kind::String | Kind::Enum => out.extend_from_slice(b"\"\""),
        Kind::Int | Kind::Float => out.push(b'0'),
        Kind::Bool => out.extend_from_slice(b"false"),
        Kind::DateTime => out.extend_from_slice(b"\"0001-01-01T00:00:00Z\""),
        Kind::MoRef => out.extend_from_slice(b"{\"Type\":\"\",\"Value\":\"\"}"),
        Kind::Obj(t) => match table.get(t).filter(|_| depth < MAX_DEPTH) {
            Some(def) => {
                out.push(b'{');
                for (i, f) in def.fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_key(out, &f.json_name);
                    write_zero(out, table, f, depth + 1);
                }
                out.push(b'}');
            }
            None => out.extend_from_slice(b"null"),
        },
        Kind::Binary | Kind::Any => out.extend_from_slice(b"null"),
    }
}

/// A time as Go's `time.Time` writes it in JSON (`RFC3339Nano`): the fraction's trailing zeros
/// cut (none left: no fraction), at most 9 digits, `Z` for a zero offset. Text that is not an
/// RFC 3339 time is written as it is.
fn write_time(out: &mut Vec<u8>, text: &str) {
    let t = text.trim();
    let Ok(parsed) = chrono::DateTime::parse_from_rfc3339(t) else {
        write_str(out, text);
        return;
    };
    let base = parsed.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = parsed.timestamp_subsec_nanos();
    let mut s = base;
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    let offset = parsed.offset().local_minus_utc();
    if offset == 0 {
        s.push('Z');
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let abs = offset.unsigned_abs();
        s.push_str(&format!("{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60));
    }
    write_str(out, &s);
}

/// A float as Go's encoding/json writes a float64: the shortest form, without `.0` for a whole
/// number.
fn write_float(out: &mut Vec<u8>, f: f64) {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        out.extend_from_slice(format!("{f:.0}").as_bytes());
    } else if let Some(n) = Number::from_f64(f) {
        write_json(out, &n);
    } else {
        out.extend_from_slice(b"null");
    }
}

fn write_leaf(out: &mut Vec<u8>, leaf: Leaf, text: &str, type_attr: Option<&str>) {
    match leaf {
        Leaf::Str => write_str(out, text),
        Leaf::Bool => {
            let yes = matches!(text.trim(), "true" | "1");
            out.extend_from_slice(if yes { b"true" } else { b"false" });
        }
        Leaf::Int => match text.trim().parse::<i64>() {
            Ok(n) => write_json(out, &n),
            Err(_) => write_str(out, text),
        },
        Leaf::Float => match text.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => write_float(out, f),
            _ => write_str(out, text),
        },
        Leaf::Time => write_time(out, text),
        Leaf::Bytes => {
            use base64::Engine as _;
            write_str(out, &base64::engine::general_purpose::STANDARD.encode(text.as_bytes()))
        }
        Leaf::MoRef => write_moref(out, type_attr.unwrap_or(""), text.trim()),
    }
}

fn write_moref(out: &mut Vec<u8>, ty: &str, value: &str) {
    out.extend_from_slice(b"{\"Type\":");
    write_str(out, ty);
    out.extend_from_slice(b",\"Value\":");
    write_str(out, value);
    out.push(b'}');
}

fn write_key(out: &mut Vec<u8>, key: &str) {
    write_str(out, key);
    out.push(b':');
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    write_json(out, s);
}

/// Writes with serde_json's own formatting (escapes, integers, floats), so the text is exactly
/// what serialising the equivalent `serde_json::Value` gives.
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing these types into a Vec cannot fail.
    let _ = serde_json::to_writer(out, value);
}
