//! The thread and fd tables: seeded from `/proc`, kept current from events.

use crate::paths;
use rustc_hash::{FxHashMap, FxHashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Falco's default `thread_table_size`: the threads known at once.
pub const DEFAULT_MAX_THREADS: usize = 262_144;

/// Falco's largest fd table per process (libsinsp's `MAX_FD_TABLE_SIZE`).
pub const DEFAULT_MAX_FDS: usize = 4096;

/// Fd entries held across all tables by default: about 75 MiB.
pub const DEFAULT_MAX_FDS_TOTAL: usize = 1 << 20;

/// What an fd refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdKind {
    /// A regular file (or anything opened by path that is not a directory).
    File,
    /// A directory.
    Directory,
    /// An IPv4 socket.
    Ipv4,
    /// An IPv6 socket.
    Ipv6,
    /// A unix socket.
    Unix,
    /// A pipe or FIFO.
    Pipe,
    /// An anonymous memory file (`memfd_create`).
    Memfd,
    /// An eventfd.
    Event,
    /// A signalfd.
    Signal,
    /// An inotify instance.
    Inotify,
    /// A bpf map or program.
    Bpf,
    /// A userfaultfd.
    Userfault,
    /// A netlink or other socket family.
    OtherSocket,
    /// Unknown.
    Unknown,
}

impl FdKind {
    /// Falco's `fd.typechar`.
    pub fn typechar(self) -> &'static str {
        match self {
            FdKind::File | FdKind::Memfd => "f",
            FdKind::Directory => "d",
            FdKind::Ipv4 => "4",
            FdKind::Ipv6 => "6",
            FdKind::Unix => "u",
            FdKind::Pipe => "p",
            FdKind::Event => "e",
            FdKind::Signal => "s",
            FdKind::Inotify => "i",
            FdKind::Bpf => "b",
            FdKind::Userfault => "u",
            FdKind::OtherSocket => "o",
            FdKind::Unknown => "o",
        }
    }

    /// Falco's `fd.type`.
    pub fn type_name(self) -> &'static str {
        match self {
            FdKind::File | FdKind::Memfd => "file",
            FdKind::Directory => "directory",
            FdKind::Ipv4 => "ipv4",
            FdKind::Ipv6 => "ipv6",
            FdKind::Unix => "unix",
            FdKind::Pipe => "pipe",
            FdKind::Event => "event",
            FdKind::Signal => "signalfd",
            FdKind::Inotify => "inotify",
            FdKind::Bpf => "bpf",
            FdKind::Userfault => "userfaultfd",
            FdKind::OtherSocket => "socket",
            FdKind::Unknown => "unknown",
        }
    }

    /// Whether the fd is an IP socket.
    pub fn is_inet(self) -> bool {
        matches!(self, FdKind::Ipv4 | FdKind::Ipv6)
    }
}

/// A socket's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// Raw IP.
    Raw,
    /// ICMP datagram sockets.
    Icmp,
    /// Not known.
    Unknown,
}

impl L4 {
    /// Falco's `fd.l4proto`.
    pub fn as_str(self) -> &'static str {
        match self {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
            L4::Raw => "raw",
            L4::Icmp => "icmp",
            L4::Unknown => "<NA>",
        }
    }
}

/// Socket state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sock {
    /// Transport.
    pub l4: L4,
    /// The local address, when known.
    pub local: Option<SocketAddr>,
    /// The peer address, when known.
    pub remote: Option<SocketAddr>,
    /// The unix socket path.
    pub unix_path: Option<String>,
    /// Connected (or accepted).
    pub connected: bool,
    /// On the server side (listening or accepted).
    pub is_server: bool,
    /// The peer changed on the last send (unconnected UDP).
    pub name_changed: bool,
}

/// When an entry was last used, in events seen: what eviction goes by. An atomic so that a
/// lookup through a table shared with other processes can mark it without copying the table
/// (relaxed: an approximate order is all eviction needs).
#[derive(Debug, Default)]
pub struct LastUsed(AtomicU64);

