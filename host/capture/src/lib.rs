//! Live syscall capture: loads Lanner's eBPF probe (`probe-ebpf/probe`, built by this crate's
//! build script and embedded), feeds it the running kernel's struct offsets (from BTF) and the
//! syscall filter, reads its ring buffer and decodes the records into [`RawEvent`]s.
//!
//! ```no_run
//! use std::time::Duration;
//! use lanner_capture::{Capture, CaptureConfig, syscalls};
//!
//! let mut capture = Capture::start(CaptureConfig {
//!     syscalls: vec![syscalls::number("openat").unwrap()],
//!     ignore_tgid: Some(std::process::id()),
//!     ..CaptureConfig::default()
//! })?;
//! let mut events = Vec::new();
//! capture.next_batch(&mut events, Some(Duration::from_millis(100)))?;
//! # Ok::<(), lanner_capture::CaptureError>(())
//! ```
//!
//! Needs root (CAP_BPF and CAP_PERFMON), raw tracepoints, `BPF_MAP_TYPE_RINGBUF` and BTF at
//! `/sys/kernel/btf/vmlinux`. x86_64 only (syscall numbers and `pt_regs`).
#![deny(missing_docs)]

mod attach;
pub mod btf;
pub mod decode;
mod ia32_table;
pub mod rawfile;
pub mod record;
mod syscall_table;
pub mod syscalls;

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aya::maps::{Array, MapData, MapError, PerCpuArray, RingBuf};
use aya::programs::raw_trace_point::RawTracePointLinkId;
use aya::programs::tp_btf::BtfTracePointLinkId;
use aya::programs::trace_point::TracePointLinkId;
use aya::programs::{FEntry, FExit, ProgramError, RawTracePoint, TracePoint};
use aya::{Ebpf, EbpfError, EbpfLoader};
use lanner_probe_common::{DEFAULT_RING_BYTES, FILTER_ENTRIES, FILTER_SLOTS, ProbeConfig, counter, names};

pub use attach::AttachMode;
pub use decode::DecodeError;
pub use record::{Captured, RawEvent, RecordKind, SockAddr};

/// The probe object, built for the bpf target by `build.rs`.
static PROBE: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/lanner-probe"));

/// At most this many records are decoded by one [`Capture::next_batch`] call, so that a
/// producer faster than the consumer cannot keep it in one call forever.
pub const MAX_BATCH: usize = 1 << 16;

/// Errors starting or running a capture. Messages name the object involved.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The BTF file could not be read.
    #[error("BTF: reading {path}: {source}")]
    BtfRead {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The BTF data is malformed.
    #[error("BTF: malformed: {0}")]
    BtfParse(String),
    /// A struct the probe needs is not in the kernel's BTF.
    #[error("BTF: no struct {0}")]
    BtfType(String),
    /// A struct member the probe needs is not in the kernel's BTF.
    #[error("BTF: struct {ty} has no member {member}")]
    BtfMember {
        /// The struct.
        ty: String,
        /// The member (dotted path for nested members).
        member: String,
    },
    /// A struct member is a bitfield (the probe reads whole bytes).
    #[error("BTF: {ty}.{member} is a bitfield")]
    BtfBitfield {
        /// The struct.
        ty: String,
        /// The member.
        member: String,
    },
    /// A struct member does not have the size the probe reads.
    #[error("BTF: {ty}.{member} is {size} bytes, the probe expects {expected}")]
    BtfSize {
        /// The struct.
        ty: String,
        /// The member.
        member: String,
        /// Its size in this kernel.
        size: u32,
        /// The size the probe reads.
        expected: u32,
    },
    /// The ring buffer size is not usable.
    #[error("ring buffer size {0} bytes: must be a power of two of at least 4096 bytes")]
    RingSize(u32),
    /// A syscall number past the filter map.
    #[error("syscall number {0} is out of the filter map's range (0..{FILTER_ENTRIES})")]
    SyscallNumber(u32),
    /// The kernel refused the probe's object or one of its maps.
    #[error("loading the eBPF probe: {0}")]
    Load(#[source] EbpfError),
    /// A map is missing from the probe object.
    #[error("eBPF map {0} is missing from the probe")]
    MissingMap(&'static str),
    /// A map could not be used.
    #[error("eBPF map {name}: {source}")]
    Map {
        /// The map.
        name: &'static str,
        /// Why.
        source: MapError,
    },
    /// A program is missing from the probe object.
    #[error("eBPF program {0} is missing from the probe")]
    MissingProgram(&'static str),
    /// A program could not be loaded or attached.
    #[error("eBPF program {name} (raw tracepoint {tracepoint}): {source}")]
    Program {
        /// The program.
        name: &'static str,
        /// The tracepoint it attaches to.
        tracepoint: &'static str,
        /// Why (for a load, the verifier's log).
        source: ProgramError,
    },
    /// A per-syscall tracepoint could not be attached.
    #[error("eBPF program {name} (tracepoint syscalls:{event}): {source}")]
    TracePoint {
        /// The program.
        name: &'static str,
        /// The tracepoint's event name.
        event: String,
        /// Why.
        source: ProgramError,
    },
    /// An address filter was asked for a syscall that passes no socket address at entry.
    #[error("syscall {0} ({name}) takes no socket address at entry to filter on", name = syscalls::name(*.0).unwrap_or("unknown"))]
    AddressFilter(u32),
    /// Data capture was asked for a syscall that moves no data.
    #[error("syscall {0} ({name}) has no data buffer to capture", name = syscalls::name(*.0).unwrap_or("unknown"))]
    DataFilter(u32),
    /// Writing a raw capture file failed.
    #[error("writing the raw capture file: {0}")]
    Write(#[source] std::io::Error),
    /// Waiting on the ring buffer failed.
    #[error("eBPF map EVENTS (ring buffer): poll: {0}")]
    Poll(#[source] std::io::Error),
}

/// What to capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureConfig {
    /// Ring buffer size in bytes: a power of two, at least a page.
    pub ring_bytes: u32,
    /// x86_64 syscall numbers to deliver (see [`syscalls`]). Exec, fork and exit records are
    /// always delivered.
    pub syscalls: Vec<u32>,
    /// Syscalls among `syscalls` that are delivered only when they pass a socket address
    /// (see [`syscalls::takes_entry_address`]): `sendto` and `sendmsg` on connected sockets
    /// are most of a busy server's syscalls and change no state.
    pub address_required: Vec<u32>,
    /// A process whose syscalls are not delivered (normally Lanner's own).
    pub ignore_tgid: Option<u32>,
    /// How long records may wait in the ring buffer before the reader looks: the probe does
    /// not wake the reader per record (that costs the traced thread an inter-processor
    /// interrupt), only when an eighth of the ring is full; otherwise the reader polls at
    /// this interval. It bounds the latency that capture adds to an alert.
    pub poll_interval: Duration,
    /// The interval once the ring has been found empty [`IDLE_AFTER_EMPTY_POLLS`] times in a
    /// row, until a record comes: an idle node wakes the reader this often rather than every
    /// `poll_interval` (each wake-up costs the reader about 25 µs of CPU on this project's test
    /// machine, and preempts whatever runs on its CPU). The first record after a quiet spell
    /// waits up to this long; the ones behind it, `poll_interval`.
    pub idle_poll_interval: Duration,
    /// Attach `sys_enter` and `sys_exit` as BTF-typed tracepoints when the kernel allows it
    /// (direct loads instead of helper calls, on every syscall); otherwise, or when false, as
    /// raw tracepoints.
    pub btf_sys_exit: bool,
    /// Syscalls among `syscalls` whose data (up to `snaplen` bytes) the probe keeps in
    /// `RawEvent::data`: read, write and the like (see [`syscalls::DATA_SYSCALLS`]). Only the
    /// ones a rule reads should be here: copying data costs every such call.
    pub data_syscalls: Vec<u32>,
    /// Bytes of data kept (Falco's snaplen, 80 by default; at most 256).
    pub snaplen: u32,
    /// How the syscall programs are attached (see [`AttachMode`]).
    pub attach: AttachMode,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            ring_bytes: DEFAULT_RING_BYTES,
            syscalls: Vec::new(),
            address_required: Vec::new(),
            ignore_tgid: None,
            poll_interval: DEFAULT_POLL_INTERVAL,
            idle_poll_interval: DEFAULT_IDLE_POLL_INTERVAL,
            btf_sys_exit: true,
            data_syscalls: Vec::new(),
            snaplen: lanner_probe_common::DEFAULT_SNAPLEN,
            attach: AttachMode::default(),
        }
    }
}

/// The default [`CaptureConfig::poll_interval`].
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(2);

/// The default [`CaptureConfig::idle_poll_interval`].
pub const DEFAULT_IDLE_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Empty polls in a row after which the reader polls at the idle interval: 10 ms of quiet at
/// the default interval.
pub const IDLE_AFTER_EMPTY_POLLS: u32 = 5;

/// Programs and the raw tracepoints they attach to.
/// `sys_exit` comes first as a BTF-typed tracepoint ([`names::PROG_SYS_EXIT_BTF`]), the raw
/// one being the fallback.
const PROGRAMS: [(&str, &str); 6] = [
    (names::PROG_SYS_ENTER, "sys_enter"),
    (names::PROG_SYS_EXIT, "sys_exit"),
    (names::PROG_EXEC, "sched_process_exec"),
    (names::PROG_FORK, "sched_process_fork"),
    (names::PROG_EXIT, "sched_process_exit"),
    (names::PROG_SWITCH, "sched_switch"),
];

/// Converts `bpf_ktime_get_boot_ns()` (CLOCK_BOOTTIME) to wall-clock time.
fn boot_to_wall_ns() -> i64 {
    fn now(clock: libc::clockid_t) -> i64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: a valid clock id and a valid timespec to write.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    }
    let boot_before = now(libc::CLOCK_BOOTTIME);
    let wall = now(libc::CLOCK_REALTIME);
    let boot_after = now(libc::CLOCK_BOOTTIME);
    wall - (boot_before + (boot_after - boot_before) / 2)
}

/// Counters kept by the probe, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Records lost because the ring buffer was full.
    pub ring_drops: u64,
    /// Syscall entries that could not be stashed until exit (their record was assembled at
    /// exit from what was still readable).
    pub stash_failures: u64,
    /// Compat (32-bit) syscalls with no x86_64 equivalent, which the probe could not deliver.
    pub compat_unmapped: u64,
    /// Records this side could not decode (logged and skipped).
    pub malformed: u64,
}

