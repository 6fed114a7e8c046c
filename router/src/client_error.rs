//! One-line descriptions of client errors, with the cause chain that reqwest hides, and no
//! credential from a URL in them.

/// Walks an error's source chain into one line (`a: b: c`), skipping repeated messages;
/// credentials inside URLs are replaced and control characters escaped.
pub fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let text = chain(e);
    crate::redact::printable(&crate::redact::url_credentials(&text)).into_owned()
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = s.source();
    }
    out
}