impl LastUsed {
    fn new(tick: u64) -> Self {
        LastUsed(AtomicU64::new(tick))
    }

    /// The tick of the last use.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, tick: u64) {
        self.0.store(tick, Ordering::Relaxed)
    }
}

impl Clone for LastUsed {
    fn clone(&self) -> Self {
        LastUsed::new(self.get())
    }
}

/// Recency is bookkeeping, not part of what an fd is.
impl PartialEq for LastUsed {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for LastUsed {}

/// An open file descriptor. Names are shared strings: a dup'd or inherited fd, or a path
/// opened again, points at the same text instead of copying it (paths are up to 4 KiB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fd {
    /// What it refers to.
    pub kind: FdKind,
    /// The normalized name: a path, or `cip:cport->sip:sport` for a connection.
    pub name: Arc<str>,
    /// The name as the syscall gave it.
    pub nameraw: Arc<str>,
    /// The open flags.
    pub flags: u32,
    /// Socket state, for sockets (boxed: most fds are files, and the table keeps them small).
    pub sock: Option<Box<Sock>>,
    /// When it was last used, for eviction.
    pub used: LastUsed,
}

impl Fd {
    /// A file or directory opened by path.
    pub fn path(kind: FdKind, name: Arc<str>, nameraw: Arc<str>, flags: u32) -> Self {
        Fd { kind, name, nameraw, flags, sock: None, used: LastUsed::default() }
    }

    /// A socket, without a name until it has addresses.
    pub fn socket(kind: FdKind, flags: u32, sock: Option<Sock>) -> Self {
        let empty: Arc<str> = Arc::from("");
        Fd {
            kind,
            name: empty.clone(),
            nameraw: empty,
            flags,
            sock: sock.map(Box::new),
            used: LastUsed::default(),
        }
    }

    /// Recomputes a socket's name from its addresses, Falco's way.
    pub fn rename_socket(&mut self) {
        let Some(s) = &self.sock else { return };
        if let Some(p) = &s.unix_path {
            self.name = Arc::from(p.as_str());
            return;
        }
        let fmt = |a: &Option<SocketAddr>| match a {
            Some(SocketAddr::V4(a)) => format!("{}:{}", a.ip(), a.port()),
            Some(SocketAddr::V6(a)) => format!("{}:{}", a.ip(), a.port()),
            None => String::new(),
        };
        // Falco writes client -> server.
        let (client, server) = if s.is_server { (&s.remote, &s.local) } else { (&s.local, &s.remote) };
        let name = match (client.is_some(), server.is_some()) {
            (false, false) => String::new(),
            (_, true) => format!("{}->{}", fmt(client), fmt(server)),
            (true, false) => fmt(client),
        };
        if *self.name != *name {
            self.name = Arc::from(name);
        }
    }
}

/// A process's open fds. Threads of a process share it (it belongs to the process), and a
/// forked child shares its parent's until one of them changes it (copy on write): a fork of
/// a process with thousands of fds costs a reference count, not a copy.
#[derive(Debug, Default)]
pub struct FdTable {
    map: Arc<FxHashMap<i64, Fd>>,
    /// Entries added, or copied because the table was shared when changed, not yet
    /// collected by [`FdTable::take_added`].
    added: u64,
}

impl Clone for FdTable {
    fn clone(&self) -> Self {
        FdTable { map: self.map.clone(), added: 0 }
    }
}

impl FdTable {
    /// The map, to change it: copied first if shared, and the copy counted.
    fn map_mut(&mut self) -> &mut FxHashMap<i64, Fd> {
        if Arc::strong_count(&self.map) > 1 {
            self.added += self.map.len() as u64;
        }
        Arc::make_mut(&mut self.map)
    }

    /// Entries added, or copied by changes to a shared table, since the last call.
    pub fn take_added(&mut self) -> u64 {
        std::mem::take(&mut self.added)
    }

    /// Whether other processes use this very table too.
    pub fn is_shared(&self) -> bool {
        Arc::strong_count(&self.map) > 1
    }

