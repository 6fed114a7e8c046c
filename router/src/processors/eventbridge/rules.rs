//! The configured rules' event patterns, read with ListRules (every page) at start and on a
//! timer, so the processor sends only what at least one rule will match.

use std::collections::BTreeMap;

use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::Client;
use serde_json::Value;
use tracing::warn;

use crate::processors::pattern::{Pattern, PatternError};

/// Why the rules could not be read or used.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot list the rules of event bus {bus:?}: {detail}; check the region, the bus name, the credentials and that they allow events:ListRules")]
    List { bus: String, detail: String },
    #[error("rule {arn} is not on event bus {bus:?} (rules there: {found}); fix ruleARN/ruleARNs or eventBus")]
    NotFound { arn: String, bus: String, found: String },
    #[error("rule {arn} has no event pattern (a schedule rule?); use a rule with an event pattern")]
    NoPattern { arn: String },
    #[error("rule {arn}: {source}")]
    Pattern { arn: String, source: PatternError },
}

/// The patterns of the configured rules, in configuration order.
#[derive(Debug, Clone, Default)]
pub struct RuleSet(Vec<(String, Pattern)>);

impl RuleSet {
    /// Whether any rule matches the event envelope.
    pub fn matches(&self, envelope: &Value) -> bool {
        self.0.iter().any(|(_, p)| p.matches(envelope))
    }

    pub fn arns(&self) -> Vec<&str> {
        self.0.iter().map(|(a, _)| a.as_str()).collect()
    }
}

/// Reads every rule on `bus` (following NextToken) and picks the configured ones.
pub async fn load(client: &Client, bus: &str, arns: &[String]) -> Result<RuleSet, RulesError> {
    let mut found: BTreeMap<String, (Option<String>, String)> = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_rules()
            .event_bus_name(bus)
            .limit(100)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| RulesError::List {
                bus: bus.to_string(),
                detail: DisplayErrorContext(&e).to_string(),
            })?;
        for rule in page.rules() {
            if let Some(arn) = rule.arn() {
                let state = rule.state().map(|s| s.as_str().to_string()).unwrap_or_default();
                found.insert(arn.to_string(), (rule.event_pattern().map(str::to_string), state));
            }
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    let mut set = Vec::new();
    for arn in arns {
        let Some((pattern, state)) = found.get(arn) else {
            let names: Vec<&str> = found.keys().map(String::as_str).collect();
            return Err(RulesError::NotFound {
                arn: arn.clone(),
                bus: bus.to_string(),
                found: if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                },
            });
        };
        let text = pattern.as_deref().filter(|p| !p.trim().is_empty());
        let text = text.ok_or_else(|| RulesError::NoPattern { arn: arn.clone() })?;
        let parsed = Pattern::parse(text).map_err(|source| RulesError::Pattern {
            arn: arn.clone(),
            source,
        })?;
        if state == "DISABLED" {
            warn!(rule = %arn, "rule is DISABLED: events it matches are still sent, but EventBridge will not route them");
        }
        set.push((arn.clone(), parsed));
    }
    Ok(RuleSet(set))
}
