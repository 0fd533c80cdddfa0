//! Alerts to the local syslog daemon (Falco's `syslog_output`).
//!
//! Falco calls `syslog(3)` without `openlog`: facility `user`, the alert's priority as the
//! severity (Falco's priorities are syslog's levels, emergency 0 to debug 7), the program's
//! name as the tag, no pid, and the alert line (text or JSON, as `json_output` says) as the
//! message. This sink writes the same datagram as glibc does, but to a socket path of its
//! own choosing rather than libc's fixed `/dev/log`, so that a node whose syslog listens
//! elsewhere (and a test with its own rsyslog) can be reached; the tag is configurable so
//! that rsyslog filters written for `falco` keep matching. A socket that takes streams
//! rather than datagrams (syslog-ng's `unix-stream`) is used as glibc uses it: each message
//! followed by a NUL byte on one connection.

use crate::AlertFormat;
use lanner_event::{Alert, AlertSink, Priority, SinkError};
use std::io::Write;
use std::os::unix::net::{UnixDatagram, UnixStream};
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

/// Sends each alert as one datagram to a syslog socket (or one NUL-ended message on a
/// stream, when the socket is a stream socket).
pub struct SyslogSink {
    path: PathBuf,
    tag: String,
    format: AlertFormat,
    socket: Option<Conn>,
}

/// How the syslog daemon is reached: glibc tries a datagram first and falls back to a
/// stream when the socket is of that type.
enum Conn {
    Datagram(UnixDatagram),
    Stream(UnixStream),
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

impl SyslogSink {
    fn send(&mut self, msg: &str) -> std::io::Result<()> {
        let conn = match self.socket.take() {
            Some(c) => c,
            None => Conn::Datagram(UnixDatagram::unbound()?),
        };
        let conn = match conn {
            Conn::Datagram(d) => match d.send_to(msg.as_bytes(), &self.path) {
                Ok(_) => Conn::Datagram(d),
                // A stream socket at the path: glibc switches to SOCK_STREAM and sends the
                // message's terminating NUL too, as the frame's end.
                Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) => {
                    let mut st = UnixStream::connect(&self.path)?;
                    write_framed(&mut st, msg)?;
                    Conn::Stream(st)
                }
                Err(e) => return Err(e),
            },
            Conn::Stream(mut st) => {
                write_framed(&mut st, msg)?;
                Conn::Stream(st)
            }
        };
        self.socket = Some(conn);
        Ok(())
    }
}

fn write_framed(st: &mut UnixStream, msg: &str) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(msg.len() + 1);
    buf.extend_from_slice(msg.as_bytes());
    buf.push(0);
    st.write_all(&buf)
}

impl AlertSink for SyslogSink {
    fn deliver(&mut self, alerts: &[Alert]) -> Result<(), SinkError> {
        for a in alerts {
            let msg = self.frame(a);
            // On failure no connection is kept: a syslog daemon that restarted has a new
            // socket at the same path, which a new one of ours finds on the retry.
            if let Err(e) = self.send(&msg) {
                let permanent = e.raw_os_error() == Some(libc::EMSGSIZE);
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

    /// A stream socket (syslog-ng's `unix-stream`): each message ends with a NUL, as glibc
    /// sends it, on one connection; a daemon that went away and came back is reached again.
    #[test]
    fn a_stream_socket_gets_nul_ended_messages() {
        use std::io::Read;
        let dir = std::env::temp_dir().join(format!("lanner-syslog-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let read_all = |listener: &std::os::unix::net::UnixListener, n: usize| {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while got.iter().filter(|b| **b == 0).count() < n {
                let k = conn.read(&mut buf).unwrap();
                assert!(k > 0, "closed early: {:?}", String::from_utf8_lossy(&got));
                got.extend_from_slice(&buf[..k]);
            }
            got
        };
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let mut s = SyslogSink::new(&path, "falco", AlertFormat::plain(false));
        s.deliver(&[alert(Priority::Critical), alert(Priority::Debug)]).unwrap();
        let got = read_all(&listener, 2);
        let frames: Vec<&[u8]> = got.split(|b| *b == 0).collect();
        assert_eq!(frames.len(), 3, "two NUL-ended messages: {:?}", String::from_utf8_lossy(&got));
        assert!(frames[2].is_empty());
        let first = String::from_utf8_lossy(frames[0]);
        assert!(
            first.starts_with("<10>")
                && first.ends_with(" falco: 2023-11-14T22:13:20.000000000Z: Critical opened /etc/shadow"),
            "{first}"
        );
        assert!(String::from_utf8_lossy(frames[1]).starts_with("<15>"));
        // The daemon restarts: the first send after may fail (retried by the queue), then
        // a new connection reaches the new socket.
        drop(listener);
        std::fs::remove_file(&path).unwrap();
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        if s.deliver(&[alert(Priority::Warning)]).is_err() {
            s.deliver(&[alert(Priority::Warning)]).unwrap();
        }
        let got = read_all(&listener, 1);
        assert!(String::from_utf8_lossy(&got).starts_with("<12>"), "{:?}", String::from_utf8_lossy(&got));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_missing_socket_is_a_retryable_failure_naming_the_path() {
        let mut s = SyslogSink::new("/nonexistent/lanner-log", "lanner", AlertFormat::plain(false));
        let e = s.deliver(&[alert(Priority::Warning)]).unwrap_err();
        assert!(e.retryable, "{e}");
        assert!(e.to_string().contains("/nonexistent/lanner-log"), "{e}");
    }
}
