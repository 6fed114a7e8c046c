//! Alarm definitions for alarm events. vCenter's `AlarmEvent` family (status changed, action
//! triggered, acknowledged, cleared, created, reconfigured, removed, the `Alarm*` email, SNMP and
//! script events) names an alarm but not what it watches; as embano1/vsphere-alarm-server does
//! for VEBA (its README: the Alarm's `info` as `data.AlarmInfo`, cached for 3600 s), each event's
//! data gets its alarm's `AlarmInfo`, read over the stream's own session with one
//! PropertyCollector call for every alarm of a page not cached yet, in the same JSON encoding
//! as the rest of the data (govmomi's). The cache holds at most [`MAX_ENTRIES`] alarms for
//! [`TTL`]; an alarm's entry is dropped on its `AlarmReconfiguredEvent` or
//! `AlarmRemovedEvent`. A lookup that fails (a removed alarm, a permission, a timeout past
//! [`LOOKUP_BOUND`]) leaves the event as it is: it is delivered without `AlarmInfo`, the
//! failure is logged once per alarm and counted, and the alarm is not asked for again for
//! [`RETRY_AFTER`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::warn;

use crate::metrics::stats::ComponentStats;
use crate::vsphere::client::VimClient;
use crate::vsphere::event::decode_object;
use crate::vsphere::types::TypeTable;

/// How long an alarm's definition is kept.
pub const TTL: Duration = Duration::from_secs(3600);
/// Alarms kept at most (a vCenter has a few hundred).
pub const MAX_ENTRIES: usize = 10_000;
/// The longest a page's lookups may hold its events.
pub const LOOKUP_BOUND: Duration = Duration::from_secs(5);
/// How long a failed alarm is not asked for again.
pub const RETRY_AFTER: Duration = Duration::from_secs(60);

enum Entry {
    /// The `AlarmInfo` as JSON text.
    Found(Arc<[u8]>, Instant),
    Failed(Instant),
}

/// The alarms read so far, shared by a stream's sessions.
#[derive(Default)]
pub struct Alarms {
    entries: Mutex<HashMap<String, Entry>>,
    /// Alarms whose failed lookup was logged.
    warned: Mutex<HashSet<String>>,
}

/// Whether an event type names an alarm (the `AlarmEvent` family).
pub fn is_alarm_event(table: &TypeTable, type_name: &str) -> bool {
    table.is_a(type_name, "AlarmEvent")
}

/// Whether an event type changes or removes its alarm's definition.
pub fn invalidates(type_name: &str) -> bool {
    matches!(type_name, "AlarmReconfiguredEvent" | "AlarmRemovedEvent")
}

/// The alarm an event's JSON data names (`Alarm.Alarm.Value`).
pub fn alarm_of(data: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Data {
        #[serde(rename = "Alarm")]
        alarm: Option<Arg>,
    }
    #[derive(serde::Deserialize)]
    struct Arg {
        #[serde(rename = "Alarm")]
        alarm: Option<MoRef>,
    }
    #[derive(serde::Deserialize)]
    struct MoRef {
        #[serde(rename = "Value")]
        value: String,
    }
    let d: Data = serde_json::from_slice(data).ok()?;
    d.alarm?.alarm.map(|m| m.value).filter(|v| !v.is_empty())
}

/// `data` (a JSON object's text) with `"AlarmInfo": info` added as its last member.
pub fn with_alarm_info(mut data: Vec<u8>, info: &[u8]) -> Vec<u8> {
    let Some(end) = data.iter().rposition(|b| *b == b'}') else {
        return data;
    };
    let empty = data[..end].iter().rev().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let mut tail = Vec::with_capacity(info.len() + 16);
    if !empty {
        tail.push(b',');
    }
    tail.extend_from_slice(b"\"AlarmInfo\":");
    tail.extend_from_slice(info);
    data.splice(end..end, tail);
    data
}

impl Alarms {
    /// Drops an alarm's definition (it changed or is gone).
    pub fn forget(&self, alarm: &str) {
        if let Ok(mut e) = self.entries.lock() {
            e.remove(alarm);
        }
    }

    /// The cached definition of `alarm`, when it is fresh.
    pub fn get(&self, alarm: &str) -> Option<Arc<[u8]>> {
        let e = self.entries.lock().ok()?;
        match e.get(alarm)? {
            Entry::Found(json, at) if at.elapsed() < TTL => Some(json.clone()),
            _ => None,
        }
    }

    /// The alarms of `wanted` to ask vCenter for: not cached (or stale), and not failed lately.
    fn missing(&self, wanted: &[String]) -> Vec<String> {
        let Ok(e) = self.entries.lock() else {
            return Vec::new();
        };
        let mut out: Vec<String> = Vec::new();
        for a in wanted {
            let fresh = match e.get(a) {
                Some(Entry::Found(_, at)) => at.elapsed() < TTL,
                Some(Entry::Failed(at)) => at.elapsed() < RETRY_AFTER,
                None => false,
            };
            if !fresh && !out.contains(a) {
                out.push(a.clone());
            }
        }
        out
    }

