//! The router's RouterConfig, from the vSphere, Horizon, Webhook and Event Processor properties:
//! built as the router's own config types (`event_router::config`) and serialised, so the file
//! has the shape the router parses. One provider is VEBA's `eventProvider`, several are
//! `eventProviders` (one per vCenter of the form, each named after its host, with its own
//! checkpoint file). The operator's files in `/etc/event-router/config.d` are merged in (see
//! `overrides`), and the result must pass the router's own loader.

use super::{on, words};
use crate::material::{decode_pem, Endpoint};
use crate::overrides::{self, Origin, Source};
use crate::ovfenv::OvfEnv;
use crate::paths::{CHECKPOINTS, TRUSTED_CA};
use event_router::config::{
    ActiveDirectoryAuth, AuthMethod, AuthType, AwsAccessKeyAuth, AwsEventBridgeConfig, BasicAuth, Certificates,
    ConfigError, Destination, Encoding, EventFormat, HorizonConfig, KReference, KnativeConfig, Metadata,
    MetricsDefault, MetricsProviderConfig, MetricsType, OpenFaasConfig, ProcessorConfig, ProcessorType, ProviderConfig,
    ProviderType, RouterConfig, Secret, Uri, VCenterConfig, WebhookConfig, API_VERSION, DEFAULT_DEAD_LETTER_FILE,
};
use ovf::keys;

/// The webhook's port and path, as VEBA's (its Service port 8080 and path /webhook).
pub const WEBHOOK_PORT: u16 = 8080;
pub const WEBHOOK_PATH: &str = "/webhook";
/// The OpenFaaS gateway's user (OpenFaaS's own `admin`; the appliance asks only its password).
const OPENFAAS_USER: &str = "admin";

/// Why the RouterConfig could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot write the router's configuration: {0}")]
    Yaml(#[from] serde_norway::Error),
    /// The merged configuration is refused: every problem, naming the file and entry it comes
    /// from (no secret in them).
    #[error("the router's configuration is refused, nothing was changed: {}", .0.join("; "))]
    Refused(Vec<String>),
}

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

/// One vCenter provider per vCenter of the form (the vCenter Server, then the Additional vCenter
/// Servers), each with its account and its own checkpoint file (named by host and port). One
/// vCenter keeps VEBA's name `vcenter`; several are named after their host (and port, when not
/// 443), so logs, /stats and /metrics tell them apart.
fn vcenters(env: &OvfEnv) -> Vec<ProviderConfig> {
    let (list, _) = crate::vcenters::vcenters(env);
    let several = list.len() > 1;
    list.into_iter()
        .map(|v| {
            let name = if !several {
                "vcenter".to_string()
            } else {
                // A single-label host could take the Horizon or webhook provider's name.
                match crate::vcenters::name(&v.server) {
                    n if n == "horizon" || n == "webhook" => format!("vcenter-{n}"),
                    n => n,
                }
            };
            ProviderConfig {
                vcenter: Some(VCenterConfig {
                    address: format!("https://{}/sdk", v.server),
                    insecure_ssl: on(env, keys::VCENTER_DISABLE_TLS_VERIFICATION),
                    checkpoint: true,
                    checkpoint_dir: Some(CHECKPOINTS.to_string()),
                    checkpoint_period_seconds: seconds(env, keys::VCENTER_CHECKPOINT_PERIOD),
                    max_replay_age_seconds: seconds(env, keys::VCENTER_CHECKPOINT_AGE),
                    auth: basic_auth(v.username, v.password),
                    event_format: event_format(env),
                    page_size: None,
                    keep_alive_seconds: None,
                    alarm_details: None,
                    checkpoint_store: None,
                    checkpoint_config_map: None,
                }),
                ..provider(ProviderType::Vcenter, &name)
            }
        })
        .collect()
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
    let mut out = vcenters(env);
    out.extend(horizon(env));
    out.extend(webhook(env));
    out
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

/// The Trusted CA Certificate property's PEM text (ending with a newline), when it is set.
pub fn trusted_ca(env: &OvfEnv) -> Option<String> {
    decode_pem(&env.get(keys::TRUSTED_CA_CERT)).map(|pem| if pem.ends_with('\n') { pem } else { format!("{pem}\n") })
}

/// The router's RouterConfig from the form alone, its endpoints behind `endpoint`'s
/// credentials; `None` when no provider (vCenter, Horizon, webhook) is configured.
pub fn router_config(env: &OvfEnv, endpoint: &Endpoint) -> Option<RouterConfig> {
    let providers = providers(env);
    if providers.is_empty() {
        return None;
    }
    Some(assemble(env, endpoint, providers, vec![event_processor(env)]))
}

/// The RouterConfig around these providers and processors (VEBA's single forms for one of each).
fn assemble(
    env: &OvfEnv,
    endpoint: &Endpoint,
    mut providers: Vec<ProviderConfig>,
    mut processors: Vec<ProcessorConfig>,
) -> RouterConfig {
    let (event_provider, event_providers) = if providers.len() == 1 {
        (providers.pop(), Vec::new())
    } else {
        (None, providers)
    };
    let (event_processor, event_processors) = if processors.len() == 1 {
        (processors.pop(), Vec::new())
    } else {
        (None, processors)
    };
    RouterConfig {
        api_version: API_VERSION.to_string(),
        kind: "RouterConfig".to_string(),
        metadata: Metadata {
            name: "appliance".to_string(),
            labels: None,
        },
        event_provider,
        event_providers,
        event_processor,
        event_processors,
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
        // The Trusted CA Certificate, for vCenter and Horizon (the file beside the config).
        certificates: trusted_ca(env).map(|_| Certificates {
            root_cas: vec![TRUSTED_CA.to_string()],
        }),
        // On the host folder the router's Deployment mounts, beside the checkpoint.
        dead_letter_file: Some(format!("{CHECKPOINTS}/{DEFAULT_DEAD_LETTER_FILE}")),
        shutdown_grace_seconds: None,
        // One router process on the appliance: no election, file checkpoints.
        leader_election: None,
        notes: Vec::new(),
    }
}

/// The router's configuration file as rendered: the form's configuration with the operator's
/// files merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The file's text (secrets included: it is written 0600 and into a Secret).
    pub yaml: String,
    /// Every provider's name (the form's and the files').
    pub sources: Vec<String>,
    /// What was merged from `/etc/event-router/config.d` (for the status's notes).
    pub merged: Vec<String>,
    /// Problems with those files that do not stop the rendering (a file others may read).
    pub warnings: Vec<String>,
    /// Each provider and processor with where it comes from (for Debugging's detail lines).
    pub details: Vec<String>,
}

