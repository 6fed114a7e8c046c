//! A bound on how deeply a config nests, checked before serde_norway builds a RouterConfig:
//! the YAML parser's time grows with the square of the depth (100,000 levels took 49 s), and no
//! RouterConfig needs more than a dozen. The depth is measured by the parser serde_norway itself
//! runs (libyaml, through unsafe-libyaml-norway), event by event, and the measure stops as soon as
//! the nesting passes [`MAX_DEPTH`]: quotes, comments, tags and block scalars count exactly as
//! the parser reads them, so no spelling of the text hides a level. Below the limit the parser's
//! work per character is bounded, so the check takes time linear in the text's length.
//!
//! An earlier version counted brackets and indentation on the text, tracking quotes line by
//! line: a quoted string running over a line end, or a `'` inside a plain scalar (`b:'x`), hid
//! the nesting that followed. Counting brackets without regard to quotes is not sound either:
//! a `]` inside a quoted string (`[ "]", [ "]", ...`) cancels a real `[`.

use std::marker::PhantomData;
use std::mem::MaybeUninit;

use unsafe_libyaml_norway as unsafe_yaml;

/// The deepest nesting a config may have.
pub const MAX_DEPTH: usize = 64;

/// The deepest nesting of mappings and sequences (block or flow) in `text`, as the YAML parser
/// reads it, stopping once it passes [`MAX_DEPTH`]. Text the parser cannot read is measured up
/// to where it fails; serde_norway then reports that error.
pub fn nesting(text: &str) -> usize {
    let Some(mut parser) = Parser::new(text) else {
        // libyaml could not start (this port never fails here): refuse rather than parse blind.
        return MAX_DEPTH + 1;
    };
    let (mut depth, mut deepest) = (0usize, 0usize);
    while let Some(kind) = parser.next_event() {
        match kind {
            unsafe_yaml::YAML_SEQUENCE_START_EVENT | unsafe_yaml::YAML_MAPPING_START_EVENT => {
                depth += 1;
                deepest = deepest.max(depth);
                if deepest > MAX_DEPTH {
                    break;
                }
            }
            unsafe_yaml::YAML_SEQUENCE_END_EVENT | unsafe_yaml::YAML_MAPPING_END_EVENT => {
                depth = depth.saturating_sub(1)
            }
            unsafe_yaml::YAML_STREAM_END_EVENT | unsafe_yaml::YAML_NO_EVENT => break,
            _ => {}
        }
    }
    deepest
}