    /// The table's identity, to count shared tables once.
    fn id(&self) -> usize {
        Arc::as_ptr(&self.map) as usize
    }

    /// The fd numbered `fd`.
    pub fn get(&self, fd: &i64) -> Option<&Fd> {
        self.map.get(fd)
    }

    /// Whether fd `fd` is known.
    pub fn contains_key(&self, fd: &i64) -> bool {
        self.map.contains_key(fd)
    }

    /// The fd numbers, in no order.
    pub fn keys(&self) -> impl Iterator<Item = &i64> {
        self.map.keys()
    }

    /// Every fd, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (&i64, &Fd)> {
        self.map.iter()
    }

    /// How many fds are known.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no fd is known.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether this table is the very one `other` uses (shared, not yet copied).
    pub fn shares_with(&self, other: &FdTable) -> bool {
        Arc::ptr_eq(&self.map, &other.map)
    }

    /// Marks fd `fd` used at `tick`.
    pub fn touch(&self, fd: i64, tick: u64) {
        if let Some(f) = self.map.get(&fd) {
            f.used.set(tick);
        }
    }

    /// The fd numbered `fd`, to change it (the table is copied first if shared).
    pub fn get_mut(&mut self, fd: &i64) -> Option<&mut Fd> {
        if !self.map.contains_key(fd) {
            return None;
        }
        self.map_mut().get_mut(fd)
    }

    /// Forgets fd `fd` (the table is copied first if shared and the fd is known).
    pub fn remove(&mut self, fd: &i64) -> Option<Fd> {
        if !self.map.contains_key(fd) {
            return None;
        }
        self.map_mut().remove(fd)
    }

    /// Keeps the fds for which `keep` holds (the table is copied only if one goes).
    pub fn retain(&mut self, mut keep: impl FnMut(&i64, &Fd) -> bool) {
        if self.map.iter().all(|(k, f)| keep(k, f)) {
            return;
        }
        self.map_mut().retain(|k, f| keep(k, f));
    }

    /// Adds or replaces fd `fd`, used at `tick`. When the table already holds `max` fds and
    /// `fd` is new, the least recently used eighth of them is forgotten first (in one go, so
    /// that a process opening fd after fd pays for a sort once per `max / 8` opens). Returns
    /// how many were forgotten.
    pub fn insert(&mut self, fd: i64, f: Fd, tick: u64, max: usize) -> usize {
        f.used.set(tick);
        let new = !self.map.contains_key(&fd);
        self.added += new as u64;
        let map = self.map_mut();
        let mut evicted = 0;
        if map.len() >= max.max(1) && !map.contains_key(&fd) {
            let n = (map.len() / 8).max(map.len() + 1 - max.max(1));
            let mut ages: Vec<(u64, i64)> = map.iter().map(|(k, f)| (f.used.get(), *k)).collect();
            ages.select_nth_unstable(n - 1);
            for (_, k) in &ages[..n] {
                map.remove(k);
            }
            evicted = n;
        }
        map.insert(fd, f);
        evicted
    }
}

impl std::ops::Index<&i64> for FdTable {
    type Output = Fd;
    fn index(&self, fd: &i64) -> &Fd {
        &self.map[fd]
    }
}

