//! Syscall arguments by name, rendered as Falco renders them (`evt.arg.flags`,
//! `evt.arg[0]`, `evt.args`): fds as numbers, open flags and ptrace requests by name,
//! modes in octal, paths resolved and normalized (other strings as written).

use capture::record::{RawEvent, SockAddr};
use lanner_capture as capture;

/// How a raw argument is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An fd or dirfd (`AT_FDCWD` for -100).
    Fd,
    /// A signed number.
    Int,
    /// An unsigned number.
    Uint,
    /// A file mode, in octal.
    Mode,
    /// `open` flags, by name.
    OpenFlags,
    /// Generic flags, in hex.
    Flags,
    /// A ptrace request, by name.
    PtraceReq,
    /// A socket address family, by name.
    Domain,
    /// A socket type, by name.
    SockType,
    /// A signal, by name.
    Signal,
    /// The next captured string, as written.
    Str,
    /// The next captured string, a path: relative ones resolve against the directory of the
    /// fd argument at this index (`AT_FDCWD`: the cwd), or the cwd when `None`; every path is
    /// normalized, as `fd.name` is (Falco resolves its `PT_FSRELPATH` arguments likewise).
    Path(Option<usize>),
    /// The captured socket address.
    Addr,
}

impl Kind {
    /// Whether the argument is one of the captured strings.
    fn is_string(self) -> bool {
        matches!(self, Kind::Str | Kind::Path(_))
    }
}

/// Resolves a path argument: the directory fd (`None` for the cwd) and the path as written.
pub type Resolver<'a> = &'a dyn Fn(Option<i64>, &str) -> String;

