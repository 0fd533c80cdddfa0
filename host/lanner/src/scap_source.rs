//! `.scap` captures (Falco, sysdig) as a source of Lanner's kernel records: each syscall's
//! exit event, with what its enter event said, becomes the [`RawEvent`] the probe would
//! have delivered (x86_64 number, arguments, strings, addresses), so the state tables and
//! rules treat the file as they treat a live capture. The process and fd tables are seeded
//! from the file's own tables, never from this machine's `/proc`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use lanner_capture::record::{Captured, ExecInfo, RawEvent, RecordKind, SockAddr, SockTuple};
use lanner_scap::tables::fd_type;
use lanner_scap::{Direction, Event, FdTarget, Param, ScapError, ScapReader, Tables, ThreadInfo};
use lanner_state::State;
use lanner_state::table::{Fd, FdKind, L4, Process, Sock};

/// What the replay applies, in order.
#[derive(Debug)]
pub enum Item {
    /// A record for state and rules.
    Record(Box<RawEvent>),
    /// A process's working directory, which scap's execve and clone events carry and
    /// Lanner's records do not: set before the record that follows.
    Cwd { pid: u32, cwd: String },
}

/// The per-thread facts every Lanner record carries (ids, credentials, name), kept from the
/// file's process table and the clone, execve and set*id events that change them.
#[derive(Debug, Clone, Default)]
struct Ctx {
    pid: u32,
    ppid: u32,
    uid: u32,
    gid: u32,
    loginuid: u32,
    cap_effective: u64,
    cap_permitted: u64,
    comm: String,
}

/// Event types met that do not become records, by name; and codes newer than the table.
#[derive(Debug, Default)]
pub struct Skipped {
    /// Codes libs' table does not define (a newer producer), by code.
    pub unknown: BTreeMap<u16, u64>,
    /// Known events with no Lanner counterpart (scheduler, meta and plugin events, enter
    /// events whose exit never came), by name.
    pub unmapped: BTreeMap<String, u64>,
}

/// Reads a capture and yields Lanner records.
pub struct ScapSource {
    reader: ScapReader<Box<dyn Read + Send>>,
    ctx: HashMap<u64, Ctx>,
    /// The last enter event of each thread, waiting for its exit.
    enters: HashMap<u64, Event>,
    /// Children whose fork record was already given (the child's clone exit often comes
    /// before its parent's).
    forked: HashSet<u64>,
    queue: std::collections::VecDeque<Item>,
    pub skipped: Skipped,
    /// scap events read.
    pub events: u64,
}

impl ScapSource {
    /// Opens a capture and reads its tables.
    pub fn open(path: &Path) -> Result<Self, ScapError> {
        let reader = ScapReader::open(path)?;
        let mut ctx = HashMap::new();
        for t in reader.tables().threads.values() {
            ctx.insert(t.tid, ctx_of(t));
        }
        Ok(ScapSource {
            reader,
            ctx,
            enters: HashMap::new(),
            forked: HashSet::new(),
            queue: Default::default(),
            skipped: Skipped::default(),
            events: 0,
        })
    }

    /// The file's tables.
    pub fn tables(&self) -> &Tables {
        self.reader.tables()
    }