/// A running capture: the probe loaded and attached, its ring buffer mapped. Dropping it
/// detaches the probe.
pub struct Capture {
    ring: RingBuf<MapData>,
    filter: Array<MapData, u32>,
    counters: PerCpuArray<MapData, u64>,
    /// Held open: the programs refer to it by descriptor.
    _ia32: Array<MapData, u32>,
    /// The filter values currently in the kernel map.
    filter_values: Vec<u32>,
    poll_interval: Duration,
    idle_poll_interval: Duration,
    /// Polls in a row that found the ring empty.
    empty_polls: u32,
    /// Waits for records so far (each a wake-up of the reader).
    waits: u64,
    btf_sys_exit: bool,
    btf_sys_enter: bool,
    io_uring: bool,
    boot_to_wall_ns: i64,
    malformed: u64,
    probe_config: ProbeConfig,
    /// How long each step of [`Capture::start`] took.
    startup: Vec<StartupStep>,
    /// Set by another input of the reader: see [`Capture::wake_on`].
    wake: Option<Arc<AtomicBool>>,
    /// The syscalls whose data is kept.
    data_syscalls: Vec<u32>,
    /// The attach mode in effect (never `Auto`).
    mode: AttachMode,
    /// In per-syscall mode, what is attached where.
    per_syscall: Option<PerSyscall>,
    // Holds the programs and their links; dropped last.
    _ebpf: Ebpf,
}

/// What per-syscall mode has attached.
struct PerSyscall {
    tracefs: PathBuf,
    /// By syscall number: the entry tracepoint's link (for syscalls with something to read
    /// at entry), the exit tracepoint's, and the event name.
    links: BTreeMap<u32, (Option<TracePointLinkId>, TracePointLinkId, String)>,
    /// The raw tracepoints' links, while something needs them.
    raw: Option<RawLinks>,
    /// Which of the raw tracepoints' programs are loaded (once, at the first need).
    raw_loaded: Option<RawKind>,
    /// Whether 32-bit syscalls come through fentry/fexit on `ia32_sys_call`; when not, they
    /// need the raw tracepoints.
    ia32: bool,
    /// Whether 32-bit syscalls are captured at all (false only with
    /// [`AttachMode::PerSyscallNoCompat`] when `ia32_sys_call` cannot be traced).
    compat: bool,
    /// Syscalls already reported as having no per-syscall tracepoint (or as unimplemented).
    said_missing: BTreeSet<u32>,
    /// The syscalls this kernel was built without ([`attach::unimplemented_syscalls`]).
    unimplemented: BTreeSet<String>,
    /// Watched syscalls (of the filter in place) left uncaptured because this kernel does not
    /// implement them.
    skipped: BTreeSet<u32>,
}

/// The programs per-syscall mode puts on the raw tracepoints: the BTF-typed ones where the
/// kernel takes them, as raw mode does (their arguments and the task's fields are direct
/// loads: 70-84 ns a run against 124-137 ns for the plain ones, `STATS=1` of
/// `examples/syscall_loop`), the plain ones otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawKind {
    Btf,
    Plain,
}

/// The raw tracepoints' links, for detaching them when nothing needs them any more.
enum RawLinks {
    Btf(BtfTracePointLinkId, BtfTracePointLinkId),
    Plain(RawTracePointLinkId, RawTracePointLinkId),
}

impl PerSyscall {
    fn new(tracefs: PathBuf, ia32: bool, compat: bool) -> Self {
        Self {
            tracefs,
            links: BTreeMap::new(),
            raw: None,
            raw_loaded: None,
            ia32,
            compat,
            said_missing: BTreeSet::new(),
            unimplemented: attach::unimplemented_syscalls(),
            skipped: BTreeSet::new(),
        }
    }
}

/// The kernel's run figures of one loaded program (see [`Capture::program_stats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramStats {
    /// The program's name in the probe.
    pub name: &'static str,
    /// The kernel's program id.
    pub id: u32,
    /// Runs counted.
    pub run_count: u64,
    /// Time spent in it.
    pub run_time: Duration,
    /// Instructions the verifier processed when it was loaded.
    pub verified_insns: Option<u32>,
}

