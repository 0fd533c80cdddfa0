//! The tables' bounds on synthetic kernel records: an fd storm (thousands of dup'd
//! descriptors of a 4 KiB path, inherited by forked children) and a fork storm stay within
//! the configured sizes, say what they evicted, share what they can, and keep the state of
//! the processes still in use right. Reconciliation is checked against the real `/proc`.

use lanner_capture::record::{Captured, RawEvent, RecordKind};
use lanner_event::{Event, FieldArg, FieldRef, FieldRegistry};
use lanner_state::table::Limits;
use lanner_state::{FieldMap, State};
use std::sync::Arc;

fn name_of(nr: u32) -> Option<&'static str> {
    Some(match nr as i64 {
        libc::SYS_openat => "openat",
        libc::SYS_close => "close",
        libc::SYS_dup => "dup",
        libc::SYS_execve => "execve",
        _ => return None,
    })
}

fn raw(tgid: u32, kind: RecordKind, ret: i64, args: [u64; 6], strings: &[&[u8]]) -> RawEvent {
    RawEvent {
        ts_ns: 1_700_000_000_000_000_000,
        cpu: 0,
        tgid,
        tid: tgid,
        ppid: 1,
        uid: 0,
        gid: 0,
        loginuid: u32::MAX,
        cap_effective: 0,
        cap_permitted: 0,
        tty: 0,
        comm: format!("p{tgid}"),
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

fn at_cwd() -> [u64; 6] {
    [libc::AT_FDCWD as u32 as u64, 0, 0, 0, 0, 0]
}

fn fork(parent: u32, child: u32) -> RawEvent {
    raw(parent, RecordKind::Fork { child_tgid: child, child_tid: child }, 0, [0; 6], &[])
}

/// A field of an event as rules see it.
fn field(state: &mut State, r: &RawEvent, name: &str) -> Option<String> {
    let reg = FieldRegistry::with_syscall_fields();
    let map = FieldMap::new(&reg);
    let prep = state.apply(r);
    let id = reg.get(name).unwrap_or_else(|| panic!("{name}"));
    let v = state.view(r, &prep, &map).field(&FieldRef { id, arg: FieldArg::None }).map(|v| v.to_string());
    state.finish(&prep);
    v
}

/// A 4 KiB absolute path.
fn long_path() -> String {
    let mut p = String::from("/tmp/storm");
    while p.len() < 4000 {
        p.push('/');
        p.push_str(&"d".repeat(200));
    }
    p.truncate(4090);
    p
}

const ATTACKER: u32 = 7100;

/// A record of one of the attacker's children.
fn child_raw(tgid: u32, kind: RecordKind, ret: i64, args: [u64; 6], strings: &[&[u8]]) -> RawEvent {
    RawEvent { ppid: ATTACKER, ..raw(tgid, kind, ret, args, strings) }
}

#[test]
fn an_fd_storm_inherited_by_forks_stays_within_the_fd_table_and_is_shared() {
    let mut st = State::new(name_of);
    st.set_limits(Limits { max_threads: 10_000, max_fds: 512, ..Limits::default() });
    let path = long_path();
    st.apply(&raw(ATTACKER, sys(libc::SYS_openat), 3, at_cwd(), &[path.as_bytes()]));
    for fd in 4..19_004i64 {
        st.apply(&raw(ATTACKER, sys(libc::SYS_dup), fd, [3, 0, 0, 0, 0, 0], &[]));
    }
    for child in 1..=8 {
        st.apply(&fork(ATTACKER, ATTACKER + child));
    }
    let parent = &st.table.procs[&ATTACKER];
    assert!(parent.fds.len() <= 512, "{} fds kept", parent.fds.len());
    let removed = st.stats().removed;
    assert!(removed.fds_evicted >= 19_001 - 512, "{removed:?}");
    // The fd dup'd from is the one in use: it stays, as do the newest copies.
    let first = parent.fds.get(&3).expect("the fd dup'd from is kept");
    assert_eq!(&*first.name, path);
    assert!(parent.fds.contains_key(&19_003));
    assert!(!parent.fds.contains_key(&4), "the oldest copies went first");
    // One string for every copy, and one table for the parent and its eight children.
    for (_, f) in parent.fds.iter() {
        assert!(Arc::ptr_eq(&f.name, &first.name) && Arc::ptr_eq(&f.nameraw, &first.name));
    }
    for child in 1..=8 {
        let c = &st.table.procs[&(ATTACKER + child)];
        assert!(c.fds.shares_with(&parent.fds), "child {child} copied the table at fork");
        assert!(Arc::ptr_eq(&c.env, &parent.env) && Arc::ptr_eq(&c.cmdline, &parent.cmdline));
    }
    assert!(st.stats().fds <= 9 * 512);

    // Copy on write: a child closing an inherited fd changes its table only.
    let child = ATTACKER + 1;
    let close = child_raw(child, sys(libc::SYS_close), 0, [19_003, 0, 0, 0, 0, 0], &[]);
    assert_eq!(field(&mut st, &close, "fd.name").as_deref(), Some(path.as_str()));
    let (p, c) = (&st.table.procs[&ATTACKER], &st.table.procs[&child]);
    assert!(!c.fds.shares_with(&p.fds));
    assert!(p.fds.contains_key(&19_003) && !c.fds.contains_key(&19_003));
    assert!(st.table.procs[&(ATTACKER + 2)].fds.shares_with(&p.fds));

    // The surviving processes' state is right: a child's open names its file and parent.
    let open = child_raw(ATTACKER + 2, sys(libc::SYS_openat), 19_100, at_cwd(), &[b"/etc/shadow"]);
    assert_eq!(field(&mut st, &open, "fd.name").as_deref(), Some("/etc/shadow"));
    let again = child_raw(ATTACKER + 2, sys(libc::SYS_close), 0, [19_100, 0, 0, 0, 0, 0], &[]);
    assert_eq!(field(&mut st, &again, "proc.pname").as_deref(), Some(format!("p{ATTACKER}").as_str()));
    assert!(!st.table.procs[&(ATTACKER + 2)].fds.shares_with(&st.table.procs[&ATTACKER].fds));
}

#[test]
fn a_fork_storm_evicts_the_least_recently_used_processes() {
    let mut st = State::new(name_of);
    st.set_limits(Limits { max_threads: 256, max_fds: 64, ..Limits::default() });
    let busy = 7300;
    st.apply(&raw(busy, sys(libc::SYS_openat), 3, at_cwd(), &[b"/etc/hosts"]));
    for n in 0..5_000u32 {
        st.apply(&fork(7400, 10_000 + n));
        st.apply(&raw(10_000 + n, sys(libc::SYS_close), -9, [99, 0, 0, 0, 0, 0], &[]));
        if n % 100 == 0 {
            // The busy process keeps working through the storm.
            st.apply(&raw(busy, sys(libc::SYS_dup), 4, [3, 0, 0, 0, 0, 0], &[]));
        }
    }
    let stats = st.stats();
    assert!(stats.processes <= 256 && stats.threads <= 256, "{stats:?}");
    assert!(stats.removed.processes_evicted >= 5_000 - 256, "{stats:?}");
    // The busy process and its fds survive with the right state.
    let p = st.table.procs.get(&busy).expect("a process in use is not evicted");
    assert_eq!(p.comm, format!("p{busy}"));
    assert_eq!(p.fds.get(&4).map(|f| &*f.name), Some("/etc/hosts"));
    // The oldest children went, the newest are there.
    assert!(!st.table.procs.contains_key(&10_000));
    assert!(st.table.procs.contains_key(&14_999));
    assert!(st.table.threads.values().all(|pid| st.table.procs.contains_key(pid)));
}

#[test]
fn reconciliation_drops_processes_proc_no_longer_lists() {
    let mut st = State::new(name_of);
    let me = std::process::id();
    // Above the largest pid_max (2^22): no such process can exist.
    let ghost = 4_194_400;
    let late_ghost = 4_194_500;
    st.apply(&raw(me, sys(libc::SYS_openat), 3, at_cwd(), &[b"/etc/hosts"]));
    st.apply(&fork(me, ghost));
    st.apply(&raw(ghost, sys(libc::SYS_openat), 3, at_cwd(), &[b"/etc/hosts"]));
    let mark = st.records();
    // Named by a record after the mark: its last records may still be on their way.
    st.apply(&fork(me, late_ghost));
    let alive = lanner_state::seed::alive_threads(std::path::Path::new("/proc"));
    assert!(alive.contains(&me));
    assert_eq!(st.reconcile(&alive, mark), 1);
    assert!(!st.table.procs.contains_key(&ghost) && !st.table.threads.contains_key(&ghost));
    assert!(st.table.procs.contains_key(&late_ghost), "a process seen since the mark stays");
    assert!(st.table.procs.contains_key(&me), "a live process stays");
    assert_eq!(st.stats().removed.processes_reconciled, 1);
    // A round later the late one goes too.
    let mark = st.records();
    assert_eq!(st.reconcile(&alive, mark), 1);
    assert!(!st.table.procs.contains_key(&late_ghost));
    assert!(st.table.procs.contains_key(&me));
}

#[test]
fn a_thread_storm_in_one_process_stays_within_the_thread_table() {
    let mut st = State::new(name_of);
    st.set_limits(Limits { max_threads: 128, max_fds: 64, ..Limits::default() });
    let pid = 7500;
    st.apply(&raw(pid, sys(libc::SYS_openat), 3, at_cwd(), &[b"/etc/hosts"]));
    for tid in 20_000..21_000u32 {
        st.apply(&raw(pid, RecordKind::Fork { child_tgid: pid, child_tid: tid }, 0, [0; 6], &[]));
        // Each new thread's own record names its process, whatever was evicted.
        let own = RawEvent { tid, ..raw(pid, sys(libc::SYS_close), 0, [3, 0, 0, 0, 0, 0], &[]) };
        st.apply(&own);
        assert_eq!(st.table.process_of(tid).map(|p| p.pid), Some(pid));
        st.apply(&raw(pid, sys(libc::SYS_openat), 3, at_cwd(), &[b"/etc/hosts"]));
    }
    let stats = st.stats();
    assert!(stats.threads <= 128, "{stats:?}");
    assert!(stats.removed.threads_evicted > 0, "{stats:?}");
    assert_eq!(st.table.procs[&pid].fds.get(&3).map(|f| &*f.name), Some("/etc/hosts"));
}

#[test]
fn children_that_each_change_an_inherited_table_stay_within_the_fd_total() {
    let mut st = State::new(name_of);
    st.set_limits(Limits { max_threads: 10_000, max_fds: 512, max_fds_total: 8192 });
    let parent = 7600;
    st.apply(&raw(parent, sys(libc::SYS_openat), 3, at_cwd(), &[long_path().as_bytes()]));
    for fd in 4..512i64 {
        st.apply(&raw(parent, sys(libc::SYS_dup), fd, [3, 0, 0, 0, 0, 0], &[]));
    }
    // 200 children, each opening one file: each gets its own copy of 512 entries.
    for n in 0..200u32 {
        let child = 30_000 + n;
        st.apply(&fork(parent, child));
        let open =
            RawEvent { ppid: parent, ..raw(child, sys(libc::SYS_openat), 600, at_cwd(), &[b"/etc/hosts"]) };
        st.apply(&open);
        let held = st.table.fd_entries_held();
        assert!(held <= 8192 + 8192 / 16 + 2 * 512, "{held} entries held after child {n}");
    }
    let stats = st.stats();
    assert!(stats.removed.fds_evicted > 0, "{stats:?}");
    assert!(stats.fds_held <= 8192 + 8192 / 16 + 2 * 512, "{stats:?}");
    // The newest child's table is whole, with its own file.
    let last = &st.table.procs[&30_199];
    assert_eq!(last.fds.get(&600).map(|f| &*f.name), Some("/etc/hosts"));
    assert_eq!(last.fds.len(), 510, "fds 3 to 511 inherited, and its own");
}