/// One argument: its name, its kind, and which raw argument it is.
pub type ArgDef = (&'static str, Kind, usize);

/// The arguments of a syscall, by number.
pub fn defs(nr: u32) -> &'static [ArgDef] {
    use Kind::*;
    match nr as i64 {
        libc::SYS_open => &[("name", Path(None), 0), ("flags", OpenFlags, 1), ("mode", Mode, 2)],
        libc::SYS_openat => {
            &[("dirfd", Fd, 0), ("name", Path(Some(0)), 1), ("flags", OpenFlags, 2), ("mode", Mode, 3)]
        }
        libc::SYS_openat2 => &[("dirfd", Fd, 0), ("name", Path(Some(0)), 1)],
        libc::SYS_creat => &[("name", Path(None), 0), ("mode", Mode, 1)],
        libc::SYS_execve => &[("filename", Str, 0)],
        libc::SYS_execveat => &[("dirfd", Fd, 0), ("pathname", Path(Some(0)), 1), ("flags", Flags, 4)],
        libc::SYS_close => &[("fd", Fd, 0)],
        libc::SYS_dup => &[("fd", Fd, 0)],
        libc::SYS_dup2 => &[("oldfd", Fd, 0), ("newfd", Fd, 1)],
        libc::SYS_dup3 => &[("oldfd", Fd, 0), ("newfd", Fd, 1), ("flags", Flags, 2)],
        libc::SYS_socket => &[("domain", Domain, 0), ("type", SockType, 1), ("proto", Int, 2)],
        libc::SYS_connect => &[("fd", Fd, 0), ("addr", Addr, 1)],
        libc::SYS_bind => &[("fd", Fd, 0), ("addr", Addr, 1)],
        libc::SYS_listen => &[("fd", Fd, 0), ("backlog", Int, 1)],
        libc::SYS_accept => &[("fd", Fd, 0), ("addr", Addr, 1)],
        libc::SYS_accept4 => &[("fd", Fd, 0), ("addr", Addr, 1), ("flags", Flags, 3)],
        libc::SYS_sendto => &[("fd", Fd, 0), ("size", Uint, 2), ("addr", Addr, 4)],
        libc::SYS_sendmsg => &[("fd", Fd, 0), ("addr", Addr, 1)],
        libc::SYS_recvfrom => &[("fd", Fd, 0), ("size", Uint, 2), ("addr", Addr, 4)],
        libc::SYS_recvmsg => &[("fd", Fd, 0)],
        libc::SYS_unlink => &[("path", Path(None), 0)],
        libc::SYS_unlinkat => &[("dirfd", Fd, 0), ("name", Path(Some(0)), 1), ("flags", Flags, 2)],
        libc::SYS_rename => &[("oldpath", Path(None), 0), ("newpath", Path(None), 1)],
        libc::SYS_renameat => &[
            ("olddirfd", Fd, 0),
            ("oldpath", Path(Some(0)), 1),
            ("newdirfd", Fd, 2),
            ("newpath", Path(Some(2)), 3),
        ],
        libc::SYS_renameat2 => &[
            ("olddirfd", Fd, 0),
            ("oldpath", Path(Some(0)), 1),
            ("newdirfd", Fd, 2),
            ("newpath", Path(Some(2)), 3),
            ("flags", Flags, 4),
        ],
        libc::SYS_mkdir => &[("path", Path(None), 0), ("mode", Mode, 1)],
        libc::SYS_mkdirat => &[("dirfd", Fd, 0), ("path", Path(Some(0)), 1), ("mode", Mode, 2)],
        libc::SYS_rmdir => &[("path", Path(None), 0)],
        libc::SYS_symlink => &[("target", Str, 0), ("linkpath", Path(None), 1)],
        libc::SYS_symlinkat => &[("target", Str, 0), ("linkdirfd", Fd, 1), ("linkpath", Path(Some(1)), 2)],
        libc::SYS_link => &[("oldpath", Path(None), 0), ("newpath", Path(None), 1)],
        libc::SYS_linkat => &[
            ("olddir", Fd, 0),
            ("oldpath", Path(Some(0)), 1),
            ("newdir", Fd, 2),
            ("newpath", Path(Some(2)), 3),
            ("flags", Flags, 4),
        ],
        libc::SYS_chmod => &[("filename", Path(None), 0), ("mode", Mode, 1)],
        libc::SYS_fchmod => &[("fd", Fd, 0), ("mode", Mode, 1)],
        libc::SYS_fchmodat => &[("dirfd", Fd, 0), ("filename", Path(Some(0)), 1), ("mode", Mode, 2)],
        libc::SYS_chown | libc::SYS_lchown => &[("path", Path(None), 0), ("uid", Int, 1), ("gid", Int, 2)],
        libc::SYS_fchown => &[("fd", Fd, 0), ("uid", Int, 1), ("gid", Int, 2)],
        libc::SYS_fchownat => {
            &[("dirfd", Fd, 0), ("pathname", Path(Some(0)), 1), ("uid", Int, 2), ("gid", Int, 3)]
        }
        libc::SYS_setuid => &[("uid", Uint, 0)],
        libc::SYS_setgid => &[("gid", Uint, 0)],
        libc::SYS_setresuid => &[("ruid", Int, 0), ("euid", Int, 1), ("suid", Int, 2)],
        libc::SYS_setresgid => &[("rgid", Int, 0), ("egid", Int, 1), ("sgid", Int, 2)],
        libc::SYS_ptrace => &[("request", PtraceReq, 0), ("pid", Int, 1)],
        libc::SYS_mount => &[("dev", Str, 0), ("dir", Path(None), 1), ("type", Str, 2), ("flags", Flags, 3)],
        libc::SYS_umount2 => &[("name", Path(None), 0), ("flags", Flags, 1)],
        libc::SYS_init_module => &[("length", Uint, 1), ("uargs", Str, 2)],
        libc::SYS_finit_module => &[("fd", Fd, 0), ("uargs", Str, 1), ("flags", Flags, 2)],
        libc::SYS_bpf => &[("cmd", Int, 0)],
        libc::SYS_memfd_create => &[("name", Str, 0), ("flags", Flags, 1)],
        libc::SYS_userfaultfd => &[("flags", Flags, 0)],
        libc::SYS_unshare => &[("flags", Flags, 0)],
        libc::SYS_setns => &[("fd", Fd, 0), ("nstype", Flags, 1)],
        libc::SYS_clone => &[("flags", Flags, 0)],
        libc::SYS_kill => &[("pid", Int, 0), ("sig", Signal, 1)],
        libc::SYS_chdir => &[("path", Path(None), 0)],
        libc::SYS_fchdir => &[("fd", Fd, 0)],
        _ => &[],
    }
}

