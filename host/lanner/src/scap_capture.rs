//! `lanner capture -w FILE.scap`: live records written as a scap file (the format of
//! falcosecurity/libs, which sysdig and Falco read), with the tables of processes, fds and
//! users as they were when the capture started.
//!
//! Lanner's probe gives one record per syscall, at its exit, with the arguments taken at
//! entry; scap files hold an enter and an exit event per syscall, as Falco's drivers emit
//! them. Each record becomes that pair, with the parameters the event types have in the
//! libscap that sysdig 0.29 reads (older forms where a syscall's event type later gained
//! parameters: newer readers take the missing ones as absent). The process details that
//! clone and execve exits carry (executable, arguments, working directory, ids) come from
//! Lanner's own state tables, kept from the same records.
//!
//! What a record cannot become is counted, never dropped unsaid: syscalls with no mapping
//! here, per name, are reported when the capture ends.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use anyhow::{Context, Result};
use lanner_capture::record::{RawEvent, RecordKind, SockAddr};
use lanner_scap::tables::{FdInfo, FdTarget, GroupInfo, MachineInfo, ThreadInfo, UserInfo, fd_type};
use lanner_scap::write::{self as scapw, Params, Writer};
use lanner_state::State;
use lanner_state::table::{FdKind, L4, Process};

/// The scap event codes written here, looked up once by their libs names in the event table.
macro_rules! codes {
    ($($field:ident = $ident:literal),* $(,)?) => {
        #[derive(Clone, Copy)]
        struct Codes { $($field: u16),* }
        impl Codes {
            fn load() -> Self {
                Codes {
                    $($field: lanner_scap::table::event_by_ident($ident)
                        .unwrap_or_else(|| panic!("{} is not in the scap event table", $ident))
                        .code),*
                }
            }
        }
    };
}

