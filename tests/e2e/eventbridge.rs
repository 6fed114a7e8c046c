//! vcsim -> event-router -> AWS EventBridge (moto's server) -> SQS. The bus has a catch-all
//! rule besides the configured ones, so its queue shows exactly what the router sent: only
//! events a configured rule's pattern matches.

use std::time::Duration;

use e2e::{free_port, Moto, Router, Vcsim};
use serde_json::Value;

const OFF: &str = r#"{"detail":{"subject":["VmPoweredOffEvent"]}}"#;
const ON: &str = r#"{"detail-type":["VmPoweredOnEvent"],"detail":{"data":{"Vm":{"Name":[{"prefix":"DC0_"}]}}}}"#;
const ALL: &str = r#"{"source":[{"prefix":"https://"}]}"#;

fn config(vc: &Vcsim, rules: &str, auth: &str, endpoint: &str, port: u16) -> String {
    let processor = format!(
        "  type: aws_event_bridge\n  name: eventbridge\n  awsEventBridge:\n    region: us-west-1\n    eventBus: veba\n{rules}{auth}{endpoint}"
    );
    e2e::config(&vc.sdk_url(), "    insecureSSL: true", &processor, port)
}

fn queue(moto: &Moto, setup: &Value, rule: &str) -> Vec<Value> {
    let url = setup["queues"][rule].as_str().unwrap();
    let got = moto.aws("receive", &["--queue", url, "--quiet", "2"]);
    got.as_array().unwrap().clone()
}

