//! OVF environment documents (DSP0243 `<Environment>`, what vSphere hands the VM through
//! guestinfo.ovfEnv or on the ISO transport's CD-ROM) made from a deploy-script properties file
//! (`scripts/appliance.properties.example`'s format), for booting the appliance outside vSphere
//! (`ova ovf-env`, the smoke test's ISO).

use crate::descriptor::esc;
use crate::property;

/// Why a properties file cannot become an environment.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PropertiesError {
    #[error("line {line}: expected guestinfo.<key>=<value>")]
    Syntax { line: usize },
    #[error("line {line}: guestinfo.{key} is not a property of this appliance (see `ova properties-example`)")]
    Unknown { line: usize, key: String },
    #[error("line {line}: guestinfo.{key} is set twice")]
    Duplicate { line: usize, key: String },
}

/// The properties a file sets (non-empty values, in file order), read as the deploy scripts'
/// `read_properties` reads them: `guestinfo.<key>=<value>` lines, `#` comments, blank lines;
/// the value is everything after the first `=`.
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, PropertiesError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim_end_matches('\r');
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .and_then(|(k, v)| Some((k.strip_prefix("guestinfo.")?, v)))
            .filter(|(k, _)| {
                !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            })
            .ok_or(PropertiesError::Syntax { line: line_no })?;
        if property(key).is_none() {
            return Err(PropertiesError::Unknown {
                line: line_no,
                key: key.to_string(),
            });
        }
        if out.iter().any(|(k, _)| k == key) {
            return Err(PropertiesError::Duplicate {
                line: line_no,
                key: key.to_string(),
            });
        }
        if !value.is_empty() {
            out.push((key.to_string(), value.to_string()));
        }
    }
    Ok(out)
}

/// The environment document with these properties (keys without `guestinfo.`).
pub fn document(props: &[(String, String)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<Environment xmlns=\"http://schemas.dmtf.org/ovf/environment/1\" xmlns:oe=\"http://schemas.dmtf.org/ovf/environment/1\" oe:id=\"\">
   <PlatformSection>
      <Kind>ova ovf-env</Kind>
      <Locale>en</Locale>
   </PlatformSection>
   <PropertySection>
",
    );
    for (key, value) in props {
        s.push_str(&format!(
            "      <Property oe:key=\"guestinfo.{}\" oe:value=\"{}\"/>\n",
            esc(key),
            esc(value)
        ));
    }
    s.push_str("   </PropertySection>\n</Environment>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_properties_file_becomes_an_escaped_environment() {
        let props = parse_properties(
            "# comment\n\nguestinfo.hostname=veba.corp.local\r\nguestinfo.root_password=a=b&\"<c>\nguestinfo.dns=\n",
        )
        .unwrap();
        assert_eq!(
            props,
            vec![
                ("hostname".to_string(), "veba.corp.local".to_string()),
                ("root_password".to_string(), "a=b&\"<c>".to_string()),
            ]
        );
        let doc = document(&props);
        assert!(doc.contains("oe:key=\"guestinfo.root_password\" oe:value=\"a=b&amp;&quot;&lt;c&gt;\""));
    }

    #[test]
    fn bad_lines_are_named() {
        assert_eq!(parse_properties("hostname=x"), Err(PropertiesError::Syntax { line: 1 }));
        assert_eq!(
            parse_properties("\nguestinfo.=x"),
            Err(PropertiesError::Syntax { line: 2 })
        );
        assert_eq!(
            parse_properties("guestinfo.hostnme=x"),
            Err(PropertiesError::Unknown {
                line: 1,
                key: "hostnme".into()
            })
        );
        assert_eq!(
            parse_properties("guestinfo.hostname=a\nguestinfo.hostname=b"),
            Err(PropertiesError::Duplicate {
                line: 2,
                key: "hostname".into()
            })
        );
    }
}