/// A libyaml event parser reading `text` (borrowed for `'a`); freed when dropped.
struct Parser<'a> {
    /// On the heap so it never moves: libyaml keeps a pointer to the parser inside it.
    raw: Box<MaybeUninit<unsafe_yaml::yaml_parser_t>>,
    text: PhantomData<&'a str>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Option<Parser<'a>> {
        let mut raw = Box::new(MaybeUninit::<unsafe_yaml::yaml_parser_t>::uninit());
        let parser = raw.as_mut_ptr();
        // SAFETY: `parser` points to memory `raw` owns for as long as the returned Parser lives;
        // yaml_parser_initialize fills it in before anything reads it. The input pointer and
        // length describe `text`, which outlives the Parser (`'a`), and libyaml only reads it.
        unsafe {
            if unsafe_yaml::yaml_parser_initialize(parser).fail {
                return None;
            }
            unsafe_yaml::yaml_parser_set_encoding(parser, unsafe_yaml::YAML_UTF8_ENCODING);
            unsafe_yaml::yaml_parser_set_input_string(parser, text.as_ptr(), text.len() as u64);
        }
        Some(Parser { raw, text: PhantomData })
    }

    /// The next event's type; `None` once the parser has failed (a syntax error).
    fn next_event(&mut self) -> Option<unsafe_yaml::yaml_event_type_t> {
        let mut slot = MaybeUninit::<unsafe_yaml::yaml_event_t>::uninit();
        let event = slot.as_mut_ptr();
        // SAFETY: the parser was initialised in `new` and only this Parser uses it. `event`
        // points to writable memory that yaml_parser_parse zeroes, then fills in; on success the
        // event's strings are freed with yaml_event_delete before `slot` goes away, and on
        // failure nothing was allocated in it.
        unsafe {
            if unsafe_yaml::yaml_parser_parse(self.raw.as_mut_ptr(), event).fail {
                return None;
            }
            let kind = (*event).type_;
            unsafe_yaml::yaml_event_delete(event);
            Some(kind)
        }
    }
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        // SAFETY: a Parser exists only once `new` initialised it; it is deleted once, here.
        unsafe { unsafe_yaml::yaml_parser_delete(self.raw.as_mut_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn real_configs_are_shallow_and_deep_ones_are_counted() {
        let cfg =
            "apiVersion: x\neventProvider:\n  vcenter:\n    auth:\n      basicAuth: {username: u, password: 'p[{'}\n";
        assert_eq!(nesting(cfg), 5, "the root, eventProvider, vcenter, auth, basicAuth");
        let flow = format!("a: {}", nested(100));
        assert!(nesting(&flow) > MAX_DEPTH);
        let block: String = (0..100).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
        assert!(nesting(&block) > MAX_DEPTH);
        let dashes = format!("a:\n  {}x\n", "- ".repeat(100));
        assert!(nesting(&dashes) > MAX_DEPTH);
        assert_eq!(nesting(&format!("a: {}\n", nested(MAX_DEPTH - 1))), MAX_DEPTH);
    }

    #[test]
    fn brackets_inside_strings_comments_and_block_scalars_are_not_levels() {
        let quoted = format!("a: \"{}\"\nb: '{}'\n", "[".repeat(100), "{".repeat(100));
        assert_eq!(nesting(&quoted), 1);
        let comment = format!("a: 1 # {}\n", "[".repeat(100));
        assert_eq!(nesting(&comment), 1);
        let script = format!("a: |\n  {}\nb: 2\n", "[".repeat(100));
        assert_eq!(nesting(&script), 1);
    }

    #[test]
    fn a_quoted_string_over_a_line_end_hides_nothing() {
        // The first repro: took 71 s to validate when quotes were forgotten at each line end.
        let text = format!("notes: [\"x\n  \", {}]\n", nested(100_000));
        assert!(nesting(&text) > MAX_DEPTH);
        let single = format!("notes: ['x\n  ', {}]\n", nested(100_000));
        assert!(nesting(&single) > MAX_DEPTH);
    }

    #[test]
    fn a_quote_inside_a_plain_scalar_hides_nothing() {
        // The second repro: `'` after `:` in a plain scalar was taken to open a string (3 s).
        let text = format!("notes: [b:'x, {}]\n", nested(20_000));
        assert!(nesting(&text) > MAX_DEPTH);
    }

    #[test]
    fn closing_brackets_in_strings_and_comments_cancel_no_level() {
        // What a count that ignores quotes would miss: each `]` here is text, not a level's end.
        let strings = format!("a: {}1{}\n", "[ \"]\", ".repeat(1_000), "]".repeat(1_000));
        assert!(nesting(&strings) > MAX_DEPTH);
        let comments = format!("a: {}1{}\n", "[ # ]\n  ".repeat(1_000), "]".repeat(1_000));
        assert!(nesting(&comments) > MAX_DEPTH);
        let tags = format!("a: {}1{}\n", "[ !<]> x, ".repeat(1_000), "]".repeat(1_000));
        assert!(nesting(&tags) > MAX_DEPTH);
    }

    #[test]
    fn the_repros_are_refused_with_the_limit_named() {
        for text in [
            format!("notes: [\"x\n  \", {}]\n", nested(100_000)),
            format!("notes: [b:'x, {}]\n", nested(20_000)),
        ] {
            let err = crate::config::RouterConfig::from_yaml(&text, "c")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("nests deeper than 64 levels"), "{err}");
        }
    }

    #[test]
    fn text_the_parser_rejects_is_measured_up_to_the_error() {
        assert_eq!(nesting("a: [1, 2\n"), 2);
        assert_eq!(nesting(""), 0);
        assert_eq!(nesting("[[[["), 4);
    }
}
