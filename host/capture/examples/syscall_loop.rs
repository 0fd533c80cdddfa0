//! Times a getpid loop and an open/close loop, in nanoseconds per iteration, on CPU 1: the
//! probe's cost on every syscall is measured by running this with and without capture (see
//! `bench/overhead.sh`).
//!
//! `syscall_loop N [MODE]`, MODE one of:
//! - `none` (default): nothing attached by this process (another may be: `lanner run`);
//! - `empty`: an empty program on `sys_enter` and `sys_exit`, the tracepoints' own floor;
//! - `filtered`: the probe, delivering only `execve` (the loops' syscalls stay in the kernel);
//! - `captured`: the probe delivering `openat` and `close`, read and decoded on CPU 0.
//!
//! A third argument sets the probe's attach mode (`raw`, `per_syscall`,
//! `per_syscall_no_compat`, `auto`: see `AttachMode`) for `filtered` and `captured`.
//!
//! With `STATS=1` the kernel's run statistics are on for the run (`kernel.bpf_stats_enabled`,
//! restored after) and each probe program's runs and mean time per run are printed: what the
//! probe's own code costs, apart from the tracepoint machinery around it.

use lanner_capture::{AttachMode, Capture, CaptureConfig, EmptyProbe, ProgramStats, syscalls};
use std::ffi::CString;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

fn loops(n: u64) -> (f64, f64) {
    let path = CString::new("/dev/null").unwrap();
    // Warm up.
    for _ in 0..10_000 {
        // SAFETY: getpid has no preconditions.
        unsafe { libc::syscall(libc::SYS_getpid) };
    }
    let t = Instant::now();
    for _ in 0..n {
        // SAFETY: as above; the raw syscall avoids any libc caching.
        unsafe { libc::syscall(libc::SYS_getpid) };
    }
    let getpid = t.elapsed().as_nanos() as f64 / n as f64;
    let m = n / 4;
    let t = Instant::now();
    for _ in 0..m {
        // SAFETY: a valid NUL-terminated path; the fd is closed right away.
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
            libc::close(fd);
        }
    }
    let openclose = t.elapsed().as_nanos() as f64 / m as f64;
    (getpid, openclose)
}

/// Starts capture of `names` with a reader thread on CPU 0; returns what stops it, which
/// yields the records read and the drops counted.
fn reader(names: &[&str], attach: AttachMode) -> impl FnOnce() -> (u64, u64, Vec<ProgramStats>) {
    let syscalls = names.iter().map(|n| syscalls::number(n).unwrap()).collect();
    let mut capture = Capture::start(CaptureConfig { syscalls, attach, ..CaptureConfig::default() })
        .unwrap_or_else(|e| panic!("capture: {e}"));
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        pin(0);
        let mut batch = Vec::with_capacity(4096);
        let mut records = 0u64;
        while !flag.load(Ordering::Relaxed) {
            batch.clear();
            records += capture.next_batch(&mut batch, Some(Duration::from_millis(50))).unwrap() as u64;
        }
        batch.clear();
        while capture.next_batch(&mut batch, Some(Duration::ZERO)).unwrap() > 0 {
            records += batch.len() as u64;
            batch.clear();
        }
        (records, capture.stats().unwrap().ring_drops, capture.program_stats())
    });
    move || {
        stop.store(true, Ordering::Relaxed);
        handle.join().unwrap()
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2_000_000);
    let mode = args.next().unwrap_or_else(|| "none".into());
    let attach: AttachMode =
        args.next().map_or(Ok(AttachMode::default()), |a| a.parse()).unwrap_or_else(|e| panic!("{e}"));
    let stats = std::env::var("STATS").is_ok_and(|v| v == "1");
    const STATS_SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";
    let stats_before = std::fs::read_to_string(STATS_SYSCTL).unwrap_or_default();
    if stats {
        std::fs::write(STATS_SYSCTL, "1").unwrap_or_else(|e| panic!("{STATS_SYSCTL}: {e}"));
    }
    let (getpid, openclose, records, drops, programs) = match mode.as_str() {
        "none" => {
            pin(1);
            let (g, o) = loops(n);
            (g, o, 0, 0, Vec::new())
        }
        "empty" => {
            let probe = EmptyProbe::attach().unwrap_or_else(|e| panic!("empty probe: {e}"));
            pin(1);
            let (g, o) = loops(n);
            (g, o, 0, 0, probe.program_stats().into_iter().collect())
        }
        "filtered" | "captured" => {
            let names: &[&str] = if mode == "filtered" { &["execve"] } else { &["openat", "close"] };
            let stop = reader(names, attach);
            pin(1);
            let (g, o) = loops(n);
            let (records, drops, programs) = stop();
            (g, o, records, drops, programs)
        }
        other => panic!("unknown mode {other}: none, empty, filtered or captured"),
    };
    println!("getpid_ns {getpid:.1}");
    println!("open_close_ns {openclose:.1}");
    println!("records {records}");
    println!("drops {drops}");
    if stats {
        let _ = std::fs::write(STATS_SYSCTL, stats_before.trim());
        for p in programs.iter().filter(|p| p.run_count > 0) {
            let mean = p.run_time.as_nanos() as f64 / p.run_count as f64;
            let insns = p.verified_insns.map_or(String::new(), |n| format!(" verified_insns {n}"));
            println!("program {} runs {} mean_ns {mean:.1}{insns}", p.name, p.run_count);
        }
    }
}
