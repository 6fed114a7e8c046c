//! No loss by default (issues 17 and 35): with `checkpoint: true` and nothing else set, events
//! are counted by key against what vCenter recorded (pyVmomi). A sink down for 40 s, a
//! crash one second after start, a dead-letter file on a full disk, and `dlq replay` on a file
//! it cannot fully read.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{free_port, knative_with, output_text, router_bin, vc_events, CeReceiver, Router, TempDir, Vcsim};
use serde_json::Value;

/// A vCenter provider with checkpoints in `dir`/checkpoints and the defaults otherwise.
fn config(vc: &Vcsim, sink: &CeReceiver, dir: &TempDir, vcenter_extra: &str, top: &str, port: u16) -> String {
    let extra = format!(
        "    insecureSSL: true\n    checkpoint: true\n    checkpointDir: {}\n{vcenter_extra}",
        dir.path().join("checkpoints").display()
    );
    e2e::config_with(&vc.sdk_url(), &extra, &knative_with(&sink.url(), ""), top, port)
}

fn newest_key(vc: &Vcsim) -> i64 {
    vc_events(vc).last().map(|(k, _)| *k).unwrap_or(0)
}

fn recorded(vc: &Vcsim, first: i64, last: i64) -> BTreeSet<i64> {
    vc_events(vc)
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| *k >= first && *k <= last)
        .collect()
}

fn key_of(record: &Value) -> i64 {
    record["attributes"]["id"].as_str().unwrap_or("0").parse().unwrap_or(0)
}

/// Keys in a dead-letter file (its events' ids). Every line is written whole with its newline
/// in one write, so only a last line without one may be a write still in progress (a reader can
/// see part of it); it is left for the next read. Any other line must be a whole letter.
fn dead_lettered(path: &std::path::Path) -> BTreeSet<i64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("a torn or glued line ({e}): {l:?}"));
            v["event"]["id"].as_str().unwrap().parse().unwrap()
        })
        .collect()
}

/// Collects the sink's accepted keys until `done(accepted)` or the deadline.
fn accept_until(sink: &CeReceiver, within: Duration, mut done: impl FnMut(&BTreeSet<i64>) -> bool) -> BTreeSet<i64> {
    let deadline = Instant::now() + within;
    let mut accepted = BTreeSet::new();
    while !done(&accepted) && Instant::now() < deadline {
        if let Some(rec) = sink.next(Duration::from_millis(200)) {
            if rec["status"] == 202 {
                accepted.insert(key_of(&rec));
            }
        }
    }
    accepted
}

fn replay(cfg: &std::path::Path, file: Option<&std::path::Path>) -> std::process::Output {
    let mut cmd = Command::new(router_bin());
    cmd.args(["--config", cfg.to_str().unwrap(), "dlq", "replay"]);
    if let Some(f) = file {
        cmd.arg("--file").arg(f);
    }
    cmd.output().unwrap()
}

fn stat(router: &Router, key: &str) -> u64 {
    let (_, body) = router.get("/stats").unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    v["vmware.event.router.stats"]["knative"][key].as_u64().unwrap_or(0)
}

