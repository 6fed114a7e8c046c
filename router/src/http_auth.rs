//! HTTP basic auth for the router's servers (metrics, webhook): the credentials are compared
//! as SHA-256 digests in constant time, so neither their content nor their length leaks
//! through timing.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Secret;

/// Whether `headers` carry `Authorization: Basic` with exactly `user:pass`.
pub fn authorized(headers: &HeaderMap, user: &str, pass: &Secret) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
    else {
        return false;
    };
    let expected = Sha256::digest(format!("{user}:{}", pass.expose()).as_bytes());
    Sha256::digest(&given).as_slice().ct_eq(expected.as_slice()).into()
}

/// 401 with the `WWW-Authenticate` challenge for `realm`.
pub fn challenge(realm: &str) -> Response {
    let value = format!("Basic realm=\"{realm}\"");
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, value)],
        "invalid credentials\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode(auth);
        h.insert(header::AUTHORIZATION, format!("Basic {v}").parse().unwrap());
        h
    }

    #[test]
    fn only_the_exact_pair_passes() {
        let pass = Secret::new("s3cret");
        assert!(authorized(&with("admin:s3cret"), "admin", &pass));
        for bad in ["admin:s3cre", "admin:s3cret ", "Admin:s3cret", "admin", ""] {
            assert!(!authorized(&with(bad), "admin", &pass), "{bad:?}");
        }
        assert!(!authorized(&HeaderMap::new(), "admin", &pass));
        let r = challenge("webhook");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Basic realm=\"webhook\"");
    }
}
