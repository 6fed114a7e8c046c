//! Text that leaves the router (log lines, /stats) made safe: credentials inside URLs
//! (`https://user:secret@host`) replaced, and server-supplied strings (vCenter fault messages,
//! error bodies) with their control characters escaped, so a newline from a server cannot forge
//! a log line.

use std::borrow::Cow;

/// `text` with the user information of every `scheme://user:pass@host` in it replaced by
/// `***@`.
pub fn url_credentials(text: &str) -> Cow<'_, str> {
    if !text.contains("://") || !text.contains('@') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or white space.
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == ')' || c == '"')
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&tail[at..end]);
            }
            None => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// `text` with control characters (newlines included) written as escapes (`\n`, `\u{1b}`).
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_replaced() {
        assert_eq!(url_credentials("http://broker.local/x"), "http://broker.local/x");
        assert_eq!(
            url_credentials("error sending request for url (http://admin:S3cr3t@gw:8080/function/x): refused"),
            "error sending request for url (http://***@gw:8080/function/x): refused"
        );
        assert_eq!(
            url_credentials("https://u@h https://a:b@c?q=1"),
            "https://***@h https://***@c?q=1"
        );
        assert_eq!(
            url_credentials("mail me@x, see https://h/p@q"),
            "mail me@x, see https://h/p@q"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("plain"), "plain");
        assert_eq!(
            printable("bad login\n2026-12-01T00:00:00Z INFO forged"),
            "bad login\\n2026-12-01T00:00:00Z INFO forged"
        );
        assert_eq!(printable("a\u{1b}[31mred\r"), "a\\u{1b}[31mred\\r");
    }
}
