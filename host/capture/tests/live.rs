//! Live capture on the running kernel: loads the probe, makes syscalls and checks the records.
//!
//! Needs root. When not root these tests fail, unless `LANNER_SKIP_LIVE=1` is set, in which
//! case each says SKIPPED.

use std::ffi::CString;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lanner_capture::{Capture, CaptureConfig, RawEvent, RecordKind, SockAddr, syscalls};

/// How long a test waits for an expected record.
const WAIT: Duration = Duration::from_secs(10);

/// Whether live tests can run here; panics with the reason when they cannot and skipping was
/// not asked for.
fn live() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("LANNER_SKIP_LIVE").as_deref() == Ok("1") {
        eprintln!("SKIPPED: live capture tests need root (LANNER_SKIP_LIVE=1)");
        return false;
    }
    panic!(
        "live capture tests need root (to load eBPF programs); run them as root, or set \
         LANNER_SKIP_LIVE=1 to skip them"
    );
}

fn nr(name: &str) -> u32 {
    syscalls::number(name).unwrap_or_else(|| panic!("no syscall {name}"))
}

fn nrs(names: &[&str]) -> Vec<u32> {
    names.iter().map(|n| nr(n)).collect()
}

fn start(names: &[&str], ignore_tgid: Option<u32>) -> Collector {
    let capture =
        Capture::start(CaptureConfig { syscalls: nrs(names), ignore_tgid, ..CaptureConfig::default() })
            .unwrap_or_else(|e| panic!("capture starts: {e}"));
    Collector { capture, events: Vec::new() }
}

/// A capture and every record it delivered so far.
struct Collector {
    capture: Capture,
    events: Vec<RawEvent>,
}

impl Collector {
    /// Reads records until one matches `pred` (it is returned) or [`WAIT`] passes.
    fn find(&mut self, what: &str, pred: impl Fn(&RawEvent) -> bool) -> RawEvent {
        let deadline = Instant::now() + WAIT;
        let mut checked = 0;
        loop {
            if let Some(ev) = self.events[checked..].iter().find(|e| pred(e)) {
                return ev.clone();
            }
            checked = self.events.len();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let stats = self.capture.stats();
                panic!(
                    "no record for {what} within {WAIT:?} ({} records seen, {stats:?})",
                    self.events.len()
                );
            }
            self.capture.next_batch(&mut self.events, Some(left.min(Duration::from_millis(200)))).unwrap();
        }
    }

    /// The records of this process's syscalls seen so far.
    fn own_syscalls(&self) -> impl Iterator<Item = &RawEvent> {
        let me = std::process::id();
        self.events.iter().filter(move |e| e.tgid == me && matches!(e.kind, RecordKind::Syscall { .. }))
    }
}

fn is_syscall(ev: &RawEvent, names: &[&str]) -> bool {
    matches!(ev.kind, RecordKind::Syscall { nr: n } if names.iter().any(|name| nr(name) == n))
}

fn string(ev: &RawEvent, i: usize) -> &[u8] {
    ev.strings.get(i).map_or(&[][..], |c| &c.bytes[..])
}

/// A fresh directory for one test.
fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lanner-capture-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

/// Opens `path` with the raw openat syscall (no libc path checks), returning its result.
fn raw_openat(path: &[u8]) -> i64 {
    let c = CString::new(path).unwrap();
    // SAFETY: a valid NUL-terminated path; the fd, if any, is closed below.
    let fd = unsafe { libc::syscall(libc::SYS_openat, libc::AT_FDCWD, c.as_ptr(), libc::O_RDONLY, 0) };
    if fd >= 0 {
        // SAFETY: an fd this function opened.
        unsafe { libc::close(fd as i32) };
        fd
    } else {
        -i64::from(std::io::Error::last_os_error().raw_os_error().unwrap())
    }
}