    /// The next item, `None` at the end of the file.
    pub fn next_item(&mut self) -> Result<Option<Item>, ScapError> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Ok(Some(item));
            }
            let Some(ev) = self.reader.next_event()? else {
                // Enter events whose exit is not in the file (the capture stopped first).
                for ev in std::mem::take(&mut self.enters).into_values() {
                    let name = ev.name().unwrap_or("?").to_string();
                    *self.skipped.unmapped.entry(format!("{name} (enter only)")).or_default() += 1;
                }
                return Ok(None);
            };
            self.events += 1;
            self.map(ev);
        }
    }

    fn map(&mut self, ev: Event) {
        let Some(info) = ev.info() else {
            *self.skipped.unknown.entry(ev.code).or_default() += 1;
            return;
        };
        if info.name == "procexit" {
            self.exit(&ev);
            return;
        }
        match ev.direction() {
            Direction::Enter => {
                if syscall_nr(&ev, None).is_some() {
                    self.enters.insert(ev.tid, ev);
                } else {
                    *self.skipped.unmapped.entry(info.name.to_string()).or_default() += 1;
                }
            }
            Direction::Exit => {
                let enter =
                    self.enters.remove(&ev.tid).filter(|e| e.info().is_some_and(|i| i.name == info.name));
                match syscall_nr(&ev, enter.as_ref()) {
                    Some(nr) => self.syscall(&ev, enter.as_ref(), nr),
                    None => *self.skipped.unmapped.entry(info.name.to_string()).or_default() += 1,
                }
            }
        }
    }

    /// A record with the thread's current facts.
    fn base(&self, ev: &Event, kind: RecordKind) -> RawEvent {
        let c = self.ctx.get(&ev.tid).cloned().unwrap_or_else(|| Ctx {
            pid: ev.tid as u32,
            loginuid: u32::MAX,
            ..Ctx::default()
        });
        RawEvent {
            ts_ns: ev.ts,
            cpu: ev.cpu as u32,
            tgid: c.pid,
            tid: ev.tid as u32,
            ppid: c.ppid,
            uid: c.uid,
            gid: c.gid,
            loginuid: c.loginuid,
            cap_effective: c.cap_effective,
            cap_permitted: c.cap_permitted,
            tty: 0,
            comm: c.comm,
            cgroup_id: 0,
            kind,
            ret: 0,
            args: [0; 6],
            strings: Vec::new(),
            sockaddr: None,
            vtid: 0,
            exec: None,
            tuple: None,
            data: None,
        }
    }

    fn push(&mut self, raw: RawEvent) {
        self.queue.push_back(Item::Record(Box::new(raw)));
    }

    fn exit(&mut self, ev: &Event) {
        let raw = self.base(ev, RecordKind::Exit);
        self.push(raw);
        self.ctx.remove(&ev.tid);
        self.enters.remove(&ev.tid);
    }

    fn syscall(&mut self, ev: &Event, enter: Option<&Event>, nr: u32) {
        let get = |name: &str| -> Option<Param<'_>> {
            ev.param_named(name)
                .filter(|p| *p != Param::Empty)
                .or_else(|| enter.and_then(|e| e.param_named(name)).filter(|p| *p != Param::Empty))
        };
        let int = |name: &str| get(name).and_then(|p| p.as_i64());
        let text = |name: &str| get(name).and_then(|p| p.as_bytes()).map(|b| b.to_vec());
        let name = ev.name().unwrap_or_default();
        // The return value: `res`, or the fd/pid an fd- or process-creating call gives.
        let ret = ev.param(0).and_then(|p| p.as_i64()).unwrap_or(0);
        let mut raw = self.base(ev, RecordKind::Syscall { nr });
        raw.ret = ret;
        let s = |v: Option<Vec<u8>>| Captured { bytes: v.unwrap_or_default(), truncated: false };
        let a = &mut raw.args;
        match name {
            "open" | "creat" => {
                raw.strings = vec![s(text("name"))];
                a[1] = open_flags(int("flags").unwrap_or(0) as u32) as u64;
                a[2] = int("mode").unwrap_or(0) as u64;
                if name == "creat" {
                    a[1] = int("mode").unwrap_or(0) as u64;
                }
            }
            "openat" | "openat2" => {
                a[0] = dirfd(int("dirfd"));
                raw.strings = vec![s(text("name"))];
                let flags = open_flags(int("flags").unwrap_or(0) as u32) as u64;
                let mode = int("mode").unwrap_or(0) as u64;
                a[2] = flags;
                a[3] = mode;
                if name == "openat2" {
                    let resolve = int("resolve").unwrap_or(0) as u64;
                    let mut how = flags.to_le_bytes().to_vec();
                    how.extend(mode.to_le_bytes());
                    how.extend(resolve.to_le_bytes());
                    raw.data = Some(Captured { bytes: how, truncated: false });
                }
            }
            "execve" | "execveat" => return self.execve(ev, enter, raw),
            "clone" | "clone3" | "fork" | "vfork" => return self.clone(ev, raw),
            "dup" | "dup2" | "dup3" => {
                a[0] = int("oldfd").or_else(|| int("fd")).unwrap_or(-1) as u64;
                a[1] = int("newfd").unwrap_or(0) as u64;
                a[2] = int("flags").map_or(0, |f| open_flags(f as u32) as u64);
            }
            "socket" | "socketpair" => {
                a[0] = int("domain").unwrap_or(0) as u64;
                a[1] = int("type").unwrap_or(0) as u64;
                a[2] = int("proto").unwrap_or(0) as u64;
            }
            "connect" | "bind" | "sendto" | "sendmsg" | "recvfrom" | "recvmsg" | "accept" | "accept4" => {
                self.socket_call(ev, enter, &mut raw, name)
            }
            "listen" => {
                a[0] = int("fd").unwrap_or(-1) as u64;
                a[1] = int("backlog").unwrap_or(0) as u64;
            }
            "chdir" | "mkdir" | "rmdir" | "unlink" | "chmod" | "chown" | "lchown" | "umount" | "umount2"
            | "memfd_create" => {
                let path = text("path").or_else(|| text("name")).or_else(|| text("filename"));
                raw.strings = vec![s(path)];
                a[1] = int("mode").or_else(|| int("uid")).or_else(|| int("flags")).unwrap_or(0) as u64;
                a[2] = int("gid").unwrap_or(0) as u64;
            }
            "unlinkat" | "mkdirat" | "fchmodat" | "fchownat" => {
                a[0] = dirfd(int("dirfd"));
                let path = text("name")
                    .or_else(|| text("path"))
                    .or_else(|| text("pathname"))
                    .or_else(|| text("filename"));
                raw.strings = vec![s(path)];
                a[2] = int("mode").or_else(|| int("flags")).or_else(|| int("uid")).unwrap_or(0) as u64;
                a[3] = int("gid").unwrap_or(0) as u64;
            }
            "rename" | "link" | "symlink" => {
                let first = text("oldpath").or_else(|| text("target"));
                let second = text("newpath").or_else(|| text("linkpath"));
                raw.strings = vec![s(first), s(second)];
            }
            "renameat" | "renameat2" | "linkat" => {
                a[0] = dirfd(int("olddirfd").or_else(|| int("olddir")));
                a[2] = dirfd(int("newdirfd").or_else(|| int("newdir")));
                a[4] = int("flags").unwrap_or(0) as u64;
                raw.strings = vec![s(text("oldpath")), s(text("newpath"))];
            }
            "symlinkat" => {
                a[1] = dirfd(int("linkdirfd"));
                raw.strings = vec![s(text("target")), s(text("linkpath"))];
            }
            "mount" => {
                a[3] = int("flags").unwrap_or(0) as u64;
                raw.strings = vec![s(text("dev")), s(text("dir")), s(text("type"))];
            }
            "setuid" | "setgid" | "setresuid" | "setresgid" => {
                let keys: &[&str] = match name {
                    "setuid" => &["uid"],
                    "setgid" => &["gid"],
                    "setresuid" => &["ruid", "euid", "suid"],
                    _ => &["rgid", "egid", "sgid"],
                };
                for (i, k) in keys.iter().enumerate() {
                    a[i] = int(k).unwrap_or(-1) as u64;
                }
                if ret == 0
                    && let (Some(c), Some(id)) = (self.ctx.get_mut(&ev.tid), int(keys[0]))
                    && id as i32 != -1
                {
                    if name.ends_with("uid") {
                        c.uid = id as u32;
                    } else {
                        c.gid = id as u32;
                    }
                }
                // The record says the credentials the thread has after the call.
                if let Some(c) = self.ctx.get(&ev.tid) {
                    raw.uid = c.uid;
                    raw.gid = c.gid;
                }
            }
            "capset" => {
                if ret == 0
                    && let Some(c) = self.ctx.get_mut(&ev.tid)
                {
                    c.cap_effective = int("cap_effective").unwrap_or(0) as u64;
                    c.cap_permitted = int("cap_permitted").unwrap_or(0) as u64;
                    raw.cap_effective = c.cap_effective;
                    raw.cap_permitted = c.cap_permitted;
                }
            }
            "kill" | "tkill" => {
                a[0] = int("pid").or_else(|| int("tid")).unwrap_or(0) as u64;
                a[1] = int("sig").unwrap_or(0) as u64;
            }
            "tgkill" => {
                a[0] = int("pid").unwrap_or(0) as u64;
                a[1] = int("tid").unwrap_or(0) as u64;
                a[2] = int("sig").unwrap_or(0) as u64;
            }
            "ptrace" => {
                a[0] = int("request").unwrap_or(0) as u64;
                a[1] = int("pid").unwrap_or(0) as u64;
            }
            "setpgid" => {
                a[0] = int("pid").unwrap_or(0) as u64;
                a[1] = int("pgid").unwrap_or(0) as u64;
            }
            "unshare" | "userfaultfd" => a[0] = int("flags").unwrap_or(0) as u64,
            "setns" => {
                a[0] = int("fd").unwrap_or(-1) as u64;
                a[1] = int("nstype").unwrap_or(0) as u64;
            }
            "fcntl" => {
                a[0] = int("fd").unwrap_or(-1) as u64;
                a[1] = int("cmd").unwrap_or(0) as u64;
                a[2] = int("arg").unwrap_or(0) as u64;
            }
            "init_module" | "finit_module" => {
                a[0] = int("fd").unwrap_or(0) as u64;
                raw.strings = vec![s(text("uargs"))];
            }
            _ => {
                // Calls on an fd (read, write, close, fstat, mmap, ...): the fd is the first
                // argument. The data read or written, when the file has it.
                a[0] = int("fd").unwrap_or(-1) as u64;
                a[2] = int("size").or_else(|| int("length")).unwrap_or(0) as u64;
                if let Some(d) = get("data").and_then(|p| p.as_bytes()) {
                    raw.data = Some(Captured { bytes: d.to_vec(), truncated: false });
                }
            }
        }
        self.push(raw);
    }

    fn socket_call(&self, ev: &Event, enter: Option<&Event>, raw: &mut RawEvent, name: &str) {
        let get = |n: &str| {
            ev.param_named(n).filter(|p| *p != Param::Empty).or_else(|| enter.and_then(|e| e.param_named(n)))
        };
        let accept = name.starts_with("accept");
        // accept returns the new socket; the other calls act on their fd argument.
        raw.args[0] = if accept { 0 } else { get("fd").and_then(|p| p.as_i64()).unwrap_or(-1) as u64 };
        if name == "accept4" {
            raw.args[3] = get("flags").and_then(|p| p.as_i64()).unwrap_or(0) as u64;
        }
        if let Some(Param::SockAddr(lanner_scap::SockAddr::Inet(addr))) = get("addr") {
            raw.sockaddr = Some(SockAddr::Inet(addr));
        } else if let Some(Param::SockAddr(lanner_scap::SockAddr::Unix(p))) = get("addr") {
            raw.sockaddr = Some(SockAddr::Unix(p));
        }
        if let Some(Param::SockTuple(lanner_scap::SockTuple::Inet { src, dst })) = get("tuple") {
            // scap's tuple runs from the side that started the connection (the client) to
            // the other: for a receiving or accepting server that is remote then local.
            let inbound = accept || name.starts_with("recv");
            let (local, remote) = if inbound { (dst, src) } else { (src, dst) };
            raw.tuple = Some(SockTuple { local, remote: Some(remote) });
            // The address connect and sendto were given is the remote end of the tuple
            // (older captures do not carry it separately).
            if raw.sockaddr.is_none() && name != "bind" {
                raw.sockaddr = Some(SockAddr::Inet(remote));
            }
        }
        if let Some(d) = get("data").and_then(|p| p.as_bytes().map(<[u8]>::to_vec)) {
            raw.data = Some(Captured { bytes: d, truncated: false });
        }
    }

    fn execve(&mut self, ev: &Event, enter: Option<&Event>, mut raw: RawEvent) {
        let p = |n: &str| ev.param_named(n).filter(|p| *p != Param::Empty);
        let bytes = |n: &str| p(n).and_then(|v| v.as_bytes()).unwrap_or_default().to_vec();
        let int = |n: &str| p(n).and_then(|v| v.as_i64());
        if raw.ret != 0 {
            // A failed exec changes nothing: only the syscall's own record.
            let file = enter
                .and_then(|e| e.param_named("filename").or_else(|| e.param_named("pathname")))
                .and_then(|v| v.as_bytes().map(<[u8]>::to_vec))
                .unwrap_or_default();
            raw.strings = vec![Captured { bytes: file, truncated: false }];
            self.push(raw);
            return;
        }
        let pid = int("pid").map_or(raw.tgid, |v| v as u32);
        let c = self.ctx.entry(ev.tid).or_default();
        c.pid = pid;
        if let Some(pt) = int("ptid") {
            c.ppid = pt as u32;
        }
        let comm = p("comm").and_then(|v| v.as_bytes()).map(|b| String::from_utf8_lossy(b).into_owned());
        // Before comm was an execve parameter, Falco took the executable's base name.
        let exe = bytes("exe");
        let comm = comm.unwrap_or_else(|| {
            let e = String::from_utf8_lossy(&exe).into_owned();
            e.rsplit('/').next().unwrap_or_default().chars().take(15).collect()
        });
        c.comm = comm.clone();
        if let Some(u) = int("uid") {
            c.uid = u as u32;
        }
        if let Some(g) = int("gid") {
            c.gid = g as u32;
        }
        if let Some(l) = int("loginuid") {
            c.loginuid = l as u32;
        }
        if let Some(v) = int("cap_effective") {
            c.cap_effective = v as u64;
        }
        if let Some(v) = int("cap_permitted") {
            c.cap_permitted = v as u64;
        }
        let c = c.clone();
        let filename = p("filename")
            .or_else(|| p("trusted_exepath"))
            .or_else(|| enter.and_then(|e| e.param_named("filename").or_else(|| e.param_named("pathname"))))
            .and_then(|v| v.as_bytes().map(<[u8]>::to_vec))
            .unwrap_or_else(|| exe.clone());
        let mut argv = exe.clone();
        argv.push(0);
        argv.extend(bytes("args"));
        let cap = |b: Vec<u8>| Captured { bytes: b, truncated: false };
        let mut exec = self.base(ev, RecordKind::Exec);
        exec.tgid = pid;
        exec.ppid = c.ppid;
        exec.comm = comm.clone();
        exec.uid = c.uid;
        exec.gid = c.gid;
        exec.loginuid = c.loginuid;
        exec.cap_effective = c.cap_effective;
        exec.cap_permitted = c.cap_permitted;
        exec.tty = int("tty").unwrap_or(0) as u32;
        exec.strings = vec![cap(filename.clone()), cap(argv), cap(bytes("env"))];
        exec.exec = Some(ExecInfo {
            ino: int("exe_ino").unwrap_or(0) as u64,
            ctime_ns: int("exe_ino_ctime").unwrap_or(0) as u64,
            mtime_ns: int("exe_ino_mtime").unwrap_or(0) as u64,
            vpid: 0,
            vpgid: int("vpgid").unwrap_or(0) as u32,
            pgid: int("pgid").unwrap_or(0) as u32,
            ..ExecInfo::default()
        });
        if let Some(cwd) = p("cwd").and_then(|v| v.as_bytes()) {
            self.queue.push_back(Item::Cwd { pid, cwd: String::from_utf8_lossy(cwd).into_owned() });
        }
        self.push(exec);
        raw.tgid = pid;
        raw.comm = comm;
        raw.strings = vec![cap(filename)];
        self.push(raw);
    }

    fn clone(&mut self, ev: &Event, mut raw: RawEvent) {
        let p = |n: &str| ev.param_named(n).filter(|p| *p != Param::Empty);
        let int = |n: &str| p(n).and_then(|v| v.as_i64());
        let flags = int("flags").unwrap_or(0) as u32;
        let thread = flags & PPM_CL_CLONE_THREAD != 0;
        raw.args[0] = clone_flags(flags);
        let ret = raw.ret;
        if ret < 0 {
            self.push(raw);
            return;
        }
        let (child_tid, child_pid, parent_pid) = if ret == 0 {
            // In the child: its own ids; its parent is ptid (for a thread, the process's
            // parent: the thread's creator is in the same process).
            let tid = ev.tid;
            let pid = int("pid").map_or(tid, |v| v as u64);
            let creator = if thread { pid } else { int("ptid").map_or(0, |v| v as u64) };
            (tid, pid, creator)
        } else {
            let pid = if thread { raw.tgid as u64 } else { ret as u64 };
            (ret as u64, pid, raw.tgid as u64)
        };
        if self.forked.insert(child_tid) {
            // The fork record, from the parent's side, before the child's first record.
            let parent_ctx = self.ctx.values().find(|c| c.pid as u64 == parent_pid).cloned();
            let mut fork = raw.clone();
            fork.kind = RecordKind::Fork { child_tgid: child_pid as u32, child_tid: child_tid as u32 };
            fork.ret = 0;
            fork.strings.clear();
            if ret == 0 {
                // Seen from the child: present the parent.
                let pc = parent_ctx.clone().unwrap_or_default();
                fork.tgid = parent_pid as u32;
                fork.tid = parent_pid as u32;
                fork.ppid = pc.ppid;
                if !pc.comm.is_empty() {
                    fork.comm = pc.comm.clone();
                }
            }
            fork.vtid = int("vtid").map_or(0, |v| v as u32);
            self.push(fork);
        }
        // The child's facts: the parent's, with what the event says.
        let mut child = if ret == 0 {
            self.ctx.values().find(|c| c.pid as u64 == parent_pid).cloned().unwrap_or_default()
        } else {
            self.ctx.get(&ev.tid).cloned().unwrap_or_default()
        };
        child.pid = child_pid as u32;
        if !thread {
            child.ppid = parent_pid as u32;
        }
        if ret == 0 {
            if let Some(c) = p("comm").and_then(|v| v.as_bytes()) {
                child.comm = String::from_utf8_lossy(c).into_owned();
            }
            if let Some(u) = int("uid") {
                child.uid = u as u32;
            }
            if let Some(g) = int("gid") {
                child.gid = g as u32;
            }
            self.ctx.insert(child_tid, child.clone());
            raw.tgid = child.pid;
            raw.ppid = child.ppid;
            raw.comm = child.comm.clone();
            raw.uid = child.uid;
            raw.gid = child.gid;
            if let Some(cwd) = p("cwd").and_then(|v| v.as_bytes()) {
                self.queue
                    .push_back(Item::Cwd { pid: child.pid, cwd: String::from_utf8_lossy(cwd).into_owned() });
            }
        } else {
            self.ctx.entry(child_tid).or_insert(child);
        }
        self.push(raw);
    }
}

