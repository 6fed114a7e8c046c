//! The vCenters the deploy form lists: the vCenter Server, the Additional vCenter Servers (which
//! log in with the vCenter Username and Password, as the vCenters of one Enhanced Linked Mode SSO
//! domain share an account) and Per-vCenter Credentials for vCenters with an account of their
//! own: `host[:port]=user:password` entries separated by `;`, where a backslash before `;` or `\`
//! in a password stands for that character (before any other character it is kept as it is).
//! Parsed once here: validation names every bad entry, rendering makes one provider of each
//! vCenter. A password never appears in a message.

use ovf::keys::{self, Key};

use crate::ovfenv::OvfEnv;

/// The port of a vCenter given without one.
const HTTPS: u16 = 443;

/// One vCenter the router streams from.
#[derive(Clone, PartialEq, Eq)]
pub struct VCenter {
    /// `host[:port]` as the form gives it.
    pub server: String,
    pub username: String,
    pub password: String,
    /// The account comes from Per-vCenter Credentials, not the shared vCenter Username.
    pub own_account: bool,
}

impl std::fmt::Debug for VCenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VCenter")
            .field("server", &self.server)
            .field("username", &self.username)
            .field("own_account", &self.own_account)
            .finish_non_exhaustive()
    }
}

/// `host[:port]` as the router's checkpoint names it: the host in lower case and the port (443
/// when none is given); `None` when it is not a host name or IPv4 address with an optional port.
pub fn identity(server: &str) -> Option<(String, u16)> {
    let (host, port) = match server.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().ok().filter(|n| *n > 0)?),
        None => (server, HTTPS),
    };
    crate::validate::is_host(host).then(|| (host.to_ascii_lowercase(), port))
}

/// The provider name of a vCenter when there are several: its host, with the port when not 443.
pub fn name(server: &str) -> String {
    match identity(server) {
        Some((host, HTTPS)) => host,
        Some((host, port)) => format!("{host}:{port}"),
        None => server.to_ascii_lowercase(),
    }
}

/// Entries separated by spaces or commas.
fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split([' ', ',']).filter(|x| !x.is_empty())
}

/// The servers in form order: the vCenter Server, then each Additional vCenter Server.
pub fn servers(env: &OvfEnv) -> Vec<String> {
    let main = env.get(keys::VCENTER_SERVER);
    let more = env.get(keys::VCENTER_SERVERS);
    let mut out: Vec<String> = Vec::new();
    if !main.is_empty() {
        out.push(main);
    }
    out.extend(words(&more).map(str::to_string));
    out
}

/// The Per-vCenter Credentials text split at its unescaped `;`, escapes resolved, surrounding
/// blanks removed; empty entries (a trailing `;`) dropped. Each keeps its number (from 1).
fn split_entries(text: &str) -> Vec<(usize, String)> {
    let mut entries = vec![String::new()];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ';' => entries.push(String::new()),
            '\\' if matches!(chars.peek(), Some(&';') | Some(&'\\')) => {
                if let (Some(next), Some(entry)) = (chars.next(), entries.last_mut()) {
                    entry.push(next);
                }
            }
            c => {
                if let Some(entry) = entries.last_mut() {
                    entry.push(c);
                }
            }
        }
    }
    entries
        .into_iter()
        .map(|e| e.trim().to_string())
        .enumerate()
        .filter(|(_, e)| !e.is_empty())
        .map(|(i, e)| (i + 1, e))
        .collect()
}

/// One Per-vCenter Credentials entry.
struct Credential {
    number: usize,
    server: String,
    id: (String, u16),
    username: String,
    password: String,
}