#[test]
fn a_sink_outage_of_40_seconds_needs_no_operator_with_the_defaults() {
    let vc = Vcsim::start(&[]);
    // A Broker restarting or being upgraded: 503 to everything for 40 s.
    let sink = CeReceiver::start(&["--fail-for", "40", "--status", "503"]);
    let dir = TempDir::new("no-loss-outage");
    let port = free_port();
    let text = config(&vc, &sink, &dir, "", "", port);
    let router = Router::start(&text, port);
    router.wait_ready(Duration::from_secs(20));
    let started = Instant::now();
    let first = newest_key(&vc) + 1;
    for vm in ["DC0_H0_VM0", "DC0_H0_VM1"] {
        for _ in 0..2 {
            vc.govc(&["vm.power", "-off", vm]);
            vc.govc(&["vm.power", "-on", vm]);
        }
    }
    let last = newest_key(&vc);
    let want = recorded(&vc, first, last);

    // During the outage /readyz, /stats and /metrics say so, from 30 s on.
    let (code, why) = e2e::eventually(Duration::from_secs(40), "/readyz names the unavailable sink", || {
        router
            .get("/readyz")
            .filter(|(_, body)| body.contains("sink unavailable since"))
    });
    assert_eq!(code, 503, "{why}");
    assert!(why.contains("events waiting") && why.contains("HTTP 503"), "{why}");
    let (_, stats) = router.get("/stats").unwrap();
    let stats: Value = serde_json::from_str(&stats).unwrap();
    assert!(
        stats["vmware.event.router.stats"]["knative"]["sink_unavailable_since"].is_string(),
        "{stats}"
    );
    let (_, metrics) = router.get("/metrics").unwrap();
    assert!(
        metrics.contains("event_router_sink_unavailable_seconds{component=\"knative\",name=\"sink\"}"),
        "{metrics}"
    );

    // It ends: every event delivered, each VM's in order, nothing dead-lettered.
    let mut arrivals: Vec<(i64, String)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !want.iter().all(|k| arrivals.iter().any(|(a, _)| a == k)) && Instant::now() < deadline {
        if let Some(rec) = sink.next(Duration::from_millis(500)) {
            if rec["status"] == 202 {
                let vm = rec["data"]["Vm"]["Name"].as_str().unwrap_or("").to_string();
                arrivals.push((key_of(&rec), vm));
            }
        }
    }
    assert!(started.elapsed() >= Duration::from_secs(38), "the sink was down");
    let missing: Vec<&i64> = want.iter().filter(|k| !arrivals.iter().any(|(a, _)| a == *k)).collect();
    assert!(missing.is_empty(), "lost: {missing:?}\n{}", router.log());
    for vm in ["DC0_H0_VM0", "DC0_H0_VM1"] {
        let keys: Vec<i64> = arrivals.iter().filter(|(_, v)| v == vm).map(|(k, _)| *k).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{vm} out of order: {keys:?}");
    }
    let dlq = dir.path().join("checkpoints/dead-letters.jsonl");
    assert!(
        dead_lettered(&dlq).is_empty(),
        "a transient outage dead-letters nothing"
    );
    assert_eq!(stat(&router, "events_dead_lettered"), 0);
    e2e::eventually_true(Duration::from_secs(10), "/readyz is 200 again", || {
        matches!(router.get("/readyz"), Some((200, _)))
    });

    // `dlq replay` finds the default dead-letter file (beside the checkpoints) from the config.
    let letter = serde_json::json!({
        "time": "2026-12-07T10:00:00Z", "processor": "sink", "error": "HTTP 400",
        "event": {"specversion": "1.0", "id": "replayed-1", "source": "urn:t", "type": "t"}
    });
    std::fs::write(&dlq, format!("{letter}\n")).unwrap();
    let cfg = dir.path().join("replay.yaml");
    std::fs::write(&cfg, &text).unwrap();
    let out = replay(&cfg, None);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let replayed = e2e::eventually(Duration::from_secs(10), "the replayed letter reaches the sink", || {
        sink.next(Duration::from_millis(200))
            .filter(|rec| rec["attributes"]["id"] == "replayed-1")
    });
    assert_eq!(replayed["status"], 202);
}

#[test]
fn a_crash_one_second_after_start_resumes_from_the_start_position() {
    let vc = Vcsim::start(&[]);
    let sink = CeReceiver::start(&[]);
    let dir = TempDir::new("no-loss-crash");
    let port = free_port();
    let text = config(&vc, &sink, &dir, "", "", port);
    let mut router = Router::start(&text, port);
    router.wait_ready(Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(1));
    router.kill();
    // Events while the router is down, before any event was checkpointed.
    let first = newest_key(&vc) + 1;
    vc.govc(&["vm.power", "-off", "DC0_H0_VM1"]);
    vc.govc(&["vm.power", "-on", "DC0_H0_VM1"]);
    let last = newest_key(&vc);
    let want = recorded(&vc, first, last);
    let cp = std::fs::read_to_string(dir.path().join(format!(
        "checkpoints/cp-{}.json",
        vc.sdk_url()
            .trim_start_matches("https://")
            .trim_end_matches("/sdk")
            .replace(':', "_")
    )))
    .expect("the first checkpoint was written at start");
    let cp: Value = serde_json::from_str(&cp).unwrap();
    assert!(cp["lastEventKeyTimestamp"].is_string(), "{cp}");

    let router = Router::start(&text, port);
    router.wait_ready(Duration::from_secs(20));
    let accepted = accept_until(&sink, Duration::from_secs(20), |a| want.is_subset(a));
    let missing: Vec<&i64> = want.difference(&accepted).collect();
    assert!(
        missing.is_empty(),
        "lost across the crash: {missing:?}\n{}",
        router.log()
    );
}

/// A 64 KiB tmpfs filled to the last byte, unmounted on drop.
struct FullDisk(std::path::PathBuf);

