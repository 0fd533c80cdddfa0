//! Process and file-descriptor state for live capture, and the syscall fields rules read.
//!
//! `state` turns capture's [`RawEvent`]s into engine events: it keeps a thread table
//! (seeded from `/proc`, then kept current from fork, exec, exit, chdir and credential
//! changes) and per-process fd tables (open, socket, connect, accept, dup, close), resolves
//! users, groups and container ids, and answers every syscall field through
//! [`lanner_event::Event`]. It knows nothing of rules or of how records were captured.
#![deny(missing_docs)]

pub mod args;
pub mod caps;
pub mod container;
pub mod dns;
mod fields;
pub mod paths;
pub mod procnet;
pub mod seed;
pub mod table;
pub mod users;

pub use fields::{FieldMap, LiveEvent};
use lanner_capture as capture;

use capture::record::{RawEvent, RecordKind, SockAddr};
use lanner_event::{EventTypeId, evttype};
use rustc_hash::FxHashMap;
use std::path::Path;
use std::sync::Arc;
use table::{Fd, FdKind, L4, Limits, Process, Removed, Sock, Table};

/// The syscalls these tables need, whatever the rules ask for: without them fd names, sockets,
/// working directories and executables would be unknown to later events.
pub const NEEDED_SYSCALLS: &[&str] = &[
    "open",
    "openat",
    "openat2",
    "creat",
    "close",
    "dup",
    "dup2",
    "dup3",
    // F_DUPFD and F_DUPFD_CLOEXEC duplicate a descriptor too (Python's os.dup uses it).
    "fcntl",
    "socket",
    "connect",
    "accept",
    "accept4",
    "bind",
    "listen",
    "chdir",
    "fchdir",
    "memfd_create",
    "open_by_handle_at",
    "pidfd_getfd",
    "execve",
    "execveat",
    "setsid",
    "setpgid",
];

/// What an event's fd fields refer to.
#[derive(Debug, Clone)]
pub enum FdView {
    /// No fd.
    None,
    /// An entry of the process's fd table.
    Table(i64),
    /// A snapshot: the fd was closed by this event, or the open failed.
    Owned(i64, Box<Fd>),
}

/// What [`State::apply`] learned about an event, for its fields.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The event type id, and whether rules should see the event at all.
    pub etype: Option<EventTypeId>,
    /// The event type's name.
    pub type_name: &'static str,
    /// The syscall number, for syscall records.
    pub nr: Option<u32>,
    /// The event's fd.
    pub fd: FdView,
    /// A sequence number.
    pub num: u64,
    /// The process to drop after the event has been evaluated (an exit).
    pub remove: Option<(u32, u32)>,
}

/// Cgroup ids remembered at most; past it the map starts over (each id is then looked up
/// again once), and the entries dropped are counted.
pub const MAX_CGROUPS: usize = 16_384;

/// Container ids of processes whose `/proc` entry is gone (short-lived ones), by their
/// cgroup v2 id: the directory in the unified hierarchy whose inode is that id.
#[derive(Debug, Default)]
struct Cgroups {
    known: FxHashMap<u64, Arc<str>>,
    evicted: u64,
}

impl Cgroups {
    fn by_id(&mut self, cgroup_id: u64) -> Arc<str> {
        if let Some(c) = self.known.get(&cgroup_id) {
            return c.clone();
        }
        if self.known.len() >= MAX_CGROUPS {
            self.evicted += self.known.len() as u64;
            self.known.clear();
        }
        let path = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .iter()
            .find_map(|root| find_cgroup(Path::new(root), Path::new(root), cgroup_id, 0));
        let id: Arc<str> = Arc::from(container::container_id(path.as_deref().unwrap_or("")));
        self.known.insert(cgroup_id, id.clone());
        id
    }

    /// A process's container, from `/proc` while it lives, else from its cgroup id.
    fn of(&mut self, pid: u32, cgroup_id: u64) -> Arc<str> {
        match container::of_process(Path::new("/proc"), pid) {
            Some(id) => Arc::from(id),
            None => self.by_id(cgroup_id),
        }
    }
}

fn find_cgroup(root: &Path, dir: &Path, id: u64, depth: usize) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    if depth > 16 {
        return None;
    }
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let Ok(m) = e.metadata() else { continue };
        if !m.is_dir() {
            continue;
        }
        if m.ino() == id {
            return Some(format!("/{}", e.path().strip_prefix(root).ok()?.to_string_lossy()));
        }
        if let Some(p) = find_cgroup(root, &e.path(), id, depth + 1) {
            return Some(p);
        }
    }
    None
}

