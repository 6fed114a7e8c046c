//! Wires a validated config into running components: the metrics server, the processors
//! behind the fan-out and one stream per vCenter (under leader election when the config asks
//! for it), until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::{
    defaults, AuthType, CheckpointStoreKind, HorizonConfig, ProviderType, RouterConfig, VCenterConfig,
};
use crate::console::ConsoleState;
use crate::delivery::dead_letter::DeadLetters;
use crate::http_auth::Access;
use crate::http_server::{self, Listeners};
use crate::kube::checkpoints::ConfigMapStore;
use crate::kube::elected::{Elected, Stream};
use crate::kube::elector::Candidate;
use crate::kube::Cluster;
use crate::metrics::registry::Registry;
use crate::metrics::stats::{ComponentStats, Health};
use crate::pipeline::{Fanout, Filter, Route};
use crate::sources::checkpoint::{CheckpointStore, Store};
use crate::sources::horizon::{Credentials, HorizonSettings, HorizonSource};
use crate::sources::vcenter::{CheckpointSettings, VCenterSettings, VCenterSource};
use crate::sources::webhook::WebhookSource;
use crate::sources::Leading;
use crate::tls::TlsOptions;
use crate::vsphere::client::ClientOptions;
use tokio::task::JoinHandle;

/// Longest single WaitForUpdatesEx; readiness fails after three of these without progress.
const MAX_WAIT: Duration = Duration::from_secs(10);
/// How long queued events may still be delivered after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(defaults::SHUTDOWN_GRACE_SECONDS);

/// One vCenter stream's settings; `vcenters` (how many the config has) sizes the default page;
/// `cluster` is set when leader election or ConfigMap checkpoints need the Kubernetes API.
async fn vcenter_settings(
    prefix: &str,
    v: &VCenterConfig,
    cfg: &RouterConfig,
    vcenters: usize,
    cluster: Option<&Cluster>,
) -> anyhow::Result<VCenterSettings> {
    let mut url = url::Url::parse(&v.address)
        .with_context(|| format!("{prefix}.address {:?}", crate::redact::url_credentials(&v.address)))?;
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let Some((username, password)) = v.auth.basic_credentials() else {
        bail!("{prefix}.auth must be basic_auth with a basicAuth section");
    };
    let root_cas = root_cas(cfg);
    let checkpoint = checkpoint_settings(v, &url, cfg, cluster).await?;
    Ok(VCenterSettings {
        key: prefix.to_string(),
        client: ClientOptions {
            url,
            username,
            password,
            tls: TlsOptions {
                insecure: v.insecure_ssl,
                root_cas,
            },
            timeout: Duration::from_secs(30),
        },
        format: v.event_format,
        page_size: v.page_size.unwrap_or(defaults::vcenter_page_size(vcenters)),
        keep_alive: Duration::from_secs(v.keep_alive_seconds.unwrap_or(defaults::VCENTER_KEEP_ALIVE_SECONDS)),
        max_wait: MAX_WAIT,
        checkpoint,
        alarm_details: v.alarm_details.unwrap_or(defaults::VCENTER_ALARM_DETAILS),
        leading: Leading::default(),
    })
}

/// The checkpoint store (a file, or a ConfigMap: see `checkpointStore`) and the checkpoint to
/// resume from (a corrupt one stops the start: guessing a position could lose or repeat
/// events). Under leader election the checkpoint is read when this replica comes to lead, not
/// here.
async fn checkpoint_settings(
    v: &VCenterConfig,
    url: &url::Url,
    cfg: &RouterConfig,
    cluster: Option<&Cluster>,
) -> anyhow::Result<Option<CheckpointSettings>> {
    if !v.checkpoint {
        return Ok(None);
    }
    let file = Store::new(std::path::Path::new(v.checkpoint_folder()), url);
    let store: Arc<dyn CheckpointStore> = match (cfg.checkpoint_store(v), cluster) {
        (CheckpointStoreKind::File, _) => Arc::new(file),
        (CheckpointStoreKind::Configmap, Some(c)) => {
            let map = (v.checkpoint_config_map.as_deref()).unwrap_or(defaults::CHECKPOINT_CONFIG_MAP);
            Arc::new(ConfigMapStore::new(c.api.clone(), &c.namespace, map, &c.identity, file))
        }
        (CheckpointStoreKind::Configmap, None) => bail!("checkpointStore: configmap needs the Kubernetes API"),
    };
    let resume = if cfg.elected() {
        info!(location = %store.location(), "checkpoint read when this replica comes to lead (leader election)");
        None
    } else {
        let resume = store.load().await?;
        match &resume {
            Some(cp) => {
                info!(location = %store.location(), key = cp.last_event_key, "checkpoint found: resuming after event {} of {}", cp.last_event_key, cp.last_event_key_timestamp)
            }
            None => info!(location = %store.location(), "no checkpoint yet: starting from vCenter's current time"),
        }
        resume
    };
    Ok(Some(CheckpointSettings {
        store,
        period: Duration::from_secs(
            v.checkpoint_period_seconds
                .unwrap_or(defaults::CHECKPOINT_PERIOD_SECONDS),
        ),
        max_replay_age: Duration::from_secs(v.max_replay_age_seconds.unwrap_or(defaults::MAX_REPLAY_AGE_SECONDS)),
        resume,
    }))
}

