//! Syscall arguments as Falco's rules see them: each syscall's parameter list is the one of
//! Falco's exit event for it (rules read exit events), so `evt.arg[N]` names the same
//! parameter as in Falco, and every parameter renders as libsinsp renders it
//! (`sinsp_evt::get_param_as_str`): a field reads the resolved text when there is one (a known
//! fd as `<f>/etc/passwd`, an errno as `ENOENT`, a pid as its process's name, a uid as its user
//! name, flags and modes by name) and the plain value otherwise; `evt.args` shows both.
//!
//! Flag values are first converted to Falco's own bit layout (`PPM_O_*`, `PPM_CL_*`, ...), as
//! its drivers do, so that names come out in the order of Falco's flag tables.
//!
//! Some parameters of Falco's lists are not captured (page-fault counters, memory sizes,
//! the cgroups of an execve, queue sizes of an accept, `dev` and `ino` of an open): they are [`Src::Missing`], so the field is missing
//! (`<NA>`), and [`missing`] names them, for diagnostics. Two flags of Falco's open events are
//! not known either: `O_F_CREATED` (the open created the file) and `FD_UPPER_LAYER` /
//! `FD_LOWER_LAYER` (the opened file's overlayfs layer); the rest of those flags is exact.

use crate::table::{Fd, L4, Process};
use crate::{FdView, Prepared, State};
use lanner_capture::record::{RawEvent, SockAddr};
use std::borrow::Cow;
use std::net::SocketAddr;

/// How a parameter renders: Falco's parameter type (and print format).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `PT_FD`: the number; resolved, a known fd as `<typechar>name`, `AT_FDCWD`, or an errno.
    Fd,
    /// `PT_ERRNO`: the number; resolved, a negative one as its errno name.
    Errno,
    /// `PT_PID`: the number; resolved, the comm of that thread when known.
    Pid,
    /// A signed decimal number.
    Dec,
    /// An unsigned decimal number.
    UDec,
    /// `PF_OCT`: octal with a leading 0 (`%#o`).
    Oct,
    /// `PF_HEX` numbers: upper-case hex without prefix (`%X`).
    Hex,
    /// `PT_FLAGS*`: resolved, the names of the set flags, in the table's order.
    Flags(&'static [(&'static str, u32)]),
    /// `PT_ENUMFLAGS*`: resolved, every name whose value is exactly the value.
    Enum(&'static [(&'static str, u32)]),
    /// `PT_MODE` with Falco's `chmod_mode` names (`S_IRUSR|...`).
    Mode,
    /// `PT_UID`: resolved, the user name (`<NA>` when unknown, `<NONE>` for -1).
    Uid,
    /// `PT_GID`: resolved, the group name.
    Gid,
    /// `PT_SIGTYPE`: resolved, the signal name.
    Signal,
    /// `PT_SYSCALLID`: the syscall's name.
    SyscallId,
    /// `PT_CHARBUF`: text as captured.
    CharBuf,
    /// `PT_BYTEBUF`: printable bytes as they are, others as `.`.
    ByteBuf,
    /// `PT_FSPATH`: as written; resolved, a relative path joined to the cwd and normalized.
    FsPath,
    /// `PT_FSRELPATH`: as `FsPath`, relative to the directory fd at this parameter index.
    FsRelPath(usize),
    /// `PT_SOCKADDR`: `ip:port`, or a unix path.
    SockAddr,
    /// `PT_SOCKTUPLE`: `sip:sport->dip:dport` of the event's socket.
    SockTuple,
}

/// Where a parameter's value comes from.
#[derive(Debug, Clone, Copy)]
pub enum Src {
    /// The return value.
    Ret,
    /// A raw syscall argument, as a signed 32-bit value (fds, pids, ids).
    Int(usize),
    /// A raw syscall argument, unconverted.
    Arg(usize),
    /// A raw syscall argument converted to Falco's flag layout.
    Conv(usize, fn(u64) -> u64),
    /// A captured string, by its index in [`RawEvent::strings`].
    Str(usize),
    /// The captured socket address.
    Addr,
    /// The tuple of the event's socket.
    Tuple,
    /// The data read or written, as far as it was captured.
    Data,
    /// The open flags kept with the event's fd (syscalls whose flags are not an argument).
    FdFlags,
    /// A member of openat2's `struct open_how` (0: flags, 1: mode, 2: resolve), read by the
    /// probe at entry, converted to Falco's layout.
    How(usize, fn(u64) -> u64),
    /// openat2's mode, kept only when its flags may create a file.
    HowMode,
    /// The name of the event's fd, as the tables know it (a file opened by handle).
    FdName,
    /// From the calling process.
    Proc(P),
    /// The mode of an open, kept only when the flags (argument `flags`) may create a file.
    OpenMode {
        /// The flags argument.
        flags: usize,
        /// The mode argument.
        mode: usize,
    },
    /// The syscall number.
    Nr,
    /// In Falco's list but not captured: the field is missing.
    Missing,
}

/// Process details that execve and clone exit events carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum P {
    /// `argv[0]`.
    Exe,
    /// The arguments after `argv[0]`.
    Args,
    /// Thread id.
    Tid,
    /// Process id.
    Pid,
    /// Parent's process id.
    Ptid,
    /// comm.
    Comm,
    /// The environment.
    Env,
    /// The controlling terminal.
    Tty,
    /// The process group.
    Pgid,
    /// The process group in the process's own pid namespace.
    Vpgid,
    /// The thread id in its own pid namespace.
    Vtid,
    /// The process id in its own pid namespace.
    Vpid,
    /// The login uid.
    LoginUid,
    /// Falco's `exe_flags`.
    ExeFlags,
    /// Permitted capabilities.
    CapPermitted,
    /// Effective capabilities.
    CapEffective,
    /// User id.
    Uid,
    /// Group id.
    Gid,
    /// The executable's path.
    ExePath,
}

