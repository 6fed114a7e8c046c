//! Proxy settings for the system (`/etc/sysconfig/proxy`, read by Photon OS's profile) and for
//! k3s and its containerd (`k3s.service.env`); credentials go into the URLs, percent-encoded.

use ovf::keys;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::{file, words, Tree};
use crate::ovfenv::OvfEnv;

/// Every byte but RFC 3986's unreserved characters is percent-encoded in the user information:
/// `%` itself too (the `url` crate leaves `%` as it is, so `p%41ss` would come back as `pAss`).
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `url` with the proxy credentials in it (percent-encoded), or `url` unchanged.
fn with_credentials(url: &str, user: &str, password: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return url.to_string();
    };
    let user = utf8_percent_encode(user, USERINFO).to_string();
    let password = utf8_percent_encode(password, USERINFO).to_string();
    if user.is_empty() || u.set_username(&user).is_err() {
        return url.to_string();
    }
    if !password.is_empty() && u.set_password(Some(&password)).is_err() {
        return url.to_string();
    }
    u.to_string().trim_end_matches('/').to_string()
}

/// The proxy variables (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), or none when no proxy is set.
pub(crate) fn variables(env: &OvfEnv) -> Vec<(&'static str, String)> {
    let (user, pw) = (env.get(keys::PROXY_USERNAME), env.get(keys::PROXY_PASSWORD));
    let http = env.get(keys::HTTP_PROXY);
    let https = env.get(keys::HTTPS_PROXY);
    if http.is_empty() && https.is_empty() {
        return Vec::new();
    }
    let mut no_proxy = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        env.get(keys::POD_NETWORK_CIDR),
        env.get(keys::SERVICE_CIDR),
        ".svc".to_string(),
        ".cluster.local".to_string(),
        env.get(keys::HOSTNAME),
    ];
    let ip = env.get(keys::IPADDRESS);
    if !ip.is_empty() {
        no_proxy.push(ip);
    }
    let domain = env.get(keys::DOMAIN);
    if !domain.is_empty() {
        no_proxy.push(format!(".{domain}"));
    }
    for w in words(&env.get(keys::NO_PROXY)) {
        if !no_proxy.contains(&w) {
            no_proxy.push(w);
        }
    }
    let mut out = Vec::new();
    if !http.is_empty() {
        out.push(("HTTP_PROXY", with_credentials(&http, &user, &pw)));
    }
    if !https.is_empty() {
        out.push(("HTTPS_PROXY", with_credentials(&https, &user, &pw)));
    }
    out.push(("NO_PROXY", no_proxy.join(",")));
    out
}

/// A double-quoted value that both a shell and systemd's EnvironmentFile read back unchanged.
fn dq(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

pub(super) fn render(env: &OvfEnv, t: &mut Tree) {
    let vars = variables(env);
    let mut sys = String::from("# Rendered by firstboot from the Proxy Settings properties.\n");
    let mut k3s = sys.clone();
    sys.push_str(&format!(
        "PROXY_ENABLED={}\n",
        dq(if vars.is_empty() { "no" } else { "yes" })
    ));
    for (name, value) in &vars {
        sys.push_str(&format!("{name}={}\n", dq(value)));
        k3s.push_str(&format!("{name}={}\n", dq(value)));
    }
    file(t, "/etc/sysconfig/proxy", 0o600, sys);
    file(t, "/etc/systemd/system/k3s.service.env", 0o600, k3s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_percent_encoded_into_the_url() {
        assert_eq!(
            with_credentials("http://proxy.corp.local:3128", "svc@corp", "p@ss:w/rd"),
            "http://svc%40corp:p%40ss%3Aw%2Frd@proxy.corp.local:3128"
        );
        assert_eq!(with_credentials("http://p:3128", "", ""), "http://p:3128");
        assert_eq!(
            with_credentials("http://p:3128", "u", "100%pure p%41ss"),
            "http://u:100%25pure%20p%2541ss@p:3128"
        );
        assert_eq!(dq("a\"b$c"), "\"a\\\"b\\$c\"");
    }
}
