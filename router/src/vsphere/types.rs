//! The vSphere data-object type table: which fields each event type has, their kinds and
//! which are arrays. Generated from pyVmomi's type tables by `scripts/gen-vim-types.py`
//! into `vim_types.txt` (one line a type: `Name<TAB>Base<TAB>field:kind[,array][,opt][,zero];...`);
//! `zero` marks a field govmomi v0.30.2 declares as a plain value (not a pointer, slice or
//! interface), so VEBA's JSON has its Go zero value when vCenter sent none
//! (`scripts/extract-govmomi-types.py`).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// What a field holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    String,
    Bool,
    Int,
    Float,
    DateTime,
    Binary,
    MoRef,
    Any,
    Enum,
    Obj(String),
}

/// One declared field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDef {
    /// The SOAP (WSDL) element name, e.g. `fullFormattedMessage`.
    pub name: String,
    /// govmomi's Go field name, used as the JSON key, e.g. `FullFormattedMessage`.
    pub json_name: String,
    pub kind: Kind,
    pub array: bool,
    pub optional: bool,
    /// Absent, it is written as its Go zero value (govmomi declares a plain value); else `null`.
    pub zero: bool,
}

/// One data-object type with its fields, inherited ones first.
#[derive(Debug, Clone, Default)]
pub struct TypeDef {
    pub base: Option<String>,
    /// All fields in JSON order: the base chain's fields first. Each field is shared with every
    /// type that inherits it (the builtin table has 10,744 such entries of 2,027 fields).
    pub fields: Vec<Arc<FieldDef>>,
}

/// Every known data-object type by WSDL name.
#[derive(Debug, Default)]
pub struct TypeTable {
    types: HashMap<String, TypeDef>,
}

/// The Go field name for a WSDL property name: its first letter upper-cased.
pub fn json_name(wsdl: &str) -> String {
    let mut chars = wsdl.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn parse_kind(s: &str) -> Kind {
    match s {
        "string" => Kind::String,
        "bool" => Kind::Bool,
        "int" => Kind::Int,
        "float" => Kind::Float,
        "dateTime" => Kind::DateTime,
        "binary" => Kind::Binary,
        "moref" => Kind::MoRef,
        "enum" => Kind::Enum,
        "any" => Kind::Any,
        other => match other.strip_prefix("obj:") {
            Some(t) => Kind::Obj(t.to_string()),
            None => Kind::Any,
        },
    }
}

fn parse_field(spec: &str) -> Option<FieldDef> {
    let (name, rest) = spec.split_once(':')?;
    let mut parts = rest.split(',');
    let kind = parse_kind(parts.next()?);
    let mut field = FieldDef {
        name: name.to_string(),
        json_name: json_name(name),
        kind,
        array: false,
        optional: false,
        zero: false,
    };
    for flag in parts {
        match flag {
            "array" => field.array = true,
            "opt" => field.optional = true,
            "zero" => field.zero = true,
            _ => {}
        }
    }
    Some(field)
}

impl TypeTable {
    /// Parses the table text; lines that do not parse are skipped.
    pub fn parse(text: &str) -> TypeTable {
        let mut declared: HashMap<String, (Option<String>, Vec<Arc<FieldDef>>)> = HashMap::new();
        for line in text.lines() {
            let mut cols = line.split('\t');
            let (Some(name), Some(base)) = (cols.next(), cols.next()) else {
                continue;
            };
            let fields = cols
                .next()
                .unwrap_or("")
                .split(';')
                .filter(|s| !s.is_empty())
                .filter_map(parse_field)
                .map(Arc::new)
                .collect();
            let base = (base != "-" && !base.is_empty()).then(|| base.to_string());
            declared.insert(name.to_string(), (base, fields));
        }
        let mut types = HashMap::with_capacity(declared.len());
        for name in declared.keys() {
            let mut chain = Vec::new();
            let mut cur = Some(name.as_str());
            while let Some(n) = cur {
                if chain.len() > 64 {
                    break;
                }
                let Some((base, _)) = declared.get(n) else {
                    break;
                };
                chain.push(n);
                cur = base.as_deref();
            }
            let fields = chain
                .iter()
                .rev()
                .filter_map(|n| declared.get(*n))
                .flat_map(|(_, f)| f.iter().cloned())
                .collect();
            let base = declared.get(name).and_then(|(b, _)| b.clone());
            types.insert(name.clone(), TypeDef { base, fields });
        }
        TypeTable { types }
    }

    /// The table compiled into the router.
    pub fn builtin() -> &'static TypeTable {
        static TABLE: OnceLock<TypeTable> = OnceLock::new();
        TABLE.get_or_init(|| TypeTable::parse(include_str!("vim_types.txt")))
    }

    pub fn get(&self, name: &str) -> Option<&TypeDef> {
        self.types.get(name)
    }

    /// True when `name` is `ancestor` or derives from it.
    pub fn is_a(&self, name: &str, ancestor: &str) -> bool {
        let mut cur = Some(name);
        let mut steps = 0;
        while let Some(n) = cur {
            if n == ancestor {
                return true;
            }
            steps += 1;
            if steps > 64 {
                return false;
            }
            cur = self.types.get(n).and_then(|t| t.base.as_deref());
        }
        false
    }

    pub fn len(&self) -> usize {
        self.types.len()
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
}

/// The base `Event`'s fields as the JSON names them, in vSphere's order (for tests).
#[cfg(test)]
pub(crate) const EVENT_FIELDS: [&str; 13] = [
    "Key",
    "ChainId",
    "CreatedTime",
    "UserName",
    "Datacenter",
    "ComputeResource",
    "Host",
    "Vm",
    "Ds",
    "Net",
    "Dvs",
    "FullFormattedMessage",
    "ChangeTag",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inherited_fields_come_first() {
        let t = TypeTable::parse(
            "Event\tDynamicData\tkey:int;vm:obj:VmEventArgument,opt\nVmEvent\tEvent\ttemplate:bool\nDynamicData\t-\t\n",
        );
        let names: Vec<_> = t
            .get("VmEvent")
            .unwrap()
            .fields
            .iter()
            .map(|f| f.json_name.as_str())
            .collect();
        assert_eq!(names, ["Key", "Vm", "Template"]);
        assert!(t.is_a("VmEvent", "Event"));
        assert!(!t.is_a("Event", "VmEvent"));
        let vm = &t.get("Event").unwrap().fields[1];
        assert_eq!(vm.kind, Kind::Obj("VmEventArgument".into()));
        assert!(vm.optional && !vm.array);
    }

    #[test]
    fn builtin_table_knows_the_base_event() {
        let t = TypeTable::builtin();
        let names: Vec<_> = t
            .get("Event")
            .unwrap()
            .fields
            .iter()
            .map(|f| f.json_name.as_str())
            .collect();
        assert_eq!(names, EVENT_FIELDS);
        assert!(t.is_a("VmPoweredOffEvent", "VmEvent"));
        assert!(t.is_a("AlarmStatusChangedEvent", "Event"));
        assert!(t.len() > 500, "table has {} types", t.len());
    }
}
