//! Alarm events carry their alarm's definition (`data.AlarmInfo`, as vsphere-alarm-server adds
//! it for VEBA): vcsim 0.24.2 has no AlarmManager, so tests/peers/alarm_proxy.py stands in front
//! of it and answers the PropertyCollector's reads of Alarm objects as vCenter does (its
//! documented AlarmInfo; ManagedObjectNotFound for an unknown alarm), the events themselves are
//! posted into vcsim with pyVmomi (tests/peers/vc_post_event.py), and the router's AlarmInfo is
//! compared field by field with what pyVmomi reads of the same alarm (tests/peers/vc_alarm_info.py),
//! in both event formats.

use std::process::Command;
use std::time::Duration;

use e2e::{config, free_port, knative, output_text, repo_root, tool, CeReceiver, Peer, Router, TempDir, Vcsim};
use serde_json::Value;

const STEP: Duration = Duration::from_secs(20);
const QUIET: Duration = Duration::from_secs(2);
const HOST: &str = "/DC0/host/DC0_C0/DC0_C0_H0";

/// Posts an AlarmStatusChangedEvent for `alarm` (a moref) on the host into vcsim.
fn alarm_status(vc: &Vcsim, alarm: &str, name: &str, from: &str, to: &str) {
    let out = Command::new(tool(".tools/venv/bin/python"))
        .arg(repo_root().join("tests/peers/vc_post_event.py"))
        .args(["--url", &vc.govc_url, "alarm-status", "--alarm-name", name])
        .args(["--alarm-moref", alarm, "--entity", HOST, "--from", from, "--to", to])
        .output()
        .expect("run vc_post_event.py");
    assert!(out.status.success(), "vc_post_event.py: {}", output_text(&out));
}

/// The next AlarmStatusChangedEvent's data at the sink.
fn next_alarm_event(sink: &CeReceiver) -> Value {
    let got = sink.until("AlarmStatusChangedEvent", STEP);
    got.last().map(|r| r["data"].clone()).unwrap_or_default()
}

/// The router reading vcsim through the alarm proxy, delivering to `sink`.
fn router(proxy: &Peer, sink: &CeReceiver, extra: &str) -> Router {
    let port = free_port();
    let router = Router::start(
        &config(
            &format!("{}/sdk", proxy.url()),
            extra,
            &knative(&sink.url(), "binary"),
            port,
        ),
        port,
    );
    router.wait_ready(Duration::from_secs(30));
    router
}

