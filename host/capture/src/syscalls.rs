//! x86_64 syscall numbers and names, and what the probe reads for each captured syscall.
//!
//! Any syscall number can be delivered: its record then has the six raw arguments and the
//! return value. The syscalls listed in [`CAPTURED`] also have strings and/or a socket
//! address read from user memory. [`RawEvent::strings`](crate::record::RawEvent::strings)
//! holds the strings in the order of [`SyscallSpec::strings`], one entry per listed string
//! argument (empty and not truncated when the pointer was NULL or unreadable); the socket
//! address, when there is one, is in [`RawEvent::sockaddr`](crate::record::RawEvent::sockaddr).
//!
//! | syscall | strings, in order | socket address |
//! | --- | --- | --- |
//! | execve | filename (arg 0) | |
//! | execveat | pathname (arg 1) | |
//! | open, creat | pathname (arg 0) | |
//! | openat, openat2 | pathname (arg 1) | |
//! | unlink, rmdir, mkdir, chmod, chown, lchown, chdir | pathname (arg 0) | |
//! | unlinkat, mkdirat, fchmodat, fchmodat2, fchownat | pathname (arg 1) | |
//! | rename, link | oldpath (arg 0), newpath (arg 1) | |
//! | renameat, renameat2, linkat | oldpath (arg 1), newpath (arg 3) | |
//! | symlink | target (arg 0), linkpath (arg 1) | |
//! | symlinkat | target (arg 0), linkpath (arg 2) | |
//! | mount | source (arg 0), target (arg 1), filesystemtype (arg 2) | |
//! | umount2 | target (arg 0) | |
//! | init_module | param_values (arg 2) | |
//! | finit_module | param_values (arg 1) | |
//! | memfd_create | name (arg 0) | |
//! | name_to_handle_at | pathname (arg 1) | |
//! | fsopen | fs_name (arg 0) | |
//! | move_mount | from_pathname (arg 1), to_pathname (arg 3) | |
//! | open_tree | filename (arg 1) | |
//! | connect, bind | | addr (arg 1, length arg 2), at exit |
//! | sendto | | dest_addr (arg 4, length arg 5), at exit; none when NULL |
//! | sendmsg | | `msg->msg_name` (arg 1), at exit; none when NULL |
//! | accept, accept4 | | the peer (arg 1, `*arg 2` bytes), at exit when it succeeded |
//! | recvfrom | | src_addr (arg 4, `*arg 5` bytes), at exit when it succeeded |
//! | recvmsg | | `msg->msg_name` (arg 1), at exit when it succeeded |
//!
//! connect, recvfrom and recvmsg (the fd in arg 0) and accept, accept4 (the fd returned) also
//! carry the socket's addresses as the kernel keeps them ([`RawEvent::tuple`](crate::record::RawEvent::tuple)).
//! openat2 also carries the `struct open_how` it was passed, read at entry
//! ([`RawEvent::data`](crate::record::RawEvent::data)).
//!
//! A 32-bit syscall (ia32: `int $0x80`, `sysenter`, a `-m32` program; x32) is delivered as
//! its x86_64 equivalent ([`ia32_map_values`]), its arguments in the x86_64 call's order;
//! `socketcall` as the socket call it makes. The data and the `msghdr` address of a 32-bit
//! iovec or `msghdr` call are not read (their layouts differ). A 32-bit syscall with no
//! x86_64 equivalent is counted ([`crate::CaptureStats::compat_unmapped`]).
//!
//! Strings are read at syscall entry (so what the process passed, not what a later change of
//! its memory says), bounded to [`MAX_STR`](lanner_probe_common::MAX_STR) bytes with
//! `truncated` set when longer. The other captured syscalls (close, dup, dup2, dup3, socket,
//! listen, fchmod, fchown, setuid, setgid, setresuid, setresgid, ptrace, bpf, userfaultfd,
//! unshare, setns, clone, clone3, fork, vfork, kill, fchdir, capset, setpgid, setsid, ...) carry their
//! arguments and return value only; they are read at exit.
//!
//! A record's timestamp and process details are taken at entry for the syscalls that read
//! something at entry (strings, or a socket address at entry), at exit for the others. The
//! process-creating syscalls (clone, clone3, fork, vfork) return twice and so give two
//! records: the parent's (`ret` is the child's id) and the child's (`ret` is 0, ids are the
//! child's). When a syscall's entry record is lost (the filter changed while it was in flight,
//! or the stash was full) the record is assembled at exit, its strings read then; after a
//! successful execve/execveat they are left empty.
//!
//! The name table is generated from the system's `asm/unistd_64.h`; syscalls newer than that
//! header are listed in [`NEWER`].

