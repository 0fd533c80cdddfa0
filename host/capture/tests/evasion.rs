//! Live capture of the calls a process can use to avoid the ones rules watch: 32-bit
//! (`int $0x80`) syscalls from a 64-bit process, and openat2's flags, which live in user
//! memory behind a pointer.
//!
//! Needs root. When not root these tests fail, unless `LANNER_SKIP_LIVE=1` is set, in which
//! case each says SKIPPED.

use std::ffi::CString;
use std::time::{Duration, Instant};

use lanner_capture::{Capture, CaptureConfig, RawEvent, RecordKind, syscalls};

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
    panic!("live capture tests need root (to load eBPF programs); set LANNER_SKIP_LIVE=1 to skip them");
}

fn nr(name: &str) -> u32 {
    syscalls::number(name).unwrap_or_else(|| panic!("no syscall {name}"))
}

struct Collector {
    capture: Capture,
    events: Vec<RawEvent>,
}

impl Collector {
    fn start(names: &[&str]) -> Self {
        Self::start_with(names, true)
    }

    /// With `btf` false, the raw tracepoint programs (kernels that refuse the BTF ones).
    fn start_with(names: &[&str], btf: bool) -> Self {
        let syscalls = names.iter().map(|n| nr(n)).collect();
        let capture =
            Capture::start(CaptureConfig { syscalls, btf_sys_exit: btf, ..CaptureConfig::default() })
                .unwrap_or_else(|e| panic!("capture starts: {e}"));
        assert_eq!(capture.btf_tracepoints(), (btf, btf));
        Collector { capture, events: Vec::new() }
    }

    fn find(&mut self, what: &str, pred: impl Fn(&RawEvent) -> bool) -> RawEvent {
        let deadline = Instant::now() + WAIT;
        let mut checked = 0;
        loop {
            if let Some(ev) = self.events[checked..].iter().find(|e| pred(e)) {
                return ev.clone();
            }
            checked = self.events.len();
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no record for {what} within {WAIT:?} ({} records seen, {:?})",
                self.events.len(),
                self.capture.stats()
            );
            self.capture.next_batch(&mut self.events, Some(left.min(Duration::from_millis(200)))).unwrap();
        }
    }
}

fn is(ev: &RawEvent, name: &str) -> bool {
    matches!(ev.kind, RecordKind::Syscall { nr: n } if n == nr(name)) && ev.tid == gettid()
}

fn gettid() -> u32 {
    // SAFETY: no preconditions.
    unsafe { libc::gettid() as u32 }
}

/// A page below 4 GiB, which 32-bit syscalls can point to.
struct LowPage(*mut u8);

impl LowPage {
    fn new() -> Self {
        // SAFETY: an anonymous private mapping; MAP_32BIT keeps it below 2 GiB.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        assert!((p as u64) < 1 << 32);
        LowPage(p.cast())
    }

    /// Writes `bytes` at `offset`; returns their address.
    fn put(&self, offset: usize, bytes: &[u8]) -> u64 {
        assert!(offset + bytes.len() <= 4096);
        // SAFETY: within the page.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.0.add(offset), bytes.len()) };
        self.0 as u64 + offset as u64
    }
}

impl Drop for LowPage {
    fn drop(&mut self) {
        // SAFETY: the mapping made in new.
        unsafe { libc::munmap(self.0.cast(), 4096) };
    }
}

/// A 32-bit syscall through `int $0x80`, from this 64-bit process. The upper halves of the
/// registers hold garbage, which the kernel ignores: so must the probe.
fn int80(nr: u32, a: u64, b: u64, c: u64) -> i64 {
    const HIGH: u64 = 0x5a5a_5a5a_0000_0000;
    let ret: i64;
    // SAFETY: the ia32 syscall reads at most the pointers given, which point into a live page.
    unsafe {
        // rbx is LLVM's: swapped in and out around the call.
        std::arch::asm!(
            "xchg {a}, rbx",
            "int 0x80",
            "xchg {a}, rbx",
            a = inout(reg) a | HIGH => _,
            inlateout("rax") u64::from(nr) => ret,
            in("rcx") b | HIGH,
            in("rdx") c | HIGH,
            options(nostack)
        );
    }
    // The result is a 32-bit int.
    i64::from(ret as i32)
}