const PPM_CL_CLONE_THREAD: u32 = 1 << 13;

/// The x86_64 syscall an event stands for: by name, or for libs' generic events by the
/// native number they carry.
fn syscall_nr(ev: &Event, enter: Option<&Event>) -> Option<u32> {
    let info = ev.info()?;
    if info.name == "syscall" {
        let native = |e: &Event| e.param_named("nativeID").and_then(|p| p.as_u64());
        return native(ev).or_else(|| enter.and_then(native)).map(|n| n as u32);
    }
    if info.category & EC_SYSCALL == 0 {
        return None;
    }
    // libs names pread64/pwrite64 without the suffix, and its umount is umount2.
    let alias = match info.name {
        "pread" => "pread64",
        "pwrite" => "pwrite64",
        "umount" => "umount2",
        n => n,
    };
    lanner_capture::syscalls::number(info.name).or_else(|| lanner_capture::syscalls::number(alias))
}

/// `EC_SYSCALL`: the event comes from a syscall.
const EC_SYSCALL: u32 = 1 << 9;

fn dirfd(v: Option<i64>) -> u64 {
    // libs writes AT_FDCWD as -100, as the kernel does.
    v.unwrap_or(-100) as u64
}

/// libs' open flags (`PPM_O_*`) as the kernel's.
pub fn open_flags(ppm: u32) -> u32 {
    let mut k = match ppm & 3 {
        2 => libc::O_WRONLY,
        3 => libc::O_RDWR,
        _ => libc::O_RDONLY,
    } as u32;
    let map: [(u32, i32); 12] = [
        (1 << 2, libc::O_CREAT),
        (1 << 3, libc::O_APPEND),
        (1 << 4, libc::O_DSYNC),
        (1 << 5, libc::O_EXCL),
        (1 << 6, libc::O_NONBLOCK),
        (1 << 7, libc::O_SYNC),
        (1 << 8, libc::O_TRUNC),
        (1 << 9, libc::O_DIRECT),
        (1 << 10, libc::O_DIRECTORY),
        (1 << 11, libc::O_LARGEFILE),
        (1 << 12, libc::O_CLOEXEC),
        (1 << 13, libc::O_TMPFILE),
    ];
    for (p, kf) in map {
        if ppm & p != 0 {
            k |= kf as u32;
        }
    }
    k
}

