//! What Lanner's eBPF probe (`probe-ebpf/probe`) and its loader (`lanner-capture`) share: the
//! layout of the records the probe writes to its ring buffer, the configuration the loader hands
//! to the probe (kernel struct offsets read from BTF, the loader's own process id), and the
//! encoding of the per-syscall filter map.
//!
//! # Record layout
//!
//! A record is a [`RecordHeader`] ([`HEADER_LEN`] bytes) followed by `n_items` items, packed
//! without padding. Each item is an [`ItemHeader`] ([`ITEM_HEADER_LEN`] bytes) followed by
//! `len` bytes. `RecordHeader::len` is the length of the whole record.
//!
//! All integers are in the machine's byte order.
#![no_std]
#![deny(missing_docs)]

use core::mem::{offset_of, size_of};

/// Length of a task's comm, including its NUL.
pub const COMM_LEN: usize = 16;

/// The most bytes kept of one string or buffer (a path, argv, the environment).
pub const MAX_STR: usize = 4096;

/// How many bytes the probe asks the `*_str` helpers for: [`MAX_STR`] characters, one more to
/// tell "exactly `MAX_STR`" from "longer", and the NUL.
pub const STR_READ: usize = MAX_STR + 2;

/// The most bytes kept of a socket address (`sizeof(struct sockaddr_storage)`).
pub const MAX_SOCKADDR: usize = 128;

/// Bytes of `struct pt_regs` the probe copies to read syscall arguments (x86_64's size).
pub const PT_REGS_LEN: usize = 168;

/// The most items one record carries.
pub const MAX_ITEMS: usize = 4;

/// Length of [`RecordHeader`].
pub const HEADER_LEN: usize = size_of::<RecordHeader>();

/// Length of [`ItemHeader`].
pub const ITEM_HEADER_LEN: usize = size_of::<ItemHeader>();

/// Size of the probe's per-CPU scratch buffer, where records are assembled. This is the
/// largest value a per-CPU array may have (`PCPU_MIN_UNIT_SIZE`).
pub const SCRATCH_LEN: usize = 32768;

/// Mask applied to the payload offset before each item is written, so that the verifier can
/// bound every write: `HEADER_LEN + PAYLOAD_MASK + ITEM_HEADER_LEN + STR_READ` fits in
/// [`SCRATCH_LEN`].
pub const PAYLOAD_MASK: usize = 16383;

/// Mask applied to a record's length before it is copied to the ring buffer (it never exceeds
/// this; the mask only tells the verifier so).
pub const RECORD_LEN_MASK: usize = SCRATCH_LEN - 1;

/// A bound on every record: a header, three full strings, a socket address, an exec
/// information or socket tuple item, and data.
pub const MAX_RECORD_LEN: usize = HEADER_LEN
    + 3 * (ITEM_HEADER_LEN + MAX_STR)
    + ITEM_HEADER_LEN
    + MAX_SOCKADDR
    + ITEM_HEADER_LEN
    + 64
    + ITEM_HEADER_LEN
    + MAX_SNAPLEN as usize;

/// Value size of the small per-thread stash (records kept from syscall entry to exit).
pub const STASH_SMALL_LEN: usize = 512;

/// Value size of the large per-thread stash, used when a record does not fit the small one.
pub const STASH_LARGE_LEN: usize = 16384;

/// Mask that bounds a record length read back from the large stash.
pub const STASH_LARGE_MASK: usize = STASH_LARGE_LEN - 1;

/// Syscall numbers the filter map covers: x86_64 numbers below this.
pub const FILTER_ENTRIES: u32 = 512;

/// Index in the filter map of the compat (32-bit) values: x86_64 syscall `nr` called from
/// a 32-bit ABI is at `COMPAT_FILTER_BASE + nr`.
pub const COMPAT_FILTER_BASE: u32 = FILTER_ENTRIES;

/// Index in the filter map of the raw tracepoints' view: the raw `sys_enter`/`sys_exit`
/// programs read `RAW_FILTER_BASE + slot`, the per-syscall and ia32 programs `slot`. In raw
/// mode both views hold the same values; when attached per syscall, the raw view holds only
/// what the per-syscall tracepoints cannot see (syscalls without one), so that a record is
/// never delivered twice while both kinds are attached.
pub const RAW_FILTER_BASE: u32 = 2 * FILTER_ENTRIES;

/// Entries in the filter map: the native values, then the compat values; then the same
/// again for the raw tracepoints (see [`RAW_FILTER_BASE`]).
pub const FILTER_SLOTS: u32 = 4 * FILTER_ENTRIES;

/// Entries in the ia32 map: [`IA32_SYSCALLS`] ia32 syscall numbers, then one entry per
/// `socketcall` call number from [`IA32_SOCKETCALL_BASE`].
pub const IA32_ENTRIES: u32 = IA32_SOCKETCALL_BASE + 32;

/// ia32 syscall numbers the map covers (the ia32 table ends below this).
pub const IA32_SYSCALLS: u32 = 512;