/// A process: what every thread of it shares.
#[derive(Debug, Clone)]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// Parent's process id.
    pub ppid: u32,
    /// Session id.
    pub sid: u32,
    /// Process group id (in the initial pid namespace).
    pub pgid: u32,
    /// Process id in the process's own pid namespace (its pid outside any).
    pub vpid: u32,
    /// Process group id in the process's own pid namespace.
    pub vpgid: u32,
    /// The task's comm (`proc.name`).
    pub comm: String,
    /// `argv[0]` (`proc.exe`).
    pub exe: String,
    /// The executable's full path (`proc.exepath`).
    pub exepath: String,
    /// `argv[1..]`. This and the lines and environment below are shared with forked
    /// children until one of them execs: a fork storm costs reference counts, not copies.
    pub args: Arc<Vec<String>>,
    /// `proc.args`: the arguments joined, kept with them so rules read it without building it.
    pub args_line: Arc<str>,
    /// `proc.cmdline`: the comm and the arguments.
    pub cmdline: Arc<str>,
    /// The environment, `NAME=value` each.
    pub env: Arc<Vec<String>>,
    /// The working directory.
    pub cwd: String,
    /// Real uid.
    pub uid: u32,
    /// Real gid.
    pub gid: u32,
    /// Audit login uid.
    pub loginuid: u32,
    /// Controlling terminal, 0 when none.
    pub tty: u32,
    /// Effective capabilities.
    pub cap_effective: u64,
    /// Permitted capabilities.
    pub cap_permitted: u64,
    /// Start time, nanoseconds since the epoch.
    pub start_ns: u64,
    /// The container id, or `host`.
    pub container_id: Arc<str>,
    /// The cgroup (v2) id the container id was found for.
    pub cgroup_id: u64,
    /// Whether the executable is an anonymous memory file.
    pub exe_from_memfd: bool,
    /// The executable's inode number (0: unknown).
    pub exe_ino: u64,
    /// The executable's ctime, nanoseconds since the epoch (0: unknown).
    pub exe_ctime: u64,
    /// The executable's mtime, nanoseconds since the epoch (0: unknown).
    pub exe_mtime: u64,
    /// The process's start minus the executable's ctime, as Falco takes it at exec (and
    /// children inherit it): wrapping, 0 when unknown.
    pub exe_ctime_to_start: u64,
    /// Whether the user that started the process may write its executable.
    pub exe_writable: bool,
    /// Whether the executable is in an overlayfs upper layer.
    pub exe_upper_layer: bool,
    /// Whether the executable is in an overlayfs lower layer.
    pub exe_lower_layer: bool,
    /// Open fds.
    pub fds: FdTable,
    /// When it was last seen in a record (the count of records then), for eviction and
    /// reconciliation.
    pub last_used: u64,
}

impl Process {
    /// A process known only by its id (seen before its start was).
    pub fn unknown(pid: u32) -> Self {
        Process {
            pid,
            ppid: 0,
            sid: 0,
            pgid: 0,
            vpid: pid,
            vpgid: 0,
            comm: String::new(),
            exe: String::new(),
            exepath: String::new(),
            args: Arc::default(),
            args_line: Arc::from(""),
            cmdline: Arc::from(""),
            env: Arc::default(),
            cwd: String::new(),
            uid: u32::MAX,
            gid: u32::MAX,
            loginuid: u32::MAX,
            tty: 0,
            cap_effective: 0,
            cap_permitted: 0,
            start_ns: 0,
            container_id: Arc::from("host"),
            cgroup_id: 0,
            exe_from_memfd: false,
            exe_ino: 0,
            exe_ctime: 0,
            exe_mtime: 0,
            exe_ctime_to_start: 0,
            exe_writable: false,
            exe_upper_layer: false,
            exe_lower_layer: false,
            fds: FdTable::default(),
            last_used: 0,
        }
    }

    /// Sets the executable's inode details; `start_ns` must be set first.
    pub fn set_exe_inode(&mut self, ino: u64, ctime: u64, mtime: u64) {
        self.exe_ino = ino;
        self.exe_ctime = ctime;
        self.exe_mtime = mtime;
        self.exe_ctime_to_start =
            if self.start_ns != 0 && ctime != 0 { self.start_ns.wrapping_sub(ctime) } else { 0 };
    }

    /// Sets the name and arguments, and the lines built from them.
    pub fn set_command(&mut self, comm: &str, args: Vec<String>) {
        self.args = Arc::new(args);
        self.args_line = Arc::from(self.args.join(" "));
        self.rename(comm);
    }

    /// Sets the name (the arguments stay), and the command line built from it.
    pub fn rename(&mut self, comm: &str) {
        comm.clone_into(&mut self.comm);
        self.cmdline = if self.args.is_empty() {
            Arc::from(comm)
        } else {
            Arc::from(format!("{} {}", self.comm, self.args_line))
        };
    }