/// libs' clone flags (`PPM_CL_*`) as the kernel's.
fn clone_flags(ppm: u32) -> u64 {
    let map: [(u32, i32); 17] = [
        (1 << 0, libc::CLONE_FILES),
        (1 << 1, libc::CLONE_FS),
        (1 << 2, libc::CLONE_IO),
        (1 << 3, libc::CLONE_NEWIPC),
        (1 << 4, libc::CLONE_NEWNET),
        (1 << 5, libc::CLONE_NEWNS),
        (1 << 6, libc::CLONE_NEWPID),
        (1 << 7, libc::CLONE_NEWUTS),
        (1 << 8, libc::CLONE_PARENT),
        (1 << 9, libc::CLONE_PARENT_SETTID),
        (1 << 10, libc::CLONE_PTRACE),
        (1 << 11, libc::CLONE_SIGHAND),
        (1 << 12, libc::CLONE_SYSVSEM),
        (1 << 13, libc::CLONE_THREAD),
        (1 << 14, libc::CLONE_UNTRACED),
        (1 << 15, libc::CLONE_VM),
        (1 << 20, libc::CLONE_NEWUSER),
    ];
    map.iter().filter(|(p, _)| ppm & p != 0).fold(0u64, |k, (_, f)| k | *f as u32 as u64)
}

