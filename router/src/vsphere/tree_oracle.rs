//! The tree decoder the router used before the streaming one ([`super::decode`]): an
//! `Element` tree to a `serde_json::Value`. Kept only as the oracle of the decoder's property
//! test, which checks that both give the same JSON for any event.

use serde_json::{Map, Number, Value};

use super::types::{json_name, FieldDef, Kind, TypeTable};
use super::xml::Element;

/// The event's JSON as the tree decoder wrote it.
pub fn event_json(el: &Element, table: &TypeTable) -> Value {
    let mut el = el.clone();
    let type_name = el.xsi_type.clone().unwrap_or_else(|| "Event".to_string());
    let known = if table.get(&type_name).is_some() {
        type_name.as_str()
    } else {
        "Event"
    };
    object_to_json(&mut el, known, table, 0)
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
        None => zero_value(field, table, depth),
    }
}

/// `null` unless the field is a plain value in govmomi (`zero`): then its Go zero value.
fn zero_value(field: &FieldDef, table: &TypeTable, depth: usize) -> Value {
    if field.array || !field.zero {
        return Value::Null;
    }
    match &field.kind {
        Kind::String | Kind::Enum => Value::String(String::new()),
        Kind::Int | Kind::Float => Value::from(0),
        Kind::Bool => Value::Bool(false),
        Kind::DateTime => Value::String("0001-01-01T00:00:00Z".into()),
        Kind::MoRef => moref("", ""),
        Kind::Obj(t) => match table.get(t).filter(|_| depth < MAX_DEPTH) {
            Some(def) => Value::Object(
                (def.fields.iter())
                    .map(|f| (f.json_name.clone(), zero_value(f, table, depth + 1)))
                    .collect(),
            ),
            None => Value::Null,
        },
        Kind::Binary | Kind::Any => Value::Null,
    }
}

/// A time as Go writes it (see `decode::write_time`), parsed back.
fn time_value(text: &str) -> Value {
    let t = text.trim();
    let Ok(parsed) = chrono::DateTime::parse_from_rfc3339(t) else {
        return Value::String(text.to_string());
    };
    let nanos = parsed.timestamp_subsec_nanos();
    let mut s = parsed.format("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos > 0 {
        s.push('.');
        s.push_str(format!("{nanos:09}").trim_end_matches('0'));
    }
    let offset = parsed.offset().local_minus_utc();
    if offset == 0 {
        s.push('Z');
    } else {
        let abs = offset.unsigned_abs();
        let sign = if offset < 0 { '-' } else { '+' };
        s.push_str(&format!("{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60));
    }
    Value::String(s)
}

fn bytes_value(text: &str) -> Value {
    use base64::Engine as _;
    Value::String(base64::engine::general_purpose::STANDARD.encode(text.as_bytes()))
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
        Kind::String | Kind::Enum => Value::String(std::mem::take(&mut el.text)),
        Kind::DateTime => time_value(&el.text),
        Kind::Binary => bytes_value(&el.text),
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
    match text.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e21 => {
            serde_json::from_str(&format!("{f:.0}")).unwrap_or(Value::Null)
        }
        Ok(f) => Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(text.to_string())),
        Err(_) => Value::String(text.to_string()),
    }
}

