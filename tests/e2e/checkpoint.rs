//! At-least-once across restarts: the router with `checkpoint: true` against vcsim, stopped
//! cleanly (SIGTERM) and killed (SIGKILL) while vCenter keeps recording events. Events are
//! counted by key against what vCenter recorded (pyVmomi).

use std::collections::BTreeMap;
use std::time::Duration;

use e2e::{free_port, knative_with, vc_events, CeReceiver, Router, TempDir, Vcsim};
use serde_json::Value;

fn config(vc: &Vcsim, sink: &CeReceiver, dir: &TempDir, port: u16) -> String {
    let extra = format!(
        "    insecureSSL: true\n    checkpoint: true\n    checkpointDir: {}\n    checkpointPeriodSeconds: 1",
        dir.path().join("checkpoints").display()
    );
    e2e::config(&vc.sdk_url(), &extra, &knative_with(&sink.url(), ""), port)
}

fn start(vc: &Vcsim, sink: &CeReceiver, dir: &TempDir) -> Router {
    let port = free_port();
    let router = Router::start(&config(vc, sink, dir, port), port);
    router.wait_ready(Duration::from_secs(20));
    router
}

/// Keys of everything the sink receives until it is quiet for `quiet`, with each event's VM.
fn drain(sink: &CeReceiver, quiet: Duration) -> Vec<(i64, Option<String>)> {
    std::iter::from_fn(|| sink.next(quiet))
        .map(|r| {
            let key = r["attributes"]["id"].as_str().unwrap().parse().unwrap();
            (key, r["data"]["Vm"]["Name"].as_str().map(str::to_string))
        })
        .collect()
}

fn keys(run: &[(i64, Option<String>)]) -> Vec<i64> {
    run.iter().map(|(k, _)| *k).collect()
}

/// Within a run, each VM's events arrive in key order (different VMs' may interleave).
fn in_key_order_per_vm(run: &[(i64, Option<String>)]) -> bool {
    let mut last: BTreeMap<&str, i64> = BTreeMap::new();
    run.iter().all(|(k, vm)| match vm {
        Some(vm) => last.insert(vm, *k).is_none_or(|prev| prev < *k),
        None => true,
    })
}

