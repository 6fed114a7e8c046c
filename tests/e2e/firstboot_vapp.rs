//! The whole first-boot path against vcsim: the appliance's OVF descriptor (`ova descriptor`,
//! generated from the property schema; no disks until the appliance build provides the OVA) is
//! imported into vcsim with govc and its vApp properties set the way an operator does
//! (`govc import.spec` -> options file -> `govc import.ovf`); the OVF environment is built from
//! what vSphere stores for the VM (vcsim keeps the values in ExtraConfig, not in vAppConfig);
//! firstboot renders the router config from it; that config streams events from the same vcsim
//! to a CloudEvents sink, resolving the Knative Broker through a fake Kubernetes API.

use std::process::Command;
use std::time::Duration;

use e2e::{free_port, CeReceiver, Router, TempDir, Vcsim};
use serde_json::Value;

/// `user:pass` and `127.0.0.1:PORT` of vcsim's URL.
fn credentials_and_host(vcsim: &Vcsim) -> (String, String, String) {
    let rest = vcsim.govc_url.split_once("://").unwrap().1;
    let (userinfo, host) = rest.rsplit_once('@').unwrap();
    let (user, pass) = userinfo.split_once(':').unwrap();
    let host = host.trim_end_matches("/sdk").to_string();
    (user.to_string(), pass.to_string(), host)
}

fn xml_attr(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;")
}

/// The OVF environment vSphere would hand the VM: every `guestinfo.*` property it stores.
fn ovf_environment(vm_info: &Value) -> String {
    let config = &vm_info["VirtualMachines"][0]["Config"];
    let mut props = String::new();
    for opt in config["ExtraConfig"].as_array().expect("ExtraConfig") {
        let key = opt["Key"].as_str().unwrap_or("");
        if key.starts_with("guestinfo.") {
            let value = opt["Value"].as_str().unwrap_or("");
            props.push_str(&format!(
                "      <Property oe:key=\"{}\" oe:value=\"{}\"/>\n",
                xml_attr(key),
                xml_attr(value)
            ));
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<Environment xmlns=\"http://schemas.dmtf.org/ovf/environment/1\" xmlns:oe=\"http://schemas.dmtf.org/ovf/environment/1\" xmlns:ve=\"http://www.vmware.com/schema/ovfenv\" oe:id=\"\" ve:vCenterId=\"{}\">
   <PlatformSection><Kind>VMware ESXi</Kind><Vendor>VMware, Inc.</Vendor><Locale>en</Locale></PlatformSection>
   <PropertySection>
{props}   </PropertySection>
</Environment>
",
        vm_info["VirtualMachines"][0]["Self"]["Value"].as_str().unwrap_or("")
    )
}

#[test]
fn a_vapp_deployed_into_vcsim_configures_a_router_that_streams_its_events() {
    let vcsim = Vcsim::start(&[]);
    let work = TempDir::new("vapp");
    let ovf = work.path().join("appliance.ovf");
    let out = Command::new(e2e::workspace_bin("ova"))
        .arg("descriptor")
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(&ovf, &out.stdout).unwrap();
    let ovf = ovf.to_str().unwrap();

    // The operator's way: import.spec lists the properties with their defaults.
    let (user, pass, host) = credentials_and_host(&vcsim);
    let values = [
        ("guestinfo.hostname", "veba.corp.local"),
        ("guestinfo.root_password", "VMware1!"),
        ("guestinfo.vcenter_server", host.as_str()),
        ("guestinfo.vcenter_username", user.as_str()),
        ("guestinfo.vcenter_password", pass.as_str()),
        ("guestinfo.vcenter_disable_tls_verification", "True"),
        ("guestinfo.webhook", "True"),
        ("guestinfo.webhook_username", "hook"),
        ("guestinfo.webhook_password", "Hook-Pass1"),
    ];
    let keys = vcsim.import("import.ovf", ovf, work.path(), |key| {
        values.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string())
    });
    let schema: Vec<String> = ovf::PROPERTIES.iter().map(|p| p.ovf_key()).collect();
    assert_eq!(
        keys, schema,
        "govmomi reads every schema property from the descriptor, in order"
    );
    let info: Value = serde_json::from_str(&vcsim.govc(&["vm.info", "-e", "-json", "veba"])).unwrap();
    assert_eq!(info["VirtualMachines"][0]["Config"]["Hardware"]["NumCPU"], 2);
    let env = work.path().join("ovfenv.xml");
    std::fs::write(&env, ovf_environment(&info)).unwrap();

    // firstboot renders the router's config from it.
    let root = TempDir::new("root");
    let out = Command::new(e2e::workspace_bin("firstboot"))
        .args([
            "render",
            "--ovf-env",
            env.to_str().unwrap(),
            "--root",
            root.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let config = std::fs::read_to_string(root.path().join("etc/event-router/config.yaml")).unwrap();
    assert!(config.contains(&format!("address: https://{host}/sdk\n")), "{config}");

    // The Broker the config points at, as the Kubernetes API reports it.
    let sink = CeReceiver::start(&[]);
    let sink_url = sink.url();
    let api = e2e::json_server(move |path, _| {
        if path == "/apis/eventing.knative.dev/v1/namespaces/vmware-functions/brokers/default" {
            let body = serde_json::json!({"status": {"address": {"url": sink_url}}});
            (200, body.to_string())
        } else {
            (404, "{}".into())
        }
    });
    let sa = TempDir::new("sa");
    std::fs::write(sa.path().join("token"), "t").unwrap();
    // The appliance binds the metrics port on all interfaces inside its pod; here, loopback.
    let port = free_port();
    let hook = free_port();
    let config = config
        .replace(
            "bindAddress: 0.0.0.0:8082\n",
            &format!("bindAddress: 127.0.0.1:{port}\n"),
        )
        .replace(
            "bindAddress: 0.0.0.0:8080\n",
            &format!("bindAddress: 127.0.0.1:{hook}\n"),
        );
    assert!(config.contains("eventProviders:\n- type: vcenter"), "{config}");
    let api_port = api.to_string();
    let router = Router::start_env(
        &config,
        port,
        &[],
        &[
            ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
            ("KUBERNETES_SERVICE_PORT", api_port.as_str()),
            ("EVENT_ROUTER_KUBE_SCHEME", "http"),
            ("EVENT_ROUTER_SA_DIR", sa.path().to_str().unwrap()),
        ],
    );
    router.wait_ready(Duration::from_secs(20));
    vcsim.govc(&["vm.power", "-on", "veba"]);
    let events = sink.until("VmPoweredOnEvent", Duration::from_secs(5));
    let last = events.last().unwrap();
    assert_eq!(last["data"]["Vm"]["Name"], "veba", "{last:#}");

    // The same config takes CloudEvents on VEBA's webhook path with the vApp's credentials.
    let out = Command::new(e2e::tool(".tools/venv/bin/python"))
        .arg(e2e::repo_root().join("tests/peers/ce_send.py"))
        .args([
            "--url",
            &format!("http://127.0.0.1:{hook}/webhook"),
            "--mode",
            "binary",
            "--user",
            "hook",
            "--password",
            "Hook-Pass1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", e2e::output_text(&out));
    let answer: Value = serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(answer["status"], 200, "{answer}");
    let rec = sink
        .next(Duration::from_secs(5))
        .expect("the webhook's event at the sink");
    assert_eq!(rec["attributes"]["source"], "urn:e2e:webhook", "{rec}");
}
