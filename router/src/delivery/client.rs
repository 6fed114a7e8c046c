//! The HTTP client a delivery POSTs through. A plain-HTTP destination that no proxy variable
//! applies to (an in-cluster Knative broker, say) is sent over hyper's pooled client directly;
//! an HTTPS or proxied one goes through reqwest, which applies the router's TLS policy
//! ([`crate::tls`]) and the proxy variables. Both keep connections alive, bound each request by
//! the same timeout, and answer the status or a described error.
//!
//! Why two: reqwest's layers parse the URL again and copy the headers for every request (its
//! redirect policy and proxy matcher): with them the router spent 50 µs of CPU per event at
//! concurrency 8 in `make bench`, without them 34 µs. Neither client follows redirects (the
//! Knative data-plane contract: a 3xx is a refusal), and without a proxy or TLS a delivery
//! needs none of reqwest's other layers.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, USER_AGENT};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::client_error::describe;
use crate::config::AuthMethod;
use crate::tls::{self, TlsError, TlsOptions};

/// How much of an answer's body is read (and thrown away) so its connection can carry the next
/// request; a longer body closes the connection instead.
const DRAIN_LIMIT: usize = 64 * 1024;

/// Where requests go, parsed once for either client.
pub struct Destination {
    url: url::Url,
    /// `url` without its user information, for hyper.
    uri: hyper::Uri,
    /// Basic auth from the user information in `url` (`http://user:pass@host/`), sent unless the
    /// request has its own `Authorization`, as reqwest does.
    credentials: Option<HeaderValue>,
}

impl Destination {
    /// `url` in both forms; `None` when hyper cannot take it or its user information is not
    /// UTF-8 once percent-decoded.
    pub fn new(url: url::Url) -> Option<Destination> {
        let mut bare = url.clone();
        let credentials = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .map(|c| c.into_owned())
            };
            let user = decode(url.username()).ok()?;
            let password = decode(url.password().unwrap_or("")).ok()?;
            bare.set_username("").ok()?;
            bare.set_password(None).ok()?;
            Some(basic_auth(&user, &password))
        };
        let uri = bare.as_str().parse().ok()?;
        Some(Destination { url, uri, credentials })
    }

    pub fn url(&self) -> &url::Url {
        &self.url
    }
}

enum Inner {
    /// hyper's pooled client: plain HTTP, no proxy.
    Direct(Box<hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>>),
    /// reqwest with the router's TLS policy and the proxy variables.
    General(reqwest::Client),
}

/// The `Authorization` value for HTTP basic auth (RFC 7617), marked sensitive (never printed).
pub fn basic_auth(user: &str, password: &str) -> HeaderValue {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    // Base64 text is always a valid header value: the fallback is never taken.
    let mut value = HeaderValue::from_str(&format!("Basic {token}")).unwrap_or(HeaderValue::from_static("Basic"));
    value.set_sensitive(true);
    value
}

/// reqwest with the router's TLS policy and the proxy variables, and, like the direct client, no
/// redirects: a 3xx is the sink's answer.
fn general_client(tls: &TlsOptions, timeout: Duration) -> Result<reqwest::Client, TlsError> {
    tls::client_builder(tls, timeout)?
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| TlsError::Build(e.to_string()))
}

/// The `Authorization` header for a processor's `auth` (basic auth), made once at start.
pub fn auth_header(auth: Option<&AuthMethod>) -> Option<HeaderValue> {
    let (user, password) = auth.and_then(AuthMethod::basic_credentials)?;
    Some(basic_auth(&user, password.expose()))
}

/// A keep-alive HTTP client for one processor's deliveries.
pub struct Poster {
    inner: Inner,
    timeout: Duration,
    user_agent: HeaderValue,
}

/// Why a POST got no HTTP answer (every such failure is worth another attempt).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// The connection failed or broke (refused, reset, TLS, DNS).
    #[error("{0}")]
    Transport(String),
    #[error("no answer within {0:?} (the timeout)")]
    Timeout(Duration),
}

impl Poster {
    /// The client for requests to `destination` (and other URLs of the same scheme and host),
    /// each bounded by `timeout`. The proxy variables are read now, as reqwest reads them.
    pub fn new(destination: &Destination, tls: &TlsOptions, timeout: Duration) -> Result<Poster, TlsError> {
        Poster::with_proxies(destination, tls, timeout, &Matcher::from_system())
    }

