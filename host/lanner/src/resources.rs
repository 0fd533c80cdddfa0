//! This process's and the host's resource use, read from procfs and the memory cgroup: what
//! `/metrics` and Falco's metrics snapshots both report, kept apart from either so that
//! neither depends on the other.

/// Falco's resource utilization values as libs computes them for `/metrics` (libsinsp's
/// linux resource_utilization): unlike the snapshots, which give the interval since the last
/// one, these are what a scrape at any time can say on its own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    /// This process's CPU time over its lifetime, percent of one CPU (1 decimal).
    pub cpu_usage_perc: f64,
    pub memory_rss_kb: u64,
    pub memory_vsz_kb: u64,
    pub memory_pss_kb: u64,
    /// The memory cgroup's usage, bytes (0 when it cannot be read).
    pub container_memory_used_bytes: u64,
    /// The host's busy share of CPU time since boot, percent (1 decimal).
    pub host_cpu_usage_perc: f64,
    /// MemTotal − MemFree − Buffers − Cached, kB.
    pub host_memory_used_kb: u64,
    pub host_procs_running: u64,
    /// File handles allocated on the host (the first number of file-nr).
    pub host_open_fds: u64,
}

/// Reads [`Resources`] from procfs and the memory cgroup.
pub fn resources() -> Resources {
    let mut r = Resources::default();
    let kb = |text: &str, key: &str| -> Option<u64> {
        text.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse().ok()
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    r.memory_rss_kb = kb(&status, "VmRSS:").unwrap_or(0);
    r.memory_vsz_kb = kb(&status, "VmSize:").unwrap_or(0);
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    r.memory_pss_kb = kb(&rollup, "Pss:").unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = |k: &str| kb(&meminfo, k).unwrap_or(0);
    r.host_memory_used_kb =
        mem("MemTotal:").saturating_sub(mem("MemFree:") + mem("Buffers:") + mem("Cached:"));
    r.host_open_fds = std::fs::read_to_string("/proc/sys/fs/file-nr")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let round1 = |v: f64| (v * 10.0).round() / 10.0;
    let hz = clock_ticks();
    let uptime: Option<f64> =
        std::fs::read_to_string("/proc/uptime").ok().and_then(|t| t.split_whitespace().next()?.parse().ok());
    if let (Some(ticks), Some(start), Some(uptime)) = (own_cpu_ticks(), own_start_ticks(), uptime) {
        let elapsed = uptime - start as f64 / hz;
        if elapsed > 0.0 {
            r.cpu_usage_perc = round1(100.0 * (ticks as f64 / hz) / elapsed);
        }
    }
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    if let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) {
        // user nice system idle iowait irq softirq, as libs sums them.
        let v: Vec<u64> = line.split_whitespace().skip(1).take(7).filter_map(|x| x.parse().ok()).collect();
        let sum: u64 = v.iter().sum();
        if sum > 0 && v.len() > 3 {
            r.host_cpu_usage_perc = round1(100.0 - v[3] as f64 * 100.0 / sum as f64);
        }
    }
    r.host_procs_running = stat
        .lines()
        .find_map(|l| l.strip_prefix("procs_running "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    r.container_memory_used_bytes = cgroup_memory_used().unwrap_or(0);
    r
}

/// The memory cgroup's usage: the file `FALCO_CGROUP_MEM_PATH` names (as libs reads it),
/// else cgroup v1's `memory.usage_in_bytes`, else this process's cgroup v2 `memory.current`
/// (libs reads only the v1 file, so on a v2 host Falco says 0).
fn cgroup_memory_used() -> Option<u64> {
    let read = |p: &str| std::fs::read_to_string(p).ok()?.trim().parse::<u64>().ok();
    if let Ok(p) = std::env::var("FALCO_CGROUP_MEM_PATH")
        && !p.is_empty()
        && !p.contains("..")
    {
        return read(&p);
    }
    if let Some(v) = read("/sys/fs/cgroup/memory/memory.usage_in_bytes") {
        return Some(v);
    }
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    read(&format!("/sys/fs/cgroup{}/memory.current", path.trim_end_matches('/')))
}

/// When this process started, in clock ticks after boot.
fn own_start_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

pub(crate) fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

/// This process's user and system time, in clock ticks.
pub(crate) fn own_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}
