//! Falco's built-in outputs that Lanner serves under Falco's keys: `syslog_output` (a
//! built-in sink) and `http_output` (the webhook sink plugin, with TLS set up by the host).
//!
//! Every key of Falco's sections is accepted with Falco's meaning or said out loud: a key
//! that would change what is secured (verification, client certificates) and cannot be
//! honoured is an error, one that changes nothing security-relevant is a warning.

use serde::Deserialize;
use std::path::PathBuf;

/// Falco's `syslog_output`, plus where the syslog socket is and the tag (Lanner's keys).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogOutput {
    pub enabled: bool,
    /// The least severe alert sent (Lanner's key; Falco sends what `priority` lets through).
    pub priority: String,
    /// The syslog daemon's socket (Lanner's key): `/dev/log` is what Falco's `syslog(3)`
    /// writes to; a containerised Lanner may see the host's elsewhere.
    pub socket: PathBuf,
    /// The tag (program name) of each message (Lanner's key): rsyslog filters written for a
    /// Falco node match on `falco`.
    pub tag: String,
}

impl Default for SyslogOutput {
    fn default() -> Self {
        Self {
            enabled: false,
            priority: "debug".into(),
            socket: PathBuf::from("/dev/log"),
            tag: "lanner".into(),
        }
    }
}

impl SyslogOutput {
    /// Refuses a threshold that is not a priority, or an empty tag.
    pub fn check(&self) -> anyhow::Result<()> {
        crate::config_read::parse_priority("syslog_output.priority", &self.priority)?;
        if self.enabled && (self.tag.is_empty() || self.tag.chars().any(|c| c.is_whitespace() || c == ':')) {
            anyhow::bail!("syslog_output.tag: '{}' is not a syslog tag (no spaces or ':')", self.tag);
        }
        Ok(())
    }

    /// The sink, with a warning when its socket is not there yet (the output retries, and
    /// drops and counts what it cannot deliver).
    pub fn sink(&self, format: lanner_outputs::AlertFormat) -> lanner_outputs::SyslogSink {
        use std::os::unix::fs::FileTypeExt;
        match std::fs::metadata(&self.socket) {
            Ok(m) if m.file_type().is_socket() => {}
            Ok(_) => tracing::warn!(
                socket = %self.socket.display(),
                "syslog_output.socket is not a socket: alerts to syslog will fail and be counted as dropped"
            ),
            Err(e) => tracing::warn!(
                socket = %self.socket.display(),
                error = %e,
                "syslog_output.socket is not there (no syslog daemon?): alerts to syslog will fail until it is"
            ),
        }
        lanner_outputs::SyslogSink::new(self.socket.clone(), self.tag.clone(), format)
    }
}

/// Falco's `http_output`, served by the webhook sink plugin (`SINK_PLUGINS_DIR/webhook.wasm`)
/// with the host's TLS set from the CA and client-certificate keys. Paths are strings because
/// Falco writes an unset one as `""`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpOutput {
    pub enabled: bool,
    pub url: String,
    pub user_agent: String,
    pub insecure: bool,
    pub ca_cert: String,
    pub ca_bundle: String,
    pub ca_path: String,
    pub mtls: bool,
    pub client_cert: String,
    pub client_key: String,
    pub echo: bool,
    pub compress_uploads: bool,
    pub keep_alive: bool,
    pub max_consecutive_timeouts: u32,
    /// The least severe alert sent (Lanner's key).
    pub priority: String,
}

impl Default for HttpOutput {
    /// Falco's defaults, from its falco.yaml.
    fn default() -> Self {
        Self {
            enabled: false,
            url: String::new(),
            user_agent: "falcosecurity/falco".into(),
            insecure: false,
            ca_cert: String::new(),
            ca_bundle: String::new(),
            ca_path: "/etc/ssl/certs".into(),
            mtls: false,
            client_cert: "/etc/ssl/certs/client.crt".into(),
            client_key: "/etc/ssl/certs/client.key".into(),
            echo: false,
            compress_uploads: false,
            keep_alive: false,
            max_consecutive_timeouts: 5,
            priority: "debug".into(),
        }
    }
}

