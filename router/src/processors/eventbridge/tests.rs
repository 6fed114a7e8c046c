//! The processor with the real SDK against a scripted EventBridge endpoint (awsJson1.1, as
//! the API reference documents it) for what moto cannot do: throttling and partial failure.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use cloudevents::{EventBuilder, EventBuilderV10};
use serde_json::{json, Value};

use super::*;
use crate::config::{AuthMethod, AwsAccessKeyAuth, Secret};

const ARN: &str = "arn:aws:events:us-west-1:123456789012:rule/veba/power-off";

#[derive(Default)]
struct Script {
    /// Answers to PutEvents, in order: (status, body).
    put_answers: VecDeque<(u16, Value)>,
    /// Every PutEvents request body.
    puts: Vec<Value>,
    list_calls: usize,
    pattern: String,
}

async fn handle(script: Arc<Mutex<Script>>, headers: HeaderMap, body: String) -> axum::response::Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    let req: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let mut s = script.lock().unwrap();
    let (status, answer) = match target {
        "AWSEvents.ListRules" => {
            s.list_calls += 1;
            if req.get("NextToken").is_none() {
                (
                    200,
                    json!({"Rules": [{"Name": "other", "Arn": "arn:aws:events:us-west-1:123456789012:rule/veba/other", "EventPattern": "{\"source\":[\"x\"]}", "State": "ENABLED"}], "NextToken": "page-2"}),
                )
            } else {
                (
                    200,
                    if s.pattern.is_empty() {
                        json!({"Rules": [{"Name": "power-off", "Arn": ARN, "ScheduleExpression": "rate(5 minutes)", "State": "ENABLED"}]})
                    } else {
                        json!({"Rules": [{"Name": "power-off", "Arn": ARN, "EventPattern": s.pattern.clone(), "State": "ENABLED"}]})
                    },
                )
            }
        }
        "AWSEvents.PutEvents" => {
            s.puts.push(req.clone());
            let n = req["Entries"].as_array().map(Vec::len).unwrap_or(0);
            s.put_answers.pop_front().unwrap_or_else(|| {
                (200, json!({"FailedEntryCount": 0, "Entries": (0..n).map(|i| json!({"EventId": format!("ok-{i}")})).collect::<Vec<_>>()}))
            })
        }
        _ => (400, json!({"__type": "UnknownOperationException", "message": target})),
    };
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/x-amz-json-1.1")],
        answer.to_string(),
    )
        .into_response()
}

async fn endpoint(script: Arc<Mutex<Script>>) -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().route("/", post(move |h: HeaderMap, b: String| handle(script.clone(), h, b)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), task)
}

fn config(endpoint: &str, rules: Vec<String>) -> AwsEventBridgeConfig {
    AwsEventBridgeConfig {
        region: "us-west-1".into(),
        event_bus: "veba".into(),
        rule_arn: String::new(),
        rule_arns: rules,
        auth: AuthMethod {
            kind: AuthType::AwsAccessKey,
            basic_auth: None,
            aws_access_key_auth: Some(AwsAccessKeyAuth {
                access_key: "AKIDEXAMPLE".into(),
                secret_key: Secret::new("secret"),
            }),
            active_directory_auth: None,
        },
        endpoint: Some(endpoint.into()),
        max_request_bytes: None,
        max_attempts: Some(3),
        max_retry_seconds: None,
        rule_refresh_seconds: None,
    }
}

fn event(id: &str, subject: &str) -> Arc<Event> {
    Arc::new(
        EventBuilderV10::new()
            .id(id)
            .source("https://vc/sdk")
            .ty("com.vmware.event.router/event")
            .subject(subject)
            .time("2026-11-30T10:00:00Z")
            .data("application/json", json!({"Key": id}))
            .build()
            .unwrap(),
    )
}

fn detail_ids(put: &Value) -> Vec<String> {
    put["Entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let d: Value = serde_json::from_str(e["Detail"].as_str().unwrap()).unwrap();
            d["id"].as_str().unwrap().to_string()
        })
        .collect()
}

fn power_off_script() -> Arc<Mutex<Script>> {
    Arc::new(Mutex::new(Script {
        pattern: r#"{"detail":{"subject":["VmPoweredOffEvent"]}}"#.into(),
        ..Script::default()
    }))
}