#[test]
fn cat_opening_shadow_is_seen_with_its_process() {
    if !live() {
        return;
    }
    let mut c = start(&["openat", "execve"], None);
    let child = Command::new("cat").arg("/etc/shadow").stdout(Stdio::null()).spawn().unwrap();
    let pid = child.id();
    let status = child.wait_with_output().unwrap().status;
    assert!(status.success());
    let ev = c.find("cat's openat of /etc/shadow", |e| {
        e.tgid == pid && is_syscall(e, &["openat"]) && string(e, 0) == b"/etc/shadow"
    });
    assert_eq!(ev.comm, "cat");
    assert_eq!(ev.tid, pid);
    assert_eq!(ev.ppid, std::process::id());
    let exec = c.find("cat's exec", |e| e.tgid == pid && matches!(e.kind, RecordKind::Exec));
    assert_eq!(exec.ppid, std::process::id());
    assert_eq!(ev.uid, 0);
    assert_eq!(ev.gid, 0);
    assert!(ev.ret >= 0, "cat opened it: {}", ev.ret);
    assert_ne!(ev.args[1], 0, "the path pointer is an argument");
    assert!(!ev.strings[0].truncated);
    // Root has every capability.
    // The child inherits our login uid (unset, u32::MAX, outside a login session).
    let loginuid: u32 = std::fs::read_to_string("/proc/self/loginuid").unwrap().trim().parse().unwrap();
    assert_eq!(ev.loginuid, loginuid);
    assert_eq!(ev.tty, 0, "no controlling terminal");
    const CAP_DAC_OVERRIDE: u32 = 1;
    assert_ne!(ev.cap_effective & (1 << CAP_DAC_OVERRIDE), 0);
    // Both sets, from the process's credentials.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let cap = |key: &str| {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        u64::from_str_radix(line[key.len()..].trim(), 16).unwrap()
    };
    assert_eq!(ev.cap_effective, cap("CapEff:"));
    assert_eq!(ev.cap_permitted, cap("CapPrm:"));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    assert!(ev.ts_ns <= now && now - ev.ts_ns < 60_000_000_000, "wall-clock timestamp {} vs {now}", ev.ts_ns);
}

#[test]
fn controlling_tty_is_reported() {
    use std::os::unix::process::CommandExt;
    if !live() {
        return;
    }
    let mut c = start(&["openat"], None);
    // A pseudo-terminal that the child takes as its controlling terminal.
    // SAFETY: plain libc calls on a descriptor this test owns; ptsname_r gets a valid buffer.
    let (master, slave) = unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0);
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let mut name = [0 as libc::c_char; 64];
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
        (master, std::ffi::CStr::from_ptr(name.as_ptr()).to_owned())
    };
    let rdev = std::os::unix::fs::MetadataExt::rdev(&std::fs::metadata(slave.to_str().unwrap()).unwrap());
    let marker = temp_dir("tty").join("marker");
    std::fs::write(&marker, b"").unwrap();
    let mut cmd = Command::new("cat");
    cmd.arg(&marker).stdout(Stdio::null());
    let slave_for_child = slave.clone();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            let fd = libc::open(slave_for_child.as_ptr(), libc::O_RDWR);
            if fd < 0 || libc::ioctl(fd, libc::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    assert!(cmd.status().unwrap().success());
    let me = std::process::id();
    let ev = c.find("cat's openat of the marker", |e| {
        e.tgid != me && is_syscall(e, &["openat"]) && string(e, 0) == bytes(&marker)
    });
    assert_eq!(ev.comm, "cat");
    // Exec records carry the terminal; syscall records leave it to the host's process table.
    assert_eq!(ev.tty, 0);
    let cat = ev.tgid;
    let exec = c.find("cat's exec", |e| e.tgid == cat && matches!(e.kind, RecordKind::Exec));
    assert_eq!(u64::from(exec.tty), rdev, "the pty's device number");
    // SAFETY: our descriptor.
    unsafe { libc::close(master) };
    let _ = std::fs::remove_dir_all(marker.parent().unwrap());
}

