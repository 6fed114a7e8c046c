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
}

fn main() {
    match Cli::parse().command {
        Command::PropertiesTable => println!("{}", ovf::docs::readme_block()),
    }
}
