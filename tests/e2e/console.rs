//! The web console (issue 19), in Debian's headless Chromium driven by playwright-core
//! (tests/browser/console.mjs), against the router streaming from vcsim: a power-off appears in
//! the live view with its subject and VM, the detail is the CloudEvent the sink received, the
//! filter hides and shows it, a VM named like markup is shown as text, nothing is loaded from
//! elsewhere, and without credentials the console answers 401; the health view shows the source
//! ready and the processor's deliveries with charts, and names what is not ready; the dead-letters view lists what a
//! sink refused, a replay that fails again says so and keeps the letters, and once the sink
//! accepts, replaying one and then all delivers each to it and empties the file; a replay
//! without the page's token or from another site is refused; a sink answering 503 turns its
//! processor red with the error and a climbing retry count, and it recovers; a console that never
//! reads its stream, and a browser closed mid-stream, neither slow delivery nor grow the router. Screenshots go to target/console/.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use e2e::browser::Browser;
use e2e::{eventually, free_port, http_get, knative, repo_root, CeReceiver, Router, TempDir, Vcsim};
use serde_json::Value;

const USER: &str = "console";
const PASS: &str = "Console-Pass1";
const HOSTILE: &str = "<img src=x onerror=alert(1)>";

/// A router streaming from the vCenter `name` at `address` (password `vc_password`) to `sink`,
/// its console on `port` behind [`USER`]/[`PASS`]; `top` adds top-level settings.
fn config(name: &str, address: &str, vc_password: &str, sink: &CeReceiver, port: u16, top: &str) -> String {
    let provider = format!(
        "  type: vcenter
  name: {name}
  vcenter:
    address: {address}
    insecureSSL: true
    auth:
      type: basic_auth
      basicAuth: {{username: user, password: {vc_password}}}
"
    );
    config_with(&provider, sink, port, top)
}

/// A router with this `eventProvider` block, delivering to `sink`, its console on `port`.
fn config_with(provider: &str, sink: &CeReceiver, port: u16, top: &str) -> String {
    e2e::router_config(
        "e2e-console",
        &format!("eventProvider:\n{provider}"),
        &format!("eventProcessor:\n{}", knative(&sink.url(), "binary")),
        port,
        Some((USER, PASS)),
        top,
    )
}

