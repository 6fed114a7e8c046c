//! The router's RouterConfig, from the vSphere, Horizon, Webhook and Event Processor properties:
//! built as the router's own config types (`event_router::config`) and serialised, so the file
//! has the shape the router parses. One provider is VEBA's `eventProvider`, several are
//! `eventProviders`.

use super::{on, words};
use crate::material::Endpoint;
use crate::ovfenv::OvfEnv;
use crate::paths::CHECKPOINTS;
use event_router::config::{
    ActiveDirectoryAuth, AuthMethod, AuthType, AwsAccessKeyAuth, AwsEventBridgeConfig, BasicAuth, Destination,
    Encoding, EventFormat, HorizonConfig, KReference, KnativeConfig, Metadata, MetricsDefault, MetricsProviderConfig,
    MetricsType, OpenFaasConfig, ProcessorConfig, ProcessorType, ProviderConfig, ProviderType, RouterConfig, Secret,
    Uri, VCenterConfig, WebhookConfig, API_VERSION, DEFAULT_DEAD_LETTER_FILE,
};
use ovf::keys;

/// The webhook's port and path, as VEBA's (its Service port 8080 and path /webhook).
pub const WEBHOOK_PORT: u16 = 8080;
pub const WEBHOOK_PATH: &str = "/webhook";
/// The OpenFaaS gateway's user (OpenFaaS's own `admin`; the appliance asks only its password).
const OPENFAAS_USER: &str = "admin";