codes! {
    open_e = "SYSCALL_OPEN_E",
    open_x = "SYSCALL_OPEN_X",
    creat_e = "SYSCALL_CREAT_E",
    creat_x = "SYSCALL_CREAT_X",
    openat_2_e = "SYSCALL_OPENAT_2_E",
    openat_2_x = "SYSCALL_OPENAT_2_X",
    openat2_e = "SYSCALL_OPENAT2_E",
    openat2_x = "SYSCALL_OPENAT2_X",
    close_e = "SYSCALL_CLOSE_E",
    close_x = "SYSCALL_CLOSE_X",
    read_e = "SYSCALL_READ_E",
    read_x = "SYSCALL_READ_X",
    write_e = "SYSCALL_WRITE_E",
    write_x = "SYSCALL_WRITE_X",
    socket_e = "SOCKET_SOCKET_E",
    socket_x = "SOCKET_SOCKET_X",
    connect_e = "SOCKET_CONNECT_E",
    connect_x = "SOCKET_CONNECT_X",
    bind_e = "SOCKET_BIND_E",
    bind_x = "SOCKET_BIND_X",
    listen_e = "SOCKET_LISTEN_E",
    listen_x = "SOCKET_LISTEN_X",
    accept_5_e = "SOCKET_ACCEPT_5_E",
    accept_5_x = "SOCKET_ACCEPT_5_X",
    accept4_5_e = "SOCKET_ACCEPT4_5_E",
    accept4_5_x = "SOCKET_ACCEPT4_5_X",
    sendto_e = "SOCKET_SENDTO_E",
    sendto_x = "SOCKET_SENDTO_X",
    recvfrom_e = "SOCKET_RECVFROM_E",
    recvfrom_x = "SOCKET_RECVFROM_X",
    dup_e = "SYSCALL_DUP_E",
    dup_x = "SYSCALL_DUP_X",
    unlink_2_e = "SYSCALL_UNLINK_2_E",
    unlink_2_x = "SYSCALL_UNLINK_2_X",
    unlinkat_2_e = "SYSCALL_UNLINKAT_2_E",
    unlinkat_2_x = "SYSCALL_UNLINKAT_2_X",
    mkdirat_e = "SYSCALL_MKDIRAT_E",
    mkdirat_x = "SYSCALL_MKDIRAT_X",
    renameat_e = "SYSCALL_RENAMEAT_E",
    renameat_x = "SYSCALL_RENAMEAT_X",
    execve_19_e = "SYSCALL_EXECVE_19_E",
    execve_19_x = "SYSCALL_EXECVE_19_X",
    clone_20_e = "SYSCALL_CLONE_20_E",
    clone_20_x = "SYSCALL_CLONE_20_X",
    clone3_e = "SYSCALL_CLONE3_E",
    clone3_x = "SYSCALL_CLONE3_X",
    fork_20_e = "SYSCALL_FORK_20_E",
    fork_20_x = "SYSCALL_FORK_20_X",
    vfork_20_e = "SYSCALL_VFORK_20_E",
    vfork_20_x = "SYSCALL_VFORK_20_X",
    procexit_1_e = "PROCEXIT_1_E",
    chdir_e = "SYSCALL_CHDIR_E",
    chdir_x = "SYSCALL_CHDIR_X",
    fchdir_e = "SYSCALL_FCHDIR_E",
    fchdir_x = "SYSCALL_FCHDIR_X",
    mkdir_2_e = "SYSCALL_MKDIR_2_E",
    mkdir_2_x = "SYSCALL_MKDIR_2_X",
    rename_e = "SYSCALL_RENAME_E",
    rename_x = "SYSCALL_RENAME_X",
    renameat2_e = "SYSCALL_RENAMEAT2_E",
    renameat2_x = "SYSCALL_RENAMEAT2_X",
    symlink_e = "SYSCALL_SYMLINK_E",
    symlink_x = "SYSCALL_SYMLINK_X",
    symlinkat_e = "SYSCALL_SYMLINKAT_E",
    symlinkat_x = "SYSCALL_SYMLINKAT_X",
    link_2_e = "SYSCALL_LINK_2_E",
    link_2_x = "SYSCALL_LINK_2_X",
    linkat_2_e = "SYSCALL_LINKAT_2_E",
    linkat_2_x = "SYSCALL_LINKAT_2_X",
    chmod_e = "SYSCALL_CHMOD_E",
    chmod_x = "SYSCALL_CHMOD_X",
    fchmod_e = "SYSCALL_FCHMOD_E",
    fchmod_x = "SYSCALL_FCHMOD_X",
    fchmodat_e = "SYSCALL_FCHMODAT_E",
    fchmodat_x = "SYSCALL_FCHMODAT_X",
    pread_e = "SYSCALL_PREAD_E",
    pread_x = "SYSCALL_PREAD_X",
    pwrite_e = "SYSCALL_PWRITE_E",
    pwrite_x = "SYSCALL_PWRITE_X",
    readv_e = "SYSCALL_READV_E",
    readv_x = "SYSCALL_READV_X",
    writev_e = "SYSCALL_WRITEV_E",
    writev_x = "SYSCALL_WRITEV_X",
    sendmsg_e = "SOCKET_SENDMSG_E",
    sendmsg_x = "SOCKET_SENDMSG_X",
    recvmsg_e = "SOCKET_RECVMSG_E",
    recvmsg_x = "SOCKET_RECVMSG_X",
    kill_e = "SYSCALL_KILL_E",
    kill_x = "SYSCALL_KILL_X",
    setuid_e = "SYSCALL_SETUID_E",
    setuid_x = "SYSCALL_SETUID_X",
    setgid_e = "SYSCALL_SETGID_E",
    setgid_x = "SYSCALL_SETGID_X",
    setresuid_e = "SYSCALL_SETRESUID_E",
    setresuid_x = "SYSCALL_SETRESUID_X",
    setresgid_e = "SYSCALL_SETRESGID_E",
    setresgid_x = "SYSCALL_SETRESGID_X",
    setns_e = "SYSCALL_SETNS_E",
    setns_x = "SYSCALL_SETNS_X",
    unshare_e = "SYSCALL_UNSHARE_E",
    unshare_x = "SYSCALL_UNSHARE_X",
    setsid_e = "SYSCALL_SETSID_E",
    setsid_x = "SYSCALL_SETSID_X",
    setpgid_e = "SYSCALL_SETPGID_E",
    setpgid_x = "SYSCALL_SETPGID_X",
    mount_e = "SYSCALL_MOUNT_E",
    mount_x = "SYSCALL_MOUNT_X",
    umount_e = "SYSCALL_UMOUNT_E",
    umount_x = "SYSCALL_UMOUNT_X",
    shutdown_e = "SOCKET_SHUTDOWN_E",
    shutdown_x = "SOCKET_SHUTDOWN_X",
}

/// Writes live records to a scap file.
pub struct ScapCapture {
    codes: Codes,
    /// The output, until the tables are written to it.
    pending: Option<Box<dyn Write>>,
    writer: Option<Writer<Box<dyn Write>>>,
    state: State,
    /// Whether the clone family's own records are delivered: when they are not, a fork
    /// record stands for them.
    clone_records: bool,
    /// Children seen in fork records, by thread id, with their process id: a clone3 or
    /// fork record does not say whether it made a thread.
    forked: HashMap<u32, u32>,
    /// Records with no scap form, by syscall name.
    unmapped: BTreeMap<&'static str, u64>,
    records: u64,
}

/// How many fork records are remembered for their syscall record to come.
const MAX_FORKED: usize = 1 << 16;

impl ScapCapture {
    /// A file to be written to `out`. Its tables are read and written when the first
    /// records arrive (or at the end, if none do): by then capture is running, so a
    /// process that /proc does not list yet has its clone in the events.
    /// `clone_records`: whether the clone family's syscalls are among those captured.
    pub fn new(out: Box<dyn Write>, clone_records: bool) -> Self {
        Self {
            pending: Some(out),
            writer: None,
            codes: Codes::load(),
            state: State::new(lanner_capture::syscalls::name),
            clone_records,
            forked: HashMap::new(),
            unmapped: BTreeMap::new(),
            records: 0,
        }
    }

