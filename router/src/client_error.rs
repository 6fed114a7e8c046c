//! One-line descriptions of client errors, with the cause chain that reqwest hides.

/// Walks an error's source chain into one line (`a: b: c`), skipping repeated messages.
pub fn describe(e: &(dyn std::error::Error + 'static)) -> String {
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
