//! vcsim -> event-router -> a fake OpenFaaS gateway (tests/peers/fake_openfaas.py, following
//! the gateway's REST API): topic annotations pick the functions, a changed annotation is
//! picked up on refresh, sync calls are retried, async mode uses /async-function, and wrong
//! gateway credentials are named.

use std::time::Duration;

use e2e::{free_port, Peer, Router, Vcsim};
use serde_json::{json, Value};

const STEP: Duration = Duration::from_secs(5);

fn config(vc: &Vcsim, gateway: &Peer, password: &str, is_async: bool, port: u16) -> String {
    let processor = format!(
        "  type: openfaas\n  name: openfaas\n  openfaas:\n    address: {}\n    async: {is_async}\n    refreshSeconds: 1\n    maxAttempts: 3\n    auth:\n      type: basic_auth\n      basicAuth: {{username: admin, password: {password}}}\n",
        gateway.url()
    );
    e2e::config(&vc.sdk_url(), "    insecureSSL: true", &processor, port)
}

fn functions(gateway: &Peer, list: Value) {
    assert_eq!(gateway.control("PUT", "/_control/functions", &list.to_string()).0, 200);
}

fn reads(gateway: &Peer) -> u64 {
    let (_, body) = gateway.control("GET", "/_control/reads", "");
    serde_json::from_str::<Value>(&body).unwrap()["reads"].as_u64().unwrap()
}

/// Waits until the router has read the function list at least twice more.
fn await_refresh(gateway: &Peer) {
    let start = reads(gateway);
    e2e::eventually_true(Duration::from_secs(10), "the router re-reads the function list", || {
        reads(gateway) >= start + 2
    });
}

