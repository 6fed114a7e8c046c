//! A table of EventBridge patterns against one event, covering every operator.

use serde_json::json;

use super::*;

fn event() -> Value {
    json!({
        "detail": {
            "id": "42",
            "source": "https://vcenter.corp.local/sdk",
            "type": "com.vmware.event.router/event",
            "subject": "VmPoweredOffEvent",
            "data": {
                "Key": 9001,
                "FullFormattedMessage": "DB01 on esx-01 in DC0 is powered off",
                "Vm": {"Name": "DB01"},
                "Tags": ["prod", "db"],
                "Empty": [],
                "Nothing": null,
                "Ratio": 0.5
            }
        }
    })
}

#[test]
fn every_operator_matches_as_eventbridge_documents() {
    let table: &[(&str, bool)] = &[
        // exact values, OR within a list, AND across fields, nesting
        (r#"{"detail": {"subject": ["VmPoweredOffEvent"]}}"#, true),
        (
            r#"{"detail": {"subject": ["VmPoweredOnEvent", "VmPoweredOffEvent"]}}"#,
            true,
        ),
        (r#"{"detail": {"subject": ["VmPoweredOnEvent"]}}"#, false),
        (
            r#"{"detail": {"subject": ["VmPoweredOffEvent"], "type": ["other"]}}"#,
            false,
        ),
        (r#"{"detail": {"data": {"Vm": {"Name": ["DB01"]}}}}"#, true),
        (r#"{"detail": {"data": {"Key": [9001]}}}"#, true),
        (r#"{"detail": {"data": {"Key": [9001.0]}}}"#, true),
        (r#"{"detail": {"data": {"Key": ["9001"]}}}"#, false),
        (r#"{"detail": {"data": {"Nothing": [null]}}}"#, true),
        (r#"{"detail": {"data": {"Missing": [null]}}}"#, false),
        (r#"{"detail": {"missing": {"deeper": ["x"]}}}"#, false),
        // arrays in the event: any element
        (r#"{"detail": {"data": {"Tags": ["db"]}}}"#, true),
        (r#"{"detail": {"data": {"Tags": ["dev"]}}}"#, false),
        // prefix / suffix (also case-insensitive)
        (r#"{"detail": {"subject": [{"prefix": "VmPowered"}]}}"#, true),
        (r#"{"detail": {"subject": [{"prefix": "vmpowered"}]}}"#, false),
        (
            r#"{"detail": {"subject": [{"prefix": {"equals-ignore-case": "vmpowered"}}]}}"#,
            true,
        ),
        (r#"{"detail": {"subject": [{"suffix": "OffEvent"}]}}"#, true),
        (
            r#"{"detail": {"subject": [{"suffix": {"equals-ignore-case": "OFFEVENT"}}]}}"#,
            true,
        ),
        (r#"{"detail": {"subject": [{"suffix": "OnEvent"}]}}"#, false),
        (r#"{"detail": {"data": {"Key": [{"prefix": "9"}]}}}"#, false),
        // anything-but: value, list, prefix, suffix, equals-ignore-case; absent never matches
        (
            r#"{"detail": {"subject": [{"anything-but": "VmPoweredOnEvent"}]}}"#,
            true,
        ),
        (
            r#"{"detail": {"subject": [{"anything-but": ["VmPoweredOffEvent", "X"]}]}}"#,
            false,
        ),
        (
            r#"{"detail": {"subject": [{"anything-but": {"prefix": "Vm"}}]}}"#,
            false,
        ),
        (
            r#"{"detail": {"subject": [{"anything-but": {"prefix": "Host"}}]}}"#,
            true,
        ),
        (
            r#"{"detail": {"subject": [{"anything-but": {"suffix": "OffEvent"}}]}}"#,
            false,
        ),
        (
            r#"{"detail": {"subject": [{"anything-but": {"equals-ignore-case": "vmpoweredoffevent"}}]}}"#,
            false,
        ),
        (r#"{"detail": {"data": {"Key": [{"anything-but": [1, 2]}]}}}"#, true),
        (r#"{"detail": {"data": {"Key": [{"anything-but": 9001}]}}}"#, false),
        (r#"{"detail": {"data": {"Tags": [{"anything-but": "db"}]}}}"#, false),
        (r#"{"detail": {"missing": [{"anything-but": "x"}]}}"#, false),
        // numeric ranges
        (
            r#"{"detail": {"data": {"Key": [{"numeric": [">", 9000, "<=", 9001]}]}}}"#,
            true,
        ),
        (r#"{"detail": {"data": {"Key": [{"numeric": ["<", 9001]}]}}}"#, false),
        (r#"{"detail": {"data": {"Ratio": [{"numeric": ["=", 0.5]}]}}}"#, true),
        (r#"{"detail": {"data": {"Ratio": [{"numeric": [">=", 1]}]}}}"#, false),
        (r#"{"detail": {"subject": [{"numeric": [">", 0]}]}}"#, false),
        // exists (an empty array counts as absent)
        (r#"{"detail": {"data": {"Vm": {"Name": [{"exists": true}]}}}}"#, true),
        (r#"{"detail": {"data": {"Host": [{"exists": false}]}}}"#, true),
        (r#"{"detail": {"data": {"Host": [{"exists": true}]}}}"#, false),
        (r#"{"detail": {"data": {"Key": [{"exists": false}]}}}"#, false),
        (r#"{"detail": {"data": {"Empty": [{"exists": false}]}}}"#, true),
        // wildcard
        (
            r#"{"detail": {"source": [{"wildcard": "https://*.corp.local/sdk"}]}}"#,
            true,
        ),
        (
            r#"{"detail": {"data": {"FullFormattedMessage": [{"wildcard": "*on esx-*powered off"}]}}}"#,
            true,
        ),
        (
            r#"{"detail": {"source": [{"wildcard": "https://*.corp.com/*"}]}}"#,
            false,
        ),
        (r#"{"detail": {"subject": [{"wildcard": "Vm*Event"}]}}"#, true),
        (r#"{"detail": {"subject": [{"wildcard": "Vm\\*Event"}]}}"#, false),
        (r#"{"detail": {"subject": [{"wildcard": "*"}]}}"#, true),
        // equals-ignore-case
        (
            r#"{"detail": {"subject": [{"equals-ignore-case": "vmpoweredoffevent"}]}}"#,
            true,
        ),
        (
            r#"{"detail": {"subject": [{"equals-ignore-case": "vmpoweredonevent"}]}}"#,
            false,
        ),
        // $or
        (
            r#"{"detail": {"$or": [{"subject": ["VmPoweredOnEvent"]}, {"data": {"Key": [9001]}}]}}"#,
            true,
        ),
        (
            r#"{"detail": {"$or": [{"subject": ["VmPoweredOnEvent"]}, {"data": {"Key": [1]}}]}}"#,
            false,
        ),
        (
            r#"{"$or": [{"detail": {"subject": ["X"]}}, {"detail": {"type": [{"prefix": "com.vmware"}]}}]}"#,
            true,
        ),
        // the empty pattern matches everything
        (r#"{}"#, true),
    ];
    for (pattern, want) in table {
        let p = Pattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        assert_eq!(p.matches(&event()), *want, "{pattern}");
    }
}

#[test]
fn unusable_patterns_are_named_with_their_place() {
    let table: &[(&str, &str)] = &[
        ("not json", "event pattern (top): not JSON"),
        ("[1]", "event pattern (top): must be a JSON object"),
        (
            r#"{"detail": {"subject": "x"}}"#,
            "event pattern detail.subject: values must be in a list",
        ),
        (
            r#"{"detail": {"subject": []}}"#,
            "event pattern detail.subject: an empty list matches nothing",
        ),
        (
            r#"{"a": [{"prefx": "x"}]}"#,
            "event pattern a: unknown operator \"prefx\"",
        ),
        (
            r#"{"a": [{"numeric": [">"]}]}"#,
            "event pattern a: invalid argument for \"numeric\"",
        ),
        (
            r#"{"a": [{"numeric": ["~", 1]}]}"#,
            "event pattern a: invalid argument for \"numeric\"",
        ),
        (
            r#"{"a": [{"exists": "yes"}]}"#,
            "event pattern a: invalid argument for \"exists\"",
        ),
        (
            r#"{"a": [{"prefix": "x", "suffix": "y"}]}"#,
            "event pattern a: a matcher object has exactly one operator",
        ),
        (r#"{"a": [["x"]]}"#, "event pattern a: nested lists are not allowed"),
        (r#"{"$or": []}"#, "event pattern $or: $or needs a list of patterns"),
        (
            r#"{"a": [{"anything-but": {"wildcard": "x"}}]}"#,
            "event pattern a: invalid argument for \"anything-but\"",
        ),
    ];
    for (pattern, want) in table {
        let e = Pattern::parse(pattern).expect_err(pattern);
        assert!(e.to_string().starts_with(want), "{pattern}: {e}");
    }
}
