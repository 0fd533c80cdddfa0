//! A plugin's configuration file: the `.yaml` beside its `.wasm`.
//!
//! ```yaml
//! config: {sources: [k8s_audit]}   # handed to the plugin's init as JSON, after schema validation
//! open_params: /logs/audit.jsonl   # a source plugin: `lanner run` opens its stream with these
//! limits:
//!   memory_mb: 64                  # all linear memories and tables together, MiB
//!   call_timeout_ms: 1000          # wall-clock time per call, WASI waits included
//!   max_output_bytes: 16777216     # the most one call may return (or hand a host function)
//!   memories: 4                    # linear memories the component may create
//!   tables: 16                     # tables the component may create
//!   instances: 64                  # core instances the component may create
//! restart:
//!   max_failures: 5                # consecutive failures before the plugin is disabled
//!   backoff_ms: 100                # first wait before re-instantiation, doubled each failure
//!   max_backoff_ms: 30000
//! grants:
//!   dirs:
//!     - {host: /var/log/kubernetes, guest: /logs, mode: ro}
//!   http: [audit.example.com, "collector.internal:8443"]
//!   env: [CLUSTER_NAME]            # copied from Lanner's environment when set
//!   tcp: ["smtp.internal:587"]     # outbound TCP to these host:port
//!   listen: ["0.0.0.0:9765"]       # listen for TCP connections on these IP:port
//!   unix: [/run/podman/podman.sock] # connect to these unix sockets (lanner:plugin@0.4.0)
//!   http_tls:                      # the host's TLS for https requests
//!     ca_files: [/etc/lanner/ca.pem] # trusted instead of the built-in Mozilla roots
//!     client_cert: /etc/lanner/client.pem  # with client_key: mutual TLS
//!     client_key: /etc/lanner/client.key
//! ```
//!
//! Nothing is granted by default: no directory, no network, no environment variable.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Everything a plugin is given.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// The plugin's own configuration, validated against its schema.
    #[serde(default)]
    pub config: Option<serde_json::Value>,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
    /// Restart policy.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// Capabilities.
    #[serde(default)]
    pub grants: Grants,
    /// For a source plugin: the parameters `lanner run` opens its event stream with (as
    /// Falco's `open_params`). Without them the daemon does not open the source; `lanner
    /// replay --open NAME=PARAMS` still can.
    #[serde(default)]
    pub open_params: Option<String>,
}

impl PluginConfig {
    /// Parses a configuration file's text.
    pub fn parse(text: &str) -> Result<Self, serde_yaml_ng::Error> {
        if text.trim().is_empty() {
            return Ok(PluginConfig::default());
        }
        serde_yaml_ng::from_str(text)
    }

    /// The configuration string handed to `init`: JSON, empty when there is none.
    pub fn config_json(&self) -> String {
        match &self.config {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(v) => v.to_string(),
        }
    }
}

/// Per-plugin resource limits. A plugin instance holds at most `memory_mb` of linear memory
/// and tables, plus what wasmtime keeps per instance (compiled code is shared), and a call
/// hands the host at most `max_output_bytes`: together they bound what one plugin can make
/// the host hold.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// All linear memories and tables of an instance together, in MiB (a table element
    /// counts as a pointer).
    pub memory_mb: u64,
    /// Wall-clock time per call, in milliseconds: computing (epoch deadline) and waiting in
    /// WASI (sleep, sockets, files) alike.
    pub call_timeout_ms: u64,
    /// The most bytes one call may return, counted before the host copies them (wasmtime's
    /// hostcall fuel: a list of many views of one buffer counts each view); also the most one
    /// host-function call of the plugin may pass. At least 64 KiB is always allowed.
    pub max_output_bytes: u64,
    /// How many linear memories the component may create. Plugins built with Rust, Python
    /// (componentize-py) or JavaScript (jco) use one to three.
    pub memories: usize,
    /// How many tables the component may create.
    pub tables: usize,
    /// How many core instances the component may create.
    pub instances: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mb: 64,
            call_timeout_ms: 1000,
            max_output_bytes: 16 << 20,
            memories: 4,
            tables: 16,
            instances: 64,
        }
    }
}