impl FullDisk {
    fn mount(at: std::path::PathBuf) -> FullDisk {
        std::fs::create_dir_all(&at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount a tmpfs (the tests run as root): {}",
            output_text(&out)
        );
        let disk = FullDisk(at);
        let _ = Command::new("dd")
            .args(["if=/dev/zero", "bs=4k", "count=64"])
            .arg(format!("of={}", disk.0.join("filler").display()))
            .output();
        disk
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

#[test]
fn a_dead_letter_that_cannot_be_written_is_not_given_up() {
    let vc = Vcsim::start(&[]);
    let sink = CeReceiver::start(&["--reject-subject", "VmPoweredOffEvent"]);
    let dir = TempDir::new("no-loss-full");
    let disk = FullDisk::mount(dir.path().join("full"));
    let dlq = disk.0.join("dead-letters.jsonl");
    let port = free_port();
    let top = format!("deadLetterFile: {}\n", dlq.display());
    let router = Router::start(
        &config(&vc, &sink, &dir, "    checkpointPeriodSeconds: 1\n", &top, port),
        port,
    );
    router.wait_ready(Duration::from_secs(20));
    vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    vc.govc(&["vm.power", "-on", "DC0_H0_VM0"]);
    let events = vc_events(&vc);
    let poison = events.iter().rev().find(|(_, t)| t == "VmPoweredOffEvent").unwrap().0;
    let after = events.last().unwrap().0;

    // The write fails: counted, logged, and the event is held, not given up.
    e2e::eventually_true(Duration::from_secs(20), "a failed dead-letter write is counted", || {
        stat(&router, "dead_letter_write_failures") >= 1
    });
    assert!(router.log().contains("the event stays undelivered"), "{}", router.log());
    std::thread::sleep(Duration::from_secs(2));
    let cp_key = || -> i64 {
        let files: Vec<_> = std::fs::read_dir(dir.path().join("checkpoints"))
            .unwrap()
            .flatten()
            .collect();
        let cp: Value = serde_json::from_str(&std::fs::read_to_string(files[0].path()).unwrap()).unwrap();
        cp["lastEventKey"].as_i64().unwrap()
    };
    assert!(cp_key() < poison, "the checkpoint stays before the undelivered event");
    assert_eq!(stat(&router, "events_dead_lettered"), 0);

    // Other objects' events went on meanwhile (keyed concurrency); the poisoned VM's later
    // events wait behind it.
    let mut accepted = accept_until(&sink, Duration::from_millis(500), |_| false);
    // Room again: the next try writes the letter whole and the stream moves on.
    std::fs::remove_file(disk.0.join("filler")).unwrap();
    let seen_before = accepted.clone();
    accepted.extend(accept_until(&sink, Duration::from_secs(60), |a| {
        a.contains(&after) || seen_before.contains(&after)
    }));
    assert!(accepted.contains(&after), "{}", router.log());
    e2e::eventually_true(
        Duration::from_secs(60),
        "the letter is written once there is room",
        || dead_lettered(&dlq) == BTreeSet::from([poison]),
    );
    assert!(std::fs::read_to_string(&dlq).unwrap().ends_with('\n'));
    assert_eq!(stat(&router, "events_dead_lettered"), 1);
    e2e::eventually_true(
        Duration::from_secs(10),
        "the checkpoint moves past it once it is safe",
        || cp_key() >= after,
    );
    drop(router);
}

#[test]
fn dlq_replay_checks_the_file_before_moving_it_and_strands_nothing() {
    let sink = CeReceiver::start(&[]);
    let dir = TempDir::new("replay-check");
    let dlq = dir.path().join("dead.jsonl");
    let letter = serde_json::json!({
        "time": "2026-12-01T10:00:00Z",
        "processor": "sink",
        "error": "HTTP 400",
        "event": {"specversion": "1.0", "id": "77", "source": "https://vc/sdk", "type": "com.vmware.event.router/event", "subject": "VmPoweredOffEvent"}
    });
    let mut bytes = serde_json::to_vec(&letter).unwrap();
    bytes.extend_from_slice(b"\n{\"not\": \"utf-8 \xff\xfe\"}\n");
    std::fs::write(&dlq, &bytes).unwrap();
    let leftovers = || -> Vec<String> {
        std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("replay-"))
            .collect()
    };
    let cfg = dir.path().join("config.yaml");
    let vcenter = "https://127.0.0.1:1/sdk";

    // A processor that cannot start (destination.ref outside a cluster): nothing is touched.
    let broken = "  type: knative\n  name: sink\n  knative:\n    destination:\n      ref:\n        apiVersion: eventing.knative.dev/v1\n        kind: Broker\n        name: default\n        namespace: vmware-functions\n";
    std::fs::write(&cfg, e2e::config(vcenter, "", broken, free_port())).unwrap();
    let out = replay(&cfg, Some(&dlq));
    assert_ne!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("processor \"sink\" cannot start, so nothing was replayed"),
        "{}",
        output_text(&out)
    );
    assert_eq!(std::fs::read(&dlq).unwrap(), bytes, "the file is as it was");
    assert!(leftovers().is_empty(), "{:?}", leftovers());

    // A line that is not UTF-8 is kept byte for byte; the letter is delivered.
    std::fs::write(
        &cfg,
        e2e::config(vcenter, "", &knative_with(&sink.url(), ""), free_port()),
    )
    .unwrap();
    let out = replay(&cfg, Some(&dlq));
    assert_eq!(
        out.status.code(),
        Some(1),
        "one line could not be replayed: {}",
        output_text(&out)
    );
    assert!(
        output_text(&out).contains("replayed 1, failed again 0, kept 1"),
        "{}",
        output_text(&out)
    );
    assert_eq!(std::fs::read(&dlq).unwrap(), b"{\"not\": \"utf-8 \xff\xfe\"}\n");
    assert!(leftovers().is_empty(), "{:?}", leftovers());
    let rec = sink.next(Duration::from_secs(5)).expect("the replayed event");
    assert_eq!(rec["attributes"]["id"], "77");
}