#[test]
fn sockets_carry_their_addresses() {
    if !live() {
        return;
    }
    let mut c = start(&["connect", "accept", "accept4", "bind", "sendto", "recvfrom"], None);
    let me = std::process::id();

    // TCP: connect to a listener of ours, and its accept.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, peer) = listener.accept().unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        peer
    });
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let local = stream.local_addr().unwrap();
    stream.write_all(b"x").unwrap();
    let peer = server.join().unwrap();
    assert_eq!(peer, local);
    let target: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let ev = c.find("connect to the listener", |e| {
        e.tgid == me && is_syscall(e, &["connect"]) && e.sockaddr == Some(SockAddr::Inet(target))
    });
    assert_eq!(ev.ret, 0);
    assert!(ev.strings.is_empty());
    let ev = c.find("accept of the connection", |e| {
        e.tgid == me && is_syscall(e, &["accept", "accept4"]) && e.sockaddr == Some(SockAddr::Inet(local))
    });
    assert!(ev.ret >= 0);

    // UDP: bind, sendto with a destination, recvfrom with a source.
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    a.send_to(b"ping", b_addr).unwrap();
    let mut buf = [0u8; 8];
    let (n, from) = b.recv_from(&mut buf).unwrap();
    assert_eq!((n, from), (4, a_addr));
    // bind carries the address asked for (port 0), not the one given.
    let b_fd = std::os::fd::AsRawFd::as_raw_fd(&b) as u64;
    let any_port: SocketAddr = "127.0.0.1:0".parse().unwrap();
    c.find("bind of the UDP socket", |e| {
        e.tgid == me
            && is_syscall(e, &["bind"])
            && e.args[0] == b_fd
            && e.sockaddr == Some(SockAddr::Inet(any_port))
            && e.ret == 0
    });
    let ev = c.find("sendto the UDP peer", |e| {
        e.tgid == me && is_syscall(e, &["sendto"]) && e.sockaddr == Some(SockAddr::Inet(b_addr))
    });
    assert_eq!(ev.ret, 4);
    c.find("recvfrom with the source", |e| {
        e.tgid == me
            && is_syscall(e, &["recvfrom"])
            && e.sockaddr == Some(SockAddr::Inet(a_addr))
            && e.ret == 4
    });

    // Unix: connect to a path.
    let dir = temp_dir("unix");
    let path = dir.join("sock");
    let _unix_listener = UnixListener::bind(&path).unwrap();
    let _unix = UnixStream::connect(&path).unwrap();
    let ev = c.find("connect to the unix socket", |e| {
        e.tgid == me
            && is_syscall(e, &["connect"])
            && e.sockaddr == Some(SockAddr::Unix(bytes(&path).to_vec()))
    });
    assert_eq!(ev.ret, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn file_syscalls_carry_their_paths() {
    if !live() {
        return;
    }
    let mut c = start(
        &[
            "openat",
            "rename",
            "renameat",
            "renameat2",
            "unlink",
            "unlinkat",
            "symlink",
            "symlinkat",
            "memfd_create",
            "mkdir",
            "mkdirat",
        ],
        None,
    );
    let me = std::process::id();
    let dir = temp_dir("files");
    let a = dir.join("a.txt");
    let b = dir.join("b.txt");
    let link = dir.join("link");
    std::fs::write(&a, b"data").unwrap();
    std::fs::rename(&a, &b).unwrap();
    std::os::unix::fs::symlink(&b, &link).unwrap();
    std::fs::remove_file(&link).unwrap();
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let name = c"lanner-memfd-test";
    // SAFETY: a valid name; the fd is closed right after.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0);
    // SAFETY: our fd.
    unsafe { libc::close(fd) };

    let ev = c.find("openat creating a.txt", |e| {
        e.tgid == me && is_syscall(e, &["openat"]) && string(e, 0) == bytes(&a)
    });
    assert!(ev.ret >= 0);
    assert_eq!(ev.args[2] as i32 & libc::O_CREAT, libc::O_CREAT);
    let ev = c.find("rename a.txt to b.txt", |e| {
        e.tgid == me && is_syscall(e, &["rename", "renameat", "renameat2"]) && string(e, 0) == bytes(&a)
    });
    assert_eq!(string(&ev, 1), bytes(&b));
    assert_eq!(ev.strings.len(), 2);
    assert_eq!(ev.ret, 0);
    let ev = c.find("symlink to b.txt", |e| {
        e.tgid == me && is_syscall(e, &["symlink", "symlinkat"]) && string(e, 1) == bytes(&link)
    });
    assert_eq!(string(&ev, 0), bytes(&b), "the target comes first");
    assert_eq!(ev.ret, 0);
    let ev = c.find("unlink of the link", |e| {
        e.tgid == me && is_syscall(e, &["unlink", "unlinkat"]) && string(e, 0) == bytes(&link)
    });
    assert_eq!(ev.ret, 0);
    c.find("mkdir of sub", |e| {
        e.tgid == me && is_syscall(e, &["mkdir", "mkdirat"]) && string(e, 0) == bytes(&sub)
    });
    let ev = c.find("memfd_create", |e| {
        e.tgid == me && is_syscall(e, &["memfd_create"]) && string(e, 0) == b"lanner-memfd-test"
    });
    assert_eq!(ev.ret, i64::from(fd));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exec_fork_and_exit_records() {
    if !live() {
        return;
    }
    let mut c = start(&["execve", "clone", "clone3", "fork", "vfork"], None);
    let me = std::process::id();
    let out = Command::new("/usr/bin/echo")
        .args(["lanner-arg-1", "two words"])
        .env("LANNER_TEST_ENV", "xyz")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = out.id();
    let out = out.wait_with_output().unwrap();
    assert_eq!(out.stdout, b"lanner-arg-1 two words\n");

    let fork = c.find(
        "fork of the child",
        |e| matches!(e.kind, RecordKind::Fork { child_tgid, .. } if child_tgid == pid),
    );
    assert_eq!(fork.tgid, me);
    let RecordKind::Fork { child_tid, .. } = fork.kind else { unreachable!() };
    assert_eq!(child_tid, pid);

    let exec = c.find("exec of echo", |e| e.tgid == pid && e.kind == RecordKind::Exec);
    assert_eq!(exec.comm, "echo");
    assert_eq!(exec.ppid, me);
    assert_eq!(exec.strings.len(), 3);
    assert_eq!(string(&exec, 0), b"/usr/bin/echo");
    assert_eq!(string(&exec, 1), b"/usr/bin/echo\0lanner-arg-1\0two words");
    assert!(!exec.strings[1].truncated);
    let env = string(&exec, 2);
    assert!(env.split(|&b| b == 0).any(|v| v == b"LANNER_TEST_ENV=xyz"), "environment: {env:?}");

    let execve = c.find("the child's execve", |e| e.tgid == pid && is_syscall(e, &["execve"]));
    assert_eq!(string(&execve, 0), b"/usr/bin/echo");
    assert_eq!(execve.ret, 0);

    // Process creation returns twice: the child's pid in the parent, 0 in the child.
    let forks = &["clone", "clone3", "fork", "vfork"];
    c.find("the parent's clone", |e| e.tgid == me && is_syscall(e, forks) && e.ret == i64::from(pid));
    c.find("the child's clone", |e| e.tgid == pid && is_syscall(e, forks) && e.ret == 0);

    let exit = c.find("exit of echo", |e| e.tgid == pid && e.kind == RecordKind::Exit);
    assert_eq!(exit.comm, "echo");
    assert!(exit.strings.is_empty());
}

#[test]
fn long_argv_is_marked_truncated() {
    if !live() {
        return;
    }
    let mut c = start(&[], None);
    let long = "z".repeat(5000);
    let child = Command::new("/usr/bin/true").arg(&long).spawn().unwrap();
    let pid = child.id();
    assert!(child.wait_with_output().unwrap().status.success());
    let exec = c.find("exec of true", |e| e.tgid == pid && e.kind == RecordKind::Exec);
    assert!(exec.strings[1].truncated);
    assert_eq!(exec.strings[1].bytes.len(), 4096);
    assert!(exec.strings[1].bytes.starts_with(b"/usr/bin/true\0zzzz"));
    assert!(!exec.strings[0].truncated);
}

#[test]
fn long_paths_are_marked_truncated() {
    if !live() {
        return;
    }
    let mut c = start(&["openat"], None);
    let me = std::process::id();
    let long: Vec<u8> = std::iter::once(b'/').chain(std::iter::repeat_n(b'x', 5000)).collect();
    let exact: Vec<u8> = std::iter::once(b'/').chain(std::iter::repeat_n(b'y', 4095)).collect();
    assert_eq!(raw_openat(&long), -i64::from(libc::ENAMETOOLONG));
    raw_openat(&exact);

    let ev = c.find("openat of the long path", |e| {
        e.tgid == me && is_syscall(e, &["openat"]) && string(e, 0).starts_with(b"/xxxx")
    });
    assert!(ev.strings[0].truncated);
    assert_eq!(ev.strings[0].bytes, long[..4096]);
    assert_eq!(ev.ret, -i64::from(libc::ENAMETOOLONG));

    let ev = c.find("openat of the 4096-byte path", |e| {
        e.tgid == me && is_syscall(e, &["openat"]) && string(e, 0).starts_with(b"/yyyy")
    });
    assert!(!ev.strings[0].truncated, "exactly the bound is not truncated");
    assert_eq!(ev.strings[0].bytes, exact);
}

#[test]
fn only_filtered_syscalls_are_delivered() {
    if !live() {
        return;
    }
    let mut c = start(&["openat"], None);
    let me = std::process::id();
    let dir = temp_dir("filter");
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::remove_dir(&sub).unwrap();
    let marker = dir.join("marker-1");
    std::fs::write(&marker, b"").unwrap();
    c.find("openat of marker-1", |e| {
        e.tgid == me && is_syscall(e, &["openat"]) && string(e, 0) == bytes(&marker)
    });
    let other: Vec<_> = c.own_syscalls().filter(|e| !is_syscall(e, &["openat"])).collect();
    assert!(other.is_empty(), "only openat is delivered: {other:?}");

    // A filter change takes effect at once.
    c.capture.set_syscalls(&nrs(&["openat", "mkdir", "mkdirat"]), &[]).unwrap();
    assert_eq!(c.capture.syscalls(), {
        let mut v = nrs(&["openat", "mkdir", "mkdirat"]);
        v.sort_unstable();
        v
    });
    std::fs::create_dir(&sub).unwrap();
    c.find("mkdir after the filter change", |e| {
        e.tgid == me && is_syscall(e, &["mkdir", "mkdirat"]) && string(e, 0) == bytes(&sub)
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_ignored_process_is_not_delivered() {
    if !live() {
        return;
    }
    let me = std::process::id();
    let mut c = start(&["openat"], Some(me));
    let dir = temp_dir("ignore");
    let mine = dir.join("mine");
    std::fs::write(&mine, b"").unwrap();
    let child = Command::new("cat").arg(&mine).stdout(Stdio::null()).status().unwrap();
    assert!(child.success());
    // The child is another process: delivered; so is our fork of it.
    c.find("cat's openat", |e| e.tgid != me && is_syscall(e, &["openat"]) && string(e, 0) == bytes(&mine));
    c.find("our fork", |e| e.tgid == me && matches!(e.kind, RecordKind::Fork { .. }));
    assert_eq!(c.own_syscalls().count(), 0, "no syscall of ours is delivered");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `sendmsg`/`recvmsg` on a UDP socket, with an address in the `msghdr`.
fn udp_msg_roundtrip(from: &UdpSocket, to: &UdpSocket) {
    use std::os::fd::AsRawFd;
    let SocketAddr::V4(dest) = to.local_addr().unwrap() else { unreachable!() };
    // SAFETY: all-zero is a valid sockaddr_in and msghdr.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_port = dest.port().to_be();
    sin.sin_addr.s_addr = u32::from_ne_bytes(dest.ip().octets());
    let mut payload = *b"pong";
    let mut iov = libc::iovec { iov_base: payload.as_mut_ptr().cast(), iov_len: payload.len() };
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&raw mut sin).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    // SAFETY: msg points to live buffers.
    assert_eq!(unsafe { libc::sendmsg(from.as_raw_fd(), &msg, 0) }, 4);

    let mut src: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut buf = [0u8; 8];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&raw mut src).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    // SAFETY: msg points to live buffers.
    assert_eq!(unsafe { libc::recvmsg(to.as_raw_fd(), &mut msg, 0) }, 4);
}

#[test]
fn msghdr_addresses_are_read() {
    if !live() {
        return;
    }
    let mut c = start(&["sendmsg", "recvmsg"], None);
    let me = std::process::id();
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp_msg_roundtrip(&a, &b);
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let ev = c.find("sendmsg to b", |e| {
        e.tgid == me && is_syscall(e, &["sendmsg"]) && e.sockaddr == Some(SockAddr::Inet(b_addr))
    });
    assert_eq!(ev.ret, 4);
    let ev = c.find("recvmsg from a", |e| {
        e.tgid == me && is_syscall(e, &["recvmsg"]) && e.sockaddr == Some(SockAddr::Inet(a_addr))
    });
    assert_eq!(ev.ret, 4);
}

/// `sendmsg` without a `msg_name`, on a connected socket.
fn sendmsg_connected(sock: &UdpSocket) {
    use std::os::fd::AsRawFd;
    let mut payload = *b"bare";
    let mut iov = libc::iovec { iov_base: payload.as_mut_ptr().cast(), iov_len: payload.len() };
    // SAFETY: all-zero is a valid msghdr (no name).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    // SAFETY: msg points to live buffers.
    assert_eq!(unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, 0) }, 4);
}

#[test]
fn address_required_sends_need_an_address() {
    if !live() {
        return;
    }
    let (sendto, sendmsg) = (nr("sendto"), nr("sendmsg"));
    let mut c = Collector {
        capture: Capture::start(CaptureConfig {
            syscalls: vec![sendto, sendmsg],
            address_required: vec![sendto, sendmsg],
            ..CaptureConfig::default()
        })
        .unwrap(),
        events: Vec::new(),
    };
    let me = std::process::id();
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let connected = UdpSocket::bind("127.0.0.1:0").unwrap();
    connected.connect(sink.local_addr().unwrap()).unwrap();
    for _ in 0..50 {
        // send(2) is sendto(2) without an address.
        connected.send(b"x").unwrap();
        sendmsg_connected(&connected);
    }
    // With addresses: delivered, and after the others in the ring.
    let b_addr = b.local_addr().unwrap();
    a.send_to(b"y", b_addr).unwrap();
    let mut buf = [0u8; 8];
    b.recv(&mut buf).unwrap();
    udp_msg_roundtrip(&a, &b);
    c.find("sendto with an address", |e| {
        e.tgid == me && is_syscall(e, &["sendto"]) && e.sockaddr == Some(SockAddr::Inet(b_addr))
    });
    c.find("sendmsg with an address", |e| {
        e.tgid == me && is_syscall(e, &["sendmsg"]) && e.sockaddr == Some(SockAddr::Inet(b_addr))
    });
    let bare: Vec<_> = c.own_syscalls().filter(|e| e.sockaddr.is_none()).collect();
    assert!(bare.is_empty(), "address-less sends are not delivered: {bare:?}");
    assert_eq!(c.own_syscalls().count(), 2);

    // Without the address filter, the same sends are delivered.
    c.capture.set_syscalls(&[sendto, sendmsg], &[]).unwrap();
    connected.send(b"x").unwrap();
    sendmsg_connected(&connected);
    c.find("address-less sendto", |e| e.tgid == me && is_syscall(e, &["sendto"]) && e.sockaddr.is_none());
    c.find("address-less sendmsg", |e| e.tgid == me && is_syscall(e, &["sendmsg"]) && e.sockaddr.is_none());
}

#[test]
fn entry_records_survive_a_context_switch() {
    if !live() {
        return;
    }
    let mut c = start(&["openat"], None);
    let dir = temp_dir("switch");
    let fifo = dir.join("fifo");
    let cpath = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid path.
    assert_eq!(unsafe { libc::mkfifo(cpath.as_ptr(), 0o600) }, 0);
    // The reader's open blocks until a writer comes: its thread leaves the CPU between the
    // syscall's entry and exit, while other threads run syscalls there.
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() } as u32;
        let f = std::fs::File::open(&reader_path).unwrap();
        drop(f);
        tid
    });
    std::thread::sleep(Duration::from_millis(200));
    let busy: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(|| {
                (0..2000).for_each(|_| {
                    raw_openat(b"/dev/null");
                })
            })
        })
        .collect();
    busy.into_iter().for_each(|t| t.join().unwrap());
    let before_writer = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let tid = reader.join().unwrap();
    drop(writer);
    let ev = c.find("the reader's openat of the fifo", |e| {
        e.tid == tid && is_syscall(e, &["openat"]) && string(e, 0) == bytes(&fifo)
    });
    assert!(ev.ret >= 0, "the open succeeded: {}", ev.ret);
    // Assembled at entry (kept across the switch), not again at exit.
    let entry_ns = before_writer.as_nanos() as u64 - 150_000_000;
    assert!(ev.ts_ns < entry_ns, "entry-time record: {} vs writer at {}", ev.ts_ns, before_writer.as_nanos());
    assert_eq!(c.capture.stats().unwrap().stash_failures, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn both_kinds_of_syscall_programs_deliver() {
    if !live() {
        return;
    }
    for btf in [true, false] {
        let mut c = Collector {
            capture: Capture::start(CaptureConfig {
                syscalls: nrs(&["openat", "close"]),
                btf_sys_exit: btf,
                ..CaptureConfig::default()
            })
            .unwrap(),
            events: Vec::new(),
        };
        // This machine's kernel (as CI's) has BTF and takes the typed tracepoint.
        assert_eq!(c.capture.btf_tracepoints(), (btf, btf));
        let me = std::process::id();
        let marker = format!("/nonexistent/lanner-exit-{btf}");
        assert_eq!(raw_openat(marker.as_bytes()), -i64::from(libc::ENOENT));
        let ev = c.find("openat of the marker", |e| {
            e.tgid == me && is_syscall(e, &["openat"]) && string(e, 0) == marker.as_bytes()
        });
        assert_eq!(ev.ret, -i64::from(libc::ENOENT));
        // SAFETY: closing a descriptor that is not open.
        unsafe { libc::close(-1) };
        let ev = c.find("close(-1)", |e| e.tgid == me && is_syscall(e, &["close"]) && e.args[0] as i32 == -1);
        assert_eq!(ev.ret, -i64::from(libc::EBADF));
    }
}

#[test]
fn a_full_ring_counts_drops() {
    if !live() {
        return;
    }
    // One page of ring: a burst of records that nobody reads overflows it.
    let mut c = Capture::start(CaptureConfig {
        ring_bytes: 4096,
        syscalls: nrs(&["openat"]),
        ..CaptureConfig::default()
    })
    .unwrap();
    for _ in 0..200 {
        raw_openat(b"/nonexistent/lanner-drop-test");
    }
    let drops = c.drops().unwrap();
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) } as usize;
    assert_eq!(drops.len(), cpus, "one counter per possible CPU");
    assert!(drops.iter().sum::<u64>() > 0, "drops counted: {drops:?}");
    // Other processes' openat calls may add drops in between.
    assert!(c.stats().unwrap().ring_drops >= drops.iter().sum::<u64>());
    // What did fit is still readable.
    let mut out = Vec::new();
    assert!(c.next_batch(&mut out, Some(Duration::from_secs(1))).unwrap() > 0);
}