/// Index in the ia32 map of `socketcall` call 0 (call `n` is at this plus `n`).
pub const IA32_SOCKETCALL_BASE: u32 = IA32_SYSCALLS;

/// ia32 `socketcall`: every socket operation of a 32-bit program through one syscall, whose
/// first argument says which, and whose second points to the operation's arguments.
pub const IA32_NR_SOCKETCALL: u32 = 102;

/// The pseudo syscall number of io_uring submissions: a record of this number is an operation
/// submitted through a ring (`io_uring_submit_req`), delivered when the filter says so. Its
/// arguments: the opcode, the submission's fd, and for opens the `open_how` flags, mode and
/// resolve; for opens the path (a string item), for connects the address.
pub const IO_URING_SUBMIT_NR: u32 = FILTER_ENTRIES - 1;

/// `IORING_OP_*` opcodes (`linux/io_uring.h`) of which a submission is delivered: those that
/// open, create, rename or remove files, make or connect sockets, or write.
pub mod io_uring_op {
    /// `IORING_OP_WRITEV`.
    pub const WRITEV: u32 = 2;
    /// `IORING_OP_WRITE_FIXED`.
    pub const WRITE_FIXED: u32 = 5;
    /// `IORING_OP_SENDMSG`.
    pub const SENDMSG: u32 = 9;
    /// `IORING_OP_ACCEPT`.
    pub const ACCEPT: u32 = 13;
    /// `IORING_OP_CONNECT`.
    pub const CONNECT: u32 = 16;
    /// `IORING_OP_OPENAT`.
    pub const OPENAT: u32 = 18;
    /// `IORING_OP_WRITE`.
    pub const WRITE: u32 = 23;
    /// `IORING_OP_SEND`.
    pub const SEND: u32 = 26;
    /// `IORING_OP_OPENAT2`.
    pub const OPENAT2: u32 = 28;
    /// `IORING_OP_RENAMEAT`.
    pub const RENAMEAT: u32 = 35;
    /// `IORING_OP_UNLINKAT`.
    pub const UNLINKAT: u32 = 36;
    /// `IORING_OP_MKDIRAT`.
    pub const MKDIRAT: u32 = 37;
    /// `IORING_OP_SYMLINKAT`.
    pub const SYMLINKAT: u32 = 38;
    /// `IORING_OP_LINKAT`.
    pub const LINKAT: u32 = 39;
    /// `IORING_OP_SOCKET`.
    pub const SOCKET: u32 = 45;
    /// `IORING_OP_SEND_ZC`.
    pub const SEND_ZC: u32 = 47;
    /// `IORING_OP_SENDMSG_ZC`.
    pub const SENDMSG_ZC: u32 = 48;
    /// The delivered opcodes as a bit mask.
    pub const DELIVERED: u64 = 1 << WRITEV
        | 1 << WRITE_FIXED
        | 1 << SENDMSG
        | 1 << ACCEPT
        | 1 << CONNECT
        | 1 << OPENAT
        | 1 << WRITE
        | 1 << SEND
        | 1 << OPENAT2
        | 1 << RENAMEAT
        | 1 << UNLINKAT
        | 1 << MKDIRAT
        | 1 << SYMLINKAT
        | 1 << LINKAT
        | 1 << SOCKET
        | 1 << SEND_ZC
        | 1 << SENDMSG_ZC;
}

/// The encoding of the ia32 map's values.
pub mod ia32_map {
    /// Bits holding the x86_64 syscall number + 1 (0: no equivalent).
    pub const NR_MASK: u32 = 0xffff;
    /// Shift of the number of argument words a `socketcall` call takes.
    pub const NARGS_SHIFT: u32 = 16;
}

/// x32 syscalls have this bit set in their number (`__X32_SYSCALL_BIT`).
pub const X32_SYSCALL_BIT: u64 = 0x4000_0000;

/// The most bytes read of a struct argument ([`spec::SOCK_STRUCT`]).
pub const MAX_STRUCT: usize = 64;

/// Default size of the ring buffer, in bytes.
pub const DEFAULT_RING_BYTES: u32 = 16 << 20;