    /// Reads `/proc` and the account files, and writes the file's header and tables.
    fn begin(&mut self) -> Result<()> {
        let Some(out) = self.pending.take() else { return Ok(()) };
        let state = &mut self.state;
        state.seed();
        let r = state.table.removed;
        if r.processes_not_seeded + r.fds_not_seeded > 0 {
            tracing::warn!(
                "/proc held more than the tables' bounds: {} processes and {} fds are not in the scap file's tables",
                r.processes_not_seeded,
                r.fds_not_seeded
            );
        }
        let mut writer = Writer::new(out, &machine_info()).context("writing the scap header")?;
        let mut users: Vec<UserInfo> = state
            .users
            .users()
            .map(|(uid, u)| UserInfo {
                uid,
                gid: u.gid,
                name: u.name.clone(),
                homedir: u.home.clone(),
                shell: u.shell.clone(),
            })
            .collect();
        users.sort_by_key(|u| u.uid);
        let mut groups: Vec<GroupInfo> =
            state.users.groups().map(|(gid, name)| GroupInfo { gid, name: name.into() }).collect();
        groups.sort_by_key(|g| g.gid);
        writer.write_users(&users, &groups).context("writing the scap user list")?;
        let mut threads: Vec<(u32, u32)> = state.table.threads.iter().map(|(t, p)| (*t, *p)).collect();
        threads.sort_unstable();
        let infos: Vec<ThreadInfo> = threads
            .iter()
            .filter_map(|&(tid, pid)| state.table.procs.get(&pid).map(|p| thread_info(state, p, tid)))
            .collect();
        writer.write_threads(&infos).context("writing the scap process list")?;
        // An fd list must name a thread of the process list: readers refuse the file else.
        let mut pids: Vec<u32> = infos.iter().filter(|t| t.tid == t.pid).map(|t| t.pid as u32).collect();
        pids.sort_unstable();
        for pid in pids {
            let p = &state.table.procs[&pid];
            let mut fds: Vec<FdInfo> = p.fds.iter().map(|(fd, f)| fd_info(*fd, f)).collect();
            fds.sort_by_key(|f| f.fd);
            writer.write_fds(u64::from(pid), &fds).context("writing a scap fd list")?;
        }
        tracing::info!(
            "scap file: {} threads, {} processes with their fds, {} users at the start",
            infos.len(),
            state.table.procs.len(),
            users.len()
        );
        self.writer = Some(writer);
        Ok(())
    }

    /// Writes one record's events.
    pub fn write(&mut self, raw: &RawEvent) -> Result<()> {
        self.begin()?;
        self.records += 1;
        let prep = self.state.apply(raw);
        let r = self.events(raw);
        self.state.finish(&prep);
        r.context("writing the scap file")
    }

    /// Flushes the file and says what was left out.
    pub fn finish(mut self) -> Result<()> {
        self.begin()?;
        let writer = self.writer.take().expect("begin made the writer");
        let events = writer.events();
        writer.finish().context("writing the scap file")?;
        let left: u64 = self.unmapped.values().sum();
        if left > 0 {
            let list: Vec<String> = self.unmapped.iter().map(|(n, c)| format!("{n} ({c})")).collect();
            tracing::warn!(
                "{left} of {} records have no scap event type in this writer and were left out of the file: {}",
                self.records,
                list.join(", ")
            );
        }
        tracing::info!("scap file: {events} events from {} records", self.records);
        Ok(())
    }

    fn emit(&mut self, raw: &RawEvent, code: u16, p: &Params) -> std::io::Result<()> {
        debug_assert_eq!(scapw::check_event(code, p), Ok(()));
        let Some(w) = &mut self.writer else { return Ok(()) };
        w.write_event(raw.cpu as u16, raw.ts_ns, u64::from(raw.tid), code, p)
    }

    fn events(&mut self, raw: &RawEvent) -> std::io::Result<()> {
        let c = self.codes;
        match raw.kind {
            RecordKind::Exec => self.exec(raw, c.execve_19_e, c.execve_19_x, 0),
            RecordKind::Fork { child_tgid, child_tid } => {
                if self.forked.len() >= MAX_FORKED {
                    self.forked.clear();
                }
                self.forked.insert(child_tid, child_tgid);
                if self.clone_records {
                    return Ok(());
                }
                let flags = if child_tgid == raw.tgid { THREAD_FLAGS } else { 0 };
                self.emit(raw, c.clone_20_e, &Params::new())?;
                let p = self.process_params(raw, i64::from(child_tid), flags, raw.tid);
                self.emit(raw, c.clone_20_x, &p)
            }
            RecordKind::Exit => {
                // The probe's exit record does not carry the exit status.
                let mut p = Params::new();
                p.i64(0).i64(0).u8(0).u8(0);
                self.emit(raw, c.procexit_1_e, &p)
            }
            RecordKind::Syscall { nr } => self.syscall(raw, nr),
        }
    }