/// An `xsd:anyType` value: its `xsi:type` says what it is.
fn any_to_json(el: &mut Element, table: &TypeTable, depth: usize) -> Value {
    let xsi_type = el.xsi_type.take().unwrap_or_default();
    let ty = xsi_type.rsplit(':').next().unwrap_or(&xsi_type);
    match ty {
        "string" => Value::String(std::mem::take(&mut el.text)),
        "dateTime" => time_value(&el.text),
        "base64Binary" => bytes_value(&el.text),
        "anyURI" | "ArrayOfFloat" | "ArrayOfDateTime" | "ArrayOfURI" | "ArrayOfAnyURI" => Value::Null,
        "boolean" => Value::Bool(matches!(el.text.trim(), "true" | "1")),
        "int" | "long" | "short" | "byte" => int_value(&el.text),
        "float" | "double" => float_value(&el.text),
        "ManagedObjectReference" => moref(el.type_attr.as_deref().unwrap_or(""), el.text.trim()),
        t if t.starts_with("ArrayOf") => {
            let items = Value::Array(
                el.children
                    .iter_mut()
                    .map(|c| any_to_json(c, table, depth + 1))
                    .collect(),
            );
            let mut wrapper = Map::with_capacity(1);
            wrapper.insert(t.trim_start_matches("ArrayOf").to_string(), items);
            Value::Object(wrapper)
        }
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
    use proptest::prelude::*;

    use super::event_json;
    use crate::vsphere::event::VsphereEvent;
    use crate::vsphere::types::{FieldDef, Kind, TypeTable};
    use crate::vsphere::xml::{escape, parse};

    /// A small deterministic generator (xorshift), so one proptest seed is one event.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn chance(&mut self, percent: u64) -> bool {
            self.next() % 100 < percent
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    const TEXTS: &[&str] = &[
        "plain",
        "",
        " spaced ",
        "a & b",
        "<tag>",
        "\"q\" 'a'",
        "ünï©ødé",
        "line\nbreak",
        "tab\tx",
        "0",
        "-12",
        " 7 ",
        "x9",
        "1.5",
        "1e400",
        "NaN",
        "true",
        "1",
        "false",
        "2026-01-01T00:00:00Z",
    ];
    const NAMES: &[&str] = &["shiny", "nested", "vm", "Vm", "key", "other", "a"];

    fn text(g: &mut Gen) -> String {
        let t = escape(g.pick(TEXTS)).into_owned();
        match g.below(6) {
            0 => format!("{t}&#x41;&amp;"),
            1 => format!("<![CDATA[{}]]>", g.pick(TEXTS).replace("]]>", "")),
            _ => t,
        }
    }

    /// An unknown value: text, a reference, or children (names may repeat).
    fn generic(g: &mut Gen, name: &str, depth: usize, out: &mut String) {
        match g.below(if depth > 3 { 2 } else { 3 }) {
            0 => out.push_str(&format!("<{name}>{}</{name}>", text(g))),
            1 => out.push_str(&format!("<{name} type=\"T\">{}</{name}>", text(g))),
            _ => {
                out.push_str(&format!("<{name}>"));
                for _ in 0..g.below(4) {
                    let child = g.pick(NAMES);
                    generic(g, child, depth + 1, out);
                }
                out.push_str(&format!("</{name}>"));
            }
        }
    }

    fn value(g: &mut Gen, table: &TypeTable, field: &FieldDef, depth: usize, out: &mut String) {
        let name = &field.name;
        match &field.kind {
            Kind::MoRef => out.push_str(&format!("<{name} type=\"VirtualMachine\">{}</{name}>", text(g))),
            Kind::Obj(t) if depth < 3 => object(g, table, name, t, None, depth + 1, out),
            Kind::Any => {
                let ty = g.pick(&[
                    "xsd:string",
                    "xsd:int",
                    "xsd:boolean",
                    "xsd:double",
                    "ArrayOfString",
                    "ManagedObjectReference",
                    "KeyAnyValue",
                    "Unknown",
                ]);
                let attr = if ty == "ManagedObjectReference" {
                    " type=\"Datastore\""
                } else {
                    ""
                };
                out.push_str(&format!("<{name} xsi:type=\"{ty}\"{attr}>"));
                if ty == "ArrayOfString" {
                    for _ in 0..g.below(3) {
                        out.push_str(&format!("<string xsi:type=\"xsd:string\">{}</string>", text(g)));
                    }
                } else if ty == "KeyAnyValue" {
                    out.push_str(&format!(
                        "<key>{}</key><value xsi:type=\"xsd:int\">{}</value>",
                        text(g),
                        text(g)
                    ));
                } else {
                    out.push_str(&text(g));
                }
                out.push_str(&format!("</{name}>"));
            }
            Kind::Obj(_) => generic(g, name, depth, out),
            _ => out.push_str(&format!("<{name}>{}</{name}>", text(g))),
        }
    }

    /// A data object of type `ty`: some of its fields (arrays repeated, sometimes out of
    /// order or twice) and sometimes fields the table does not know.
    fn object(
        g: &mut Gen,
        table: &TypeTable,
        name: &str,
        ty: &str,
        attrs: Option<&str>,
        depth: usize,
        out: &mut String,
    ) {
        let Some(def) = table.get(ty) else {
            return generic(g, name, depth, out);
        };
        out.push_str(&format!("<{name}{}>", attrs.unwrap_or("")));
        let mut parts = Vec::new();
        for field in &def.fields {
            if !g.chance(60) {
                continue;
            }
            let times = if field.array {
                1 + g.below(3)
            } else if g.chance(5) {
                2
            } else {
                1
            };
            for _ in 0..times {
                let mut part = String::new();
                value(g, table, field, depth, &mut part);
                parts.push(part);
            }
        }
        for _ in 0..g.below(3) {
            if g.chance(40) {
                let mut part = String::new();
                let extra = g.pick(NAMES);
                generic(g, extra, depth + 1, &mut part);
                let at = g.below(parts.len() + 1);
                parts.insert(at, part);
            }
        }
        if g.chance(15) && parts.len() > 1 {
            let (a, b) = (g.below(parts.len()), g.below(parts.len()));
            parts.swap(a, b);
        }
        out.push_str(&parts.concat());
        out.push_str(&format!("</{name}>"));
    }

    fn event(seed: u64) -> String {
        let table = TypeTable::builtin();
        let mut types: Vec<&str> = include_str!("vim_types.txt")
            .lines()
            .filter_map(|l| l.split('\t').next())
            .filter(|n| n.ends_with("Event"))
            .collect();
        types.push("FutureShinyEvent");
        let mut g = Gen(seed | 1);
        let ty = types[g.below(types.len())];
        let attrs = format!(" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"{ty}\"");
        let mut out = String::new();
        object(
            &mut g,
            table,
            "returnval",
            if table.get(ty).is_some() { ty } else { "Event" },
            Some(&attrs),
            0,
            &mut out,
        );
        // Every event has a key; the generator may have left it out.
        if parse(&out).is_ok_and(|root| root.child("key").is_none()) {
            out = out.replacen('>', "><key>5</key>", 1);
        }
        out
    }

    proptest! {
        /// The streaming decoder writes exactly the JSON text the tree decoder's value
        /// serialises to, for events of every type with fields missing, repeated, reordered
        /// and unknown.
        #[test]
        fn streaming_decoder_matches_the_tree_decoder(seed in any::<u64>()) {
            let xml = event(seed);
            let table = TypeTable::builtin();
            let tree = parse(&xml).expect("the generator writes well-formed XML");
            let expected = serde_json::to_string(&event_json(&tree, table)).unwrap();
            match VsphereEvent::from_xml(&xml, table) {
                Ok(ev) => prop_assert_eq!(String::from_utf8(ev.data).unwrap(), expected, "{}", xml),
                Err(e) => prop_assert!(matches!(e, crate::vsphere::event::EventError::BadKey(_)), "{}: {}", e, xml),
            }
        }
    }
}
