//! The Slack message for an `AlarmStatusChangedEvent` (the router's `data`: the vSphere event in
//! govmomi's JSON field names) and a one-line summary of the alarm's definition, read from
//! `data.AlarmInfo` when the router adds it (without it the message has no threshold).

use serde_json::{json, Value};

/// A non-empty string field.
fn text(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|t| !t.is_empty())
}

/// Escapes the three characters Slack's mrkdwn treats as control characters.
pub fn mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn emoji(state: &str) -> &'static str {
    match state {
        "red" => ":red_circle:",
        "yellow" => ":large_yellow_circle:",
        "green" => ":large_green_circle:",
        "gray" => ":white_circle:",
        _ => ":bell:",
    }
}

fn operator(op: &str) -> String {
    match op {
        "isAbove" => "above".to_string(),
        "isBelow" => "below".to_string(),
        "isEqual" => "equal to".to_string(),
        "isUnequal" => "not equal to".to_string(),
        other => other.to_string(),
    }
}

/// A threshold value: a number (metric expressions; 0 means not set) or a string (state
/// expressions, e.g. `poweredOff`).
fn level(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) if n.as_f64() != Some(0.0) => Some(n.to_string()),
        Value::String(t) if !t.is_empty() => Some(t.clone()),
        _ => None,
    }
}

/// A one-line summary of an `AlarmInfo.Expression`, or `None` when there is nothing to say.
///
/// Or/And expressions hold a list in `Expression`; a MetricAlarmExpression has `Metric` with
/// `Yellow`/`Red` thresholds; a StateAlarmExpression a `StatePath`; an EventAlarmExpression an
/// `EventType`/`EventTypeId` and the `Status` it sets.
pub fn describe_expression(expr: &Value) -> Option<String> {
    let obj = expr.as_object()?;
    let kind = text(obj.get("_typeName")).unwrap_or("");
    if let Some(list) = obj.get("Expression").and_then(Value::as_array) {
        let parts: Vec<String> = list.iter().filter_map(describe_expression).collect();
        if parts.is_empty() {
            return None;
        }
        let joiner = if kind.starts_with("And") { " and " } else { " or " };
        return Some(parts.join(joiner));
    }
    let op = text(obj.get("Operator")).map(operator).unwrap_or_default();
    let levels = [("yellow", "Yellow"), ("red", "Red")]
        .iter()
        .filter_map(|(color, key)| obj.get(*key).and_then(level).map(|v| format!("{color} {v}")))
        .collect::<Vec<_>>()
        .join(", ");
    let ty = text(obj.get("Type")).unwrap_or("");
    let joined = |parts: [String; 3]| {
        parts
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
            .trim()
            .to_string()
    };
    if let Some(metric) = obj.get("Metric").and_then(Value::as_object) {
        let mut counter = match metric.get("CounterId") {
            Some(id) if !id.is_null() => format!("counter {id}"),
            _ => "counter ?".to_string(),
        };
        if let Some(instance) = text(metric.get("Instance")) {
            counter.push_str(&format!(" [{instance}]"));
        }
        return Some(joined([format!("{ty} metric {counter}"), op, levels]));
    }
    if let Some(path) = text(obj.get("StatePath")) {
        return Some(joined([format!("{ty}.{path}"), op, levels]));
    }
    let event_type = text(obj.get("EventTypeId")).or_else(|| text(obj.get("EventType")))?;
    let status = text(obj.get("Status"))
        .map(|s| format!(" sets {s}"))
        .unwrap_or_default();
    Some(format!("event {event_type}{status}"))
}

