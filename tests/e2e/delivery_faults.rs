//! Delivery under faults (issue 6), counting the events vCenter recorded (pyVmomi) against
//! those the sink accepted, by key: a sink down for a minute, a poison event that ends in the
//! dead-letter file and is replayed, sessions ended again and again, and a vCenter restarted
//! with a new history on the same port.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{
    config_with, free_port, knative_with, output_text, router_bin, vc_events, CeReceiver, Router, TempDir, Vcsim,
};
use serde_json::Value;

fn config(vc: &Vcsim, sink: &CeReceiver, knative_extra: &str, top_extra: &str, port: u16) -> String {
    let processor = knative_with(&sink.url(), knative_extra);
    config_with(&vc.sdk_url(), "    insecureSSL: true", &processor, top_extra, port)
}

/// Records the sink logged until one accepted (202) record has `subject` and id >= `min_key`.
fn until_accepted(sink: &CeReceiver, subject: &str, min_key: i64, within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(rec) = sink.next(left.max(Duration::from_millis(1))) else {
            panic!("no accepted {subject} within {within:?}; got {} records", seen.len());
        };
        let a = &rec["attributes"];
        let key: i64 = a["id"].as_str().unwrap_or("0").parse().unwrap_or(0);
        let hit = rec["status"] == 202 && a["subject"] == subject && key >= min_key;
        seen.push(rec);
        if hit {
            return seen;
        }
    }
}

/// Records the sink logged until every key vCenter recorded in [first, last] was accepted (the
/// router delivers different objects' events in parallel, so the last key may come first).
fn until_all_accepted(vc: &Vcsim, sink: &CeReceiver, first: i64, last: i64, within: Duration) -> Vec<Value> {
    let recorded: BTreeSet<i64> = vc_events(vc)
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| *k >= first && *k <= last)
        .collect();
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    while !recorded.is_subset(&accepted_keys(&seen)) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(rec) = sink.next(left.max(Duration::from_millis(1))) else {
            let got = accepted_keys(&seen);
            let missing: Vec<&i64> = recorded.difference(&got).collect();
            panic!("not accepted within {within:?}: {missing:?}");
        };
        seen.push(rec);
    }
    seen
}

