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
        crate::config::parse_priority("syslog_output.priority", &self.priority)?;
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
