//! The thread table's starting point: every process in `/proc` when capture starts.

use crate::container::of_cgroup_file;
use crate::paths::Interner;
use crate::procnet::NetTables;
use crate::table::{Fd, FdKind, Process, Table};
use rustc_hash::FxHashSet;
use std::fs;
use std::path::Path;
use std::sync::Arc;

/// Clock ticks per second for `/proc/<pid>/stat` start times.
fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// The wall-clock time of boot, in nanoseconds since the epoch.
pub fn boot_time_ns() -> u64 {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(0, |s| s * 1_000_000_000)
}

fn nul_list(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// The most read of a process's arguments or environment: the probe's string limit.
pub const MAX_PROC_STRING: usize = 4096;

/// The first [`MAX_PROC_STRING`] bytes of a file (empty when unreadable).
fn read_capped(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    if let Ok(f) = fs::File::open(path) {
        let _ = f.take(MAX_PROC_STRING as u64).read_to_end(&mut out);
    }
    out
}

/// Reads one process from `/proc/<pid>`, with at most `max_fds` of its fds (their names
/// shared through `paths`); `None` when it is gone. Also says how many fds were left out.
pub fn read_process(
    proc_root: &Path,
    pid: u32,
    max_fds: usize,
    paths: &mut Interner,
) -> Option<(Process, usize)> {
    read_process_with(proc_root, pid, max_fds, paths, &mut NetTables::default())
}

/// [`read_process`], its sockets' addresses taken from `nets`: the socket tables of each
/// network namespace, read once for a whole scan.
pub fn read_process_with(
    proc_root: &Path,
    pid: u32,
    max_fds: usize,
    paths: &mut Interner,
    nets: &mut NetTables,
) -> Option<(Process, usize)> {
    let dir = proc_root.join(pid.to_string());
    let stat = fs::read_to_string(dir.join("stat")).ok()?;
    // `pid (comm) state ppid pgrp session tty_nr ...`: comm may hold spaces and parens.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_string();
    let rest: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let num = |i: usize| rest.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let mut p = Process::unknown(pid);
    p.comm = comm;
    p.ppid = num(1) as u32;
    p.pgid = num(2) as u32;
    p.sid = num(3) as u32;
    p.tty = num(4) as u32;
    p.start_ns = boot_time_ns() + num(19) * 1_000_000_000 / ticks_per_second();
    if let Ok(status) = fs::read_to_string(dir.join("status")) {
        for line in status.lines() {
            let mut it = line.split_whitespace();
            match it.next() {
                Some("Uid:") => p.uid = it.next().and_then(|v| v.parse().ok()).unwrap_or(u32::MAX),
                Some("Gid:") => p.gid = it.next().and_then(|v| v.parse().ok()).unwrap_or(u32::MAX),
                Some("CapEff:") => {
                    p.cap_effective = it.next().and_then(|v| u64::from_str_radix(v, 16).ok()).unwrap_or(0)
                }
                // The last number is the id in the process's own pid namespace.
                Some("NStgid:") => p.vpid = it.last().and_then(|v| v.parse().ok()).unwrap_or(pid),
                // A group led from an outer namespace is 0 in the inner ones: the probe, as
                // Falco's, gives its id where it lives: the innermost non-zero one.
                Some("NSpgid:") => {
                    let ids: Vec<u32> = it.filter_map(|v| v.parse().ok()).collect();
                    p.vpgid = ids.iter().rev().copied().find(|&v| v != 0).unwrap_or(0);
                }
                Some("CapPrm:") => {
                    p.cap_permitted = it.next().and_then(|v| u64::from_str_radix(v, 16).ok()).unwrap_or(0)
                }
                _ => {}
            }
        }
    }
    // Capped as the probe caps an exec's arguments and environment: a process with megabytes
    // of them costs no more here than one seen exec'ing.
    let argv = nul_list(&read_capped(&dir.join("cmdline")));
    if let Some((first, rest)) = argv.split_first() {
        p.exe = first.clone();
        let comm = p.comm.clone();
        p.set_command(&comm, rest.to_vec());
    } else {
        let comm = p.comm.clone();
        p.set_command(&comm, Vec::new());
    }
    p.env = Arc::new(nul_list(&read_capped(&dir.join("environ"))));
    // The executable's inode, times and writability, as Falco's /proc scan reads them (its
    // overlayfs layer is not known from /proc).
    if let Ok(m) = fs::metadata(dir.join("exe")) {
        use std::os::unix::fs::MetadataExt;
        let ns = |s: i64, n: i64| (s as u64).wrapping_mul(1_000_000_000).wrapping_add(n as u64);
        p.set_exe_inode(m.ino(), ns(m.ctime(), m.ctime_nsec()), ns(m.mtime(), m.mtime_nsec()));
        let info = lanner_capture::record::ExecInfo {
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            fsuid: p.uid,
            fsgid: p.gid,
            ..Default::default()
        };
        p.exe_writable = crate::table::exe_writable(&info, p.cap_effective);
    }
    if let Ok(exe) = fs::read_link(dir.join("exe")) {
        let exe = exe.to_string_lossy();
        p.exe_from_memfd = exe.starts_with("/memfd:");
        p.exepath = exe.trim_end_matches(" (deleted)").to_string();
    }
    if let Ok(cwd) = fs::read_link(dir.join("cwd")) {
        p.cwd = cwd.to_string_lossy().into_owned();
    }
    p.loginuid =
        fs::read_to_string(dir.join("loginuid")).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(u32::MAX);
    if let Ok(cg) = fs::read_to_string(dir.join("cgroup")) {
        p.container_id = Arc::from(of_cgroup_file(&cg));
    }
    let mut skipped = 0;
    if let Ok(entries) = fs::read_dir(dir.join("fd")) {
        for e in entries.flatten() {
            let Ok(fd) = e.file_name().to_string_lossy().parse::<i64>() else { continue };
            // Capped as live capture caps the table, before anything is read: a process
            // holding a million fds costs a directory walk, not a million names.
            if p.fds.len() >= max_fds {
                skipped += 1;
                continue;
            }
            let Ok(target) = fs::read_link(e.path()) else { continue };
            let t = paths.intern(&target.to_string_lossy());
            if let Some(ino) = crate::procnet::inode_of(&t, "socket:")
                && let Some(sock) = nets.socket(proc_root, pid, ino)
            {
                p.fds.insert(fd, sock.to_fd(t), 0, max_fds);
                continue;
            }
            let kind = if t.starts_with("socket:") {
                FdKind::OtherSocket
            } else if t.starts_with("pipe:") {
                FdKind::Pipe
            } else if t.starts_with("/memfd:") {
                FdKind::Memfd
            } else if t.starts_with("anon_inode:") {
                FdKind::Unknown
            } else if e.path().metadata().is_ok_and(|m| m.is_dir()) {
                FdKind::Directory
            } else {
                FdKind::File
            };
            p.fds.insert(fd, Fd::path(kind, t.clone(), t, 0), 0, max_fds);
        }
    }
    Some((p, skipped))
}

/// Every thread id `/proc` lists now (processes are their main threads).
pub type Alive = FxHashSet<u32>;

/// Every thread of every process in `/proc`, for reconciliation.
pub fn alive_threads(proc_root: &Path) -> Alive {
    let mut alive = Alive::default();
    let Ok(entries) = fs::read_dir(proc_root) else { return alive };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        alive.insert(pid);
        if let Ok(tasks) = fs::read_dir(e.path().join("task")) {
            alive.extend(tasks.flatten().filter_map(|t| t.file_name().to_string_lossy().parse::<u32>().ok()));
        }
    }
    alive
}