    /// An exec: its enter event (the path) and exit event (the new image's details).
    fn exec(&mut self, raw: &RawEvent, enter: u16, exit: u16, res: i64) -> std::io::Result<()> {
        let mut p = Params::new();
        p.str(raw.strings.first().map_or(&[][..], |s| &s.bytes[..]));
        self.emit(raw, enter, &p)?;
        let Some(proc_) = self.state.table.process_of(raw.tid) else {
            return Ok(());
        };
        let mut x = Params::new();
        x.i64(res);
        common_process(&mut x, proc_, raw.tid);
        x.str_list(NO_CGROUPS);
        x.str_list(&proc_.env);
        x.u32(proc_.tty);
        x.i64(i64::from(proc_.pgid));
        x.u32(proc_.loginuid);
        x.u32(if proc_.exe_writable { 1 } else { 0 });
        self.emit(raw, exit, &x)
    }

    /// A clone family exit's parameters: `res`, then the calling thread's details.
    fn process_params(&self, raw: &RawEvent, res: i64, flags: u32, tid: u32) -> Params {
        let mut x = Params::new();
        x.i64(res);
        match self.state.table.process_of(tid) {
            Some(p) => {
                common_process(&mut x, p, tid);
                x.str_list(NO_CGROUPS);
                x.u32(flags);
                x.u32(p.uid);
                x.u32(p.gid);
                x.i64(i64::from(self.state.table.vtid(p, tid)));
                x.i64(i64::from(p.vpid));
            }
            None => {
                // Not in the tables (they were full): what the record itself says.
                x.str(raw.comm.as_bytes()).bytes(&[]).i64(i64::from(tid)).i64(i64::from(raw.tgid));
                x.i64(i64::from(raw.ppid)).str(b"").i64(0).u64(0).u64(0).u32(0).u32(0).u32(0);
                x.str(raw.comm.as_bytes()).bytes(&[]).u32(flags).u32(raw.uid).u32(raw.gid);
                x.i64(i64::from(tid)).i64(i64::from(raw.tgid));
            }
        }
        x
    }

