//! The ConfigMap store against the fake API server (`super::super::fake`): the claim at load,
//! the fencing of a deposed writer (409, then the other writer read), writes that only
//! conflicted with another vCenter's key, the move from a checkpoint file, a corrupt entry.

use serde_json::json;

use super::*;
use crate::kube::fake::FakeApi;

const MAP: &str = "/api/v1/namespaces/ns/configmaps/event-router-checkpoints";

fn checkpoint(key: i64) -> Checkpoint {
    Checkpoint {
        vcenter: "vc01.corp.local".into(),
        last_event_uuid: key.to_string(),
        last_event_key: key,
        last_event_type: "VmPoweredOffEvent".into(),
        last_event_key_timestamp: "2026-12-07T10:00:00.123Z".into(),
        created_timestamp: "2026-12-07T10:00:05Z".into(),
    }
}

/// The store of vCenter `host` written as `writer`, its file in the fake's folder.
fn store(api: &FakeApi, host: &str, writer: &str) -> ConfigMapStore {
    let file = Store::new(
        &api.dir().join("checkpoints"),
        &url::Url::parse(&format!("https://{host}/sdk")).unwrap(),
    );
    ConfigMapStore::new(api.client.clone(), "ns", "event-router-checkpoints", writer, file)
}

fn entry(api: &FakeApi, key: &str) -> Option<Checkpoint> {
    let map = api.get(MAP)?;
    let text = map["data"][key].as_str()?;
    Some(serde_json::from_str(text).unwrap())
}

fn writers(api: &FakeApi) -> serde_json::Value {
    let map = api.get(MAP).unwrap();
    serde_json::from_str(map["metadata"]["annotations"][WRITERS_ANNOTATION].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn load_claims_the_entry_and_saves_carry_the_version_read() {
    let api = FakeApi::start("cm-claim").await;
    let a = store(&api, "vc01.corp.local", "router-a_1");
    assert_eq!(a.load().await.unwrap(), None, "nothing yet");
    assert_eq!(
        writers(&api),
        json!({"cp-vc01.corp.local.json": "router-a_1"}),
        "claimed"
    );
    a.save(&checkpoint(41)).await.unwrap();
    a.save(&checkpoint(42)).await.unwrap();
    assert_eq!(entry(&api, "cp-vc01.corp.local.json"), Some(checkpoint(42)));
    assert_eq!(api.conflicts(), 0, "each write carried the version the last one got");
    assert_eq!(
        a.location(),
        "ConfigMap ns/event-router-checkpoints key cp-vc01.corp.local.json"
    );
    assert_eq!(a.vcenter(), "vc01.corp.local");
}

#[tokio::test]
async fn a_deposed_writer_gets_409_and_stops_instead_of_overwriting_the_new_leader() {
    let api = FakeApi::start("cm-fence").await;
    let old = store(&api, "vc01.corp.local", "router-a_1");
    old.load().await.unwrap();
    old.save(&checkpoint(10)).await.unwrap();

    // The new leader claims the entry and resumes from the old one's position.
    let new = store(&api, "vc01.corp.local", "router-b_2");
    assert_eq!(new.load().await.unwrap(), Some(checkpoint(10)));
    new.save(&checkpoint(20)).await.unwrap();

    // The deposed leader's late write: refused (409), read again, another writer: fenced.
    let err = old.save(&checkpoint(11)).await.unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Fenced { writer, .. } if writer == "router-b_2"),
        "{err}"
    );
    assert!(err.to_string().contains("fencing"), "{err}");
    assert!(api.conflicts() >= 1, "the write was refused by its resourceVersion");
    assert_eq!(
        entry(&api, "cp-vc01.corp.local.json"),
        Some(checkpoint(20)),
        "the new leader's position stands"
    );
    // And stays fenced: every later write is refused the same way.
    assert!(matches!(
        old.save(&checkpoint(12)).await,
        Err(CheckpointError::Fenced { .. })
    ));
}