/// The alarm reads the proxy answered so far: each the list of alarms one call asked for.
fn reads(proxy: &Peer) -> Vec<Vec<String>> {
    proxy
        .drain(QUIET)
        .iter()
        .map(|l| {
            l["alarms"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                .unwrap_or_default()
        })
        .collect()
}

/// The vCenter source's entry in /stats.
fn source_stats(router: &Router) -> Value {
    let (status, body) = router.get("/stats").expect("GET /stats");
    assert_eq!(status, 200, "{body}");
    let stats: Value = serde_json::from_str(&body).expect("stats JSON");
    let vcenter = &stats["vmware.event.router.stats"]["vcenter"];
    assert!(vcenter.is_object(), "no vcenter provider in {stats}");
    vcenter.clone()
}

#[test]
fn alarm_events_carry_the_alarm_definition_read_once_and_match_pyvmomi() {
    let vc = Vcsim::start(&[]);
    let proxy = Peer::start("alarm_proxy.py", &["--vcsim", &vc.sdk_url()]);
    let sink = CeReceiver::start(&[]);
    let router = router(&proxy, &sink, "    insecureSSL: true");

    // The first event of an alarm: its definition is read once and added.
    alarm_status(&vc, "alarm-1", "Host CPU usage", "green", "yellow");
    let first = next_alarm_event(&sink);
    assert_eq!(first["To"], "yellow", "{first}");
    assert_eq!(first["Alarm"]["Alarm"]["Value"], "alarm-1", "{first}");
    let info = &first["AlarmInfo"];
    assert_eq!(info["Name"], "Host CPU usage", "{first}");
    assert_eq!(info["Alarm"]["Value"], "alarm-1");
    assert_eq!(info["Expression"]["Expression"][0]["Red"], 9000, "{info}");
    assert_eq!(reads(&proxy), [["alarm-1"]], "one read for the first event");

    // The same alarm again and a second alarm in one go: alarm-1 comes from the cache, alarm-2 is
    // read once.
    alarm_status(&vc, "alarm-1", "Host CPU usage", "yellow", "red");
    alarm_status(
        &vc,
        "alarm-2",
        "vSAN health alarm 'Cluster disk space utilization'",
        "green",
        "yellow",
    );
    let second = next_alarm_event(&sink);
    let third = next_alarm_event(&sink);
    assert_eq!(second["AlarmInfo"], first["AlarmInfo"], "the cached definition");
    assert_eq!(
        third["AlarmInfo"]["SystemName"], "alarm.VsanClusterDiskSpaceAlarm",
        "{third}"
    );
    assert_eq!(reads(&proxy), [["alarm-2"]], "alarm-1 was not read again");

    // An alarm vCenter does not know (removed since): the event is delivered as it is, the
    // failure counted, and the alarm not asked for again at once.
    alarm_status(&vc, "alarm-9", "Removed alarm", "red", "green");
    alarm_status(&vc, "alarm-9", "Removed alarm", "green", "red");
    let unknown = next_alarm_event(&sink);
    let again = next_alarm_event(&sink);
    for d in [&unknown, &again] {
        assert_eq!(d["Alarm"]["Alarm"]["Value"], "alarm-9", "{d}");
        assert!(d.get("AlarmInfo").is_none(), "no definition for an unknown alarm: {d}");
    }
    let failed = reads(&proxy);
    assert_eq!(
        failed.iter().filter(|r| r.contains(&"alarm-9".to_string())).count(),
        1,
        "{failed:?}"
    );
    let stats = source_stats(&router);
    assert_eq!(stats["alarm_lookup_failures"], 1, "{stats}");
    assert_eq!(stats["alarm_lookups"], 3, "{stats}");
    let (_, metrics) = router.get("/metrics").expect("GET /metrics");
    assert!(
        metrics.contains("event_router_alarm_lookup_failures_total{name=\"vcsim\"} 1"),
        "{metrics}"
    );
    assert!(
        router.log().contains("alarm-9"),
        "the failure is logged: {}",
        router.log()
    );

    // Field by field against pyVmomi's reading of the same alarms.
    let dir = TempDir::new("alarm-info");
    let credentials = vc
        .govc_url
        .split_once("://")
        .and_then(|(_, rest)| rest.rsplit_once('@'))
        .map(|(c, _)| c.to_string())
        .expect("credentials in GOVC_URL");
    let proxied = format!("http://{credentials}@127.0.0.1:{}/sdk", proxy.port);
    for (alarm, data) in [("alarm-1", &first), ("alarm-2", &third)] {
        let file = dir.path().join(format!("{alarm}.json"));
        std::fs::write(&file, data["AlarmInfo"].to_string()).expect("write AlarmInfo");
        let out = Command::new(tool(".tools/venv/bin/python"))
            .arg(repo_root().join("tests/peers/vc_alarm_info.py"))
            .args(["--url", &proxied, "--alarm", alarm, "--compare"])
            .arg(&file)
            .output()
            .expect("run vc_alarm_info.py");
        assert!(
            out.status.success(),
            "{alarm} differs from pyVmomi's: {}",
            output_text(&out)
        );
        assert!(output_text(&out).contains(" 0 differences"), "{}", output_text(&out));
    }
}

#[test]
fn alarm_details_false_leaves_alarm_events_as_vcenter_sends_them() {
    let vc = Vcsim::start(&[]);
    let proxy = Peer::start("alarm_proxy.py", &["--vcsim", &vc.sdk_url()]);
    let sink = CeReceiver::start(&[]);
    let router = router(&proxy, &sink, "    insecureSSL: true\n    alarmDetails: false");
    alarm_status(&vc, "alarm-1", "Host CPU usage", "green", "red");
    let data = next_alarm_event(&sink);
    assert_eq!(data["Alarm"]["Alarm"]["Value"], "alarm-1", "{data}");
    assert!(data.get("AlarmInfo").is_none(), "{data}");
    assert!(reads(&proxy).is_empty(), "no alarm was read");
    assert_eq!(source_stats(&router)["alarm_lookups"], 0);
}

#[test]
fn alarm_info_is_in_the_data_of_the_tanzu_sources_format_too() {
    let vc = Vcsim::start(&[]);
    let proxy = Peer::start("alarm_proxy.py", &["--vcsim", &vc.sdk_url()]);
    let sink = CeReceiver::start(&[]);
    let _router = router(&proxy, &sink, "    insecureSSL: true\n    eventFormat: tanzu-sources");
    alarm_status(&vc, "alarm-1", "Host CPU usage", "green", "red");
    let got = sink.until("AlarmStatusChangedEvent", STEP);
    let rec = got.last().expect("the alarm event");
    assert_eq!(
        rec["attributes"]["type"], "com.vmware.vsphere.AlarmStatusChangedEvent.v0",
        "{rec}"
    );
    assert_eq!(rec["data"]["AlarmInfo"]["Name"], "Host CPU usage", "{rec}");
    assert_eq!(rec["data"]["To"], "red");
}
