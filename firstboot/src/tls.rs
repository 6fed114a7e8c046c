//! The appliance's TLS certificate: checking a given certificate and key (they parse, the key
//! matches the certificate), reading what a certificate covers, and making a self-signed one
//! whose SANs are the appliance's FQDN and IP.

use std::net::{IpAddr, Ipv4Addr};

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::ber::BerObjectContent;
use x509_parser::der_parser::der::parse_der;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

/// Why a certificate or key is not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TlsError {
    #[error("is not a PEM certificate: {0}")]
    Cert(String),
    #[error("is not a PEM private key (PKCS#8, RSA or EC): {0}")]
    Key(String),
    #[error("does not match the private key: the certificate's public key is a different key")]
    Mismatch,
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(String),
    /// A trusted-CA bundle that is not only certificates.
    #[error("{0}")]
    Bundle(String),
}

/// What a certificate covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// DNS names and IP addresses from the subjectAltName extension.
    pub names: Vec<String>,
    /// The end of its validity, in seconds since the epoch.
    pub not_after: i64,
}

/// One certificate of a trusted-CA bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaCert {
    /// Its subject, e.g. `CN=CA, DC=vsphere, DC=local, C=US`.
    pub subject: String,
    /// DNS names and IPv4 addresses from the subjectAltName extension.
    pub names: Vec<String>,
    /// Its validity, in seconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// basicConstraints CA:TRUE: it may issue the servers' certificates.
    pub is_ca: bool,
}

/// Why a PEM text could not be read (the caller says whether it was the certificate or the key).
#[derive(Debug)]
struct PemError(String);

fn pem_blocks(pem: &str) -> Result<Vec<Pem>, PemError> {
    let mut out = Vec::new();
    for block in Pem::iter_from_buffer(pem.as_bytes()) {
        out.push(block.map_err(|e| PemError(e.to_string()))?);
    }
    if out.is_empty() {
        return Err(PemError("no PEM block found".into()));
    }
    Ok(out)
}

/// Parses the first certificate of a PEM chain: its names, expiry and public key bits.
fn leaf(cert_pem: &str) -> Result<(CertInfo, Vec<u8>), TlsError> {
    let blocks = pem_blocks(cert_pem).map_err(|PemError(e)| TlsError::Cert(e))?;
    let block = blocks
        .iter()
        .find(|b| b.label == "CERTIFICATE")
        .ok_or_else(|| TlsError::Cert("no CERTIFICATE block".into()))?;
    let cert = block.parse_x509().map_err(|e| TlsError::Cert(e.to_string()))?;
    let info = CertInfo {
        names: san_names(&cert),
        not_after: cert.validity().not_after.timestamp(),
    };
    Ok((info, cert.public_key().subject_public_key.data.to_vec()))
}

/// The DNS names and IPv4 addresses of a certificate's subjectAltName.
fn san_names(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => names.push(d.to_string()),
                GeneralName::IPAddress(b) if b.len() == 4 => {
                    names.push(Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string())
                }
                _ => {}
            }
        }
    }
    names
}

/// Every certificate of a PEM bundle of trusted CAs, in order. An error when it holds no
/// certificate, a block that is not a certificate (a private key is refused without a word of
/// its content) or a certificate that does not parse.
pub fn ca_bundle(pem: &str) -> Result<Vec<CaCert>, TlsError> {
    let blocks = pem_blocks(pem).map_err(|PemError(e)| TlsError::Cert(e))?;
    if blocks.iter().any(|b| b.label.contains("PRIVATE KEY")) {
        return Err(TlsError::Bundle(
            "holds a private key: give only the CA's certificate, and treat the key as exposed".into(),
        ));
    }
    let mut out = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let n = i + 1;
        if block.label != "CERTIFICATE" {
            return Err(TlsError::Bundle(format!(
                "PEM block {n} is a {:?} block: give CERTIFICATE blocks only",
                block.label
            )));
        }
        let cert = block
            .parse_x509()
            .map_err(|e| TlsError::Bundle(format!("certificate {n} does not parse: {e}")))?;
        out.push(CaCert {
            subject: cert.subject().to_string(),
            names: san_names(&cert),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            is_ca: cert.is_ca(),
        });
    }
    Ok(out)
}

/// Whether a certificate name (`vc.corp.local`, `*.corp.local`, an IP) covers `host`, as a TLS
/// client checks it (a wildcard stands for one label).
pub fn name_covers(name: &str, host: &str) -> bool {
    let (name, host) = (name.to_ascii_lowercase(), host.to_ascii_lowercase());
    match name.strip_prefix("*.") {
        Some(domain) => host.split_once('.').is_some_and(|(_, rest)| rest == domain),
        None => name == host,
    }
}

/// Reads a certificate's names and expiry.
pub fn cert_info(cert_pem: &str) -> Result<CertInfo, TlsError> {
    leaf(cert_pem).map(|(info, _)| info)
}