/// One parameter: its name, how it renders, where its value comes from.
pub type ArgDef = (&'static str, Kind, Src);

use Kind as K;
use Src as S;

const FD_RET: ArgDef = ("fd", K::Fd, S::Ret);
const RES: ArgDef = ("res", K::Errno, S::Ret);
const PROC_PARAMS: [ArgDef; 6] = [
    ("exe", K::CharBuf, S::Proc(P::Exe)),
    ("args", K::ByteBuf, S::Proc(P::Args)),
    ("tid", K::Pid, S::Proc(P::Tid)),
    ("pid", K::Pid, S::Proc(P::Pid)),
    ("ptid", K::Pid, S::Proc(P::Ptid)),
    ("cwd", K::CharBuf, S::Missing),
];
const USAGE: [ArgDef; 6] = [
    ("fdlimit", K::Dec, S::Missing),
    ("pgft_maj", K::UDec, S::Missing),
    ("pgft_min", K::UDec, S::Missing),
    ("vm_size", K::UDec, S::Missing),
    ("vm_rss", K::UDec, S::Missing),
    ("vm_swap", K::UDec, S::Missing),
];

/// Falco's execve exit parameters up to `gid`; execve adds `filename`.
const EXECVE: [ArgDef; 31] = [
    RES,
    PROC_PARAMS[0],
    PROC_PARAMS[1],
    PROC_PARAMS[2],
    PROC_PARAMS[3],
    PROC_PARAMS[4],
    PROC_PARAMS[5],
    USAGE[0],
    USAGE[1],
    USAGE[2],
    USAGE[3],
    USAGE[4],
    USAGE[5],
    ("comm", K::CharBuf, S::Proc(P::Comm)),
    ("cgroups", K::ByteBuf, S::Missing),
    ("env", K::ByteBuf, S::Proc(P::Env)),
    ("tty", K::UDec, S::Proc(P::Tty)),
    ("vpgid", K::Pid, S::Proc(P::Vpgid)),
    ("loginuid", K::Uid, S::Proc(P::LoginUid)),
    ("flags", K::Flags(EXE_FLAGS), S::Proc(P::ExeFlags)),
    ("cap_inheritable", K::Hex, S::Missing),
    ("cap_permitted", K::Hex, S::Proc(P::CapPermitted)),
    ("cap_effective", K::Hex, S::Proc(P::CapEffective)),
    ("exe_ino", K::UDec, S::Missing),
    ("exe_ino_ctime", K::UDec, S::Missing),
    ("exe_ino_mtime", K::UDec, S::Missing),
    ("uid", K::Uid, S::Proc(P::Uid)),
    ("trusted_exepath", K::FsPath, S::Proc(P::ExePath)),
    ("pgid", K::Pid, S::Proc(P::Pgid)),
    ("gid", K::Gid, S::Proc(P::Gid)),
    ("filename", K::FsPath, S::Str(0)),
];

/// Falco's clone, clone3, fork and vfork exit parameters, with the flags' source.
const fn clone_like(flags: Src) -> [ArgDef; 21] {
    [
        ("res", K::Pid, S::Ret),
        PROC_PARAMS[0],
        PROC_PARAMS[1],
        PROC_PARAMS[2],
        PROC_PARAMS[3],
        PROC_PARAMS[4],
        PROC_PARAMS[5],
        USAGE[0],
        USAGE[1],
        USAGE[2],
        USAGE[3],
        USAGE[4],
        USAGE[5],
        ("comm", K::CharBuf, S::Proc(P::Comm)),
        ("cgroups", K::ByteBuf, S::Missing),
        ("flags", K::Flags(CLONE_FLAGS), flags),
        ("uid", K::UDec, S::Proc(P::Uid)),
        ("gid", K::UDec, S::Proc(P::Gid)),
        ("vtid", K::Pid, S::Proc(P::Vtid)),
        ("vpid", K::Pid, S::Proc(P::Vpid)),
        ("pidns_init_start_ts", K::UDec, S::Missing),
    ]
}
const CLONE: [ArgDef; 21] = clone_like(S::Conv(0, clone_to_ppm));
const CLONE_UNKNOWN_FLAGS: [ArgDef; 21] = clone_like(S::Missing);

const GENERIC: [ArgDef; 2] = [("ID", K::SyscallId, S::Nr), ("nativeID", K::UDec, S::Nr)];

/// The parameters of a syscall's event, by syscall number: Falco's exit event's list. A
/// syscall Falco has no event for is its generic event (`ID`, `nativeID`).
pub fn defs(nr: u32) -> &'static [ArgDef] {
    match nr as i64 {
        libc::SYS_open => &[
            FD_RET,
            ("name", K::FsPath, S::Str(0)),
            ("flags", K::Flags(FILE_FLAGS), S::Conv(1, open_to_ppm)),
            ("mode", K::Oct, S::OpenMode { flags: 1, mode: 2 }),
            ("dev", K::Hex, S::Missing),
            ("ino", K::UDec, S::Missing),
        ],
        libc::SYS_openat => &[
            FD_RET,
            ("dirfd", K::Fd, S::Int(0)),
            ("name", K::FsRelPath(1), S::Str(0)),
            ("flags", K::Flags(FILE_FLAGS), S::Conv(2, open_to_ppm)),
            ("mode", K::Oct, S::OpenMode { flags: 2, mode: 3 }),
            ("dev", K::Hex, S::Missing),
            ("ino", K::UDec, S::Missing),
        ],
        libc::SYS_openat2 => &[
            FD_RET,
            ("dirfd", K::Fd, S::Int(0)),
            ("name", K::FsRelPath(1), S::Str(0)),
            ("flags", K::Flags(FILE_FLAGS), S::How(0, open_to_ppm)),
            ("mode", K::Oct, S::HowMode),
            ("resolve", K::Flags(RESOLVE_FLAGS), S::How(2, resolve_to_ppm)),
            ("dev", K::Hex, S::Missing),
            ("ino", K::UDec, S::Missing),
        ],
        libc::SYS_creat => &[
            FD_RET,
            ("name", K::FsPath, S::Str(0)),
            ("mode", K::Oct, S::Conv(1, mode_to_ppm)),
            ("dev", K::Hex, S::Missing),
            ("ino", K::UDec, S::Missing),
            ("creat_flags", K::Flags(&[]), S::Missing),
        ],
        libc::SYS_execve => &EXECVE,
        libc::SYS_execveat => EXECVE.split_last().map_or(&[], |(_, head)| head),
        libc::SYS_clone => &CLONE,
        libc::SYS_clone3 | libc::SYS_fork | libc::SYS_vfork => &CLONE_UNKNOWN_FLAGS,
        libc::SYS_close => &[RES, ("fd", K::Fd, S::Int(0))],
        libc::SYS_dup => &[("res", K::Fd, S::Ret), ("oldfd", K::Fd, S::Int(0))],
        libc::SYS_fcntl => &[
            ("res", K::Fd, S::Ret),
            ("fd", K::Fd, S::Int(0)),
            ("cmd", K::Enum(FCNTL_CMDS), S::Conv(1, fcntl_to_ppm)),
        ],
        libc::SYS_dup2 => &[("res", K::Fd, S::Ret), ("oldfd", K::Fd, S::Int(0)), ("newfd", K::Fd, S::Int(1))],
        libc::SYS_dup3 => &[
            ("res", K::Fd, S::Ret),
            ("oldfd", K::Fd, S::Int(0)),
            ("newfd", K::Fd, S::Int(1)),
            ("flags", K::Flags(FILE_FLAGS), S::Conv(2, cloexec_to_ppm)),
        ],
        libc::SYS_socket => &[
            FD_RET,
            ("domain", K::Enum(SOCKET_FAMILIES), S::Arg(0)),
            ("type", K::UDec, S::Arg(1)),
            ("proto", K::UDec, S::Arg(2)),
            ("flags", K::Flags(FILE_FLAGS), S::Conv(1, sock_flags_to_ppm)),
        ],
        libc::SYS_connect => &[
            RES,
            ("tuple", K::SockTuple, S::Tuple),
            ("fd", K::Fd, S::Int(0)),
            ("addr", K::SockAddr, S::Addr),
        ],
        libc::SYS_bind => &[RES, ("addr", K::SockAddr, S::Addr), ("fd", K::Fd, S::Int(0))],
        libc::SYS_listen => &[RES, ("fd", K::Fd, S::Int(0)), ("backlog", K::Dec, S::Int(1))],
        libc::SYS_accept => &[
            FD_RET,
            ("tuple", K::SockTuple, S::Tuple),
            ("queuepct", K::UDec, S::Missing),
            ("queuelen", K::UDec, S::Missing),
            ("queuemax", K::UDec, S::Missing),
        ],
        libc::SYS_accept4 => &[
            FD_RET,
            ("tuple", K::SockTuple, S::Tuple),
            ("queuepct", K::UDec, S::Missing),
            ("queuelen", K::UDec, S::Missing),
            ("queuemax", K::UDec, S::Missing),
            ("flags", K::Flags(FILE_FLAGS), S::Conv(3, sock_flags_to_ppm)),
        ],
        libc::SYS_sendto | libc::SYS_sendmsg => &[
            RES,
            ("data", K::ByteBuf, S::Data),
            ("fd", K::Fd, S::Int(0)),
            ("size", K::UDec, S::Arg(2)),
            ("tuple", K::SockTuple, S::Tuple),
        ],
        libc::SYS_recvfrom => &[
            RES,
            ("data", K::ByteBuf, S::Data),
            ("tuple", K::SockTuple, S::Tuple),
            ("fd", K::Fd, S::Int(0)),
            ("size", K::UDec, S::Arg(2)),
        ],
        libc::SYS_recvmsg => &[
            RES,
            ("size", K::UDec, S::Missing),
            ("data", K::ByteBuf, S::Data),
            ("tuple", K::SockTuple, S::Tuple),
            ("msgcontrol", K::ByteBuf, S::Missing),
            ("fd", K::Fd, S::Int(0)),
        ],
        libc::SYS_read | libc::SYS_write => {
            &[RES, ("data", K::ByteBuf, S::Data), ("fd", K::Fd, S::Int(0)), ("size", K::UDec, S::Arg(2))]
        }
        libc::SYS_pread64 | libc::SYS_pwrite64 => &[
            RES,
            ("data", K::ByteBuf, S::Data),
            ("fd", K::Fd, S::Int(0)),
            ("size", K::UDec, S::Arg(2)),
            ("pos", K::UDec, S::Arg(3)),
        ],
        libc::SYS_readv => {
            &[RES, ("size", K::UDec, S::Missing), ("data", K::ByteBuf, S::Data), ("fd", K::Fd, S::Int(0))]
        }
        libc::SYS_writev => {
            &[RES, ("data", K::ByteBuf, S::Data), ("fd", K::Fd, S::Int(0)), ("size", K::UDec, S::Missing)]
        }
        libc::SYS_sendmmsg => &[
            RES,
            ("fd", K::Fd, S::Int(0)),
            ("size", K::UDec, S::Missing),
            ("data", K::ByteBuf, S::Data),
            ("tuple", K::SockTuple, S::Tuple),
        ],
        libc::SYS_recvmmsg => &[
            RES,
            ("fd", K::Fd, S::Int(0)),
            ("size", K::UDec, S::Missing),
            ("data", K::ByteBuf, S::Data),
            ("tuple", K::SockTuple, S::Tuple),
            ("msgcontrol", K::ByteBuf, S::Missing),
        ],
        libc::SYS_fstat => &[RES, ("fd", K::Fd, S::Int(0))],
        libc::SYS_chroot => &[RES, ("path", K::FsPath, S::Missing)],
        libc::SYS_close_range => &[
            RES,
            ("first", K::UDec, S::Arg(0)),
            ("last", K::UDec, S::Arg(1)),
            ("flags", K::Flags(CLOSE_RANGE_FLAGS), S::Arg(2)),
        ],
        libc::SYS_unlink => &[RES, ("path", K::FsPath, S::Str(0))],
        libc::SYS_unlinkat => &[
            RES,
            ("dirfd", K::Fd, S::Int(0)),
            ("name", K::FsRelPath(1), S::Str(0)),
            ("flags", K::Flags(UNLINKAT_FLAGS), S::Arg(2)),
        ],
        libc::SYS_rename => &[RES, ("oldpath", K::FsPath, S::Str(0)), ("newpath", K::FsPath, S::Str(1))],
        libc::SYS_renameat => &[
            RES,
            ("olddirfd", K::Fd, S::Int(0)),
            ("oldpath", K::FsRelPath(1), S::Str(0)),
            ("newdirfd", K::Fd, S::Int(2)),
            ("newpath", K::FsRelPath(3), S::Str(1)),
        ],
        libc::SYS_renameat2 => &[
            RES,
            ("olddirfd", K::Fd, S::Int(0)),
            ("oldpath", K::FsRelPath(1), S::Str(0)),
            ("newdirfd", K::Fd, S::Int(2)),
            ("newpath", K::FsRelPath(3), S::Str(1)),
            ("flags", K::Flags(RENAMEAT2_FLAGS), S::Arg(4)),
        ],
        libc::SYS_mkdir => &[RES, ("path", K::FsPath, S::Str(0)), ("mode", K::Hex, S::Arg(1))],
        libc::SYS_mkdirat => &[
            RES,
            ("dirfd", K::Fd, S::Int(0)),
            ("path", K::FsRelPath(1), S::Str(0)),
            ("mode", K::Hex, S::Arg(2)),
        ],
        libc::SYS_rmdir => &[RES, ("path", K::FsPath, S::Str(0))],
        libc::SYS_symlink => &[RES, ("target", K::CharBuf, S::Str(0)), ("linkpath", K::FsPath, S::Str(1))],
        libc::SYS_symlinkat => &[
            RES,
            ("target", K::CharBuf, S::Str(0)),
            ("linkdirfd", K::Fd, S::Int(1)),
            ("linkpath", K::FsRelPath(2), S::Str(1)),
        ],
        libc::SYS_link => &[RES, ("oldpath", K::FsPath, S::Str(0)), ("newpath", K::FsPath, S::Str(1))],
        libc::SYS_linkat => &[
            RES,
            ("olddir", K::Fd, S::Int(0)),
            ("oldpath", K::FsRelPath(1), S::Str(0)),
            ("newdir", K::Fd, S::Int(2)),
            ("newpath", K::FsRelPath(3), S::Str(1)),
            ("flags", K::Flags(LINKAT_FLAGS), S::Arg(4)),
        ],
        libc::SYS_chmod => {
            &[RES, ("filename", K::FsPath, S::Str(0)), ("mode", K::Mode, S::Conv(1, mode_to_ppm))]
        }
        libc::SYS_fchmod => &[RES, ("fd", K::Fd, S::Int(0)), ("mode", K::Mode, S::Conv(1, mode_to_ppm))],
        libc::SYS_fchmodat => &[
            RES,
            ("dirfd", K::Fd, S::Int(0)),
            ("filename", K::FsRelPath(1), S::Str(0)),
            ("mode", K::Mode, S::Conv(2, mode_to_ppm)),
        ],
        libc::SYS_chown | libc::SYS_lchown => {
            &[RES, ("path", K::FsPath, S::Str(0)), ("uid", K::UDec, S::Arg(1)), ("gid", K::UDec, S::Arg(2))]
        }
        libc::SYS_fchown => {
            &[RES, ("fd", K::Fd, S::Int(0)), ("uid", K::UDec, S::Arg(1)), ("gid", K::UDec, S::Arg(2))]
        }
        libc::SYS_fchownat => &[
            RES,
            ("dirfd", K::Fd, S::Int(0)),
            ("pathname", K::FsRelPath(1), S::Str(0)),
            ("uid", K::UDec, S::Arg(2)),
            ("gid", K::UDec, S::Arg(3)),
            ("flags", K::Flags(FCHOWNAT_FLAGS), S::Conv(4, fchownat_to_ppm)),
        ],
        libc::SYS_setuid => &[RES, ("uid", K::Uid, S::Arg(0))],
        libc::SYS_setgid => &[RES, ("gid", K::Gid, S::Arg(0))],
        libc::SYS_setresuid => {
            &[RES, ("ruid", K::Uid, S::Arg(0)), ("euid", K::Uid, S::Arg(1)), ("suid", K::Uid, S::Arg(2))]
        }
        libc::SYS_setresgid => {
            &[RES, ("rgid", K::Gid, S::Arg(0)), ("egid", K::Gid, S::Arg(1)), ("sgid", K::Gid, S::Arg(2))]
        }
        libc::SYS_setsid => &[("res", K::Pid, S::Ret)],
        libc::SYS_setpgid => &[RES, ("pid", K::Pid, S::Int(0)), ("pgid", K::Pid, S::Int(1))],
        libc::SYS_capset => &[
            RES,
            ("cap_inheritable", K::Hex, S::Missing),
            ("cap_permitted", K::Hex, S::Proc(P::CapPermitted)),
            ("cap_effective", K::Hex, S::Proc(P::CapEffective)),
        ],
        libc::SYS_ptrace => &[
            RES,
            ("addr", K::Hex, S::Arg(2)),
            ("data", K::Hex, S::Arg(3)),
            ("request", K::Enum(PTRACE_REQUESTS), S::Conv(0, ptrace_to_ppm)),
            ("pid", K::Pid, S::Int(1)),
        ],
        libc::SYS_mount => &[
            RES,
            ("dev", K::CharBuf, S::Str(0)),
            ("dir", K::FsPath, S::Str(1)),
            ("type", K::CharBuf, S::Str(2)),
            ("flags", K::Flags(MOUNT_FLAGS), S::Conv(3, mount_to_ppm)),
        ],
        libc::SYS_umount2 => {
            &[RES, ("name", K::FsPath, S::Str(0)), ("flags", K::Flags(UMOUNT_FLAGS), S::Arg(1))]
        }
        libc::SYS_init_module => &[
            RES,
            ("img", K::ByteBuf, S::Missing),
            ("length", K::UDec, S::Arg(1)),
            ("uargs", K::CharBuf, S::Str(0)),
        ],
        libc::SYS_finit_module => &[
            RES,
            ("fd", K::Fd, S::Int(0)),
            ("uargs", K::CharBuf, S::Str(0)),
            ("flags", K::Flags(FINIT_MODULE_FLAGS), S::Arg(2)),
        ],
        libc::SYS_bpf => &[FD_RET, ("cmd", K::Enum(BPF_COMMANDS), S::Arg(0))],
        libc::SYS_memfd_create => {
            &[FD_RET, ("name", K::CharBuf, S::Str(0)), ("flags", K::Flags(MEMFD_CREATE_FLAGS), S::Arg(1))]
        }
        libc::SYS_userfaultfd => &[RES, ("flags", K::Flags(FILE_FLAGS), S::Arg(0))],
        libc::SYS_unshare => &[RES, ("flags", K::Flags(CLONE_FLAGS), S::Conv(0, clone_to_ppm))],
        libc::SYS_setns => {
            &[RES, ("fd", K::Fd, S::Int(0)), ("nstype", K::Flags(CLONE_FLAGS), S::Conv(1, clone_to_ppm))]
        }
        libc::SYS_kill => &[RES, ("pid", K::Pid, S::Int(0)), ("sig", K::Signal, S::Arg(1))],
        libc::SYS_tkill => &[RES, ("tid", K::Pid, S::Int(0)), ("sig", K::Signal, S::Arg(1))],
        libc::SYS_tgkill => {
            &[RES, ("pid", K::Pid, S::Int(0)), ("tid", K::Pid, S::Int(1)), ("sig", K::Signal, S::Arg(2))]
        }
        libc::SYS_chdir => &[RES, ("path", K::CharBuf, S::Str(0))],
        libc::SYS_fchdir => &[RES, ("fd", K::Fd, S::Int(0))],
        // Falco has no fchmodat2 event: Lanner gives it fchmodat's, whose work it does (with
        // AT_SYMLINK_NOFOLLOW), so that chmod rules read the same parameters.
        SYS_FCHMODAT2 => &[
            RES,
            ("dirfd", K::Fd, S::Int(0)),
            ("filename", K::FsRelPath(1), S::Str(0)),
            ("mode", K::Mode, S::Conv(2, mode_to_ppm)),
            ("flags", K::Hex, S::Arg(3)),
        ],
        libc::SYS_process_vm_readv | libc::SYS_process_vm_writev => {
            &[("res", K::Dec, S::Ret), ("pid", K::Pid, S::Int(0)), ("data", K::ByteBuf, S::Missing)]
        }
        libc::SYS_open_by_handle_at => &[
            FD_RET,
            ("mountfd", K::Fd, S::Int(0)),
            ("flags", K::Flags(FILE_FLAGS), S::Conv(2, open_to_ppm)),
            ("path", K::FsPath, S::FdName),
            ("dev", K::Hex, S::Missing),
            ("ino", K::UDec, S::Missing),
        ],
        libc::SYS_pidfd_open => &[
            FD_RET,
            ("pid", K::Pid, S::Int(0)),
            ("flags", K::Flags(PIDFD_OPEN_FLAGS), S::Conv(1, pidfd_open_to_ppm)),
        ],
        libc::SYS_pidfd_getfd => &[
            FD_RET,
            ("pid_fd", K::Fd, S::Int(0)),
            ("target_fd", K::Dec, S::Int(1)),
            ("flags", K::Hex, S::Arg(2)),
        ],
        libc::SYS_io_uring_setup => &[
            RES,
            ("entries", K::UDec, S::Arg(0)),
            ("sq_entries", K::UDec, S::Missing),
            ("cq_entries", K::UDec, S::Missing),
            ("flags", K::Hex, S::Missing),
            ("sq_thread_cpu", K::UDec, S::Missing),
            ("sq_thread_idle", K::UDec, S::Missing),
            ("features", K::Hex, S::Missing),
        ],
        libc::SYS_io_uring_enter => &[
            RES,
            ("fd", K::Fd, S::Int(0)),
            ("to_submit", K::UDec, S::Conv(1, low_u32)),
            ("min_complete", K::UDec, S::Conv(2, low_u32)),
            ("flags", K::Flags(IO_URING_ENTER_FLAGS), S::Conv(3, low_u32)),
            ("sig", K::Hex, S::Arg(4)),
        ],
        libc::SYS_io_uring_register => &[
            RES,
            ("fd", K::Fd, S::Int(0)),
            ("opcode", K::UDec, S::Conv(1, low_u32)),
            ("arg", K::Hex, S::Arg(2)),
            ("nr_args", K::UDec, S::Conv(3, low_u32)),
        ],
        IO_URING_SUBMIT_NR => &[
            ("opcode", K::Enum(IO_URING_OPS), S::Arg(0)),
            ("fd", K::Fd, S::Int(1)),
            ("name", K::FsRelPath(1), S::Str(0)),
            ("flags", K::Flags(FILE_FLAGS), S::Conv(2, open_to_ppm)),
            ("mode", K::Oct, S::OpenMode { flags: 2, mode: 3 }),
            ("resolve", K::Flags(RESOLVE_FLAGS), S::Conv(4, resolve_to_ppm)),
            ("addr", K::SockAddr, S::Addr),
        ],
        // Falco has no events for these (its generic event): Lanner names their arguments.
        libc::SYS_name_to_handle_at => &[
            RES,
            ("dirfd", K::Fd, S::Int(0)),
            ("pathname", K::FsRelPath(1), S::Str(0)),
            ("flags", K::Hex, S::Arg(4)),
        ],
        libc::SYS_fsopen => &[RES, ("fs_name", K::CharBuf, S::Str(0)), ("flags", K::Hex, S::Arg(1))],
        libc::SYS_fsmount => &[
            FD_RET,
            ("fs_fd", K::Fd, S::Int(0)),
            ("flags", K::Hex, S::Arg(1)),
            ("attr_flags", K::Hex, S::Arg(2)),
        ],
        libc::SYS_move_mount => &[
            RES,
            ("from_dirfd", K::Fd, S::Int(0)),
            ("from_pathname", K::FsRelPath(1), S::Str(0)),
            ("to_dirfd", K::Fd, S::Int(2)),
            ("to_pathname", K::FsRelPath(3), S::Str(1)),
            ("flags", K::Hex, S::Arg(4)),
        ],
        libc::SYS_open_tree => &[
            FD_RET,
            ("dirfd", K::Fd, S::Int(0)),
            ("filename", K::FsRelPath(1), S::Str(0)),
            ("flags", K::Hex, S::Arg(2)),
        ],
        _ => &GENERIC,
    }
}

