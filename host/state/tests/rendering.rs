//! Syscall arguments on the running kernel, read as rules read them, against the values
//! Falco gives for the same calls (libsinsp's rendering of its exit events): modes by name,
//! open flags in Falco's order, fds and errnos resolved, uids and gids as names where Falco
//! resolves them, `evt.arg[N]` by Falco's parameter lists, `fd.num` -1 on a failed open.
//!
//! Needs root. When not root these tests fail, unless `LANNER_SKIP_LIVE=1` is set, in which
//! case each says SKIPPED.

use std::path::Path;
use std::process::Command;

use lanner_capture::RawEvent;

mod live;

use live::{Live, Seen, is_syscall, live, temp_dir};

/// This test file's searches: one process's calls of one of `syscall`.
trait Calls {
    /// The first call of `syscall` by process `pid` satisfying `pred`, with `fields` read.
    fn call(&mut self, pid: u32, syscall: &[&str], fields: &[&str], pred: impl Fn(&RawEvent) -> bool)
    -> Seen;
    /// The first call of `syscall` of any process satisfying `pred`: its pid and the socket
    /// call's fields.
    fn call_any(&mut self, syscall: &[&str], pred: impl Fn(&RawEvent) -> bool + Copy) -> (u32, Seen);
}

impl Calls for Live {
    fn call(
        &mut self,
        pid: u32,
        syscall: &[&str],
        fields: &[&str],
        pred: impl Fn(&RawEvent) -> bool,
    ) -> Seen {
        let what = format!("{syscall:?} of process {pid}");
        self.find(&what, fields, |raw, _| {
            raw.tgid == pid && syscall.iter().any(|s| is_syscall(raw, s)) && pred(raw)
        })
    }

    fn call_any(&mut self, syscall: &[&str], pred: impl Fn(&RawEvent) -> bool + Copy) -> (u32, Seen) {
        let pid = self.peek(syscall, pred).tgid;
        let fields =
            ["evt.arg.domain", "evt.arg.type", "evt.arg.proto", "evt.arg.flags", "evt.arg[0]", "evt.arg.fd"];
        // The same predicate again: the process may have made other such calls first (an
        // AF_UNIX socket to a name service before the AF_INET one).
        (pid, self.call(pid, syscall, &fields, pred))
    }
}

/// Runs a Python script (its process is the one whose records are read); returns its pid.
fn python(script: &str) -> u32 {
    let mut child = Command::new("python3").arg("-c").arg(script).spawn().expect("python3 runs");
    let pid = child.id();
    let status = child.wait().unwrap();
    assert!(status.success(), "the script failed: {script}");
    pid
}

fn path_is(raw: &RawEvent, i: usize, path: &Path) -> bool {
    raw.strings.get(i).is_some_and(|s| s.bytes == path.as_os_str().as_encoded_bytes())
}

