//! The Horizon Server REST client: login with an Active Directory account, bearer tokens,
//! refresh on 401 (a full login when the refresh token has expired too), audit events with a
//! time filter, page by page, and logout. No answer is followed to another address (a 3xx is an
//! error naming it: the login carries the AD password) and none is read past [`MAX_ANSWER`]
//! bytes; a window of audit events holds at most [`MAX_WINDOW_EVENTS`] new events and
//! [`MAX_WINDOW_BYTES`] bytes of them, each kept as its JSON text (events the caller has seen
//! are skipped as they are read).

use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tracing::debug;

use crate::client_body::{read_capped, BodyError};
use crate::client_error::describe;
use crate::config::Secret;
use crate::tls::{self, TlsOptions};

/// Why a Horizon call failed.
#[derive(Debug, thiserror::Error)]
pub enum HorizonError {
    #[error("cannot reach Horizon at {url}: {detail}")]
    Transport { url: String, detail: String },
    #[error("Horizon rejected the login for {domain}\\{user} (HTTP {status}): fix horizon.auth.activeDirectoryAuth (domain, username, password); the account needs the Collect Operation Logs privilege")]
    Login { domain: String, user: String, status: u16 },
    #[error("Horizon answered HTTP {status} for {what}: {body}")]
    Status { what: String, status: u16, body: String },
    #[error("Horizon sent an unreadable answer for {what}: {detail}")]
    Decode { what: String, detail: String },
    #[error("Horizon answered HTTP {status} for {what}, a redirect to {location:?}: the router follows no redirect (the login carries the password); set horizon.address to the Connection Server's own address")]
    Redirect {
        what: String,
        status: u16,
        location: String,
    },
    #[error("Horizon's answer for {what} is larger than {MAX_ANSWER} bytes: lower horizon.pageSize")]
    TooLarge { what: String },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// Largest answer read from Horizon (a page of audit events is a few hundred KiB).
pub const MAX_ANSWER: usize = 16 << 20;
/// Most items a page of audit events is read with (the largest `horizon.pageSize`): a page is
/// read item by item and refused at the first item past it, so an answer of tiny items costs no
/// more than its size.
pub const MAX_PAGE_ITEMS: usize = 1000;
/// Most new events one window of audit events holds; a busier window is narrowed by the source.
pub const MAX_WINDOW_EVENTS: usize = 10_000;
/// Most bytes (of event JSON) one window holds.
pub const MAX_WINDOW_BYTES: usize = 32 << 20;

/// One audit event: its id, time (ms) and JSON text.
#[derive(Debug)]
pub struct Audit {
    pub id: i64,
    pub time: i64,
    pub json: Box<RawValue>,
}

/// The new audit events of a time window, or that there are too many to hold.
#[derive(Debug)]
pub enum Window {
    /// Every new event of the window (any order), and how many had no numeric id and time.
    All { events: Vec<Audit>, unreadable: usize },
    /// More new events than the limits allow: the oldest time among the new events read
    /// (pages come newest first, so the rest are at or before it).
    TooMany { oldest: i64 },
}

/// Where and as whom to log in.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub domain: String,
    pub username: String,
    pub password: Secret,
}

#[derive(Deserialize)]
struct Tokens {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
}

pub struct HorizonClient {
    http: reqwest::Client,
    base: url::Url,
    creds: Credentials,
    access: Option<String>,
    refresh: Option<String>,
}