#[test]
fn a_set_wake_flag_ends_the_wait_for_records() {
    if !live() {
        return;
    }
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    // A syscall nobody makes here. Process records (exec, fork, exit of other processes)
    // still come and end a wait with records; only the flag ends it with none before the
    // timeout.
    let mut capture =
        Capture::start(CaptureConfig { syscalls: nrs(&["kexec_load"]), ..CaptureConfig::default() }).unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    capture.wake_on(flag.clone());
    let setter = {
        let flag = flag.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            flag.store(true, Ordering::Release);
        })
    };
    let t = std::time::Instant::now();
    let mut out = Vec::new();
    while capture.next_batch(&mut out, Some(Duration::from_secs(60))).unwrap() > 0 {
        out.clear();
    }
    assert!(t.elapsed() < Duration::from_secs(30), "returned when woken, not at the timeout");
    assert!(!flag.load(Ordering::Acquire), "the flag is cleared");
    setter.join().unwrap();
}

#[test]
fn an_idle_reader_wakes_at_the_idle_interval_and_a_record_after_the_quiet_still_arrives() {
    if !live() {
        return;
    }
    // Nothing calls chroot: the ring stays empty.
    let mut c = Capture::start(CaptureConfig {
        syscalls: nrs(&["chroot"]),
        poll_interval: Duration::from_millis(2),
        idle_poll_interval: Duration::from_millis(20),
        ..CaptureConfig::default()
    })
    .unwrap_or_else(|e| panic!("capture starts: {e}"));
    let mut batch = Vec::new();
    let before = c.waits();
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(600) {
        c.next_batch(&mut batch, Some(Duration::from_millis(100))).unwrap();
    }
    let waits = c.waits() - before;
    // At 2 ms it would be about 300 wake-ups; at 20 ms after the first 5, about 35. (A slow
    // machine makes fewer, never more.)
    eprintln!("{waits} wake-ups in 600 ms of quiet");
    assert!(waits <= 60, "{waits} wake-ups in 600 ms of quiet");
    assert!(batch.is_empty(), "{batch:?}");
    // The first record after the quiet comes at the next idle poll.
    let dir = CString::new("/nonexistent-lanner-idle").unwrap();
    // SAFETY: a NUL-terminated path; chroot fails with ENOENT and changes nothing.
    unsafe { libc::chroot(dir.as_ptr()) };
    let t = Instant::now();
    let chroot = nr("chroot");
    while !batch.iter().any(|e| matches!(e.kind, RecordKind::Syscall { nr } if nr == chroot)) {
        assert!(t.elapsed() < WAIT, "the chroot after the quiet never came");
        c.next_batch(&mut batch, Some(Duration::from_millis(100))).unwrap();
    }
}
