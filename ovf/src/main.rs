//! The `ova` command: the appliance's OVF artefacts from the property schema.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "ova", version, about = "OVF artefacts of the Event Broker Appliance")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prints the README's OVF property table (Markdown, with its markers).
    PropertiesTable,
    /// Prints the OVF descriptor (without disks: what `ova build` writes, minus the References).
    Descriptor {
        #[arg(long, default_value = "event-broker-appliance")]
        name: String,
        #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
        version: String,
        #[arg(long, default_value = "unknown")]
        commit: String,
    },
}

fn main() {
    match Cli::parse().command {
        Command::PropertiesTable => println!("{}", ovf::docs::readme_block()),
        Command::Descriptor { name, version, commit } => {
            let appliance = ovf::descriptor::Appliance {
                name,
                version,
                commit,
                ..Default::default()
            };
            print!("{}", ovf::descriptor::descriptor(&appliance));
        }
    }
}
