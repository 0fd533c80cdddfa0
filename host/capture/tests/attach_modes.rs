//! The probe's attach modes (`AttachMode`) on the running kernel: per-syscall tracepoints
//! for the watched syscalls only, re-attached on a filter change, and what becomes of 32-bit
//! syscalls, which fire no per-syscall tracepoint on x86_64.
//!
//! Needs root. When not root these tests fail, unless `LANNER_SKIP_LIVE=1` is set, in which
//! case each says SKIPPED.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lanner_capture::{AttachMode, Capture, CaptureConfig, RawEvent, RecordKind, syscalls};

const WAIT: Duration = Duration::from_secs(10);

fn live() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("LANNER_SKIP_LIVE").as_deref() == Ok("1") {
        eprintln!("SKIPPED: live capture tests need root (LANNER_SKIP_LIVE=1)");
        return false;
    }
    panic!("live capture tests need root; run them as root, or set LANNER_SKIP_LIVE=1 to skip them");
}

fn nr(name: &str) -> u32 {
    syscalls::number(name).unwrap_or_else(|| panic!("no syscall {name}"))
}

fn start(attach: AttachMode, names: &[&str]) -> Capture {
    let syscalls = names.iter().map(|n| nr(n)).collect();
    Capture::start(CaptureConfig { syscalls, attach, ..CaptureConfig::default() })
        .unwrap_or_else(|e| panic!("capture starts ({attach}): {e}"))
}

/// Reads records into `events` until `pred` holds for one or [`WAIT`] passes.
fn wait_for(capture: &mut Capture, events: &mut Vec<RawEvent>, what: &str, pred: impl Fn(&RawEvent) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        if events.iter().any(&pred) {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no record for {what} within {WAIT:?} ({} records)", events.len());
        capture.next_batch(events, Some(left.min(Duration::from_millis(100)))).unwrap();
    }
}

/// Reads what is left in the ring for a moment.
fn drain(capture: &mut Capture, events: &mut Vec<RawEvent>) {
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        capture.next_batch(events, Some(Duration::from_millis(50))).unwrap();
    }
}

fn is(ev: &RawEvent, name: &str) -> bool {
    matches!(ev.kind, RecordKind::Syscall { nr: n } if n == nr(name))
}