use lanner_probe_common::spec::{
    self, SOCK_ENTRY, SOCK_EXIT_LENPTR, SOCK_MSG_ENTRY, SOCK_MSG_EXIT, SOCK_NONE,
};

use lanner_event::evttype::{self, EventTypeId};

use crate::syscall_table::SYSCALLS;

/// Syscalls newer than the generated table's header (Linux 6.2 to 6.10), from the kernel's
/// `arch/x86/entry/syscalls/syscall_64.tbl`.
pub const NEWER: &[(u32, &str)] = &[
    (451, "cachestat"),
    (452, "fchmodat2"),
    (453, "map_shadow_stack"),
    (454, "futex_wake"),
    (455, "futex_wait"),
    (456, "futex_requeue"),
    (457, "statmount"),
    (458, "listmount"),
    (459, "lsm_get_self_attr"),
    (460, "lsm_set_self_attr"),
    (461, "lsm_list_modules"),
    (462, "mseal"),
];

/// The event of an operation submitted through an io_uring ring, under a number no x86_64
/// syscall has ([`lanner_probe_common::IO_URING_SUBMIT_NR`]): delivered like a syscall, from
/// the `io_uring_submit_req` tracepoint, for the opcodes that open, create, remove, connect
/// or write. Its arguments: opcode, fd, and for opens flags, mode, resolve; for opens the
/// path as its string, for connects the address. Its return value is 0: the operation had
/// not run yet.
pub const IO_URING_SUBMIT: (u32, &str) = (lanner_probe_common::IO_URING_SUBMIT_NR, "io_uring_submit");

/// The name of x86_64 syscall `nr`.
pub fn name(nr: u32) -> Option<&'static str> {
    all().find(|(n, _)| *n == nr).map(|(_, name)| name)
}

/// The x86_64 number of syscall `name`.
pub fn number(name: &str) -> Option<u32> {
    all().find(|(_, n)| *n == name).map(|(nr, _)| nr)
}

/// Every `(number, name)` known (with [`IO_URING_SUBMIT`]).
pub fn all() -> impl Iterator<Item = (u32, &'static str)> {
    SYSCALLS.iter().chain(NEWER).copied().chain([IO_URING_SUBMIT])
}

/// The Lanner event type of syscall `nr` (same name), if it has one.
pub fn event_type(nr: u32) -> Option<EventTypeId> {
    evttype::id_of(name(nr)?)
}

/// The syscall numbers whose event types are among `types`: what to deliver for rules that
/// need those event types. Non-syscall event types have no number and are left out.
pub fn numbers_for_event_types(types: impl IntoIterator<Item = EventTypeId>) -> Vec<u32> {
    let mut nrs: Vec<u32> = types.into_iter().filter_map(|t| number(evttype::name_of(t))).collect();
    nrs.sort_unstable();
    nrs.dedup();
    nrs
}

/// ia32 syscalls whose x86_64 equivalent has another name: the 16- and 32-bit uid calls,
/// the 64-bit file offset and `time64` variants, and calls x86_64 only has in a newer form.
const IA32_ALIASES: &[(&str, &str)] = &[
    ("fstatat64", "newfstatat"),
    ("mmap2", "mmap"),
    ("_llseek", "lseek"),
    ("_newselect", "select"),
    ("ugetrlimit", "getrlimit"),
    ("umount", "umount2"),
    ("fadvise64_64", "fadvise64"),
];

/// ia32 syscalls that share a name with an x86_64 one but take other arguments (a pointer to
/// a struct of them): left unmapped, and counted, rather than delivered with wrong arguments.
const IA32_DIFFERENT: &[&str] = &["select", "mmap"];

