//! The router's HTTP servers (metrics and webhook) as hostile clients meet them: every
//! connection must send its request headers within [`HEADER_READ_TIMEOUT`] (idle keep-alive
//! connections included) and a body within [`BODY_READ_TIMEOUT`] ([`read_body`]), at most
//! `max_connections` are open at once and at most a quarter of them from one peer address (more
//! are closed at once, so one client cannot take the slots the probes need), a failed accept (no file descriptors left) fails that connection and never the server, and at
//! shutdown the server stops listening, asks each connection to finish, and drops whatever is
//! still open when the grace period ends, so no client can hold SIGTERM or SIGHUP.
//!
//! [`Listeners`] keeps each bound address across configuration reloads, so a reload binds the
//! new listeners while the old configuration still serves.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;
use tower::ServiceExt as _;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tracing::{debug, warn};

/// How long a client may take to send a request's headers, or to start the next request on a
/// kept-alive connection.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How many connections one server keeps open at once, in all and from one peer address.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub total: usize,
    pub per_peer: usize,
}

/// The limits of the router's servers: 512 connections, a quarter of them from one peer.
pub const CONN_LIMITS: ConnLimits = ConnLimits {
    total: 512,
    per_peer: 128,
};
/// Largest request head accepted (start line and headers).
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// How long a request body may take to arrive.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the request body did not arrive within {}s", BODY_READ_TIMEOUT.as_secs())]
    Slow,
    #[error("the request body could not be read: {0}")]
    Read(String),
}

/// Reads a request body of at most `limit` bytes within [`BODY_READ_TIMEOUT`]; a declared
/// `Content-Length` above the limit is refused before anything is read.
pub async fn read_body(headers: &axum::http::HeaderMap, body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let declared = (headers.get(axum::http::header::CONTENT_LENGTH))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let limited = http_body_util::Limited::new(body, limit);
    match tokio::time::timeout(BODY_READ_TIMEOUT, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(BodyError::TooLarge(limit)),
        Ok(Err(e)) => Err(BodyError::Read(e.to_string())),
        Err(_) => Err(BodyError::Slow),
    }
}

/// Open connections per peer address, so one peer cannot take every slot.
#[derive(Default)]
struct PerPeer(Mutex<HashMap<IpAddr, usize>>);

/// One open connection's place in [`PerPeer`], given back on drop.
struct PeerSlot(Arc<PerPeer>, IpAddr);

impl PerPeer {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<PeerSlot> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PeerSlot(self.clone(), ip))
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.0 .0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.1);
            }
        }
    }
}

/// Serves `app` on `listener` until `stop` turns true, then gives open connections `grace` to
/// finish; at most `limits` connections are open. `name` labels the log lines.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    app: axum::Router,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
    limits: ConnLimits,
) {
    let (max_connections, peer_max) = (limits.total.max(1), limits.per_peer.max(1));
    let permits = Arc::new(Semaphore::new(max_connections));
    let per_peer = Arc::new(PerPeer::default());
    let (drain_tx, drain_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let mut accept_errors = 0u64;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
        };
        while conns.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and the like: this connection fails, the server goes on.
                accept_errors += 1;
                if accept_errors == 1 || accept_errors.is_power_of_two() {
                    warn!(
                        server = name,
                        "cannot accept a connection ({e}); {accept_errors} so far"
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = per_peer.take(peer.ip(), peer_max) else {
            debug!(server = name, %peer, "{peer_max} connections open from this peer: closing a new one");
            drop(stream);
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            debug!(server = name, %peer, "{max_connections} connections open: closing a new one");
            drop(stream);
            continue;
        };
        let addrs = crate::http_auth::ConnAddrs {
            local: stream.local_addr().unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
            peer,
        };
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(addrs);
                req
            },
        ));
        let mut drain = drain_rx.clone();
        conns.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES.max(8192))
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        debug!(%peer, "connection ended: {e}");
                    }
                }
                _ = async { let _ = drain.wait_for(|d| *d).await; } => {
                    conn.as_mut().graceful_shutdown();
                    if let Err(e) = conn.await {
                        debug!(%peer, "connection ended at shutdown: {e}");
                    }
                }
            }
            drop((permit, slot));
        });
    }
    drop(listener);
    let _ = drain_tx.send(true);
    let open = conns.len();
    if tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        warn!(
            server = name,
            "{} of {open} connections still open after {}s: closed",
            conns.len(),
            grace.as_secs()
        );
        conns.shutdown().await;
    }
}

/// The listening sockets of the running configuration, by configured address: a reload that
/// keeps an address reuses its socket (no moment without a listener, no "address in use"), and a
/// new address is bound before the running configuration stops.
#[derive(Default)]
pub struct Listeners(HashMap<String, std::net::TcpListener>);

