//! Coming from VEBA (issue 16): the router started the way VEBA's Helm chart starts its router
//! (`args: ["-config", FILE, "-log-level", "info", "-log-json"]`, chart/templates/
//! 400_deployment.yaml, written afresh), with a VEBA config whose vCenter address has neither
//! `https://` nor `/sdk` (VEBA's chart and README allow that: govmomi adds them), streams from
//! vcsim, and its /stats carries VEBA's expvar keys.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use e2e::{free_port, http_get, output_text, router_bin, CeReceiver, TempDir, Vcsim};
use serde_json::Value;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn veba_config(vc: &Vcsim, sink: &CeReceiver, metrics: u16) -> String {
    // VEBA's address form: host:port only.
    let host = vc
        .sdk_url()
        .trim_start_matches("https://")
        .trim_end_matches("/sdk")
        .to_string();
    format!(
        "apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata:
  name: router-config-knative
eventProvider:
  type: vcenter
  name: veba-demo-vc-01
  vcenter:
    address: {host}
    insecureSSL: true
    checkpoint: false
    auth:
      type: basic_auth
      basicAuth:
        username: user
        password: pass
eventProcessor:
  type: knative
  name: veba-demo-knative
  knative:
    insecureSSL: false
    encoding: binary
    destination:
      uri: {}
metricsProvider:
  type: default
  name: veba-demo-metrics
  default:
    bindAddress: 127.0.0.1:{metrics}
",
        sink.url()
    )
}