    fn store(&self, alarm: String, entry: Entry) {
        let Ok(mut e) = self.entries.lock() else {
            return;
        };
        if e.len() >= MAX_ENTRIES && !e.contains_key(&alarm) {
            // Full: the stale go first, else the oldest.
            e.retain(|_, v| match v {
                Entry::Found(_, at) => at.elapsed() < TTL,
                Entry::Failed(at) => at.elapsed() < RETRY_AFTER,
            });
            if e.len() >= MAX_ENTRIES {
                let oldest = e
                    .iter()
                    .min_by_key(|(_, v)| match v {
                        Entry::Found(_, at) | Entry::Failed(at) => *at,
                    })
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    e.remove(&k);
                }
            }
        }
        e.insert(alarm, entry);
    }

    /// Reads the definitions of the `wanted` alarms that are not cached, in one call (each on
    /// its own when that call fails, so one removed alarm does not cost the others theirs),
    /// within [`LOOKUP_BOUND`] in all.
    pub async fn prepare(&self, client: &VimClient, table: &TypeTable, wanted: &[String], stats: &ComponentStats) {
        let missing = self.missing(wanted);
        if missing.is_empty() {
            return;
        }
        let deadline = tokio::time::Instant::now() + LOOKUP_BOUND;
        stats.alarm_lookup();
        let all = tokio::time::timeout_at(deadline, client.alarm_infos(&missing)).await;
        let mut found = match all {
            Ok(Ok(found)) => found,
            Ok(Err(_)) if missing.len() > 1 => {
                let mut found = Vec::new();
                for a in &missing {
                    stats.alarm_lookup();
                    match tokio::time::timeout_at(deadline, client.alarm_infos(std::slice::from_ref(a))).await {
                        Ok(Ok(one)) => found.extend(one),
                        Ok(Err(e)) => self.failed(a, &e.to_string(), stats),
                        Err(_) => self.failed(a, "no answer in time", stats),
                    }
                }
                found
            }
            Ok(Err(e)) => {
                self.failed(&missing[0], &e.to_string(), stats);
                Vec::new()
            }
            Err(_) => {
                for a in &missing {
                    self.failed(a, "no answer in time", stats);
                }
                Vec::new()
            }
        };
        for (alarm, el) in found.drain(..) {
            match decode_object(&el, table) {
                Ok(json) => self.store(alarm, Entry::Found(json.into(), Instant::now())),
                Err(e) => self.failed(&alarm, &e.to_string(), stats),
            }
        }
        // Asked for and not answered (vCenter leaves out what it cannot read).
        for a in &missing {
            let known = self.entries.lock().map(|e| e.contains_key(a)).unwrap_or(true);
            if !known {
                self.failed(
                    a,
                    "vCenter returned no info for it (removed, or not visible to this account)",
                    stats,
                );
            }
        }
    }

    fn failed(&self, alarm: &str, why: &str, stats: &ComponentStats) {
        stats.alarm_lookup_failed();
        self.store(alarm.to_string(), Entry::Failed(Instant::now()));
        let first = self
            .warned
            .lock()
            .map(|mut w| w.insert(alarm.to_string()))
            .unwrap_or(false);
        if first {
            warn!(
                alarm,
                "cannot read the alarm's definition ({why}): its events are delivered without AlarmInfo"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alarm_is_read_from_the_data_and_its_info_appended() {
        let data = br#"{"Key":1,"Alarm":{"Name":"CPU","Alarm":{"Type":"Alarm","Value":"alarm-7"}},"To":"red"}"#;
        assert_eq!(alarm_of(data).as_deref(), Some("alarm-7"));
        assert_eq!(alarm_of(br#"{"Key":1,"Alarm":null}"#), None);
        let out = with_alarm_info(data.to_vec(), br#"{"Name":"CPU"}"#);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["AlarmInfo"]["Name"], "CPU");
        assert_eq!(v["To"], "red", "the rest kept");
        let keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.last().map(String::as_str), Some("AlarmInfo"), "appended last");
        let empty = with_alarm_info(b"{}".to_vec(), b"1");
        assert_eq!(empty, b"{\"AlarmInfo\":1}");
    }

    #[test]
    fn reconfigured_and_removed_alarms_invalidate_and_failures_are_not_asked_again_at_once() {
        assert!(invalidates("AlarmReconfiguredEvent") && invalidates("AlarmRemovedEvent"));
        assert!(!invalidates("AlarmStatusChangedEvent"));
        let a = Alarms::default();
        a.store("alarm-1".into(), Entry::Found(Arc::from(&b"{}"[..]), Instant::now()));
        a.store("alarm-2".into(), Entry::Failed(Instant::now()));
        assert!(a.get("alarm-1").is_some());
        assert_eq!(
            a.missing(&["alarm-1".into(), "alarm-2".into(), "alarm-3".into(), "alarm-3".into()]),
            ["alarm-3"]
        );
        a.forget("alarm-1");
        assert!(a.get("alarm-1").is_none());
        assert_eq!(a.missing(&["alarm-1".into()]), ["alarm-1"]);
    }

    #[test]
    fn the_cache_is_bounded() {
        let a = Alarms::default();
        for i in 0..MAX_ENTRIES + 5 {
            a.store(
                format!("alarm-{i}"),
                Entry::Found(Arc::from(&b"{}"[..]), Instant::now()),
            );
        }
        assert!(a.entries.lock().unwrap().len() <= MAX_ENTRIES);
        assert!(
            a.get(&format!("alarm-{}", MAX_ENTRIES + 4)).is_some(),
            "the newest is kept"
        );
    }
}