/// The parameters of a syscall's event that Falco has and live capture does not fill.
pub fn missing(nr: u32) -> impl Iterator<Item = &'static str> {
    defs(nr).iter().filter(|d| matches!(d.2, Src::Missing)).map(|d| d.0)
}

/// Which parameter: by name or by position.
#[derive(Debug, Clone, Copy)]
pub enum ArgRef<'a> {
    /// `evt.arg.flags`.
    Name(&'a str),
    /// `evt.arg[0]`.
    Index(usize),
}

/// What rendering needs besides the record: the tables, for fds, pids, users and paths.
pub struct Ctx<'a> {
    /// The tables.
    pub state: &'a State,
    /// The record.
    pub raw: &'a RawEvent,
    /// What applying it learned.
    pub prep: &'a Prepared,
    /// The calling process, when known.
    pub proc: Option<&'a Process>,
}

impl<'a> Ctx<'a> {
    /// The view of one record.
    pub fn new(state: &'a State, raw: &'a RawEvent, prep: &'a Prepared) -> Self {
        Ctx { state, raw, prep, proc: state.table.process_of(raw.tid) }
    }

    fn nr(&self) -> Option<u32> {
        self.prep.nr
    }

    /// An fd of the process; the one the event closed (or failed to open) included.
    fn fd(&self, n: i64) -> Option<&'a Fd> {
        match &self.prep.fd {
            FdView::Owned(m, f) if *m == n => Some(f),
            _ => self.proc?.fds.get(&n),
        }
    }

    fn event_fd(&self) -> Option<&'a Fd> {
        match &self.prep.fd {
            FdView::None => None,
            FdView::Table(n) => self.proc?.fds.get(n),
            FdView::Owned(_, f) => Some(f),
        }
    }
}

