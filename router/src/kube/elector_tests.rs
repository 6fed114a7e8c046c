//! The election loop against the fake API server (`super::super::fake`): a standby that waits
//! out a held Lease, a leader that loses the Lease to a write behind its back (409, then the
//! other holder read), one that cannot renew before its deadline, and a release that hands
//! over at once. Short periods (the Lease's own unit is whole seconds).

use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use super::*;
use crate::kube::fake::FakeApi;

const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/ns/leases/event-router-vc";

fn settings(identity: &str) -> LeaseSettings {
    LeaseSettings {
        name: "event-router-vc".into(),
        namespace: "ns".into(),
        identity: identity.into(),
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_secs(1),
        retry_period: Duration::from_millis(200),
    }
}

fn holder(api: &FakeApi) -> String {
    api.get(LEASE).unwrap()["spec"]["holderIdentity"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn acquired(candidate: &mut Candidate, within: Duration) -> Leadership {
    let (_stop, mut shutdown) = watch::channel(false);
    tokio::time::timeout(within, candidate.acquire(&mut shutdown))
        .await
        .expect("acquired in time")
        .expect("not shut down")
}

#[tokio::test]
async fn a_standby_takes_over_only_once_the_lease_went_unrenewed_for_its_duration() {
    let api = FakeApi::start("standby").await;
    api.put(
        LEASE,
        json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "event-router-vc", "namespace": "ns"},
            "spec": {"holderIdentity": "crashed", "leaseDurationSeconds": 1, "leaseTransitions": 4,
                     "renewTime": "2026-12-07T10:00:00.000000Z"}
        }),
    );
    let started = Instant::now();
    let mut b = Candidate::new(api.client.clone(), settings("b"));
    let leadership = acquired(&mut b, Duration::from_secs(5)).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1),
        "took over after {waited:?}, before the Lease expired"
    );
    assert_eq!(holder(&api), "b");
    let lease = api.get(LEASE).unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 5, "{lease}");
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 2, "{lease}");
    leadership.release().await;
    assert_eq!(holder(&api), "", "released");
}

#[tokio::test]
async fn a_leader_renews_and_stops_when_another_holder_took_the_lease_behind_its_back() {
    let api = FakeApi::start("taken").await;
    let mut a = Candidate::new(api.client.clone(), settings("a"));
    let mut leadership = acquired(&mut a, Duration::from_secs(2)).await;
    assert_eq!(holder(&api), "a", "created, held");
    let first = api.get(LEASE).unwrap()["metadata"]["resourceVersion"].clone();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let renewed = api.get(LEASE).unwrap();
    assert_ne!(renewed["metadata"]["resourceVersion"], first, "renewed: {renewed}");
    assert_eq!(holder(&api), "a");

    // Another holder writes the Lease: the leader's next renewal gets 409, reads the Lease
    // again and stops.
    api.edit(LEASE, |l| l["spec"]["holderIdentity"] = json!("intruder"));
    let taken = Instant::now();
    let why = tokio::time::timeout(Duration::from_secs(2), leadership.lost())
        .await
        .expect("the leader noticed");
    assert!(why.contains("intruder"), "{why}");
    assert!(taken.elapsed() < Duration::from_secs(1), "within a retry period or so");
    assert!(api.conflicts() >= 1, "the renewal was refused with 409");
    assert_eq!(holder(&api), "intruder", "nothing written over it");
    leadership.release().await;
    assert_eq!(holder(&api), "intruder", "a lost Lease is not released");
}

#[tokio::test]
async fn a_leader_that_cannot_renew_stops_before_the_lease_could_expire_for_others() {
    let api = FakeApi::start("deadline").await;
    let mut a = Candidate::new(api.client.clone(), settings("a"));
    let mut leadership = acquired(&mut a, Duration::from_secs(2)).await;
    let last_renewal = Instant::now();
    api.fail_with(Some(500));
    let why = tokio::time::timeout(Duration::from_secs(3), leadership.lost())
        .await
        .expect("the leader gave up");
    let after = last_renewal.elapsed();
    assert!(why.contains("renewDeadline"), "{why}");
    // The standby's earliest takeover: the lease duration (2 s) after it saw the last renewal.
    assert!(after < Duration::from_secs(2), "stopped after {after:?}");
    api.fail_with(None);
    leadership.release().await;
}