impl HorizonClient {
    /// A client for `base` with the router's TLS policy (`insecureSSL`, `certificates.rootCAs`).
    pub fn new(base: url::Url, creds: Credentials, tls_options: &TlsOptions) -> Result<HorizonClient, HorizonError> {
        let http = tls::http_client(tls_options, Duration::from_secs(30))?;
        Ok(HorizonClient {
            http,
            base,
            creds,
            access: None,
            refresh: None,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base.as_str().trim_end_matches('/'), path)
    }

    async fn post(&self, path: &str, body: Value) -> Result<reqwest::Response, HorizonError> {
        let url = self.url(path);
        (self.http.post(&url).json(&body).send().await).map_err(|e| HorizonError::Transport {
            url,
            detail: describe(&e),
        })
    }

    /// Logs in with the Active Directory account.
    pub async fn login(&mut self) -> Result<(), HorizonError> {
        let body = json!({
            "domain": self.creds.domain,
            "username": self.creds.username,
            "password": self.creds.password.expose(),
        });
        let resp = self.post("rest/login", body).await?;
        let status = resp.status().as_u16();
        if status == 400 || status == 401 || status == 403 {
            return Err(HorizonError::Login {
                domain: self.creds.domain.clone(),
                user: self.creds.username.clone(),
                status,
            });
        }
        let tokens: Tokens = decode(resp, "rest/login").await?;
        self.access = Some(tokens.access_token);
        self.refresh = tokens.refresh_token;
        Ok(())
    }

    /// A new access token from the refresh token; false when that has expired too.
    async fn refresh(&mut self) -> Result<bool, HorizonError> {
        let Some(token) = self.refresh.clone() else {
            return Ok(false);
        };
        let resp = self.post("rest/refresh", json!({ "refresh_token": token })).await?;
        if matches!(resp.status().as_u16(), 400 | 401 | 403) {
            return Ok(false);
        }
        let tokens: Tokens = decode(resp, "rest/refresh").await?;
        self.access = Some(tokens.access_token);
        if tokens.refresh_token.is_some() {
            self.refresh = tokens.refresh_token;
        }
        Ok(true)
    }

    /// Ends the session (best effort).
    pub async fn logout(&mut self) {
        if let Some(token) = self.refresh.take() {
            if let Err(e) = self.post("rest/logout", json!({ "refresh_token": token })).await {
                debug!("Horizon logout failed: {e}");
            }
        }
        self.access = None;
    }

    /// GET with the bearer token; on 401 refreshes (or logs in again) and tries once more.
    async fn get<T: serde::de::DeserializeOwned>(
        &mut self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, HorizonError> {
        if self.access.is_none() {
            self.login().await?;
        }
        for attempt in 0..2 {
            let url = self.url(path);
            let resp = self
                .http
                .get(&url)
                .query(query)
                .bearer_auth(self.access.as_deref().unwrap_or_default())
                .send()
                .await
                .map_err(|e| HorizonError::Transport {
                    url: url.clone(),
                    detail: describe(&e),
                })?;
            if resp.status().as_u16() == 401 && attempt == 0 {
                if self.refresh().await? {
                    debug!("Horizon access token refreshed");
                } else {
                    debug!("Horizon refresh token expired: logging in again");
                    self.login().await?;
                }
                continue;
            }
            return decode(resp, path).await;
        }
        Err(HorizonError::Status {
            what: path.to_string(),
            status: 401,
            body: "still unauthorized after a new login".into(),
        })
    }

    /// The audit events whose time is within `from_ms..=to_ms` (to: a day ahead, when `None`)
    /// for which `new(time, id)` holds, page by page, each kept as its JSON text;
    /// [`Window::TooMany`] when more than `max_events` (or [`MAX_WINDOW_BYTES`]) of them are read,
    /// or the window spans more than 1000 pages.
    pub async fn audit_events(
        &mut self,
        from_ms: i64,
        to_ms: Option<i64>,
        page_size: u32,
        max_events: usize,
        new: impl Fn(i64, i64) -> bool,
    ) -> Result<Window, HorizonError> {
        #[derive(Deserialize)]
        struct Key {
            id: Option<i64>,
            time: Option<i64>,
        }
        let to_ms = to_ms.unwrap_or_else(|| chrono::Utc::now().timestamp_millis() + 24 * 3600 * 1000);
        let filter = json!({"type": "Between", "name": "time", "fromValue": from_ms, "toValue": to_ms}).to_string();
        let (mut events, mut unreadable, mut bytes) = (Vec::new(), 0, 0usize);
        let mut oldest = to_ms;
        for page in 1.. {
            let query = [
                ("filter", filter.clone()),
                ("page", page.to_string()),
                ("size", page_size.to_string()),
            ];
            let Page(items) = self.get("rest/external/v1/audit-events", &query).await?;
            let n = items.len();
            if n > page_size as usize {
                return Err(HorizonError::Decode {
                    what: "rest/external/v1/audit-events".into(),
                    detail: format!("a page of {n} items, more than the {page_size} asked for"),
                });
            }
            for json in items {
                match serde_json::from_str::<Key>(json.get()) {
                    Ok(Key {
                        id: Some(id),
                        time: Some(time),
                    }) => {
                        if new(time, id) {
                            oldest = oldest.min(time);
                            bytes += json.get().len();
                            events.push(Audit { id, time, json });
                        }
                    }
                    _ => unreadable += 1,
                }
            }
            if events.len() > max_events || bytes > MAX_WINDOW_BYTES {
                return Ok(Window::TooMany { oldest });
            }
            if n < page_size as usize {
                break;
            }
            if page >= 1000 {
                return Ok(Window::TooMany { oldest });
            }
        }
        Ok(Window::All { events, unreadable })
    }

    /// The first page of audit events without a filter (Horizon lists newest first), to
    /// learn where the stream stands at start.
    pub async fn latest_events(&mut self) -> Result<Vec<(i64, i64)>, HorizonError> {
        #[derive(Deserialize)]
        struct Key {
            id: Option<i64>,
            time: Option<i64>,
        }
        let query = [("page", "1".to_string()), ("size", "10".to_string())];
        let got: Vec<Key> = self.get("rest/external/v1/audit-events", &query).await?;
        Ok(got.into_iter().filter_map(|k| Some((k.id?, k.time?))).collect())
    }
}

/// A page of audit events, each as its JSON text, at most [`MAX_PAGE_ITEMS`].
struct Page(Vec<Box<RawValue>>);

impl<'de> Deserialize<'de> for Page {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Page;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON array of audit events")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Page, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Box<RawValue>>()? {
                    if items.len() == MAX_PAGE_ITEMS {
                        return Err(serde::de::Error::custom(format!(
                            "more than {MAX_PAGE_ITEMS} items in one page"
                        )));
                    }
                    items.push(item);
                }
                Ok(Page(items))
            }
        }
        d.deserialize_seq(V)
    }
}

