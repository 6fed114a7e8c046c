//! CloudEvents made with the Python CloudEvents SDK -> the router's webhook -> a Knative-style
//! sink (the SDK's receiver): binary, structured and batch mode; basic auth; the size limit;
//! and a failing processor turning into a non-2xx answer.

use std::process::Command;
use std::time::Duration;

use e2e::{free_port, output_text, repo_root, tool, CeReceiver, Router};
use serde_json::Value;

const STEP: Duration = Duration::from_secs(5);

fn config(hook_port: u16, sink: &CeReceiver, encoding: &str, metrics_port: u16) -> String {
    format!(
        "apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata:
  name: e2e-webhook
eventProvider:
  type: webhook
  name: hook
  webhook:
    bindAddress: 127.0.0.1:{hook_port}
    path: /Webhook/
    maxBodyBytes: 4096
    auth:
      type: basic_auth
      basicAuth: {{username: hook-user, password: hook-pass}}
eventProcessor:
  type: knative
  name: sink
  knative:
    encoding: {encoding}
    maxAttempts: 1
    destination: {{uri: \"{}\"}}
metricsProvider:
  type: default
  name: metrics
  default:
    bindAddress: 127.0.0.1:{metrics_port}
",
        sink.url()
    )
}

/// Runs ce_send.py; one JSON answer per request.
fn send(url: &str, args: &[&str]) -> Vec<Value> {
    let out = Command::new(tool(".tools/venv/bin/python"))
        .arg(repo_root().join("tests/peers/ce_send.py"))
        .args(["--url", url])
        .args(args)
        .output()
        .expect("run ce_send.py");
    assert!(out.status.success(), "ce_send.py: {}", output_text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const CREDS: [&str; 4] = ["--user", "hook-user", "--password", "hook-pass"];

fn start(encoding: &str, sink: &CeReceiver) -> (Router, String) {
    let (hook, metrics) = (free_port(), free_port());
    let router = Router::start(&config(hook, sink, encoding, metrics), metrics);
    router.wait_ready(Duration::from_secs(20));
    (router, format!("http://127.0.0.1:{hook}/webhook"))
}

#[test]
fn events_in_every_mode_reach_the_sink_unchanged() {
    let sink = CeReceiver::start(&[]);
    let (router, url) = start("binary", &sink);
    let mut answers = send(
        &url,
        &[&["--mode", "binary", "--id-prefix", "bin-"][..], &CREDS].concat(),
    );
    answers.extend(send(
        &url,
        &[&["--mode", "structured", "--id-prefix", "str-"][..], &CREDS].concat(),
    ));
    answers.extend(send(
        &url,
        &[&["--mode", "batch", "--count", "3", "--id-prefix", "bat-"][..], &CREDS].concat(),
    ));
    for a in &answers {
        assert_eq!(a["status"], 200, "{a}; log:\n{}", router.log());
    }
    let mut ids = Vec::new();
    for _ in 0..5 {
        let rec = sink
            .next(STEP)
            .unwrap_or_else(|| panic!("missing event; log:\n{}", router.log()));
        let a = &rec["attributes"];
        assert_eq!(rec["defaulted"], serde_json::json!([]), "{rec}");
        assert_eq!(a["source"], "urn:e2e:webhook");
        assert_eq!(a["type"], "com.example.e2e.test");
        assert_eq!(a["subject"], "VmPoweredOnEvent é", "percent-decoded and re-encoded");
        assert_eq!(a["time"], "2026-11-30T10:00:00Z");
        let id = a["id"].as_str().unwrap().to_string();
        let i = id.rsplit('-').next().unwrap().to_string();
        assert_eq!(a["vspherevm"], format!("vm-{i}"));
        assert_eq!(rec["data"]["index"].to_string(), i);
        ids.push(id);
    }
    assert_eq!(ids, ["bin-0", "str-0", "bat-0", "bat-1", "bat-2"]);
    let (_, stats) = router.get("/stats").unwrap();
    let stats: Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["vmware.event.router.stats"]["webhook"]["events_total"], 5);
    assert_eq!(stats["vmware.event.router.stats"]["knative"]["events_total"], 5);
}

#[test]
fn wrong_credentials_oversized_bodies_and_wrong_requests_are_refused() {
    let sink = CeReceiver::start(&[]);
    let (router, url) = start("structured", &sink);
    for creds in [&[][..], &["--user", "hook-user", "--password", "nope"][..]] {
        let a = &send(&url, &[&["--mode", "structured"][..], creds].concat())[0];
        assert_eq!(a["status"], 401, "{a}");
        assert_eq!(a["www_authenticate"], "Basic realm=\"event-router-webhook\"");
    }
    let a = &send(&url, &[&["--mode", "binary", "--pad", "8000"][..], &CREDS].concat())[0];
    assert_eq!(a["status"], 413, "{a}");
    assert!(a["body"].as_str().unwrap().contains("maxBodyBytes"), "{a}");
    let a = &send(
        &url,
        &[&["--mode", "structured", "--method", "PUT"][..], &CREDS].concat(),
    )[0];
    assert_eq!(a["status"], 405, "{a}");
    let other = url.replace("/webhook", "/hook");
    let a = &send(&other, &[&["--mode", "structured"][..], &CREDS].concat())[0];
    assert_eq!(a["status"], 404, "{a}");
    assert!(
        a["body"].as_str().unwrap().contains("POST CloudEvents to /webhook"),
        "{a}"
    );
    assert!(
        sink.next(Duration::from_millis(500)).is_none(),
        "nothing may reach the sink"
    );
    assert!(!router.log().contains("hook-pass"));
}

#[test]
fn a_failing_processor_turns_into_a_non_2xx_answer() {
    let sink = CeReceiver::start(&["--status", "500", "--fail-count", "1000"]);
    let (_router, url) = start("binary", &sink);
    let a = &send(
        &url,
        &[&["--mode", "structured", "--id-prefix", "f-"][..], &CREDS].concat(),
    )[0];
    assert_eq!(a["status"], 502, "{a}");
    let body = a["body"].as_str().unwrap();
    assert!(body.contains("event f-0: processor sink:"), "{body}");
    assert!(body.contains("500"), "{body}");
}

#[test]
fn a_body_that_is_not_a_cloudevent_gets_400_naming_the_problem() {
    use std::io::{Read, Write};
    let sink = CeReceiver::start(&[]);
    let (_router, url) = start("binary", &sink);
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/webhook")
        .to_string();
    let body = r#"{"hello": "world"}"#;
    let auth = "aG9vay11c2VyOmhvb2stcGFzcw=="; // hook-user:hook-pass
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /webhook HTTP/1.1\r\nhost: {addr}\r\nauthorization: Basic {auth}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("not a CloudEvent: no ce-specversion header"),
        "{answer}"
    );
    assert!(sink.next(Duration::from_millis(500)).is_none());
}