/// One step of starting capture and how long it took: most of a start is the kernel's
/// verifier, and an operator who sees a slow start wants to know which program it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupStep {
    /// What was done: `btf` (reading the kernel's struct offsets), `maps` (creating the
    /// maps), or a program's name.
    pub step: &'static str,
    /// Time taken.
    pub took: Duration,
    /// For a program: the instructions the verifier processed (kernel 5.16 and later).
    pub verified_insns: Option<u32>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture").field("probe_config", &self.probe_config).finish_non_exhaustive()
    }
}

/// Times the steps of a start.
struct Laps {
    clock: Instant,
    steps: Vec<StartupStep>,
}

impl Default for Laps {
    fn default() -> Self {
        Self { clock: Instant::now(), steps: Vec::new() }
    }
}

impl Laps {
    fn lap(&mut self, step: &'static str, verified_insns: Option<u32>) {
        let now = Instant::now();
        self.steps.push(StartupStep { step, took: now - self.clock, verified_insns });
        self.clock = now;
    }
}

fn take_map(ebpf: &mut Ebpf, name: &'static str) -> Result<aya::maps::Map, CaptureError> {
    ebpf.take_map(name).ok_or(CaptureError::MissingMap(name))
}

impl Capture {
    /// Loads the probe for the running kernel, sets the syscall filter and attaches.
    pub fn start(config: CaptureConfig) -> Result<Self, CaptureError> {
        if !config.ring_bytes.is_power_of_two() || config.ring_bytes < 4096 {
            return Err(CaptureError::RingSize(config.ring_bytes));
        }
        let primary = filter_values(&config.syscalls, &config.address_required, &config.data_syscalls)?;
        let mut laps = Laps::default();
        let mut probe_config = btf::running_kernel_config()?;
        laps.lap("btf", None);
        probe_config.ignore_tgid = config.ignore_tgid.unwrap_or(0);
        probe_config.wakeup_bytes = config.ring_bytes / 8;
        probe_config.snaplen = config.snaplen.min(lanner_probe_common::MAX_SNAPLEN);

        let mut ebpf = EbpfLoader::new()
            .override_global(names::CONFIG, &probe_config, true)
            .map_max_entries(names::EVENTS, config.ring_bytes)
            .load(PROBE)
            .map_err(CaptureError::Load)?;
        laps.lap("maps", None);

        let ring = RingBuf::try_from(take_map(&mut ebpf, names::EVENTS)?)
            .map_err(|source| CaptureError::Map { name: names::EVENTS, source })?;
        let filter = Array::try_from(take_map(&mut ebpf, names::FILTER)?)
            .map_err(|source| CaptureError::Map { name: names::FILTER, source })?;
        let counters = PerCpuArray::try_from(take_map(&mut ebpf, names::COUNTERS)?)
            .map_err(|source| CaptureError::Map { name: names::COUNTERS, source })?;

        // 32-bit syscalls are delivered as their x86_64 equivalents: the map is in place
        // before any program runs.
        let mut ia32 = Array::<_, u32>::try_from(take_map(&mut ebpf, names::IA32_TO_64)?)
            .map_err(|source| CaptureError::Map { name: names::IA32_TO_64, source })?;
        for (index, value) in syscalls::ia32_map_values().into_iter().enumerate() {
            if value != 0 {
                ia32.set(index as u32, value, 0)
                    .map_err(|source| CaptureError::Map { name: names::IA32_TO_64, source })?;
            }
        }

        let mut capture = Self {
            ring,
            filter,
            counters,
            _ia32: ia32,
            filter_values: vec![0; FILTER_SLOTS as usize],
            poll_interval: config.poll_interval.max(Duration::from_micros(100)),
            idle_poll_interval: config
                .idle_poll_interval
                .max(config.poll_interval.max(Duration::from_micros(100))),
            empty_polls: 0,
            waits: 0,
            btf_sys_exit: false,
            btf_sys_enter: false,
            io_uring: false,
            boot_to_wall_ns: boot_to_wall_ns(),
            malformed: 0,
            probe_config,
            startup: Vec::new(),
            wake: None,
            data_syscalls: config.data_syscalls.clone(),
            mode: AttachMode::Raw,
            per_syscall: None,
            _ebpf: ebpf,
        };
        if config.attach != AttachMode::Raw {
            capture.per_syscall = capture.start_per_syscall(config.attach)?;
            if capture.per_syscall.is_some() {
                capture.mode = AttachMode::PerSyscall;
                laps.lap("per_syscall", capture.verified_insns(names::PROG_TP_EXIT));
            }
        }
        // The filter is in place before any program runs (per syscall: before each
        // tracepoint is attached).
        capture.apply_filter(primary)?;
        // The syscall tracepoints as BTF-typed programs when the kernel takes them, the raw
        // ones otherwise.
        let per_syscall = capture.per_syscall.is_some();
        let btf = if config.btf_sys_exit && !per_syscall { aya::Btf::from_sys_fs().ok() } else { None };
        let mut btf_attached = Vec::new();
        if per_syscall {
            // Attached per syscall (and, when needed, raw) by apply_filter.
            btf_attached.extend(["sys_enter", "sys_exit"]);
        }
        if let Some(btf) = &btf {
            for (name, tracepoint) in
                [(names::PROG_SYS_ENTER_BTF, "sys_enter"), (names::PROG_SYS_EXIT_BTF, "sys_exit")]
            {
                if capture.attach_btf(btf, name, tracepoint) {
                    btf_attached.push(tracepoint);
                    laps.lap(name, capture.verified_insns(name));
                }
            }
        }
        capture.btf_sys_exit = btf_attached.contains(&"sys_exit") && !per_syscall;
        capture.btf_sys_enter = btf_attached.contains(&"sys_enter") && !per_syscall;
        let btf_exit = capture.btf_sys_exit;
        for (name, tracepoint) in PROGRAMS {
            if btf_attached.contains(&tracepoint) {
                continue;
            }
            let program: &mut RawTracePoint = capture
                ._ebpf
                .program_mut(name)
                .ok_or(CaptureError::MissingProgram(name))?
                .try_into()
                .map_err(|source| CaptureError::Program { name, tracepoint, source })?;
            program.load().map_err(|source| CaptureError::Program { name, tracepoint, source })?;
            program.attach(tracepoint).map_err(|source| CaptureError::Program {
                name,
                tracepoint,
                source,
            })?;
            laps.lap(name, capture.verified_insns(name));
        }
        // Operations submitted through io_uring rings make no syscall: their own tracepoint,
        // when this kernel has io_uring and its request layout is known. Said when not.
        let io_uring = capture.attach_io_uring();
        if io_uring {
            laps.lap(names::PROG_IO_URING, capture.verified_insns(names::PROG_IO_URING));
        }
        capture.io_uring = io_uring;
        for step in &laps.steps {
            tracing::debug!(
                step = step.step,
                ms = step.took.as_secs_f64() * 1e3,
                verified_insns = step.verified_insns,
                "capture start step"
            );
        }
        capture.startup = laps.steps;
        tracing::info!(
            syscalls = config.syscalls.len(),
            ring_bytes = config.ring_bytes,
            ignore_tgid = config.ignore_tgid,
            btf_sys_exit = btf_exit,
            attach = %capture.mode,
            tracepoints = capture.attached_tracepoints(),
            raw_tracepoints = capture.raw_attached(),
            compat = capture.compat_path(),
            "capture started: {} mode, {} syscall tracepoints attached",
            capture.mode,
            capture.attached_tracepoints()
        );
        Ok(capture)
    }