/// The config's `certificates.rootCAs`, trusted for vCenter and Horizon.
fn root_cas(cfg: &RouterConfig) -> Vec<std::path::PathBuf> {
    cfg.certificates
        .as_ref()
        .map(|c| c.root_cas.iter().map(Into::into).collect())
        .unwrap_or_default()
}

fn horizon_settings(prefix: &str, h: &HorizonConfig, cfg: &RouterConfig) -> anyhow::Result<HorizonSettings> {
    let mut address = url::Url::parse(&h.address)
        .with_context(|| format!("{prefix}.address {:?}", crate::redact::url_credentials(&h.address)))?;
    // Horizon logs in with activeDirectoryAuth: credentials in the URL would only reach logs.
    let _ = address.set_username("");
    let _ = address.set_password(None);
    let credentials = match (&h.auth.kind, &h.auth.active_directory_auth) {
        (AuthType::ActiveDirectory, Some(ad)) => Credentials {
            domain: ad.domain.clone(),
            username: ad.username.clone(),
            password: ad.password.clone(),
        },
        _ => bail!("{prefix}.auth must be active_directory with an activeDirectoryAuth section"),
    };
    Ok(HorizonSettings {
        key: prefix.to_string(),
        address,
        credentials,
        tls: TlsOptions {
            insecure: h.insecure_ssl,
            root_cas: root_cas(cfg),
        },
        poll: Duration::from_secs(h.poll_interval_seconds.unwrap_or(defaults::HORIZON_POLL_SECONDS)),
        page_size: h.page_size.unwrap_or(defaults::HORIZON_PAGE_SIZE),
        leading: Leading::default(),
        format: h.event_format,
    })
}

async fn routes(cfg: &RouterConfig) -> anyhow::Result<Vec<Route>> {
    let mut routes = Vec::new();
    for (prefix, pc) in cfg.processors() {
        let processor = crate::processors::build(&prefix, pc, crate::processors::knative::Start::Background).await?;
        let filter = Filter::new(pc.filter.as_ref()).with_context(|| format!("{prefix}.filter"))?;
        let stats = ComponentStats::new("EventProcessor", processor.kind(), &pc.name, &processor.address());
        let mut route = Route::new(processor, stats, filter);
        route.capacity = pc.queue_capacity.unwrap_or(route.capacity);
        route.concurrency = pc.concurrency.unwrap_or(defaults::CONCURRENCY);
        routes.push(route);
    }
    Ok(routes)
}

/// A configured source, not started yet; a streaming one with its Lease's candidate under
/// leader election.
enum SourcePlan {
    VCenter {
        settings: Box<VCenterSettings>,
        stats: Arc<ComponentStats>,
        health: Arc<Health>,
        election: Option<Candidate>,
    },
    Webhook(WebhookSource),
    Horizon {
        settings: Box<HorizonSettings>,
        stats: Arc<ComponentStats>,
        health: Arc<Health>,
        election: Option<Candidate>,
    },
}

impl SourcePlan {
    fn stats(&self) -> Arc<ComponentStats> {
        match self {
            SourcePlan::VCenter { stats, .. } => stats.clone(),
            SourcePlan::Webhook(w) => w.stats(),
            SourcePlan::Horizon { stats, .. } => stats.clone(),
        }
    }

    /// Reads the checkpoint again: a reload prepares the new configuration while the running
    /// one still writes checkpoints, so the position is taken once that one has stopped. (Under
    /// leader election it is read at each term's start anyway.)
    async fn refresh_checkpoint(&mut self) -> anyhow::Result<()> {
        if let SourcePlan::VCenter {
            settings,
            election: None,
            ..
        } = self
        {
            if let Some(c) = settings.checkpoint.as_mut() {
                c.resume = c.store.load().await?;
            }
        }
        Ok(())
    }

