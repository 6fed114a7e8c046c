//! No way in on the defaults, round 2 (issue 31), against the real binaries: the appliance's
//! default form (no Endpoint Password) renders credentials and the router answers no data route
//! without them; unauthenticated bodies cost nothing and one client cannot starve the probes;
//! large dead-letter files are listed and replayed, and large structured events decoded, in
//! bounded memory (VmHWM from /proc); a replay that failed half-way keeps its letters through the
//! next one.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e::{eventually, free_port, repo_root, CeReceiver, Router, TempDir, Vcsim};
use serde_json::Value;

/// The peak RSS a memory case may reach (the pod's limit is 256 MiB).
const MEMORY_BOUND_KIB: u64 = 128 * 1024;
/// The bound for the hostile webhook mix: the webhook's 64 MiB budget full, the router's own
/// ~25 MiB, and what decoding two requests at once holds besides (the pod's limit is 256 MiB).
const WEBHOOK_BOUND_KIB: u64 = 160 * 1024;

/// One request on loopback with this `Host` and extra header lines: (status, body), or `None`
/// when the server closed the connection without an answer.
fn request(port: u16, method: &str, path: &str, host: &str, extra: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let body = if method == "POST" { "{}" } else { "" };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).ok()?;
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let status = resp.split_whitespace().nth(1)?.parse().ok()?;
    Some((
        status,
        resp.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default(),
    ))
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Authorization: Basic {token}\r\n")
}