    /// How long each step of [`Capture::start`] took, in order.
    pub fn startup(&self) -> &[StartupStep] {
        &self.startup
    }

    /// The instructions the verifier processed for a loaded program.
    fn verified_insns(&self, name: &str) -> Option<u32> {
        let info = match self._ebpf.program(name)? {
            aya::programs::Program::RawTracePoint(p) => p.info(),
            aya::programs::Program::BtfTracePoint(p) => p.info(),
            aya::programs::Program::TracePoint(p) => p.info(),
            aya::programs::Program::FEntry(p) => p.info(),
            aya::programs::Program::FExit(p) => p.info(),
            _ => return None,
        };
        info.ok()?.verified_instruction_count()
    }

    /// Whether operations submitted through io_uring rings are seen (see
    /// [`syscalls::IO_URING_SUBMIT`]).
    pub fn io_uring_seen(&self) -> bool {
        self.io_uring
    }

    fn attach_io_uring(&mut self) -> bool {
        let name = names::PROG_IO_URING;
        if self.probe_config.io_req_opcode == lanner_probe_common::OFFSET_NONE {
            tracing::warn!(
                "this kernel has no io_uring request layout in its BTF: operations submitted through io_uring rings are not seen"
            );
            return false;
        }
        let attach = |ebpf: &mut Ebpf| -> Result<(), String> {
            let program: &mut RawTracePoint =
                ebpf.program_mut(name).ok_or("missing")?.try_into().map_err(|e| format!("{e}"))?;
            program.load().map_err(|e| format!("load: {e}"))?;
            program.attach("io_uring_submit_req").map_err(|e| format!("attach: {e}"))?;
            Ok(())
        };
        match attach(&mut self._ebpf) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "operations submitted through io_uring rings are not seen");
                false
            }
        }
    }

    /// Whether `sys_enter` and `sys_exit` are attached as BTF-typed tracepoints.
    pub fn btf_tracepoints(&self) -> (bool, bool) {
        (self.btf_sys_enter, self.btf_sys_exit)
    }

    /// Attaches a BTF-typed tracepoint program; false (logged) when the kernel refuses it, and
    /// the raw tracepoint version is used instead.
    fn attach_btf(&mut self, btf: &aya::Btf, name: &'static str, tracepoint: &'static str) -> bool {
        let attach = |ebpf: &mut Ebpf| -> Result<(), String> {
            let program: &mut aya::programs::BtfTracePoint =
                ebpf.program_mut(name).ok_or("missing")?.try_into().map_err(|e| format!("{e}"))?;
            program.load(tracepoint, btf).map_err(|e| format!("load: {e}"))?;
            program.attach().map_err(|e| format!("attach: {e}"))?;
            Ok(())
        };
        match attach(&mut self._ebpf) {
            Ok(()) => true,
            Err(e) => {
                tracing::info!(program = name, error = %e, "BTF tracepoint unavailable; using the raw tracepoint");
                false
            }
        }
    }

    /// Replaces the set of delivered syscalls (for a rule reload; the arguments mean what
    /// [`CaptureConfig::syscalls`] and [`CaptureConfig::address_required`] do). Records of
    /// syscalls that were in flight during the change may be missing or assembled at exit.
    pub fn set_syscalls(&mut self, syscalls: &[u32], address_required: &[u32]) -> Result<(), CaptureError> {
        let data = self.data_syscalls.clone();
        self.set_filter(syscalls, address_required, &data)
    }

    /// As [`Capture::set_syscalls`], with a new set of syscalls whose data is kept (see
    /// [`CaptureConfig::data_syscalls`]).
    pub fn set_filter(
        &mut self,
        syscalls: &[u32],
        address_required: &[u32],
        data_syscalls: &[u32],
    ) -> Result<(), CaptureError> {
        let values = filter_values(syscalls, address_required, data_syscalls)?;
        self.data_syscalls = data_syscalls.to_vec();
        self.apply_filter(values)?;
        tracing::debug!(syscalls = syscalls.len(), "syscall filter updated");
        Ok(())
    }

    fn write_filter(&mut self, values: Vec<u32>) -> Result<(), CaptureError> {
        for (nr, (&new, old)) in values.iter().zip(self.filter_values.iter_mut()).enumerate() {
            if new != *old {
                self.filter
                    .set(nr as u32, new, 0)
                    .map_err(|source| CaptureError::Map { name: names::FILTER, source })?;
                *old = new;
            }
        }
        Ok(())
    }

    /// The attach mode in effect: [`AttachMode::Raw`] or [`AttachMode::PerSyscall`].
    pub fn attach_mode(&self) -> AttachMode {
        self.mode
    }

    /// How many per-syscall tracepoints (entries and exits) have the probe attached.
    pub fn attached_tracepoints(&self) -> usize {
        self.per_syscall
            .as_ref()
            .map_or(0, |p| p.links.values().map(|(e, _, _)| 1 + usize::from(e.is_some())).sum())
    }

    /// The per-syscall tracepoints the probe is attached to, as `sys_enter_NAME` and
    /// `sys_exit_NAME`.
    pub fn syscall_tracepoints(&self) -> Vec<String> {
        let Some(p) = &self.per_syscall else { return Vec::new() };
        let mut out = Vec::new();
        for (enter, _, name) in p.links.values() {
            if enter.is_some() {
                out.push(format!("sys_enter_{name}"));
            }
            out.push(format!("sys_exit_{name}"));
        }
        out
    }

    /// Whether the raw `sys_enter`/`sys_exit` tracepoints are attached (always in raw mode;
    /// per syscall, only for syscalls without their own tracepoint, or for 32-bit syscalls
    /// when `ia32_sys_call` cannot be traced).
    pub fn raw_attached(&self) -> bool {
        self.per_syscall.as_ref().is_none_or(|p| p.raw.is_some())
    }

    /// Watched syscalls not captured because this kernel was built without them (per-syscall
    /// mode only: each call fails with ENOSYS and has no tracepoint of its own), by name.
    pub fn unimplemented_syscalls(&self) -> Vec<&'static str> {
        self.per_syscall
            .as_ref()
            .map_or_else(Vec::new, |p| p.skipped.iter().filter_map(|&nr| syscalls::name(nr)).collect())
    }

    /// Whether 32-bit syscalls are captured (only [`AttachMode::PerSyscallNoCompat`] gives
    /// them up, when `ia32_sys_call` cannot be traced).
    pub fn compat_captured(&self) -> bool {
        self.per_syscall.as_ref().is_none_or(|p| p.compat)
    }

    /// How 32-bit syscalls are seen, by the names the start-up log and the daemon's metrics
    /// use: `ia32_fentry` (per syscall, fentry/fexit on `ia32_sys_call`), `raw_tracepoints`
    /// (raw mode, or per syscall when `ia32_sys_call` cannot be traced) or `not_captured`
    /// ([`AttachMode::PerSyscallNoCompat`] then).
    pub fn compat_path(&self) -> &'static str {
        match &self.per_syscall {
            Some(p) if p.ia32 => "ia32_fentry",
            Some(p) if !p.compat => "not_captured",
            _ => "raw_tracepoints",
        }
    }

    /// Whether 32-bit syscalls are seen through fentry/fexit on `ia32_sys_call` (per-syscall
    /// mode; in raw mode the raw tracepoints see them).
    pub fn ia32_via_fentry(&self) -> bool {
        self.per_syscall.as_ref().is_some_and(|p| p.ia32)
    }

    /// Prepares per-syscall mode: tracefs, the tracepoint programs loaded, 32-bit syscalls'
    /// path attached. `None` (said why) when `Auto` should fall back to raw tracepoints.
    fn start_per_syscall(&mut self, asked: AttachMode) -> Result<Option<PerSyscall>, CaptureError> {
        let tracefs = match attach::tracefs() {
            Ok(p) if p.join("events/syscalls").is_dir() => p,
            Ok(p) => {
                tracing::warn!(
                    tracefs = %p.display(),
                    "this kernel has no per-syscall tracepoints (events/syscalls): attaching to the raw syscall tracepoints"
                );
                return Ok(None);
            }
            Err(e) => {
                tracing::warn!(error = %e, "per-syscall tracepoints unavailable: attaching to the raw syscall tracepoints");
                return Ok(None);
            }
        };
        for name in [names::PROG_TP_ENTER, names::PROG_TP_EXIT] {
            let program: &mut TracePoint = self
                ._ebpf
                .program_mut(name)
                .ok_or(CaptureError::MissingProgram(name))?
                .try_into()
                .map_err(|source| CaptureError::Program { name, tracepoint: "syscalls:*", source })?;
            program.load().map_err(|source| CaptureError::Program {
                name,
                tracepoint: "syscalls:*",
                source,
            })?;
        }
        let ia32 = match self.attach_ia32() {
            Ok(()) => true,
            Err(e) if asked == AttachMode::Auto => {
                tracing::warn!(
                    error = %e,
                    "32-bit syscalls fire no per-syscall tracepoint and {} cannot be traced: attaching to the raw syscall tracepoints (attach: auto)",
                    names::IA32_DISPATCH
                );
                return Ok(None);
            }
            Err(e) if asked == AttachMode::PerSyscallNoCompat => {
                tracing::warn!(
                    error = %e,
                    "32-bit syscalls fire no per-syscall tracepoint and {} cannot be traced: 32-BIT SYSCALLS ARE NOT CAPTURED (attach: per_syscall_no_compat)",
                    names::IA32_DISPATCH
                );
                return Ok(Some(PerSyscall::new(tracefs, false, false)));
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "32-bit syscalls fire no per-syscall tracepoint and {} cannot be traced: they are captured through the raw syscall tracepoints, which every syscall pays for (attach: per_syscall)",
                    names::IA32_DISPATCH
                );
                false
            }
        };
        Ok(Some(PerSyscall::new(tracefs, ia32, true)))
    }

    /// Attaches fentry/fexit on `ia32_sys_call`, through which every 32-bit syscall goes.
    fn attach_ia32(&mut self) -> Result<(), String> {
        let btf = aya::Btf::from_sys_fs().map_err(|e| format!("kernel BTF: {e}"))?;
        // x32 syscalls fire no per-syscall tracepoint either, and go through another
        // function: a kernel built with x32 keeps the raw path for compat syscalls.
        let kallsyms = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
        if kallsyms.lines().any(|l| l.split_whitespace().nth(2) == Some("x32_sys_call")) {
            return Err(
                "this kernel has the x32 ABI (x32_sys_call), whose syscalls only the raw tracepoints see"
                    .into(),
            );
        }
        let f = names::IA32_DISPATCH;
        let enter: &mut FEntry = self
            ._ebpf
            .program_mut(names::PROG_IA32_ENTER)
            .ok_or("fentry program missing")?
            .try_into()
            .map_err(|e| format!("{e}"))?;
        enter.load(f, &btf).map_err(|e| format!("loading fentry {f}: {e}"))?;
        let enter_link = enter.attach().map_err(|e| format!("attaching fentry {f}: {e}"))?;
        let exit: &mut FExit = self
            ._ebpf
            .program_mut(names::PROG_IA32_EXIT)
            .ok_or("fexit program missing")?
            .try_into()
            .map_err(|e| format!("{e}"))?;
        let attached = exit
            .load(f, &btf)
            .map_err(|e| format!("loading fexit {f}: {e}"))
            .and_then(|()| exit.attach().map_err(|e| format!("attaching fexit {f}: {e}")));
        if let Err(e) = attached {
            if let Some(Ok(enter)) =
                self._ebpf.program_mut(names::PROG_IA32_ENTER).map(<&mut FEntry>::try_from)
            {
                let _ = enter.detach(enter_link);
            }
            return Err(e);
        }
        Ok(())
    }

    /// Puts a new filter in place (`primary`: [`filter_values`]' output) and, per syscall,
    /// the tracepoints it needs: the map first, then the new tracepoints, then the dropped
    /// ones detached, so that a syscall watched before and after is never unwatched between.
    fn apply_filter(&mut self, primary: Vec<u32>) -> Result<(), CaptureError> {
        let half = 2 * FILTER_ENTRIES as usize;
        debug_assert_eq!(primary.len(), half);
        let Some(ps) = &mut self.per_syscall else {
            let mut full = primary.clone();
            full.extend_from_slice(&primary);
            return self.write_filter(full);
        };
        // What is delivered natively, and through which tracepoint.
        let mut wanted: BTreeMap<u32, (bool, String)> = BTreeMap::new();
        let mut raw_view = vec![0u32; half];
        let mut missing = Vec::new();
        let mut unimplemented = Vec::new();
        ps.skipped.clear();
        for nr in 0..FILTER_ENTRIES {
            let v = primary[nr as usize];
            if v & lanner_probe_common::spec::DELIVER == 0 || nr == lanner_probe_common::IO_URING_SUBMIT_NR {
                continue;
            }
            match attach::syscall_event(&ps.tracefs, nr) {
                Some(event) => {
                    wanted.insert(nr, (v & lanner_probe_common::spec::ENTRY_DATA != 0, event));
                }
                None if syscalls::name(nr)
                    .is_some_and(|n| ps.unimplemented.contains(attach::event_name(n))) =>
                {
                    ps.skipped.insert(nr);
                    if ps.said_missing.insert(nr) {
                        unimplemented.push(syscalls::name(nr).unwrap_or("?"));
                    }
                }
                None => {
                    raw_view[nr as usize] = v;
                    if ps.said_missing.insert(nr) {
                        missing.push(syscalls::name(nr).unwrap_or("?"));
                    }
                }
            }
        }
        if !missing.is_empty() {
            tracing::warn!(
                syscalls = ?missing,
                "no per-syscall tracepoint for these syscalls: they are captured through the raw syscall tracepoints, which every syscall pays for"
            );
        }
        if !unimplemented.is_empty() {
            tracing::warn!(
                syscalls = ?unimplemented,
                "this kernel was built without these syscalls (every call fails with ENOSYS): in per-syscall mode they are not captured, rather than through the raw syscall tracepoints every syscall would pay for; attach: raw captures the failed calls"
            );
        }
        if !ps.ia32 && ps.compat {
            raw_view[FILTER_ENTRIES as usize..].copy_from_slice(&primary[FILTER_ENTRIES as usize..]);
        }
        let raw_needed = raw_view.iter().any(|&v| v != 0);
        let mut full = primary;
        full.extend_from_slice(&raw_view);
        self.write_filter(full)?;
        if raw_needed {
            self.attach_raw()?;
        }
        self.sync_tracepoints(wanted)?;
        if !raw_needed {
            self.detach_raw();
        }
        Ok(())
    }

    /// Attaches the per-syscall tracepoints in `wanted` that are not yet, then detaches the
    /// ones no longer wanted.
    fn sync_tracepoints(&mut self, wanted: BTreeMap<u32, (bool, String)>) -> Result<(), CaptureError> {
        let Some(ps) = &mut self.per_syscall else { return Ok(()) };
        let mut links = std::mem::take(&mut ps.links);
        let result = (|| {
            for (&nr, (entry, event)) in &wanted {
                let have = links.get(&nr).map(|(e, _, _)| e.is_some());
                if have == Some(*entry) {
                    continue;
                }
                if let Some(old) = links.remove(&nr) {
                    Self::detach_tracepoints(&mut self._ebpf, old);
                }
                let exit = attach_tp(&mut self._ebpf, names::PROG_TP_EXIT, &format!("sys_exit_{event}"))?;
                let enter = if *entry {
                    Some(attach_tp(&mut self._ebpf, names::PROG_TP_ENTER, &format!("sys_enter_{event}"))?)
                } else {
                    None
                };
                links.insert(nr, (enter, exit, event.clone()));
            }
            let dropped: Vec<u32> = links.keys().copied().filter(|nr| !wanted.contains_key(nr)).collect();
            for nr in dropped {
                if let Some(old) = links.remove(&nr) {
                    Self::detach_tracepoints(&mut self._ebpf, old);
                }
            }
            Ok(())
        })();
        if let Some(ps) = &mut self.per_syscall {
            ps.links = links;
        }
        result
    }

    fn detach_tracepoints(
        ebpf: &mut Ebpf,
        (enter, exit, event): (Option<TracePointLinkId>, TracePointLinkId, String),
    ) {
        let mut detach = |name: &'static str, link| {
            if let Some(Ok(p)) = ebpf.program_mut(name).map(<&mut TracePoint>::try_from)
                && let Err(e) = p.detach(link)
            {
                tracing::warn!(program = name, event = %event, error = %e, "detaching a per-syscall tracepoint");
            }
        };
        detach(names::PROG_TP_EXIT, exit);
        if let Some(enter) = enter {
            detach(names::PROG_TP_ENTER, enter);
        }
    }

    /// Per syscall: attaches the raw tracepoints for what has no per-syscall one.
    fn attach_raw(&mut self) -> Result<(), CaptureError> {
        let Some(ps) = &self.per_syscall else { return Ok(()) };
        if ps.raw.is_some() {
            return Ok(());
        }
        let loaded = ps.raw_loaded;
        if loaded != Some(RawKind::Plain) {
            match self.attach_raw_btf(loaded.is_none()) {
                Ok(links) => {
                    if let Some(ps) = &mut self.per_syscall {
                        ps.raw_loaded = Some(RawKind::Btf);
                        ps.raw = Some(links);
                    }
                    return Ok(());
                }
                // Loaded once, it attaches again: a failure now is the kernel's, said as is.
                Err(e) if loaded == Some(RawKind::Btf) => return Err(e),
                Err(e) => {
                    tracing::info!(error = %e, "BTF tracepoints unavailable; using the raw tracepoint programs");
                }
            }
        }
        let load = loaded.is_none();
        let mut ids = Vec::new();
        for (name, tracepoint) in [(names::PROG_SYS_ENTER, "sys_enter"), (names::PROG_SYS_EXIT, "sys_exit")] {
            let program: &mut RawTracePoint = self
                ._ebpf
                .program_mut(name)
                .ok_or(CaptureError::MissingProgram(name))?
                .try_into()
                .map_err(|source| CaptureError::Program { name, tracepoint, source })?;
            if load {
                program.load().map_err(|source| CaptureError::Program { name, tracepoint, source })?;
            }
            ids.push(program.attach(tracepoint).map_err(|source| CaptureError::Program {
                name,
                tracepoint,
                source,
            })?);
        }
        let exit = ids.pop();
        let enter = ids.pop();
        if let (Some(ps), Some(enter), Some(exit)) = (&mut self.per_syscall, enter, exit) {
            ps.raw_loaded = Some(RawKind::Plain);
            ps.raw = Some(RawLinks::Plain(enter, exit));
        }
        Ok(())
    }

    /// Attaches the BTF-typed programs to `sys_enter` and `sys_exit` (loading them first when
    /// `load`), both or neither.
    fn attach_raw_btf(&mut self, load: bool) -> Result<RawLinks, CaptureError> {
        let btf = if load {
            Some(aya::Btf::from_sys_fs().map_err(|e| CaptureError::BtfParse(e.to_string()))?)
        } else {
            None
        };
        let mut ids = Vec::new();
        for (name, tracepoint) in
            [(names::PROG_SYS_ENTER_BTF, "sys_enter"), (names::PROG_SYS_EXIT_BTF, "sys_exit")]
        {
            let program: &mut aya::programs::BtfTracePoint = self
                ._ebpf
                .program_mut(name)
                .ok_or(CaptureError::MissingProgram(name))?
                .try_into()
                .map_err(|source| CaptureError::Program { name, tracepoint, source })?;
            let attached = match &btf {
                Some(btf) => program.load(tracepoint, btf).and_then(|()| program.attach()),
                None => program.attach(),
            };
            match attached {
                Ok(id) => ids.push(id),
                Err(source) => {
                    // The entry without the exit would leave entry records nobody emits.
                    for id in ids {
                        let _ = program_detach_btf(&mut self._ebpf, names::PROG_SYS_ENTER_BTF, id);
                    }
                    return Err(CaptureError::Program { name, tracepoint, source });
                }
            }
        }
        let exit = ids.pop().expect("two attached");
        let enter = ids.pop().expect("two attached");
        Ok(RawLinks::Btf(enter, exit))
    }

    /// Per syscall: detaches the raw tracepoints when nothing needs them any more.
    fn detach_raw(&mut self) {
        let Some(links) = self.per_syscall.as_mut().and_then(|ps| ps.raw.take()) else { return };
        let results = match links {
            RawLinks::Btf(enter, exit) => [
                (
                    names::PROG_SYS_ENTER_BTF,
                    program_detach_btf(&mut self._ebpf, names::PROG_SYS_ENTER_BTF, enter),
                ),
                (
                    names::PROG_SYS_EXIT_BTF,
                    program_detach_btf(&mut self._ebpf, names::PROG_SYS_EXIT_BTF, exit),
                ),
            ],
            RawLinks::Plain(enter, exit) => [
                (names::PROG_SYS_ENTER, program_detach_raw(&mut self._ebpf, names::PROG_SYS_ENTER, enter)),
                (names::PROG_SYS_EXIT, program_detach_raw(&mut self._ebpf, names::PROG_SYS_EXIT, exit)),
            ],
        };
        for (name, result) in results {
            if let Err(e) = result {
                tracing::warn!(program = name, error = %e, "detaching a raw syscall tracepoint");
            }
        }
    }

    /// The kernel's figures for the probe's syscall programs that are loaded: id, runs and
    /// time spent (the counts move only while `kernel.bpf_stats_enabled` is 1 or a
    /// `BPF_ENABLE_STATS` descriptor is held), for telling where the time goes.
    pub fn program_stats(&self) -> Vec<ProgramStats> {
        let mut out = Vec::new();
        for name in [
            names::PROG_SYS_ENTER,
            names::PROG_SYS_EXIT,
            names::PROG_SYS_ENTER_BTF,
            names::PROG_SYS_EXIT_BTF,
            names::PROG_TP_ENTER,
            names::PROG_TP_EXIT,
            names::PROG_IA32_ENTER,
            names::PROG_IA32_EXIT,
        ] {
            let info = match self._ebpf.program(name) {
                Some(aya::programs::Program::RawTracePoint(p)) => p.info(),
                Some(aya::programs::Program::BtfTracePoint(p)) => p.info(),
                Some(aya::programs::Program::TracePoint(p)) => p.info(),
                Some(aya::programs::Program::FEntry(p)) => p.info(),
                Some(aya::programs::Program::FExit(p)) => p.info(),
                _ => continue,
            };
            if let Ok(info) = info {
                out.push(ProgramStats {
                    name,
                    id: info.id(),
                    run_count: info.run_count(),
                    run_time: info.run_time(),
                    verified_insns: info.verified_instruction_count(),
                });
            }
        }
        out
    }

    /// The syscall numbers currently delivered.
    pub fn syscalls(&self) -> Vec<u32> {
        (0..FILTER_ENTRIES).filter(|&nr| self.filter_values[nr as usize] != 0).collect()
    }

    /// The kernel offsets and settings handed to the probe.
    pub fn probe_config(&self) -> &ProbeConfig {
        &self.probe_config
    }

    /// Appends the available records to `out`, waiting up to `timeout` (forever with `None`)
    /// for the first one. Everything available is drained in one call (up to [`MAX_BATCH`]
    /// records). Returns how many records were appended; 0 when the wait timed out or was
    /// interrupted by a signal.
    pub fn next_batch(
        &mut self,
        out: &mut Vec<RawEvent>,
        timeout: Option<Duration>,
    ) -> Result<usize, CaptureError> {
        let n = self.drain(out);
        if n > 0 {
            self.empty_polls = 0;
            return Ok(n);
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            // The probe wakes this side only when the ring fills up, so poll in slices of
            // the poll interval: records written meanwhile are found at the next slice.
            let slice = match deadline {
                None => self.slice(),
                Some(d) => d.saturating_duration_since(Instant::now()).min(self.slice()),
            };
            if !self.wait(slice)? {
                return Ok(0);
            }
            let n = self.drain(out);
            self.count_poll(n);
            if n > 0 || self.woken() || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(n);
            }
        }
    }

    /// Makes [`Capture::next_batch`] return within one poll interval, with what it has,
    /// once `flag` is set (clearing it): for a reader with other inputs, such as source
    /// plugins' events, which would otherwise wait out the timeout when no syscall comes.
    pub fn wake_on(&mut self, flag: Arc<AtomicBool>) {
        self.wake = Some(flag);
    }

    /// How long the next wait for records may be: the poll interval, or the idle one after
    /// [`IDLE_AFTER_EMPTY_POLLS`] empty polls.
    fn slice(&self) -> Duration {
        if self.empty_polls >= IDLE_AFTER_EMPTY_POLLS { self.idle_poll_interval } else { self.poll_interval }
    }

    fn count_poll(&mut self, records: usize) {
        self.empty_polls = if records == 0 { self.empty_polls.saturating_add(1) } else { 0 };
    }

    fn woken(&self) -> bool {
        self.wake.as_ref().is_some_and(|f| f.swap(false, Ordering::AcqRel))
    }

    fn drain(&mut self, out: &mut Vec<RawEvent>) -> usize {
        let mut malformed = 0;
        let n = self.drain_with(|item, offset| match decode::decode(item, offset) {
            Ok(ev) => out.push(ev),
            Err(e) => {
                malformed += 1;
                tracing::warn!(error = %e, "skipping a malformed probe record");
            }
        });
        self.malformed += malformed;
        n
    }

    /// Hands each available record (up to [`MAX_BATCH`]) and the boot-to-wall offset to `f`.
    fn drain_with(&mut self, mut f: impl FnMut(&[u8], i64)) -> usize {
        let mut n = 0;
        let mut offset = None;
        while n < MAX_BATCH {
            let Some(item) = self.ring.next() else { break };
            // Refreshed once per batch, so that clock steps are followed.
            let offset = *offset.get_or_insert_with(|| {
                self.boot_to_wall_ns = boot_to_wall_ns();
                self.boot_to_wall_ns
            });
            f(&item, offset);
            n += 1;
        }
        n
    }

    /// As [`Capture::next_batch`], but the records are written undecoded to `file`, for
    /// replaying later through the same decoding (see [`rawfile`]).
    pub fn next_raw_batch<W: std::io::Write>(
        &mut self,
        file: &mut rawfile::Writer<W>,
        timeout: Option<Duration>,
    ) -> Result<usize, CaptureError> {
        let mut err = None;
        let mut pass = |this: &mut Self| {
            this.drain_with(|item, offset| {
                if err.is_none()
                    && let Err(e) = file.write_record(item, offset)
                {
                    err = Some(e);
                }
            })
        };
        let mut n = pass(self);
        let deadline = timeout.map(|t| Instant::now() + t);
        while n == 0 && deadline.is_none_or(|d| Instant::now() < d) {
            let slice = match deadline {
                None => self.slice(),
                Some(d) => d.saturating_duration_since(Instant::now()).min(self.slice()),
            };
            if !self.wait(slice)? {
                break;
            }
            n = pass(self);
            self.count_poll(n);
        }
        if n > 0 {
            self.empty_polls = 0;
        }
        match err {
            Some(e) => Err(CaptureError::Write(e)),
            None => Ok(n),
        }
    }

    /// Waits up to `slice` for the ring to have data; false when interrupted by a signal.
    fn wait(&mut self, slice: Duration) -> Result<bool, CaptureError> {
        self.waits += 1;
        // Round up, so that a short timeout still waits.
        let wait_ms = i32::try_from(slice.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
        let mut pfd = libc::pollfd { fd: self.ring.as_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, wait_ms) } < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(CaptureError::Poll(err));
        }
        Ok(true)
    }

    /// How many times the reader has waited for records (each wait ends in a wake-up): what
    /// the poll intervals cost an idle node.
    pub fn waits(&self) -> u64 {
        self.waits
    }

    /// Records lost because the ring buffer was full, per CPU.
    pub fn drops(&self) -> Result<Vec<u64>, CaptureError> {
        self.counter(counter::RING_DROPS)
    }

    fn counter(&self, index: u32) -> Result<Vec<u64>, CaptureError> {
        let values = self
            .counters
            .get(&index, 0)
            .map_err(|source| CaptureError::Map { name: names::COUNTERS, source })?;
        Ok(values.iter().copied().collect())
    }

    /// The probe's counters summed over CPUs, and this side's.
    pub fn stats(&self) -> Result<CaptureStats, CaptureError> {
        Ok(CaptureStats {
            ring_drops: self.counter(counter::RING_DROPS)?.iter().sum(),
            stash_failures: self.counter(counter::STASH_FAILURES)?.iter().sum(),
            compat_unmapped: self.counter(counter::COMPAT_UNMAPPED)?.iter().sum(),
            malformed: self.malformed,
        })
    }
}