/// Reads the Per-vCenter Credentials; the entries that do not parse become problems.
fn credentials(env: &OvfEnv, problems: &mut Vec<(Key, String)>) -> Vec<Credential> {
    let key = keys::VCENTER_CREDENTIALS;
    let mut out: Vec<Credential> = Vec::new();
    for (number, entry) in split_entries(&env.get(key)) {
        // Never echo an entry that does not parse: what precedes `=` may be a password typed
        // in the wrong place.
        let Some((server, account)) = entry.split_once('=') else {
            problems.push((
                key,
                format!("entry {number} has no `=`: write host[:port]=user:password (entries separated by ;)"),
            ));
            continue;
        };
        let server = server.trim();
        let Some(id) = identity(server) else {
            problems.push((
                key,
                format!(
                    "entry {number}: the part before `=` is not a host name or IPv4 address with an optional :port; write host[:port]=user:password"
                ),
            ));
            continue;
        };
        let Some((username, password)) = account.split_once(':') else {
            problems.push((
                key,
                format!(
                    "entry {number} ({server}): write user:password after `=` (the user name, a colon, the password)"
                ),
            ));
            continue;
        };
        let (username, password) = (username.trim(), password.trim());
        if username.is_empty() {
            problems.push((
                key,
                format!("entry {number} ({server}) has no user name before the colon"),
            ));
            continue;
        }
        if password.is_empty() {
            problems.push((
                key,
                format!("entry {number} ({server}) has no password after the colon"),
            ));
            continue;
        }
        if let Some(first) = out.iter().find(|c| c.id == id) {
            problems.push((
                key,
                format!(
                    "entry {number} ({server}) names the same vCenter as entry {} ({}): keep one of them",
                    first.number, first.server
                ),
            ));
            continue;
        }
        out.push(Credential {
            number,
            server: server.to_string(),
            id,
            username: username.to_string(),
            password: password.to_string(),
        });
    }
    out
}