    /// Starts the source; its task ends at shutdown with the checkpoint task to wait for.
    fn start(
        self,
        fanout: Arc<Fanout>,
        stop: watch::Receiver<bool>,
        grace: Duration,
    ) -> JoinHandle<Option<JoinHandle<()>>> {
        match self {
            SourcePlan::VCenter {
                settings,
                stats,
                health,
                election: Some(candidate),
            } => tokio::spawn(
                Elected {
                    stream: Stream::VCenter(settings),
                    stats,
                    health,
                    candidate,
                }
                .run(fanout, stop),
            ),
            SourcePlan::VCenter {
                settings,
                stats,
                health,
                election: None,
            } => tokio::spawn(VCenterSource::new(*settings, stats, health).run(fanout, stop)),
            SourcePlan::Webhook(w) => tokio::spawn(async move {
                w.run(fanout, stop, grace).await;
                None
            }),
            SourcePlan::Horizon {
                settings,
                stats,
                health,
                election: Some(candidate),
            } => tokio::spawn(
                Elected {
                    stream: Stream::Horizon(settings),
                    stats,
                    health,
                    candidate,
                }
                .run(fanout, stop),
            ),
            SourcePlan::Horizon {
                settings,
                stats,
                health,
                election: None,
            } => tokio::spawn(async move {
                HorizonSource::new(*settings, stats, health).run(fanout, stop).await;
                None
            }),
        }
    }
}

/// The candidate for `name`'s Lease under leader election, with its health marked a standby.
fn election(cfg: &RouterConfig, cluster: Option<&Cluster>, name: &str, health: &Health) -> Option<Candidate> {
    let candidate = cluster.filter(|_| cfg.elected())?.candidate(name);
    health.set_leader(false);
    Some(candidate)
}

async fn providers(cfg: &RouterConfig, listeners: &mut Listeners) -> anyhow::Result<Vec<SourcePlan>> {
    let mut plans = Vec::new();
    let cluster = Cluster::for_config(cfg)?;
    if let Some(c) = cluster.as_ref().filter(|_| cfg.elected()) {
        info!(namespace = %c.namespace, identity = %c.identity, "leader election: each vCenter and Horizon provider streams in the replica holding its Lease");
    }
    let vcenters = (cfg.providers().iter())
        .filter(|(_, pr)| matches!(pr.kind, ProviderType::Vcenter | ProviderType::Vcsim))
        .count();
    for (prefix, pr) in cfg.providers() {
        let vc = match pr.kind {
            ProviderType::Vcenter => pr.vcenter.as_ref(),
            ProviderType::Vcsim => pr.vcsim.as_ref(),
            ProviderType::Webhook => {
                let w = (pr.webhook.as_ref()).with_context(|| format!("{prefix} has no webhook section"))?;
                plans.push(SourcePlan::Webhook(
                    WebhookSource::bind(&format!("{prefix}.webhook"), w, &pr.name, listeners).await?,
                ));
                continue;
            }
            ProviderType::Horizon => {
                let h = (pr.horizon.as_ref()).with_context(|| format!("{prefix} has no horizon section"))?;
                let settings = horizon_settings(&format!("{prefix}.horizon"), h, cfg)?;
                // The CA files are read now, so a reload with a missing one keeps the running
                // configuration (as for vCenter below).
                crate::tls::http_client(&settings.tls, Duration::from_secs(1))?;
                let poll = settings.poll;
                let stats = ComponentStats::new("EventProvider", "horizon", &pr.name, settings.address.as_str());
                let health = Health::new((poll * 3).max(MAX_WAIT * 3));
                plans.push(SourcePlan::Horizon {
                    settings: Box::new(settings),
                    stats,
                    election: election(cfg, cluster.as_ref(), &pr.name, &health),
                    health,
                });
                continue;
            }
        }
        .with_context(|| format!("{prefix} has no vcenter section"))?;
        if !vc.checkpoint {
            info!("{prefix}: checkpoint is false: events recorded while the router is down are not delivered (set checkpoint: true for at-least-once)");
        }
        let section = if pr.kind == ProviderType::Vcsim {
            "vcsim"
        } else {
            "vcenter"
        };
        let settings = vcenter_settings(&format!("{prefix}.{section}"), vc, cfg, vcenters, cluster.as_ref()).await?;
        crate::tls::http_client(&settings.client.tls, Duration::from_secs(1))?;
        let stats = ComponentStats::new("EventProvider", "vcenter", &pr.name, settings.client.url.as_str());
        let health = Health::new(MAX_WAIT * 3);
        plans.push(SourcePlan::VCenter {
            settings: Box::new(settings),
            stats,
            election: election(cfg, cluster.as_ref(), &pr.name, &health),
            health,
        });
    }
    Ok(plans)
}

