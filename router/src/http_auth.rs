//! Who may call the router's HTTP routes. Basic auth (metrics address, webhook): the
//! credentials are compared as SHA-256 digests in constant time, so neither their content nor
//! their length leaks through timing. [`guard`] is the metrics address's access layer: it runs
//! before any route's extractor (no request body is read for a client that is not let in), lets
//! the public routes through, and without configured credentials lets only a loopback client that
//! names a loopback host use the rest.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Secret;

/// The two ends of the connection a request came on (set by `http_server::serve`).
#[derive(Debug, Clone, Copy)]
pub struct ConnAddrs {
    pub local: SocketAddr,
    pub peer: SocketAddr,
}

/// Set on a request the access layer let in with credentials, or as a loopback client: what
/// such a client may read that others may not (the reasons `/readyz` gives).
#[derive(Debug, Clone, Copy)]
pub struct Authenticated;

/// Who may use a server's routes.
#[derive(Clone)]
pub enum Access {
    /// Basic auth with exactly these credentials.
    Basic { user: String, pass: Secret },
    /// No credentials configured: the routes listed as open without them, and everything only
    /// for a client connected to a loopback address (the same host or pod, e.g. through
    /// `kubectl port-forward`) whose `Host` names a loopback host (so a web page elsewhere cannot
    /// reach it through DNS rebinding).
    LoopbackOnly,
}

/// What the access layer checks: the credentials, and the routes that need fewer.
#[derive(Clone)]
pub struct Guard {
    pub access: Access,
    pub realm: &'static str,
    /// Answered to anyone.
    pub public: &'static [&'static str],
    /// Answered to anyone when no credentials are configured.
    pub open_without_auth: &'static [&'static str],
}

/// Whether a `Host` header value names a loopback host: `localhost` (or `localhost.`), an IPv4
/// address in 127.0.0.0/8, or `[::1]`, each alone or followed by `:` and a port of digits;
/// anything else after the name (`[::1]x`, `localhost:`) is not loopback.
pub fn loopback_host(host: &str) -> bool {
    let host = host.trim();
    let port = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = host.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        let after_ok = after.is_empty() || after.strip_prefix(':').is_some_and(port);
        return after_ok && inside.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    let name = match host.rsplit_once(':') {
        Some((name, p)) if port(p) => name,
        Some(_) => return false,
        None => host,
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    name.eq_ignore_ascii_case("localhost") || name.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether the request came to a loopback address and names a loopback host.
fn loopback_request(req: &Request) -> bool {
    let local = req.extensions().get::<ConnAddrs>().map(|c| c.local.ip());
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok());
    local.is_some_and(|ip| ip.is_loopback()) && host.is_some_and(loopback_host)
}

/// The access layer (`axum::middleware::from_fn_with_state`).
pub async fn guard(State(g): State<Arc<Guard>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let public = g.public.contains(&path);
    let let_in = match &g.access {
        Access::Basic { user, pass } => authorized(req.headers(), user, pass),
        Access::LoopbackOnly => loopback_request(&req),
    };
    if let_in {
        req.extensions_mut().insert(Authenticated);
    } else if !public {
        match g.access {
            Access::Basic { .. } => return challenge(g.realm),
            Access::LoopbackOnly if g.open_without_auth.contains(&path) => {}
            Access::LoopbackOnly => return loopback_only(),
        }
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// 403 for a route that needs credentials when none are configured.
fn loopback_only() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "this route needs credentials: set metricsProvider.default.auth (basic_auth), or reach the router on a loopback address by a loopback name (kubectl port-forward, then http://localhost:PORT/)\n",
    )
        .into_response()
}

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
    fn loopback_hosts() {
        for h in [
            "localhost",
            "LOCALHOST:8082",
            "127.0.0.1",
            "127.1.2.3:80",
            "[::1]:8082",
            "[::1]",
            "localhost.",
            "localhost.:8082",
            "127.0.0.1:8082",
        ] {
            assert!(loopback_host(h), "{h}");
        }
        for h in [
            "",
            "evil.example",
            "localhost.evil.example",
            "10.0.0.1:8082",
            "[::2]",
            "127.0.0.1.nip.io",
            "0.0.0.0",
            "[::1]evil.example",
            "[::1].evil.example",
            "[::1]:",
            "[::1]:80x",
            "[::1]:80:80",
            "[::1",
            "[127.0.0.1]",
            "localhost:",
            "localhost:80x",
            "localhost..",
            "localhost.:",
            "127.0.0.1:",
            "127.0.0.1:8082:8082",
            "127.0.0.1x",
            "::1",
        ] {
            assert!(!loopback_host(h), "{h}");
        }
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