/// The index in `RawEvent::strings` of each `Str` argument: they come in argument order.
fn string_index(defs: &[ArgDef], i: usize) -> usize {
    defs[..i].iter().filter(|d| d.1.is_string()).count()
}

/// The value of an argument by name, or by position.
pub fn value(raw: &RawEvent, nr: u32, which: ArgRef<'_>, resolve: Resolver<'_>) -> Option<String> {
    let defs = defs(nr);
    let i = match which {
        ArgRef::Name(n) => defs.iter().position(|d| d.0 == n)?,
        ArgRef::Index(i) => (i < defs.len()).then_some(i)?,
    };
    render(raw, defs, i, resolve)
}

/// Which argument: by name or by position.
#[derive(Debug, Clone, Copy)]
pub enum ArgRef<'a> {
    /// `evt.arg.flags`.
    Name(&'a str),
    /// `evt.arg[0]`.
    Index(usize),
}

/// `evt.args`: every argument as `name=value`, space-separated.
pub fn all(raw: &RawEvent, nr: u32, resolve: Resolver<'_>) -> String {
    let defs = defs(nr);
    let mut out = String::new();
    for i in 0..defs.len() {
        if let Some(v) = render(raw, defs, i, resolve) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(defs[i].0);
            out.push('=');
            out.push_str(&v);
        }
    }
    out
}

fn render(raw: &RawEvent, defs: &[ArgDef], i: usize, resolve: Resolver<'_>) -> Option<String> {
    let (_, kind, a) = defs[i];
    let v = raw.args[a];
    Some(match kind {
        Kind::Fd => {
            let fd = v as i32;
            if fd == libc::AT_FDCWD { "AT_FDCWD".to_string() } else { fd.to_string() }
        }
        Kind::Int => (v as i64).to_string(),
        Kind::Uint => v.to_string(),
        Kind::Mode => format!("0{:o}", v & 0o7777),
        Kind::Flags => format!("{v:#x}"),
        Kind::OpenFlags => open_flags(v as u32),
        Kind::PtraceReq => ptrace_request(v as i64).to_string(),
        Kind::Domain => domain(v as i32).to_string(),
        Kind::SockType => sock_type(v as i32),
        Kind::Signal => signal(v as i32),
        Kind::Str => {
            let s = raw.strings.get(string_index(defs, i))?;
            String::from_utf8_lossy(&s.bytes).into_owned()
        }
        Kind::Path(dir) => {
            let s = raw.strings.get(string_index(defs, i))?;
            let path = String::from_utf8_lossy(&s.bytes);
            let dirfd = dir.map(|d| raw.args[d] as i32).filter(|fd| *fd != libc::AT_FDCWD).map(i64::from);
            resolve(dirfd, &path)
        }
        Kind::Addr => match raw.sockaddr.as_ref()? {
            SockAddr::Inet(a) => a.to_string(),
            SockAddr::Unix(p) => String::from_utf8_lossy(p).into_owned(),
            SockAddr::Other(f) => format!("family {f}"),
        },
    })
}

/// The index of a `Str` argument's string, by argument name (for paths).
pub fn string_arg<'r>(raw: &'r RawEvent, nr: u32, name: &str) -> Option<&'r [u8]> {
    let defs = defs(nr);
    let i = defs.iter().position(|d| d.0 == name && d.1.is_string())?;
    raw.strings.get(string_index(defs, i)).map(|c| c.bytes.as_slice())
}

