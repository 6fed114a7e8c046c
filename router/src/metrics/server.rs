//! The metrics endpoints: VEBA-compatible `/stats`, Prometheus `/metrics`, and the probes
//! `/healthz` and `/readyz`. Who may call them is decided before they run, by the access layer
//! of the server that serves them (`crate::endpoints`).

use std::fmt::Write as _;
use std::sync::Arc;

use super::process;
use super::registry::Registry;
use super::stats::ComponentStats;
use crate::http_auth::Authenticated;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Extension;

/// The probes: answered to anyone (kubelet sends no credentials).
pub const PUBLIC: [&str; 2] = ["/healthz", "/readyz"];
/// VEBA's metrics documents: open when no credentials are configured (as VEBA's were), behind
/// them otherwise.
pub const METRICS: [&str; 2] = ["/stats", "/metrics"];

/// The routes, by path.
pub fn routes() -> Vec<(&'static str, MethodRouter<Arc<Registry>>)> {
    vec![
        ("/stats", get(stats)),
        ("/metrics", get(prometheus)),
        ("/healthz", get(|| async { "ok\n" })),
        ("/readyz", get(readyz)),
    ]
}

/// The /stats document: VEBA's expvar keys (`cmdline`, `memstats`, `system.*`, and the
/// `vmware.event.router.stats` map keyed by component type) and this router's additions.
pub fn stats_json(state: &Registry) -> serde_json::Value {
    let mut comps = serde_json::Map::new();
    for c in &state.components {
        let mut v = serde_json::json!({
            "type": c.role,
            "name": c.name,
            "address": c.address,
            "started": c.started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "events_total": c.total(),
            "events_err": c.errors(),
            "events_per_sec": c.events_per_sec(),
        });
        // With leader election, whether this replica streams the provider (holds its Lease).
        let health = state.health.iter().find(|(name, _)| *name == c.name);
        if let Some(leader) = health
            .filter(|_| c.role == "EventProvider")
            .and_then(|(_, h)| h.leader())
        {
            v["leader"] = leader.into();
        }
        if c.kind == "vcenter" {
            v["alarm_lookups"] = c.alarm_lookups().into();
            v["alarm_lookup_failures"] = c.alarm_lookup_failures().into();
        }
        if c.role == "EventProcessor" {
            v["invocations"] = serde_json::to_value(c.invocations()).unwrap_or_default();
            v["events_dead_lettered"] = c.dead_letters().into();
            v["dead_letter_write_failures"] = c.dead_letter_failures().into();
            v["sink_unavailable_since"] = c.unavailable().map(|(_, since)| since).into();
            v["events_waiting"] = c.queue().0.into();
        }
        // VEBA keys the map by component type; a type used more than once is keyed type:name.
        let shared = state.components.iter().filter(|o| o.kind == c.kind).count() > 1;
        let key = if shared {
            format!("{}:{}", c.kind, c.name)
        } else {
            c.kind.to_string()
        };
        comps.insert(key, v);
    }
    // VEBA's expvar keys (flat, as dashboards and scripts read them), then this router's
    // additions (`system` nested, with the version).
    let uptime = state.started.elapsed().as_secs();
    let (l1, l5, l15) = process::load_average().unwrap_or((0.0, 0.0, 0.0));
    serde_json::json!({
        "cmdline": std::env::args().collect::<Vec<_>>(),
        "memstats": process::memstats(),
        "system.allLoad": {"Load1": l1, "Load5": l5, "Load15": l15},
        "system.lastLoad": l1,
        "system.numberOfSeconds": uptime,
        "system.programName": std::env::args().next().unwrap_or_else(|| "event-router".into()),
        "system": {
            "numberOfSeconds": uptime,
            "programName": "event-router",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "vmware.event.router.stats": comps,
    })
}

async fn stats(State(state): State<Arc<Registry>>) -> Response {
    axum::Json(stats_json(&state)).into_response()
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// One per-component counter of the Prometheus text.
struct Counter {
    metric: &'static str,
    help: &'static str,
    processors_only: bool,
    value: fn(&ComponentStats) -> u64,
}

/// The Prometheus text exposition of the same counters.
pub fn prometheus_text(state: &Registry) -> String {
    let mut out = String::new();
    let counters = [
        Counter {
            metric: "event_router_events_total",
            help: "Events handled by a component.",
            processors_only: false,
            value: ComponentStats::total,
        },
        Counter {
            metric: "event_router_events_errors_total",
            help: "Events a component failed to read or deliver.",
            processors_only: false,
            value: ComponentStats::errors,
        },
        Counter {
            metric: "event_router_retries_total",
            help: "Deliveries a processor tried again (connection errors, timeouts, 408/409/429, 5xx).",
            processors_only: true,
            value: ComponentStats::retries,
        },
        Counter {
            metric: "event_router_dead_letters_total",
            help: "Events a processor gave up on and wrote to the dead-letter file.",
            processors_only: true,
            value: ComponentStats::dead_letters,
        },
        Counter {
            metric: "event_router_dead_letter_write_failures_total",
            help: "Failed writes to the dead-letter file (the event stays undelivered and is tried again).",
            processors_only: true,
            value: ComponentStats::dead_letter_failures,
        },
    ];
    for k in counters {
        let metric = k.metric;
        let _ = writeln!(out, "# HELP {metric} {}\n# TYPE {metric} counter", k.help);
        let which = state
            .components
            .iter()
            .filter(|c| !k.processors_only || c.role == "EventProcessor");
        for c in which {
            let _ = writeln!(
                out,
                "{metric}{{component=\"{}\",name=\"{}\"}} {}",
                c.kind,
                escape_label(&c.name),
                (k.value)(c)
            );
        }
    }
    let _ = writeln!(out, "# HELP event_router_invocations_total Deliveries by event name and result.\n# TYPE event_router_invocations_total counter");
    for c in state.components.iter().filter(|c| c.role == "EventProcessor") {
        for (event, inv) in c.invocations() {
            for (result, n) in [("success", inv.success), ("failure", inv.failure)] {
                let _ = writeln!(
                    out,
                    "event_router_invocations_total{{component=\"{}\",name=\"{}\",event=\"{}\",result=\"{result}\"}} {n}",
                    c.kind,
                    escape_label(&c.name),
                    escape_label(&event)
                );
            }
        }
    }
    let _ = writeln!(out, "# HELP event_router_vcenter_session_up 1 while the vCenter session is logged in.\n# TYPE event_router_vcenter_session_up gauge");
    for (name, h) in &state.health {
        let _ = writeln!(
            out,
            "event_router_vcenter_session_up{{name=\"{}\"}} {}",
            escape_label(name),
            u8::from(h.session_up())
        );
    }
    let _ = writeln!(out, "# HELP event_router_leader 1 while this replica holds the provider's Lease and streams it (leader election on; 0: standby).\n# TYPE event_router_leader gauge");
    for (name, h) in &state.health {
        if let Some(leader) = h.leader() {
            let _ = writeln!(
                out,
                "event_router_leader{{name=\"{}\"}} {}",
                escape_label(name),
                u8::from(leader)
            );
        }
    }
    for (metric, help, pick) in [
        (
            "event_router_queue_depth",
            "Events waiting in a processor's queue.",
            (|q: (u64, u64)| q.0) as fn((u64, u64)) -> u64,
        ),
        (
            "event_router_queue_capacity",
            "How many events a processor's queue holds (a full queue pauses the sources).",
            |q: (u64, u64)| q.1,
        ),
    ] {
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} gauge");
        for c in state.components.iter().filter(|c| c.role == "EventProcessor") {
            let _ = writeln!(
                out,
                "{metric}{{component=\"{}\",name=\"{}\"}} {}",
                c.kind,
                escape_label(&c.name),
                pick(c.queue())
            );
        }
    }
    for (metric, help, pick) in [
        (
            "event_router_alarm_lookups_total",
            "Reads of alarm definitions (one PropertyCollector call each) by a vCenter source.",
            ComponentStats::alarm_lookups as fn(&ComponentStats) -> u64,
        ),
        (
            "event_router_alarm_lookup_failures_total",
            "Alarms whose definition could not be read: their events were delivered without AlarmInfo.",
            ComponentStats::alarm_lookup_failures,
        ),
    ] {
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} counter");
        for c in state.components.iter().filter(|c| c.kind == "vcenter") {
            let _ = writeln!(out, "{metric}{{name=\"{}\"}} {}", escape_label(&c.name), pick(c));
        }
    }
    let _ = writeln!(out, "# HELP event_router_sink_unavailable_seconds Seconds a processor's sink has failed with nothing delivered since (0: delivering).\n# TYPE event_router_sink_unavailable_seconds gauge");
    for c in state.components.iter().filter(|c| c.role == "EventProcessor") {
        let _ = writeln!(
            out,
            "event_router_sink_unavailable_seconds{{component=\"{}\",name=\"{}\"}} {}",
            c.kind,
            escape_label(&c.name),
            c.unavailable().map_or(0, |(d, _)| d.as_secs())
        );
    }
    let _ = writeln!(out, "# HELP event_router_uptime_seconds Seconds since the router started.\n# TYPE event_router_uptime_seconds gauge");
    let _ = writeln!(out, "event_router_uptime_seconds {}", state.started.elapsed().as_secs());
    out
}