/// An empty program attached to `sys_enter` and `sys_exit`, and nothing else: what the
/// tracepoints themselves cost, the floor under the probe's overhead. For benchmarks.
pub struct EmptyProbe {
    _ebpf: Ebpf,
}

impl EmptyProbe {
    /// Loads the empty program and attaches it to both syscall tracepoints.
    pub fn attach() -> Result<Self, CaptureError> {
        let mut ebpf = EbpfLoader::new().load(PROBE).map_err(CaptureError::Load)?;
        let name = names::PROG_EMPTY;
        let program: &mut RawTracePoint = ebpf
            .program_mut(name)
            .ok_or(CaptureError::MissingProgram(name))?
            .try_into()
            .map_err(|source| CaptureError::Program { name, tracepoint: "sys_enter", source })?;
        program.load().map_err(|source| CaptureError::Program { name, tracepoint: "sys_enter", source })?;
        for tracepoint in ["sys_enter", "sys_exit"] {
            program.attach(tracepoint).map_err(|source| CaptureError::Program {
                name,
                tracepoint,
                source,
            })?;
        }
        Ok(Self { _ebpf: ebpf })
    }

    /// The empty program's run figures (both tracepoints together), as
    /// [`Capture::program_stats`] gives the probe's: the floor the probe's own are read against.
    pub fn program_stats(&self) -> Option<ProgramStats> {
        let name = names::PROG_EMPTY;
        let Some(aya::programs::Program::RawTracePoint(p)) = self._ebpf.program(name) else { return None };
        let info = p.info().ok()?;
        Some(ProgramStats {
            name,
            id: info.id(),
            run_count: info.run_count(),
            run_time: info.run_time(),
            verified_insns: info.verified_instruction_count(),
        })
    }
}

