//! Falco's `metrics` section: a snapshot of the daemon's counters every `interval`, sent as
//! Falco's "Falco internal: metrics snapshot" alert and/or appended to a file as Falco's
//! stats writer appends it, so that dashboards fed by Falco's snapshots keep their fields.
//! The values come from the same counters `/metrics` serves, and from /proc for resource use.

use crate::metrics::Metrics;
use crate::resources::{clock_ticks, own_cpu_ticks};
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::{Map, Value as Json, json};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The snapshot alert's rule, as Falco names it.
pub const SNAPSHOT_RULE: &str = "Falco internal: metrics snapshot";

/// Falco's `metrics` keys that Lanner implements.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Text, as Falco reads it: `interval: 5000` is the text "5000" (then refused).
    #[serde(deserialize_with = "text_or_number")]
    pub interval: String,
    pub output_rule: bool,
    pub output_file: String,
    pub resource_utilization_enabled: bool,
    pub state_counters_enabled: bool,
    pub kernel_event_counters_enabled: bool,
    pub kernel_event_counters_per_cpu_enabled: bool,
    pub rules_counters_enabled: bool,
    pub convert_memory_to_mb: bool,
    pub include_empty_values: bool,
}

impl MetricsConfig {
    /// The interval, or why it is refused (as Falco refuses it).
    pub fn check(&self) -> Result<Duration> {
        let d = parse_interval(&self.interval)
            .with_context(|| format!("metrics.interval: '{}'", self.interval))?;
        if d < Duration::from_millis(100) {
            bail!("metrics.interval: '{}' is below the minimum of 100ms (as in Falco)", self.interval);
        }
        Ok(d)
    }
}

fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Number(serde_yaml_ng::Number),
    }
    Ok(match Either::deserialize(d)? {
        Either::Text(s) => s,
        Either::Number(n) => n.to_string(),
    })
}

/// Falco's reading of a Prometheus duration: units y, w, d, h, m, s, ms in that order, each
/// at most once (`1h30m`), whitespace ignored. A bare number is refused, as Falco refuses
/// it (it once meant milliseconds).
pub fn parse_interval(text: &str) -> Result<Duration> {
    let s: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if s.is_empty() {
        bail!("empty");
    }
    if s.chars().all(|c| c.is_ascii_digit()) {
        bail!("a number without a unit; write it as a Prometheus duration such as 5s, 15m or 1h");
    }
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    let mut rest = s.as_str();
    let mut next_unit = 0;
    let mut ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            bail!("not a Prometheus duration (such as 5s, 15m, 1h30m)");
        }
        let n: u64 = rest[..digits].parse().context("a number too large")?;
        rest = &rest[digits..];
        // `ms` before `m`: the longest unit that matches.
        let unit = UNITS[next_unit..]
            .iter()
            .enumerate()
            .filter(|(_, (u, _))| rest.starts_with(u) && !(*u == "m" && rest.starts_with("ms")))
            .map(|(i, u)| (i + next_unit, *u))
            .next();
        let Some((i, (u, factor))) = unit else {
            bail!("not a Prometheus duration (units y, w, d, h, m, s, ms, largest first)");
        };
        ms = ms.saturating_add(n.saturating_mul(factor));
        rest = &rest[u.len()..];
        next_unit = i + 1;
    }
    Ok(Duration::from_millis(ms))
}

/// What the last snapshot saw, for rates and deltas.
struct Previous {
    at: Instant,
    n_evts: u64,
    n_drops: u64,
    num_evts: u64,
    cpu_ticks: u64,
    host_busy: u64,
    host_total: u64,
}

/// Builds the snapshots.
pub struct Snapshots {
    cfg: MetricsConfig,
    metrics: Arc<Metrics>,
    hostname: String,
    start_ns: u64,
    sample: u64,
    prev: Previous,
}

impl Snapshots {
    pub fn new(cfg: MetricsConfig, metrics: Arc<Metrics>, hostname: String) -> Self {
        let (host_busy, host_total) = host_cpu().unwrap_or_default();
        Snapshots {
            cfg,
            metrics,
            hostname,
            start_ns: now_ns(),
            sample: 0,
            prev: Previous {
                at: Instant::now(),
                n_evts: 0,
                n_drops: 0,
                num_evts: 0,
                cpu_ticks: own_cpu_ticks().unwrap_or_default(),
                host_busy,
                host_total,
            },
        }
    }

