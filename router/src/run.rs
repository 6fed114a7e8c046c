//! Wires a validated config into running components: the metrics server, the processor and
//! the vCenter source, until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::sync::watch;
use tracing::info;

use crate::config::{AuthType, ProcessorType, ProviderType, RouterConfig, VCenterConfig};
use crate::metrics::server::{self, MetricsState};
use crate::metrics::stats::{ComponentStats, Health};
use crate::processors::{console::Console, knative::Knative, Processor};
use crate::sources::vcenter::{VCenterSettings, VCenterSource};
use crate::tls::TlsOptions;
use crate::vsphere::client::ClientOptions;

/// Longest single WaitForUpdatesEx; readiness fails after three of these without progress.
const MAX_WAIT: Duration = Duration::from_secs(10);

fn not_supported(what: &str, value: &str, issue: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{what} {value:?} is not supported yet by event-router {} ({issue}); supported now: eventProvider.type vcenter, eventProcessor.type knative or console",
        env!("CARGO_PKG_VERSION")
    )
}

fn vcenter_settings(v: &VCenterConfig, cfg: &RouterConfig) -> anyhow::Result<VCenterSettings> {
    let mut url =
        url::Url::parse(&v.address).with_context(|| format!("eventProvider.vcenter.address {:?}", v.address))?;
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let (username, password) = match (&v.auth.kind, &v.auth.basic_auth) {
        (AuthType::BasicAuth, Some(b)) => (b.username.clone(), b.password.clone()),
        _ => bail!("eventProvider.vcenter.auth must be basic_auth with a basicAuth section"),
    };
    let root_cas = cfg
        .certificates
        .as_ref()
        .map(|c| c.root_cas.iter().map(Into::into).collect())
        .unwrap_or_default();
    Ok(VCenterSettings {
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
        page_size: v.page_size.unwrap_or(1000),
        keep_alive: Duration::from_secs(v.keep_alive_seconds.unwrap_or(300)),
        max_wait: MAX_WAIT,
    })
}

async fn processor(cfg: &RouterConfig) -> anyhow::Result<Arc<dyn Processor>> {
    let p = &cfg.event_processor;
    Ok(match p.kind {
        ProcessorType::Knative => {
            let k = p.knative.as_ref().context("eventProcessor.knative is missing")?;
            Arc::new(Knative::new(k).await.context("cannot start the knative processor")?)
        }
        ProcessorType::Console => Arc::new(Console),
        ProcessorType::Openfaas => return Err(not_supported("eventProcessor.type", "openfaas", "planned")),
        ProcessorType::AwsEventBridge => {
            return Err(not_supported("eventProcessor.type", "aws_event_bridge", "planned"))
        }
    })
}

/// Runs the router until a shutdown signal. Errors are start-up problems (exit non-zero).
pub async fn run(cfg: RouterConfig) -> anyhow::Result<()> {
    let provider = &cfg.event_provider;
    let vc = match provider.kind {
        ProviderType::Vcenter => provider.vcenter.as_ref(),
        ProviderType::Vcsim => provider.vcsim.as_ref(),
        ProviderType::Webhook => return Err(not_supported("eventProvider.type", "webhook", "planned")),
        ProviderType::Horizon => return Err(not_supported("eventProvider.type", "horizon", "planned")),
    }
    .context("eventProvider section is missing")?;
    if vc.checkpoint {
        tracing::warn!(
            "eventProvider.vcenter.checkpoint is true, but checkpoints are not implemented in this release: events recorded while the router is down are not replayed"
        );
    }
    let settings = vcenter_settings(vc, &cfg)?;
    crate::tls::http_client(&settings.client.tls, Duration::from_secs(1))?;
    let processor = processor(&cfg).await?;

    let provider_stats = ComponentStats::new("EventProvider", "vcenter", &provider.name, settings.client.url.as_str());
    let proc_stats = ComponentStats::new(
        "EventProcessor",
        processor.kind(),
        &cfg.event_processor.name,
        &processor.address(),
    );
    let health = Health::new(MAX_WAIT * 3);

    let m = &cfg.metrics_provider.default;
    let addr: SocketAddr = m
        .bind_address
        .parse()
        .with_context(|| format!("metricsProvider.default.bindAddress {:?}", m.bind_address))?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on metricsProvider.default.bindAddress {addr}: is another process using it?")
    })?;
    let auth = m
        .auth
        .as_ref()
        .and_then(|a| a.basic_auth.as_ref())
        .map(|b| (b.username.clone(), b.password.clone()));
    let state = Arc::new(MetricsState {
        components: vec![provider_stats.clone(), proc_stats.clone()],
        health: health.clone(),
        auth,
        started: Instant::now(),
    });
    info!(address = %listener.local_addr().unwrap_or(addr), "metrics server listening (/stats, /metrics, /healthz, /readyz)");
    info!(sink = %processor.address(), processor = processor.kind(), "processor ready");

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut metrics_stop = stop_rx.clone();
    let metrics = tokio::spawn(async move {
        axum::serve(listener, server::router(state))
            .with_graceful_shutdown(async move {
                let _ = metrics_stop.changed().await;
            })
            .await
    });
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("shutting down");
        let _ = stop_tx.send(true);
    });
    VCenterSource::new(settings, provider_stats, health)
        .run(processor, proc_stats, stop_rx)
        .await;
    match tokio::time::timeout(Duration::from_secs(5), metrics).await {
        Ok(Ok(Err(e))) => Err(e).context("metrics server failed"),
        _ => Ok(()),
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