fn ctx_of(t: &ThreadInfo) -> Ctx {
    Ctx {
        pid: t.pid as u32,
        ppid: t.ptid as u32,
        uid: t.uid,
        gid: t.gid,
        loginuid: t.loginuid,
        cap_effective: t.cap_effective,
        cap_permitted: t.cap_permitted,
        comm: t.comm.clone(),
    }
}

/// Loads the file's process and fd tables into `state`, as `/proc` seeds a live run.
/// Returns how many processes it holds.
pub fn seed(state: &mut State, tables: &Tables) -> usize {
    // User and group names are the capturing machine's, when the file has its list.
    if !tables.users.is_empty() || !tables.groups.is_empty() {
        state.users = lanner_state::users::Users::from_entries(
            tables.users.iter().map(|u| {
                let user = lanner_state::users::User {
                    name: u.name.clone(),
                    gid: u.gid,
                    home: u.homedir.clone(),
                    shell: u.shell.clone(),
                };
                (u.uid, user)
            }),
            tables.groups.iter().map(|g| (g.gid, g.name.clone())),
        );
    }
    let max_fds = state.table.limits.max_fds;
    for t in tables.threads.values() {
        let (tid, pid) = (t.tid as u32, t.pid as u32);
        state.table.threads.insert(tid, pid);
        if t.vtid > 0 && t.tid != t.pid && t.vtid as u64 != t.tid {
            state.table.vtids.insert(tid, t.vtid as u32);
        }
        let p = state.table.procs.entry(pid).or_insert_with(|| Process::unknown(pid));
        if tid == pid || p.comm.is_empty() {
            fill_process(p, t);
        }
        for f in &t.fds {
            if let Some(fd) = fd_of(f) {
                p.fds.insert(f.fd, fd, 0, max_fds);
            }
        }
    }
    state.table.procs.len()
}