fn accepted_keys(records: &[Value]) -> BTreeSet<i64> {
    records
        .iter()
        .filter(|r| r["status"] == 202)
        .map(|r| r["attributes"]["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// Every key vCenter recorded in [first, last] must have been accepted.
fn assert_no_gaps(vc: &Vcsim, accepted: &BTreeSet<i64>, first: i64, last: i64) {
    let missing: Vec<(i64, String)> = vc_events(vc)
        .into_iter()
        .filter(|(k, _)| *k >= first && *k <= last && !accepted.contains(k))
        .collect();
    assert!(missing.is_empty(), "events lost: {missing:?}");
}

fn newest_key(vc: &Vcsim) -> i64 {
    vc_events(vc).last().map(|(k, _)| *k).unwrap_or(0)
}

#[test]
fn a_sink_down_for_a_minute_loses_nothing() {
    let vc = Vcsim::start(&[]);
    let sink = CeReceiver::start(&["--fail-for", "60", "--status", "503"]);
    let port = free_port();
    let retry = "    maxAttempts: 1000\n    maxRetrySeconds: 600\n";
    let router = Router::start(&config(&vc, &sink, retry, "", port), port);
    router.wait_ready(Duration::from_secs(20));
    let start = Instant::now();
    let first = newest_key(&vc) + 1;
    for _ in 0..3 {
        vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
        vc.govc(&["vm.power", "-on", "DC0_H0_VM0"]);
    }
    let last = newest_key(&vc);
    let records = until_all_accepted(&vc, &sink, first, last, Duration::from_secs(120));
    assert!(start.elapsed() >= Duration::from_secs(55), "the sink was really down");
    assert!(records.iter().any(|r| r["status"] == 503), "503s were answered");
    assert_no_gaps(&vc, &accepted_keys(&records), first, last);
    let (_, stats) = router.get("/stats").unwrap();
    let stats: Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(
        stats["vmware.event.router.stats"]["knative"]["events_err"], 0,
        "nothing given up"
    );
}

#[test]
fn a_poison_event_is_dead_lettered_the_rest_flows_and_replay_sends_it() {
    let vc = Vcsim::start(&[]);
    let sink = CeReceiver::start(&["--reject-subject", "VmPoweredOffEvent"]);
    let dir = TempDir::new("dlq");
    let dlq = dir.path().join("dead-letters.jsonl");
    let port = free_port();
    let top = format!("deadLetterFile: {}\n", dlq.display());
    let router = Router::start(&config(&vc, &sink, "", &top, port), port);
    router.wait_ready(Duration::from_secs(20));
    vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    vc.govc(&["vm.power", "-on", "DC0_H0_VM0"]);
    let records = until_accepted(&sink, "VmPoweredOnEvent", 0, Duration::from_secs(10));
    let rejected: Vec<&Value> = records.iter().filter(|r| r["status"] == 400).collect();
    assert_eq!(rejected.len(), 1, "a 400 is not retried");
    let poison_id = rejected[0]["attributes"]["id"].as_str().unwrap().to_string();
    let text = std::fs::read_to_string(&dlq).expect("dead-letter file");
    let letters: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(letters.len(), 1, "{text}");
    assert_eq!(letters[0]["processor"], "sink");
    assert_eq!(letters[0]["event"]["id"], poison_id);
    assert_eq!(letters[0]["event"]["subject"], "VmPoweredOffEvent");
    assert!(letters[0]["error"].as_str().unwrap().contains("400"), "{}", letters[0]);
    let (_, stats) = router.get("/stats").unwrap();
    let stats: Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["vmware.event.router.stats"]["knative"]["events_dead_lettered"], 1);
    let (_, prom) = router.get("/metrics").unwrap();
    assert!(
        prom.contains("event_router_dead_letters_total{component=\"knative\",name=\"sink\"} 1"),
        "{prom}"
    );

    // Replay against the same (still refusing) sink keeps the letter and exits 1.
    let cfg = dir.path().join("replay.yaml");
    std::fs::write(&cfg, config(&vc, &sink, "", &top, free_port())).unwrap();
    let replay = |cfg: &std::path::Path| {
        Command::new(router_bin())
            .args(["--config", cfg.to_str().unwrap(), "dlq", "replay"])
            .output()
            .unwrap()
    };
    let out = replay(&cfg);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("replayed 0, failed again 1, kept 0"),
        "{}",
        output_text(&out)
    );
    assert_eq!(std::fs::read_to_string(&dlq).unwrap().lines().count(), 1);

    // A replay killed half-way (its sink hangs) leaves the letter in its moved-aside copy...
    let hanging = CeReceiver::start(&["--delay", "60", "--slow-for", "120"]);
    std::fs::write(&cfg, config(&vc, &hanging, "", &top, free_port())).unwrap();
    let mut killed = Command::new(router_bin())
        .args(["--config", cfg.to_str().unwrap(), "dlq", "replay"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let aside = dir.path().join(format!("dead-letters.replay-{}", killed.id()));
    e2e::eventually(Duration::from_secs(10), "the file moved aside", || {
        (aside.exists() && !dlq.exists()).then_some(())
    });
    killed.kill().unwrap();
    killed.wait().unwrap();
    assert!(aside.exists() && !dlq.exists(), "the killed replay left its copy");

    // ...and the next replay puts it back first, then sends it.
    // Replay to a sink that accepts it: delivered with the same id, the file emptied.
    let fixed = CeReceiver::start(&[]);
    std::fs::write(&cfg, config(&vc, &fixed, "", &top, free_port())).unwrap();
    let out = replay(&cfg);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("replayed 1, failed again 0, kept 0"),
        "{}",
        output_text(&out)
    );
    let rec = fixed.next(Duration::from_secs(5)).expect("replayed event");
    assert_eq!(rec["attributes"]["id"], poison_id.as_str());
    assert_eq!(rec["attributes"]["subject"], "VmPoweredOffEvent");
    assert!(!dlq.exists() || std::fs::read_to_string(&dlq).unwrap().trim().is_empty());
    assert!(!aside.exists(), "the interrupted replay's copy is gone");
}

#[test]
fn ended_sessions_and_a_restarted_vcenter_lose_nothing() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let vc = Vcsim::start(&["-l", &listen]);
    let sink = CeReceiver::start(&[]);
    let metrics = free_port();
    let router = Router::start(&config(&vc, &sink, "", "", metrics), metrics);
    router.wait_ready(Duration::from_secs(20));
    let first = newest_key(&vc) + 1;
    let mut records = Vec::new();
    for _ in 0..3 {
        vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
        assert!(vc.terminate_other_sessions() >= 1, "the router's session was there");
        vc.govc(&["vm.power", "-on", "DC0_H0_VM0"]);
        let last = newest_key(&vc);
        let from = records
            .iter()
            .filter_map(|r: &Value| r["attributes"]["id"].as_str()?.parse::<i64>().ok())
            .max()
            .map_or(first, |k| k + 1);
        records.extend(until_all_accepted(&vc, &sink, from, last, Duration::from_secs(20)));
    }
    let last = records
        .iter()
        .filter_map(|r| r["attributes"]["id"].as_str()?.parse::<i64>().ok())
        .max()
        .unwrap();
    assert_no_gaps(&vc, &accepted_keys(&records), first, last);

    // vCenter comes back on the same address with a new history (keys from 1 again).
    drop(vc);
    let vc = Vcsim::start(&["-l", &listen]);
    router.wait_log("its event history started again", Duration::from_secs(90));
    vc.govc(&["vm.power", "-off", "DC0_H0_VM1"]);
    let got = until_accepted(&sink, "VmPoweredOffEvent", 0, Duration::from_secs(20));
    let off = got
        .iter()
        .rev()
        .find(|r| r["attributes"]["subject"] == "VmPoweredOffEvent")
        .unwrap();
    assert_eq!(off["data"]["Vm"]["Name"], "DC0_H0_VM1", "the new instance's event");
}

/// The stated memory bound while a sink is slow: the router's queues are bounded, so reading
/// pauses instead of memory growing.
const RSS_BOUND_KIB: u64 = 64 * 1024;

#[test]
fn a_slow_sink_pauses_reading_with_bounded_memory_and_loses_nothing() {
    let vc = Vcsim::start(&[]);
    let sink = CeReceiver::start(&["--slow-for", "20", "--delay", "5"]);
    let port = free_port();
    let cfg = config(&vc, &sink, "", "", port).replace("  name: sink\n", "  name: sink\n  queueCapacity: 4\n");
    let router = Router::start(&cfg, port);
    router.wait_ready(Duration::from_secs(20));
    let first = newest_key(&vc) + 1;
    let mut peak = 0;
    let start = Instant::now();
    // Events keep coming while the sink takes 5 s per request: at most 60 rounds (about 480
    // events with govc's own session events), since vcsim keeps only its newest 1000 events
    // (govmomi simulator/event_manager.go: a ring of maxPageSize) and a fast machine made more
    // in 15 s, so vcsim itself dropped some before the router, paused, came back for them.
    let mut rounds = 0;
    while start.elapsed() < Duration::from_secs(15) && rounds < 60 {
        rounds += 1;
        vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
        vc.govc(&["vm.power", "-on", "DC0_H0_VM0"]);
        peak = peak.max(router.rss_kib().expect("router RSS"));
    }
    let last = newest_key(&vc);
    let records = until_all_accepted(&vc, &sink, first, last, Duration::from_secs(120));
    peak = peak.max(router.rss_kib().unwrap_or(0));
    assert!(
        peak < RSS_BOUND_KIB,
        "peak RSS {peak} KiB over the bound {RSS_BOUND_KIB} KiB"
    );
    assert_no_gaps(&vc, &accepted_keys(&records), first, last);
    eprintln!(
        "slow sink: peak RSS {peak} KiB, {} events",
        accepted_keys(&records).len()
    );
}