#[test]
fn the_live_view_shows_each_event_as_text_and_as_the_sink_received_it() {
    let vc = Vcsim::start(&[]);
    let sink = CeReceiver::start(&[]);
    let port = free_port();
    let checkpoints = TempDir::new("console-checkpoints");
    let provider = format!(
        "  type: vcenter
  name: vcsim
  vcenter:
    address: {}
    insecureSSL: true
    checkpoint: true
    checkpointDir: {}
    auth:
      type: basic_auth
      basicAuth: {{username: user, password: pass}}
",
        vc.sdk_url(),
        checkpoints.path().display()
    );
    let router = Router::start(&config_with(&provider, &sink, port, ""), port);
    router.wait_ready(Duration::from_secs(20));

    // Without credentials: 401, and the page itself comes with a strict policy.
    let (status, _) = http_get(port, "/ui/").expect("the console answers");
    assert_eq!(status, 401);
    let page = e2e::http_get_auth(port, "/ui/", USER, PASS).expect("the console answers");
    assert_eq!(page.0, 200);
    assert!(
        page.2
            .contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{}",
        page.2
    );

    let mut browser = Browser::open(&format!("http://127.0.0.1:{port}/ui/"), USER, PASS);
    vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    let seen = browser.ask("wait VmPoweredOffEvent|DC0_H0_VM0");
    assert_eq!(seen["ok"], true, "{seen}");
    assert!(seen["ms"].as_u64().unwrap() < 2000, "within 2 s: {seen}");
    let cells = &seen["cells"];
    assert_eq!(cells[2], "com.vmware.event.router/event");
    assert_eq!(cells[3], "VmPoweredOffEvent");
    assert!(cells[1].as_str().unwrap().ends_with("/sdk"), "{cells}");

    // The detail is the CloudEvent the sink received.
    let received = sink.until("VmPoweredOffEvent", Duration::from_secs(5));
    let at_sink = received.last().unwrap();
    let json = &seen["json"];
    assert_eq!(json["id"], at_sink["attributes"]["id"]);
    assert_eq!(json["type"], at_sink["attributes"]["type"]);
    assert_eq!(json["subject"], at_sink["attributes"]["subject"]);
    assert_eq!(json["data"], at_sink["data"]);

    // The filter hides it and shows it again.
    let none = browser.ask("filter subject NoSuchEvent");
    assert_eq!(none["rows"], 0, "{none}");
    let back = browser.ask("filter subject VmPoweredOff");
    assert!(back["rows"].as_u64().unwrap() >= 1, "{back}");
    browser.ask("filter subject ");

    // A VM named like markup is shown as those characters, and runs nothing.
    vc.govc(&["object.rename", "/DC0/vm/DC0_H0_VM1", HOSTILE]);
    vc.govc(&["vm.power", "-off", HOSTILE]);
    let hostile = browser.ask(&format!("wait VmPoweredOffEvent|{HOSTILE}"));
    assert_eq!(hostile["ok"], true, "{hostile}");
    assert_eq!(
        hostile["cells"][4],
        format!("DC0, DC0_H0, {HOSTILE}"),
        "datacenter, host, VM: as text"
    );
    assert_eq!(hostile["json"]["data"]["Vm"]["Name"], HOSTILE);

    assert_eq!(seen["history"], false, "it happened while the page watched");

    // A new visit shows what just happened, marked as history, and then live events again.
    let again = browser.ask("reload");
    assert_eq!(again["ok"], true, "{again}");
    let past = browser.ask("wait VmPoweredOffEvent|DC0_H0_VM0");
    assert_eq!(past["ok"], true, "{past}");
    assert_eq!(past["history"], true, "{past}");
    assert_eq!(past["json"]["id"], json["id"], "the same event");
    let hostile_past = browser.ask(&format!("wait VmPoweredOffEvent|{HOSTILE}"));
    assert_eq!(hostile_past["history"], true, "{hostile_past}");
    vc.govc(&["vm.power", "-on", "DC0_H0_VM0"]);
    let now = browser.ask("wait VmPoweredOnEvent|DC0_H0_VM0");
    assert_eq!(now["ok"], true, "{now}");
    assert_eq!(now["history"], false, "{now}");

    let dir = repo_root().join("target/console");
    std::fs::create_dir_all(&dir).unwrap();
    let shot = browser.ask(&format!("shot {}", dir.join("live.png").display()));
    assert_eq!(shot["ok"], true, "{shot}");

    // Health: ready, the source's stream and the processor's deliveries as /stats counts them,
    // and the charts drawn once the router has two samples (5 s apart).
    assert_eq!(browser.ask("view health")["ok"], true);
    let stats: Value = {
        let (_, body, _) = e2e::http_get_auth(port, "/stats", USER, PASS).unwrap();
        serde_json::from_str(&body).unwrap()
    };
    let delivered = stats["vmware.event.router.stats"]["knative"]["events_total"]
        .as_u64()
        .unwrap();
    let health = eventually(Duration::from_secs(20), "charts drawn", || {
        let h = browser.ask("health ^Ready$");
        let drawn = h["cards"]
            .as_array()?
            .iter()
            .all(|c| (c["drawn"].as_array().unwrap().iter()).all(|n| n.as_u64().unwrap() > 0));
        drawn.then_some(h)
    });
    let cards = health["cards"].as_array().unwrap();
    assert_eq!(cards.len(), 2, "{health}");
    let source = cards.iter().find(|c| c["name"] == "vcsim").expect("the source's card");
    let processor = cards
        .iter()
        .find(|c| c["name"] == "sink")
        .expect("the processor's card");
    assert_eq!(source["bad"], false, "{source}");
    let text = source["text"].as_str().unwrap();
    assert!(text.contains("session\nup"), "{text}");
    // Where the stream is: the last event read, vCenter's newest (caught up) and the checkpoint
    // (written every 5 s by default, once the sink has taken the events).
    let newest = eventually(Duration::from_secs(20), "the checkpoint past the last event", || {
        let h = browser.ask("health ^Ready$");
        let card = h["cards"].as_array()?.iter().find(|c| c["name"] == "vcsim")?.clone();
        let text = card["text"].as_str()?.to_string();
        let read_key = line_after(&text, "last event read").split(" at ").next()?.to_string();
        (text.contains("\ncheckpoint\n") && line_after(&text, "checkpoint").starts_with(&read_key)).then_some(text)
    });
    let read = line_after(&newest, "last event read");
    assert!(read.starts_with("key "), "{newest}");
    assert_eq!(read, line_after(&newest, "newest in vCenter"), "caught up: {newest}");
    assert_eq!(line_after(&newest, "behind vCenter"), "0 events, 0 s", "{newest}");
    let checkpoint = line_after(&newest, "checkpoint");
    let written = checkpoint_file(checkpoints.path());
    assert!(
        checkpoint.starts_with(&format!(
            "key {} at {}",
            written["lastEventKey"],
            written["lastEventKeyTimestamp"].as_str().unwrap()
        )),
        "the page shows the checkpoint file's position: {checkpoint} vs {written}"
    );
    let text = processor["text"].as_str().unwrap();
    assert!(text.contains(&format!("delivered\n{delivered}")), "{text}");
    assert!(text.contains("queue\n0 of 1024"), "{text}");
    assert!(text.contains("dead letters\n0"), "{text}");
    let (_, prom, _) = e2e::http_get_auth(port, "/metrics", USER, PASS).unwrap();
    assert!(
        prom.contains("event_router_queue_depth{component=\"knative\",name=\"sink\"} 0\n"),
        "{prom}"
    );
    assert!(
        prom.contains("event_router_queue_capacity{component=\"knative\",name=\"sink\"} 1024\n"),
        "{prom}"
    );
    let shot = browser.ask(&format!("shot {}", dir.join("health.png").display()));
    assert_eq!(shot["ok"], true, "{shot}");

    let checks = browser.ask("dialogs");
    assert_eq!(checks["dialogs"], 0, "an event field ran as script: {checks}");
    assert_eq!(
        checks["external"],
        serde_json::json!([]),
        "loaded from elsewhere: {checks}"
    );
}

