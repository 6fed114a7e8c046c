//! No way in (issue 17): the router against a hostile vCenter (tests/peers/hostile_vcenter.py:
//! a stalled set-up call, a 63 MiB answer of empty elements, a cross-origin 307 on Login, a
//! fault message with a newline), a client that sends half a request head and waits, and
//! reloads to configurations that validate but cannot start.

use std::io::Write;
use std::time::Duration;

use e2e::{free_port, knative_with, CeReceiver, Peer, Router, Vcsim};

/// A router streaming from the hostile vCenter on `port` (plain HTTP).
fn against(peer: &Peer, sink: &CeReceiver, metrics: u16) -> Router {
    let cfg = e2e::config(
        &format!("http://127.0.0.1:{}/sdk", peer.port),
        "",
        &knative_with(&sink.url(), ""),
        metrics,
    );
    Router::start(&cfg, metrics)
}

/// Waits for the peer to report the SOAP method `name`.
fn saw(peer: &Peer, name: &str) {
    let want = format!("REQUEST {name}");
    while let Some(line) = peer.next_line(Duration::from_secs(20)) {
        if line == want {
            return;
        }
    }
    panic!("the router never called {name}");
}

#[test]
fn sigterm_is_honoured_while_vcenter_stalls_a_set_up_call() {
    let peer = Peer::start("hostile_vcenter.py", &["--mode", "hang"]);
    let sink = CeReceiver::start(&[]);
    let mut router = against(&peer, &sink, free_port());
    saw(&peer, "RetrieveServiceContent");
    // The call has a 30 s timeout; SIGTERM must not wait for it.
    assert_eq!(
        router.terminate_within(Duration::from_secs(8)),
        Some(0),
        "still running 8 s after SIGTERM:\n{}",
        router.log()
    );
}

#[test]
fn a_wide_answer_is_refused_before_it_exhausts_memory() {
    let peer = Peer::start("hostile_vcenter.py", &["--mode", "wide"]);
    let sink = CeReceiver::start(&[]);
    let router = against(&peer, &sink, free_port());
    let log = router.wait_log("more than 200000 elements", Duration::from_secs(60));
    assert!(log.contains("unreadable vCenter response"), "{log}");
    let peak = router.peak_rss_kib().expect("VmHWM");
    assert!(
        peak < 256 * 1024,
        "peak RSS {peak} KiB: the pod's 256 MiB limit would have been the defence"
    );
}

#[test]
fn a_redirect_on_login_is_not_followed() {
    let peer = Peer::start("hostile_vcenter.py", &["--mode", "redirect"]);
    let sink = CeReceiver::start(&[]);
    let router = against(&peer, &sink, free_port());
    let log = router.wait_log("does not follow redirects", Duration::from_secs(20));
    assert!(log.contains("HTTP 307"), "{log}");
    let mut lines = Vec::new();
    while let Some(l) = peer.next_line(Duration::from_millis(500)) {
        lines.push(l);
    }
    assert!(
        lines.iter().all(|l| !l.starts_with("STOLEN")),
        "the Login body reached another origin: {lines:?}"
    );
}

#[test]
fn a_fault_message_cannot_forge_a_log_line() {
    let peer = Peer::start("hostile_vcenter.py", &["--mode", "fault"]);
    let sink = CeReceiver::start(&[]);
    let router = against(&peer, &sink, free_port());
    let log = router.wait_log("A general system error occurred", Duration::from_secs(20));
    assert!(
        !log.lines().any(|l| l.starts_with("2026-12-01T00:00:00.000000Z")),
        "a server string started a log line:\n{log}"
    );
    assert!(
        log.contains("unavailable.\\n2026-12-01T00:00:00"),
        "escaped in place:\n{log}"
    );
}

fn webhook_config(vc: &Vcsim, sink: &CeReceiver, hook: u16, metrics: u16, extra_top: &str) -> String {
    format!(
        "apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata:
  name: e2e-hostile
eventProviders:
  - type: vcenter
    name: vcsim
    vcenter:
      address: {}
      insecureSSL: true
      auth:
        type: basic_auth
        basicAuth: {{username: user, password: pass}}
  - type: webhook
    name: hook
    webhook:
      bindAddress: 127.0.0.1:{hook}
eventProcessor:
  type: knative
  name: sink
  knative:
    destination: {{uri: \"{}\"}}
metricsProvider:
  type: default
  name: metrics
  default:
    bindAddress: 127.0.0.1:{metrics}
shutdownGraceSeconds: 2
{extra_top}",
        vc.sdk_url(),
        sink.url()
    )
}

/// A client that sends half a request head and then waits.
fn half_request(port: u16) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"POST /webhook HTTP/1.1\r\nHost: x\r\n").unwrap();
    s
}