fn fill_process(p: &mut Process, t: &ThreadInfo) {
    p.ppid = t.ptid as u32;
    p.sid = t.sid.max(0) as u32;
    p.pgid = t.pgid.max(0) as u32;
    p.vpid = if t.vpid > 0 { t.vpid as u32 } else { t.pid as u32 };
    p.vpgid = t.vpgid.max(0) as u32;
    p.exe = t.exe.clone();
    p.exepath = t.exepath.clone();
    p.env = Arc::new(t.env.clone());
    p.cwd = t.cwd.trim_end_matches('/').to_string();
    if p.cwd.is_empty() && t.cwd.starts_with('/') {
        p.cwd = "/".into();
    }
    p.uid = t.uid;
    p.gid = t.gid;
    p.loginuid = t.loginuid;
    p.tty = t.tty;
    p.cap_effective = t.cap_effective;
    p.cap_permitted = t.cap_permitted;
    p.exe_writable = t.exe_writable;
    p.exe_upper_layer = t.exe_upper_layer;
    p.exe_lower_layer = t.exe_lower_layer;
    p.exe_from_memfd = t.exe_from_memfd;
    p.set_exe_inode(t.exe_ino, t.exe_ino_ctime, t.exe_ino_mtime);
    p.set_command(&t.comm, t.args.clone());
}