/// What happens when a plugin fails (trap, timeout, limit breach).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RestartPolicy {
    /// Consecutive failures after which the plugin is disabled.
    pub max_failures: u32,
    /// The first wait before re-instantiating, in milliseconds; doubled at each failure.
    pub backoff_ms: u64,
    /// The longest wait.
    pub max_backoff_ms: u64,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy { max_failures: 5, backoff_ms: 100, max_backoff_ms: 30_000 }
    }
}

/// Capabilities granted to a plugin.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Grants {
    /// Preopened directories.
    pub dirs: Vec<DirGrant>,
    /// Hosts (`name` or `name:port`) the plugin may send HTTP requests to.
    pub http: Vec<String>,
    /// Names of environment variables passed from Lanner's environment.
    pub env: Vec<String>,
    /// `host:port` destinations the plugin may open TCP connections to (`wasi:sockets`).
    pub tcp: Vec<String>,
    /// `IP:port` addresses the plugin may listen on for TCP connections (`wasi:sockets`).
    pub listen: Vec<String>,
    /// Unix socket paths the plugin may connect to (`unix-socket`, 0.4.0), matched exactly.
    pub unix: Vec<String>,
    /// How the host's TLS for the plugin's `https` requests verifies servers and proves
    /// who it is: TLS is the host's, so these are the operator's, never the plugin's.
    pub http_tls: HttpTls,
}

/// TLS of a plugin's `https` requests. By default servers are verified against the
/// built-in Mozilla roots and no client certificate is sent.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpTls {
    /// PEM files of the CAs trusted, instead of the built-in roots.
    pub ca_files: Vec<PathBuf>,
    /// Folders whose files hold the CAs trusted (PEM), instead of the built-in roots.
    pub ca_dirs: Vec<PathBuf>,
    /// A PEM certificate chain presented to servers that ask for one (mutual TLS).
    pub client_cert: Option<PathBuf>,
    /// The PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// No verification of the server's certificate at all: anyone on the path can read and
    /// forge the traffic. Only for an explicit operator choice.
    pub insecure: bool,
}

/// A directory made visible to the plugin.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the plugin sees it (defaults to the host path).
    #[serde(default)]
    pub guest: Option<String>,
    /// Read-only or read-write.
    #[serde(default)]
    pub mode: DirMode,
}

impl DirGrant {
    /// The path the plugin sees.
    pub fn guest_path(&self) -> String {
        self.guest.clone().unwrap_or_else(|| self.host.display().to_string())
    }

    /// Whether the host path exists and is a directory.
    pub fn exists(&self) -> bool {
        Path::new(&self.host).is_dir()
    }
}

/// Access to a granted directory.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DirMode {
    /// Read-only.
    #[default]
    Ro,
    /// Read and write.
    Rw,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_grants_nothing() {
        let c = PluginConfig::parse("").unwrap();
        assert!(c.grants.dirs.is_empty() && c.grants.http.is_empty() && c.grants.env.is_empty());
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.config_json(), "");
    }

    #[test]
    fn full_file_parses() {
        let c = PluginConfig::parse(
            "config: {sources: [a]}\nlimits: {memory_mb: 8, call_timeout_ms: 50}\nrestart: {max_failures: 2}\n\
             grants:\n  dirs: [{host: /tmp, guest: /t, mode: rw}]\n  http: [example.com]\n  env: [HOME]\n",
        )
        .unwrap();
        assert_eq!(c.config_json(), r#"{"sources":["a"]}"#);
        assert_eq!(c.limits.memory_mb, 8);
        assert_eq!(c.limits.max_output_bytes, Limits::default().max_output_bytes);
        assert_eq!(c.restart.max_failures, 2);
        assert_eq!(c.grants.dirs[0].mode, DirMode::Rw);
        assert_eq!(c.grants.dirs[0].guest_path(), "/t");
        assert_eq!(c.grants.http, ["example.com"]);
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(PluginConfig::parse("grants: {network: all}\n").is_err());
        assert!(PluginConfig::parse("limits: {memory: 1}\n").is_err());
    }
}
