//! The stream against a scripted SOAP server: a collector that falls behind `latestPage` is
//! caught up from a second collector, in key order, with nothing lost or repeated. vcsim
//! cannot be made to fall behind on purpose, so this one scenario uses a script that follows
//! the vim25 wire format (the same messages vcsim and vCenter send). It also plays a vCenter that
//! never answers the clean-up calls at shutdown.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::header::SET_COOKIE;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use cloudevents::{AttributesReader, Event};

use super::*;
use crate::pipeline::{Filter, Route};
use crate::processors::{BoxFuture, ProcessError, Processor};
use crate::tls::TlsOptions;

const T0: &str = "2026-11-22T10:00:00Z";

fn event(key: i64) -> String {
    let second = key.rem_euclid(60);
    format!(
        r#"<returnval xsi:type="VmPoweredOnEvent"><key>{key}</key><chainId>{key}</chainId><createdTime>2026-11-22T10:00:{:02}Z</createdTime><userName>u</userName><fullFormattedMessage>m{key}</fullFormattedMessage><template>false</template></returnval>"#,
        second
    )
}

fn page(keys: &[i64]) -> String {
    let events: String = keys.iter().map(|k| event(*k).replace("returnval", "Event")).collect();
    format!(
        r#"<returnval><version>v</version><filterSet><filter type="PropertyFilter">f1</filter><objectSet><kind>modify</kind><obj type="EventHistoryCollector">c</obj><changeSet><name>latestPage</name><op>assign</op><val xsi:type="ArrayOfEvent">{events}</val></changeSet></objectSet></filterSet></returnval>"#
    )
}

#[derive(Default)]
struct Script {
    pages: VecDeque<Vec<i64>>,
    collectors: u32,
    current_time_calls: u32,
    reads: Vec<String>,
    /// The clean-up calls at shutdown (destroying filters and collectors, Logout) never answer.
    stuck_cleanup: bool,
}

fn envelope(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"#
    )
}