/// A thread's id in its own pid namespace, from its `status`.
fn ns_tid(task_dir: &Path) -> Option<u32> {
    let status = fs::read_to_string(task_dir.join("status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("NSpid:"))?.split_whitespace().last()?.parse().ok()
}

/// Fills a table from every process and thread in `/proc`, within the table's limits (the
/// processes and fds left out are counted in `table.removed`).
pub fn seed(table: &mut Table, proc_root: &Path, paths: &mut Interner) -> usize {
    let Ok(entries) = fs::read_dir(proc_root) else { return 0 };
    let mut n = 0;
    let limits = table.limits;
    let mut nets = NetTables::default();
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        if table.threads.len() >= limits.max_threads {
            table.removed.processes_not_seeded += 1;
            continue;
        }
        let Some((p, skipped)) = read_process_with(proc_root, pid, limits.max_fds, paths, &mut nets) else {
            continue;
        };
        table.removed.fds_not_seeded += skipped as u64;
        if let Ok(tasks) = fs::read_dir(e.path().join("task")) {
            for t in tasks.flatten() {
                if let Ok(tid) = t.file_name().to_string_lossy().parse::<u32>() {
                    table.threads.insert(tid, pid);
                    // Threads of a process in a pid namespace have ids of their own there.
                    if p.vpid != pid
                        && tid != pid
                        && let Some(vtid) = ns_tid(&t.path())
                    {
                        table.vtids.insert(tid, vtid);
                    }
                }
            }
        }
        table.threads.insert(pid, pid);
        table.procs.insert(pid, p);
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_this_process() {
        let mut t = Table::default();
        assert!(seed(&mut t, Path::new("/proc"), &mut Interner::default()) > 1);
        let me = t.procs.get(&std::process::id()).expect("this test process is in the table");
        assert_eq!(me.ppid, std::os::unix::process::parent_id());
        assert_eq!(me.cwd, std::env::current_dir().unwrap().to_string_lossy());
        assert!(
            me.exepath.ends_with(&*std::env::current_exe().unwrap().file_name().unwrap().to_string_lossy())
        );
        assert!(me.env_var("PATH").is_some());
        assert!(me.fds.contains_key(&0));
        let init = t.procs.get(&1).unwrap();
        assert_eq!(init.pid, 1);
        let alive = alive_threads(Path::new("/proc"));
        assert!(alive.contains(&std::process::id()) && alive.contains(&1));
    }

    #[test]
    fn seeding_is_capped_as_live_tables_are() {
        // This process holds more fds than the cap; the rest are counted, not read.
        let files: Vec<fs::File> = (0..40).map(|_| fs::File::open("/proc/self/status").unwrap()).collect();
        let mut t = Table::default();
        t.limits.max_fds = 16;
        t.limits.max_threads = 1_000_000;
        seed(&mut t, Path::new("/proc"), &mut Interner::default());
        let me = t.procs.get(&std::process::id()).unwrap();
        assert_eq!(me.fds.len(), 16);
        assert!(t.removed.fds_not_seeded >= 40 - 16 + 3, "{:?}", t.removed);
        // Processes beyond the thread table's size are left out and counted.
        let mut t = Table::default();
        t.limits.max_threads = 3;
        seed(&mut t, Path::new("/proc"), &mut Interner::default());
        assert!(t.threads.len() <= 3 + 64 && t.procs.len() <= 3, "{} processes", t.procs.len());
        assert!(t.removed.processes_not_seeded > 0);
        drop(files);
    }

    #[test]
    fn arguments_and_environment_from_proc_are_capped_as_the_probes() {
        let big = "x".repeat(100_000);
        // The shell stays (it has a command after the sleep), with its arguments.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30; :", "sh"])
            .arg(&big)
            .env("LANNER_BIG", &big)
            .spawn()
            .unwrap();
        // The kernel names the process "sh" before it lays out the new arguments, so a read
        // straight after spawn can see the name with no arguments yet: wait for them.
        let cmdline = format!("/proc/{}/cmdline", child.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !fs::read(&cmdline).is_ok_and(|c| c.starts_with(b"sh\0-c\0"))
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let (p, _) = read_process(Path::new("/proc"), child.id(), 16, &mut Interner::default()).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(p.comm, "sh");
        assert_eq!(p.args.first().map(String::as_str), Some("-c"));
        assert!(p.args.last().is_some_and(|a| a.starts_with("xxx")), "{:?}", p.args);
        assert!(p.args.iter().map(String::len).sum::<usize>() <= MAX_PROC_STRING);
        assert!(p.env.iter().map(String::len).sum::<usize>() <= MAX_PROC_STRING);
    }
}
