//! The state machine on synthetic kernel records: tables, paths and fields, and the
//! upstream-style rules evaluated against them. (Live records are tested in capture and in
//! the binary's live tests.)

use lanner_capture::record::{Captured, RawEvent, RecordKind, SockAddr};
use lanner_engine::{EngineConfig, RulesSource};
use lanner_event::{Event, FieldRegistry, Value};
use lanner_state::{FieldMap, State};

fn name_of(nr: u32) -> Option<&'static str> {
    Some(match nr as i64 {
        libc::SYS_openat => "openat",
        libc::SYS_open => "open",
        libc::SYS_close => "close",
        libc::SYS_execve => "execve",
        libc::SYS_connect => "connect",
        libc::SYS_socket => "socket",
        libc::SYS_dup2 => "dup2",
        libc::SYS_chdir => "chdir",
        libc::SYS_memfd_create => "memfd_create",
        libc::SYS_symlinkat => "symlinkat",
        libc::SYS_unlinkat => "unlinkat",
        libc::SYS_renameat2 => "renameat2",
        _ => return None,
    })
}

const SHELL: u32 = 4242;
const CHILD: u32 = 4243;

fn raw(tgid: u32, kind: RecordKind, ret: i64, args: [u64; 6], strings: &[&[u8]]) -> RawEvent {
    RawEvent {
        ts_ns: 1_700_000_000_000_000_000,
        cpu: 0,
        tgid,
        tid: tgid,
        ppid: if tgid == CHILD { SHELL } else { 1 },
        uid: 0,
        gid: 0,
        loginuid: u32::MAX,
        cap_effective: 1 << 21,
        cap_permitted: 1 << 21,
        tty: 0,
        comm: if tgid == SHELL { "bash".into() } else { "cat".into() },
        cgroup_id: 0,
        kind,
        ret,
        args,
        strings: strings.iter().map(|s| Captured { bytes: s.to_vec(), truncated: false }).collect(),
        sockaddr: None,
        vtid: 0,
        exec: None,
        tuple: None,
        data: None,
    }
}

fn sys(nr: i64) -> RecordKind {
    RecordKind::Syscall { nr: nr as u32 }
}

struct Harness {
    state: State,
    map: FieldMap,
    reg: FieldRegistry,
}

impl Harness {
    fn new() -> Self {
        let reg = FieldRegistry::with_syscall_fields();
        let state = State::new(name_of);
        // A shell in /tmp/work, then a child it forks and execs as cat.
        let mut shell = raw(SHELL, sys(libc::SYS_chdir), 0, [0; 6], &[b"/tmp/work"]);
        shell.kind = RecordKind::Exec;
        shell.strings = vec![
            Captured { bytes: b"/usr/bin/bash".to_vec(), truncated: false },
            Captured { bytes: b"bash\0-i".to_vec(), truncated: false },
            Captured { bytes: b"HOME=/root\0PATH=/bin".to_vec(), truncated: false },
        ];
        let mut h = Harness { map: FieldMap::new(&reg), state, reg };
        h.apply(shell);
        h.apply(raw(SHELL, sys(libc::SYS_chdir), 0, [0; 6], &[b"/tmp/work"]));
        h.apply(raw(SHELL, RecordKind::Fork { child_tgid: CHILD, child_tid: CHILD }, 0, [0; 6], &[]));
        let mut exec = raw(CHILD, RecordKind::Exec, 0, [0; 6], &[]);
        exec.strings = vec![
            Captured { bytes: b"/usr/bin/cat".to_vec(), truncated: false },
            Captured { bytes: b"cat\0../../etc//shadow".to_vec(), truncated: false },
            Captured { bytes: b"HOME=/root".to_vec(), truncated: false },
        ];
        h.apply(exec);
        h
    }

    /// Applies a record and returns the named fields as rules see them.
    fn apply(&mut self, r: RawEvent) -> Vec<(String, Option<String>)> {
        self.fields(r, &[])
    }

