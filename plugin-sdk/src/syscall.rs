//! Syscall events as an extractor receives them, when its `event_sources` names `syscall`
//! (or no source): the host sends each event's type, parameters and thread state as a JSON
//! payload, version 1, documented in Lanner's `docs/plugins.md` ("Syscall events"). This
//! module reads it, so that a plugin does not depend on the exact member names.
//!
//! ```ignore
//! fn extract(&mut self, event: &Event, requests: &[Request], out: &mut Vec<Option<Value>>) -> Result<(), String> {
//!     let Some(ev) = event.syscall() else { return Ok(out.extend(requests.iter().map(|_| None))) };
//!     let exe = ev.thread.exepath.as_deref();
//!     ...
//! }
//! ```

use crate::Event;
use serde_json::{Map, Value};

/// The payload version this module reads.
pub const VERSION: u64 = 1;

/// A syscall event's payload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyscallEvent {
    /// `evt.type`, such as `execve` or `openat`.
    pub event_type: String,
    /// `evt.dir`: `<` for exit events (the ones Lanner's rules see).
    pub dir: Option<String>,
    /// `evt.num`.
    pub num: Option<u64>,
    /// `evt.rawres`: the syscall's return value.
    pub res: Option<i64>,
    /// The parameters by name (`evt.arg.NAME`), as Lanner renders them.
    pub args: Map<String, Value>,
    /// The calling thread and its process.
    pub thread: Thread,
    /// The event's file descriptor, when it has one.
    pub fd: Option<Fd>,
}

/// The calling thread, as the host's process table knows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Thread {
    /// `thread.tid`.
    pub tid: Option<i64>,
    /// `proc.pid`.
    pub pid: Option<i64>,
    /// `proc.ppid`.
    pub ppid: Option<i64>,
    /// `proc.vpid`: the pid in the process's own pid namespace.
    pub vpid: Option<i64>,
    /// `proc.name`.
    pub name: Option<String>,
    /// `proc.exe`.
    pub exe: Option<String>,
    /// `proc.exepath`: the executable's full path.
    pub exepath: Option<String>,
    /// `proc.cmdline`.
    pub cmdline: Option<String>,
    /// `proc.cwd`.
    pub cwd: Option<String>,
    /// `user.uid`.
    pub uid: Option<u64>,
    /// `group.gid`.
    pub gid: Option<u64>,
    /// `user.loginuid`.
    pub loginuid: Option<i64>,
    /// `proc.tty`.
    pub tty: Option<u64>,
    /// `container.id`: 12 hex digits, or `host`.
    pub container_id: Option<String>,
}

/// The event's file descriptor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fd {
    /// `fd.num`.
    pub num: Option<i64>,
    /// `fd.name`.
    pub name: Option<String>,
    /// `fd.type`.
    pub fd_type: Option<String>,
}

fn text(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k).and_then(Value::as_str).map(String::from)
}

fn int(m: &Map<String, Value>, k: &str) -> Option<i64> {
    m.get(k).and_then(Value::as_i64)
}

fn uint(m: &Map<String, Value>, k: &str) -> Option<u64> {
    m.get(k).and_then(Value::as_u64)
}

impl SyscallEvent {
    /// Reads a payload; `None` when it is not a version-1 syscall payload.
    pub fn parse(data: &[u8]) -> Option<Self> {
        let Value::Object(top) = serde_json::from_slice::<Value>(data).ok()? else { return None };
        if top.get("v").and_then(Value::as_u64) != Some(VERSION) {
            return None;
        }
        let empty = Map::new();
        let obj = |k: &str| match top.get(k) {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        };
        let t = obj("thread").unwrap_or(&empty);
        Some(SyscallEvent {
            event_type: text(&top, "type")?,
            dir: text(&top, "dir"),
            num: uint(&top, "num"),
            res: int(&top, "res"),
            args: obj("args").cloned().unwrap_or_default(),
            thread: Thread {
                tid: int(t, "tid"),
                pid: int(t, "pid"),
                ppid: int(t, "ppid"),
                vpid: int(t, "vpid"),
                name: text(t, "name"),
                exe: text(t, "exe"),
                exepath: text(t, "exepath"),
                cmdline: text(t, "cmdline"),
                cwd: text(t, "cwd"),
                uid: uint(t, "uid"),
                gid: uint(t, "gid"),
                loginuid: int(t, "loginuid"),
                tty: uint(t, "tty"),
                container_id: text(t, "container_id"),
            },
            fd: obj("fd").map(|f| Fd { num: int(f, "num"), name: text(f, "name"), fd_type: text(f, "type") }),
        })
    }

    /// A parameter as text (numbers written out).
    pub fn arg(&self, name: &str) -> Option<String> {
        match self.args.get(name)? {
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
}

impl Event {
    /// The syscall event this is, when it comes from the `syscall` source with a readable
    /// payload.
    pub fn syscall(&self) -> Option<SyscallEvent> {
        (self.source == "syscall").then(|| SyscallEvent::parse(&self.data)).flatten()
    }
}