    /// The value of an environment variable.
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env.iter().find_map(|e| e.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
    }

    /// Resolves a path argument against the cwd or an fd's path.
    pub fn resolve(&self, dirfd: Option<i64>, path: &str) -> String {
        let base = match dirfd {
            Some(fd) if !path.starts_with('/') => self.fds.get(&fd).map(|f| &*f.name),
            _ => Some(self.cwd.as_str()).filter(|c| !c.is_empty()),
        };
        paths::resolve(base, path)
    }
}

/// Whether a user may write a file, as Falco's probe decides it at exec (the kernel's basic
/// permission check, without ACLs or supplementary groups): the file system is writable and
/// the inode not immutable, and the user owns the file, or its mode grants the user's class
/// write, or the user has CAP_DAC_OVERRIDE or CAP_FOWNER.
pub fn exe_writable(info: &lanner_capture::record::ExecInfo, cap_effective: u64) -> bool {
    use lanner_capture::record::exe_flags;
    let fmt = info.mode & libc::S_IFMT;
    if info.flags & exe_flags::SB_RDONLY != 0 && matches!(fmt, libc::S_IFREG | libc::S_IFDIR | libc::S_IFLNK)
    {
        return false;
    }
    if info.flags & exe_flags::IMMUTABLE != 0 || info.uid == u32::MAX || info.gid == u32::MAX {
        return false;
    }
    if info.fsuid == info.uid {
        return true;
    }
    let class = if info.gid == info.fsgid { info.mode >> 3 } else { info.mode };
    const CAP_DAC_OVERRIDE: u64 = 1 << 1;
    const CAP_FOWNER: u64 = 1 << 3;
    class & 0o2 != 0 || cap_effective & (CAP_DAC_OVERRIDE | CAP_FOWNER) != 0
}

/// The largest the tables may grow, and what they hold per process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Threads known at once (Falco's `thread_table_size`); processes count as their main
    /// thread, so this bounds them too.
    pub max_threads: usize,
    /// Fds known per process (Falco's `MAX_FD_TABLE_SIZE`).
    pub max_fds: usize,
    /// Fd entries held in all (a table shared by several processes counts once): children
    /// that each change an inherited table each get a copy of it.
    pub max_fds_total: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_threads: DEFAULT_MAX_THREADS,
            max_fds: DEFAULT_MAX_FDS,
            max_fds_total: DEFAULT_MAX_FDS_TOTAL,
        }
    }
}

/// What the bounds and the reconciliation with `/proc` removed, since the start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Processes evicted (least recently used) because the thread table was full.
    pub processes_evicted: u64,
    /// Thread entries evicted with them, or alone.
    pub threads_evicted: u64,
    /// Fds evicted (least recently used) because their process's table was full.
    pub fds_evicted: u64,
    /// Processes that `/proc` no longer had, and whose exit was not seen.
    pub processes_reconciled: u64,
    /// Threads that `/proc` no longer had.
    pub threads_reconciled: u64,
    /// Processes `/proc` had at the start beyond the thread table's size, left out.
    pub processes_not_seeded: u64,
    /// Fds `/proc` had at the start beyond a process's fd table's size, left out.
    pub fds_not_seeded: u64,
}

/// Every known process, and which process each thread belongs to.
#[derive(Debug, Default)]
pub struct Table {
    /// Processes by pid.
    pub procs: FxHashMap<u32, Process>,
    /// Thread id to process id.
    pub threads: FxHashMap<u32, u32>,
    /// Thread ids in their own pid namespace, for the threads other than a process's main
    /// one whose id there differs (a main thread's is its process's `vpid`).
    pub vtids: FxHashMap<u32, u32>,
    /// The bounds.
    pub limits: Limits,
    /// What the bounds and reconciliation removed.
    pub removed: Removed,
}