fn names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn only_events_a_configured_rule_matches_reach_the_bus() {
    let vc = Vcsim::start(&[]);
    let moto = Moto::start();
    let setup = moto.aws(
        "setup",
        &[
            "--bus",
            "veba",
            "--rule",
            &format!("power-off={OFF}"),
            "--rule",
            &format!("power-on={ON}"),
            "--rule",
            &format!("all={ALL}"),
        ],
    );
    let off_arn = setup["rules"]["power-off"].as_str().unwrap();
    let on_arn = setup["rules"]["power-on"].as_str().unwrap();

    // VEBA's form: one ruleARN, static keys, the endpoint in the config.
    let port = free_port();
    let keys = "    auth:\n      type: aws_access_key\n      awsAccessKeyAuth: {accessKey: AKIDROUTER, secretKey: router-secret}\n";
    let cfg = config(
        &vc,
        &format!("    ruleARN: {off_arn}\n"),
        keys,
        &format!("    endpoint: {}\n", moto.endpoint),
        port,
    );
    let mut router = Router::start(&cfg, port);
    router.wait_ready(Duration::from_secs(30));
    router.wait_log("read the event patterns of 1 rule(s)", Duration::from_secs(5));
    vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    vc.govc(&["vm.power", "-on", "DC0_H0_VM0"]);
    let all = queue(&moto, &setup, "all");
    assert_eq!(
        names(&all),
        ["VmPoweredOffEvent"],
        "the router sent only what power-off matches"
    );
    let ev = &all[0];
    assert_eq!(ev["source"], vc.sdk_url());
    assert_eq!(ev["region"], "us-west-1");
    let detail = &ev["detail"];
    assert_eq!(detail["specversion"], "1.0");
    assert_eq!(detail["type"], "com.vmware.event.router/event");
    assert_eq!(detail["subject"], "VmPoweredOffEvent");
    assert_eq!(detail["source"], vc.sdk_url());
    assert_eq!(detail["data"]["Vm"]["Name"], "DC0_H0_VM0");
    assert_eq!(detail["id"], detail["data"]["Key"].to_string());
    assert_eq!(names(&queue(&moto, &setup, "power-off")), ["VmPoweredOffEvent"]);
    let (_, stats) = router.get("/stats").unwrap();
    let stats: Value = serde_json::from_str(&stats).unwrap();
    let eb = &stats["vmware.event.router.stats"]["aws_event_bridge"];
    assert_eq!(eb["invocations"]["VmPoweredOffEvent"]["SuccessCount"], 1, "{eb}");
    assert!(
        eb["invocations"].get("VmPoweredOnEvent").is_none(),
        "skipped events are not invocations: {eb}"
    );
    assert_eq!(router.terminate(), Some(0));
    assert!(!router.log().contains("router-secret"), "secret in the log");

    // The list form widens the match; credentials from the SDK's default chain (environment,
    // auth type aws_iam_role) and the endpoint from AWS_ENDPOINT_URL.
    let port = free_port();
    let cfg = config(
        &vc,
        &format!("    ruleARNs:\n      - {off_arn}\n      - {on_arn}\n"),
        "    auth:\n      type: aws_iam_role\n",
        "",
        port,
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDCHAIN"),
        ("AWS_SECRET_ACCESS_KEY", "chain-secret"),
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let router = Router::start_env(&cfg, port, &["--log-level", "info"], &env);
    router.wait_ready(Duration::from_secs(30));
    router.wait_log("read the event patterns of 2 rule(s)", Duration::from_secs(5));
    vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    vc.govc(&["vm.power", "-on", "DC0_H0_VM0"]);
    let all = queue(&moto, &setup, "all");
    assert_eq!(names(&all), ["VmPoweredOffEvent", "VmPoweredOnEvent"]);
    assert_eq!(names(&queue(&moto, &setup, "power-on")), ["VmPoweredOnEvent"]);
    assert_eq!(names(&queue(&moto, &setup, "power-off")), ["VmPoweredOffEvent"]);
}

#[test]
fn a_rule_arn_that_is_not_on_the_bus_stops_the_start_with_the_fix() {
    let vc = Vcsim::start(&[]);
    let moto = Moto::start();
    let setup = moto.aws("setup", &["--bus", "veba", "--rule", &format!("power-off={OFF}")]);
    let real = setup["rules"]["power-off"].as_str().unwrap();
    let wrong = real.replace("power-off", "power-of");
    let port = free_port();
    let keys = "    auth:\n      type: aws_access_key\n      awsAccessKeyAuth: {accessKey: AKID, secretKey: s}\n";
    let cfg = config(
        &vc,
        &format!("    ruleARN: {wrong}\n"),
        keys,
        &format!("    endpoint: {}\n", moto.endpoint),
        port,
    );
    let mut router = Router::start(&cfg, port);
    e2e::eventually_true(Duration::from_secs(20), "the router stops", || !router.is_running());
    let log = router.log();
    assert!(
        log.contains(&format!(
            "rule {wrong} is not on event bus \"veba\" (rules there: {real})"
        )),
        "{log}"
    );
    assert!(log.contains("fix ruleARN/ruleARNs or eventBus"), "{log}");
}

#[test]
fn no_credentials_anywhere_in_the_chain_stop_the_start_naming_them() {
    let vc = Vcsim::start(&[]);
    let moto = Moto::start();
    let setup = moto.aws("setup", &["--bus", "veba", "--rule", &format!("power-off={OFF}")]);
    let arn = setup["rules"]["power-off"].as_str().unwrap();
    let port = free_port();
    let cfg = config(
        &vc,
        &format!("    ruleARN: {arn}\n"),
        "    auth:\n      type: aws_iam_role\n",
        &format!("    endpoint: {}\n", moto.endpoint),
        port,
    );
    let env = [
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials"),
        ("AWS_ACCESS_KEY_ID", ""),
        ("AWS_SECRET_ACCESS_KEY", ""),
    ];
    let mut router = Router::start_env(&cfg, port, &["--log-level", "info"], &env);
    e2e::eventually_true(Duration::from_secs(30), "the router stops without credentials", || {
        !router.is_running()
    });
    let log = router.log();
    assert!(log.contains("cannot list the rules of event bus \"veba\""), "{log}");
    assert!(log.contains("credentials"), "{log}");
}
