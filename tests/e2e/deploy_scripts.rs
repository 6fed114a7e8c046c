//! The deploy scripts: scripts/deploy-govc.sh deploys an OVA built by `ova build` into vcsim
//! with every property from a properties file (read back from the VM); scripts/deploy-ovftool.sh
//! hands ovftool every property as --prop: (ovftool itself is proprietary and not installable
//! here: a stand-in records its arguments), masks secrets when it prints the command, and both
//! refuse bad properties files with the line or key to fix.

use std::path::Path;
use std::process::{Command, Output};

use e2e::{output_text as text, repo_root, run_in, tool, workspace_bin, TempDir, Vcsim};

/// A value for every property: valid choices and booleans, and text with `=`, `#` and spaces
/// (the file format keeps everything after the first `=`).
fn sample_properties() -> Vec<(String, String)> {
    ovf::PROPERTIES
        .iter()
        .map(|p| {
            let value = match p.kind {
                ovf::Kind::Bool => "True".to_string(),
                ovf::Kind::Choice => p.values.last().copied().unwrap_or_default().to_string(),
                ovf::Kind::Fqdn if p.key == "hostname" => "events01.corp.local".to_string(),
                _ => format!("v {}=x#{}", p.key, p.key.len()),
            };
            (p.ovf_key(), value)
        })
        .collect()
}

fn write_properties(path: &Path, props: &[(String, String)]) {
    let mut body = String::from("# my appliance\n\n");
    for (k, v) in props {
        body.push_str(&format!("{k}={v}\n"));
    }
    std::fs::write(path, body).expect("write properties");
}

fn build_ova(dir: &Path) -> String {
    let disk = dir.join("system.qcow2");
    run_in(
        dir,
        "qemu-img",
        &["create", "-q", "-f", "qcow2", disk.to_str().expect("utf-8"), "16M"],
    );
    let ova = dir.join("appliance.ova");
    let out = Command::new(workspace_bin("ova"))
        .args(["build", "--disk"])
        .arg(&disk)
        .arg("--out")
        .arg(&ova)
        .output()
        .expect("ova build");
    assert!(out.status.success(), "{}", text(&out));
    ova.display().to_string()
}

fn deploy_govc(vcsim: &Vcsim, ova: &str, props: &Path, extra_env: &[(&str, &str)]) -> Output {
    Command::new("bash")
        .arg(repo_root().join("scripts/deploy-govc.sh"))
        .arg(ova)
        .arg(props)
        .envs(vcsim.govc_env())
        .env("GOVC", tool(".tools/bin/govc"))
        .env("GOVC_DATASTORE", "LocalDS_0")
        .env("GOVC_RESOURCE_POOL", "/DC0/host/DC0_C0/Resources")
        .envs(extra_env.iter().copied())
        .output()
        .expect("deploy-govc.sh")
}

#[test]
fn govc_deploys_with_every_property_and_powers_on() {
    let dir = TempDir::new("deploy-govc");
    let ova = build_ova(dir.path());
    let props = sample_properties();
    let file = dir.path().join("appliance.properties");
    write_properties(&file, &props);
    let vcsim = Vcsim::start(&[]);

    let out = deploy_govc(&vcsim, &ova, &file, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("deployed events01"), "{}", text(&out));
    let extra = vcsim.extra_config("events01");
    for (key, value) in &props {
        assert!(
            extra.contains(&(key.clone(), value.clone())),
            "{key} = {value} not read back: {extra:?}"
        );
    }
    assert_eq!(props.len(), ovf::PROPERTIES.len());
    let info = vcsim.govc(&["vm.info", "events01"]);
    assert!(info.contains("poweredOn"), "{info}");
    // No secret reaches the output.
    for (key, value) in &props {
        if key.contains("password") {
            assert!(!text(&out).contains(value.as_str()), "{key} leaked");
        }
    }

    // A misspelt key is named, and nothing is deployed.
    let typo = dir.path().join("typo.properties");
    std::fs::write(
        &typo,
        "guestinfo.hostname=events02.corp.local\nguestinfo.vcenter_sever=vc\n",
    )
    .expect("write");
    let out = deploy_govc(&vcsim, &ova, &typo, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("sets guestinfo.vcenter_sever, which the OVA does not have"),
        "{}",
        text(&out)
    );
    assert!(!vcsim.govc(&["ls", "/DC0/vm"]).contains("events02"));

    // A line that is not key=value is named with its number.
    let junk = dir.path().join("junk.properties");
    std::fs::write(&junk, "guestinfo.hostname=a.b\nhostname: a.b\n").expect("write");
    let out = deploy_govc(&vcsim, &ova, &junk, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("line 2: expected guestinfo.<key>=<value>"),
        "{}",
        text(&out)
    );
}