/// Names of the probe's maps, programs and globals, as the loader looks them up.
pub mod names {
    /// The ring buffer the records are written to.
    pub const EVENTS: &str = "EVENTS";
    /// The syscall filter: an array of `u32` specs indexed by syscall number.
    pub const FILTER: &str = "FILTER";
    /// ia32 syscall number (and `socketcall` call) to x86_64 syscall number + 1 (0: none).
    pub const IA32_TO_64: &str = "IA32_TO_64";
    /// Per-CPU counters, indexed by [`crate::counter`].
    pub const COUNTERS: &str = "COUNTERS";
    /// Per-CPU scratch buffer.
    pub const SCRATCH: &str = "SCRATCH";
    /// Per-CPU map: the entry record of the syscall in flight on each CPU.
    pub const PENDING: &str = "PENDING";
    /// Per-CPU map: whose entry record [`PENDING`] holds (thread id + 1, 0 when none).
    pub const PENDING_OWNER: &str = "PENDING_OWNER";
    /// Small per-thread stash, keyed by thread id.
    pub const STASH_SMALL: &str = "STASH_SMALL";
    /// Large per-thread stash, keyed by thread id.
    pub const STASH_LARGE: &str = "STASH_LARGE";
    /// The global holding the [`crate::ProbeConfig`].
    pub const CONFIG: &str = "CONFIG";
    /// Raw tracepoint program for `sys_enter`.
    pub const PROG_SYS_ENTER: &str = "lanner_sys_enter";
    /// Raw tracepoint program for `sys_exit`.
    pub const PROG_SYS_EXIT: &str = "lanner_sys_exit";
    /// BTF-typed tracepoint program for `sys_enter` (preferred; same behaviour).
    pub const PROG_SYS_ENTER_BTF: &str = "lanner_sys_enter_btf";
    /// BTF-typed tracepoint program for `sys_exit` (preferred; same behaviour).
    pub const PROG_SYS_EXIT_BTF: &str = "lanner_sys_exit_btf";
    /// Raw tracepoint program for `sched_process_exec`.
    pub const PROG_EXEC: &str = "lanner_sched_exec";
    /// Raw tracepoint program for `sched_process_fork`.
    pub const PROG_FORK: &str = "lanner_sched_fork";
    /// Raw tracepoint program for `sched_process_exit`.
    pub const PROG_EXIT: &str = "lanner_sched_exit";
    /// Raw tracepoint program for `sched_switch`.
    pub const PROG_SWITCH: &str = "lanner_sched_switch";
    /// Raw tracepoint program for `io_uring_submit_req`.
    pub const PROG_IO_URING: &str = "lanner_io_uring_submit";
    /// An empty raw tracepoint program, for measuring the tracepoints' own cost.
    pub const PROG_EMPTY: &str = "lanner_empty";
    /// Tracepoint program for the per-syscall `syscalls:sys_enter_NAME` tracepoints (one
    /// program, attached to each watched syscall's tracepoint).
    pub const PROG_TP_ENTER: &str = "lanner_tp_enter";
    /// Tracepoint program for the per-syscall `syscalls:sys_exit_NAME` tracepoints.
    pub const PROG_TP_EXIT: &str = "lanner_tp_exit";
    /// fentry program on `ia32_sys_call`: 32-bit syscalls, which fire no per-syscall
    /// tracepoint on x86_64.
    pub const PROG_IA32_ENTER: &str = "lanner_ia32_enter";
    /// fexit program on `ia32_sys_call`.
    pub const PROG_IA32_EXIT: &str = "lanner_ia32_exit";
    /// The kernel function every ia32 syscall is dispatched through (6.9 and later).
    pub const IA32_DISPATCH: &str = "ia32_sys_call";
}

/// Indexes of the per-CPU counters map.
pub mod counter {
    /// Records lost because the ring buffer was full.
    pub const RING_DROPS: u32 = 0;
    /// Syscall entries whose data could not be stashed until exit (the record is then
    /// assembled at exit, from what is still readable).
    pub const STASH_FAILURES: u32 = 1;
    /// Compat syscalls (ia32, x32) with no x86_64 equivalent the probe could map them to:
    /// not delivered, so counted.
    pub const COMPAT_UNMAPPED: u32 = 2;
    /// How many counters there are.
    pub const COUNT: u32 = 3;
}

/// [`RecordHeader::kind`] values.
pub mod kind {
    /// A syscall: entry data and exit return value.
    pub const SYSCALL: u16 = 1;
    /// `sched_process_exec`.
    pub const EXEC: u16 = 2;
    /// `sched_process_fork`.
    pub const FORK: u16 = 3;
    /// `sched_process_exit`.
    pub const EXIT: u16 = 4;
}

/// [`ItemHeader::kind`] values.
pub mod item {
    /// A string or buffer.
    pub const STRING: u8 = 1;
    /// A socket address, raw (`struct sockaddr_*` bytes as the process passed them).
    pub const SOCKADDR: u8 = 2;
    /// An [`crate::ExecInfo`], in exec records.
    pub const EXEC_INFO: u8 = 3;
    /// A [`crate::SockTuple`]: the socket's addresses as the kernel keeps them.
    pub const SOCK_TUPLE: u8 = 4;
    /// The data a read or write moved, up to the snaplen.
    pub const DATA: u8 = 5;
    /// A struct argument read at entry ([`crate::spec::SOCK_STRUCT`]): openat2's `open_how`.
    pub const STRUCT: u8 = 6;
}

/// [`ExecInfo::flags`] bits.
pub mod exe {
    /// The executable's file system is mounted read-only (`SB_RDONLY`).
    pub const SB_RDONLY: u32 = 1;
    /// The executable's inode is immutable (`S_IMMUTABLE`).
    pub const IMMUTABLE: u32 = 2;
    /// The executable was reached through overlayfs.
    pub const OVERLAY: u32 = 4;
    /// ... and lives in its upper layer.
    pub const UPPER_LAYER: u32 = 8;
}

