//! The syscall fields, answered from a record and the tables.

use crate::args::{self, ArgRef};
use crate::table::{Fd, FdKind, Process};
use crate::{FdView, Prepared, State, caps, paths};
use lanner_capture::record::{RawEvent, RecordKind};
use lanner_event::{Event, EventTypeId, FieldArg, FieldRef, FieldRegistry, FieldText, Value};
use std::borrow::Cow;
use std::net::SocketAddr;

/// Every syscall field this crate answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    EvtType,
    EvtDir,
    EvtNum,
    EvtTime,
    EvtRawTime,
    EvtDatetime,
    EvtSource,
    EvtCpu,
    EvtRes,
    EvtRawRes,
    EvtFailed,
    EvtArgs,
    EvtBuffer,
    EvtArg,
    EvtIsOpenRead,
    EvtIsOpenWrite,
    EvtIsOpenExec,
    EvtIsOpenCreate,
    ProcName,
    ProcExe,
    ProcExePath,
    ProcCmdline,
    ProcArgs,
    ProcPid,
    ProcPpid,
    ProcVpid,
    ProcPvpid,
    ProcPgid,
    ProcIsPgidLeader,
    ThreadVtid,
    ProcPname,
    ProcPcmdline,
    ProcPexe,
    ProcPexePath,
    ProcAname,
    ProcApid,
    ProcAexe,
    ProcAexePath,
    ProcTty,
    ProcSid,
    ProcSname,
    ProcVpgid,
    ProcVpgidName,
    ProcVpgidExe,
    ProcIsVpgidLeader,
    ProcIsSidLeader,
    ProcCwd,
    ProcEnv,
    ProcDuration,
    ProcPpidDuration,
    ProcIsExeFromMemfd,
    ProcIsExeWritable,
    ProcIsExeUpperLayer,
    ProcIsExeLowerLayer,
    ProcExeIno,
    ProcExeInoCtime,
    ProcExeInoMtime,
    ProcExeInoCtimeToStart,
    /// proc.stdin/stdout/stderr.type: the kind of fd 0, 1 or 2.
    ProcStdType(i64),
    /// proc.stdin/stdout/stderr.name: the name of fd 0, 1 or 2.
    ProcStdName(i64),
    FdTypes,
    ThreadTid,
    ThreadCapEffective,
    ThreadCapPermitted,
    UserName,
    UserUid,
    UserLoginUid,
    UserLoginName,
    UserHome,
    UserShell,
    GroupName,
    GroupGid,
    FdNum,
    FdName,
    FdNameRaw,
    FdDirectory,
    FdFilename,
    FdType,
    FdTypechar,
    FdL4proto,
    FdSockfamily,
    FdIp,
    FdSip,
    FdCip,
    FdRip,
    FdLip,
    FdPort,
    FdSport,
    FdCport,
    FdRport,
    FdLport,
    FdNet,
    FdSnet,
    FdCnet,
    FdRnet,
    FdLnet,
    FdConnected,
    FdNameChanged,
    FdIsServer,
    /// fd.sip.name, fd.cip.name, fd.rip.name, fd.lip.name: names of an address (dns.rs).
    FdIpName(IpEnd),
    ContainerId,
}

/// Which address of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IpEnd {
    Server,
    Client,
    Remote,
    Local,
}

