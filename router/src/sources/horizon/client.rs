//! The Horizon Server REST client: login with an Active Directory account, bearer tokens,
//! refresh on 401 (a full login when the refresh token has expired too), audit events with a
//! time filter, page by page, and logout.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use tracing::debug;

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
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
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
    pub fn new(base: url::Url, creds: Credentials, insecure: bool) -> Result<HorizonClient, HorizonError> {
        let http = tls::http_client(
            &TlsOptions {
                insecure,
                root_cas: vec![],
            },
            Duration::from_secs(30),
        )?;
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
    async fn get(&mut self, path: &str, query: &[(&str, String)]) -> Result<Value, HorizonError> {
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

    /// Audit events at or after `from_ms` (Horizon's `Between` filter on `time`), every page.
    pub async fn audit_events(&mut self, from_ms: i64, page_size: u32) -> Result<Vec<Value>, HorizonError> {
        let to_ms = chrono::Utc::now().timestamp_millis() + 24 * 3600 * 1000;
        let filter = json!({"type": "Between", "name": "time", "fromValue": from_ms, "toValue": to_ms}).to_string();
        let mut all = Vec::new();
        for page in 1.. {
            let query = [
                ("filter", filter.clone()),
                ("page", page.to_string()),
                ("size", page_size.to_string()),
            ];
            let got = self.get("rest/external/v1/audit-events", &query).await?;
            let items = got.as_array().cloned().ok_or_else(|| HorizonError::Decode {
                what: "audit-events".into(),
                detail: "not a JSON array".into(),
            })?;
            let n = items.len();
            all.extend(items);
            if n < page_size as usize || page >= 1000 {
                break;
            }
        }
        Ok(all)
    }

    /// The first page of audit events without a filter (Horizon lists newest first), to
    /// learn where the stream stands at start.
    pub async fn latest_events(&mut self) -> Result<Vec<Value>, HorizonError> {
        let query = [("page", "1".to_string()), ("size", "10".to_string())];
        let got = self.get("rest/external/v1/audit-events", &query).await?;
        Ok(got.as_array().cloned().unwrap_or_default())
    }
}

async fn decode<T: serde::de::DeserializeOwned>(resp: reqwest::Response, what: &str) -> Result<T, HorizonError> {
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| HorizonError::Decode {
        what: what.to_string(),
        detail: describe(&e),
    })?;
    if !(200..300).contains(&status) {
        return Err(HorizonError::Status {
            what: what.to_string(),
            status,
            body: text.chars().take(200).collect(),
        });
    }
    serde_json::from_str(&text).map_err(|e| HorizonError::Decode {
        what: what.to_string(),
        detail: e.to_string(),
    })
}
