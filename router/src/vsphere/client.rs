//! A vim25 SOAP session: service content, login, logout, keep-alive and the event methods.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The largest answer read for a call (a ReadNextEvents page of 1000 events is ~2 MB).
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// An answer larger than this has grown its connection's read buffer (hyper keeps up to
/// ~400 KiB per kept-alive connection, and does not shrink it); the next call asks for its
/// connection to be closed after answering, so an idle stream does not hold that buffer. The
/// page reads (ReadNextEvents, the latestPage read), large by nature, close theirs at once.
/// Measured with `event-bench --many-only --vcenters 50`: idle RSS 73.5 MiB with every
/// connection kept, 38 MiB with none kept, 50 MiB closing only after large answers.
const LARGE_ANSWER: usize = 64 * 1024;

/// The largest WaitForUpdatesEx answer read: one latest page is at most ~2 MB; more means
/// queued page changes (vcsim), which are dropped for a re-read.
pub const MAX_UPDATE: usize = 4 * 1024 * 1024;

use reqwest::header::{CONNECTION, CONTENT_TYPE, COOKIE, SET_COOKIE};

use super::soap::{self, SoapError};
use super::xml::{Element, Path};
use crate::client_body::{read_capped, BodyError};
use crate::client_error::describe;
use crate::config::Secret;
use crate::tls::{self, TlsOptions};

/// An event of a `latestPage` value, in a property update or a property read: read lazily.
pub fn is_page_event(p: &Path<'_>) -> bool {
    p.ends_with(&["changeSet", "val", "*"]) || p.ends_with(&["propSet", "val", "*"])
}

/// An event of a ReadNextEvents answer: read lazily.
pub fn is_read_event(p: &Path<'_>) -> bool {
    p.ends_with(&["ReadNextEventsResponse", "returnval"])
}

/// What the router needs from `ServiceContent`.
#[derive(Debug, Clone, Default)]
pub struct ServiceContent {
    pub root_folder: String,
    pub property_collector: String,
    pub session_manager: String,
    pub event_manager: String,
    pub api_version: String,
    pub full_name: String,
}

/// Connection settings for one vCenter.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The SDK URL, e.g. `https://vc.corp.local/sdk`.
    pub url: url::Url,
    pub username: String,
    pub password: Secret,
    pub tls: TlsOptions,
    /// Upper bound for one call; long polls add their own wait on top.
    pub timeout: Duration,
}

/// One vCenter session over SOAP.
pub struct VimClient {
    http: reqwest::Client,
    opts: ClientOptions,
    cookie: Mutex<Option<String>>,
    service: ServiceContent,
    /// The last answer was larger than [`LARGE_ANSWER`]: close the connection after the next.
    close_next: AtomicBool,
}