const NAMES: &[(&str, F)] = &[
    ("evt.type", F::EvtType),
    ("evt.dir", F::EvtDir),
    ("evt.num", F::EvtNum),
    ("evt.time", F::EvtTime),
    ("evt.rawtime", F::EvtRawTime),
    ("evt.datetime", F::EvtDatetime),
    ("evt.time.iso8601", F::EvtDatetime),
    ("evt.source", F::EvtSource),
    ("evt.cpu", F::EvtCpu),
    ("evt.res", F::EvtRes),
    ("evt.rawres", F::EvtRawRes),
    ("evt.failed", F::EvtFailed),
    ("evt.args", F::EvtArgs),
    ("evt.buffer", F::EvtBuffer),
    ("evt.arg", F::EvtArg),
    ("evt.is_open_read", F::EvtIsOpenRead),
    ("evt.is_open_write", F::EvtIsOpenWrite),
    ("evt.is_open_exec", F::EvtIsOpenExec),
    ("evt.is_open_create", F::EvtIsOpenCreate),
    ("proc.name", F::ProcName),
    ("proc.exe", F::ProcExe),
    ("proc.exepath", F::ProcExePath),
    ("proc.cmdline", F::ProcCmdline),
    ("proc.args", F::ProcArgs),
    ("proc.pid", F::ProcPid),
    ("proc.ppid", F::ProcPpid),
    ("proc.vpid", F::ProcVpid),
    ("proc.pvpid", F::ProcPvpid),
    ("proc.pgid", F::ProcPgid),
    ("proc.is_pgid_leader", F::ProcIsPgidLeader),
    ("thread.vtid", F::ThreadVtid),
    ("proc.pname", F::ProcPname),
    ("proc.pcmdline", F::ProcPcmdline),
    ("proc.pexe", F::ProcPexe),
    ("proc.pexepath", F::ProcPexePath),
    ("proc.aname", F::ProcAname),
    ("proc.apid", F::ProcApid),
    ("proc.aexe", F::ProcAexe),
    ("proc.aexepath", F::ProcAexePath),
    ("proc.tty", F::ProcTty),
    ("proc.sid", F::ProcSid),
    ("proc.sname", F::ProcSname),
    ("proc.vpgid", F::ProcVpgid),
    ("proc.vpgid.name", F::ProcVpgidName),
    ("proc.vpgid.exe", F::ProcVpgidExe),
    ("proc.is_vpgid_leader", F::ProcIsVpgidLeader),
    ("proc.is_sid_leader", F::ProcIsSidLeader),
    ("proc.cwd", F::ProcCwd),
    ("proc.env", F::ProcEnv),
    ("proc.duration", F::ProcDuration),
    ("proc.ppid.duration", F::ProcPpidDuration),
    ("proc.is_exe_from_memfd", F::ProcIsExeFromMemfd),
    ("proc.is_exe_writable", F::ProcIsExeWritable),
    ("proc.is_exe_upper_layer", F::ProcIsExeUpperLayer),
    ("proc.is_exe_lower_layer", F::ProcIsExeLowerLayer),
    ("proc.exe_ino", F::ProcExeIno),
    ("proc.exe_ino.ctime", F::ProcExeInoCtime),
    ("proc.exe_ino.mtime", F::ProcExeInoMtime),
    ("proc.exe_ino.ctime_duration_proc_start", F::ProcExeInoCtimeToStart),
    ("proc.stdin.type", F::ProcStdType(0)),
    ("proc.stdout.type", F::ProcStdType(1)),
    ("proc.stderr.type", F::ProcStdType(2)),
    ("proc.stdin.name", F::ProcStdName(0)),
    ("proc.stdout.name", F::ProcStdName(1)),
    ("proc.stderr.name", F::ProcStdName(2)),
    ("fd.types", F::FdTypes),
    ("thread.tid", F::ThreadTid),
    ("thread.cap_effective", F::ThreadCapEffective),
    ("thread.cap_permitted", F::ThreadCapPermitted),
    ("user.name", F::UserName),
    ("user.uid", F::UserUid),
    ("user.loginuid", F::UserLoginUid),
    ("user.loginname", F::UserLoginName),
    ("user.homedir", F::UserHome),
    ("user.shell", F::UserShell),
    ("group.name", F::GroupName),
    ("group.gid", F::GroupGid),
    ("fd.num", F::FdNum),
    ("fd.name", F::FdName),
    ("fd.nameraw", F::FdNameRaw),
    ("fd.directory", F::FdDirectory),
    ("fd.filename", F::FdFilename),
    ("fd.type", F::FdType),
    ("fd.typechar", F::FdTypechar),
    ("fd.l4proto", F::FdL4proto),
    ("fd.sockfamily", F::FdSockfamily),
    ("fd.ip", F::FdIp),
    ("fd.sip", F::FdSip),
    ("fd.cip", F::FdCip),
    ("fd.rip", F::FdRip),
    ("fd.lip", F::FdLip),
    ("fd.port", F::FdPort),
    ("fd.sport", F::FdSport),
    ("fd.cport", F::FdCport),
    ("fd.rport", F::FdRport),
    ("fd.lport", F::FdLport),
    ("fd.net", F::FdNet),
    ("fd.snet", F::FdSnet),
    ("fd.cnet", F::FdCnet),
    ("fd.rnet", F::FdRnet),
    ("fd.lnet", F::FdLnet),
    ("fd.connected", F::FdConnected),
    ("fd.name_changed", F::FdNameChanged),
    ("fd.is_server", F::FdIsServer),
    ("fd.sip.name", F::FdIpName(IpEnd::Server)),
    ("fd.cip.name", F::FdIpName(IpEnd::Client)),
    ("fd.rip.name", F::FdIpName(IpEnd::Remote)),
    ("fd.lip.name", F::FdIpName(IpEnd::Local)),
    ("container.id", F::ContainerId),
];

