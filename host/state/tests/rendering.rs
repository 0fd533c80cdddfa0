//! Syscall arguments on the running kernel, read as rules read them, against the values
//! Falco gives for the same calls (libsinsp's rendering of its exit events): modes by name,
//! open flags in Falco's order, fds and errnos resolved, uids and gids as names where Falco
//! resolves them, `evt.arg[N]` by Falco's parameter lists, `fd.num` -1 on a failed open.
//!
//! Needs root. When not root these tests fail, unless `LANNER_SKIP_LIVE=1` is set, in which
//! case each says SKIPPED.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lanner_capture::{Capture, CaptureConfig, RawEvent, RecordKind, syscalls};
use lanner_event::{Event, FieldArg, FieldRef, FieldRegistry};
use lanner_state::{FieldMap, State};

const WAIT: Duration = Duration::from_secs(10);

fn live() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("LANNER_SKIP_LIVE").as_deref() == Ok("1") {
        eprintln!("SKIPPED: live rendering tests need root (LANNER_SKIP_LIVE=1)");
        return false;
    }
    panic!("live rendering tests need root (to load eBPF programs); set LANNER_SKIP_LIVE=1 to skip them");
}

fn nr(name: &str) -> u32 {
    syscalls::number(name).unwrap_or_else(|| panic!("no syscall {name}"))
}

/// Capture into the state tables, for one traced process's records.
struct Live {
    capture: Capture,
    state: State,
    reg: FieldRegistry,
    map: FieldMap,
    queue: VecDeque<RawEvent>,
}

/// The fields of one record, as text (`None`: missing).
struct Seen(HashMap<String, Option<String>>);

impl Seen {
    fn get(&self, name: &str) -> &str {
        self.0[name].as_deref().unwrap_or_else(|| panic!("{name} is missing"))
    }

    fn missing(&self, name: &str) -> bool {
        self.0[name].is_none()
    }
}

impl Live {
    fn start(extra: &[&str]) -> Self {
        let mut nrs: Vec<u32> = lanner_state::NEEDED_SYSCALLS.iter().chain(extra).map(|n| nr(n)).collect();
        nrs.sort_unstable();
        nrs.dedup();
        let config = CaptureConfig { syscalls: nrs, ignore_tgid: None, ..CaptureConfig::default() };
        let capture = Capture::start(config).unwrap_or_else(|e| panic!("capture starts: {e}"));
        let mut state = State::new(syscalls::name);
        state.seed();
        let reg = FieldRegistry::with_syscall_fields();
        let map = FieldMap::new(&reg);
        Live { capture, state, reg, map, queue: VecDeque::new() }
    }

