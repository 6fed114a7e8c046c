//! A fast fake vCenter for benchmarks: the SOAP methods the router uses, over pre-generated
//! events (the shapes vcsim records: power operations with datacenter, host and VM arguments
//! and messages), to which [`FakeVcenter::post`] adds events as they happen. ReadNextEvents
//! tails in key order per collector, as a real vCenter does; WaitForUpdatesEx reports
//! `latestPage` when it has events the last report had not, else waits until one is posted or
//! `maxWaitSeconds` passes, as vCenter does; everything else is answered as the router expects. `GET /sdk/vimServiceVersions.xml`, a full enough ServiceContent and
//! UserSession let pyVmomi's SmartConnect and govmomi log in and read the same pages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::IntoResponse;
use axum::routing::{get, post};

/// Start of the generated history; CurrentTime answers one second before it.
pub const T0_MILLIS: i64 = 1_796_032_800_000;

const KINDS: [(&str, &str); 4] = [
    ("VmStoppingEvent", "is stopping"),
    ("VmPoweredOffEvent", "is powered off"),
    ("VmStartingEvent", "is starting"),
    ("VmPoweredOnEvent", "is powered on"),
];

/// How many VMs the generated events are spread over, unless told otherwise.
pub const OBJECTS: usize = 500;

/// Event `key` (1-based) as vim25 XML, under `tag`, created at the generated history's time.
pub fn event_xml(key: usize, tag: &str) -> String {
    event_xml_at(key, tag, T0_MILLIS + key as i64, OBJECTS)
}

/// Event `key` as vim25 XML, under `tag`, created at `millis` (Unix time), of VM `key % objects`.
fn event_xml_at(key: usize, tag: &str, millis: i64, objects: usize) -> String {
    let (kind, what) = KINDS[key % KINDS.len()];
    let vm = key % objects.max(1);
    let host = vm % 8;
    let time = chrono::DateTime::from_timestamp_millis(millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default();
    format!(
        r#"<{tag} xsi:type="{kind}"><key>{key}</key><chainId>{key}</chainId><createdTime>{time}</createdTime><userName>VSPHERE.LOCAL\Administrator</userName><datacenter><name>DC0</name><datacenter type="Datacenter">datacenter-2</datacenter></datacenter><computeResource><name>DC0_C0</name><computeResource type="ClusterComputeResource">domain-c7</computeResource></computeResource><host><name>DC0_C0_H{host}</name><host type="HostSystem">host-{host}</host></host><vm><name>vm-{vm:04}</name><vm type="VirtualMachine">vm-{vm}</vm></vm><fullFormattedMessage>vm-{vm:04} on DC0_C0_H{host} in DC0 {what}</fullFormattedMessage><template>false</template></{tag}>"#
    )
}

/// What vCenter 8.0U3 publishes for clients choosing an API version (pyVmomi reads it).
const SERVICE_VERSIONS: &str = r#"<?xml version="1.0" encoding="UTF-8" ?>
<namespaces version="1.0">
 <namespace>
  <name>urn:vim25</name>
  <version>8.0.3.0</version>
  <priorVersions>
   <version>8.0.2.0</version>
   <version>8.0.1.0</version>
   <version>8.0.0.0</version>
   <version>7.0.3.0</version>
   <version>7.0</version>
   <version>6.7</version>
   <version>6.5</version>
  </priorVersions>
 </namespace>
</namespaces>
"#;

struct State {
    events: Vec<String>,
    /// Each event's creation time (Unix milliseconds).
    created: Vec<i64>,
    /// Collector -> (next index, page size).
    collectors: HashMap<String, (usize, usize)>,
    next_id: usize,
    /// How many events there were at the last report of `latestPage`.
    reported: usize,
    /// The collector whose `latestPage` the property filter watches (CreateFilter's `obj`).
    watched: String,
    /// How many VMs the events are spread over.
    objects: usize,
}

impl State {
    /// `n` events of `objects` VMs recorded before the start, no collectors.
    fn new(n: usize, objects: usize) -> State {
        State {
            events: (1..=n)
                .map(|k| event_xml_at(k, "returnval", T0_MILLIS + k as i64, objects))
                .collect(),
            created: (1..=n).map(|k| T0_MILLIS + k as i64).collect(),
            collectors: HashMap::new(),
            next_id: 0,
            reported: 0,
            watched: String::new(),
            objects,
        }
    }

    /// The newest events, newest first, as a collector's `latestPage` holds them: as many as
    /// its page size ("the viewable latest page", which SetCollectorPageSize sets).
    fn latest_page(&self, collector: &str) -> String {
        let size = self.collectors.get(collector).map_or(10, |c| c.1);
        let n = self.events.len();
        (n.saturating_sub(size)..n)
            .rev()
            .map(|i| event_xml_at(i + 1, "Event", self.created[i], self.objects))
            .collect()
    }
}

/// A running fake vCenter: its SDK URL, and a way to post events to it as they happen.
#[derive(Clone)]
pub struct FakeVcenter {
    pub url: String,
    state: Arc<Mutex<State>>,
    posted: Arc<tokio::sync::Notify>,
}

impl FakeVcenter {
    /// Records a new event, created now, and wakes the pending WaitForUpdatesEx.
    pub fn post(&self) {
        let now = chrono::Utc::now().timestamp_millis();
        {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let key = s.events.len() + 1;
            let objects = s.objects;
            s.events.push(event_xml_at(key, "returnval", now, objects));
            s.created.push(now);
        }
        self.posted.notify_waiters();
    }
}

pub fn envelope(method: &str, inner: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><{method}Response xmlns="urn:vim25">{inner}</{method}Response></soapenv:Body></soapenv:Envelope>"#
    )
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = s.find(open)? + open.len();
    let end = s[start..].find(close)? + start;
    Some(&s[start..end])
}

