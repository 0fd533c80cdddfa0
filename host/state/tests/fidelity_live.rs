//! Field fidelity on the running kernel: the probe's records go through the state tables, and
//! fields are read as rules read them, each compared with what Falco answers for the same
//! process (terminal, namespace ids, sessions, executable inode, socket addresses, buffers).
//!
//! Needs root. When not root these tests fail, unless `LANNER_SKIP_LIVE=1` is set, in which
//! case each says SKIPPED.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lanner_capture::RawEvent;
use lanner_event::{Event, FieldRegistry};
use lanner_state::LiveEvent;

mod live;

use live::{Live, Seen, WAIT, field_ref, is_syscall, live, nr, temp_dir};

fn opened(raw: &RawEvent, path: &Path) -> bool {
    is_syscall(raw, "openat")
        && raw.strings.first().is_some_and(|s| s.bytes == path.as_os_str().as_encoded_bytes())
}

/// A pseudo-terminal: the master fd and the slave's path.
fn pty() -> (i32, std::ffi::CString) {
    // SAFETY: plain libc calls on a descriptor this test owns; ptsname_r gets a valid buffer.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0);
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let mut name = [0 as libc::c_char; 64];
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
        (master, std::ffi::CStr::from_ptr(name.as_ptr()).to_owned())
    }
}