    fn fields(&mut self, r: RawEvent, names: &[&str]) -> Vec<(String, Option<String>)> {
        let prep = self.state.apply(&r);
        let ev = self.state.view(&r, &prep, &self.map);
        let out = names
            .iter()
            .map(|n| {
                let (base, arg) = match n.find('[') {
                    Some(i) => (&n[..i], Some(&n[i + 1..n.len() - 1])),
                    None => (*n, None),
                };
                let (id, dotted) = self.reg.resolve(base).unwrap_or_else(|| panic!("{n}"));
                let arg = match arg.or(dotted) {
                    None => lanner_event::FieldArg::None,
                    Some(a) => match a.parse() {
                        Ok(i) => lanner_event::FieldArg::Index(i),
                        Err(_) => lanner_event::FieldArg::Key(a.into()),
                    },
                };
                let v = ev.field(&lanner_event::FieldRef { id, arg }).map(|v: Value<'_>| v.to_string());
                (n.to_string(), v)
            })
            .collect();
        self.state.finish(&prep);
        out
    }

    fn get(&mut self, r: RawEvent, names: &[&str]) -> Vec<Option<String>> {
        self.fields(r, names).into_iter().map(|(_, v)| v).collect()
    }
}

fn some(v: &[&str]) -> Vec<Option<String>> {
    v.iter().map(|s| Some(s.to_string())).collect()
}

#[test]
fn process_fields_follow_fork_and_exec() {
    let mut h = Harness::new();
    let r =
        raw(CHILD, sys(libc::SYS_openat), 3, [libc::AT_FDCWD as u64, 0, 0, 0, 0, 0], &[b"../../etc//shadow"]);
    let got = h.get(
        r,
        &[
            "proc.name",
            "proc.exe",
            "proc.exepath",
            "proc.cmdline",
            "proc.args",
            "proc.pname",
            "proc.pcmdline",
            "proc.aname[1]",
            "proc.cwd",
            "proc.env[HOME]",
            "user.name",
            "evt.type",
            "fd.name",
            "fd.nameraw",
            "fd.directory",
            "fd.filename",
            "fd.typechar",
            "fd.num",
            "evt.is_open_read",
            "evt.arg.flags",
            "thread.cap_effective",
            "container.id",
            "evt.res",
        ],
    );
    assert_eq!(
        got,
        some(&[
            "cat",
            "cat",
            "/usr/bin/cat",
            "cat ../../etc//shadow",
            "../../etc//shadow",
            "bash",
            "bash -i",
            "bash",
            "/tmp/work/",
            "/root",
            "root",
            "openat",
            "/etc/shadow",
            "../../etc//shadow",
            "/etc",
            "shadow",
            "f",
            "3",
            "true",
            "O_RDONLY",
            "CAP_SYS_ADMIN",
            "host",
            "SUCCESS",
        ])
    );
    // close: the fd's fields come from the closed entry.
    let got = h.get(raw(CHILD, sys(libc::SYS_close), 0, [3, 0, 0, 0, 0, 0], &[]), &["fd.name", "fd.num"]);
    assert_eq!(got, some(&["/etc/shadow", "3"]));
    // a failed open still names the file.
    let got = h.get(
        raw(
            CHILD,
            sys(libc::SYS_openat),
            -2,
            [libc::AT_FDCWD as u64, 0, 0, 0, 0, 0],
            &[b"/proc/self/root/etc/shadow"],
        ),
        &["fd.name", "fd.num", "evt.res", "evt.rawres"],
    );
    // Falco's fd.num is -1 there, the error is in evt.res and evt.rawres.
    assert_eq!(got, some(&["/etc/shadow", "-1", "ENOENT", "-2"]));
}

#[test]
fn path_arguments_resolve_against_cwd_and_dirfd() {
    let mut h = Harness::new();
    // The child (cwd /tmp/work, inherited) opens a directory, then removes entries in it by
    // relative name, as `rm -r` does.
    let open_dir = raw(
        CHILD,
        sys(libc::SYS_openat),
        5,
        [(-100i64) as u64, 0, libc::O_DIRECTORY as u64, 0, 0, 0],
        &[b"../../root/.ssh"],
    );
    h.apply(open_dir);
    let unlink = raw(CHILD, sys(libc::SYS_unlinkat), 0, [5, 0, 0, 0, 0, 0], &[b"authorized_keys"]);
    assert_eq!(
        h.get(unlink, &["evt.arg.name", "evt.arg[2]", "evt.arg.dirfd", "evt.arg[1]"]),
        // Falco's unlinkat exit: res, dirfd, name, flags; a known fd renders as <d>path.
        some(&["/root/.ssh/authorized_keys", "/root/.ssh/authorized_keys", "<d>/root/.ssh", "<d>/root/.ssh"])
    );
    // AT_FDCWD: against the cwd, normalized.
    let at_cwd = raw(
        CHILD,
        sys(libc::SYS_unlinkat),
        0,
        [(-100i64) as u64, 0, 0, 0, 0, 0],
        &[b".//x/../.bash_history"],
    );
    assert_eq!(h.get(at_cwd, &["evt.arg.name"]), some(&["/tmp/work/.bash_history"]));
    // Both paths of a rename, and evt.args: a relative path is resolved, an absolute one is
    // as written (Falco resolves only relative paths; fd.name is normalized).
    let rename = raw(
        CHILD,
        sys(libc::SYS_renameat2),
        0,
        [(-100i64) as u64, 0, 5, 0, 0, 0],
        &[b"new_keys", b"/proc/self/root/root/.ssh//authorized_keys"],
    );
    assert_eq!(
        h.get(rename, &["evt.arg.oldpath", "evt.arg.newpath", "evt.args"]),
        some(&[
            "/tmp/work/new_keys",
            "/proc/self/root/root/.ssh//authorized_keys",
            "res=0 olddirfd=-100(AT_FDCWD) oldpath=new_keys(/tmp/work/new_keys) newdirfd=5(<d>/root/.ssh) \
             newpath=/proc/self/root/root/.ssh//authorized_keys flags=0"
        ])
    );
    // Asked to create, or not.
    let create = raw(
        CHILD,
        sys(libc::SYS_openat),
        6,
        [(-100i64) as u64, 0, (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u64, 0o644, 0, 0],
        &[b"new.log"],
    );
    let plain = raw(
        CHILD,
        sys(libc::SYS_openat),
        7,
        [(-100i64) as u64, 0, libc::O_RDONLY as u64, 0, 0, 0],
        &[b"old.log"],
    );
    assert_eq!(h.get(create, &["evt.is_open_create"]), some(&["true"]));
    assert_eq!(h.get(plain, &["evt.is_open_create"]), some(&["false"]));
    // A symlink's target is its content, not a path to resolve.
    let link =
        raw(CHILD, sys(libc::SYS_symlinkat), 0, [0, (-100i64) as u64, 0, 0, 0, 0], &[b"../etc/shadow", b"s"]);
    assert_eq!(h.get(link, &["evt.arg.target", "evt.arg.linkpath"]), some(&["../etc/shadow", "/tmp/work/s"]));
}

#[test]
fn sockets_connect_and_dup() {
    let mut h = Harness::new();
    h.apply(raw(
        CHILD,
        sys(libc::SYS_socket),
        5,
        [libc::AF_INET as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0],
        &[],
    ));
    let mut c = raw(CHILD, sys(libc::SYS_connect), 0, [5, 0, 16, 0, 0, 0], &[]);
    c.sockaddr = Some(SockAddr::Inet("127.0.0.1:8080".parse().unwrap()));
    let got = h.get(
        c,
        &["fd.sip", "fd.sport", "fd.rport", "fd.l4proto", "fd.typechar", "fd.connected", "fd.sockfamily"],
    );
    assert_eq!(got, some(&["127.0.0.1", "8080", "8080", "tcp", "4", "true", "ip"]));
    // stdout redirected to the socket keeps its identity.
    let got = h.get(
        raw(CHILD, sys(libc::SYS_dup2), 1, [5, 1, 0, 0, 0, 0], &[]),
        &["fd.num", "fd.typechar", "fd.sip"],
    );
    assert_eq!(got, some(&["1", "4", "127.0.0.1"]));
}

#[test]
fn memfd_exec_and_exit() {
    let mut h = Harness::new();
    h.apply(raw(CHILD, sys(libc::SYS_memfd_create), 7, [0; 6], &[b"payload"]));
    let mut exec = raw(CHILD, RecordKind::Exec, 0, [0; 6], &[]);
    exec.strings = vec![
        Captured { bytes: b"/dev/fd/7".to_vec(), truncated: false },
        Captured { bytes: b"payload".to_vec(), truncated: false },
        Captured::default(),
    ];
    h.apply(exec);
    let got = h.get(
        raw(CHILD, sys(libc::SYS_execve), 0, [0; 6], &[b"/dev/fd/7"]),
        &["proc.is_exe_from_memfd", "proc.exepath", "evt.type"],
    );
    assert_eq!(got, some(&["true", "memfd:payload", "execve"]));
    let got = h.get(raw(CHILD, RecordKind::Exit, 0, [0; 6], &[]), &["evt.type", "proc.name"]);
    assert_eq!(got, some(&["procexit", "cat"]));
    assert!(!h.state.table.procs.contains_key(&CHILD));
}

#[test]
fn upstream_style_rules_fire_on_state_events() {
    let mut h = Harness::new();
    let rules = r#"
- macro: open_read
  condition: (evt.type in (open,openat,openat2) and evt.is_open_read=true and fd.typechar='f' and fd.num>=0)
- rule: Read shadow
  desc: d
  condition: open_read and fd.name = /etc/shadow and proc.name = cat and proc.pname = bash
  output: "%proc.name read %fd.name (raw %fd.nameraw) under %proc.pname user=%user.name"
  priority: WARNING
"#;
    let rs = lanner_engine::load(
        &EngineConfig::syscall(),
        &[RulesSource { name: "r".into(), content: rules.into() }],
    )
    .into_result()
    .unwrap();
    let r = raw(
        CHILD,
        sys(libc::SYS_openat),
        3,
        [libc::AT_FDCWD as u64, 0, 0, 0, 0, 0],
        &[b"/proc/self/root/etc/shadow"],
    );
    let prep = h.state.apply(&r);
    let ev = h.state.view(&r, &prep, &h.map);
    let alerts = rs.process(&ev, "h");
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].output,
        "cat read /etc/shadow (raw /proc/self/root/etc/shadow) under bash user=root"
    );
    assert_eq!(ev.source(), "syscall");
}