/// Which of the registry's fields this crate answers, by field id: built once per
/// registry, so that answering a field is an index, not a name lookup.
#[derive(Debug, Clone)]
pub struct FieldMap {
    by_id: Vec<Option<F>>,
}

impl FieldMap {
    /// Maps a registry's fields.
    pub fn new(reg: &FieldRegistry) -> Self {
        let by_id =
            reg.iter().map(|(_, def)| NAMES.iter().find(|(n, _)| *n == def.name).map(|(_, f)| *f)).collect();
        FieldMap { by_id }
    }

    /// The names of the fields answered.
    pub fn supported() -> impl Iterator<Item = &'static str> {
        NAMES.iter().map(|(n, _)| *n)
    }
}

/// A live event as rules see it.
pub struct LiveEvent<'a> {
    state: &'a State,
    raw: &'a RawEvent,
    prep: &'a Prepared,
    map: &'a FieldMap,
    proc: Option<&'a Process>,
}

fn s(v: &str) -> Option<Value<'_>> {
    Some(Value::Str(Cow::Borrowed(v)))
}

/// `None` for 0: fields Falco leaves unset while unknown.
fn nonzero(v: u64) -> Option<u64> {
    (v != 0).then_some(v)
}

fn owned<'a>(v: String) -> Option<Value<'a>> {
    Some(Value::Str(Cow::Owned(v)))
}

impl<'a> LiveEvent<'a> {
    pub(crate) fn new(state: &'a State, raw: &'a RawEvent, prep: &'a Prepared, map: &'a FieldMap) -> Self {
        LiveEvent { state, raw, prep, map, proc: state.table.process_of(raw.tid) }
    }

    fn fd(&self) -> Option<(i64, &'a Fd)> {
        match &self.prep.fd {
            FdView::None => None,
            FdView::Table(n) => self.proc?.fds.get(n).map(|f| (*n, f)),
            FdView::Owned(n, f) => Some((*n, f)),
        }
    }

    /// A failed open's fd is -1, as in Falco, not the error.
    fn fd_num(&self) -> Option<i64> {
        match &self.prep.fd {
            FdView::None => None,
            FdView::Table(n) | FdView::Owned(n, _) => Some((*n).max(-1)),
        }
    }