    fn syscall(&mut self, raw: &RawEvent, nr: u32) -> std::io::Result<()> {
        let c = self.codes;
        let a = raw.args;
        let ret = raw.ret;
        let fd = |i: usize| i64::from(a[i] as i32);
        let s = |i: usize| raw.strings.get(i).map_or(&[][..], |c| &c.bytes[..]);
        let data = || raw.data.as_ref().map_or(&[][..], |d| &d.bytes[..]);
        let (mut e, mut x) = (Params::new(), Params::new());
        let (enter, exit) = match i64::from(nr) {
            libc::SYS_open => {
                let flags = scapw::open_flags(a[1] as u32);
                e.str(s(0)).u32(flags).u32(a[2] as u32);
                x.i64(ret).str(s(0)).u32(flags).u32(a[2] as u32).u32(0);
                (c.open_e, c.open_x)
            }
            libc::SYS_creat => {
                e.str(s(0)).u32(a[1] as u32);
                x.i64(ret).str(s(0)).u32(a[1] as u32).u32(0);
                (c.creat_e, c.creat_x)
            }
            libc::SYS_openat => {
                let flags = scapw::open_flags(a[2] as u32);
                e.i64(fd(0)).str(s(0)).u32(flags).u32(a[3] as u32);
                x.i64(ret).i64(fd(0)).str(s(0)).u32(flags).u32(a[3] as u32).u32(0);
                (c.openat_2_e, c.openat_2_x)
            }
            libc::SYS_openat2 => {
                // The `struct open_how` read at entry: flags, mode, resolve (u64 each).
                let how = data();
                let word = |i: usize| {
                    how.get(i * 8..i * 8 + 8).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()))
                };
                let flags = scapw::open_flags(word(0) as u32);
                let resolve = resolve_flags(word(2));
                e.i64(fd(0)).str(s(0)).u32(flags).u32(word(1) as u32).u32(resolve);
                x.i64(ret).i64(fd(0)).str(s(0)).u32(flags).u32(word(1) as u32).u32(resolve);
                (c.openat2_e, c.openat2_x)
            }
            libc::SYS_close => {
                e.i64(fd(0));
                x.i64(ret);
                (c.close_e, c.close_x)
            }
            libc::SYS_read | libc::SYS_write => {
                e.i64(fd(0)).u32(a[2] as u32);
                x.i64(ret).bytes(data());
                if i64::from(nr) == libc::SYS_read { (c.read_e, c.read_x) } else { (c.write_e, c.write_x) }
            }
            libc::SYS_socket => {
                e.u32(a[0] as u32).u32(a[1] as u32).u32(a[2] as u32);
                x.i64(ret);
                (c.socket_e, c.socket_x)
            }
            libc::SYS_connect => {
                e.i64(fd(0));
                self.push_addr(&mut e, raw);
                x.i64(ret);
                match (&raw.tuple, &raw.sockaddr) {
                    (Some(t), _) if t.remote.is_some() => {
                        x.tuple(t.local, t.remote.unwrap_or(t.local));
                    }
                    (t, Some(SockAddr::Inet(dest))) => {
                        x.tuple(t.map_or(unspecified(dest), |t| t.local), *dest);
                    }
                    (_, Some(SockAddr::Unix(path))) => {
                        x.unix_tuple(0, 0, path);
                    }
                    _ => {
                        x.empty();
                    }
                }
                (c.connect_e, c.connect_x)
            }
            libc::SYS_bind => {
                e.i64(fd(0));
                x.i64(ret);
                self.push_addr(&mut x, raw);
                (c.bind_e, c.bind_x)
            }
            libc::SYS_listen => {
                e.i64(fd(0)).u32(a[1] as u32);
                x.i64(ret);
                (c.listen_e, c.listen_x)
            }
            libc::SYS_accept | libc::SYS_accept4 => {
                x.i64(ret);
                match (&raw.tuple, &raw.sockaddr) {
                    (Some(t), _) => {
                        // The peer is the source: the connection is the client's.
                        x.tuple(t.remote.unwrap_or(unspecified(&t.local)), t.local);
                    }
                    (None, Some(SockAddr::Unix(path))) => {
                        x.unix_tuple(0, 0, path);
                    }
                    _ => {
                        x.empty();
                    }
                }
                x.u8(0).u32(0).u32(0);
                if i64::from(nr) == libc::SYS_accept {
                    (c.accept_5_e, c.accept_5_x)
                } else {
                    e.u32(a[3] as u32);
                    (c.accept4_5_e, c.accept4_5_x)
                }
            }
            libc::SYS_sendto => {
                e.i64(fd(0)).u32(a[2] as u32);
                match &raw.sockaddr {
                    Some(SockAddr::Inet(dest)) => {
                        e.tuple(unspecified(dest), *dest);
                    }
                    Some(SockAddr::Unix(path)) => {
                        e.unix_tuple(0, 0, path);
                    }
                    _ => {
                        e.empty();
                    }
                }
                x.i64(ret).bytes(data());
                (c.sendto_e, c.sendto_x)
            }
            libc::SYS_recvfrom => {
                e.i64(fd(0)).u32(a[2] as u32);
                x.i64(ret).bytes(data());
                match (&raw.sockaddr, &raw.tuple) {
                    (Some(SockAddr::Inet(src)), t) => {
                        x.tuple(*src, t.map_or(unspecified(src), |t| t.local));
                    }
                    (None, Some(t)) if t.remote.is_some() => {
                        x.tuple(t.remote.unwrap_or(t.local), t.local);
                    }
                    _ => {
                        x.empty();
                    }
                }
                (c.recvfrom_e, c.recvfrom_x)
            }
            libc::SYS_dup | libc::SYS_dup2 | libc::SYS_dup3 => {
                e.i64(fd(0));
                x.i64(ret);
                (c.dup_e, c.dup_x)
            }
            libc::SYS_unlink => {
                x.i64(ret).str(s(0));
                (c.unlink_2_e, c.unlink_2_x)
            }
            libc::SYS_unlinkat => {
                // AT_REMOVEDIR has the same value in scap.
                x.i64(ret).i64(fd(0)).str(s(0)).u32((a[2] as u32) & 0x200);
                (c.unlinkat_2_e, c.unlinkat_2_x)
            }
            libc::SYS_mkdirat => {
                x.i64(ret).i64(fd(0)).str(s(0)).u32(a[2] as u32);
                (c.mkdirat_e, c.mkdirat_x)
            }
            libc::SYS_renameat => {
                x.i64(ret).i64(fd(0)).str(s(0)).i64(fd(2)).str(s(1));
                (c.renameat_e, c.renameat_x)
            }
            libc::SYS_chdir => {
                x.i64(ret).str(s(0));
                (c.chdir_e, c.chdir_x)
            }
            libc::SYS_fchdir => {
                e.i64(fd(0));
                x.i64(ret);
                (c.fchdir_e, c.fchdir_x)
            }
            libc::SYS_mkdir => {
                e.u32(a[1] as u32);
                x.i64(ret).str(s(0));
                (c.mkdir_2_e, c.mkdir_2_x)
            }
            libc::SYS_rename => {
                x.i64(ret).str(s(0)).str(s(1));
                (c.rename_e, c.rename_x)
            }
            libc::SYS_renameat2 => {
                // RENAME_NOREPLACE, _EXCHANGE, _WHITEOUT have scap's values.
                x.i64(ret).i64(fd(0)).str(s(0)).i64(fd(2)).str(s(1)).u32(a[4] as u32);
                (c.renameat2_e, c.renameat2_x)
            }
            libc::SYS_symlink => {
                x.i64(ret).str(s(0)).str(s(1));
                (c.symlink_e, c.symlink_x)
            }
            libc::SYS_symlinkat => {
                x.i64(ret).str(s(0)).i64(fd(1)).str(s(1));
                (c.symlinkat_e, c.symlinkat_x)
            }
            libc::SYS_link => {
                x.i64(ret).str(s(0)).str(s(1));
                (c.link_2_e, c.link_2_x)
            }
            libc::SYS_linkat => {
                // AT_SYMLINK_FOLLOW and AT_EMPTY_PATH have scap's values.
                x.i64(ret).i64(fd(0)).str(s(0)).i64(fd(2)).str(s(1)).u32(a[4] as u32);
                (c.linkat_2_e, c.linkat_2_x)
            }
            // The mode bits (S_IRUSR ... S_ISUID) have scap's values.
            libc::SYS_chmod => {
                x.i64(ret).str(s(0)).u32(a[1] as u32);
                (c.chmod_e, c.chmod_x)
            }
            libc::SYS_fchmod => {
                x.i64(ret).i64(fd(0)).u32(a[1] as u32);
                (c.fchmod_e, c.fchmod_x)
            }
            libc::SYS_fchmodat => {
                x.i64(ret).i64(fd(0)).str(s(0)).u32(a[2] as u32);
                (c.fchmodat_e, c.fchmodat_x)
            }
            libc::SYS_pread64 | libc::SYS_pwrite64 => {
                e.i64(fd(0)).u32(a[2] as u32).u64(a[3]);
                x.i64(ret).bytes(data());
                if i64::from(nr) == libc::SYS_pread64 {
                    (c.pread_e, c.pread_x)
                } else {
                    (c.pwrite_e, c.pwrite_x)
                }
            }
            libc::SYS_readv => {
                e.i64(fd(0));
                x.i64(ret).u32(ret.max(0) as u32).bytes(data());
                (c.readv_e, c.readv_x)
            }
            libc::SYS_writev => {
                e.i64(fd(0)).u32(ret.max(0) as u32);
                x.i64(ret).bytes(data());
                (c.writev_e, c.writev_x)
            }
            libc::SYS_sendmsg => {
                e.i64(fd(0)).u32(ret.max(0) as u32);
                match &raw.sockaddr {
                    Some(SockAddr::Inet(dest)) => {
                        e.tuple(unspecified(dest), *dest);
                    }
                    Some(SockAddr::Unix(path)) => {
                        e.unix_tuple(0, 0, path);
                    }
                    _ => {
                        e.empty();
                    }
                }
                x.i64(ret).bytes(data());
                (c.sendmsg_e, c.sendmsg_x)
            }
            libc::SYS_recvmsg => {
                e.i64(fd(0));
                x.i64(ret).u32(ret.max(0) as u32).bytes(data());
                match (&raw.sockaddr, &raw.tuple) {
                    (Some(SockAddr::Inet(src)), t) => {
                        x.tuple(*src, t.map_or(unspecified(src), |t| t.local));
                    }
                    (None, Some(t)) if t.remote.is_some() => {
                        x.tuple(t.remote.unwrap_or(t.local), t.local);
                    }
                    _ => {
                        x.empty();
                    }
                }
                (c.recvmsg_e, c.recvmsg_x)
            }
            libc::SYS_kill => {
                e.i64(i64::from(a[0] as i32)).u8(a[1] as u8);
                x.i64(ret);
                (c.kill_e, c.kill_x)
            }
            libc::SYS_setuid | libc::SYS_setgid => {
                e.u32(a[0] as u32);
                x.i64(ret);
                if i64::from(nr) == libc::SYS_setuid {
                    (c.setuid_e, c.setuid_x)
                } else {
                    (c.setgid_e, c.setgid_x)
                }
            }
            libc::SYS_setresuid | libc::SYS_setresgid => {
                e.u32(a[0] as u32).u32(a[1] as u32).u32(a[2] as u32);
                x.i64(ret);
                if i64::from(nr) == libc::SYS_setresuid {
                    (c.setresuid_e, c.setresuid_x)
                } else {
                    (c.setresgid_e, c.setresgid_x)
                }
            }
            libc::SYS_setns => {
                e.i64(fd(0)).u32(scapw::clone_flags(a[1]));
                x.i64(ret);
                (c.setns_e, c.setns_x)
            }
            libc::SYS_unshare => {
                e.u32(scapw::clone_flags(a[0]));
                x.i64(ret);
                (c.unshare_e, c.unshare_x)
            }
            libc::SYS_setsid => {
                x.i64(ret);
                (c.setsid_e, c.setsid_x)
            }
            libc::SYS_setpgid => {
                e.i64(i64::from(a[0] as i32)).i64(i64::from(a[1] as i32));
                x.i64(ret);
                (c.setpgid_e, c.setpgid_x)
            }
            libc::SYS_mount => {
                // MS_* flags have scap's values.
                e.u32(a[3] as u32);
                x.i64(ret).str(s(0)).str(s(1)).str(s(2));
                (c.mount_e, c.mount_x)
            }
            libc::SYS_umount2 => {
                e.u32(a[1] as u32);
                x.i64(ret).str(s(0));
                (c.umount_e, c.umount_x)
            }
            libc::SYS_shutdown => {
                e.i64(fd(0)).u8(a[1] as u8);
                x.i64(ret);
                (c.shutdown_e, c.shutdown_x)
            }
            libc::SYS_execve | libc::SYS_execveat => {
                // A successful exec was written from its exec record (the new image); a
                // failed one is written here, with the process as it still is.
                if ret == 0 {
                    return Ok(());
                }
                return self.exec(raw, c.execve_19_e, c.execve_19_x, ret);
            }
            libc::SYS_clone | libc::SYS_clone3 | libc::SYS_fork | libc::SYS_vfork => {
                let (enter, exit) = match i64::from(nr) {
                    libc::SYS_clone => (c.clone_20_e, c.clone_20_x),
                    libc::SYS_clone3 => (c.clone3_e, c.clone3_x),
                    libc::SYS_fork => (c.fork_20_e, c.fork_20_x),
                    _ => (c.vfork_20_e, c.vfork_20_x),
                };
                let flags = match i64::from(nr) {
                    libc::SYS_clone => scapw::clone_flags(a[0]),
                    libc::SYS_vfork => scapw::clone_flags((libc::CLONE_VM | libc::CLONE_VFORK) as u64),
                    // clone3's flags are in a structure the probe does not read: whether it
                    // made a thread is known from the fork record.
                    libc::SYS_clone3 => {
                        let child = if ret > 0 { ret as u32 } else { raw.tid };
                        match self.forked.get(&child) {
                            Some(&pid) if pid == raw.tgid => THREAD_FLAGS,
                            _ => 0,
                        }
                    }
                    _ => 0,
                };
                if ret > 0 {
                    self.forked.remove(&(ret as u32));
                }
                // The parent entered the call (and returns the child's id, or an error);
                // the child returns 0 without having entered.
                if ret != 0 {
                    self.emit(raw, enter, &Params::new())?;
                }
                // The child returns 0 without having entered.
                let p = self.process_params(raw, ret, flags, raw.tid);
                return self.emit(raw, exit, &p);
            }
            _ => {
                let name = lanner_capture::syscalls::name(nr).unwrap_or("unknown");
                *self.unmapped.entry(name).or_default() += 1;
                return Ok(());
            }
        };
        self.emit(raw, enter, &e)?;
        self.emit(raw, exit, &x)
    }

    fn push_addr(&self, p: &mut Params, raw: &RawEvent) {
        match &raw.sockaddr {
            Some(SockAddr::Inet(a)) => p.sockaddr(&lanner_scap::SockAddr::Inet(*a)),
            Some(SockAddr::Unix(path)) => p.sockaddr(&lanner_scap::SockAddr::Unix(path.clone())),
            Some(SockAddr::Other(f)) => p.sockaddr(&lanner_scap::SockAddr::Other(*f as u8)),
            None => p.empty(),
        };
    }
}

