//! The two limits the router's end-to-end rate is measured against: (a) its own decoder alone
//! turning the same SOAP pages into CloudEvents, and (b) bare HTTP/1.1 POSTs of the same
//! binary-mode requests to the same sink from a minimal hyper client (no pool, no retries).

use std::time::Instant;

use anyhow::{bail, Context};
use bytes::Bytes;
use event_router::cloudevent::{self, Origin};
use event_router::config::{Encoding, EventFormat};
use event_router::delivery::http::encode;
use event_router::vsphere::client::is_read_event;
use event_router::vsphere::event::VsphereEvent;
use event_router::vsphere::soap::parse_response_lazy;
use event_router::vsphere::types::TypeTable;
use http_body_util::Full;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

use crate::fake_vcenter;

/// The ReadNextEvents answers for events 1..=n, 1000 per page, as the fake vCenter sends them.
pub fn pages(n: usize) -> Vec<String> {
    (0..n.div_ceil(1000))
        .map(|p| {
            let events: String = (p * 1000 + 1..=((p + 1) * 1000).min(n))
                .map(|k| fake_vcenter::event_xml(k, "returnval"))
                .collect();
            fake_vcenter::envelope("ReadNextEvents", &events)
        })
        .collect()
}

fn origin() -> Origin {
    Origin {
        source: "http://127.0.0.1/sdk".into(),
        api_version: "8.0.3.0".into(),
        format: EventFormat::Router,
    }
}

/// Decodes every event of `pages` into a CloudEvent, as the router does (the page read lazily,
/// each event expanded and decoded in turn), handing each to `f`.
fn each_event(pages: &[String], mut f: impl FnMut(cloudevents::Event) -> anyhow::Result<()>) -> anyhow::Result<usize> {
    let table = TypeTable::builtin();
    let origin = origin();
    let mut done = 0usize;
    for page in pages {
        let body = parse_response_lazy(page.clone(), is_read_event)?;
        for el in body.children {
            let ev = VsphereEvent::decode(&el, table)?;
            f(cloudevent::from_vsphere(ev, &origin)?)?;
            done += 1;
        }
    }
    Ok(done)
}

/// Events per second of the router's decoder alone (one core): SOAP pages -> CloudEvents.
pub fn parser_rate(pages: &[String], n: usize) -> anyhow::Result<f64> {
    let start = Instant::now();
    let done = each_event(pages, |ce| {
        std::hint::black_box(&ce);
        Ok(())
    })?;
    if done != n {
        bail!("the parser decoded {done} of {n} events");
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// One ready-made request: binary-mode headers and body.
pub struct Request {
    headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    body: Bytes,
}

/// The binary-mode requests the router would send for the same pages.
pub fn requests(pages: &[String]) -> anyhow::Result<Vec<Request>> {
    let mut out = Vec::new();
    each_event(pages, |ce| {
        let (headers, body) = encode(&ce, Encoding::Binary)?;
        let headers = headers
            .iter()
            .filter_map(|(k, v)| {
                let name = hyper::header::HeaderName::from_bytes(k.as_str().as_bytes()).ok()?;
                let value = hyper::header::HeaderValue::from_bytes(v.as_bytes()).ok()?;
                Some((name, value))
            })
            .collect();
        out.push(Request {
            headers,
            body: Bytes::from(body),
        });
        Ok(())
    })?;
    Ok(out)
}

/// Sends `requests` over `connections` keep-alive connections, each one request at a time.
/// Returns requests per second.
pub async fn bare_post_rate(
    requests: std::sync::Arc<Vec<Request>>,
    url: &str,
    connections: usize,
) -> anyhow::Result<f64> {
    let uri: hyper::Uri = url.parse().context("sink URL")?;
    let authority = uri.authority().context("sink URL has no host")?.to_string();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let requests = requests.clone();
        let authority = authority.clone();
        let uri = uri.clone();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(&authority).await?;
            stream.set_nodelay(true)?;
            let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            for r in requests.iter().skip(c).step_by(connections) {
                let mut req = hyper::Request::post(uri.clone())
                    .header(hyper::header::HOST, authority.as_str())
                    .body(Full::new(r.body.clone()))?;
                req.headers_mut().extend(r.headers.iter().cloned());
                sender.ready().await?;
                let answer = sender.send_request(req).await?;
                if !answer.status().is_success() {
                    bail!("the sink answered {}", answer.status());
                }
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(requests.len() as f64 / start.elapsed().as_secs_f64())
}