impl VimClient {
    /// Builds the HTTP client and reads the service content (no login yet).
    pub async fn connect(opts: ClientOptions) -> Result<VimClient, SoapError> {
        // No redirects: a 3xx answer to Login must not carry the password to another origin.
        let http = tls::client_builder(&opts.tls, opts.timeout)
            .and_then(|b| {
                b.redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| tls::TlsError::Build(e.to_string()))
            })
            .map_err(|e| SoapError::Transport {
                url: opts.url.to_string(),
                detail: e.to_string(),
            })?;
        let mut client = VimClient {
            http,
            opts,
            cookie: Mutex::new(None),
            service: ServiceContent::default(),
            close_next: AtomicBool::new(false),
        };
        client.service = client.retrieve_service_content().await?;
        Ok(client)
    }

    pub fn service(&self) -> &ServiceContent {
        &self.service
    }

    pub fn url(&self) -> &url::Url {
        &self.opts.url
    }

    /// Posts one method body and returns its response element.
    pub async fn call(&self, body: &str, extra_timeout: Duration) -> Result<Element, SoapError> {
        self.call_lazy(body, extra_timeout, MAX_ANSWER, |_| false).await
    }

    /// [`VimClient::call`] refusing answers over `limit` bytes (read in chunks, never whole),
    /// and leaving the elements `lazy` accepts as text (events, see [`xml::parse_lazy`]).
    pub async fn call_lazy(
        &self,
        body: &str,
        extra_timeout: Duration,
        limit: usize,
        lazy: impl Fn(&Path<'_>) -> bool,
    ) -> Result<Element, SoapError> {
        self.post(body, extra_timeout, limit, lazy, false).await
    }

    /// A page read (ReadNextEvents, the latestPage read): large by nature, so its connection is
    /// closed after the answer (see [`LARGE_ANSWER`]).
    async fn read_page(&self, body: &str, lazy: impl Fn(&Path<'_>) -> bool) -> Result<Element, SoapError> {
        self.post(body, Duration::ZERO, MAX_ANSWER, lazy, true).await
    }

    /// One call; `close` asks for its connection to be closed after the answer, as does an
    /// earlier answer over [`LARGE_ANSWER`].
    async fn post(
        &self,
        body: &str,
        extra_timeout: Duration,
        limit: usize,
        lazy: impl Fn(&Path<'_>) -> bool,
        close: bool,
    ) -> Result<Element, SoapError> {
        let url = self.opts.url.to_string();
        let mut req = self
            .http
            .post(self.opts.url.clone())
            .header(CONTENT_TYPE, "text/xml; charset=utf-8")
            .header("SOAPAction", "\"urn:vim25/6.5\"")
            .timeout(self.opts.timeout + extra_timeout)
            .body(soap::envelope(body));
        let cookie = self.cookie.lock().map(|c| c.clone()).unwrap_or(None);
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        let after_large = self.close_next.swap(false, Ordering::Relaxed);
        if close || after_large {
            req = req.header(CONNECTION, "close");
        }
        let resp = req.send().await.map_err(|e| SoapError::Transport {
            url: url.clone(),
            detail: describe(&e),
        })?;
        if let Some(set) = resp.headers().get_all(SET_COOKIE).iter().find_map(|v| {
            let v = v.to_str().ok()?;
            v.starts_with("vmware_soap_session=")
                .then(|| v.split(';').next().unwrap_or(v).to_string())
        }) {
            if let Ok(mut c) = self.cookie.lock() {
                *c = Some(set);
            }
        }
        let status = resp.status();
        if status.is_redirection() {
            let location = (resp.headers().get(reqwest::header::LOCATION))
                .and_then(|l| l.to_str().ok())
                .map(|l| crate::redact::printable(&crate::redact::url_credentials(l)).into_owned())
                .unwrap_or_else(|| "(no Location)".into());
            return Err(SoapError::Redirect {
                url,
                status: status.as_u16(),
                location,
            });
        }
        let mut bytes = read_capped(resp, limit).await.map_err(|e| match e {
            BodyError::TooLarge { limit } => SoapError::TooLarge {
                url: url.clone(),
                limit,
            },
            BodyError::Transport(detail) => SoapError::Transport {
                url: url.clone(),
                detail,
            },
        })?;
        if bytes.len() > LARGE_ANSWER {
            self.close_next.store(true, Ordering::Relaxed);
            // A page is kept while its events are delivered: not with up to twice its size.
            bytes.shrink_to_fit();
        }
        let text = String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        if !text.contains("Envelope") {
            return Err(SoapError::Http {
                url,
                status: status.as_u16(),
            });
        }
        soap::parse_response_lazy(text, lazy)
    }

    async fn retrieve_service_content(&self) -> Result<ServiceContent, SoapError> {
        let body = format!(
            r#"<RetrieveServiceContent xmlns="urn:vim25">{}</RetrieveServiceContent>"#,
            soap::moref("_this", "ServiceInstance", "ServiceInstance")
        );
        let r = self.call(&body, Duration::ZERO).await?;
        let rv = r
            .child("returnval")
            .ok_or_else(|| SoapError::Protocol("no ServiceContent".into()))?;
        let text = |name: &str| rv.child_text(name).unwrap_or_default().trim().to_string();
        let sc = ServiceContent {
            root_folder: text("rootFolder"),
            property_collector: text("propertyCollector"),
            session_manager: text("sessionManager"),
            event_manager: text("eventManager"),
            api_version: rv
                .path(&["about", "apiVersion"])
                .map(|e| e.text.trim().to_string())
                .unwrap_or_default(),
            full_name: rv
                .path(&["about", "fullName"])
                .map(|e| e.text.trim().to_string())
                .unwrap_or_default(),
        };
        if sc.event_manager.is_empty() {
            return Err(SoapError::Protocol(
                "this endpoint has no EventManager (an ESXi host?): point the router at a vCenter".into(),
            ));
        }
        Ok(sc)
    }

    /// Logs in with the configured credentials; the session cookie is kept for later calls.
    pub async fn login(&self) -> Result<(), SoapError> {
        if let Ok(mut c) = self.cookie.lock() {
            *c = None;
        }
        let body = format!(
            r#"<Login xmlns="urn:vim25">{}{}{}</Login>"#,
            soap::moref("_this", "SessionManager", &self.service.session_manager),
            soap::text("userName", &self.opts.username),
            soap::text("password", self.opts.password.expose()),
        );
        self.call(&body, Duration::ZERO).await.map(|_| ())
    }

    /// Ends the session; errors are ignored by callers at shutdown.
    pub async fn logout(&self) -> Result<(), SoapError> {
        let body = format!(
            r#"<Logout xmlns="urn:vim25">{}</Logout>"#,
            soap::moref("_this", "SessionManager", &self.service.session_manager)
        );
        self.call(&body, Duration::ZERO).await.map(|_| ())
    }

    /// vCenter's clock; also serves as the session keep-alive.
    pub async fn current_time(&self) -> Result<String, SoapError> {
        let body = format!(
            r#"<CurrentTime xmlns="urn:vim25">{}</CurrentTime>"#,
            soap::moref("_this", "ServiceInstance", "ServiceInstance")
        );
        let r = self.call(&body, Duration::ZERO).await?;
        r.child_text("returnval")
            .map(|s| s.trim().to_string())
            .ok_or_else(|| SoapError::Protocol("CurrentTime returned nothing".into()))
    }

    /// An EventHistoryCollector over the whole inventory from `begin` (RFC 3339).
    pub async fn create_event_collector(&self, begin: &str) -> Result<String, SoapError> {
        let body = format!(
            r#"<CreateCollectorForEvents xmlns="urn:vim25">{}<filter><entity>{}<recursion>all</recursion></entity><time>{}</time></filter></CreateCollectorForEvents>"#,
            soap::moref("_this", "EventManager", &self.service.event_manager),
            soap::moref("entity", "Folder", &self.service.root_folder),
            soap::text("beginTime", begin),
        );
        let r = self.call(&body, Duration::ZERO).await?;
        r.child_text("returnval")
            .map(|s| s.trim().to_string())
            .ok_or_else(|| SoapError::Protocol("CreateCollectorForEvents returned no collector".into()))
    }

    pub async fn set_collector_page_size(&self, collector: &str, size: u32) -> Result<(), SoapError> {
        let body = format!(
            r#"<SetCollectorPageSize xmlns="urn:vim25">{}{}</SetCollectorPageSize>"#,
            soap::moref("_this", "EventHistoryCollector", collector),
            soap::text("maxCount", &size.to_string()),
        );
        self.call(&body, Duration::ZERO).await.map(|_| ())
    }

    /// Up to `max` events after the collector's position (returned as raw elements).
    pub async fn read_next_events(&self, collector: &str, max: u32) -> Result<Vec<Element>, SoapError> {
        let body = format!(
            r#"<ReadNextEvents xmlns="urn:vim25">{}{}</ReadNextEvents>"#,
            soap::moref("_this", "EventHistoryCollector", collector),
            soap::text("maxCount", &max.to_string()),
        );
        let r = self.read_page(&body, is_read_event).await?;
        Ok(r.into_children_named("returnval").collect())
    }

    pub async fn destroy_collector(&self, collector: &str) -> Result<(), SoapError> {
        let body = format!(
            r#"<DestroyCollector xmlns="urn:vim25">{}</DestroyCollector>"#,
            soap::moref("_this", "EventHistoryCollector", collector)
        );
        self.call(&body, Duration::ZERO).await.map(|_| ())
    }

    /// A PropertyCollector of this stream's own (CreatePropertyCollector on the session's), so
    /// that its filters and long polls are apart from any other stream's. vcsim 0.24.2 gives
    /// every session's default collector the same moref and keeps one change listener per moref
    /// (govmomi simulator/session_manager.go `Session.Get`, registry.go `AddHandler`): with two
    /// streams on the default collector, one stopped hearing of changes and its events came
    /// only with the fallback read, a long-poll wait (10 s) late.
    pub async fn create_property_collector(&self) -> Result<String, SoapError> {
        let body = format!(
            r#"<CreatePropertyCollector xmlns="urn:vim25">{}</CreatePropertyCollector>"#,
            soap::moref("_this", "PropertyCollector", &self.service.property_collector),
        );
        let r = self.call(&body, Duration::ZERO).await?;
        r.child_text("returnval")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| SoapError::Protocol("CreatePropertyCollector returned no collector".into()))
    }

    /// Destroys a collector from [`VimClient::create_property_collector`] (never the session's
    /// own) and its filters.
    pub async fn destroy_property_collector(&self, pc: &str) -> Result<(), SoapError> {
        let body = format!(
            r#"<DestroyPropertyCollector xmlns="urn:vim25">{}</DestroyPropertyCollector>"#,
            soap::moref("_this", "PropertyCollector", pc)
        );
        self.call(&body, Duration::ZERO).await.map(|_| ())
    }

    /// A property filter on the collector's `latestPage`, in the PropertyCollector `pc`.
    pub async fn watch_latest_page(&self, pc: &str, collector: &str) -> Result<String, SoapError> {
        let body = format!(
            r#"<CreateFilter xmlns="urn:vim25">{}<spec><propSet><type>EventHistoryCollector</type><all>false</all><pathSet>latestPage</pathSet></propSet><objectSet>{}<skip>false</skip></objectSet></spec><partialUpdates>false</partialUpdates></CreateFilter>"#,
            soap::moref("_this", "PropertyCollector", pc),
            soap::moref("obj", "EventHistoryCollector", collector),
        );
        let r = self.call(&body, Duration::ZERO).await?;
        r.child_text("returnval")
            .map(|s| s.trim().to_string())
            .ok_or_else(|| SoapError::Protocol("CreateFilter returned no filter".into()))
    }

    pub async fn destroy_filter(&self, filter: &str) -> Result<(), SoapError> {
        let body = format!(
            r#"<DestroyPropertyFilter xmlns="urn:vim25">{}</DestroyPropertyFilter>"#,
            soap::moref("_this", "PropertyFilter", filter)
        );
        self.call(&body, Duration::ZERO).await.map(|_| ())
    }

    /// Long-polls for property changes. Returns the new version and the `latestPage` events
    /// of every change (empty when the wait timed out with no change).
    pub async fn wait_for_latest_page(
        &self,
        pc: &str,
        version: &str,
        max_wait: Duration,
    ) -> Result<(String, Option<Vec<Element>>), SoapError> {
        let body = format!(
            r#"<WaitForUpdatesEx xmlns="urn:vim25">{}{}<options><maxWaitSeconds>{}</maxWaitSeconds></options></WaitForUpdatesEx>"#,
            soap::moref("_this", "PropertyCollector", pc),
            soap::text("version", version),
            max_wait.as_secs().max(1),
        );
        let r = self
            .call_lazy(&body, max_wait + Duration::from_secs(5), MAX_UPDATE, is_page_event)
            .await?;
        let Some(rv) = r.into_children_named("returnval").next() else {
            return Ok((version.to_string(), None));
        };
        let new_version = rv.child_text("version").unwrap_or(version).trim().to_string();
        // Only the newest page matters: older pages in the same answer are contained in it
        // or, if pushed out of it, found by the fell-behind re-read.
        let mut events = Vec::new();
        for fs in rv.into_children_named("filterSet") {
            for os in fs.into_children_named("objectSet") {
                for cs in os.into_children_named("changeSet") {
                    if cs.child_text("name") != Some("latestPage") {
                        continue;
                    }
                    if let Some(val) = cs.into_children_named("val").next() {
                        events = val.children;
                    }
                }
            }
        }
        Ok((new_version, Some(events)))
    }

    /// The `info` (AlarmInfo) of each alarm, by moref, with the session's PropertyCollector
    /// (RetrievePropertiesEx, one call for all); alarms vCenter cannot read are left out.
    pub async fn alarm_infos(&self, alarms: &[String]) -> Result<Vec<(String, Element)>, SoapError> {
        let objects: String = alarms
            .iter()
            .map(|a| format!("<objectSet>{}</objectSet>", soap::moref("obj", "Alarm", a)))
            .collect();
        let body = format!(
            r#"<RetrievePropertiesEx xmlns="urn:vim25">{}<specSet><propSet><type>Alarm</type><pathSet>info</pathSet></propSet>{objects}</specSet><options></options></RetrievePropertiesEx>"#,
            soap::moref("_this", "PropertyCollector", &self.service.property_collector),
        );
        let r = self.call(&body, Duration::ZERO).await?;
        let mut out = Vec::new();
        for rv in r.into_children_named("returnval") {
            for obj in rv.into_children_named("objects") {
                let moref = obj.child_text("obj").unwrap_or_default().trim().to_string();
                for prop in obj.into_children_named("propSet") {
                    if prop.child_text("name") == Some("info") {
                        if let Some(val) = prop.into_children_named("val").next() {
                            out.push((moref.clone(), val));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Reads the collector's `latestPage` directly (RetrievePropertiesEx), for servers that do
    /// not report changes made while no WaitForUpdatesEx was pending (vcsim).
    pub async fn read_latest_page(&self, pc: &str, collector: &str) -> Result<Vec<Element>, SoapError> {
        let body = format!(
            r#"<RetrievePropertiesEx xmlns="urn:vim25">{}<specSet><propSet><type>EventHistoryCollector</type><pathSet>latestPage</pathSet></propSet><objectSet>{}</objectSet></specSet><options></options></RetrievePropertiesEx>"#,
            soap::moref("_this", "PropertyCollector", pc),
            soap::moref("obj", "EventHistoryCollector", collector),
        );
        let r = self.read_page(&body, is_page_event).await?;
        let mut events = Vec::new();
        for rv in r.into_children_named("returnval") {
            for obj in rv.into_children_named("objects") {
                for prop in obj.into_children_named("propSet") {
                    if prop.child_text("name") == Some("latestPage") {
                        if let Some(val) = prop.into_children_named("val").next() {
                            events.extend(val.children);
                        }
                    }
                }
            }
        }
        Ok(events)
    }
}
