//! The use-case examples (examples/), each from an event recorded in vcsim, through the real
//! router, to the function, with the outcome asserted at a fake of the third party that follows
//! its documented API (tests/peers/fake_slack.py, fake_vrops.py, fake_vmc.py) or at moto.
//!
//! Knative's data plane cannot run here, so the router's knative processor is pointed at the
//! function on loopback, filtered as the example's Trigger filters (read from its manifest).
//! vcsim 0.24.2 records none of these events by itself (no AlarmManager, no migration or
//! maintenance-mode events), so the tests do what changes vcsim (govc host.maintenance.enter,
//! vm.migrate, tags.*) and post the event vCenter records with pyVmomi's PostEvent
//! (tests/peers/vc_post_event.py). Every function's whole output (stdout and stderr) is checked
//! for the secrets it was given.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{free_port, output_text, repo_root, router_bin, tool, workspace_bin, Moto, Peer, Router, TempDir, Vcsim};
use serde_json::{json, Value};

/// How long one step (an event through the router to the function and on) may take.
const STEP: Duration = Duration::from_secs(15);
/// How long a peer must stay quiet to show that nothing more arrives.
const QUIET: Duration = Duration::from_secs(2);
const VSAN_ALARM: &str = "vSAN health alarm 'Cluster disk space utilization'";

/// A function of examples/ as a local process, listening on a loopback port it picked.
struct Function {
    child: Child,
    port: u16,
    output: Arc<Mutex<String>>,
}

/// Appends every line of `stream` to `into`; the first line also goes to `first`.
fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<String>>, first: Option<Sender<String>>) {
    std::thread::spawn(move || {
        let mut first = first;
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(tx) = first.take() {
                let _ = tx.send(line.clone());
            }
            let mut all = into.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        }
    });
}

impl Function {
    /// `examples/<script>` with the test venv's Python (the function's packages are in it).
    fn python(script: &str, env: &[(&str, String)]) -> Function {
        let mut cmd = Command::new(tool(".tools/venv/bin/python"));
        cmd.arg(repo_root().join("examples").join(script));
        Function::start(cmd, env)
    }

    /// A function built by this workspace (`cargo build -p NAME`).
    fn rust(name: &str, env: &[(&str, String)]) -> Function {
        Function::start(Command::new(workspace_bin(name)), env)
    }

    fn start(mut cmd: Command, env: &[(&str, String)]) -> Function {
        let mut child = cmd
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the function");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = channel();
        collect(child.stdout.take().expect("stdout"), output.clone(), Some(tx));
        collect(child.stderr.take().expect("stderr"), output.clone(), None);
        let first = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let port = first
            .strip_prefix("LISTENING ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the function did not start: {first:?}\n{}", output.lock().unwrap()));
        Function { child, port, output }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Everything the function printed so far, stdout and stderr.
    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// A CloudEvent in binary mode straight to the function (for events vcsim cannot record):
    /// (status, the JSON answer).
    fn send(&self, subject: &str, id: &str, data: &Value) -> (u16, Value) {
        let ce = format!(
            "ce-specversion: 1.0\r\nce-id: {id}\r\nce-source: https://vcenter.e2e/sdk\r\n\
             ce-type: com.vmware.event.router/event\r\nce-subject: {subject}\r\n"
        );
        post(self.port, &ce, &data.to_string())
    }