    /// One snapshot's output fields, with Falco's names where Lanner has the value.
    pub fn take(&mut self) -> Map<String, Json> {
        self.sample += 1;
        let text = self.metrics.encode();
        let sum = |prefix: &str| -> u64 {
            text.lines()
                .filter(|l| l.starts_with(prefix))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>() as u64
        };
        let now = Instant::now();
        let secs = now.duration_since(self.prev.at).as_secs_f64().max(1e-3);
        let mut f = Map::new();
        let mut counters = Map::new();
        f.insert("evt.time".into(), json!(now_ns()));
        f.insert("evt.hostname".into(), json!(self.hostname));
        f.insert("evt.source".into(), json!("syscall"));
        f.insert("falco.version".into(), json!(env!("CARGO_PKG_VERSION")));
        f.insert("falco.start_ts".into(), json!(self.start_ns));
        f.insert("falco.duration_sec".into(), json!((now_ns() - self.start_ns) / 1_000_000_000));
        if let Ok(r) = std::fs::read_to_string("/proc/sys/kernel/osrelease") {
            f.insert("falco.kernel_release".into(), json!(r.trim()));
        }
        if let Some(b) = boot_ts_ns() {
            f.insert("falco.host_boot_ts".into(), json!(b));
        }
        f.insert(
            "falco.host_num_cpus".into(),
            json!(std::thread::available_parallelism().map_or(0, |n| n.get())),
        );
        f.insert("scap.engine_name".into(), json!("lanner_ebpf"));
        let num_evts = sum("lanner_events_processed_total");
        counters.insert("falco.outputs_queue_num_drops".into(), json!(sum("lanner_output_dropped_total")));
        counters.insert("falco.num_evts".into(), json!(num_evts));
        counters.insert("falco.num_evts_prev".into(), json!(self.prev.num_evts));
        counters.insert(
            "falco.evts_rate_sec".into(),
            json!(num_evts.saturating_sub(self.prev.num_evts) as f64 / secs),
        );
        self.prev.num_evts = num_evts;
        if self.cfg.resource_utilization_enabled {
            self.resources(&mut counters, secs);
        }
        if self.cfg.state_counters_enabled {
            counters.insert("falco.n_threads".into(), json!(sum("lanner_state_entries{table=\"threads\"}")));
            counters.insert("falco.n_fds".into(), json!(sum("lanner_state_entries{table=\"fds\"}")));
        }
        if self.cfg.kernel_event_counters_enabled {
            let drops = sum("lanner_capture_drops_total");
            // As Falco's n_evts, the records lost count among the events.
            let evts = sum("lanner_capture_records_total") + drops;
            let (de, dd) = (evts.saturating_sub(self.prev.n_evts), drops.saturating_sub(self.prev.n_drops));
            counters.insert("scap.n_evts".into(), json!(evts));
            counters.insert("scap.n_evts_prev".into(), json!(self.prev.n_evts));
            counters.insert("scap.evts_rate_sec".into(), json!(de as f64 / secs));
            counters.insert("scap.n_drops".into(), json!(drops));
            counters.insert("scap.n_drops_prev".into(), json!(self.prev.n_drops));
            counters.insert("scap.n_drops_buffer_total".into(), json!(drops));
            counters.insert("scap.evts_drop_rate_sec".into(), json!(dd as f64 / secs));
            counters.insert(
                "scap.n_drops_perc".into(),
                json!(if de == 0 { 0.0 } else { 100.0 * dd as f64 / de as f64 }),
            );
            self.prev.n_evts = evts;
            self.prev.n_drops = drops;
        }
        if self.cfg.kernel_event_counters_per_cpu_enabled {
            // As libpman's: events (lost ones included) and drops, per CPU.
            let records = crate::metrics::samples(&text, "lanner_capture_records_total");
            let drops = crate::metrics::samples(&text, "lanner_capture_drops_total");
            let mut cpus: Vec<(u32, f64, f64)> = Vec::new();
            for (list, is_drop) in [(&records, false), (&drops, true)] {
                for (labels, v) in list.iter() {
                    let Some(cpu) =
                        labels.iter().find(|(k, _)| *k == "cpu").and_then(|(_, c)| c.parse::<u32>().ok())
                    else {
                        continue;
                    };
                    let at = match cpus.iter().position(|(c, _, _)| *c == cpu) {
                        Some(i) => i,
                        None => {
                            cpus.push((cpu, 0.0, 0.0));
                            cpus.len() - 1
                        }
                    };
                    cpus[at].1 += v;
                    if is_drop {
                        cpus[at].2 += v;
                    }
                }
            }
            cpus.sort_by_key(|(c, _, _)| *c);
            for (cpu, evts, drops) in cpus {
                counters.insert(format!("scap.n_evts_cpu_{cpu}"), json!(evts as u64));
                counters.insert(format!("scap.n_drops_cpu_{cpu}"), json!(drops as u64));
            }
        }
        if self.cfg.rules_counters_enabled {
            let (total, per_rule) = rule_matches(&text);
            counters.insert("falco.rules.matches_total".into(), json!(total));
            for (rule, n) in per_rule {
                counters.insert(format!("falco.rules.{}", sanitize_rule_name(&rule)), json!(n));
            }
        }
        self.prev.at = now;
        for (k, v) in counters {
            let empty = v.as_f64() == Some(0.0);
            if !empty || self.cfg.include_empty_values {
                f.insert(k, v);
            }
        }
        f
    }