/// The `socketcall` calls (`SYS_SOCKET` = 1, ...) as x86_64 syscalls, with the number of
/// argument words each takes (`linux/net.h`).
const SOCKETCALLS: &[(u32, &str, u32)] = &[
    (1, "socket", 3),
    (2, "bind", 3),
    (3, "connect", 3),
    (4, "listen", 2),
    (5, "accept", 3),
    (6, "getsockname", 3),
    (7, "getpeername", 3),
    (8, "socketpair", 4),
    (9, "sendto", 4),
    (10, "recvfrom", 4),
    (11, "sendto", 6),
    (12, "recvfrom", 6),
    (13, "shutdown", 2),
    (14, "setsockopt", 5),
    (15, "getsockopt", 5),
    (16, "sendmsg", 3),
    (17, "recvmsg", 3),
    (18, "accept4", 4),
    (19, "recvmmsg", 5),
    (20, "sendmmsg", 4),
];

/// The x86_64 equivalent of ia32 syscall `name`, if it has one.
pub fn ia32_equivalent(name: &str) -> Option<u32> {
    if IA32_DIFFERENT.contains(&name) {
        return None;
    }
    let alias = IA32_ALIASES.iter().find(|(a, _)| *a == name).map(|(_, n)| *n);
    // The 32-bit uid calls (chown32, setuid32, ...), the 64-bit offset calls (stat64,
    // truncate64, ...) and the time64 calls are the x86_64 calls of the plain name.
    let stripped = [name.strip_suffix("32"), name.strip_suffix("_time64"), name.strip_suffix("64")];
    std::iter::once(Some(name)).chain([alias]).chain(stripped).flatten().find_map(number)
}

/// The name of ia32 syscall `nr`.
pub fn ia32_name(nr: u32) -> Option<&'static str> {
    // Since 424 the two tables share their numbers.
    crate::ia32_table::IA32_SYSCALLS.iter().chain(NEWER).find(|(n, _)| *n == nr).map(|(_, name)| *name)
}

/// The probe's ia32 map (see `lanner_probe_common::ia32_map`): for each ia32 syscall number,
/// then each `socketcall` call, its x86_64 equivalent.
pub fn ia32_map_values() -> Vec<u32> {
    use lanner_probe_common::{IA32_ENTRIES, IA32_SOCKETCALL_BASE, ia32_map};
    let mut values = vec![0u32; IA32_ENTRIES as usize];
    let ia32 = crate::ia32_table::IA32_SYSCALLS.iter().chain(NEWER.iter().filter(|(n, _)| *n >= 424));
    for &(nr, name) in ia32 {
        if let (Some(v), Some(native)) = (values.get_mut(nr as usize), ia32_equivalent(name)) {
            *v = (native + 1) | (6 << ia32_map::NARGS_SHIFT);
        }
    }
    for &(call, name, nargs) in SOCKETCALLS {
        if let Some(native) = number(name) {
            values[(IA32_SOCKETCALL_BASE + call) as usize] = (native + 1) | (nargs << ia32_map::NARGS_SHIFT);
        }
    }
    values
}

/// How a socket address argument is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockArg {
    /// At entry: a pointer argument and a length argument.
    Entry {
        /// Index of the `struct sockaddr *` argument.
        addr: u8,
        /// Index of the length argument.
        len: u8,
    },
    /// At exit, when the syscall succeeded: a pointer argument and a pointer to the length.
    ExitLenPtr {
        /// Index of the `struct sockaddr *` argument.
        addr: u8,
        /// Index of the `socklen_t *` argument.
        len_ptr: u8,
    },
    /// At entry: `msg_name` of a `struct msghdr *` argument.
    MsgEntry {
        /// Index of the `struct msghdr *` argument.
        msg: u8,
    },
    /// At exit, when the syscall succeeded: `msg_name` of a `struct msghdr *` argument.
    MsgExit {
        /// Index of the `struct msghdr *` argument.
        msg: u8,
    },
    /// Not a socket address: at entry, a struct a pointer argument points to, of the size a
    /// length argument gives (openat2's `open_how`), in
    /// [`RawEvent::data`](crate::record::RawEvent::data).
    Struct {
        /// Index of the pointer argument.
        ptr: u8,
        /// Index of the size argument.
        len: u8,
    },
}

/// What the probe reads for one syscall, besides the raw arguments and return value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyscallSpec {
    /// The x86_64 syscall number.
    pub nr: u32,
    /// Its name.
    pub name: &'static str,
    /// String arguments, in the order they appear in `RawEvent::strings`: (arg index, name).
    pub strings: &'static [(u8, &'static str)],
    /// The socket address argument.
    pub sockaddr: Option<SockArg>,
}