async fn prometheus(State(state): State<Arc<Registry>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus_text(&state),
    )
        .into_response()
}

/// 200 when ready, 503 when not; the reasons only to a client the access layer let in (they
/// name vCenters and sinks), so a probe through the ingress learns nothing but the status.
async fn readyz(State(state): State<Arc<Registry>>, who: Option<Extension<Authenticated>>) -> Response {
    let problems = state.not_ready();
    if problems.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else if who.is_some() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", problems.join("; ")),
        )
            .into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::stats::Health;
    use std::time::Duration;

    fn state() -> Registry {
        let p = ComponentStats::new("EventProvider", "vcenter", "vc", "https://vc/sdk");
        let k = ComponentStats::new("EventProcessor", "knative", "kn", "http://sink");
        p.event();
        k.event();
        k.invocation("VmPoweredOnEvent", true);
        Registry::new(vec![p, k], vec![("vc".into(), Health::new(Duration::from_secs(30)))])
    }

    #[test]
    fn stats_document_has_veba_shape() {
        let v = stats_json(&state());
        let s = &v["vmware.event.router.stats"];
        assert_eq!(s["vcenter"]["type"], "EventProvider");
        assert_eq!(s["vcenter"]["events_total"], 1);
        assert_eq!(s["knative"]["invocations"]["VmPoweredOnEvent"]["SuccessCount"], 1);
        // VEBA's expvar keys, flat, with Go's types.
        assert!(v["system.numberOfSeconds"].is_u64(), "{v}");
        assert!(v["system.programName"].is_string(), "{v}");
        assert!(v["system.lastLoad"].is_f64(), "{v}");
        for k in ["Load1", "Load5", "Load15"] {
            assert!(v["system.allLoad"][k].is_f64(), "{v}");
        }
        for k in ["Alloc", "HeapAlloc", "HeapInuse", "Sys"] {
            assert!(v["memstats"][k].as_u64().is_some_and(|n| n > 0), "{k}: {v}");
        }
        assert!(v["cmdline"].is_array());
        assert_eq!(v["system"]["programName"], "event-router", "the addition stays");
    }

    #[test]
    fn prometheus_text_has_counters() {
        let t = prometheus_text(&state());
        assert!(
            t.contains("event_router_events_total{component=\"vcenter\",name=\"vc\"} 1"),
            "{t}"
        );
        assert!(t.contains(
            "event_router_invocations_total{component=\"knative\",name=\"kn\",event=\"VmPoweredOnEvent\",result=\"success\"} 1"
        ));
        assert!(t.contains("event_router_vcenter_session_up{name=\"vc\"} 0"), "{t}");
        assert!(!t.contains("event_router_leader{"), "no election, no leader gauge: {t}");
    }

    #[test]
    fn with_leader_election_stats_and_metrics_say_who_leads() {
        let state = state();
        state.health[0].1.set_leader(false);
        let v = stats_json(&state);
        assert_eq!(v["vmware.event.router.stats"]["vcenter"]["leader"], false, "{v}");
        assert!(v["vmware.event.router.stats"]["knative"].get("leader").is_none(), "{v}");
        assert!(prometheus_text(&state).contains("event_router_leader{name=\"vc\"} 0"));
        state.health[0].1.set_leader(true);
        assert_eq!(
            stats_json(&state)["vmware.event.router.stats"]["vcenter"]["leader"],
            true
        );
        assert!(prometheus_text(&state).contains("event_router_leader{name=\"vc\"} 1"));
    }
}
