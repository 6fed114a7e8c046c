//! EventBridge event patterns, matched locally: the EventBridge processor sends only events a
//! rule's pattern matches, and processor filters use the same language. Semantics follow the
//! EventBridge user guide ("Event patterns", "Content filtering"): every field in the pattern
//! must match (AND), the values listed for a field are alternatives (OR), an array in the event
//! matches when any element does, and `$or` lists alternative sub-patterns. Matchers: exact
//! values, `prefix`, `suffix`, `anything-but`, `numeric`, `exists`, `wildcard`,
//! `equals-ignore-case`.

use serde_json::{Map, Value};

/// Why a pattern cannot be used; names the place in the pattern.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("event pattern {path}: {problem}")]
pub struct PatternError {
    pub path: String,
    pub problem: String,
}

/// A parsed, checked event pattern.
#[derive(Debug, Clone)]
pub struct Pattern(Map<String, Value>);

fn err(path: &str, problem: impl Into<String>) -> PatternError {
    PatternError {
        path: if path.is_empty() { "(top)".into() } else { path.into() },
        problem: problem.into(),
    }
}

impl Pattern {
    /// Parses a pattern from its JSON text (as ListRules returns it) and checks every matcher.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let v: Value = serde_json::from_str(text).map_err(|e| err("", format!("not JSON: {e}")))?;
        Pattern::from_value(&v)
    }

    /// Checks a pattern already parsed as JSON (a filter written in the YAML config).
    pub fn from_value(v: &Value) -> Result<Pattern, PatternError> {
        match v {
            Value::Object(map) => {
                check_object(map, "")?;
                Ok(Pattern(map.clone()))
            }
            _ => Err(err("", "must be a JSON object")),
        }
    }

    /// Whether `event` (a JSON document) matches.
    pub fn matches(&self, event: &Value) -> bool {
        match_object(&self.0, event)
    }
}

fn check_object(map: &Map<String, Value>, path: &str) -> Result<(), PatternError> {
    for (key, v) in map {
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        if key == "$or" {
            let alts = v.as_array().filter(|a| !a.is_empty());
            for (i, alt) in alts
                .ok_or_else(|| err(&here, "$or needs a list of patterns"))?
                .iter()
                .enumerate()
            {
                let obj = alt
                    .as_object()
                    .ok_or_else(|| err(&format!("{here}[{i}]"), "must be an object"))?;
                check_object(obj, &here)?;
            }
            continue;
        }
        match v {
            Value::Object(inner) => check_object(inner, &here)?,
            Value::Array(list) if !list.is_empty() => {
                for m in list {
                    check_matcher(m, &here)?;
                }
            }
            Value::Array(_) => return Err(err(&here, "an empty list matches nothing")),
            _ => return Err(err(&here, "values must be in a list, e.g. [\"a\"]")),
        }
    }
    Ok(())
}

fn check_matcher(m: &Value, path: &str) -> Result<(), PatternError> {
    let Value::Object(op) = m else {
        return match m {
            Value::Array(_) => Err(err(path, "nested lists are not allowed")),
            _ => Ok(()),
        };
    };
    let (name, arg) = match op.iter().next() {
        Some(kv) if op.len() == 1 => kv,
        _ => return Err(err(path, "a matcher object has exactly one operator")),
    };
    let ok = match name.as_str() {
        "prefix" | "suffix" => arg.is_string() || string_ignore_case(arg).is_some(),
        "equals-ignore-case" | "wildcard" => arg.is_string(),
        "exists" => arg.is_boolean(),
        "anything-but" => match arg {
            Value::String(_) | Value::Number(_) => true,
            Value::Array(a) => !a.is_empty() && a.iter().all(|x| x.is_string() || x.is_number()),
            Value::Object(o) => {
                o.len() == 1
                    && ["prefix", "suffix", "equals-ignore-case"]
                        .iter()
                        .any(|k| o.get(*k).is_some_and(Value::is_string))
            }
            _ => false,
        },
        "numeric" => numeric_ok(arg),
        other => return Err(err(path, format!("unknown operator {other:?}"))),
    };
    if ok {
        Ok(())
    } else {
        Err(err(path, format!("invalid argument for {name:?}: {arg}")))
    }
}

fn string_ignore_case(arg: &Value) -> Option<&str> {
    arg.as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.get("equals-ignore-case"))
        .and_then(Value::as_str)
}

fn numeric_ok(arg: &Value) -> bool {
    let Some(items) = arg.as_array() else { return false };
    if items.is_empty() || items.len() % 2 != 0 || items.len() > 4 {
        return false;
    }
    items
        .chunks(2)
        .all(|c| matches!(c[0].as_str(), Some("=" | "<" | "<=" | ">" | ">=")) && c[1].is_number())
}