    /// Waits until the output contains `text`.
    fn wait_output(&self, text: &str) {
        let deadline = Instant::now() + STEP;
        while !self.output().contains(text) {
            assert!(
                Instant::now() < deadline,
                "the function never printed {text:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Asserts that none of `secrets` was ever printed.
    fn assert_no_secret(&self, secrets: &[&str]) {
        let out = self.output();
        for s in secrets {
            assert!(!out.contains(s), "a secret is in the function's output:\n{out}");
        }
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JSON POST to `/` on a loopback port with `headers` (lines ending in CRLF): (status, JSON answer).
fn post(port: u16, headers: &str, body: &str) -> (u16, Value) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the function");
    s.set_read_timeout(Some(STEP)).expect("timeout");
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read the answer");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Posts an event into vcsim (tests/peers/vc_post_event.py ARGS); returns its key.
fn post_event(vc: &Vcsim, args: &[&str]) -> i64 {
    let out = Command::new(tool(".tools/venv/bin/python"))
        .arg(repo_root().join("tests/peers/vc_post_event.py"))
        .args(["--url", &vc.govc_url])
        .args(args)
        .output()
        .expect("run vc_post_event.py");
    assert!(out.status.success(), "vc_post_event.py {args:?}: {}", output_text(&out));
    let line: Value = serde_json::from_slice(&out.stdout).expect("vc_post_event.py JSON");
    line["key"].as_i64().unwrap_or_else(|| panic!("no key: {line}"))
}

/// The moref value of an inventory object (`govc find -i`): "host-28", "vm-63".
fn moref(vc: &Vcsim, kind: &str, name: &str) -> String {
    let out = vc.govc(&["find", "-i", "/", "-type", kind, "-name", name]);
    let line = out.lines().next().unwrap_or_else(|| panic!("no {kind} named {name}"));
    line.split_once(':').map(|(_, v)| v.to_string()).expect("Type:value")
}

fn example(path: &str) -> PathBuf {
    repo_root().join("examples").join(path)
}

/// The Triggers of an example's manifests: (the one CloudEvent type, the subjects), each
/// Trigger subscribing the example's Service.
fn trigger_filter(name: &str) -> (String, Vec<String>) {
    let file = example(&format!("{name}/manifests/trigger.yaml"));
    let out = Command::new(tool(".tools/venv/bin/python"))
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))",
        ])
        .arg(&file)
        .output()
        .expect("read the Triggers");
    assert!(out.status.success(), "{}", output_text(&out));
    let docs: Vec<Value> = serde_json::from_slice(&out.stdout).expect("Triggers as JSON");
    let mut types = Vec::new();
    let mut subjects = Vec::new();
    for d in &docs {
        assert_eq!(d["kind"], "Trigger", "{d}");
        assert_eq!(d["spec"]["subscriber"]["ref"]["name"], name, "{d}");
        let attributes = d["spec"]["filter"]["attributes"]
            .as_object()
            .expect("filter.attributes");
        assert_eq!(attributes.len(), 2, "type and subject only: {d}");
        types.push(attributes["type"].as_str().expect("type").to_string());
        subjects.push(attributes["subject"].as_str().expect("subject").to_string());
    }
    types.dedup();
    assert_eq!(types.len(), 1, "one event type for every Trigger: {types:?}");
    (types.remove(0), subjects)
}

/// The router from vcsim to `function`, with the example's Trigger filter as its processor's.
fn router_to(vc: &Vcsim, name: &str, function: &Function) -> Router {
    router_from(&vc.sdk_url(), name, function)
}

/// [`router_to`] reading the vCenter at `address` (vcsim itself, or the alarm proxy before it).
fn router_from(address: &str, name: &str, function: &Function) -> Router {
    let (ty, subjects) = trigger_filter(name);
    let processor = format!(
        "  type: knative\n  name: function\n  filter:\n    types: [\"{ty}\"]\n    eventNames: [{}]\n  knative:\n    encoding: binary\n    destination:\n      uri: {}\n    maxAttempts: 6\n",
        subjects.join(", "),
        function.url()
    );
    let port = free_port();
    let router = Router::start(&e2e::config(address, "    insecureSSL: true", &processor, port), port);
    router.wait_ready(Duration::from_secs(30));
    router
}

/// The next line the peer prints, within STEP.
fn next(peer: &Peer, what: &str) -> Value {
    peer.next(STEP)
        .unwrap_or_else(|| panic!("nothing arrived within {STEP:?}: {what}"))
}

// --- slack-alarm --------------------------------------------------------------------------

fn slack_alarm(start: impl Fn(&[(&str, String)]) -> Function) {
    let vc = Vcsim::start(&[]);
    let slack = Peer::start("fake_slack.py", &["--port", "0"]);
    let secret = "T0kenPart-slack-alarm-e2e-3f9c";
    let path = format!("/services/T0E2E/B0E2E/{secret}");
    let function = start(&[("SLACK_WEBHOOK_URL", format!("{}{path}", slack.url()))]);
    // vcsim has no alarms: the router reads them through tests/peers/alarm_proxy.py, which knows
    // alarm-1 (host CPU usage) as vCenter defines it; other alarms are unknown there, as a
    // removed alarm is, and their events go out without AlarmInfo.
    let alarms = Peer::start("alarm_proxy.py", &["--vcsim", &vc.sdk_url()]);
    let router = router_from(&format!("{}/sdk", alarms.url()), "slack-alarm", &function);

    // A red alarm on a host: one message, the documented payload (text plus Block Kit blocks),
    // with the threshold and description from the alarm's definition the router added.
    let key = post_event(
        &vc,
        &[
            "alarm-status",
            "--alarm-name",
            "Host CPU usage",
            "--alarm-moref",
            "alarm-1",
            "--entity",
            "/DC0/host/DC0_C0/DC0_C0_H0",
            "--from",
            "yellow",
            "--to",
            "red",
        ],
    );
    let got = next(&slack, "the red alarm's message");
    assert_eq!(got["status"], 200, "{got}");
    assert_eq!(got["path"], path.as_str());
    assert!(
        got["content_type"]
            .as_str()
            .unwrap_or("")
            .starts_with("application/json"),
        "{got}"
    );
    let message = &got["payload"];
    assert_eq!(
        message["text"],
        ":red_circle: Alarm 'Host CPU usage' on DC0_C0_H0: yellow -> red (threshold: HostSystem metric counter 2 above yellow 7500, red 9000)",
        "{message}"
    );
    assert_eq!(
        message["blocks"][0]["text"]["text"],
        ":red_circle: *Alarm 'Host CPU usage'* on *DC0_C0_H0*: yellow -> *red*"
    );
    assert_eq!(
        message["blocks"][1]["fields"][0]["text"],
        "*Entity*\nDC0_C0_H0 (HostSystem)"
    );
    assert_eq!(
        message["blocks"][1]["fields"][1]["text"],
        "*Threshold*\nHostSystem metric counter 2 above yellow 7500, red 9000"
    );
    assert_eq!(
        message["blocks"][1]["fields"][2]["text"],
        "*Description*\nDefault alarm to monitor host CPU usage"
    );
    // The event's source is the vCenter the router streams from: here the proxy in front of vcsim.
    let context = message["blocks"][2]["elements"][0]["text"].as_str().unwrap_or("");
    assert!(
        context.contains(&format!("{}/sdk", alarms.url())) && context.contains(&format!("event {key},")),
        "{context}"
    );

    // A yellow alarm posts nothing: the next message is the red one that follows it (the router
    // delivers in key order).
    post_event(
        &vc,
        &[
            "alarm-status",
            "--alarm-name",
            "Host memory usage",
            "--alarm-moref",
            "alarm-21",
            "--entity",
            "/DC0/host/DC0_C0/DC0_C0_H0",
            "--from",
            "green",
            "--to",
            "yellow",
        ],
    );
    post_event(
        &vc,
        &[
            "alarm-status",
            "--alarm-name",
            "Datastore usage on disk",
            "--alarm-moref",
            "alarm-22",
            "--entity",
            "/DC0/datastore/LocalDS_0",
            "--from",
            "yellow",
            "--to",
            "red",
        ],
    );
    let got = next(&slack, "the datastore alarm");
    assert_eq!(
        got["payload"]["text"],
        ":red_circle: Alarm 'Datastore usage on disk' on LocalDS_0: yellow -> red"
    );
    function.wait_output("alarm state not selected");

    // Slack rate limits (429 with Retry-After), then fails (500): each time the function answers
    // non-2xx, the router sends the event again, and it is posted exactly once.
    for (status, alarm) in [
        (429, "Virtual machine CPU usage"),
        (500, "Virtual machine memory usage"),
    ] {
        slack.control(
            "PUT",
            "/_control/fail",
            &json!({"status": status, "count": 1, "retry_after": 1}).to_string(),
        );
        post_event(
            &vc,
            &[
                "alarm-status",
                "--alarm-name",
                alarm,
                "--alarm-moref",
                "alarm-23",
                "--entity",
                "/DC0/vm/DC0_C0_RP0_VM0",
                "--from",
                "yellow",
                "--to",
                "red",
            ],
        );
        let refused = next(&slack, "the refused message");
        assert_eq!(refused["status"], status, "{refused}");
        let again = next(&slack, "the message sent again");
        assert_eq!(again["status"], 200, "{again}");
        assert_eq!(again["payload"], refused["payload"], "the same message");
        assert!(
            again["payload"]["text"].as_str().unwrap_or("").contains(alarm),
            "{again}"
        );
    }
    assert!(slack.drain(QUIET).is_empty(), "each event posted once");
    assert!(
        router.log().contains("HTTP 503"),
        "the function answered 503:\n{}",
        router.log()
    );

    // With the alarm's definition (data.AlarmInfo, as the router adds it from a vCenter with
    // alarms): the threshold and the description.
    let data = json!({
        "Key": 9001, "CreatedTime": "2026-01-01T00:00:00Z",
        "Alarm": {"Name": "Host CPU usage", "Alarm": {"Type": "Alarm", "Value": "alarm-7"}},
        "Entity": {"Name": "esx01", "Entity": {"Type": "HostSystem", "Value": "host-21"}},
        "From": "yellow", "To": "red",
        "AlarmInfo": {
            "Name": "Host CPU usage", "Description": "Default alarm to monitor host CPU usage", "Enabled": true,
            "Expression": {"Expression": [{"Operator": "isAbove", "Type": "HostSystem", "Metric": {"CounterId": 2, "Instance": ""},
                                           "Yellow": 7500, "YellowInterval": 300, "Red": 9000, "RedInterval": 300}]},
            "Key": "alarm-7", "Alarm": {"Type": "Alarm", "Value": "alarm-7"}, "Entity": {"Type": "Folder", "Value": "group-d1"}
        }
    });
    let (status, answer) = function.send("AlarmStatusChangedEvent", "9001", &data);
    assert_eq!((status, &answer["status"]), (200, &json!("posted")), "{answer}");
    let got = next(&slack, "the message with a threshold");
    assert_eq!(
        got["payload"]["text"],
        ":red_circle: Alarm 'Host CPU usage' on esx01: yellow -> red (threshold: HostSystem metric counter 2 above yellow 7500, red 9000)"
    );
    let fields = &got["payload"]["blocks"][1]["fields"];
    assert_eq!(
        fields[1]["text"],
        "*Threshold*\nHostSystem metric counter 2 above yellow 7500, red 9000"
    );
    assert_eq!(
        fields[2]["text"],
        "*Description*\nDefault alarm to monitor host CPU usage"
    );

    // Not a CloudEvent: 400, nothing posted.
    let (status, _) = post(function.port, "", "{}");
    assert_eq!(status, 400);

    // Slack unreachable: 503 (retry), and the URL, which names the secret, is in no log line.
    let other_secret = "T0kenPart-unreachable-e2e-b71d";
    let dead = start(&[(
        "SLACK_WEBHOOK_URL",
        format!("http://127.0.0.1:{}/services/T0E2E/B0E2E/{other_secret}", free_port()),
    )]);
    let (status, answer) = dead.send("AlarmStatusChangedEvent", "9002", &data);
    assert_eq!((status, &answer["status"]), (503, &json!("retry")), "{answer}");
    dead.wait_output("Slack could not be reached");
    dead.assert_no_secret(&[other_secret]);

    assert!(slack.drain(QUIET).is_empty());
    function.assert_no_secret(&[secret]);
    assert!(!router.log().contains(secret));
}

#[test]
fn slack_alarm_in_rust_posts_red_alarms_and_has_refused_messages_sent_again() {
    slack_alarm(|env| Function::rust("slack-alarm", env));
}

#[test]
fn slack_alarm_in_python_posts_red_alarms_and_has_refused_messages_sent_again() {
    slack_alarm(|env| Function::python("slack-alarm/python/handler.py", env));
}

// --- vrops-maintenance ----------------------------------------------------------------------

/// The fake vROps's lines up to and including the first with `op`.
fn vrops_until(vrops: &Peer, op: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let line = next(vrops, &format!("vROps call {op} (so far: {seen:?})"));
        let done = line["op"] == op;
        seen.push(line);
        if done {
            return seen;
        }
    }
}

