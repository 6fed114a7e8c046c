//! A Knative destination URI: a plain URL string, or VEBA's object form mirroring Go's
//! `net/url.URL` (`uri: {scheme: http, host: broker.corp.local, path: /default}`).

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Uri {
    Url(String),
    Object(UrlObject),
}

/// Go's `url.URL` fields as VEBA's YAML spells them (lower case).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UrlObject {
    #[serde(default)]
    pub scheme: String,
    #[serde(default)]
    pub opaque: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub path: String,
    #[serde(default, alias = "rawPath")]
    pub rawpath: String,
    #[serde(default, alias = "forceQuery")]
    pub forcequery: bool,
    #[serde(default, alias = "rawQuery")]
    pub rawquery: String,
    #[serde(default)]
    pub fragment: String,
    #[serde(default, alias = "rawFragment")]
    pub rawfragment: String,
}

impl Uri {
    /// The URL as text (`scheme://host/path?query#fragment` for the object form).
    pub fn to_url_string(&self) -> String {
        match self {
            Uri::Url(s) => s.clone(),
            Uri::Object(o) => {
                let mut s = String::new();
                if !o.scheme.is_empty() {
                    s.push_str(&o.scheme);
                    s.push(':');
                }
                if !o.opaque.is_empty() {
                    s.push_str(&o.opaque);
                } else {
                    if !o.host.is_empty() || !o.scheme.is_empty() {
                        s.push_str("//");
                        s.push_str(&o.host);
                    }
                    let path = if o.rawpath.is_empty() { &o.path } else { &o.rawpath };
                    if !path.is_empty() && !path.starts_with('/') && !o.host.is_empty() {
                        s.push('/');
                    }
                    s.push_str(path);
                }
                if !o.rawquery.is_empty() || o.forcequery {
                    s.push('?');
                    s.push_str(&o.rawquery);
                }
                let frag = if o.rawfragment.is_empty() {
                    &o.fragment
                } else {
                    &o.rawfragment
                };
                if !frag.is_empty() {
                    s.push('#');
                    s.push_str(frag);
                }
                s
            }
        }
    }
}

impl<'de> Deserialize<'de> for Uri {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Uri;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a URL string or an object with scheme, host and path")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Uri, E> {
                Ok(Uri::Url(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Uri, A::Error> {
                UrlObject::deserialize(de::value::MapAccessDeserializer::new(map)).map(Uri::Object)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_and_string_forms() {
        let u: Uri = serde_norway::from_str("{scheme: http, host: mybroker.corp.local, path: /ns/default}").unwrap();
        assert_eq!(u.to_url_string(), "http://mybroker.corp.local/ns/default");
        let u: Uri = serde_norway::from_str("{host: b:8080, scheme: https}").unwrap();
        assert_eq!(u.to_url_string(), "https://b:8080");
        let u: Uri = serde_norway::from_str("http://x/y").unwrap();
        assert_eq!(u.to_url_string(), "http://x/y");
        let err = serde_norway::from_str::<Uri>("{scheme: http, hots: x}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `hots`"), "{err}");
    }
}