    /// Falco's resource utilization fields, from /proc.
    fn resources(&mut self, f: &mut Map<String, Json>, secs: f64) {
        let (unit, div) = if self.cfg.convert_memory_to_mb { ("mb", 1024.0) } else { ("kb", 1.0) };
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let kb = |text: &str, key: &str| -> Option<f64> {
            text.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse().ok()
        };
        if let Some(v) = kb(&status, "VmRSS:") {
            f.insert(format!("falco.memory_rss_{unit}"), json!(v / div));
        }
        if let Some(v) = kb(&status, "VmSize:") {
            f.insert(format!("falco.memory_vsz_{unit}"), json!(v / div));
        }
        let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
        if let Some(v) = kb(&rollup, "Pss:") {
            f.insert(format!("falco.memory_pss_{unit}"), json!(v / div));
        }
        if let Some(ticks) = own_cpu_ticks() {
            let hz = clock_ticks();
            let used = ticks.saturating_sub(self.prev.cpu_ticks) as f64 / hz;
            f.insert("falco.cpu_usage_perc".into(), json!(100.0 * used / secs));
            self.prev.cpu_ticks = ticks;
        }
        if let Some((busy, total)) = host_cpu() {
            let (db, dt) =
                (busy.saturating_sub(self.prev.host_busy), total.saturating_sub(self.prev.host_total));
            let perc = if dt == 0 { 0.0 } else { 100.0 * db as f64 / dt as f64 };
            f.insert("falco.host_cpu_usage_perc".into(), json!(perc));
            (self.prev.host_busy, self.prev.host_total) = (busy, total);
        }
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        if let (Some(total), Some(avail)) = (kb(&meminfo, "MemTotal:"), kb(&meminfo, "MemAvailable:")) {
            f.insert(format!("falco.host_memory_used_{unit}"), json!((total - avail) / div));
        }
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        if let Some(n) = stat.lines().find_map(|l| l.strip_prefix("procs_running ")) {
            f.insert("falco.host_procs_running".into(), json!(n.trim().parse::<u64>().unwrap_or(0)));
        }
        if let Some(n) = std::fs::read_to_string("/proc/sys/fs/file-nr")
            .ok()
            .and_then(|t| t.split_whitespace().next()?.parse::<u64>().ok())
        {
            f.insert("falco.host_open_fds".into(), json!(n));
        }
    }

    /// One line of Falco's metrics file: the sample number and the fields.
    pub fn file_line(&self, fields: &Map<String, Json>) -> String {
        json!({"sample": self.sample, "output_fields": fields}).to_string()
    }
}

/// Takes a snapshot every interval: appended to `output_file`, and handed to `emit` (the
/// snapshot alert) when `output_rule` is on. A file that cannot be written is said once per
/// failure streak, not silently skipped.
pub fn start(
    cfg: MetricsConfig,
    metrics: Arc<Metrics>,
    hostname: String,
    emit: impl Fn(Map<String, Json>) -> bool + Send + 'static,
) -> Result<()> {
    let interval = cfg.check()?;
    let mut file = if cfg.output_file.is_empty() {
        None
    } else {
        Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&cfg.output_file)
                .with_context(|| format!("metrics.output_file: opening {}", cfg.output_file))?,
        )
    };
    if !cfg.output_rule && file.is_none() {
        tracing::warn!(
            "metrics.enabled but neither output_rule nor output_file is set: no snapshot is written \
             (/metrics still serves the counters)"
        );
    }
    let output_rule = cfg.output_rule;
    let mut snaps = Snapshots::new(cfg, metrics, hostname);
    std::thread::Builder::new().name("metrics-snapshots".into()).spawn(move || {
        let mut failing = false;
        loop {
            std::thread::sleep(interval);
            let fields = snaps.take();
            if let Some(f) = &mut file {
                let line = snaps.file_line(&fields);
                match writeln!(f, "{line}").and_then(|()| f.flush()) {
                    Ok(()) => failing = false,
                    Err(e) if !failing => {
                        failing = true;
                        tracing::error!("metrics.output_file: writing a snapshot failed: {e}");
                    }
                    Err(_) => {}
                }
            }
            if output_rule && !emit(fields) {
                return;
            }
        }
    })?;
    Ok(())
}

