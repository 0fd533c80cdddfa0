//! Evasion attempts against the live daemon and its default rules: the same work done through
//! calls that rules on the usual ones would miss. Each test performs the attack on this
//! machine and checks that the default rule of the usual call fires (or, for calls with no
//! default rule, that the event reaches the rules with Falco's parameters).
//!
//! - 32-bit syscalls: `int $0x80` from a static 64-bit program, and a static `-m32` program
//!   (both built here with gcc, no libc);
//! - openat2, whose flags are behind a pointer;
//! - creat, fchmodat2, open_by_handle_at, execveat with AT_EMPTY_PATH, the new mount API.
//!
//! Needs root (CI runs as root); without it the live tests fail with a clear message unless
//! LANNER_SKIP_LIVE=1 says to skip.

mod common;

use common::{Daemon, free_port, live_allowed};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PY: &str = "/usr/bin/python3";

fn rules_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules").join(name)
}

/// A scratch directory outside the temporary directories (running a program from /tmp is a
/// detection of its own), removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let d = PathBuf::from(format!("/var/lib/lanner-test-evasion-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `lanner run` with the default rules, and `extra` rules, JSON alerts, every matching rule,
/// its webserver on `port` (or none).
fn start_on(extra: Option<&Path>, port: Option<u16>) -> Daemon {
    let rules = rules_path("lanner_rules.yaml");
    let mut args = vec!["-r".to_string(), rules.display().to_string()];
    if let Some(e) = extra {
        args.extend(["-r".to_string(), e.display().to_string()]);
    }
    args.extend(["-o", "json_output=true", "-o", "rule_matching=all"].map(String::from));
    match port {
        Some(p) => args.extend(["-o".to_string(), format!("webserver.listen_port={p}")]),
        None => args.extend(["-o", "webserver.enabled=false"].map(String::from)),
    }
    Daemon::start(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn start(extra: Option<&Path>) -> Daemon {
    start_on(extra, None)
}

/// The value of metric `name` on `/metrics`.
fn metric(port: u16, name: &str) -> f64 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics: {text}"))
}

/// Waits for an alert of `rule` whose output contains every one of `texts`.
fn wait_for(d: &Daemon, rule: &str, texts: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = d.alerts().into_iter().find(|a| {
            a["rule"] == rule && texts.iter().all(|t| a["output"].as_str().unwrap_or("").contains(t))
        });
        if let Some(a) = found {
            return a;
        }
        assert!(Instant::now() < deadline, "no '{rule}' alert with {texts:?}: {:#?}", d.alerts());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Builds a static program without libc from C source: `-m32` for a 32-bit one.
fn build_static(dir: &Path, name: &str, source: &str, m32: bool) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).unwrap();
    let out = dir.join(name);
    let mut cc = Command::new("gcc");
    if m32 {
        cc.arg("-m32");
    }
    let o = cc
        .args(["-static", "-nostdlib", "-no-pie", "-O2", "-fno-stack-protector", "-o"])
        .arg(&out)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| {
            panic!("gcc is needed to build the 32-bit syscall programs (scripts/setup.sh): {e}")
        });
    assert!(o.status.success(), "gcc {name}: {}", String::from_utf8_lossy(&o.stderr));
    out
}

fn run(program: &Path) {
    let st = Command::new(program).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
    assert!(st.success(), "{} succeeds", program.display());
}

/// Opens /etc/shadow with the ia32 `open` (5) through `int $0x80` from a 64-bit program, with
/// garbage in the registers' upper halves (the kernel reads 32 bits of each), reads it and
/// exits. The path is in the program's read-only data, which no instruction has touched
/// before the call: its page is not mapped yet when the probe first looks.
const INT80_64: &str = r#"
static const char path[] = "/etc/shadow";
static char buf[64];
static long int80(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}
void _start(void) {
    long hi = 0x5a5a5a5a00000000L;
    long fd = int80(5, hi | (long)path, hi, 0);
    if (fd >= 0) { int80(3, fd, (long)buf, sizeof buf); int80(6, fd, 0, 0); }
    int80(1, fd >= 0 ? 0 : 1, 0, 0);
    for (;;) {}
}
"#;

/// The same from a 32-bit program, with the ia32 `openat` (295).
const OPENAT_32: &str = r#"
static const char path[] = "/etc/shadow";
static char buf[64];
static long sys3(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}
void _start(void) {
    long fd = sys3(295, -100, (long)path, 0);
    if (fd >= 0) { sys3(3, fd, (long)buf, sizeof buf); sys3(6, fd, 0, 0); }
    sys3(1, fd >= 0 ? 0 : 1, 0, 0);
    for (;;) {}
}
"#;

/// ia32 `waitpid` (7), which x86_64 has no call for, then exit.
const WAITPID_32: &str = r#"
static long sys3(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}
void _start(void) {
    sys3(7, -1, 0, 1);
    sys3(1, 0, 0, 0);
    for (;;) {}
}
"#;

