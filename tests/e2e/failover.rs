//! Two replicas with leader election (issue 35), against a real Kubernetes API server
//! (kube-apiserver 1.20.2 on loopback, `e2e::kube`) and vcsim, with the defaults a user of
//! manifests/examples/cluster gets (leaderElection.enabled, checkpoint: true, so the checkpoint
//! lives in the ConfigMap event-router-checkpoints; Lease 12 s, renew deadline 8 s, retry 2 s),
//! under that overlay's own Role (leader-election.yaml): one replica streams, the other stands
//! by; after the leader's SIGKILL the standby takes over from the shared checkpoint and nothing
//! vCenter recorded is lost; a leader that was frozen (SIGSTOP, as a partitioned node) while it
//! retried events its sink refused comes back to find another replica leading: it sends none of
//! them again (the new leader delivered them from the checkpoint) and never writes over the
//! checkpoint (fencing).

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::kube::{InCluster, KubeApi};
use e2e::{config_with, eventually, free_port, knative_with, repo_root, vc_events, CeReceiver, Router, TempDir, Vcsim};
use serde_json::Value;

/// The provider's Lease (config_with names it `vcsim`); /stats keys it by its type, `vcenter`.
const LEASE: &str = "event-router-vcsim";
const CONFIG_MAP: &str = "event-router-checkpoints";

/// The overlay's ServiceAccount and Role, in a namespace of this test alone.
fn namespace_with_rbac(api: &KubeApi) -> (String, InCluster) {
    let ns = api.unique_namespace("e2e-ha");
    let role = std::fs::read_to_string(repo_root().join("manifests/examples/cluster/leader-election.yaml"))
        .expect("read leader-election.yaml")
        .replace("namespace: vmware-system", &format!("namespace: {ns}"));
    api.apply(&format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: event-router\n  namespace: {ns}\n---\n{role}"
    ));
    // kube-apiserver 1.20 holds the first create of a kind in a new namespace until its quota
    // admission has an evaluator for it (15 to 40 s here, logged "quota admission added
    // evaluator for: leases"): one Lease made and removed first, so the replicas' timing is
    // their own.
    let warm = Instant::now();
    api.kubectl_with(
        &["create", "-f", "-", "--request-timeout=180s"],
        Some(&format!(
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: warm-up\n  namespace: {ns}\n"
        )),
    );
    api.kubectl(&["-n", &ns, "delete", "lease", "warm-up"]);
    println!("first Lease created in {:.1} s", warm.elapsed().as_secs_f64());
    let pod = api.in_cluster(&ns, "event-router");
    (ns, pod)
}

fn replica(pod: &InCluster, vc: &Vcsim, sink: &CeReceiver, name: &str) -> Router {
    let port = free_port();
    let config = config_with(
        &vc.sdk_url(),
        "    insecureSSL: true\n    checkpoint: true\n    checkpointPeriodSeconds: 1",
        &knative_with(&sink.url(), ""),
        "leaderElection:\n  enabled: true\n",
        port,
    );
    let mut env = pod.env();
    env.push(("POD_NAME", name));
    let router = Router::start_env(&config, port, &["--log-level", "info"], &env);
    router.wait_ready(Duration::from_secs(30));
    router
}

/// Whether the replica streams the provider, by its /stats (`None`: no answer).
fn leads(router: &Router) -> Option<bool> {
    let (status, body) = router.get("/stats")?;
    let v: Value = serde_json::from_str(&body).ok().filter(|_| status == 200)?;
    v["vmware.event.router.stats"]["vcenter"]["leader"].as_bool()
}

fn wait_leads(router: &Router, leading: bool, within: Duration, what: &str) {
    eventually(within, format!("{what}; log:\n{}", router.log()), || {
        (leads(router) == Some(leading)).then_some(())
    });
}

fn get(api: &KubeApi, ns: &str, kind: &str, name: &str) -> Value {
    let text = api.kubectl(&["-n", ns, "get", kind, name, "-o", "json"]);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{kind} {name}: {e}: {text}"))
}

