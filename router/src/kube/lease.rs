//! `coordination.k8s.io/v1` Leases as client-go's leader election uses them
//! (kubernetes/client-go, tools/leaderelection/leaderelection.go and resourcelock/leaselock.go):
//! the record, what a replica does about the one it read ([`decide`]), and the records it
//! writes to take, keep and give up a Lease. Pure: no I/O, times passed in.
//!
//! Expiry is judged as client-go judges it (`isLeaseValid`): another holder's Lease expires once
//! this replica has seen the record unchanged for its `leaseDurationSeconds`, on this replica's
//! own monotonic clock, so clocks that differ between nodes do not matter, only their rates.
//! The record's `renewTime` is written for people and other tools, never compared.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::apiserver::{child, ApiError, Object};

/// A Lease's `spec` (the fields leader election reads and writes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseSpec {
    #[serde(default)]
    pub holder_identity: Option<String>,
    #[serde(default)]
    pub lease_duration_seconds: Option<i64>,
    #[serde(default)]
    pub acquire_time: Option<String>,
    #[serde(default)]
    pub renew_time: Option<String>,
    #[serde(default)]
    pub lease_transitions: Option<i64>,
}

impl LeaseSpec {
    /// The holder, `""` for none.
    pub fn holder(&self) -> &str {
        self.holder_identity.as_deref().unwrap_or("")
    }

    /// The spec as the API takes it.
    pub fn to_json(&self) -> Value {
        let mut spec = Object::new();
        let fields = [
            ("holderIdentity", self.holder_identity.clone().map(Value::from)),
            ("leaseDurationSeconds", self.lease_duration_seconds.map(Value::from)),
            ("acquireTime", self.acquire_time.clone().map(Value::from)),
            ("renewTime", self.renew_time.clone().map(Value::from)),
            ("leaseTransitions", self.lease_transitions.map(Value::from)),
        ];
        for (key, value) in fields {
            if let Some(v) = value {
                spec.insert(key.to_string(), v);
            }
        }
        Value::Object(spec)
    }
}

/// The spec of a Lease object as the API answered it (an absent spec is an empty one); `what`
/// names the Lease in the error.
pub fn spec_of(lease: &Value, what: &str) -> Result<LeaseSpec, ApiError> {
    let not_a_lease = |detail: String| ApiError::Decode {
        what: what.to_string(),
        detail: format!("its spec is not a Lease's: {detail}"),
    };
    match lease.get("spec") {
        None | Some(Value::Null) => Ok(LeaseSpec::default()),
        // serde reads a struct from an array too: only an object is a spec.
        Some(spec @ Value::Object(_)) => LeaseSpec::deserialize(spec).map_err(|e| not_a_lease(e.to_string())),
        Some(other) => Err(not_a_lease(format!("a JSON {}", kind(other)))),
    }
}

/// What kind of JSON value `v` is, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `lease` (as read, with its resourceVersion, so the write is refused when it changed since)
/// with `spec` instead of its own; `None` when `lease` is not an object.
pub fn with_spec(lease: &Value, spec: &LeaseSpec) -> Option<Value> {
    let mut lease = lease.clone();
    lease.as_object_mut()?.insert("spec".to_string(), spec.to_json());
    Some(lease)
}

/// A new Lease object named `name` in `namespace`.
pub fn new_lease(name: &str, namespace: &str, spec: &LeaseSpec) -> Value {
    let mut lease = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/name": "event-router"}},
    });
    if let Some(map) = lease.as_object_mut() {
        map.insert("spec".to_string(), spec.to_json());
    }
    lease
}

/// The current time as a Lease's MicroTime (RFC 3339 with microseconds).
pub fn micro_time() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The Lease's duration in its own unit (whole seconds, at least 1).
fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs().clamp(1, i32::MAX as u64)).unwrap_or(i64::from(i32::MAX))
}

/// The record that takes the Lease for `me`, or keeps it (client-go's tryAcquireOrRenew): the
/// acquire time and transitions carried over while it stays `me`'s, a transition counted when
/// it changes hands.
pub fn holding(prev: Option<&LeaseSpec>, me: &str, duration: Duration, now: &str) -> LeaseSpec {
    let kept = prev.filter(|p| p.holder() == me);
    let transitions = prev.and_then(|p| p.lease_transitions).unwrap_or(0);
    LeaseSpec {
        holder_identity: Some(me.to_string()),
        lease_duration_seconds: Some(seconds(duration)),
        acquire_time: Some(
            kept.and_then(|p| p.acquire_time.clone())
                .unwrap_or_else(|| now.to_string()),
        ),
        renew_time: Some(now.to_string()),
        lease_transitions: Some(match (prev, kept) {
            (Some(_), None) => transitions.saturating_add(1),
            _ => transitions,
        }),
    }
}