/// A parameter's text: the plain one, and the resolved one when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// What `evt.rawarg`-like output shows (the number, the path as written).
    pub plain: String,
    /// Falco's resolved text (names, joined paths), when not empty.
    pub resolved: Option<String>,
}

impl Rendered {
    fn plain(s: impl Into<String>) -> Self {
        Rendered { plain: s.into(), resolved: None }
    }

    /// The field's value: the resolved text when there is one, else the plain one.
    pub fn text(self) -> String {
        self.resolved.unwrap_or(self.plain)
    }
}

/// `evt.arg.NAME` / `evt.arg[N]`.
pub fn value(ctx: &Ctx<'_>, which: ArgRef<'_>) -> Option<String> {
    let defs = defs(ctx.nr()?);
    let i = match which {
        ArgRef::Name(n) => defs.iter().position(|d| d.0 == n)?,
        ArgRef::Index(i) => i,
    };
    render(ctx, defs, i).map(Rendered::text)
}

/// `evt.args`: `name=plain` or `name=plain(resolved)` per filled parameter, space-separated.
pub fn all(ctx: &Ctx<'_>) -> Option<String> {
    let defs = defs(ctx.nr()?);
    let mut out = String::new();
    for (i, d) in defs.iter().enumerate() {
        let Some(r) = render(ctx, defs, i) else { continue };
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(d.0);
        out.push('=');
        out.push_str(&r.plain);
        if let Some(res) = r.resolved {
            out.push('(');
            out.push_str(&res);
            out.push(')');
        }
    }
    Some(out)
}

/// `evt.res`: `SUCCESS`, else the return parameter's resolved text (an errno name), or its
/// number when it has none (a pid return value, an errno Falco does not name).
pub fn res(ctx: &Ctx<'_>) -> Cow<'static, str> {
    let ret = ctx.raw.ret;
    if ret >= 0 {
        return Cow::Borrowed("SUCCESS");
    }
    let named = match ctx.nr().map(defs).and_then(|d| d.first()) {
        Some((_, Kind::Pid, Src::Ret)) => None,
        _ => errno_name(ret),
    };
    named.map_or_else(|| Cow::Owned(ret.to_string()), Cow::Borrowed)
}

/// The captured string of a string parameter, by name (for the tables' paths).
pub fn string_arg<'r>(raw: &'r RawEvent, nr: u32, name: &str) -> Option<&'r [u8]> {
    defs(nr).iter().find(|d| d.0 == name).and_then(|d| match d.2 {
        Src::Str(i) => raw.strings.get(i).map(|c| c.bytes.as_slice()),
        _ => None,
    })
}

/// A parameter's value before rendering.
enum V<'a> {
    Num(i64),
    Text(Cow<'a, str>),
    Bytes(Vec<u8>),
    Addr(&'a SockAddr),
    Tuple(Option<SocketAddr>, Option<SocketAddr>),
}

fn source<'a>(ctx: &Ctx<'a>, src: Src) -> Option<V<'a>> {
    let raw = ctx.raw;
    let p = || ctx.proc;
    Some(match src {
        Src::Ret => V::Num(raw.ret),
        Src::Int(i) => V::Num(raw.args[i] as i32 as i64),
        Src::Arg(i) => V::Num(raw.args[i] as i64),
        Src::Conv(i, f) => V::Num(f(raw.args[i]) as i64),
        Src::OpenMode { flags, mode } => V::Num(open_mode(raw.args[flags], raw.args[mode]) as i64),
        Src::Nr => V::Num(ctx.nr()? as i64),
        Src::Str(i) => V::Text(String::from_utf8_lossy(&raw.strings.get(i)?.bytes)),
        Src::Addr => V::Addr(raw.sockaddr.as_ref()?),
        Src::Tuple => {
            // The socket's ends as the probe read them from the kernel, else as the tables
            // know them; an accepted socket's tuple reads peer -> local, others local -> peer.
            let (local, remote) = match &raw.tuple {
                Some(t) => (Some(t.local), t.remote),
                None => {
                    let s = ctx.event_fd()?.sock.as_ref()?;
                    (s.local, s.remote)
                }
            };
            if matches!(ctx.nr().map(i64::from), Some(libc::SYS_accept | libc::SYS_accept4)) {
                V::Tuple(remote, local)
            } else {
                V::Tuple(local, remote)
            }
        }
        Src::Data => V::Bytes(raw.data.as_ref()?.bytes.clone()),
        Src::FdFlags => V::Num(open_to_ppm(ctx.event_fd()?.flags as u64) as i64),
        Src::How(i, f) => V::Num(f(open_how(raw)?[i]) as i64),
        Src::FdName => V::Text(Cow::Borrowed(&ctx.event_fd()?.name)),
        Src::HowMode => {
            let how = open_how(raw)?;
            V::Num(open_mode(how[0], how[1]) as i64)
        }
        Src::Missing => return None,
        Src::Proc(what) => match what {
            P::Tid => V::Num(raw.tid as i64),
            P::Pid => V::Num(raw.tgid as i64),
            P::Ptid => V::Num(p().map_or(raw.ppid, |p| p.ppid) as i64),
            P::Uid => V::Num(raw.uid as i64),
            P::Gid => V::Num(raw.gid as i64),
            P::LoginUid => V::Num(raw.loginuid as i64),
            P::CapPermitted => V::Num(raw.cap_permitted as i64),
            P::CapEffective => V::Num(raw.cap_effective as i64),
            P::Exe => V::Text(Cow::Borrowed(&p()?.exe)),
            P::Comm => V::Text(Cow::Borrowed(&p()?.comm)),
            P::ExePath => V::Text(Cow::Borrowed(&p()?.exepath)),
            P::Tty => V::Num(p()?.tty as i64),
            P::Pgid => V::Num(p()?.pgid as i64),
            P::Vpgid => V::Num(p()?.vpgid as i64),
            P::Vpid => V::Num(p()?.vpid as i64),
            P::Vtid => V::Num(ctx.state.table.vtid(p()?, raw.tid) as i64),
            P::ExeFlags => V::Num(exe_flags(p()?) as i64),
            P::Args => V::Bytes(nul_joined(&p()?.args)),
            P::Env => V::Bytes(nul_joined(&p()?.env)),
        },
    })
}

/// Falco's `exe_flags` of a process's executable, from what the probe read at its exec (or
/// `/proc` for a process that was running before capture started).
fn exe_flags(p: &Process) -> u32 {
    [
        (p.exe_writable, PPM_EXE_WRITABLE),
        (p.exe_upper_layer, PPM_EXE_UPPER_LAYER),
        (p.exe_from_memfd, PPM_EXE_FROM_MEMFD),
        (p.exe_lower_layer, PPM_EXE_LOWER_LAYER),
    ]
    .into_iter()
    .filter(|(set, _)| *set)
    .fold(0, |f, (_, bit)| f | bit)
}

fn nul_joined(items: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in items {
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }
    out
}

fn render(ctx: &Ctx<'_>, defs: &[ArgDef], i: usize) -> Option<Rendered> {
    let (_, kind, src) = *defs.get(i)?;
    if kind == Kind::SyscallId {
        return Some(Rendered::plain(ctx.prep.type_name));
    }
    let v = source(ctx, src)?;
    let num = |v: &V<'_>| match v {
        V::Num(n) => Some(*n),
        _ => None,
    };
    Some(match kind {
        Kind::Fd => {
            let n = num(&v)?;
            Rendered { plain: n.to_string(), resolved: fd_text(ctx, n) }
        }
        Kind::Errno => {
            let n = num(&v)?;
            Rendered { plain: n.to_string(), resolved: errno_name(n).map(str::to_string) }
        }
        Kind::Pid => {
            let n = num(&v)?;
            let comm =
                u32::try_from(n).ok().and_then(|t| ctx.state.table.process_of(t)).map(|p| p.comm.clone());
            Rendered { plain: n.to_string(), resolved: comm.filter(|c| !c.is_empty()) }
        }
        Kind::Dec => Rendered::plain(num(&v)?.to_string()),
        Kind::UDec => Rendered::plain((num(&v)? as u64).to_string()),
        Kind::Oct => Rendered::plain(octal(num(&v)? as u64)),
        Kind::Hex => Rendered::plain(format!("{:X}", num(&v)? as u64)),
        Kind::Flags(table) => {
            let n = num(&v)? as u32;
            Rendered { plain: n.to_string(), resolved: flag_names(table, n) }
        }
        Kind::Enum(table) => {
            let n = num(&v)? as u32;
            let names: Vec<&str> = table.iter().filter(|(_, val)| *val == n).map(|(name, _)| *name).collect();
            Rendered { plain: n.to_string(), resolved: (!names.is_empty()).then(|| names.join("|")) }
        }
        Kind::Mode => {
            let n = num(&v)? as u32;
            Rendered { plain: octal(n as u64), resolved: mode_names(n) }
        }
        Kind::Uid | Kind::Gid => {
            let n = num(&v)? as u32;
            if n == u32::MAX {
                Rendered { plain: "-1".into(), resolved: Some("<NONE>".into()) }
            } else {
                let users = &ctx.state.users;
                let name =
                    if kind == Kind::Uid { users.user(n).map(|u| u.name.as_str()) } else { users.group(n) };
                let name = name.filter(|s| !s.is_empty()).unwrap_or("<NA>");
                Rendered { plain: (n as i32).to_string(), resolved: Some(name.to_string()) }
            }
        }
        Kind::Signal => {
            let n = num(&v)? as u8;
            Rendered { plain: n.to_string(), resolved: signal_name(n).map(str::to_string) }
        }
        Kind::SyscallId => unreachable!("rendered above"),
        Kind::CharBuf => match v {
            V::Text(t) => Rendered::plain(t.into_owned()),
            _ => return None,
        },
        Kind::ByteBuf => match v {
            V::Bytes(b) => Rendered::plain(dots(&b)),
            V::Text(t) => Rendered::plain(dots(t.as_bytes())),
            _ => return None,
        },
        Kind::FsPath | Kind::FsRelPath(_) => {
            let V::Text(path) = v else { return None };
            let resolved = match (ctx.proc, kind) {
                (Some(p), _) if !path.is_empty() && !path.starts_with('/') => {
                    let dirfd = match kind {
                        Kind::FsRelPath(d) => match source(ctx, defs[d].2) {
                            Some(V::Num(fd)) if fd != libc::AT_FDCWD as i64 => Some(fd),
                            _ => None,
                        },
                        _ => None,
                    };
                    Some(p.resolve(dirfd, &path))
                }
                _ => None,
            };
            Rendered { plain: path.into_owned(), resolved }
        }
        Kind::SockAddr => match v {
            V::Addr(SockAddr::Inet(a)) => Rendered::plain(addr_text(a)),
            V::Addr(SockAddr::Unix(p)) => Rendered::plain(String::from_utf8_lossy(p).into_owned()),
            V::Addr(SockAddr::Other(f)) => Rendered::plain(format!("family {f}")),
            _ => return None,
        },
        // Both ends or nothing: an end the tables do not know is not made up.
        Kind::SockTuple => match v {
            V::Tuple(Some(src), Some(dst)) => {
                Rendered::plain(format!("{}->{}", addr_text(&src), addr_text(&dst)))
            }
            _ => return None,
        },
    })
}