/// The metrics address's data routes and actions (every route but the probes).
const DATA_ROUTES: &[(&str, &str)] = &[
    ("GET", "/stats"),
    ("GET", "/metrics"),
    ("GET", "/ui"),
    ("GET", "/ui/"),
    ("GET", "/ui/app.js"),
    ("GET", "/ui/stream"),
    ("GET", "/ui/health"),
    ("GET", "/ui/appliance"),
    ("GET", "/ui/dead-letters"),
    ("GET", "/ui/dead-letters/letter?line=1"),
    ("POST", "/ui/dead-letters/replay"),
    ("GET", "/nowhere"),
];

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_default_form_renders_credentials_and_no_route_answers_without_them() {
    let root = TempDir::new("open-door-root");
    // static-knative has no Endpoint Password, as the deploy form's default; no seed, so no
    // earlier run's password either.
    let env = repo_root().join("firstboot/testdata/static-knative.xml");
    let out = Command::new(e2e::workspace_bin("firstboot"))
        .args(["render", "--ovf-env"])
        .arg(&env)
        .arg("--root")
        .arg(root.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", e2e::output_text(&out));
    let password_file = root.path().join("etc/event-router/endpoint-password");
    let password = std::fs::read_to_string(&password_file).unwrap().trim().to_string();
    assert!(password.len() >= 20, "{password}");
    assert_eq!(mode(&password_file), 0o600);
    let banner_part = root.path().join("etc/issue.d/50-endpoint-password.issue");
    assert_eq!(mode(&banner_part), 0o600, "only agetty (root) reads it");
    assert!(std::fs::read_to_string(&banner_part).unwrap().contains(&password));
    let issue = std::fs::read_to_string(root.path().join("etc/issue")).unwrap();
    assert!(
        !issue.contains(&password),
        "the world-readable banner names the file only"
    );
    assert!(issue.contains("/etc/event-router/endpoint-password"), "{issue}");

    // The rendered RouterConfig as the appliance runs it, but against vcsim and a loopback sink
    // (no Kubernetes here), with its metricsProvider (and the auth in it) untouched.
    let vc = Vcsim::start(&[]);
    let sink = CeReceiver::start(&[]);
    let port = free_port();
    let data = TempDir::new("open-door-data");
    let rendered = std::fs::read_to_string(root.path().join("etc/event-router/config.yaml")).unwrap();
    assert!(rendered.contains("    auth:\n      type: basic_auth"), "{rendered}");
    let processor = rendered.find("eventProcessor:").unwrap();
    let metrics = rendered.find("metricsProvider:").unwrap();
    let config = format!(
        "{}eventProcessor:\n{}{}",
        &rendered[..processor],
        e2e::knative(&sink.url(), "binary"),
        &rendered[metrics..]
    )
    .replace("https://vcsa.corp.local/sdk", &vc.sdk_url())
    .replace("insecureSSL: false", "insecureSSL: true")
    .replace("username: administrator@vsphere.local", "username: user")
    .replace("password: VMware1!", "password: pass")
    .replace("0.0.0.0:8082", &format!("127.0.0.1:{port}"))
    .replace("/var/lib/event-router/checkpoints", &data.path().display().to_string());
    let router = Router::start(&config, port);
    eventually(Duration::from_secs(20), "the router listens", || router.get("/healthz"));

    for host in ["127.0.0.1", "localhost", "veba.corp.local"] {
        for (method, path) in DATA_ROUTES {
            let answer = request(port, method, path, host, "");
            assert_eq!(
                answer.as_ref().map(|a| a.0),
                Some(401),
                "{method} {path} (Host {host}) without credentials: {answer:?}"
            );
        }
    }
    // The probes answer anyone, and /readyz tells its reasons only with credentials.
    assert_eq!(request(port, "GET", "/healthz", "x", "").map(|a| a.0), Some(200));
    let auth = basic("admin", &password);
    let (code, _) = request(port, "GET", "/ui/health", "veba.corp.local", &auth).unwrap();
    assert_eq!(code, 200, "the generated password opens the console");
    let (code, _) = request(port, "GET", "/stats", "veba.corp.local", &basic("admin", "wrong")).unwrap();
    assert_eq!(code, 401);
    assert!(!router.log().contains(&password), "the password in the log");
}

#[test]
fn unauthenticated_bodies_cost_nothing_and_one_client_cannot_starve_the_probes() {
    let sink = CeReceiver::start(&[]);
    let (port, hook) = (free_port(), free_port());
    let config = e2e::router_config(
        "open-door-bodies",
        &format!("eventProvider:\n  type: webhook\n  name: hook\n  webhook:\n    bindAddress: 127.0.0.1:{hook}\n    path: /webhook\n"),
        &format!("eventProcessor:\n{}", e2e::knative(&sink.url(), "binary")),
        port,
        Some(("admin", "Stats-Pass1")),
        "",
    );
    let router = Router::start(&config, port);
    router.wait_ready(Duration::from_secs(20));

    // 120 clients each announce and start sending a 2 MB body without credentials: each is
    // answered 401 before its body is read.
    let clients: Vec<_> = (0..120)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
                s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
                let head = "POST /ui/dead-letters/replay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n";
                s.write_all(head.as_bytes()).ok()?;
                let chunk = vec![b' '; 64 * 1024];
                for _ in 0..30 {
                    if s.write_all(&chunk).is_err() {
                        break;
                    }
                }
                let mut answer = [0u8; 12];
                s.read_exact(&mut answer).ok()?;
                Some(String::from_utf8_lossy(&answer).into_owned())
            })
        })
        .collect();
    let answers: Vec<Option<String>> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let refused = answers
        .iter()
        .flatten()
        .filter(|a| a.starts_with("HTTP/1.1 401"))
        .count();
    assert!(refused >= 100, "answered 401: {refused} of 120 ({answers:?})");
    let peak = router.peak_rss_kib().expect("VmHWM");
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB: bodies were read before auth");

    // 600 connections from one address trickle their request heads; the probe from another
    // still gets an answer (one peer holds at most a quarter of the 512 slots).
    let mut trickle = Command::new(e2e::tool(".tools/venv/bin/python"))
        .arg(repo_root().join("tests/peers/trickle.py"))
        .args([
            "--port",
            &port.to_string(),
            "--from",
            "127.0.0.2",
            "--count",
            "600",
            "--seconds",
            "8",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(trickle.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let held: usize = line.trim().strip_prefix("OPEN ").unwrap().parse().unwrap();
    assert!(held <= 128, "one peer holds {held} connections");
    let probe = request(port, "GET", "/healthz", "127.0.0.1", "");
    assert_eq!(probe.map(|p| p.0), Some(200), "the liveness probe starved");
    trickle.wait().unwrap();
}

/// A dead letter for processor `sink` whose event carries `pad` bytes of data.
fn letter(id: usize, pad: usize) -> String {
    let data = serde_json::json!({"Key": id, "Message": "x".repeat(pad)});
    serde_json::json!({
        "time": "2026-12-07T10:00:00.000Z",
        "processor": "sink",
        "error": "sink rejected event: HTTP 400",
        "event": {
            "specversion": "1.0", "id": id.to_string(), "type": "com.vmware.event.router/event",
            "source": "https://vc/sdk", "subject": "VmPoweredOffEvent",
            "datacontenttype": "application/json", "data": data
        }
    })
    .to_string()
}

fn write_letters(path: &Path, n: usize, pad: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 1..=n {
        writeln!(f, "{}", letter(i, pad)).unwrap();
    }
    f.flush().unwrap();
}

/// The highest RSS (KiB) of a process run to its end: ru_maxrss of the children of a Python
/// wrapper that runs it.
fn run_peak_kib(program: &Path, args: &[&str]) -> (std::process::Output, u64) {
    let out = Command::new(e2e::tool(".tools/venv/bin/python"))
        .args([
            "-c",
            "import resource,subprocess,sys; r=subprocess.run(sys.argv[1:]); print('PEAK', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)",
        ])
        .arg(program)
        .args(args)
        .output()
        .unwrap();
    let peak = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("PEAK ").and_then(|v| v.trim().parse().ok()))
        .expect("the wrapper reports the peak");
    (out, peak)
}

#[test]
fn large_dead_letters_and_structured_events_cost_bounded_memory() {
    let dir = TempDir::new("open-door-memory");
    let dlq = dir.path().join("dead-letters.jsonl");
    // 100 letters of 1 MiB each.
    write_letters(&dlq, 100, 1 << 20);
    let sink = CeReceiver::start(&[]);
    let (port, hook) = (free_port(), free_port());
    let config = e2e::router_config(
        "open-door-memory",
        &format!("eventProvider:\n  type: webhook\n  name: hook\n  webhook:\n    bindAddress: 127.0.0.1:{hook}\n    path: /webhook\n    maxBodyBytes: 2000000\n"),
        &format!("eventProcessor:\n{}", e2e::knative(&sink.url(), "binary")),
        port,
        Some(("admin", "Stats-Pass1")),
        &format!("deadLetterFile: {}\n", dlq.display()),
    );
    let router = Router::start(&config, port);
    router.wait_ready(Duration::from_secs(20));
    let auth = basic("admin", "Stats-Pass1");

    // The list: heads only, however large the letters.
    let (code, body) = request(port, "GET", "/ui/dead-letters", "localhost", &auth).unwrap();
    assert_eq!(code, 200, "{body}");
    let listed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed["total"], 100);
    assert_eq!(listed["letters"][0]["event"]["id"], "100", "newest first");
    assert!(body.len() < 200 * 1024, "the answer is {} bytes", body.len());
    // Many reads at once: at most two run, the rest are told to come back (503, Retry-After).
    let answers: Vec<(u16, String)> = (0..24)
        .map(|_| {
            let auth = auth.clone();
            std::thread::spawn(move || request(port, "GET", "/ui/dead-letters", "localhost", &auth))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .filter_map(|t| t.join().ok().flatten())
        .collect();
    assert_eq!(answers.len(), 24, "every read answered");
    assert!(answers.iter().any(|(c, _)| *c == 200), "{answers:?}");
    let busy: Vec<_> = answers.iter().filter(|(c, _)| *c == 503).collect();
    assert!(!busy.is_empty(), "24 lists of 100 MiB at once all ran");
    assert!(busy[0].1.contains("try again"), "{:?}", busy[0]);
    // One letter whole, on demand.
    let (code, one) = request(port, "GET", "/ui/dead-letters/letter?line=7&id=7", "localhost", &auth).unwrap();
    assert_eq!(code, 200);
    assert_eq!(one, letter(7, 1 << 20));

    // Structured-mode events of 1 MiB, 16 at once.
    let event = serde_json::json!({
        "specversion": "1.0", "id": "big", "type": "t", "source": "s",
        "datacontenttype": "application/json", "data": {"m": "y".repeat(1 << 20)}
    })
    .to_string();
    let posts: Vec<_> = (0..16)
        .map(|i| {
            let body = event.replace("\"big\"", &format!("\"big-{i}\""));
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(("127.0.0.1", hook)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                write!(
                    s,
                    "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/cloudevents+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
                let mut answer = String::new();
                let _ = s.read_to_string(&mut answer);
                answer
            })
        })
        .collect();
    for p in posts {
        let answer = p.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let peak = router.peak_rss_kib().expect("VmHWM");
    assert!(
        peak < MEMORY_BOUND_KIB,
        "peak RSS {peak} KiB listing 100 MiB of letters and decoding 16 MiB of events"
    );
    drop(router);

    // `dlq replay` of the 100 MiB file: one letter at a time.
    let cfg = dir.path().join("config.yaml");
    std::fs::write(&cfg, &config).unwrap();
    let (out, peak) = run_peak_kib(
        &e2e::router_bin(),
        &["--config", cfg.to_str().unwrap(), "dlq", "replay"],
    );
    assert!(out.status.success(), "{}", e2e::output_text(&out));
    assert!(peak < MEMORY_BOUND_KIB, "dlq replay peaked at {peak} KiB");
    let delivered = std::iter::from_fn(|| sink.next(Duration::from_secs(5)))
        .filter(|r| r["attributes"]["subject"] == "VmPoweredOffEvent")
        .count();
    assert_eq!(delivered, 100);
    assert_eq!(std::fs::metadata(&dlq).map(|m| m.len()).unwrap_or(0), 0, "emptied");
}

/// Sends `body` to the webhook at `port` with `content_type` and `extra` header lines; with
/// `hang_up`, closes the connection that long after sending instead of reading the answer.
fn webhook_post(port: u16, content_type: &str, extra: &str, body: &str, hang_up: Option<Duration>) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
    let _ = write!(
        s,
        "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if let Some(after) = hang_up {
        std::thread::sleep(after);
        return String::new();
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
}

/// Runs `n` posts at once (`post(i)` each), returns their answers.
fn at_once(n: usize, post: impl Fn(usize) -> String + Send + Sync + 'static) -> Vec<String> {
    let post = std::sync::Arc::new(post);
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let post = post.clone();
            std::thread::spawn(move || post(i))
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap_or_default()).collect()
}

#[test]
fn hostile_webhook_events_cost_what_they_are_charged_with_the_defaults() {
    // A slow sink (2 s a request for the first 40 s), so accepted events wait in the queues.
    let sink = CeReceiver::start(&["--slow-for", "40", "--delay", "2"]);
    let (port, hook) = (free_port(), free_port());
    let config = e2e::router_config(
        "open-door-webhook",
        &format!("eventProvider:\n  type: webhook\n  name: hook\n  webhook:\n    bindAddress: 127.0.0.1:{hook}\n    path: /webhook\n"),
        &format!("eventProcessor:\n{}", e2e::knative(&sink.url(), "binary")),
        port,
        None,
        "",
    );
    let router = Router::start(&config, port);
    router.wait_ready(Duration::from_secs(20));

    // 64 structured events of a million zeros without a media type (a JSON tree of 64 MB each,
    // were it built).
    let zeros = format!("[{}0]", "0,".repeat(500_000));
    let doc = format!(r#"{{"specversion":"1.0","id":"ID","source":"s","type":"t","data":{zeros}}}"#);
    let answers = at_once(64, move |i| {
        webhook_post(
            hook,
            "application/cloudevents+json",
            "",
            &doc.replace("ID", &format!("z{i}")),
            Some(Duration::from_millis(500)),
        )
    });
    assert_eq!(answers.len(), 64);
    // 100 version 0.3 events of 64 KiB of zeros each (read by the SDK as a tree).
    let small = format!("[{}0]", "0,".repeat(32_000));
    let v03 = format!(
        r#"{{"specversion":"0.3","id":"ID","source":"s","type":"t","datacontenttype":"application/json","data":{small}}}"#
    );
    let v03_len = v03.len();
    let answers = at_once(100, move |i| {
        webhook_post(
            hook,
            "application/cloudevents+json",
            "",
            &v03.replace("ID", &format!("v{i}")),
            Some(Duration::from_millis(500)),
        )
    });
    assert_eq!(answers.len(), 100);
    assert!(v03_len <= 64 * 1024, "{v03_len}");
    // Batches of events with 100 extensions each (1 MiB per batch).
    let mut one = String::from(r#"{"specversion":"1.0","id":"ID","source":"s","type":"t""#);
    for e in 0..100 {
        one.push_str(&format!(r#","x{e}":1"#));
    }
    one.push('}');
    let per_batch = (1 << 20) / (one.len() + 1);
    let batch = format!("[{}]", vec![one.as_str(); per_batch].join(","));
    let answers = at_once(32, move |_| {
        webhook_post(
            hook,
            "application/cloudevents-batch+json",
            "",
            &batch,
            Some(Duration::from_millis(500)),
        )
    });
    assert_eq!(answers.len(), 32);
    // 200 binary events of 1 MiB whose clients hang up half a second after sending.
    let data = format!(r#"{{"m":"{}"}}"#, "y".repeat((1 << 20) - 16));
    at_once(200, move |i| {
        let ce = format!("ce-specversion: 1.0\r\nce-id: b{i}\r\nce-source: s\r\nce-type: t\r\n");
        webhook_post(hook, "application/json", &ce, &data, Some(Duration::from_millis(500)))
    });

    let peak = router.peak_rss_kib().expect("VmHWM");
    assert!(
        peak < WEBHOOK_BOUND_KIB,
        "peak RSS {peak} KiB: the webhook holds more than it charges"
    );
    // The router still takes a plain event once the sink is fast again (answered, not hung).
    let answer = eventually(Duration::from_secs(180), "a plain event accepted", || {
        let a = webhook_post(
            hook,
            "application/cloudevents+json",
            "",
            r#"{"specversion":"1.0","id":"after","source":"s","type":"t","data":{"ok":true}}"#,
            None,
        );
        a.starts_with("HTTP/1.1 200").then_some(a)
    });
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn a_replay_that_failed_half_way_keeps_every_letter_through_the_next() {
    let dir = TempDir::new("open-door-replay");
    let dlq = dir.path().join("dead-letters.jsonl");
    // 40 letters of about 10 KB.
    write_letters(&dlq, 40, 10_000);
    let refusing = dir.path().join("refusing");
    std::fs::write(&refusing, "").unwrap();
    let sink = CeReceiver::start(&[
        "--reject-subject",
        "VmPoweredOffEvent",
        "--reject-while",
        refusing.to_str().unwrap(),
    ]);
    let (port, hook) = (free_port(), free_port());
    let config = e2e::router_config(
        "open-door-replay",
        &format!("eventProvider:\n  type: webhook\n  name: hook\n  webhook:\n    bindAddress: 127.0.0.1:{hook}\n    path: /webhook\n"),
        &format!("eventProcessor:\n{}", e2e::knative(&sink.url(), "binary")),
        port,
        Some(("admin", "Stats-Pass1")),
        &format!("deadLetterFile: {}\n", dlq.display()),
    );
    // A file-size limit (as a full disk would) of 200 KB: writing the letters back fails
    // half-way with EFBIG (SIGXFSZ is ignored, so the write fails instead of killing it).
    let wrapper = [
        "python3",
        "-c",
        "import os,resource,signal,sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); resource.setrlimit(resource.RLIMIT_FSIZE, (200000, resource.RLIM_INFINITY)); os.execv(sys.argv[1], sys.argv[1:])",
    ];
    let router = Router::start_wrapped(&config, port, &["--log-level", "info"], &[], &wrapper);
    router.wait_ready(Duration::from_secs(20));
    let auth = basic("admin", "Stats-Pass1");
    let (_, page) = request(port, "GET", "/ui/", "localhost", &auth).unwrap();
    let token = page
        .split("<meta name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let replay = || {
        request(
            port,
            "POST",
            "/ui/dead-letters/replay",
            "localhost",
            &format!("{auth}X-CSRF-Token: {token}\r\n"),
        )
        .unwrap()
    };
    let (code, body) = replay();
    assert_eq!(code, 409, "the first replay fails writing letters back: {body}");
    assert!(body.contains("cannot write"), "{body}");

    // The disk has room again; the sink accepts. The next replay puts the first one's copy
    // back before anything else and delivers every letter.
    let lifted = Command::new("prlimit")
        .args(["--pid", &router.pid().to_string(), "--fsize=unlimited:unlimited"])
        .status()
        .unwrap();
    assert!(lifted.success());
    std::fs::remove_file(&refusing).unwrap();
    let (code, body) = replay();
    assert_eq!(code, 200, "{body}");
    let mut ids = std::collections::BTreeSet::new();
    while let Some(rec) = sink.next(Duration::from_secs(3)) {
        if rec["status"] == 202 {
            ids.insert(rec["attributes"]["id"].as_str().unwrap().to_string());
        }
    }
    let left = std::fs::read_to_string(&dlq).unwrap_or_default();
    let left_ids: Vec<String> = left
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|l| l["event"]["id"].as_str().unwrap().to_string())
        .collect();
    ids.extend(left_ids);
    assert_eq!(ids.len(), 40, "letters lost: only {ids:?} delivered or kept");
    let asides = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".replay-"))
        .count();
    assert_eq!(asides, 0, "no moved-aside copy is left");
}
