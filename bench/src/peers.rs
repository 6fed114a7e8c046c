//! VMware's own clients as peers on the same pages: pyVmomi (bench/peers/pyvmomi_read.py) and
//! govmomi, govc's library (bench/peers/govmomi_read.go), each reading every event from the
//! fake vCenter with ReadNextEvents and decoding it, with no delivery.

use std::path::Path;

use anyhow::{bail, Context};

/// Runs a peer and returns its events/s from the JSON line it prints.
async fn rate(mut command: tokio::process::Command, name: &str) -> anyhow::Result<f64> {
    let out = command
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("start {name} (run 'make tools')"))?;
    if !out.status.success() {
        bail!(
            "{name} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value =
        serde_json::from_str(line.trim()).with_context(|| format!("{name} printed {line:?}, not JSON"))?;
    v["events_per_sec"]
        .as_f64()
        .with_context(|| format!("{name} printed no events_per_sec: {line}"))
}

/// pyVmomi's read-and-parse rate against the vCenter at `port`.
pub async fn pyvmomi(root: &Path, port: u16, n: usize) -> anyhow::Result<f64> {
    let mut c = tokio::process::Command::new(root.join(".tools/venv/bin/python"));
    c.arg(root.join("bench/peers/pyvmomi_read.py"))
        .args(["--port", &port.to_string(), "--expect", &n.to_string()]);
    rate(c, "pyVmomi").await
}

/// govmomi's read-and-decode rate against the vCenter at `port`.
pub async fn govmomi(root: &Path, port: u16, n: usize) -> anyhow::Result<f64> {
    let mut c = tokio::process::Command::new(root.join(".tools/bin/govmomi-read"));
    c.args([
        "-url",
        &format!("http://bench:bench@127.0.0.1:{port}/sdk"),
        "-expect",
        &n.to_string(),
    ]);
    rate(c, "govmomi-read").await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// The fake vCenter is faithful enough for VMware's own clients: pyVmomi's SmartConnect
    /// and govmomi log in and read every event, in key order, with their own decoders.
    #[tokio::test]
    async fn pyvmomi_and_govmomi_read_every_event_of_the_fake_vcenter() {
        let status = std::process::Command::new("bash")
            .arg(root().join("bench/build-govmomi-peer.sh"))
            .status()
            .expect("run build-govmomi-peer.sh");
        assert!(status.success(), "build-govmomi-peer.sh failed (run 'make tools')");
        let url = crate::fake_vcenter::start(2500).await.unwrap();
        let port = crate::port_of(&url).unwrap();
        assert!(pyvmomi(&root(), port, 2500).await.unwrap() > 0.0);
        assert!(govmomi(&root(), port, 2500).await.unwrap() > 0.0);
        // A wrong count is an error, not a rate.
        let err = pyvmomi(&root(), port, 2499).await.unwrap_err().to_string();
        assert!(err.contains("pyVmomi read 2500 events, expected 2499"), "{err}");
    }
}