/// What an exec record adds about the new image and the task's ids: read by the probe at
/// `sched_process_exec`, where the new executable and the task's namespaces are at hand.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecInfo {
    /// The executable's inode number.
    pub ino: u64,
    /// Its last status change time, nanoseconds since the epoch.
    pub ctime_ns: u64,
    /// Its last modification time, nanoseconds since the epoch.
    pub mtime_ns: u64,
    /// The process id in the task's own pid namespace.
    pub vpid: u32,
    /// The process group id in the innermost pid namespace of the group's pid (as Falco's
    /// probe reads it: for a group led from outside the task's namespace, the outer id).
    pub vpgid: u32,
    /// The process group id in the initial pid namespace.
    pub pgid: u32,
    /// The session id in the initial pid namespace.
    pub sid: u32,
    /// The executable's `i_mode`.
    pub mode: u32,
    /// The executable's owner.
    pub uid: u32,
    /// The executable's group.
    pub gid: u32,
    /// The task's file system uid (after the exec).
    pub fsuid: u32,
    /// The task's file system gid (after the exec).
    pub fsgid: u32,
    /// Bits of [`exe`].
    pub flags: u32,
}

/// Length of [`ExecInfo`].
pub const EXEC_INFO_LEN: usize = size_of::<ExecInfo>();

/// A socket's two ends as the kernel keeps them (`struct sock_common`): after `connect` the
/// local address the kernel chose, after `accept` the accepted socket's own.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockTuple {
    /// `AF_INET` or `AF_INET6` (other families are not emitted).
    pub family: u16,
    /// The local port, host byte order.
    pub lport: u16,
    /// The remote port, host byte order (0 when not connected).
    pub rport: u16,
    /// Unused, zero.
    pub reserved: u16,
    /// The local address: 4 bytes for IPv4, then zeros; 16 for IPv6. Network order.
    pub laddr: [u8; 16],
    /// The remote address, likewise.
    pub raddr: [u8; 16],
}

/// Length of [`SockTuple`].
pub const SOCK_TUPLE_LEN: usize = size_of::<SockTuple>();

/// The largest data capture the probe accepts (the snaplen is bounded to it).
pub const MAX_SNAPLEN: u32 = 256;

/// Falco's default snaplen: bytes of a read or write's data kept.
pub const DEFAULT_SNAPLEN: u32 = 80;

/// Size of one `struct upid` (an `int` and a pointer), which the loader checks in BTF.
pub const UPID_LEN: u32 = 16;

/// [`ItemHeader::flags`] bits.
pub mod flags {
    /// The value was longer than the bound and was cut.
    pub const TRUNCATED: u8 = 1;
    /// The value could not be read (a NULL or bad pointer); `len` is 0.
    pub const FAULT: u8 = 2;
}

/// The fixed part of every record.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// `bpf_ktime_get_boot_ns()` when the record was made.
    pub ts_boot_ns: u64,
    /// `bpf_get_current_cgroup_id()`.
    pub cgroup_id: u64,
    /// `current->cred->cap_effective`.
    pub cap_effective: u64,
    /// `current->cred->cap_permitted`.
    pub cap_permitted: u64,
    /// The syscall's return value (0 for other kinds).
    pub ret: i64,
    /// The raw syscall arguments (zero for other kinds).
    pub args: [u64; 6],
    /// Length of the whole record, header included.
    pub len: u32,
    /// One of [`kind`].
    pub kind: u16,
    /// How many items follow the header.
    pub n_items: u16,
    /// The x86_64 syscall number (0 for other kinds).
    pub nr: u32,
    /// `bpf_get_smp_processor_id()`.
    pub cpu: u32,
    /// Process id.
    pub tgid: u32,
    /// Thread id.
    pub tid: u32,
    /// `current->real_parent->tgid`.
    pub ppid: u32,
    /// Real user id.
    pub uid: u32,
    /// Real group id.
    pub gid: u32,
    /// `current->loginuid` (`u32::MAX` when unset or when the kernel has no audit support).
    pub loginuid: u32,
    /// Controlling terminal as a device number (`new_encode_dev`), 0 when none. Set in exec
    /// and fork records only (0 in the others): it changes only with a new session.
    pub tty: u32,
    /// For [`kind::FORK`]: the child's tgid.
    pub child_tgid: u32,
    /// For [`kind::FORK`]: the child's thread id. (Inside the probe, a syscall's entry
    /// record marks here a string it could not read, to be read again at exit.)
    pub child_tid: u32,
    /// The thread id in its own pid namespace: the child's in [`kind::FORK`] records, the
    /// task's in [`kind::EXEC`] records, 0 in the others.
    pub vtid: u32,
    /// `bpf_get_current_comm()`, NUL-padded.
    pub comm: [u8; COMM_LEN],
}

