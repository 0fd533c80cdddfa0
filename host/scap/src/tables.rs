//! The state tables a capture starts with: machine, processes with their fds, users and
//! groups. A consumer seeds its process and fd state from these instead of from the machine
//! that reads the file.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::block::{self, Cursor};
use crate::error::ErrorKind;

/// The machine the capture was taken on. Older captures stop after the host name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineInfo {
    pub num_cpus: u32,
    pub memory_size_bytes: u64,
    pub max_pid: u64,
    pub hostname: String,
    pub boot_ts_epoch: u64,
    pub flags: u64,
}

impl MachineInfo {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, ErrorKind> {
        let mut c = Cursor::new(body);
        let num_cpus = c.u32("machine info num_cpus")?;
        let memory_size_bytes = c.u64("machine info memory size")?;
        let max_pid = c.u64("machine info max pid")?;
        let host = c.take(128, "machine info hostname")?;
        let hostname = host.split(|&b| b == 0).next().unwrap_or(&[]);
        let hostname = String::from_utf8_lossy(hostname).into_owned();
        let boot_ts_epoch = if c.remaining() >= 8 { c.u64("boot ts")? } else { 0 };
        let flags = if c.remaining() >= 8 { c.u64("flags")? } else { 0 };
        Ok(MachineInfo { num_cpus, memory_size_bytes, max_pid, hostname, boot_ts_epoch, flags })
    }
}

/// One thread of the process list. Fields a block version lacks keep libs' defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadInfo {
    pub tid: u64,
    pub pid: u64,
    pub ptid: u64,
    pub sid: i64,
    pub vpgid: i64,
    pub pgid: i64,
    pub comm: String,
    pub exe: String,
    pub exepath: String,
    /// Arguments after the executable name.
    pub args: Vec<String>,
    pub cwd: String,
    pub fdlimit: u64,
    pub flags: u32,
    pub uid: u32,
    pub gid: u32,
    pub vmsize_kb: u32,
    pub vmrss_kb: u32,
    pub vmswap_kb: u32,
    pub pfmajor: u64,
    pub pfminor: u64,
    pub env: Vec<String>,
    pub vtid: i64,
    pub vpid: i64,
    /// `subsystem=path` entries.
    pub cgroups: Vec<String>,
    pub root: String,
    pub pidns_init_start_ts: u64,
    pub tty: u32,
    pub loginuid: u32,
    pub exe_writable: bool,
    pub cap_inheritable: u64,
    pub cap_permitted: u64,
    pub cap_effective: u64,
    pub exe_upper_layer: bool,
    pub exe_ino: u64,
    pub exe_ino_ctime: u64,
    pub exe_ino_mtime: u64,
    pub exe_from_memfd: bool,
    pub exe_lower_layer: bool,
    /// The thread's open fds, from the fd list blocks.
    pub fds: Vec<FdInfo>,
}

impl Default for ThreadInfo {
    fn default() -> Self {
        ThreadInfo {
            tid: 0,
            pid: 0,
            ptid: 0,
            sid: -1,
            vpgid: -1,
            pgid: -1,
            comm: String::new(),
            exe: String::new(),
            exepath: String::new(),
            args: Vec::new(),
            cwd: String::new(),
            fdlimit: 0,
            flags: 0,
            uid: 0,
            gid: 0,
            vmsize_kb: 0,
            vmrss_kb: 0,
            vmswap_kb: 0,
            pfmajor: 0,
            pfminor: 0,
            env: Vec::new(),
            vtid: -1,
            vpid: -1,
            cgroups: Vec::new(),
            root: String::new(),
            pidns_init_start_ts: 0,
            tty: 0,
            loginuid: u32::MAX,
            exe_writable: false,
            cap_inheritable: 0,
            cap_permitted: 0,
            cap_effective: 0,
            exe_upper_layer: false,
            exe_ino: 0,
            exe_ino_ctime: 0,
            exe_ino_mtime: 0,
            exe_from_memfd: false,
            exe_lower_layer: false,
            fds: Vec::new(),
        }
    }
}

