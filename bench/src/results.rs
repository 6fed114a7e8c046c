//! `target/bench/results.json`: one run's figures in a versioned schema ([`SCHEMA_VERSION`]),
//! the README's table generated from it ([`markdown`]), and the change of every figure between
//! two runs ([`compare`], `event-bench --compare OLD.json`).
//!
//! Schema, version 1 (version 0, files without `schema_version`, had the same fields less
//! `schema_version`, `date` and the throughput `label`; they are read as such):
//!
//! - `schema_version`, `date` (RFC 3339, when the run ended), `events` (per throughput run),
//!   `machine` {`cores`, `memory_gib`}
//! - `throughput[]`: {`label`, `concurrency`, `vcenters`, `page_size`, `events_per_sec`,
//!   `seconds`, `peak_rss_kib`, `router_cpu_us_per_event`, `sink_and_fake_cpu_us_per_event`,
//!   `checkpoint`, `encoding`, `console_open`, `console_events`, `console_skipped`}
//! - `peers` {`pyvmomi_events_per_sec`, `govmomi_events_per_sec`, `router_vs_pyvmomi`,
//!   `best_router_vs_pyvmomi`, `router_vs_govmomi`}
//! - `limits` {`parser_events_per_sec`, `bare_post[]` {`connections`, `requests_per_sec`},
//!   `router_vs_limit`}; the combined limit is derived from these, not stored
//!   ([`Results::combined_limit`])
//! - `memory` {`idle_kib`, `peak_under_load_kib`, `slow_sink` {`seconds`, `delivered`,
//!   `peak_first_half_kib`, `peak_kib`, `sigterm_to_exit_seconds`}}
//! - `latency_vcsim` {`operations`, `pace_ms`, `events`, `p50_ms`, `p99_ms`, `max_ms`}
//! - `many_vcenters[]` (absent before 2026-12-01: read as none): {`vcenters`, `events`,
//!   `events_per_sec`, `peak_rss_kib`, `idle_rss_kib`, `idle_seconds`, `idle_cpu_percent` (of
//!   one core), `live_events`, `burst`, `p99_ms`, `worst_quiet_p99_ms`, `busy_p99_ms`,
//!   `quiet_alone_p99_ms` (the quiet vCenters' worst p99 without the burst; absent before
//!   2026-12-02: read as unknown)}
//! - `storms[]` (absent before 2026-12-07: read as none): {`events`, `objects`,
//!   `sink_latency_ms` (asked), `measured_latency_ms` (the sink's mean answer time),
//!   `concurrency` (the default), `seconds`, `events_per_sec`, `limit_events_per_sec`
//!   (concurrency / measured latency), `order_breaks`}
//! - `failover` (absent before 2026-12-07: read as not run): {`events` (posted), `rate_per_sec`,
//!   `lease_duration_seconds`, `takeover_seconds` (the leader's SIGKILL to the standby's first
//!   delivery), `lost`, `duplicates`, `delayed` (arriving over 1 s after posted),
//!   `max_delay_seconds`}
//! - `outages[]` (absent before 2026-12-07: read as none): {`events`, `objects`,
//!   `outage_seconds` (the sink answered 503 that long), `drain_seconds` (from the sink's return
//!   to the last event), `refused` (503s answered), `delivered` (distinct events), `duplicates`,
//!   `dead_letters`, `order_breaks`}

use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Results {
    #[serde(default)]
    pub schema_version: u32,
    #[serde(default)]
    pub date: String,
    pub events: u64,
    pub machine: Machine,
    pub throughput: Vec<Throughput>,
    pub peers: Peers,
    pub limits: Limits,
    pub memory: Memory,
    pub latency_vcsim: Latency,
    #[serde(default)]
    pub many_vcenters: Vec<ManyVcenters>,
    #[serde(default)]
    pub storms: Vec<Storm>,
    #[serde(default)]
    pub outages: Vec<Outage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<Failover>,
}