    /// Applies records in order until a syscall record of process `pid` named `syscall`
    /// satisfies `pred`; reads `fields` from it as the event loop would.
    fn find(
        &mut self,
        pid: u32,
        syscall: &[&str],
        fields: &[&str],
        pred: impl Fn(&RawEvent) -> bool,
    ) -> Seen {
        let nrs: Vec<u32> = syscall.iter().map(|n| nr(n)).collect();
        let deadline = Instant::now() + WAIT;
        loop {
            while let Some(raw) = self.queue.pop_front() {
                let prep = self.state.apply(&raw);
                let hit = raw.tgid == pid
                    && matches!(raw.kind, RecordKind::Syscall { nr } if nrs.contains(&nr))
                    && pred(&raw);
                let seen = hit.then(|| {
                    let ev = self.state.view(&raw, &prep, &self.map);
                    Seen(
                        fields
                            .iter()
                            .map(|f| {
                                (f.to_string(), ev.field(&field_ref(&self.reg, f)).map(|v| v.to_string()))
                            })
                            .collect(),
                    )
                });
                self.state.finish(&prep);
                if let Some(s) = seen {
                    return s;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {syscall:?} record of process {pid} within {WAIT:?}");
            let mut batch = Vec::new();
            self.capture.next_batch(&mut batch, Some(left.min(Duration::from_millis(200)))).unwrap();
            self.queue.extend(batch);
        }
    }
}

impl Live {
    /// The first record of any process named `syscall` that satisfies `pred`: its pid and the
    /// socket call's fields.
    fn find_any(&mut self, syscall: &[&str], pred: impl Fn(&RawEvent) -> bool + Copy) -> (u32, Seen) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(i) = self.queue.iter().position(|r| {
                matches!(r.kind, RecordKind::Syscall { nr: n } if syscall.iter().any(|s| nr(s) == n))
                    && pred(r)
            }) {
                let pid = self.queue[i].tgid;
                let fields = [
                    "evt.arg.domain",
                    "evt.arg.type",
                    "evt.arg.proto",
                    "evt.arg.flags",
                    "evt.arg[0]",
                    "evt.arg.fd",
                ];
                // The same predicate again: the process may have made other such calls first
                // (an AF_UNIX socket to a name service before the AF_INET one).
                return (pid, self.find(pid, syscall, &fields, pred));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {syscall:?} record within {WAIT:?}");
            let mut batch = Vec::new();
            self.capture.next_batch(&mut batch, Some(left.min(Duration::from_millis(200)))).unwrap();
            self.queue.extend(batch);
        }
    }
}

fn field_ref(reg: &FieldRegistry, name: &str) -> FieldRef {
    if let Some((base, index)) = name.strip_suffix(']').and_then(|n| n.split_once('[')) {
        let id = reg.get(base).unwrap_or_else(|| panic!("no field {base}"));
        return FieldRef { id, arg: FieldArg::Index(index.parse().unwrap()) };
    }
    let (id, key) = reg.resolve(name).unwrap_or_else(|| panic!("no field {name}"));
    FieldRef { id, arg: key.map_or(FieldArg::None, |k| FieldArg::Key(k.into())) }
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lanner-rendering-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
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
    let chmod = live.find(pid, &["chmod", "fchmodat"], &fields, |r| {
        r.strings.iter().any(|s| s.bytes.ends_with(b"mode-marker"))
    });
    let mode = "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID";
    assert_eq!(chmod.get("evt.arg.mode"), mode);
    assert_eq!(chmod.get("evt.arg.filename"), file.display().to_string());
    assert_eq!(chmod.get("evt.res"), "SUCCESS");
    assert_eq!(chmod.get("evt.arg.res"), "0");
    assert_eq!(chmod.get("evt.arg[0]"), "0");
    if chmod.get("evt.type") == "fchmodat" {
        // res, dirfd, filename, mode.
        assert_eq!(chmod.get("evt.arg[1]"), "AT_FDCWD");
        assert_eq!(chmod.get("evt.arg[3]"), mode);
    } else {
        // res, filename, mode.
        assert_eq!(chmod.get("evt.arg[2]"), mode);
    }

    // mkdir's mode is a plain number in hex in Falco's table (PT_UINT32, PF_HEX).
    let mkdir = live.find(pid, &["mkdir", "mkdirat"], &["evt.type", "evt.arg.mode", "evt.arg.path"], |r| {
        r.strings.iter().any(|s| s.bytes.ends_with(b"/sub"))
    });
    assert_eq!(mkdir.get("evt.arg.mode"), "1E8");
    assert_eq!(mkdir.get("evt.arg.path"), sub.display().to_string());

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
        live.find(pid, &["openat", "open"], &open_fields, |r| path_is(r, 0, &created) && r.args[3] == 0o640);
    assert_eq!(open.get("evt.arg.flags"), "O_TRUNC|O_CREAT|O_WRONLY|O_CLOEXEC");
    assert_eq!(open.get("evt.arg.mode"), "0640");
    let fd = open.get("fd.num").to_string();
    assert_eq!(open.get("evt.arg.fd"), format!("<f>{}", created.display()));
    assert_eq!(open.get("evt.arg[0]"), format!("<f>{}", created.display()));
    assert_eq!(open.get("evt.arg[1]"), "AT_FDCWD");
    assert_eq!(open.get("evt.arg[2]"), created.display().to_string());
    assert!(
        open.get("evt.args").starts_with(&format!(
            "fd={fd}(<f>{}) dirfd=-100(AT_FDCWD) name={} flags=4358(O_TRUNC|O_CREAT|O_WRONLY|O_CLOEXEC) mode=0640",
            created.display(),
            created.display()
        )),
        "{}",
        open.get("evt.args")
    );

    // A relative path: as written, resolved against the cwd.
    let rel = live.find(pid, &["openat", "open"], &["evt.arg.name", "evt.args", "evt.arg.mode"], |r| {
        r.strings.first().is_some_and(|s| s.bytes == b"relative")
    });
    assert_eq!(rel.get("evt.arg.name"), dir.join("relative").display().to_string());
    assert_eq!(rel.get("evt.arg.mode"), "0600");
    assert!(
        rel.get("evt.args").contains(&format!("name=relative({})", dir.join("relative").display())),
        "{}",
        rel.get("evt.args")
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
    let f = live.find(
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
    assert_eq!(f.get("fd.num"), "-1");
    assert_eq!(f.get("fd.typechar"), "f");
    assert_eq!(f.get("evt.res"), "ENOENT");
    assert_eq!(f.get("evt.rawres"), "-2");
    assert_eq!(f.get("evt.failed"), "true");
    assert_eq!(f.get("evt.arg.fd"), "ENOENT");
    assert_eq!(f.get("evt.arg[0]"), "ENOENT");
    assert_eq!(f.get("evt.arg.flags"), "O_RDONLY|O_CLOEXEC");
    assert_eq!(f.get("evt.arg.name"), "/nonexistent-lanner-dir/x");
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
    let chown = live.find(pid, &["chown", "fchownat"], &["evt.arg.uid", "evt.arg.gid"], |_| true);
    assert_eq!(chown.get("evt.arg.uid"), "65534");
    assert_eq!(chown.get("evt.arg.gid"), "65534");
    // setgid, setresuid and setuid take PT_GID / PT_UID: names, <NONE> for -1.
    let setgid = live.find(pid, &["setgid"], &["evt.arg.gid", "evt.arg[1]", "evt.args"], |_| true);
    assert_eq!(setgid.get("evt.arg.gid"), "nogroup");
    assert_eq!(setgid.get("evt.arg[1]"), "nogroup");
    assert_eq!(setgid.get("evt.args"), "res=0 gid=65534(nogroup)");
    let setresuid =
        live.find(pid, &["setresuid"], &["evt.arg.ruid", "evt.arg.euid", "evt.arg.suid", "evt.args"], |_| {
            true
        });
    assert_eq!(setresuid.get("evt.arg.ruid"), "<NONE>");
    assert_eq!(setresuid.get("evt.arg.euid"), "nobody");
    assert_eq!(setresuid.get("evt.args"), "res=0 ruid=-1(<NONE>) euid=65534(nobody) suid=-1(<NONE>)");
    let back = live.find(pid, &["setresuid"], &["evt.arg.euid"], |_| true);
    assert_eq!(back.get("evt.arg.euid"), "root");
    let setuid = live.find(pid, &["setuid"], &["evt.arg.uid", "evt.res"], |_| true);
    assert_eq!(setuid.get("evt.arg.uid"), "nobody");
    assert_eq!(setuid.get("evt.res"), "SUCCESS");
    let denied =
        live.find(pid, &["setuid"], &["evt.arg.uid", "evt.res", "evt.arg.res", "evt.arg[0]"], |_| true);
    assert_eq!(denied.get("evt.arg.uid"), "root");
    assert_eq!(denied.get("evt.res"), "EPERM");
    assert_eq!(denied.get("evt.arg.res"), "EPERM");
    assert_eq!(denied.get("evt.arg[0]"), "EPERM");
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
        live.find(pid, &["execve"], &fields, |r| r.strings.first().is_some_and(|s| s.bytes == b"/bin/true"));
    assert_eq!(ex.get("evt.arg[0]"), "0");
    assert_eq!(ex.get("evt.arg.res"), "0");
    assert_eq!(ex.get("evt.res"), "SUCCESS");
    assert_eq!(ex.get("evt.arg[1]"), "/bin/true");
    assert_eq!(ex.get("evt.arg.exe"), "/bin/true");
    // args: NUL-separated, each NUL shown as a dot.
    assert_eq!(ex.get("evt.arg[2]"), "lanner-exec-marker.");
    assert_eq!(ex.get("evt.arg.args"), "lanner-exec-marker.");
    assert_eq!(ex.get("evt.arg[13]"), "true");
    assert_eq!(ex.get("evt.arg.comm"), "true");
    // A pid parameter resolves to its process's name.
    assert_eq!(ex.get("evt.arg.pid"), "true");
    assert_eq!(ex.get("evt.arg.filename"), "/bin/true");
    assert_eq!(ex.get("evt.arg[30]"), "/bin/true");
    assert_eq!(ex.get("evt.arg.uid"), "root");
    // Falco's probe does not send the cwd; there is no 32nd parameter.
    assert!(ex.missing("evt.arg.cwd"));
    assert!(ex.missing("evt.arg[31]"));
}

/// Runs `script` with sh; the `evt.arg.flags` of its process's execve of `exe`.
fn exec_flags(live: &mut Live, script: &str, exe: &str) -> String {
    let mut child = Command::new("/bin/sh").args(["-c", script]).spawn().unwrap();
    let pid = child.id();
    assert!(child.wait().unwrap().success(), "{script}");
    let seen = live.find(pid, &["execve"], &["evt.arg.flags", "evt.arg[19]", "evt.res"], |r| {
        r.strings.first().is_some_and(|s| s.bytes == exe.as_bytes())
    });
    assert_eq!(seen.get("evt.res"), "SUCCESS");
    assert_eq!(seen.get("evt.arg.flags"), seen.get("evt.arg[19]"));
    seen.get("evt.arg.flags").to_string()
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
        live.find_any(&["socket"], |r| r.comm == "python3" && r.args[0] == libc::AF_INET as u64);
    assert_eq!(socket.get("evt.arg.domain"), "AF_INET");
    assert_eq!(socket.get("evt.arg.type"), ((libc::SOCK_STREAM | libc::SOCK_CLOEXEC) as u32).to_string());
    assert_eq!(socket.get("evt.arg.proto"), "6");
    assert_eq!(socket.get("evt.arg.flags"), "O_CLOEXEC");
    assert_eq!(socket.get("evt.arg[0]"), socket.get("evt.arg.fd"));
    assert!(socket.get("evt.arg.fd").starts_with("<4t>"), "{}", socket.get("evt.arg.fd"));
    let connect = live.find(
        pid,
        &["connect"],
        &["evt.arg.addr", "evt.arg.tuple", "evt.arg[1]", "evt.arg.res", "evt.arg.fd", "fd.lport"],
        |_| true,
    );
    assert_eq!(connect.get("evt.arg.addr"), format!("127.0.0.1:{port}"));
    // The tuple as Falco's probe reads it from the socket, when the local end is known (the
    // kernel's tuple, or the tables' address); never an end made up.
    if connect.missing("fd.lport") {
        assert!(connect.missing("evt.arg.tuple") && connect.missing("evt.arg[1]"));
    } else {
        assert_eq!(connect.get("evt.arg.tuple"), format!("127.0.0.1:{lport}->127.0.0.1:{port}"));
        assert_eq!(connect.get("evt.arg[1]"), connect.get("evt.arg.tuple"));
    }
    assert_eq!(connect.get("evt.arg.res"), "0");
    assert!(connect.get("evt.arg.fd").starts_with("<4t>"), "{}", connect.get("evt.arg.fd"));
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
    let send = live.find(pid, &["sendto"], &fields, |_| true);
    // Falco's reading of the socket tables: local -> remote.
    assert_eq!(send.get("fd.name"), format!("127.0.0.1:{client}->127.0.0.1:{server}"));
    assert_eq!(send.get("fd.typechar"), "4");
    assert_eq!(send.get("fd.l4proto"), "tcp");
    assert_eq!(send.get("fd.lport"), client.to_string());
    assert_eq!(send.get("fd.rport"), server.to_string());
    let recv = live.find(pid, &["recvfrom"], &fields, |_| true);
    assert_eq!(recv.get("fd.name"), format!("127.0.0.1:{server}->127.0.0.1:{client}"));
    assert!(py.wait().unwrap().success());
}