/// `PT_FD`'s resolved text.
fn fd_text(ctx: &Ctx<'_>, n: i64) -> Option<String> {
    if n >= 0 {
        let f = ctx.fd(n)?;
        let l4 = match f.sock.as_ref().filter(|_| f.kind.is_inet()).map(|s| s.l4) {
            Some(L4::Tcp) => "t",
            Some(L4::Udp) => "u",
            Some(L4::Icmp) => "i",
            Some(L4::Raw) => "r",
            _ => "",
        };
        Some(format!("<{}{l4}>{}", f.kind.typechar(), f.name))
    } else if n == libc::AT_FDCWD as i64 {
        Some("AT_FDCWD".into())
    } else {
        errno_name(n).map(str::to_string)
    }
}

/// `ip:port`, without brackets around an IPv6 address, as Falco writes addresses.
fn addr_text(a: &SocketAddr) -> String {
    format!("{}:{}", a.ip(), a.port())
}

/// `%#o`.
fn octal(n: u64) -> String {
    if n == 0 { "0".into() } else { format!("0{n:o}") }
}

/// Printable bytes as they are, others as `.`.
fn dots(b: &[u8]) -> String {
    b.iter().map(|&c| if (0x20..0x7f).contains(&c) { c as char } else { '.' }).collect()
}

/// The names of `PT_FLAGS` bits, Falco's way: in table order, each matched value taken out of
/// the remainder (so `O_RDWR` hides `O_RDONLY` and `O_WRONLY`), a zero-valued name only for
/// zero, stopping at a name equal to the whole value.
pub fn flag_names(table: &[(&str, u32)], value: u32) -> Option<String> {
    let mut rest = value;
    let mut names: Vec<&str> = Vec::new();
    for &(name, v) in table {
        let hit = (v == 0 && value == 0) || (v != 0 && rest != 0 && rest & v == v);
        if hit {
            rest &= !v;
            names.push(name);
            if v == value {
                break;
            }
        }
    }
    (!names.is_empty()).then(|| names.join("|"))
}

/// The names of `PT_MODE` bits, Falco's way: set bits in `chmod_mode` order, and a name
/// equal to the whole value ends the list with that name.
pub fn mode_names(value: u32) -> Option<String> {
    let mut rest = value;
    let mut names: Vec<&str> = Vec::new();
    for &(name, v) in CHMOD_MODE {
        if v == value {
            names.push(name);
            break;
        }
        if (v == 0 && value == 0) || (v != 0 && rest != 0 && rest & v == v) {
            names.push(name);
            rest &= !v;
        }
    }
    (!names.is_empty()).then(|| names.join("|"))
}

/// Falco's errno names (libsinsp's `errno_to_str`), for a negative return value.
pub fn errno_name(ret: i64) -> Option<&'static str> {
    let e = -ret;
    if e <= 0 {
        return None;
    }
    if let Some(name) = usize::try_from(e).ok().and_then(|i| ERRNO_NAMES.get(i)).filter(|n| !n.is_empty()) {
        return Some(name);
    }
    KERNEL_ERRNO_NAMES.iter().find(|(n, _)| i64::from(*n) == e).map(|(_, name)| *name)
}

/// Errno names 1 to 125, by number (41 and 58 are aliases Falco does not name).
const ERRNO_NAMES: [&str; 126] = [
    "",
    "EPERM",
    "ENOENT",
    "ESRCH",
    "EINTR",
    "EIO",
    "ENXIO",
    "E2BIG",
    "ENOEXEC",
    "EBADF",
    "ECHILD",
    "EAGAIN",
    "ENOMEM",
    "EACCES",
    "EFAULT",
    "ENOTBLK",
    "EBUSY",
    "EEXIST",
    "EXDEV",
    "ENODEV",
    "ENOTDIR",
    "EISDIR",
    "EINVAL",
    "ENFILE",
    "EMFILE",
    "ENOTTY",
    "ETXTBSY",
    "EFBIG",
    "ENOSPC",
    "ESPIPE",
    "EROFS",
    "EMLINK",
    "EPIPE",
    "EDOM",
    "ERANGE",
    "EDEADLK",
    "ENAMETOOLONG",
    "ENOLCK",
    "ENOSYS",
    "ENOTEMPTY",
    "ELOOP",
    "",
    "ENOMSG",
    "EIDRM",
    "ECHRNG",
    "EL2NSYNC",
    "EL3HLT",
    "EL3RST",
    "ELNRNG",
    "EUNATCH",
    "ENOCSI",
    "EL2HLT",
    "EBADE",
    "EBADR",
    "EXFULL",
    "ENOANO",
    "EBADRQC",
    "EBADSLT",
    "",
    "EBFONT",
    "ENOSTR",
    "ENODATA",
    "ETIME",
    "ENOSR",
    "ENONET",
    "ENOPKG",
    "EREMOTE",
    "ENOLINK",
    "EADV",
    "ESRMNT",
    "ECOMM",
    "EPROTO",
    "EMULTIHOP",
    "EDOTDOT",
    "EBADMSG",
    "EOVERFLOW",
    "ENOTUNIQ",
    "EBADFD",
    "EREMCHG",
    "ELIBACC",
    "ELIBBAD",
    "ELIBSCN",
    "ELIBMAX",
    "ELIBEXEC",
    "EILSEQ",
    "ERESTART",
    "ESTRPIPE",
    "EUSERS",
    "ENOTSOCK",
    "EDESTADDRREQ",
    "EMSGSIZE",
    "EPROTOTYPE",
    "ENOPROTOOPT",
    "EPROTONOSUPPORT",
    "ESOCKTNOSUPPORT",
    "EOPNOTSUPP",
    "EPFNOSUPPORT",
    "EAFNOSUPPORT",
    "EADDRINUSE",
    "EADDRNOTAVAIL",
    "ENETDOWN",
    "ENETUNREACH",
    "ENETRESET",
    "ECONNABORTED",
    "ECONNRESET",
    "ENOBUFS",
    "EISCONN",
    "ENOTCONN",
    "ESHUTDOWN",
    "ETOOMANYREFS",
    "ETIMEDOUT",
    "ECONNREFUSED",
    "EHOSTDOWN",
    "EHOSTUNREACH",
    "EALREADY",
    "EINPROGRESS",
    "ESTALE",
    "EUCLEAN",
    "ENOTNAM",
    "ENAVAIL",
    "EISNAM",
    "EREMOTEIO",
    "EDQUOT",
    "ENOMEDIUM",
    "EMEDIUMTYPE",
    "ECANCELED",
];

/// The kernel-internal errnos Falco names.
const KERNEL_ERRNO_NAMES: [(u16, &str); 15] = [
    (512, "ERESTARTSYS"),
    (513, "ERESTARTNOINTR"),
    (514, "ERESTARTNOHAND"),
    (515, "ENOIOCTLCMD"),
    (516, "ERESTART_RESTARTBLOCK"),
    (521, "EBADHANDLE"),
    (522, "ENOTSYNC"),
    (523, "EBADCOOKIE"),
    (524, "ENOTSUPP"),
    (525, "ETOOSMALL"),
    (526, "ESERVERFAULT"),
    (527, "EBADTYPE"),
    (528, "EJUKEBOX"),
    (529, "EIOCBQUEUED"),
    (530, "EIOCBRETRY"),
];

/// Falco's signal names (libsinsp's `signal_to_str`).
fn signal_name(s: u8) -> Option<&'static str> {
    const NAMES: [&str; 32] = [
        "",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    NAMES.get(s as usize).copied().filter(|n| !n.is_empty())
}

// Falco's flag layouts (ppm_events_public.h) and name tables (flags_table.c), in table order.

const PPM_O_RDONLY: u32 = 1;
const PPM_O_WRONLY: u32 = 1 << 1;
const PPM_O_CREAT: u32 = 1 << 2;
const PPM_O_APPEND: u32 = 1 << 3;
const PPM_O_DSYNC: u32 = 1 << 4;
const PPM_O_EXCL: u32 = 1 << 5;
const PPM_O_NONBLOCK: u32 = 1 << 6;
const PPM_O_SYNC: u32 = 1 << 7;
const PPM_O_TRUNC: u32 = 1 << 8;
const PPM_O_DIRECT: u32 = 1 << 9;
const PPM_O_DIRECTORY: u32 = 1 << 10;
const PPM_O_LARGEFILE: u32 = 1 << 11;
const PPM_O_CLOEXEC: u32 = 1 << 12;
const PPM_O_TMPFILE: u32 = 1 << 13;

const FILE_FLAGS: &[(&str, u32)] = &[
    ("O_LARGEFILE", PPM_O_LARGEFILE),
    ("O_DIRECTORY", PPM_O_DIRECTORY),
    ("O_DIRECT", PPM_O_DIRECT),
    ("O_TRUNC", PPM_O_TRUNC),
    ("O_SYNC", PPM_O_SYNC),
    ("O_NONBLOCK", PPM_O_NONBLOCK),
    ("O_EXCL", PPM_O_EXCL),
    ("O_DSYNC", PPM_O_DSYNC),
    ("O_APPEND", PPM_O_APPEND),
    ("O_CREAT", PPM_O_CREAT),
    ("O_RDWR", PPM_O_RDONLY | PPM_O_WRONLY),
    ("O_WRONLY", PPM_O_WRONLY),
    ("O_RDONLY", PPM_O_RDONLY),
    ("O_CLOEXEC", PPM_O_CLOEXEC),
    ("O_NONE", 0),
    ("O_TMPFILE", PPM_O_TMPFILE),
    ("O_F_CREATED", 1 << 14),
    ("FD_UPPER_LAYER", 1 << 15),
    ("FD_LOWER_LAYER", 1 << 16),
];

