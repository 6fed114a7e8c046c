//! The `firstboot` command line on sample OVF environments.

use std::process::Command;

use e2e::repo_root;

fn firstboot(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(e2e::workspace_bin("firstboot"))
        .args(args)
        .output()
        .expect("run firstboot");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sample(name: &str) -> String {
    repo_root().join("firstboot/testdata").join(name).display().to_string()
}

#[test]
fn validate_accepts_a_static_knative_environment() {
    let path = sample("static-knative.xml");
    let (code, out, err) = firstboot(&["validate", "--ovf-env", &path]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, format!("{path}: valid\n"));
}

#[test]
fn validate_lists_every_problem_by_label_and_key() {
    let path = sample("invalid.xml");
    let (code, out, err) = firstboot(&["validate", "--ovf-env", &path]);
    assert_eq!(code, Some(2));
    assert_eq!(out, "");
    assert_eq!(
        err,
        format!(
            "{path}: 3 invalid OVF properties; fix them in the VM's vApp Options and power-cycle it:
  - IP Address (guestinfo.ipaddress): must be an IPv4 address such as 192.168.1.10 (got \"192.168.30.500\")
  - Event Processor (guestinfo.processor): is not one of the allowed values: [\"knative\", \"aws_event_bridge\", \"openfaas\"] (got \"kafka\")
  - vCenter Password (guestinfo.vcenter_password): is required when a vCenter Server is set
"
        )
    );
}

#[test]
fn validate_rejects_a_malformed_environment() {
    let dir = e2e::TempDir::new("ovfenv");
    let path = dir.path().join("env.xml");
    std::fs::write(&path, "<Environment><PropertySection>").unwrap();
    let (code, _, err) = firstboot(&["validate", "--ovf-env", path.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("the OVF environment is not well-formed XML"), "{err}");
}

/// Every file under `dir`, by path relative to it.
fn files(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

const SAMPLES: &[&str] = &[
    "static-knative",
    "dhcp-eventbridge",
    "proxy-credentials",
    "custom-tls",
    "veba-v07-keys",
    "horizon-webhook",
];

/// Copies a sample's seed (its /etc/shadow, and the certificate a self-signed sample reuses)
/// into `root`, with the modes the appliance has.
fn seed(name: &str, root: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let seed = repo_root().join("firstboot/testdata/seed").join(name);
    for (rel, content) in files(&seed) {
        let dest = root.join(&rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, content).unwrap();
        let mode = if rel.ends_with("tls.crt") { 0o644 } else { 0o600 };
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

fn render_into(env: &str, root: &std::path::Path) -> (Option<i32>, String, String) {
    firstboot(&["render", "--ovf-env", env, "--root", root.to_str().unwrap()])
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn render_matches_the_golden_trees_and_the_router_accepts_its_config() {
    for name in SAMPLES {
        let root = e2e::TempDir::new("render");
        seed(name, root.path());
        let (code, out, err) = render_into(&sample(&format!("{name}.xml")), root.path());
        assert_eq!(code, Some(0), "{name}: {err}");
        assert!(out.contains("wrote /etc/event-router/config.yaml"), "{out}");
        assert!(
            !out.contains("wrote /etc/shadow"),
            "{name}: the seed's root hash still matches: {out}"
        );
        let golden = repo_root().join("firstboot/testdata/golden").join(name);
        let (got, want) = (files(root.path()), files(&golden));
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{name}: file list"
        );
        for (path, content) in &want {
            assert!(
                got[path] == *content,
                "{name}: {path} differs from the golden file (scripts/regen-firstboot-golden.sh):\n{}",
                String::from_utf8_lossy(&got[path])
            );
        }
        for secret in [
            "etc/event-router/config.yaml",
            "etc/event-router/tls/tls.key",
            "etc/sysconfig/proxy",
            "etc/systemd/system/k3s.service.env",
            "etc/rancher/k3s/config.yaml",
            "var/lib/rancher/k3s/server/manifests/event-router.yaml",
            "var/lib/rancher/k3s/server/manifests/appliance-tls.yaml",
        ] {
            assert_eq!(mode(&root.path().join(secret)), 0o600, "{name}: {secret} holds secrets");
        }
        let cfg = root.path().join("etc/event-router/config.yaml");
        let v = Command::new(e2e::router_bin())
            .args(["validate", "--config", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            v.status.success(),
            "{name}: event-router rejects the rendered config: {}",
            String::from_utf8_lossy(&v.stderr)
        );
        let manifests = root.path().join("var/lib/rancher/k3s/server/manifests");
        let k = Command::new(repo_root().join(".tools/venv/bin/kubernetes-validate"))
            .args(["--strict", "--quiet", "-k", "1.31.0"])
            .arg(manifests.join("event-router.yaml"))
            .arg(manifests.join("appliance-tls.yaml"))
            .output()
            .unwrap();
        assert!(
            k.status.success(),
            "{name}: kubernetes-validate: {}{}",
            String::from_utf8_lossy(&k.stdout),
            String::from_utf8_lossy(&k.stderr)
        );
        // A second run with the same properties changes nothing.
        let (code, out, _) = render_into(&sample(&format!("{name}.xml")), root.path());
        assert_eq!((code, out.as_str()), (Some(0), "nothing changed\n"));
    }
}

/// The PEM file `path` in the form of an OVF property (Base64 of the file).
fn b64_file(path: &std::path::Path) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).unwrap())
}

/// A sample environment with some properties replaced or added.
fn variant(name: &str, set: &[(&str, &str)], dir: &std::path::Path) -> String {
    let mut xml = std::fs::read_to_string(sample(&format!("{name}.xml"))).unwrap();
    for (key, value) in set {
        let value = value.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;");
        let prefix = format!("<Property oe:key=\"guestinfo.{key}\" oe:value=\"");
        if let Some(at) = xml.find(&prefix) {
            let from = at + prefix.len();
            let to = from + xml[from..].find('"').unwrap();
            xml.replace_range(from..to, &value);
        } else {
            let line = format!("{prefix}{value}\"/>\n   </PropertySection>");
            xml = xml.replacen("</PropertySection>", &line, 1);
        }
    }
    let path = dir.join(format!("{name}-{}.xml", set.len()));
    std::fs::write(&path, xml).unwrap();
    path.display().to_string()
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    e2e::run_in(dir, "openssl", args);
}

#[test]
fn a_self_signed_certificate_is_made_for_the_fqdn_and_ip_then_kept() {
    let root = e2e::TempDir::new("selfsigned");
    let env = sample("static-knative.xml");
    let (code, out, err) = render_into(&env, root.path());
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("wrote /etc/shadow") && out.contains("wrote /etc/event-router/tls/tls.crt"),
        "{out}"
    );
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(root.path().join("etc/event-router/tls/tls.crt"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("DNS:veba.corp.local, IP Address:192.168.30.50"), "{text}");
    // openssl agrees that the key belongs to the certificate.
    let pubkey = |args: &[&str], file: &str| {
        let o = Command::new("openssl")
            .args(args)
            .arg(root.path().join(file))
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(
        pubkey(&["x509", "-noout", "-pubkey", "-in"], "etc/event-router/tls/tls.crt"),
        pubkey(&["pkey", "-pubout", "-in"], "etc/event-router/tls/tls.key")
    );
    let shadow = std::fs::read_to_string(root.path().join("etc/shadow")).unwrap();
    assert!(shadow.starts_with("root:$6$"), "{shadow}");
    assert_eq!(mode(&root.path().join("etc/shadow")), 0o600);
    let (_, out, _) = render_into(&env, root.path());
    assert_eq!(
        out, "nothing changed\n",
        "the certificate and the password hash are kept"
    );
    // A new IP address needs a new certificate.
    let dir = e2e::TempDir::new("env");
    let moved = variant(
        "static-knative",
        &[("ipaddress", "192.168.30.60"), ("dns", "192.168.30.1")],
        dir.path(),
    );
    let (_, out, _) = render_into(&moved, root.path());
    assert!(out.contains("wrote /etc/event-router/tls/tls.crt"), "{out}");
    assert!(!out.contains("wrote /etc/shadow"), "{out}");
}

#[test]
fn a_changed_property_rewrites_only_what_depends_on_it() {
    let root = e2e::TempDir::new("incremental");
    seed("proxy-credentials", root.path());
    let (code, _, err) = render_into(&sample("proxy-credentials.xml"), root.path());
    assert_eq!(code, Some(0), "{err}");
    let dir = e2e::TempDir::new("env");
    let new_password = variant("proxy-credentials", &[("vcenter_password", "N3w-pass!")], dir.path());
    let (_, out, _) = render_into(&new_password, root.path());
    assert_eq!(
        out,
        "wrote /etc/event-router/config.yaml\nwrote /var/lib/rancher/k3s/server/manifests/event-router.yaml\n"
    );
    // Dropping the syslog server removes its file; dropping the proxy empties the proxy files.
    let fewer = variant(
        "proxy-credentials",
        &[
            ("vcenter_password", "N3w-pass!"),
            ("syslog_server_hostname", ""),
            ("http_proxy", ""),
            ("https_proxy", ""),
            ("proxy_username", ""),
            ("proxy_password", ""),
        ],
        dir.path(),
    );
    let (_, out, _) = render_into(&fewer, root.path());
    assert_eq!(
        out,
        "wrote /etc/sysconfig/proxy\nwrote /etc/systemd/system/k3s.service.env\nwrote /var/lib/rancher/k3s/server/manifests/event-router.yaml\nremoved /etc/rsyslog.d/10-appliance-forward.conf\n"
    );
    assert!(!root.path().join("etc/rsyslog.d/10-appliance-forward.conf").exists());
    let proxy = std::fs::read_to_string(root.path().join("etc/sysconfig/proxy")).unwrap();
    assert!(
        proxy.contains("PROXY_ENABLED=\"no\"") && !proxy.contains("HTTP_PROXY"),
        "{proxy}"
    );
}

#[test]
fn custom_tls_that_does_not_parse_or_match_is_refused_by_label() {
    let dir = e2e::TempDir::new("tls");
    openssl(
        dir.path(),
        &["ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", "ec.key"],
    );
    openssl(
        dir.path(),
        &[
            "req",
            "-x509",
            "-key",
            "ec.key",
            "-out",
            "ec.crt",
            "-days",
            "30",
            "-subj",
            "/CN=veba-tls.corp.local",
        ],
    );
    openssl(dir.path(), &["genrsa", "-out", "rsa.key", "2048"]);
    let (ec_crt, ec_key, rsa_key) = (
        b64_file(&dir.path().join("ec.crt")),
        b64_file(&dir.path().join("ec.key")),
        b64_file(&dir.path().join("rsa.key")),
    );
    // An SEC1 EC key with its certificate is accepted.
    let ok = variant(
        "custom-tls",
        &[("custom_tls_ca_cert", &ec_crt), ("custom_tls_private_key", &ec_key)],
        dir.path(),
    );
    let (code, _, err) = firstboot(&["validate", "--ovf-env", &ok]);
    assert_eq!(code, Some(0), "{err}");
    // The same certificate with another key is not.
    let mismatch = variant(
        "custom-tls",
        &[("custom_tls_ca_cert", &ec_crt), ("custom_tls_private_key", &rsa_key)],
        dir.path(),
    );
    let (code, _, err) = firstboot(&["validate", "--ovf-env", &mismatch]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("TLS Certificate (Base64 PEM) (guestinfo.custom_tls_ca_cert): does not match the private key"),
        "{err}"
    );
    let garbage = variant("custom-tls", &[("custom_tls_ca_cert", "aGVsbG8=")], dir.path());
    let root = e2e::TempDir::new("render");
    let (code, _, err) = render_into(&garbage, root.path());
    assert_eq!(code, Some(2));
    assert!(
        err.contains("TLS Certificate (Base64 PEM) (guestinfo.custom_tls_ca_cert): is not a PEM certificate"),
        "{err}"
    );
    assert!(files(root.path()).is_empty(), "nothing is written");
}

#[test]
fn render_refuses_an_invalid_environment_and_writes_nothing() {
    let root = e2e::TempDir::new("render");
    let (code, out, err) = firstboot(&[
        "render",
        "--ovf-env",
        &sample("invalid.xml"),
        "--root",
        root.path().to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2));
    assert_eq!(out, "");
    assert!(err.contains("3 invalid OVF properties"), "{err}");
    assert!(files(root.path()).is_empty(), "files were written");
}

/// Go's `net/url` (Debian's golang-go, what k3s and containerd parse HTTP_PROXY with) reads the
/// rendered proxy URL's credentials back unchanged, `%` included.
#[test]
fn proxy_credentials_come_back_unchanged_through_gos_url_parser() {
    let password = "100%pure p%41ss@:/?#[]$!\"'\\";
    let user = "svc%proxy@corp";
    let xml = std::fs::read_to_string(repo_root().join("firstboot/testdata/proxy-credentials.xml"))
        .unwrap()
        .replace("oe:value=\"svc-proxy@corp\"", &format!("oe:value=\"{}\"", user))
        .replace(
            "oe:value=\"p@ss:w/rd$1\"",
            &format!("oe:value=\"{}\"", password.replace('&', "&amp;").replace('"', "&quot;")),
        );
    let dir = e2e::TempDir::new("go-proxy");
    let env = dir.path().join("env.xml");
    std::fs::write(&env, xml).unwrap();
    let root = dir.path().join("root");
    seed("proxy-credentials", &root);
    let (code, _, err) = render_into(env.to_str().unwrap(), &root);
    assert_eq!(code, Some(0), "{err}");
    let proxy = std::fs::read_to_string(root.join("etc/sysconfig/proxy")).unwrap();
    let line = proxy
        .lines()
        .find_map(|l| l.strip_prefix("HTTP_PROXY="))
        .expect("HTTP_PROXY");
    // The file is double-quoted for the shell and systemd: undo that quoting.
    let mut url = String::new();
    let mut chars = line.trim_matches('"').chars();
    while let Some(c) = chars.next() {
        url.push(if c == '\\' { chars.next().unwrap_or('\\') } else { c });
    }
    let go = dir.path().join("parse.go");
    std::fs::write(
        &go,
        "package main\n\nimport (\n\t\"fmt\"\n\t\"net/url\"\n\t\"os\"\n)\n\nfunc main() {\n\tu, err := url.Parse(os.Args[1])\n\tif err != nil {\n\t\tfmt.Println(\"error:\", err)\n\t\tos.Exit(1)\n\t}\n\tp, _ := u.User.Password()\n\tfmt.Printf(\"%s\\n%s\\n%s\\n\", u.User.Username(), p, u.Host)\n}\n",
    )
    .unwrap();
    let out = Command::new("go")
        .args(["run", go.to_str().unwrap(), &url])
        .env("GOCACHE", dir.path().join("gocache"))
        .env("GOPATH", dir.path().join("gopath"))
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .env("HOME", dir.path())
        .output()
        .expect("go (Debian's golang-go, installed by scripts/install-test-tools.sh)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        text,
        format!("{user}\n{password}\nproxy.corp.local:3128\n"),
        "from {url}"
    );
}