/// What a new thread shares with its process (`CLONE_THREAD` and what goes with it).
const THREAD_FLAGS: u32 = (1 << 13) | (1 << 15) | (1 << 0) | (1 << 1) | (1 << 11);

/// The any-address of `like`'s family, port 0: an end the record did not carry.
fn unspecified(like: &SocketAddr) -> SocketAddr {
    match like {
        SocketAddr::V4(_) => SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::new(std::net::Ipv6Addr::UNSPECIFIED.into(), 0),
    }
}

/// Kernel `RESOLVE_*` flags in scap's bits.
fn resolve_flags(k: u64) -> u32 {
    const TABLE: [(u64, u32); 6] =
        [(0x08, 1 << 0), (0x10, 1 << 1), (0x02, 1 << 2), (0x04, 1 << 3), (0x01, 1 << 4), (0x20, 1 << 5)];
    TABLE.iter().filter(|(b, _)| k & b != 0).fold(0, |acc, (_, p)| acc | p)
}

/// The parameters clone and execve exits share after `res`: exe, args, tid, pid, ptid,
/// cwd, fdlimit, page faults, memory sizes, comm.
fn common_process(x: &mut Params, p: &Process, tid: u32) {
    x.str(p.exe.as_bytes());
    x.str_list(&p.args);
    x.i64(i64::from(tid)).i64(i64::from(p.pid)).i64(i64::from(p.ppid));
    x.str(p.cwd.as_bytes());
    // fdlimit, major and minor faults, vm size, rss, swap: not kept.
    x.i64(0).u64(0).u64(0).u32(0).u32(0).u32(0);
    x.str(p.comm.as_bytes());
}