/// The record that gives the Lease up (client-go's release: no holder, a 1 s duration, renewed
/// now), so a standby takes it at its next try.
pub fn released(prev: &LeaseSpec, now: &str) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(String::new()),
        lease_duration_seconds: Some(1),
        acquire_time: Some(now.to_string()),
        renew_time: Some(now.to_string()),
        lease_transitions: prev.lease_transitions,
    }
}

/// A Lease record as this replica last saw it, and since when (its own clock) it has not
/// changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub spec: LeaseSpec,
    pub since: Instant,
}

impl Observed {
    /// Notes `spec`, read at `now`: the clock starts again only when the record changed.
    pub fn see(prev: Option<Observed>, spec: LeaseSpec, now: Instant) -> Observed {
        match prev {
            Some(p) if p.spec == spec => p,
            _ => Observed { spec, since: now },
        }
    }

    /// When the record, unchanged, expires; `None` when that is too far to say.
    pub fn expires(&self) -> Option<Instant> {
        let secs = self
            .spec
            .lease_duration_seconds
            .unwrap_or(0)
            .clamp(0, i64::from(i32::MAX));
        self.since
            .checked_add(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
    }
}

/// What a replica does about the Lease it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// There is no Lease: create it, held.
    Create,
    /// Free, expired, or this replica's without it leading: take it (an update with the
    /// resourceVersion read, so a replica that took it in between wins and this one waits).
    Acquire,
    /// This replica's while it leads: renew it.
    Renew,
    /// Another replica holds it: wait, at the latest until `expires`.
    Wait { holder: String, expires: Instant },
    /// This replica leads, but the Lease names another holder (or none) now: stop.
    Lost { holder: String },
}

/// The decision about `read` (`None`: no Lease) for `me`, leading or not, at `now`.
pub fn decide(read: Option<&Observed>, me: &str, leading: bool, now: Instant) -> Decision {
    let Some(seen) = read else {
        return Decision::Create;
    };
    let holder = seen.spec.holder();
    if holder == me {
        return if leading { Decision::Renew } else { Decision::Acquire };
    }
    if leading {
        return Decision::Lost {
            holder: holder.to_string(),
        };
    }
    if holder.is_empty() {
        return Decision::Acquire;
    }
    match seen.expires() {
        Some(expires) if expires <= now => Decision::Acquire,
        Some(expires) => Decision::Wait {
            holder: holder.to_string(),
            expires,
        },
        // Unknowably far: try again next period.
        None => Decision::Wait {
            holder: holder.to_string(),
            expires: now,
        },
    }
}

/// Whether a leader whose last successful renewal was sent at `renewed` has passed its renew
/// deadline at `now` and must stop (client-go's renew loop gives up after RenewDeadline).
pub fn deadline_passed(renewed: Instant, deadline: Duration, now: Instant) -> bool {
    now.saturating_duration_since(renewed) >= deadline
}