/// Two replicas with leader election, the leader SIGKILLed (bench/src/failover.rs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Failover {
    pub events: u64,
    pub rate_per_sec: u64,
    pub lease_duration_seconds: u64,
    pub takeover_seconds: f64,
    pub lost: u64,
    pub duplicates: u64,
    pub delayed: u64,
    pub max_delay_seconds: f64,
}

/// A backlog into a sink that is down for a while, default config (bench/src/outage.rs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Outage {
    pub events: u64,
    pub objects: u64,
    pub outage_seconds: u64,
    pub drain_seconds: f64,
    pub refused: u64,
    pub delivered: u64,
    pub duplicates: u64,
    pub dead_letters: u64,
    pub order_breaks: u64,
}

/// A backlog over `objects` objects drained with the default config (bench/src/storm.rs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Storm {
    pub events: u64,
    pub objects: u64,
    pub sink_latency_ms: u64,
    pub measured_latency_ms: f64,
    pub concurrency: u64,
    pub seconds: f64,
    pub events_per_sec: f64,
    pub limit_events_per_sec: f64,
    /// Events that arrived after a later event of the same object.
    pub order_breaks: u64,
}

/// One router with `vcenters` fake vCenters (bench/src/many.rs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManyVcenters {
    pub vcenters: u64,
    /// The backlog spread across them, end to end.
    pub events: u64,
    pub events_per_sec: f64,
    pub peak_rss_kib: u64,
    /// Connected and idle for `idle_seconds`.
    pub idle_rss_kib: u64,
    pub idle_seconds: u64,
    pub idle_cpu_percent: f64,
    /// Events reported as they happen (one per vCenter per second, plus a `burst` on one).
    pub live_events: u64,
    pub burst: u64,
    pub p99_ms: f64,
    /// The highest p99 among the vCenters without the burst, and the p99 of the one with it.
    pub worst_quiet_p99_ms: f64,
    pub busy_p99_ms: f64,
    /// The same quiet vCenters' worst p99 in a phase without the burst.
    #[serde(default)]
    pub quiet_alone_p99_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    pub cores: u64,
    pub memory_gib: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Throughput {
    #[serde(default)]
    pub label: String,
    pub concurrency: u64,
    pub vcenters: u64,
    pub page_size: u64,
    pub events_per_sec: f64,
    pub seconds: f64,
    pub peak_rss_kib: u64,
    pub router_cpu_us_per_event: f64,
    pub sink_and_fake_cpu_us_per_event: f64,
    pub checkpoint: bool,
    pub encoding: String,
    pub console_open: bool,
    pub console_events: Option<u64>,
    pub console_skipped: Option<u64>,
}

impl Throughput {
    /// What the run varies, for tables and comparisons (the label, or for a version 0 file the
    /// same words made from its fields).
    pub fn name(&self) -> String {
        if !self.label.is_empty() {
            return self.label.clone();
        }
        format!(
            "concurrency {}, {} vCenter(s), pageSize {}{}",
            self.concurrency,
            self.vcenters,
            self.page_size,
            if self.console_open { ", web console open" } else { "" }
        )
    }