    fn with_proxies(
        destination: &Destination,
        tls: &TlsOptions,
        timeout: Duration,
        proxies: &Matcher,
    ) -> Result<Poster, TlsError> {
        let direct = destination.url.scheme() == "http" && proxies.intercept(&destination.uri).is_none();
        let inner = if direct {
            let mut connector = HttpConnector::new();
            connector.set_connect_timeout(Some(tls::connect_timeout(timeout)));
            connector.set_nodelay(true);
            Inner::Direct(Box::new(
                hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(tls::POOL_IDLE_TIMEOUT)
                    .pool_timer(TokioTimer::new())
                    .build(connector),
            ))
        } else {
            Inner::General(general_client(tls, timeout)?)
        };
        Ok(Poster {
            inner,
            timeout,
            user_agent: HeaderValue::from_static(tls::USER_AGENT),
        })
    }

    /// Whether requests skip reqwest (plain HTTP, no proxy).
    pub fn is_direct(&self) -> bool {
        matches!(self.inner, Inner::Direct(_))
    }

    /// POSTs `body` with `headers` to `to`; answers the HTTP status, or what went wrong when
    /// there was none (connection, timeout).
    pub async fn post(&self, to: &Destination, headers: &HeaderMap, body: &Bytes) -> Result<u16, PostError> {
        match &self.inner {
            Inner::General(client) => client
                .post(to.url.clone())
                .headers(headers.clone())
                .body(body.clone())
                .send()
                .await
                .map(|resp| resp.status().as_u16())
                .map_err(|e| PostError::Transport(describe(&e))),
            Inner::Direct(client) => {
                let mut req = hyper::Request::new(Full::new(body.clone()));
                *req.method_mut() = hyper::Method::POST;
                *req.uri_mut() = to.uri.clone();
                *req.headers_mut() = headers.clone();
                if !req.headers().contains_key(USER_AGENT) {
                    req.headers_mut().insert(USER_AGENT, self.user_agent.clone());
                }
                if let Some(credentials) = &to.credentials {
                    if !req.headers().contains_key(AUTHORIZATION) {
                        req.headers_mut().insert(AUTHORIZATION, credentials.clone());
                    }
                }
                let exchange = async {
                    let resp = client
                        .request(req)
                        .await
                        .map_err(|e| PostError::Transport(describe(&e)))?;
                    let status = resp.status().as_u16();
                    // Read the (usually empty) answer so the connection goes back to the pool.
                    let _ = Limited::new(resp.into_body(), DRAIN_LIMIT).collect().await;
                    Ok(status)
                };
                match tokio::time::timeout(self.timeout, exchange).await {
                    Ok(answer) => answer,
                    Err(_) => Err(PostError::Timeout(self.timeout)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn destination(url: &str) -> Destination {
        Destination::new(url::Url::parse(url).unwrap()).unwrap()
    }

    fn poster(url: &str, timeout: Duration) -> Poster {
        Poster::new(&destination(url), &TlsOptions::default(), timeout).unwrap()
    }

    /// A loopback HTTP/1.1 server answering every request with `status` after `delay`; counts
    /// connections and keeps each request's head.
    async fn server(
        status: u16,
        delay: Duration,
    ) -> (
        String,
        Arc<AtomicUsize>,
        Arc<std::sync::Mutex<Vec<String>>>,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/in", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (c, h) = (connections.clone(), heads.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let h = h.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = s.read(&mut chunk).await else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        // One request: its head, then a body of Content-Length bytes.
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if buf.len() < end + 4 + length {
                            continue;
                        }
                        buf.drain(..end + 4 + length);
                        h.lock().unwrap().push(head);
                        tokio::time::sleep(delay).await;
                        let answer =
                            format!("HTTP/1.1 {status} X\r\nlocation: /elsewhere\r\ncontent-length: 2\r\n\r\nok");
                        if s.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, connections, heads, task)
    }

    #[tokio::test]
    async fn plain_http_goes_direct_reuses_one_connection_and_answers_the_status() {
        let (url, connections, heads, task) = server(202, Duration::ZERO).await;
        let p = poster(&url, Duration::from_secs(5));
        assert!(p.is_direct());
        let mut headers = HeaderMap::new();
        headers.insert("ce-id", HeaderValue::from_static("42"));
        let to = destination(&url);
        for _ in 0..3 {
            assert_eq!(p.post(&to, &headers, &Bytes::from_static(b"{\"a\":1}")).await, Ok(202));
        }
        assert_eq!(connections.load(Ordering::SeqCst), 1, "one kept-alive connection");
        let heads = heads.lock().unwrap().clone();
        assert_eq!(heads.len(), 3);
        let head = heads[0].to_ascii_lowercase();
        assert!(head.starts_with("post /in http/1.1"), "{head}");
        assert!(head.contains("ce-id: 42"), "{head}");
        assert!(head.contains("content-length: 7"), "{head}");
        assert!(head.contains(&format!("user-agent: {}", tls::USER_AGENT)), "{head}");
        assert!(head.contains("host: 127.0.0.1:"), "{head}");
        task.abort();
    }

    #[tokio::test]
    async fn credentials_in_the_url_become_basic_auth_unless_the_request_has_its_own() {
        let (url, _, heads, task) = server(200, Duration::ZERO).await;
        let with_user = url.replace("http://", "http://us%65r:p%40ss@");
        let to = destination(&with_user);
        let p = poster(&with_user, Duration::from_secs(5));
        assert!(p.is_direct());
        assert_eq!(p.post(&to, &HeaderMap::new(), &Bytes::new()).await, Ok(200));
        let mut own = HeaderMap::new();
        own.insert(AUTHORIZATION, basic_auth("other", "x"));
        assert_eq!(p.post(&to, &own, &Bytes::new()).await, Ok(200));
        let heads = heads.lock().unwrap().clone();
        let from_url = format!("authorization: {}", basic_auth("user", "p@ss").to_str().unwrap());
        assert!(
            heads[0].to_ascii_lowercase().contains(&from_url.to_ascii_lowercase()),
            "{}",
            heads[0]
        );
        assert!(!heads[0].contains("p%40ss"), "not in the request line: {}", heads[0]);
        let explicit = format!("authorization: {}", basic_auth("other", "x").to_str().unwrap());
        assert!(
            heads[1].to_ascii_lowercase().contains(&explicit.to_ascii_lowercase()),
            "{}",
            heads[1]
        );
        task.abort();
    }

    #[tokio::test]
    async fn the_status_is_answered_whatever_it_is() {
        let (url, _, _, task) = server(503, Duration::ZERO).await;
        let p = poster(&url, Duration::from_secs(5));
        assert_eq!(
            p.post(&destination(&url), &HeaderMap::new(), &Bytes::new()).await,
            Ok(503)
        );
        task.abort();
    }

    #[tokio::test]
    async fn a_redirect_is_the_answer_on_either_client_not_followed() {
        let (url, _, heads, task) = server(307, Duration::ZERO).await;
        let to = destination(&url);
        let direct = poster(&url, Duration::from_secs(5));
        let general = Poster {
            inner: Inner::General(general_client(&TlsOptions::default(), Duration::from_secs(5)).unwrap()),
            timeout: Duration::from_secs(5),
            user_agent: HeaderValue::from_static(tls::USER_AGENT),
        };
        assert!(direct.is_direct() && !general.is_direct());
        for p in [&direct, &general] {
            assert_eq!(
                p.post(&to, &HeaderMap::new(), &Bytes::from_static(b"{}")).await,
                Ok(307)
            );
        }
        let heads = heads.lock().unwrap().clone();
        assert_eq!(
            heads.len(),
            2,
            "one request each, no follow-up to /elsewhere: {heads:?}"
        );
        assert!(heads.iter().all(|h| h.starts_with("POST /in ")), "{heads:?}");
        task.abort();
    }

    #[tokio::test]
    async fn a_slow_sink_is_cut_off_at_the_timeout() {
        let (url, _, _, task) = server(202, Duration::from_secs(30)).await;
        let p = poster(&url, Duration::from_millis(300));
        let err = p
            .post(&destination(&url), &HeaderMap::new(), &Bytes::new())
            .await
            .unwrap_err();
        assert_eq!(err, PostError::Timeout(Duration::from_millis(300)));
        assert!(err.to_string().contains("timeout"), "{err}");
        task.abort();
    }

    #[tokio::test]
    async fn a_refused_connection_is_described() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        let p = poster(&url, Duration::from_secs(5));
        let err = p
            .post(&destination(&url), &HeaderMap::new(), &Bytes::new())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, PostError::Transport(d) if d.to_ascii_lowercase().contains("refused")),
            "{err}"
        );
    }

    #[test]
    fn basic_auth_is_rfc_7617_and_sensitive() {
        let v = basic_auth("Aladdin", "open sesame");
        assert_eq!(v, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(v.is_sensitive());
        assert!(!format!("{v:?}").contains("QWxh"), "not printed");
    }

    #[test]
    fn https_and_proxied_destinations_go_through_reqwest() {
        let none = Matcher::builder().build();
        let proxied = Matcher::builder()
            .http("http://proxy.corp.local:3128")
            .no("localhost")
            .build();
        let tls = TlsOptions::default();
        let t = Duration::from_secs(5);
        let direct = |url: &str, m: &Matcher| Poster::with_proxies(&destination(url), &tls, t, m).unwrap().is_direct();
        assert!(direct("http://broker.svc.cluster.local/ns/default", &none));
        assert!(
            !direct("https://broker.example.com/", &none),
            "TLS policy lives in reqwest"
        );
        assert!(!direct("http://broker.example.com/", &proxied), "the proxy applies");
        assert!(direct("http://localhost:8080/", &proxied), "NO_PROXY exempts it");
    }
}