/// The EventHistoryCollector a request is about (its `_this`, or the `obj` a property
/// request names).
fn collector_of(body: &str) -> &str {
    between(body, r#"type="EventHistoryCollector">"#, "<").unwrap_or("")
}

/// A request's `maxCount` (10 when absent, vCenter's default page size).
fn max_count(body: &str) -> usize {
    between(body, "<maxCount>", "<")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

/// The method element's local name: the first element inside the SOAP Body, whatever the prefixes.
fn soap_method(body: &str) -> Option<&str> {
    let after = &body[body.find("Body")?..];
    let open = &after[after.find('<')? + 1..];
    let name = open.split([' ', '>', '/']).next()?;
    Some(name.rsplit(':').next().unwrap_or(name))
}

async fn handle(state: Arc<Mutex<State>>, posted: Arc<tokio::sync::Notify>, body: String) -> axum::response::Response {
    let method = soap_method(&body).unwrap_or("").to_string();
    let reply = |inner: &str| envelope(&method, inner);
    let answer = match method.as_str() {
        "RetrieveServiceContent" => reply(
            r#"<returnval><rootFolder type="Folder">group-d1</rootFolder><propertyCollector type="PropertyCollector">propertyCollector</propertyCollector><about><name>VMware vCenter Server</name><fullName>VMware vCenter Server 8.0.3 build-0 (benchmark fake)</fullName><vendor>VMware, Inc.</vendor><version>8.0.3</version><build>0</build><localeVersion>INTL</localeVersion><localeBuild>000</localeBuild><osType>linux-x64</osType><productLineId>vpx</productLineId><apiType>VirtualCenter</apiType><apiVersion>8.0.3.0</apiVersion><instanceUuid>bench</instanceUuid></about><sessionManager type="SessionManager">SessionManager</sessionManager><eventManager type="EventManager">EventManager</eventManager></returnval>"#,
        ),
        "Login" => {
            let headers = [("set-cookie", "vmware_soap_session=\"bench\"; Path=/; HttpOnly")];
            return (
                headers,
                reply(&format!(
                    "<returnval><key>bench</key><userName>{user}</userName><fullName>{user}</fullName><loginTime>2026-11-30T10:00:00Z</loginTime><lastActiveTime>2026-11-30T10:00:00Z</lastActiveTime><locale>en</locale><messageLocale>en</messageLocale><extensionSession>false</extensionSession><ipAddress>127.0.0.1</ipAddress><userAgent>bench</userAgent><callCount>0</callCount></returnval>",
                    user = between(&body, "<userName>", "<").unwrap_or("bench")
                )),
            )
                .into_response();
        }
        "CurrentTime" => {
            let t = chrono::DateTime::from_timestamp_millis(T0_MILLIS - 1000)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                .unwrap_or_default();
            reply(&format!("<returnval>{t}</returnval>"))
        }
        "CreateCollectorForEvents" => {
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            s.next_id += 1;
            let id = format!("session[bench]collector-{}", s.next_id);
            s.collectors.insert(id.clone(), (0, 10));
            reply(&format!(r#"<returnval type="EventHistoryCollector">{id}</returnval>"#))
        }
        "SetCollectorPageSize" => {
            let id = collector_of(&body).to_string();
            let size: usize = max_count(&body);
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = s.collectors.get_mut(&id) {
                c.1 = size;
            }
            reply("")
        }
        "ReadNextEvents" => {
            let id = collector_of(&body).to_string();
            let max: usize = max_count(&body);
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            let total = s.events.len();
            let from = s.collectors.get(&id).map(|c| c.0).unwrap_or(total);
            let to = (from + max).min(total);
            if let Some(c) = s.collectors.get_mut(&id) {
                c.0 = to;
            }
            reply(&s.events[from..to].concat())
        }
        "DestroyCollector" => {
            let id = collector_of(&body);
            state.lock().unwrap_or_else(|p| p.into_inner()).collectors.remove(id);
            reply("")
        }
        "CreatePropertyCollector" => reply(r#"<returnval type="PropertyCollector">session[1]pc</returnval>"#),
        "CreateFilter" => {
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            s.reported = 0;
            s.watched = collector_of(&body).to_string();
            reply(r#"<returnval type="PropertyFilter">filter-1</returnval>"#)
        }
        "RetrievePropertiesEx" => {
            let page = state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .latest_page(collector_of(&body));
            reply(&format!(
                r#"<returnval><objects><obj type="EventHistoryCollector">c</obj><propSet><name>latestPage</name><val xsi:type="ArrayOfEvent">{page}</val></propSet></objects></returnval>"#
            ))
        }
        "WaitForUpdatesEx" => {
            let wait: u64 = between(&body, "<maxWaitSeconds>", "<")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
            // A change since the last report, or one posted before the wait ends.
            let page = loop {
                let woken = posted.notified();
                {
                    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                    if s.events.len() > s.reported {
                        s.reported = s.events.len();
                        break Some((s.reported, s.latest_page(&s.watched)));
                    }
                }
                if tokio::time::timeout_at(deadline, woken).await.is_err() {
                    break None;
                }
            };
            match page {
                None => reply(""),
                Some((version, page)) => reply(&format!(
                    r#"<returnval><version>{version}</version><filterSet><filter type="PropertyFilter">filter-1</filter><objectSet><kind>modify</kind><obj type="EventHistoryCollector">c</obj><changeSet><name>latestPage</name><op>assign</op><val xsi:type="ArrayOfEvent">{page}</val></changeSet></objectSet></filterSet></returnval>"#
                )),
            }
        }
        _ => reply(""),
    };
    ([("content-type", "text/xml; charset=utf-8")], answer).into_response()
}

/// Serves `n` events on a loopback port; returns the SDK URL.
pub async fn start(n: usize) -> anyhow::Result<String> {
    Ok(serve(n).await?.url)
}

/// Serves `n` events on a loopback port; returns the handle that posts more.
pub async fn serve(n: usize) -> anyhow::Result<FakeVcenter> {
    serve_objects(n, OBJECTS).await
}

/// Serves `n` events spread over `objects` VMs.
pub async fn serve_objects(n: usize, objects: usize) -> anyhow::Result<FakeVcenter> {
    let state = Arc::new(Mutex::new(State::new(n, objects)));
    let posted = Arc::new(tokio::sync::Notify::new());
    let (s, p) = (state.clone(), posted.clone());
    let app = axum::Router::new()
        .route("/sdk", post(move |body: String| handle(s.clone(), p.clone(), body)))
        .route("/sdk/vimServiceVersions.xml", get(|| async { SERVICE_VERSIONS }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(FakeVcenter {
        url: format!("http://{addr}/sdk"),
        state,
        posted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_whatever_the_prefix() {
        let body = r#"<soapenv:Envelope><soapenv:Body><ReadNextEvents xmlns="urn:vim25"><_this>c</_this></ReadNextEvents></soapenv:Body></soapenv:Envelope>"#;
        assert_eq!(soap_method(body), Some("ReadNextEvents"));
        let body = "<Envelope><Body>\n<vim:Login xmlns:vim=\"urn:vim25\"></vim:Login></Body></Envelope>";
        assert_eq!(soap_method(body), Some("Login"));
        assert_eq!(soap_method("no body"), None);
    }

    /// The router's request for `method` (its body as the router writes it) and the answer's text.
    async fn call(state: &Arc<Mutex<State>>, method: &str, inner: &str) -> String {
        let body = format!(
            r#"<soapenv:Envelope><soapenv:Body><{method} xmlns="urn:vim25">{inner}</{method}></soapenv:Body></soapenv:Envelope>"#
        );
        let answer = handle(state.clone(), Arc::new(tokio::sync::Notify::new()), body).await;
        let bytes = axum::body::to_bytes(answer.into_body(), usize::MAX).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn latest_page_holds_as_many_events_as_the_watched_collectors_page_size() {
        let state = Arc::new(Mutex::new(State::new(30, OBJECTS)));
        let created = call(&state, "CreateCollectorForEvents", "").await;
        let id = between(&created, r#"type="EventHistoryCollector">"#, "<")
            .unwrap()
            .to_string();
        let obj = format!(r#"<obj type="EventHistoryCollector">{id}</obj>"#);
        let keys = |answer: &str| answer.matches("<key>").count();
        let read = call(&state, "RetrievePropertiesEx", &obj).await;
        assert_eq!(
            keys(&read),
            10,
            "vCenter's default page size before SetCollectorPageSize"
        );
        let this = format!(r#"<_this type="EventHistoryCollector">{id}</_this>"#);
        call(&state, "SetCollectorPageSize", &format!("{this}<maxCount>7</maxCount>")).await;
        assert_eq!(keys(&call(&state, "RetrievePropertiesEx", &obj).await), 7);
        call(
            &state,
            "CreateFilter",
            &format!("<spec><objectSet>{obj}</objectSet></spec>"),
        )
        .await;
        let update = call(
            &state,
            "WaitForUpdatesEx",
            "<options><maxWaitSeconds>1</maxWaitSeconds></options>",
        )
        .await;
        assert_eq!(keys(&update), 7, "{update}");
        assert!(
            update.contains("<key>30</key>") && update.contains("<key>24</key>") && !update.contains("<key>23</key>")
        );
    }
}
