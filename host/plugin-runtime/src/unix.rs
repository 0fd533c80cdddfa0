//! Unix socket connections for plugins granted them (`grants.unix`), served through the
//! `unix-socket` interface of `lanner:plugin@0.4.0`.
//!
//! A container runtime answers on a unix socket (Docker's and Podman's API, CRI-O's info
//! endpoint), which `wasi:sockets` cannot reach. The grant lists socket paths, compared
//! exactly as written: a plugin connects to those and to nothing else, and a refusal names the
//! grant that is missing so that an operator sees what to add. Every wait is bounded by the
//! timeout the plugin gives, itself capped by the plugin's call time limit, so a slow or stuck
//! peer costs a call at most its deadline.

use crate::bindings::v0_4::lanner::plugin0_4_0::unix_socket::{self, ReadResult};
use crate::runtime::State;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::Resource;

/// The most connections one plugin instance holds open at once.
pub const MAX_CONNECTIONS: usize = 32;

/// The most bytes one read returns.
const MAX_READ: u32 = 1 << 20;

/// One plugin's unix socket grant.
#[derive(Debug, Clone, Default)]
pub(crate) struct UnixGrant {
    pub(crate) plugin: Arc<str>,
    pub(crate) paths: Arc<[String]>,
    /// The longest wait a call may ask for (the plugin's call time limit).
    pub(crate) max_wait: Duration,
    pub(crate) open: usize,
}

impl UnixGrant {
    /// Whether `path` is granted; the refusal names the grant to add.
    pub(crate) fn check(&self, path: &str) -> Result<(), String> {
        if self.paths.iter().any(|p| p == path) {
            return Ok(());
        }
        log::warn!("plugin {}: unix socket {path} denied: not in grants.unix", self.plugin);
        Err(format!(
            "unix socket {path} is not granted to plugin {}: add it to grants.unix in the plugin's configuration (granted: [{}])",
            self.plugin,
            self.paths.join(", ")
        ))
    }

    fn wait(&self, timeout_ms: u32) -> Duration {
        Duration::from_millis(u64::from(timeout_ms)).min(self.max_wait)
    }
}

/// A connection a plugin holds; `None` once closed.
pub struct Connection {
    stream: Option<UnixStream>,
    path: String,
}

impl Connection {
    fn stream(&mut self) -> Result<&mut UnixStream, String> {
        let path = &self.path;
        self.stream.as_mut().ok_or_else(|| format!("the connection to {path} is closed"))
    }
}

fn io_err(path: &str, what: &str, e: std::io::Error) -> String {
    format!("unix socket {path}: {what}: {e}")
}

impl unix_socket::Host for State {}

impl unix_socket::HostConnection for State {
    fn connect(&mut self, path: String) -> Result<Resource<Connection>, String> {
        self.unix.check(&path)?;
        if self.unix.open >= MAX_CONNECTIONS {
            return Err(format!("unix socket {path}: already {MAX_CONNECTIONS} connections open"));
        }
        let stream = UnixStream::connect(&path).map_err(|e| io_err(&path, "connect", e))?;
        let r = self
            .table
            .push(Connection { stream: Some(stream), path: path.clone() })
            .map_err(|e| format!("unix socket {path}: {e}"))?;
        self.unix.open += 1;
        Ok(r)
    }

    fn write(&mut self, conn: Resource<Connection>, data: Vec<u8>, timeout_ms: u32) -> Result<(), String> {
        let wait = self.unix.wait(timeout_ms).max(Duration::from_millis(1));
        let c = self.table.get_mut(&conn).map_err(|e| e.to_string())?;
        let path = c.path.clone();
        let s = c.stream()?;
        s.set_write_timeout(Some(wait)).map_err(|e| io_err(&path, "write", e))?;
        s.write_all(&data).map_err(|e| match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => {
                format!("unix socket {path}: write timed out after {} ms", wait.as_millis())
            }
            _ => io_err(&path, "write", e),
        })
    }

    fn read(&mut self, conn: Resource<Connection>, max: u32, timeout_ms: u32) -> Result<ReadResult, String> {
        let wait = self.unix.wait(timeout_ms);
        let c = self.table.get_mut(&conn).map_err(|e| e.to_string())?;
        let path = c.path.clone();
        let s = c.stream()?;
        let mut buf = vec![0u8; max.clamp(1, MAX_READ) as usize];
        // A zero wait reads only what has arrived: the socket is non-blocking for that read.
        let nonblocking = wait.is_zero();
        s.set_nonblocking(nonblocking).map_err(|e| io_err(&path, "read", e))?;
        if !nonblocking {
            s.set_read_timeout(Some(wait)).map_err(|e| io_err(&path, "read", e))?;
        }
        let r = s.read(&mut buf);
        let _ = s.set_nonblocking(false);
        match r {
            Ok(0) => Ok(ReadResult::Closed),
            Ok(n) => {
                buf.truncate(n);
                Ok(ReadResult::Data(buf))
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Ok(ReadResult::Timeout)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(ReadResult::Timeout),
            Err(e) => Err(io_err(&path, "read", e)),
        }
    }

    fn close(&mut self, conn: Resource<Connection>) {
        if let Ok(c) = self.table.get_mut(&conn)
            && c.stream.take().is_some()
        {
            self.unix.open = self.unix.open.saturating_sub(1);
        }
    }

    fn drop(&mut self, conn: Resource<Connection>) -> wasmtime::Result<()> {
        let c = self.table.delete(conn)?;
        if c.stream.is_some() {
            self.unix.open = self.unix.open.saturating_sub(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_granted_paths_pass_and_the_refusal_names_the_grant() {
        let g = UnixGrant {
            plugin: "container".into(),
            paths: vec!["/run/podman/podman.sock".to_string()].into(),
            max_wait: Duration::from_millis(1000),
            open: 0,
        };
        assert!(g.check("/run/podman/podman.sock").is_ok());
        let e = g.check("/run/docker.sock").unwrap_err();
        assert!(e.contains("/run/docker.sock") && e.contains("grants.unix"), "{e}");
        // Exact paths only: no prefix, no normalisation.
        assert!(g.check("/run/podman/podman.sock/").is_err());
        assert!(g.check("/run/podman/../podman/podman.sock").is_err());
        assert_eq!(g.wait(5000), Duration::from_millis(1000));
    }
}