/// The header of one variable-length item.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemHeader {
    /// Length of the bytes that follow.
    pub len: u16,
    /// One of [`item`].
    pub kind: u8,
    /// Bits of [`flags`].
    pub flags: u8,
}

/// Offset meaning "this kernel has no such member": the probe then leaves the field at its
/// default.
pub const OFFSET_NONE: u32 = u32::MAX;

/// What the loader tells the probe, set as the global [`names::CONFIG`] before loading. The
/// offsets are in bytes, read from the running kernel's BTF.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Records of this process are not delivered (0: none ignored).
    pub ignore_tgid: u32,
    /// `task_struct.real_parent`.
    pub task_real_parent: u32,
    /// `task_struct.tgid`.
    pub task_tgid: u32,
    /// `task_struct.pid`.
    pub task_pid: u32,
    /// `task_struct.loginuid`, or [`OFFSET_NONE`].
    pub task_loginuid: u32,
    /// `task_struct.cred`.
    pub task_cred: u32,
    /// `task_struct.signal`.
    pub task_signal: u32,
    /// `task_struct.mm`.
    pub task_mm: u32,
    /// `task_struct.thread_info.status` (x86: `TS_COMPAT` marks 32-bit syscalls), or
    /// [`OFFSET_NONE`].
    pub task_ti_status: u32,
    /// `cred.cap_effective`.
    pub cred_cap_effective: u32,
    /// `cred.cap_permitted`.
    pub cred_cap_permitted: u32,
    /// `signal_struct.tty`.
    pub signal_tty: u32,
    /// `tty_struct.index`.
    pub tty_index: u32,
    /// `tty_struct.driver`.
    pub tty_driver: u32,
    /// `tty_driver.major`.
    pub driver_major: u32,
    /// `tty_driver.minor_start`.
    pub driver_minor_start: u32,
    /// `mm_struct.arg_start`.
    pub mm_arg_start: u32,
    /// `mm_struct.arg_end`.
    pub mm_arg_end: u32,
    /// `mm_struct.env_start`.
    pub mm_env_start: u32,
    /// `mm_struct.env_end`.
    pub mm_env_end: u32,
    /// `linux_binprm.filename`.
    pub bprm_filename: u32,
    /// `linux_binprm.file`.
    pub bprm_file: u32,
    /// `task_struct.thread_pid`.
    pub task_thread_pid: u32,
    /// `signal_struct.pids` (an array of `struct pid *` by `enum pid_type`).
    pub signal_pids: u32,
    /// `pid.level`.
    pub pid_level: u32,
    /// `pid.numbers` (an array of [`UPID_LEN`]-byte `struct upid`, `nr` first).
    pub pid_numbers: u32,
    /// `cred.fsuid`.
    pub cred_fsuid: u32,
    /// `cred.fsgid`.
    pub cred_fsgid: u32,
    /// `file.f_inode`.
    pub file_inode: u32,
    /// `file.f_path.dentry`.
    pub file_dentry: u32,
    /// `file.private_data`.
    pub file_private_data: u32,
    /// `dentry.d_inode`.
    pub dentry_inode: u32,
    /// `dentry.d_sb`.
    pub dentry_sb: u32,
    /// `super_block.s_magic`.
    pub sb_magic: u32,
    /// `super_block.s_flags`.
    pub sb_flags: u32,
    /// `inode.i_ino`.
    pub inode_ino: u32,
    /// `inode.i_mode`.
    pub inode_mode: u32,
    /// `inode.i_uid`.
    pub inode_uid: u32,
    /// `inode.i_gid`.
    pub inode_gid: u32,
    /// `inode.i_flags`.
    pub inode_flags: u32,
    /// `inode.i_sb`.
    pub inode_sb: u32,
    /// Seconds of `inode`'s ctime (`i_ctime_sec`, or `__i_ctime.tv_sec` before 6.11).
    pub inode_ctime_sec: u32,
    /// Nanoseconds of `inode`'s ctime.
    pub inode_ctime_nsec: u32,
    /// Seconds of `inode`'s mtime.
    pub inode_mtime_sec: u32,
    /// Nanoseconds of `inode`'s mtime.
    pub inode_mtime_nsec: u32,
    /// `sizeof(struct inode)`: overlayfs keeps its upper dentry right after its inode.
    pub inode_size: u32,
    /// `task_struct.files`.
    pub task_files: u32,
    /// `files_struct.fdt`.
    pub files_fdt: u32,
    /// `fdtable.fd`.
    pub fdt_fd: u32,
    /// `fdtable.max_fds`.
    pub fdt_max_fds: u32,
    /// `socket.sk`.
    pub socket_sk: u32,
    /// `sock_common.skc_family` (in `struct sock`).
    pub sk_family: u32,
    /// `sock_common.skc_num`: the local port, host order.
    pub sk_num: u32,
    /// `sock_common.skc_dport`: the remote port, network order.
    pub sk_dport: u32,
    /// `sock_common.skc_rcv_saddr`: the local IPv4 address.
    pub sk_rcv_saddr: u32,
    /// `sock_common.skc_daddr`: the remote IPv4 address.
    pub sk_daddr: u32,
    /// `sock_common.skc_v6_rcv_saddr`, or [`OFFSET_NONE`] without IPv6.
    pub sk_v6_rcv_saddr: u32,
    /// `sock_common.skc_v6_daddr`, or [`OFFSET_NONE`] without IPv6.
    pub sk_v6_daddr: u32,
    /// Bytes of a read or write's data kept when its syscall's spec asks for them (at most
    /// [`MAX_SNAPLEN`]).
    pub snaplen: u32,
    /// `pt_regs` members holding the six syscall arguments (x86_64: di, si, dx, r10, r8, r9).
    pub regs_args: [u32; 6],
    /// `pt_regs.orig_ax` (the syscall number).
    pub regs_orig_ax: u32,
    /// `pt_regs` members holding an ia32 syscall's six arguments (bx, cx, dx, si, di, bp).
    pub regs_compat_args: [u32; 6],
    /// `io_kiocb.opcode` (a `u8`), or [`OFFSET_NONE`] without io_uring.
    pub io_req_opcode: u32,
    /// `io_kiocb.cqe.fd`: the submission's file descriptor (for the operations on a file).
    pub io_req_fd: u32,
    /// `io_open.dfd`: an open's directory descriptor.
    pub io_open_dfd: u32,
    /// `io_open.filename` (`struct filename *`), at the start of the request.
    pub io_open_filename: u32,
    /// `io_open.how` (`struct open_how`).
    pub io_open_how: u32,
    /// `filename.name`.
    pub filename_name: u32,
    /// `io_connect.addr` (a user pointer).
    pub io_connect_addr: u32,
    /// `io_connect.addr_len`.
    pub io_connect_addr_len: u32,
    /// Records are written without waking the reader until this many bytes wait in the ring
    /// buffer; the reader polls on a short timer instead. A wake-up per record costs the
    /// traced thread an inter-processor interrupt, so batching them is most of the probe's
    /// cost saving under load. 0: the kernel's default (wake when the reader has caught up).
    pub wakeup_bytes: u32,
}

