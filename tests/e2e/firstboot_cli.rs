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
    "several-vcenters",
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

#[test]
fn several_vcenters_are_validated_at_once_each_bad_entry_named() {
    let dir = e2e::TempDir::new("vcenters");
    let env = variant(
        "static-knative",
        &[
            ("vcenter_servers", "vc-b.corp.local vc_c.corp.local vcsa.corp.local:443"),
            (
                "vcenter_credentials",
                "vc-b.corp.local=admin@b.local;vc-x.corp.local=u:Secret-X1",
            ),
        ],
        dir.path(),
    );
    let (code, out, err) = firstboot(&["validate", "--ovf-env", &env]);
    assert_eq!((code, out.as_str()), (Some(2), ""), "{err}");
    assert_eq!(
        err,
        format!(
            "{env}: 4 invalid OVF properties; fix them in the VM's vApp Options and power-cycle it:
  - Additional vCenter Servers (guestinfo.vcenter_servers): \"vc_c.corp.local\" is not a host name or IPv4 address with an optional :port: write e.g. vc-b.corp.local or vc-b.corp.local:8443, separated by spaces or commas
  - Additional vCenter Servers (guestinfo.vcenter_servers): vcsa.corp.local:443 is the same vCenter as the vCenter Server (vcsa.corp.local): list each vCenter once (the router keeps one checkpoint per host and port)
  - Per-vCenter Credentials (guestinfo.vcenter_credentials): entry 1 (vc-b.corp.local): write user:password after `=` (the user name, a colon, the password)
  - Per-vCenter Credentials (guestinfo.vcenter_credentials): entry 2 names vc-x.corp.local, which is neither the vCenter Server nor one of the Additional vCenter Servers: add it to Additional vCenter Servers (guestinfo.vcenter_servers) or remove the entry
"
        )
    );
    assert!(!err.contains("Secret-X1"), "a password was shown: {err}");

    // Fixed, every vCenter is a provider of its own (named after its host) and the router
    // accepts the config.
    let fixed = variant(
        "static-knative",
        &[
            ("vcenter_servers", "vc-b.corp.local vc-c.corp.local:8443"),
            ("vcenter_credentials", r"vc-c.corp.local:8443=admin@c.local:C\;pass"),
        ],
        dir.path(),
    );
    let root = e2e::TempDir::new("render");
    seed("static-knative", root.path());
    let (code, _, err) = render_into(&fixed, root.path());
    assert_eq!(code, Some(0), "{err}");
    let cfg = root.path().join("etc/event-router/config.yaml");
    let config = std::fs::read_to_string(&cfg).unwrap();
    for name in ["vcsa.corp.local", "vc-b.corp.local"] {
        assert!(config.contains(&format!("  name: {name}\n")), "{name}: {config}");
    }
    assert!(
        config
            .lines()
            .any(|l| l.trim_start().starts_with("name: ") && l.contains("vc-c.corp.local:8443")),
        "{config}"
    );
    assert!(config.contains("password: C;pass\n"), "the escaped ; is the password's");
    let v = Command::new(e2e::router_bin())
        .args(["validate", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", e2e::output_text(&v));
}

/// Certificates made with the Python `cryptography` package in `dir`: a CA (`ca.pem`), an
/// expired CA (`expired-ca.pem`), a self-signed server certificate for other.corp.local that is
/// no CA (`leaf.pem`), and a server certificate for 127.0.0.1 issued by the CA (`server.pem`,
/// `server.key`).
fn certificates(dir: &std::path::Path) {
    let script = r#"
import datetime, ipaddress, os, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
out = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
day = datetime.timedelta(days=1)
def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
def write(file, data):
    with open(os.path.join(out, file), "wb") as f:
        f.write(data)
def build(subject, issuer, key, signer, start, end, ca, sans):
    b = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now + start * day).not_valid_after(now + end * day)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return b.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
def key():
    return ec.generate_private_key(ec.SECP256R1())
ca = key()
write("ca.pem", build("e2e vCenter CA", "e2e vCenter CA", ca, ca, -1, 365, True, []))
old = key()
write("expired-ca.pem", build("e2e old CA", "e2e old CA", old, old, -400, -2, True, []))
leaf = key()
write("leaf.pem", build("other.corp.local", "other.corp.local", leaf, leaf, -1, 365, False, [x509.DNSName("other.corp.local")]))
server = key()
write("server.pem", build("127.0.0.1", "e2e vCenter CA", server, ca, -1, 365, False, [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]))
write("server.key", server.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
"#;
    let out = Command::new(e2e::tool(".tools/venv/bin/python"))
        .args(["-c", script])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", e2e::output_text(&out));
}

#[test]
fn a_trusted_ca_is_checked_then_rendered_for_the_routers_config_and_pod() {
    let dir = e2e::TempDir::new("trusted-ca");
    certificates(dir.path());
    let label = "Trusted CA Certificate (Base64 PEM) (guestinfo.trusted_ca_cert)";
    // Expired, or not PEM: invalid, named.
    for (value, why) in [
        (
            b64_file(&dir.path().join("expired-ca.pem")),
            "its certificate (CN=e2e old CA) expired on ",
        ),
        ("aGVsbG8=".to_string(), "is not a PEM certificate: no PEM block found"),
    ] {
        let env = variant("static-knative", &[("trusted_ca_cert", &value)], dir.path());
        let (code, _, err) = firstboot(&["validate", "--ovf-env", &env]);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains(&format!("  - {label}: {why}")), "{err}");
    }
    // A server's own certificate that names another host: valid, with warnings.
    let leaf = b64_file(&dir.path().join("leaf.pem"));
    let env = variant("static-knative", &[("trusted_ca_cert", &leaf)], dir.path());
    let (code, out, err) = firstboot(&["validate", "--ovf-env", &env]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.ends_with(": valid\n"), "{out}");
    assert!(
        err.contains(&format!(
            "warning: {label} would not verify vcsa.corp.local: it holds no CA certificate and none of its certificates names vcsa.corp.local (they name: other.corp.local)"
        )),
        "{err}"
    );
    assert!(err.contains("(CN=other.corp.local) is not a CA certificate"), "{err}");

    // The CA: a file beside the config, in the router's rootCAs and in its pod's Secret.
    let ca = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
    let env = variant(
        "static-knative",
        &[("trusted_ca_cert", &b64_file(&dir.path().join("ca.pem")))],
        dir.path(),
    );
    let root = e2e::TempDir::new("render");
    seed("static-knative", root.path());
    let (code, out, err) = render_into(&env, root.path());
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("warning"), "{err}");
    assert!(out.contains("wrote /etc/event-router/trusted-ca.pem\n"), "{out}");
    let file = root.path().join("etc/event-router/trusted-ca.pem");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), ca);
    assert_eq!(mode(&file), 0o644);
    let cfg = root.path().join("etc/event-router/config.yaml");
    let config = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        config.contains("certificates:\n  rootCAs:\n  - /etc/event-router/trusted-ca.pem\n"),
        "{config}"
    );
    let manifest = std::fs::read_to_string(
        root.path()
            .join("var/lib/rancher/k3s/server/manifests/event-router.yaml"),
    )
    .unwrap();
    assert!(
        manifest.contains(&format!("  trusted-ca.pem: {}\n", b64_file(&dir.path().join("ca.pem")))),
        "the config Secret (mounted on /etc/event-router) carries it: {manifest}"
    );
    let v = Command::new(e2e::router_bin())
        .args(["validate", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", e2e::output_text(&v));
}

/// The whole way, without turning verification off: a vCenter (vcsim) whose certificate a
/// private CA issued, that CA in the Trusted CA Certificate property, the router on the
/// rendered config.
#[test]
fn the_rendered_trusted_ca_lets_the_router_verify_a_vcenter_with_a_private_ca() {
    let dir = e2e::TempDir::new("ca-vcsim");
    certificates(dir.path());
    let (cert, key) = (dir.path().join("server.pem"), dir.path().join("server.key"));
    let vcsim = e2e::Vcsim::start(&["-tlscert", cert.to_str().unwrap(), "-tlskey", key.to_str().unwrap()]);
    let rest = vcsim.govc_url.split_once("://").unwrap().1;
    let (userinfo, host) = rest.rsplit_once('@').unwrap();
    let (user, pass) = userinfo.split_once(':').unwrap();
    let env = variant(
        "static-knative",
        &[
            ("vcenter_server", host.trim_end_matches("/sdk")),
            ("vcenter_username", user),
            ("vcenter_password", pass),
            ("trusted_ca_cert", &b64_file(&dir.path().join("ca.pem"))),
        ],
        dir.path(),
    );
    let root = e2e::TempDir::new("render");
    seed("static-knative", root.path());
    let (code, _, err) = render_into(&env, root.path());
    assert_eq!(code, Some(0), "{err}");

    // The appliance's paths under this test's folders; the metrics port on loopback.
    let port = e2e::free_port();
    let checkpoints = dir.path().join("checkpoints");
    std::fs::create_dir_all(&checkpoints).unwrap();
    let config = std::fs::read_to_string(root.path().join("etc/event-router/config.yaml"))
        .unwrap()
        .replace(
            "/etc/event-router/trusted-ca.pem",
            root.path().join("etc/event-router/trusted-ca.pem").to_str().unwrap(),
        )
        .replace("/var/lib/event-router/checkpoints", checkpoints.to_str().unwrap())
        .replace(
            "bindAddress: 0.0.0.0:8082\n",
            &format!("bindAddress: 127.0.0.1:{port}\n"),
        );
    assert!(config.contains("insecureSSL: false"), "{config}");
    // The Broker the config points at, as the Kubernetes API reports it.
    let sink = e2e::CeReceiver::start(&[]);
    let sink_url = sink.url();
    let api = e2e::json_server(move |path, _| {
        if path == "/apis/eventing.knative.dev/v1/namespaces/vmware-functions/brokers/default" {
            let body = serde_json::json!({"status": {"address": {"url": sink_url}}});
            (200, body.to_string())
        } else {
            (404, "{}".into())
        }
    });
    let sa = e2e::TempDir::new("sa");
    std::fs::write(sa.path().join("token"), "t").unwrap();
    let api_port = api.to_string();
    let router = e2e::Router::start_env(
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
    router.wait_ready(std::time::Duration::from_secs(20));
    vcsim.govc(&["vm.power", "-off", "DC0_H0_VM0"]);
    let got = sink.until("VmPoweredOffEvent", std::time::Duration::from_secs(5));
    assert_eq!(got.last().unwrap()["data"]["Vm"]["Name"], "DC0_H0_VM0");
    assert!(!router.log().contains("not trusted"), "{}", router.log());
}

#[test]
fn debugging_on_sets_the_routers_log_level_and_off_takes_it_back() {
    let root = e2e::TempDir::new("debug");
    seed("static-knative", root.path());
    let dir = e2e::TempDir::new("env");
    let path = root
        .path()
        .join("var/lib/rancher/k3s/server/manifests/event-router.yaml");
    let manifest = || std::fs::read_to_string(path.as_path()).unwrap();
    let hash = |m: &str| {
        m.lines()
            .find_map(|l| l.trim().strip_prefix("event-router.vmware.com/config-sha256: "))
            .unwrap()
            .to_string()
    };
    let (code, _, err) = render_into(&sample("static-knative.xml"), root.path());
    assert_eq!(code, Some(0), "{err}");
    let off = manifest();
    assert!(
        off.contains("          args: [\"--config\", \"/etc/event-router/config.yaml\", \"--log-json\"]\n"),
        "{off}"
    );
    let on = variant("static-knative", &[("debug", "True")], dir.path());
    let (code, out, err) = render_into(&on, root.path());
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out, "wrote /var/lib/rancher/k3s/server/manifests/event-router.yaml\n",
        "only the router's Deployment changes"
    );
    assert!(
        err.contains("note: Debugging is on: the router logs every event at debug level"),
        "{err}"
    );
    let debug = manifest();
    assert!(
        debug.contains(
            "          args: [\"--config\", \"/etc/event-router/config.yaml\", \"--log-json\", \"--log-level\", \"info,event_router=debug\"]\n"
        ),
        "{debug}"
    );
    assert_ne!(hash(&debug), hash(&off), "the changed arguments roll the router's pod");
    // Off again on a later boot: the Deployment as it was.
    let (code, out, _) = render_into(&sample("static-knative.xml"), root.path());
    assert_eq!(
        (code, out.as_str()),
        (
            Some(0),
            "wrote /var/lib/rancher/k3s/server/manifests/event-router.yaml\n"
        )
    );
    assert_eq!(manifest(), off);
}

const LAB: &str = "# The lab vCenter and an ops hook the form cannot express.
eventProviders:
  - type: vcenter
    name: vc-lab
    vcenter:
      address: vc-lab.corp.local
      checkpoint: true
      auth: {type: basic_auth, basicAuth: {username: svc@lab.local, password: \"L4b-pass\"}}
eventProcessors:
  - type: knative
    name: ops-hook
    filter: {eventNames: [VmPoweredOffEvent]}
    knative: {destination: {uri: \"http://ops-hook.corp.local/\"}}
filters:
  broker: {eventNames: [VmPoweredOnEvent, VmPoweredOffEvent]}
";

#[test]
fn config_d_is_merged_into_the_routers_config_and_a_conflict_changes_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let root = e2e::TempDir::new("config-d");
    seed("static-knative", root.path());
    let d = root.path().join("etc/event-router/config.d");
    std::fs::create_dir_all(&d).unwrap();
    let lab = d.join("50-lab.yaml");
    std::fs::write(&lab, LAB).unwrap();
    std::fs::set_permissions(&lab, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(d.join("README"), "notes\n").unwrap();
    let (code, _, err) = render_into(&sample("static-knative.xml"), root.path());
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("note: merged into the router's configuration: /etc/event-router/config.d/50-lab.yaml: 1 provider(s), 1 processor(s), 1 filter(s)"),
        "{err}"
    );
    assert!(
        err.contains("note: /etc/event-router/config.d/README is not merged"),
        "{err}"
    );
    assert!(!err.contains("L4b-pass"), "{err}");
    let cfg = root.path().join("etc/event-router/config.yaml");
    let config = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        config.contains("  name: vc-lab\n") && config.contains("  name: ops-hook\n"),
        "{config}"
    );
    assert_eq!(
        config
            .matches("checkpointDir: /var/lib/event-router/checkpoints\n")
            .count(),
        2,
        "the lab vCenter gets the appliance's checkpoint folder: {config}"
    );
    let v = Command::new(e2e::router_bin())
        .args(["validate", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", e2e::output_text(&v));
    assert_eq!(
        std::fs::read_to_string(lab.as_path()).unwrap(),
        LAB,
        "never written by firstboot"
    );

    // A conflict is refused with its file and entry, and nothing changes.
    std::fs::write(
        d.join("60-clash.yaml"),
        "eventProviders:\n  - type: webhook\n    name: vcenter\n    webhook: {bindAddress: \"0.0.0.0:9090\"}\n",
    )
    .unwrap();
    let before = files(root.path());
    let (code, out, err) = render_into(&sample("static-knative.xml"), root.path());
    assert_eq!((code, out.as_str()), (Some(1), ""), "{err}");
    assert!(
        err.contains("the router's configuration is refused, nothing was changed: /etc/event-router/config.d/60-clash.yaml eventProviders[0]: type webhook cannot be added here"),
        "{err}"
    );
    assert!(files(root.path()) == before, "a file changed");
}

#[test]
fn a_rendered_file_changed_by_hand_is_kept_aside_and_reported() {
    let root = e2e::TempDir::new("hand-edit");
    seed("static-knative", root.path());
    let env = sample("static-knative.xml");
    let (code, _, err) = render_into(&env, root.path());
    assert_eq!(code, Some(0), "{err}");
    let cfg = root.path().join("etc/event-router/config.yaml");
    let edited = format!("{}# my change\n", std::fs::read_to_string(&cfg).unwrap());
    std::fs::write(&cfg, &edited).unwrap();
    let (code, out, err) = render_into(&env, root.path());
    assert_eq!(code, Some(0), "{err}");
    let kept = out
        .lines()
        .find_map(|l| l.strip_prefix("kept /etc/event-router/config.yaml as "))
        .unwrap_or_else(|| panic!("no kept copy: {out}"))
        .to_string();
    assert!(kept.starts_with("/etc/event-router/config.yaml.local-"), "{out}");
    assert_eq!(
        out,
        format!("kept /etc/event-router/config.yaml as {kept}\nwrote /etc/event-router/config.yaml\n")
    );
    assert!(
        err.contains(&format!(
            "note: /etc/event-router/config.yaml was changed by hand since firstboot wrote it: your copy is kept as {kept}"
        )),
        "{err}"
    );
    let copy = root.path().join(kept.trim_start_matches('/'));
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), edited);
    assert_eq!(mode(&copy), 0o600, "the copy keeps the mode of a file with secrets");
    assert_ne!(
        std::fs::read_to_string(cfg.as_path()).unwrap(),
        edited,
        "rendered again"
    );
    let (_, out, _) = render_into(&env, root.path());
    assert_eq!(out, "nothing changed\n");
}