#[test]
fn int80_open_is_an_open_with_its_path() {
    if !live() {
        return;
    }
    let mut c = Collector::start(&["open", "close", "read", "connect", "socket"]);
    let page = LowPage::new();
    let path = page.put(0, b"/etc/shadow\0");
    let buf = page.put(1024, &[0; 64]);
    // ia32: open = 5, read = 3, close = 6.
    let fd = int80(5, path, libc::O_RDONLY as u64, 0);
    assert!(fd >= 0, "the 32-bit open works: {fd}");
    assert_eq!(int80(3, fd as u64, buf, 64), 64);
    assert_eq!(int80(6, fd as u64, 0, 0), 0);
    let open = c.find("the int $0x80 open", |e| {
        is(e, "open") && e.strings.first().is_some_and(|s| s.bytes == b"/etc/shadow")
    });
    assert_eq!(open.ret, fd);
    assert_eq!(open.args[0], path, "the path pointer, without the upper garbage");
    assert_eq!(open.args[1], libc::O_RDONLY as u64);
    let read = c.find("the int $0x80 read", |e| is(e, "read") && e.args[0] == fd as u64);
    assert_eq!((read.args[1], read.args[2], read.ret), (buf, 64, 64));
    c.find("the int $0x80 close", |e| is(e, "close") && e.args[0] == fd as u64 && e.ret == 0);

    // socketcall(SYS_SOCKET), then socketcall(SYS_CONNECT) to a port nobody listens on: the
    // socket calls of 32-bit programs, through one syscall.
    let args =
        page.put(2048, &[libc::AF_INET as u32, libc::SOCK_STREAM as u32, 0].map(u32::to_ne_bytes).concat());
    let sock = int80(102, 1, args, 0);
    assert!(sock >= 0, "socketcall socket: {sock}");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut sa = [0u8; 16];
    sa[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
    sa[2..4].copy_from_slice(&port.to_be_bytes());
    sa[4..8].copy_from_slice(&[127, 0, 0, 1]);
    let addr = page.put(2560, &sa);
    let connect_args = page.put(3072, &[sock as u32, addr as u32, 16].map(u32::to_ne_bytes).concat());
    let r = int80(102, 3, connect_args, 0);
    assert_eq!(r, -(libc::ECONNREFUSED as i64));
    let s = c.find("socketcall socket", |e| is(e, "socket") && e.ret == sock);
    assert_eq!(&s.args[..3], &[libc::AF_INET as u64, libc::SOCK_STREAM as u64, 0]);
    let conn = c.find("socketcall connect", |e| is(e, "connect") && e.args[0] == sock as u64);
    assert_eq!(conn.ret, -(libc::ECONNREFUSED as i64));
    assert_eq!(
        conn.sockaddr,
        Some(lanner_capture::SockAddr::Inet(std::net::SocketAddr::from(([127, 0, 0, 1], port))))
    );
    int80(6, sock as u64, 0, 0);
}

#[test]
fn int80_open_is_seen_by_the_raw_tracepoint_programs_too() {
    if !live() {
        return;
    }
    let mut c = Collector::start_with(&["openat"], false);
    let page = LowPage::new();
    let path = page.put(0, b"/etc/hostname\0");
    // ia32 openat = 295, close = 6.
    let fd = int80(295, libc::AT_FDCWD as u32 as u64, path, libc::O_RDONLY as u64);
    assert!(fd >= 0, "{fd}");
    int80(6, fd as u64, 0, 0);
    let ev = c.find("the raw programs' openat", |e| is(e, "openat") && e.ret == fd);
    assert_eq!(ev.strings[0].bytes, b"/etc/hostname");
    assert_eq!(ev.args[0] as u32 as i32, libc::AT_FDCWD);
}

#[test]
fn int80_calls_without_an_x86_64_equivalent_are_counted() {
    if !live() {
        return;
    }
    let c = Collector::start(&["open"]);
    let before = c.capture.stats().unwrap().compat_unmapped;
    // ia32 waitpid (7) has no x86_64 call of its own. (For a pid that is no child of ours:
    // other tests run children meanwhile.)
    for _ in 0..3 {
        assert_eq!(int80(7, 4_194_300, 0, 1), -(libc::ECHILD as i64));
    }
    let deadline = Instant::now() + WAIT;
    while c.capture.stats().unwrap().compat_unmapped < before + 3 {
        assert!(Instant::now() < deadline, "unmapped compat calls counted: {:?}", c.capture.stats());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn openat2_carries_its_open_how() {
    if !live() {
        return;
    }
    let mut c = Collector::start(&["openat2"]);
    let dir = std::env::temp_dir().join(format!("lanner-capture-openat2-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = CString::new(dir.join("written").as_os_str().as_encoded_bytes()).unwrap();
    // struct open_how: flags, mode, resolve.
    let flags = (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u64;
    let how: [u64; 3] = [flags, 0o640, 0x04];
    // SAFETY: a valid path and a valid open_how of the size given.
    let fd = unsafe { libc::syscall(437, libc::AT_FDCWD, path.as_ptr(), how.as_ptr(), 24usize) };
    assert!(fd >= 0, "openat2: {}", std::io::Error::last_os_error());
    // SAFETY: the fd just opened.
    unsafe { libc::close(fd as i32) };
    let ev = c.find("openat2", |e| is(e, "openat2") && e.ret == fd);
    let data = ev.data.expect("the open_how is carried");
    assert_eq!(data.bytes.len(), 24);
    let words: Vec<u64> = data.bytes.chunks(8).map(|w| u64::from_ne_bytes(w.try_into().unwrap())).collect();
    assert_eq!(words, how);
    assert_eq!(ev.strings[0].bytes, path.as_bytes());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_path_in_a_page_not_yet_faulted_in_is_read_at_exit() {
    if !live() {
        return;
    }
    let mut c = Collector::start(&["openat"]);
    // The path lives in a file mapped and never touched: at entry no page maps it, and a probe
    // cannot fault one in. The kernel can, so the open works.
    let file = std::env::temp_dir().join(format!("lanner-capture-unfaulted-{}", std::process::id()));
    std::fs::write(&file, b"/etc/shadow\0").unwrap();
    let f = std::fs::File::open(&file).unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: a private read-only mapping of a file of at least one byte.
    let p = unsafe {
        libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ, libc::MAP_PRIVATE, f.as_raw_fd(), 0)
    };
    assert_ne!(p, libc::MAP_FAILED);
    // SAFETY: the mapping holds a NUL-terminated path.
    let fd = unsafe { libc::syscall(libc::SYS_openat, libc::AT_FDCWD, p, libc::O_RDONLY, 0) };
    assert!(fd >= 0);
    // SAFETY: the fd and the mapping made above.
    unsafe {
        libc::close(fd as i32);
        libc::munmap(p, 4096);
    }
    let ev = c.find("the openat", |e| is(e, "openat") && e.ret == fd && e.args[1] == p as u64);
    assert_eq!(ev.strings[0].bytes, b"/etc/shadow", "the path, read again at exit");
    let _ = std::fs::remove_file(&file);
}

#[test]
fn an_open_submitted_through_io_uring_is_seen() {
    if !live() {
        return;
    }
    let mut c = Collector::start(&["io_uring_submit", "io_uring_setup"]);
    assert!(c.capture.io_uring_seen(), "this kernel's io_uring_submit_req tracepoint is attached");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/uring_open.py");
    let out = std::process::Command::new("python3").args([script, "/etc/shadow"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let fd: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(fd >= 0);
    let ev = c.find("the ring's openat", |e| {
        matches!(e.kind, RecordKind::Syscall { nr: n } if n == nr("io_uring_submit"))
            && e.strings.first().is_some_and(|s| s.bytes == b"/etc/shadow")
    });
    // IORING_OP_OPENAT, AT_FDCWD, O_RDONLY (the kernel adds O_LARGEFILE, 0o100000).
    assert_eq!(ev.args[0], 18);
    assert_eq!(ev.args[1] as u32 as i32, libc::AT_FDCWD);
    assert_eq!(ev.args[2], libc::O_RDONLY as u64 | 0o100000);
    assert_eq!(ev.comm, "python3");
}