#[test]
fn a_32_bit_open_of_shadow_raises_the_sensitive_file_rule() {
    if !live_allowed() {
        return;
    }
    let s = Scratch::new("ia32");
    let tag = std::process::id() % 100_000;
    let p64 = build_static(&s.0, &format!("i80-{tag}"), INT80_64, false);
    let p32 = build_static(&s.0, &format!("m32-{tag}"), OPENAT_32, true);
    let unmapped = build_static(&s.0, &format!("wp32-{tag}"), WAITPID_32, true);
    let port = free_port();
    let lanner = start_on(None, Some(port));
    run(&p64);
    run(&p32);
    for p in [&p64, &p32] {
        let name = p.file_name().unwrap().to_str().unwrap();
        wait_for(
            &lanner,
            "Read Sensitive File by Untrusted Program",
            &["file=/etc/shadow", &format!("process={name} ")],
        );
    }
    // A 32-bit call with no x86_64 equivalent is counted and said.
    run(&unmapped);
    lanner.wait_log("32-bit syscalls with no x86_64 equivalent were not delivered", Duration::from_secs(20));
    assert!(metric(port, "lanner_capture_compat_unmapped_total") >= 1.0);
    lanner.stop();
}

/// An extra rules file whose rules print the parameters of the calls under test.
fn param_rules(dir: &Path, marker: &str) -> PathBuf {
    let f = dir.join("params.yaml");
    std::fs::write(
        &f,
        format!(
            r#"
- rule: Test open flags
  desc: the flags and mode of the test's opens
  condition: evt.type in (openat, openat2) and proc.cmdline contains {marker}
  output: "open params type=%evt.type flags=%evt.arg.flags mode=%evt.arg.mode resolve=%evt.arg.resolve name=%evt.arg.name fd=%fd.name"
  priority: INFO
- rule: Test mount API
  desc: the new mount API's parameters
  condition: evt.type in (fsopen, fsmount, move_mount, open_tree) and proc.cmdline contains {marker}
  output: "mount api type=%evt.type res=%evt.res fs=%evt.arg.fs_name to=%evt.arg.to_pathname tree=%evt.arg.filename"
  priority: INFO
"#
        ),
    )
    .unwrap();
    f
}