fn holder(api: &KubeApi, ns: &str) -> String {
    get(api, ns, "lease", LEASE)["spec"]["holderIdentity"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The ConfigMap's one checkpoint: its key, its lastEventKey and who wrote it.
fn checkpoint(api: &KubeApi, ns: &str) -> (String, i64, String) {
    let map = get(api, ns, "configmap", CONFIG_MAP);
    let data = map["data"].as_object().cloned().unwrap_or_default();
    assert_eq!(data.len(), 1, "one entry per vCenter: {map}");
    let (key, text) = data.iter().next().expect("one entry");
    let cp: Value =
        serde_json::from_str(text.as_str().unwrap_or_default()).unwrap_or_else(|e| panic!("{key}: {e}: {map}"));
    let writers = map["metadata"]["annotations"]["event-router.vmware.com/checkpoint-writers"]
        .as_str()
        .unwrap_or_default();
    let writers: Value = serde_json::from_str(writers).unwrap_or(Value::Null);
    (
        key.clone(),
        cp["lastEventKey"].as_i64().unwrap_or(-1),
        writers[key].as_str().unwrap_or_default().to_string(),
    )
}

fn power_cycle(vc: &Vcsim, vm: &str) {
    vc.govc(&["vm.power", "-off", vm]);
    vc.govc(&["vm.power", "-on", vm]);
}

/// Every event key the sink receives until it has them all (`want`), or panics naming those
/// missing after `within`.
fn receive_all(
    sink: &CeReceiver,
    want: &BTreeSet<i64>,
    within: Duration,
    got: &mut BTreeSet<i64>,
    log: impl Fn() -> String,
) {
    let deadline = Instant::now() + within;
    while !want.is_subset(got) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(rec) = sink.next(left.min(Duration::from_secs(1))) else {
            if Instant::now() >= deadline {
                let missing: Vec<_> = want.difference(got).collect();
                panic!(
                    "events vCenter recorded never arrived: {missing:?} (received {got:?}); log:\n{}",
                    log()
                );
            }
            continue;
        };
        if let Some(key) = rec["attributes"]["id"].as_str().and_then(|k| k.parse().ok()) {
            got.insert(key);
        }
    }
}

/// Keys vCenter recorded after `after` (pyVmomi reads them).
fn recorded_after(vc: &Vcsim, after: i64) -> BTreeSet<i64> {
    vc_events(vc)
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| *k > after)
        .collect()
}

fn signal(router: &Router, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &router.pid().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig}");
}