/// Alerts per rule from the exposition (`lanner_alerts_total`, all priorities summed),
/// Lanner's and Falco's internal alerts left out as Falco's rule counters leave them out;
/// and their total.
fn rule_matches(text: &str) -> (u64, Vec<(String, u64)>) {
    let mut per_rule: Vec<(String, u64)> = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("lanner_alerts_total{")) {
        let Some(start) = line.find("rule=\"") else { continue };
        let rest = &line[start + 6..];
        // Label values escape '"' and '\\': the value ends at the first unescaped quote.
        let mut rule = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => rule.push('\n'),
                    Some(e) => rule.push(e),
                    None => {}
                },
                '"' => break,
                c => rule.push(c),
            }
        }
        if rule.starts_with("Lanner internal:") || rule.starts_with("Falco internal:") {
            continue;
        }
        let Some(n) = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) else { continue };
        match per_rule.iter_mut().find(|(r, _)| *r == rule) {
            Some((_, total)) => *total += n as u64,
            None => per_rule.push((rule, n as u64)),
        }
    }
    (per_rule.iter().map(|(_, n)| n).sum(), per_rule)
}

/// Falco's field-name form of a rule name (falco_utils' sanitize_rule_name): every character
/// other than letters, digits, `_` and `:` becomes `_`, runs of `_` one, and a trailing `_`
/// goes.
fn sanitize_rule_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' || c == ':' { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    if out.ends_with('_') {
        out.pop();
    }
    out
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

fn boot_ts_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let btime: u64 = stat.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()?;
    Some(btime * 1_000_000_000)
}

