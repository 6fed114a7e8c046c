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

impl Systemctl {
    fn status(&self, args: &[&str]) -> Result<bool, String> {
        Command::new(&self.program)
            .args(args)
            .status()
            .map(|s| s.success())
            .map_err(|e| format!("cannot run {}: {e}", self.program))
    }

    fn run(&self, args: &[&str]) -> Result<(), String> {
        let out = Command::new(&self.program)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.program))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "systemctl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    pub fn is_enabled(&self, unit: &str) -> Result<bool, String> {
        self.status(&["is-enabled", "--quiet", unit])
    }

    pub fn is_active(&self, unit: &str) -> Result<bool, String> {
        self.status(&["is-active", "--quiet", unit])
    }

    pub fn enable_now(&self, unit: &str) -> Result<(), String> {
        self.run(&["enable", "--now", unit])
    }

    pub fn disable_now(&self, unit: &str) -> Result<(), String> {
        self.run(&["disable", "--now", unit])
    }

    pub fn restart(&self, unit: &str) -> Result<(), String> {
        self.run(&["restart", unit])
    }

    /// Starts or restarts without waiting for the job (k3s: its start takes a while and the
    /// router wait that follows watches it through the Kubernetes API).
    pub fn start_no_block(&self, unit: &str, restart: bool) -> Result<(), String> {
        self.run(&[if restart { "restart" } else { "start" }, "--no-block", unit])
    }
}
