//! Two vcsim instances streaming through one router to two Knative-style sinks with different
//! filters (event names; an EventBridge-style pattern), and each vCenter and each processor
//! failing on its own without stopping the others; many streams on one vcsim, and the vcsim fix
//! that makes that reliable (scripts/patches/).

use std::time::Duration;

use e2e::{free_port, CeReceiver, Router, Vcsim};
use serde_json::Value;

const STEP: Duration = Duration::from_secs(3);

fn provider(name: &str, vc: &Vcsim) -> String {
    format!(
        "  - type: vcenter\n    name: {name}\n    vcenter:\n      address: {}\n      insecureSSL: true\n      auth:\n        type: basic_auth\n        basicAuth: {{username: user, password: pass}}\n",
        vc.sdk_url()
    )
}

fn config(vc1: &Vcsim, vc2: &Vcsim, off: &CeReceiver, on: &CeReceiver, port: u16) -> String {
    format!(
        "apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata:
  name: two-vcenters
eventProviders:
{}{}eventProcessors:
  - type: knative
    name: power-off
    filter:
      eventNames: [VmPoweredOffEvent]
    knative:
      destination: {{uri: \"{}\"}}
      maxAttempts: 1
  - type: knative
    name: vm0-on
    filter:
      pattern:
        subject: [{{prefix: VmPoweredOn}}]
        data: {{Vm: {{Name: [DC0_H0_VM0]}}}}
    knative:
      destination: {{uri: \"{}\"}}
      maxAttempts: 1
metricsProvider:
  type: default
  name: metrics
  default:
    bindAddress: 127.0.0.1:{port}
",
        provider("vc-01", vc1),
        provider("vc-02", vc2),
        off.url(),
        on.url()
    )
}

fn subject_source(rec: &Value) -> (String, String) {
    let a = &rec["attributes"];
    (
        a["subject"].as_str().unwrap().to_string(),
        a["source"].as_str().unwrap().to_string(),
    )
}

/// Every event the sink receives within `quiet` of the previous one.
fn drain(sink: &CeReceiver, quiet: Duration) -> Vec<(String, String)> {
    let mut got = Vec::new();
    while let Some(rec) = sink.next(quiet) {
        got.push(subject_source(&rec));
    }
    got
}

#[test]
fn two_vcenters_feed_two_filtered_processors() {
    let vc1 = Vcsim::start(&[]);
    let vc2 = Vcsim::start(&[]);
    let off = CeReceiver::start(&[]);
    let on = CeReceiver::start(&[]);
    let port = free_port();
    let mut router = Router::start(&config(&vc1, &vc2, &off, &on, port), port);
    router.wait_ready(Duration::from_secs(20));

    vc1.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    vc2.govc(&["vm.power", "-off", "DC0_H0_VM1"]);
    let mut offs: Vec<_> = off
        .until("VmPoweredOffEvent", STEP)
        .iter()
        .chain(off.until("VmPoweredOffEvent", STEP).iter())
        .map(subject_source)
        .collect();
    offs.sort();
    let mut want = vec![
        ("VmPoweredOffEvent".to_string(), vc1.sdk_url()),
        ("VmPoweredOffEvent".to_string(), vc2.sdk_url()),
    ];
    want.sort();
    assert_eq!(offs, want, "only power-off events, one from each vCenter");

    // vc-01 powers VM0 back on (matches the pattern), vc-02 powers VM1 on (wrong VM).
    vc2.govc(&["vm.power", "-on", "DC0_H0_VM1"]);
    vc1.govc(&["vm.power", "-on", "DC0_H0_VM0"]);
    let ons: Vec<_> = on.until("VmPoweredOnEvent", STEP).iter().map(subject_source).collect();
    assert_eq!(ons, [("VmPoweredOnEvent".to_string(), vc1.sdk_url())]);
    assert_eq!(
        drain(&on, Duration::from_millis(500)),
        [],
        "VM1's power-on must not pass the pattern"
    );
    assert_eq!(drain(&off, Duration::from_millis(200)), []);

    let (code, stats) = router.get("/stats").unwrap();
    assert_eq!(code, 200);
    let stats: Value = serde_json::from_str(&stats).unwrap();
    let s = &stats["vmware.event.router.stats"];
    assert_eq!(
        s["knative:power-off"]["invocations"]["VmPoweredOffEvent"]["SuccessCount"], 2,
        "{s:#}"
    );
    assert_eq!(
        s["knative:vm0-on"]["invocations"]["VmPoweredOnEvent"]["SuccessCount"], 1,
        "{s:#}"
    );
    assert_eq!(s["vcenter:vc-01"]["address"], vc1.sdk_url());
    assert_eq!(s["vcenter:vc-02"]["address"], vc2.sdk_url());
    let (_, prom) = router.get("/metrics").unwrap();
    for name in ["vc-01", "vc-02"] {
        assert!(
            prom.contains(&format!("event_router_vcenter_session_up{{name=\"{name}\"}} 1")),
            "{prom}"
        );
    }

    // A processor whose sink is gone does not stop the other one.
    drop(off);
    vc1.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    vc1.govc(&["vm.power", "-on", "DC0_H0_VM0"]);
    let ons: Vec<_> = on.until("VmPoweredOnEvent", STEP).iter().map(subject_source).collect();
    assert_eq!(ons, [("VmPoweredOnEvent".to_string(), vc1.sdk_url())]);

    // A vCenter that goes away makes the router unready, naming it, while the other streams on.
    drop(vc2);
    let why = e2e::eventually(
        Duration::from_secs(20),
        "unready after vc-02 stopped",
        || match router.get("/readyz") {
            Some((503, body)) => Some(body),
            _ => None,
        },
    );
    assert!(why.contains("vc-02: vCenter session is down"), "{why}");
    assert!(!why.contains("vc-01"), "{why}");
    vc1.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    vc1.govc(&["vm.power", "-on", "DC0_H0_VM0"]);
    let ons: Vec<_> = on.until("VmPoweredOnEvent", STEP).iter().map(subject_source).collect();
    assert_eq!(ons, [("VmPoweredOnEvent".to_string(), vc1.sdk_url())]);
    assert_eq!(router.terminate(), Some(0), "{}", router.log());
}

/// A router config with these `providers` (lines of the `eventProviders` list) and one Knative
/// processor posting every event to `sink`.
fn one_sink_config(name: &str, providers: &str, sink: &CeReceiver, port: u16) -> String {
    e2e::router_config(
        name,
        &format!("eventProviders:\n{providers}"),
        &format!(
            "eventProcessors:\n  - type: knative\n    name: sink\n    knative:\n      destination: {{uri: \"{}\"}}\n",
            sink.url()
        ),
        port,
        None,
        "",
    )
}

/// Two streams on one vCenter (two providers with their own sessions): each hears of a new
/// event at once. On vcsim 0.24.2 the sessions' default PropertyCollectors share a moref and one
/// change listener, so a stream on the default collector could go deaf and get its events only
/// from the fallback read, a long-poll wait (10 s) late; each stream now long-polls its own
/// collector (CreatePropertyCollector).
#[test]
fn two_streams_on_one_vcenter_each_hear_an_event_at_once() {
    let vc = Vcsim::start(&[]);
    let sink = CeReceiver::start(&[]);
    let port = free_port();
    let providers = provider("stream-a", &vc) + &provider("stream-b", &vc);
    let config = one_sink_config("one-vcenter-two-streams", &providers, &sink, port);
    let router = Router::start(&config, port);
    router.wait_ready(Duration::from_secs(20));
    // Both streams have polled at least once: their long polls are pending.
    std::thread::sleep(Duration::from_secs(2));
    for round in 0..3 {
        vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
        let mut copies = 0;
        while copies < 2 {
            let rec = sink.next(STEP).unwrap_or_else(|| {
                panic!("round {round}: only {copies} of the two streams delivered the power-off within {STEP:?}")
            });
            if rec["attributes"]["subject"] == "VmPoweredOffEvent" {
                copies += 1;
            }
        }
        vc.govc(&["vm.power", "-on", "DC0_H0_VM0"]);
        drain(&sink, Duration::from_millis(1500));
    }
}

/// More than ten vCenters in one router: each stream's default page is 10,000 / their number
/// (909 for eleven), so the pages held while deliveries wait stay bounded, and every stream
/// still hears of and delivers a new event.
#[test]
fn eleven_streams_get_the_smaller_default_page_and_each_delivers() {
    let vc = Vcsim::start(&[]);
    let sink = CeReceiver::start(&[]);
    let port = free_port();
    let providers: String = (0..11).map(|i| provider(&format!("stream-{i}"), &vc)).collect();
    let config = one_sink_config("eleven-streams", &providers, &sink, port);
    let mut router = Router::start(&config, port);
    router.wait_ready(Duration::from_secs(90));
    let log = router.log();
    assert_eq!(log.matches("page_size=909").count(), 11, "{log}");
    std::thread::sleep(Duration::from_secs(2));
    vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    let mut sources = std::collections::HashSet::new();
    let mut copies = 0;
    while copies < 11 {
        let rec = sink
            .next(STEP)
            .unwrap_or_else(|| panic!("only {copies} of the eleven streams delivered the power-off within {STEP:?}"));
        if rec["attributes"]["subject"] == "VmPoweredOffEvent" {
            copies += 1;
            sources.insert(rec["attributes"]["source"].to_string());
        }
    }
    assert_eq!(sources.len(), 1, "all eleven streams read the one vcsim");
    assert_eq!(router.terminate(), Some(0), "{}", router.log());
}

/// vcsim 0.24.2 deadlocked when one client set an event collector's page size (or destroyed
/// one) while another's login posted an event: every later call timed out, and the eleven
/// streams above then never got ready (1 run in 10 to 30 on a loaded machine). The vcsim that
/// scripts/install-test-tools.sh builds carries the fix (scripts/patches/); this is what fails
/// without it, every time here: eight govc clients creating, paging and destroying collectors,
/// each call a new login, for 8 s; vcsim must still answer.
#[test]
fn vcsim_survives_collectors_and_logins_at_once() {
    let vc = Vcsim::start(&[]);
    let until = std::time::Instant::now() + Duration::from_secs(8);
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let env = vc.govc_env();
            std::thread::spawn(move || {
                let home = e2e::TempDir::new("govc-client");
                let mut calls = 0;
                while std::time::Instant::now() < until {
                    let mut child = std::process::Command::new(e2e::tool(".tools/bin/govc"))
                        .args(["events", "-n", "3"])
                        .envs(env.clone())
                        .env("GOVMOMI_HOME", home.path())
                        .env("GOVC_PERSIST_SESSION", "false")
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null())
                        .spawn()
                        .expect("govc");
                    if !exited_within(&mut child, Duration::from_secs(10)) {
                        return calls;
                    }
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    let calls: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    let mut about = std::process::Command::new(e2e::tool(".tools/bin/govc"))
        .arg("about")
        .envs(vc.govc_env())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("govc about");
    assert!(
        exited_within(&mut about, Duration::from_secs(10)) && about.wait().unwrap().success(),
        "vcsim stopped answering after {calls} `govc events` calls from eight clients at once: is scripts/patches/govmomi-0.24.2-event-collector-lock-order.patch applied?"
    );
    assert!(calls > 8, "only {calls} calls");
}

/// Whether `child` exited within `within` (killed and reaped otherwise).
fn exited_within(child: &mut std::process::Child, within: Duration) -> bool {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}
