//! The `event-router` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use event_router::config::RouterConfig;

mod allocator;

#[global_allocator]
static ALLOCATOR: allocator::Tuned = mimalloc::MiMalloc;

#[cfg(test)]
mod tests {
    #[test]
    fn veba_go_style_flags_are_read_as_long_flags() {
        let args = [
            "event-router",
            "-config",
            "/etc/vmware-event-router/config",
            "-log-level=debug",
            "-log-json",
            "-V",
            "--config",
            "x",
        ];
        let mapped: Vec<String> = super::veba_flags(args.iter().map(std::ffi::OsString::from))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            mapped,
            [
                "event-router",
                "--config",
                "/etc/vmware-event-router/config",
                "--log-level=debug",
                "--log-json",
                "-V",
                "--config",
                "x"
            ]
        );
    }
}

#[derive(Parser)]
#[command(
    name = "event-router",
    version,
    about = "Routes vCenter events as CloudEvents to Knative, AWS EventBridge and OpenFaaS"
)]
struct Cli {
    /// RouterConfig YAML file [default: /etc/event-router/config.yaml, or VEBA's
    /// /etc/vmware-event-router/config when only that one exists].
    #[arg(long, global = true, env = "EVENT_ROUTER_CONFIG")]
    config: Option<PathBuf>,
    /// Log level: trace, debug, info, warn or error.
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    /// Log as JSON lines.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(flatten)]
    appliance: event_router::console::appliance::ApplianceOptions,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Checks a config file and exits (0 when valid).
    Validate,
    /// Prints the config file's JSON Schema.
    Schema,
    /// Prints the table of the extensions' defaults (the README's, in Markdown).
    Defaults,
    /// Dead letters: events a processor gave up on.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Sends every dead letter again through its processor (exit 0 when all were delivered).
    Replay {
        /// The dead-letter file (default: deadLetterFile from the config).
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

fn init_logging(level: &str, json: bool) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .map_err(|e| anyhow::anyhow!("invalid --log-level {level:?}: {e}; use trace, debug, info, warn or error"))?;
    // Colours only on a terminal: the journal and log files get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    Ok(())
}

/// The start every running command shares: logging, the config (its notes logged), the
/// runtime. A failure is reported (in the log once it is up) and becomes the exit code: 2 for
/// a usage or configuration problem, 1 for the system.
fn start(
    config: &std::path::Path,
    level: &str,
    json: bool,
) -> Result<(RouterConfig, tokio::runtime::Runtime), ExitCode> {
    if let Err(e) = init_logging(level, json) {
        eprintln!("{e}");
        return Err(ExitCode::from(2));
    }
    let cfg = RouterConfig::load(config).map_err(|e| {
        tracing::error!("{e}");
        ExitCode::from(2)
    })?;
    for note in &cfg.notes {
        tracing::info!("{note}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            tracing::error!("cannot start the async runtime: {e}");
            ExitCode::FAILURE
        })?;
    Ok((cfg, runtime))
}

fn dlq_replay(config: &std::path::Path, file: Option<&std::path::Path>, level: &str) -> ExitCode {
    let (cfg, runtime) = match start(config, level, false) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let path = match event_router::dlq::path_for(&cfg, file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(event_router::dlq::replay(
        &cfg,
        Some(&path),
        event_router::dlq::Select::All,
    )) {
        Ok(s) => {
            for o in &s.outcomes {
                match o.result {
                    "delivered" => println!("{o}"),
                    _ => eprintln!("{o}; kept"),
                }
            }
            println!(
                "replayed {}, failed again {}, kept {} (in {})",
                s.replayed,
                s.failed,
                s.kept,
                path.display()
            );
            if s.failed == 0 && s.kept == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// VEBA's router is started with Go-style flags (`-config FILE -log-level info -log-json`, also
/// `-config=FILE`, as Go's `flag` package reads them): they are taken as this binary's
/// `--config`, `--log-level` and `--log-json`, so VEBA's chart and manifests start it unchanged.
fn veba_flags(args: impl IntoIterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    const GO_FLAGS: [&str; 3] = ["config", "log-level", "log-json"];
    args.into_iter()
        .map(|arg| {
            let Some(text) = arg.to_str() else { return arg };
            let Some(flag) = text.strip_prefix('-').filter(|f| !f.starts_with('-')) else {
                return arg;
            };
            let name = flag.split_once('=').map_or(flag, |(n, _)| n);
            if GO_FLAGS.contains(&name) {
                format!("--{flag}").into()
            } else {
                arg
            }
        })
        .collect()
}

/// The config file when none is named: this router's default, or VEBA's where only that exists.
fn default_config() -> PathBuf {
    const OURS: &str = "/etc/event-router/config.yaml";
    const VEBA: &str = "/etc/vmware-event-router/config";
    if !std::path::Path::new(OURS).exists() && std::path::Path::new(VEBA).exists() {
        PathBuf::from(VEBA)
    } else {
        PathBuf::from(OURS)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(veba_flags(std::env::args_os()));
    let config = cli.config.clone().unwrap_or_else(default_config);
    match cli.command {
        Some(Command::Schema) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&RouterConfig::json_schema()).unwrap_or_default()
            );
            return ExitCode::SUCCESS;
        }
        Some(Command::Defaults) => {
            println!("{}", event_router::config::defaults::markdown());
            return ExitCode::SUCCESS;
        }
        Some(Command::Validate) => {
            return match RouterConfig::load(&config) {
                Ok(cfg) => {
                    for note in &cfg.notes {
                        println!("note: {note}");
                    }
                    println!("{}: valid", config.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(2)
                }
            };
        }
        Some(Command::Dlq {
            command: DlqCommand::Replay { file },
        }) => return dlq_replay(&config, file.as_deref(), &cli.log_level),
        None => {}
    }
    let (cfg, runtime) = match start(&config, &cli.log_level, cli.log_json) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match runtime.block_on(event_router::run::run(cfg, config.clone(), cli.appliance)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