fn l4(proto: u8) -> L4 {
    match proto {
        2 => L4::Tcp,
        3 => L4::Udp,
        4 => L4::Icmp,
        5 => L4::Raw,
        _ => L4::Unknown,
    }
}

fn fd_of(f: &lanner_scap::FdInfo) -> Option<Fd> {
    let named = |kind: FdKind, name: &str, flags: u32| {
        let n: Arc<str> = Arc::from(name);
        Fd::path(kind, n.clone(), n, flags)
    };
    let sock = |kind: FdKind, s: Sock| {
        let mut fd = Fd::socket(kind, 0, Some(s));
        fd.rename_socket();
        fd
    };
    let inet = |a: &SocketAddr| if a.is_ipv4() { FdKind::Ipv4 } else { FdKind::Ipv6 };
    Some(match &f.target {
        FdTarget::File { open_flags: fl, name, .. } => named(FdKind::File, name, open_flags(*fl)),
        FdTarget::Named { name } => {
            let kind = match f.fd_type {
                fd_type::FILE => FdKind::File,
                fd_type::DIRECTORY => FdKind::Directory,
                fd_type::FIFO => FdKind::Pipe,
                fd_type::EVENT => FdKind::Event,
                fd_type::SIGNALFD => FdKind::Signal,
                fd_type::INOTIFY => FdKind::Inotify,
                fd_type::BPF => FdKind::Bpf,
                fd_type::USERFAULTFD => FdKind::Userfault,
                fd_type::MEMFD => FdKind::Memfd,
                fd_type::NETLINK => FdKind::OtherSocket,
                _ => FdKind::Unknown,
            };
            named(kind, name, 0)
        }
        FdTarget::Ipv4Sock { src, dst, l4proto } | FdTarget::Ipv6Sock { src, dst, l4proto } => sock(
            inet(src),
            Sock {
                l4: l4(*l4proto),
                local: Some(*src),
                remote: Some(*dst),
                unix_path: None,
                connected: true,
                is_server: false,
                name_changed: false,
            },
        ),
        FdTarget::Ipv4Server { addr, l4proto } | FdTarget::Ipv6Server { addr, l4proto } => sock(
            inet(addr),
            Sock {
                l4: l4(*l4proto),
                local: Some(*addr),
                remote: None,
                unix_path: None,
                connected: false,
                is_server: true,
                name_changed: false,
            },
        ),
        FdTarget::Unix { path, .. } => sock(
            FdKind::Unix,
            Sock {
                l4: L4::Unknown,
                local: None,
                remote: None,
                unix_path: Some(path.clone()).filter(|p| !p.is_empty()),
                connected: true,
                is_server: false,
                name_changed: false,
            },
        ),
        FdTarget::Unsupported => return None,
    })
}