/// (function, topic, status) of each call, in arrival order.
fn calls(records: &[Value]) -> Vec<(String, String, u64)> {
    records
        .iter()
        .map(|r| {
            (
                r["function"].as_str().unwrap().to_string(),
                r["topic"].as_str().unwrap().to_string(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn c(f: &str, t: &str, s: u64) -> (String, String, u64) {
    (f.into(), t.into(), s)
}

#[test]
fn topic_annotations_route_events_to_functions_with_refresh_and_retries() {
    let vc = Vcsim::start(&[]);
    let gateway = Peer::start("fake_openfaas.py", &["--user", "admin", "--password", "gw-secret"]);
    functions(
        &gateway,
        json!([
            {"name": "on-only", "namespace": "openfaas-fn", "annotations": {"topic": "VmPoweredOnEvent"}},
            {"name": "both", "namespace": "openfaas-fn", "annotations": {"topic": "VmPoweredOffEvent, VmPoweredOnEvent"}},
            {"name": "untagged", "namespace": "openfaas-fn", "annotations": {}}
        ]),
    );
    let port = free_port();
    let router = Router::start(&config(&vc, &gateway, "gw-secret", false, port), port);
    router.wait_ready(Duration::from_secs(20));

    vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    vc.govc(&["vm.power", "-on", "DC0_H0_VM0"]);
    let got = gateway.drain(Duration::from_secs(2));
    assert_eq!(
        calls(&got),
        [
            c("both", "VmPoweredOffEvent", 200),
            c("on-only", "VmPoweredOnEvent", 200),
            c("both", "VmPoweredOnEvent", 200)
        ],
        "log:\n{}",
        router.log()
    );
    let first = &got[0];
    assert_eq!(first["mode"], "sync");
    assert_eq!(first["authorized"], true, "invocations carry the basic auth: {first}");
    assert_eq!(first["connector"], "event-router");
    assert!(first["content_type"]
        .as_str()
        .unwrap()
        .starts_with("application/cloudevents+json"));
    assert_eq!(first["event"]["specversion"], "1.0");
    assert_eq!(first["event"]["subject"], "VmPoweredOffEvent");
    assert_eq!(first["event"]["data"]["Vm"]["Name"], "DC0_H0_VM0");
    assert_eq!(first["event"]["source"], vc.sdk_url());

    // A function re-annotated at the gateway gets the other event after the next refresh.
    functions(
        &gateway,
        json!([{"name": "on-only", "namespace": "openfaas-fn", "annotations": {"topic": "VmPoweredOffEvent"}}]),
    );
    await_refresh(&gateway);
    // A failing sync function is retried: two 500s, then 200.
    gateway.control("PUT", "/_control/fail", r#"{"on-only": 2}"#);
    vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    let got = gateway.drain(Duration::from_secs(3));
    assert_eq!(
        calls(&got),
        [
            c("on-only", "VmPoweredOffEvent", 500),
            c("on-only", "VmPoweredOffEvent", 500),
            c("on-only", "VmPoweredOffEvent", 200)
        ]
    );
    let (_, stats) = router.get("/stats").unwrap();
    let stats: Value = serde_json::from_str(&stats).unwrap();
    let of = &stats["vmware.event.router.stats"]["openfaas"];
    assert_eq!(of["invocations"]["VmPoweredOffEvent"]["SuccessCount"], 2, "{of}");
    assert_eq!(of["invocations"]["VmPoweredOnEvent"]["SuccessCount"], 1, "{of}");
    assert!(!router.log().contains("gw-secret"));
}

#[test]
fn async_mode_uses_the_queue_and_wrong_credentials_are_named() {
    let vc = Vcsim::start(&[]);
    let gateway = Peer::start("fake_openfaas.py", &["--user", "admin", "--password", "gw-secret"]);
    functions(
        &gateway,
        json!([{"name": "off", "namespace": "team-a", "annotations": {"topic": "VmPoweredOffEvent"}}]),
    );
    let port = free_port();
    let router = Router::start(&config(&vc, &gateway, "gw-secret", true, port), port);
    router.wait_ready(Duration::from_secs(20));
    vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    let rec = gateway.next(STEP).expect("no async invocation");
    assert_eq!(rec["mode"], "async");
    assert_eq!(
        rec["function"], "off.team-a",
        "namespaced functions are invoked as name.namespace"
    );
    assert_eq!(rec["status"], 202);
    drop(router);

    let port = free_port();
    let router = Router::start(&config(&vc, &gateway, "wrong", false, port), port);
    router.wait_log(
        "refused the credentials (HTTP 401): fix openfaas.auth.basicAuth",
        Duration::from_secs(10),
    );
    vc.govc(&["vm.power", "-on", "DC0_H0_VM0"]);
    assert!(
        gateway.next(Duration::from_secs(2)).is_none(),
        "nothing invoked without the function list"
    );
}

#[test]
fn a_gateway_that_is_down_is_named_and_events_are_not_dropped_silently() {
    let vc = Vcsim::start(&[]);
    // A gateway address nothing listens on.
    let gateway = Peer::start("fake_openfaas.py", &[]);
    let down = gateway.url();
    drop(gateway);
    let port = free_port();
    let processor =
        format!("  type: openfaas\n  name: openfaas\n  openfaas:\n    address: {down}\n    maxAttempts: 1\n");
    let router = Router::start(
        &e2e::config(&vc.sdk_url(), "    insecureSSL: true", &processor, port),
        port,
    );
    router.wait_log(
        &format!("cannot read the function list from {down}"),
        Duration::from_secs(10),
    );
    router.wait_ready(Duration::from_secs(20));
    vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    e2e::eventually_true(Duration::from_secs(10), "failed events are counted in /stats", || {
        let (_, stats) = router.get("/stats").unwrap();
        let stats: Value = serde_json::from_str(&stats).unwrap();
        stats["vmware.event.router.stats"]["openfaas"]["events_err"]
            .as_u64()
            .unwrap_or(0)
            > 0
    });
    assert!(
        router.log().contains("event not delivered and no dead-letter file (deadLetterFile, or checkpoints on a vCenter provider): it is lost"),
        "{}",
        router.log()
    );
}