fn has_string(ev: &RawEvent, s: &[u8]) -> bool {
    ev.strings.iter().any(|c| &c.bytes[..] == s)
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lanner-attach-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// openat(2) of `path` (which may not exist), by raw syscall.
fn openat(path: &Path) {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; a returned fd is closed.
    let fd = unsafe { libc::syscall(libc::SYS_openat, libc::AT_FDCWD, c.as_ptr(), libc::O_RDONLY, 0) };
    if fd >= 0 {
        // SAFETY: an fd opened above.
        unsafe { libc::close(fd as i32) };
    }
}

#[test]
fn per_syscall_openat_fires_on_a_real_process_once() {
    if !live() {
        return;
    }
    let dir = scratch("openat");
    let file = dir.join("marker-openat");
    std::fs::write(&file, b"x").unwrap();
    for mode in [AttachMode::PerSyscall, AttachMode::PerSyscallNoCompat] {
        let mut capture = start(mode, &["openat", "execve"]);
        assert_eq!(capture.attach_mode(), AttachMode::PerSyscall, "{mode}");
        let tps = capture.syscall_tracepoints();
        for tp in ["sys_enter_openat", "sys_exit_openat", "sys_enter_execve", "sys_exit_execve"] {
            assert!(tps.iter().any(|t| t == tp), "{mode}: {tp} attached: {tps:?}");
        }
        assert_eq!(capture.attached_tracepoints(), 4, "{mode}: {tps:?}");
        let child = Command::new("cat").arg(&file).output().unwrap();
        assert!(child.status.success());
        let mut events = Vec::new();
        let path = file.as_os_str().as_encoded_bytes();
        wait_for(&mut capture, &mut events, "cat's openat of the marker", |e| {
            is(e, "openat") && has_string(e, path) && e.comm == "cat"
        });
        drain(&mut capture, &mut events);
        let opens: Vec<_> = events.iter().filter(|e| is(e, "openat") && has_string(e, path)).collect();
        // Raw tracepoints attached beside the per-syscall ones (for 32-bit syscalls) must not
        // deliver the same syscall again.
        assert_eq!(opens.len(), 1, "{mode}: one record per openat: {opens:?}");
        assert!(matches!(opens[0].ret, r if r >= 0), "{mode}: the return value is the fd");
        assert_eq!(capture.stats().unwrap().ring_drops, 0);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Sum of the runs the kernel counted for the named programs of `capture`.
fn runs(capture: &Capture, names: &[&str]) -> u64 {
    capture.program_stats().iter().filter(|p| names.contains(&p.name)).map(|p| p.run_count).sum()
}

fn getpid_loop(n: u32) {
    for _ in 0..n {
        // SAFETY: no preconditions; the raw syscall avoids any caching.
        unsafe { libc::syscall(libc::SYS_getpid) };
    }
}

#[test]
fn an_unwatched_syscall_runs_no_program_per_syscall_and_does_raw() {
    if !live() {
        return;
    }
    // Run counts move only while this descriptor is held.
    let _stats = aya::sys::enable_stats(aya::sys::Stats::RunTime).expect("BPF_ENABLE_STATS");
    const N: u32 = 200_000;
    let tp = ["lanner_tp_enter", "lanner_tp_exit"];
    let raw = ["lanner_sys_enter", "lanner_sys_exit", "lanner_sys_enter_btf", "lanner_sys_exit_btf"];

    // `chroot` is watched only so that something is: nothing on this node calls it.
    let capture = start(AttachMode::PerSyscallNoCompat, &["chroot"]);
    assert!(!capture.raw_attached(), "no raw tracepoint in per_syscall_no_compat mode");
    let tps = capture.syscall_tracepoints();
    // chroot's path is read at exit: its exit tracepoint only.
    assert_eq!(tps, ["sys_exit_chroot"]);
    // The kernel's own view: the links to the probe's programs are the two tracepoints' (and
    // none of them is a raw tracepoint link to a syscall program).
    let ids: Vec<(String, u32)> =
        capture.program_stats().iter().map(|p| (p.name.to_string(), p.id)).collect();
    let links: Vec<_> = aya::programs::loaded_links().filter_map(Result::ok).collect();
    let linked = |name: &str| {
        let id = ids.iter().find(|(n, _)| n == name).map(|(_, id)| *id);
        links.iter().filter(|l| Some(l.program_id()) == id).count()
    };
    assert_eq!(linked("lanner_tp_enter") + linked("lanner_tp_exit"), tps.len(), "links: {ids:?}");
    assert_eq!(raw.iter().map(|n| linked(n)).sum::<usize>(), 0);
    let before = runs(&capture, &tp);
    getpid_loop(N);
    let after = runs(&capture, &tp);
    assert!(
        after - before < u64::from(N) / 10,
        "getpid ran the probe: {} runs for {N} calls",
        after - before
    );
    drop(capture);

    // The same in raw mode: every getpid runs the probe, twice (entry and exit).
    let capture = start(AttachMode::Raw, &["chroot"]);
    assert!(capture.raw_attached() && capture.syscall_tracepoints().is_empty());
    let before = runs(&capture, &raw);
    getpid_loop(N);
    let after = runs(&capture, &raw);
    assert!(after - before >= 2 * u64::from(N), "raw: {} runs for {N} getpid calls", after - before);
}

/// Whether this kernel was built without `init_module` (no module support), from its own
/// symbol table: the entry is then the weak ENOSYS stub `COND_SYSCALL` leaves.
fn kernel_lacks_init_module() -> bool {
    std::fs::read_to_string("/proc/kallsyms").expect("/proc/kallsyms").lines().any(|l| {
        l.ends_with(" __x64_sys_init_module") && matches!(l.split_whitespace().nth(1), Some("W" | "w"))
    })
}

#[test]
fn a_syscall_the_kernel_lacks_does_not_bring_the_raw_tracepoints_back() {
    if !live() {
        return;
    }
    // The upstream rules watch init_module and finit_module. On a kernel without module
    // support they have no per-syscall tracepoint; raw tracepoints for them would make every
    // syscall pay to see a call fail with ENOSYS.
    let capture = start(AttachMode::PerSyscallNoCompat, &["init_module", "finit_module", "chroot"]);
    if kernel_lacks_init_module() {
        assert!(!capture.raw_attached(), "raw tracepoints attached for syscalls this kernel lacks");
        assert_eq!(capture.unimplemented_syscalls(), ["init_module", "finit_module"]);
        assert_eq!(capture.syscall_tracepoints(), ["sys_exit_chroot"]);
        // SAFETY: a null image of length 0: the kernel refuses it (ENOSYS here).
        let rc =
            unsafe { libc::syscall(libc::SYS_init_module, std::ptr::null::<u8>(), 0usize, c"".as_ptr()) };
        assert_eq!((rc, std::io::Error::last_os_error().raw_os_error()), (-1, Some(libc::ENOSYS)));
    } else {
        // With module support the syscalls have their tracepoints and are attached there.
        assert!(capture.unimplemented_syscalls().is_empty());
        assert!(capture.syscall_tracepoints().iter().any(|t| t.ends_with("_init_module")));
    }
    drop(capture);
    // Raw mode still captures every watched syscall, whether the kernel has it or not.
    let capture = start(AttachMode::Raw, &["init_module", "chroot"]);
    assert!(capture.raw_attached() && capture.unimplemented_syscalls().is_empty());
}

#[test]
fn a_filter_change_attaches_the_new_syscall_without_losing_the_others() {
    if !live() {
        return;
    }
    let dir = scratch("reload");
    let mut capture = start(AttachMode::PerSyscallNoCompat, &["openat"]);
    assert!(!capture.syscall_tracepoints().iter().any(|t| t.contains("mkdir")));
    // A thread opens numbered paths all along; the filter changes in the middle.
    const N: usize = 20_000;
    let stop = Arc::new(AtomicBool::new(false));
    let opener = {
        let dir = dir.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            for i in 0..N {
                openat(&dir.join(format!("seq-{i}")));
                if i == N - 1 {
                    stop.store(true, Ordering::Relaxed);
                }
            }
        })
    };
    let mut events = Vec::new();
    let mkdir_path = dir.join("made-after-reload");
    // Wait until the opener is under way, then add mkdir.
    wait_for(&mut capture, &mut events, "the opener's first paths", |e| is(e, "openat"));
    capture.set_syscalls(&[nr("openat"), nr("mkdir")], &[]).unwrap();
    assert!(capture.syscall_tracepoints().iter().any(|t| t == "sys_enter_mkdir"));
    std::fs::create_dir(&mkdir_path).unwrap();
    opener.join().unwrap();
    assert!(stop.load(Ordering::Relaxed));
    let made = mkdir_path.as_os_str().as_encoded_bytes().to_vec();
    wait_for(&mut capture, &mut events, "mkdir after the change", |e| is(e, "mkdir") && has_string(e, &made));
    let last = dir.join(format!("seq-{}", N - 1)).as_os_str().as_encoded_bytes().to_vec();
    wait_for(&mut capture, &mut events, "the opener's last path", |e| {
        is(e, "openat") && has_string(e, &last)
    });
    drain(&mut capture, &mut events);
    assert_eq!(capture.stats().unwrap().ring_drops, 0);
    let prefix = dir.join("seq-").as_os_str().as_encoded_bytes().to_vec();
    let mut seen = vec![0u32; N];
    for e in events.iter().filter(|e| is(e, "openat")) {
        for c in &e.strings {
            if let Some(rest) = c.bytes.strip_prefix(&prefix[..])
                && let Ok(i) = std::str::from_utf8(rest).unwrap_or("x").parse::<usize>()
            {
                seen[i] += 1;
            }
        }
    }
    // From the first one seen (capture may start after the opener did) to the last, each once.
    let first = seen.iter().position(|&n| n > 0).unwrap();
    let missing: Vec<usize> = (first..N).filter(|&i| seen[i] != 1).collect();
    assert!(
        missing.is_empty(),
        "openat records lost or doubled across the change: {} of them, first {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    // And dropping it again detaches it.
    capture.set_syscalls(&[nr("openat")], &[]).unwrap();
    assert!(!capture.syscall_tracepoints().iter().any(|t| t.contains("mkdir")));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A static program that opens `path` through the ia32 `open` (5), `int $0x80`, then exits.
fn ia32_open_program(dir: &Path, path: &str, m32: bool) -> PathBuf {
    let src = dir.join("open32.c");
    std::fs::write(
        &src,
        format!(
            r#"
static const char path[] = "{path}";
static long sys3(long nr, long a, long b, long c) {{
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}}
void _start(void) {{
    long fd = sys3(5, (long)path, 0, 0);
    if (fd >= 0) sys3(6, fd, 0, 0);
    sys3(1, 0, 0, 0);
    for (;;) {{}}
}}
"#
        ),
    )
    .unwrap();
    let out = dir.join(if m32 { "open-m32" } else { "open-int80" });
    let mut cc = Command::new("gcc");
    if m32 {
        cc.arg("-m32");
    }
    let o = cc
        .args(["-static", "-nostdlib", "-no-pie", "-O2", "-fno-stack-protector", "-o"])
        .arg(&out)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("gcc builds the 32-bit test programs (scripts/setup.sh): {e}"));
    assert!(o.status.success(), "gcc: {}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn compat_syscalls_are_seen_in_every_mode_but_the_one_that_says_it_gives_them_up() {
    if !live() {
        return;
    }
    let dir = scratch("compat");
    let file = dir.join("marker-compat");
    std::fs::write(&file, b"x").unwrap();
    let path = file.to_str().unwrap().to_string();
    let programs = [ia32_open_program(&dir, &path, true), ia32_open_program(&dir, &path, false)];
    for mode in [AttachMode::Auto, AttachMode::Raw, AttachMode::PerSyscall, AttachMode::PerSyscallNoCompat] {
        let mut capture = start(mode, &["open", "openat"]);
        assert!(
            mode == AttachMode::PerSyscallNoCompat || capture.compat_captured(),
            "{mode} keeps 32-bit syscalls"
        );
        if capture.attach_mode() == AttachMode::PerSyscall && capture.raw_attached() {
            // The raw tracepoints per syscall run the BTF-typed programs, as raw mode does
            // (the plain ones cost 1.6x as much a run).
            let loaded: Vec<&str> = capture.program_stats().iter().map(|p| p.name).collect();
            assert!(
                loaded.contains(&"lanner_sys_enter_btf") && !loaded.contains(&"lanner_sys_enter"),
                "{mode}: {loaded:?}"
            );
        }
        let mut events = Vec::new();
        for program in &programs {
            let st = Command::new(program).status().unwrap();
            assert!(st.success());
        }
        let seen = |events: &[RawEvent], comm: &str| {
            events
                .iter()
                .filter(|e| is(e, "open") && has_string(e, path.as_bytes()) && e.comm == comm)
                .count()
        };
        if capture.compat_captured() {
            for comm in ["open-m32", "open-int80"] {
                wait_for(&mut capture, &mut events, &format!("{mode}: {comm}'s 32-bit open"), |e| {
                    is(e, "open") && has_string(e, path.as_bytes()) && e.comm == comm
                });
            }
            drain(&mut capture, &mut events);
            for comm in ["open-m32", "open-int80"] {
                assert_eq!(seen(&events, comm), 1, "{mode}: {comm}'s open delivered once");
            }
        } else {
            // The mode said at start that 32-bit syscalls are not captured; they are not.
            assert!(!capture.ia32_via_fentry());
            drain(&mut capture, &mut events);
            assert_eq!(seen(&events, "open-m32") + seen(&events, "open-int80"), 0, "{mode}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
