//! Text made safe to print on a console or append to a log when part of it may come from the OVF
//! environment (a key, a value, an error quoting them): nothing in it can end the line, move the
//! terminal's cursor or pose as another line.

/// `text` on one physical line: newline, carriage return and tab are written `\n`, `\r`, `\t`;
/// every other control character (C0, DEL, C1) and the Unicode line and paragraph separators as
/// `\u{1b}`-style escapes (Rust's notation). Everything else is unchanged.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

/// A property key as text that cannot end a line or pose as another key: any character outside
/// `[A-Za-z0-9_.-]` is written as a `\u{..}` escape.
pub fn key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        if c.is_ascii_alphanumeric() || "_.-".contains(c) {
            out.push(c);
        } else {
            out.extend(c.escape_unicode());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_escapes_on_one_line() {
        let forged = "guestinfo.x\n[2026-01-01T00:00:00Z] firstboot: run ok\r\u{1b}[2J\u{7f}\u{85}\u{2028}\tend";
        let shown = one_line(forged);
        assert_eq!(
            shown,
            "guestinfo.x\\n[2026-01-01T00:00:00Z] firstboot: run ok\\r\\u{1b}[2J\\u{7f}\\u{85}\\u{2028}\\tend"
        );
        assert_eq!(shown.lines().count(), 1);
        assert_eq!(
            one_line("plain text: ünïcode, \\n stays"),
            "plain text: ünïcode, \\n stays"
        );
    }

    #[test]
    fn keys_keep_only_their_plain_characters() {
        assert_eq!(key("vcenter_server.x-1"), "vcenter_server.x-1");
        assert_eq!(key("a\nb c"), "a\\u{a}b\\u{20}c");
    }
}