/// The Slack webhook payload (`text` as the notification fallback, Block Kit `blocks` for the
/// channel) for an `AlarmStatusChangedEvent`'s data.
pub fn slack_message(event_id: &str, source: &str, data: &Value) -> Value {
    let alarm = text(data.pointer("/Alarm/Name")).unwrap_or("?");
    let entity = text(data.pointer("/Entity/Name")).unwrap_or("?");
    let entity_type = text(data.pointer("/Entity/Entity/Type"));
    let old = text(data.get("From")).unwrap_or("?");
    let new = text(data.get("To")).unwrap_or("?");
    let info = data.get("AlarmInfo").filter(|i| i.is_object());
    let threshold = info.and_then(|i| i.get("Expression")).and_then(describe_expression);
    let description = info.and_then(|i| text(i.get("Description")));
    let icon = emoji(&new.to_lowercase());

    let mut fallback = format!("{icon} Alarm '{alarm}' on {entity}: {old} -> {new}");
    if let Some(t) = &threshold {
        fallback.push_str(&format!(" (threshold: {t})"));
    }
    let entity_field = match entity_type {
        Some(t) => format!("*Entity*\n{} ({t})", mrkdwn(entity)),
        None => format!("*Entity*\n{}", mrkdwn(entity)),
    };
    let mut fields = vec![json!({"type": "mrkdwn", "text": entity_field})];
    if let Some(t) = &threshold {
        fields.push(json!({"type": "mrkdwn", "text": format!("*Threshold*\n{}", mrkdwn(t))}));
    }
    if let Some(d) = description {
        fields.push(json!({"type": "mrkdwn", "text": format!("*Description*\n{}", mrkdwn(d))}));
    }
    let created = text(data.get("CreatedTime")).unwrap_or("");
    json!({
        "text": fallback,
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": format!(
                        "{icon} *Alarm '{}'* on *{}*: {} -> *{}*",
                        mrkdwn(alarm),
                        mrkdwn(entity),
                        mrkdwn(old),
                        mrkdwn(new)
                    ),
                },
            },
            {"type": "section", "fields": fields},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": mrkdwn(&format!("{source}, event {event_id}, {created}"))}],
            },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(info: Option<Value>) -> Value {
        let mut data = json!({
            "Key": 42,
            "CreatedTime": "2026-01-01T00:00:00Z",
            "Alarm": {"Name": "Host CPU usage", "Alarm": {"Type": "Alarm", "Value": "alarm-7"}},
            "Entity": {"Name": "esx<01>", "Entity": {"Type": "HostSystem", "Value": "host-21"}},
            "From": "yellow",
            "To": "red",
        });
        if let Some(i) = info {
            data["AlarmInfo"] = i;
        }
        data
    }

    #[test]
    fn a_metric_alarm_names_its_thresholds() {
        let info = json!({
            "Name": "Host CPU usage",
            "Description": "CPU & more",
            "Expression": {"Expression": [{
                "Operator": "isAbove", "Type": "HostSystem",
                "Metric": {"CounterId": 2, "Instance": ""},
                "Yellow": 7500, "YellowInterval": 300, "Red": 9000, "RedInterval": 300
            }]},
        });
        let m = slack_message("42", "https://vc/sdk", &event(Some(info)));
        assert_eq!(
            m["text"],
            ":red_circle: Alarm 'Host CPU usage' on esx<01>: yellow -> red (threshold: HostSystem metric counter 2 above yellow 7500, red 9000)"
        );
        assert_eq!(
            m["blocks"][0]["text"]["text"],
            ":red_circle: *Alarm 'Host CPU usage'* on *esx&lt;01&gt;*: yellow -> *red*"
        );
        let fields = m["blocks"][1]["fields"].as_array().unwrap();
        assert_eq!(fields[0]["text"], "*Entity*\nesx&lt;01&gt; (HostSystem)");
        assert_eq!(
            fields[1]["text"],
            "*Threshold*\nHostSystem metric counter 2 above yellow 7500, red 9000"
        );
        assert_eq!(fields[2]["text"], "*Description*\nCPU &amp; more");
    }

    #[test]
    fn without_alarm_info_the_message_has_no_threshold() {
        let m = slack_message("42", "https://vc/sdk", &event(None));
        assert_eq!(
            m["text"],
            ":red_circle: Alarm 'Host CPU usage' on esx<01>: yellow -> red"
        );
        assert_eq!(m["blocks"][1]["fields"].as_array().unwrap().len(), 1);
        assert_eq!(
            m["blocks"][2]["elements"][0]["text"],
            "https://vc/sdk, event 42, 2026-01-01T00:00:00Z"
        );
    }

    #[test]
    fn event_state_and_combined_expressions_are_summarised() {
        let event = json!({"EventType": "EventEx", "EventTypeId": "esx.problem.vmfs.heartbeat.timedout", "ObjectType": "HostSystem", "Status": "red"});
        assert_eq!(
            describe_expression(&event).unwrap(),
            "event esx.problem.vmfs.heartbeat.timedout sets red"
        );
        let state = json!({"Operator": "isEqual", "Type": "VirtualMachine", "StatePath": "runtime.powerState", "Yellow": "", "Red": "poweredOff"});
        assert_eq!(
            describe_expression(&state).unwrap(),
            "VirtualMachine.runtime.powerState equal to red poweredOff"
        );
        let and = json!({"_typeName": "AndAlarmExpression", "Expression": [event, state]});
        assert!(describe_expression(&and)
            .unwrap()
            .contains(" sets red and VirtualMachine."));
        assert_eq!(describe_expression(&json!({"Expression": []})), None);
        assert_eq!(describe_expression(&Value::Null), None);
    }
}
