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

/// The payload as sent, read in one pass without building a tree.
#[derive(serde::Deserialize)]
struct Wire {
    v: u64,
    #[serde(rename = "type")]
    event_type: String,
    dir: Option<String>,
    num: Option<u64>,
    res: Option<i64>,
    #[serde(default)]
    args: Map<String, Value>,
    #[serde(default)]
    thread: WireThread,
    fd: Option<WireFd>,
}

#[derive(serde::Deserialize, Default)]
struct WireThread {
    tid: Option<i64>,
    pid: Option<i64>,
    ppid: Option<i64>,
    vpid: Option<i64>,
    name: Option<String>,
    exe: Option<String>,
    exepath: Option<String>,
    cmdline: Option<String>,
    cwd: Option<String>,
    uid: Option<u64>,
    gid: Option<u64>,
    loginuid: Option<i64>,
    tty: Option<u64>,
    container_id: Option<String>,
}

#[derive(serde::Deserialize)]
struct WireFd {
    num: Option<i64>,
    name: Option<String>,
    #[serde(rename = "type")]
    fd_type: Option<String>,
}

impl SyscallEvent {
    /// Reads a payload; `None` when it is not a version-1 syscall payload.
    pub fn parse(data: &[u8]) -> Option<Self> {
        let w: Wire = serde_json::from_slice(data).ok()?;
        if w.v != VERSION {
            return None;
        }
        let t = w.thread;
        Some(SyscallEvent {
            event_type: w.event_type,
            dir: w.dir,
            num: w.num,
            res: w.res,
            args: w.args,
            thread: Thread {
                tid: t.tid,
                pid: t.pid,
                ppid: t.ppid,
                vpid: t.vpid,
                name: t.name,
                exe: t.exe,
                exepath: t.exepath,
                cmdline: t.cmdline,
                cwd: t.cwd,
                uid: t.uid,
                gid: t.gid,
                loginuid: t.loginuid,
                tty: t.tty,
                container_id: t.container_id,
            },
            fd: w.fd.map(|f| Fd { num: f.num, name: f.name, fd_type: f.fd_type }),
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