/// The line after `label` in a card's text (its value).
fn line_after<'a>(text: &'a str, label: &str) -> &'a str {
    let mut lines = text.lines();
    lines
        .find(|l| *l == label)
        .unwrap_or_else(|| panic!("no {label:?} in {text}"));
    lines.next().unwrap_or_default()
}

/// The one checkpoint file under `dir`.
fn checkpoint_file(dir: &std::path::Path) -> Value {
    let file = std::fs::read_dir(dir)
        .unwrap()
        .next()
        .expect("a checkpoint file")
        .unwrap();
    serde_json::from_slice(&std::fs::read(file.path()).unwrap()).unwrap()
}

/// The dead-letter file's lines.
fn letters(path: &std::path::Path) -> Vec<Value> {
    (std::fs::read_to_string(path).unwrap_or_default().lines())
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a dead letter"))
        .collect()
}

/// Waits until the sink accepted (202) the event with this id.
fn accepted(sink: &CeReceiver, id: &str) {
    loop {
        let rec = sink
            .next(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("the sink never accepted event {id}"));
        if rec["attributes"]["id"] == id && rec["status"] == 202 {
            return;
        }
    }
}

#[test]
fn dead_letters_are_listed_and_replayed_from_the_console() {
    let vc = Vcsim::start(&[]);
    let dir = TempDir::new("console-dlq");
    let refusing = dir.path().join("refusing");
    std::fs::write(&refusing, "").unwrap();
    let sink = CeReceiver::start(&[
        "--reject-subject",
        "VmPoweredOffEvent",
        "--reject-while",
        refusing.to_str().unwrap(),
    ]);
    let dlq = dir.path().join("dead-letters.jsonl");
    let port = free_port();
    let top = format!("deadLetterFile: {}\n", dlq.display());
    let router = Router::start(&config("vcsim", &vc.sdk_url(), "pass", &sink, port, &top), port);
    router.wait_ready(Duration::from_secs(20));

    vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    vc.govc(&["vm.power", "-off", "DC0_H0_VM1"]);
    let written = eventually(Duration::from_secs(20), "two dead letters", || {
        let l = letters(&dlq);
        (l.len() == 2).then_some(l)
    });
    let ids: Vec<String> = (written.iter())
        .map(|l| l["event"]["id"].as_str().unwrap().to_string())
        .collect();

    let mut browser = Browser::open(&format!("http://127.0.0.1:{port}/ui/"), USER, PASS);
    assert_eq!(browser.ask("view dead-letters")["ok"], true);
    let listed = browser.ask("dlq 2");
    assert_eq!(listed["ok"], true, "{listed}");
    assert_eq!(listed["count"], "2 dead letters");
    let mut shown: Vec<String> = (listed["ids"].as_array().unwrap().iter())
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(shown[0], ids[1], "newest first");
    shown.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(shown, want);
    for row in listed["cells"].as_array().unwrap() {
        assert_eq!(row[1], "sink", "{row}");
        assert_eq!(row[3], "VmPoweredOffEvent", "{row}");
        assert!(row[4].as_str().unwrap().contains("400"), "the sink's answer: {row}");
    }
    // The list carries each letter's head; a row opens the whole letter, as the file holds it.
    let opened = browser.ask(&format!("open {}", ids[0]));
    let shown: Value =
        serde_json::from_str(opened["json"].as_str().unwrap_or_default()).unwrap_or_else(|e| panic!("{opened}: {e}"));
    assert_eq!(shown, written[0], "the letter whole");
    assert!(shown["event"]["data"]["Vm"]["Name"].is_string(), "{shown}");

    // Without the page's token, with another, or from another site, a replay is refused and
    // changes nothing.
    let auth = (USER, PASS);
    let page = e2e::http_get_auth(port, "/ui/", USER, PASS).unwrap().1;
    let token = page
        .split("<meta name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page carries its token")
        .to_string();
    assert_eq!(token.len(), 64, "{token}");
    let replay = |extra: &str| {
        e2e::http_post_auth(port, "/ui/dead-letters/replay", auth, extra, "{}").expect("the console answers")
    };
    let (status, body, _) = replay("");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("X-CSRF-Token"), "{body}");
    let (status, _, _) = replay(&format!("X-CSRF-Token: {}\r\n", "0".repeat(64)));
    assert_eq!(status, 403);
    let (status, _, _) = replay(&format!("X-CSRF-Token: {token}\r\nSec-Fetch-Site: cross-site\r\n"));
    assert_eq!(status, 403);
    assert_eq!(letters(&dlq).len(), 2);

    // The sink still refuses: both fail again and stay.
    let again = browser.ask("replay all");
    assert_eq!(again["ok"], true, "{again}");
    let text = again["result"].as_str().unwrap();
    assert!(text.starts_with("Replayed 0, failed again 2, kept 0."), "{text}");
    assert_eq!(again["bad"], "result bad");
    assert_eq!(browser.ask("dlq 2")["ok"], true);

    // Healed: one, then the rest.
    std::fs::remove_file(&refusing).unwrap();
    let one = browser.ask(&format!("replay {}", ids[0]));
    let text = one["result"].as_str().unwrap_or_default();
    assert!(text.starts_with("Replayed 1, failed again 0, kept 0."), "{one}");
    assert!(text.contains(&ids[0]), "{text}");
    accepted(&sink, &ids[0]);
    let left = browser.ask("dlq 1");
    assert_eq!(left["ids"][0], ids[1], "{left}");
    assert_eq!(letters(&dlq).len(), 1);

    let dir_shots = repo_root().join("target/console");
    std::fs::create_dir_all(&dir_shots).unwrap();
    let shot = browser.ask(&format!("shot {}", dir_shots.join("dead-letters.png").display()));
    assert_eq!(shot["ok"], true, "{shot}");

    let rest = browser.ask("replay all");
    let text = rest["result"].as_str().unwrap_or_default();
    assert!(text.starts_with("Replayed 1, failed again 0, kept 0."), "{rest}");
    accepted(&sink, &ids[1]);
    assert_eq!(browser.ask("dlq 0")["ok"], true);
    assert!(letters(&dlq).is_empty());
    assert_eq!(browser.ask("dialogs")["dialogs"], 0);
}