const fn s(nr: u32, name: &'static str, strings: &'static [(u8, &'static str)]) -> SyscallSpec {
    SyscallSpec { nr, name, strings, sockaddr: None }
}

const fn sock(nr: u32, name: &'static str, arg: SockArg) -> SyscallSpec {
    SyscallSpec { nr, name, strings: &[], sockaddr: Some(arg) }
}

const PATH0: &[(u8, &str)] = &[(0, "pathname")];
const PATH1: &[(u8, &str)] = &[(1, "pathname")];
const OLD0_NEW1: &[(u8, &str)] = &[(0, "oldpath"), (1, "newpath")];
const OLD1_NEW3: &[(u8, &str)] = &[(1, "oldpath"), (3, "newpath")];
const NONE: &[(u8, &str)] = &[];

/// The syscalls Lanner captures, with their string and socket address arguments. Capturing
/// other syscall numbers works too (arguments and return value only).
pub const CAPTURED: &[SyscallSpec] = &[
    s(59, "execve", &[(0, "filename")]),
    s(322, "execveat", PATH1),
    s(2, "open", PATH0),
    s(257, "openat", PATH1),
    SyscallSpec {
        nr: 437,
        name: "openat2",
        strings: PATH1,
        sockaddr: Some(SockArg::Struct { ptr: 2, len: 3 }),
    },
    s(85, "creat", PATH0),
    s(3, "close", NONE),
    s(32, "dup", NONE),
    s(33, "dup2", NONE),
    s(292, "dup3", NONE),
    s(41, "socket", NONE),
    sock(42, "connect", SockArg::Entry { addr: 1, len: 2 }),
    sock(43, "accept", SockArg::ExitLenPtr { addr: 1, len_ptr: 2 }),
    sock(288, "accept4", SockArg::ExitLenPtr { addr: 1, len_ptr: 2 }),
    sock(49, "bind", SockArg::Entry { addr: 1, len: 2 }),
    s(50, "listen", NONE),
    sock(44, "sendto", SockArg::Entry { addr: 4, len: 5 }),
    sock(46, "sendmsg", SockArg::MsgEntry { msg: 1 }),
    sock(45, "recvfrom", SockArg::ExitLenPtr { addr: 4, len_ptr: 5 }),
    sock(47, "recvmsg", SockArg::MsgExit { msg: 1 }),
    s(87, "unlink", PATH0),
    s(263, "unlinkat", PATH1),
    s(82, "rename", OLD0_NEW1),
    s(264, "renameat", OLD1_NEW3),
    s(316, "renameat2", OLD1_NEW3),
    s(83, "mkdir", PATH0),
    s(258, "mkdirat", PATH1),
    s(84, "rmdir", PATH0),
    s(88, "symlink", &[(0, "target"), (1, "linkpath")]),
    s(266, "symlinkat", &[(0, "target"), (2, "linkpath")]),
    s(86, "link", OLD0_NEW1),
    s(265, "linkat", OLD1_NEW3),
    s(90, "chmod", PATH0),
    s(91, "fchmod", NONE),
    s(268, "fchmodat", PATH1),
    s(452, "fchmodat2", PATH1),
    s(92, "chown", PATH0),
    s(93, "fchown", NONE),
    s(94, "lchown", PATH0),
    s(260, "fchownat", PATH1),
    s(105, "setuid", NONE),
    s(106, "setgid", NONE),
    s(117, "setresuid", NONE),
    s(119, "setresgid", NONE),
    s(101, "ptrace", NONE),
    s(165, "mount", &[(0, "source"), (1, "target"), (2, "filesystemtype")]),
    s(166, "umount2", &[(0, "target")]),
    s(175, "init_module", &[(2, "param_values")]),
    s(313, "finit_module", &[(1, "param_values")]),
    s(321, "bpf", NONE),
    s(319, "memfd_create", &[(0, "name")]),
    s(323, "userfaultfd", NONE),
    s(272, "unshare", NONE),
    s(308, "setns", NONE),
    s(56, "clone", NONE),
    s(435, "clone3", NONE),
    s(57, "fork", NONE),
    s(58, "vfork", NONE),
    s(62, "kill", NONE),
    s(80, "chdir", PATH0),
    s(81, "fchdir", NONE),
    s(126, "capset", NONE),
    s(0, "read", NONE),
    s(1, "write", NONE),
    s(17, "pread64", NONE),
    s(18, "pwrite64", NONE),
    s(19, "readv", NONE),
    s(20, "writev", NONE),
    s(295, "preadv", NONE),
    s(296, "pwritev", NONE),
    s(109, "setpgid", NONE),
    s(112, "setsid", NONE),
    // Calls that do what the ones above do by another way: another process's memory, a file
    // by handle or by another process's descriptor, the new mount API, io_uring.
    s(310, "process_vm_readv", NONE),
    s(311, "process_vm_writev", NONE),
    s(303, "name_to_handle_at", PATH1),
    s(304, "open_by_handle_at", NONE),
    s(434, "pidfd_open", NONE),
    s(438, "pidfd_getfd", NONE),
    s(430, "fsopen", &[(0, "fs_name")]),
    s(432, "fsmount", NONE),
    s(429, "move_mount", &[(1, "from_pathname"), (3, "to_pathname")]),
    s(428, "open_tree", &[(1, "filename")]),
    s(425, "io_uring_setup", NONE),
    s(426, "io_uring_enter", NONE),
    s(427, "io_uring_register", NONE),
    // Not a syscall: operations submitted through io_uring rings (see IO_URING_SUBMIT).
    s(IO_URING_SUBMIT.0, IO_URING_SUBMIT.1, NONE),
];

/// The spec of captured syscall `nr`.
pub fn spec(nr: u32) -> Option<&'static SyscallSpec> {
    CAPTURED.iter().find(|s| s.nr == nr)
}

/// Whether syscall `nr` passes a socket address at entry (`connect`, `bind`, `sendto`,
/// `sendmsg`): the ones [`crate::CaptureConfig::address_required`] can apply to.
pub fn takes_entry_address(nr: u32) -> bool {
    spec(nr).is_some_and(|s| matches!(s.sockaddr, Some(SockArg::Entry { .. } | SockArg::MsgEntry { .. })))
}

/// The syscalls whose data can be captured (see [`data_bits`]): Falco's read and write
/// family.
pub const DATA_SYSCALLS: &[&str] = &[
    "read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev", "sendto", "recvfrom",
    "sendmsg", "recvmsg",
];

/// The filter bits that make the probe keep syscall `nr`'s data (0: it has none).
pub fn data_bits(nr: u32) -> u32 {
    match name(nr) {
        Some("read" | "write" | "pread64" | "pwrite64" | "sendto" | "recvfrom") => spec::DATA_BUF,
        Some("readv" | "writev" | "preadv" | "pwritev") => spec::DATA_IOV,
        Some("sendmsg" | "recvmsg") => spec::DATA_BUF | spec::DATA_IOV,
        _ => 0,
    }
}

/// The filter value of a syscall called from a 32-bit ABI, from its x86_64 value: 32-bit
/// `iovec` and `msghdr` layouts differ from x86_64's, so their data and address are not read
/// (the record is still delivered, with its arguments and return value).
pub fn compat_filter_value(v: u32) -> u32 {
    let mut s = v;
    if s & spec::DATA_IOV != 0 {
        s &= !(spec::DATA_IOV | spec::DATA_BUF);
    }
    if matches!(spec::sock_mode(s), SOCK_MSG_ENTRY | SOCK_MSG_EXIT) {
        s &= !((0xf << spec::SOCK_MODE_SHIFT) | spec::ADDR_REQUIRED);
    }
    s
}

/// Nothing after execve/execveat succeeded is left of the old image to read.
fn replaces_image(nr: u32) -> bool {
    nr == 59 || nr == 322
}

/// The probe filter map's value for delivering syscall `nr` (see `lanner_probe_common::spec`).
pub fn filter_value(nr: u32) -> u32 {
    let Some(sc) = spec(nr) else { return spec::DELIVER };
    let mut strings = [0u8; 3];
    for (slot, (arg, _)) in strings.iter_mut().zip(sc.strings) {
        *slot = *arg;
    }
    let strings = &strings[..sc.strings.len().min(3)];
    let (mode, ptr, len) = match sc.sockaddr {
        None => (SOCK_NONE, 0, 0),
        Some(SockArg::Entry { addr, len }) => (SOCK_ENTRY, addr, len),
        Some(SockArg::ExitLenPtr { addr, len_ptr }) => (SOCK_EXIT_LENPTR, addr, len_ptr),
        Some(SockArg::MsgEntry { msg }) => (SOCK_MSG_ENTRY, msg, 0),
        Some(SockArg::MsgExit { msg }) => (SOCK_MSG_EXIT, msg, 0),
        Some(SockArg::Struct { ptr, len }) => (spec::SOCK_STRUCT, ptr, len),
    };
    let mut v = spec::build(strings, mode, ptr, len) | spec::DELIVER;
    // The kernel's view of the socket: connect's local end, accept's new socket, the local
    // end a datagram arrived at.
    v |= match sc.name {
        "connect" | "recvfrom" | "recvmsg" => spec::TUPLE_ARG0,
        "accept" | "accept4" => spec::TUPLE_RET,
        _ => 0,
    };
    if replaces_image(nr) {
        v |= spec::NO_EXIT_REREAD;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_names_match_the_table() {
        for sc in CAPTURED {
            assert_eq!(name(sc.nr), Some(sc.name), "nr {}", sc.nr);
            assert!(sc.strings.len() <= 3, "{}", sc.name);
            assert!(sc.strings.iter().all(|(a, _)| *a < 6), "{}", sc.name);
        }
        let mut nrs: Vec<u32> = CAPTURED.iter().map(|s| s.nr).collect();
        nrs.sort_unstable();
        nrs.dedup();
        assert_eq!(nrs.len(), CAPTURED.len(), "no syscall listed twice");
    }

    #[test]
    fn brief_syscalls_are_captured() {
        for n in [
            "execve",
            "execveat",
            "open",
            "openat",
            "openat2",
            "creat",
            "close",
            "dup",
            "dup2",
            "dup3",
            "socket",
            "connect",
            "accept",
            "accept4",
            "bind",
            "listen",
            "sendto",
            "sendmsg",
            "recvfrom",
            "recvmsg",
            "unlink",
            "unlinkat",
            "rename",
            "renameat",
            "renameat2",
            "mkdir",
            "mkdirat",
            "rmdir",
            "symlink",
            "symlinkat",
            "link",
            "linkat",
            "chmod",
            "fchmod",
            "fchmodat",
            "chown",
            "fchown",
            "lchown",
            "fchownat",
            "setuid",
            "setgid",
            "setresuid",
            "setresgid",
            "ptrace",
            "mount",
            "umount2",
            "init_module",
            "finit_module",
            "bpf",
            "memfd_create",
            "userfaultfd",
            "unshare",
            "setns",
            "clone",
            "clone3",
            "fork",
            "vfork",
            "kill",
            "chdir",
            "fchdir",
            "capset",
        ] {
            let nr = number(n).unwrap_or_else(|| panic!("{n} has a number"));
            assert!(spec(nr).is_some(), "{n} is captured");
        }
    }

    #[test]
    fn filter_values_encode_the_spec() {
        let openat = filter_value(number("openat").unwrap());
        assert_eq!(spec::string_arg(openat, 0), Some(1));
        assert_eq!(spec::string_arg(openat, 1), None);
        assert_ne!(openat & spec::ENTRY_DATA, 0);
        let renameat2 = filter_value(number("renameat2").unwrap());
        assert_eq!(spec::string_arg(renameat2, 0), Some(1));
        assert_eq!(spec::string_arg(renameat2, 1), Some(3));
        let accept = filter_value(number("accept").unwrap());
        assert_eq!(accept & spec::ENTRY_DATA, 0, "accept's peer is read at exit");
        assert_eq!(spec::sock_mode(accept), SOCK_EXIT_LENPTR);
        let connect = filter_value(number("connect").unwrap());
        assert_eq!(spec::sock_mode(connect), SOCK_ENTRY);
        assert_eq!(connect & spec::ENTRY_DATA, 0, "connect's address is read at exit");
        assert_ne!(connect & spec::TUPLE_ARG0, 0);
        assert_ne!(accept & spec::TUPLE_RET, 0);
        assert_eq!(filter_value(number("close").unwrap()), spec::DELIVER);
        assert_eq!(filter_value(0), spec::DELIVER, "uncaptured numbers: arguments only");
        assert_ne!(filter_value(59) & spec::NO_EXIT_REREAD, 0);
    }

    #[test]
    fn event_types_map_to_numbers() {
        let openat = evttype::id_of("openat").unwrap();
        assert_eq!(event_type(257), Some(openat));
        let procexit = evttype::id_of("procexit");
        let types = [openat, evttype::id_of("connect").unwrap(), openat].into_iter().chain(procexit);
        assert_eq!(numbers_for_event_types(types), vec![42, 257]);
    }

    #[test]
    fn ia32_syscalls_map_to_their_x86_64_equivalents() {
        let values = ia32_map_values();
        let native = |ia32: u32| {
            let v = values[ia32 as usize] & lanner_probe_common::ia32_map::NR_MASK;
            (v != 0).then(|| name(v - 1).unwrap())
        };
        for (ia32, x86_64) in [
            (5, "open"),
            (11, "execve"),
            (295, "openat"),
            (437, "openat2"),
            (212, "chown"),
            (213, "setuid"),
            (300, "newfstatat"),
            (195, "stat"),
            (120, "clone"),
            (358, "execveat"),
            (452, "fchmodat2"),
            (362, "connect"),
        ] {
            assert_eq!(ia32_name(ia32).map(|_| native(ia32)), Some(Some(x86_64)), "ia32 {ia32}");
        }
        // No equivalent: counted by the probe, never delivered under a wrong name.
        for ia32 in [7, 82, 90, 102, 117] {
            assert_eq!(native(ia32), None, "ia32 {ia32} ({:?})", ia32_name(ia32));
        }
        let base = lanner_probe_common::IA32_SOCKETCALL_BASE as usize;
        let connect = values[base + 3];
        assert_eq!(name((connect & 0xffff) - 1), Some("connect"));
        assert_eq!(connect >> lanner_probe_common::ia32_map::NARGS_SHIFT, 3);
        assert_eq!(values[base + 9] >> lanner_probe_common::ia32_map::NARGS_SHIFT, 4, "send: no address");
    }

    #[test]
    fn compat_values_leave_out_32_bit_layouts() {
        use lanner_probe_common::spec::{DATA_BUF, DATA_IOV};
        let readv = filter_value(number("readv").unwrap()) | DATA_IOV;
        assert_eq!(compat_filter_value(readv) & (DATA_IOV | DATA_BUF), 0);
        let read = filter_value(number("read").unwrap()) | DATA_BUF;
        assert_eq!(compat_filter_value(read), read, "a plain buffer is the same in 32 bits");
        let sendmsg = filter_value(number("sendmsg").unwrap()) | spec::ADDR_REQUIRED;
        let c = compat_filter_value(sendmsg);
        assert_eq!(spec::sock_mode(c), SOCK_NONE);
        assert_eq!(c & spec::ADDR_REQUIRED, 0, "delivered with or without an address");
        assert_ne!(c & spec::DELIVER, 0);
        let openat2 = filter_value(number("openat2").unwrap());
        assert_eq!(spec::sock_mode(openat2), spec::SOCK_STRUCT);
        assert_ne!(openat2 & spec::ENTRY_DATA, 0, "open_how is read at entry");
    }

    #[test]
    fn ia32_table_matches_header() {
        let header = "/usr/include/x86_64-linux-gnu/asm/unistd_32.h";
        let Ok(text) = std::fs::read_to_string(header) else {
            eprintln!("SKIPPED: {header} is absent");
            return;
        };
        let n = text.lines().filter(|l| l.starts_with("#define __NR_")).count();
        assert_eq!(n, crate::ia32_table::IA32_SYSCALLS.len());
        assert!(text.contains("#define __NR_open 5\n"));
    }

    #[test]
    fn syscall_table_matches_header() {
        let header = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
        let Ok(text) = std::fs::read_to_string(header) else {
            eprintln!("SKIPPED: {header} is absent");
            return;
        };
        let from_header: Vec<(u32, String)> = text
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next()? == "#define").then_some(())?;
                let name = w.next()?.strip_prefix("__NR_")?;
                Some((w.next()?.parse().ok()?, name.to_string()))
            })
            .collect();
        // Every entry is the header's; a newer header may only add syscalls past the table's end
        // (regenerate the table then).
        let last = SYSCALLS.iter().map(|(n, _)| *n).max().unwrap();
        for (nr, name) in &from_header {
            if *nr <= last {
                assert!(SYSCALLS.contains(&(*nr, name.as_str())), "{name} = {nr} is in the table");
            }
        }
        for (nr, name) in SYSCALLS {
            assert!(from_header.contains(&(*nr, name.to_string())), "{name} = {nr} is in the header");
        }
        assert!(NEWER.iter().all(|(n, _)| *n > last));
    }
}