fn program_detach_btf(ebpf: &mut Ebpf, name: &'static str, link: BtfTracePointLinkId) -> Result<(), String> {
    let p: &mut aya::programs::BtfTracePoint =
        ebpf.program_mut(name).ok_or("missing")?.try_into().map_err(|e| format!("{e}"))?;
    p.detach(link).map_err(|e| e.to_string())
}

fn program_detach_raw(ebpf: &mut Ebpf, name: &'static str, link: RawTracePointLinkId) -> Result<(), String> {
    let p: &mut RawTracePoint =
        ebpf.program_mut(name).ok_or("missing")?.try_into().map_err(|e| format!("{e}"))?;
    p.detach(link).map_err(|e| e.to_string())
}

/// Attaches tracepoint program `name` to `syscalls:event`.
fn attach_tp(ebpf: &mut Ebpf, name: &'static str, event: &str) -> Result<TracePointLinkId, CaptureError> {
    let program: &mut TracePoint = ebpf
        .program_mut(name)
        .ok_or(CaptureError::MissingProgram(name))?
        .try_into()
        .map_err(|source| CaptureError::Program { name, tracepoint: "syscalls:*", source })?;
    program.attach("syscalls", event).map_err(|source| CaptureError::TracePoint {
        name,
        event: event.to_string(),
        source,
    })
}

