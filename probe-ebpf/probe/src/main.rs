//! Lanner's eBPF probe.
//!
//! Five raw tracepoints write records (see `lanner_probe_common` for the layout) to one ring
//! buffer:
//! - `sys_enter`: for a delivered syscall with something to read at entry (strings, a socket
//!   address), the record is assembled and stashed per thread until exit.
//! - `sys_exit`: the stashed record gets its return value and is emitted; a syscall with nothing
//!   to read at entry is assembled here (its arguments are still in `pt_regs`).
//! - `sched_process_exec`, `sched_process_fork`, `sched_process_exit`: always delivered.
//! - `io_uring_submit_req`: operations submitted through io_uring rings, which make no
//!   syscall of their own, as records of a pseudo syscall number.
//!
//! Attached per syscall instead (the loader's choice), the `sys_enter`/`sys_exit` logic runs
//! from `syscalls:sys_enter_NAME`/`sys_exit_NAME` tracepoints of the watched syscalls only,
//! and from fentry/fexit on `ia32_sys_call` for 32-bit syscalls, which fire no per-syscall
//! tracepoint.
//!
//! A 32-bit syscall (ia32, x32) is delivered as its x86_64 equivalent, its arguments read
//! from the 32-bit ABI's registers (the `IA32_TO_64` map, filled by the loader, gives the
//! equivalent); one without an equivalent is counted.
//!
//! Which syscalls are delivered, and which of their arguments are read, comes from the
//! `FILTER` array the loader fills. Kernel struct offsets come from the `CONFIG` global the
//! loader sets from the running kernel's BTF.
#![no_std]
#![no_main]

use core::{ffi::c_void, mem::MaybeUninit, ptr};

use aya_ebpf::{
    bindings::{BPF_ANY, BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::generated::{
        bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_task,
        bpf_get_current_task_btf, bpf_get_current_uid_gid, bpf_get_smp_processor_id, bpf_ktime_get_boot_ns,
        bpf_probe_read_kernel, bpf_probe_read_kernel_str, bpf_probe_read_user, bpf_probe_read_user_str,
        bpf_task_pt_regs,
    },
    macros::{btf_tracepoint, fentry, fexit, map, raw_tracepoint, tracepoint},
    maps::{Array, LruHashMap, PerCpuArray, RingBuf},
    programs::{BtfTracePointContext, FEntryContext, FExitContext, RawTracePointContext, TracePointContext},
    EbpfContext,
};
use lanner_probe_common::MAX_SNAPLEN;
use lanner_probe_common::{
    COMM_LEN, COMPAT_FILTER_BASE, RAW_FILTER_BASE, DEFAULT_RING_BYTES, EXEC_INFO_LEN, ExecInfo, FILTER_ENTRIES, FILTER_SLOTS,
    HEADER_LEN, IA32_ENTRIES, IA32_NR_SOCKETCALL, IA32_SOCKETCALL_BASE, IO_URING_SUBMIT_NR, ITEM_HEADER_LEN,
    ItemHeader, MAX_SOCKADDR, MAX_STR, MAX_STRUCT, OFFSET_NONE, PAYLOAD_MASK, ProbeConfig, RECORD_LEN_MASK,
    RecordHeader, SCRATCH_LEN, SOCK_TUPLE_LEN, STASH_LARGE_LEN, STASH_LARGE_MASK, STASH_SMALL_LEN, STR_READ,
    SockTuple, UPID_LEN, X32_SYSCALL_BIT, counter, exe, flags, ia32_map, io_uring_op, item, kind, spec,
};

/// The records, to user space.
#[map(name = "EVENTS")]
static EVENTS: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BYTES, 0);

/// Per syscall number: a `spec` value (0: not delivered); from `COMPAT_FILTER_BASE`, the
/// values for compat syscalls, which leave out what 32-bit layouts make unreadable (so that
/// the difference is a map value, not paths for the verifier to walk).
#[map(name = "FILTER")]
static FILTER: Array<u32> = Array::with_max_entries(FILTER_SLOTS, 0);

/// ia32 syscall numbers (then `socketcall` calls) to x86_64 numbers + 1; 0: no equivalent.
#[map(name = "IA32_TO_64")]
static IA32_TO_64: Array<u32> = Array::with_max_entries(IA32_ENTRIES, 0);

/// Per-CPU counters, indexed by `counter::*`.
#[map(name = "COUNTERS")]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::COUNT, 0);

/// Where records are assembled.
#[map(name = "SCRATCH")]
static SCRATCH: PerCpuArray<[u8; SCRATCH_LEN]> = PerCpuArray::with_max_entries(1, 0);

/// Per CPU, the entry record of the syscall in flight: assembled here at entry and emitted
/// from here at exit, without a copy or a hash-map operation, as long as the thread stays
/// on the CPU. When it is switched out first, `sched_switch` moves the record to a stash.
#[map(name = "PENDING")]
static PENDING: PerCpuArray<[u8; SCRATCH_LEN]> = PerCpuArray::with_max_entries(1, 0);

/// Per CPU, whose record `PENDING` holds: thread id + 1, or 0.
#[map(name = "PENDING_OWNER")]
static PENDING_OWNER: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);

/// Entry records that fit in `STASH_SMALL_LEN - 1` bytes, by thread id, until the syscall
/// exits (records moved out of `PENDING` when their thread was switched out). LRU, so that a record whose exit never comes (the thread changed id in `execve`) is
/// eventually evicted.
#[map(name = "STASH_SMALL")]
static STASH_SMALL: LruHashMap<u32, [u8; STASH_SMALL_LEN]> = LruHashMap::with_max_entries(8192, 0);

/// Larger entry records (long paths, two or three strings), by thread id.
#[map(name = "STASH_LARGE")]
static STASH_LARGE: LruHashMap<u32, [u8; STASH_LARGE_LEN]> = LruHashMap::with_max_entries(1024, 0);

/// Set by the loader before loading; read-only (the verifier sees the values as constants).
#[unsafe(no_mangle)]
static CONFIG: ProbeConfig = ProbeConfig::EMPTY;

/// One field of [`CONFIG`], read so that the compiler cannot fold it to its default.
macro_rules! config {
    ($($field:tt)+) => {
        read_config(&raw const CONFIG.$($field)+)
    };
}

#[inline(always)]
fn read_config(field: *const u32) -> u32 {
    // SAFETY: a field of the CONFIG static.
    unsafe { ptr::read_volatile(field) }
}

/// `TS_COMPAT` in x86's `thread_info.status`: the task is in a 32-bit syscall.
const TS_COMPAT: u32 = 0x0002;

/// Reads a `T` at `base + off` from kernel memory; zero when the address is NULL, the offset
/// unknown or the read fails.
#[inline(always)]
fn read_kernel<T: Copy>(base: u64, off: u32) -> T {
    let mut value = MaybeUninit::<T>::zeroed();
    if base != 0 && off != OFFSET_NONE {
        // SAFETY: the helper checks the source address and writes at most size_of::<T>() bytes.
        unsafe {
            bpf_probe_read_kernel(
                value.as_mut_ptr().cast(),
                size_of::<T>() as u32,
                (base + u64::from(off)) as *const c_void,
            );
        }
    }
    // SAFETY: zeroed or written by the helper; T is a plain integer type.
    unsafe { value.assume_init() }
}

/// Reads a `T` at `base + off` from kernel memory. With `BTF`, `base` is a BTF-typed pointer
/// (from a BTF tracepoint's arguments or `bpf_get_current_task_btf`, or loaded through one)
/// and the read is a direct load that the verifier checks against the kernel's types: no
/// helper call. Zero when the offset is unknown.
#[inline(always)]
fn load<const BTF: bool, T: Copy>(base: u64, off: u32) -> T {
    if BTF {
        if off == OFFSET_NONE {
            // SAFETY: T is a plain integer type.
            return unsafe { MaybeUninit::<T>::zeroed().assume_init() };
        }
        // SAFETY: a faulting load through a BTF pointer reads zero (the kernel's exception
        // table handles it); the verifier checks the field at `off`.
        unsafe { ptr::read_volatile((base as *const u8).add(off as usize).cast::<T>()) }
    } else {
        read_kernel::<T>(base, off)
    }
}