#[test]
fn modes_flags_fds_and_paths_render_as_falco() {
    if !live() {
        return;
    }
    let dir = temp_dir("modes");
    let file = dir.join("mode-marker");
    let created = dir.join("created");
    let sub = dir.join("sub");
    let mut live = Live::start(&["chmod", "fchmodat", "mkdir", "mkdirat"]);
    let pid = python(&format!(
        "import os\nopen({file:?}, 'w').close()\nos.chmod({file:?}, 0o4755)\nos.mkdir({sub:?}, 0o750)\n\
         open({created:?}, 'w').close()\n\
         fd = os.open({created:?}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)\nos.chdir({dir:?})\n\
         os.open('relative', os.O_RDONLY | os.O_CREAT, 0o600)\n",
        file = file.display().to_string(),
        sub = sub.display().to_string(),
        created = created.display().to_string(),
        dir = dir.display().to_string(),
    ));

    let fields = [
        "evt.type",
        "evt.arg.mode",
        "evt.arg.filename",
        "evt.arg[0]",
        "evt.arg[1]",
        "evt.arg[2]",
        "evt.arg[3]",
        "evt.res",
        "evt.arg.res",
    ];
    let chmod = live.call(pid, &["chmod", "fchmodat"], &fields, |r| {
        r.strings.iter().any(|s| s.bytes.ends_with(b"mode-marker"))
    });
    let mode = "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID";
    assert_eq!(chmod.text("evt.arg.mode"), mode);
    assert_eq!(chmod.text("evt.arg.filename"), file.display().to_string());
    assert_eq!(chmod.text("evt.res"), "SUCCESS");
    assert_eq!(chmod.text("evt.arg.res"), "0");
    assert_eq!(chmod.text("evt.arg[0]"), "0");
    if chmod.text("evt.type") == "fchmodat" {
        // res, dirfd, filename, mode.
        assert_eq!(chmod.text("evt.arg[1]"), "AT_FDCWD");
        assert_eq!(chmod.text("evt.arg[3]"), mode);
    } else {
        // res, filename, mode.
        assert_eq!(chmod.text("evt.arg[2]"), mode);
    }

    // mkdir's mode is a plain number in hex in Falco's table (PT_UINT32, PF_HEX).
    let mkdir = live.call(pid, &["mkdir", "mkdirat"], &["evt.type", "evt.arg.mode", "evt.arg.path"], |r| {
        r.strings.iter().any(|s| s.bytes.ends_with(b"/sub"))
    });
    assert_eq!(mkdir.text("evt.arg.mode"), "1E8");
    assert_eq!(mkdir.text("evt.arg.path"), sub.display().to_string());

    // An open's mode in octal (PF_OCT), its flags by name in Falco's table order (Python adds
    // O_CLOEXEC), its fd resolved to the file. The file exists already: Falco would add
    // O_F_CREATED for an open that created it, which the probe does not report.
    let open_fields = [
        "evt.arg.flags",
        "evt.arg.mode",
        "evt.arg.fd",
        "evt.arg[0]",
        "evt.arg[1]",
        "evt.arg[2]",
        "fd.num",
        "evt.args",
    ];
    let open =
        live.call(pid, &["openat", "open"], &open_fields, |r| path_is(r, 0, &created) && r.args[3] == 0o640);
    assert_eq!(open.text("evt.arg.flags"), "O_TRUNC|O_CREAT|O_WRONLY|O_CLOEXEC");
    assert_eq!(open.text("evt.arg.mode"), "0640");
    let fd = open.text("fd.num").to_string();
    assert_eq!(open.text("evt.arg.fd"), format!("<f>{}", created.display()));
    assert_eq!(open.text("evt.arg[0]"), format!("<f>{}", created.display()));
    assert_eq!(open.text("evt.arg[1]"), "AT_FDCWD");
    assert_eq!(open.text("evt.arg[2]"), created.display().to_string());
    assert!(
        open.text("evt.args").starts_with(&format!(
            "fd={fd}(<f>{}) dirfd=-100(AT_FDCWD) name={} flags=4358(O_TRUNC|O_CREAT|O_WRONLY|O_CLOEXEC) mode=0640",
            created.display(),
            created.display()
        )),
        "{}",
        open.text("evt.args")
    );

    // A relative path: as written, resolved against the cwd.
    let rel = live.call(pid, &["openat", "open"], &["evt.arg.name", "evt.args", "evt.arg.mode"], |r| {
        r.strings.first().is_some_and(|s| s.bytes == b"relative")
    });
    assert_eq!(rel.text("evt.arg.name"), dir.join("relative").display().to_string());
    assert_eq!(rel.text("evt.arg.mode"), "0600");
    assert!(
        rel.text("evt.args").contains(&format!("name=relative({})", dir.join("relative").display())),
        "{}",
        rel.text("evt.args")
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_failed_open_has_fd_minus_one_and_errno_names() {
    if !live() {
        return;
    }
    let mut live = Live::start(&[]);
    let pid = python(
        "import os\ntry:\n    os.open('/nonexistent-lanner-dir/x', os.O_RDONLY)\nexcept FileNotFoundError:\n    pass\n",
    );
    let f = live.call(
        pid,
        &["openat", "open"],
        &[
            "fd.num",
            "evt.res",
            "evt.rawres",
            "evt.arg.fd",
            "evt.arg[0]",
            "evt.arg.flags",
            "evt.arg.name",
            "fd.typechar",
            "evt.failed",
        ],
        |r| r.strings.first().is_some_and(|s| s.bytes.starts_with(b"/nonexistent-lanner-dir")),
    );
    // Falco's "open of a missing file" shape: fd.typechar='f' and fd.num=-1 and evt.res startswith E.
    assert_eq!(f.text("fd.num"), "-1");
    assert_eq!(f.text("fd.typechar"), "f");
    assert_eq!(f.text("evt.res"), "ENOENT");
    assert_eq!(f.text("evt.rawres"), "-2");
    assert_eq!(f.text("evt.failed"), "true");
    assert_eq!(f.text("evt.arg.fd"), "ENOENT");
    assert_eq!(f.text("evt.arg[0]"), "ENOENT");
    assert_eq!(f.text("evt.arg.flags"), "O_RDONLY|O_CLOEXEC");
    assert_eq!(f.text("evt.arg.name"), "/nonexistent-lanner-dir/x");
}

#[test]
fn uids_and_gids_are_names_where_falco_resolves_them() {
    if !live() {
        return;
    }
    let dir = temp_dir("uids");
    let file = dir.join("owned");
    std::fs::write(&file, "x").unwrap();
    let mut live = Live::start(&["chown", "fchownat", "setuid", "setgid", "setresuid"]);
    let pid = python(&format!(
        "import os\nos.chown({f:?}, 65534, 65534)\nos.setgid(65534)\nos.setresuid(-1, 65534, -1)\n\
         os.setresuid(-1, 0, -1)\nos.setuid(65534)\ntry:\n    os.setuid(0)\nexcept PermissionError:\n    pass\n",
        f = file.display().to_string()
    ));
    // chown's ids are plain numbers in Falco (PT_UINT32).
    let chown = live.call(pid, &["chown", "fchownat"], &["evt.arg.uid", "evt.arg.gid"], |_| true);
    assert_eq!(chown.text("evt.arg.uid"), "65534");
    assert_eq!(chown.text("evt.arg.gid"), "65534");
    // setgid, setresuid and setuid take PT_GID / PT_UID: names, <NONE> for -1.
    let setgid = live.call(pid, &["setgid"], &["evt.arg.gid", "evt.arg[1]", "evt.args"], |_| true);
    assert_eq!(setgid.text("evt.arg.gid"), "nogroup");
    assert_eq!(setgid.text("evt.arg[1]"), "nogroup");
    assert_eq!(setgid.text("evt.args"), "res=0 gid=65534(nogroup)");
    let setresuid =
        live.call(pid, &["setresuid"], &["evt.arg.ruid", "evt.arg.euid", "evt.arg.suid", "evt.args"], |_| {
            true
        });
    assert_eq!(setresuid.text("evt.arg.ruid"), "<NONE>");
    assert_eq!(setresuid.text("evt.arg.euid"), "nobody");
    assert_eq!(setresuid.text("evt.args"), "res=0 ruid=-1(<NONE>) euid=65534(nobody) suid=-1(<NONE>)");
    let back = live.call(pid, &["setresuid"], &["evt.arg.euid"], |_| true);
    assert_eq!(back.text("evt.arg.euid"), "root");
    let setuid = live.call(pid, &["setuid"], &["evt.arg.uid", "evt.res"], |_| true);
    assert_eq!(setuid.text("evt.arg.uid"), "nobody");
    assert_eq!(setuid.text("evt.res"), "SUCCESS");
    let denied =
        live.call(pid, &["setuid"], &["evt.arg.uid", "evt.res", "evt.arg.res", "evt.arg[0]"], |_| true);
    assert_eq!(denied.text("evt.arg.uid"), "root");
    assert_eq!(denied.text("evt.res"), "EPERM");
    assert_eq!(denied.text("evt.arg.res"), "EPERM");
    assert_eq!(denied.text("evt.arg[0]"), "EPERM");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn execve_parameters_are_falcos_list() {
    if !live() {
        return;
    }
    let mut live = Live::start(&[]);
    let mut child =
        Command::new("/bin/sh").args(["-c", "exec /bin/true lanner-exec-marker"]).spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let fields = [
        "evt.arg[0]",
        "evt.arg[1]",
        "evt.arg[2]",
        "evt.arg[13]",
        "evt.arg.res",
        "evt.arg.exe",
        "evt.arg.args",
        "evt.arg.comm",
        "evt.arg.pid",
        "evt.arg.filename",
        "evt.arg[30]",
        "evt.arg.uid",
        "evt.arg.cwd",
        "evt.arg[31]",
        "evt.res",
    ];
    let ex =
        live.call(pid, &["execve"], &fields, |r| r.strings.first().is_some_and(|s| s.bytes == b"/bin/true"));
    assert_eq!(ex.text("evt.arg[0]"), "0");
    assert_eq!(ex.text("evt.arg.res"), "0");
    assert_eq!(ex.text("evt.res"), "SUCCESS");
    assert_eq!(ex.text("evt.arg[1]"), "/bin/true");
    assert_eq!(ex.text("evt.arg.exe"), "/bin/true");
    // args: NUL-separated, each NUL shown as a dot.
    assert_eq!(ex.text("evt.arg[2]"), "lanner-exec-marker.");
    assert_eq!(ex.text("evt.arg.args"), "lanner-exec-marker.");
    assert_eq!(ex.text("evt.arg[13]"), "true");
    assert_eq!(ex.text("evt.arg.comm"), "true");
    // A pid parameter resolves to its process's name.
    assert_eq!(ex.text("evt.arg.pid"), "true");
    assert_eq!(ex.text("evt.arg.filename"), "/bin/true");
    assert_eq!(ex.text("evt.arg[30]"), "/bin/true");
    assert_eq!(ex.text("evt.arg.uid"), "root");
    // Falco's probe does not send the cwd; there is no 32nd parameter.
    assert!(ex.missing("evt.arg.cwd"));
    assert!(ex.missing("evt.arg[31]"));
}

/// Runs `script` with sh; the `evt.arg.flags` of its process's execve of `exe`.
fn exec_flags(live: &mut Live, script: &str, exe: &str) -> String {
    let mut child = Command::new("/bin/sh").args(["-c", script]).spawn().unwrap();
    let pid = child.id();
    assert!(child.wait().unwrap().success(), "{script}");
    let seen = live.call(pid, &["execve"], &["evt.arg.flags", "evt.arg[19]", "evt.res"], |r| {
        r.strings.first().is_some_and(|s| s.bytes == exe.as_bytes())
    });
    assert_eq!(seen.text("evt.res"), "SUCCESS");
    assert_eq!(seen.text("evt.arg.flags"), seen.text("evt.arg[19]"));
    seen.text("evt.arg.flags").to_string()
}

#[test]
fn execve_flags_are_falcos_exe_flags() {
    if !live() {
        return;
    }
    let dir = temp_dir("exeflags");
    let mut live = Live::start(&[]);
    // Root owns /bin/true: writable for root, not for nobody (Falco: no flag, the number 0).
    assert_eq!(exec_flags(&mut live, "exec /bin/true", "/bin/true"), "EXE_WRITABLE");
    let nobody =
        "exec python3 -c \"import os; os.setgid(65534); os.setuid(65534); os.execv('/bin/true', ['true'])\"";
    assert_eq!(exec_flags(&mut live, nobody, "/bin/true"), "0");
    // A binary run from an anonymous memory file.
    let memfd = "exec python3 -c \"import os; fd = os.memfd_create('lanner', 0); os.write(fd, open('/bin/true', 'rb').read()); os.execv('/proc/self/fd/%d' % fd, ['x'])\"";
    let flags = exec_flags(&mut live, memfd, "/proc/self/fd/3");
    assert_eq!(flags, "EXE_WRITABLE|EXE_FROM_MEMFD");
    // overlayfs: a binary from the upper layer, and one from the lower layer.
    let (lower, upper, work, merged) =
        (dir.join("lower"), dir.join("upper"), dir.join("work"), dir.join("merged"));
    for d in [&lower, &upper, &work, &merged] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::copy("/bin/true", lower.join("lower-true")).unwrap();
    std::fs::copy("/bin/true", upper.join("upper-true")).unwrap();
    let opts =
        format!("lowerdir={},upperdir={},workdir={}", lower.display(), upper.display(), work.display());
    let st =
        Command::new("mount").args(["-t", "overlay", "overlay", "-o", &opts]).arg(&merged).status().unwrap();
    assert!(st.success(), "mounting overlayfs");
    let up = merged.join("upper-true").display().to_string();
    let low = merged.join("lower-true").display().to_string();
    let upper_flags = exec_flags(&mut live, &format!("exec {up}"), &up);
    let lower_flags = exec_flags(&mut live, &format!("exec {low}"), &low);
    Command::new("umount").arg(&merged).status().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(upper_flags, "EXE_WRITABLE|EXE_UPPER_LAYER");
    assert_eq!(lower_flags, "EXE_WRITABLE|EXE_LOWER_LAYER");
}

#[test]
fn sockets_render_families_flags_addresses_and_tuples() {
    if !live() {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut live = Live::start(&[]);
    let out = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import socket\nc = socket.create_connection(('127.0.0.1', {port}))\nprint(c.getsockname()[1])\nc.close()\n"
        ))
        .output()
        .unwrap();
    assert!(out.status.success());
    let lport: u16 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    // The script's pid is not known before it runs: its socket call is found by its comm.
    let (pid, socket) =
        live.call_any(&["socket"], |r| r.comm == "python3" && r.args[0] == libc::AF_INET as u64);
    assert_eq!(socket.text("evt.arg.domain"), "AF_INET");
    assert_eq!(socket.text("evt.arg.type"), ((libc::SOCK_STREAM | libc::SOCK_CLOEXEC) as u32).to_string());
    assert_eq!(socket.text("evt.arg.proto"), "6");
    assert_eq!(socket.text("evt.arg.flags"), "O_CLOEXEC");
    assert_eq!(socket.text("evt.arg[0]"), socket.text("evt.arg.fd"));
    assert!(socket.text("evt.arg.fd").starts_with("<4t>"), "{}", socket.text("evt.arg.fd"));
    let connect = live.call(
        pid,
        &["connect"],
        &["evt.arg.addr", "evt.arg.tuple", "evt.arg[1]", "evt.arg.res", "evt.arg.fd", "fd.lport"],
        |_| true,
    );
    assert_eq!(connect.text("evt.arg.addr"), format!("127.0.0.1:{port}"));
    // The tuple as Falco's probe reads it from the socket, when the local end is known (the
    // kernel's tuple, or the tables' address); never an end made up.
    if connect.missing("fd.lport") {
        assert!(connect.missing("evt.arg.tuple") && connect.missing("evt.arg[1]"));
    } else {
        assert_eq!(connect.text("evt.arg.tuple"), format!("127.0.0.1:{lport}->127.0.0.1:{port}"));
        assert_eq!(connect.text("evt.arg[1]"), connect.text("evt.arg.tuple"));
    }
    assert_eq!(connect.text("evt.arg.res"), "0");
    assert!(connect.text("evt.arg.fd").starts_with("<4t>"), "{}", connect.text("evt.arg.fd"));
    drop(listener);
}

#[test]
fn sockets_open_before_start_have_their_tuples_from_proc_net() {
    if !live() {
        return;
    }
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    // A connection made before capture starts; the script sends on it when told.
    let mut py = Command::new("python3")
        .arg("-c")
        .arg(
            "import socket, sys\n\
             s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
             c = socket.create_connection(s.getsockname()); a, _ = s.accept()\n\
             print(s.getsockname()[1], c.getsockname()[1], flush=True)\n\
             sys.stdin.readline()\n\
             c.send(b'x'); a.recv(1)\n",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(py.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let ports: Vec<u16> = line.split_whitespace().map(|p| p.parse().unwrap()).collect();
    let (server, client) = (ports[0], ports[1]);
    let pid = py.id();
    let mut live = Live::start(&["sendto", "recvfrom"]);
    writeln!(py.stdin.take().unwrap()).unwrap();
    let fields = ["fd.name", "fd.typechar", "fd.lport", "fd.rport", "fd.l4proto", "fd.sip", "fd.sport"];
    let send = live.call(pid, &["sendto"], &fields, |_| true);
    // Falco's reading of the socket tables: local -> remote.
    assert_eq!(send.text("fd.name"), format!("127.0.0.1:{client}->127.0.0.1:{server}"));
    assert_eq!(send.text("fd.typechar"), "4");
    assert_eq!(send.text("fd.l4proto"), "tcp");
    assert_eq!(send.text("fd.lport"), client.to_string());
    assert_eq!(send.text("fd.rport"), server.to_string());
    let recv = live.call(pid, &["recvfrom"], &fields, |_| true);
    assert_eq!(recv.text("fd.name"), format!("127.0.0.1:{server}->127.0.0.1:{client}"));
    assert!(py.wait().unwrap().success());
}

#[test]
fn a_descriptor_duplicated_by_fcntl_keeps_its_name() {
    if !live() {
        return;
    }
    let dir = temp_dir("fcntl");
    let file = dir.join("dup-target");
    std::fs::write(&file, "x").unwrap();
    let mut live = Live::start(&["read"]);
    // os.dup is fcntl(F_DUPFD_CLOEXEC); the copy is read, and closed, as any other fd.
    let pid = python(&format!(
        "import os, fcntl\nfd = os.open({:?}, os.O_RDONLY)\nd = os.dup(fd)\nos.close(fd)\nos.read(d, 1)\n\
         e = fcntl.fcntl(d, fcntl.F_DUPFD, 100)\nos.lseek(e, 0, 0)\nos.read(e, 1)\n",
        file.display().to_string()
    ));
    let dup = live.call(pid, &["fcntl"], &["evt.arg.cmd", "evt.arg.fd", "fd.num", "fd.name"], |r| {
        r.args[1] as i32 == libc::F_DUPFD_CLOEXEC
    });
    assert_eq!(dup.text("evt.arg.cmd"), "F_DUPFD_CLOEXEC");
    let path = file.display().to_string();
    assert_eq!(dup.text("fd.name"), path);
    let d: u64 = dup.text("fd.num").parse().unwrap();
    let read = live.call(pid, &["read"], &["fd.name", "fd.num"], |r| r.args[0] == d);
    assert_eq!(read.text("fd.name"), path, "the copy is named after its original was closed");
    let again = live.call(pid, &["read"], &["fd.name", "fd.num"], |r| r.args[0] == 100);
    assert_eq!((again.text("fd.name"), again.text("fd.num")), (path.as_str(), "100"));
}