/// The webhook plugin's configuration for `http_output`, and what the operator must hear
/// about keys that do not carry over as they are.
pub struct HttpPlan {
    pub plugin: lanner_plugin_runtime::PluginConfig,
    pub warnings: Vec<String>,
}

impl HttpOutput {
    /// The URL as given, without the quotes Falco strips from a quoted one.
    fn url(&self) -> &str {
        let u = self.url.trim();
        for q in ['"', '\''] {
            if u.len() >= 2 && u.starts_with(q) && u.ends_with(q) {
                return &u[1..u.len() - 1];
            }
        }
        u
    }

    /// Maps the keys onto the webhook plugin, its HTTP grant and the host's TLS. Errors for
    /// what cannot be served as asked; warnings for keys whose Falco meaning Lanner does not
    /// share, each naming its key.
    pub fn plan(&self, json_output: bool) -> anyhow::Result<HttpPlan> {
        use anyhow::bail;
        use lanner_plugin_runtime::config::{Grants, HttpTls, Limits};
        crate::config_read::parse_priority("http_output.priority", &self.priority)?;
        let url = self.url();
        if url.is_empty() {
            bail!("http_output.url: empty; http_output needs the URL alerts are POSTed to");
        }
        let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            bail!("http_output.url: only http:// and https:// URLs are served");
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if hostport.is_empty() {
            bail!("http_output.url: names no host");
        }
        // The grant names the URL's host and port only: the plugin can reach nothing else.
        let grant = if hostport.starts_with('[') {
            hostport.split_once(']').map_or(hostport, |(h, _)| h).trim_start_matches('[').to_string()
        } else if hostport.contains(':') {
            hostport.to_string()
        } else {
            format!("{hostport}:{}", if https { 443 } else { 80 })
        };
        let mut warnings = Vec::new();
        let mut tls = HttpTls::default();
        if self.insecure && https {
            warnings.push(
                "http_output.insecure: true: the server's certificate is not verified; anyone on the path \
                 can read and forge the alerts"
                    .to_string(),
            );
            tls.insecure = true;
        }
        if !self.ca_cert.is_empty() {
            tls.ca_files.push(self.ca_cert.clone().into());
        } else if !self.ca_bundle.is_empty() {
            tls.ca_files.push(self.ca_bundle.clone().into());
        } else if https && !self.ca_path.is_empty() {
            if std::path::Path::new(&self.ca_path).is_dir() {
                tls.ca_dirs.push(self.ca_path.clone().into());
            } else {
                warnings.push(format!(
                    "http_output.ca_path: {} is not a folder; the server is verified against the built-in \
                     Mozilla roots",
                    self.ca_path
                ));
            }
        }
        if self.insecure && !tls.ca_files.is_empty() {
            warnings.push("http_output.ca_cert/ca_bundle: unused, insecure is true".into());
        }
        if self.insecure {
            tls.ca_files.clear();
            tls.ca_dirs.clear();
        }
        if self.mtls {
            for (key, path) in [("client_cert", &self.client_cert), ("client_key", &self.client_key)] {
                if path.is_empty() {
                    bail!("http_output.{key}: empty, and mtls is true");
                }
            }
            tls.client_cert = Some(self.client_cert.clone().into());
            tls.client_key = Some(self.client_key.clone().into());
        }
        if !https {
            // No TLS to set up: nothing of it is read (a missing CA folder is no error here).
            tls = HttpTls::default();
        }
        if !https && (self.insecure || self.mtls || !self.ca_cert.is_empty() || !self.ca_bundle.is_empty()) {
            warnings.push(format!(
                "http_output: the TLS keys (insecure, mtls, ca_cert, ca_bundle) are unused: the URL is http://, \
                 alerts go to {grant} unencrypted"
            ));
        }
        if self.user_agent.chars().any(char::is_control) {
            bail!("http_output.user_agent: holds a control character");
        }
        if !json_output {
            warnings.push(
                "http_output: the body is the JSON alert (Content-Type application/json) even though \
                 json_output is false; Falco would send the text line as text/plain"
                    .into(),
            );
        }
        if self.echo {
            warnings.push("http_output.echo: not supported; the server's answers are not printed".into());
        }
        if self.compress_uploads {
            warnings.push(
                "http_output.compress_uploads: not supported; the body is sent uncompressed (Falco's \
                 libcurl option asks for a compressed answer and does not compress the body either)"
                    .into(),
            );
        }
        if self.keep_alive {
            warnings
                .push("http_output.keep_alive: not supported; each alert is sent on a new connection".into());
        }
        if self.max_consecutive_timeouts != 5 {
            warnings.push(format!(
                "http_output.max_consecutive_timeouts: {} is not used; failed deliveries are retried as \
                 outputs_queue.retry_attempts says",
                self.max_consecutive_timeouts
            ));
        }
        let mut headers = serde_json::Map::new();
        if !self.user_agent.is_empty() {
            headers.insert("user-agent".into(), self.user_agent.clone().into());
        }
        let plugin = lanner_plugin_runtime::PluginConfig {
            config: Some(serde_json::json!({"url": url, "headers": headers, "timeout_ms": 10_000})),
            grants: Grants { http: vec![grant], http_tls: tls, ..Grants::default() },
            limits: Limits { call_timeout_ms: 30_000, ..Limits::default() },
            ..Default::default()
        };
        Ok(HttpPlan { plugin, warnings })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(url: &str) -> HttpOutput {
        HttpOutput { enabled: true, url: url.into(), ..HttpOutput::default() }
    }

    #[test]
    fn the_grant_names_the_urls_host_and_port_only() {
        let grant = |u: &str| http(u).plan(true).unwrap().plugin.grants.http;
        assert_eq!(grant("https://collector.example.com/falco"), ["collector.example.com:443"]);
        assert_eq!(grant("http://user:pw@10.0.0.5:2801/?x=1"), ["10.0.0.5:2801"]);
        assert_eq!(grant("http://[::1]:2801/"), ["::1"]);
        // Falco strips the quotes of a quoted URL.
        let plan = http("'http://sidekick:2801/'").plan(true).unwrap();
        assert_eq!(plan.plugin.config.unwrap()["url"], "http://sidekick:2801/");
    }

    #[test]
    fn bad_urls_and_unusable_keys_are_errors_naming_the_key() {
        for (o, key) in [
            (http(""), "http_output.url"),
            (http("ftp://x/"), "http_output.url"),
            (http("https:///x"), "http_output.url"),
            (HttpOutput { priority: "loud".into(), ..http("https://x/") }, "http_output.priority"),
            (
                HttpOutput { mtls: true, client_key: String::new(), ..http("https://x/") },
                "http_output.client_key",
            ),
        ] {
            let e = o.plan(true).err().map(|e| format!("{e:#}")).unwrap_or_default();
            assert!(e.contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn tls_follows_falcos_order_and_plain_http_sets_none_up() {
        let o = HttpOutput { ca_cert: "/a.pem".into(), ca_bundle: "/b.pem".into(), ..http("https://x/") };
        let tls = o.plan(true).unwrap().plugin.grants.http_tls;
        assert_eq!(tls.ca_files, [PathBuf::from("/a.pem")]);
        let o = HttpOutput { ca_bundle: "/b.pem".into(), ..http("https://x/") };
        assert_eq!(o.plan(true).unwrap().plugin.grants.http_tls.ca_files, [PathBuf::from("/b.pem")]);
        let o = HttpOutput { ca_path: "/nonexistent-ca-dir".into(), ..http("https://x/") };
        let plan = o.plan(true).unwrap();
        assert!(plan.plugin.grants.http_tls.ca_dirs.is_empty());
        assert!(plan.warnings.iter().any(|w| w.starts_with("http_output.ca_path")), "{:?}", plan.warnings);
        let o = HttpOutput { insecure: true, mtls: true, ..http("http://x/") };
        let plan = o.plan(false).unwrap();
        assert_eq!(plan.plugin.grants.http_tls, Default::default());
        assert!(plan.warnings.iter().any(|w| w.contains("unencrypted")), "{:?}", plan.warnings);
        assert!(plan.warnings.iter().any(|w| w.contains("json_output is false")), "{:?}", plan.warnings);
    }
}
