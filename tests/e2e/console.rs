//! The web console (issue 19), in Debian's headless Chromium driven by playwright-core
//! (tests/browser/console.mjs), against the router streaming from vcsim: a power-off appears in
//! the live view with its subject and VM, the detail is the CloudEvent the sink received, the
//! filter hides and shows it, a VM named like markup is shown as text, nothing is loaded from
//! elsewhere, and without credentials the console answers 401. Screenshots go to
//! target/console/.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use e2e::{free_port, http_get, knative, repo_root, CeReceiver, Router, Vcsim};
use serde_json::Value;

const USER: &str = "console";
const PASS: &str = "Console-Pass1";
const HOSTILE: &str = "<img src=x onerror=alert(1)>";

fn config(vc: &Vcsim, sink: &CeReceiver, port: u16) -> String {
    format!(
        "apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata:
  name: e2e-console
eventProvider:
  type: vcenter
  name: vcsim
  vcenter:
    address: {}
    insecureSSL: true
    auth:
      type: basic_auth
      basicAuth: {{username: user, password: pass}}
eventProcessor:
{}metricsProvider:
  type: default
  name: metrics
  default:
    bindAddress: 127.0.0.1:{port}
    auth:
      type: basic_auth
      basicAuth: {{username: {USER}, password: {PASS}}}
",
        vc.sdk_url(),
        knative(&sink.url(), "binary")
    )
}

/// The browser, driven line by line.
struct Browser {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Browser {
    fn open(url: &str) -> Browser {
        let mut child = Command::new("node")
            .arg(repo_root().join("tests/browser/console.mjs"))
            .args([url, USER, PASS])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node (scripts/install-test-tools.sh installs playwright-core and chromium)");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut b = Browser { child, stdin, stdout };
        let ready = b.read();
        assert_eq!(ready["ready"], true, "{ready}");
        b
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from the browser");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("browser said {line:?}: {e}"))
    }

    fn ask(&mut self, command: &str) -> Value {
        writeln!(self.stdin, "{command}").expect("write to the browser");
        self.read()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_live_view_shows_each_event_as_text_and_as_the_sink_received_it() {
    let vc = Vcsim::start(&[]);
    let sink = CeReceiver::start(&[]);
    let port = free_port();
    let router = Router::start(&config(&vc, &sink, port), port);
    router.wait_ready(Duration::from_secs(20));

    // Without credentials: 401, and the page itself comes with a strict policy.
    let (status, _) = http_get(port, "/ui/").expect("the console answers");
    assert_eq!(status, 401);
    let page = e2e::http_get_auth(port, "/ui/", USER, PASS).expect("the console answers");
    assert_eq!(page.0, 200);
    assert!(
        page.2
            .contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{}",
        page.2
    );

    let mut browser = Browser::open(&format!("http://127.0.0.1:{port}/ui/"));
    vc.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    let seen = browser.ask("wait VmPoweredOffEvent|DC0_H0_VM0");
    assert_eq!(seen["ok"], true, "{seen}");
    assert!(seen["ms"].as_u64().unwrap() < 2000, "within 2 s: {seen}");
    let cells = &seen["cells"];
    assert_eq!(cells[2], "com.vmware.event.router/event");
    assert_eq!(cells[3], "VmPoweredOffEvent");
    assert!(cells[1].as_str().unwrap().ends_with("/sdk"), "{cells}");

    // The detail is the CloudEvent the sink received.
    let received = sink.until("VmPoweredOffEvent", Duration::from_secs(5));
    let at_sink = received.last().unwrap();
    let json = &seen["json"];
    assert_eq!(json["id"], at_sink["attributes"]["id"]);
    assert_eq!(json["type"], at_sink["attributes"]["type"]);
    assert_eq!(json["subject"], at_sink["attributes"]["subject"]);
    assert_eq!(json["data"], at_sink["data"]);

    // The filter hides it and shows it again.
    let none = browser.ask("filter subject NoSuchEvent");
    assert_eq!(none["rows"], 0, "{none}");
    let back = browser.ask("filter subject VmPoweredOff");
    assert!(back["rows"].as_u64().unwrap() >= 1, "{back}");
    browser.ask("filter subject ");

    // A VM named like markup is shown as those characters, and runs nothing.
    vc.govc(&["object.rename", "/DC0/vm/DC0_H0_VM1", HOSTILE]);
    vc.govc(&["vm.power", "-off", HOSTILE]);
    let hostile = browser.ask(&format!("wait VmPoweredOffEvent|{HOSTILE}"));
    assert_eq!(hostile["ok"], true, "{hostile}");
    assert_eq!(
        hostile["cells"][4],
        format!("DC0, DC0_H0, {HOSTILE}"),
        "datacenter, host, VM: as text"
    );
    assert_eq!(hostile["json"]["data"]["Vm"]["Name"], HOSTILE);

    let dir = repo_root().join("target/console");
    std::fs::create_dir_all(&dir).unwrap();
    let shot = browser.ask(&format!("shot {}", dir.join("live.png").display()));
    assert_eq!(shot["ok"], true, "{shot}");
    let checks = browser.ask("dialogs");
    assert_eq!(checks["dialogs"], 0, "an event field ran as script: {checks}");
    assert_eq!(
        checks["external"],
        serde_json::json!([]),
        "loaded from elsewhere: {checks}"
    );
}