async fn handle(script: Arc<Mutex<Script>>, body: String) -> axum::response::Response {
    let method = body
        .split("<soapenv:Body><")
        .nth(1)
        .and_then(|s| s.split([' ', '>']).next())
        .unwrap_or("")
        .to_string();
    let reply = |inner: &str| {
        envelope(&format!(
            r#"<{method}Response xmlns="urn:vim25">{inner}</{method}Response>"#
        ))
    };
    let cleanup = [
        "DestroyPropertyFilter",
        "DestroyPropertyCollector",
        "DestroyCollector",
        "Logout",
    ];
    if cleanup.contains(&method.as_str()) && script.lock().unwrap().stuck_cleanup {
        std::future::pending::<()>().await;
    }
    match method.as_str() {
        "RetrieveServiceContent" => reply(
            r#"<returnval><rootFolder type="Folder">group-d1</rootFolder><propertyCollector type="PropertyCollector">propertyCollector</propertyCollector><sessionManager type="SessionManager">SessionManager</sessionManager><eventManager type="EventManager">EventManager</eventManager><about><fullName>scripted</fullName><apiVersion>8.0</apiVersion></about></returnval>"#,
        )
        .into_response(),
        "Login" => ([(SET_COOKIE, "vmware_soap_session=\"abc\"; Path=/; HttpOnly")], reply("<returnval/>")).into_response(),
        "CurrentTime" => {
            script.lock().unwrap().current_time_calls += 1;
            reply(&format!("<returnval>{T0}</returnval>")).into_response()
        }
        "CreateCollectorForEvents" => {
            let n = {
                let mut s = script.lock().unwrap();
                s.collectors += 1;
                s.collectors
            };
            reply(&format!(r#"<returnval type="EventHistoryCollector">c{n}</returnval>"#)).into_response()
        }
        "CreatePropertyCollector" => reply(r#"<returnval type="PropertyCollector">session[abc]pc1</returnval>"#).into_response(),
        "CreateFilter" => reply(r#"<returnval type="PropertyFilter">f1</returnval>"#).into_response(),
        "WaitForUpdatesEx" => {
            let next = script.lock().unwrap().pages.pop_front();
            match next {
                Some(keys) => reply(&page(&keys)).into_response(),
                None => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    reply("").into_response()
                }
            }
        }
        "ReadNextEvents" => {
            let mut s = script.lock().unwrap();
            // Only the second collector (the catch-up one) returns anything, once: 5..=12.
            let c2 = body.contains(">c2<");
            let first = !s.reads.iter().any(|r| r == "c2");
            s.reads.push(if c2 { "c2".into() } else { "c1".into() });
            let events: String = if c2 && first { (5..=12).map(event).collect() } else { String::new() };
            reply(&events).into_response()
        }
        _ => reply("").into_response(),
    }
}

struct Collect(Arc<Mutex<Vec<String>>>);

impl Processor for Collect {
    fn process<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), ProcessError>> {
        Box::pin(async move {
            self.0.lock().unwrap().push(event.id().to_string());
            Ok(())
        })
    }
    fn kind(&self) -> &'static str {
        "collect"
    }
    fn address(&self) -> String {
        "memory".into()
    }
}

/// Streams the scripted pages through a source until `want` events arrived (or 5 s passed);
/// returns the delivered ids and the script.
async fn stream(pages: Vec<Vec<i64>>, want: usize) -> (Vec<i64>, Arc<Mutex<Script>>) {
    let script = Arc::new(Mutex::new(Script::default()));
    script.lock().unwrap().pages.extend(pages);
    stream_script(script, want).await
}

async fn stream_script(script: Arc<Mutex<Script>>, want: usize) -> (Vec<i64>, Arc<Mutex<Script>>) {
    let app = {
        let script = script.clone();
        Router::new().route("/sdk", post(move |body: String| handle(script.clone(), body)))
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let settings = VCenterSettings {
        key: "eventProvider.vcenter".into(),
        client: ClientOptions {
            url: url::Url::parse(&format!("http://{addr}/sdk")).unwrap(),
            username: "u".into(),
            password: crate::config::Secret::new("p"),
            tls: TlsOptions::default(),
            timeout: Duration::from_secs(5),
        },
        format: EventFormat::Router,
        page_size: 5,
        keep_alive: Duration::from_millis(150),
        max_wait: Duration::from_secs(1),
        checkpoint: None,
        alarm_details: true,
        leading: crate::sources::Leading::default(),
    };
    let stats = ComponentStats::new("EventProvider", "vcenter", "vc", "x");
    let proc_stats = ComponentStats::new("EventProcessor", "collect", "c", "x");
    let got = Arc::new(Mutex::new(Vec::new()));
    let (stop, stop_rx) = watch::channel(false);
    let source = VCenterSource::new(settings, stats, Health::new(Duration::from_secs(30)));
    let (fanout, workers) = Fanout::start(
        vec![Route::new(
            Arc::new(Collect(got.clone())),
            proc_stats,
            Filter::default(),
        )],
        None,
    );
    let run = tokio::spawn(source.run(fanout, stop_rx));
    for _ in 0..100 {
        if got.lock().unwrap().len() >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(true).unwrap();
    // Calls time out after 5 s here: four clean-up calls that never answer would take 20 s
    // without the clean-up's own bound.
    tokio::time::timeout(Duration::from_secs(12), run)
        .await
        .expect("the source did not stop")
        .unwrap();
    workers.finish(Duration::from_secs(5)).await;
    server.abort();
    let ids: Vec<i64> = got.lock().unwrap().iter().map(|s| s.parse().unwrap()).collect();
    (ids, script)
}

#[tokio::test]
async fn a_collector_that_falls_behind_is_caught_up_in_key_order() {
    // Event 4, then a full page of 5 whose oldest key (8) is past the next expected key (5)
    // while ReadNextEvents returns nothing, then the page moving on.
    let pages = vec![vec![4], vec![12, 11, 10, 9, 8], vec![13, 12, 11, 10, 9]];
    let (ids, script) = stream(pages, 10).await;
    assert_eq!(ids, (4..=13).collect::<Vec<_>>());
    assert_eq!(script.lock().unwrap().collectors, 2, "one catch-up collector");
    // One CurrentTime for the begin time, then the keep-alive every 150 ms.
    assert!(script.lock().unwrap().current_time_calls >= 3, "no session keep-alive");
}

#[tokio::test]
async fn keys_that_wrap_around_past_i32_max_keep_their_order() {
    const MAX: i64 = i32::MAX as i64;
    const MIN: i64 = i32::MIN as i64;
    let pages = vec![
        vec![MAX - 1],
        vec![MIN, MAX, MAX - 1],
        vec![MIN + 1, MIN, MAX],
        vec![MIN + 2, MIN + 1, MIN],
    ];
    let (ids, _) = stream(pages, 5).await;
    assert_eq!(
        ids,
        [MAX - 1, MAX, MIN, MIN + 1, MIN + 2],
        "each once, in vCenter's order"
    );
}

#[tokio::test]
async fn a_vcenter_that_never_answers_the_clean_up_does_not_hold_up_shutdown() {
    let script = Arc::new(Mutex::new(Script {
        stuck_cleanup: true,
        ..Script::default()
    }));
    script.lock().unwrap().pages.extend([vec![4], vec![5, 4]]);
    let (ids, _) = stream_script(script, 2).await;
    assert_eq!(ids, [4, 5]);
}