#[tokio::test]
async fn throttling_is_retried_and_only_failed_entries_are_sent_again() {
    let script = power_off_script();
    {
        let mut s = script.lock().unwrap();
        s.put_answers.push_back((
            400,
            json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
        ));
        s.put_answers.push_back((
            200,
            json!({"FailedEntryCount": 2, "Entries": [
                {"EventId": "a"},
                {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"},
                {"ErrorCode": "MalformedDetail", "ErrorMessage": "bad"},
            ]}),
        ));
    }
    let (url, server) = endpoint(script.clone()).await;
    let eb = EventBridge::new(&config(&url, vec![ARN.into()])).await.unwrap();
    assert_eq!(script.lock().unwrap().list_calls, 2, "both ListRules pages read");
    let events = [
        event("1", "VmPoweredOffEvent"),
        event("2", "VmPoweredOnEvent"),
        event("3", "VmPoweredOffEvent"),
        event("4", "VmPoweredOffEvent"),
    ];
    let results = eb.process_batch(&events).await;
    assert!(matches!(results[0], Ok(Handled::Sent)), "{results:?}");
    assert!(
        matches!(results[1], Ok(Handled::Skipped)),
        "the rule does not match: {results:?}"
    );
    assert!(
        matches!(results[2], Ok(Handled::Sent)),
        "resent alone, then accepted: {results:?}"
    );
    assert!(
        matches!(&results[3], Err(ProcessError::Rejected { id, detail }) if id == "4" && detail.starts_with("MalformedDetail")),
        "{results:?}"
    );
    let s = script.lock().unwrap();
    let sent: Vec<Vec<String>> = s.puts.iter().map(detail_ids).collect();
    assert_eq!(sent, [vec!["1", "3", "4"], vec!["1", "3", "4"], vec!["3"]]);
    let first = &s.puts[0]["Entries"][0];
    assert_eq!(first["Source"], "https://vc/sdk");
    assert_eq!(first["DetailType"], "VmPoweredOffEvent");
    assert_eq!(first["EventBusName"], "veba");
    assert!(first["Time"].is_number(), "{first}");
    server.abort();
}

#[tokio::test]
async fn entries_failing_every_time_are_given_up_after_max_attempts() {
    let script = power_off_script();
    for _ in 0..3 {
        script.lock().unwrap().put_answers.push_back((
            200,
            json!({"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "down"}]}),
        ));
    }
    let (url, server) = endpoint(script.clone()).await;
    let eb = EventBridge::new(&config(&url, vec![ARN.into()])).await.unwrap();
    let err = eb.process(&event("9", "VmPoweredOffEvent")).await.unwrap_err();
    assert!(
        matches!(&err, ProcessError::Exhausted { attempts: 3, last, .. } if last.contains("InternalFailure: down")),
        "{err}"
    );
    assert_eq!(script.lock().unwrap().puts.len(), 3);
    server.abort();
}

#[tokio::test]
async fn a_rule_that_is_not_there_or_has_no_usable_pattern_stops_the_start() {
    let script = power_off_script();
    let (url, server) = endpoint(script.clone()).await;
    let missing = "arn:aws:events:us-west-1:123456789012:rule/veba/nope";
    let err = EventBridge::new(&config(&url, vec![missing.into()]))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains(&format!("rule {missing} is not on event bus \"veba\"")),
        "{err}"
    );
    assert!(err.contains(ARN), "lists the rules found: {err}");
    script.lock().unwrap().pattern = r#"{"detail":{"subject":"VmPoweredOffEvent"}}"#.into();
    let err = EventBridge::new(&config(&url, vec![ARN.into()]))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with(&format!("rule {ARN}: event pattern detail.subject:")),
        "{err}"
    );
    server.abort();
}

#[tokio::test]
async fn an_event_over_the_size_limit_is_refused_without_a_call() {
    let script = power_off_script();
    let (url, server) = endpoint(script.clone()).await;
    let mut cfg = config(&url, vec![ARN.into()]);
    cfg.max_request_bytes = Some(1024);
    let eb = EventBridge::new(&cfg).await.unwrap();
    let big = Arc::new(
        EventBuilderV10::from((*event("5", "VmPoweredOffEvent")).clone())
            .data("application/json", json!({"x": "y".repeat(2000)}))
            .build()
            .unwrap(),
    );
    let results = eb.process_batch(&[big, event("6", "VmPoweredOffEvent")]).await;
    assert!(
        matches!(&results[0], Err(ProcessError::Rejected { detail, .. }) if detail.contains("exceeds maxRequestBytes 1024")),
        "{results:?}"
    );
    assert!(matches!(results[1], Ok(Handled::Sent)));
    assert_eq!(detail_ids(&script.lock().unwrap().puts[0]), ["6"]);
    server.abort();
}

#[tokio::test]
async fn changed_rule_patterns_are_picked_up_on_refresh() {
    let script = power_off_script();
    let (url, server) = endpoint(script.clone()).await;
    let mut cfg = config(&url, vec![ARN.into()]);
    cfg.rule_refresh_seconds = Some(1);
    let eb = EventBridge::new(&cfg).await.unwrap();
    let on = [event("1", "VmPoweredOnEvent")];
    assert!(matches!(eb.process_batch(&on).await[0], Ok(Handled::Skipped)));
    script.lock().unwrap().pattern = r#"{"detail-type":["VmPoweredOnEvent"]}"#.into();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while script.lock().unwrap().list_calls < 4 {
        assert!(tokio::time::Instant::now() < deadline, "no re-read of the rules");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(matches!(eb.process_batch(&on).await[0], Ok(Handled::Sent)));
    // A failing re-read keeps the patterns it had.
    script.lock().unwrap().pattern = "not json".into();
    while script.lock().unwrap().list_calls < 6 {
        assert!(
            tokio::time::Instant::now() < deadline + Duration::from_secs(3),
            "no second re-read"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(matches!(eb.process_batch(&on).await[0], Ok(Handled::Sent)));
    server.abort();
}

#[tokio::test]
async fn a_rule_without_an_event_pattern_stops_the_start() {
    let script = power_off_script();
    script.lock().unwrap().pattern = String::new();
    let (url, server) = endpoint(script.clone()).await;
    let err = EventBridge::new(&config(&url, vec![ARN.into()]))
        .await
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        format!("rule {ARN} has no event pattern (a schedule rule?); use a rule with an event pattern")
    );
    server.abort();
}
