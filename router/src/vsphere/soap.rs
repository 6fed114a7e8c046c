//! SOAP envelopes and faults for the vim25 API.

use super::xml::{self, Element, Path, XmlError};

/// Errors from one SOAP call.
#[derive(Debug, thiserror::Error)]
pub enum SoapError {
    /// The server answered with a SOAP fault (`NotAuthenticated`, `InvalidLogin`, ...).
    #[error("vCenter fault {name}: {message}")]
    Fault { name: String, message: String },
    #[error("cannot reach vCenter at {url}: {detail}")]
    Transport { url: String, detail: String },
    #[error("vCenter at {url} answered HTTP {status} without a SOAP body")]
    Http { url: String, status: u16 },
    /// The router follows no redirect, so the Login body (the password) is never sent
    /// anywhere but the configured address.
    #[error("vCenter at {url} answered HTTP {status}, a redirect to {location}: the router does not follow redirects (the login would go elsewhere); set the address to the vCenter's own SDK URL")]
    Redirect { url: String, status: u16, location: String },
    /// An answer over the size the caller allows (vcsim queues every page change while no
    /// wait is pending and sends them all at once).
    #[error("vCenter at {url} sent an answer over {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("unreadable vCenter response: {0}")]
    Xml(#[from] XmlError),
    #[error("unexpected vCenter response: {0}")]
    Protocol(String),
}

impl SoapError {
    /// The session is gone (expired, ended by an administrator, vCenter restarted).
    pub fn is_not_authenticated(&self) -> bool {
        matches!(self, SoapError::Fault { name, .. } if name == "NotAuthenticated")
    }

    /// Wrong user name or password.
    pub fn is_invalid_login(&self) -> bool {
        matches!(self, SoapError::Fault { name, .. } if name == "InvalidLogin")
    }

    /// The managed object no longer exists (e.g. a collector that died with its session).
    pub fn is_managed_object_not_found(&self) -> bool {
        matches!(self, SoapError::Fault { name, .. } if name == "ManagedObjectNotFound")
    }
}

/// Wraps a method body in a SOAP envelope.
pub fn envelope(body: &str) -> String {
    let mut s = String::with_capacity(body.len() + 200);
    s.push_str(r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>"#);
    s.push_str(body);
    s.push_str("</soapenv:Body></soapenv:Envelope>");
    s
}

/// A managed object reference as `<tag type="T">value</tag>`.
pub fn moref(tag: &str, ty: &str, value: &str) -> String {
    format!(r#"<{tag} type="{}">{}</{tag}>"#, xml::escape(ty), xml::escape(value))
}

/// A text element.
pub fn text(tag: &str, value: &str) -> String {
    format!("<{tag}>{}</{tag}>", xml::escape(value))
}

/// Extracts the response element (first child of Body) or the fault it carries.
pub fn parse_response(doc: &str) -> Result<Element, SoapError> {
    response(xml::parse(doc)?)
}

/// [`parse_response`], leaving the elements `lazy` accepts as text (see [`xml::parse_lazy`]).
pub fn parse_response_lazy(doc: String, lazy: impl Fn(&Path<'_>) -> bool) -> Result<Element, SoapError> {
    response(xml::parse_lazy(doc, lazy)?)
}

fn response(root: Element) -> Result<Element, SoapError> {
    let body = root
        .children
        .into_iter()
        .find(|c| c.name == "Body")
        .ok_or_else(|| SoapError::Protocol("no SOAP Body".into()))?;
    let first = body
        .children
        .into_iter()
        .next()
        .ok_or_else(|| SoapError::Protocol("empty SOAP Body".into()))?;
    if first.name == "Fault" {
        return Err(fault(&first));
    }
    Ok(first)
}

fn fault(el: &Element) -> SoapError {
    let message = el.child_text("faultstring").unwrap_or_default().trim().to_string();
    let detail = el.child("detail").and_then(|d| d.children.first());
    let name = detail
        .and_then(|d| d.xsi_type.clone())
        .or_else(|| detail.map(|d| d.name.trim_end_matches("Fault").to_string()))
        .unwrap_or_else(|| "ServerFault".to_string());
    let name = name.rsplit(':').next().unwrap_or(&name).to_string();
    let message = if message.is_empty() {
        detail
            .and_then(|d| d.child_text("msg").or_else(|| d.child_text("invalidProperty")))
            .map(str::to_string)
            .unwrap_or_default()
    } else {
        message
    };
    // Server-supplied text goes into log lines: no control character may forge a line.
    SoapError::Fault {
        name: crate::redact::printable(&name).into_owned(),
        message: crate::redact::printable(&message).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_authenticated_fault_from_vcsim() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring></faultstring><detail><NotAuthenticatedFault xmlns="urn:vim25" xsi:type="NotAuthenticated"><object type="EventManager">EventManager</object><privilegeId>System.View</privilegeId></NotAuthenticatedFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#;
        let err = parse_response(doc).unwrap_err();
        assert!(err.is_not_authenticated(), "{err:?}");
    }

    #[test]
    fn invalid_login_fault_carries_message() {
        let doc = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Login failure</faultstring><detail><InvalidLoginFault xmlns="urn:vim25" xsi:type="InvalidLogin"></InvalidLoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#;
        let err = parse_response(doc).unwrap_err();
        assert!(err.is_invalid_login());
        assert_eq!(err.to_string(), "vCenter fault InvalidLogin: Login failure");
    }

    #[test]
    fn response_element_is_returned() {
        let doc = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><CurrentTimeResponse xmlns="urn:vim25"><returnval>2026-11-22T02:37:06.5Z</returnval></CurrentTimeResponse></soapenv:Body></soapenv:Envelope>"#;
        let r = parse_response(doc).unwrap();
        assert_eq!(r.name, "CurrentTimeResponse");
        assert_eq!(r.child_text("returnval"), Some("2026-11-22T02:37:06.5Z"));
    }

    #[test]
    fn envelope_escapes_text() {
        assert_eq!(text("password", "a<b&c"), "<password>a&lt;b&amp;c</password>");
        assert!(envelope("<X/>").contains("<soapenv:Body><X/></soapenv:Body>"));
    }
}
