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

#[cfg(test)]
mod tests {
    use super::*;

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