/// Falco's `fcntl_commands`, by its PPM values.
const FCNTL_CMDS: &[(&str, u32)] = &[
    ("F_GETPIPE_SZ", 29),
    ("F_SETPIPE_SZ", 28),
    ("F_NOTIFY", 27),
    ("F_DUPFD_CLOEXEC", 26),
    ("F_CANCELLK", 25),
    ("F_GETLEASE", 24),
    ("F_SETLEASE", 23),
    ("F_GETOWN_EX", 22),
    ("F_SETOWN_EX", 21),
    ("F_GETSIG", 15),
    ("F_SETSIG", 13),
    ("F_GETOWN", 12),
    ("F_SETOWN", 10),
    ("F_SETLKW", 9),
    ("F_SETLK", 8),
    ("F_GETLK", 6),
    ("F_SETFL", 5),
    ("F_GETFL", 4),
    ("F_SETFD", 3),
    ("F_GETFD", 2),
    ("F_DUPFD", 1),
    ("F_OFD_GETLK", 30),
    ("F_OFD_SETLK", 31),
    ("F_OFD_SETLKW", 32),
];

/// An `fcntl` command as the PPM value Falco's tables name (0: unknown).
pub fn fcntl_to_ppm(cmd: u64) -> u64 {
    match cmd as i32 {
        libc::F_DUPFD => 1,
        libc::F_GETFD => 2,
        libc::F_SETFD => 3,
        libc::F_GETFL => 4,
        libc::F_SETFL => 5,
        libc::F_GETLK => 6,
        libc::F_SETLK => 8,
        libc::F_SETLKW => 9,
        libc::F_SETOWN => 10,
        libc::F_GETOWN => 12,
        // F_SETSIG, F_GETSIG, F_SETOWN_EX, F_GETOWN_EX (not in the libc crate).
        10 => 13,
        11 => 15,
        15 => 21,
        16 => 22,
        libc::F_SETLEASE => 23,
        libc::F_GETLEASE => 24,
        libc::F_CANCELLK => 25,
        libc::F_DUPFD_CLOEXEC => 26,
        libc::F_NOTIFY => 27,
        libc::F_SETPIPE_SZ => 28,
        libc::F_GETPIPE_SZ => 29,
        libc::F_OFD_GETLK => 30,
        libc::F_OFD_SETLK => 31,
        libc::F_OFD_SETLKW => 32,
        _ => 0,
    }
}

/// Open flags in Falco's layout (the drivers' `open_flags_to_scap`).
pub fn open_to_ppm(f: u64) -> u64 {
    let f = f as i32;
    let mut r = match f & libc::O_ACCMODE {
        libc::O_WRONLY => PPM_O_WRONLY,
        libc::O_RDWR => PPM_O_RDONLY | PPM_O_WRONLY,
        _ => PPM_O_RDONLY,
    };
    for (native, ppm) in [
        (libc::O_CREAT, PPM_O_CREAT),
        (libc::O_TMPFILE, PPM_O_TMPFILE),
        (libc::O_APPEND, PPM_O_APPEND),
        (libc::O_DSYNC, PPM_O_DSYNC),
        (libc::O_EXCL, PPM_O_EXCL),
        (libc::O_NONBLOCK, PPM_O_NONBLOCK),
        (libc::O_SYNC, PPM_O_SYNC),
        (libc::O_TRUNC, PPM_O_TRUNC),
        (libc::O_DIRECT, PPM_O_DIRECT),
        (libc::O_DIRECTORY, PPM_O_DIRECTORY),
        (libc::O_LARGEFILE, PPM_O_LARGEFILE),
        (libc::O_CLOEXEC, PPM_O_CLOEXEC),
    ] {
        // Falco tests any overlap, so O_TMPFILE (which includes O_DIRECTORY) and O_SYNC (which
        // includes O_DSYNC) are named whenever one of their bits is set.
        if f & native != 0 {
            r |= ppm;
        }
    }
    r as u64
}

/// The mode of an open: Falco keeps it only when the open may create a file.
/// openat2's `struct open_how` (flags, mode, resolve) as the probe read it at entry: the
/// flags the kernel acts on, which the syscall's arguments only point to. `None` when the
/// pointer could not be read (the kernel then fails the call with EFAULT).
pub fn open_how(raw: &RawEvent) -> Option<[u64; 3]> {
    let b = &raw.data.as_ref()?.bytes;
    let word = |i: usize| Some(u64::from_ne_bytes(b.get(i * 8..i * 8 + 8)?.try_into().ok()?));
    Some([word(0)?, word(1).unwrap_or(0), word(2).unwrap_or(0)])
}

/// fchmodat2 (Linux 6.6), newer than the libc crate's tables.
pub const SYS_FCHMODAT2: i64 = 452;

/// Lanner's event of an operation submitted through an io_uring ring (a number no syscall
/// has).
pub const IO_URING_SUBMIT_NR: i64 = lanner_capture::syscalls::IO_URING_SUBMIT.0 as i64;

/// `IORING_OP_OPENAT` and `IORING_OP_OPENAT2`.
pub const IORING_OP_OPENS: [u64; 2] = [18, 28];

/// The `IORING_OP_*` names (`linux/io_uring.h`), by value.
const IO_URING_OPS: &[(&str, u32)] = &[
    ("IORING_OP_NOP", 0),
    ("IORING_OP_READV", 1),
    ("IORING_OP_WRITEV", 2),
    ("IORING_OP_FSYNC", 3),
    ("IORING_OP_READ_FIXED", 4),
    ("IORING_OP_WRITE_FIXED", 5),
    ("IORING_OP_POLL_ADD", 6),
    ("IORING_OP_POLL_REMOVE", 7),
    ("IORING_OP_SYNC_FILE_RANGE", 8),
    ("IORING_OP_SENDMSG", 9),
    ("IORING_OP_RECVMSG", 10),
    ("IORING_OP_TIMEOUT", 11),
    ("IORING_OP_TIMEOUT_REMOVE", 12),
    ("IORING_OP_ACCEPT", 13),
    ("IORING_OP_ASYNC_CANCEL", 14),
    ("IORING_OP_LINK_TIMEOUT", 15),
    ("IORING_OP_CONNECT", 16),
    ("IORING_OP_FALLOCATE", 17),
    ("IORING_OP_OPENAT", 18),
    ("IORING_OP_CLOSE", 19),
    ("IORING_OP_FILES_UPDATE", 20),
    ("IORING_OP_STATX", 21),
    ("IORING_OP_READ", 22),
    ("IORING_OP_WRITE", 23),
    ("IORING_OP_FADVISE", 24),
    ("IORING_OP_MADVISE", 25),
    ("IORING_OP_SEND", 26),
    ("IORING_OP_RECV", 27),
    ("IORING_OP_OPENAT2", 28),
    ("IORING_OP_EPOLL_CTL", 29),
    ("IORING_OP_SPLICE", 30),
    ("IORING_OP_PROVIDE_BUFFERS", 31),
    ("IORING_OP_REMOVE_BUFFERS", 32),
    ("IORING_OP_TEE", 33),
    ("IORING_OP_SHUTDOWN", 34),
    ("IORING_OP_RENAMEAT", 35),
    ("IORING_OP_UNLINKAT", 36),
    ("IORING_OP_MKDIRAT", 37),
    ("IORING_OP_SYMLINKAT", 38),
    ("IORING_OP_LINKAT", 39),
    ("IORING_OP_MSG_RING", 40),
    ("IORING_OP_FSETXATTR", 41),
    ("IORING_OP_SETXATTR", 42),
    ("IORING_OP_FGETXATTR", 43),
    ("IORING_OP_GETXATTR", 44),
    ("IORING_OP_SOCKET", 45),
    ("IORING_OP_URING_CMD", 46),
    ("IORING_OP_SEND_ZC", 47),
    ("IORING_OP_SENDMSG_ZC", 48),
];

fn low_u32(v: u64) -> u64 {
    v & 0xffff_ffff
}

/// pidfd_open's `PIDFD_NONBLOCK` (`O_NONBLOCK`) as Falco's `PPM_PIDFD_NONBLOCK`.
fn pidfd_open_to_ppm(f: u64) -> u64 {
    u64::from(f as i32 & libc::O_NONBLOCK != 0)
}

const PIDFD_OPEN_FLAGS: &[(&str, u32)] = &[("PIDFD_NONBLOCK", 1)];

/// Falco's names of io_uring_enter's flags (the kernel's bits).
const IO_URING_ENTER_FLAGS: &[(&str, u32)] = &[
    ("IORING_ENTER_GETEVENTS", 1),
    ("IORING_ENTER_SQ_WAKEUP", 2),
    ("IORING_ENTER_SQ_WAIT", 4),
    ("IORING_ENTER_EXT_ARG", 8),
];

/// openat2's `RESOLVE_*` bits in Falco's layout (`PPM_RESOLVE_*`).
fn resolve_to_ppm(r: u64) -> u64 {
    // Kernel: NO_XDEV 0x01, NO_MAGICLINKS 0x02, NO_SYMLINKS 0x04, BENEATH 0x08, IN_ROOT 0x10,
    // CACHED 0x20.
    [(0x08, 1), (0x10, 2), (0x02, 4), (0x04, 8), (0x01, 16), (0x20, 32)]
        .iter()
        .filter(|(native, _)| r & native != 0)
        .fold(0, |acc, (_, ppm)| acc | ppm)
}

/// Falco's names of openat2's resolve flags.
const RESOLVE_FLAGS: &[(&str, u32)] = &[
    ("RESOLVE_BENEATH", 1),
    ("RESOLVE_IN_ROOT", 2),
    ("RESOLVE_NO_MAGICLINKS", 4),
    ("RESOLVE_NO_SYMLINKS", 8),
    ("RESOLVE_NO_XDEV", 16),
    ("RESOLVE_CACHED", 32),
];

fn open_mode(flags: u64, mode: u64) -> u64 {
    if flags as i32 & (libc::O_CREAT | libc::O_TMPFILE) == 0 { 0 } else { mode_to_ppm(mode) }
}

/// Permission bits in Falco's layout (`PPM_S_*` are the kernel's bits).
fn mode_to_ppm(m: u64) -> u64 {
    m & 0o7777
}

fn cloexec_to_ppm(f: u64) -> u64 {
    if f as i32 & libc::O_CLOEXEC != 0 { PPM_O_CLOEXEC as u64 } else { 0 }
}

