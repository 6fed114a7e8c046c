//! vCenter (vcsim) -> event-router -> Knative-style CloudEvents sink (Python CloudEvents SDK).

use std::time::Duration;

use e2e::{config, free_port, knative, knative_with, CeReceiver, Router, Vcsim};
use serde_json::Value;

/// Each event must arrive within this long of the previous step.
const STEP: Duration = Duration::from_secs(2);

struct Setup {
    vcsim: Vcsim,
    sink: CeReceiver,
    router: Router,
}

fn setup(encoding: &str, vcenter_extra: &str, sink_args: &[&str]) -> Setup {
    let vcsim = Vcsim::start(&[]);
    let sink = CeReceiver::start(sink_args);
    let port = free_port();
    let extra = format!("    insecureSSL: true\n{vcenter_extra}");
    // One delivery at a time, in total key order: these tests read the sink's log as a sequence
    // (tests/e2e/ordering.rs covers the default, keyed concurrency).
    let processor = format!("{}  concurrency: 1\n", knative(&sink.url(), encoding));
    let router = Router::start(&config(&vcsim.sdk_url(), &extra, &processor, port), port);
    router.wait_ready(Duration::from_secs(20));
    Setup { vcsim, sink, router }
}

/// `VirtualMachine:vm-57` -> ("VirtualMachine", "vm-57")
fn moref(vcsim: &Vcsim, path: &str) -> (String, String) {
    let out = vcsim.govc(&["ls", "-i", path]);
    let (t, v) = out.trim().split_once(':').expect("type:value");
    (t.to_string(), v.to_string())
}

fn power(s: &Setup, op: &str, vm: &str) -> Vec<Value> {
    s.vcsim.govc(&["vm.power", op, vm]);
    let last = if op == "-off" {
        "VmPoweredOffEvent"
    } else {
        "VmPoweredOnEvent"
    };
    s.sink.until(last, STEP)
}