impl ProbeConfig {
    /// A configuration with every offset unset.
    pub const EMPTY: Self = Self {
        ignore_tgid: 0,
        task_real_parent: OFFSET_NONE,
        task_tgid: OFFSET_NONE,
        task_pid: OFFSET_NONE,
        task_loginuid: OFFSET_NONE,
        task_cred: OFFSET_NONE,
        task_signal: OFFSET_NONE,
        task_mm: OFFSET_NONE,
        task_ti_status: OFFSET_NONE,
        cred_cap_effective: OFFSET_NONE,
        cred_cap_permitted: OFFSET_NONE,
        signal_tty: OFFSET_NONE,
        tty_index: OFFSET_NONE,
        tty_driver: OFFSET_NONE,
        driver_major: OFFSET_NONE,
        driver_minor_start: OFFSET_NONE,
        mm_arg_start: OFFSET_NONE,
        mm_arg_end: OFFSET_NONE,
        mm_env_start: OFFSET_NONE,
        mm_env_end: OFFSET_NONE,
        bprm_filename: OFFSET_NONE,
        bprm_file: OFFSET_NONE,
        task_thread_pid: OFFSET_NONE,
        signal_pids: OFFSET_NONE,
        pid_level: OFFSET_NONE,
        pid_numbers: OFFSET_NONE,
        cred_fsuid: OFFSET_NONE,
        cred_fsgid: OFFSET_NONE,
        file_inode: OFFSET_NONE,
        file_dentry: OFFSET_NONE,
        file_private_data: OFFSET_NONE,
        dentry_inode: OFFSET_NONE,
        dentry_sb: OFFSET_NONE,
        sb_magic: OFFSET_NONE,
        sb_flags: OFFSET_NONE,
        inode_ino: OFFSET_NONE,
        inode_mode: OFFSET_NONE,
        inode_uid: OFFSET_NONE,
        inode_gid: OFFSET_NONE,
        inode_flags: OFFSET_NONE,
        inode_sb: OFFSET_NONE,
        inode_ctime_sec: OFFSET_NONE,
        inode_ctime_nsec: OFFSET_NONE,
        inode_mtime_sec: OFFSET_NONE,
        inode_mtime_nsec: OFFSET_NONE,
        inode_size: OFFSET_NONE,
        task_files: OFFSET_NONE,
        files_fdt: OFFSET_NONE,
        fdt_fd: OFFSET_NONE,
        fdt_max_fds: OFFSET_NONE,
        socket_sk: OFFSET_NONE,
        sk_family: OFFSET_NONE,
        sk_num: OFFSET_NONE,
        sk_dport: OFFSET_NONE,
        sk_rcv_saddr: OFFSET_NONE,
        sk_daddr: OFFSET_NONE,
        sk_v6_rcv_saddr: OFFSET_NONE,
        sk_v6_daddr: OFFSET_NONE,
        snaplen: DEFAULT_SNAPLEN,
        regs_args: [OFFSET_NONE; 6],
        regs_orig_ax: OFFSET_NONE,
        regs_compat_args: [OFFSET_NONE; 6],
        io_req_opcode: OFFSET_NONE,
        io_req_fd: OFFSET_NONE,
        io_open_dfd: OFFSET_NONE,
        io_open_filename: OFFSET_NONE,
        io_open_how: OFFSET_NONE,
        filename_name: OFFSET_NONE,
        io_connect_addr: OFFSET_NONE,
        io_connect_addr_len: OFFSET_NONE,
        wakeup_bytes: 0,
    };
}