/// The filter map's contents (the view of the per-syscall programs, native then compat) for
/// delivering `syscalls`, those in `address_required` only with a socket address.
fn filter_values(
    syscalls: &[u32],
    address_required: &[u32],
    data_syscalls: &[u32],
) -> Result<Vec<u32>, CaptureError> {
    let mut values = vec![0u32; FILTER_ENTRIES as usize];
    for &nr in syscalls {
        let slot = values.get_mut(nr as usize).ok_or(CaptureError::SyscallNumber(nr))?;
        *slot = syscalls::filter_value(nr);
    }
    for &nr in data_syscalls {
        let bits = syscalls::data_bits(nr);
        if bits == 0 {
            return Err(CaptureError::DataFilter(nr));
        }
        if let Some(slot) = values.get_mut(nr as usize).filter(|v| **v != 0) {
            *slot |= bits;
        }
    }
    for &nr in address_required {
        if !syscalls::takes_entry_address(nr) {
            return Err(CaptureError::AddressFilter(nr));
        }
        if let Some(slot) = values.get_mut(nr as usize).filter(|v| **v != 0) {
            *slot |= lanner_probe_common::spec::ADDR_REQUIRED;
        }
    }
    // The same syscalls called from a 32-bit ABI.
    let compat: Vec<u32> = values.iter().map(|&v| syscalls::compat_filter_value(v)).collect();
    values.extend(compat);
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_reject_out_of_range() {
        assert!(matches!(filter_values(&[FILTER_ENTRIES], &[], &[]), Err(CaptureError::SyscallNumber(512))));
        let v = filter_values(&[257, 3], &[], &[]).unwrap();
        assert_ne!(v[257], 0);
        assert_ne!(v[3], 0);
        let (native, compat) = v.split_at(FILTER_ENTRIES as usize);
        assert_eq!(native.iter().filter(|&&x| x != 0).count(), 2);
        // The same syscalls from 32-bit programs.
        assert_eq!(compat[257], native[257]);
        assert_eq!(compat[3], native[3]);
        assert_eq!(compat.iter().filter(|&&x| x != 0).count(), 2);
    }

    #[test]
    fn address_filter_applies_to_sendto_and_sendmsg_only() {
        use lanner_probe_common::spec::ADDR_REQUIRED;
        let (sendto, sendmsg, openat) = (44, 46, 257);
        let v = filter_values(&[sendto, sendmsg, openat], &[sendto, sendmsg], &[]).unwrap();
        assert_ne!(v[sendto as usize] & ADDR_REQUIRED, 0);
        assert_ne!(v[sendmsg as usize] & ADDR_REQUIRED, 0);
        assert_eq!(v[openat as usize] & ADDR_REQUIRED, 0);
        // Not delivered at all: stays off.
        assert_eq!(filter_values(&[openat], &[sendto], &[]).unwrap()[sendto as usize], 0);
        let err = filter_values(&[openat], &[openat], &[]).unwrap_err();
        assert_eq!(err.to_string(), "syscall 257 (openat) takes no socket address at entry to filter on");
    }

    #[test]
    fn ring_size_is_checked() {
        let err = Capture::start(CaptureConfig { ring_bytes: 5000, ..CaptureConfig::default() }).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ring buffer size 5000 bytes: must be a power of two of at least 4096 bytes"
        );
    }

    #[test]
    fn capture_can_move_to_a_reader_thread() {
        fn send<T: Send>() {}
        send::<Capture>();
    }

    #[test]
    fn boot_offset_is_sane() {
        // Wall clock minus boot time: after 2020, and stable between two reads.
        let a = boot_to_wall_ns();
        let b = boot_to_wall_ns();
        assert!(a > 1_577_836_800_000_000_000 - 10 * 365 * 86_400 * 1_000_000_000);
        assert!((a - b).abs() < 5_000_000);
    }
}