/// The current task: BTF-typed with `BTF`.
#[inline(always)]
fn current_task<const BTF: bool>() -> u64 {
    if BTF {
        // SAFETY: no preconditions.
        unsafe { bpf_get_current_task_btf() as u64 }
    } else {
        // SAFETY: no preconditions.
        unsafe { bpf_get_current_task() }
    }
}

/// Reads a `T` from user memory; zero when the address is NULL or the read fails.
#[inline(always)]
fn read_user<T: Copy>(addr: u64) -> T {
    let mut value = MaybeUninit::<T>::zeroed();
    if addr != 0 {
        // SAFETY: the helper checks the source address and writes at most size_of::<T>() bytes.
        unsafe {
            bpf_probe_read_user(value.as_mut_ptr().cast(), size_of::<T>() as u32, addr as *const c_void);
        }
    }
    // SAFETY: zeroed or written by the helper; T is a plain integer type.
    unsafe { value.assume_init() }
}

#[inline(always)]
fn count(index: u32) {
    if let Some(p) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: a per-CPU slot of this map.
        unsafe { *p += 1 };
    }
}

/// Whether the current task is in a 32-bit (ia32) syscall, whose numbers are another table's.
#[inline(always)]
fn in_compat_syscall<const BTF: bool>(task: u64) -> bool {
    let off = config!(task_ti_status);
    off != OFFSET_NONE && load::<BTF, u32>(task, off) & TS_COMPAT != 0
}

/// How the syscall in flight passes its arguments.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Abi {
    /// x86_64: six registers, 64-bit pointers.
    Native,
    /// ia32 (`int $0x80`, `sysenter`, 32-bit programs): six other registers, 32 bits each.
    Ia32,
    /// ia32 `socketcall`: as many 32-bit words as the call takes (the value), in user memory
    /// at the second register.
    SocketCall(u32),
    /// x32: x86_64's registers, 32-bit pointers and structs.
    X32,
}

/// The x86_64 number of the syscall in flight, and how it passes its arguments: a compat
/// syscall is delivered as its x86_64 equivalent, as Falco's modern probe does, so that a
/// 32-bit `open` is an `open`. `None` for a compat syscall with no x86_64 equivalent.
#[inline(always)]
fn native_nr<const BTF: bool>(task: u64, regs: u64, nr: u64) -> Option<(u64, Abi)> {
    if nr >= X32_SYSCALL_BIT {
        // x32's own numbers (512 and up: the calls whose structs differ) are not mapped.
        let n = nr - X32_SYSCALL_BIT;
        return if n < u64::from(FILTER_ENTRIES) {
            Some((n, Abi::X32))
        } else if n < 2 * u64::from(FILTER_ENTRIES) {
            None
        } else {
            // Not a syscall (-1: one that ptrace or seccomp skipped): never delivered.
            Some((nr, Abi::Native))
        };
    }
    if !in_compat_syscall::<BTF>(task) {
        return Some((nr, Abi::Native));
    }
    let socketcall = nr == u64::from(IA32_NR_SOCKETCALL);
    let index = if socketcall {
        let call = load::<BTF, u64>(regs, config!(regs_compat_args[0])) & 0xffff_ffff;
        u64::from(IA32_SOCKETCALL_BASE) + call
    } else {
        nr
    };
    if index >= u64::from(IA32_ENTRIES) {
        return None;
    }
    let mapped = *IA32_TO_64.get(index as u32)?;
    let native = mapped & ia32_map::NR_MASK;
    if native == 0 {
        return None;
    }
    let abi = if socketcall { Abi::SocketCall(mapped >> ia32_map::NARGS_SHIFT) } else { Abi::Ia32 };
    Some((u64::from(native - 1), abi))
}