/// What the signal task asks of the running router.
enum Control {
    Stop,
    Reload(Box<RouterConfig>),
}

/// A configuration made ready to run: sources planned (webhook listeners bound), processors
/// started, the metrics listener bound. Everything that can fail is done here, so a reload that
/// cannot start is refused while the running configuration keeps serving.
struct Prepared {
    cfg: RouterConfig,
    plans: Vec<SourcePlan>,
    routes: Vec<Route>,
    metrics: tokio::net::TcpListener,
    /// The configured addresses it listens on.
    addresses: Vec<String>,
}

async fn prepare(cfg: RouterConfig, listeners: &mut Listeners) -> anyhow::Result<Prepared> {
    let plans = providers(&cfg, listeners).await?;
    let routes = routes(&cfg).await?;
    let m = &cfg.metrics_provider.default;
    let addr: SocketAddr = m
        .bind_address
        .parse()
        .with_context(|| format!("metricsProvider.default.bindAddress {:?}", m.bind_address))?;
    let metrics = listeners.bind(&m.bind_address).await.with_context(|| {
        format!("cannot listen on metricsProvider.default.bindAddress {addr}: is another process using it?")
    })?;
    let mut addresses = vec![m.bind_address.clone()];
    addresses.extend(
        cfg.providers()
            .into_iter()
            .filter_map(|(_, p)| p.webhook.as_ref().map(|w| w.bind_address.clone())),
    );
    Ok(Prepared {
        cfg,
        plans,
        routes,
        metrics,
        addresses,
    })
}

