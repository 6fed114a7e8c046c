//! A fake Horizon Connection Server (tests/peers/fake_horizon.py, following the Horizon REST
//! API) -> event-router -> a Knative-style sink: no replay at start, new events once and in
//! order across pages, token refresh, re-login, a restart without replay, bad credentials.

use std::time::Duration;

use e2e::{free_port, CeReceiver, Peer, Router};
use serde_json::{json, Value};

const STEP: Duration = Duration::from_secs(5);
const T0: i64 = 1_796_032_800_000;

fn config(horizon: &Peer, password: &str, sink: &CeReceiver, port: u16) -> String {
    format!(
        "apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata:
  name: e2e-horizon
eventProvider:
  type: horizon
  name: horizon
  horizon:
    address: {}
    pageSize: 4
    auth:
      type: active_directory
      activeDirectoryAuth: {{domain: corp, username: svc, password: {password}}}
eventProcessor:
  type: knative
  name: sink
  knative:
    encoding: binary
    destination: {{uri: \"{}\"}}
metricsProvider:
  type: default
  name: metrics
  default:
    bindAddress: 127.0.0.1:{port}
",
        horizon.url(),
        sink.url()
    )
}

fn audit(id: i64, offset_ms: i64, kind: &str) -> Value {
    json!({"id": id, "time": T0 + offset_ms, "type": kind, "module": "Vlsi", "severity": "AUDIT_SUCCESS",
           "message": format!("event {id}"), "user_id": "S-1-5-21-1"})
}

fn add(horizon: &Peer, events: Vec<Value>) {
    assert_eq!(
        horizon
            .control("POST", "/_control/events", &Value::Array(events).to_string())
            .0,
        200
    );
}

/// The ids the sink receives until it stays quiet for a second.
fn received(sink: &CeReceiver) -> Vec<String> {
    std::iter::from_fn(|| sink.next(Duration::from_millis(1500)))
        .map(|r| r["attributes"]["id"].as_str().unwrap().to_string())
        .collect()
}

/// The REST calls the fake saw since the last look, by name.
fn calls(horizon: &Peer) -> Vec<(String, u64)> {
    horizon
        .drain(Duration::from_millis(300))
        .iter()
        .map(|c| (c["call"].as_str().unwrap().to_string(), c["status"].as_u64().unwrap()))
        .collect()
}

fn start(horizon: &Peer, sink: &CeReceiver) -> Router {
    let port = free_port();
    let router = Router::start(&config(horizon, "secret", sink, port), port);
    router.wait_ready(Duration::from_secs(20));
    router
}

#[test]
fn audit_events_stream_once_in_order_through_token_expiry_and_restarts() {
    let horizon = Peer::start(
        "fake_horizon.py",
        &["--domain", "corp", "--user", "svc", "--password", "secret"],
    );
    let sink = CeReceiver::start(&[]);
    add(
        &horizon,
        (1..=12).map(|i| audit(i, i * 1000, "VLSI_USERLOGGEDIN_REST")).collect(),
    );
    let mut router = start(&horizon, &sink);
    assert_eq!(received(&sink), Vec::<String>::new(), "history is not replayed");

    // Ten new events at once span three pages of four; one shares a millisecond with another.
    let mut fresh: Vec<Value> = (13..=21).map(|i| audit(i, i * 1000, "VLSI_USERLOGGEDOUT")).collect();
    fresh.push(audit(22, 21_000, "ADMIN_ADDED"));
    add(&horizon, fresh);
    let ids = received(&sink);
    assert_eq!(ids, (13..=22).map(|i| i.to_string()).collect::<Vec<_>>());

    add(&horizon, vec![audit(23, 30_000, "VLSI_USERLOGGEDIN_REST")]);
    let rec = sink.next(STEP).expect("event 23");
    let a = &rec["attributes"];
    // VEBA's router contract by default (what VEBA's Horizon Triggers filter on).
    assert_eq!(a["type"], "com.vmware.event.router/horizon.vlsi_userloggedin_rest.v0");
    assert_eq!(a["subject"], "VLSI_USERLOGGEDIN_REST");
    assert_eq!(a["source"], horizon.url());
    assert_eq!(a["time"], "2026-11-30T10:00:30Z");
    assert_eq!(rec["data"]["message"], "event 23");
    assert_eq!(rec["data"]["user_id"], "S-1-5-21-1");

    // An expired access token is refreshed; an expired refresh token means a new login.
    calls(&horizon);
    horizon.control("POST", "/_control/expire", r#"{"access": true}"#);
    add(&horizon, vec![audit(24, 31_000, "VLSI_USERLOGGEDIN_REST")]);
    assert_eq!(received(&sink), ["24"]);
    let seen = calls(&horizon);
    assert!(seen.contains(&("audit-events".into(), 401)), "{seen:?}");
    assert!(seen.contains(&("refresh".into(), 200)), "{seen:?}");
    assert!(!seen.iter().any(|(c, _)| c == "login"), "refresh was enough: {seen:?}");
    horizon.control("POST", "/_control/expire", r#"{"access": true, "refresh": true}"#);
    add(&horizon, vec![audit(25, 32_000, "VLSI_USERLOGGEDIN_REST")]);
    assert_eq!(received(&sink), ["25"]);
    let seen = calls(&horizon);
    assert!(seen.contains(&("refresh".into(), 400)), "{seen:?}");
    assert!(seen.contains(&("login".into(), 200)), "{seen:?}");

    // A restart replays nothing and carries on with what is new.
    assert_eq!(router.terminate(), Some(0));
    assert!(
        calls(&horizon).contains(&("logout".into(), 200)),
        "logs out at shutdown"
    );
    let router = start(&horizon, &sink);
    assert_eq!(received(&sink), Vec::<String>::new(), "no replay after a restart");
    add(&horizon, vec![audit(26, 40_000, "VLSI_USERLOGGEDIN_REST")]);
    assert_eq!(received(&sink), ["26"]);
    let (_, stats) = router.get("/stats").unwrap();
    let stats: Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["vmware.event.router.stats"]["horizon"]["events_total"], 1);
    assert!(!router.log().contains("secret"), "password in the log");
}

#[test]
fn wrong_credentials_are_one_clear_line_and_the_router_stays_unready() {
    let horizon = Peer::start("fake_horizon.py", &["--password", "secret"]);
    let sink = CeReceiver::start(&[]);
    let port = free_port();
    let router = Router::start(&config(&horizon, "wrong", &sink, port), port);
    router.wait_log(
        "Horizon rejected the login for corp\\svc (HTTP 400): fix horizon.auth.activeDirectoryAuth",
        Duration::from_secs(10),
    );
    let (code, body) = router.get("/readyz").unwrap();
    assert_eq!(code, 503);
    assert!(body.contains("horizon: "), "{body}");
}

/// The router against the fake Horizon, not waiting for it to be ready.
fn against(horizon: &Peer, sink: &CeReceiver) -> Router {
    let port = free_port();
    Router::start(&config(horizon, "secret", sink, port), port)
}

#[test]
fn a_redirect_on_login_is_not_followed_and_the_password_stays_home() {
    let horizon = Peer::start("fake_horizon.py", &["--password", "secret"]);
    let sink = CeReceiver::start(&[]);
    // Another origin (the same fake on a name it does not answer as Horizon): a client that
    // followed the 307 would re-POST the login, password and all, to it.
    let elsewhere = format!("http://localhost:{}/stolen", horizon.port);
    horizon.control(
        "POST",
        "/_control/mode",
        &json!({"redirect_login": elsewhere}).to_string(),
    );
    let router = against(&horizon, &sink);
    let log = router.wait_log("follows no redirect", Duration::from_secs(20));
    assert!(log.contains("HTTP 307") && log.contains("/stolen"), "{log}");
    let lines: Vec<String> = std::iter::from_fn(|| horizon.next_line(Duration::from_millis(500))).collect();
    assert!(
        lines.iter().all(|l| !l.starts_with("STOLEN")),
        "the login reached another origin: {lines:?}"
    );
    assert!(!log.contains("secret"), "the password in the log");
}

#[test]
fn a_huge_answer_is_cut_off_and_costs_no_memory() {
    let horizon = Peer::start("fake_horizon.py", &["--password", "secret"]);
    let sink = CeReceiver::start(&[]);
    add(&horizon, vec![audit(1, 0, "VLSI_USERLOGGEDIN_REST")]);
    let router = start(&horizon, &sink);
    // A 100 MB page of audit events.
    horizon.control(
        "POST",
        "/_control/mode",
        &json!({"huge_page_bytes": 100_000_000}).to_string(),
    );
    let log = router.wait_log("larger than 16777216 bytes", Duration::from_secs(30));
    assert!(log.contains("lower horizon.pageSize"), "{log}");
    let peak = router.peak_rss_kib().expect("VmHWM");
    assert!(peak < 128 * 1024, "peak RSS {peak} KiB for a 100 MB answer");
    // The server heals: the stream goes on where it was (after the backoff of its failures).
    horizon.control("POST", "/_control/mode", "{}");
    add(&horizon, vec![audit(2, 5_000, "VLSI_USERLOGGEDIN_REST")]);
    let next = sink
        .next(Duration::from_secs(60))
        .expect("event 2 after the server healed");
    assert_eq!(next["attributes"]["id"], "2");
}

#[test]
fn a_page_of_millions_of_tiny_items_is_refused_at_the_first_item_too_many() {
    let horizon = Peer::start("fake_horizon.py", &["--password", "secret"]);
    let sink = CeReceiver::start(&[]);
    add(&horizon, vec![audit(1, 0, "VLSI_USERLOGGEDIN_REST")]);
    let router = start(&horizon, &sink);
    // 8 million zeros in one 16 MB answer: read whole, they would cost about 14 times that.
    horizon.control("POST", "/_control/mode", &json!({"tiny_items": 8_000_000}).to_string());
    let log = router.wait_log("more than 1000 items in one page", Duration::from_secs(30));
    assert!(log.contains("audit-events"), "{log}");
    let peak = router.peak_rss_kib().expect("VmHWM");
    assert!(peak < 96 * 1024, "peak RSS {peak} KiB for a page of tiny items");
    // A page with more items than asked for (pageSize 4) is refused too.
    horizon.control("POST", "/_control/mode", &json!({"tiny_items": 5}).to_string());
    router.wait_log("a page of 5 items, more than the 4 asked for", Duration::from_secs(30));
    horizon.control("POST", "/_control/mode", "{}");
    add(&horizon, vec![audit(2, 5_000, "VLSI_USERLOGGEDIN_REST")]);
    let next = sink
        .next(Duration::from_secs(60))
        .expect("event 2 after the server healed");
    assert_eq!(next["attributes"]["id"], "2");
}

#[test]
fn a_backlog_larger_than_a_window_is_delivered_oldest_first_once_each() {
    let horizon = Peer::start("fake_horizon.py", &["--password", "secret"]);
    let sink = CeReceiver::start(&[]);
    add(&horizon, vec![audit(1, 0, "VLSI_USERLOGGEDIN_REST")]);
    let port = free_port();
    let router = Router::start(
        &config(&horizon, "secret", &sink, port).replace("pageSize: 4", "pageSize: 100"),
        port,
    );
    router.wait_ready(Duration::from_secs(20));
    // 300 new events of 120 KB at once: 36 MB, more than one window holds (32 MiB), so the
    // router reads the oldest first and comes back for the rest.
    let n = 300;
    horizon.control(
        "POST",
        "/_control/events",
        &json!({"count": n, "first_id": 100, "first_time": T0 + 1_000, "type": "VLSI_USERLOGGEDOUT", "pad": 120_000})
            .to_string(),
    );
    let mut ids = Vec::new();
    while let Some(rec) = sink.next(Duration::from_secs(10)) {
        ids.push(rec["attributes"]["id"].as_str().unwrap().parse::<i64>().unwrap());
        if ids.len() == n {
            break;
        }
    }
    assert_eq!(ids.len(), n, "every event; log:\n{}", router.log());
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first, once each");
    assert_eq!((ids[0], ids[n - 1]), (100, 100 + n as i64 - 1));
    // It narrowed: a window ended before the newest event.
    let narrowed = horizon.drain(Duration::from_millis(300)).iter().any(|c| {
        c["query"]["filter"].as_str().is_some_and(|f| {
            let f: Value = serde_json::from_str(f).unwrap();
            f["toValue"].as_i64().is_some_and(|to| to < T0 + 1_000 + n as i64 - 1)
        })
    });
    assert!(narrowed, "no narrowed window was read");
    let peak = router.peak_rss_kib().expect("VmHWM");
    assert!(peak < 128 * 1024, "peak RSS {peak} KiB for a 36 MB backlog");
}