#[test]
fn a_slow_client_cannot_hold_sighup_or_sigterm() {
    let vc = Vcsim::start(&[]);
    let sink = CeReceiver::start(&[]);
    let (hook, metrics) = (free_port(), free_port());
    let mut router = Router::start(&webhook_config(&vc, &sink, hook, metrics, ""), metrics);
    router.wait_ready(Duration::from_secs(20));
    let _slow = [half_request(hook), half_request(metrics)];
    std::thread::sleep(Duration::from_millis(300));

    // SIGHUP to a changed config: the reload completes although both connections are held.
    router.reload(&webhook_config(
        &vc,
        &sink,
        hook,
        metrics,
        "deadLetterFile: /tmp/e2e-hostile-dead.jsonl\n",
    ));
    router.wait_log("configuration reloaded", Duration::from_secs(15));
    router.wait_ready(Duration::from_secs(20));
    let _slow_again = [half_request(hook), half_request(metrics)];
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        router.terminate_within(Duration::from_secs(15)),
        Some(0),
        "SIGTERM held by a slow client:\n{}",
        router.log()
    );
}

#[test]
fn sighup_keeps_the_running_configuration_when_the_new_one_cannot_start() {
    let vc = Vcsim::start(&[]);
    let sink = CeReceiver::start(&[]);
    let (hook, metrics) = (free_port(), free_port());
    let good = webhook_config(&vc, &sink, hook, metrics, "");
    let router = Router::start(&good, metrics);
    router.wait_ready(Duration::from_secs(20));

    // The new metrics port is taken by another process.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().port();
    router.reload(&webhook_config(&vc, &sink, hook, busy, ""));
    let log = router.wait_log("keeping the running configuration", Duration::from_secs(15));
    assert!(log.contains("cannot start") && log.contains(&busy.to_string()), "{log}");

    // A root CA file that does not exist: it validates, it cannot start.
    let missing = good.replace(
        "shutdownGraceSeconds: 2\n",
        "shutdownGraceSeconds: 2\ncertificates:\n  rootCAs: [/nonexistent/e2e-ca.pem]\n",
    );
    router.reload(&missing);
    std::thread::sleep(Duration::from_secs(2));
    let log = router.log();
    assert_eq!(log.matches("keeping the running configuration").count(), 2, "{log}");
    assert!(log.contains("/nonexistent/e2e-ca.pem"), "{log}");

    // The running configuration still serves and streams.
    router.wait_ready(Duration::from_secs(5));
    vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    let got = sink.until("VmPoweredOffEvent", Duration::from_secs(10));
    assert!(
        got.iter().any(|r| r["attributes"]["subject"] == "VmPoweredOffEvent"),
        "{}",
        router.log()
    );
    drop(taken);
}

#[test]
fn credentials_in_a_sink_url_reach_no_log_line_and_not_stats() {
    let vc = Vcsim::start(&[]);
    let metrics = free_port();
    // A sink URL with credentials in it, on a port nobody listens on: deliveries fail and are
    // logged with the sink's address.
    let sink = format!("http://admin:S3cr3t-in-url@127.0.0.1:{}/", free_port());
    let processor = knative_with(&sink, "    maxAttempts: 1\n");
    let cfg = e2e::config(&vc.sdk_url(), "    insecureSSL: true", &processor, metrics);
    let router = Router::start(&cfg, metrics);
    router.wait_ready(Duration::from_secs(20));
    vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    let log = router.wait_log("giving up on the event", Duration::from_secs(20));
    let (_, stats) = router.get("/stats").expect("/stats");
    assert!(stats.contains("http://***@127.0.0.1"), "{stats}");
    for text in [&log, &stats] {
        assert!(!text.contains("S3cr3t-in-url"), "a credential leaked:\n{text}");
    }
}