/// The controlling terminal of `task` as `new_encode_dev(MKDEV(major, minor_start + index))`,
/// 0 when there is none.
#[inline(always)]
fn tty_of(task: u64) -> u32 {
    let signal = read_kernel::<u64>(task, config!(task_signal));
    let tty = read_kernel::<u64>(signal, config!(signal_tty));
    if tty == 0 {
        return 0;
    }
    let index = read_kernel::<u32>(tty, config!(tty_index));
    let driver = read_kernel::<u64>(tty, config!(tty_driver));
    let major = read_kernel::<u32>(driver, config!(driver_major));
    let minor = read_kernel::<u32>(driver, config!(driver_minor_start)).wrapping_add(index);
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

/// Levels of pid namespace nesting the kernel allows (`MAX_PID_NS_LEVEL`).
const PID_LEVELS: u32 = 32;

/// The number of `pid` (a `struct pid *`) in the innermost pid namespace it lives in
/// (`inner`), or in the initial one; 0 when there is none.
#[inline(always)]
fn pid_nr(pid: u64, inner: bool) -> u32 {
    let numbers = config!(pid_numbers);
    if pid == 0 || numbers == OFFSET_NONE {
        return 0;
    }
    let level = if inner { read_kernel::<u32>(pid, config!(pid_level)) & (PID_LEVELS - 1) } else { 0 };
    read_kernel::<u32>(pid, numbers + level * UPID_LEN)
}

/// The thread id of `task` in its own pid namespace.
#[inline(always)]
fn vtid_of(task: u64) -> u32 {
    pid_nr(read_kernel::<u64>(task, config!(task_thread_pid)), true)
}

/// `SB_RDONLY`.
const SB_RDONLY: u64 = 1;
/// `S_IMMUTABLE`.
const S_IMMUTABLE: u32 = 8;
/// `OVERLAYFS_SUPER_MAGIC`.
const OVERLAYFS_SUPER_MAGIC: u64 = 0x794c_7630;

/// An inode time (`sec`, `nsec` members) in nanoseconds since the epoch.
#[inline(always)]
fn inode_time(inode: u64, sec: u32, nsec: u32) -> u64 {
    let s = read_kernel::<i64>(inode, sec);
    // The nanoseconds are a u32 (6.11 and later) or a long: their low word either way. Since
    // 6.13 the ctime's top bit says whether it was queried (multigrain timestamps): below a
    // billion, a time fits in 30 bits.
    let ns = read_kernel::<u32>(inode, nsec) & 0x3fff_ffff;
    (s as u64).wrapping_mul(1_000_000_000).wrapping_add(u64::from(ns))
}

/// The ids and executable details of an exec record (see `ExecInfo`), as Falco's modern
/// probe reads them at execve's exit: the task's pid namespace numbers, and the new image's
/// inode, times, owner and overlayfs layer.
#[inline(always)]
fn exec_info(task: u64, bprm: u64) -> ExecInfo {
    let mut info = ExecInfo::default();
    info.vpid = vtid_of(task);
    let signal = read_kernel::<u64>(task, config!(task_signal));
    let pids = config!(signal_pids);
    if signal != 0 && pids != OFFSET_NONE {
        // enum pid_type: PIDTYPE_PID, PIDTYPE_TGID, PIDTYPE_PGID, PIDTYPE_SID.
        let pgrp = read_kernel::<u64>(signal, pids + 2 * 8);
        let session = read_kernel::<u64>(signal, pids + 3 * 8);
        info.vpgid = pid_nr(pgrp, true);
        info.pgid = pid_nr(pgrp, false);
        info.sid = pid_nr(session, false);
    }
    let cred = read_kernel::<u64>(task, config!(task_cred));
    info.fsuid = read_kernel::<u32>(cred, config!(cred_fsuid));
    info.fsgid = read_kernel::<u32>(cred, config!(cred_fsgid));
    let file = read_kernel::<u64>(bprm, config!(bprm_file));
    let inode = read_kernel::<u64>(file, config!(file_inode));
    if inode == 0 {
        return info;
    }
    info.ino = read_kernel::<u64>(inode, config!(inode_ino));
    info.ctime_ns = inode_time(inode, config!(inode_ctime_sec), config!(inode_ctime_nsec));
    info.mtime_ns = inode_time(inode, config!(inode_mtime_sec), config!(inode_mtime_nsec));
    info.mode = u32::from(read_kernel::<u16>(inode, config!(inode_mode)));
    info.uid = read_kernel::<u32>(inode, config!(inode_uid));
    info.gid = read_kernel::<u32>(inode, config!(inode_gid));
    let sb = read_kernel::<u64>(inode, config!(inode_sb));
    if read_kernel::<u64>(sb, config!(sb_flags)) & SB_RDONLY != 0 {
        info.flags |= exe::SB_RDONLY;
    }
    if read_kernel::<u32>(inode, config!(inode_flags)) & S_IMMUTABLE != 0 {
        info.flags |= exe::IMMUTABLE;
    }
    // The path's dentry is overlayfs' own (the file's inode is the layer's): its inode is
    // embedded in a `struct ovl_inode`, right before the upper layer's dentry, which is NULL
    // while the file lives in a lower layer only.
    let dentry = read_kernel::<u64>(file, config!(file_dentry));
    let dsb = read_kernel::<u64>(dentry, config!(dentry_sb));
    if read_kernel::<u64>(dsb, config!(sb_magic)) == OVERLAYFS_SUPER_MAGIC {
        info.flags |= exe::OVERLAY;
        let ovl_inode = read_kernel::<u64>(dentry, config!(dentry_inode));
        let upper = read_kernel::<u64>(ovl_inode, config!(inode_size));
        if upper != 0
            && read_kernel::<u64>(read_kernel::<u64>(upper, config!(dentry_inode)), config!(inode_ino)) != 0
        {
            info.flags |= exe::UPPER_LAYER;
        }
    }
    info
}

/// Copies `value` to `dst` with one helper call: an unaligned store of a struct would be a
/// byte store per byte, each one for the verifier to check.
///
/// # Safety
/// `dst` has room for a `T`.
#[inline(always)]
unsafe fn copy_to<T>(dst: *mut u8, value: &T) {
    // SAFETY: the caller guarantees the room; the source is a live value.
    unsafe {
        bpf_probe_read_kernel(dst.cast(), size_of::<T>() as u32, (value as *const T).cast());
    }
}

/// Appends an [`ExecInfo`] item; returns the new payload offset.
#[inline(always)]
fn push_exec_info(buf: *mut u8, off: usize, info: &ExecInfo) -> usize {
    let off = off & PAYLOAD_MASK;
    // SAFETY: HEADER_LEN + PAYLOAD_MASK + ITEM_HEADER_LEN + EXEC_INFO_LEN fits in the scratch
    // buffer.
    unsafe { ptr::write_unaligned(buf.add(HEADER_LEN + off + ITEM_HEADER_LEN).cast::<ExecInfo>(), *info) };
    put_item_header(buf, off, EXEC_INFO_LEN, item::EXEC_INFO, 0);
    off + ITEM_HEADER_LEN + EXEC_INFO_LEN
}

/// The effective and permitted capabilities of `cred`: one read when they are adjacent
/// (they are: `cap_permitted` comes right before `cap_effective`), two otherwise.
#[inline(always)]
fn caps_of<const BTF: bool>(cred: u64) -> (u64, u64) {
    let eff = config!(cred_cap_effective);
    let perm = config!(cred_cap_permitted);
    if BTF {
        (load::<true, u64>(cred, eff), load::<true, u64>(cred, perm))
    } else if perm != OFFSET_NONE && eff == perm.wrapping_add(8) {
        let both = read_kernel::<[u64; 2]>(cred, perm);
        (both[1], both[0])
    } else {
        (read_kernel::<u64>(cred, eff), read_kernel::<u64>(cred, perm))
    }
}

/// Fills the header of the record at `buf` for the current task.
#[inline(always)]
fn fill_header<const BTF: bool>(buf: *mut u8, record_kind: u16, nr: u32, task: u64) {
    let hdr = buf.cast::<RecordHeader>();
    let pid_tgid = unsafe { bpf_get_current_pid_tgid() };
    let uid_gid = unsafe { bpf_get_current_uid_gid() };
    let cred = load::<BTF, u64>(task, config!(task_cred));
    let (cap_effective, cap_permitted) = caps_of::<BTF>(cred);
    let loginuid_off = config!(task_loginuid);
    // Every record names the parent, so that a process whose fork and exec records were lost
    // (a full ring) still has one.
    let ppid = load::<BTF, u32>(load::<BTF, u64>(task, config!(task_real_parent)), config!(task_tgid));
    // SAFETY: `buf` is a map value of at least HEADER_LEN bytes.
    unsafe {
        (*hdr).ts_boot_ns = bpf_ktime_get_boot_ns();
        (*hdr).cgroup_id = bpf_get_current_cgroup_id();
        (*hdr).cap_effective = cap_effective;
        (*hdr).cap_permitted = cap_permitted;
        // Field by field: an aggregate store would become a call to a `memset` loop.
        ptr::write_volatile(&raw mut (*hdr).ret, 0);
        set_args(hdr, &[0; 6]);
        (*hdr).len = HEADER_LEN as u32;
        (*hdr).kind = record_kind;
        (*hdr).n_items = 0;
        (*hdr).nr = nr;
        (*hdr).cpu = bpf_get_smp_processor_id();
        (*hdr).tgid = (pid_tgid >> 32) as u32;
        (*hdr).tid = pid_tgid as u32;
        (*hdr).ppid = ppid;
        (*hdr).uid = uid_gid as u32;
        (*hdr).gid = (uid_gid >> 32) as u32;
        (*hdr).loginuid =
            if loginuid_off == OFFSET_NONE { u32::MAX } else { load::<BTF, u32>(task, loginuid_off) };
        // Process records come from raw tracepoints (plain task pointer).
        (*hdr).tty =
            if !BTF && (record_kind == kind::EXEC || record_kind == kind::FORK) { tty_of(task) } else { 0 };
        (*hdr).child_tgid = 0;
        (*hdr).child_tid = 0;
        (*hdr).vtid = 0;
        bpf_get_current_comm(ptr::addr_of_mut!((*hdr).comm).cast(), COMM_LEN as u32);
    }
}

/// `struct pt_regs` on x86_64, in 8-byte words (the loader checks that the offsets fit).
const REGS_WORDS: usize = lanner_probe_common::PT_REGS_LEN / 8;

/// One word of a `pt_regs` copy, at byte offset `off`.
#[inline(always)]
fn reg(words: &[u64; REGS_WORDS], off: u32) -> u64 {
    let i = (off / 8) as usize;
    if i < REGS_WORDS { words[i] } else { 0 }
}

/// The six syscall arguments of the syscall in flight, laid out as its x86_64 equivalent
/// takes them.
#[inline(always)]
fn syscall_args<const BTF: bool>(regs: u64, abi: Abi) -> [u64; 6] {
    match abi {
        Abi::Native | Abi::X32 => native_args::<BTF>(regs),
        Abi::Ia32 => {
            // The kernel reads 32 bits of each register: the upper halves are whatever a
            // 64-bit program left there, and must not hide a pointer.
            let m = 0xffff_ffff;
            // (ia32 clone passes tls before child_tid, x86_64 after: no parameter of Lanner's
            // clone event reads either, and a branch here would cost the verifier more than
            // the swap is worth.)
            [
                load::<BTF, u64>(regs, config!(regs_compat_args[0])) & m,
                load::<BTF, u64>(regs, config!(regs_compat_args[1])) & m,
                load::<BTF, u64>(regs, config!(regs_compat_args[2])) & m,
                load::<BTF, u64>(regs, config!(regs_compat_args[3])) & m,
                load::<BTF, u64>(regs, config!(regs_compat_args[4])) & m,
                load::<BTF, u64>(regs, config!(regs_compat_args[5])) & m,
            ]
        }
        Abi::SocketCall(nargs) => {
            let ptr = load::<BTF, u64>(regs, config!(regs_compat_args[1])) & 0xffff_ffff;
            // Only the call's own words: those past them are not its arguments (send is
            // sendto without an address), and stay zero, as the kernel passes them. One read
            // of a bounded size, no branch per word.
            let mut w = [0u32; 8];
            // SAFETY: the helper writes at most 28 bytes of the 32.
            unsafe {
                bpf_probe_read_user(w.as_mut_ptr().cast(), (nargs & 7) * 4, ptr as *const c_void);
            }
            [
                u64::from(w[0]),
                u64::from(w[1]),
                u64::from(w[2]),
                u64::from(w[3]),
                u64::from(w[4]),
                u64::from(w[5]),
            ]
        }
    }
}

/// The six x86_64 syscall arguments from `pt_regs`: direct loads with `BTF`, else copied in
/// one read.
#[inline(always)]
fn native_args<const BTF: bool>(regs: u64) -> [u64; 6] {
    if BTF {
        return [
            load::<true, u64>(regs, config!(regs_args[0])),
            load::<true, u64>(regs, config!(regs_args[1])),
            load::<true, u64>(regs, config!(regs_args[2])),
            load::<true, u64>(regs, config!(regs_args[3])),
            load::<true, u64>(regs, config!(regs_args[4])),
            load::<true, u64>(regs, config!(regs_args[5])),
        ];
    }
    let mut words = [0u64; REGS_WORDS];
    if regs != 0 {
        // SAFETY: the helper checks the source address and writes PT_REGS_LEN bytes.
        unsafe {
            bpf_probe_read_kernel(
                words.as_mut_ptr().cast(),
                lanner_probe_common::PT_REGS_LEN as u32,
                regs as *const c_void,
            );
        }
    }
    [
        reg(&words, config!(regs_args[0])),
        reg(&words, config!(regs_args[1])),
        reg(&words, config!(regs_args[2])),
        reg(&words, config!(regs_args[3])),
        reg(&words, config!(regs_args[4])),
        reg(&words, config!(regs_args[5])),
    ]
}

/// Stores the syscall arguments in the header, one word at a time.
#[inline(always)]
fn set_args(hdr: *mut RecordHeader, args: &[u64; 6]) {
    // SAFETY: `hdr` points to a whole header in a map value.
    unsafe {
        ptr::write_volatile(&raw mut (*hdr).args[0], args[0]);
        ptr::write_volatile(&raw mut (*hdr).args[1], args[1]);
        ptr::write_volatile(&raw mut (*hdr).args[2], args[2]);
        ptr::write_volatile(&raw mut (*hdr).args[3], args[3]);
        ptr::write_volatile(&raw mut (*hdr).args[4], args[4]);
        ptr::write_volatile(&raw mut (*hdr).args[5], args[5]);
    }
}

/// Syscall argument `index` of the record at `buf` (stored there by [`set_args`]): one load
/// at a bounded variable offset, rather than a branch per argument, which the verifier would
/// explore once per argument at every call site.
#[inline(always)]
fn arg(buf: *const u8, index: u8) -> u64 {
    if index >= 6 {
        return 0;
    }
    let args = buf.cast::<RecordHeader>();
    // SAFETY: `buf` is a map value holding a whole header; `index` is below 6.
    unsafe { ptr::read_volatile(ptr::addr_of!((*args).args).cast::<u64>().add(index as usize)) }
}

/// Writes an item header at payload offset `off` (already masked).
#[inline(always)]
fn put_item_header(buf: *mut u8, off: usize, len: usize, item_kind: u8, item_flags: u8) {
    let header = ItemHeader { len: len as u16, kind: item_kind, flags: item_flags };
    // SAFETY: HEADER_LEN + PAYLOAD_MASK + ITEM_HEADER_LEN fits in the scratch buffer.
    unsafe { ptr::write_unaligned(buf.add(HEADER_LEN + off).cast::<ItemHeader>(), header) };
    // Count the item.
    let hdr = buf.cast::<RecordHeader>();
    // SAFETY: `buf` is a map value of at least HEADER_LEN bytes.
    unsafe { (*hdr).n_items += 1 };
}

/// Appends a NUL-terminated string read from `src` (user memory, or kernel memory when
/// `kernel`) as an item; returns the new payload offset.
#[inline(never)]
fn push_str(buf: *mut u8, off: usize, src: u64, kernel: bool) -> usize {
    let off = off & PAYLOAD_MASK;
    // SAFETY: HEADER_LEN + PAYLOAD_MASK + ITEM_HEADER_LEN + STR_READ fits in the scratch buffer.
    let dst = unsafe { buf.add(HEADER_LEN + off + ITEM_HEADER_LEN) };
    let got = if src == 0 {
        -1
    } else if kernel {
        // SAFETY: the helper bounds the write to STR_READ bytes.
        unsafe { bpf_probe_read_kernel_str(dst.cast(), STR_READ as u32, src as *const c_void) }
    } else {
        // SAFETY: as above.
        unsafe { bpf_probe_read_user_str(dst.cast(), STR_READ as u32, src as *const c_void) }
    };
    let (len, item_flags) = if got <= 0 {
        if src != 0 {
            // A pointer the kernel may still read: a page not yet faulted in (a fresh
            // program's own data), which a probe cannot fault in. Read again at exit.
            // SAFETY: `buf` is a map value of at least HEADER_LEN bytes.
            unsafe { (*buf.cast::<RecordHeader>()).child_tid = ENTRY_FAULT };
        }
        (0, flags::FAULT)
    } else {
        // `got` counts the NUL; STR_READ leaves room to tell "longer than MAX_STR".
        let chars = (got - 1) as usize;
        if chars > MAX_STR { (MAX_STR, flags::TRUNCATED) } else { (chars, 0) }
    };
    let len = len & (2 * MAX_STR - 1);
    put_item_header(buf, off, len, item::STRING, item_flags);
    off + ITEM_HEADER_LEN + len
}

/// Set in a syscall entry record's `child_tid` (otherwise unused in syscall records) when a
/// string could not be read at entry: the record is then assembled again at exit.
const ENTRY_FAULT: u32 = 1;

/// Appends `total` bytes read from user memory at `src` (bounded to MAX_STR) as an item.
#[inline(never)]
fn push_user_buf(buf: *mut u8, off: usize, src: u64, total: u64) -> usize {
    let off = off & PAYLOAD_MASK;
    // SAFETY: see push_str.
    let dst = unsafe { buf.add(HEADER_LEN + off + ITEM_HEADER_LEN) };
    let (len, mut item_flags) =
        if total > MAX_STR as u64 { (MAX_STR, flags::TRUNCATED) } else { (total as usize, 0) };
    let len = len & (2 * MAX_STR - 1);
    let len = if src == 0
        // SAFETY: the helper bounds the write to `len` bytes, at most 2 * MAX_STR - 1.
        || unsafe { bpf_probe_read_user(dst.cast(), len as u32, src as *const c_void) } < 0
    {
        item_flags = flags::FAULT;
        0
    } else {
        len
    };
    put_item_header(buf, off, len, item::STRING, item_flags);
    off + ITEM_HEADER_LEN + len
}

/// Appends a socket address (or, as `item_kind` says, a struct) of `addrlen` bytes read from
/// user memory at `src`.
#[inline(never)]
fn push_sockaddr(buf: *mut u8, off: usize, src: u64, addrlen: u64, item_kind: u8) -> usize {
    if src == 0 || addrlen == 0 {
        return off;
    }
    let off = off & PAYLOAD_MASK;
    // SAFETY: see push_str.
    let dst = unsafe { buf.add(HEADER_LEN + off + ITEM_HEADER_LEN) };
    let (len, item_flags) =
        if addrlen > MAX_SOCKADDR as u64 { (MAX_SOCKADDR, flags::TRUNCATED) } else { (addrlen as usize, 0) };
    let len = len & (2 * MAX_SOCKADDR - 1);
    // SAFETY: the helper bounds the write to `len` bytes.
    if unsafe { bpf_probe_read_user(dst.cast(), len as u32, src as *const c_void) } < 0 {
        return off;
    }
    put_item_header(buf, off, len, item_kind, item_flags);
    off + ITEM_HEADER_LEN + len
}

/// A `struct user_msghdr`'s `msg_name` and `msg_namelen` (uapi layout: pointer, then int).
#[inline(always)]
fn push_msg_name(buf: *mut u8, off: usize, msghdr: u64) -> usize {
    if msghdr == 0 {
        return off;
    }
    let name = read_user::<u64>(msghdr);
    let namelen = read_user::<u32>(msghdr + 8);
    push_sockaddr(buf, off, name, u64::from(namelen), item::SOCKADDR)
}

/// Appends what `spec` says to read at entry: the string slots, then an entry socket address.
/// With `strings_faulted`, the string slots are emitted empty and marked FAULT (their memory
/// is gone), so that the slot order still holds.
#[inline(always)]
fn push_entry_items(buf: *mut u8, mut off: usize, s: u32, strings_faulted: bool) -> usize {
    let mut slot = 0;
    while slot < 3 {
        if let Some(a) = spec::string_arg(s, slot) {
            let src = if strings_faulted { 0 } else { arg(buf, a) };
            off = push_str(buf, off, src, false);
        }
        slot += 1;
    }
    let (ptr_arg, len_arg) = (sock_ptr_arg(s), sock_len_arg(s));
    match spec::sock_mode(s) {
        spec::SOCK_ENTRY => push_sockaddr(buf, off, arg(buf, ptr_arg), arg(buf, len_arg), item::SOCKADDR),
        spec::SOCK_MSG_ENTRY => push_msg_name(buf, off, arg(buf, ptr_arg)),
        spec::SOCK_STRUCT => {
            let len = arg(buf, len_arg).min(MAX_STRUCT as u64);
            push_sockaddr(buf, off, arg(buf, ptr_arg), len, item::STRUCT)
        }
        _ => off,
    }
}

/// For a syscall delivered only with a socket address ([`spec::ADDR_REQUIRED`]): whether
/// this call has none. `ptr` and `len` are the address (or `msghdr`) and length arguments.
#[inline(always)]
fn address_missing(s: u32, ptr: u64, len: u64) -> bool {
    if s & spec::ADDR_REQUIRED == 0 {
        return false;
    }
    match spec::sock_mode(s) {
        spec::SOCK_ENTRY => ptr == 0 || len == 0,
        spec::SOCK_MSG_ENTRY => ptr == 0 || read_user::<u64>(ptr) == 0,
        _ => false,
    }
}

#[inline(always)]
fn sock_ptr_arg(s: u32) -> u8 {
    ((s >> spec::SOCK_PTR_SHIFT) & 0xf).wrapping_sub(1) as u8
}

#[inline(always)]
fn sock_len_arg(s: u32) -> u8 {
    ((s >> spec::SOCK_LEN_SHIFT) & 0xf).wrapping_sub(1) as u8
}

/// Appends a socket address the syscall wrote (read at exit, when it succeeded).
#[inline(always)]
fn push_exit_items(buf: *mut u8, off: usize, s: u32, ret: i64) -> usize {
    if ret < 0 {
        return off;
    }
    let (ptr_arg, len_arg) = (sock_ptr_arg(s), sock_len_arg(s));
    match spec::sock_mode(s) {
        spec::SOCK_EXIT_LENPTR => {
            let len_ptr = arg(buf, len_arg);
            if len_ptr == 0 {
                return off;
            }
            let addrlen = read_user::<u32>(len_ptr);
            push_sockaddr(buf, off, arg(buf, ptr_arg), u64::from(addrlen), item::SOCKADDR)
        }
        spec::SOCK_MSG_EXIT => push_msg_name(buf, off, arg(buf, ptr_arg)),
        _ => off,
    }
}

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const S_IFMT: u16 = 0o170000;
const S_IFSOCK: u16 = 0o140000;

/// Appends the kernel's addresses of the socket open as `fd` in `task` (local address and
/// port, peer address and port, as `struct sock_common` has them): after `connect`, the local
/// end the kernel chose; after `accept`, the accepted socket's real local address.
#[inline(never)]
fn push_tuple(buf: *mut u8, off: usize, task: u64, fd: i64) -> usize {
    if fd < 0 {
        return off;
    }
    let files = read_kernel::<u64>(task, config!(task_files));
    let fdt = read_kernel::<u64>(files, config!(files_fdt));
    if fd as u64 >= u64::from(read_kernel::<u32>(fdt, config!(fdt_max_fds))) {
        return off;
    }
    let file = read_kernel::<u64>(read_kernel::<u64>(fdt, config!(fdt_fd)) + (fd as u64) * 8, 0);
    let inode = read_kernel::<u64>(file, config!(file_inode));
    if read_kernel::<u16>(inode, config!(inode_mode)) & S_IFMT != S_IFSOCK {
        return off;
    }
    let sk = read_kernel::<u64>(read_kernel::<u64>(file, config!(file_private_data)), config!(socket_sk));
    if sk == 0 {
        return off;
    }
    let mut t = SockTuple::default();
    t.family = read_kernel::<u16>(sk, config!(sk_family));
    t.lport = read_kernel::<u16>(sk, config!(sk_num));
    t.rport = u16::from_be(read_kernel::<u16>(sk, config!(sk_dport)));
    let (l, r) = (t.laddr.as_mut_ptr(), t.raddr.as_mut_ptr());
    // SAFETY: 16-byte arrays; unaligned writes of at most 16 bytes.
    unsafe {
        match t.family {
            AF_INET => {
                ptr::write_unaligned(l.cast::<u32>(), read_kernel::<u32>(sk, config!(sk_rcv_saddr)));
                ptr::write_unaligned(r.cast::<u32>(), read_kernel::<u32>(sk, config!(sk_daddr)));
            }
            AF_INET6 => {
                ptr::write_unaligned(
                    l.cast::<[u64; 2]>(),
                    read_kernel::<[u64; 2]>(sk, config!(sk_v6_rcv_saddr)),
                );
                ptr::write_unaligned(r.cast::<[u64; 2]>(), read_kernel::<[u64; 2]>(sk, config!(sk_v6_daddr)));
            }
            _ => return off,
        }
    }
    let off = off & PAYLOAD_MASK;
    // SAFETY: HEADER_LEN + PAYLOAD_MASK + ITEM_HEADER_LEN + SOCK_TUPLE_LEN fits in the scratch
    // buffer.
    unsafe { copy_to(buf.add(HEADER_LEN + off + ITEM_HEADER_LEN), &t) };
    put_item_header(buf, off, SOCK_TUPLE_LEN, item::SOCK_TUPLE, 0);
    off + ITEM_HEADER_LEN + SOCK_TUPLE_LEN
}

/// The most iovecs whose data is read. Each one more multiplies the paths the verifier walks
/// in `sys_exit`: with 8 it verified 628,727 instructions in about 1 s at every start; with 2,
/// 138,583 in 190 ms (80 bytes rarely span more than a header and a body).
const MAX_IOV: u64 = 2;

/// Appends up to the snaplen of the data a read or write moved (`ret` bytes), from a buffer,
/// an iovec array or a `msghdr`'s iovecs, as `spec` says.
#[inline(never)]
fn push_data(buf: *mut u8, off: usize, s: u32, ret: i64) -> usize {
    let snaplen = u64::from(config!(snaplen).min(MAX_SNAPLEN));
    let total = if ret > 0 { ret as u64 } else { 0 };
    let want = total.min(snaplen);
    let off = off & PAYLOAD_MASK;
    // SAFETY: HEADER_LEN + PAYLOAD_MASK + ITEM_HEADER_LEN + 2 * MAX_SNAPLEN fits in the scratch
    // buffer.
    let dst = unsafe { buf.add(HEADER_LEN + off + ITEM_HEADER_LEN) };
    let mut got: u64 = 0;
    if s & spec::DATA_IOV == 0 {
        let n = want & (2 * u64::from(MAX_SNAPLEN) - 1);
        // SAFETY: the helper bounds the write to `n` bytes.
        if n > 0 && unsafe { bpf_probe_read_user(dst.cast(), n as u32, arg(buf, 1) as *const c_void) } == 0 {
            got = n;
        }
    } else {
        let (iov, count) = if s & spec::DATA_BUF != 0 {
            // struct user_msghdr: name, namelen, then the iovec pointer and count.
            let msg = arg(buf, 1);
            (read_user::<u64>(msg + 16), read_user::<u64>(msg + 24))
        } else {
            (arg(buf, 1), arg(buf, 2))
        };
        let mut i = 0;
        while i < MAX_IOV && i < count && got < want {
            let v = read_user::<[u64; 2]>(iov + i * 16);
            let n = v[1].min(want - got) & (u64::from(MAX_SNAPLEN) - 1);
            let at = got & (u64::from(MAX_SNAPLEN) - 1);
            // SAFETY: at + n < 2 * MAX_SNAPLEN, within the scratch buffer.
            if n > 0
                && unsafe {
                    bpf_probe_read_user(dst.add(at as usize).cast(), n as u32, v[0] as *const c_void)
                } != 0
            {
                break;
            }
            got += n;
            i += 1;
        }
    }
    let len = (got & (2 * u64::from(MAX_SNAPLEN) - 1)) as usize;
    put_item_header(buf, off, len, item::DATA, if total > got { flags::TRUNCATED } else { 0 });
    off + ITEM_HEADER_LEN + len
}

/// EINPROGRESS: a non-blocking connect under way has its local end already.
const EINPROGRESS: i64 = 115;

/// Appends the socket tuple `spec` asks for, when the syscall succeeded.
#[inline(always)]
fn push_tuple_items(buf: *mut u8, off: usize, s: u32, ret: i64, task: u64) -> usize {
    // One call site: the verifier checks the function once per call.
    let fd = if s & spec::TUPLE_RET != 0 && ret >= 0 {
        ret
    } else if s & spec::TUPLE_ARG0 != 0 && (ret >= 0 || ret == -EINPROGRESS) {
        arg(buf, 0) as i32 as i64
    } else {
        return off;
    };
    push_tuple(buf, off, task, fd)
}

/// Copies `len` bytes at `buf` to the ring buffer, counting a drop on failure. The caller
/// bounds `len`, with a mask the verifier can follow, to the map value `buf` points into.
#[inline(always)]
fn output(buf: *const u8, len: usize) {
    // SAFETY: see above.
    let data = unsafe { core::slice::from_raw_parts(buf, len) };
    let wakeup_bytes = config!(wakeup_bytes);
    let flags = if wakeup_bytes == 0 {
        0
    } else if EVENTS.query(u64::from(BPF_RB_AVAIL_DATA)) >= u64::from(wakeup_bytes) {
        u64::from(BPF_RB_FORCE_WAKEUP)
    } else {
        u64::from(BPF_RB_NO_WAKEUP)
    };
    if EVENTS.output::<[u8]>(data, flags).is_err() {
        count(counter::RING_DROPS);
    }
}

/// Emits a record assembled in the scratch buffer.
#[inline(always)]
fn emit(buf: *const u8, len: usize) {
    // The scratch buffer is RECORD_LEN_MASK + 1 bytes.
    output(buf, len & RECORD_LEN_MASK);
}

/// Sets the record's length from the payload offset after its last item; returns it.
#[inline(always)]
fn finish(buf: *mut u8, off: usize) -> usize {
    let len = HEADER_LEN + (off & PAYLOAD_MASK);
    // SAFETY: `buf` is a map value of at least HEADER_LEN bytes.
    unsafe { (*buf.cast::<RecordHeader>()).len = len as u32 };
    len
}

/// The filter spec of syscall `nr` (its x86_64 number) called through `abi`, when it is
/// delivered; with `RAW`, from the raw tracepoints' view of the filter.
#[inline(always)]
fn delivered<const RAW: bool>(nr: u64, abi: Abi) -> Option<u32> {
    if nr >= u64::from(FILTER_ENTRIES) {
        return None;
    }
    let mut slot = if abi == Abi::Native { nr } else { nr + u64::from(COMPAT_FILTER_BASE) };
    if RAW {
        slot += u64::from(RAW_FILTER_BASE);
    }
    if slot >= u64::from(FILTER_SLOTS) {
        return None;
    }
    let s = *FILTER.get(slot as u32)?;
    if s & spec::DELIVER == 0 { None } else { Some(s) }
}

#[inline(always)]
fn ignored(pid_tgid: u64) -> bool {
    let ignore = config!(ignore_tgid);
    ignore != 0 && (pid_tgid >> 32) as u32 == ignore
}

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn lanner_sys_enter(ctx: RawTracePointContext) -> i32 {
    sys_enter::<false, true>(ctx.arg(0), ctx.arg(1))
}

/// `lanner_sys_enter` as a BTF-typed tracepoint, which the loader prefers: the arguments and
/// the task's fields are direct loads rather than helper calls.
#[btf_tracepoint(function = "sys_enter")]
pub fn lanner_sys_enter_btf(ctx: BtfTracePointContext) -> i32 {
    // sys_enter's arguments are (struct pt_regs *regs, long id).
    let (regs, nr): (*const u8, u64) = (ctx.arg(0), ctx.arg(1));
    sys_enter::<true, true>(regs as u64, nr)
}

/// The per-syscall tracepoints' entry (`syscalls:sys_enter_NAME`), attached to each watched
/// syscall's own tracepoint: unwatched syscalls run no program at all. The context is the
/// event's record (`__syscall_nr` at offset 8, then the arguments); the record is assembled
/// by the same code as the raw tracepoints', from the task's `pt_regs`.
#[tracepoint]
pub fn lanner_tp_enter(ctx: TracePointContext) -> i32 {
    // SAFETY: the context is the event's record; __syscall_nr is at offset 8 (its format).
    let nr = unsafe { ptr::read_volatile(ctx.as_ptr().cast::<u8>().add(8).cast::<i32>()) };
    sys_enter::<true, false>(task_regs(), nr as u64)
}

/// The per-syscall tracepoints' exit (`syscalls:sys_exit_NAME`: `__syscall_nr` at offset 8,
/// `ret` at 16).
#[tracepoint]
pub fn lanner_tp_exit(ctx: TracePointContext) -> i32 {
    let base = ctx.as_ptr().cast::<u8>();
    // SAFETY: the context is the event's record; offsets from its format.
    let (nr, ret) = unsafe {
        (ptr::read_volatile(base.add(8).cast::<i32>()), ptr::read_volatile(base.add(16).cast::<i64>()))
    };
    sys_exit::<true, false>(task_regs(), ret, nr as u64)
}

/// The current task's user `pt_regs`, BTF-typed (what the raw tracepoints get as argument).
#[inline(always)]
fn task_regs() -> u64 {
    // SAFETY: the current task, a trusted pointer.
    unsafe { bpf_task_pt_regs(bpf_get_current_task_btf().cast()) as u64 }
}

/// 32-bit syscalls: x86_64 fires no per-syscall tracepoint for them, so when the probe is
/// attached per syscall they come through the function that dispatches every ia32 syscall,
/// `ia32_sys_call(regs, nr)`: its cost falls on 32-bit syscalls only.
#[fentry(function = "ia32_sys_call")]
pub fn lanner_ia32_enter(ctx: FEntryContext) -> i32 {
    let (regs, nr): (*const u8, u32) = (ctx.arg(0), ctx.arg(1));
    sys_enter::<true, false>(regs as u64, u64::from(nr))
}

/// See `lanner_ia32_enter`.
#[fexit(function = "ia32_sys_call")]
pub fn lanner_ia32_exit(ctx: FExitContext) -> i32 {
    let (regs, nr, ret): (*const u8, u32, i64) = (ctx.arg(0), ctx.arg(1), ctx.arg(2));
    sys_exit::<true, false>(regs as u64, ret, u64::from(nr))
}

/// The entry of a syscall: `RAW` for the raw tracepoints, which read their own view of the
/// filter (see `RAW_FILTER_BASE`).
#[inline(always)]
fn sys_enter<const BTF: bool, const RAW: bool>(regs: u64, nr: u64) -> i32 {
    let task = current_task::<BTF>();
    // An unmapped compat syscall is counted at exit.
    let Some((nr, abi)) = native_nr::<BTF>(task, regs, nr) else { return 0 };
    let Some(s) = delivered::<RAW>(nr, abi) else { return 0 };
    if s & spec::ENTRY_DATA == 0 {
        // Everything is read at exit.
        return 0;
    }
    // Read here, so that what differs between ABIs ends here, before the paths the verifier
    // walks multiply.
    let args = syscall_args::<BTF>(regs, abi);
    let pid_tgid = unsafe { bpf_get_current_pid_tgid() };
    if ignored(pid_tgid) {
        return 0;
    }
    let (Some(pending), Some(owner)) = (PENDING.get_ptr_mut(0), PENDING_OWNER.get_ptr_mut(0)) else {
        return 0;
    };
    let buf = pending.cast::<u8>();
    let tid = pid_tgid as u32;
    // SAFETY: a per-CPU slot of this map. The record is being rewritten: no owner meanwhile.
    unsafe { *owner = 0 };
    fill_header::<BTF>(buf, kind::SYSCALL, nr as u32, task);
    set_args(buf.cast(), &args);
    if address_missing(s, arg(buf, sock_ptr_arg(s)), arg(buf, sock_len_arg(s))) {
        return 0;
    }
    let off = push_entry_items(buf, 0, s, false);
    finish(buf, off);
    // SAFETY: as above.
    unsafe { *owner = tid + 1 };
    0
}

/// Moves the pending entry record of this CPU, if it belongs to `tid`, to the stash maps.
#[inline(always)]
fn spill_pending(tid: u32) {
    let (Some(pending), Some(owner)) = (PENDING.get_ptr_mut(0), PENDING_OWNER.get_ptr_mut(0)) else {
        return;
    };
    // SAFETY: a per-CPU slot of this map.
    if unsafe { *owner } != tid + 1 {
        return;
    }
    // SAFETY: as above.
    unsafe { *owner = 0 };
    let buf = pending.cast::<u8>();
    // SAFETY: a pending value holds a whole header.
    let len = unsafe { (*buf.cast::<RecordHeader>()).len } as usize;
    let stashed = if len < STASH_SMALL_LEN {
        // SAFETY: the pending buffer is larger than a stash value.
        let value = unsafe { &*buf.cast::<[u8; STASH_SMALL_LEN]>() };
        STASH_SMALL.insert(tid, value, u64::from(BPF_ANY))
    } else {
        // A stale small record of this thread would be found first at exit.
        let _ = STASH_SMALL.remove(tid);
        // SAFETY: as above.
        let value = unsafe { &*buf.cast::<[u8; STASH_LARGE_LEN]>() };
        STASH_LARGE.insert(tid, value, u64::from(BPF_ANY))
    };
    if stashed.is_err() {
        count(counter::STASH_FAILURES);
    }
}

/// Emits this CPU's pending entry record if it is `tid`'s for syscall `nr`.
#[inline(always)]
fn emit_pending(tid: u32, nr: u32, ret: i64) -> bool {
    let (Some(pending), Some(owner)) = (PENDING.get_ptr_mut(0), PENDING_OWNER.get_ptr_mut(0)) else {
        return false;
    };
    // SAFETY: a per-CPU slot of this map.
    if unsafe { *owner } != tid + 1 {
        return false;
    }
    // SAFETY: as above.
    unsafe { *owner = 0 };
    let buf = pending.cast::<u8>();
    let hdr = buf.cast::<RecordHeader>();
    // SAFETY: a pending value holds a whole header.
    if unsafe { (*hdr).nr } != nr || unsafe { (*hdr).child_tid } == ENTRY_FAULT {
        return false;
    }
    unsafe { (*hdr).ret = ret };
    emit(buf, unsafe { (*hdr).len } as usize);
    true
}

/// Emits the stashed entry record of this thread for syscall `nr`, if there is one.
#[inline(always)]
fn emit_stashed(tid: u32, nr: u32, ret: i64) -> bool {
    if let Some(p) = STASH_SMALL.get_ptr_mut(tid) {
        let buf = p.cast::<u8>();
        let hdr = buf.cast::<RecordHeader>();
        // SAFETY: a stash value holds a whole header.
        if unsafe { (*hdr).nr } == nr {
            if unsafe { (*hdr).child_tid } == ENTRY_FAULT {
                let _ = STASH_SMALL.remove(tid);
                return false;
            }
            unsafe { (*hdr).ret = ret };
            // Only records shorter than the value were stashed here.
            output(buf, unsafe { (*hdr).len } as usize & (STASH_SMALL_LEN - 1));
            let _ = STASH_SMALL.remove(tid);
            return true;
        }
    }
    if let Some(p) = STASH_LARGE.get_ptr_mut(tid) {
        let buf = p.cast::<u8>();
        let hdr = buf.cast::<RecordHeader>();
        // SAFETY: a stash value holds a whole header.
        if unsafe { (*hdr).nr } == nr {
            if unsafe { (*hdr).child_tid } == ENTRY_FAULT {
                let _ = STASH_LARGE.remove(tid);
                return false;
            }
            unsafe { (*hdr).ret = ret };
            output(buf, unsafe { (*hdr).len } as usize & STASH_LARGE_MASK);
            let _ = STASH_LARGE.remove(tid);
            return true;
        }
    }
    false
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn lanner_sys_exit(ctx: RawTracePointContext) -> i32 {
    let regs: u64 = ctx.arg(0);
    let nr = read_kernel::<u64>(regs, config!(regs_orig_ax));
    sys_exit::<false, true>(regs, ctx.arg(1), nr)
}

/// `lanner_sys_exit` as a BTF-typed tracepoint, which the loader prefers: the syscall number
/// is a direct load from `pt_regs` rather than a helper call, on every syscall's exit.
#[btf_tracepoint(function = "sys_exit")]
pub fn lanner_sys_exit_btf(ctx: BtfTracePointContext) -> i32 {
    // sys_exit's arguments are (struct pt_regs *regs, long ret).
    let (regs, ret): (*const u8, i64) = (ctx.arg(0), ctx.arg(1));
    // SAFETY: a trusted pointer to the task's pt_regs; the offset is orig_ax's, from BTF.
    let nr = unsafe { ptr::read_volatile(regs.add(config!(regs_orig_ax) as usize).cast::<u64>()) };
    sys_exit::<true, true>(regs as u64, ret, nr)
}

/// The exit of a syscall; `RAW` as for `sys_enter`.
#[inline(always)]
fn sys_exit<const BTF: bool, const RAW: bool>(regs: u64, ret: i64, nr: u64) -> i32 {
    let task = current_task::<BTF>();
    let Some((nr, abi)) = native_nr::<BTF>(task, regs, nr) else {
        // Never silently: a 32-bit call the probe cannot deliver is counted, and reported.
        count(counter::COMPAT_UNMAPPED);
        return 0;
    };
    // The filter next: it rules out most syscalls, for the price of an array lookup.
    let Some(s) = delivered::<RAW>(nr, abi) else { return 0 };
    // See sys_enter.
    let args = syscall_args::<BTF>(regs, abi);
    let pid_tgid = unsafe { bpf_get_current_pid_tgid() };
    if ignored(pid_tgid) {
        return 0;
    }
    let Some(scratch) = SCRATCH.get_ptr_mut(0) else { return 0 };
    let buf = scratch.cast::<u8>();
    if s & spec::ADDR_REQUIRED != 0 {
        set_args(buf.cast(), &args);
        if address_missing(s, arg(buf, sock_ptr_arg(s)), arg(buf, sock_len_arg(s))) {
            return 0;
        }
    }
    let nr = nr as u32;
    let tid = pid_tgid as u32;
    if s & spec::ENTRY_DATA != 0 && (emit_pending(tid, nr, ret) || emit_stashed(tid, nr, ret)) {
        return 0;
    }
    // Nothing stashed: a syscall read entirely at exit, or an entry record that was lost (the
    // filter changed mid-syscall, the stash was full). Assemble the record now.
    fill_header::<BTF>(buf, kind::SYSCALL, nr, task);
    set_args(buf.cast(), &args);
    // SAFETY: `buf` is a map value of at least HEADER_LEN bytes.
    unsafe { (*buf.cast::<RecordHeader>()).ret = ret };
    // The strings of a lost entry record, and the socket addresses, read now.
    let mut off = push_entry_items(buf, 0, s, s & spec::NO_EXIT_REREAD != 0);
    off = push_exit_items(buf, off, s, ret);
    off = push_tuple_items(buf, off, s, ret, task);
    if s & (spec::DATA_BUF | spec::DATA_IOV) != 0 {
        off = push_data(buf, off, s, ret);
    }
    let len = finish(buf, off);
    emit(buf, len);
    0
}

#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn lanner_sched_exec(ctx: RawTracePointContext) -> i32 {
    // TP_PROTO(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
    let bprm: u64 = ctx.arg(2);
    let Some(scratch) = SCRATCH.get_ptr_mut(0) else { return 0 };
    let buf = scratch.cast::<u8>();
    fill_header::<false>(buf, kind::EXEC, 0, unsafe { bpf_get_current_task() });
    let filename = read_kernel::<u64>(bprm, config!(bprm_filename));
    let mut off = push_str(buf, 0, filename, true);
    let task = unsafe { bpf_get_current_task() };
    let mm = read_kernel::<u64>(task, config!(task_mm));
    let arg_start = read_kernel::<u64>(mm, config!(mm_arg_start));
    let arg_end = read_kernel::<u64>(mm, config!(mm_arg_end));
    off = push_user_buf(buf, off, arg_start, arg_end.saturating_sub(arg_start));
    let env_start = read_kernel::<u64>(mm, config!(mm_env_start));
    let env_end = read_kernel::<u64>(mm, config!(mm_env_end));
    off = push_user_buf(buf, off, env_start, env_end.saturating_sub(env_start));
    let info = exec_info(task, bprm);
    // SAFETY: `buf` is a map value of at least HEADER_LEN bytes.
    unsafe { (*buf.cast::<RecordHeader>()).vtid = info.vpid };
    off = push_exec_info(buf, off, &info);
    let len = finish(buf, off);
    emit(buf, len);
    0
}

#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn lanner_sched_fork(ctx: RawTracePointContext) -> i32 {
    // TP_PROTO(struct task_struct *parent, struct task_struct *child)
    let child: u64 = ctx.arg(1);
    let Some(scratch) = SCRATCH.get_ptr_mut(0) else { return 0 };
    let buf = scratch.cast::<u8>();
    fill_header::<false>(buf, kind::FORK, 0, unsafe { bpf_get_current_task() });
    // SAFETY: `buf` is a map value of at least HEADER_LEN bytes.
    unsafe {
        (*buf.cast::<RecordHeader>()).child_tgid = read_kernel::<u32>(child, config!(task_tgid));
        (*buf.cast::<RecordHeader>()).child_tid = read_kernel::<u32>(child, config!(task_pid));
        (*buf.cast::<RecordHeader>()).vtid = vtid_of(child);
    }
    emit(buf, HEADER_LEN);
    0
}