/// How big the state is now, and what its bounds removed: for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Processes known.
    pub processes: usize,
    /// Threads known.
    pub threads: usize,
    /// Fds known, summed over processes (a table shared after a fork counts for each).
    pub fds: usize,
    /// Fd entries held (a shared table counts once): what `max_fds_total` bounds.
    pub fds_held: usize,
    /// Paths interned.
    pub paths: usize,
    /// Cgroup ids whose container is remembered.
    pub cgroups: usize,
    /// What the tables' bounds and reconciliation removed.
    pub removed: Removed,
    /// Cgroup ids forgotten because the map was full.
    pub cgroups_evicted: u64,
    /// Times the path interner was full of paths in use and started over.
    pub paths_reset: u64,
}

/// The host's view of every process, kept current from events.
#[derive(Debug)]
pub struct State {
    /// Threads and processes.
    pub table: Table,
    /// Fd names, shared.
    pub paths: paths::Interner,
    /// User and group names.
    pub users: users::Users,
    /// Host names the rules compare with `fd.*ip.name`, resolved in the background.
    pub dns: dns::Dns,
    cgroups: Cgroups,
    num: u64,
    /// Event type id by syscall number.
    types: Vec<Option<(EventTypeId, &'static str)>>,
    procexit_type: Option<(EventTypeId, &'static str)>,
    /// Fd entries added or copied since the total was last checked.
    fds_added: u64,
    /// Set by [`State::seed`]: a process first seen in a record (its fork was before the
    /// start, or lost) is then read from `/proc` rather than left unknown.
    live_proc: bool,
}

impl State {
    /// An empty state; call [`State::seed`] to load `/proc`. `syscall_name` maps numbers to
    /// names (capture's table).
    pub fn new(syscall_name: impl Fn(u32) -> Option<&'static str>) -> Self {
        let types = (0..512u32)
            .map(|nr| {
                let name = syscall_name(nr)?;
                let id = evttype::id_of(name)?;
                Some((id, evttype::name_of(id)))
            })
            .collect();
        let lookup = |n: &str| evttype::id_of(n).map(|id| (id, evttype::name_of(id)));
        State {
            table: Table::default(),
            paths: paths::Interner::default(),
            users: users::Users::new(),
            dns: dns::Dns::default(),
            cgroups: Cgroups::default(),
            num: 0,
            types,
            procexit_type: lookup("procexit"),
            fds_added: 0,
            live_proc: false,
        }
    }

    /// Sets the tables' bounds (before [`State::seed`]).
    pub fn set_limits(&mut self, limits: Limits) {
        self.table.limits = limits;
    }

    /// Loads every process in `/proc`, within the tables' bounds.
    pub fn seed(&mut self) -> usize {
        self.live_proc = true;
        seed::seed(&mut self.table, Path::new("/proc"), &mut self.paths)
    }

    /// Records applied so far: the clock that [`State::reconcile`] takes.
    pub fn records(&self) -> u64 {
        self.num
    }

    /// Drops the processes `/proc` no longer lists (`alive`, from [`seed::alive_threads`])
    /// that no record has named since the count of records was `idle_since` (take it from
    /// [`State::records`] one reconciliation earlier): their exits were lost. Returns how
    /// many processes went.
    pub fn reconcile(&mut self, alive: &seed::Alive, idle_since: u64) -> usize {
        self.table.reconcile(alive, idle_since)
    }

    /// The sizes of the tables and what their bounds removed. Walks the processes: call it
    /// once a second or so, not per event.
    pub fn stats(&self) -> Stats {
        Stats {
            processes: self.table.procs.len(),
            threads: self.table.threads.len(),
            fds: self.table.fd_entries(),
            fds_held: self.table.fd_entries_held(),
            paths: self.paths.len(),
            cgroups: self.cgroups.known.len(),
            removed: self.table.removed,
            cgroups_evicted: self.cgroups.evicted,
            paths_reset: self.paths.resets,
        }
    }

    /// Updates the tables from a record, and says how rules should see it. Call
    /// [`State::finish`] after evaluating.
    pub fn apply(&mut self, raw: &RawEvent) -> Prepared {
        self.num += 1;
        self.users.learn(raw.uid, raw.gid);
        let mut prep =
            Prepared { etype: None, type_name: "", nr: None, fd: FdView::None, num: self.num, remove: None };
        // Credentials, comm and capabilities come with every record: keep them current. An
        // execve's own record was assembled at entry, before the exec record that follows
        // the new image: its comm is the old one.
        let pre_exec = matches!(raw.kind, RecordKind::Syscall { nr } if nr as i64 == libc::SYS_execve || nr as i64 == libc::SYS_execveat);
        // A process's container is looked up when it is first seen, when it execs (a runtime
        // moves the process into the container's cgroup before the exec) and when its cgroup
        // changes; forks inherit it.
        let lookup = matches!(raw.kind, RecordKind::Exec)
            || self.table.procs.get(&raw.tgid).is_none_or(|p| p.cgroup_id != raw.cgroup_id);
        let container = lookup.then(|| self.cgroups.of(raw.tgid, raw.cgroup_id));
        if self.live_proc
            && !self.table.procs.contains_key(&raw.tgid)
            && let Some((p, skipped)) =
                seed::read_process(Path::new("/proc"), raw.tgid, self.table.limits.max_fds, &mut self.paths)
        {
            // What the records do not carry (terminal, session, namespace ids, executable)
            // comes from /proc once; the records keep the rest current.
            self.table.removed.fds_not_seeded += skipped as u64;
            self.table.procs.insert(raw.tgid, p);
        }
        let tick = self.num;
        {
            self.table.threads.insert(raw.tid, raw.tgid);
            let p = self.table.entry(raw.tgid);
            p.last_used = tick;
            p.uid = raw.uid;
            p.gid = raw.gid;
            p.loginuid = raw.loginuid;
            p.cap_effective = raw.cap_effective;
            p.cap_permitted = raw.cap_permitted;
            // Only exec and fork records carry the terminal.
            if matches!(raw.kind, RecordKind::Exec | RecordKind::Fork { .. }) {
                p.tty = raw.tty;
            }
            // Every record names the parent the kernel has now: a reparenting (the parent
            // exited) is followed even when the guess made at its exit was another reaper.
            if raw.ppid != 0 {
                p.ppid = raw.ppid;
            }
            if let Some(c) = container {
                p.container_id = c;
                p.cgroup_id = raw.cgroup_id;
            }
            if !pre_exec && !raw.comm.is_empty() && raw.comm != p.comm {
                p.rename(&raw.comm);
            }
        }
        match raw.kind {
            RecordKind::Fork { child_tgid, child_tid } => {
                self.table.threads.insert(child_tid, child_tgid);
                if child_tgid != raw.tgid && !self.table.procs.contains_key(&child_tgid) {
                    let parent = self
                        .table
                        .procs
                        .get(&raw.tgid)
                        .cloned()
                        .unwrap_or_else(|| Process::unknown(raw.tgid));
                    let mut child = parent;
                    child.pid = child_tgid;
                    child.ppid = raw.tgid;
                    child.start_ns = raw.ts_ns;
                    // The probe reads the child's id in its own pid namespace (a new
                    // namespace's first process is 1 there).
                    child.vpid = if raw.vtid != 0 { raw.vtid } else { child_tgid };
                    self.table.procs.insert(child_tgid, child);
                } else if child_tgid == raw.tgid && raw.vtid != 0 && raw.vtid != child_tid {
                    self.table.vtids.insert(child_tid, raw.vtid);
                }
            }
            RecordKind::Exec => {
                self.exec(raw);
                self.after_fds(raw.tgid, &FdView::None, tick);
            }
            RecordKind::Exit => {
                prep.etype = self.procexit_type.map(|t| t.0);
                prep.type_name = self.procexit_type.map_or("procexit", |t| t.1);
                prep.remove = Some((raw.tid, raw.tgid));
            }
            RecordKind::Syscall { nr } => {
                prep.nr = Some(nr);
                if let Some(Some((id, name))) = self.types.get(nr as usize) {
                    prep.etype = Some(*id);
                    prep.type_name = name;
                }
                prep.fd = self.syscall(raw, nr);
                self.after_fds(raw.tgid, &prep.fd, tick);
            }
        }
        // One comparison per record; the eviction itself runs once per sixteenth of the
        // table's size in new threads.
        if self.table.over_limit() {
            self.table.evict(raw.tgid, raw.tid);
        }
        prep
    }

    /// Marks the event's fd used, and checks the fd entries held in all once a sixteenth of
    /// their bound has been added or copied since the last check (the walk over the
    /// processes is then paid once per that many entries).
    fn after_fds(&mut self, tgid: u32, view: &FdView, tick: u64) {
        let Some(p) = self.table.procs.get_mut(&tgid) else { return };
        if let FdView::Table(fd) = view {
            p.fds.touch(*fd, tick);
        }
        let added = p.fds.take_added();
        if added > 0 {
            self.fds_added += added;
            if self.fds_added > (self.table.limits.max_fds_total / 16) as u64 {
                self.fds_added = 0;
                self.table.enforce_fd_total(tgid);
            }
        }
    }

    /// Drops what an exit left behind, once rules have seen it.
    pub fn finish(&mut self, prep: &Prepared) {
        if let Some((tid, pid)) = prep.remove {
            if tid == pid {
                self.table.reparent_children(pid);
            }
            self.table.remove_thread(tid, pid);
        }
    }

    /// The view of an event that rules evaluate.
    pub fn view<'a>(&'a self, raw: &'a RawEvent, prep: &'a Prepared, map: &'a FieldMap) -> LiveEvent<'a> {
        LiveEvent::new(self, raw, prep, map)
    }

    fn exec(&mut self, raw: &RawEvent) {
        let text = |i: usize| raw.strings.get(i).map(|c| String::from_utf8_lossy(&c.bytes).into_owned());
        let nul = |i: usize| -> Vec<String> {
            raw.strings
                .get(i)
                .map(|c| {
                    c.bytes
                        .split(|b| *b == 0)
                        .filter(|s| !s.is_empty())
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        let filename = text(0).unwrap_or_default();
        let argv = nul(1);
        let env = nul(2);
        let p = self.table.entry(raw.tgid);
        if let Some(info) = &raw.exec {
            // Ids as the kernel has them now: a session or group change since the last
            // record, or a process first seen here, is caught up with.
            if info.vpid != 0 {
                p.vpid = info.vpid;
            }
            p.vpgid = info.vpgid;
            if info.pgid != 0 {
                p.pgid = info.pgid;
            }
            if info.sid != 0 {
                p.sid = info.sid;
            }
            use capture::record::exe_flags;
            p.set_exe_inode(info.ino, info.ctime_ns, info.mtime_ns);
            p.exe_writable = table::exe_writable(info, raw.cap_effective);
            let overlay = info.flags & exe_flags::OVERLAY != 0;
            p.exe_upper_layer = overlay && info.flags & exe_flags::UPPER_LAYER != 0;
            p.exe_lower_layer = overlay && !p.exe_upper_layer;
        }
        // `/dev/fd/N` is how the kernel names an exec through an fd (fexecve, execveat);
        // `/proc/self/fd/N` is the same file reached by path.
        let fd_path = filename
            .strip_prefix("/dev/fd/")
            .or_else(|| filename.strip_prefix("/proc/self/fd/"))
            .or_else(|| {
                let rest = filename.strip_prefix("/proc/")?;
                let (pid, rest) = rest.split_once('/')?;
                (pid == raw.tgid.to_string()).then_some(())?;
                rest.strip_prefix("fd/")
            });
        let via_fd = fd_path
            .and_then(|n| n.split('/').next())
            .and_then(|n| n.parse::<i64>().ok())
            .and_then(|fd| p.fds.get(&fd));
        p.exe_from_memfd = via_fd.is_some_and(|f| f.kind == FdKind::Memfd);
        p.exepath = match via_fd {
            Some(f) => f.name.to_string(),
            None => p.resolve(None, &filename),
        };
        let mut argv = argv.into_iter();
        p.exe = argv.next().unwrap_or_else(|| filename.clone());
        p.env = Arc::new(env);
        let comm = if raw.comm.is_empty() { p.comm.clone() } else { raw.comm.clone() };
        p.set_command(&comm, argv.collect());
        // Close-on-exec fds are gone in the new image.
        p.fds.retain(|_, f| f.flags & libc::O_CLOEXEC as u32 == 0);
    }

    fn syscall(&mut self, raw: &RawEvent, nr: u32) -> FdView {
        let ret = raw.ret;
        let a = raw.args;
        let (tick, max_fds) = (self.num, self.table.limits.max_fds);
        let Some(p) = self.table.procs.get_mut(&raw.tgid) else { return FdView::None };
        let evicted = &mut self.table.removed.fds_evicted;
        let interner = &mut self.paths;
        let path_of =
            |name: &str| args::string_arg(raw, nr, name).map(|b| String::from_utf8_lossy(b).into_owned());
        let dirfd = |i: usize| {
            let fd = a[i] as i32;
            (fd != libc::AT_FDCWD).then_some(fd as i64)
        };
        match nr as i64 {
            libc::SYS_open | libc::SYS_openat | libc::SYS_openat2 | libc::SYS_creat => {
                let (dir, flags) = match nr as i64 {
                    libc::SYS_open => (None, a[1] as u32),
                    libc::SYS_creat => (None, (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u32),
                    // The flags the kernel used are in the `open_how` the third argument
                    // points to.
                    libc::SYS_openat2 => (dirfd(0), args::open_how(raw).map_or(0, |h| h[0] as u32)),
                    _ => (dirfd(0), a[2] as u32),
                };
                let raw_path = path_of("name").unwrap_or_default();
                let name = p.resolve(dir, &raw_path);
                let kind =
                    if flags & libc::O_DIRECTORY as u32 != 0 { FdKind::Directory } else { FdKind::File };
                let name = interner.intern(&name);
                let raw_path = if *raw_path == *name { name.clone() } else { interner.intern(&raw_path) };
                let fd = Fd::path(kind, name, raw_path, flags);
                if ret >= 0 {
                    *evicted += p.fds.insert(ret, fd, tick, max_fds) as u64;
                    FdView::Table(ret)
                } else {
                    FdView::Owned(ret, Box::new(fd))
                }
            }
            // A file opened by handle, or taken from another process: no path is passed. The
            // kernel's name of the new descriptor is read while the process still holds it.
            libc::SYS_open_by_handle_at | libc::SYS_pidfd_getfd if ret >= 0 => {
                let flags = if nr as i64 == libc::SYS_open_by_handle_at { a[2] as u32 } else { 0 };
                *evicted +=
                    p.fds.insert(ret, fd_from_proc(raw.tgid, ret, flags, interner), tick, max_fds) as u64;
                FdView::Table(ret)
            }
            // An open submitted through io_uring: the file it names, not in the table (its
            // descriptor comes with the completion, which is not seen).
            args::IO_URING_SUBMIT_NR if args::IORING_OP_OPENS.contains(&a[0]) => {
                let raw_path = path_of("name").unwrap_or_default();
                let name = p.resolve(dirfd(1), &raw_path);
                let (name, raw_path) = (interner.intern(&name), interner.intern(&raw_path));
                FdView::Owned(-1, Box::new(Fd::path(FdKind::File, name, raw_path, a[2] as u32)))
            }
            // Other submissions act on their descriptor (a socket to connect, a file to write).
            args::IO_URING_SUBMIT_NR => FdView::Table(a[1] as i32 as i64),
            libc::SYS_memfd_create => {
                let name = interner.intern(&format!("memfd:{}", path_of("name").unwrap_or_default()));
                if ret >= 0 {
                    let fd = Fd::path(FdKind::Memfd, name.clone(), name, a[1] as u32 & libc::MFD_CLOEXEC);
                    *evicted += p.fds.insert(ret, fd, tick, max_fds) as u64;
                    FdView::Table(ret)
                } else {
                    FdView::None
                }
            }
            libc::SYS_close => match p.fds.remove(&(a[0] as i32 as i64)) {
                Some(f) => FdView::Owned(a[0] as i32 as i64, Box::new(f)),
                None => FdView::None,
            },
            libc::SYS_fcntl if !matches!(a[1] as i32, libc::F_DUPFD | libc::F_DUPFD_CLOEXEC) => {
                FdView::Table(a[0] as i32 as i64)
            }
            libc::SYS_dup | libc::SYS_dup2 | libc::SYS_dup3 | libc::SYS_fcntl => {
                let old = a[0] as i32 as i64;
                // The fd dup'd from is in use: of a table full of its copies, it stays.
                p.fds.touch(old, tick);
                if ret >= 0 {
                    if let Some(mut f) = p.fds.get(&old).cloned() {
                        f.flags &= !(libc::O_CLOEXEC as u32);
                        let cloexec = match nr as i64 {
                            libc::SYS_dup3 => a[2] as i32 & libc::O_CLOEXEC != 0,
                            libc::SYS_fcntl => a[1] as i32 == libc::F_DUPFD_CLOEXEC,
                            _ => false,
                        };
                        if cloexec {
                            f.flags |= libc::O_CLOEXEC as u32;
                        }
                        *evicted += p.fds.insert(ret, f, tick, max_fds) as u64;
                    }
                    FdView::Table(ret)
                } else {
                    FdView::Table(old)
                }
            }
            libc::SYS_socket => {
                if ret >= 0 {
                    let domain = a[0] as i32;
                    let ty = a[1] as i32;
                    let kind = match domain {
                        libc::AF_INET => FdKind::Ipv4,
                        libc::AF_INET6 => FdKind::Ipv6,
                        libc::AF_UNIX => FdKind::Unix,
                        _ => FdKind::OtherSocket,
                    };
                    let l4 = match (ty & 0xf, a[2] as i32) {
                        (libc::SOCK_STREAM, _) => L4::Tcp,
                        (libc::SOCK_DGRAM, libc::IPPROTO_ICMP | libc::IPPROTO_ICMPV6) => L4::Icmp,
                        (libc::SOCK_DGRAM, _) => L4::Udp,
                        (libc::SOCK_RAW, _) => L4::Raw,
                        _ => L4::Unknown,
                    };
                    let flags = if ty & libc::SOCK_CLOEXEC != 0 { libc::O_CLOEXEC as u32 } else { 0 };
                    let sock = Sock {
                        l4,
                        local: None,
                        remote: None,
                        unix_path: None,
                        connected: false,
                        is_server: false,
                        name_changed: false,
                    };
                    *evicted += p.fds.insert(ret, Fd::socket(kind, flags, Some(sock)), tick, max_fds) as u64;
                    FdView::Table(ret)
                } else {
                    FdView::None
                }
            }
            libc::SYS_connect | libc::SYS_bind | libc::SYS_sendto | libc::SYS_sendmsg => {
                let fd = a[0] as i32 as i64;
                let is_connect = nr as i64 == libc::SYS_connect;
                let ok = ret >= 0 || (is_connect && ret == -(libc::EINPROGRESS as i64));
                if let Some(f) = p.fds.get_mut(&fd) {
                    if let Some(s) = f.sock.as_mut() {
                        s.name_changed = false;
                        match (&raw.sockaddr, nr as i64) {
                            (Some(SockAddr::Inet(addr)), libc::SYS_bind) if ok => s.local = Some(*addr),
                            (Some(SockAddr::Inet(addr)), _) if ok => {
                                s.name_changed = s.remote != Some(*addr);
                                s.remote = Some(*addr);
                                if is_connect {
                                    s.connected = true;
                                    // The local end the kernel chose (connect's tuple).
                                    if let Some(t) = &raw.tuple {
                                        s.local = Some(t.local);
                                    }
                                }
                            }
                            (Some(SockAddr::Unix(path)), _) if ok => {
                                s.unix_path = Some(String::from_utf8_lossy(path).into_owned());
                                s.connected |= is_connect;
                            }
                            _ => {}
                        }
                    }
                    f.rename_socket();
                }
                FdView::Table(fd)
            }
            libc::SYS_listen => {
                let fd = a[0] as i32 as i64;
                if let Some(s) = p.fds.get_mut(&fd).and_then(|f| f.sock.as_mut()) {
                    s.is_server = true;
                }
                FdView::Table(fd)
            }
            libc::SYS_accept | libc::SYS_accept4 => {
                let listen = a[0] as i32 as i64;
                if ret >= 0 {
                    let base = p.fds.get(&listen).cloned();
                    let mut f = base.unwrap_or_else(|| Fd::socket(FdKind::OtherSocket, 0, None));
                    let s = f.sock.get_or_insert_with(|| {
                        Box::new(Sock {
                            l4: L4::Tcp,
                            local: None,
                            remote: None,
                            unix_path: None,
                            connected: false,
                            is_server: true,
                            name_changed: false,
                        })
                    });
                    s.connected = true;
                    s.is_server = true;
                    if let Some(SockAddr::Inet(addr)) = &raw.sockaddr {
                        s.remote = Some(*addr);
                    }
                    // The accepted socket's own addresses, not the listener's (0.0.0.0), and
                    // its peer even when the caller did not ask for it.
                    if let Some(t) = &raw.tuple {
                        s.local = Some(t.local);
                        if t.remote.is_some() {
                            s.remote = t.remote;
                        }
                        if f.kind == FdKind::OtherSocket {
                            f.kind = if t.local.is_ipv4() { FdKind::Ipv4 } else { FdKind::Ipv6 };
                        }
                    }
                    f.flags = if nr as i64 == libc::SYS_accept4 && a[3] as i32 & libc::SOCK_CLOEXEC != 0 {
                        libc::O_CLOEXEC as u32
                    } else {
                        0
                    };
                    f.rename_socket();
                    *evicted += p.fds.insert(ret, f, tick, max_fds) as u64;
                    FdView::Table(ret)
                } else {
                    FdView::Table(listen)
                }
            }
            libc::SYS_recvfrom | libc::SYS_recvmsg => {
                let fd = a[0] as i32 as i64;
                if ret >= 0
                    && let Some(f) = p.fds.get_mut(&fd)
                    && let Some(s) = f.sock.as_mut()
                {
                    // As Falco: a datagram socket (or one without a name yet) takes the
                    // sender as its peer and the kernel's local end; a socket with no role
                    // yet that receives is taken for a server.
                    let peer = match &raw.sockaddr {
                        Some(SockAddr::Inet(a)) => Some(*a),
                        _ => raw.tuple.and_then(|t| t.remote),
                    };
                    if (f.name.is_empty() || s.l4 != L4::Tcp) && peer.is_some() {
                        s.remote = peer;
                        if let Some(t) = &raw.tuple {
                            s.local = Some(t.local);
                        }
                        if !s.connected && !s.is_server {
                            s.is_server = true;
                        }
                        f.rename_socket();
                    }
                }
                FdView::Table(fd)
            }
            libc::SYS_fchmod | libc::SYS_fchown | libc::SYS_finit_module => FdView::Table(a[0] as i32 as i64),
            libc::SYS_chdir => {
                if ret == 0 {
                    let path = path_of("path").unwrap_or_default();
                    p.cwd = p.resolve(None, &path);
                }
                FdView::None
            }
            libc::SYS_fchdir => {
                let fd = a[0] as i32 as i64;
                if ret == 0
                    && let Some(f) = p.fds.get(&fd)
                {
                    p.cwd = f.name.to_string();
                }
                FdView::Table(fd)
            }
            libc::SYS_setsid => {
                // A new session and group, led by the caller, without a terminal.
                if ret > 0 {
                    p.sid = p.pid;
                    p.pgid = p.pid;
                    p.vpgid = p.vpid;
                    p.tty = 0;
                }
                FdView::None
            }
            libc::SYS_setpgid => {
                if ret == 0 {
                    self.table.set_pgid(raw.tgid, a[0] as i32, a[1] as i32);
                }
                FdView::None
            }
            // Any other call on a descriptor (read, write, pread, fstat, ...): the event's fd is
            // its `fd` parameter, as Falco sets the event's fd for every such call.
            _ if args::defs(nr).iter().any(|(n, k, src)| {
                *n == "fd" && matches!(k, args::Kind::Fd) && matches!(src, args::Src::Int(0))
            }) =>
            {
                FdView::Table(a[0] as i32 as i64)
            }
            _ => FdView::None,
        }
    }
}

/// Descriptor `fd` of process `tgid` as `/proc/PID/fd` names it, for descriptors no argument
/// names: `<unknown>` (a plain file) when the process closed it or exited first.
fn fd_from_proc(tgid: u32, fd: i64, flags: u32, paths: &mut paths::Interner) -> Fd {
    let link = std::path::PathBuf::from(format!("/proc/{tgid}/fd/{fd}"));
    let Ok(target) = std::fs::read_link(&link) else {
        return Fd::path(FdKind::File, "<unknown>".into(), "<unknown>".into(), flags);
    };
    let t = paths.intern(&target.to_string_lossy());
    let kind = if t.starts_with("socket:") {
        FdKind::OtherSocket
    } else if t.starts_with("pipe:") {
        FdKind::Pipe
    } else if t.starts_with("/memfd:") {
        FdKind::Memfd
    } else if t.starts_with("anon_inode:") {
        FdKind::Unknown
    } else if link.metadata().is_ok_and(|m| m.is_dir()) {
        FdKind::Directory
    } else {
        FdKind::File
    };
    Fd::path(kind, t.clone(), t, flags)
}