fn vrops_state(vrops: &Peer) -> Value {
    let (status, body) = vrops.control("GET", "/_control/state", "");
    assert_eq!(status, 200);
    serde_json::from_str(&body).expect("state JSON")
}

#[test]
fn vrops_maintenance_marks_the_host_maintained_while_it_is_in_maintenance_mode() {
    let vc = Vcsim::start(&[]);
    let password = "vR0ps-e2e-Passw0rd-41c2";
    let vrops = Peer::start(
        "fake_vrops.py",
        &["--port", "0", "--user", "svc-veba", "--password", password],
    );
    let host = "/DC0/host/DC0_C0/DC0_C0_H0";
    let inventory = json!([
        {"id": "res-h0", "name": "DC0_C0_H0", "moref": moref(&vc, "h", "DC0_C0_H0")},
        {"id": "res-decoy", "name": "DC0_C0_H0-retired", "moref": "host-999"},
        {"id": "res-h1", "name": "DC0_C0_H1", "moref": moref(&vc, "h", "DC0_C0_H1")},
    ]);
    assert_eq!(
        vrops.control("PUT", "/_control/resources", &inventory.to_string()).0,
        200
    );
    let function = Function::python(
        "vrops-maintenance/handler.py",
        &[
            ("VROPS_URL", vrops.url()),
            ("VROPS_USERNAME", "svc-veba".to_string()),
            ("VROPS_PASSWORD", password.to_string()),
        ],
    );
    let router = router_to(&vc, "vrops-maintenance", &function);

    // Enter: a token, the host found by name (the decoy's name contains it), marked maintained.
    vc.govc(&["host.maintenance.enter", host]);
    post_event(&vc, &["host-maintenance", "--host", host]);
    let calls = vrops_until(&vrops, "mark");
    assert_eq!(calls[0]["op"], "acquire", "{calls:?}");
    assert_eq!(calls[0]["status"], 200, "{calls:?}");
    let find = calls.iter().find(|c| c["op"] == "find").expect("a resource query");
    assert_eq!(
        find["query"],
        json!({"resourceKind": "HostSystem", "adapterKind": "VMWARE", "name": "DC0_C0_H0"})
    );
    assert_eq!(find["found"], json!(["res-h0", "res-decoy"]));
    let mark = calls.last().expect("mark");
    assert_eq!(
        (&mark["id"], &mark["status"]),
        (&json!("res-h0"), &json!(200)),
        "{mark}"
    );
    assert_eq!(mark["query"], json!({}), "until the exit: no duration");
    assert_eq!(
        vrops_state(&vrops),
        json!({"res-h0": "MAINTAINED_MANUAL", "res-decoy": "STARTED", "res-h1": "STARTED"})
    );

    // Exit: the same token, unmarked.
    vc.govc(&["host.maintenance.exit", host]);
    post_event(&vc, &["host-maintenance", "--host", host]);
    let calls = vrops_until(&vrops, "unmark");
    assert!(
        calls.iter().all(|c| c["op"] != "acquire"),
        "the token is reused: {calls:?}"
    );
    assert_eq!(calls.last().expect("unmark")["id"], "res-h0");
    assert_eq!(vrops_state(&vrops)["res-h0"], "STARTED");

    // The token expired and vROps answers 503 once: a new token, the event sent again, marked.
    vrops.control("PUT", "/_control/expire", "");
    vrops.control("PUT", "/_control/fail", r#"{"status": 503, "count": 1}"#);
    vc.govc(&["host.maintenance.enter", host]);
    post_event(&vc, &["host-maintenance", "--host", host]);
    let calls = vrops_until(&vrops, "mark");
    let ops: Vec<(String, i64)> = calls
        .iter()
        .map(|c| {
            (
                c["op"].as_str().unwrap_or("").to_string(),
                c["status"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    let want: Vec<(String, i64)> = [
        ("refused", 401),
        ("acquire", 200),
        ("find", 503),
        ("find", 200),
        ("mark", 200),
    ]
    .iter()
    .map(|(o, s)| (o.to_string(), *s))
    .collect();
    assert_eq!(ops, want);
    assert_eq!(vrops_state(&vrops)["res-h0"], "MAINTAINED_MANUAL");

    // Other events never reach it (the Triggers' filter), and the password is in no log.
    vc.govc(&["vm.power", "-off", "DC0_C0_RP0_VM0"]);
    assert!(vrops.drain(QUIET).is_empty());
    function.assert_no_secret(&[password]);
    assert!(!router.log().contains(password));
}

// --- zone-drift ------------------------------------------------------------------------------

#[test]
fn zone_drift_reports_a_node_vm_moved_out_of_its_zone_and_nothing_else() {
    let vc = Vcsim::start(&[]);
    let slack = Peer::start("fake_slack.py", &["--port", "0"]);
    let (h0, h1, h2) = (
        "/DC0/host/DC0_C0/DC0_C0_H0",
        "/DC0/host/DC0_C0/DC0_C0_H1",
        "/DC0/host/DC0_C0/DC0_C0_H2",
    );
    let (vm0, vm1) = ("/DC0/vm/DC0_C0_RP0_VM0", "/DC0/vm/DC0_C0_RP0_VM1");
    vc.govc(&[
        "tags.category.create",
        "-t",
        "HostSystem",
        "-t",
        "VirtualMachine",
        "k8s-zone",
    ]);
    vc.govc(&["tags.category.create", "-t", "VirtualMachine", "owner"]);
    for zone in ["zone-a", "zone-b"] {
        vc.govc(&["tags.create", "-c", "k8s-zone", zone]);
    }
    vc.govc(&["tags.create", "-c", "owner", "team-k8s"]);
    for (zone, object) in [("zone-a", h0), ("zone-a", h1), ("zone-b", h2), ("zone-a", vm0)] {
        vc.govc(&["tags.attach", "-c", "k8s-zone", zone, object]);
    }
    // VM1 is a node of no zone; a tag of another category does not count.
    vc.govc(&["tags.attach", "-c", "owner", "team-k8s", vm1]);
    vc.govc(&["vm.migrate", "-host", h1, "DC0_C0_RP0_VM0"]);

    let password = "vC-e2e-Passw0rd-zone-9d1e";
    let secret = "T0kenPart-zone-drift-e2e-5a6b";
    let function = Function::python(
        "zone-drift/handler.py",
        &[
            ("VCENTER_URL", vc.sdk_url()),
            ("VCENTER_USERNAME", "user".to_string()),
            ("VCENTER_PASSWORD", password.to_string()),
            ("VCENTER_INSECURE", "true".to_string()),
            (
                "SLACK_WEBHOOK_URL",
                format!("{}/services/T0E2E/B0E2E/{secret}", slack.url()),
            ),
        ],
    );
    let router = router_to(&vc, "zone-drift", &function);

    // DRS moves VM0 (zone-a) from H1 (zone-a) to H2 (zone-b): drift.
    vc.govc(&["vm.migrate", "-host", h2, "DC0_C0_RP0_VM0"]);
    post_event(&vc, &["vm-migrated", "--drs", "--vm", vm0, "--source-host", h1]);
    let got = next(&slack, "the drift message");
    assert_eq!(got["status"], 200, "{got}");
    assert_eq!(
        got["payload"]["text"],
        ":warning: Zone drift: DRS moved node VM DC0_C0_RP0_VM0 (zone zone-a) from DC0_C0_H1 to DC0_C0_H2 (zone zone-b)"
    );
    let fields = &got["payload"]["blocks"][1]["fields"];
    assert_eq!(fields[0]["text"], "*VM zone*\nzone-a");
    assert_eq!(fields[1]["text"], "*Destination host*\nDC0_C0_H2 (zone zone-b)");
    assert_eq!(fields[2]["text"], "*Source host*\nDC0_C0_H1");

    // Back into its zone (H0, zone-a), and VM1 (no zone) onto H2: nothing. Then HA restarts VM0
    // on H2: drift again; that is the next message (the router delivers in key order).
    vc.govc(&["vm.migrate", "-host", h0, "DC0_C0_RP0_VM0"]);
    post_event(&vc, &["vm-migrated", "--drs", "--vm", vm0, "--source-host", h2]);
    vc.govc(&["vm.migrate", "-host", h2, "DC0_C0_RP0_VM1"]);
    post_event(&vc, &["vm-migrated", "--drs", "--vm", vm1, "--source-host", h0]);
    vc.govc(&["vm.migrate", "-host", h2, "DC0_C0_RP0_VM0"]);
    post_event(&vc, &["vm-migrated", "--ha", "--vm", vm0, "--source-host", h0]);
    let got = next(&slack, "the HA drift message");
    assert_eq!(
        got["payload"]["text"],
        ":warning: Zone drift: HA restarted node VM DC0_C0_RP0_VM0 (zone zone-a) from DC0_C0_H0 to DC0_C0_H2 (zone zone-b)"
    );
    function.wait_output("the VM is in its zone");
    function.wait_output("the VM has no zone tag");

    // A vMotion (VmMigratedEvent: vcsim 0.24.2 cannot record one) straight to the function.
    let vm =
        json!({"Name": "DC0_C0_RP0_VM0", "Vm": {"Type": "VirtualMachine", "Value": moref(&vc, "m", "DC0_C0_RP0_VM0")}});
    let host = |name: &str| json!({"Name": name, "Host": {"Type": "HostSystem", "Value": moref(&vc, "h", name)}});
    let data = json!({"Vm": vm, "Host": host("DC0_C0_H2"), "SourceHost": host("DC0_C0_H1")});
    let (status, answer) = function.send("VmMigratedEvent", "7001", &data);
    assert_eq!((status, &answer["status"]), (200, &json!("posted")), "{answer}");
    let got = next(&slack, "the vMotion drift message");
    assert_eq!(
        got["payload"]["text"],
        ":warning: Zone drift: Migrated node VM DC0_C0_RP0_VM0 (zone zone-a) from DC0_C0_H1 to DC0_C0_H2 (zone zone-b)"
    );
    let within = json!({"Vm": vm, "Host": host("DC0_C0_H1"), "SourceHost": host("DC0_C0_H2")});
    let (status, answer) = function.send("VmMigratedEvent", "7002", &within);
    assert_eq!((status, &answer["status"]), (200, &json!("in-zone")), "{answer}");

    assert!(slack.drain(QUIET).is_empty(), "one message per drift, none otherwise");
    function.assert_no_secret(&[password, secret]);
    assert!(!router.log().contains(secret));
}

// --- eventbridge-bursting --------------------------------------------------------------------

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs the Lambda handler locally (`handler.py < event`) against the fake VMware Cloud API:
/// (exit code, every line it printed, its last line as JSON).
fn run_handler(event: &Value, vmc: &Peer, refresh_token: &str, dir: &Path) -> (i32, String, Value) {
    let file = dir.join("event.json");
    std::fs::write(&file, event.to_string()).expect("write the event");
    let out = Command::new(tool(".tools/venv/bin/python"))
        .arg(example("eventbridge-bursting/handler.py"))
        .stdin(std::fs::File::open(&file).expect("open the event"))
        .env("VMC_URL", vmc.url())
        .env("CSP_URL", vmc.url())
        .env("VMC_ORG_ID", "org-e2e")
        .env("VMC_REFRESH_TOKEN", refresh_token)
        .env("SDDC_NAME", "burst-sddc-01")
        .env(
            "SDDC_CONFIG",
            r#"{"num_hosts": 2, "provider": "AWS", "region": "US_WEST_2", "vpc_cidr": "10.2.0.0/16"}"#,
        )
        .output()
        .expect("run handler.py");
    let text = output_text(&out);
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next_back()
        .unwrap_or("")
        .to_string();
    (
        out.status.code().unwrap_or(-1),
        text,
        serde_json::from_str(&last).unwrap_or(Value::Null),
    )
}

#[test]
fn eventbridge_bursting_sends_only_the_vsan_capacity_alarm_and_deploys_once() {
    let vc = Vcsim::start(&[]);
    let moto = Moto::start();
    let pattern = read_json(&example("eventbridge-bursting/rule-pattern.json"));
    let setup = moto.aws(
        "setup",
        &[
            "--bus",
            "vmware-events",
            "--rule",
            &format!("vsan-capacity-bursting={pattern}"),
            "--rule",
            r#"all={"source":[{"prefix":"https://"}]}"#,
        ],
    );
    let rule = setup["rules"]["vsan-capacity-bursting"].as_str().expect("rule ARN");
    let processor = format!(
        "  type: aws_event_bridge\n  name: eventbridge\n  awsEventBridge:\n    region: us-west-1\n    eventBus: vmware-events\n    ruleARN: {rule}\n    endpoint: {}\n    auth:\n      type: aws_access_key\n      awsAccessKeyAuth: {{accessKey: AKIDBURST, secretKey: burst-secret}}\n",
        moto.endpoint
    );
    let port = free_port();
    let router = Router::start(
        &e2e::config(&vc.sdk_url(), "    insecureSSL: true", &processor, port),
        port,
    );
    router.wait_ready(Duration::from_secs(30));
    router.wait_log("read the event patterns of 1 rule(s)", Duration::from_secs(5));

    let cluster = "/DC0/host/DC0_C0";
    let burst = post_event(
        &vc,
        &[
            "alarm-status",
            "--alarm-name",
            VSAN_ALARM,
            "--entity",
            cluster,
            "--from",
            "green",
            "--to",
            "yellow",
        ],
    );
    post_event(
        &vc,
        &[
            "alarm-status",
            "--alarm-name",
            "Host CPU usage",
            "--entity",
            "/DC0/host/DC0_C0/DC0_C0_H0",
            "--from",
            "green",
            "--to",
            "yellow",
        ],
    );
    post_event(
        &vc,
        &[
            "alarm-status",
            "--alarm-name",
            VSAN_ALARM,
            "--entity",
            cluster,
            "--from",
            "yellow",
            "--to",
            "green",
        ],
    );
    let receive = |name: &str| -> Vec<Value> {
        let url = setup["queues"][name].as_str().expect("queue URL");
        moto.aws("receive", &["--queue", url, "--quiet", "3"])
            .as_array()
            .expect("messages")
            .clone()
    };
    // The catch-all rule shows everything the router sent: the one event the rule wants.
    let sent = receive("all");
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let got = receive("vsan-capacity-bursting");
    assert_eq!(got.len(), 1, "{got:#?}");
    let event = &got[0];
    assert_eq!(event, &sent[0]);
    assert_eq!(event["detail-type"], "AlarmStatusChangedEvent");
    assert_eq!(event["source"], vc.sdk_url());
    // The target receives the router's CloudEvent whole.
    let detail = &event["detail"];
    assert_eq!(detail["specversion"], "1.0");
    assert_eq!(detail["type"], "com.vmware.event.router/event");
    assert_eq!(detail["subject"], "AlarmStatusChangedEvent");
    assert_eq!(detail["source"], vc.sdk_url());
    assert_eq!(detail["id"], burst.to_string());
    let data = &detail["data"];
    assert_eq!(data["Key"], burst);
    assert_eq!(
        data["FullFormattedMessage"],
        format!("Alarm '{VSAN_ALARM}' on DC0_C0 changed from Green to Yellow")
    );
    assert_eq!(data["Alarm"]["Name"], VSAN_ALARM);
    assert_eq!(data["Alarm"]["Alarm"]["Type"], "Alarm");
    assert_eq!(data["Entity"]["Name"], "DC0_C0");
    assert_eq!(data["Entity"]["Entity"]["Type"], "ClusterComputeResource");
    assert_eq!(data["Datacenter"]["Name"], "DC0");
    assert_eq!((&data["From"], &data["To"]), (&json!("green"), &json!("yellow")));
    assert!(!router.log().contains("burst-secret"));

    // The Lambda function on that message: one SDDC, and nothing more when it comes again.
    let dir = TempDir::new("bursting");
    let token = "vmc-ApiT0ken-e2e-77aa";
    let vmc = Peer::start(
        "fake_vmc.py",
        &["--port", "0", "--org", "org-e2e", "--refresh-token", token],
    );
    let (code, out, result) = run_handler(event, &vmc, token, dir.path());
    assert_eq!((code, &result["status"]), (0, &json!("created")), "{out}");
    let (code, out2, result) = run_handler(event, &vmc, token, dir.path());
    assert_eq!((code, &result["status"]), (0, &json!("exists")), "{out2}");
    let mut other = event.clone();
    other["detail"]["data"]["Alarm"]["Name"] = json!("Host CPU usage");
    let (code, out3, result) = run_handler(&other, &vmc, token, dir.path());
    assert_eq!((code, &result["status"]), (0, &json!("ignored")), "{out3}");
    let (code, out4, _) = run_handler(event, &vmc, "not-the-token", dir.path());
    assert_eq!(code, 1, "a refused token fails the invocation: {out4}");
    let calls = vmc.drain(QUIET);
    let creates: Vec<&Value> = calls.iter().filter(|c| c["op"] == "create").collect();
    assert_eq!(creates.len(), 1, "{calls:#?}");
    assert_eq!(creates[0]["status"], 202);
    assert_eq!(
        creates[0]["config"],
        json!({"name": "burst-sddc-01", "num_hosts": 2, "provider": "AWS", "region": "US_WEST_2", "vpc_cidr": "10.2.0.0/16"})
    );
    for text in [&out, &out2, &out3, &out4] {
        assert!(!text.contains(token), "the API token is in the output: {text}");
    }
}

#[test]
fn eventbridge_bursting_ships_a_valid_router_config_the_least_policy_and_a_lambda_package() {
    let v = Command::new(router_bin())
        .args(["validate", "--config"])
        .arg(example("eventbridge-bursting/router-config.yaml"))
        .output()
        .expect("event-router validate");
    assert!(v.status.success(), "{}", output_text(&v));

    // What the router calls (ListRules for the patterns, PutEvents), and nothing else.
    let policy = read_json(&example("eventbridge-bursting/iam-policy.json"));
    let statements = policy["Statement"].as_array().expect("statements");
    let mut actions: Vec<&str> = statements.iter().filter_map(|s| s["Action"].as_str()).collect();
    actions.sort_unstable();
    assert_eq!(actions, ["events:ListRules", "events:PutEvents"], "{policy}");
    for s in statements {
        assert_eq!(s["Effect"], "Allow");
        if s["Action"] == "events:PutEvents" {
            let resource = s["Resource"].as_str().unwrap_or("");
            assert!(
                resource.starts_with("arn:aws:events:") && resource.ends_with(":event-bus/vmware-events"),
                "{s}"
            );
        }
    }
    let router_source = std::fs::read_to_string(repo_root().join("router/src/processors/eventbridge/rules.rs"))
        .expect("rules.rs")
        + &std::fs::read_to_string(repo_root().join("router/src/processors/eventbridge/send.rs")).expect("send.rs");
    assert!(router_source.contains(".list_rules()") && router_source.contains(".put_events()"));

    let dir = TempDir::new("lambda-zip");
    let zip = dir.path().join("bursting.zip");
    let out = Command::new("bash")
        .arg(example("eventbridge-bursting/build-lambda-zip.sh"))
        .arg(&zip)
        .output()
        .expect("build-lambda-zip.sh");
    assert!(out.status.success(), "{}", output_text(&out));
    let list = Command::new(tool(".tools/venv/bin/python"))
        .args([
            "-c",
            "import sys, zipfile; print(','.join(zipfile.ZipFile(sys.argv[1]).namelist()))",
        ])
        .arg(&zip)
        .output()
        .expect("list the zip");
    assert_eq!(String::from_utf8_lossy(&list.stdout).trim(), "handler.py");
}

// --- images --------------------------------------------------------------------------------

fn skopeo_config(archive: &Path) -> Value {
    let out = Command::new("skopeo")
        .args(["inspect", "--config"])
        .arg(format!("oci-archive:{}", archive.display()))
        .output()
        .expect("skopeo inspect");
    assert!(out.status.success(), "{}", output_text(&out));
    serde_json::from_slice(&out.stdout).expect("config JSON")
}

fn build_image(args: &[&str]) -> std::process::Output {
    Command::new("bash")
        .arg(example("build-image.sh"))
        .args(args)
        .output()
        .expect("run build-image.sh")
}

/// The layers of an OCI archive, each extracted to its own folder (tar must read each whole).
fn layers(archive: &Path, dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).expect("mkdir");
    let copied = dir.join("copied");
    let out = Command::new("skopeo")
        .args(["copy", "--insecure-policy"])
        .arg(format!("oci-archive:{}", archive.display()))
        .arg(format!("dir:{}", copied.display()))
        .output()
        .expect("skopeo copy");
    assert!(out.status.success(), "{}", output_text(&out));
    let manifest = read_json(&copied.join("manifest.json"));
    let mut out_dirs = Vec::new();
    for (i, layer) in manifest["layers"].as_array().expect("layers").iter().enumerate() {
        let digest = layer["digest"].as_str().expect("digest").trim_start_matches("sha256:");
        let root = dir.join(format!("layer{i}"));
        std::fs::create_dir(&root).expect("mkdir");
        let x = Command::new("tar")
            .arg("-xzf")
            .arg(copied.join(digest))
            .arg("-C")
            .arg(&root)
            .output()
            .expect("tar -x");
        assert!(x.status.success(), "layer {i} is not a whole tar: {}", output_text(&x));
        out_dirs.push(root);
    }
    out_dirs
}

#[test]
fn function_images_build_without_a_daemon_and_run_as_non_root_on_port_8080() {
    let dir = TempDir::new("function-images");

    // Rust: the template function's binary, nothing else but what it loads.
    let rust = dir.path().join("slack-alarm.tar");
    let binary = workspace_bin("slack-alarm");
    let out = build_image(&[
        "rust",
        binary.to_str().expect("path"),
        rust.to_str().expect("path"),
        "dev.local/slack-alarm:0.1.0",
    ]);
    assert!(out.status.success(), "{}", output_text(&out));
    let config = skopeo_config(&rust);
    let c = &config["config"];
    assert_eq!(c["Entrypoint"], json!(["/usr/local/bin/slack-alarm"]), "{config}");
    assert_eq!(c["User"], "65532:65532");
    assert!(c["ExposedPorts"].get("8080/tcp").is_some(), "{config}");
    assert!(
        c["Env"].as_array().expect("env").contains(&json!("PORT=8080")),
        "{config}"
    );
    let roots = layers(&rust, &dir.path().join("rust"));
    assert_eq!(roots.len(), 1);
    assert!(roots[0].join("usr/local/bin/slack-alarm").is_file());
    assert!(roots[0].join("etc/ssl/certs/ca-certificates.crt").is_file());

    // Python: a base image (made here, as registries are out of reach: its config says which
    // Python it has) plus one layer with /app.
    let base = dir.path().join("base");
    let layout = base.display().to_string();
    let image = format!("{layout}:base");
    for args in [
        vec!["init", "--layout", layout.as_str()],
        vec!["new", "--image", image.as_str()],
        vec![
            "config",
            "--image",
            image.as_str(),
            "--config.env",
            "PYTHON_VERSION=3.11.7",
            "--config.cmd",
            "python3",
        ],
    ] {
        let out = Command::new("umoci").args(&args).output().expect("umoci");
        assert!(out.status.success(), "umoci {args:?}: {}", output_text(&out));
    }
    let base_tar = dir.path().join("base.tar");
    let tar = Command::new("tar")
        .arg("-cf")
        .arg(&base_tar)
        .arg("-C")
        .arg(&base)
        .arg(".")
        .status()
        .expect("tar");
    assert!(tar.success());
    // The function with its requirements left out (they come from PyPI, which a test does not
    // reach; the test venv has them).
    let function = dir.path().join("zone-drift");
    std::fs::create_dir(&function).expect("mkdir");
    std::fs::copy(example("zone-drift/handler.py"), function.join("handler.py")).expect("copy");
    std::fs::write(function.join("requirements.txt"), "# from the base image\n").expect("write");
    let python = dir.path().join("zone-drift.tar");
    let out = build_image(&[
        "python",
        function.to_str().expect("path"),
        &format!("oci-archive:{}", base_tar.display()),
        python.to_str().expect("path"),
        "dev.local/zone-drift:0.1.0",
    ]);
    assert!(out.status.success(), "{}", output_text(&out));
    let config = skopeo_config(&python);
    let c = &config["config"];
    assert_eq!(c["Entrypoint"], json!(["python3", "/app/handler.py"]), "{config}");
    assert!(
        c.get("Cmd").is_none_or(Value::is_null),
        "the base's Cmd is cleared: {config}"
    );
    assert_eq!(c["User"], "65532:65532");
    let env = c["Env"].as_array().expect("env");
    for want in ["PORT=8080", "PYTHONPATH=/app/site-packages", "PYTHON_VERSION=3.11.7"] {
        assert!(env.contains(&json!(want)), "{want}: {config}");
    }
    let index = {
        let unpacked = dir.path().join("index");
        std::fs::create_dir(&unpacked).expect("mkdir");
        let t = Command::new("tar")
            .arg("-xf")
            .arg(&python)
            .arg("-C")
            .arg(&unpacked)
            .status()
            .expect("tar");
        assert!(t.success());
        read_json(&unpacked.join("index.json"))
    };
    assert_eq!(
        index["manifests"][0]["annotations"]["io.containerd.image.name"],
        "dev.local/zone-drift:0.1.0"
    );
    let roots = layers(&python, &dir.path().join("python"));
    let app = roots.last().expect("the app layer").join("app");
    assert_eq!(
        std::fs::read(app.join("handler.py")).expect("handler.py in the layer"),
        std::fs::read(example("zone-drift/handler.py")).expect("handler.py")
    );
    // The layer's function starts (on the test venv's Python, as the base's would run it).
    let started = Function::start(
        {
            let mut cmd = Command::new(tool(".tools/venv/bin/python"));
            cmd.arg(app.join("handler.py"));
            cmd
        },
        &[
            ("VCENTER_URL", "https://127.0.0.1:9/sdk".to_string()),
            ("VCENTER_USERNAME", "u".to_string()),
            ("VCENTER_PASSWORD", "p".to_string()),
            ("SLACK_WEBHOOK_URL", "http://127.0.0.1:9/services/x".to_string()),
        ],
    );
    assert!(started.port > 0);

    // Bad inputs are named and leave no archive.
    let missing = build_image(&[
        "python",
        dir.path().join("nope").to_str().expect("path"),
        "oci-archive:x",
        dir.path().join("x.tar").to_str().expect("path"),
        "x",
    ]);
    assert!(!missing.status.success());
    assert!(
        output_text(&missing).contains("has no handler.py"),
        "{}",
        output_text(&missing)
    );
    assert!(!dir.path().join("x.tar").exists());
}
