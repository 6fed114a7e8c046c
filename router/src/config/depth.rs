//! A bound on how deeply a config nests, checked on the text before it is parsed: the YAML
//! parser's time grows with the square of the depth (100,000 levels took 49 s), and no
//! RouterConfig needs more than a dozen. The count is conservative: block indentation levels,
//! the `- ` items that open on one line, and open flow collections (`[`, `{`) outside quotes.

/// The deepest nesting a config may have.
pub const MAX_DEPTH: usize = 64;

/// The deepest nesting in `text`, counted as above, stopping once it passes [`MAX_DEPTH`].
pub fn nesting(text: &str) -> usize {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut deepest = 0usize;
    for line in text.lines() {
        let body = line.trim_start_matches(' ');
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let indent = line.len() - body.len();
        if flow == 0 {
            while indents.last().is_some_and(|i| *i >= indent) {
                indents.pop();
            }
            indents.push(indent);
        }
        let mut rest = body;
        let mut dashes = 0;
        while let Some(r) = rest
            .strip_prefix("- ")
            .or_else(|| rest.strip_prefix('-').filter(|r| r.is_empty()))
        {
            dashes += 1;
            rest = r.trim_start_matches(' ');
        }
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        let mut line_deepest = flow;
        for c in rest.chars() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '#' if prev == ' ' => break,
                    '\'' | '"' if matches!(prev, ' ' | '[' | '{' | ',' | ':') => quote = Some(c),
                    '[' | '{' => {
                        flow += 1;
                        line_deepest = line_deepest.max(flow);
                    }
                    ']' | '}' => flow = flow.saturating_sub(1),
                    _ => {}
                },
            }
            prev = c;
        }
        deepest = deepest.max(indents.len() + dashes + line_deepest);
        if deepest > MAX_DEPTH {
            return deepest;
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_configs_are_shallow_and_deep_ones_are_counted() {
        let cfg =
            "apiVersion: x\neventProvider:\n  vcenter:\n    auth:\n      basicAuth: {username: u, password: 'p[{'}\n";
        assert!(nesting(cfg) <= 6, "{}", nesting(cfg));
        let flow = format!("a: {}1{}", "[".repeat(100), "]".repeat(100));
        assert!(nesting(&flow) > MAX_DEPTH);
        let block: String = (0..100).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
        assert!(nesting(&block) > MAX_DEPTH);
        let dashes = format!("a:\n  {}x\n", "- ".repeat(100));
        assert!(nesting(&dashes) > MAX_DEPTH);
        assert!(nesting("a: \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"\n") < 3);
    }
}