fn checkpoint_key(dir: &TempDir) -> i64 {
    let files: Vec<_> = std::fs::read_dir(dir.path().join("checkpoints"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(files.len(), 1, "one checkpoint file per vCenter, no temporary files");
    let cp: Value = serde_json::from_str(&std::fs::read_to_string(files[0].path()).unwrap()).unwrap();
    for key in [
        "vCenter",
        "lastEventUUID",
        "lastEventType",
        "lastEventKeyTimestamp",
        "createdTimestamp",
    ] {
        assert!(cp[key].is_string(), "{key} in {cp}");
    }
    cp["lastEventKey"].as_i64().unwrap()
}

fn power(vc: &Vcsim, ops: &[(&str, &str)]) {
    for (op, vm) in ops {
        vc.govc(&["vm.power", op, vm]);
    }
}

#[test]
fn every_event_arrives_across_a_clean_restart_and_a_crash() {
    let vc = Vcsim::start(&[]);
    let sink = CeReceiver::start(&[]);
    let dir = TempDir::new("checkpoint");

    // Run 1, then SIGTERM: the checkpoint covers everything delivered.
    let mut router = start(&vc, &sink, &dir);
    power(&vc, &[("-off", "DC0_H0_VM0"), ("-on", "DC0_H0_VM0")]);
    let run1 = drain(&sink, Duration::from_secs(2));
    assert!(!run1.is_empty());
    let run1_last = *keys(&run1).iter().max().unwrap();
    assert_eq!(router.terminate(), Some(0), "{}", router.log());
    assert_eq!(checkpoint_key(&dir), run1_last, "checkpoint written at shutdown");

    // Events while the router is down, then run 2: they arrive, nothing from run 1 again.
    power(&vc, &[("-off", "DC0_H0_VM1"), ("-on", "DC0_H0_VM1")]);
    let mut router = start(&vc, &sink, &dir);
    assert!(
        router.log().contains("resuming after the checkpoint"),
        "{}",
        router.log()
    );
    power(&vc, &[("-off", "DC0_H0_VM0")]);
    let run2 = drain(&sink, Duration::from_secs(2));
    assert!(
        keys(&run2).iter().all(|k| *k > run1_last),
        "no duplicates after SIGTERM: {run1:?} {run2:?}"
    );

    // Run 2 is killed right after more events; more happen while it is down; run 3 resumes.
    let before_kill = checkpoint_key(&dir);
    power(&vc, &[("-on", "DC0_H0_VM0")]);
    router.kill();
    power(&vc, &[("-off", "DC0_H0_VM1"), ("-on", "DC0_H0_VM1")]);
    let router = start(&vc, &sink, &dir);
    power(&vc, &[("-off", "DC0_H0_VM0")]);
    let run3 = drain(&sink, Duration::from_secs(3));
    drop(router);

    // Every event vCenter recorded from run 1's first one on arrived, in order per run.
    let recorded: Vec<(i64, String)> = vc_events(&vc);
    let first = *keys(&run1).iter().min().unwrap();
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for (k, _) in run1.iter().chain(&run2).chain(&run3) {
        *counts.entry(*k).or_default() += 1;
    }
    let last_delivered = *counts.keys().last().unwrap();
    let missing: Vec<&(i64, String)> = recorded
        .iter()
        .filter(|(k, _)| *k >= first && *k <= last_delivered && !counts.contains_key(k))
        .collect();
    assert!(missing.is_empty(), "lost events: {missing:?}");
    assert!(
        recorded.iter().any(|(k, t)| *k == last_delivered && t.contains("Vm")),
        "the last power-off arrived"
    );
    // Duplicates only for what the crash left unacknowledged: after the checkpoint at the kill.
    let dups: Vec<i64> = counts.iter().filter(|(_, n)| **n > 1).map(|(k, _)| *k).collect();
    assert!(
        dups.iter().all(|k| *k > before_kill),
        "duplicates before the checkpoint: {dups:?} (checkpoint {before_kill})"
    );
    for run in [&run1, &run2, &run3] {
        assert!(in_key_order_per_vm(run), "each VM's key order within a run: {run:?}");
    }
}

#[test]
fn a_corrupt_checkpoint_stops_the_start_with_the_fix() {
    let vc = Vcsim::start(&[]);
    let sink = CeReceiver::start(&[]);
    let dir = TempDir::new("checkpoint-bad");
    let cps = dir.path().join("checkpoints");
    std::fs::create_dir_all(&cps).unwrap();
    let host = vc
        .sdk_url()
        .replace("https://", "")
        .replace("/sdk", "")
        .replace(':', "_");
    std::fs::write(cps.join(format!("cp-{host}.json")), "{\"lastEventKey\": 12").unwrap();
    let port = free_port();
    let mut router = Router::start(&config(&vc, &sink, &dir, port), port);
    e2e::eventually_true(
        Duration::from_secs(10),
        "the router stops on a corrupt checkpoint",
        || !router.is_running(),
    );
    let log = router.log();
    assert!(
        log.contains("is not a valid checkpoint") && log.contains("move it away"),
        "{log}"
    );
}

#[test]
fn sighup_applies_a_valid_config_without_losing_events_and_refuses_an_invalid_one() {
    let vc = Vcsim::start(&[]);
    let first_sink = CeReceiver::start(&[]);
    let second_sink = CeReceiver::start(&[]);
    let dir = TempDir::new("reload");
    let port = free_port();
    let router = Router::start(&config(&vc, &first_sink, &dir, port), port);
    router.wait_ready(Duration::from_secs(20));
    power(&vc, &[("-off", "DC0_H0_VM0")]);
    let before = keys(&drain(&first_sink, Duration::from_secs(2)));
    assert!(!before.is_empty());

    // An invalid config is refused and the router keeps streaming with the running one.
    router.reload("kind: RouterConfig\n");
    router.wait_log("keeping the running configuration", Duration::from_secs(10));
    power(&vc, &[("-on", "DC0_H0_VM0")]);
    let still = keys(&drain(&first_sink, Duration::from_secs(2)));
    let before_last = *before.iter().max().unwrap();
    assert!(still.iter().all(|k| *k > before_last) && !still.is_empty());

    // A valid one moves delivery to the second sink; events during the switch are not lost.
    router.reload(&config(&vc, &second_sink, &dir, port));
    power(&vc, &[("-off", "DC0_H0_VM0")]);
    router.wait_log("configuration reloaded", Duration::from_secs(20));
    router.wait_ready(Duration::from_secs(20));
    power(&vc, &[("-on", "DC0_H0_VM0")]);
    let after = keys(&drain(&second_sink, Duration::from_secs(3)));
    let late_first = keys(&drain(&first_sink, Duration::from_millis(300)));
    let mut all: Vec<i64> = before
        .iter()
        .chain(&still)
        .chain(&late_first)
        .chain(&after)
        .copied()
        .collect();
    all.sort();
    all.dedup();
    let recorded = vc_events(&vc);
    let last = *after.iter().max().expect("events at the second sink");
    let first = *before.iter().min().unwrap();
    let missing: Vec<&(i64, String)> = recorded
        .iter()
        .filter(|(k, _)| *k >= first && *k <= last && !all.contains(k))
        .collect();
    assert!(missing.is_empty(), "lost across the reload: {missing:?}");
}

/// SIGTERM while the sink is slow and the processor's queue is full, so the vCenter source is
/// waiting for room: the router still stops by itself within its grace period, and what it did
/// not deliver stays after the checkpoint, so the next start delivers it.
#[test]
fn sigterm_with_a_full_queue_stops_within_the_grace_and_the_next_start_delivers_the_rest() {
    let vc = Vcsim::start(&[]);
    let slow = CeReceiver::start(&["--slow-for", "600", "--delay", "2"]);
    let fast = CeReceiver::start(&[]);
    let dir = TempDir::new("checkpoint-full");
    let extra = format!(
        "    insecureSSL: true\n    checkpoint: true\n    checkpointDir: {}\n    checkpointPeriodSeconds: 1",
        dir.path().join("checkpoints").display()
    );
    let config = |sink: &CeReceiver, port: u16| {
        let processor = format!("{}  queueCapacity: 2\n", knative_with(&sink.url(), ""));
        e2e::config_with(&vc.sdk_url(), &extra, &processor, "shutdownGraceSeconds: 2\n", port)
    };

    let port = free_port();
    let mut router = Router::start(&config(&slow, port), port);
    router.wait_ready(Duration::from_secs(20));
    let vms = ["DC0_H0_VM0", "DC0_H0_VM1", "DC0_C0_RP0_VM0", "DC0_C0_RP0_VM1"];
    for vm in vms {
        power(&vc, &[("-off", vm), ("-on", vm)]);
    }
    let first = slow
        .next(Duration::from_secs(10))
        .expect("the slow sink got a first event");
    let first: i64 = first["attributes"]["id"].as_str().unwrap().parse().unwrap();
    let started = std::time::Instant::now();
    // terminate() sends SIGTERM and kills only after 10 s: exit code 0 means it stopped by itself.
    assert_eq!(router.terminate(), Some(0), "{}", router.log());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(9), "stopping took {took:?}");
    let mut delivered = vec![first];
    delivered.extend(keys(&drain(&slow, Duration::from_millis(500))));
    let held_back = checkpoint_key(&dir);
    let recorded: Vec<i64> = vc_events(&vc).into_iter().map(|(k, _)| k).collect();
    let last = *recorded.last().unwrap();
    assert!(
        held_back < last,
        "the checkpoint ({held_back}) passed undelivered events (last {last})"
    );

    let port = free_port();
    let router = Router::start(&config(&fast, port), port);
    router.wait_ready(Duration::from_secs(20));
    delivered.extend(keys(&drain(&fast, Duration::from_secs(3))));
    drop(router);
    let missing: Vec<i64> = recorded
        .iter()
        .copied()
        .filter(|k| *k >= first && !delivered.contains(k))
        .collect();
    assert!(missing.is_empty(), "lost events: {missing:?} (delivered {delivered:?})");
}
