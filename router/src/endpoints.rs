//! The metrics address's whole HTTP server: the metrics routes ([`crate::metrics::server`]) and
//! the console's ([`crate::console`]), built from their route tables behind one access layer
//! ([`crate::http_auth::guard`]) that runs before any route's extractor. Who may call what:
//!
//! - `/healthz` and `/readyz` ([`PUBLIC`]): anyone (kubelet sends no credentials); `/readyz`
//!   tells its reasons only to a client that was let in.
//! - with `metricsProvider.default.auth`: every other route needs those credentials (401).
//! - without it: `/stats` and `/metrics` are open (as VEBA's were), and every other route (the
//!   console) answers only a client on a loopback address that names a loopback host (403).

use std::sync::Arc;

use axum::Router;

use crate::console::{self, ConsoleState};
use crate::http_auth::{self, Access, Guard};
use crate::metrics::registry::Registry;
use crate::metrics::server;

pub use server::PUBLIC;

/// The realm of the basic-auth challenge.
const REALM: &str = "event-router";

/// Every path the server answers, from the same tables it is built from.
pub fn paths() -> Vec<&'static str> {
    (server::routes().into_iter().map(|(p, _)| p))
        .chain(console::routes().into_iter().map(|(p, _)| p))
        .collect()
}

/// The server's routes, behind the access layer.
pub fn router(registry: Arc<Registry>, console: Arc<ConsoleState>, access: Access) -> Router {
    let mut metrics = Router::new();
    for (path, route) in server::routes() {
        metrics = metrics.route(path, route);
    }
    let mut ui = Router::new();
    for (path, route) in console::routes() {
        ui = ui.route(path, route);
    }
    let guard = Arc::new(Guard {
        access,
        realm: REALM,
        public: &PUBLIC,
        open_without_auth: &server::METRICS,
    });
    metrics
        .with_state(registry)
        .merge(ui.with_state(console))
        .layer(axum::middleware::from_fn_with_state(guard, http_auth::guard))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::http_auth::ConnAddrs;
    use crate::metrics::stats::{ComponentStats, Health};
    use axum::body::Body;
    use axum::http::{header, Method, Request, StatusCode};
    use base64::Engine;
    use std::time::Duration;
    use tower::ServiceExt;

    fn app(access: Access) -> Router {
        let p = ComponentStats::new("EventProvider", "vcenter", "vc", "https://vc/sdk");
        let registry = Arc::new(Registry::new(
            vec![p],
            vec![("vc".into(), Health::new(Duration::from_secs(30)))],
        ));
        let console = Arc::new(ConsoleState {
            registry: registry.clone(),
            live: Arc::default(),
            dead_letters: None,
            history: Default::default(),
            csrf: console::new_token(),
            appliance: Arc::default(),
        });
        router(registry, console, access)
    }

    fn basic() -> Access {
        Access::Basic {
            user: "admin".into(),
            pass: Secret::new("s3cret"),
        }
    }

    fn request(method: Method, path: &str, local: &str, host: &str, auth: Option<&str>) -> Request<Body> {
        let mut r = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap();
        if let Some(a) = auth {
            let v = base64::engine::general_purpose::STANDARD.encode(a);
            r.headers_mut()
                .insert(header::AUTHORIZATION, format!("Basic {v}").parse().unwrap());
        }
        r.extensions_mut().insert(ConnAddrs {
            local: local.parse().unwrap(),
            peer: "10.1.2.3:40000".parse().unwrap(),
        });
        r
    }

    async fn status(app: &Router, req: Request<Body>) -> StatusCode {
        app.clone().oneshot(req).await.unwrap().status()
    }

    #[tokio::test]
    async fn every_route_needs_the_credentials_except_the_public_ones() {
        let app = app(basic());
        let all = paths();
        assert!(all.len() >= 15, "{all:?}");
        for path in all {
            for method in [Method::GET, Method::POST] {
                let without = status(&app, request(method.clone(), path, "127.0.0.1:8082", "localhost", None)).await;
                let wrong = status(
                    &app,
                    request(method.clone(), path, "127.0.0.1:8082", "localhost", Some("admin:nope")),
                )
                .await;
                if PUBLIC.contains(&path) {
                    assert_ne!(without, StatusCode::UNAUTHORIZED, "{method} {path}");
                } else {
                    assert_eq!(
                        without,
                        StatusCode::UNAUTHORIZED,
                        "{method} {path}: loopback is no credential"
                    );
                    assert_eq!(wrong, StatusCode::UNAUTHORIZED, "{method} {path}");
                }
                let with = status(
                    &app,
                    request(
                        method.clone(),
                        path,
                        "10.0.0.5:8082",
                        "veba.example",
                        Some("admin:s3cret"),
                    ),
                )
                .await;
                assert_ne!(with, StatusCode::UNAUTHORIZED, "{method} {path}");
            }
        }
        // An unknown path is no way around it.
        let unknown = request(Method::GET, "/ui/../stats", "10.0.0.5:8082", "x", None);
        assert_eq!(status(&app, unknown).await, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn without_credentials_the_console_answers_only_loopback_by_a_loopback_name() {
        let app = app(Access::LoopbackOnly);
        for path in paths() {
            let remote = status(&app, request(Method::GET, path, "10.0.0.5:8082", "10.0.0.5:8082", None)).await;
            let rebound = status(&app, request(Method::GET, path, "127.0.0.1:8082", "evil.example", None)).await;
            let local = status(
                &app,
                request(Method::GET, path, "127.0.0.1:8082", "localhost:8082", None),
            )
            .await;
            if PUBLIC.contains(&path) || server::METRICS.contains(&path) {
                assert_ne!(remote, StatusCode::FORBIDDEN, "{path}");
                assert_ne!(remote, StatusCode::UNAUTHORIZED, "{path}");
            } else {
                assert_eq!(remote, StatusCode::FORBIDDEN, "{path}");
                assert_eq!(rebound, StatusCode::FORBIDDEN, "{path}: DNS rebinding");
                assert_ne!(local, StatusCode::FORBIDDEN, "{path}: port-forward");
            }
        }
        let post = request(Method::POST, "/ui/dead-letters/replay", "10.0.0.5:8082", "x", None);
        assert_eq!(status(&app, post).await, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn readyz_tells_its_reasons_only_to_a_client_let_in() {
        let app = app(basic());
        let anon = app
            .clone()
            .oneshot(request(Method::GET, "/readyz", "10.0.0.5:8082", "x", None))
            .await
            .unwrap();
        assert_eq!(anon.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(anon.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"not ready\n");
        let known = app
            .oneshot(request(
                Method::GET,
                "/readyz",
                "10.0.0.5:8082",
                "x",
                Some("admin:s3cret"),
            ))
            .await
            .unwrap();
        let body = axum::body::to_bytes(known.into_body(), 1024).await.unwrap();
        assert!(
            String::from_utf8_lossy(&body).starts_with("not ready: vc: "),
            "{body:?}"
        );
    }

    #[tokio::test]
    async fn every_answer_says_nosniff_and_no_store() {
        let app = app(basic());
        for path in ["/stats", "/metrics", "/healthz", "/ui/health"] {
            let r = app
                .clone()
                .oneshot(request(Method::GET, path, "10.0.0.5:8082", "x", Some("admin:s3cret")))
                .await
                .unwrap();
            assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
            assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store", "{path}");
        }
    }

    #[tokio::test]
    async fn a_refused_post_is_answered_before_its_body_is_read() {
        let app = app(basic());
        // A body that never ends: the answer must not wait for it.
        let endless = futures_util::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Some((Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; 65536])), ()))
        });
        let mut req = request(Method::POST, "/ui/dead-letters/replay", "10.0.0.5:8082", "x", None);
        *req.body_mut() = Body::from_stream(endless);
        let answered = tokio::time::timeout(Duration::from_secs(2), app.oneshot(req)).await;
        assert_eq!(
            answered.expect("answered at once").unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
}