#[test]
fn the_health_view_names_what_is_not_ready() {
    let sink = CeReceiver::start(&[]);
    let closed = free_port();
    let port = free_port();
    let address = format!("https://127.0.0.1:{closed}/sdk");
    let cfg = config("gone", &address, "Vc-Secret-77", &sink, port, "");
    let router = Router::start(&cfg, port);
    eventually(Duration::from_secs(20), "the metrics server", || {
        router.get("/healthz").filter(|(s, _)| *s == 200)
    });
    let mut browser = Browser::open(&format!("http://127.0.0.1:{port}/ui/#health"), USER, PASS);
    let health = eventually(Duration::from_secs(20), "the login failure named", || {
        let h = browser.ask("health ^Not ready: gone: vCenter session is down$");
        let card = h["cards"].as_array()?.iter().find(|c| c["name"] == "gone")?.clone();
        card["text"].as_str()?.contains("last error").then_some(card)
    });
    assert_eq!(health["bad"], true, "{health}");
    let text = health["text"].as_str().unwrap();
    assert!(text.contains("not ready: vCenter session is down"), "{text}");
    assert!(text.contains("session\ndown"), "{text}");
    assert!(
        text.contains(&format!("127.0.0.1:{closed}")),
        "the error names the address: {text}"
    );
    assert!(!text.contains("Vc-Secret-77"), "no password on the page: {text}");
}