/// The host's busy and total CPU time, in clock ticks.
fn host_cpu() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_as_falco_reads_them() {
        let ms = |s: &str| parse_interval(s).map(|d| d.as_millis() as u64);
        assert_eq!(ms("1h").unwrap(), 3_600_000);
        assert_eq!(ms("15m").unwrap(), 900_000);
        assert_eq!(ms("1h30m").unwrap(), 5_400_000);
        assert_eq!(ms("1s500ms").unwrap(), 1500);
        assert_eq!(ms(" 2 d ").unwrap(), 172_800_000);
        assert_eq!(ms("1w").unwrap(), 604_800_000);
        assert!(ms("5000").unwrap_err().to_string().contains("without a unit"));
        assert!(ms("30m1h").is_err(), "largest unit first");
        assert!(ms("1x").is_err());
        assert!(ms("1h1h").is_err());
        let cfg = |i: &str| MetricsConfig {
            enabled: true,
            interval: i.into(),
            output_rule: true,
            output_file: String::new(),
            resource_utilization_enabled: true,
            state_counters_enabled: true,
            kernel_event_counters_enabled: true,
            kernel_event_counters_per_cpu_enabled: false,
            rules_counters_enabled: true,
            convert_memory_to_mb: true,
            include_empty_values: false,
        };
        assert!(cfg("50ms").check().unwrap_err().to_string().contains("minimum of 100ms"));
        assert_eq!(cfg("100ms").check().unwrap(), Duration::from_millis(100));
    }

    #[test]
    fn memory_units_and_empty_values_follow_the_keys() {
        let cfg = MetricsConfig {
            enabled: true,
            interval: "1s".into(),
            output_rule: false,
            output_file: String::new(),
            resource_utilization_enabled: true,
            state_counters_enabled: true,
            kernel_event_counters_enabled: true,
            kernel_event_counters_per_cpu_enabled: false,
            rules_counters_enabled: true,
            convert_memory_to_mb: true,
            include_empty_values: false,
        };
        let metrics = Arc::new(Metrics::new());
        let mut mb = Snapshots::new(cfg.clone(), metrics.clone(), "h".into());
        let f = mb.take();
        let rss_mb = f["falco.memory_rss_mb"].as_f64().unwrap();
        assert!(rss_mb > 0.5, "{f:?}");
        // Nothing was captured: the counters at 0 are left out...
        assert!(!f.contains_key("scap.n_evts") && !f.contains_key("falco.num_evts"), "{f:?}");
        assert!(mb.file_line(&f).starts_with("{\"output_fields\""));
        let mut kb = Snapshots::new(
            MetricsConfig { convert_memory_to_mb: false, include_empty_values: true, ..cfg.clone() },
            metrics.clone(),
            "h".into(),
        );
        let f = kb.take();
        assert!(!f.contains_key("falco.memory_rss_mb"));
        let rss_kb = f["falco.memory_rss_kb"].as_f64().unwrap();
        assert!((rss_kb / 1024.0 - rss_mb).abs() < 64.0, "{rss_kb} kB against {rss_mb} MB");
        // ...unless include_empty_values asks for them.
        assert_eq!(f["scap.n_evts"], json!(0));
        assert_eq!(f["falco.num_evts"], json!(0));
        // Sections switched off are not there.
        let mut none = Snapshots::new(
            MetricsConfig {
                resource_utilization_enabled: false,
                state_counters_enabled: false,
                kernel_event_counters_enabled: false,
                include_empty_values: true,
                ..cfg
            },
            metrics,
            "h".into(),
        );
        let f = none.take();
        assert!(
            f.keys().all(|k| !k.starts_with("scap.n_") && !k.contains("memory") && k != "falco.n_threads"),
            "{f:?}"
        );
        assert_eq!(none.sample, 1);
    }

    #[test]
    fn rule_counters_per_rule_under_falcos_sanitized_names() {
        use crate::metrics::AlertLabels;
        let metrics = Arc::new(Metrics::new());
        let count = |rule: &str, priority: &str, n: u64| {
            metrics
                .alerts
                .get_or_create(&AlertLabels { rule: rule.into(), priority: priority.into() })
                .inc_by(n)
        };
        count("Read \"sensitive\" file (untrusted)", "Warning", 3);
        count("Read \"sensitive\" file (untrusted)", "Error", 1);
        count("Terminal shell in container", "Notice", 2);
        count("Lanner internal: syscall event drop", "Critical", 5);
        let cfg = MetricsConfig {
            enabled: true,
            interval: "1s".into(),
            output_rule: false,
            output_file: String::new(),
            resource_utilization_enabled: false,
            state_counters_enabled: false,
            kernel_event_counters_enabled: false,
            kernel_event_counters_per_cpu_enabled: false,
            rules_counters_enabled: true,
            convert_memory_to_mb: true,
            include_empty_values: false,
        };
        let f = Snapshots::new(cfg.clone(), metrics.clone(), "h".into()).take();
        assert_eq!(f["falco.rules.matches_total"], json!(6), "internal alerts are not rules: {f:?}");
        assert_eq!(f["falco.rules.Read_sensitive_file_untrusted"], json!(4), "{f:?}");
        assert_eq!(f["falco.rules.Terminal_shell_in_container"], json!(2), "{f:?}");
        assert!(!f.keys().any(|k| k.contains("internal")), "{f:?}");
        let f = Snapshots::new(
            MetricsConfig { rules_counters_enabled: false, ..cfg.clone() },
            metrics.clone(),
            "h".into(),
        )
        .take();
        assert!(!f.keys().any(|k| k.starts_with("falco.rules.")), "{f:?}");
        // Per CPU, as libpman names them: events (lost ones included) and drops.
        use crate::metrics::CpuLabels;
        metrics.captured.get_or_create(&CpuLabels { cpu: "0".into() }).inc_by(10);
        metrics.captured.get_or_create(&CpuLabels { cpu: "1".into() }).inc_by(5);
        metrics.dropped.get_or_create(&CpuLabels { cpu: "1".into() }).inc_by(3);
        let per_cpu = MetricsConfig { kernel_event_counters_per_cpu_enabled: true, ..cfg.clone() };
        let f = Snapshots::new(per_cpu, metrics.clone(), "h".into()).take();
        assert_eq!(f["scap.n_evts_cpu_0"], json!(10), "{f:?}");
        assert_eq!(f["scap.n_evts_cpu_1"], json!(8), "{f:?}");
        assert_eq!(f["scap.n_drops_cpu_1"], json!(3), "{f:?}");
        assert!(!f.contains_key("scap.n_drops_cpu_0"), "0 is left out without include_empty_values: {f:?}");
        let f = Snapshots::new(cfg, metrics, "h".into()).take();
        assert!(!f.keys().any(|k| k.contains("_cpu_")), "off by default: {f:?}");
        assert_eq!(sanitize_rule_name("a--b c:d__"), "a_b_c:d");
    }
}