/// The body of `resp`, at most [`MAX_ANSWER`] bytes.
async fn body(resp: reqwest::Response, what: &str) -> Result<Vec<u8>, HorizonError> {
    read_capped(resp, MAX_ANSWER).await.map_err(|e| match e {
        BodyError::TooLarge { .. } => HorizonError::TooLarge { what: what.to_string() },
        BodyError::Transport(detail) => HorizonError::Decode {
            what: what.to_string(),
            detail,
        },
    })
}

async fn decode<T: serde::de::DeserializeOwned>(resp: reqwest::Response, what: &str) -> Result<T, HorizonError> {
    let status = resp.status();
    if status.is_redirection() {
        let location = (resp.headers().get(reqwest::header::LOCATION))
            .and_then(|l| l.to_str().ok())
            .map(|l| crate::redact::url_credentials(l).chars().take(200).collect())
            .unwrap_or_default();
        return Err(HorizonError::Redirect {
            what: what.to_string(),
            status: status.as_u16(),
            location,
        });
    }
    let status = status.as_u16();
    let bytes = body(resp, what).await?;
    if !(200..300).contains(&status) {
        return Err(HorizonError::Status {
            what: what.to_string(),
            status,
            body: crate::redact::printable(&String::from_utf8_lossy(&bytes).chars().take(200).collect::<String>())
                .into_owned(),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| HorizonError::Decode {
        what: what.to_string(),
        detail: e.to_string(),
    })
}
