//! The `ova` command: the appliance's OVF artefacts from the property schema.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "ova", version, about = "OVF artefacts of the Event Broker Appliance")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What the descriptor says about the appliance itself.
#[derive(clap::Args)]
struct ApplianceArgs {
    #[arg(long, default_value = "event-broker-appliance")]
    name: String,
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
    version: String,
    #[arg(long, default_value = "unknown")]
    commit: String,
}

impl From<ApplianceArgs> for ovf::descriptor::Appliance {
    fn from(a: ApplianceArgs) -> Self {
        ovf::descriptor::Appliance {
            name: a.name,
            version: a.version,
            commit: a.commit,
            ..Default::default()
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Prints the README's OVF property table (Markdown, with its markers).
    PropertiesTable,
    /// Prints the deploy scripts' properties file (every property with its default).
    PropertiesExample,
    /// Prints the OVF descriptor (without disks: what `ova build` writes, minus the References).
    Descriptor {
        #[command(flatten)]
        appliance: ApplianceArgs,
    },
    /// Prints the OVF environment document (what vSphere passes the VM in guestinfo.ovfEnv or
    /// on the ISO transport's CD-ROM as ovf-env.xml) for a deploy-script properties file.
    OvfEnv {
        /// A properties file in scripts/appliance.properties.example's format.
        #[arg(long)]
        properties: std::path::PathBuf,
    },
    /// Builds the OVA: disks (raw, qcow2 or VMDK) converted to streamOptimized VMDK, the
    /// descriptor first, then the disks, then the .mf with SHA256 digests.
    Build {
        /// A disk image (.raw/.img, .qcow2 or .vmdk); repeat for more disks, in order.
        #[arg(long = "disk", required = true)]
        disks: Vec<std::path::PathBuf>,
        /// The OVA to write.
        #[arg(long)]
        out: std::path::PathBuf,
        #[command(flatten)]
        appliance: ApplianceArgs,
    },
}

fn main() -> std::process::ExitCode {
    match Cli::parse().command {
        Command::PropertiesTable => println!("{}", ovf::docs::readme_block()),
        Command::PropertiesExample => print!("{}", ovf::docs::properties_example()),
        Command::Descriptor { appliance } => {
            print!("{}", ovf::descriptor::descriptor(&appliance.into()));
        }
        Command::OvfEnv { properties } => {
            let parsed = std::fs::read_to_string(&properties)
                .map_err(|e| e.to_string())
                .and_then(|t| ovf::environment::parse_properties(&t).map_err(|e| e.to_string()));
            match parsed {
                Ok(props) => print!("{}", ovf::environment::document(&props)),
                Err(e) => {
                    eprintln!("ova ovf-env: {}: {e}", properties.display());
                    return std::process::ExitCode::from(2);
                }
            }
        }
        Command::Build { disks, out, appliance } => match ovf::ova::build(&disks, &out, &appliance.into()) {
            Ok(files) => println!("wrote {}: {}", out.display(), files.join(", ")),
            Err(e) => {
                eprintln!("ova build: {e}");
                return std::process::ExitCode::FAILURE;
            }
        },
    }
    std::process::ExitCode::SUCCESS
}