/// An operation submitted through an io_uring ring: it makes no syscall of its own, so the
/// syscall tracepoints never see it. Delivered as a record of [`IO_URING_SUBMIT_NR`] for
/// the opcodes that open, create, remove, connect or write ([`io_uring_op::DELIVERED`]), at
/// submission (its result is not known yet).
#[raw_tracepoint(tracepoint = "io_uring_submit_req")]
pub fn lanner_io_uring_submit(ctx: RawTracePointContext) -> i32 {
    // TP_PROTO(struct io_kiocb *req)
    let req: u64 = ctx.arg(0);
    if delivered::<false>(u64::from(IO_URING_SUBMIT_NR), Abi::Native).is_none() {
        return 0;
    }
    let pid_tgid = unsafe { bpf_get_current_pid_tgid() };
    if ignored(pid_tgid) {
        return 0;
    }
    let opcode = u32::from(read_kernel::<u8>(req, config!(io_req_opcode)));
    if opcode >= 64 || io_uring_op::DELIVERED & (1 << opcode) == 0 {
        return 0;
    }
    let Some(scratch) = SCRATCH.get_ptr_mut(0) else { return 0 };
    let buf = scratch.cast::<u8>();
    fill_header::<false>(buf, kind::SYSCALL, IO_URING_SUBMIT_NR, unsafe { bpf_get_current_task() });
    let fd = read_kernel::<i32>(req, config!(io_req_fd));
    let mut args = [u64::from(opcode), fd as u32 as u64, 0, 0, 0, 0];
    let mut off = 0;
    if opcode == io_uring_op::OPENAT || opcode == io_uring_op::OPENAT2 {
        // The request's command data starts it: `struct io_open`, prepared (path copied in,
        // `open_how` filled) before the submission.
        args[1] = read_kernel::<i32>(req, config!(io_open_dfd)) as u32 as u64;
        let how = read_kernel::<[u64; 3]>(req, config!(io_open_how));
        args[2] = how[0];
        args[3] = how[1];
        args[4] = how[2];
        let name =
            read_kernel::<u64>(read_kernel::<u64>(req, config!(io_open_filename)), config!(filename_name));
        off = push_str(buf, off, name, true);
    } else if opcode == io_uring_op::CONNECT {
        let addr = read_kernel::<u64>(req, config!(io_connect_addr));
        let len = read_kernel::<u32>(req, config!(io_connect_addr_len));
        off = push_sockaddr(buf, off, addr, u64::from(len), item::SOCKADDR);
    }
    set_args(buf.cast(), &args);
    let len = finish(buf, off);
    emit(buf, len);
    0
}