/// The cgroups parameter: empty, as Lanner keeps a process's cgroup v2 id, not its paths
/// (a reader of the file finds no container from it).
const NO_CGROUPS: &[&str] = &[];

/// A process-list entry for thread `tid` of `p`.
fn thread_info(state: &State, p: &Process, tid: u32) -> ThreadInfo {
    ThreadInfo {
        tid: u64::from(tid),
        pid: u64::from(p.pid),
        ptid: u64::from(p.ppid),
        sid: i64::from(p.sid),
        vpgid: i64::from(p.vpgid),
        pgid: i64::from(p.pgid),
        comm: thread_comm(p, tid),
        exe: p.exe.clone(),
        exepath: p.exepath.clone(),
        args: p.args.to_vec(),
        cwd: p.cwd.clone(),
        // Threads share the process's fds, as libscap marks the threads it reads in /proc.
        flags: if tid == p.pid { 0 } else { THREAD_FLAGS },
        uid: p.uid,
        gid: p.gid,
        env: p.env.to_vec(),
        vtid: i64::from(state.table.vtid(p, tid)),
        vpid: i64::from(p.vpid),
        root: "/".into(),
        tty: p.tty,
        loginuid: p.loginuid,
        exe_writable: p.exe_writable,
        ..ThreadInfo::default()
    }
}