#[test]
fn ovftool_gets_every_property_and_the_printed_command_hides_secrets() {
    let dir = TempDir::new("deploy-ovftool");
    let ova = dir.path().join("appliance.ova");
    std::fs::write(&ova, b"not inspected by the stand-in").expect("write");
    let props = sample_properties();
    let file = dir.path().join("appliance.properties");
    write_properties(&file, &props);
    // The stand-in for ovftool writes each argument on its own line.
    let fake = dir.path().join("ovftool");
    let args_file = dir.path().join("args");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\n", args_file.display()),
    )
    .expect("write");
    run_in(dir.path(), "chmod", &["+x", fake.to_str().expect("utf-8")]);
    let target = "vi://administrator%40vsphere.local@vc.corp.local/DC/host/Cluster";
    let run = |extra: &[(&str, &str)]| {
        Command::new("bash")
            .arg(repo_root().join("scripts/deploy-ovftool.sh"))
            .arg(&ova)
            .arg(&file)
            .arg(target)
            .env("OVFTOOL", &fake)
            .env("NETWORK", "Appliances")
            .env("DATASTORE", "ds1")
            .envs(extra.iter().copied())
            .output()
            .expect("deploy-ovftool.sh")
    };
    let out = run(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let args = std::fs::read_to_string(&args_file).expect("args");
    let args: Vec<&str> = args.lines().collect();
    for (key, value) in &props {
        let want = format!("--prop:{key}={value}");
        assert!(args.contains(&want.as_str()), "missing {want}: {args:?}");
    }
    for want in [
        "--acceptAllEulas",
        "--name=events01",
        "--datastore=ds1",
        "--diskMode=thin",
        "--net:VM Network=Appliances",
        "--powerOn",
    ] {
        assert!(args.contains(&want), "missing {want}: {args:?}");
    }
    assert_eq!(args[args.len() - 2..], [ova.to_str().expect("utf-8"), target]);

    // DRY_RUN prints the command with every secret masked.
    let out = run(&[("DRY_RUN", "1"), ("POWER_ON", "0")]);
    assert!(out.status.success(), "{}", text(&out));
    let printed = text(&out);
    assert!(
        printed.contains("--prop:guestinfo.root_password=\\*\\*\\*\\*\\*\\*\\*\\*"),
        "{printed}"
    );
    assert!(!printed.contains("--powerOn"), "{printed}");
    // Every secret of the schema (passwords, the private key, the per-vCenter credentials).
    for (key, value) in &props {
        if ovf::PROPERTIES.iter().any(|p| p.ovf_key() == *key && p.secret()) {
            assert!(!printed.contains(&value.replace(' ', "\\ ")), "{key} leaked: {printed}");
        }
    }

    // Without the network, or without ovftool installed: what to set or install.
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/deploy-ovftool.sh"))
        .arg(&ova)
        .arg(&file)
        .arg(target)
        .env("DATASTORE", "ds1")
        .env_remove("NETWORK")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(text(&out).contains("set NETWORK to the port group"), "{}", text(&out));
    let out = run(&[("OVFTOOL", "/nonexistent/ovftool")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("install VMware OVF Tool, or use scripts/deploy-govc.sh"),
        "{}",
        text(&out)
    );
}
