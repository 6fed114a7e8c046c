//! scripts/smoke-ova.sh, the parts that need no VM: bad arguments are refused with exit 2 and
//! the problem named; `make-iso` writes the OVF environment of a properties file as ovf-env.xml
//! on an ISO 9660 image that firstboot accepts (and refuses a bad file with ova's message);
//! `check-router` passes a live event-router (vcsim as its vCenter, basic auth on /stats) and
//! names the endpoint and status of whatever fails; `wait-event` finds the event in the echo
//! function's log through a stand-in for ssh. The whole run (QEMU, the appliance) is CI's
//! ova workflow.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};
use std::time::Duration;

use e2e::{
    config, free_port, json_server, knative, output_text as text, repo_root, workspace_bin, CeReceiver, Router,
    TempDir, Vcsim,
};

/// Runs `bash scripts/smoke-ova.sh ARGS` with extra environment variables.
fn smoke(args: &[&str], env: &[(&str, String)]) -> Output {
    Command::new("bash")
        .arg(repo_root().join("scripts/smoke-ova.sh"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run scripts/smoke-ova.sh")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The environment that points make-iso at this workspace's `ova`.
fn ova_env() -> Vec<(&'static str, String)> {
    vec![("OVA_TOOL", workspace_bin("ova").display().to_string())]
}

/// Runs xorriso (quiet); panics with its output when it fails; returns its stdout.
fn xorriso(args: &[&str]) -> String {
    let out = Command::new("xorriso")
        .args(["-report_about", "SORRY"])
        .args(args)
        .output()
        .expect("run xorriso (scripts/install-test-tools.sh installs it)");
    assert!(out.status.success(), "xorriso {args:?}: {}", text(&out));
    stdout(&out)
}

#[test]
fn bad_arguments_exit_2_naming_the_problem() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "no command given"),
        (&["bogus"], "unknown command 'bogus'"),
        (&["make-iso", "only-one"], "make-iso needs PROPERTIES and OUT.iso"),
        (
            &["make-iso", "/nonexistent/appliance.properties", "/nonexistent/env.iso"],
            "no properties file at /nonexistent/appliance.properties",
        ),
        (&["check-router"], "check-router needs BASE_URL"),
        (
            &["check-router", "ftp://veba.corp.local"],
            "BASE_URL must be http(s)://HOST[:PORT], got 'ftp://veba.corp.local'",
        ),
        (
            &["check-router", "http://127.0.0.1:1", "--user"],
            "--user needs a value",
        ),
        (
            &["check-router", "http://127.0.0.1:1", "--resolve", "veba"],
            "--resolve must be HOST:PORT:ADDR, got 'veba'",
        ),
        (
            &["check-router", "http://127.0.0.1:1", "--bogus"],
            "unknown option --bogus for check-router",
        ),
        (
            &["wait-event", "--ssh", "root@127.0.0.1:22"],
            "wait-event needs --ssh, --subject and --vm",
        ),
        (
            &[
                "wait-event",
                "--ssh",
                "root@127.0.0.1",
                "--subject",
                "VmPoweredOffEvent",
                "--vm",
                "vm1",
            ],
            "--ssh must be USER@HOST:PORT, got 'root@127.0.0.1'",
        ),
        (&["run"], "run needs --qcow2 FILE or --ova FILE"),
        (&["run", "--qcow2"], "--qcow2 needs a value"),
        (
            &["run", "--qcow2", "a.qcow2", "--ova", "b.ova"],
            "run takes --qcow2 or --ova, not both",
        ),
        (
            &["run", "--qcow2", "/nonexistent/appliance.qcow2"],
            "no disk image at /nonexistent/appliance.qcow2",
        ),
        (
            &["run", "--qcow2", "/nonexistent/appliance.qcow2", "--timeout", "soon"],
            "--timeout must be a number of seconds, got 'soon'",
        ),
    ];
    for &(args, want) in cases {
        let out = smoke(args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let err = stderr(&out);
        assert!(err.starts_with(&format!("smoke-ova: {want}\n")), "{args:?}: {err}");
        assert!(err.contains("usage: scripts/smoke-ova.sh COMMAND"), "{args:?}: {err}");
        assert_eq!(stdout(&out), "", "{args:?}");
    }

    let out = smoke(&["--help"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for command in ["make-iso", "check-router", "wait-event", "run"] {
        assert!(
            stdout(&out).contains(&format!("\n  {command} ")),
            "{command}: {}",
            stdout(&out)
        );
    }
}

#[test]
fn make_iso_puts_the_ovf_environment_at_the_root_of_a_cd() {
    let dir = TempDir::new("smoke-iso");
    let props = dir.path().join("appliance.properties");
    std::fs::write(
        &props,
        "# the appliance under test\n\
         guestinfo.hostname=events01.corp.local\n\
         guestinfo.root_password=p&ss<1>=x\n\
         guestinfo.enable_ssh=True\n\
         guestinfo.vcenter_server=10.0.2.2:8989\n\
         guestinfo.vcenter_username=user\n\
         guestinfo.vcenter_password=pass\n\
         guestinfo.dns=\n",
    )
    .expect("write properties");
    let iso = dir.path().join("env.iso");
    let (props_s, iso_s) = (props.to_str().expect("utf-8"), iso.to_str().expect("utf-8"));

    let out = smoke(&["make-iso", props_s, iso_s], &ova_env());
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stdout(&out), format!("wrote {iso_s}: ovf-env.xml with 6 properties\n"));
    // It holds a root password: only its owner may read it.
    let mode = std::fs::metadata(&iso).expect("iso").permissions().mode();
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");

    // The plain ISO 9660 name (what a reader without Joliet or Rock Ridge sees) and the label.
    let names = xorriso(&["-read_fs", "ecma119", "-indev", iso_s, "-ls", "/"]);
    assert!(names.contains("'OVF_ENV.XML'"), "{names}");
    let pvd = xorriso(&["-indev", iso_s, "-pvd_info"]);
    assert!(
        pvd.lines()
            .any(|l| l.starts_with("Volume Id") && l.trim_end().ends_with(": OVF_ENV")),
        "{pvd}"
    );

    let xml = dir.path().join("ovf-env.xml");
    xorriso(&[
        "-osirrox",
        "on",
        "-indev",
        iso_s,
        "-extract",
        "/ovf-env.xml",
        xml.to_str().expect("utf-8"),
    ]);
    let doc = std::fs::read_to_string(&xml).expect("extracted ovf-env.xml");
    assert!(doc.contains("<Environment "), "{doc}");
    for want in [
        r#"oe:key="guestinfo.hostname" oe:value="events01.corp.local""#,
        r#"oe:key="guestinfo.root_password" oe:value="p&amp;ss&lt;1&gt;=x""#,
        r#"oe:key="guestinfo.vcenter_server" oe:value="10.0.2.2:8989""#,
    ] {
        assert!(doc.contains(want), "missing {want}: {doc}");
    }
    assert!(
        !doc.contains("guestinfo.dns"),
        "an empty value keeps the default: {doc}"
    );
    // firstboot accepts the document as it is.
    let check = Command::new(workspace_bin("firstboot"))
        .args(["validate", "--ovf-env"])
        .arg(&xml)
        .output()
        .expect("firstboot validate");
    assert!(check.status.success(), "{}", text(&check));

    // A bad line: ova's message (file and line), its exit code, no ISO.
    let bad = dir.path().join("bad.properties");
    std::fs::write(&bad, "guestinfo.hostname=a.corp.local\nhostname: b.corp.local\n").expect("write");
    let bad_iso = dir.path().join("bad.iso");
    let out = smoke(
        &[
            "make-iso",
            bad.to_str().expect("utf-8"),
            bad_iso.to_str().expect("utf-8"),
        ],
        &ova_env(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr(&out).contains(&format!("{}: line 2: expected guestinfo.<key>=<value>", bad.display())),
        "{}",
        text(&out)
    );
    assert!(!bad_iso.exists());

    // No ova binary where OVA_TOOL says.
    let out = smoke(
        &["make-iso", props_s, iso_s],
        &[("OVA_TOOL", "/nonexistent/ova".to_string())],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("smoke-ova: OVA_TOOL=/nonexistent/ova is not an executable"),
        "{}",
        text(&out)
    );
}

/// Basic auth on the metrics server (/stats, /metrics), as the appliance renders it from the
/// Endpoint credentials.
const METRICS_AUTH: &str =
    "    auth:\n      type: basic_auth\n      basicAuth:\n        username: admin\n        password: s3cret\n";

#[test]
fn check_router_passes_a_live_router_and_names_the_endpoint_that_fails() {
    let vcsim = Vcsim::start(&[]);
    let sink = CeReceiver::start(&[]);
    let port = free_port();
    let bind = format!("    bindAddress: 127.0.0.1:{port}\n");
    let cfg = config(
        &vcsim.sdk_url(),
        "    insecureSSL: true\n",
        &knative(&sink.url(), "binary"),
        port,
    );
    assert!(cfg.contains(&bind), "{cfg}");
    let cfg = cfg.replace(&bind, &format!("{bind}{METRICS_AUTH}"));
    let router = Router::start(&cfg, port);
    router.wait_ready(Duration::from_secs(20));
    let base = format!("http://127.0.0.1:{port}");

    let out = smoke(&["check-router", &base, "--user", "admin:s3cret"], &[]);
    assert!(out.status.success(), "{}\nrouter log:\n{}", text(&out), router.log());
    let line = stdout(&out);
    assert!(
        line.starts_with(&format!(
            "router ok: {base} (readyz 200, 1/1 vCenter sessions up) event-router "
        )),
        "{line}"
    );
    assert!(line.contains("vcenter: ") && line.contains("knative: "), "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");

    // A host name given with --resolve, as the smoke test reaches Contour's forwarded port.
    let named = format!("http://router.smoke.test:{port}");
    let out = smoke(
        &[
            "check-router",
            &named,
            "--resolve",
            &format!("router.smoke.test:{port}:127.0.0.1"),
            "--user",
            "admin:s3cret",
            "--no-readyz",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).starts_with(&format!("router ok: {named} (1/1 vCenter sessions up) ")),
        "{}",
        stdout(&out)
    );

    // Without the credentials, or with wrong ones, /stats is refused: endpoint and status named.
    let refused: [&[&str]; 2] = [&[], &["--user", "admin:wrong"]];
    for extra in refused {
        let mut args = vec!["check-router", base.as_str()];
        args.extend_from_slice(extra);
        let out = smoke(&args, &[]);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {}", text(&out));
        assert!(
            stderr(&out).starts_with(&format!(
                "smoke-ova: check-router: GET {base}/stats: HTTP 401 (expected 200)"
            )),
            "{extra:?}: {}",
            text(&out)
        );
    }
}

/// The router's /stats with no components, and /metrics with its one vCenter session down.
const STATS: &str =
    r#"{"system":{"programName":"event-router","version":"0.1.0","numberOfSeconds":3},"vmware.event.router.stats":{}}"#;
const SESSION_DOWN: &str = "event_router_vcenter_session_up{name=\"vcsim\"} 0\nevent_router_uptime_seconds 3\n";

#[test]
fn check_router_names_a_silent_port_and_a_server_that_is_not_the_router() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let out = smoke(&["check-router", &closed], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).starts_with(&format!(
            "smoke-ova: check-router: GET {closed}/readyz: no answer (curl: (7)"
        )),
        "{}",
        text(&out)
    );

    let not_ready = json_server(|path, _| match path {
        "/readyz" => (503, "not ready: vcsim: vCenter session is down\n".to_string()),
        _ => (200, "{}".to_string()),
    });
    let base = format!("http://127.0.0.1:{not_ready}");
    let out = smoke(&["check-router", &base], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).starts_with(&format!(
            "smoke-ova: check-router: GET {base}/readyz: HTTP 503 (expected 200): not ready: vcsim: vCenter session is down"
        )),
        "{}",
        text(&out)
    );

    let stranger = json_server(|path, _| match path {
        "/readyz" => (200, "ready\n".to_string()),
        _ => (200, r#"{"hello":"world"}"#.to_string()),
    });
    let base = format!("http://127.0.0.1:{stranger}");
    let out = smoke(&["check-router", &base], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).starts_with(&format!(
            "smoke-ova: check-router: GET {base}/stats: not the event router's stats JSON"
        )),
        "{}",
        text(&out)
    );

    // Published without /readyz (as through Contour), a session that is down shows in /metrics.
    let session_down = json_server(|path, _| match path {
        "/stats" => (200, STATS.to_string()),
        "/metrics" => (200, SESSION_DOWN.to_string()),
        _ => (404, "{}".to_string()),
    });
    let base = format!("http://127.0.0.1:{session_down}");
    let out = smoke(&["check-router", &base, "--no-readyz"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).starts_with(&format!(
            "smoke-ova: check-router: GET {base}/metrics: 1 of 1 vCenter sessions down"
        )),
        "{}",
        text(&out)
    );
}

