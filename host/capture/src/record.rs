//! The decoded form of a kernel record: what capture hands to the host's state tables.
//! This is the contract between `capture` (which produces these from the probe's ring
//! buffer) and `state` (which keeps thread and fd tables from them and answers fields).

use std::net::SocketAddr;

pub use lanner_probe_common::{ExecInfo, exe as exe_flags};

/// A socket's ends as the kernel keeps them, read by the probe from the socket itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockTuple {
    /// The local address (after `connect`, the one the kernel chose).
    pub local: SocketAddr,
    /// The remote address, when connected.
    pub remote: Option<SocketAddr>,
}

/// What a record says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKind {
    /// A syscall returned: its arguments were taken at entry, `ret` at exit.
    Syscall {
        /// The x86_64 syscall number.
        nr: u32,
    },
    /// The process replaced its image (`sched_process_exec`).
    Exec,
    /// A task was created (`sched_process_fork`); the record's ids are the parent's.
    Fork {
        /// The new task's process id.
        child_tgid: u32,
        /// The new task's thread id.
        child_tid: u32,
    },
    /// A task exited (`sched_process_exit`).
    Exit,
}

/// A string or buffer read from user or kernel memory, bounded in length.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Captured {
    /// The bytes read (without a trailing NUL).
    pub bytes: Vec<u8>,
    /// Whether the value was longer than the probe's bound and was cut.
    pub truncated: bool,
}

/// A socket address read from user memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SockAddr {
    /// IPv4 or IPv6 with port.
    Inet(SocketAddr),
    /// A unix socket path (abstract names start with a NUL byte).
    Unix(Vec<u8>),
    /// Another family, by number.
    Other(u16),
}

/// One decoded kernel record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    /// Wall-clock time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// The CPU it was recorded on.
    pub cpu: u32,
    /// Process id (tgid).
    pub tgid: u32,
    /// Thread id.
    pub tid: u32,
    /// The parent's process id (real_parent's tgid).
    pub ppid: u32,
    /// Real user id.
    pub uid: u32,
    /// Real group id.
    pub gid: u32,
    /// Audit login uid (`u32::MAX` when unset).
    pub loginuid: u32,
    /// Effective capabilities.
    pub cap_effective: u64,
    /// Permitted capabilities.
    pub cap_permitted: u64,
    /// The controlling terminal's device number, 0 when none. Exec and fork records only
    /// (0 in syscall and exit records): it changes only with a new session, after which a
    /// process execs.
    pub tty: u32,
    /// The task's comm.
    pub comm: String,
    /// The id of the task's cgroup (v2).
    pub cgroup_id: u64,
    /// What happened.
    pub kind: RecordKind,
    /// The syscall's return value (0 for non-syscall records).
    pub ret: i64,
    /// The raw syscall arguments.
    pub args: [u64; 6],
    /// Strings read for this record, in the order documented per syscall in
    /// [`crate::syscalls`]; for `Exec`: the executable path, the arguments (NUL-separated),
    /// the environment (NUL-separated).
    pub strings: Vec<Captured>,
    /// A socket address argument (connect, bind, sendto, accept's peer), when the syscall has one.
    pub sockaddr: Option<SockAddr>,
    /// The thread id in its own pid namespace: the child's for `Fork`, the task's for `Exec`;
    /// 0 for other records.
    pub vtid: u32,
    /// For `Exec`: the new image's inode and the task's ids (see [`ExecInfo`]).
    pub exec: Option<ExecInfo>,
    /// The socket's kernel addresses, for the syscalls whose spec asks for them (connect,
    /// accept, recvfrom, recvmsg).
    pub tuple: Option<SockTuple>,
    /// The data the syscall read or wrote, up to the snaplen, when its capture was asked for;
    /// for openat2, the `struct open_how` it was passed (flags, mode, resolve), read at entry.
    pub data: Option<Captured>,
}