fn sock_flags_to_ppm(f: u64) -> u64 {
    let mut r = cloexec_to_ppm(f);
    if f as i32 & libc::O_NONBLOCK != 0 {
        r |= PPM_O_NONBLOCK as u64;
    }
    r
}

fn fchownat_to_ppm(f: u64) -> u64 {
    f & (libc::AT_SYMLINK_FOLLOW | libc::AT_EMPTY_PATH) as u64
}

fn mount_to_ppm(f: u64) -> u64 {
    // The old magic number in the top 16 bits is dropped.
    if f & 0xffff_0000 == 0xc0ed_0000 { f & 0xffff } else { f & 0xffff_ffff }
}

const CHMOD_MODE: &[(&str, u32)] = &[
    ("S_IXOTH", 0o1),
    ("S_IWOTH", 0o2),
    ("S_IROTH", 0o4),
    ("S_IXGRP", 0o10),
    ("S_IWGRP", 0o20),
    ("S_IRGRP", 0o40),
    ("S_IXUSR", 0o100),
    ("S_IWUSR", 0o200),
    ("S_IRUSR", 0o400),
    ("S_ISVTX", 0o1000),
    ("S_ISGID", 0o2000),
    ("S_ISUID", 0o4000),
];

const PPM_EXE_WRITABLE: u32 = 1;
const PPM_EXE_UPPER_LAYER: u32 = 1 << 1;
const PPM_EXE_FROM_MEMFD: u32 = 1 << 2;
const PPM_EXE_LOWER_LAYER: u32 = 1 << 3;

const EXE_FLAGS: &[(&str, u32)] = &[
    ("EXE_WRITABLE", PPM_EXE_WRITABLE),
    ("EXE_UPPER_LAYER", PPM_EXE_UPPER_LAYER),
    ("EXE_FROM_MEMFD", PPM_EXE_FROM_MEMFD),
    ("EXE_LOWER_LAYER", PPM_EXE_LOWER_LAYER),
];

const SOCKET_FAMILIES: &[(&str, u32)] = &[
    ("AF_NFC", 39),
    ("AF_ALG", 38),
    ("AF_CAIF", 37),
    ("AF_IEEE802154", 36),
    ("AF_PHONET", 35),
    ("AF_ISDN", 34),
    ("AF_RXRPC", 33),
    ("AF_IUCV", 32),
    ("AF_BLUETOOTH", 31),
    ("AF_TIPC", 30),
    ("AF_CAN", 29),
    ("AF_LLC", 26),
    ("AF_WANPIPE", 25),
    ("AF_PPPOX", 24),
    ("AF_IRDA", 23),
    ("AF_SNA", 22),
    ("AF_RDS", 21),
    ("AF_ATMSVC", 20),
    ("AF_ECONET", 19),
    ("AF_ASH", 18),
    ("AF_PACKET", 17),
    ("AF_ROUTE", 16),
    ("AF_NETLINK", 16),
    ("AF_KEY", 15),
    ("AF_SECURITY", 14),
    ("AF_NETBEUI", 13),
    ("AF_DECnet", 12),
    ("AF_ROSE", 11),
    ("AF_INET6", 10),
    ("AF_X25", 9),
    ("AF_ATMPVC", 8),
    ("AF_BRIDGE", 7),
    ("AF_NETROM", 6),
    ("AF_APPLETALK", 5),
    ("AF_IPX", 4),
    ("AF_AX25", 3),
    ("AF_INET", 2),
    ("AF_LOCAL", 1),
    ("AF_UNIX", 1),
    ("AF_UNSPEC", 0),
];

const CLONE_FLAGS: &[(&str, u32)] = &[
    ("CLONE_FILES", 1),
    ("CLONE_FS", 1 << 1),
    ("CLONE_IO", 1 << 2),
    ("CLONE_NEWIPC", 1 << 3),
    ("CLONE_NEWNET", 1 << 4),
    ("CLONE_NEWNS", 1 << 5),
    ("CLONE_NEWPID", 1 << 6),
    ("CLONE_NEWUTS", 1 << 7),
    ("CLONE_PARENT", 1 << 8),
    ("CLONE_PARENT_SETTID", 1 << 9),
    ("CLONE_PTRACE", 1 << 10),
    ("CLONE_SIGHAND", 1 << 11),
    ("CLONE_SYSVSEM", 1 << 12),
    ("CLONE_THREAD", 1 << 13),
    ("CLONE_UNTRACED", 1 << 14),
    ("CLONE_VM", 1 << 15),
    ("CLONE_INVERTED", 1 << 16),
    ("NAME_CHANGED", 1 << 17),
    ("CLOSED", 1 << 18),
    ("CLONE_NEWUSER", 1 << 20),
    ("CLONE_CHILD_CLEARTID", 1 << 23),
    ("CLONE_CHILD_SETTID", 1 << 24),
    ("CLONE_SETTLS", 1 << 25),
    ("CLONE_STOPPED", 1 << 26),
    ("CLONE_VFORK", 1 << 27),
    ("CLONE_NEWCGROUP", 1 << 28),
    ("CLONE_CHILD_IN_PIDNS", 1 << 29),
];

/// Clone, unshare and setns flags in Falco's layout (`clone_flags_to_scap`).
fn clone_to_ppm(f: u64) -> u64 {
    let f = f as i32;
    let mut r = 0u32;
    for (native, bit) in [
        (libc::CLONE_FILES, 0),
        (libc::CLONE_FS, 1),
        (libc::CLONE_IO, 2),
        (libc::CLONE_NEWIPC, 3),
        (libc::CLONE_NEWNET, 4),
        (libc::CLONE_NEWNS, 5),
        (libc::CLONE_NEWPID, 6),
        (libc::CLONE_NEWUTS, 7),
        (libc::CLONE_PARENT, 8),
        (libc::CLONE_PARENT_SETTID, 9),
        (libc::CLONE_PTRACE, 10),
        (libc::CLONE_SIGHAND, 11),
        (libc::CLONE_SYSVSEM, 12),
        (libc::CLONE_THREAD, 13),
        (libc::CLONE_UNTRACED, 14),
        (libc::CLONE_VM, 15),
        (libc::CLONE_NEWUSER, 20),
        (libc::CLONE_CHILD_CLEARTID, 23),
        (libc::CLONE_CHILD_SETTID, 24),
        (libc::CLONE_SETTLS, 25),
        (libc::CLONE_VFORK, 27),
        (libc::CLONE_NEWCGROUP, 28),
    ] {
        if f & native != 0 {
            r |= 1 << bit;
        }
    }
    r as u64
}

const UNLINKAT_FLAGS: &[(&str, u32)] = &[("AT_REMOVEDIR", 0x200)];
const LINKAT_FLAGS: &[(&str, u32)] = &[("AT_SYMLINK_FOLLOW", 0x400), ("AT_EMPTY_PATH", 0x1000)];
// Falco's table names 0x400 AT_SYMLINK_NOFOLLOW for fchownat.
const FCHOWNAT_FLAGS: &[(&str, u32)] = &[("AT_SYMLINK_NOFOLLOW", 0x400), ("AT_EMPTY_PATH", 0x1000)];
const RENAMEAT2_FLAGS: &[(&str, u32)] =
    &[("RENAME_NOREPLACE", 1), ("RENAME_EXCHANGE", 1 << 1), ("RENAME_WHITEOUT", 1 << 2)];
const MEMFD_CREATE_FLAGS: &[(&str, u32)] =
    &[("MFD_CLOEXEC", 1), ("MFD_ALLOW_SEALING", 2), ("MFD_HUGETLB", 4)];
const FINIT_MODULE_FLAGS: &[(&str, u32)] = &[
    ("MODULE_INIT_IGNORE_MODVERSIONS", 1),
    ("MODULE_INIT_IGNORE_VERMAGIC", 2),
    ("MODULE_INIT_COMPRESSED_FILE", 4),
];
// CLOSE_RANGE_UNSHARE is bit 1 and CLOSE_RANGE_CLOEXEC bit 2, in the kernel and in Falco.
const CLOSE_RANGE_FLAGS: &[(&str, u32)] = &[("CLOSE_RANGE_UNSHARE", 1 << 1), ("CLOSE_RANGE_CLOEXEC", 1 << 2)];
const UMOUNT_FLAGS: &[(&str, u32)] = &[("FORCE", 1), ("DETACH", 2), ("EXPIRE", 4), ("NOFOLLOW", 8)];

const MOUNT_FLAGS: &[(&str, u32)] = &[
    ("RDONLY", 1),
    ("NOSUID", 1 << 1),
    ("NODEV", 1 << 2),
    ("NOEXEC", 1 << 3),
    ("SYNCHRONOUS", 1 << 4),
    ("REMOUNT", 1 << 5),
    ("MANDLOCK", 1 << 6),
    ("DIRSYNC", 1 << 7),
    ("NOATIME", 1 << 10),
    ("NODIRATIME", 1 << 11),
    ("BIND", 1 << 12),
    ("MOVE", 1 << 13),
    ("REC", 1 << 14),
    ("SILENT", 1 << 15),
    ("POSIXACL", 1 << 16),
    ("UNBINDABLE", 1 << 17),
    ("PRIVATE", 1 << 18),
    ("SLAVE", 1 << 19),
    ("SHARED", 1 << 20),
    ("RELATIME", 1 << 21),
    ("KERNMOUNT", 1 << 22),
    ("I_VERSION", 1 << 23),
    ("STRICTATIME", 1 << 24),
    ("LAZYTIME", 1 << 25),
    ("NOSEC", 1 << 28),
    ("BORN", 1 << 29),
    ("ACTIVE", 1 << 30),
    ("NOUSER", 1 << 31),
];

/// Falco's ptrace request numbers (its own enumeration), by the kernel's request number.
fn ptrace_to_ppm(r: u64) -> u64 {
    match r as i64 {
        0 => 1,
        1 => 2,
        2 => 3,
        3 => 4,
        4 => 5,
        5 => 6,
        6 => 7,
        7 => 8,
        8 => 9,
        9 => 10,
        16 => 11,
        17 => 12,
        24 => 13,
        0x4200 => 14,
        0x4201 => 15,
        0x4202 => 16,
        0x4203 => 17,
        0x4204 => 18,
        0x4205 => 19,
        0x4206 => 20,
        0x4207 => 21,
        0x4208 => 22,
        0x4209 => 23,
        0x420a => 24,
        0x420b => 25,
        12 => 26,
        13 => 27,
        14 => 28,
        15 => 29,
        18 => 30,
        19 => 31,
        21 => 32,
        25 => 33,
        26 => 34,
        30 => 35,
        31 => 36,
        32 => 37,
        33 => 38,
        _ => 0,
    }
}