/// Every vCenter of the form with its account, and every problem with the three vCenter list
/// properties (each bad entry on its own, by property key; the required-account rules are
/// `validate`'s).
pub fn vcenters(env: &OvfEnv) -> (Vec<VCenter>, Vec<(Key, String)>) {
    let mut problems = Vec::new();
    let main = env.get(keys::VCENTER_SERVER);
    let more = env.get(keys::VCENTER_SERVERS);
    if main.is_empty() && words(&more).next().is_some() {
        let label = keys::VCENTER_SERVER.property().label;
        problems.push((
            keys::VCENTER_SERVERS,
            format!(
                "is set but {label} (guestinfo.{}) is empty: put the first vCenter there",
                keys::VCENTER_SERVER
            ),
        ));
    }
    // The main server's value is checked by its kind; here only its identity matters. Each seen
    // vCenter: its identity, as it was written, and whether it is the vCenter Server.
    let mut seen: Vec<((String, u16), String, bool)> = Vec::new();
    if let Some(id) = identity(&main) {
        seen.push((id, main.clone(), true));
    }
    let once = "list each vCenter once (the router keeps one checkpoint per host and port)";
    let mut listed = Vec::new();
    for server in words(&more) {
        let Some(id) = identity(server) else {
            problems.push((
                keys::VCENTER_SERVERS,
                format!(
                    "{server:?} is not a host name or IPv4 address with an optional :port: write e.g. vc-b.corp.local or vc-b.corp.local:8443, separated by spaces or commas"
                ),
            ));
            continue;
        };
        if let Some((_, first, is_main)) = seen.iter().find(|(s, _, _)| *s == id) {
            let message = if *is_main {
                format!("{server} is the same vCenter as the vCenter Server ({first}): {once}")
            } else if first == server {
                format!("{server} is listed twice: {once}")
            } else {
                format!("{server} is listed twice (also as {first}): {once}")
            };
            problems.push((keys::VCENTER_SERVERS, message));
            continue;
        }
        seen.push((id, server.to_string(), false));
        listed.push(server.to_string());
    }
    let creds = credentials(env, &mut problems);
    for c in &creds {
        if !seen.iter().any(|(id, _, _)| *id == c.id) {
            let (main_label, more_label) = (
                keys::VCENTER_SERVER.property().label,
                keys::VCENTER_SERVERS.property().label,
            );
            problems.push((
                keys::VCENTER_CREDENTIALS,
                format!(
                    "entry {} names {}, which is neither the {main_label} nor one of the {more_label}: add it to {more_label} (guestinfo.{}) or remove the entry",
                    c.number,
                    c.server,
                    keys::VCENTER_SERVERS
                ),
            ));
        }
    }
    let account = |server: &str| -> VCenter {
        let own = identity(server).and_then(|id| creds.iter().find(|c| c.id == id));
        match own {
            Some(c) => VCenter {
                server: server.to_string(),
                username: c.username.clone(),
                password: c.password.clone(),
                own_account: true,
            },
            None => VCenter {
                server: server.to_string(),
                username: env.get(keys::VCENTER_USERNAME),
                password: env.get(keys::VCENTER_PASSWORD),
                own_account: false,
            },
        }
    };
    let mut out = Vec::new();
    if !main.is_empty() {
        out.push(account(&main));
    }
    out.extend(listed.iter().map(|s| account(s.as_str())));
    (out, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> OvfEnv {
        OvfEnv {
            values: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            ..OvfEnv::default()
        }
    }

    fn messages(problems: &[(Key, String)]) -> Vec<String> {
        problems.iter().map(|(k, m)| format!("{k}: {m}")).collect()
    }

    #[test]
    fn entries_split_at_unescaped_semicolons() {
        assert_eq!(
            split_entries(r"a=u:p\;q ; b=v:back\\;c=w:x\y;;"),
            [
                (1, "a=u:p;q".to_string()),
                (2, r"b=v:back\".to_string()),
                (3, r"c=w:x\y".to_string()),
            ]
        );
        assert!(split_entries("").is_empty());
    }

    #[test]
    fn servers_share_the_account_unless_they_have_their_own() {
        let e = env(&[
            ("vcenter_server", "vc-a.corp.local"),
            ("vcenter_servers", "vc-b.corp.local, vc-c.corp.local:8443"),
            ("vcenter_username", "svc@vsphere.local"),
            ("vcenter_password", "shared"),
            (
                "vcenter_credentials",
                r"VC-C.corp.local:8443 = admin@lab.local : p=a:s\;s",
            ),
        ]);
        let (list, problems) = vcenters(&e);
        assert!(problems.is_empty(), "{:?}", messages(&problems));
        let got: Vec<(&str, &str, &str, bool)> = list
            .iter()
            .map(|v| {
                (
                    v.server.as_str(),
                    v.username.as_str(),
                    v.password.as_str(),
                    v.own_account,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("vc-a.corp.local", "svc@vsphere.local", "shared", false),
                ("vc-b.corp.local", "svc@vsphere.local", "shared", false),
                ("vc-c.corp.local:8443", "admin@lab.local", "p=a:s;s", true),
            ]
        );
        assert_eq!(name("VC-C.corp.local:8443"), "vc-c.corp.local:8443");
        assert_eq!(name("vc-a.corp.local:443"), "vc-a.corp.local");
        assert!(!format!("{list:?}").contains("shared"), "no password in Debug");
    }

    #[test]
    fn every_bad_entry_is_named_and_no_password_is_shown() {
        let e = env(&[
            ("vcenter_server", "vc-a.corp.local"),
            ("vcenter_servers", "vc-b.corp.local vc_b!.corp vc-a.corp.local:443 vc-b.corp.local"),
            (
                "vcenter_credentials",
                "vc-x.corp.local=u:SecretX;Secret1;Secret2@host=u:p;vc-b.corp.local=u;vc-b.corp.local=:Secret3;vc-a.corp.local=u:;vc-a.corp.local=u:a;vc-a.corp.local=v:b",
            ),
        ]);
        let (_, problems) = vcenters(&e);
        let m = messages(&problems);
        assert_eq!(
            m,
            [
                "vcenter_servers: \"vc_b!.corp\" is not a host name or IPv4 address with an optional :port: write e.g. vc-b.corp.local or vc-b.corp.local:8443, separated by spaces or commas",
                "vcenter_servers: vc-a.corp.local:443 is the same vCenter as the vCenter Server (vc-a.corp.local): list each vCenter once (the router keeps one checkpoint per host and port)",
                "vcenter_servers: vc-b.corp.local is listed twice: list each vCenter once (the router keeps one checkpoint per host and port)",
                "vcenter_credentials: entry 2 has no `=`: write host[:port]=user:password (entries separated by ;)",
                "vcenter_credentials: entry 3: the part before `=` is not a host name or IPv4 address with an optional :port; write host[:port]=user:password",
                "vcenter_credentials: entry 4 (vc-b.corp.local): write user:password after `=` (the user name, a colon, the password)",
                "vcenter_credentials: entry 5 (vc-b.corp.local) has no user name before the colon",
                "vcenter_credentials: entry 6 (vc-a.corp.local) has no password after the colon",
                "vcenter_credentials: entry 8 (vc-a.corp.local) names the same vCenter as entry 7 (vc-a.corp.local): keep one of them",
                "vcenter_credentials: entry 1 names vc-x.corp.local, which is neither the vCenter Server nor one of the Additional vCenter Servers: add it to Additional vCenter Servers (guestinfo.vcenter_servers) or remove the entry",
            ]
        );
        for line in &m {
            assert!(!line.contains("Secret"), "{line}");
        }
    }

    #[test]
    fn additional_servers_need_the_first_one() {
        let (list, problems) = vcenters(&env(&[("vcenter_servers", "vc-b.corp.local")]));
        assert_eq!(
            messages(&problems),
            ["vcenter_servers: is set but vCenter Server (guestinfo.vcenter_server) is empty: put the first vCenter there"]
        );
        assert_eq!(list.len(), 1);
    }
}