#[raw_tracepoint(tracepoint = "sched_switch")]
pub fn lanner_sched_switch(_ctx: RawTracePointContext) -> i32 {
    // The tracepoint fires before the switch: the current task is the one leaving the CPU.
    spill_pending(unsafe { bpf_get_current_pid_tgid() } as u32);
    0
}

#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn lanner_sched_exit(_ctx: RawTracePointContext) -> i32 {
    let tid = unsafe { bpf_get_current_pid_tgid() } as u32;
    if let Some(owner) = PENDING_OWNER.get_ptr_mut(0) {
        // SAFETY: a per-CPU slot of this map.
        unsafe {
            if *owner == tid + 1 {
                *owner = 0;
            }
        }
    }
    let _ = STASH_SMALL.remove(tid);
    let _ = STASH_LARGE.remove(tid);
    let Some(scratch) = SCRATCH.get_ptr_mut(0) else { return 0 };
    let buf = scratch.cast::<u8>();
    fill_header::<false>(buf, kind::EXIT, 0, unsafe { bpf_get_current_task() });
    emit(buf, HEADER_LEN);
    0
}

/// Does nothing: attached to `sys_enter` and `sys_exit` by the overhead benchmark, it
/// measures the floor that the tracepoint mechanism itself sets.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn lanner_empty(_ctx: RawTracePointContext) -> i32 {
    0
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    // Unreachable in a loaded program: the verifier rejects the loop, so any panic path left
    // in the object fails the load loudly.
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
