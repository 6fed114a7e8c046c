//! A secret string (password, key) that never reaches a log line: `Debug` and `Display`
//! print a placeholder and serialization writes the placeholder too, except inside
//! [`Secret::revealed`] (firstboot writing the config file the router will read).

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

thread_local! {
    /// Set only while [`Secret::revealed`] runs its closure on this thread.
    static REVEAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Runs `f` with secrets serialized as themselves on this thread (and only for its
    /// duration): for writing a configuration file, never for a log, page or status.
    pub fn revealed<T>(f: impl FnOnce() -> T) -> T {
        struct Reset(bool);
        impl Drop for Reset {
            fn drop(&mut self) {
                REVEAL.with(|r| r.set(self.0));
            }
        }
        let _reset = Reset(REVEAL.with(|r| r.replace(true)));
        f()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if REVEAL.with(|r| r.get()) {
            s.serialize_str(&self.0)
        } else {
            s.serialize_str("<redacted>")
        }
    }
}

impl JsonSchema for Secret {
    fn schema_name() -> String {
        "Secret".into()
    }
    fn json_schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        String::json_schema(gen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        assert!(!serde_json::to_string(&s).unwrap().contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn revealed_only_inside_the_closure_and_only_when_serialized() {
        let s = Secret::new("hunter2");
        let inside = Secret::revealed(|| (serde_json::to_string(&s).unwrap(), format!("{s:?} {s}")));
        assert_eq!(inside.0, "\"hunter2\"");
        assert!(!inside.1.contains("hunter2"), "Debug and Display stay redacted");
        assert!(!serde_json::to_string(&s).unwrap().contains("hunter2"));
        let nested = Secret::revealed(|| Secret::revealed(|| serde_json::to_string(&s).unwrap()));
        assert_eq!(nested, "\"hunter2\"");
        assert!(
            !serde_json::to_string(&s).unwrap().contains("hunter2"),
            "reset after nesting"
        );
        let panicked = std::panic::catch_unwind(|| Secret::revealed(|| panic!("boom")));
        assert!(panicked.is_err());
        assert!(
            !serde_json::to_string(&s).unwrap().contains("hunter2"),
            "reset after a panic"
        );
    }
}