/// What Knative's event_display logs: a power-on event for one VM, a power-off for another.
const ECHO_LOG: &str = r#"☁️  cloudevents.Event
Context Attributes,
  specversion: 1.0
  type: com.vmware.event.router/event
  source: https://10.0.2.2:8989/sdk
  subject: VmPoweredOnEvent
  id: 41
  datacontenttype: application/json
Data,
  {
    "Key": 41,
    "Vm": {
      "Name": "DC0_H0_VM1"
    }
  }
☁️  cloudevents.Event
Context Attributes,
  specversion: 1.0
  type: com.vmware.event.router/event
  source: https://10.0.2.2:8989/sdk
  subject: VmPoweredOffEvent
  id: 42
  datacontenttype: application/json
Data,
  {
    "Key": 42,
    "Vm": {
      "Name": "DC0_H0_VM0"
    }
  }
"#;

#[test]
fn wait_event_finds_the_event_in_the_echo_function_log() {
    let dir = TempDir::new("smoke-ssh");
    let log = dir.path().join("echo.log");
    std::fs::write(&log, ECHO_LOG).expect("write log");
    let args_file = dir.path().join("ssh-args");
    // The stand-in for ssh records its arguments and prints the function's log.
    let fake = dir.path().join("ssh");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\ncat '{}'\n",
            args_file.display(),
            log.display()
        ),
    )
    .expect("write stand-in");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let env = [("SSH_COMMAND", fake.display().to_string())];
    let wait = |subject: &str, vm: &str| {
        smoke(
            &[
                "wait-event",
                "--ssh",
                "root@127.0.0.1:2222",
                "--subject",
                subject,
                "--vm",
                vm,
                "--timeout",
                "0",
            ],
            &env,
        )
    };

    let out = wait("VmPoweredOffEvent", "DC0_H0_VM0");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        stdout(&out),
        "event ok: the echo function logged VmPoweredOffEvent for DC0_H0_VM0\n"
    );
    let args = std::fs::read_to_string(&args_file).expect("ssh arguments");
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(args[..3], ["-p", "2222", "root@127.0.0.1"], "{args:?}");
    let remote = args.last().copied().unwrap_or_default();
    assert!(remote.contains("KUBECONFIG=/etc/rancher/k3s/k3s.yaml"), "{remote}");
    assert!(
        remote.contains(
            "kubectl -n vmware-functions logs -l serving.knative.dev/service=echo -c user-container --tail=-1"
        ),
        "{remote}"
    );

    // Both names are in the log, but not in the same event: not a match.
    let out = wait("VmPoweredOffEvent", "DC0_H0_VM1");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains(
            "smoke-ova: wait-event: no CloudEvent with subject VmPoweredOffEvent naming DC0_H0_VM1 in the echo function's log after 0 s"
        ),
        "{}",
        text(&out)
    );
    let out = wait("VmPoweredOnEvent", "DC0_H0_VM1");
    assert!(out.status.success(), "{}", text(&out));
}
