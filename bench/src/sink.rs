//! The loopback Knative-style sink: answers 202 to every POST (after an optional delay),
//! counts them, and records each event's latency: arrival minus its `ce-time` header.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};

/// What the sink has seen.
#[derive(Default)]
pub struct Seen {
    pub count: AtomicU64,
    /// Milliseconds from `ce-time` to arrival, one per event that carried a time.
    pub latencies_ms: Mutex<Vec<f64>>,
    /// The same by `ce-source` (which vCenter the event came from).
    pub by_source_ms: Mutex<std::collections::HashMap<String, Vec<f64>>>,
}

impl Seen {
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn latencies(&self) -> Vec<f64> {
        self.latencies_ms.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn latencies_by_source(&self) -> std::collections::HashMap<String, Vec<f64>> {
        self.by_source_ms.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

fn latency_ms(headers: &HeaderMap) -> Option<f64> {
    let raw = headers.get("ce-time")?.to_str().ok()?;
    let decoded = percent_decode(raw);
    let time = chrono::DateTime::parse_from_rfc3339(&decoded).ok()?;
    let ms = (chrono::Utc::now() - time.with_timezone(&chrono::Utc)).num_microseconds()? as f64 / 1000.0;
    Some(ms)
}

/// `ce-` header values are percent-encoded by the HTTP binding; times only ever carry `%3A`-style escapes.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Starts a sink on a loopback port; `delay` holds every answer. Returns its URL.
pub async fn start(seen: Arc<Seen>, delay: Duration, record_latency: bool) -> anyhow::Result<String> {
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let seen = seen.clone();
        async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if record_latency {
                if let (Some(ms), Ok(mut all)) = (latency_ms(&headers), seen.latencies_ms.lock()) {
                    all.push(ms);
                    let source = headers
                        .get("ce-source")
                        .and_then(|v| v.to_str().ok())
                        .map(percent_decode);
                    if let (Some(source), Ok(mut by)) = (source, seen.by_source_ms.lock()) {
                        by.entry(source).or_default().push(ms);
                    }
                }
            }
            seen.count.fetch_add(1, Ordering::Relaxed);
            StatusCode::ACCEPTED
        }
    });
    serve(app).await
}

/// Serves `app` on a loopback port, on this thread's runtime; its URL.
pub async fn serve(app: axum::Router) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}/"))
}

/// The p-th percentile (0..=100) of `values`, nearest rank.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 100.0);
        assert_eq!(percentile(&v, 99.0), 198.0);
        assert_eq!(percentile(&v, 100.0), 200.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn header_times_are_percent_decoded() {
        assert_eq!(percent_decode("2026-11-30T10%3A00%3A00Z"), "2026-11-30T10:00:00Z");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