#[tokio::test]
async fn a_write_that_conflicted_with_another_vcenters_entry_is_made_again() {
    let api = FakeApi::start("cm-keys").await;
    let one = store(&api, "vc01.corp.local", "router-a_1");
    let two = store(&api, "vc02.corp.local", "router-b_2");
    one.load().await.unwrap();
    two.load().await.unwrap();
    for key in 1..=3 {
        one.save(&checkpoint(key)).await.unwrap();
        two.save(&checkpoint(key * 100)).await.unwrap();
    }
    assert!(api.conflicts() >= 3, "each write found the other's version newer");
    assert_eq!(entry(&api, "cp-vc01.corp.local.json"), Some(checkpoint(3)));
    assert_eq!(entry(&api, "cp-vc02.corp.local.json"), Some(checkpoint(300)));
    assert_eq!(
        writers(&api),
        json!({"cp-vc01.corp.local.json": "router-a_1", "cp-vc02.corp.local.json": "router-b_2"})
    );
}

#[tokio::test]
async fn moving_from_a_checkpoint_file_keeps_the_position() {
    let api = FakeApi::start("cm-move").await;
    let file = Store::new(
        &api.dir().join("checkpoints"),
        &url::Url::parse("https://vc01.corp.local/sdk").unwrap(),
    );
    file.write(&checkpoint(77)).unwrap();
    let cm = store(&api, "vc01.corp.local", "router-a_1");
    assert_eq!(cm.load().await.unwrap(), Some(checkpoint(77)), "the file's position");
    assert_eq!(
        entry(&api, "cp-vc01.corp.local.json"),
        Some(checkpoint(77)),
        "now in the ConfigMap"
    );
    // From then on the ConfigMap wins over the file.
    cm.save(&checkpoint(78)).await.unwrap();
    file.write(&checkpoint(5)).unwrap();
    assert_eq!(
        store(&api, "vc01.corp.local", "router-a_1").load().await.unwrap(),
        Some(checkpoint(78))
    );
}

#[tokio::test]
async fn a_corrupt_entry_is_named_and_an_unreachable_api_is_an_error() {
    let api = FakeApi::start("cm-bad").await;
    api.put(
        MAP,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "event-router-checkpoints"},
               "data": {"cp-vc01.corp.local.json": "{\"vCenter\": \"x\", \"lastEventKey\": "}}),
    );
    let cm = store(&api, "vc01.corp.local", "router-a_1");
    let err = cm.load().await.unwrap_err().to_string();
    assert!(
        err.contains("ConfigMap ns/event-router-checkpoints key cp-vc01.corp.local.json is not a valid checkpoint"),
        "{err}"
    );
    api.edit(MAP, |m| m["data"]["cp-vc01.corp.local.json"] = json!(""));
    assert_eq!(cm.load().await.unwrap(), None, "an empty entry is no checkpoint yet");
    api.fail_with(Some(503));
    let err = cm.save(&checkpoint(1)).await.unwrap_err();
    assert!(matches!(err, CheckpointError::Api { .. }), "{err}");
    assert!(err.to_string().contains("HTTP 503"), "{err}");
}

#[tokio::test]
async fn a_deleted_config_map_is_made_again_at_the_next_write() {
    let api = FakeApi::start("cm-deleted").await;
    let a = store(&api, "vc01.corp.local", "router-a_1");
    a.load().await.unwrap();
    a.save(&checkpoint(41)).await.unwrap();
    api.delete(MAP);
    a.save(&checkpoint(42)).await.unwrap();
    assert_eq!(
        entry(&api, "cp-vc01.corp.local.json"),
        Some(checkpoint(42)),
        "created again"
    );
    assert_eq!(writers(&api), json!({"cp-vc01.corp.local.json": "router-a_1"}));
    a.save(&checkpoint(43)).await.unwrap();
    assert_eq!(entry(&api, "cp-vc01.corp.local.json"), Some(checkpoint(43)));
}