/// A command run in a new session with `slave` as its controlling terminal.
fn on_terminal(cmd: &mut Command, slave: &std::ffi::CString) {
    use std::os::unix::process::CommandExt;
    let slave = slave.clone();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            let fd = libc::open(slave.as_ptr(), libc::O_RDWR);
            if fd < 0 || libc::ioctl(fd, libc::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn tty_is_the_processs_on_every_record() {
    if !live() {
        return;
    }
    let dir = temp_dir("tty");
    let (first, second) = (dir.join("first"), dir.join("second"));
    std::fs::write(&first, b"").unwrap();
    std::fs::write(&second, b"").unwrap();
    let mut live = Live::start(&[]);
    let (master, slave) = pty();
    let rdev = std::fs::metadata(slave.to_str().unwrap()).unwrap().rdev();
    // A shell on the terminal that opens two files; its syscall records carry no terminal.
    let mut sh = Command::new("/bin/sh");
    sh.arg("-c").arg(format!("cat {} {} > /dev/null", first.display(), second.display()));
    sh.stdout(Stdio::null());
    on_terminal(&mut sh, &slave);
    assert!(sh.status().unwrap().success());
    for file in [&first, &second] {
        let seen = live.find("cat's openat", &["proc.tty", "proc.name"], |raw, _| opened(raw, file));
        assert_eq!(seen.raw.tty, 0, "the syscall record itself carries no terminal");
        assert_eq!(seen.text("proc.name"), "cat");
        assert_eq!(seen.text("proc.tty"), rdev.to_string(), "Falco's proc.tty: the pty's device number");
    }
    // A process without a terminal: 0, as Falco says.
    let third = dir.join("third");
    std::fs::write(&third, b"").unwrap();
    let mut cat = Command::new("cat");
    cat.arg(&third).stdout(Stdio::null()).stdin(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cat, || {
            libc::setsid();
            Ok(())
        });
    }
    assert!(cat.status().unwrap().success());
    let seen = live.find("detached cat's openat", &["proc.tty"], |raw, _| opened(raw, &third));
    assert_eq!(seen.text("proc.tty"), "0");
    // SAFETY: our descriptor.
    unsafe { libc::close(master) };
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn namespace_ids_are_the_processs_own() {
    if !live() {
        return;
    }
    let dir = temp_dir("pidns");
    let (first, second, host) = (dir.join("first"), dir.join("second"), dir.join("host"));
    for f in [&first, &second, &host] {
        std::fs::write(f, b"").unwrap();
    }
    let mut live = Live::start(&[]);
    // A new pid namespace: the shell is its first process (1 there), its children 2 and on.
    let script =
        format!("cat {} > /dev/null; setsid cat {} > /dev/null; true", first.display(), second.display());
    let status =
        Command::new("unshare").args(["--pid", "--fork", "/bin/sh", "-c", &script]).status().unwrap();
    assert!(status.success());
    let ids = ["proc.pid", "proc.vpid", "thread.tid", "thread.vtid", "proc.pvpid", "proc.pname"];
    let sh = live.find("the namespace's shell exec", &ids, |raw, ev| {
        is_syscall(raw, "execve")
            && raw.ret == 0
            && field_text(ev, "proc.name").as_deref() == Some("sh")
            && field_text(ev, "proc.vpid").as_deref() == Some("1")
    });
    // container_started's condition: proc.vpid=1 on the namespace's first exec.
    assert_eq!(sh.text("proc.vpid"), "1");
    assert_ne!(sh.text("proc.pid"), "1");
    assert_eq!(sh.text("thread.vtid"), "1");
    let cat = live.find(
        "the first cat",
        &[&ids[..], &["proc.vpgid", "proc.pgid", "proc.sid"]].concat(),
        |raw, _| opened(raw, &first),
    );
    let vpid: i64 = cat.text("proc.vpid").parse().unwrap();
    assert!((2..100).contains(&vpid), "a child of the namespace's init: {vpid}");
    assert_ne!(cat.text("proc.pid"), cat.text("proc.vpid"));
    assert_eq!(cat.text("thread.vtid"), cat.text("proc.vpid"));
    assert_eq!(cat.text("proc.pvpid"), "1", "its parent is the namespace's init");
    // SAFETY: getpgrp and getsid have no preconditions.
    let (pgrp, sid) = unsafe { (libc::getpgrp(), libc::getsid(0)) };
    // Its group is unshare's, led from outside the namespace: Falco's probe gives a group's
    // id in the namespace the group's pid lives in, the host's here.
    assert_eq!(cat.text("proc.vpgid"), pgrp.to_string());
    assert_eq!(cat.text("proc.pgid"), pgrp.to_string());
    assert_eq!(cat.text("proc.sid"), sid.to_string());
    // setsid: a session and group of its own, in both namespaces.
    let leader = live.find(
        "the session leader cat",
        &[
            "proc.pid",
            "proc.vpid",
            "proc.vpgid",
            "proc.pgid",
            "proc.sid",
            "proc.is_vpgid_leader",
            "proc.is_sid_leader",
        ],
        |raw, _| opened(raw, &second),
    );
    assert_eq!(leader.text("proc.vpgid"), leader.text("proc.vpid"));
    assert_eq!(leader.text("proc.pgid"), leader.text("proc.pid"));
    assert_eq!(leader.text("proc.sid"), leader.text("proc.pid"));
    assert_eq!(leader.text("proc.is_vpgid_leader"), "true");
    assert_eq!(leader.text("proc.is_sid_leader"), "true");
    // On the host, the ids are the same in both views.
    assert!(Command::new("cat").arg(&host).stdout(Stdio::null()).status().unwrap().success());
    let h = live.find("the host cat", &ids, |raw, _| opened(raw, &host));
    assert_eq!(h.text("proc.vpid"), h.text("proc.pid"));
    assert_eq!(h.text("thread.vtid"), h.text("thread.tid"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn seeded_processes_have_their_namespace_ids() {
    if !live() {
        return;
    }
    // A process in its own pid namespace that started before capture: its ids come from
    // /proc/<pid>/status.
    let mut child = Command::new("unshare")
        .args(["--pid", "--fork", "/bin/sh", "-c", "read line"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let unshare = child.id();
    let deadline = Instant::now() + WAIT;
    let sh = loop {
        let kids =
            std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children")).unwrap_or_default();
        if let Some(pid) = kids.split_whitespace().next().and_then(|p| p.parse::<u32>().ok())
            && std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sh")
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the namespace's shell started");
        std::thread::sleep(Duration::from_millis(10));
    };
    let live = Live::start(&[]);
    let p = live.state.table.procs.get(&sh).expect("the shell is seeded");
    assert_eq!(p.vpid, 1);
    assert_eq!(live.state.table.vtid(p, sh), 1);
    drop(child.stdin.take());
    child.wait().unwrap();
}

/// A field of an event as text, for predicates.
fn field_text(ev: &LiveEvent<'_>, name: &str) -> Option<String> {
    let reg = FieldRegistry::with_syscall_fields();
    ev.field(&field_ref(&reg, name)).map(|v| v.to_string())
}

/// Runs a Python script (with `dir` as its first argument), on `slave` as its terminal when
/// given; waits for it.
fn python(script: &str, dir: &Path, slave: Option<&std::ffi::CString>) {
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(script).arg(dir).stdout(Stdio::null());
    if let Some(s) = slave {
        on_terminal(&mut cmd, s);
    }
    let out = cmd.status().unwrap();
    assert!(out.success(), "the script ran: {out:?}");
}

#[test]
fn sessions_groups_and_reparenting_are_followed() {
    if !live() {
        return;
    }
    let dir = temp_dir("session");
    let mut live = Live::start(&[]);
    let (master, slave) = pty();
    // The process changes group, then a child of it changes session, without an exec; the
    // parent moves another child to a group of its own (as a shell's job control does); a
    // grandchild outlives its parent and is reparented.
    let script = r#"
import os, sys, time
d = sys.argv[1]
top = os.fork()
if top != 0:
    os.waitpid(top, 0)
    sys.exit(0)
os.setpgid(0, 0)
open(d + "/grouped-%d" % os.getsid(0), "w").close()
r, w = os.pipe()
kid = os.fork()
if kid == 0:
    os.setsid()
    open(d + "/session", "w").close()
    os._exit(0)
os.waitpid(kid, 0)
job = os.fork()
if job == 0:
    os.read(r, 1)
    open(d + "/job", "w").close()
    os._exit(0)
os.setpgid(job, job)
os.write(w, b"x")
os.waitpid(job, 0)
mid = os.fork()
if mid == 0:
    parent = os.getpid()
    orphan = os.fork()
    if orphan == 0:
        while os.getppid() == parent:
            time.sleep(0.01)
        open(d + "/reaped-%d" % os.getppid(), "w").close()
        os._exit(0)
    os._exit(0)
os.waitpid(mid, 0)
time.sleep(0.5)
"#;
    python(script, &dir, Some(&slave));
    let rdev = std::fs::metadata(slave.to_str().unwrap()).unwrap().rdev();
    let fields = [
        "proc.pid",
        "proc.vpid",
        "proc.pgid",
        "proc.vpgid",
        "proc.sid",
        "proc.tty",
        "proc.ppid",
        "proc.pname",
    ];
    let grouped = live.find("the regrouped process", &fields, |raw, _| opened_prefix(raw, &dir, "grouped-"));
    assert_eq!(grouped.text("proc.pgid"), grouped.text("proc.pid"), "setpgid(0, 0)");
    assert_eq!(grouped.text("proc.vpgid"), grouped.text("proc.vpid"));
    assert_eq!(grouped.text("proc.sid"), suffix(&grouped), "the session of its terminal");
    assert_ne!(grouped.text("proc.sid"), grouped.text("proc.pid"));
    assert_eq!(grouped.text("proc.tty"), rdev.to_string());
    let session = live.find("the new session", &fields, |raw, _| opened_path(raw, &dir.join("session")));
    assert_eq!(session.text("proc.sid"), session.text("proc.pid"), "setsid");
    assert_eq!(session.text("proc.pgid"), session.text("proc.pid"));
    assert_eq!(session.text("proc.tty"), "0", "a new session has no terminal");
    let job = live.find("the job", &fields, |raw, _| opened_path(raw, &dir.join("job")));
    assert_eq!(job.text("proc.pgid"), job.text("proc.pid"), "its parent's setpgid(job, job)");
    assert_eq!(job.text("proc.sid"), grouped.text("proc.sid"));
    let reaped = live.find("the orphan", &fields, |raw, _| opened_prefix(raw, &dir, "reaped-"));
    let reaper = suffix(&reaped);
    assert_eq!(reaped.text("proc.ppid"), reaper, "the reaper the kernel chose");
    let comm = std::fs::read_to_string(format!("/proc/{reaper}/comm")).unwrap();
    assert_eq!(reaped.get("proc.pname"), Some(comm.trim()));
    // SAFETY: our descriptor.
    unsafe { libc::close(master) };
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ancestry_survives_a_parents_exit() {
    if !live() {
        return;
    }
    let dir = temp_dir("orphans");
    let mut live = Live::start(&[]);
    // An orphan's child: its ancestry goes through the orphan, which makes no captured syscall
    // after its parent exits (it waits), so only the exit's reparenting keeps its parent right.
    let script = r#"
import os, sys, time
d = sys.argv[1]
mid = os.fork()
if mid == 0:
    first = os.getpid()
    orphan = os.fork()
    if orphan == 0:
        leaf = os.fork()
        if leaf == 0:
            me = os.getppid()
            def parent_of(pid):
                stat = open("/proc/%d/stat" % pid).read()
                return int(stat[stat.rindex(")") + 2:].split()[1])
            while parent_of(me) == first:
                time.sleep(0.01)
            open(d + "/leaf-%d" % parent_of(me), "w").close()
            os._exit(0)
        os.waitpid(leaf, 0)
        os._exit(0)
    time.sleep(0.2)
    os._exit(0)
os.waitpid(mid, 0)
time.sleep(1)
"#;
    python(script, &dir, None);
    let leaf = live.find("the orphan's child", &["proc.aname[2]", "proc.apid[2]", "proc.pname"], |raw, _| {
        opened_prefix(raw, &dir, "leaf-")
    });
    let reaper = suffix(&leaf);
    assert_eq!(leaf.text("proc.apid[2]"), reaper, "the grandparent is the orphan's reaper");
    let comm = std::fs::read_to_string(format!("/proc/{reaper}/comm")).unwrap();
    assert_eq!(leaf.get("proc.aname[2]"), Some(comm.trim()));
    let _ = std::fs::remove_dir_all(&dir);
}

fn opened_path(raw: &RawEvent, path: &Path) -> bool {
    is_syscall(raw, "openat")
        && raw.strings.first().is_some_and(|s| s.bytes == path.as_os_str().as_encoded_bytes())
}

/// An openat of a file in `dir` whose name starts with `prefix`.
fn opened_prefix(raw: &RawEvent, dir: &Path, prefix: &str) -> bool {
    let start = dir.join(prefix);
    is_syscall(raw, "openat")
        && raw.strings.first().is_some_and(|s| s.bytes.starts_with(start.as_os_str().as_encoded_bytes()))
}

/// The number after the last `-` of the opened file's name.
fn suffix(seen: &Seen) -> String {
    let name = String::from_utf8_lossy(&seen.raw.strings[0].bytes).into_owned();
    name.rsplit('-').next().unwrap().to_string()
}

/// An inode's time in nanoseconds since the epoch.
fn ns(secs: i64, nsecs: i64) -> String {
    (secs as u64 * 1_000_000_000 + nsecs as u64).to_string()
}

const EXE_FIELDS: [&str; 8] = [
    "proc.exe_ino",
    "proc.exe_ino.ctime",
    "proc.exe_ino.mtime",
    "proc.exe_ino.ctime_duration_proc_start",
    "proc.is_exe_writable",
    "proc.is_exe_upper_layer",
    "proc.is_exe_lower_layer",
    "proc.name",
];

/// An overlay mount of `lower` (holding a copy of cat) under `dir`, unmounted on drop.
struct Overlay {
    merged: PathBuf,
}

impl Overlay {
    fn mount(dir: &Path) -> Self {
        let (lower, upper, work, merged) =
            (dir.join("lower"), dir.join("upper"), dir.join("work"), dir.join("merged"));
        for d in [&lower, &upper, &work, &merged] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::copy("/bin/cat", lower.join("lowercat")).unwrap();
        let opts =
            format!("lowerdir={},upperdir={},workdir={}", lower.display(), upper.display(), work.display());
        let status = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts])
            .arg(&merged)
            .status()
            .unwrap();
        assert!(status.success(), "overlay mounts");
        Overlay { merged }
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.merged).status();
    }
}

#[test]
fn executable_inode_and_layer_are_read_at_exec() {
    if !live() {
        return;
    }
    let dir = temp_dir("exe");
    let target = dir.join("target");
    std::fs::write(&target, b"").unwrap();
    let overlay = Overlay::mount(&dir);
    let mut live = Live::start(&[]);

    // A binary written just now, run by its owner: writable, not on an overlay.
    let mine = dir.join("mycat");
    std::fs::copy("/bin/cat", &mine).unwrap();
    let meta = std::fs::metadata(&mine).unwrap();
    assert!(Command::new(&mine).arg(&target).stdout(Stdio::null()).status().unwrap().success());
    let seen = live.find("mycat's openat", &EXE_FIELDS, |raw, ev| {
        opened(raw, &target) && field_text(ev, "proc.name").as_deref() == Some("mycat")
    });
    assert_eq!(seen.text("proc.exe_ino"), meta.ino().to_string());
    assert_eq!(seen.text("proc.exe_ino.ctime"), ns(meta.ctime(), meta.ctime_nsec()));
    assert_eq!(seen.text("proc.exe_ino.mtime"), ns(meta.mtime(), meta.mtime_nsec()));
    let since: u64 = seen.text("proc.exe_ino.ctime_duration_proc_start").parse().unwrap();
    assert!(
        since > 0 && since < 60_000_000_000,
        "the binary changed just before the process started: {since} ns"
    );
    assert_eq!(seen.text("proc.is_exe_writable"), "true");
    assert_eq!(seen.text("proc.is_exe_upper_layer"), "false");
    assert_eq!(seen.text("proc.is_exe_lower_layer"), "false");

    // The same binary from the image (lower) layer, and one dropped into the upper layer.
    let dropped = overlay.merged.join("droppedcat");
    std::fs::copy("/bin/cat", &dropped).unwrap();
    for (exe, upper) in [(overlay.merged.join("lowercat"), false), (dropped, true)] {
        let name = exe.file_name().unwrap().to_string_lossy().into_owned();
        assert!(Command::new(&exe).arg(&target).stdout(Stdio::null()).status().unwrap().success());
        let seen = live.find(&name, &EXE_FIELDS, |raw, ev| {
            opened(raw, &target) && field_text(ev, "proc.name").as_deref() == Some(name.as_str())
        });
        assert_eq!(seen.text("proc.is_exe_upper_layer"), upper.to_string(), "{name}");
        assert_eq!(seen.text("proc.is_exe_lower_layer"), (!upper).to_string(), "{name}");
        assert_eq!(seen.text("proc.exe_ino"), std::fs::metadata(&exe).unwrap().ino().to_string(), "{name}");
    }

    // Root's binary run by nobody: not writable.
    use std::os::unix::process::CommandExt;
    let mut cat = Command::new("/bin/cat");
    cat.arg(&target).stdout(Stdio::null()).uid(65534).gid(65534);
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    assert!(cat.status().unwrap().success());
    let seen = live.find("nobody's cat", &EXE_FIELDS, |raw, _| opened(raw, &target) && raw.uid == 65534);
    assert_eq!(seen.text("proc.is_exe_writable"), "false");
    assert_eq!(seen.text("proc.exe_ino"), std::fs::metadata("/bin/cat").unwrap().ino().to_string());
    drop(overlay);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn seeded_processes_have_their_executables_inode() {
    if !live() {
        return;
    }
    let live = Live::start(&[]);
    let me = live.state.table.procs.get(&std::process::id()).expect("this process is seeded");
    let exe = std::fs::metadata(std::env::current_exe().unwrap()).unwrap();
    assert_eq!(me.exe_ino, exe.ino());
    assert_eq!(me.exe_ctime.to_string(), ns(exe.ctime(), exe.ctime_nsec()));
    assert_eq!(me.exe_mtime.to_string(), ns(exe.mtime(), exe.mtime_nsec()));
    assert!(me.exe_writable, "root owns its test binary");
}

const SOCK_FIELDS: [&str; 11] = [
    "fd.name",
    "fd.lip",
    "fd.lport",
    "fd.rip",
    "fd.rport",
    "fd.cip",
    "fd.cport",
    "fd.sip",
    "fd.sport",
    "fd.is_server",
    "fd.num",
];

#[test]
fn sockets_have_both_ends_client_and_server() {
    use std::os::fd::AsRawFd;
    if !live() {
        return;
    }
    let mut live = Live::start(&["recvfrom", "recvmsg"]);
    let me = std::process::id();
    // A listener on every address; a client connects to it on the loopback.
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let sport = listener.local_addr().unwrap().port();
    let client = std::net::TcpStream::connect(("127.0.0.1", sport)).unwrap();
    let cport = client.local_addr().unwrap().port();
    let cfd = client.as_raw_fd() as u64;
    // Accepted without asking for the peer: the kernel's socket says it.
    // SAFETY: a listening socket this test owns; NULL address and length are allowed.
    let afd = unsafe { libc::accept4(listener.as_raw_fd(), std::ptr::null_mut(), std::ptr::null_mut(), 0) };
    assert!(afd >= 0);
    let connect = live.find("the client's connect", &SOCK_FIELDS, |raw, _| {
        raw.tgid == me && is_syscall(raw, "connect") && raw.args[0] == cfd && raw.ret == 0
    });
    let (c, s) = (format!("{cport}"), format!("{sport}"));
    assert_eq!(connect.text("fd.name"), format!("127.0.0.1:{c}->127.0.0.1:{s}"));
    assert_eq!(connect.text("fd.lip"), "127.0.0.1");
    assert_eq!(connect.text("fd.lport"), c, "the local port the kernel chose");
    assert_eq!(connect.text("fd.cip"), "127.0.0.1");
    assert_eq!(connect.text("fd.cport"), c);
    assert_eq!(connect.text("fd.sip"), "127.0.0.1");
    assert_eq!(connect.text("fd.sport"), s);
    assert_eq!(connect.text("fd.is_server"), "false");
    let accept = live.find("the server's accept", &SOCK_FIELDS, |raw, _| {
        raw.tgid == me && is_syscall(raw, "accept4") && raw.ret == afd as i64
    });
    assert_eq!(accept.text("fd.lip"), "127.0.0.1", "the accepted socket's address, not 0.0.0.0");
    assert_eq!(accept.text("fd.lport"), s);
    assert_eq!(accept.text("fd.rip"), "127.0.0.1");
    assert_eq!(accept.text("fd.rport"), c);
    assert_eq!(accept.text("fd.cip"), "127.0.0.1");
    assert_eq!(accept.text("fd.cport"), c);
    assert_eq!(accept.text("fd.sip"), "127.0.0.1");
    assert_eq!(accept.text("fd.sport"), s);
    assert_eq!(accept.text("fd.is_server"), "true");
    assert_eq!(accept.text("fd.name"), format!("127.0.0.1:{c}->127.0.0.1:{s}"));
    // SAFETY: our descriptor.
    unsafe { libc::close(afd) };

    // A datagram server learns its peer from recvfrom and recvmsg.
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let uport = server.local_addr().unwrap().port().to_string();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let pport = sender.local_addr().unwrap().port().to_string();
    let sfd = server.as_raw_fd() as u64;
    sender.send_to(b"ping", server.local_addr().unwrap()).unwrap();
    let mut buf = [0u8; 16];
    server.recv_from(&mut buf).unwrap();
    let recv = live.find("recvfrom", &SOCK_FIELDS, |raw, _| {
        raw.tgid == me && is_syscall(raw, "recvfrom") && raw.args[0] == sfd && raw.ret == 4
    });
    assert_eq!(recv.text("fd.rip"), "127.0.0.1");
    assert_eq!(recv.text("fd.rport"), pport, "the sender");
    assert_eq!(recv.text("fd.cport"), pport);
    assert_eq!(recv.text("fd.lport"), uport);
    assert_eq!(recv.text("fd.sport"), uport);
    assert_eq!(recv.text("fd.lip"), "127.0.0.1");
    assert_eq!(recv.text("fd.is_server"), "true");
    // recvmsg from another sender.
    let other = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let oport = other.local_addr().unwrap().port().to_string();
    other.send_to(b"pong", server.local_addr().unwrap()).unwrap();
    // SAFETY: a msghdr over buffers that outlive the call.
    let got = unsafe {
        let mut name: libc::sockaddr_storage = std::mem::zeroed();
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&raw mut name).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        libc::recvmsg(server.as_raw_fd(), &mut msg, 0)
    };
    assert_eq!(got, 4);
    let recvmsg = live.find("recvmsg", &SOCK_FIELDS, |raw, _| {
        raw.tgid == me && is_syscall(raw, "recvmsg") && raw.args[0] == sfd && raw.ret == 4
    });
    assert_eq!(recvmsg.text("fd.rport"), oport, "the new sender");
    assert_eq!(recvmsg.text("fd.cport"), oport);
    assert_eq!(recvmsg.text("fd.sport"), uport);
    drop(client);
}

#[test]
fn data_is_kept_up_to_the_snaplen_only_when_asked() {
    use std::os::fd::AsRawFd;
    if !live() {
        return;
    }
    let data_calls = ["write", "readv", "sendmsg", "recvfrom"];
    let mut live = Live::start_with(&["write", "readv", "sendmsg", "recvfrom", "read"], |c| {
        c.data_syscalls = data_calls.iter().map(|n| nr(n)).collect();
    });
    let me = std::process::id();
    let mut fds = [0i32; 2];
    // SAFETY: a valid array for the two pipe fds.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let long: Vec<u8> = (0..200u32).map(|i| b'a' + (i % 26) as u8).collect();
    // SAFETY: valid buffers and fds this test owns.
    unsafe {
        assert_eq!(libc::write(fds[1], long.as_ptr().cast(), long.len()), 200);
        let (mut a, mut b) = ([0u8; 5], [0u8; 300]);
        let iov = [
            libc::iovec { iov_base: a.as_mut_ptr().cast(), iov_len: a.len() },
            libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() },
        ];
        assert_eq!(libc::readv(fds[0], iov.as_ptr(), 2), 200);
        assert_eq!(libc::write(fds[1], b"short".as_ptr().cast(), 5), 5);
        let mut c = [0u8; 8];
        assert_eq!(libc::read(fds[0], c.as_mut_ptr().cast(), c.len()), 5);
    }
    let buffer = |seen: &Seen| seen.get("evt.buffer").map(str::to_string);
    let w = live.find("the long write", &["evt.buffer"], |raw, _| {
        raw.tgid == me && is_syscall(raw, "write") && raw.args[0] == fds[1] as u64 && raw.ret == 200
    });
    let first80 = String::from_utf8(long[..80].to_vec()).unwrap();
    assert_eq!(buffer(&w).as_deref(), Some(first80.as_str()), "Falco's snaplen: 80 bytes");
    assert!(w.raw.data.as_ref().unwrap().truncated);
    let r = live.find("the readv", &["evt.buffer"], |raw, _| {
        raw.tgid == me && is_syscall(raw, "readv") && raw.args[0] == fds[0] as u64
    });
    assert_eq!(buffer(&r).as_deref(), Some(first80.as_str()), "across the two iovecs");
    let short = live.find("the short write", &["evt.buffer"], |raw, _| {
        raw.tgid == me && is_syscall(raw, "write") && raw.ret == 5
    });
    assert_eq!(buffer(&short).as_deref(), Some("short"));
    assert!(!short.raw.data.as_ref().unwrap().truncated);
    // read is delivered but no rule asked for its data: none is copied.
    let read = live.find("the read", &["evt.buffer"], |raw, _| {
        raw.tgid == me && is_syscall(raw, "read") && raw.args[0] == fds[0] as u64 && raw.ret == 5
    });
    assert_eq!(read.get("evt.buffer"), None);
    assert!(read.raw.data.is_none());
    // Datagrams: sendmsg's iovecs and recvfrom's buffer.
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client.connect(server.local_addr().unwrap()).unwrap();
    // SAFETY: a msghdr over a buffer that outlives the call.
    unsafe {
        let mut iov = libc::iovec { iov_base: b"GET / HTTP/1.1".as_ptr() as *mut _, iov_len: 14 };
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        assert_eq!(libc::sendmsg(client.as_raw_fd(), &msg, 0), 14);
    }
    let mut got = [0u8; 64];
    assert_eq!(server.recv_from(&mut got).unwrap().0, 14);
    for call in ["sendmsg", "recvfrom"] {
        let seen = live
            .find(call, &["evt.buffer"], |raw, _| raw.tgid == me && is_syscall(raw, call) && raw.ret == 14);
        assert_eq!(buffer(&seen).as_deref(), Some("GET / HTTP/1.1"), "{call}");
    }
    // SAFETY: our descriptors.
    unsafe {
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
}