impl Table {
    /// The process a thread belongs to.
    pub fn process_of(&self, tid: u32) -> Option<&Process> {
        let pid = self.threads.get(&tid).copied().unwrap_or(tid);
        self.procs.get(&pid)
    }

    /// The process with this pid, created empty if unknown.
    pub fn entry(&mut self, pid: u32) -> &mut Process {
        self.threads.entry(pid).or_insert(pid);
        self.procs.entry(pid).or_insert_with(|| Process::unknown(pid))
    }

    /// The id of thread `tid` of process `p` in its own pid namespace.
    pub fn vtid(&self, p: &Process, tid: u32) -> u32 {
        if tid == p.pid { p.vpid } else { self.vtids.get(&tid).copied().unwrap_or(tid) }
    }

    /// Applies a successful `setpgid(pid, pgid)` made by process `caller`: the ids are in the
    /// caller's pid namespace, 0 meaning the caller (for `pid`) and the target (for `pgid`).
    pub fn set_pgid(&mut self, caller: u32, vpid: i32, vpgid: i32) {
        let Some(c) = self.procs.get(&caller) else { return };
        let in_ns = c.vpid != c.pid;
        // The target is the caller or one of its children.
        let target = if vpid == 0 {
            caller
        } else if !in_ns {
            vpid as u32
        } else {
            match self.procs.values().find(|q| q.ppid == caller && q.vpid == vpid as u32) {
                Some(q) => q.pid,
                None => return,
            }
        };
        let Some(t) = self.procs.get(&target) else { return };
        let (pgid, new_vpgid) = if vpgid == 0 || vpgid as u32 == t.vpid {
            (t.pid, t.vpid)
        } else if !in_ns {
            (vpgid as u32, vpgid as u32)
        } else {
            // An existing group of the same session, named by its id in the namespace.
            let sid = t.sid;
            match self.procs.values().find(|q| q.sid == sid && q.vpgid == vpgid as u32) {
                Some(q) => (q.pgid, vpgid as u32),
                None => return,
            }
        };
        if let Some(t) = self.procs.get_mut(&target) {
            t.pgid = pgid;
            t.vpgid = new_vpgid;
        }
    }

    /// Gives the children of exiting process `pid` to the process the kernel gives them to:
    /// the init of their pid namespace (the nearest ancestor that is 1 in its own), else the
    /// host's init. A child subreaper in between is not known here; the children's next
    /// records name their real parent, which then replaces this guess.
    pub fn reparent_children(&mut self, pid: u32) {
        let Some(dying) = self.procs.get(&pid) else { return };
        let mut reaper = 1;
        let mut cur = dying;
        for _ in 0..64 {
            let Some(parent) = self.procs.get(&cur.ppid).filter(|q| q.pid != cur.pid) else { break };
            if parent.vpid == 1 {
                reaper = parent.pid;
                break;
            }
            cur = parent;
        }
        for q in self.procs.values_mut() {
            if q.ppid == pid && q.pid != pid {
                q.ppid = reaper;
            }
        }
    }

    /// The `n`th ancestor (1 = parent) of a process.
    pub fn ancestor<'a>(&'a self, p: &'a Process, n: usize) -> Option<&'a Process> {
        let mut cur = p;
        for _ in 0..n {
            if cur.ppid == 0 || cur.ppid == cur.pid {
                return None;
            }
            cur = self.procs.get(&cur.ppid)?;
        }
        Some(cur)
    }

    /// Whether the thread table is over its bound.
    pub fn over_limit(&self) -> bool {
        self.threads.len() > self.limits.max_threads || self.procs.len() > self.limits.max_threads
    }