#[test]
fn a_standby_takes_over_from_the_shared_checkpoint_and_a_deposed_leader_is_fenced() {
    let api = KubeApi::shared();
    let (ns, pod) = namespace_with_rbac(api);
    let vc = Vcsim::start(&[]);
    // One sink per replica: who delivered what is known. replica-b's answers 503 while `down`
    // exists.
    let dir = TempDir::new("failover");
    let down = dir.path().join("sink-b-down");
    let down_arg = down.display().to_string();
    let (sink, sink_b, sink_c) = (
        CeReceiver::start(&[]),
        CeReceiver::start(&["--fail-while", &down_arg]),
        CeReceiver::start(&[]),
    );

    // One leads, the other stands by (and is ready: it is healthy and waits).
    let mut a = replica(&pod, &vc, &sink, "replica-a");
    wait_leads(&a, true, Duration::from_secs(60), "replica-a leads");
    let b = replica(&pod, &vc, &sink_b, "replica-b");
    wait_leads(&b, false, Duration::from_secs(10), "replica-b stands by");
    assert!(holder(api, &ns).starts_with("replica-a_"), "{}", holder(api, &ns));
    assert!(matches!(b.get("/readyz"), Some((200, _))), "a standby is ready");
    // The leader streams from vCenter's time when it started: what vCenter records from here
    // on (pyVmomi's own logins included) must arrive.
    eventually(Duration::from_secs(15), "the leader's first checkpoint", || {
        a.log().contains("first checkpoint written").then_some(())
    });
    let start = vc_events(&vc).iter().map(|(k, _)| *k).max().unwrap_or(0);

    // The leader delivers, and its checkpoint lands in the ConfigMap, written by it.
    power_cycle(&vc, "DC0_H0_VM0");
    let mut got = BTreeSet::new();
    let first = recorded_after(&vc, start);
    receive_all(&sink, &first, Duration::from_secs(30), &mut got, || a.log());
    let newest = *first.iter().max().expect("events recorded");
    let (key, _, writer) = eventually(
        Duration::from_secs(15),
        "the checkpoint reaches the newest event",
        || {
            let cp = checkpoint(api, &ns);
            (cp.1 >= newest).then_some(cp)
        },
    );
    assert!(key.starts_with("cp-127.0.0.1"), "the file store's name: {key}");
    assert!(writer.starts_with("replica-a_"), "written by the leader: {writer}");
    assert!(
        b.log().lines().all(|l| !l.contains("checkpoint written")),
        "the standby writes nothing"
    );

    // SIGKILL (a node lost): no release. The standby takes over once the Lease has not changed
    // for its duration, resumes from the ConfigMap, and every event recorded since arrives.
    a.kill();
    let killed = Instant::now();
    // Where the dead leader's last checkpoint stands: the standby resumes after it.
    let (_, at, _) = checkpoint(api, &ns);
    power_cycle(&vc, "DC0_H0_VM1");
    wait_leads(&b, true, Duration::from_secs(60), "replica-b takes over");
    let takeover = killed.elapsed();
    println!(
        "takeover after SIGKILL of the leader: {:.1} s (Lease 12 s, retry 2 s)",
        takeover.as_secs_f64()
    );
    let second = recorded_after(&vc, at);
    receive_all(&sink_b, &second, Duration::from_secs(60), &mut got, || b.log());
    assert!(holder(api, &ns).starts_with("replica-b_"), "{}", holder(api, &ns));
    assert!(
        b.log().contains(&format!("resuming after event {at} ")),
        "the new leader resumes from the shared checkpoint; log:\n{}",
        b.log()
    );
    let newest = *second.iter().max().expect("events recorded");
    eventually(Duration::from_secs(15), "the new leader's checkpoint", || {
        let cp = checkpoint(api, &ns);
        (cp.1 >= newest && cp.2.starts_with("replica-b_")).then_some(())
    });

    // A leader frozen past its Lease (SIGSTOP: a partitioned node) while it retries events its
    // sink refused (503), and while it is frozen the sink comes back and a third replica takes
    // over, delivers those events from the checkpoint and moves it on; thawed, the old leader
    // sends none of them again, stops streaming, and its stale writes are refused (409 on the
    // resourceVersion it read), so the position never goes back.
    let c = replica(&pod, &vc, &sink_c, "replica-c");
    wait_leads(&c, false, Duration::from_secs(10), "replica-c stands by");
    std::fs::write(&down, "").expect("take replica-b's sink down");
    power_cycle(&vc, "DC0_H0_VM1");
    let refused: i64 = eventually(Duration::from_secs(30), "replica-b's sink refuses an event", || {
        let rec = sink_b.next(Duration::from_secs(1)).filter(|r| r["status"] == 503)?;
        rec["attributes"]["id"].as_str()?.parse().ok()
    });
    signal(&b, "-STOP");
    std::fs::remove_file(&down).expect("bring replica-b's sink back");
    let (_, frozen_at, _) = checkpoint(api, &ns);
    assert!(
        frozen_at < refused,
        "the checkpoint moved past event {refused}, which was never delivered (at {frozen_at})"
    );
    // What replica-b sent before it froze (its refused tries) is set aside.
    while sink_b.next(Duration::from_secs(3)).is_some() {}
    wait_leads(
        &c,
        true,
        Duration::from_secs(60),
        "replica-c takes over from the frozen leader",
    );
    power_cycle(&vc, "DC0_H0_VM0");
    let third = recorded_after(&vc, frozen_at);
    assert!(third.contains(&refused), "{third:?}");
    receive_all(&sink_c, &third, Duration::from_secs(60), &mut got, || c.log());
    let newest = *third.iter().max().expect("events recorded");
    let (_, moved_to, _) = eventually(Duration::from_secs(15), "replica-c's checkpoint", || {
        let cp = checkpoint(api, &ns);
        (cp.1 >= newest && cp.2.starts_with("replica-c_")).then_some(cp)
    });
    signal(&b, "-CONT");
    wait_leads(&b, false, Duration::from_secs(30), "the thawed leader stands down");
    for _ in 0..5 {
        let (_, now_at, writer) = checkpoint(api, &ns);
        assert!(
            writer.starts_with("replica-c_"),
            "the thawed leader wrote over the checkpoint: {writer}"
        );
        assert!(
            now_at >= moved_to,
            "the checkpoint went back from {moved_to} to {now_at}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(holder(api, &ns).starts_with("replica-c_"), "{}", holder(api, &ns));
    // Nor does it send what it was retrying (its sink answers now: a retry would be accepted),
    // what it had queued, or what vCenter recorded while it was frozen (a WaitForUpdates answer
    // may wait in its socket): its Lease ran out by its own clock.
    let late: Vec<Value> = std::iter::from_fn(|| sink_b.next(Duration::from_secs(3))).collect();
    assert!(
        late.is_empty(),
        "the thawed leader delivered {} event(s) after another took over: {:?}; log:\n{}",
        late.len(),
        late.iter().map(|r| r["attributes"]["id"].clone()).collect::<Vec<_>>(),
        b.log()
    );
    let log = b.log();
    assert!(
        log.contains("lost the Lease") || log.contains("fencing"),
        "the thawed leader says why it stopped; log:\n{log}"
    );

    // Still one leader: events after all this arrive.
    power_cycle(&vc, "DC0_H0_VM1");
    let last = recorded_after(&vc, newest);
    receive_all(&sink_c, &last, Duration::from_secs(30), &mut got, || c.log());
}
