//! Event storms drain in parallel while each object's events stay in order, by default (issue
//! 36): VMs power-cycled over and over on vcsim, a sink whose latency varies from 1 to 20 ms (so
//! concurrent deliveries finish out of order), the default config (concurrency 8): every event
//! vCenter recorded (read with pyVmomi) arrives once, and no VM's event arrives after a later
//! event of the same VM.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use e2e::{free_port, knative_with, vc_events, CeReceiver, Router, TempDir, Vcsim};

const VMS: [&str; 4] = ["DC0_H0_VM0", "DC0_H0_VM1", "DC0_C0_RP0_VM0", "DC0_C0_RP0_VM1"];

#[test]
fn each_vms_events_arrive_in_order_while_vms_are_delivered_in_parallel() {
    let vc = Vcsim::start(&[]);
    // 1-20 ms per event; 200 ms more during the first 8 s, so a backlog builds while the VMs
    // are cycled and is drained with deliveries in flight together.
    let sink = CeReceiver::start(&["--random-delay", "0.001:0.020", "--slow-for", "8", "--delay", "0.2"]);
    let dir = TempDir::new("ordering");
    let port = free_port();
    let extra = format!(
        "    insecureSSL: true\n    checkpoint: true\n    checkpointDir: {}\n",
        dir.path().join("checkpoints").display()
    );
    // The defaults: no concurrency set.
    let cfg = e2e::config_with(&vc.sdk_url(), &extra, &knative_with(&sink.url(), ""), "", port);
    assert!(!cfg.contains("concurrency"));
    let router = Router::start(&cfg, port);
    router.wait_ready(Duration::from_secs(20));
    let first = vc_events(&vc).last().map(|(k, _)| *k + 1).unwrap_or(0);

    // Each VM power-cycled eight times, the four VMs at once. Each thread's govc keeps its
    // session in a folder of its own: govc (govmomi session/cache) rewrites its session file in
    // place, so a govc reading it while another writes it fails to decode it.
    let cycles: Vec<_> = VMS
        .iter()
        .map(|vm| {
            let env = vc.govc_env();
            let vm = vm.to_string();
            std::thread::spawn(move || {
                let home = TempDir::new("govc-thread");
                for _ in 0..8 {
                    for op in ["-off", "-on"] {
                        let out = std::process::Command::new(e2e::tool(".tools/bin/govc"))
                            .args(["vm.power", op, &vm])
                            .envs(env.clone())
                            .env("GOVMOMI_HOME", home.path())
                            .output()
                            .unwrap();
                        assert!(out.status.success(), "{}", e2e::output_text(&out));
                    }
                }
            })
        })
        .collect();
    for c in cycles {
        c.join().unwrap();
    }
    let last = vc_events(&vc).last().map(|(k, _)| *k).unwrap();
    let recorded: BTreeSet<i64> = vc_events(&vc)
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| *k >= first && *k <= last)
        .collect();

    // What the sink accepted, in the order it accepted them.
    let mut arrivals: Vec<(i64, Option<String>)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let got: BTreeSet<i64> = arrivals.iter().map(|(k, _)| *k).collect();
        if recorded.is_subset(&got) {
            break;
        }
        if let Some(rec) = sink.next(Duration::from_millis(500)) {
            let key = rec["attributes"]["id"].as_str().unwrap().parse().unwrap();
            let vm = rec["data"]["Vm"]["Name"].as_str().map(str::to_string);
            arrivals.push((key, vm));
        }
    }
    let keys: Vec<i64> = arrivals.iter().map(|(k, _)| *k).collect();
    let unique: BTreeSet<i64> = keys.iter().copied().collect();
    assert_eq!(unique.len(), keys.len(), "duplicates: {keys:?}");
    let missing: Vec<&i64> = recorded.difference(&unique).collect();
    assert!(missing.is_empty(), "not delivered: {missing:?}; log:\n{}", router.log());

    // Per VM, keys only grow.
    let mut per_vm: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (key, vm) in &arrivals {
        if let Some(vm) = vm {
            per_vm.entry(vm.clone()).or_default().push(*key);
        }
    }
    let breaks: usize = per_vm
        .values()
        .map(|ks| ks.windows(2).filter(|w| w[0] > w[1]).count())
        .sum();
    assert_eq!(breaks, 0, "events of one VM overtook each other: {per_vm:?}");
    for vm in VMS {
        assert!(per_vm.get(vm).is_some_and(|k| k.len() >= 16), "{vm}: {per_vm:?}");
    }
    // Deliveries overlapped: the arrival order is not the key order (different VMs in parallel).
    let sorted = {
        let mut k = keys.clone();
        k.sort_unstable();
        k
    };
    assert_ne!(
        keys, sorted,
        "every event arrived in key order: nothing was delivered in parallel"
    );
}