fn assert_no_duplicates_in_key_order(events: &[Value]) {
    let ids: Vec<i64> = events
        .iter()
        .map(|e| e["attributes"]["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids not strictly increasing: {ids:?}"
    );
}

fn check_vm_event(rec: &Value, s: &Setup, vm: &str) {
    let a = &rec["attributes"];
    let d = &rec["data"];
    assert_eq!(
        rec["defaulted"],
        serde_json::json!([]),
        "the SDK had to default attributes: {rec}"
    );
    assert_eq!(a["id"], d["Key"].to_string(), "id is the event key");
    assert_eq!(a["source"], s.vcsim.sdk_url());
    assert_eq!(a["specversion"], "1.0");
    assert_eq!(a["datacontenttype"], "application/json");
    assert_eq!(a["vsphereapiversion"], "6.5");
    assert_eq!(d["ChainId"], d["Key"]);
    assert_eq!(d["UserName"], "user");
    assert!(
        a["time"]
            .as_str()
            .unwrap()
            .starts_with(&d["CreatedTime"].as_str().unwrap()[..19]),
        "{rec}"
    );
    assert_eq!(d["Datacenter"]["Name"], "DC0");
    assert_eq!(d["Datacenter"]["Datacenter"]["Type"], "Datacenter");
    assert_eq!(d["Vm"]["Name"], vm);
    let (t, v) = moref(&s.vcsim, &format!("/DC0/vm/{vm}"));
    assert_eq!(d["Vm"]["Vm"], serde_json::json!({"Type": t, "Value": v}));
    assert_eq!(d["Host"]["Host"]["Type"], "HostSystem");
    assert_eq!(d["Ds"], Value::Null);
    assert_eq!(d["Net"], Value::Null);
    assert_eq!(d["Dvs"], Value::Null);
    assert_eq!(d["ChangeTag"], "");
    assert_eq!(d["Template"], false);
    let msg = d["FullFormattedMessage"].as_str().unwrap();
    assert!(msg.contains(vm), "{msg}");
}

#[test]
fn binary_mode_delivers_power_events_as_veba_router_cloudevents() {
    let s = setup("binary", "", &[]);
    let off = power(&s, "-off", "DC0_H0_VM0");
    let on = power(&s, "-on", "DC0_H0_VM0");
    let all: Vec<Value> = off.iter().chain(on.iter()).cloned().collect();
    assert_no_duplicates_in_key_order(&all);
    for rec in &all {
        assert_eq!(rec["mode"], "binary");
        assert_eq!(rec["attributes"]["type"], "com.vmware.event.router/event");
    }
    let subjects: Vec<&str> = all
        .iter()
        .map(|r| r["attributes"]["subject"].as_str().unwrap())
        .collect();
    let vm_events: Vec<&str> = subjects.iter().copied().filter(|s| s.starts_with("Vm")).collect();
    assert_eq!(
        vm_events,
        [
            "VmStoppingEvent",
            "VmPoweredOffEvent",
            "VmStartingEvent",
            "VmPoweredOnEvent"
        ]
    );
    assert!(
        subjects.contains(&"UserLoginSessionEvent"),
        "govc's login is delivered too: {subjects:?}"
    );
    for rec in all
        .iter()
        .filter(|r| r["attributes"]["subject"].as_str().unwrap().starts_with("Vm"))
    {
        check_vm_event(rec, &s, "DC0_H0_VM0");
    }
    // Nothing older than the router's start was delivered: vcsim's inventory events are keys 1..25.
    let first: i64 = all[0]["attributes"]["id"].as_str().unwrap().parse().unwrap();
    assert!(first > 25, "replayed history: {first}");
    // /stats and /metrics count what was delivered.
    let (code, stats) = s.router.get("/stats").unwrap();
    assert_eq!(code, 200);
    let stats: Value = serde_json::from_str(&stats).unwrap();
    let kn = &stats["vmware.event.router.stats"]["knative"];
    assert_eq!(kn["invocations"]["VmPoweredOffEvent"]["SuccessCount"], 1);
    assert_eq!(stats["vmware.event.router.stats"]["vcenter"]["events_err"], 0);
    let (_, prom) = s.router.get("/metrics").unwrap();
    assert!(
        prom.contains(
            "event_router_invocations_total{component=\"knative\",name=\"sink\",event=\"VmPoweredOnEvent\",result=\"success\"} 1"
        ),
        "{prom}"
    );
    assert!(
        prom.contains("event_router_vcenter_session_up{name=\"vcsim\"} 1"),
        "{prom}"
    );
}

#[test]
fn basic_auth_and_the_user_agent_reach_the_sink() {
    let vcsim = Vcsim::start(&[]);
    let sink = CeReceiver::start(&[]);
    let port = free_port();
    let auth = "    auth:\n      type: basic_auth\n      basicAuth: {username: veba, password: 'p@ss w:rd'}\n";
    let router = Router::start(
        &config(
            &vcsim.sdk_url(),
            "    insecureSSL: true\n",
            &knative_with(&sink.url(), auth),
            port,
        ),
        port,
    );
    router.wait_ready(Duration::from_secs(20));
    vcsim.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    let off = sink.until("VmPoweredOffEvent", STEP);
    // RFC 7617: base64 of "veba:p@ss w:rd".
    let expected = "Basic dmViYTpwQHNzIHc6cmQ=";
    for rec in &off {
        assert_eq!(rec["authorization"], expected, "{rec}");
        let agent = rec["user_agent"].as_str().unwrap_or_default();
        assert!(agent.starts_with("event-router/"), "{rec}");
    }
    assert!(!router.log().contains("p@ss w:rd"), "the password is never logged");
}

#[test]
fn structured_mode_with_tanzu_sources_contract() {
    let s = setup("structured", "    eventFormat: tanzu-sources\n", &[]);
    let off = power(&s, "-off", "DC0_C0_RP0_VM1");
    assert_no_duplicates_in_key_order(&off);
    let rec = off.last().unwrap();
    assert_eq!(rec["mode"], "structured");
    let a = &rec["attributes"];
    assert_eq!(a["type"], "com.vmware.vsphere.VmPoweredOffEvent.v0");
    assert_eq!(a["eventclass"], "event");
    assert!(
        a.get("subject").is_none(),
        "no subject in the Tanzu Sources contract: {a}"
    );
    check_vm_event(rec, &s, "DC0_C0_RP0_VM1");
    assert_eq!(rec["data"]["ComputeResource"]["Name"], "DC0_C0");
}

#[test]
fn delivery_goes_on_after_the_session_is_terminated_by_another_client() {
    let s = setup("binary", "", &[]);
    power(&s, "-off", "DC0_H0_VM1");
    for round in 0..2 {
        let ended = s.vcsim.terminate_other_sessions();
        assert!(ended >= 1, "round {round}: the router's session was not listed");
        s.router.wait_log("vCenter session ended (", Duration::from_secs(15));
        let op = if round == 0 { "-on" } else { "-off" };
        s.vcsim.govc(&["vm.power", op, "DC0_H0_VM1"]);
        let want = if round == 0 {
            "VmPoweredOnEvent"
        } else {
            "VmPoweredOffEvent"
        };
        // Re-login takes a moment; after that, the usual bound applies per event.
        let got = s.sink.until(want, Duration::from_secs(10));
        assert_eq!(got.last().unwrap()["data"]["Vm"]["Name"], "DC0_H0_VM1");
    }
    assert_eq!(
        s.router.log().matches("logged in to vCenter").count(),
        3,
        "{}",
        s.router.log()
    );
}

#[test]
fn retryable_sink_errors_are_retried_until_delivered() {
    let s = setup("binary", "", &["--status", "503", "--fail-count", "2"]);
    s.vcsim.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    let first = s.sink.next(STEP).expect("first attempt");
    assert_eq!(first["status"], 503);
    let second = s.sink.next(STEP).expect("second attempt");
    assert_eq!(second["status"], 503);
    assert_eq!(
        first["attributes"]["id"], second["attributes"]["id"],
        "the same event is retried"
    );
    let third = s.sink.next(STEP).expect("third attempt");
    assert_eq!(third["status"], 202);
    assert_eq!(third["attributes"]["id"], first["attributes"]["id"]);
    s.sink.until("VmPoweredOffEvent", STEP);
    assert!(s.router.log().contains("HTTP 503"), "{}", s.router.log());
}

#[test]
fn a_sink_answering_400_is_logged_once_per_event_and_the_router_keeps_going() {
    let mut s = setup("binary", "", &["--status", "400", "--fail-count", "1"]);
    s.vcsim.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    let rejected = s.sink.next(STEP).expect("a request");
    assert_eq!(rejected["status"], 400);
    // The rejected event is not retried: the next request carries the next event.
    let next = s.sink.next(STEP).expect("next event");
    assert_ne!(next["attributes"]["id"], rejected["attributes"]["id"]);
    s.sink.until("VmPoweredOffEvent", STEP);
    let log = s.router.log();
    assert_eq!(log.matches("sink rejected the event (HTTP 400)").count(), 1, "{log}");
    assert!(s.router.is_running());
    let (_, stats) = s.router.get("/stats").unwrap();
    let stats: Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["vmware.event.router.stats"]["knative"]["events_err"], 1);
    assert_eq!(s.router.terminate(), Some(0), "clean exit on SIGTERM");
}
