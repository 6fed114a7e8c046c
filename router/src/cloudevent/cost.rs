//! What an event costs in memory while it is held (queued, retried): the estimate the webhook
//! charges to its memory budget. It counts the event's own structure, every attribute and
//! extension with its allocation overhead, and the data: its bytes, or for a JSON tree (a 0.3
//! event read by the SDK) every node.

use cloudevents::event::ExtensionValue;
use cloudevents::{AttributesReader, Data, Event};
use serde_json::Value;

/// The event, its attributes' string headers and the time, before any text.
const EVENT: usize = 512;
/// One extension: its map entry, name and value headers.
const EXTENSION: usize = 96;
/// One JSON value in a tree (`serde_json::Value` is 32 bytes).
const NODE: usize = 32;
/// One object member besides its value: the map entry and the key's header.
const MEMBER: usize = 64;

/// The bytes `ev` holds, estimated from above.
pub fn held_bytes(ev: &Event) -> usize {
    let mut n = EVENT
        + ev.id().len()
        + ev.source().len()
        + ev.ty().len()
        + ev.subject().map_or(0, str::len)
        + ev.datacontenttype().map_or(0, str::len)
        + ev.dataschema().map_or(0, |u| u.as_str().len());
    for (name, value) in ev.iter_extensions() {
        n += EXTENSION
            + name.len()
            + match value {
                ExtensionValue::String(s) => s.len(),
                _ => 0,
            };
    }
    n + match ev.data() {
        None => 0,
        Some(Data::Binary(b)) => b.len(),
        Some(Data::String(s)) => s.len(),
        Some(Data::Json(v)) => tree_bytes(v),
    }
}

/// A JSON tree's bytes: every node, string and key (walked without recursion).
fn tree_bytes(v: &Value) -> usize {
    let mut n = 0;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        n += NODE;
        match v {
            Value::String(s) => n += s.len(),
            Value::Array(items) => stack.extend(items.iter()),
            Value::Object(members) => {
                for (k, v) in members {
                    n += MEMBER + k.len();
                    stack.push(v);
                }
            }
            _ => {}
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    fn event() -> Event {
        EventBuilderV10::new().id("1").source("urn:x").ty("t").build().unwrap()
    }

    #[test]
    fn a_tree_costs_more_than_its_text_and_extensions_count() {
        let plain = held_bytes(&event());
        assert!(plain >= EVENT);
        let zeros = format!("[{}0]", "0,".repeat(9999)).into_bytes();
        let mut text = event();
        text.set_data_unchecked(Data::Binary(zeros.clone()));
        let mut tree = event();
        tree.set_data_unchecked(Data::Json(serde_json::from_slice(&zeros).unwrap()));
        assert_eq!(held_bytes(&text), plain + zeros.len());
        assert!(held_bytes(&tree) >= plain + 10_000 * NODE, "{}", held_bytes(&tree));
        let mut ext = event();
        ext.set_extension("a", "xyz");
        assert_eq!(held_bytes(&ext), plain + EXTENSION + 1 + 3);
    }
}