/// Parses a process list block of any version.
pub(crate) fn parse_proclist(block_type: u32, body: &[u8]) -> Result<Vec<ThreadInfo>, ErrorKind> {
    use block::*;
    // The version number each block type stands for.
    let v = match block_type {
        PL_BLOCK_TYPE_V1 | PL_BLOCK_TYPE_V1_INT => 1,
        PL_BLOCK_TYPE_V2 | PL_BLOCK_TYPE_V2_INT => 2,
        PL_BLOCK_TYPE_V3 | PL_BLOCK_TYPE_V3_INT => 3,
        PL_BLOCK_TYPE_V4 => 4,
        PL_BLOCK_TYPE_V5 => 5,
        PL_BLOCK_TYPE_V6 => 6,
        PL_BLOCK_TYPE_V7 => 7,
        PL_BLOCK_TYPE_V8 => 8,
        _ => 9,
    };
    let mut out = Vec::new();
    let mut c = Cursor::new(body);
    // Trailing padding is under four bytes.
    while c.remaining() >= 4 {
        let entry_start = c.pos();
        let sub_len = if v >= 9 { c.u32("process entry length")? as usize } else { 0 };
        let mut t = ThreadInfo {
            tid: c.u64("process tid")?,
            pid: c.u64("process pid")?,
            ptid: c.u64("process ptid")?,
            ..ThreadInfo::default()
        };
        if v >= 6 {
            t.sid = c.i64("process sid")?;
        }
        if v >= 8 {
            t.vpgid = c.i64("process vpgid")?;
        }
        t.comm = c.str16("process comm")?;
        t.exe = c.str16("process exe")?;
        if v >= 7 {
            t.exepath = c.str16("process exepath")?;
        }
        t.args = c.strings16("process args")?;
        t.cwd = c.str16("process cwd")?;
        t.fdlimit = c.u64("process fdlimit")?;
        t.flags = c.u32("process flags")?;
        t.uid = c.u32("process uid")?;
        t.gid = c.u32("process gid")?;
        if v >= 2 {
            t.vmsize_kb = c.u32("process vmsize")?;
            t.vmrss_kb = c.u32("process vmrss")?;
            t.vmswap_kb = c.u32("process vmswap")?;
            t.pfmajor = c.u64("process pfmajor")?;
            t.pfminor = c.u64("process pfminor")?;
        }
        if v >= 3 {
            t.env = c.strings16("process env")?;
        }
        if v >= 4 {
            t.vtid = c.i64("process vtid")?;
            t.vpid = c.i64("process vpid")?;
            t.cgroups = c.strings16("process cgroups")?;
        }
        if v >= 5 {
            t.root = c.str16("process root")?;
        }
        if sub_len > 0 {
            let read = |c: &Cursor| c.pos() - entry_start;
            let fits = |c: &Cursor, n: usize| read(c) + n <= sub_len;
            // libs 0.10 inserted pidns_init_start_ts and tty before the fields older
            // writers appended; an entry with at most 29 bytes left was written before that.
            if sub_len.saturating_sub(read(&c)) > 29 {
                if fits(&c, 8) {
                    t.pidns_init_start_ts = c.u64("process pidns_init_start_ts")?;
                }
                if fits(&c, 4) {
                    t.tty = c.u32("process tty")?;
                }
            }
            if fits(&c, 4) {
                t.loginuid = c.u32("process loginuid")?;
            }
            if fits(&c, 1) {
                t.exe_writable = c.u8("process exe_writable")? != 0;
            }
            if fits(&c, 8) {
                t.cap_inheritable = c.u64("process cap_inheritable")?;
            }
            if fits(&c, 8) {
                t.cap_permitted = c.u64("process cap_permitted")?;
            }
            if fits(&c, 8) {
                t.cap_effective = c.u64("process cap_effective")?;
            }
            if fits(&c, 1) {
                t.exe_upper_layer = c.u8("process exe_upper_layer")? != 0;
            }
            if fits(&c, 8) {
                t.exe_ino = c.u64("process exe_ino")?;
            }
            if fits(&c, 8) {
                t.exe_ino_ctime = c.u64("process exe_ino_ctime")?;
            }
            if fits(&c, 8) {
                t.exe_ino_mtime = c.u64("process exe_ino_mtime")?;
            }
            if fits(&c, 1) {
                t.exe_from_memfd = c.u8("process exe_from_memfd")? != 0;
            }
            if fits(&c, 1) {
                t.exe_lower_layer = c.u8("process exe_lower_layer")? != 0;
            }
            if fits(&c, 8) {
                t.pgid = c.i64("process pgid")?;
            }
            let done = read(&c);
            if done > sub_len {
                return Err(ErrorKind::BadTable {
                    what: "process list",
                    detail: format!("entry for tid {} read {done} bytes of {sub_len}", t.tid),
                });
            }
            c.skip(sub_len - done, "process entry fields newer than this reader")?;
        }
        out.push(t);
    }
    Ok(out)
}