    /// The default settings with the console closed: the runs the RSS target is about.
    fn default_settings(&self) -> bool {
        self.vcenters == 1 && self.page_size == 1000 && !self.console_open
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Peers {
    pub pyvmomi_events_per_sec: f64,
    pub govmomi_events_per_sec: f64,
    pub router_vs_pyvmomi: f64,
    pub best_router_vs_pyvmomi: f64,
    pub router_vs_govmomi: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Limits {
    pub parser_events_per_sec: f64,
    pub bare_post: Vec<BarePost>,
    pub router_vs_limit: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BarePost {
    pub connections: u64,
    pub requests_per_sec: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Memory {
    pub idle_kib: u64,
    pub peak_under_load_kib: u64,
    pub slow_sink: SlowSink,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SlowSink {
    pub seconds: u64,
    pub delivered: u64,
    pub peak_first_half_kib: u64,
    pub peak_kib: u64,
    pub sigterm_to_exit_seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub operations: u64,
    pub pace_ms: u64,
    pub events: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Why a results file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not a make bench results file: {detail}")]
    Parse { path: String, detail: String },
    #[error("{path} has schema version {found}; this event-bench reads versions up to {SCHEMA_VERSION}: use the event-bench of that run's commit")]
    Newer { path: String, found: u32 },
}

impl Results {
    pub fn load(path: &std::path::Path) -> Result<Results, ResultsError> {
        let text = std::fs::read_to_string(path).map_err(|source| ResultsError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let r: Results = serde_json::from_str(&text).map_err(|e| ResultsError::Parse {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        if r.schema_version > SCHEMA_VERSION {
            return Err(ResultsError::Newer {
                path: path.display().to_string(),
                found: r.schema_version,
            });
        }
        Ok(r)
    }

    /// The combined limit: the rate at which this machine can both decode and send each event,
    /// from the two limits measured in the same run (decoder alone, the fastest bare POSTs):
    /// `1 / (1/decoder + 1/posts)`. `None` when either is missing.
    pub fn combined_limit(&self) -> Option<f64> {
        let decode = self.limits.parser_events_per_sec;
        let post = (self.limits.bare_post.iter())
            .map(|b| b.requests_per_sec)
            .fold(0.0, f64::max);
        (decode > 0.0 && post > 0.0).then(|| 1.0 / (1.0 / decode + 1.0 / post))
    }

    /// The router's rate at its highest concurrency with one vCenter and default settings
    /// (concurrency 8 in `make bench`), and that run's concurrency.
    pub fn best_concurrency_run(&self) -> Option<&Throughput> {
        (self.throughput.iter())
            .filter(|t| t.vcenters == 1 && t.default_settings() && !t.console_open)
            .max_by_key(|t| t.concurrency)
    }

    /// Every figure: (name, value, unit, whether more is better).
    pub fn figures(&self) -> Vec<(String, f64, &'static str, bool)> {
        let mut f = Vec::new();
        for t in &self.throughput {
            let n = t.name();
            f.push((format!("{n}: rate"), t.events_per_sec, "events/s", true));
            f.push((format!("{n}: peak RSS"), mib(t.peak_rss_kib), "MiB", false));
            f.push((format!("{n}: router CPU"), t.router_cpu_us_per_event, "µs/event", false));
        }
        f.push(("pyVmomi".into(), self.peers.pyvmomi_events_per_sec, "events/s", true));
        f.push(("govmomi".into(), self.peers.govmomi_events_per_sec, "events/s", true));
        f.push((
            "router / pyVmomi (concurrency 1)".into(),
            self.peers.router_vs_pyvmomi,
            "x",
            true,
        ));
        f.push((
            "router / pyVmomi (best)".into(),
            self.peers.best_router_vs_pyvmomi,
            "x",
            true,
        ));
        f.push((
            "router / govmomi (concurrency 1)".into(),
            self.peers.router_vs_govmomi,
            "x",
            true,
        ));
        f.push((
            "limit (a): decoder alone".into(),
            self.limits.parser_events_per_sec,
            "events/s",
            true,
        ));
        for b in &self.limits.bare_post {
            f.push((
                format!("limit (b): bare POSTs, {} connection(s)", b.connections),
                b.requests_per_sec,
                "requests/s",
                true,
            ));
        }
        f.push(("router / lower limit".into(), self.limits.router_vs_limit, "x", true));
        if let (Some(limit), Some(run)) = (self.combined_limit(), self.best_concurrency_run()) {
            f.push(("combined limit".into(), limit, "events/s", true));
            f.push(("router / combined limit".into(), run.events_per_sec / limit, "x", true));
        }
        f.push(("RSS idle".into(), mib(self.memory.idle_kib), "MiB", false));
        f.push((
            "RSS peak under load".into(),
            mib(self.memory.peak_under_load_kib),
            "MiB",
            false,
        ));
        f.push((
            "RSS peak, slow sink".into(),
            mib(self.memory.slow_sink.peak_kib),
            "MiB",
            false,
        ));
        f.push((
            "SIGTERM to exit, slow sink".into(),
            self.memory.slow_sink.sigterm_to_exit_seconds,
            "s",
            false,
        ));
        for m in &self.many_vcenters {
            let n = format!("{} vCenters", m.vcenters);
            f.push((format!("{n}: rate"), m.events_per_sec, "events/s", true));
            f.push((format!("{n}: peak RSS"), mib(m.peak_rss_kib), "MiB", false));
            f.push((format!("{n}: idle RSS"), mib(m.idle_rss_kib), "MiB", false));
            f.push((format!("{n}: idle CPU"), m.idle_cpu_percent, "% of a core", false));
            f.push((
                format!("{n}: latency p99, quiet vCenters"),
                m.worst_quiet_p99_ms,
                "ms",
                false,
            ));
            if let Some(alone) = m.quiet_alone_p99_ms {
                f.push((
                    format!("{n}: latency p99, quiet vCenters, no burst"),
                    alone,
                    "ms",
                    false,
                ));
            }
        }
        for s in &self.storms {
            let n = format!("storm over {} object(s)", s.objects);
            f.push((format!("{n}: rate"), s.events_per_sec, "events/s", true));
            f.push((
                format!("{n}: of its limit"),
                s.events_per_sec / s.limit_events_per_sec,
                "x",
                true,
            ));
            f.push((format!("{n}: order breaks"), s.order_breaks as f64, "events", false));
        }
        for o in &self.outages {
            let n = format!("{} s sink outage", o.outage_seconds);
            f.push((format!("{n}: drain after"), o.drain_seconds, "s", false));
            f.push((format!("{n}: dead letters"), o.dead_letters as f64, "events", false));
            f.push((format!("{n}: order breaks"), o.order_breaks as f64, "events", false));
        }
        if let Some(o) = &self.failover {
            f.push(("failover: takeover".into(), o.takeover_seconds, "s", false));
            f.push(("failover: events lost".into(), o.lost as f64, "events", false));
            f.push(("failover: longest delay".into(), o.max_delay_seconds, "s", false));
        }
        f.push(("latency on vcsim p50".into(), self.latency_vcsim.p50_ms, "ms", false));
        f.push(("latency on vcsim p99".into(), self.latency_vcsim.p99_ms, "ms", false));
        f
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `1234567.8` as `1,234,568`.
fn thousands(v: f64) -> String {
    let s = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

/// The README's table: every figure of the run with its target, generated, never typed.
pub fn markdown(r: &Results) -> String {
    let mut t = String::from("| measure | value | target |\n| --- | --- | --- |\n");
    let mut row = |m: String, v: String, target: &str| t.push_str(&format!("| {m} | {v} | {target} |\n"));
    let base = r.throughput.first();
    for run in &r.throughput {
        let cores = run.router_cpu_us_per_event * run.events_per_sec / 1e6;
        let mut value = format!(
            "{} events/s ({:.1} s), peak RSS {:.1} MiB, router CPU {:.0} µs/event ({cores:.2} cores)",
            thousands(run.events_per_sec),
            run.seconds,
            mib(run.peak_rss_kib),
            run.router_cpu_us_per_event
        );
        if run.console_open {
            let closed = base.map(|b| b.events_per_sec).unwrap_or(f64::NAN);
            value.push_str(&format!(
                "; {:.2} of the closed run; the stream carried {} events, {} skipped (over 200/s) or lagged",
                run.events_per_sec / closed,
                thousands(run.console_events.unwrap_or(0) as f64),
                thousands(run.console_skipped.unwrap_or(0) as f64)
            ));
        }
        let target = if run.console_open {
            "no measurable cost"
        } else if run.concurrency >= 8 && run.vcenters == 1 && run.default_settings() {
            ">= 60,000 events/s (issue 20)"
        } else if run.concurrency >= 4 && run.default_settings() {
            ">= 25,000 events/s"
        } else {
            ""
        };
        row(format!("router end to end, {}", run.name()), value, target);
    }
    let p = &r.peers;
    row(
        "pyVmomi, read and parse only, same pages".into(),
        format!(
            "{} events/s (router {:.1}x at concurrency 1, {:.1}x best)",
            thousands(p.pyvmomi_events_per_sec),
            p.router_vs_pyvmomi,
            p.best_router_vs_pyvmomi
        ),
        "router >= 10x (issue 20)",
    );
    row(
        "govmomi (govc's library), read and decode only".into(),
        format!(
            "{} events/s (router {:.2}x at concurrency 1)",
            thousands(p.govmomi_events_per_sec),
            p.router_vs_govmomi
        ),
        "router >= 1x (issue 20)",
    );
    row(
        "limit (a): router decoder alone, 1 core".into(),
        format!("{} events/s", thousands(r.limits.parser_events_per_sec)),
        "",
    );
    for b in &r.limits.bare_post {
        row(
            format!("limit (b): bare HTTP POSTs, {} connection(s)", b.connections),
            format!("{} requests/s", thousands(b.requests_per_sec)),
            "",
        );
    }
    row(
        "router (concurrency 1) / lower limit".into(),
        format!("{:.2}", r.limits.router_vs_limit),
        ">= 0.50",
    );
    if let (Some(limit), Some(run)) = (r.combined_limit(), r.best_concurrency_run()) {
        row(
            "combined limit: decode and POST each event, 1 / (1/(a) + 1/(b) fastest)".into(),
            format!(
                "{} events/s; router at concurrency {}: {:.2} of it",
                thousands(limit),
                run.concurrency,
                run.events_per_sec / limit
            ),
            ">= 0.80 (issue 20)",
        );
    }
    let m = &r.memory;
    row(
        "RSS idle (connected, no events)".into(),
        format!("{:.1} MiB", mib(m.idle_kib)),
        "",
    );
    row(
        "RSS peak under load (one vCenter, default `pageSize` 1000)".into(),
        format!("{:.1} MiB", mib(m.peak_under_load_kib)),
        "< 20 MiB (issue 20)",
    );
    row(
        format!(
            "RSS with a 1 s/request sink, {} s ({} delivered)",
            m.slow_sink.seconds, m.slow_sink.delivered
        ),
        format!(
            "peak {:.1} MiB (first half {:.1} MiB); SIGTERM to exit {:.1} s",
            mib(m.slow_sink.peak_kib),
            mib(m.slow_sink.peak_first_half_kib),
            m.slow_sink.sigterm_to_exit_seconds
        ),
        "bounded",
    );
    let l = &r.latency_vcsim;
    row(
        format!(
            "latency on vcsim, {} power operations (one per {} ms), {} events",
            l.operations, l.pace_ms, l.events
        ),
        format!("p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms", l.p50_ms, l.p99_ms, l.max_ms),
        "p99 < 500 ms",
    );
    for m in &r.many_vcenters {
        let target = if m.vcenters >= 50 {
            "< 64 MiB, < 2 % of a core idle; no vCenter's latency depends on another's traffic"
        } else {
            ""
        };
        row(
            format!("{} vCenters in one router ({} events spread across them, `concurrency: 4`)", m.vcenters, thousands(m.events as f64)),
            format!(
                "{} events/s, peak RSS {:.1} MiB; idle {} s: RSS {:.1} MiB, CPU {:.2} % of a core; live events (1/s per vCenter, a {}-event burst on one): p99 {:.0} ms, worst quiet vCenter's p99 {:.0} ms, the busy one's {:.0} ms",
                thousands(m.events_per_sec),
                mib(m.peak_rss_kib),
                m.idle_seconds,
                mib(m.idle_rss_kib),
                m.idle_cpu_percent,
                thousands(m.burst as f64),
                m.p99_ms,
                m.worst_quiet_p99_ms,
                m.busy_p99_ms
            ) + &m
                .quiet_alone_p99_ms
                .map(|a| format!(" (quiet vCenters without the burst: {a:.0} ms)"))
                .unwrap_or_default(),
            target,
        );
    }
    for s in &r.storms {
        let (what, target) = if s.objects > 1 {
            ("", ">= 0.80 of the limit, 0 order breaks (issue 36)")
        } else {
            (
                " (the worst case: one object, one delivery at a time)",
                "reported; 0 order breaks",
            )
        };
        row(
            format!(
                "storm: {} events over {} object(s) into a sink answering in {} ms, default config{what}",
                thousands(s.events as f64),
                thousands(s.objects as f64),
                s.sink_latency_ms
            ),
            format!(
                "drained in {:.1} s, {} events/s, {:.2} of the limit ({} concurrency / {:.2} ms measured = {} events/s); {} order breaks",
                s.seconds,
                thousands(s.events_per_sec),
                s.events_per_sec / s.limit_events_per_sec,
                s.concurrency,
                s.measured_latency_ms,
                thousands(s.limit_events_per_sec),
                s.order_breaks
            ),
            target,
        );
    }
    for o in &r.outages {
        row(
            format!(
                "sink outage: {} events over {} objects into a sink answering 503 for {} s, then in 5 ms, default config",
                thousands(o.events as f64),
                thousands(o.objects as f64),
                o.outage_seconds
            ),
            format!(
                "drained {:.1} s after the sink came back; {} of {} delivered, {} duplicates, {} dead letters, {} order breaks ({} 503s answered)",
                o.drain_seconds,
                thousands(o.delivered as f64),
                thousands(o.events as f64),
                o.duplicates,
                o.dead_letters,
                o.order_breaks,
                thousands(o.refused as f64)
            ),
            "0 dead letters, 0 order breaks, all delivered (issue 35)",
        );
    }
    if let Some(o) = &r.failover {
        row(
            format!(
                "failover: two replicas with leader election (real kube-apiserver), {} events/s posted, the leader SIGKILLed, defaults (Lease {} s)",
                o.rate_per_sec, o.lease_duration_seconds
            ),
            format!(
                "the standby delivered {:.1} s after the kill; {} lost of {}, {} delivered twice, {} delayed over 1 s (longest {:.1} s)",
                o.takeover_seconds,
                o.lost,
                thousands(o.events as f64),
                o.duplicates,
                o.delayed,
                o.max_delay_seconds
            ),
            "takeover within 15 s, 0 lost (issue 35)",
        );
    }
    row(
        "machine".into(),
        format!(
            "{} cores, {:.0} GiB{}",
            r.machine.cores,
            r.machine.memory_gib,
            if r.date.is_empty() {
                String::new()
            } else {
                format!("; run {}", r.date)
            }
        ),
        "",
    );
    t
}

/// Each figure of `new` against `old`: the change in percent, marked better or worse.
pub fn compare(old: &Results, new: &Results) -> String {
    let before: std::collections::HashMap<String, f64> = old.figures().into_iter().map(|(n, v, _, _)| (n, v)).collect();
    let mut t = String::from("| figure | old | new | change |\n| --- | --- | --- | --- |\n");
    for (name, value, unit, more_is_better) in new.figures() {
        let Some(&was) = before.get(&name) else {
            t.push_str(&format!("| {name} | - | {value:.2} {unit} | new |\n"));
            continue;
        };
        let change = if was == 0.0 { 0.0 } else { (value - was) / was * 100.0 };
        let verdict = if change.abs() < 5.0 {
            "same (within 5 %)"
        } else if (change > 0.0) == more_is_better {
            "better"
        } else {
            "worse"
        };
        t.push_str(&format!(
            "| {name} | {was:.2} {unit} | {value:.2} {unit} | {change:+.1} % {verdict} |\n"
        ));
    }
    let now: std::collections::HashSet<String> = new.figures().into_iter().map(|f| f.0).collect();
    for (name, value, unit, _) in old.figures() {
        if !now.contains(&name) {
            t.push_str(&format!("| {name} | {value:.2} {unit} | - | not measured |\n"));
        }
    }
    t
}

/// Where the README's generated table starts and ends.
pub const README_START: &str =
    "<!-- bench-table: generated by `event-bench --markdown docs/bench/results.json`; do not edit -->\n";
pub const README_END: &str = "<!-- bench-table end -->\n";

/// `readme` with its table replaced by [`markdown`] of `r`.
pub fn readme_with_table(readme: &str, r: &Results) -> Option<String> {
    let start = readme.find(README_START)? + README_START.len();
    let end = start + readme[start..].find(README_END)?;
    Some(format!("{}{}{}", &readme[..start], markdown(r), &readme[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn sample() -> Results {
        Results::load(&repo().join("docs/bench/results.json")).unwrap()
    }

    #[test]
    fn the_combined_limit_adds_decode_and_post_time_per_event() {
        let mut r = sample();
        r.limits.parser_events_per_sec = 60_000.0;
        r.limits.bare_post = vec![
            BarePost {
                connections: 1,
                requests_per_sec: 10_000.0,
            },
            BarePost {
                connections: 4,
                requests_per_sec: 30_000.0,
            },
        ];
        // 1/60k + 1/30k s per event: 20k events/s.
        assert_eq!(r.combined_limit().map(f64::round), Some(20_000.0));
        let run = r.best_concurrency_run().unwrap();
        assert_eq!(run.concurrency, 8);
        r.limits.bare_post.clear();
        assert_eq!(r.combined_limit(), None);
    }

    #[test]
    fn the_readme_table_is_the_committed_runs() {
        let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
        let regenerated = readme_with_table(&readme, &sample()).expect("the README has the table markers");
        assert!(
            regenerated == readme,
            "the README's bench table differs from docs/bench/results.json: run `target/release/event-bench --readme docs/bench/results.json`"
        );
    }

    #[test]
    fn the_schema_round_trips_and_version_0_files_read() {
        let r = sample();
        assert_eq!(r.schema_version, SCHEMA_VERSION);
        let again: Results = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(again, r);
        let mut v0 = serde_json::to_value(&r).unwrap();
        let o = v0.as_object_mut().unwrap();
        o.remove("schema_version");
        o.remove("date");
        for t in o["throughput"].as_array_mut().unwrap() {
            t.as_object_mut().unwrap().remove("label");
        }
        let old: Results = serde_json::from_value(v0).unwrap();
        assert_eq!(old.schema_version, 0);
        assert_eq!(
            old.throughput.iter().map(Throughput::name).collect::<Vec<_>>(),
            r.throughput.iter().map(Throughput::name).collect::<Vec<_>>(),
            "a version 0 run's names match, so runs compare across versions"
        );
    }

    #[test]
    fn compare_names_each_change_and_its_direction() {
        let old = sample();
        let mut new = old.clone();
        new.throughput[0].events_per_sec *= 1.5;
        new.memory.idle_kib *= 2;
        new.throughput.pop();
        let table = compare(&old, &new);
        let line = |name: &str| {
            table
                .lines()
                .find(|l| l.starts_with(&format!("| {name} |")))
                .unwrap()
                .to_string()
        };
        assert!(
            line(&format!("{}: rate", old.throughput[0].name())).ends_with("+50.0 % better |"),
            "{table}"
        );
        assert!(line("RSS idle").ends_with("+100.0 % worse |"), "{table}");
        assert!(line("pyVmomi").ends_with("same (within 5 %) |"), "{table}");
        let gone = old.throughput.last().unwrap().name();
        assert!(line(&format!("{gone}: rate")).ends_with("not measured |"), "{table}");
    }

    #[test]
    fn a_newer_schema_is_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("bench-results-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut v = serde_json::to_value(sample()).unwrap();
        v["schema_version"] = serde_json::json!(SCHEMA_VERSION + 1);
        let path = dir.join("results.json");
        std::fs::write(&path, v.to_string()).unwrap();
        let e = Results::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("schema version") && e.contains("event-bench of that run's commit"),
            "{e}"
        );
        std::fs::write(&path, "{}").unwrap();
        assert!(Results::load(&path)
            .unwrap_err()
            .to_string()
            .contains("not a make bench results file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(1234567.8), "1,234,568");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
    }
}