/// Open flags by name, as Falco prints them: `O_RDONLY|O_CLOEXEC`.
pub fn open_flags(f: u32) -> String {
    let mut out = vec![match f as i32 & libc::O_ACCMODE {
        libc::O_RDONLY => "O_RDONLY",
        libc::O_WRONLY => "O_WRONLY",
        _ => "O_RDWR",
    }];
    for (bit, name) in [
        (libc::O_CREAT, "O_CREAT"),
        (libc::O_EXCL, "O_EXCL"),
        (libc::O_NOCTTY, "O_NOCTTY"),
        (libc::O_TRUNC, "O_TRUNC"),
        (libc::O_APPEND, "O_APPEND"),
        (libc::O_NONBLOCK, "O_NONBLOCK"),
        (libc::O_DSYNC, "O_DSYNC"),
        (libc::O_DIRECT, "O_DIRECT"),
        (libc::O_LARGEFILE, "O_LARGEFILE"),
        (libc::O_DIRECTORY, "O_DIRECTORY"),
        (libc::O_NOFOLLOW, "O_NOFOLLOW"),
        (libc::O_NOATIME, "O_NOATIME"),
        (libc::O_CLOEXEC, "O_CLOEXEC"),
        (libc::O_PATH, "O_PATH"),
        (libc::O_TMPFILE & !libc::O_DIRECTORY, "O_TMPFILE"),
    ] {
        if bit != 0 && f as i32 & bit == bit {
            out.push(name);
        }
    }
    out.join("|")
}

fn ptrace_request(r: i64) -> &'static str {
    match r {
        0 => "PTRACE_TRACEME",
        1 => "PTRACE_PEEKTEXT",
        2 => "PTRACE_PEEKDATA",
        3 => "PTRACE_PEEKUSR",
        4 => "PTRACE_POKETEXT",
        5 => "PTRACE_POKEDATA",
        6 => "PTRACE_POKEUSR",
        7 => "PTRACE_CONT",
        8 => "PTRACE_KILL",
        9 => "PTRACE_SINGLESTEP",
        12 => "PTRACE_GETREGS",
        13 => "PTRACE_SETREGS",
        16 => "PTRACE_ATTACH",
        17 => "PTRACE_DETACH",
        24 => "PTRACE_SYSCALL",
        0x4200 => "PTRACE_SETOPTIONS",
        0x4206 => "PTRACE_SEIZE",
        0x4207 => "PTRACE_INTERRUPT",
        _ => "PTRACE_UNKNOWN",
    }
}

fn domain(d: i32) -> &'static str {
    match d {
        libc::AF_UNIX => "AF_UNIX",
        libc::AF_INET => "AF_INET",
        libc::AF_INET6 => "AF_INET6",
        libc::AF_NETLINK => "AF_NETLINK",
        libc::AF_PACKET => "AF_PACKET",
        _ => "AF_UNKNOWN",
    }
}

fn sock_type(t: i32) -> String {
    let base = match t & 0xf {
        libc::SOCK_STREAM => "SOCK_STREAM",
        libc::SOCK_DGRAM => "SOCK_DGRAM",
        libc::SOCK_RAW => "SOCK_RAW",
        libc::SOCK_SEQPACKET => "SOCK_SEQPACKET",
        _ => "SOCK_UNKNOWN",
    };
    let mut s = base.to_string();
    if t & libc::SOCK_NONBLOCK != 0 {
        s.push_str("|SOCK_NONBLOCK");
    }
    if t & libc::SOCK_CLOEXEC != 0 {
        s.push_str("|SOCK_CLOEXEC");
    }
    s
}

fn signal(s: i32) -> String {
    match s {
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGSTOP => "SIGSTOP".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGHUP => "SIGHUP".into(),
        0 => "0".into(),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_render_like_falco() {
        assert_eq!(open_flags((libc::O_RDONLY | libc::O_CLOEXEC) as u32), "O_RDONLY|O_CLOEXEC");
        assert_eq!(
            open_flags((libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u32),
            "O_WRONLY|O_CREAT|O_TRUNC"
        );
        assert_eq!(ptrace_request(16), "PTRACE_ATTACH");
        assert_eq!(sock_type(libc::SOCK_STREAM | libc::SOCK_CLOEXEC), "SOCK_STREAM|SOCK_CLOEXEC");
    }
}