#[test]
fn vebas_chart_args_and_address_form_start_the_router_and_stats_keep_vebas_keys() {
    let vc = Vcsim::start(&[]);
    let sink = CeReceiver::start(&[]);
    let dir = TempDir::new("veba-compat");
    let metrics = free_port();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(&cfg, veba_config(&vc, &sink, metrics)).unwrap();

    // `validate` says what it normalised.
    let out = Command::new(router_bin())
        .args(["-config", cfg.to_str().unwrap(), "validate"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("is used as \"https://127.0.0.1:")
            && output_text(&out).contains("/sdk\" (https and /sdk added"),
        "{}",
        output_text(&out)
    );

    // The chart's args, verbatim in form.
    let log = std::fs::File::create(dir.path().join("router.log")).unwrap();
    let _router = Running(
        Command::new(router_bin())
            .args(["-config", cfg.to_str().unwrap(), "-log-level", "info", "-log-json"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    e2e::eventually_true(Duration::from_secs(20), "the router is ready", || {
        matches!(http_get(metrics, "/readyz"), Some((200, _)))
    });
    vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    let got = sink.until("VmPoweredOffEvent", Duration::from_secs(10));
    assert_eq!(
        got.last().unwrap()["attributes"]["type"],
        "com.vmware.event.router/event"
    );
    let log = std::fs::read_to_string(dir.path().join("router.log")).unwrap();
    assert!(
        log.lines().all(|l| l.starts_with('{')),
        "-log-json gives JSON lines:\n{log}"
    );

    // VEBA's expvar keys, flat (read once the sink's answer was counted).
    let stats: Value = e2e::eventually(Duration::from_secs(5), "the delivery is counted", || {
        let (_, body) = http_get(metrics, "/stats").unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        let counted = !v["vmware.event.router.stats"]["knative"]["invocations"]["VmPoweredOffEvent"].is_null();
        counted.then_some(v)
    });
    for key in [
        "system.numberOfSeconds",
        "system.programName",
        "system.lastLoad",
        "system.allLoad",
        "memstats",
        "cmdline",
    ] {
        assert!(!stats[key].is_null(), "{key} missing: {stats}");
    }
    assert!(stats["system.allLoad"]["Load1"].is_f64(), "{stats}");
    assert!(stats["memstats"]["Sys"].as_u64().is_some_and(|n| n > 0), "{stats}");
    assert_eq!(stats["vmware.event.router.stats"]["vcenter"]["type"], "EventProvider");
    assert_eq!(
        stats["vmware.event.router.stats"]["knative"]["invocations"]["VmPoweredOffEvent"]["SuccessCount"],
        1
    );
}

/// A Knative Trigger's filter: every attribute must equal (Knative's exact-match filter).
fn fires(filter: &[(&str, &str)], event: &Value) -> bool {
    filter.iter().all(|(k, v)| event["attributes"][*k] == *v)
}

/// VEBA's Trigger filters, written afresh from their documented shape: v0.7.5's functions
/// (examples/knative/*, router contract) and v0.8's (vSphere source contract).
const V075_TRIGGERS: &[&[(&str, &str)]] = &[
    &[
        ("type", "com.vmware.event.router/event"),
        ("subject", "VmPoweredOffEvent"),
    ],
    &[
        ("type", "com.vmware.event.router/event"),
        ("subject", "VmPoweredOnEvent"),
    ],
];
const V08_TRIGGERS: &[&[(&str, &str)]] = &[
    &[("type", "com.vmware.vsphere.VmPoweredOffEvent.v0")],
    &[("type", "com.vmware.vsphere.VmPoweredOnEvent.v0")],
    &[
        ("type", "com.vmware.vsphere.VmPoweredOffEvent.v0"),
        ("eventclass", "event"),
    ],
];

#[test]
fn vebas_v075_and_v08_triggers_fire_in_their_contract_on_vcsim() {
    for (format, fire, silent) in [
        ("", V075_TRIGGERS, V08_TRIGGERS),
        ("    eventFormat: tanzu-sources\n", V08_TRIGGERS, V075_TRIGGERS),
    ] {
        let vc = Vcsim::start(&[]);
        let sink = CeReceiver::start(&[]);
        let metrics = free_port();
        let cfg = e2e::config(
            &vc.sdk_url(),
            &format!("    insecureSSL: true\n{format}"),
            &e2e::knative(&sink.url(), "binary"),
            metrics,
        );
        let router = e2e::Router::start(&cfg, metrics);
        router.wait_ready(Duration::from_secs(20));
        vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
        vc.govc(&["vm.power", "-on", "DC0_H0_VM0"]);
        let mut events = sink.until("VmPoweredOnEvent", Duration::from_secs(10));
        events.extend(std::iter::from_fn(|| sink.next(Duration::from_millis(500))));
        for filter in fire {
            assert!(
                events.iter().any(|e| fires(filter, e)),
                "{format:?}: VEBA Trigger {filter:?} does not fire on {events:#?}"
            );
        }
        for filter in silent {
            assert!(
                !events.iter().any(|e| fires(filter, e)),
                "{format:?}: {filter:?} fires in the other contract"
            );
        }
    }
}

/// Event data exactly as VEBA's (issue 34): the events recorded from vcsim 0.24.2 (and a few
/// written as vCenter writes them: millisecond times, base64, absent structs) replayed through
/// the real router, every field of every CloudEvent's data compared with what govmomi v0.30.2
/// and Go's encoding/json make of the same XML (tests/peers/govmomi_json.py, the fixtures'
/// .json files). The one difference allowed is the router's by design: a field govmomi v0.30.2
/// does not declare (a newer vCenter's) is kept.
#[test]
fn event_data_is_field_for_field_what_vebas_govmomi_writes() {
    let fixtures = e2e::repo_root().join("tests/fixtures/govmomi-0.30.2");
    let out = std::process::Command::new(e2e::tool(".tools/venv/bin/python"))
        .arg(e2e::repo_root().join("tests/peers/compare_router.py"))
        .arg("--router")
        .arg(e2e::router_bin())
        .arg("--keep-newer")
        .arg(fixtures.join("vcsim"))
        .arg(fixtures.join("edge"))
        .output()
        .unwrap();
    let text = e2e::output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(" events, 0 differences"), "{text}");
}