/// The per-syscall value of the filter map: whether to deliver the syscall and which of its
/// arguments to read. The loader computes it; the probe only interprets it.
///
/// Bit layout of the `u32`:
/// - bit 0: [`spec::DELIVER`].
/// - bits 1, 2: [`spec::TUPLE_ARG0`], [`spec::TUPLE_RET`]; bits 3 and 31: [`spec::DATA_BUF`],
///   [`spec::DATA_IOV`].
/// - bits 4..16: three nibbles, string slots 0..3: `arg index + 1` of a pointer to a
///   NUL-terminated user string, 0 for an unused slot. Strings are emitted in slot order.
/// - bits 16..20: `arg index + 1` of the socket address pointer (or of the `msghdr` pointer).
/// - bits 20..24: `arg index + 1` of its length (a value, or a pointer to a `socklen_t`).
/// - bits 24..28: how the socket address is read, one of `spec::SOCK_*`.
/// - bit 28: [`spec::ENTRY_DATA`], the syscall has something to read at entry.
/// - bit 29: [`spec::NO_EXIT_REREAD`], never read its strings at exit.
/// - bit 30: [`spec::ADDR_REQUIRED`], deliver only calls that carry a socket address at entry.
pub mod spec {
    /// Deliver this syscall.
    pub const DELIVER: u32 = 1;
    /// Shift of string slot `i`: `4 + 4 * i`.
    pub const STR_SHIFT: u32 = 4;
    /// Shift of the socket address pointer's argument nibble.
    pub const SOCK_PTR_SHIFT: u32 = 16;
    /// Shift of the socket address length's argument nibble.
    pub const SOCK_LEN_SHIFT: u32 = 20;
    /// Shift of the socket address mode nibble.
    pub const SOCK_MODE_SHIFT: u32 = 24;
    /// No socket address.
    pub const SOCK_NONE: u32 = 0;
    /// Pointer argument and length argument (a value), e.g. `connect`, `bind`; read at exit.
    pub const SOCK_ENTRY: u32 = 1;
    /// At exit, when the syscall succeeded: pointer argument and a pointer to the length, e.g.
    /// `accept`'s peer.
    pub const SOCK_EXIT_LENPTR: u32 = 2;
    /// The argument is a `struct user_msghdr *`; its `msg_name`/`msg_namelen`, read at exit.
    pub const SOCK_MSG_ENTRY: u32 = 3;
    /// At exit, when the syscall succeeded: as [`SOCK_MSG_ENTRY`].
    pub const SOCK_MSG_EXIT: u32 = 4;
    /// At entry: a struct the pointer argument points to, as many bytes as the length
    /// argument's value (at most [`crate::MAX_STRUCT`]), as an [`crate::item::STRUCT`] item:
    /// openat2's `open_how`, which holds the flags the kernel uses.
    pub const SOCK_STRUCT: u32 = 5;
    /// The syscall has strings or a socket address to read at entry.
    pub const ENTRY_DATA: u32 = 1 << 28;
    /// Deliver only the calls that pass a socket address at entry ([`SOCK_ENTRY`] with a
    /// pointer and a length, [`SOCK_MSG_ENTRY`] with a `msg_name`): `sendto`/`sendmsg` on a
    /// connected socket change no state and, when no rule can use them, are the bulk of a
    /// network server's syscalls.
    pub const ADDR_REQUIRED: u32 = 1 << 30;
    /// At exit, when the syscall succeeded (or a connect is in progress): the kernel's
    /// addresses of the socket whose fd is argument 0 ([`crate::SockTuple`]).
    pub const TUPLE_ARG0: u32 = 1 << 1;
    /// As [`TUPLE_ARG0`], for the fd the syscall returned (`accept`).
    pub const TUPLE_RET: u32 = 1 << 2;
    /// At exit: up to the snaplen of the data moved (the return value's count of bytes),
    /// from the buffer in argument 1. With [`DATA_IOV`] too: from the iovecs of the
    /// `msghdr` in argument 1.
    pub const DATA_BUF: u32 = 1 << 3;
    /// At exit: as [`DATA_BUF`], from the iovec array in argument 1 (count in argument 2).
    pub const DATA_IOV: u32 = 1 << 31;
    /// Do not read the strings at exit when the entry record is missing (the syscall replaced
    /// the address space, e.g. `execve`).
    pub const NO_EXIT_REREAD: u32 = 1 << 29;