#[test]
fn a_failing_sink_turns_its_processor_red_and_it_recovers() {
    let vc = Vcsim::start(&[]);
    let sink = CeReceiver::start(&["--fail-for", "25", "--status", "503"]);
    let port = free_port();
    let cfg = config("vcsim", &vc.sdk_url(), "pass", &sink, port, "")
        .replace("    maxAttempts: 4\n", "    maxAttempts: 100\n");
    assert!(cfg.contains("maxAttempts: 100"), "{cfg}");
    let router = Router::start(&cfg, port);
    router.wait_ready(Duration::from_secs(20));
    let mut browser = Browser::open(&format!("http://127.0.0.1:{port}/ui/#health"), USER, PASS);
    vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);

    let sink_card = |browser: &mut Browser| -> Option<Value> {
        let h = browser.ask("health ^Ready$");
        h["cards"].as_array()?.iter().find(|c| c["name"] == "sink").cloned()
    };
    let retries = |card: &Value| -> u64 {
        let text = card["text"].as_str().unwrap_or_default();
        let n = text.split("retries\n").nth(1).and_then(|r| r.split('\n').next());
        n.and_then(|n| n.parse().ok()).unwrap_or(0)
    };
    let red = eventually(Duration::from_secs(15), "the processor red", || {
        sink_card(&mut browser).filter(|c| c["bad"] == true && retries(c) >= 1)
    });
    let text = red["text"].as_str().unwrap();
    assert!(text.contains("failing, retrying: HTTP 503"), "{text}");
    assert!(text.contains("last error\n"), "{text}");
    let first = retries(&red);
    // Retries back off (100 ms doubling, full jitter, at most 30 s apart: the outage policy),
    // so the next one, and the first after the sink is back, may be tens of seconds away.
    eventually(Duration::from_secs(60), "the retry count climbing", || {
        sink_card(&mut browser).filter(|c| c["bad"] == true && retries(c) > first)
    });
    let dir = repo_root().join("target/console");
    std::fs::create_dir_all(&dir).unwrap();
    browser.ask(&format!("shot {}", dir.join("health-failing.png").display()));

    // The sink answers again: delivered, and green.
    let green = eventually(Duration::from_secs(90), "the processor green again", || {
        sink_card(&mut browser).filter(|c| c["bad"] == false)
    });
    let text = green["text"].as_str().unwrap();
    assert!(text.contains("delivered\n"), "{text}");
    assert!(!text.contains("delivered\n0\n"), "{text}");
    let (_, prom, _) = e2e::http_get_auth(port, "/metrics", USER, PASS).unwrap();
    let line = (prom.lines())
        .find(|l| l.starts_with("event_router_retries_total{component=\"knative\",name=\"sink\"} "))
        .expect("the retry counter");
    let n: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n > first, "{line}");
}

