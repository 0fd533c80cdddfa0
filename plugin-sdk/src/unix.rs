//! Unix socket connections, for plugins granted them (feature `unix`, `lanner:plugin@0.4.0`).
//!
//! The host lets a plugin connect only to the socket paths listed in its configuration's
//! `grants.unix`, matched exactly; any other path fails with an error that names the missing
//! grant. Every wait is bounded: the timeout given, capped by the plugin's call time limit.
//!
//! ```ignore
//! use lanner_plugin_sdk::unix::{Connection, Read};
//!
//! let conn = Connection::connect("/run/podman/podman.sock")?;
//! conn.write_all(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n", 100)?;
//! match conn.read(65536, 100)? {
//!     Read::Data(bytes) => { /* the start of the answer */ }
//!     Read::Timeout => { /* nothing within 100 ms: ask again later, the connection stays */ }
//!     Read::Closed => { /* the peer hung up */ }
//! }
//! ```

use crate::bindings::lanner::plugin0_4_0::unix_socket as wit;

/// What a read found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// Bytes received, at least one.
    Data(Vec<u8>),
    /// Nothing arrived within the time asked; the connection stays open.
    Timeout,
    /// The peer closed the connection.
    Closed,
}

/// A connection to a granted unix socket; dropping it closes it.
#[derive(Debug)]
pub struct Connection {
    inner: wit::Connection,
}

impl Connection {
    /// Connects to the socket at `path` (one of the plugin's `grants.unix`).
    pub fn connect(path: &str) -> Result<Self, String> {
        Ok(Connection { inner: wit::Connection::connect(path)? })
    }

    /// Sends all of `data`, waiting at most `timeout_ms` for the peer to take it.
    pub fn write_all(&self, data: &[u8], timeout_ms: u32) -> Result<(), String> {
        self.inner.write(data, timeout_ms)
    }

    /// Receives up to `max` bytes, waiting at most `timeout_ms` for the first (0: only what
    /// has already arrived, without waiting).
    pub fn read(&self, max: u32, timeout_ms: u32) -> Result<Read, String> {
        Ok(match self.inner.read(max, timeout_ms)? {
            wit::ReadResult::Data(d) => Read::Data(d),
            wit::ReadResult::Timeout => Read::Timeout,
            wit::ReadResult::Closed => Read::Closed,
        })
    }

    /// Closes the connection now.
    pub fn close(self) {
        self.inner.close();
    }
}