fn py(script: &str, marker: &str) {
    let o = Command::new(PY).arg("-c").arg(script).arg(marker).output().unwrap();
    assert!(o.status.success(), "{script}: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn openat2_flags_come_from_open_how() {
    if !live_allowed() {
        return;
    }
    let s = Scratch::new("openat2");
    let marker = format!("lanner-openat2-{}", std::process::id());
    let target = format!("/etc/{marker}");
    let twin = s.0.join("twin");
    let lanner = start(Some(&param_rules(&s.0, &marker)));
    // The same flags through openat2 (behind a pointer) and openat (an argument).
    py(
        &format!(
            r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
class How(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]
flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
how = How(flags, 0o600, 0x04)
fd = libc.syscall(437, -100, b"{target}", ctypes.byref(how), 24)
assert fd >= 0, ctypes.get_errno()
os.close(fd)
# (os.open would add O_CLOEXEC.)
fd = libc.openat(-100, b"{twin}", flags, 0o600)
assert fd >= 0, ctypes.get_errno()
os.close(fd)
os.unlink("{target}")
"#,
            twin = twin.display()
        ),
        &marker,
    );
    wait_for(&lanner, "Write Below Etc", &[&format!("file={target} ")]);
    let a2 = wait_for(&lanner, "Test open flags", &["type=openat2", &target]);
    let a1 = wait_for(&lanner, "Test open flags", &["type=openat ", "twin"]);
    let f = |a: &Value, k: &str| a["output_fields"][k].as_str().unwrap_or_default().to_string();
    assert_eq!(f(&a2, "evt.arg.flags"), f(&a1, "evt.arg.flags"), "openat2's flags render as openat's");
    assert_eq!(f(&a2, "evt.arg.flags"), "O_TRUNC|O_CREAT|O_WRONLY");
    assert_eq!(f(&a2, "evt.arg.mode"), "0600");
    assert_eq!(f(&a2, "evt.arg.resolve"), "RESOLVE_NO_SYMLINKS");
    assert_eq!(f(&a2, "fd.name"), target);
    lanner.stop();
}

#[test]
fn calls_doing_the_work_of_watched_ones_raise_their_rules() {
    if !live_allowed() {
        return;
    }
    let s = Scratch::new("same-work");
    let marker = format!("lanner-samework-{}", std::process::id());
    let dir = s.0.display().to_string();
    let lanner = start(Some(&param_rules(&s.0, &marker)));

    // creat: an open for writing.
    let creat_target = format!("/etc/{marker}-creat");
    py(
        &format!(
            r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.creat(b"{creat_target}", 0o600)
assert fd >= 0, ctypes.get_errno()
os.close(fd)
os.unlink("{creat_target}")
"#
        ),
        &marker,
    );
    wait_for(&lanner, "Write Below Etc", &[&format!("file={creat_target} ")]);

    // fchmodat2: a chmod.
    let suid = format!("{dir}/suid");
    std::fs::write(&suid, b"").unwrap();
    py(
        &format!(
            r#"
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
assert libc.syscall(452, -100, b"{suid}", 0o4755, 0) == 0, ctypes.get_errno()
"#
        ),
        &marker,
    );
    wait_for(&lanner, "Setuid or Setgid Bit Set", &[&format!("file={suid} "), "S_ISUID"]);

    // name_to_handle_at + open_by_handle_at: /etc/shadow opened with no path.
    py(
        r#"
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
class Handle(ctypes.Structure):
    _fields_ = [("bytes", ctypes.c_uint), ("type", ctypes.c_int), ("data", ctypes.c_ubyte * 128)]
h = Handle()
h.bytes = 128
mount_id = ctypes.c_int()
assert libc.name_to_handle_at(-100, b"/etc/shadow", ctypes.byref(h), ctypes.byref(mount_id), 0) == 0
root = os.open("/", os.O_RDONLY)
fd = libc.open_by_handle_at(root, ctypes.byref(h), os.O_RDONLY)
assert fd >= 0, ctypes.get_errno()
os.read(fd, 16)
# The descriptor is named from /proc while the process holds it.
time.sleep(3)
"#,
        &marker,
    );
    wait_for(
        &lanner,
        "Read Sensitive File by Untrusted Program",
        &["file=/etc/shadow", "process=python3", &marker],
    );

    // execveat(fd, "", AT_EMPTY_PATH) of a program in /dev/shm (fexecve).
    let shm = format!("/dev/shm/{marker}");
    std::fs::copy("/usr/bin/true", &shm).unwrap();
    py(
        &format!(
            r#"
import os
fd = os.open("{shm}", os.O_RDONLY)
os.execve(fd, ["true"], {{}})
"#
        ),
        &marker,
    );
    wait_for(&lanner, "Execution from Temporary Directory", &[&format!("exe={shm} ")]);
    let _ = std::fs::remove_file(&shm);

    // The new mount API: a tmpfs made with fsopen and fsmount and attached with move_mount,
    // then the tree cloned with open_tree.
    let mnt = format!("{dir}/mnt");
    std::fs::create_dir(&mnt).unwrap();
    py(
        &format!(
            r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
fs = libc.syscall(430, b"tmpfs", 0)
assert fs >= 0, ctypes.get_errno()
assert libc.syscall(431, fs, 6, None, None, 0) == 0, ctypes.get_errno()
m = libc.syscall(432, fs, 0, 0)
assert m >= 0, ctypes.get_errno()
assert libc.syscall(429, m, b"", -100, b"{mnt}", 4) == 0, ctypes.get_errno()
t = libc.syscall(428, -100, b"{mnt}", 1)
assert t >= 0, ctypes.get_errno()
os.close(t)
os.close(m)
os.close(fs)
assert libc.umount2(b"{mnt}", 2) == 0, ctypes.get_errno()
"#
        ),
        &marker,
    );
    wait_for(&lanner, "Test mount API", &["type=fsopen", "fs=tmpfs"]);
    wait_for(&lanner, "Test mount API", &["type=fsmount", "res=SUCCESS"]);
    wait_for(&lanner, "Test mount API", &["type=move_mount", &format!("to={mnt} ")]);
    wait_for(&lanner, "Test mount API", &["type=open_tree", &format!("tree={mnt}")]);
    lanner.stop();
}

#[test]
fn opens_submitted_through_io_uring_raise_the_open_rules() {
    if !live_allowed() {
        return;
    }
    let marker = format!("lanner-uring-{}", std::process::id());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../capture/tests/data/uring_open.py");
    let lanner = start(None);
    let ring_open = |path: &str, flags: i32| {
        let o = Command::new(PY).arg(&script).args([path, &flags.to_string(), &marker]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    // No open, openat or openat2 syscall: IORING_OP_OPENAT through a ring.
    ring_open("/etc/shadow", libc::O_RDONLY);
    let written = format!("/etc/{marker}");
    ring_open(&written, libc::O_WRONLY | libc::O_CREAT);
    let _ = std::fs::remove_file(&written);
    wait_for(&lanner, "Read Sensitive File by Untrusted Program", &["file=/etc/shadow", &marker]);
    wait_for(&lanner, "Write Below Etc", &[&format!("file={written} ")]);
    wait_for(&lanner, "io_uring Used by Unexpected Program", &[&marker]);
    lanner.stop();
}