impl Listeners {
    /// A listener on `addr` (`host:port`): the kept socket, or a new one.
    pub async fn bind(&mut self, addr: &str) -> std::io::Result<TcpListener> {
        let std = match self.0.get(addr) {
            Some(kept) => kept.try_clone()?,
            None => {
                let fresh = TcpListener::bind(addr).await?.into_std()?;
                self.0.insert(addr.to_string(), fresh.try_clone()?);
                fresh
            }
        };
        std.set_nonblocking(true)?;
        TcpListener::from_std(std)
    }

    /// Closes the kept sockets whose address is not in `used`.
    pub fn retain(&mut self, used: &[String]) {
        self.0.retain(|addr, _| used.contains(addr));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn app() -> axum::Router {
        axum::Router::new().route("/", axum::routing::get(|| async { "ok" }))
    }

    fn get(port: u16) -> String {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_client_cannot_hold_the_shutdown_and_extra_connections_are_closed() {
        let mut listeners = Listeners::default();
        let listener = listeners.bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop_tx, stop_rx) = watch::channel(false);
        let server = tokio::spawn(serve(
            "test",
            listener,
            app(),
            stop_rx,
            Duration::from_millis(300),
            ConnLimits { total: 2, per_peer: 2 },
        ));
        let answer = tokio::task::spawn_blocking(move || get(port)).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

        // Two clients that send half a request head and wait: the cap is reached, a third
        // connection is closed without an answer. A client is admitted once the server holds
        // its connection open (a read times out instead of ending); the first request's slot
        // may be released a moment after its answer, so a client closed then is replaced.
        let slow = tokio::task::spawn_blocking(move || {
            let mut admitted = Vec::new();
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while admitted.len() < 2 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "two slow clients were never both admitted"
                );
                let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
                s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
                match s.read(&mut [0u8; 1]) {
                    Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                        admitted.push(s)
                    }
                    _ => {}
                }
            }
            admitted
        })
        .await
        .unwrap();
        let third = tokio::task::spawn_blocking(move || get(port)).await.unwrap();
        assert_eq!(third, "", "closed at once");

        // SIGTERM: the server ends within the grace period although both still hold a connection.
        let started = std::time::Instant::now();
        stop_tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the server stops")
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(slow);
    }

    /// A connection from `from` that has sent half a request head: `Some` once the server holds
    /// it open, `None` when the server closed it at once.
    async fn half_request(from: &str, port: u16) -> Option<tokio::net::TcpStream> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
        let mut s = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await;
        match tokio::time::timeout(Duration::from_millis(300), s.read(&mut [0u8; 1])).await {
            Err(_) => Some(s),
            Ok(_) => None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_peer_cannot_take_every_slot() {
        let mut listeners = Listeners::default();
        let listener = listeners.bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop_tx, stop_rx) = watch::channel(false);
        let limits = ConnLimits { total: 8, per_peer: 2 };
        let server = tokio::spawn(serve(
            "test",
            listener,
            app(),
            stop_rx,
            Duration::from_millis(300),
            limits,
        ));
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(half_request("127.0.0.2", port).await.expect("admitted"));
        }
        assert!(
            half_request("127.0.0.2", port).await.is_none(),
            "a third from one peer is closed"
        );
        // Another peer (the kubelet's probe) still gets in, and is answered.
        let other = half_request("127.0.0.3", port).await;
        assert!(other.is_some(), "another peer is admitted");
        drop(held);
        // The slots come back when the connections close.
        let again = crate::http_server::tests::eventually_admitted("127.0.0.2", port).await;
        assert!(again, "the peer's slots are given back");
        stop_tx.send(true).unwrap();
        server.await.unwrap();
    }

    async fn eventually_admitted(from: &str, port: u16) -> bool {
        for _ in 0..50 {
            if half_request(from, port).await.is_some() {
                return true;
            }
        }
        false
    }

    #[tokio::test]
    async fn a_kept_address_is_reused_and_closed_once_no_configuration_uses_it() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut listeners = Listeners::default();
        let first = listeners.bind(&addr).await.unwrap();
        // A reload with the same address gets the same socket: no "address in use".
        let second = listeners.bind(&addr).await.unwrap();
        drop((first, second));
        assert!(
            std::net::TcpStream::connect(&addr).is_ok(),
            "still listening between configurations"
        );
        let mut other = Listeners::default();
        assert!(other.bind(&addr).await.is_err(), "nobody else can take it");
        listeners.retain(&[]);
        assert!(std::net::TcpStream::connect(&addr).is_err(), "closed once unused");
        // Free for the next configuration. Tests running alongside may briefly hold the port as
        // a client connection's ephemeral port (it came from the same range), so retry a little.
        let mut rebound = false;
        for _ in 0..40 {
            if other.bind(&addr).await.is_ok() {
                rebound = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(rebound, "bindable once unused");
    }
}
