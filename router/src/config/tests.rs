use super::*;

const VEBA_EXAMPLES: &[&str] = &[
    "vcenter-knative.yaml",
    "vcenter-aws.yaml",
    "vcenter-aws-iam-role-auth.yaml",
    "vcenter-openfaas.yaml",
    "horizon-knative.yaml",
    "webhook-knative.yaml",
];

fn example(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/veba")
        .join(name)
}

#[test]
fn every_veba_example_config_loads() {
    for name in VEBA_EXAMPLES {
        let cfg = RouterConfig::load(&example(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(cfg.api_version, API_VERSION);
    }
    let cfg = RouterConfig::load(&example("vcenter-knative.yaml")).unwrap();
    let k = cfg.event_processor.unwrap().knative.unwrap();
    assert_eq!(k.encoding, Encoding::Binary);
    let r = k.destination.reference.unwrap();
    assert_eq!(
        (r.kind.as_str(), r.name.as_str(), r.namespace.as_str()),
        ("Broker", "rabbit", "default")
    );
    let cfg = RouterConfig::load(&example("webhook-knative.yaml")).unwrap();
    let uri = cfg.event_processor.unwrap().knative.unwrap().destination.uri.unwrap();
    assert_eq!(uri.to_url_string(), "http://mybroker-external.corp.local");
}

fn with(replace: &str, by: &str) -> String {
    let text = std::fs::read_to_string(example("vcenter-knative.yaml")).unwrap();
    assert!(text.contains(replace), "fixture lacks {replace:?}");
    text.replacen(replace, by, 1)
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let text = with(
        "    insecureSSL: false\n    checkpoint",
        "    insecureSSL: false\n    adress: x\n    checkpoint",
    );
    let err = RouterConfig::from_yaml(&text, "cfg.yaml").unwrap_err().to_string();
    assert!(
        err.starts_with("invalid config cfg.yaml: eventProvider.vcenter: unknown field `adress`"),
        "{err}"
    );
    assert!(err.contains("at line 13 column 5"), "{err}");
    assert!(err.contains("event-router schema"), "{err}");
}

#[test]
fn wrong_types_and_enums_are_rejected_with_location() {
    let err = RouterConfig::from_yaml(&with("encoding: binary", "encoding: xml"), "c")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown variant `xml`, expected `binary` or `structured`"),
        "{err}"
    );
    assert!(err.contains("at line 23 column 15"), "{err}");
    let err = RouterConfig::from_yaml(&with("checkpoint: false", "checkpoint: maybe"), "c")
        .unwrap_err()
        .to_string();
    assert!(err.contains("checkpoint") && err.contains("line 13"), "{err}");
}

#[test]
fn semantic_problems_are_all_reported_at_once() {
    let text = with("apiVersion: event-router.vmware.com/v1alpha1", "apiVersion: v2")
        .replace("password: ReplaceMe", "password: \"\"")
        .replace("bindAddress: \"0.0.0.0:8082\"", "bindAddress: \"localhost\"")
        .replace(
            "address: https://my-vcenter01.domain.local/sdk",
            "address: \"my vcenter01\"",
        );
    let err = RouterConfig::from_yaml(&text, "c.yaml").unwrap_err().to_string();
    for expected in [
        "apiVersion is \"v2\": it must be \"event-router.vmware.com/v1alpha1\"",
        "eventProvider.vcenter.auth.basicAuth.password is empty",
        "metricsProvider.default.bindAddress \"localhost\" is not IP:port",
        "eventProvider.vcenter.address \"my vcenter01\" is not a URL",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
}

#[test]
fn section_must_match_type() {
    let text = with("  type: knative\n  knative:", "  type: openfaas\n  knative:");
    let err = RouterConfig::from_yaml(&text, "c").unwrap_err().to_string();
    assert!(
        err.contains("eventProcessor.type is openfaas but eventProcessor.openfaas is missing"),
        "{err}"
    );
    assert!(
        err.contains("eventProcessor.knative is set but eventProcessor.type is openfaas"),
        "{err}"
    );
}

#[test]
fn secrets_do_not_appear_in_debug_output() {
    let cfg = RouterConfig::load(&example("vcenter-aws.yaml")).unwrap();
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains("ReplaceMe") && !dbg.contains("ZYXWVUTSRQPO"), "{dbg}");
}

#[test]
fn schema_lists_keys_and_enums() {
    let s = RouterConfig::json_schema().to_string();
    for key in [
        "eventProvider",
        "insecureSSL",
        "awsEventBridge",
        "ruleARN",
        "rootCAs",
        "tanzu-sources",
        "basic_auth",
    ] {
        assert!(s.contains(key), "schema lacks {key}");
    }
}

const LISTS: &str = r#"apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata:
  name: two-vcenters
eventProviders:
  - type: vcenter
    name: vc-01
    vcenter:
      address: https://vc01.corp.local/sdk
      auth: {type: basic_auth, basicAuth: {username: u, password: p}}
  - type: vcenter
    name: vc-02
    vcenter:
      address: https://vc02.corp.local/sdk
      auth: {type: basic_auth, basicAuth: {username: u, password: p}}
eventProcessors:
  - type: console
    name: audit
  - type: knative
    name: power
    filter:
      eventNames: [VmPoweredOffEvent]
      pattern: {data: {Vm: {Name: [{prefix: prod-}]}}}
    knative:
      destination: {uri: "http://broker.local/"}
metricsProvider:
  type: default
  name: m
  default: {bindAddress: "127.0.0.1:8082"}
"#;

#[test]
fn list_forms_load_with_filters() {
    let cfg = RouterConfig::from_yaml(LISTS, "c").unwrap();
    let names: Vec<_> = cfg
        .providers()
        .into_iter()
        .map(|(k, p)| format!("{k}={}", p.name))
        .collect();
    assert_eq!(names, ["eventProviders[0]=vc-01", "eventProviders[1]=vc-02"]);
    let (key, power) = &cfg.processors()[1];
    assert_eq!(key, "eventProcessors[1]");
    assert_eq!(power.filter.as_ref().unwrap().event_names, ["VmPoweredOffEvent"]);
}

#[test]
fn list_form_problems_name_the_entry() {
    let text = LISTS
        .replace("name: vc-02", "name: vc-01")
        .replace("prefix: prod-}", "prefix: 7}")
        .replace("address: https://vc02.corp.local/sdk", "address: \"ftp://vc02\"");
    let err = RouterConfig::from_yaml(&text, "c").unwrap_err().to_string();
    for want in [
        "eventProviders[1].name \"vc-01\" is also the name of eventProviders[0]: give each a unique name",
        "eventProviders[1].vcenter.address \"ftp://vc02\"",
        "eventProcessors[1].filter.pattern: event pattern data.Vm.Name: ",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}

#[test]
fn providers_and_processors_are_required_once() {
    let none = LISTS.replace("eventProcessors:", "unusedProcessors:");
    let err = RouterConfig::from_yaml(&none, "c").unwrap_err().to_string();
    assert!(err.contains("unknown field `unusedProcessors`"), "{err}");
    let start = LISTS.find("eventProcessors:").unwrap();
    let end = LISTS.find("metricsProvider:").unwrap();
    let missing = format!("{}{}", &LISTS[..start], &LISTS[end..]);
    let err = RouterConfig::from_yaml(&missing, "c").unwrap_err().to_string();
    assert!(
        err.contains(
            "eventProcessor is missing: add an `eventProcessor:` section (or `eventProcessors:`, a list of them)"
        ),
        "{err}"
    );
    let both = LISTS.replace(
        "eventProcessors:",
        "eventProcessor:\n  type: console\n  name: one\neventProcessors:",
    );
    let err = RouterConfig::from_yaml(&both, "c").unwrap_err().to_string();
    assert!(err.contains("both eventProcessor and eventProcessors are set"), "{err}");
}

#[test]
fn eventbridge_rules_are_checked_one_by_one() {
    let text = std::fs::read_to_string(example("vcenter-aws.yaml")).unwrap();
    let start = text.find("    ruleARN:").unwrap();
    let end = start + text[start..].find('\n').unwrap() + 1;
    let several = format!(
        "{}    ruleARNs:\n      - arn:aws:events:us-west-1:1234567890:rule/a\n      - arn:aws:events:us-west-1:1234567890:rule/veba/b\n{}",
        &text[..start],
        &text[end..]
    );
    let cfg = RouterConfig::from_yaml(&several, "c").unwrap();
    let a = cfg.event_processor.unwrap().aws_event_bridge.unwrap();
    assert_eq!(a.all_rule_arns().len(), 2);
    let none = format!("{}{}", &text[..start], &text[end..]);
    let err = RouterConfig::from_yaml(&none, "c").unwrap_err().to_string();
    assert!(
        err.contains("eventProcessor.awsEventBridge.ruleARN is missing"),
        "{err}"
    );
    let bad = several
        .replace("rule/veba/b", "queue/b")
        .replace("    region:", "    maxRequestBytes: 10\n    region:");
    let err = RouterConfig::from_yaml(&bad, "c").unwrap_err().to_string();
    assert!(
        err.contains("eventProcessor.awsEventBridge.ruleARNs[1] \"arn:aws:events:us-west-1:1234567890:queue/b\" is not a rule ARN"),
        "{err}"
    );
    assert!(err.contains("maxRequestBytes is 10"), "{err}");
}

#[test]
fn vcenter_addresses_are_normalised_as_govmomi_reads_them() {
    for (given, used) in [
        ("vcenter.corp.local", "https://vcenter.corp.local/sdk"),
        ("https://vcenter.corp.local", "https://vcenter.corp.local/sdk"),
        ("https://vcenter.corp.local/", "https://vcenter.corp.local/sdk"),
        ("10.0.0.5:8989", "https://10.0.0.5:8989/sdk"),
        ("http://127.0.0.1:8989/sdk", "http://127.0.0.1:8989/sdk"),
        ("https://vc/custom", "https://vc/custom"),
    ] {
        assert_eq!(normalise_vcenter_address(given).as_deref(), Some(used), "{given}");
    }
    for bad in ["", "ftp://vc/sdk", "https://", "vc .corp"] {
        assert_eq!(normalise_vcenter_address(bad), None, "{bad:?}");
    }
    let text = with(
        "address: https://my-vcenter01.domain.local/sdk",
        "address: vcenter.corp.local",
    );
    let cfg = RouterConfig::from_yaml(&text, "t").unwrap();
    let (_, p) = &cfg.providers()[0];
    assert_eq!(p.vcenter.as_ref().unwrap().address, "https://vcenter.corp.local/sdk");
    assert_eq!(
        cfg.notes,
        ["eventProvider.vcenter.address \"vcenter.corp.local\" is used as \"https://vcenter.corp.local/sdk\" (https and /sdk added, as govmomi and VEBA do)"]
    );
    let bad = with(
        "address: https://my-vcenter01.domain.local/sdk",
        "address: \"ftp://vc\"",
    );
    let e = RouterConfig::from_yaml(&bad, "t").unwrap_err().to_string();
    assert!(
        e.contains("eventProvider.vcenter.address \"ftp://vc\" must be an http:// or https:// URL"),
        "{e}"
    );
}

#[test]
fn every_default_is_in_the_json_schema_and_the_readme() {
    let schema = RouterConfig::json_schema();
    for d in defaults::DEFAULTS {
        let props = if d.definition == "RouterConfig" {
            &schema["properties"]
        } else {
            &schema["definitions"][d.definition]["properties"]
        };
        assert_eq!(
            props[d.property]["default"], d.value,
            "{}.{} in {props}",
            d.definition, d.property
        );
    }
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    assert!(
        readme.contains(&defaults::markdown()),
        "README's defaults table is stale: regenerate it with `cargo run -p event-router -- defaults`"
    );
}

#[test]
fn the_default_vcenter_page_shrinks_with_more_than_ten_vcenters_and_says_so() {
    let sizes: Vec<u32> = [0, 1, 10, 11, 50, 100, 101, 1000]
        .map(defaults::vcenter_page_size)
        .into();
    assert_eq!(sizes, [1000, 1000, 1000, 909, 200, 100, 100, 100]);
    let page = defaults::DEFAULTS
        .iter()
        .find(|d| d.property == "pageSize" && d.definition == "VCenterConfig");
    let what = page.unwrap().what;
    for n in [defaults::VCENTER_PAGES_EVENTS, defaults::VCENTER_MIN_PAGE_SIZE] {
        assert!(what.contains(&n.to_string()), "{what} does not state {n}");
    }
}

#[test]
fn a_zero_count_names_the_stated_default_or_says_leave_it_out() {
    let text = r#"
apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata: {name: zeros}
eventProvider:
  type: vcenter
  name: vc
  vcenter:
    address: https://vc.corp.local/sdk
    keepAliveSeconds: 0
    checkpointPeriodSeconds: 0
    auth: {type: basic_auth, basicAuth: {username: u, password: p}}
eventProcessors:
  - type: knative
    name: kn
    knative:
      destination: {uri: "http://broker.local"}
      timeoutSeconds: 0
      maxAttempts: 0
      maxRetrySeconds: 0
  - type: openfaas
    name: faas
    openfaas: {address: "http://gateway:8080", timeoutSeconds: 0, maxAttempts: 0, maxRetrySeconds: 0, refreshSeconds: 0}
  - type: aws_event_bridge
    name: eb
    awsEventBridge:
      region: eu-west-1
      eventBus: default
      ruleARN: arn:aws:events:eu-west-1:123456789012:rule/r
      maxAttempts: 0
      maxRetrySeconds: 0
      ruleRefreshSeconds: 0
      auth: {type: aws_iam_role}
metricsProvider: {type: default, name: m, default: {bindAddress: "127.0.0.1:8082"}}
"#;
    let err = RouterConfig::from_yaml(text, "c").unwrap_err().to_string();
    let d = |v: u64| format!(" is 0: use at least 1 (default {v})");
    for want in [
        format!(
            "eventProvider.vcenter.keepAliveSeconds{}",
            d(defaults::VCENTER_KEEP_ALIVE_SECONDS)
        ),
        format!(
            "eventProvider.vcenter.checkpointPeriodSeconds{}",
            d(defaults::CHECKPOINT_PERIOD_SECONDS)
        ),
        format!(
            "eventProcessors[0].knative.timeoutSeconds{}",
            d(defaults::KNATIVE_TIMEOUT_SECONDS)
        ),
        "eventProcessors[0].knative.maxAttempts is 0: use at least 1, or leave it out".to_string(),
        format!(
            "eventProcessors[0].knative.maxRetrySeconds{}",
            d(defaults::RETRY_BUDGET_SECONDS)
        ),
        format!(
            "eventProcessors[1].openfaas.timeoutSeconds{}",
            d(defaults::OPENFAAS_TIMEOUT_SECONDS)
        ),
        "eventProcessors[1].openfaas.maxAttempts is 0: use at least 1, or leave it out".to_string(),
        format!(
            "eventProcessors[1].openfaas.maxRetrySeconds{}",
            d(defaults::RETRY_BUDGET_SECONDS)
        ),
        format!(
            "eventProcessors[1].openfaas.refreshSeconds{}",
            d(defaults::OPENFAAS_REFRESH_SECONDS)
        ),
        "eventProcessors[2].awsEventBridge.maxAttempts is 0: use at least 1, or leave it out".to_string(),
        format!(
            "eventProcessors[2].awsEventBridge.maxRetrySeconds{}",
            d(defaults::RETRY_BUDGET_SECONDS)
        ),
        format!(
            "eventProcessors[2].awsEventBridge.ruleRefreshSeconds{}",
            d(defaults::EVENTBRIDGE_RULE_REFRESH_SECONDS)
        ),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
}

#[test]
fn two_vcenter_streams_into_one_checkpoint_file_are_refused() {
    let provider = |name: &str, address: &str, dir: &str| {
        format!(
            "  - type: vcenter\n    name: {name}\n    vcenter:\n      address: {address}\n      checkpoint: true\n      checkpointDir: {dir}\n      auth: {{type: basic_auth, basicAuth: {{username: u, password: p}}}}\n"
        )
    };
    let cfg = |providers: String| {
        format!(
            "apiVersion: {API_VERSION}\nkind: RouterConfig\nmetadata: {{name: x}}\neventProviders:\n{providers}eventProcessor:\n  type: knative\n  name: sink\n  knative: {{destination: {{uri: http://sink}}}}\nmetricsProvider:\n  type: default\n  name: m\n  default: {{bindAddress: \"127.0.0.1:8082\"}}\n"
        )
    };
    let same = cfg(provider("a", "https://vc.corp.local/sdk", "/cp") + &provider("b", "vc.corp.local", "/cp"));
    let err = RouterConfig::from_yaml(&same, "c").unwrap_err().to_string();
    assert!(
        err.contains("eventProviders[0] and eventProviders[1] stream from one vCenter into one checkpoint file (/cp/cp-vc.corp.local.json)"),
        "{err}"
    );
    // Another folder, or another port, is another file.
    let apart =
        cfg(provider("a", "https://vc.corp.local/sdk", "/cp") + &provider("b", "https://vc.corp.local/sdk", "/cp2"));
    RouterConfig::from_yaml(&apart, "c").unwrap();
    let ports = cfg(
        provider("a", "https://vc.corp.local/sdk", "/cp") + &provider("b", "https://vc.corp.local:8443/sdk", "/cp")
    );
    RouterConfig::from_yaml(&ports, "c").unwrap();
}

#[test]
fn a_config_nested_beyond_any_need_is_refused_before_parsing() {
    let deep = format!("{}x: {}1{}\n", with("", ""), "[".repeat(100_000), "]".repeat(100_000));
    let err = RouterConfig::from_yaml(&deep, "c").unwrap_err().to_string();
    assert!(err.contains("nests deeper than 64 levels"), "{err}");
}

/// A config with `providers` (an `eventProviders:` list body) and `top` keys.
fn elected_config(top: &str, providers: &str) -> String {
    format!(
        "apiVersion: {API_VERSION}\nkind: RouterConfig\nmetadata: {{name: x}}\n{top}eventProviders:\n{providers}eventProcessor:\n  type: knative\n  name: sink\n  knative: {{destination: {{uri: http://sink}}}}\nmetricsProvider:\n  type: default\n  name: m\n  default: {{bindAddress: \"127.0.0.1:8082\"}}\n"
    )
}

fn vcenter_provider(name: &str, address: &str, extra: &str) -> String {
    format!(
        "  - type: vcenter\n    name: {name}\n    vcenter:\n      address: {address}\n      checkpoint: true\n{extra}      auth: {{type: basic_auth, basicAuth: {{username: u, password: p}}}}\n"
    )
}

#[test]
fn lease_names_are_dns_names_made_from_the_provider_name() {
    assert_eq!(lease_name("event-router", "vc-01"), "event-router-vc-01");
    assert_eq!(lease_name("event-router", "VC 01 (Lab)"), "event-router-vc-01-lab");
    assert_eq!(lease_name("event-router", "__"), "event-router-provider");
    assert_eq!(lease_name("er", "vcenter.corp.local"), "er-vcenter-corp-local");
    assert_eq!(lease_name("er", "Ünïcode"), "er-n-code");
    let long = lease_name("er", &"a".repeat(400));
    assert_eq!(long.len(), 253);
}

#[test]
fn leader_election_defaults_to_configmap_checkpoints_and_is_off_by_default() {
    let off = RouterConfig::from_yaml(&elected_config("", &vcenter_provider("vc", "https://vc/sdk", "")), "c").unwrap();
    assert!(!off.elected());
    let v = off.event_providers[0].vcenter.as_ref().unwrap();
    assert_eq!(off.checkpoint_store(v), CheckpointStoreKind::File);

    let on = RouterConfig::from_yaml(
        &elected_config(
            "leaderElection: {enabled: true}\n",
            &vcenter_provider("vc", "https://vc/sdk", ""),
        ),
        "c",
    )
    .unwrap();
    assert!(on.elected());
    let v = on.event_providers[0].vcenter.as_ref().unwrap();
    assert_eq!(on.checkpoint_store(v), CheckpointStoreKind::Configmap);

    // A ConfigMap without election (one replica whose checkpoint survives its node).
    let single = RouterConfig::from_yaml(
        &elected_config(
            "",
            &vcenter_provider(
                "vc",
                "https://vc/sdk",
                "      checkpointStore: configmap\n      checkpointConfigMap: my-checkpoints\n",
            ),
        ),
        "c",
    )
    .unwrap();
    let v = single.event_providers[0].vcenter.as_ref().unwrap();
    assert_eq!(single.checkpoint_store(v), CheckpointStoreKind::Configmap);
}

#[test]
fn leader_election_timing_and_names_are_checked() {
    let bad = elected_config(
        "leaderElection:\n  enabled: true\n  leaseDurationSeconds: 10\n  renewDeadlineSeconds: 10\n  retryPeriodSeconds: 9\n  leaseNamePrefix: Event_Router\n  namespace: my.ns\n",
        &(vcenter_provider("VC-1", "https://vc1/sdk", "") + &vcenter_provider("vc 1", "https://vc2/sdk", "")),
    );
    let err = RouterConfig::from_yaml(&bad, "c").unwrap_err().to_string();
    for want in [
        "leaderElection.leaseDurationSeconds (10) must be greater than renewDeadlineSeconds (10)",
        "leaderElection.renewDeadlineSeconds (10) must be greater than 1.2 × retryPeriodSeconds (9)",
        "leaderElection.leaseNamePrefix \"Event_Router\" is not a Kubernetes name",
        "leaderElection.namespace \"my.ns\" is not a namespace name",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    let twins = elected_config(
        "leaderElection: {enabled: true}\n",
        &(vcenter_provider("VC-1", "https://vc1/sdk", "") + &vcenter_provider("vc 1", "https://vc2/sdk", "")),
    );
    let err = RouterConfig::from_yaml(&twins, "c").unwrap_err().to_string();
    assert!(
        err.contains("eventProviders[0] and eventProviders[1] would compete for one Lease (event-router-vc-1)"),
        "{err}"
    );
    let zero = elected_config(
        "leaderElection: {enabled: true, retryPeriodSeconds: 0}\n",
        &vcenter_provider("vc", "https://vc/sdk", ""),
    );
    let err = RouterConfig::from_yaml(&zero, "c").unwrap_err().to_string();
    assert!(
        err.contains("leaderElection.retryPeriodSeconds is 0: use at least 1 (default 2)"),
        "{err}"
    );
}

#[test]
fn checkpoint_store_keys_are_checked() {
    let file_with_election = elected_config(
        "leaderElection: {enabled: true}\n",
        &vcenter_provider("vc", "https://vc/sdk", "      checkpointStore: file\n"),
    );
    let err = RouterConfig::from_yaml(&file_with_election, "c")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("eventProviders[0].vcenter.checkpointStore is file with leaderElection.enabled"),
        "{err}"
    );
    let map_for_a_file = elected_config(
        "",
        &vcenter_provider("vc", "https://vc/sdk", "      checkpointConfigMap: cps\n"),
    );
    let err = RouterConfig::from_yaml(&map_for_a_file, "c").unwrap_err().to_string();
    assert!(
        err.contains("checkpointConfigMap is set but the checkpoint is kept in a file"),
        "{err}"
    );
    let bad_name = elected_config(
        "leaderElection: {enabled: true}\n",
        &vcenter_provider("vc", "https://vc/sdk", "      checkpointConfigMap: Bad_Name\n"),
    );
    let err = RouterConfig::from_yaml(&bad_name, "c").unwrap_err().to_string();
    assert!(
        err.contains("checkpointConfigMap \"Bad_Name\" is not a ConfigMap name"),
        "{err}"
    );
    let shared = elected_config(
        "leaderElection: {enabled: true}\n",
        &(vcenter_provider("a", "https://vc.corp.local/sdk", "") + &vcenter_provider("b", "vc.corp.local", "")),
    );
    let err = RouterConfig::from_yaml(&shared, "c").unwrap_err().to_string();
    assert!(
        err.contains("eventProviders[0] and eventProviders[1] stream from one vCenter into one checkpoint (ConfigMap event-router-checkpoints, key cp-vc.corp.local.json)"),
        "{err}"
    );
    assert!(!err.contains("checkpoint file"), "a ConfigMap is not a file: {err}");
}

#[test]
fn a_vcenter_without_a_checkpoint_is_refused_under_leader_election() {
    let provider = "  - type: vcenter\n    name: vc\n    vcenter:\n      address: https://vc/sdk\n      auth: {type: basic_auth, basicAuth: {username: u, password: p}}\n";
    let err = RouterConfig::from_yaml(&elected_config("leaderElection: {enabled: true}\n", provider), "c")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("eventProviders[0].vcenter.checkpoint is false with leaderElection.enabled")
            && err.contains("set eventProviders[0].vcenter.checkpoint: true"),
        "{err}"
    );
    assert!(
        RouterConfig::from_yaml(&elected_config("", provider), "c").is_ok(),
        "without leader election a vCenter may go without a checkpoint, as in VEBA"
    );
}
