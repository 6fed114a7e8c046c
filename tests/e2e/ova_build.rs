//! `ova build`: an OVA from small generated disks (raw and qcow2, converted with qemu-img),
//! checked file by file (tar order, .mf digests, sizes and capacities in the descriptor,
//! streamOptimized VMDKs), imported into vcsim with `govc import.ova` and an options file that
//! sets every property, and every value read back from the VM; and the bad-input refusals.

use std::path::Path;
use std::process::Command;

use e2e::{TempDir, Vcsim};
use serde_json::Value;

fn ova(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(e2e::workspace_bin("ova")).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run(cmd: &str, args: &[&str], dir: &Path) -> String {
    let out = Command::new(cmd).args(args).current_dir(dir).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A 2 MiB raw disk with some data and an empty 64 MiB qcow2 disk.
fn disks(dir: &Path) {
    let mut raw = vec![0u8; 2 << 20];
    for (i, b) in raw.iter_mut().enumerate().step_by(4096) {
        *b = (i / 4096) as u8;
    }
    std::fs::write(dir.join("system.raw"), raw).unwrap();
    run("qemu-img", &["create", "-q", "-f", "qcow2", "data.qcow2", "64M"], dir);
}

#[test]
fn an_ova_with_every_property_set_imports_into_vcsim() {
    let dir = TempDir::new("ova");
    disks(dir.path());
    let (code, out, err) = ova(&[
        "build",
        "--disk",
        dir.path().join("system.raw").to_str().unwrap(),
        "--disk",
        dir.path().join("data.qcow2").to_str().unwrap(),
        "--out",
        dir.path().join("veba.ova").to_str().unwrap(),
        "--name",
        "veba",
        "--version",
        "1.2.3",
        "--commit",
        "abc1234",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");

    // The tar: descriptor first, disks, then the manifest.
    let listing = run("tar", &["tf", "veba.ova"], dir.path());
    assert_eq!(
        listing.lines().collect::<Vec<_>>(),
        ["veba.ovf", "veba-disk1.vmdk", "veba-disk2.vmdk", "veba.mf"]
    );
    let x = dir.path().join("x");
    std::fs::create_dir(&x).unwrap();
    run("tar", &["xf", "../veba.ova"], &x);
    let mf = std::fs::read_to_string(x.join("veba.mf")).unwrap();
    for name in ["veba.ovf", "veba-disk1.vmdk", "veba-disk2.vmdk"] {
        let sum = run("sha256sum", &[name], &x);
        let digest = sum.split_whitespace().next().unwrap();
        assert!(mf.contains(&format!("SHA256({name})= {digest}\n")), "{mf}");
    }
    let ovf = std::fs::read_to_string(x.join("veba.ovf")).unwrap();
    for (i, capacity) in [(1, 2u64 << 20), (2, 64 << 20)] {
        let name = format!("veba-disk{i}.vmdk");
        let size = std::fs::metadata(x.join(&name)).unwrap().len();
        assert!(
            ovf.contains(&format!(
                "<File ovf:href=\"{name}\" ovf:id=\"file{i}\" ovf:size=\"{size}\"/>"
            )),
            "{ovf}"
        );
        assert!(ovf.contains(&format!("ovf:capacity=\"{capacity}\"")), "{ovf}");
        let info: Value = serde_json::from_str(&run("qemu-img", &["info", "--output=json", &name], &x)).unwrap();
        assert_eq!(info["format-specific"]["data"]["create-type"], "streamOptimized");
        assert_eq!(info["virtual-size"], capacity);
    }
    assert!(ovf.contains("<FullVersion>1.2.3 (abc1234)</FullVersion>"));
    // The data survives the conversion.
    run("qemu-img", &["convert", "-O", "raw", "veba-disk1.vmdk", "back.raw"], &x);
    assert!(std::fs::read(x.join("back.raw")).unwrap() == std::fs::read(dir.path().join("system.raw")).unwrap());

    // Deployed into vcsim with every property set, as an operator does with govc.
    let vcsim = Vcsim::start(&[]);
    let ova_path = dir.path().join("veba.ova");
    let ova_path = ova_path.to_str().unwrap();
    let want = std::cell::RefCell::new(Vec::new());
    vcsim.import("import.ova", ova_path, dir.path(), |key| {
        let prop = ovf::PROPERTIES
            .iter()
            .find(|q| q.ovf_key() == key)
            .expect("a schema property");
        let value = match prop.kind {
            ovf::Kind::Bool => "True".to_string(),
            ovf::Kind::Choice => prop.values.last().unwrap().to_string(),
            _ => format!("set-{}", prop.key),
        };
        want.borrow_mut().push((key.to_string(), value.clone()));
        Some(value)
    });
    let want = want.into_inner();
    assert_eq!(want.len(), ovf::PROPERTIES.len());
    // vcsim 0.24.2 keeps the values in ExtraConfig, not in vAppConfig.property.
    let extra = vcsim.extra_config("veba");
    for (key, value) in &want {
        assert!(
            extra.contains(&(key.clone(), value.clone())),
            "{key} = {value} not read back: {extra:?}"
        );
    }
    let devices = vcsim.govc(&["device.ls", "-vm", "veba"]);
    assert_eq!(devices.matches("disk-").count(), 2, "{devices}");
    assert!(
        devices.contains("VirtualVmxnet3") && devices.contains("ParaVirtualSCSIController"),
        "{devices}"
    );
    assert!(
        devices.contains("2,048 KB") && devices.contains("65,536 KB"),
        "capacities: {devices}"
    );
}

#[test]
fn bad_disks_and_outputs_are_refused_and_leave_nothing_behind() {
    let dir = TempDir::new("ova-bad");
    disks(dir.path());
    std::fs::copy(dir.path().join("system.raw"), dir.path().join("fake.qcow2")).unwrap();
    std::fs::write(dir.path().join("disk.iso"), b"x").unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let ova_out = out.join("a.ova");
    let cases: [(&str, &str); 3] = [
        ("missing.raw", "cannot read disk"),
        ("disk.iso", "unknown format \"iso\""),
        ("fake.qcow2", "is named .qcow2 but qemu-img reads it as raw"),
    ];
    for (disk, message) in cases {
        let (code, _, err) = ova(&[
            "build",
            "--disk",
            dir.path().join("system.raw").to_str().unwrap(),
            "--disk",
            dir.path().join(disk).to_str().unwrap(),
            "--out",
            ova_out.to_str().unwrap(),
        ]);
        assert_eq!(code, Some(1), "{disk}");
        assert!(err.contains(message) && err.contains(disk), "{disk}: {err}");
        assert_eq!(
            std::fs::read_dir(&out).unwrap().count(),
            0,
            "{disk}: something was left in {out:?}"
        );
    }
    let (code, _, err) = ova(&[
        "build",
        "--disk",
        dir.path().join("system.raw").to_str().unwrap(),
        "--out",
        "/nonexistent/dir/a.ova",
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("cannot write /nonexistent/dir"), "{err}");
}