/// A router problem with the files and entries it comes from: `eventProviders[3]` is the
/// router's index in the merged list, which the operator's file does not show.
fn with_origins(problem: String, providers: &[Option<String>], processors: &[Option<String>]) -> String {
    let mut from = Vec::new();
    for (list, origins) in [("eventProviders", providers), ("eventProcessors", processors)] {
        for (i, origin) in origins.iter().enumerate() {
            if let Some(origin) = origin {
                if problem.contains(&format!("{list}[{i}]")) {
                    from.push(format!("{list}[{i}] is {origin}"));
                }
            }
        }
    }
    if from.is_empty() {
        problem
    } else {
        format!("{problem} ({})", from.join("; "))
    }
}

/// The router's configuration: the form's, the operator's files (`files`, from
/// `/etc/event-router/config.d`) merged in, checked by the router's own loader; `None` when it
/// has no provider.
pub fn rendered(env: &OvfEnv, endpoint: &Endpoint, files: &[Source]) -> Result<Option<Rendered>, RenderError> {
    let mut providers: Vec<Origin<ProviderConfig>> = providers(env).into_iter().map(Origin::form).collect();
    let mut processors = vec![Origin::form(event_processor(env))];
    let report = overrides::merge(files, &mut providers, &mut processors).map_err(RenderError::Refused)?;
    if providers.is_empty() {
        return Ok(None);
    }
    let describe = |kind: &str, name: &str, from: &Option<String>| match from {
        None => format!("{kind} {name:?} from the form"),
        Some(from) => format!("{kind} {name:?} from {from}"),
    };
    let mut details: Vec<String> = providers
        .iter()
        .map(|p| describe("provider", &p.item.name, &p.from))
        .collect();
    details.extend(processors.iter().map(|p| describe("processor", &p.item.name, &p.from)));
    let sources = providers.iter().map(|p| p.item.name.clone()).collect();
    let provider_from: Vec<Option<String>> = providers.iter().map(|p| p.from.clone()).collect();
    let processor_from: Vec<Option<String>> = processors.iter().map(|p| p.from.clone()).collect();
    let cfg = assemble(
        env,
        endpoint,
        providers.into_iter().map(|p| p.item).collect(),
        processors.into_iter().map(|p| p.item).collect(),
    );
    let yaml = cfg.to_file_yaml()?;
    if let Err(e) = RouterConfig::from_yaml(&yaml, super::ROUTER_CONFIG) {
        let problems = match e {
            ConfigError::Invalid { problems, .. } => problems,
            other => vec![overrides::without_quoted_values(&other.to_string())],
        };
        return Err(RenderError::Refused(
            problems
                .into_iter()
                .map(|p| with_origins(p, &provider_from, &processor_from))
                .collect(),
        ));
    }
    Ok(Some(Rendered {
        yaml,
        sources,
        merged: report.merged,
        warnings: report.warnings,
        details,
    }))
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
    fn each_vcenter_is_a_provider_named_after_its_host_with_its_own_account_and_checkpoint() {
        let e = env(&[
            (keys::VCENTER_SERVER, "vc-a.corp.local"),
            (keys::VCENTER_SERVERS, "vc-b.corp.local VC-C.corp.local:8443"),
            (keys::VCENTER_USERNAME, "svc@vsphere.local"),
            (keys::VCENTER_PASSWORD, "shared-pw"),
            (
                keys::VCENTER_CREDENTIALS,
                r"vc-c.corp.local:8443=admin@lab.local:own\;pw",
            ),
        ]);
        let yaml = router_config_yaml(&e, &endpoint(&e)).unwrap().unwrap();
        let cfg = RouterConfig::from_yaml(&yaml, "rendered").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let got: Vec<(String, String, String, String, String)> = cfg
            .event_providers
            .iter()
            .map(|p| {
                let v = p.vcenter.as_ref().unwrap();
                let (user, pw) = v.auth.basic_credentials().unwrap();
                let cp = v.checkpoint_path().unwrap().display().to_string();
                (p.name.clone(), v.address.clone(), user, pw.expose().to_string(), cp)
            })
            .collect();
        let cp = |f: &str| format!("{CHECKPOINTS}/{f}");
        assert_eq!(
            got,
            [
                (
                    "vc-a.corp.local".to_string(),
                    "https://vc-a.corp.local/sdk".to_string(),
                    "svc@vsphere.local".to_string(),
                    "shared-pw".to_string(),
                    cp("cp-vc-a.corp.local.json")
                ),
                (
                    "vc-b.corp.local".to_string(),
                    "https://vc-b.corp.local/sdk".to_string(),
                    "svc@vsphere.local".to_string(),
                    "shared-pw".to_string(),
                    cp("cp-vc-b.corp.local.json")
                ),
                (
                    "vc-c.corp.local:8443".to_string(),
                    "https://vc-c.corp.local:8443/sdk".to_string(),
                    "admin@lab.local".to_string(),
                    "own;pw".to_string(),
                    cp("cp-vc-c.corp.local_8443.json")
                ),
            ]
        );
        assert_eq!(
            provider_names(&e),
            ["vc-a.corp.local", "vc-b.corp.local", "vc-c.corp.local:8443"]
        );
        assert!(cfg.certificates.is_none(), "no CA given");
    }

    #[test]
    fn the_trusted_ca_becomes_the_routers_root_ca_file() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
        use base64::Engine as _;
        let e = env(&[
            (keys::VCENTER_SERVER, "vc.corp.local"),
            (keys::VCENTER_USERNAME, "u"),
            (keys::VCENTER_PASSWORD, "p"),
            (
                keys::TRUSTED_CA_CERT,
                &base64::engine::general_purpose::STANDARD.encode(pem),
            ),
        ]);
        assert_eq!(trusted_ca(&e).as_deref(), Some(format!("{pem}\n").as_str()));
        let cfg = router_config(&e, &endpoint(&e)).unwrap();
        assert_eq!(cfg.certificates.unwrap().root_cas, [TRUSTED_CA]);
    }

    #[test]
    fn the_operators_files_are_merged_and_a_refusal_names_the_file() {
        let e = env(&[
            (keys::VCENTER_SERVER, "vc-a.corp.local"),
            (keys::VCENTER_USERNAME, "u"),
            (keys::VCENTER_PASSWORD, "p"),
        ]);
        let file = |text: &str| Source {
            path: "/etc/event-router/config.d/50-lab.yaml".to_string(),
            mode: 0o600,
            text: text.to_string(),
        };
        let lab = "eventProviders:
  - type: vcenter
    name: vc-lab
    vcenter: {address: vc-lab.corp.local, checkpoint: true, auth: {type: basic_auth, basicAuth: {username: l, password: lab-pw}}}
filters:
  broker: {eventNames: [VmPoweredOffEvent]}
";
        let r = rendered(&e, &endpoint(&e), &[file(lab)]).unwrap().unwrap();
        assert_eq!(r.sources, ["vcenter", "vc-lab"]);
        assert_eq!(
            r.merged,
            ["/etc/event-router/config.d/50-lab.yaml: 1 provider(s), 0 processor(s), 1 filter(s)"]
        );
        let cfg = RouterConfig::from_yaml(&r.yaml, "rendered").unwrap();
        assert_eq!(cfg.event_providers.len(), 2);
        let lab_vc = cfg.event_providers[1].vcenter.as_ref().unwrap();
        assert_eq!(lab_vc.checkpoint_dir.as_deref(), Some(CHECKPOINTS));
        assert!(cfg.event_processor.unwrap().filter.is_some());
        assert!(r.yaml.contains("lab-pw"), "the file's secret reaches the config");
        assert!(!r.details.join("\n").contains("lab-pw"), "but no detail line");

        // What only the router's own loader refuses is named with the file and entry it comes
        // from (the router counts the form's processor first).
        let bad = "eventProcessors:\n  - {type: knative, name: hook, knative: {destination: {}}}\n";
        let Err(RenderError::Refused(problems)) = rendered(&e, &endpoint(&e), &[file(bad)]) else {
            panic!("a processor without a destination is refused");
        };
        assert!(
            problems.iter().any(|p| p.contains("eventProcessors[1]")
                && p.contains("is /etc/event-router/config.d/50-lab.yaml eventProcessors[0]")),
            "{problems:?}"
        );
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
