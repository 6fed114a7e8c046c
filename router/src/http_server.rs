//! The router's HTTP servers (metrics and webhook) as hostile clients meet them: every
//! connection must send its request headers within [`HEADER_READ_TIMEOUT`] (idle keep-alive
//! connections included), at most `max_connections` are open at once (more are closed at once),
//! a failed accept (no file descriptors left) fails that connection and never the server, and at
//! shutdown the server stops listening, asks each connection to finish, and drops whatever is
//! still open when the grace period ends, so no client can hold SIGTERM or SIGHUP.
//!
//! [`Listeners`] keeps each bound address across configuration reloads, so a reload binds the
//! new listeners while the old configuration still serves.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tracing::{debug, warn};

/// How long a client may take to send a request's headers, or to start the next request on a
/// kept-alive connection.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections one server keeps open at once.
pub const MAX_CONNECTIONS: usize = 512;
/// Largest request head accepted (start line and headers).
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Serves `app` on `listener` until `stop` turns true, then gives open connections `grace` to
/// finish. `name` labels the log lines.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    app: axum::Router,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
    max_connections: usize,
) {
    let permits = Arc::new(Semaphore::new(max_connections.max(1)));
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
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            debug!(server = name, %peer, "{max_connections} connections open: closing a new one");
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
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
            drop(permit);
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
        let server = tokio::spawn(serve("test", listener, app(), stop_rx, Duration::from_millis(300), 2));
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
