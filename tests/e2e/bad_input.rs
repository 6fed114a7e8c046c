//! What the router does with a wrong password, an unreachable or untrusted vCenter, a trusted
//! private CA, and small collector pages: one clear log line, and it keeps running.

use std::time::Duration;

use e2e::{config, free_port, knative, CeReceiver, Router, TempDir, Vcsim};

fn start(vcenter_url: &str, vcenter_extra: &str, tail: &str, sink: &CeReceiver) -> Router {
    let port = free_port();
    // One delivery at a time: these tests read the sink's log as one sequence.
    let processor = format!("{}  concurrency: 1\n", knative(&sink.url(), "binary"));
    let cfg = config(vcenter_url, vcenter_extra, &processor, port) + tail;
    Router::start(&cfg, port)
}

fn assert_not_ready_but_alive(router: &mut Router, why: &str) {
    assert!(router.is_running(), "router exited; log:\n{}", router.log());
    assert_eq!(router.get("/healthz").map(|r| r.0), Some(200));
    let (code, body) = router.get("/readyz").expect("readyz");
    assert_eq!(code, 503);
    assert!(body.contains(why), "{body}");
}

#[test]
fn wrong_password_is_one_clear_line_and_the_router_keeps_running() {
    let vcsim = Vcsim::start(&["-username", "admin", "-password", "secret"]);
    let sink = CeReceiver::start(&[]);
    let mut router = start(&vcsim.sdk_url(), "    insecureSSL: true\n", "", &sink);
    let log = router.wait_log("vCenter rejected the login for user \"user\"", Duration::from_secs(10));
    assert!(log.contains("fix eventProvider.vcenter.auth.basicAuth"), "{log}");
    assert!(!log.contains("pass\""), "the password must not be logged: {log}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        router.log().matches("rejected the login").count(),
        1,
        "repeats go to debug: {}",
        router.log()
    );
    assert_not_ready_but_alive(&mut router, "vCenter session is down");
}

#[test]
fn unreachable_vcenter_is_one_clear_line_and_the_router_keeps_running() {
    let sink = CeReceiver::start(&[]);
    let url = format!("https://127.0.0.1:{}/sdk", free_port());
    let mut router = start(&url, "", "", &sink);
    let log = router.wait_log(&format!("cannot reach vCenter at {url}"), Duration::from_secs(10));
    assert!(log.contains("check eventProvider.vcenter.address"), "{log}");
    assert_not_ready_but_alive(&mut router, "vCenter session is down");
}

/// A private CA and a server certificate for 127.0.0.1, made with openssl.
fn private_ca(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        e2e::run_in(dir, "openssl", args);
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=e2e test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "vc.key",
        "-out",
        "vc.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "vc.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "vc.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

#[test]
fn tls_is_verified_by_default_and_a_private_ca_in_root_cas_is_trusted() {
    let dir = TempDir::new("ca");
    private_ca(dir.path());
    let cert = dir.path().join("vc.pem");
    let key = dir.path().join("vc.key");
    let vcsim = Vcsim::start(&["-tlscert", cert.to_str().unwrap(), "-tlskey", key.to_str().unwrap()]);
    let sink = CeReceiver::start(&[]);

    // Without the CA: refused, with the fix in the log.
    let mut untrusted = start(&vcsim.sdk_url(), "", "", &sink);
    let log = untrusted.wait_log("the vCenter certificate is not trusted", Duration::from_secs(10));
    assert!(log.contains("certificates.rootCAs"), "{log}");
    assert_not_ready_but_alive(&mut untrusted, "vCenter session is down");
    drop(untrusted);

    // With the CA in certificates.rootCAs: verified, and events flow.
    let tail = format!(
        "certificates:\n  rootCAs:\n    - {}\n",
        dir.path().join("ca.pem").display()
    );
    let router = start(&vcsim.sdk_url(), "", &tail, &sink);
    router.wait_ready(Duration::from_secs(20));
    vcsim.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    let got = sink.until("VmPoweredOffEvent", Duration::from_secs(2));
    assert_eq!(got.last().unwrap()["data"]["Vm"]["Name"], "DC0_H0_VM0");
}

#[test]
fn small_pages_still_deliver_every_event_once_in_key_order() {
    let vcsim = Vcsim::start(&[]);
    let sink = CeReceiver::start(&[]);
    // A page of 2 while a power operation records 3 events (govc's login, stopping, powered
    // off) within one 250 ms update. (vcsim 0.24.2 shrinks latestPage lazily, so this does not
    // force the fell-behind path; that decision is unit-tested in sources::vcenter.)
    let router = start(&vcsim.sdk_url(), "    insecureSSL: true\n    pageSize: 2\n", "", &sink);
    router.wait_ready(Duration::from_secs(20));
    vcsim.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    vcsim.govc(&["vm.power", "-on", "DC0_H0_VM0"]);
    let mut got = sink.until("VmPoweredOffEvent", Duration::from_secs(2));
    got.extend(sink.until("VmPoweredOnEvent", Duration::from_secs(2)));
    let ids: Vec<i64> = got
        .iter()
        .map(|r| r["attributes"]["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "a gap or a duplicate: {ids:?}"
    );
    let subjects: Vec<&str> = got
        .iter()
        .map(|r| r["attributes"]["subject"].as_str().unwrap())
        .collect();
    assert!(
        subjects.ends_with(&[
            "VmStoppingEvent",
            "VmPoweredOffEvent",
            "VmStartingEvent",
            "VmPoweredOnEvent"
        ]),
        "{subjects:?}"
    );
}

#[test]
fn log_json_writes_one_json_object_per_line() {
    let sink = CeReceiver::start(&[]);
    let url = format!("https://127.0.0.1:{}/sdk", free_port());
    let port = free_port();
    let cfg = config(&url, "", &knative(&sink.url(), "binary"), port);
    let router = Router::start_with(&cfg, port, &["--log-json", "--log-level", "debug"]);
    router.wait_log("cannot reach vCenter", Duration::from_secs(10));
    let log = router.log();
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["fields"]["message"].is_string(), "{line}");
    }
    assert!(log.contains("\"level\":\"ERROR\""), "{log}");
}
