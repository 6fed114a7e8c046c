//! The README's property table, generated from the schema.

use crate::{Kind, PROPERTIES};

/// Markers around the generated table in README.md.
pub const BEGIN: &str = "<!-- BEGIN OVF PROPERTIES (generated: cargo run -p ovf --bin ova -- properties-table) -->";
pub const END: &str = "<!-- END OVF PROPERTIES -->";

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "text",
        Kind::Password => "password",
        Kind::Bool => "true/false",
        Kind::Port => "port",
        Kind::Seconds => "seconds",
        Kind::Ip => "IPv4 address",
        Kind::Prefix => "prefix length",
        Kind::Fqdn => "FQDN",
        Kind::HostPort => "host[:port]",
        Kind::HostPortList => "host[:port] list",
        Kind::Domain => "DNS domain",
        Kind::Host => "host name or IP",
        Kind::IpList => "IPv4 addresses",
        Kind::HostList => "hosts",
        Kind::Url => "URL",
        Kind::Cidr => "CIDR",
        Kind::Choice => "choice",
        Kind::Base64Pem => "Base64 PEM",
        Kind::AwsRegion => "AWS region",
        Kind::RuleArns => "rule ARNs",
    }
}

/// The Markdown table of every property, in form order.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| category | key | label | kind | default | description |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for p in PROPERTIES {
        let kind = if p.values.is_empty() {
            kind_name(p.kind).to_string()
        } else {
            p.values.join(", ")
        };
        let required = if p.required { " (required)" } else { "" };
        let default = if p.default.is_empty() {
            String::new()
        } else {
            format!("`{}`", p.default)
        };
        out.push_str(&format!(
            "| {} | `guestinfo.{}` | {}{required} | {kind} | {default} | {} |\n",
            p.category, p.key, p.label, p.description
        ));
    }
    out
}

/// The whole generated block, markers included.
pub fn readme_block() -> String {
    format!("{BEGIN}\n{}{END}", markdown_table())
}

/// Where the deployment properties example lives (the deploy scripts' input).
pub const PROPERTIES_EXAMPLE: &str = "scripts/appliance.properties.example";

/// The deploy scripts' properties file: every property as `guestinfo.<key>=<default>`, grouped
/// by category, each with its label and description as a comment.
pub fn properties_example() -> String {
    let mut out = String::from(
        "# Event Broker Appliance deployment properties for scripts/deploy-ovftool.sh and
# scripts/deploy-govc.sh: one `guestinfo.<key>=<value>` per line, the value is everything after
# the first `=` (no quotes needed). An empty value keeps the appliance's default. Generated from
# the OVF property schema (cargo run -p ovf --bin ova -- properties-example); keep your copy
# private: it holds passwords.
",
    );
    let mut category = "";
    for p in PROPERTIES {
        if p.category != category {
            category = p.category;
            out.push_str(&format!("\n## {category}\n"));
        }
        let mut notes = Vec::new();
        if p.required {
            notes.push("required".to_string());
        }
        if p.secret() {
            notes.push("secret".to_string());
        }
        if !p.values.is_empty() {
            notes.push(format!("one of: {}", p.values.join(", ")));
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join("; "))
        };
        out.push_str(&format!(
            "# {}{notes}: {}\n{}={}\n",
            p.label,
            p.description,
            p.ovf_key(),
            p.default
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_example_matches_the_schema() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/appliance.properties.example");
        let file = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            file == properties_example(),
            "{PROPERTIES_EXAMPLE} is out of date: run `cargo run -p ovf --bin ova -- properties-example > {PROPERTIES_EXAMPLE}`"
        );
    }

    #[test]
    fn readme_table_matches_the_schema() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        let start = readme.find(BEGIN).expect("README lacks the OVF properties block");
        let end = readme.find(END).expect("README lacks the end marker") + END.len();
        assert!(
            readme[start..end] == readme_block(),
            "README's OVF property table is out of date: run `cargo run -p ovf --bin ova -- properties-table` and paste it"
        );
    }
}
