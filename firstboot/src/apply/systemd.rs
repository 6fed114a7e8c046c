//! systemd through `systemctl` (the program can be replaced with `FIRSTBOOT_SYSTEMCTL`, which
//! the tests use): query a unit's state, enable or disable it, restart it.

use std::process::Command;

pub struct Systemctl {
    program: String,
}

impl Default for Systemctl {
    fn default() -> Self {
        Systemctl {
            program: std::env::var("FIRSTBOOT_SYSTEMCTL").unwrap_or_else(|_| "systemctl".into()),
        }
    }
}

/// Why a systemctl call failed.
#[derive(Debug, thiserror::Error)]
pub enum SystemctlError {
    #[error("cannot run {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("systemctl {args} failed: {stderr}")]
    Failed { args: String, stderr: String },
}

impl Systemctl {
    fn spawn_error(&self, source: std::io::Error) -> SystemctlError {
        SystemctlError::Spawn {
            program: self.program.clone(),
            source,
        }
    }

    fn status(&self, args: &[&str]) -> Result<bool, SystemctlError> {
        Command::new(&self.program)
            .args(args)
            .status()
            .map(|s| s.success())
            .map_err(|e| self.spawn_error(e))
    }

    fn run(&self, args: &[&str]) -> Result<(), SystemctlError> {
        let out = Command::new(&self.program)
            .args(args)
            .output()
            .map_err(|e| self.spawn_error(e))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(SystemctlError::Failed {
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    pub fn is_enabled(&self, unit: &str) -> Result<bool, SystemctlError> {
        self.status(&["is-enabled", "--quiet", unit])
    }

    pub fn is_active(&self, unit: &str) -> Result<bool, SystemctlError> {
        self.status(&["is-active", "--quiet", unit])
    }

    pub fn enable_now(&self, unit: &str) -> Result<(), SystemctlError> {
        self.run(&["enable", "--now", unit])
    }

    pub fn disable_now(&self, unit: &str) -> Result<(), SystemctlError> {
        self.run(&["disable", "--now", unit])
    }

    pub fn restart(&self, unit: &str) -> Result<(), SystemctlError> {
        self.run(&["restart", unit])
    }

    /// Starts or restarts without waiting for the job (k3s: its start takes a while and the
    /// router wait that follows watches it through the Kubernetes API).
    pub fn start_no_block(&self, unit: &str, restart: bool) -> Result<(), SystemctlError> {
        self.run(&[if restart { "restart" } else { "start" }, "--no-block", unit])
    }
}