/// `object`'s `metadata.labels` made to include ours, for objects the router creates.
pub fn label(object: &mut Value) {
    if let Some(labels) = object
        .as_object_mut()
        .and_then(|o| child(o, "metadata"))
        .and_then(|m| child(m, "labels"))
    {
        labels.insert("app.kubernetes.io/name".into(), "event-router".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "router-a_x1";
    const OTHER: &str = "router-b_y2";

    fn held_by(holder: &str, seconds: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(seconds),
            acquire_time: Some("2026-12-07T10:00:00.000000Z".into()),
            renew_time: Some("2026-12-07T10:00:00.000000Z".into()),
            lease_transitions: Some(3),
        }
    }

    #[test]
    fn no_lease_is_created_a_free_one_taken() {
        let now = Instant::now();
        assert_eq!(decide(None, ME, false, now), Decision::Create);
        let free = Observed::see(None, LeaseSpec::default(), now);
        assert_eq!(decide(Some(&free), ME, false, now), Decision::Acquire);
        let given_up = Observed::see(None, released(&held_by(OTHER, 15), "t"), now);
        assert_eq!(
            decide(Some(&given_up), ME, false, now),
            Decision::Acquire,
            "a released Lease is taken at once"
        );
    }

    #[test]
    fn another_holders_lease_is_waited_for_until_it_expires_unchanged() {
        let t0 = Instant::now();
        let seen = Observed::see(None, held_by(OTHER, 15), t0);
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(
            decide(Some(&seen), ME, false, at(14)),
            Decision::Wait {
                holder: OTHER.into(),
                expires: at(15)
            }
        );
        assert_eq!(decide(Some(&seen), ME, false, at(15)), Decision::Acquire, "expired");
        // Renewed (the record changed) at 10 s: it expires 15 s after that.
        let mut renewed = held_by(OTHER, 15);
        renewed.renew_time = Some("2026-12-07T10:00:10.000000Z".into());
        let seen = Observed::see(Some(seen), renewed.clone(), at(10));
        assert_eq!(seen.since, at(10));
        assert!(matches!(decide(Some(&seen), ME, false, at(20)), Decision::Wait { .. }));
        // Read again unchanged: the clock does not start again.
        let seen = Observed::see(Some(seen), renewed, at(20));
        assert_eq!(seen.since, at(10));
        assert_eq!(decide(Some(&seen), ME, false, at(25)), Decision::Acquire);
        // A record without a duration is expired at once (client-go reads it as 0 s).
        let mut no_duration = held_by(OTHER, 15);
        no_duration.lease_duration_seconds = None;
        let seen = Observed::see(None, no_duration, t0);
        assert_eq!(decide(Some(&seen), ME, false, t0), Decision::Acquire);
    }

    #[test]
    fn a_leader_renews_its_own_and_loses_to_another_holder() {
        let now = Instant::now();
        let mine = Observed::see(None, held_by(ME, 15), now);
        assert_eq!(decide(Some(&mine), ME, true, now), Decision::Renew);
        assert_eq!(
            decide(Some(&mine), ME, false, now),
            Decision::Acquire,
            "its own record while not leading: take it again"
        );
        let taken = Observed::see(None, held_by(OTHER, 15), now);
        assert_eq!(
            decide(Some(&taken), ME, true, now),
            Decision::Lost { holder: OTHER.into() }
        );
        let emptied = Observed::see(None, LeaseSpec::default(), now);
        assert_eq!(
            decide(Some(&emptied), ME, true, now),
            Decision::Lost { holder: String::new() },
            "a leader whose Lease was emptied stops and competes again"
        );
    }

    #[test]
    fn a_leader_past_its_renew_deadline_stops() {
        let renewed = Instant::now();
        let deadline = Duration::from_secs(10);
        assert!(!deadline_passed(
            renewed,
            deadline,
            renewed + Duration::from_millis(9_999)
        ));
        assert!(deadline_passed(renewed, deadline, renewed + deadline));
        assert!(
            !deadline_passed(renewed, deadline, renewed),
            "a clock that has not moved"
        );
    }

    #[test]
    fn records_written_keep_the_history_and_count_transitions() {
        let d = Duration::from_secs(15);
        let created = holding(None, ME, d, "t0");
        assert_eq!(created, held_by_at(ME, "t0", "t0", 0));
        let renewed = holding(Some(&created), ME, d, "t1");
        assert_eq!(renewed, held_by_at(ME, "t0", "t1", 0), "acquire time kept");
        let taken = holding(Some(&renewed), OTHER, d, "t2");
        assert_eq!(taken, held_by_at(OTHER, "t2", "t2", 1), "a transition");
        let given_up = released(&taken, "t3");
        assert_eq!(given_up.holder(), "");
        assert_eq!(given_up.lease_duration_seconds, Some(1));
        assert_eq!(given_up.lease_transitions, Some(1));
        let json = given_up.to_json();
        assert_eq!(json["holderIdentity"], "", "{json}");
        assert_eq!(holding(None, ME, Duration::ZERO, "t").lease_duration_seconds, Some(1));
    }

    fn held_by_at(holder: &str, acquired: &str, renewed: &str, transitions: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            acquire_time: Some(acquired.into()),
            renew_time: Some(renewed.into()),
            lease_transitions: Some(transitions),
        }
    }

    #[test]
    fn objects_from_the_api_are_read_without_trusting_them() {
        let lease = json!({
            "metadata": {"name": "l", "resourceVersion": "41"},
            "spec": {"holderIdentity": OTHER, "leaseDurationSeconds": 15, "renewTime": "2026-12-07T10:00:00.000000Z"}
        });
        let spec = spec_of(&lease, "l").unwrap();
        assert_eq!(spec.holder(), OTHER);
        let written = with_spec(&lease, &holding(Some(&spec), ME, Duration::from_secs(15), "t")).unwrap();
        assert_eq!(
            written["metadata"]["resourceVersion"], "41",
            "the write is fenced by the version read"
        );
        assert_eq!(written["spec"]["holderIdentity"], ME);
        assert_eq!(spec_of(&json!({"metadata": {}}), "l").unwrap(), LeaseSpec::default());
        assert!(spec_of(&json!({"spec": {"leaseDurationSeconds": "fifteen"}}), "l").is_err());
        let err = spec_of(&json!({"spec": []}), "Lease ns/l").unwrap_err().to_string();
        assert!(err.contains("Lease ns/l") && err.contains("array"), "{err}");
        assert!(with_spec(&json!("not an object"), &LeaseSpec::default()).is_none());
        // A duration too large to add to a clock is waited out one period at a time.
        let now = Instant::now();
        let huge = Observed::see(None, held_by(OTHER, i64::MAX), now);
        assert!(matches!(decide(Some(&huge), ME, false, now), Decision::Wait { .. }));
        let mut made = new_lease("event-router-vc", "ns", &LeaseSpec::default());
        label(&mut made);
        assert_eq!(made["metadata"]["labels"]["app.kubernetes.io/name"], "event-router");
        assert_eq!(made["kind"], "Lease");
    }
}