/// A thread's own name: Lanner's tables keep one per process (the last record's), a
/// reader of the file keeps one per thread, and a thread's may differ from its process's.
fn thread_comm(p: &Process, tid: u32) -> String {
    if tid == p.pid {
        return p.comm.clone();
    }
    std::fs::read_to_string(format!("/proc/{}/task/{tid}/comm", p.pid))
        .map(|c| c.trim_end_matches('\n').to_string())
        .unwrap_or_else(|_| p.comm.clone())
}

/// An fd-list entry from Lanner's fd table.
fn fd_info(fd: i64, f: &lanner_state::table::Fd) -> FdInfo {
    let name = f.name.to_string();
    let l4 = |s: &lanner_state::table::Sock| match s.l4 {
        L4::Tcp => 2,
        L4::Udp => 3,
        L4::Icmp => 4,
        L4::Raw => 5,
        L4::Unknown => 0,
    };
    let v6 = f.kind == FdKind::Ipv6;
    let (fd_type, target) = match f.kind {
        FdKind::File | FdKind::Memfd => {
            (fd_type::FILE_V2, FdTarget::File { open_flags: scapw::open_flags(f.flags), name, dev: 0 })
        }
        FdKind::Ipv4 | FdKind::Ipv6 => {
            let any = any_of(f.kind);
            match f.sock.as_deref() {
                Some(s) if s.is_server && !s.connected => {
                    let addr = s.local.unwrap_or(any);
                    if v6 {
                        (fd_type::IPV6_SERVSOCK, FdTarget::Ipv6Server { addr, l4proto: l4(s) })
                    } else {
                        (fd_type::IPV4_SERVSOCK, FdTarget::Ipv4Server { addr, l4proto: l4(s) })
                    }
                }
                sock => {
                    let (local, remote) =
                        sock.map_or((any, any), |s| (s.local.unwrap_or(any), s.remote.unwrap_or(any)));
                    // The client's end is the source, on either side of the connection.
                    let (src, dst) =
                        if sock.is_some_and(|s| s.is_server) { (remote, local) } else { (local, remote) };
                    let l4proto = sock.map_or(0, l4);
                    if v6 {
                        (fd_type::IPV6_SOCK, FdTarget::Ipv6Sock { src, dst, l4proto })
                    } else {
                        (fd_type::IPV4_SOCK, FdTarget::Ipv4Sock { src, dst, l4proto })
                    }
                }
            }
        }
        FdKind::Unix => (
            fd_type::UNIX_SOCK,
            FdTarget::Unix {
                source: 0,
                dest: 0,
                path: f.sock.as_deref().and_then(|s| s.unix_path.clone()).unwrap_or(name),
            },
        ),
        FdKind::Directory => (fd_type::DIRECTORY, FdTarget::Named { name }),
        FdKind::Pipe => (fd_type::FIFO, FdTarget::Named { name }),
        FdKind::Event => (fd_type::EVENT, FdTarget::Named { name }),
        FdKind::Signal => (fd_type::SIGNALFD, FdTarget::Named { name }),
        FdKind::Inotify => (fd_type::INOTIFY, FdTarget::Named { name }),
        FdKind::Bpf => (fd_type::BPF, FdTarget::Named { name }),
        FdKind::Userfault => (fd_type::USERFAULTFD, FdTarget::Named { name }),
        FdKind::OtherSocket | FdKind::Unknown => (fd_type::UNSUPPORTED, FdTarget::Named { name }),
    };
    FdInfo { fd, ino: 0, fd_type, target }
}

fn any_of(kind: FdKind) -> SocketAddr {
    if kind == FdKind::Ipv6 {
        SocketAddr::new(std::net::Ipv6Addr::UNSPECIFIED.into(), 0)
    } else {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
    }
}

/// This machine, for the file's machine-info block.
fn machine_info() -> MachineInfo {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let memory_size_bytes = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024);
    MachineInfo {
        num_cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        memory_size_bytes,
        max_pid: read("/proc/sys/kernel/pid_max").trim().parse().unwrap_or(0),
        hostname: read("/proc/sys/kernel/hostname").trim().to_string(),
        ..MachineInfo::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_written_is_in_the_event_table() {
        // Panics naming the first one missing.
        let c = Codes::load();
        assert_ne!(c.openat_2_x, c.openat_2_e);
    }
}