    /// A spec with string slots (arg indexes) and a socket address read (mode, pointer arg,
    /// length arg). `DELIVER` is not set.
    pub const fn build(strings: &[u8], sock_mode: u32, sock_ptr: u8, sock_len: u8) -> u32 {
        let mut s = 0u32;
        let mut i = 0;
        while i < strings.len() && i < 3 {
            s |= (strings[i] as u32 + 1) << (STR_SHIFT + 4 * i as u32);
            i += 1;
        }
        if sock_mode != SOCK_NONE {
            s |= (sock_ptr as u32 + 1) << SOCK_PTR_SHIFT;
            s |= (sock_len as u32 + 1) << SOCK_LEN_SHIFT;
            s |= sock_mode << SOCK_MODE_SHIFT;
        }
        // Socket addresses are read at exit, as Falco's probe reads them: the record is then
        // assembled in one place, where the kernel's own view of the socket is added. A struct
        // argument is read at entry, next to the strings.
        if !strings.is_empty() || sock_mode == SOCK_STRUCT {
            s |= ENTRY_DATA;
        }
        s
    }

    /// String slot `i`'s argument index, if used.
    pub const fn string_arg(spec: u32, i: u32) -> Option<u8> {
        let n = (spec >> (STR_SHIFT + 4 * i)) & 0xf;
        if n == 0 { None } else { Some((n - 1) as u8) }
    }

    /// The socket address mode.
    pub const fn sock_mode(spec: u32) -> u32 {
        (spec >> SOCK_MODE_SHIFT) & 0xf
    }
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain `repr(C)` integers and arrays, no padding, any bit pattern valid.
    unsafe impl aya::Pod for super::ProbeConfig {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::RecordHeader {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::ExecInfo {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SockTuple {}
}

// The layout is a contract between the probe and the loader: keep it fixed.
const _: () = {
    assert!(HEADER_LEN == 160);
    assert!(offset_of!(RecordHeader, ts_boot_ns) == 0);
    assert!(offset_of!(RecordHeader, cgroup_id) == 8);
    assert!(offset_of!(RecordHeader, cap_effective) == 16);
    assert!(offset_of!(RecordHeader, cap_permitted) == 24);
    assert!(offset_of!(RecordHeader, ret) == 32);
    assert!(offset_of!(RecordHeader, args) == 40);
    assert!(offset_of!(RecordHeader, len) == 88);
    assert!(offset_of!(RecordHeader, kind) == 92);
    assert!(offset_of!(RecordHeader, n_items) == 94);
    assert!(offset_of!(RecordHeader, nr) == 96);
    assert!(offset_of!(RecordHeader, cpu) == 100);
    assert!(offset_of!(RecordHeader, tgid) == 104);
    assert!(offset_of!(RecordHeader, tid) == 108);
    assert!(offset_of!(RecordHeader, ppid) == 112);
    assert!(offset_of!(RecordHeader, uid) == 116);
    assert!(offset_of!(RecordHeader, gid) == 120);
    assert!(offset_of!(RecordHeader, loginuid) == 124);
    assert!(offset_of!(RecordHeader, tty) == 128);
    assert!(offset_of!(RecordHeader, child_tgid) == 132);
    assert!(offset_of!(RecordHeader, child_tid) == 136);
    assert!(offset_of!(RecordHeader, vtid) == 140);
    assert!(offset_of!(RecordHeader, comm) == 144);
    assert!(ITEM_HEADER_LEN == 4);
    assert!(offset_of!(ItemHeader, len) == 0);
    assert!(offset_of!(ItemHeader, kind) == 2);
    assert!(offset_of!(ItemHeader, flags) == 3);
    assert!(size_of::<ProbeConfig>() == 4 * 81);
    assert!(EXEC_INFO_LEN == 64 && SOCK_TUPLE_LEN <= 64);
    assert!(SOCK_TUPLE_LEN == 40);
    // Every masked write stays inside the scratch buffer, and every record fits the payload
    // window and the large stash.
    assert!(HEADER_LEN + PAYLOAD_MASK + ITEM_HEADER_LEN + STR_READ <= SCRATCH_LEN);
    assert!(MAX_RECORD_LEN <= HEADER_LEN + PAYLOAD_MASK);
    assert!(MAX_RECORD_LEN <= STASH_LARGE_LEN);
    assert!(STASH_LARGE_LEN.is_power_of_two() && SCRATCH_LEN.is_power_of_two());
    assert!((PAYLOAD_MASK + 1).is_power_of_two());
    assert!(MAX_STR < u16::MAX as usize);
    assert!(MAX_STRUCT <= MAX_SOCKADDR && MAX_STRUCT.is_power_of_two());
};