    fn args(&self) -> args::Ctx<'a> {
        args::Ctx { state: self.state, raw: self.raw, prep: self.prep, proc: self.proc }
    }

    fn parent(&self) -> Option<&'a Process> {
        self.state.table.ancestor(self.proc?, 1)
    }

    fn ancestors(&self, arg: &FieldArg, get: impl Fn(&'a Process) -> Option<Value<'a>>) -> Option<Value<'a>> {
        let p = self.proc?;
        match arg {
            FieldArg::Index(n) => get(self.state.table.ancestor(p, *n as usize)?),
            _ => {
                let mut out = Vec::new();
                let mut n = 1;
                while let Some(a) = self.state.table.ancestor(p, n) {
                    if let Some(v) = get(a) {
                        out.push(v);
                    }
                    n += 1;
                    if n > 64 {
                        break;
                    }
                }
                Some(Value::List(out))
            }
        }
    }

    fn sock_addrs(&self) -> Option<(Option<SocketAddr>, Option<SocketAddr>, bool)> {
        let (_, f) = self.fd()?;
        let sk = f.sock.as_ref()?;
        Some((sk.local, sk.remote, sk.is_server))
    }

    /// (client, server) addresses, Falco's way.
    fn client_server(&self) -> Option<(Option<SocketAddr>, Option<SocketAddr>)> {
        let (local, remote, server) = self.sock_addrs()?;
        Some(if server { (remote, local) } else { (local, remote) })
    }

    fn open_flags(&self) -> Option<u32> {
        let nr = self.prep.nr? as i64;
        match nr {
            libc::SYS_open => Some(self.raw.args[1] as u32),
            libc::SYS_openat => Some(self.raw.args[2] as u32),
            libc::SYS_openat2 => crate::args::open_how(self.raw).map(|h| h[0] as u32),
            libc::SYS_creat => Some((libc::O_CREAT | libc::O_WRONLY) as u32),
            libc::SYS_open_by_handle_at => Some(self.raw.args[2] as u32),
            crate::args::IO_URING_SUBMIT_NR if crate::args::IORING_OP_OPENS.contains(&self.raw.args[0]) => {
                Some(self.raw.args[2] as u32)
            }
            _ => None,
        }
    }

    fn compute(&self, f: F, arg: &FieldArg) -> Option<Value<'a>> {
        let raw = self.raw;
        let p = self.proc;
        let ip = |a: Option<SocketAddr>| a.map(|a| Value::Ip(a.ip()));
        let port = |a: Option<SocketAddr>| a.map(|a| Value::UInt(a.port() as u64));
        let is_syscall = matches!(raw.kind, RecordKind::Syscall { .. });
        match f {
            F::EvtType => s(self.prep.type_name),
            F::EvtDir => s("<"),
            F::EvtNum => Some(Value::UInt(self.prep.num)),
            F::EvtTime => owned(lanner_event::format_time_of_day(raw.ts_ns)),
            F::EvtDatetime => owned(lanner_event::format_rfc3339(raw.ts_ns)),
            F::EvtRawTime => Some(Value::UInt(raw.ts_ns)),
            F::EvtSource => s(lanner_event::SYSCALL_SOURCE),
            F::EvtCpu => Some(Value::UInt(raw.cpu as u64)),
            F::EvtRes if is_syscall => Some(Value::Str(args::res(&self.args()))),
            F::EvtRawRes if is_syscall => Some(Value::Int(raw.ret)),
            F::EvtFailed if is_syscall => Some(Value::Bool(raw.ret < 0)),
            F::EvtArgs => owned(args::all(&self.args())?),
            F::EvtArg => {
                let which = match arg {
                    FieldArg::Key(k) => ArgRef::Name(k),
                    FieldArg::Index(i) => ArgRef::Index(*i as usize),
                    FieldArg::None => return None,
                };
                owned(args::value(&self.args(), which)?)
            }
            // Kept by the probe only when a loaded rule reads it (the data syscalls' filter).
            // (openat2's record carries its `open_how` there: not a buffer.)
            F::EvtBuffer if self.prep.nr == Some(libc::SYS_openat2 as u32) => None,
            F::EvtBuffer => Some(Value::Bytes(Cow::Borrowed(&raw.data.as_ref()?.bytes))),
            F::EvtIsOpenRead => {
                let fl = self.open_flags()? as i32 & libc::O_ACCMODE;
                Some(Value::Bool(fl == libc::O_RDONLY || fl == libc::O_RDWR))
            }
            F::EvtIsOpenWrite => {
                let fl = self.open_flags()? as i32 & libc::O_ACCMODE;
                Some(Value::Bool(fl == libc::O_WRONLY || fl == libc::O_RDWR))
            }
            // Asked to create (O_CREAT, creat): whether the file existed before is not in the
            // record.
            F::EvtIsOpenCreate => Some(Value::Bool(self.open_flags()? & libc::O_CREAT as u32 != 0)),
            F::EvtIsOpenExec => {
                let fl = self.open_flags()? as i32;
                let mode = match self.prep.nr? as i64 {
                    libc::SYS_open | libc::SYS_creat => {
                        raw.args[if self.prep.nr? as i64 == libc::SYS_open { 2 } else { 1 }]
                    }
                    libc::SYS_openat2 => crate::args::open_how(raw).map_or(0, |h| h[1]),
                    _ => raw.args[3],
                };
                Some(Value::Bool(fl & libc::O_CREAT != 0 && mode & 0o111 != 0))
            }
            F::ProcName => s(&p?.comm),
            F::ProcExe => s(&p?.exe),
            F::ProcExePath => s(&p?.exepath),
            F::ProcCmdline => s(&p?.cmdline),
            F::ProcArgs => s(&p?.args_line),
            F::ProcPid => Some(Value::Int(raw.tgid as i64)),
            F::ProcVpid => Some(Value::Int(p.map_or(raw.tgid, |p| p.vpid) as i64)),
            F::ProcPvpid => Some(Value::Int(self.parent()?.vpid as i64)),
            F::ThreadVtid => {
                Some(Value::Int(p.map_or(raw.tid, |p| self.state.table.vtid(p, raw.tid)) as i64))
            }
            F::ProcPgid => Some(Value::Int(p?.pgid as i64)),
            F::ProcIsPgidLeader => Some(Value::Bool(p?.pgid == raw.tgid)),
            F::ProcPpid => Some(Value::Int(p.map_or(raw.ppid, |p| p.ppid) as i64)),
            F::ProcPname => s(&self.parent()?.comm),
            F::ProcPcmdline => s(&self.parent()?.cmdline),
            F::ProcPexe => s(&self.parent()?.exe),
            F::ProcPexePath => s(&self.parent()?.exepath),
            F::ProcAname => self.ancestors(arg, |a| s(&a.comm)),
            F::ProcApid => self.ancestors(arg, |a| Some(Value::Int(a.pid as i64))),
            F::ProcAexe => self.ancestors(arg, |a| s(&a.exe)),
            F::ProcAexePath => self.ancestors(arg, |a| s(&a.exepath)),
            // The terminal is the process's: exec and fork records carry it, the table keeps
            // it for every other record (Falco's, too, comes from clone and execve only).
            F::ProcTty => Some(Value::UInt(p.map_or(raw.tty, |p| p.tty) as u64)),
            F::ProcSid => Some(Value::Int(p?.sid as i64)),
            F::ProcSname => s(&self.state.table.procs.get(&p?.sid)?.comm),
            F::ProcVpgid => Some(Value::Int(p?.vpgid as i64)),
            F::ProcVpgidName => s(&self.state.table.procs.get(&p?.pgid)?.comm),
            F::ProcVpgidExe => s(&self.state.table.procs.get(&p?.pgid)?.exe),
            F::ProcIsVpgidLeader => Some(Value::Bool(p?.vpgid == p?.vpid)),
            F::ProcIsSidLeader => Some(Value::Bool(p?.sid == raw.tgid)),
            F::ProcCwd => {
                let cwd = &p?.cwd;
                if cwd.is_empty() {
                    None
                } else if cwd.ends_with('/') {
                    s(cwd)
                } else {
                    owned(format!("{cwd}/"))
                }
            }
            F::ProcEnv => match arg {
                FieldArg::Key(k) => s(p?.env_var(k)?),
                _ => owned(p?.env.join(" ")),
            },
            F::ProcDuration => Some(Value::UInt(raw.ts_ns.saturating_sub(p?.start_ns))),
            F::ProcPpidDuration => Some(Value::UInt(raw.ts_ns.saturating_sub(self.parent()?.start_ns))),
            F::ProcIsExeFromMemfd => Some(Value::Bool(p?.exe_from_memfd)),
            F::ProcIsExeWritable => Some(Value::Bool(p?.exe_writable)),
            F::ProcIsExeUpperLayer => Some(Value::Bool(p?.exe_upper_layer)),
            F::ProcIsExeLowerLayer => Some(Value::Bool(p?.exe_lower_layer)),
            // Falco leaves these unset (<NA>) while they are 0.
            F::ProcExeIno => nonzero(p?.exe_ino).map(|v| Value::Int(v as i64)),
            F::ProcExeInoCtime => nonzero(p?.exe_ctime).map(Value::UInt),
            F::ProcExeInoMtime => nonzero(p?.exe_mtime).map(Value::UInt),
            F::ProcExeInoCtimeToStart => nonzero(p?.exe_ctime_to_start).map(Value::UInt),
            F::ProcStdType(n) => s(p?.fds.get(&n)?.kind.type_name()),
            F::ProcStdName(n) => s(&p?.fds.get(&n)?.name),
            F::FdTypes => {
                let fds = &p?.fds;
                match arg {
                    FieldArg::Index(n) => s(fds.get(&(*n as i64))?.kind.type_name()),
                    _ => {
                        // Falco lists each kind once, in fd order.
                        let mut kinds: Vec<&str> = Vec::new();
                        let mut nums: Vec<&i64> = fds.keys().collect();
                        nums.sort_unstable();
                        for k in nums.into_iter().map(|n| fds[n].kind.type_name()) {
                            if !kinds.contains(&k) {
                                kinds.push(k);
                            }
                        }
                        Some(Value::List(kinds.into_iter().map(|k| Value::Str(Cow::Borrowed(k))).collect()))
                    }
                }
            }
            F::ThreadTid => Some(Value::Int(raw.tid as i64)),
            F::ThreadCapEffective => owned(caps::names(raw.cap_effective)),
            F::ThreadCapPermitted => owned(caps::names(raw.cap_permitted)),
            F::UserName => s(&self.state.users.user(raw.uid)?.name),
            F::UserUid => Some(Value::UInt(raw.uid as u64)),
            F::UserLoginUid => {
                Some(Value::Int(if raw.loginuid == u32::MAX { -1 } else { raw.loginuid as i64 }))
            }
            F::UserLoginName => s(&self.state.users.user(raw.loginuid)?.name),
            F::UserHome => s(&self.state.users.user(raw.uid)?.home),
            F::UserShell => s(&self.state.users.user(raw.uid)?.shell),
            F::GroupName => s(self.state.users.group(raw.gid)?),
            F::GroupGid => Some(Value::UInt(raw.gid as u64)),
            F::FdNum => Some(Value::Int(self.fd_num()?)),
            F::FdName => s(&self.fd()?.1.name),
            F::FdNameRaw => {
                let f = self.fd()?.1;
                s(if f.nameraw.is_empty() { &f.name } else { &f.nameraw })
            }
            F::FdDirectory => {
                let f = self.fd()?.1;
                match f.kind {
                    FdKind::Directory => s(&f.name),
                    FdKind::File => s(paths::dirname(&f.name)),
                    _ => None,
                }
            }
            F::FdFilename => {
                let f = self.fd()?.1;
                (f.kind == FdKind::File).then(|| s(paths::basename(&f.name)))?
            }
            F::FdType => s(self.fd()?.1.kind.type_name()),
            F::FdTypechar => s(self.fd()?.1.kind.typechar()),
            F::FdL4proto => s(self.fd()?.1.sock.as_ref()?.l4.as_str()),
            F::FdSockfamily => s(match self.fd()?.1.kind {
                FdKind::Ipv4 | FdKind::Ipv6 => "ip",
                FdKind::Unix => "unix",
                _ => return None,
            }),
            F::FdSip => ip(self.client_server()?.1),
            F::FdCip => ip(self.client_server()?.0),
            F::FdRip => ip(self.sock_addrs()?.1),
            F::FdLip => ip(self.sock_addrs()?.0),
            F::FdSport => port(self.client_server()?.1),
            F::FdCport => port(self.client_server()?.0),
            F::FdRport => port(self.sock_addrs()?.1),
            F::FdLport => port(self.sock_addrs()?.0),
            // The either-end fields are lists: a rule on them matches either address.
            F::FdIp | F::FdNet => {
                let (c, sv) = self.client_server()?;
                Some(Value::List([c, sv].into_iter().flatten().map(|a| Value::Ip(a.ip())).collect()))
            }
            F::FdPort => {
                let (c, sv) = self.client_server()?;
                Some(Value::List(
                    [c, sv].into_iter().flatten().map(|a| Value::UInt(a.port() as u64)).collect(),
                ))
            }
            F::FdSnet => ip(self.client_server()?.1),
            F::FdCnet => ip(self.client_server()?.0),
            F::FdRnet => ip(self.sock_addrs()?.1),
            F::FdLnet => ip(self.sock_addrs()?.0),
            F::FdConnected => Some(Value::Bool(self.fd()?.1.sock.as_ref()?.connected)),
            F::FdNameChanged => Some(Value::Bool(self.fd()?.1.sock.as_ref()?.name_changed)),
            F::FdIsServer => Some(Value::Bool(self.fd()?.1.sock.as_ref()?.is_server)),
            F::FdIpName(end) => {
                let addr = match end {
                    IpEnd::Server => self.client_server()?.1,
                    IpEnd::Client => self.client_server()?.0,
                    IpEnd::Remote => self.sock_addrs()?.1,
                    IpEnd::Local => self.sock_addrs()?.0,
                }?;
                self.state.dns.value(addr.ip())
            }
            F::ContainerId => s(&p?.container_id),
            F::EvtRes | F::EvtRawRes | F::EvtFailed => None,
        }
    }
}

impl Event for LiveEvent<'_> {
    fn source(&self) -> &str {
        lanner_event::SYSCALL_SOURCE
    }

    fn event_type(&self) -> EventTypeId {
        self.prep.etype.unwrap_or(EventTypeId::MAX)
    }

    fn timestamp_ns(&self) -> u64 {
        self.raw.ts_ns
    }

    fn field(&self, field: &FieldRef) -> Option<Value<'_>> {
        let f = (*self.map.by_id.get(field.id.0 as usize)?)?;
        self.compute(f, &field.arg)
    }

    fn param_names(&self) -> Vec<Cow<'_, str>> {
        self.prep.nr.map_or_else(Vec::new, |nr| args::defs(nr).iter().map(|d| Cow::Borrowed(d.0)).collect())
    }

    fn field_text(&self, field: &FieldRef) -> FieldText<'_> {
        match self.field(field) {
            None => FieldText::Missing,
            Some(Value::Str(Cow::Borrowed(v))) => FieldText::Str(v),
            Some(v) => FieldText::Value(v),
        }
    }
}
