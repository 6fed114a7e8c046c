//! The `firstboot` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use std::time::Duration;

use clap::{Parser, Subcommand};
use firstboot::apply::status::Status;
use firstboot::apply::{run, Options};
use firstboot::ovfenv::OvfEnv;
use firstboot::render::render;
use firstboot::shown::{self, one_line};
use firstboot::source::Source;
use firstboot::validate::problems;
use firstboot::write::write_tree;

#[derive(Parser)]
#[command(name = "firstboot", version, about = "The Event Broker Appliance's first-boot agent")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Checks the OVF properties in an OVF environment file; lists every problem (exit 2).
    Validate {
        /// An OVF environment XML document (what vSphere puts in guestinfo.ovfEnv).
        #[arg(long)]
        ovf_env: PathBuf,
    },
    /// The boot path: read guestinfo.ovfEnv (else ovf-env.xml on a CD-ROM), validate, render,
    /// apply, start k3s, wait for the router.
    Run {
        /// Read the properties from this file instead of guestinfo.ovfEnv or a CD-ROM.
        #[arg(long)]
        ovf_env: Option<PathBuf>,
        /// Folder standing in for `/` (host name changes are skipped unless it is `/`).
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// Seconds to wait for the router to become ready.
        #[arg(long, default_value_t = 900)]
        router_timeout: u64,
    },
    /// Prints the last run's steps, durations and errors (exit 1 when it failed or is unfinished).
    Status {
        #[arg(long, default_value = "/")]
        root: PathBuf,
    },
    /// Validates, then renders every file under DIR (no system calls); prints what changed.
    Render {
        #[arg(long)]
        ovf_env: PathBuf,
        /// Folder standing in for `/`.
        #[arg(long)]
        root: PathBuf,
    },
}

/// Reads and validates the environment; on failure prints why and returns the exit code.
fn load(ovf_env: &PathBuf) -> Result<OvfEnv, ExitCode> {
    let text = std::fs::read_to_string(ovf_env).map_err(|e| {
        eprintln!("cannot read {}: {e}", ovf_env.display());
        ExitCode::from(2)
    })?;
    let env = OvfEnv::parse(&text).map_err(|e| {
        eprintln!("{}: {}", ovf_env.display(), one_line(&e.to_string()));
        ExitCode::from(2)
    })?;
    for key in &env.unknown {
        eprintln!(
            "warning: guestinfo.{} is not a property of this appliance and is ignored",
            shown::key(key)
        );
    }
    for w in firstboot::validate::warnings(&env) {
        eprintln!("warning: {}", one_line(&w));
    }
    let found = problems(&env);
    if found.is_empty() {
        return Ok(env);
    }
    eprintln!("{}: {}:", ovf_env.display(), firstboot::validate::summary(found.len()));
    for p in found {
        eprintln!("  - {}", one_line(&p.to_string()));
    }
    Err(ExitCode::from(2))
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run {
            ovf_env,
            root,
            router_timeout,
        } => {
            let opts = Options {
                source: ovf_env.map(Source::File).unwrap_or(Source::Platform),
                root,
                router_timeout: Duration::from_secs(router_timeout),
            };
            ExitCode::from(run(&opts) as u8)
        }
        Command::Status { root } => match Status::load(&root) {
            Ok(Some(status)) => {
                print!("{}", status.report());
                if status.result == "ok" {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Ok(None) => {
                eprintln!(
                    "firstboot has not run yet (no {}); see `journalctl -u firstboot`",
                    firstboot::apply::status::path(&root).display()
                );
                ExitCode::from(3)
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Validate { ovf_env } => match load(&ovf_env) {
            Ok(_) => {
                println!("{}: valid", ovf_env.display());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Render { ovf_env, root } => {
            let env = match load(&ovf_env) {
                Ok(env) => env,
                Err(code) => return code,
            };
            let material = match firstboot::material::load(&env, &root) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("{}", one_line(&e.to_string()));
                    return ExitCode::FAILURE;
                }
            };
            let plan = match render(&env, &material) {
                Ok(plan) => plan,
                Err(e) => {
                    eprintln!("{}", one_line(&e.to_string()));
                    return ExitCode::FAILURE;
                }
            };
            for w in &plan.warnings {
                eprintln!("warning: {w}");
            }
            for n in &plan.notes {
                eprintln!("note: {n}");
            }
            match write_tree(&plan.files, &root) {
                Ok(changes) => {
                    for (path, copy) in &changes.kept {
                        println!("kept {path} as {copy}");
                        eprintln!("note: {}", firstboot::write::Changes::kept_note(path, copy));
                    }
                    for path in &changes.written {
                        println!("wrote {path}");
                    }
                    for path in &changes.removed {
                        println!("removed {path}");
                    }
                    if changes.is_empty() {
                        println!("nothing changed");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