/// Why the RouterConfig could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the router's configuration: {0}")]
pub struct RenderError(#[from] serde_norway::Error);

/// A seconds property, its schema default when left empty.
fn seconds(env: &OvfEnv, key: keys::Key) -> Option<u64> {
    let v = env.get(key);
    let v = if v.is_empty() {
        key.property().default.to_string()
    } else {
        v
    };
    v.trim().parse().ok()
}

/// The CloudEvent Format property.
fn event_format(env: &OvfEnv) -> EventFormat {
    if env.get(keys::EVENT_FORMAT) == "tanzu-sources" {
        EventFormat::TanzuSources
    } else {
        EventFormat::Router
    }
}

fn basic_auth(username: String, password: String) -> AuthMethod {
    AuthMethod {
        kind: AuthType::BasicAuth,
        basic_auth: Some(BasicAuth {
            username,
            password: Secret::new(password),
        }),
        aws_access_key_auth: None,
        active_directory_auth: None,
    }
}

/// Basic auth when both the user and the password properties are set.
fn optional_basic_auth(env: &OvfEnv, user: keys::Key, password: keys::Key) -> Option<AuthMethod> {
    let (user, pw) = (env.get(user), env.get(password));
    (!user.is_empty() && !pw.is_empty()).then(|| basic_auth(user, pw))
}

fn provider(kind: ProviderType, name: &str) -> ProviderConfig {
    ProviderConfig {
        kind,
        name: name.to_string(),
        vcenter: None,
        vcsim: None,
        webhook: None,
        horizon: None,
    }
}

/// The vCenter provider, when a vCenter Server is set.
fn vcenter(env: &OvfEnv) -> Option<ProviderConfig> {
    let server = env.get(keys::VCENTER_SERVER);
    if server.is_empty() {
        return None;
    }
    Some(ProviderConfig {
        vcenter: Some(VCenterConfig {
            address: format!("https://{server}/sdk"),
            insecure_ssl: on(env, keys::VCENTER_DISABLE_TLS_VERIFICATION),
            checkpoint: true,
            checkpoint_dir: Some(CHECKPOINTS.to_string()),
            checkpoint_period_seconds: seconds(env, keys::VCENTER_CHECKPOINT_PERIOD),
            max_replay_age_seconds: seconds(env, keys::VCENTER_CHECKPOINT_AGE),
            auth: basic_auth(env.get(keys::VCENTER_USERNAME), env.get(keys::VCENTER_PASSWORD)),
            event_format: event_format(env),
            page_size: None,
            keep_alive_seconds: None,
            alarm_details: None,
        }),
        ..provider(ProviderType::Vcenter, "vcenter")
    })
}

/// The Horizon provider, when Horizon is enabled.
fn horizon(env: &OvfEnv) -> Option<ProviderConfig> {
    if !on(env, keys::HORIZON) {
        return None;
    }
    Some(ProviderConfig {
        horizon: Some(HorizonConfig {
            address: format!("https://{}", env.get(keys::HORIZON_SERVER)),
            insecure_ssl: on(env, keys::HORIZON_DISABLE_TLS_VERIFICATION),
            auth: AuthMethod {
                kind: AuthType::ActiveDirectory,
                basic_auth: None,
                aws_access_key_auth: None,
                active_directory_auth: Some(ActiveDirectoryAuth {
                    domain: env.get(keys::HORIZON_DOMAIN),
                    username: env.get(keys::HORIZON_USERNAME),
                    password: Secret::new(env.get(keys::HORIZON_PASSWORD)),
                }),
            },
            poll_interval_seconds: None,
            page_size: None,
            event_format: event_format(env),
        }),
        ..provider(ProviderType::Horizon, "horizon")
    })
}

/// The webhook provider, when the webhook is enabled: VEBA's port and path, basic auth.
fn webhook(env: &OvfEnv) -> Option<ProviderConfig> {
    if !on(env, keys::WEBHOOK) {
        return None;
    }
    Some(ProviderConfig {
        webhook: Some(WebhookConfig {
            bind_address: format!("0.0.0.0:{WEBHOOK_PORT}"),
            path: WEBHOOK_PATH.to_string(),
            auth: optional_basic_auth(env, keys::WEBHOOK_USERNAME, keys::WEBHOOK_PASSWORD),
            max_body_bytes: None,
        }),
        ..provider(ProviderType::Webhook, "webhook")
    })
}

fn providers(env: &OvfEnv) -> Vec<ProviderConfig> {
    [vcenter(env), horizon(env), webhook(env)]
        .into_iter()
        .flatten()
        .collect()
}

/// The providers the router config has, by name (for the banner and `firstboot status`).
pub fn provider_names(env: &OvfEnv) -> Vec<String> {
    providers(env).into_iter().map(|p| p.name).collect()
}

fn processor(kind: ProcessorType, name: &str) -> ProcessorConfig {
    ProcessorConfig {
        kind,
        name: name.to_string(),
        knative: None,
        openfaas: None,
        aws_event_bridge: None,
        filter: None,
        queue_capacity: None,
        concurrency: None,
    }
}

fn knative(destination: Destination, insecure_ssl: bool) -> ProcessorConfig {
    ProcessorConfig {
        knative: Some(KnativeConfig {
            destination,
            encoding: Encoding::Binary,
            insecure_ssl,
            auth: None,
            timeout_seconds: None,
            max_attempts: None,
            max_retry_seconds: None,
        }),
        ..processor(ProcessorType::Knative, "broker")
    }
}

/// The Event Processor property's processor: EventBridge, OpenFaaS, VEBA v0.7's external
/// broker, or (the default) the appliance's own Knative broker.
fn event_processor(env: &OvfEnv) -> ProcessorConfig {
    match env.get(keys::PROCESSOR).as_str() {
        "aws_event_bridge" => {
            let mut arns = words(&env.get(keys::EVENTBRIDGE_RULE_ARN));
            // VEBA's single ruleARN when there is one, the router's list when there are more.
            let rule_arn = if arns.len() == 1 { arns.remove(0) } else { String::new() };
            let key = env.get(keys::EVENTBRIDGE_ACCESS_KEY);
            let auth = if key.is_empty() {
                AuthMethod {
                    kind: AuthType::AwsIamRole,
                    basic_auth: None,
                    aws_access_key_auth: None,
                    active_directory_auth: None,
                }
            } else {
                AuthMethod {
                    kind: AuthType::AwsAccessKey,
                    basic_auth: None,
                    aws_access_key_auth: Some(AwsAccessKeyAuth {
                        access_key: key,
                        secret_key: Secret::new(env.get(keys::EVENTBRIDGE_SECRET_KEY)),
                    }),
                    active_directory_auth: None,
                }
            };
            ProcessorConfig {
                aws_event_bridge: Some(AwsEventBridgeConfig {
                    region: env.get(keys::EVENTBRIDGE_REGION),
                    event_bus: env.get(keys::EVENTBRIDGE_EVENT_BUS),
                    rule_arn,
                    rule_arns: arns,
                    auth,
                    endpoint: None,
                    max_request_bytes: None,
                    max_attempts: None,
                    max_retry_seconds: None,
                    rule_refresh_seconds: None,
                }),
                ..processor(ProcessorType::AwsEventBridge, "eventbridge")
            }
        }
        "openfaas" => ProcessorConfig {
            openfaas: Some(OpenFaasConfig {
                address: env.get(keys::OPENFAAS_ADDRESS),
                is_async: false,
                auth: Some(basic_auth(OPENFAAS_USER.to_string(), env.get(keys::OPENFAAS_PASSWORD))),
                timeout_seconds: None,
                max_attempts: None,
                max_retry_seconds: None,
                refresh_seconds: None,
                insecure_ssl: false,
            }),
            ..processor(ProcessorType::Openfaas, "openfaas")
        },
        // VEBA v0.7's external broker: scheme://host/path, outside the appliance.
        _ if !env.get(keys::KNATIVE_HOST).is_empty() => knative(
            Destination {
                reference: None,
                uri: Some(Uri::Url(format!(
                    "{}://{}{}",
                    env.get(keys::KNATIVE_SCHEME).to_ascii_lowercase(),
                    env.get(keys::KNATIVE_HOST),
                    env.get(keys::KNATIVE_PATH)
                ))),
            },
            on(env, keys::KNATIVE_DISABLE_TLS_VERIFICATION),
        ),
        _ => knative(
            Destination {
                reference: Some(KReference {
                    api_version: "eventing.knative.dev/v1".to_string(),
                    kind: "Broker".to_string(),
                    name: "default".to_string(),
                    namespace: super::manifests::FUNCTIONS_NAMESPACE.to_string(),
                }),
                uri: None,
            },
            false,
        ),
    }
}

/// The router's RouterConfig, its endpoints behind `endpoint`'s credentials; `None` when no
/// provider (vCenter, Horizon, webhook) is configured.
pub fn router_config(env: &OvfEnv, endpoint: &Endpoint) -> Option<RouterConfig> {
    let mut providers = providers(env);
    if providers.is_empty() {
        return None;
    }
    let (event_provider, event_providers) = if providers.len() == 1 {
        (providers.pop(), Vec::new())
    } else {
        (None, providers)
    };
    Some(RouterConfig {
        api_version: API_VERSION.to_string(),
        kind: "RouterConfig".to_string(),
        metadata: Metadata {
            name: "appliance".to_string(),
            labels: None,
        },
        event_provider,
        event_providers,
        event_processor: Some(event_processor(env)),
        event_processors: Vec::new(),
        metrics_provider: MetricsProviderConfig {
            kind: MetricsType::Default,
            name: "metrics".to_string(),
            default: MetricsDefault {
                bind_address: "0.0.0.0:8082".to_string(),
                auth: Some(basic_auth(
                    endpoint.user.clone(),
                    endpoint.password.expose().to_string(),
                )),
            },
        },
        certificates: None,
        // On the host folder the router's Deployment mounts, beside the checkpoint.
        dead_letter_file: Some(format!("{CHECKPOINTS}/{DEFAULT_DEAD_LETTER_FILE}")),
        shutdown_grace_seconds: None,
        notes: Vec::new(),
    })
}

/// The RouterConfig file's text (secrets included: it is written 0600 and into a Secret).
pub fn router_config_yaml(env: &OvfEnv, endpoint: &Endpoint) -> Result<Option<String>, RenderError> {
    router_config(env, endpoint)
        .map(|c| c.to_file_yaml())
        .transpose()
        .map_err(RenderError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The endpoint credentials the properties give (a generated password when they give none).
    fn endpoint(e: &OvfEnv) -> Endpoint {
        crate::material::endpoint(e, std::path::Path::new("/nonexistent")).unwrap()
    }

    /// An OVF environment document with these properties.
    fn env(props: &[(keys::Key, &str)]) -> OvfEnv {
        let escape = |s: &str| {
            s.replace('&', "&amp;")
                .replace('"', "&quot;")
                .replace('<', "&lt;")
                .replace('\n', "&#10;")
        };
        let mut xml = String::from(
            r#"<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:oe="http://schemas.dmtf.org/ovf/environment/1"><PropertySection>"#,
        );
        for (k, v) in props {
            xml.push_str(&format!(
                r#"<Property oe:key="guestinfo.{}" oe:value="{}"/>"#,
                k.as_str(),
                escape(v)
            ));
        }
        xml.push_str("</PropertySection></Environment>");
        OvfEnv::parse(&xml).unwrap()
    }

    /// Values YAML would read as something else when written bare.
    const AWKWARD: &[&str] = &[
        "yes",
        "no",
        "on",
        "null",
        "~",
        "0x10",
        "1e3",
        "012",
        "- a",
        "a: b",
        "#x",
        " lead",
        "trail ",
        "p\"a\\ss: #1",
        "'",
        "&anchor",
        "*alias",
        "!tag",
        "%x",
        "@x",
        "`x",
        "{a}",
        "[a]",
        "é€",
        "a\nb",
    ];

    #[test]
    fn every_awkward_secret_and_name_survives_the_routers_own_parser() {
        for v in AWKWARD {
            // The router refuses a UPN (user@domain) as the Horizon user name.
            let horizon_user = if v.contains('@') { "svc" } else { v };
            let e = env(&[
                (keys::VCENTER_SERVER, "vcsa.corp.local"),
                (keys::VCENTER_USERNAME, v),
                (keys::VCENTER_PASSWORD, v),
                (keys::HORIZON, "true"),
                (keys::HORIZON_SERVER, "horizon.corp.local"),
                (keys::HORIZON_DOMAIN, v),
                (keys::HORIZON_USERNAME, horizon_user),
                (keys::HORIZON_PASSWORD, v),
                (keys::WEBHOOK, "true"),
                (keys::WEBHOOK_USERNAME, v),
                (keys::WEBHOOK_PASSWORD, v),
                (keys::ENDPOINT_USERNAME, v),
                (keys::ENDPOINT_PASSWORD, v),
            ]);
            let yaml = router_config_yaml(&e, &endpoint(&e)).unwrap().unwrap();
            let cfg = RouterConfig::from_yaml(&yaml, "rendered").unwrap_or_else(|e| panic!("{v:?}: {e}\n{yaml}"));
            // The environment trims names, not passwords; the config must carry exactly what it read.
            let (name, pw) = (v.trim(), *v);
            let p = &cfg.event_providers;
            let vc = p[0].vcenter.as_ref().unwrap().auth.basic_credentials().unwrap();
            assert_eq!((vc.0.as_str(), vc.1.expose()), (name, pw), "{yaml}");
            let ad = p[1]
                .horizon
                .as_ref()
                .unwrap()
                .auth
                .active_directory_auth
                .as_ref()
                .unwrap();
            assert_eq!(
                (ad.domain.as_str(), ad.username.as_str(), ad.password.expose()),
                (name, horizon_user.trim(), pw)
            );
            let hook = p[2]
                .webhook
                .as_ref()
                .unwrap()
                .auth
                .as_ref()
                .unwrap()
                .basic_credentials()
                .unwrap();
            assert_eq!((hook.0.as_str(), hook.1.expose()), (name, pw));
            let metrics = cfg
                .metrics_provider
                .default
                .auth
                .as_ref()
                .unwrap()
                .basic_credentials()
                .unwrap();
            assert_eq!((metrics.0.as_str(), metrics.1.expose()), (name, pw));
        }
    }

    #[test]
    fn the_endpoints_are_never_left_open() {
        // The form's default: no Endpoint Password. The router still gets credentials.
        let e = env(&[(keys::VCENTER_SERVER, "vcsa"), (keys::VCENTER_PASSWORD, "p")]);
        let generated = endpoint(&e);
        assert!(generated.generated);
        assert_eq!(generated.user, "admin", "the property's default user");
        let pw = generated.password.expose();
        assert!(pw.len() >= 20 && pw.bytes().all(|b| b.is_ascii_alphanumeric()), "{pw}");
        assert_ne!(pw, endpoint(&e).password.expose(), "random");
        let cfg = router_config(&e, &generated).unwrap();
        let auth = cfg.metrics_provider.default.auth.unwrap();
        let (user, pass) = auth.basic_credentials().unwrap();
        assert_eq!((user.as_str(), pass.expose()), ("admin", pw));
    }

    #[test]
    fn eventbridge_keys_and_rules_round_trip_and_iam_when_no_key() {
        for v in AWKWARD {
            let e = env(&[
                (keys::VCENTER_SERVER, "vcsa"),
                (keys::VCENTER_USERNAME, "u"),
                (keys::VCENTER_PASSWORD, "p"),
                (keys::PROCESSOR, "aws_event_bridge"),
                (keys::EVENTBRIDGE_REGION, "eu-west-1"),
                (keys::EVENTBRIDGE_EVENT_BUS, "default"),
                (keys::EVENTBRIDGE_RULE_ARN, "arn:aws:events:eu-west-1:1:rule/a"),
                (keys::EVENTBRIDGE_ACCESS_KEY, "AKIA"),
                (keys::EVENTBRIDGE_SECRET_KEY, v),
            ]);
            let cfg =
                RouterConfig::from_yaml(&router_config_yaml(&e, &endpoint(&e)).unwrap().unwrap(), "rendered").unwrap();
            let eb = cfg.event_processor.unwrap().aws_event_bridge.unwrap();
            assert_eq!(
                eb.rule_arn, "arn:aws:events:eu-west-1:1:rule/a",
                "one rule is VEBA's ruleARN"
            );
            assert!(eb.rule_arns.is_empty());
            assert_eq!(eb.auth.aws_access_key_auth.unwrap().secret_key.expose(), *v);
        }
        let e = env(&[
            (keys::VCENTER_SERVER, "vcsa"),
            (keys::PROCESSOR, "aws_event_bridge"),
            (keys::EVENTBRIDGE_REGION, "eu-west-1"),
            (keys::EVENTBRIDGE_EVENT_BUS, "default"),
            (keys::EVENTBRIDGE_RULE_ARN, "arn:1, arn:2"),
        ]);
        let eb = router_config(&e, &endpoint(&e))
            .unwrap()
            .event_processor
            .unwrap()
            .aws_event_bridge
            .unwrap();
        assert_eq!(
            (eb.rule_arn.as_str(), eb.rule_arns),
            ("", vec!["arn:1".to_string(), "arn:2".to_string()])
        );
        assert_eq!(eb.auth.kind, AuthType::AwsIamRole);
    }

    #[test]
    fn no_provider_no_config_and_secrets_stay_out_of_debug() {
        let openfaas = env(&[(keys::PROCESSOR, "openfaas")]);
        assert!(router_config(&openfaas, &endpoint(&openfaas)).is_none());
        let e = env(&[
            (keys::VCENTER_SERVER, "vcsa"),
            (keys::VCENTER_PASSWORD, "hunter2-secret"),
        ]);
        let cfg = router_config(&e, &endpoint(&e)).unwrap();
        assert!(!format!("{cfg:?}").contains("hunter2-secret"));
        assert!(
            !serde_norway::to_string(&cfg).unwrap().contains("hunter2-secret"),
            "only to_file_yaml reveals"
        );
        assert!(cfg.to_file_yaml().unwrap().contains("hunter2-secret"));
        assert_eq!(provider_names(&e), ["vcenter"]);
    }
}
