//! HTTP clients with the router's TLS policy: verified by default, extra root CAs from PEM
//! files, and an explicit opt-out. No client follows a redirect (each carries credentials: a
//! password, a token or basic auth, which must never go to another origin); a 3xx is the
//! server's answer.

use std::path::PathBuf;
use std::time::Duration;

/// TLS settings for one outgoing connection.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Skip certificate verification (`insecureSSL: true`).
    pub insecure: bool,
    /// PEM files whose certificates are trusted in addition to the system roots.
    pub root_cas: Vec<PathBuf>,
}

/// Why an HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read root CA file {path}: {source}; fix certificates.rootCAs")]
    Read { path: String, source: std::io::Error },
    #[error("root CA file {path} holds no valid PEM certificate: {detail}; fix certificates.rootCAs")]
    Pem { path: String, detail: String },
    #[error("cannot build HTTP client: {0}")]
    Build(String),
}

/// The `User-Agent` of every request the router makes.
pub const USER_AGENT: &str = concat!("event-router/", env!("CARGO_PKG_VERSION"));

/// How long an unused kept-alive connection stays open.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The bound on making a connection, for requests bounded by `timeout`: 10 s, or less when the
/// whole request has less, and at least 1 s.
pub fn connect_timeout(timeout: Duration) -> Duration {
    Duration::from_secs(10).min(timeout.max(Duration::from_secs(1)))
}

/// Builds a reqwest client that applies `opts`.
pub fn http_client(opts: &TlsOptions, timeout: Duration) -> Result<reqwest::Client, TlsError> {
    client_builder(opts, timeout)?
        .build()
        .map_err(|e| TlsError::Build(e.to_string()))
}

/// The builder behind [`http_client`], for a caller that sets more (the SOAP client's redirect
/// policy).
pub fn client_builder(opts: &TlsOptions, timeout: Duration) -> Result<reqwest::ClientBuilder, TlsError> {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout(timeout))
        .timeout(timeout)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .user_agent(USER_AGENT);
    for path in &opts.root_cas {
        let p = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| TlsError::Read {
            path: p.clone(),
            source,
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| TlsError::Pem {
            path: p.clone(),
            detail: e.to_string(),
        })?;
        if certs.is_empty() {
            return Err(TlsError::Pem {
                path: p,
                detail: "no certificate found".into(),
            });
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    if opts.insecure {
        b = b.danger_accept_invalid_certs(true);
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_invalid_ca_files_are_named() {
        let opts = TlsOptions {
            insecure: false,
            root_cas: vec!["/nonexistent/ca.pem".into()],
        };
        let err = http_client(&opts, Duration::from_secs(5)).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/ca.pem") && err.contains("rootCAs"), "{err}");
        let dir = std::env::temp_dir().join(format!("er-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.pem");
        std::fs::write(&bad, "not a certificate").unwrap();
        let opts = TlsOptions {
            insecure: false,
            root_cas: vec![bad.clone()],
        };
        let err = http_client(&opts, Duration::from_secs(5)).unwrap_err().to_string();
        assert!(err.contains("bad.pem"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