/// What an fd refers to, with libs' fd type codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdTarget {
    Ipv4Sock {
        src: SocketAddr,
        dst: SocketAddr,
        l4proto: u8,
    },
    Ipv4Server {
        addr: SocketAddr,
        l4proto: u8,
    },
    Ipv6Sock {
        src: SocketAddr,
        dst: SocketAddr,
        l4proto: u8,
    },
    Ipv6Server {
        addr: SocketAddr,
        l4proto: u8,
    },
    Unix {
        source: u64,
        dest: u64,
        path: String,
    },
    /// A regular file with the flags it was opened with (type `FILE_V2`).
    File {
        open_flags: u32,
        name: String,
        dev: u32,
    },
    /// Every other type: a name only (file v1, directory, fifo, event, signalfd, ...).
    Named {
        name: String,
    },
    /// A type this reader does not know; libs treats it as unsupported.
    Unsupported,
}

/// libs' fd type codes (`scap_fd_type`).
pub mod fd_type {
    pub const UNKNOWN: u8 = 0;
    pub const FILE: u8 = 1;
    pub const DIRECTORY: u8 = 2;
    pub const IPV4_SOCK: u8 = 3;
    pub const IPV6_SOCK: u8 = 4;
    pub const IPV4_SERVSOCK: u8 = 5;
    pub const IPV6_SERVSOCK: u8 = 6;
    pub const FIFO: u8 = 7;
    pub const UNIX_SOCK: u8 = 8;
    pub const EVENT: u8 = 9;
    pub const UNSUPPORTED: u8 = 10;
    pub const SIGNALFD: u8 = 11;
    pub const EVENTPOLL: u8 = 12;
    pub const INOTIFY: u8 = 13;
    pub const TIMERFD: u8 = 14;
    pub const NETLINK: u8 = 15;
    pub const FILE_V2: u8 = 16;
    pub const BPF: u8 = 17;
    pub const USERFAULTFD: u8 = 18;
    pub const IOURING: u8 = 19;
    pub const MEMFD: u8 = 20;
    pub const PIDFD: u8 = 21;
}

/// One open fd of a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdInfo {
    pub fd: i64,
    pub ino: u64,
    /// The `scap_fd_type` code.
    pub fd_type: u8,
    pub target: FdTarget,
}