    /// Brings the tables back under their bound: the least recently used sixteenth of the
    /// processes (at least as many as it takes) go, with their threads; `keep` (the process
    /// of the record being applied) stays, and so does `keep_tid`, its thread. If threads are
    /// still too many, every thread entry but the main threads' goes (it costs one pass per
    /// `max / 16` new threads at most): the next record of each brings its entry back.
    pub fn evict(&mut self, keep: u32, keep_tid: u32) {
        let max = self.limits.max_threads.max(1);
        let target = max - max / 16;
        if self.procs.len() > target {
            let n = (self.procs.len() - target).max(self.procs.len() / 16);
            let mut ages: Vec<(u64, u32)> =
                self.procs.values().filter(|p| p.pid != keep).map(|p| (p.last_used, p.pid)).collect();
            let n = n.min(ages.len());
            if n > 0 {
                ages.select_nth_unstable(n - 1);
                for (_, pid) in &ages[..n] {
                    self.procs.remove(pid);
                }
                self.removed.processes_evicted += n as u64;
            }
        }
        let before = self.threads.len();
        let procs = &self.procs;
        self.threads.retain(|_, pid| procs.contains_key(pid));
        if self.threads.len() > target {
            self.threads.retain(|tid, pid| tid == pid || *tid == keep_tid);
        }
        self.removed.threads_evicted += (before - self.threads.len()) as u64;
        let threads = &self.threads;
        self.vtids.retain(|tid, _| threads.contains_key(tid));
    }

    /// Drops the processes and threads that `/proc` no longer lists (`alive`: every thread
    /// id there), whose exit records were lost, among those not seen in a record since
    /// `idle_since` (so that a process whose last records are still on their way is not
    /// dropped before them). Returns how many processes went.
    pub fn reconcile(&mut self, alive: &FxHashSet<u32>, idle_since: u64) -> usize {
        let before = self.procs.len();
        self.procs.retain(|pid, p| alive.contains(pid) || p.last_used > idle_since);
        let gone = before - self.procs.len();
        let before_threads = self.threads.len();
        let procs = &self.procs;
        // A thread still running is listed; one that is not and whose process went with the
        // rest is gone. Others come back with their next record if they are only new.
        self.threads.retain(|tid, pid| alive.contains(tid) || (procs.contains_key(pid) && tid == pid));
        let threads = &self.threads;
        self.vtids.retain(|tid, _| threads.contains_key(tid));
        self.removed.processes_reconciled += gone as u64;
        self.removed.threads_reconciled += (before_threads - self.threads.len()) as u64;
        gone
    }

    /// Fd entries held, a shared table counted once.
    pub fn fd_entries_held(&self) -> usize {
        let mut seen = FxHashSet::default();
        self.procs.values().filter(|p| seen.insert(p.fds.id())).map(|p| p.fds.len()).sum()
    }

    /// Brings the fd entries held in all back under their bound when over it: the fd tables
    /// of the least recently used processes are emptied (a shared table is freed with its
    /// last user) until a sixteenth of the bound is free; `keep`'s stays.
    pub fn enforce_fd_total(&mut self, keep: u32) {
        let max = self.limits.max_fds_total.max(1);
        let mut held = self.fd_entries_held();
        if held <= max {
            return;
        }
        let target = max - max / 16;
        let mut order: Vec<(u64, u32)> = self
            .procs
            .values()
            .filter(|p| !p.fds.is_empty() && p.pid != keep)
            .map(|p| (p.last_used, p.pid))
            .collect();
        order.sort_unstable();
        for (_, pid) in order {
            if held <= target {
                break;
            }
            let Some(p) = self.procs.get_mut(&pid) else { continue };
            let n = p.fds.len();
            if !p.fds.is_shared() {
                held -= n;
            }
            p.fds = FdTable::default();
            self.removed.fds_evicted += n as u64;
        }
    }

    /// Fds known across the processes (a table shared by several counts for each).
    pub fn fd_entries(&self) -> usize {
        self.procs.values().map(|p| p.fds.len()).sum()
    }

    /// Removes a thread, and its process with its main thread (every thread of an exiting
    /// process reports its own exit, so no thread entry outlives it for long).
    pub fn remove_thread(&mut self, tid: u32, pid: u32) {
        self.threads.remove(&tid);
        self.vtids.remove(&tid);
        if tid == pid {
            self.procs.remove(&pid);
        }
    }
}
