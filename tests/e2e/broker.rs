//! A Broker that gains its address late (issue 33): on a busy first boot the router starts
//! before Knative has made the Broker Ready. The router keeps running, not ready (`/readyz`
//! says why), events wait, and once the Broker has an address they are delivered. The
//! Kubernetes API is a fake following its REST paths (tests/e2e/kube_api.rs runs a real one).

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use e2e::{eventually, free_port, CeReceiver, Router, TempDir};

#[test]
fn the_router_waits_not_ready_for_a_broker_without_an_address_then_delivers() {
    let sink = CeReceiver::start(&[]);
    let ready = Arc::new(AtomicBool::new(false));
    let sink_url = sink.url();
    let api = e2e::json_server({
        let ready = ready.clone();
        move |path, headers| {
            if !headers
                .iter()
                .any(|h| h.eq_ignore_ascii_case("authorization: Bearer tok"))
            {
                return (401, "{}".into());
            }
            if path != "/apis/eventing.knative.dev/v1/namespaces/vmware-functions/brokers/default" {
                return (404, "{}".into());
            }
            if ready.load(Ordering::SeqCst) {
                (
                    200,
                    serde_json::json!({"status": {"address": {"url": sink_url}}}).to_string(),
                )
            } else {
                (
                    200,
                    r#"{"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}"#.into(),
                )
            }
        }
    });
    let sa = TempDir::new("broker-sa");
    std::fs::write(sa.path().join("token"), "tok\n").unwrap();
    let (port, hook) = (free_port(), free_port());
    let processor = "eventProcessor:
  type: knative
  name: broker
  knative:
    encoding: binary
    destination:
      ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: default, namespace: vmware-functions}
";
    let config = e2e::router_config(
        "broker-late",
        &format!("eventProvider:\n  type: webhook\n  name: hook\n  webhook:\n    bindAddress: 127.0.0.1:{hook}\n    path: /webhook\n"),
        processor,
        port,
        None,
        "",
    );
    let api_port = api.to_string();
    let router = Router::start_env(
        &config,
        port,
        &["--log-level", "info"],
        &[
            ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
            ("KUBERNETES_SERVICE_PORT", api_port.as_str()),
            ("EVENT_ROUTER_KUBE_SCHEME", "http"),
            ("EVENT_ROUTER_SA_DIR", sa.path().to_str().unwrap()),
        ],
    );
    // Running, not ready, and saying why.
    let (code, why) = eventually(Duration::from_secs(20), "the router answers /readyz", || {
        router.get("/readyz")
    });
    assert_eq!(code, 503, "{why}");
    assert!(
        why.contains("broker: ") && why.contains("no status.address.url yet"),
        "{why}"
    );

    // An event arrives meanwhile: it waits (the webhook answers once it is delivered).
    let post = std::thread::spawn(move || {
        let body = r#"{"specversion":"1.0","id":"late-1","source":"urn:test","type":"com.example.late"}"#;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", hook)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
        write!(
            s,
            "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/cloudevents+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(!post.is_finished(), "the event waits for the Broker's address");
    assert!(sink.next(Duration::from_millis(200)).is_none(), "nothing delivered yet");

    // Knative makes the Broker Ready: the router finds its address, becomes ready, delivers.
    ready.store(true, Ordering::SeqCst);
    let delivered = sink
        .next(Duration::from_secs(60))
        .expect("the waiting event is delivered");
    assert_eq!(delivered["attributes"]["id"], "late-1");
    assert!(post.join().unwrap().starts_with("HTTP/1.1 200"));
    e2e::eventually_true(Duration::from_secs(10), "/readyz turns 200", || {
        matches!(router.get("/readyz"), Some((200, _)))
    });
    let log = router.log();
    assert!(log.contains("the destination has an address: delivering"), "{log}");
}
