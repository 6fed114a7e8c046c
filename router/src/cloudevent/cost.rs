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
/// One JSON value in a tree (80 bytes with serde_json's `preserve_order`, which this workspace
/// turns on).
const NODE: usize = std::mem::size_of::<Value>();
/// One object member besides its value: the map entry (hash, key header), its index, and the
/// key's allocation.
const MEMBER: usize = 64;
/// One heap allocation's bookkeeping and rounding, at least.
const ALLOCATION: usize = 16;

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

/// A JSON tree's bytes: the root, every array's buffer (its capacity: a parsed array has up
/// to twice its length), every object's entries (counted at twice their number, as a grown
/// map may hold), strings and keys (walked without recursion).
fn tree_bytes(v: &Value) -> usize {
    let mut n = NODE;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => n += ALLOCATION + s.capacity(),
            Value::Array(items) => {
                n += ALLOCATION + items.capacity() * NODE;
                stack.extend(items.iter());
            }
            Value::Object(members) => {
                n += ALLOCATION * 2;
                for (k, v) in members {
                    n += 2 * (NODE + MEMBER) + ALLOCATION + k.capacity();
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