const PTRACE_REQUESTS: &[(&str, u32)] = &[
    ("PTRACE_SINGLEBLOCK", 38),
    ("PTRACE_SYSEMU_SINGLESTEP", 37),
    ("PTRACE_SYSEMU", 36),
    ("PTRACE_ARCH_PRCTL", 35),
    ("PTRACE_SET_THREAD_AREA", 34),
    ("PTRACE_GET_THREAD_AREA", 33),
    ("PTRACE_OLDSETOPTIONS", 32),
    ("PTRACE_SETFPXREGS", 31),
    ("PTRACE_GETFPXREGS", 30),
    ("PTRACE_SETFPREGS", 29),
    ("PTRACE_GETFPREGS", 28),
    ("PTRACE_SETREGS", 27),
    ("PTRACE_GETREGS", 26),
    ("PTRACE_SETSIGMASK", 25),
    ("PTRACE_GETSIGMASK", 24),
    ("PTRACE_PEEKSIGINFO", 23),
    ("PTRACE_LISTEN", 22),
    ("PTRACE_INTERRUPT", 21),
    ("PTRACE_SEIZE", 20),
    ("PTRACE_SETREGSET", 19),
    ("PTRACE_GETREGSET", 18),
    ("PTRACE_SETSIGINFO", 17),
    ("PTRACE_GETSIGINFO", 16),
    ("PTRACE_GETEVENTMSG", 15),
    ("PTRACE_SETOPTIONS", 14),
    ("PTRACE_SYSCALL", 13),
    ("PTRACE_DETACH", 12),
    ("PTRACE_ATTACH", 11),
    ("PTRACE_SINGLESTEP", 10),
    ("PTRACE_KILL", 9),
    ("PTRACE_CONT", 8),
    ("PTRACE_POKEUSR", 7),
    ("PTRACE_POKEDATA", 6),
    ("PTRACE_POKETEXT", 5),
    ("PTRACE_PEEKUSR", 4),
    ("PTRACE_PEEKDATA", 3),
    ("PTRACE_PEEKTEXT", 2),
    ("PTRACE_TRACEME", 1),
    ("PTRACE_UNKNOWN", 0),
];

/// bpf commands: Falco's numbers are the kernel's.
const BPF_COMMANDS: &[(&str, u32)] = &[
    ("BPF_MAP_CREATE", 0),
    ("BPF_MAP_LOOKUP_ELEM", 1),
    ("BPF_MAP_UPDATE_ELEM", 2),
    ("BPF_MAP_DELETE_ELEM", 3),
    ("BPF_MAP_GET_NEXT_KEY", 4),
    ("BPF_PROG_LOAD", 5),
    ("BPF_OBJ_PIN", 6),
    ("BPF_OBJ_GET", 7),
    ("BPF_PROG_ATTACH", 8),
    ("BPF_PROG_DETACH", 9),
    ("BPF_PROG_TEST_RUN", 10),
    ("BPF_PROG_RUN", 10),
    ("BPF_PROG_GET_NEXT_ID", 11),
    ("BPF_MAP_GET_NEXT_ID", 12),
    ("BPF_PROG_GET_FD_BY_ID", 13),
    ("BPF_MAP_GET_FD_BY_ID", 14),
    ("BPF_OBJ_GET_INFO_BY_FD", 15),
    ("BPF_PROG_QUERY", 16),
    ("BPF_RAW_TRACEPOINT_OPEN", 17),
    ("BPF_BTF_LOAD", 18),
    ("BPF_BTF_GET_FD_BY_ID", 19),
    ("BPF_TASK_FD_QUERY", 20),
    ("BPF_MAP_LOOKUP_AND_DELETE_ELEM", 21),
    ("BPF_MAP_FREEZE", 22),
    ("BPF_BTF_GET_NEXT_ID", 23),
    ("BPF_MAP_LOOKUP_BATCH", 24),
    ("BPF_MAP_LOOKUP_AND_DELETE_BATCH", 25),
    ("BPF_MAP_UPDATE_BATCH", 26),
    ("BPF_MAP_DELETE_BATCH", 27),
    ("BPF_LINK_CREATE", 28),
    ("BPF_LINK_UPDATE", 29),
    ("BPF_LINK_GET_FD_BY_ID", 30),
    ("BPF_LINK_GET_NEXT_ID", 31),
    ("BPF_ENABLE_STATS", 32),
    ("BPF_ITER_CREATE", 33),
    ("BPF_LINK_DETACH", 34),
    ("BPF_PROG_BIND_MAP", 35),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn names(table: &[(&str, u32)], v: u32) -> String {
        flag_names(table, v).unwrap_or_default()
    }

    #[test]
    fn open_flags_in_falcos_layout_and_order() {
        let f = |native: i32| names(FILE_FLAGS, open_to_ppm(native as u64) as u32);
        assert_eq!(f(libc::O_RDONLY | libc::O_CLOEXEC), "O_RDONLY|O_CLOEXEC");
        assert_eq!(f(libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC), "O_TRUNC|O_CREAT|O_WRONLY");
        assert_eq!(f(libc::O_RDWR), "O_RDWR");
        // The drivers test O_TMPFILE, which includes O_DIRECTORY's bit, by overlap: Falco names
        // O_TMPFILE on every directory open.
        assert_eq!(
            f(libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NONBLOCK),
            "O_DIRECTORY|O_NONBLOCK|O_RDONLY|O_TMPFILE"
        );
        // O_SYNC carries O_DSYNC's bit: Falco names both.
        assert_eq!(f(libc::O_WRONLY | libc::O_SYNC), "O_SYNC|O_DSYNC|O_WRONLY");
        // Zero is O_NONE (a socket without O_NONBLOCK or O_CLOEXEC).
        assert_eq!(names(FILE_FLAGS, sock_flags_to_ppm(libc::SOCK_STREAM as u64) as u32), "O_NONE");
        assert_eq!(names(FILE_FLAGS, sock_flags_to_ppm(libc::SOCK_CLOEXEC as u64) as u32), "O_CLOEXEC");
    }

    #[test]
    fn modes_by_name_in_chmod_mode_order() {
        assert_eq!(mode_names(0o644).unwrap(), "S_IROTH|S_IRGRP|S_IWUSR|S_IRUSR");
        assert_eq!(
            mode_names(0o4755).unwrap(),
            "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID"
        );
        // A mode that is one table entry is that name alone.
        assert_eq!(mode_names(0o400).unwrap(), "S_IRUSR");
        assert_eq!(mode_names(0o4000).unwrap(), "S_ISUID");
        assert_eq!(mode_names(0), None);
        assert_eq!(octal(0o755), "0755");
        assert_eq!(octal(0), "0");
    }

    #[test]
    fn errnos_signals_and_enums_by_falcos_names() {
        assert_eq!(errno_name(-2), Some("ENOENT"));
        assert_eq!(errno_name(-13), Some("EACCES"));
        assert_eq!(errno_name(-115), Some("EINPROGRESS"));
        assert_eq!(errno_name(-512), Some("ERESTARTSYS"));
        assert_eq!(errno_name(-41), None);
        assert_eq!(errno_name(0), None);
        assert_eq!(errno_name(3), None);
        assert_eq!(signal_name(9), Some("SIGKILL"));
        assert_eq!(signal_name(0), None);
        let exact = |t: &[(&str, u32)], v: u32| {
            t.iter().filter(|(_, x)| *x == v).map(|(n, _)| *n).collect::<Vec<_>>().join("|")
        };
        assert_eq!(exact(SOCKET_FAMILIES, libc::AF_UNIX as u32), "AF_LOCAL|AF_UNIX");
        assert_eq!(exact(SOCKET_FAMILIES, libc::AF_PACKET as u32), "AF_PACKET");
        assert_eq!(exact(PTRACE_REQUESTS, ptrace_to_ppm(libc::PTRACE_ATTACH as u64) as u32), "PTRACE_ATTACH");
        assert_eq!(
            exact(PTRACE_REQUESTS, ptrace_to_ppm(libc::PTRACE_TRACEME as u64) as u32),
            "PTRACE_TRACEME"
        );
        assert_eq!(exact(PTRACE_REQUESTS, ptrace_to_ppm(0x4206) as u32), "PTRACE_SEIZE");
        assert_eq!(exact(BPF_COMMANDS, 5), "BPF_PROG_LOAD");
        assert_eq!(
            names(CLONE_FLAGS, clone_to_ppm((libc::CLONE_NEWNS | libc::CLONE_NEWPID) as u64) as u32),
            "CLONE_NEWNS|CLONE_NEWPID"
        );
        assert_eq!(names(EXE_FLAGS, PPM_EXE_WRITABLE | PPM_EXE_UPPER_LAYER), "EXE_WRITABLE|EXE_UPPER_LAYER");
    }

    #[test]
    fn exe_flags_from_the_process() {
        let mut p = Process::unknown(1);
        assert_eq!(flag_names(EXE_FLAGS, exe_flags(&p)), None);
        p.exe_writable = true;
        p.exe_upper_layer = true;
        assert_eq!(flag_names(EXE_FLAGS, exe_flags(&p)).unwrap(), "EXE_WRITABLE|EXE_UPPER_LAYER");
        p.exe_upper_layer = false;
        p.exe_lower_layer = true;
        p.exe_from_memfd = true;
        assert_eq!(
            flag_names(EXE_FLAGS, exe_flags(&p)).unwrap(),
            "EXE_WRITABLE|EXE_FROM_MEMFD|EXE_LOWER_LAYER"
        );
    }

    #[test]
    fn parameter_lists_are_falcos_exit_events() {
        let names = |nr: i64| defs(nr as u32).iter().map(|d| d.0).collect::<Vec<_>>();
        assert_eq!(names(libc::SYS_open), ["fd", "name", "flags", "mode", "dev", "ino"]);
        assert_eq!(names(libc::SYS_openat), ["fd", "dirfd", "name", "flags", "mode", "dev", "ino"]);
        assert_eq!(names(libc::SYS_fchmodat), ["res", "dirfd", "filename", "mode"]);
        assert_eq!(names(libc::SYS_connect), ["res", "tuple", "fd", "addr"]);
        assert_eq!(names(libc::SYS_setuid), ["res", "uid"]);
        let execve = names(libc::SYS_execve);
        assert_eq!(execve.len(), 31);
        assert_eq!(execve[19], "flags");
        assert_eq!(execve[30], "filename");
        assert_eq!(names(libc::SYS_execveat).len(), 30);
        assert_eq!(names(libc::SYS_getpid), ["ID", "nativeID"]);
        assert!(missing(libc::SYS_open as u32).eq(["dev", "ino"]));
    }
}
