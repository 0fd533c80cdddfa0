//! Alerts to the local syslog daemon (Falco's `syslog_output`).
//!
//! Falco calls `syslog(3)` without `openlog`: facility `user`, the alert's priority as the
//! severity (Falco's priorities are syslog's levels, emergency 0 to debug 7), the program's
//! name as the tag, no pid, and the alert line (text or JSON, as `json_output` says) as the
//! message. This sink writes the same datagram as glibc does, but to a socket path of its
//! own choosing rather than libc's fixed `/dev/log`, so that a node whose syslog listens
//! elsewhere (and a test with its own rsyslog) can be reached; the tag is configurable so
//! that rsyslog filters written for `falco` keep matching.

use crate::AlertFormat;
use lanner_event::{Alert, AlertSink, Priority, SinkError};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

/// syslog's `LOG_USER` facility, as Falco's implicit `openlog` uses.
pub const FACILITY_USER: u8 = 1;

/// The syslog severity of an alert priority: the same numbers, as Falco relies on.
pub fn severity(p: Priority) -> u8 {
    match p {
        Priority::Emergency => 0,
        Priority::Alert => 1,
        Priority::Critical => 2,
        Priority::Error => 3,
        Priority::Warning => 4,
        Priority::Notice => 5,
        Priority::Informational => 6,
        Priority::Debug => 7,
    }
}

/// Sends each alert as one datagram to a syslog socket.
pub struct SyslogSink {
    path: PathBuf,
    tag: String,
    format: AlertFormat,
    socket: Option<UnixDatagram>,
}

impl SyslogSink {
    /// A syslog output to the socket at `path` (the system's is `/dev/log`), each message
    /// tagged `tag`. Nothing is opened until the first alert: a syslog daemon started after
    /// Lanner is still reached.
    pub fn new(path: impl Into<PathBuf>, tag: impl Into<String>, format: AlertFormat) -> Self {
        Self { path: path.into(), tag: tag.into(), format, socket: None }
    }

    /// The datagram for one alert: `<PRI>Mmm dd hh:mm:ss TAG: LINE`, as glibc frames it.
    pub fn frame(&self, alert: &Alert) -> String {
        let pri = u16::from(FACILITY_USER) * 8 + u16::from(severity(alert.priority));
        format!("<{pri}>{} {}: {}", local_timestamp(), self.tag, self.format.line(alert))
    }
}

impl AlertSink for SyslogSink {
    fn deliver(&mut self, alerts: &[Alert]) -> Result<(), SinkError> {
        for a in alerts {
            let msg = self.frame(a);
            let socket = match &self.socket {
                Some(s) => s,
                None => self.socket.insert(
                    UnixDatagram::unbound()
                        .map_err(|e| SinkError::retryable(format!("syslog: socket: {e}")))?,
                ),
            };
            if let Err(e) = socket.send_to(msg.as_bytes(), &self.path) {
                let permanent = e.raw_os_error() == Some(libc::EMSGSIZE);
                // A syslog daemon that restarted has a new socket at the same path; a new
                // socket of ours finds it on the retry.
                self.socket = None;
                let text = format!("syslog: sending to {}: {e}", self.path.display());
                return Err(if permanent {
                    SinkError::permanent(format!("{text} (the alert is larger than the socket takes)"))
                } else {
                    SinkError::retryable(text)
                });
            }
        }
        Ok(())
    }
}

/// The local time as syslog's RFC 3164 header writes it (`Dec  6 02:50:00`).
fn local_timestamp() -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    // SAFETY: `time(NULL)` only reads the clock; `localtime_r` writes into the `tm` given.
    let tm = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return "Jan  1 00:00:00".into();
        }
        tm
    };
    let month = MONTHS[tm.tm_mon.clamp(0, 11) as usize];
    format!("{month} {:>2} {:02}:{:02}:{:02}", tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(priority: Priority) -> Alert {
        Alert {
            time_ns: 1_700_000_000_000_000_000,
            rule: "R".into(),
            priority,
            output: "opened /etc/shadow".into(),
            output_fields: Vec::new(),
            source: "syscall".into(),
            tags: Vec::new(),
            hostname: "h".into(),
        }
    }

    #[test]
    fn the_frame_carries_facility_user_and_the_priority_as_severity() {
        let s = SyslogSink::new("/nonexistent", "falco", AlertFormat::plain(false));
        let f = s.frame(&alert(Priority::Critical));
        assert!(f.starts_with("<10>"), "{f}");
        assert!(f.ends_with(" falco: 2023-11-14T22:13:20.000000000Z: Critical opened /etc/shadow"), "{f}");
        assert!(s.frame(&alert(Priority::Debug)).starts_with("<15>"));
        assert!(s.frame(&alert(Priority::Emergency)).starts_with("<8>"));
    }

    #[test]
    fn a_missing_socket_is_a_retryable_failure_naming_the_path() {
        let mut s = SyslogSink::new("/nonexistent/lanner-log", "lanner", AlertFormat::plain(false));
        let e = s.deliver(&[alert(Priority::Warning)]).unwrap_err();
        assert!(e.retryable, "{e}");
        assert!(e.to_string().contains("/nonexistent/lanner-log"), "{e}");
    }
}