/// Parses an fd list block: the thread id it belongs to and its fds.
pub(crate) fn parse_fdlist(block_type: u32, body: &[u8]) -> Result<(u64, Vec<FdInfo>), ErrorKind> {
    let v2 = block_type == block::FDL_BLOCK_TYPE_V2;
    let mut c = Cursor::new(body);
    let tid = c.u64("fd list tid")?;
    let mut fds = Vec::new();
    while c.remaining() >= 4 {
        let start = c.pos();
        let sub_len = if v2 { c.u32("fd entry length")? as usize } else { 0 };
        let fd = c.i64("fd number")?;
        let ino = c.u64("fd inode")?;
        let fd_type = c.u8("fd type")?;
        use fd_type::*;
        let target = match fd_type {
            IPV4_SOCK => {
                let sip = Ipv4Addr::from(c.u32("fd ipv4 source")?.to_le_bytes());
                let dip = Ipv4Addr::from(c.u32("fd ipv4 dest")?.to_le_bytes());
                let sport = c.u16("fd ipv4 source port")?;
                let dport = c.u16("fd ipv4 dest port")?;
                FdTarget::Ipv4Sock {
                    src: SocketAddr::new(sip.into(), sport),
                    dst: SocketAddr::new(dip.into(), dport),
                    l4proto: c.u8("fd l4 protocol")?,
                }
            }
            IPV4_SERVSOCK => {
                let ip = Ipv4Addr::from(c.u32("fd ipv4 address")?.to_le_bytes());
                let port = c.u16("fd ipv4 port")?;
                FdTarget::Ipv4Server {
                    addr: SocketAddr::new(ip.into(), port),
                    l4proto: c.u8("fd l4 protocol")?,
                }
            }
            IPV6_SOCK => {
                let sip = ipv6(c.take(16, "fd ipv6 source")?);
                let dip = ipv6(c.take(16, "fd ipv6 dest")?);
                let sport = c.u16("fd ipv6 source port")?;
                let dport = c.u16("fd ipv6 dest port")?;
                FdTarget::Ipv6Sock {
                    src: SocketAddr::new(sip.into(), sport),
                    dst: SocketAddr::new(dip.into(), dport),
                    l4proto: c.u8("fd l4 protocol")?,
                }
            }
            IPV6_SERVSOCK => {
                let ip = ipv6(c.take(16, "fd ipv6 address")?);
                let port = c.u16("fd ipv6 port")?;
                FdTarget::Ipv6Server {
                    addr: SocketAddr::new(ip.into(), port),
                    l4proto: c.u8("fd l4 protocol")?,
                }
            }
            UNIX_SOCK => FdTarget::Unix {
                source: c.u64("fd unix source")?,
                dest: c.u64("fd unix dest")?,
                path: c.str16("fd unix path")?,
            },
            FILE_V2 => {
                let open_flags = c.u32("fd open flags")?;
                let name = c.str16("fd file name")?;
                let dev = if sub_len > 0 && c.pos() - start + 4 <= sub_len { c.u32("fd device")? } else { 0 };
                FdTarget::File { open_flags, name, dev }
            }
            FIFO | FILE | DIRECTORY | UNSUPPORTED | EVENT | SIGNALFD | EVENTPOLL | INOTIFY | TIMERFD
            | NETLINK | BPF | USERFAULTFD | IOURING | MEMFD | PIDFD => {
                FdTarget::Named { name: c.str16("fd name")? }
            }
            UNKNOWN => {
                return Err(ErrorKind::BadTable {
                    what: "fd list",
                    detail: format!("fd {fd} of tid {tid} has type 0 (unknown)"),
                });
            }
            _ => FdTarget::Unsupported,
        };
        if sub_len > 0 {
            let done = c.pos() - start;
            if done > sub_len {
                return Err(ErrorKind::BadTable {
                    what: "fd list",
                    detail: format!("fd {fd} of tid {tid} read {done} bytes of {sub_len}"),
                });
            }
            c.skip(sub_len - done, "fd entry fields newer than this reader")?;
        } else if target == FdTarget::Unsupported {
            // Without an entry length the rest of an unknown entry cannot be found.
            return Err(ErrorKind::BadTable {
                what: "fd list",
                detail: format!("fd {fd} of tid {tid} has unknown type {fd_type}"),
            });
        }
        fds.push(FdInfo { fd, ino, fd_type, target });
    }
    Ok((tid, fds))
}

fn ipv6(b: &[u8]) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap())
}

/// A user of the capturing machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    pub homedir: String,
    pub shell: String,
}

/// A group of the capturing machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub gid: u32,
    pub name: String,
}

const USERBLOCK_TYPE_USER: u8 = 0;

/// Parses a user list block into users and groups.
pub(crate) fn parse_userlist(
    block_type: u32,
    body: &[u8],
) -> Result<(Vec<UserInfo>, Vec<GroupInfo>), ErrorKind> {
    let v2 = block_type == block::UL_BLOCK_TYPE_V2;
    let mut c = Cursor::new(body);
    let (mut users, mut groups) = (Vec::new(), Vec::new());
    while c.remaining() >= 4 {
        let start = c.pos();
        let sub_len = if v2 { c.u32("user entry length")? as usize } else { 0 };
        let kind = c.u8("user entry type")?;
        if kind == USERBLOCK_TYPE_USER {
            users.push(UserInfo {
                uid: c.u32("user uid")?,
                gid: c.u32("user gid")?,
                name: c.str16("user name")?,
                homedir: c.str16("user home")?,
                shell: c.str16("user shell")?,
            });
        } else {
            groups.push(GroupInfo { gid: c.u32("group gid")?, name: c.str16("group name")? });
        }
        if sub_len > 0 {
            let done = c.pos() - start;
            if done > sub_len {
                return Err(ErrorKind::BadTable {
                    what: "user list",
                    detail: format!("entry read {done} bytes of {sub_len}"),
                });
            }
            c.skip(sub_len - done, "user entry fields newer than this reader")?;
        }
    }
    Ok((users, groups))
}