/// The public key bits of a private key, in the form a certificate's SPKI carries them.
fn public_key(key_pem: &str) -> Result<Vec<u8>, TlsError> {
    let blocks = pem_blocks(key_pem).map_err(|PemError(e)| TlsError::Key(e))?;
    let block = blocks
        .iter()
        .find(|b| b.label.ends_with("PRIVATE KEY"))
        .ok_or_else(|| TlsError::Key("no PRIVATE KEY block".into()))?;
    let der = block.contents.as_slice();
    let rng = SystemRandom::new();
    let bad = |e: ring::error::KeyRejected| TlsError::Key(e.to_string());
    match block.label.as_str() {
        "RSA PRIVATE KEY" => Ok(RsaKeyPair::from_der(der).map_err(bad)?.public_key().as_ref().to_vec()),
        "EC PRIVATE KEY" => sec1_public_key(der, &rng),
        "PRIVATE KEY" => {
            if let Ok(k) = RsaKeyPair::from_pkcs8(der) {
                return Ok(k.public_key().as_ref().to_vec());
            }
            for alg in [
                &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            ] {
                if let Ok(k) = EcdsaKeyPair::from_pkcs8(alg, der, &rng) {
                    return Ok(k.public_key().as_ref().to_vec());
                }
            }
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                .map(|k| k.public_key().as_ref().to_vec())
                .map_err(|_| TlsError::Key("unsupported key type (use RSA, ECDSA P-256/P-384 or Ed25519)".into()))
        }
        other => Err(TlsError::Key(format!("{other} is not supported"))),
    }
}

/// An SEC1 `EC PRIVATE KEY`: checks that its private and public parts belong together.
fn sec1_public_key(der: &[u8], rng: &SystemRandom) -> Result<Vec<u8>, TlsError> {
    let bad = |m: &str| TlsError::Key(format!("EC PRIVATE KEY: {m}"));
    let (_, obj) = parse_der(der).map_err(|e| bad(&e.to_string()))?;
    let fields = obj.as_sequence().map_err(|_| bad("not a sequence"))?;
    let private = fields
        .get(1)
        .and_then(|f| f.as_slice().ok())
        .ok_or_else(|| bad("no private key"))?;
    let (mut curve, mut public) = (None, None);
    for f in fields.iter().skip(2) {
        if let BerObjectContent::Unknown(any) = &f.content {
            let (_, inner) = parse_der(any.data).map_err(|e| bad(&e.to_string()))?;
            match (f.header.tag().0, &inner.content) {
                (0, BerObjectContent::OID(oid)) => curve = Some(oid.to_id_string()),
                (1, BerObjectContent::BitString(_, bits)) => public = Some(bits.data.to_vec()),
                _ => {}
            }
        }
    }
    let public = public.ok_or_else(|| bad("no public key inside; convert it with `openssl pkcs8 -topk8 -nocrypt`"))?;
    let alg = match curve.as_deref() {
        Some("1.2.840.10045.3.1.7") => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        Some("1.3.132.0.34") => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        _ => return Err(bad("unsupported curve (use P-256 or P-384)")),
    };
    EcdsaKeyPair::from_private_key_and_public_key(alg, private, &public, rng).map_err(|e| bad(&e.to_string()))?;
    Ok(public)
}

/// Checks that the certificate and key parse and belong together; returns what the
/// certificate covers.
pub fn check_pair(cert_pem: &str, key_pem: &str) -> Result<CertInfo, TlsError> {
    let (info, cert_key) = leaf(cert_pem)?;
    if public_key(key_pem)? != cert_key {
        return Err(TlsError::Mismatch);
    }
    Ok(info)
}

/// A self-signed certificate (ECDSA P-256, ten years) for `fqdn` and, when given, `ip`;
/// returns (certificate PEM, key PEM).
pub fn self_signed(fqdn: &str, ip: Option<Ipv4Addr>) -> Result<(String, String), TlsError> {
    let err = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let key = rcgen::KeyPair::generate().map_err(err)?;
    let mut params = rcgen::CertificateParams::new(vec![fqdn.to_string()]).map_err(err)?;
    if let Some(ip) = ip {
        params.subject_alt_names.push(rcgen::SanType::IpAddress(IpAddr::V4(ip)));
    }
    params.distinguished_name.push(rcgen::DnType::CommonName, fqdn);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Event Broker Appliance (self-signed)");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    let cert = params.self_signed(&key).map_err(err)?;
    Ok((cert.pem(), key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_covers_the_fqdn_and_ip_and_matches_its_key() {
        let (cert, key) = self_signed("veba.corp.local", Some(Ipv4Addr::new(192, 168, 30, 50))).unwrap();
        let info = check_pair(&cert, &key).unwrap();
        assert_eq!(info.names, ["veba.corp.local", "192.168.30.50"]);
        let (_, other_key) = self_signed("veba.corp.local", None).unwrap();
        assert_eq!(check_pair(&cert, &other_key), Err(TlsError::Mismatch));
    }

    #[test]
    fn garbage_is_named() {
        assert!(matches!(check_pair("hello", "x"), Err(TlsError::Cert(_))));
        let (cert, _) = self_signed("a.b", None).unwrap();
        assert!(matches!(
            check_pair(&cert, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            Err(TlsError::Key(_))
        ));
    }
}