/// One line saying what was skipped, `None` when nothing was.
pub fn skipped_warning(path: &Path, s: &Skipped) -> Option<String> {
    if s.unknown.is_empty() {
        return None;
    }
    let list: Vec<String> = s.unknown.iter().map(|(c, n)| format!("type {c}: {n}")).collect();
    Some(format!(
        "{}: {} events of types this reader's event table does not define were skipped ({})",
        path.display(),
        s.unknown.values().sum::<u64>(),
        list.join(", ")
    ))
}

/// One line listing the known events that have no Lanner counterpart.
pub fn unmapped_note(path: &Path, s: &Skipped) -> Option<String> {
    if s.unmapped.is_empty() {
        return None;
    }
    let list: Vec<String> = s.unmapped.iter().map(|(c, n)| format!("{c}: {n}")).collect();
    Some(format!(
        "{}: {} events with no Lanner counterpart were not evaluated ({})",
        path.display(),
        s.unmapped.values().sum::<u64>(),
        list.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libs_open_flags_become_the_kernels() {
        // O_RDONLY|O_CLOEXEC as libs writes it (4097), O_WRONLY|O_CREAT|O_TRUNC (262).
        assert_eq!(open_flags(4097), libc::O_RDONLY as u32 | libc::O_CLOEXEC as u32);
        assert_eq!(open_flags(262), (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u32);
        assert_eq!(open_flags(3), libc::O_RDWR as u32);
        assert_eq!(clone_flags(PPM_CL_CLONE_THREAD | 1 << 15), (libc::CLONE_THREAD | libc::CLONE_VM) as u64);
    }
}