#[tokio::test]
async fn a_released_lease_is_taken_by_the_standby_at_once() {
    let api = FakeApi::start("release").await;
    let mut slow = settings("a");
    slow.lease_duration = Duration::from_secs(30);
    let mut a = Candidate::new(api.client.clone(), slow.clone());
    let leadership = acquired(&mut a, Duration::from_secs(2)).await;
    let standby = tokio::spawn(async move {
        let mut b = Candidate::new(
            api.client.clone(),
            LeaseSettings {
                identity: "b".into(),
                ..slow
            },
        );
        let (_stop, mut shutdown) = watch::channel(false);
        let held = b.acquire(&mut shutdown).await;
        (held, api)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!standby.is_finished(), "the standby waits while the leader renews");
    let released = Instant::now();
    leadership.release().await;
    let (held, api) = tokio::time::timeout(Duration::from_secs(3), standby)
        .await
        .expect("taken over well before the 30 s lease duration")
        .unwrap();
    assert!(released.elapsed() < Duration::from_secs(3));
    assert_eq!(holder(&api), "b");
    held.expect("held").release().await;
}

#[tokio::test]
async fn a_candidate_stops_competing_at_shutdown() {
    let api = FakeApi::start("shutdown").await;
    api.put(
        LEASE,
        json!({"metadata": {"name": "event-router-vc"}, "spec": {"holderIdentity": "other", "leaseDurationSeconds": 3600}}),
    );
    let mut b = Candidate::new(api.client.clone(), settings("b"));
    let (stop, mut shutdown) = watch::channel(false);
    let waiting = tokio::spawn(async move { b.acquire(&mut shutdown).await.is_none() });
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(true).unwrap();
    let gave_up = tokio::time::timeout(Duration::from_secs(2), waiting)
        .await
        .unwrap()
        .unwrap();
    assert!(gave_up);
    assert_eq!(holder(&api), "other");
}

#[tokio::test]
async fn leading_holds_while_renewals_land_and_ends_at_the_deadline_by_the_leaders_own_clock() {
    let api = FakeApi::start("leading").await;
    let mut a = Candidate::new(api.client.clone(), settings("a"));
    let leadership = acquired(&mut a, Duration::from_secs(2)).await;
    let leading = leadership.leading();
    assert!(leading.holds(), "just acquired");
    // Renewals land (every 200 ms): still leading after several deadlines' worth of time.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(leading.holds(), "renewed all along");
    // The API stops answering: the gate closes once the 1 s renew deadline of the last renewal
    // passed, whatever the renewal task is doing.
    api.fail_with(Some(500));
    let cut = Instant::now();
    while leading.holds() {
        assert!(cut.elapsed() < Duration::from_secs(3), "still leading without renewals");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    leadership.release().await;
    assert!(!leading.holds(), "released");
}

#[tokio::test]
async fn a_closed_gate_stays_closed_even_when_a_late_renewal_answer_arrives() {
    let t0 = Instant::now();
    let v = Valid::new(t0, Duration::from_millis(200));
    assert!(v.holds());
    // A renewal before the deadline moves it on.
    assert!(v.renewed(Instant::now(), Duration::from_millis(200)));
    assert!(v.holds());
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(!v.holds(), "past the deadline");
    // The answer to a renewal sent before the deadline, arriving after it, reopens nothing.
    assert!(!v.renewed(t0 + Duration::from_millis(150), Duration::from_millis(200)));
    assert!(!v.renewed(Instant::now(), Duration::from_secs(10)));
    assert!(!v.holds());
    // Nor does one arriving after the deadline before anybody asked.
    let w = Valid::new(Instant::now(), Duration::from_millis(100));
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(
        !w.renewed(Instant::now(), Duration::from_secs(10)),
        "late: the term ends"
    );
    assert!(!w.holds());
}
