//! The `firstboot` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use firstboot::ovfenv::OvfEnv;
use firstboot::validate::problems;

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
}

fn main() -> ExitCode {
    let Cli {
        command: Command::Validate { ovf_env },
    } = Cli::parse();
    let text = match std::fs::read_to_string(&ovf_env) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {}: {e}", ovf_env.display());
            return ExitCode::from(2);
        }
    };
    let env = match OvfEnv::parse(&text) {
        Ok(env) => env,
        Err(e) => {
            eprintln!("{}: {e}", ovf_env.display());
            return ExitCode::from(2);
        }
    };
    for key in &env.unknown {
        eprintln!("warning: guestinfo.{key} is not a property of this appliance and is ignored");
    }
    let found = problems(&env);
    if found.is_empty() {
        println!("{}: valid", ovf_env.display());
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "{}: {} invalid OVF propert{}; fix them in the VM's vApp Options and reboot:",
        ovf_env.display(),
        found.len(),
        if found.len() == 1 { "y" } else { "ies" }
    );
    for p in found {
        eprintln!("  - {p}");
    }
    ExitCode::from(2)
}