fn match_object(pattern: &Map<String, Value>, event: &Value) -> bool {
    pattern.iter().all(|(key, p)| {
        if key == "$or" {
            return p.as_array().is_some_and(|alts| {
                alts.iter()
                    .any(|a| a.as_object().is_some_and(|o| match_object(o, event)))
            });
        }
        let field = event.get(key);
        match p {
            Value::Object(inner) => field.is_some_and(|f| match_object(inner, f)),
            Value::Array(matchers) => matchers.iter().any(|m| match_field(m, field)),
            _ => false,
        }
    })
}

/// One matcher against a field that may be absent or an array (any element may match).
fn match_field(m: &Value, field: Option<&Value>) -> bool {
    if let Some(Value::Object(op)) = Some(m) {
        if let Some(Value::Bool(want)) = op.get("exists") {
            let present = field.is_some_and(|f| !matches!(f, Value::Array(a) if a.is_empty()));
            return present == *want;
        }
        if let Some(arg) = op.get("anything-but") {
            // Absent fields do not match; an array matches when none of its elements is excluded.
            return match field {
                None => false,
                Some(Value::Array(items)) => items.iter().all(|v| !excluded(arg, v)),
                Some(v) => !excluded(arg, v),
            };
        }
    }
    match field {
        None => false,
        Some(Value::Array(items)) => items.iter().any(|v| match_value(m, v)),
        Some(v) => match_value(m, v),
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

fn excluded(arg: &Value, v: &Value) -> bool {
    match arg {
        Value::Array(list) => list.iter().any(|x| same(x, v)),
        Value::Object(o) => match (o.iter().next(), v.as_str()) {
            (Some((op, Value::String(s))), Some(text)) => match op.as_str() {
                "prefix" => text.starts_with(s.as_str()),
                "suffix" => text.ends_with(s.as_str()),
                "equals-ignore-case" => text.to_lowercase() == s.to_lowercase(),
                _ => false,
            },
            _ => false,
        },
        x => same(x, v),
    }
}

fn match_value(m: &Value, v: &Value) -> bool {
    let Value::Object(op) = m else { return same(m, v) };
    let Some((name, arg)) = op.iter().next() else {
        return false;
    };
    let text = v.as_str();
    match name.as_str() {
        "prefix" => text.is_some_and(|t| affix(arg, t, true)),
        "suffix" => text.is_some_and(|t| affix(arg, t, false)),
        "equals-ignore-case" => text
            .zip(arg.as_str())
            .is_some_and(|(t, a)| t.to_lowercase() == a.to_lowercase()),
        "wildcard" => text.zip(arg.as_str()).is_some_and(|(t, a)| wildcard(a, t)),
        "numeric" => v.as_f64().filter(|_| v.is_number()).is_some_and(|x| numeric(arg, x)),
        _ => false,
    }
}

fn affix(arg: &Value, text: &str, prefix: bool) -> bool {
    let (want, fold) = match (arg.as_str(), string_ignore_case(arg)) {
        (Some(s), _) => (s.to_string(), false),
        (None, Some(s)) => (s.to_lowercase(), true),
        _ => return false,
    };
    let text = if fold { text.to_lowercase() } else { text.to_string() };
    if prefix {
        text.starts_with(&want)
    } else {
        text.ends_with(&want)
    }
}

fn numeric(arg: &Value, x: f64) -> bool {
    arg.as_array().is_some_and(|items| {
        items.chunks(2).all(|c| {
            let bound = c.get(1).and_then(Value::as_f64).unwrap_or(f64::NAN);
            match c[0].as_str() {
                Some("=") => x == bound,
                Some("<") => x < bound,
                Some("<=") => x <= bound,
                Some(">") => x > bound,
                Some(">=") => x >= bound,
                _ => false,
            }
        })
    })
}

/// `*` matches any run of characters (including none); `\*` is a literal star.
fn wildcard(pattern: &str, text: &str) -> bool {
    let mut parts: Vec<String> = vec![String::new()];
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'*') => {
                chars.next();
                if let Some(last) = parts.last_mut() {
                    last.push('*');
                }
            }
            '*' => parts.push(String::new()),
            c => {
                if let Some(last) = parts.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    let (first, rest) = parts.split_first().map(|(f, r)| (f.as_str(), r)).unwrap_or(("", &[]));
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for part in middle {
        match remaining.find(part.as_str()) {
            Some(i) => remaining = &remaining[i + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last.as_str())
}

#[cfg(test)]
#[path = "pattern_tests.rs"]
mod tests;