/// Runs the router until SIGTERM or SIGINT. SIGHUP re-reads `config_path` (off the runtime) and
/// prepares the new configuration while the running one serves: when it starts (processors,
/// listeners, certificates), the running one stops and writes its checkpoints, deliveries
/// finish, and the new one starts from those checkpoints, so nothing is lost; when it is invalid
/// or cannot start, that is logged and the running configuration stays. Errors are start-up
/// problems (exit non-zero).
/// `appliance` says where the console's appliance view reads from.
pub async fn run(
    cfg: RouterConfig,
    config_path: std::path::PathBuf,
    appliance: crate::console::appliance::ApplianceOptions,
) -> anyhow::Result<()> {
    let appliance = Arc::new(appliance);
    if let Some(path) = cfg.dead_letter_path() {
        match crate::dlq::recover(&path) {
            Ok(0) => {}
            Ok(n) => {
                warn!(file = %path.display(), "{n} dead letters of an interrupted replay were put back into the dead-letter file (some may have been delivered already and will be sent again by the next replay)")
            }
            Err(e) => tracing::error!("{e:#}"),
        }
    }
    let (ctl_tx, mut ctl_rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(signals(ctl_tx, config_path));
    let mut listeners = Listeners::default();
    let mut next = prepare(cfg, &mut listeners).await?;
    loop {
        listeners.retain(&next.addresses);
        let (stop_tx, stop_rx) = watch::channel(false);
        let running = serve(next, stop_rx, appliance.clone());
        tokio::pin!(running);
        next = loop {
            let control = tokio::select! {
                r = &mut running => return r,
                c = ctl_rx.recv() => c.unwrap_or(Control::Stop),
            };
            match control {
                Control::Stop => {
                    let _ = stop_tx.send(true);
                    return running.await;
                }
                Control::Reload(new) => match prepare(*new, &mut listeners).await {
                    Ok(prepared) => {
                        info!("SIGHUP: the new configuration started its processors and listeners; stopping the running one");
                        let _ = stop_tx.send(true);
                        running.await?;
                        break prepared;
                    }
                    Err(e) => tracing::error!(
                        "SIGHUP: the new configuration cannot start: {e:#}; keeping the running configuration"
                    ),
                },
            }
        };
        for plan in &mut next.plans {
            plan.refresh_checkpoint().await?;
        }
        info!("configuration reloaded: running with it");
    }
}

async fn signals(ctl: tokio::sync::mpsc::Sender<Control>, config_path: std::path::PathBuf) {
    loop {
        match next_signal().await {
            Signal::Stop => {
                info!("shutting down");
                let _ = ctl.send(Control::Stop).await;
                return;
            }
            Signal::Reload => {
                let path = config_path.clone();
                let loaded = tokio::task::spawn_blocking(move || RouterConfig::load(&path)).await;
                match loaded {
                    Ok(Ok(c)) => {
                        info!(config = %config_path.display(), "SIGHUP: the new configuration is valid; preparing it");
                        if ctl.send(Control::Reload(Box::new(c))).await.is_err() {
                            return;
                        }
                    }
                    Ok(Err(e)) => tracing::error!("SIGHUP: {e}; keeping the running configuration"),
                    Err(e) => tracing::error!(
                        "SIGHUP: reading the configuration failed ({e}); keeping the running configuration"
                    ),
                }
            }
        }
    }
}

/// Runs one prepared configuration until `stop`.
async fn serve(
    prepared: Prepared,
    stop_rx: watch::Receiver<bool>,
    appliance: Arc<crate::console::appliance::ApplianceOptions>,
) -> anyhow::Result<()> {
    let Prepared {
        cfg,
        plans,
        routes,
        metrics: listener,
        ..
    } = prepared;
    let cfg = &cfg;
    let grace = cfg
        .shutdown_grace_seconds
        .map(Duration::from_secs)
        .unwrap_or(SHUTDOWN_GRACE);
    let m = &cfg.metrics_provider.default;
    let access = match m.auth.as_ref().and_then(|a| a.basic_auth.as_ref()) {
        Some(b) => Access::Basic {
            user: b.username.clone(),
            pass: b.password.clone(),
        },
        None => {
            info!("metricsProvider.default.auth is not set: /stats and /metrics are open, the console answers only on a loopback address (kubectl port-forward)");
            Access::LoopbackOnly
        }
    };
    let components = (plans.iter().map(SourcePlan::stats))
        .chain(routes.iter().map(|r| r.stats.clone()))
        .collect();
    let health = (plans.iter())
        .filter_map(|p| match p {
            SourcePlan::VCenter { stats, health, .. } => Some((stats.name.clone(), health.clone())),
            SourcePlan::Horizon { stats, health, .. } => Some((stats.name.clone(), health.clone())),
            SourcePlan::Webhook(_) => None,
        })
        .collect();
    let checks = (routes.iter())
        .map(|r| {
            let processor = r.processor.clone();
            let check: crate::metrics::registry::ReadyCheck = Box::new(move || processor.not_ready());
            (r.stats.name.clone(), check)
        })
        .collect();
    let dead_letters = cfg.dead_letter_path().map(|f| {
        info!(file = %f.display(), "events a processor gives up on are written to the dead-letter file (`event-router dlq replay` sends them again)");
        Arc::new(DeadLetters::new(f))
    });
    let (fanout, workers) = Fanout::start_until(routes, dead_letters, stop_rx.clone());
    let registry = Arc::new(Registry::new(components, health).with_checks(checks));
    let state = Arc::new(ConsoleState {
        registry: registry.clone(),
        live: fanout.live(),
        dead_letters: (cfg.dead_letter_path())
            .map(|f| Arc::new(crate::console::dead_letters::DeadLetterConsole::new(cfg.clone(), f))),
        history: Default::default(),
        csrf: crate::console::new_token(),
        appliance,
    });
    let sampler = tokio::spawn(crate::console::health::sampler(state.clone(), stop_rx.clone()));
    if let Ok(addr) = listener.local_addr() {
        info!(address = %addr, "metrics server listening (/stats, /metrics, /healthz, /readyz, /ui/)");
    }
    let metrics = tokio::spawn(http_server::serve(
        "metrics",
        listener,
        crate::endpoints::router(registry, state, access),
        stop_rx.clone(),
        grace,
        http_server::CONN_LIMITS,
    ));
    let sources: Vec<_> = (plans.into_iter())
        .map(|p| p.start(fanout.clone(), stop_rx.clone(), grace))
        .collect();
    drop(fanout);
    let mut commits = Vec::new();
    for s in sources {
        match s.await {
            Ok(commit) => commits.extend(commit),
            Err(e) => tracing::error!("a source stopped abnormally: {e}"),
        }
    }
    // Reading has stopped: let queued deliveries finish within the grace period, then write
    // each checkpoint past what was delivered.
    workers.finish(grace).await;
    for c in commits {
        let _ = c.await;
    }
    let _ = metrics.await;
    let _ = sampler.await;
    Ok(())
}

enum Signal {
    Stop,
    Reload,
}

async fn next_signal() -> Signal {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (signal(SignalKind::terminate()), signal(SignalKind::hangup())) {
            (Ok(mut term), Ok(mut hup)) => {
                tokio::select! {
                    _ = term.recv() => Signal::Stop,
                    _ = tokio::signal::ctrl_c() => Signal::Stop,
                    _ = hup.recv() => Signal::Reload,
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                Signal::Stop
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        Signal::Stop
    }
}