/// Sends `count` CloudEvents in batches of 100 (each with `pad` bytes of data) to the webhook
/// with the CloudEvents SDK (tests/peers/ce_send.py).
fn pump(url: &str, prefix: &str, count: usize, pad: usize) {
    for batch in 0..count.div_ceil(100) {
        let n = (count - batch * 100).min(100);
        let out = Command::new(e2e::tool(".tools/venv/bin/python"))
            .arg(repo_root().join("tests/peers/ce_send.py"))
            .args([
                "--url",
                url,
                "--mode",
                "batch",
                "--user",
                "hook",
                "--password",
                "hook-pass",
            ])
            .args(["--count", &n.to_string(), "--pad", &pad.to_string()])
            .args(["--id-prefix", &format!("{prefix}{batch}-")])
            .output()
            .expect("run ce_send.py");
        assert!(out.status.success(), "ce_send.py: {}", e2e::output_text(&out));
        let answer: Value = serde_json::from_slice(&out.stdout).expect("ce_send.py's answer");
        assert_eq!(answer["status"], 200, "{answer}");
    }
}

/// Waits until the sink has accepted `count` more events.
fn drained(sink: &CeReceiver, count: usize) {
    for i in 0..count {
        sink.next(Duration::from_secs(20))
            .unwrap_or_else(|| panic!("the sink got {i} of {count} events"));
    }
}

#[test]
fn a_stuck_or_closed_console_leaves_delivery_and_memory_alone() {
    let sink = CeReceiver::start(&[]);
    let (hook, port) = (free_port(), free_port());
    let provider = format!(
        "  type: webhook
  name: hook
  webhook:
    bindAddress: 127.0.0.1:{hook}
    path: /webhook
    auth:
      type: basic_auth
      basicAuth: {{username: hook, password: hook-pass}}
"
    );
    let cfg = config_with(&provider, &sink, port, "");
    let router = Router::start(&cfg, port);
    router.wait_ready(Duration::from_secs(20));
    let url = format!("http://127.0.0.1:{hook}/webhook");
    const PAD: usize = 4000;

    // Warm up with no console open, then take the baseline.
    pump(&url, "warm-", 500, PAD);
    drained(&sink, 500);
    let before = router.rss_kib().expect("the router's RSS");

    // A watcher that never reads, and a browser closed half-way.
    let stuck = {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"));
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "GET /ui/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {token}\r\n\r\n"
        )
        .unwrap();
        s
    };
    let browser = Browser::open(&format!("http://127.0.0.1:{port}/ui/"), USER, PASS);
    pump(&url, "open-", 1000, PAD);
    drop(browser);
    pump(&url, "closed-", 1000, PAD);
    drained(&sink, 2000);
    let after = router.rss_kib().expect("the router's RSS");
    drop(stuck);

    eprintln!("router RSS: {before} KiB before, {after} KiB after 2000 events past a stuck console");
    // 2000 events of about 4 KiB went past a reader that never read: a router that kept them
    // for it would have grown by 8 MiB or more.
    assert!(
        after < before + 6 * 1024,
        "RSS grew from {before} KiB to {after} KiB with a stuck console"
    );
    let (_, body, _) = e2e::http_get_auth(port, "/stats", USER, PASS).unwrap();
    let stats: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        stats["vmware.event.router.stats"]["knative"]["events_total"], 2500,
        "every event delivered"
    );
}
