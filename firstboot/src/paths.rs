//! Where the appliance keeps what firstboot writes and reads back: one place for every path that
//! more than one step names (render writes them, apply and the router's pod use them).

/// The router's checkpoint folder (and dead-letter file), on the host folder its pod mounts.
pub const CHECKPOINTS: &str = "/var/lib/event-router/checkpoints";
/// firstboot's status file: the last run, step by step (`firstboot status`, the console).
pub const STATUS: &str = "/var/lib/firstboot/status.json";
/// The appliance's TLS certificate and key.
pub const TLS_CERT: &str = "/etc/event-router/tls/tls.crt";
pub const TLS_KEY: &str = "/etc/event-router/tls/tls.key";
/// The Endpoint Password firstboot generated when the property was left empty (root only).
pub const ENDPOINT_PASSWORD_FILE: &str = "/etc/event-router/endpoint-password";
/// The console banner's part that shows a generated Endpoint Password (root only: agetty, which
/// prints `/etc/issue.d/*.issue` after `/etc/issue`, runs as root).
pub const ENDPOINT_PASSWORD_ISSUE: &str = "/etc/issue.d/50-endpoint-password.issue";
/// How the first valid properties came (transport and deployment), recorded before anything is
/// applied: later runs refuse an environment that arrives another way (a CD-ROM attached to a
/// configured appliance).
pub const ORIGIN: &str = "/var/lib/firstboot/origin.json";
/// The root password's file: rendered from its own current content (only root's hash is set),
/// so a change there is never an operator's edit to keep aside.
pub const SHADOW: &str = "/etc/shadow";
/// The Trusted CA Certificate property's certificates (PEM), which the router trusts for vCenter
/// and Horizon (`certificates.rootCAs`); the router's pod sees the same path (its config Secret
/// is mounted on /etc/event-router).
pub const TRUSTED_CA: &str = "/etc/event-router/trusted-ca.pem";
/// The operator's additions to the router's configuration, merged by firstboot and never
/// written by it (see `overrides.rs`).
pub const CONFIG_D: &str = "/etc/event-router/config.d";
