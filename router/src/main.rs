//! The `event-router` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use event_router::config::RouterConfig;

mod allocator;

#[global_allocator]
static ALLOCATOR: allocator::Tuned = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "event-router",
    version,
    about = "Routes vCenter events as CloudEvents to Knative, AWS EventBridge and OpenFaaS"
)]
struct Cli {
    /// RouterConfig YAML file.
    #[arg(
        long,
        global = true,
        env = "EVENT_ROUTER_CONFIG",
        default_value = "/etc/event-router/config.yaml"
    )]
    config: PathBuf,
    /// Log level: trace, debug, info, warn or error.
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    /// Log as JSON lines.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Checks a config file and exits (0 when valid).
    Validate,
    /// Prints the config file's JSON Schema.
    Schema,
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

fn init_logging(level: &str, json: bool) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .map_err(|e| format!("invalid --log-level {level:?}: {e}; use trace, debug, info, warn or error"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    Ok(())
}

fn dlq_replay(config: &std::path::Path, file: Option<&std::path::Path>, level: &str) -> ExitCode {
    if let Err(e) = init_logging(level, false) {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    let cfg = match RouterConfig::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(event_router::dlq::replay(&cfg, file)) {
        Ok(s) if s.failed == 0 && s.kept == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Schema) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&RouterConfig::json_schema()).unwrap_or_default()
            );
            return ExitCode::SUCCESS;
        }
        Some(Command::Validate) => {
            return match RouterConfig::load(&cli.config) {
                Ok(_) => {
                    println!("{}: valid", cli.config.display());
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
        }) => return dlq_replay(&cli.config, file.as_deref(), &cli.log_level),
        None => {}
    }
    if let Err(e) = init_logging(&cli.log_level, cli.log_json) {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    let cfg = match RouterConfig::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(event_router::run::run(cfg, cli.config.clone())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
