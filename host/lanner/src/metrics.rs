//! What the daemon counts, in Prometheus text format, the state of its plugins, and the
//! health verdicts: readiness, which fails with the reason when capture has gone quiet or
//! drops too much, and liveness, which fails only when the event loop has stopped.
//!
//! This module knows nothing of HTTP: the endpoint depends on it, never the reverse, so
//! that what is counted can be tested and reused (`lanner plugins list --daemon` reads
//! [`PluginStatus`] back) without the server.
//!
//! The event loop only touches atomics (prometheus-client's counters are atomics); labelled
//! families are used where the label set is small or the event rare (alerts, reloads).

use lanner_outputs::OutputStats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CpuLabels {
    pub cpu: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabels {
    pub rule: String,
    pub priority: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutputLabels {
    pub output: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabels {
    pub plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginStateLabels {
    pub plugin: String,
    pub state: String,
}

/// How the probe is attached: the mode in effect and how 32-bit syscalls are seen.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttachLabels {
    pub mode: String,
    pub compat: String,
}

/// A watched syscall the probe does not capture, and why.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UncapturedLabels {
    pub syscall: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabels {
    pub table: String,
}

/// The daemon's counters and health state.
pub struct Metrics {
    registry: Registry,
    /// Records read from the ring buffer, per CPU that wrote them.
    pub captured: Family<CpuLabels, Counter>,
    /// Records the kernel could not write (ring buffer full), per CPU.
    pub dropped: Family<CpuLabels, Counter>,
    /// 32-bit syscalls the probe could not deliver (no x86_64 equivalent).
    pub compat_unmapped: Counter,
    /// 1 for the attach mode in effect (`raw`, `per_syscall`) and how 32-bit syscalls are
    /// seen (`raw_tracepoints`, `ia32_fentry`, `not_captured`): a mode that gives something
    /// up is visible on a dashboard, not only in the start-up log.
    pub capture_attach: Family<AttachLabels, Gauge>,
    /// 1 per watched syscall the probe does not capture (per-syscall mode: `not_in_kernel`),
    /// refreshed at every filter change.
    pub capture_uncaptured: Family<UncapturedLabels, Gauge>,
    /// Per-syscall tracepoints attached, and whether the raw ones are (1) or not (0).
    pub capture_syscall_tracepoints: Gauge,
    pub capture_raw_tracepoints: Gauge,
    /// Events evaluated against the rules, per source.
    pub processed: Family<SourceLabels, Counter>,
    /// Alerts raised, per rule and priority.
    pub alerts: Family<AlertLabels, Counter>,
    /// Alerts raised but not sent (internal alerts past their rate limit, rule alerts in
    /// their deduplication window), per rule.
    pub suppressed: Family<RuleLabels, Counter>,
    /// Rule alerts delivered without deduplication because its table was full.
    pub dedup_untracked: Counter,
    /// Time spent evaluating rules, in nanoseconds (exposed in seconds).
    pub rule_eval_ns: Counter,
    /// Syscall events whose rules needed a plugin's field (extracted in batches), and those
    /// decided by the built-in fields alone where a plugin field was in play.
    pub syscall_deferred: Counter,
    /// See `syscall_deferred`.
    pub syscall_decided: Counter,
    /// Reloads of configuration and rules, per result.
    pub reloads: Family<ResultLabels, Counter>,
    /// Rules loaded.
    pub rules_loaded: Gauge,
    /// Per output: alerts delivered, dropped, failed delivery attempts, and queued now.
    pub output_delivered: Family<OutputLabels, Counter>,
    pub output_dropped: Family<OutputLabels, Counter>,
    pub output_failed_attempts: Family<OutputLabels, Counter>,
    pub output_queue_depth: Family<OutputLabels, Gauge>,
    /// The running outputs' counters, read at each scrape, with what was read last.
    outputs: Mutex<Vec<WatchedOutput>>,
    /// Per plugin: calls, failures (traps, timeouts, limit breaches) and restarts.
    pub plugin_calls: Family<PluginLabels, Counter>,
    pub plugin_failures: Family<PluginLabels, Counter>,
    pub plugin_restarts: Family<PluginLabels, Counter>,
    /// Per plugin: 1 for its state (running, backoff, disabled), 0 for the others.
    pub plugin_state: Family<PluginStateLabels, Gauge>,
    /// Per source plugin: events dropped because the rules were behind it.
    pub plugin_events_dropped: Family<PluginLabels, Counter>,
    /// The loaded plugins, read at each scrape, with what was read last.
    plugins: Mutex<Vec<WatchedPlugin>>,
    /// The sink plugins of the running outputs, likewise.
    sink_plugins: Mutex<Vec<WatchedPlugin>>,
    /// Every watched plugin's state and counts as last taken by
    /// [`Metrics::update_plugin_states`]: served as is, since reading a plugin's state
    /// waits for its running call.
    plugin_status: Mutex<Vec<PluginStatus>>,
    /// Entries in each bounded table, map and queue of the state and the event loop.
    pub state_entries: Family<TableLabels, Gauge>,
    /// Entries evicted because their table was full, per table.
    pub state_evicted: Family<TableLabels, Counter>,
    /// Entries removed by the reconciliation with /proc (their exits were lost), per table.
    pub state_reconciled: Family<TableLabels, Counter>,
    /// Entries /proc had at the start beyond the tables' bounds, left out, per table.
    pub state_not_seeded: Family<TableLabels, Counter>,
    /// Console pages open, and how often one fell behind the live alerts (its queue was
    /// full; it missed alerts until it caught up).
    pub console_clients: Gauge,
    pub console_clients_behind: Counter,
    /// Whether live capture is running (health applies to it).
    pub capture_on: AtomicBool,
    /// Also serve the counters Lanner has under Falco's `falcosecurity_*` names
    /// (`webserver.prometheus_falcosecurity_names`), so dashboards built on Falco's keep working.
    pub falcosecurity_names: AtomicBool,
    /// With the Falco names: Falco's resource utilization gauges
    /// (`metrics.resource_utilization_enabled`, as Falco's /metrics obeys it).
    pub falcosecurity_resources: AtomicBool,
    /// With the Falco names: Falco's state gauges (`metrics.state_counters_enabled`).
    pub falcosecurity_state: AtomicBool,
    /// With the Falco names: the rule counter (`metrics.rules_counters_enabled`).
    pub falcosecurity_rules: AtomicBool,
    /// What the loaded configuration was, for Falco's info gauges; set at start and on
    /// each reload.
    pub falco_loaded: Mutex<FalcoLoaded>,
    started: Instant,
    /// When it started, nanoseconds since the epoch (Falco's `start_ts`).
    started_ns: u64,
    /// When the last event arrived, in microseconds since start (0: none yet).
    last_event_us: AtomicU64,
    /// When the event loop last turned, in microseconds since start.
    loop_beat_us: AtomicU64,
    /// Drop ratio of the last window, as f64 bits.
    drop_ratio: AtomicU64,
    window: Mutex<Window>,
}

/// An output's name, its counters, and their values at the last scrape (delivered,
/// dropped, failed attempts).
type WatchedOutput = (String, Arc<OutputStats>, [u64; 3]);

/// A plugin, the name it is shown by (a sink plugin's is its output's), and its counters at
/// the last scrape (calls, failures, restarts, events dropped).
type WatchedPlugin = (String, Arc<lanner_plugin_runtime::Plugin>, [u64; 4]);

/// Counts over which the drop ratio is computed.
#[derive(Default)]
struct Window {
    since: Option<Instant>,
    records: u64,
    drops: u64,
}

/// How long the drop-ratio window lasts.
const WINDOW_SECS: f64 = 10.0;

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("lanner");
        let m = Metrics {
            captured: Family::default(),
            dropped: Family::default(),
            compat_unmapped: Counter::default(),
            capture_attach: Family::default(),
            capture_uncaptured: Family::default(),
            capture_syscall_tracepoints: Gauge::default(),
            capture_raw_tracepoints: Gauge::default(),
            processed: Family::default(),
            alerts: Family::default(),
            suppressed: Family::default(),
            dedup_untracked: Counter::default(),
            rule_eval_ns: Counter::default(),
            syscall_deferred: Counter::default(),
            syscall_decided: Counter::default(),
            reloads: Family::default(),
            rules_loaded: Gauge::default(),
            output_delivered: Family::default(),
            output_dropped: Family::default(),
            output_failed_attempts: Family::default(),
            output_queue_depth: Family::default(),
            outputs: Mutex::new(Vec::new()),
            plugin_calls: Family::default(),
            plugin_failures: Family::default(),
            plugin_restarts: Family::default(),
            plugin_state: Family::default(),
            plugin_events_dropped: Family::default(),
            plugins: Mutex::new(Vec::new()),
            sink_plugins: Mutex::new(Vec::new()),
            plugin_status: Mutex::new(Vec::new()),
            state_entries: Family::default(),
            state_evicted: Family::default(),
            state_reconciled: Family::default(),
            state_not_seeded: Family::default(),
            console_clients: Gauge::default(),
            console_clients_behind: Counter::default(),
            capture_on: AtomicBool::new(false),
            falcosecurity_names: AtomicBool::new(false),
            falcosecurity_resources: AtomicBool::new(true),
            falcosecurity_state: AtomicBool::new(true),
            falcosecurity_rules: AtomicBool::new(true),
            falco_loaded: Mutex::new(FalcoLoaded::default()),
            started: Instant::now(),
            started_ns: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            last_event_us: AtomicU64::new(0),
            loop_beat_us: AtomicU64::new(0),
            drop_ratio: AtomicU64::new(0f64.to_bits()),
            window: Mutex::new(Window::default()),
            registry: Registry::default(),
        };
        registry.register(
            "capture_records",
            "Records read from the kernel ring buffer, per CPU",
            m.captured.clone(),
        );
        registry.register(
            "capture_drops",
            "Records lost because the ring buffer was full, per CPU",
            m.dropped.clone(),
        );
        registry.register(
            "capture_compat_unmapped",
            "32-bit (ia32, x32) syscalls with no x86_64 equivalent, which the probe did not deliver",
            m.compat_unmapped.clone(),
        );
        registry.register(
            "capture_attach",
            "1 for the probe's attach mode in effect and how 32-bit syscalls are seen (raw_tracepoints, ia32_fentry, not_captured)",
            m.capture_attach.clone(),
        );
        registry.register(
            "capture_uncaptured_syscalls",
            "1 per syscall a rule or state table watches that the probe does not capture, and why",
            m.capture_uncaptured.clone(),
        );
        registry.register(
            "capture_syscall_tracepoints",
            "Per-syscall tracepoints (sys_enter_NAME, sys_exit_NAME) the probe is attached to",
            m.capture_syscall_tracepoints.clone(),
        );
        registry.register(
            "capture_raw_tracepoints",
            "1 while the raw sys_enter/sys_exit tracepoints, which every syscall pays for, are attached",
            m.capture_raw_tracepoints.clone(),
        );
        registry.register(
            "events_processed",
            "Events evaluated against the rules, per source",
            m.processed.clone(),
        );
        registry.register("alerts", "Alerts raised, per rule and priority", m.alerts.clone());
        registry.register(
            "alerts_suppressed",
            "Alerts raised but held back (internal alerts past their rate limit, rule alerts within alert_dedup's window), per rule",
            m.suppressed.clone(),
        );
        registry.register(
            "alerts_dedup_untracked",
            "Rule alerts delivered without deduplication because alert_dedup.max_keys combinations were tracked",
            m.dedup_untracked.clone(),
        );
        registry.register(
            "rule_evaluation_nanoseconds",
            "Time spent applying events to the state tables and evaluating rules",
            m.rule_eval_ns.clone(),
        );
        registry.register(
            "syscall_plugin_deferred",
            "Syscall events whose rules needed an extractor plugin's field, extracted in batches",
            m.syscall_deferred.clone(),
        );
        registry.register(
            "syscall_plugin_decided",
            "Syscall events of rules with plugin fields decided by the built-in fields alone",
            m.syscall_decided.clone(),
        );
        registry.register("reloads", "Reloads of configuration and rules, per result", m.reloads.clone());
        registry.register("rules_loaded", "Rules loaded and enabled", m.rules_loaded.clone());
        registry.register("console_clients", "Alert console pages open", m.console_clients.clone());
        registry.register(
            "console_clients_behind",
            "Times an alert console page fell behind the live alerts and missed some",
            m.console_clients_behind.clone(),
        );
        registry.register("output_delivered", "Alerts delivered, per output", m.output_delivered.clone());
        registry.register(
            "output_dropped",
            "Alerts dropped (queue full, retries exhausted, shutdown deadline), per output",
            m.output_dropped.clone(),
        );
        registry.register(
            "output_failed_attempts",
            "Delivery attempts that failed, per output",
            m.output_failed_attempts.clone(),
        );
        registry.register(
            "output_queue_depth",
            "Alerts waiting in each output's queue",
            m.output_queue_depth.clone(),
        );
        registry.register("plugin_calls", "Calls into each plugin", m.plugin_calls.clone());
        registry.register(
            "plugin_failures",
            "Traps, timeouts and limit breaches, per plugin",
            m.plugin_failures.clone(),
        );
        registry.register(
            "plugin_restarts",
            "Re-instantiations after a failure, per plugin",
            m.plugin_restarts.clone(),
        );
        registry.register(
            "plugin_state",
            "1 for each plugin's state (running, backoff, disabled), 0 for its other states",
            m.plugin_state.clone(),
        );
        registry.register(
            "plugin_events_dropped",
            "Events of a source plugin dropped because the rules were behind it",
            m.plugin_events_dropped.clone(),
        );
        registry.register(
            "state_entries",
            "Entries in each bounded table, map and queue of the state (processes, threads, fds, paths, cgroups, containers_seen, containers_pending, dns_names, dns_addresses)",
            m.state_entries.clone(),
        );
        registry.register(
            "state_evicted",
            "Entries evicted because their table was full, per table",
            m.state_evicted.clone(),
        );
        registry.register(
            "state_reconciled",
            "Entries removed by the reconciliation with /proc (their exit was not seen), per table",
            m.state_reconciled.clone(),
        );
        registry.register(
            "state_not_seeded",
            "Entries /proc had at the start beyond the tables' bounds, left out, per table",
            m.state_not_seeded.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Sets a table's size.
    pub fn set_entries(&self, table: &str, n: usize) {
        self.state_entries.get_or_create(&TableLabels { table: table.into() }).set(n as i64);
    }

    /// Notes that events arrived now.
    pub fn saw_events(&self) {
        let us = self.started.elapsed().as_micros() as u64;
        self.last_event_us.store(us.max(1), Ordering::Relaxed);
    }

    /// Notes that the event loop turned now.
    pub fn loop_alive(&self) {
        self.loop_beat_us.store(self.started.elapsed().as_micros() as u64, Ordering::Relaxed);
    }

    /// Liveness: `Err(reason)` when capture is on and the event loop has not turned for
    /// `max_stall_secs` (stuck: a restart may help). Drops and quiet do not count here.
    pub fn liveness(&self, max_stall_secs: f64) -> Result<(), String> {
        if !self.capture_on.load(Ordering::Relaxed) {
            return Ok(());
        }
        let now_us = self.started.elapsed().as_micros() as u64;
        let stall = now_us.saturating_sub(self.loop_beat_us.load(Ordering::Relaxed)) as f64 / 1e6;
        if stall > max_stall_secs {
            return Err(format!("the event loop has not turned for {stall:.1} s (limit {max_stall_secs} s)"));
        }
        Ok(())
    }

    /// Adds a second's worth of records read and dropped to the drop-ratio window.
    pub fn window_add(&self, records: u64, drops: u64) {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let since = *w.since.get_or_insert(now);
        w.records += records;
        w.drops += drops;
        let total = w.records + w.drops;
        let ratio = if total == 0 { 0.0 } else { w.drops as f64 / total as f64 };
        self.drop_ratio.store(ratio.to_bits(), Ordering::Relaxed);
        if now.duration_since(since).as_secs_f64() >= WINDOW_SECS {
            *w = Window { since: Some(now), ..Window::default() };
        }
    }

    /// `Err(reason)` when capture is on and blind: no event for `max_gap_secs`, or more than
    /// `max_drop_ratio` of the last window dropped.
    pub fn health(&self, max_gap_secs: f64, max_drop_ratio: f64) -> Result<(), String> {
        if !self.capture_on.load(Ordering::Relaxed) {
            return Ok(());
        }
        let now_us = self.started.elapsed().as_micros() as u64;
        let last = self.last_event_us.load(Ordering::Relaxed);
        let gap = now_us.saturating_sub(last) as f64 / 1e6;
        if gap > max_gap_secs {
            let what = if last == 0 { "since capture started" } else { "since the last one" };
            return Err(format!("no event captured for {gap:.1} s {what} (limit {max_gap_secs} s)"));
        }
        let ratio = f64::from_bits(self.drop_ratio.load(Ordering::Relaxed));
        if ratio > max_drop_ratio {
            return Err(format!(
                "{:.2}% of recent records were dropped (limit {:.2}%)",
                ratio * 100.0,
                max_drop_ratio * 100.0
            ));
        }
        Ok(())
    }

    /// The outputs whose counters to show (after a start or a reload that rebuilt them).
    pub fn set_outputs(&self, stats: Vec<(String, Arc<OutputStats>)>) {
        self.sync_outputs();
        let mut o = self.outputs.lock().unwrap_or_else(|e| e.into_inner());
        *o = stats.into_iter().map(|(n, s)| (n, s, [0; 3])).collect();
    }

    /// The plugins whose counters to show (after a start or a reload).
    pub fn set_plugins(&self, plugins: Vec<Arc<lanner_plugin_runtime::Plugin>>) {
        self.sync_plugins();
        let mut p = self.plugins.lock().unwrap_or_else(|e| e.into_inner());
        let named = plugins.into_iter().map(|pl| (pl.name().to_string(), pl)).collect();
        *p = keep_last(&p, named);
    }

    /// The running outputs' sink plugins, by output name (after a start or a reload that
    /// rebuilt the outputs).
    pub fn set_sink_plugins(&self, plugins: Vec<(String, Arc<lanner_plugin_runtime::Plugin>)>) {
        self.sync_plugins();
        let mut p = self.sink_plugins.lock().unwrap_or_else(|e| e.into_inner());
        *p = keep_last(&p, plugins);
    }

    /// Every plugin watched, with the name it is shown by: the loaded ones, then the sinks
    /// (`sink` true). A copy: a plugin's own lock may be held by a long call, and must not
    /// be waited for while holding these lists.
    pub fn watched_plugins(&self) -> Vec<(String, Arc<lanner_plugin_runtime::Plugin>, bool)> {
        let plain = self.plugins.lock().unwrap_or_else(|e| e.into_inner());
        let sinks = self.sink_plugins.lock().unwrap_or_else(|e| e.into_inner());
        plain
            .iter()
            .map(|(n, p, _)| (n.clone(), p.clone(), false))
            .chain(sinks.iter().map(|(n, p, _)| (n.clone(), p.clone(), true)))
            .collect()
    }

    /// Sets the plugin-state gauge from each watched plugin's state now; plugins gone since
    /// the last call disappear from it. Not at scrape time: a plugin's state waits for its
    /// running call, and a scrape must not.
    pub fn update_plugin_states(&self) {
        let status: Vec<PluginStatus> =
            self.watched_plugins().into_iter().map(|(n, p, sink)| PluginStatus::of(n, &p, sink)).collect();
        self.plugin_state.clear();
        for st in &status {
            for s in ["running", "backoff", "disabled"] {
                let labels = PluginStateLabels { plugin: st.name.clone(), state: s.into() };
                self.plugin_state.get_or_create(&labels).set(i64::from(s == st.state));
            }
        }
        *self.plugin_status.lock().unwrap_or_else(|e| e.into_inner()) = status;
    }

    /// The plugins' state and counts as last taken (at most about a second old).
    pub fn plugin_status(&self) -> Vec<PluginStatus> {
        self.plugin_status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn sync_plugins(&self) {
        let mut plugins = self.plugins.lock().unwrap_or_else(|e| e.into_inner());
        let mut sinks = self.sink_plugins.lock().unwrap_or_else(|e| e.into_inner());
        for (name, plugin, last) in plugins.iter_mut().chain(sinks.iter_mut()) {
            let labels = PluginLabels { plugin: name.clone() };
            let s = &plugin.stats;
            let now = [
                s.calls.load(Ordering::Relaxed),
                s.failures.load(Ordering::Relaxed),
                s.restarts.load(Ordering::Relaxed),
                s.events_dropped.load(Ordering::Relaxed),
            ];
            let counters = [
                &self.plugin_calls,
                &self.plugin_failures,
                &self.plugin_restarts,
                &self.plugin_events_dropped,
            ];
            carry(counters, &labels, now, last);
        }
    }

    /// Carries the outputs' own counters over into the exposed ones.
    fn sync_outputs(&self) {
        let mut outputs = self.outputs.lock().unwrap_or_else(|e| e.into_inner());
        for (name, stats, last) in outputs.iter_mut() {
            let labels = OutputLabels { output: name.clone() };
            let now = [
                stats.delivered.load(Ordering::Relaxed),
                stats.dropped(),
                stats.failed_attempts.load(Ordering::Relaxed),
            ];
            carry(
                [&self.output_delivered, &self.output_dropped, &self.output_failed_attempts],
                &labels,
                now,
                last,
            );
            self.output_queue_depth.get_or_create(&labels).set(stats.queued.load(Ordering::Relaxed) as i64);
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        self.sync_outputs();
        self.sync_plugins();
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        if self.falcosecurity_names.load(Ordering::Relaxed) {
            let mut falco = falcosecurity_text(&out, self.falcosecurity_rules.load(Ordering::Relaxed));
            falco.push_str(&self.falcosecurity_gauges(&out));
            // Before the end marker, which closes the exposition.
            match out.rfind("# EOF") {
                Some(end) => out.insert_str(end, &falco),
                None => out.push_str(&falco),
            }
        }
        out
    }
}

/// The loaded configuration as Falco's info gauges name it.
#[derive(Debug, Clone, Default)]
pub struct FalcoLoaded {
    /// The alerts' hostname.
    pub hostname: String,
    /// When the configuration was last loaded, nanoseconds since the epoch.
    pub reload_ns: u64,
    /// Configuration files read: (file name, sha256 in hex).
    pub config_files: Vec<(String, String)>,
    /// Rules files loaded: (file name, sha256 in hex).
    pub rules_files: Vec<(String, String)>,
}

impl FalcoLoaded {
    /// From the files read now: each file's name and the digest of its content.
    pub fn new(
        hostname: String,
        config_files: &[std::path::PathBuf],
        rules_files: &[std::path::PathBuf],
    ) -> Self {
        use sha2::Digest as _;
        let digests = |files: &[std::path::PathBuf]| -> Vec<(String, String)> {
            files
                .iter()
                .filter_map(|f| {
                    let bytes = std::fs::read(f).ok()?;
                    let name = f.file_name()?.to_string_lossy().into_owned();
                    Some((name, format!("{:x}", sha2::Sha256::digest(&bytes))))
                })
                .collect()
        };
        FalcoLoaded {
            hostname,
            reload_ns: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            config_files: digests(config_files),
            rules_files: digests(rules_files),
        }
    }
}

/// A label value as the exposition format escapes it.
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    /// Falco's wrapper, resource and state gauges under its names, computed now: the start
    /// time and uptime, kernel, boot time and CPUs; this process's and the host's CPU and
    /// memory (procfs, as libs reads it); the state tables' threads and fds.
    fn falcosecurity_gauges(&self, lanner: &str) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        if let Ok(r) = std::fs::read_to_string("/proc/sys/kernel/osrelease") {
            let name = "falcosecurity_falco_kernel_release_info";
            let _ = writeln!(out, "# HELP {name} https://falco.org/docs/metrics/ (served by Lanner)");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name}{{kernel_release=\"{}\"}} 1", r.trim().replace(['"', '\\'], "_"));
        }
        let loaded = self.falco_loaded.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut info = |name: &str, samples: Vec<String>| {
            if samples.is_empty() {
                return;
            }
            let _ = writeln!(out, "# HELP {name} https://falco.org/docs/metrics/ (served by Lanner)");
            let _ = writeln!(out, "# TYPE {name} gauge");
            for labels in samples {
                let _ = writeln!(out, "{name}{{{labels}}} 1");
            }
        };
        let files = |list: &[(String, String)]| -> Vec<String> {
            list.iter().map(|(f, sha)| format!("file_name=\"{}\",sha256=\"{sha}\"", label_value(f))).collect()
        };
        info("falcosecurity_falco_sha256_rules_files_info", files(&loaded.rules_files));
        info("falcosecurity_falco_sha256_config_files_info", files(&loaded.config_files));
        info(
            "falcosecurity_evt_hostname_info",
            vec![format!("hostname=\"{}\"", label_value(&loaded.hostname))],
        );
        let mut one = |name: &str, kind: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} https://falco.org/docs/metrics/ (served by Lanner)");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {value}");
        };
        one("falcosecurity_falco_start_timestamp_nanoseconds", "gauge", self.started_ns.to_string());
        if loaded.reload_ns > 0 {
            one("falcosecurity_falco_reload_timestamp_nanoseconds", "gauge", loaded.reload_ns.to_string());
        }
        one(
            "falcosecurity_falco_duration_seconds_total",
            "counter",
            self.started.elapsed().as_secs().to_string(),
        );
        if let Some(btime) = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse::<u64>().ok())
        {
            one(
                "falcosecurity_falco_host_boot_timestamp_nanoseconds",
                "gauge",
                (btime * 1_000_000_000).to_string(),
            );
        }
        one(
            "falcosecurity_falco_host_num_cpus_total",
            "gauge",
            std::thread::available_parallelism().map_or(0, |n| n.get()).to_string(),
        );
        if self.falcosecurity_resources.load(Ordering::Relaxed) {
            let r = crate::resources::resources();
            let bytes = |kb: u64| (kb * 1024).to_string();
            one("falcosecurity_falco_cpu_usage_ratio", "gauge", (r.cpu_usage_perc / 100.0).to_string());
            one("falcosecurity_falco_memory_rss_bytes", "gauge", bytes(r.memory_rss_kb));
            one("falcosecurity_falco_memory_vsz_bytes", "gauge", bytes(r.memory_vsz_kb));
            one("falcosecurity_falco_memory_pss_bytes", "gauge", bytes(r.memory_pss_kb));
            one(
                "falcosecurity_falco_container_memory_used_bytes",
                "gauge",
                r.container_memory_used_bytes.to_string(),
            );
            one(
                "falcosecurity_falco_host_cpu_usage_ratio",
                "gauge",
                (r.host_cpu_usage_perc / 100.0).to_string(),
            );
            one("falcosecurity_falco_host_memory_used_bytes", "gauge", bytes(r.host_memory_used_kb));
            one("falcosecurity_falco_host_procs_running_total", "gauge", r.host_procs_running.to_string());
            one("falcosecurity_falco_host_open_fds_total", "gauge", r.host_open_fds.to_string());
        }
        if self.falcosecurity_state.load(Ordering::Relaxed) {
            // The live loop reports the tables once a second: until it has (or in a replay,
            // which keeps no tables), there is no count to give, rather than a false 0.
            let entries = samples(lanner, "lanner_state_entries");
            let table = |t: &str| {
                entries.iter().find(|(l, _)| l.iter().any(|(k, v)| *k == "table" && *v == t)).map(|(_, v)| *v)
            };
            if let Some(n) = table("threads") {
                one("falcosecurity_scap_n_threads_total", "gauge", n.to_string());
            }
            if let Some(n) = table("fds") {
                one("falcosecurity_scap_n_fds_total", "gauge", n.to_string());
            }
        }
        out
    }
}

/// One plugin as the running daemon sees it (`/plugins`): its state, its counts since the
/// daemon started, and why it was disabled.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PluginStatus {
    /// The name it is shown by: the plugin's, or for a sink plugin its output's.
    pub name: String,
    /// The plugin's own name.
    pub plugin: String,
    /// For a sink plugin, the output it delivers for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// extractor, source or sink.
    pub kind: String,
    pub version: String,
    pub file: String,
    /// running, backoff or disabled.
    pub state: String,
    pub calls: u64,
    pub failures: u64,
    pub restarts: u64,
    /// Source events dropped because the rules were behind.
    pub events_dropped: u64,
    /// Outbound HTTP requests the grants refused.
    pub http_denied: u64,
    /// The last failure, whatever the state now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Why it is disabled (its last failure), while it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// For a source plugin, its event source, and what it is opened with (none: not opened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_params: Option<String>,
}

impl PluginStatus {
    fn of(name: String, p: &lanner_plugin_runtime::Plugin, sink: bool) -> Self {
        let state = p.state();
        let last_error = p.last_error();
        let disabled = state == lanner_plugin_runtime::PluginState::Disabled;
        let s = &p.stats;
        PluginStatus {
            output: sink.then(|| name.clone()),
            name,
            plugin: p.name().to_string(),
            kind: p.kind().as_str().to_string(),
            version: p.version().to_string(),
            file: p.path().display().to_string(),
            state: state.as_str().to_string(),
            calls: s.calls.load(Ordering::Relaxed),
            failures: s.failures.load(Ordering::Relaxed),
            restarts: s.restarts.load(Ordering::Relaxed),
            events_dropped: s.events_dropped.load(Ordering::Relaxed),
            http_denied: s.http_denied.load(Ordering::Relaxed),
            disabled_reason: if disabled { last_error.clone() } else { None },
            last_error,
            source: p.source_name().map(str::to_string),
            open_params: if sink { None } else { p.config().open_params.clone() },
        }
    }
}

/// The plugins to watch from now on, each with what was read of its counters last when it
/// was watched already (a reload keeps unchanged plugins): starting those from zero would
/// count their calls and failures twice.
fn keep_last(
    before: &[WatchedPlugin],
    now: Vec<(String, Arc<lanner_plugin_runtime::Plugin>)>,
) -> Vec<WatchedPlugin> {
    now.into_iter()
        .map(|(name, p)| {
            let last = before.iter().find(|(_, q, _)| Arc::ptr_eq(&p, q)).map_or([0; 4], |(_, _, l)| *l);
            (name, p, last)
        })
        .collect()
}

/// Adds to three labelled counters what another component's own counters gained since
/// `last`, and remembers `now`.
fn carry<L, const N: usize>(
    counters: [&Family<L, Counter>; N],
    labels: &L,
    now: [u64; N],
    last: &mut [u64; N],
) where
    L: Clone + std::hash::Hash + Eq,
{
    for ((family, n), l) in counters.into_iter().zip(now).zip(last.iter()) {
        family.get_or_create(labels).inc_by(n.saturating_sub(*l));
    }
    *last = now;
}

/// One sample of Lanner's exposition: its labels (as written, escapes kept) and value.
pub(crate) fn samples<'a>(text: &'a str, name: &str) -> Vec<(Vec<(&'a str, &'a str)>, f64)> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(r) => {
                    let end = label_end(r)?;
                    (&r[..end], r[end + 1..].trim())
                }
                None if rest.starts_with(' ') => ("", rest.trim()),
                None => return None,
            };
            Some((parse_labels(labels), value.parse().ok()?))
        })
        .collect()
}

/// Where the label set that `r` starts closes (`}` outside a quoted value).
fn label_end(r: &str) -> Option<usize> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in r.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn parse_labels(s: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].trim_start_matches(',');
        let after = &rest[eq + 2..];
        let mut escaped = false;
        let Some(end) = after.char_indices().find_map(|(i, c)| match c {
            _ if escaped => {
                escaped = false;
                None
            }
            '\\' => {
                escaped = true;
                None
            }
            '"' => Some(i),
            _ => None,
        }) else {
            break;
        };
        out.push((name, &after[..end]));
        rest = &after[end + 1..];
    }
    out
}

/// Falco's number for a priority (its enum: emergency 0 ... debug 7).
fn falco_priority(name: &str) -> Option<u8> {
    let n = ["emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug"]
        .iter()
        .position(|p| p.eq_ignore_ascii_case(name))?;
    Some(n as u8)
}

/// The counters Lanner has, under the names Falco's web server gives them
/// (`falcosecurity_<subsystem>_<name>`), computed from Lanner's own exposition.
fn falcosecurity_text(lanner: &str, rules: bool) -> String {
    use std::fmt::Write as _;
    // `+ 0.0`: an empty sum of floats is -0, which would print as "-0".
    let sum = |name: &str| samples(lanner, name).iter().map(|(_, v)| v).sum::<f64>() + 0.0;
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, lines: Vec<String>| {
        let _ = writeln!(out, "# HELP {name} https://falco.org/docs/metrics/ (served by Lanner)");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
    };
    family(
        "falcosecurity_falco_version_info",
        "gauge",
        vec![format!("falcosecurity_falco_version_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))],
    );
    family(
        "falcosecurity_falco_outputs_queue_num_drops_total",
        "counter",
        vec![format!(
            "falcosecurity_falco_outputs_queue_num_drops_total {}",
            sum("lanner_output_dropped_total")
        )],
    );
    family(
        "falcosecurity_scap_engine_name_info",
        "gauge",
        vec![
            "falcosecurity_scap_engine_name_info{engine_name=\"lanner_ebpf\",evt_source=\"syscall\"} 1"
                .into(),
        ],
    );
    let records = samples(lanner, "lanner_capture_records_total");
    let drops = samples(lanner, "lanner_capture_drops_total");
    let n_drops: f64 = drops.iter().map(|(_, v)| v).sum::<f64>() + 0.0;
    // As Falco's n_evts, lost records count among the events.
    let n_evts = records.iter().map(|(_, v)| v).sum::<f64>() + n_drops;
    family(
        "falcosecurity_scap_n_evts_total",
        "counter",
        vec![format!("falcosecurity_scap_n_evts_total {n_evts}")],
    );
    family(
        "falcosecurity_scap_n_drops_total",
        "counter",
        vec![format!("falcosecurity_scap_n_drops_total {n_drops}")],
    );
    family(
        "falcosecurity_scap_n_drops_buffer_total",
        "counter",
        vec![format!("falcosecurity_scap_n_drops_buffer_total {n_drops}")],
    );
    let per_cpu =
        |name: &str, list: &[(Vec<(&str, &str)>, f64)], add: &[(Vec<(&str, &str)>, f64)]| -> Vec<String> {
            list.iter()
                .filter_map(|(labels, v)| {
                    let cpu = labels.iter().find(|(k, _)| *k == "cpu")?.1;
                    let extra: f64 = add
                        .iter()
                        .filter(|(l, _)| l.iter().any(|(k, c)| *k == "cpu" && *c == cpu))
                        .map(|(_, v)| v)
                        .sum();
                    Some(format!("{name}{{cpu=\"{cpu}\"}} {}", v + extra))
                })
                .collect()
        };
    family(
        "falcosecurity_scap_n_evts_cpu_total",
        "counter",
        per_cpu("falcosecurity_scap_n_evts_cpu_total", &records, &drops),
    );
    family(
        "falcosecurity_scap_n_drops_cpu_total",
        "counter",
        per_cpu("falcosecurity_scap_n_drops_cpu_total", &drops, &[]),
    );
    if !rules {
        return out;
    }
    // Rule matches, per rule (Lanner's own alerts are not rules: left out, as Falco's are).
    let matches = samples(lanner, "lanner_alerts_total")
        .into_iter()
        .filter_map(|(labels, v)| {
            let rule = labels.iter().find(|(k, _)| *k == "rule")?.1;
            let priority = falco_priority(labels.iter().find(|(k, _)| *k == "priority")?.1)?;
            (v > 0.0 && !rule.starts_with("Lanner internal:") && !rule.starts_with("Falco internal:")).then(|| {
                format!("falcosecurity_falco_rules_matches_total{{priority=\"{priority}\",rule_name=\"{rule}\"}} {v}")
            })
        })
        .collect();
    family("falcosecurity_falco_rules_matches_total", "counter", matches);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn falcosecurity_names_from_lanner_counters() {
        let m = Metrics::new();
        m.captured.get_or_create(&CpuLabels { cpu: "0".into() }).inc_by(10);
        m.captured.get_or_create(&CpuLabels { cpu: "1".into() }).inc_by(5);
        m.dropped.get_or_create(&CpuLabels { cpu: "1".into() }).inc_by(3);
        let rule = AlertLabels { rule: "Read \\\"shadow\\\"".into(), priority: "Warning".into() };
        m.alerts.get_or_create(&rule).inc_by(2);
        m.alerts
            .get_or_create(&AlertLabels {
                rule: "Lanner internal: syscall event drop".into(),
                priority: "Critical".into(),
            })
            .inc();
        assert!(!m.encode().contains("falcosecurity_"), "off by default");
        m.falcosecurity_names.store(true, Ordering::Relaxed);
        let text = m.encode();
        for line in [
            "falcosecurity_scap_n_evts_total 18",
            "falcosecurity_scap_n_drops_total 3",
            "falcosecurity_scap_n_drops_buffer_total 3",
            "falcosecurity_scap_n_evts_cpu_total{cpu=\"0\"} 10",
            "falcosecurity_scap_n_evts_cpu_total{cpu=\"1\"} 8",
            "falcosecurity_scap_n_drops_cpu_total{cpu=\"1\"} 3",
            "falcosecurity_falco_outputs_queue_num_drops_total 0",
            r#"falcosecurity_falco_rules_matches_total{priority="4",rule_name="Read \\\"shadow\\\""} 2"#,
            r#"falcosecurity_scap_engine_name_info{engine_name="lanner_ebpf",evt_source="syscall"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
        assert!(!text.contains("rule_name=\"Lanner internal"), "{text}");
        // metrics.rules_counters_enabled: false leaves the rule counter out, as in Falco.
        m.falcosecurity_rules.store(false, Ordering::Relaxed);
        let without = m.encode();
        assert!(!without.contains("falcosecurity_falco_rules_matches_total"), "{without}");
        assert!(without.contains("falcosecurity_scap_n_evts_total 18"), "{without}");
        m.falcosecurity_rules.store(true, Ordering::Relaxed);
        assert!(text.contains("lanner_capture_records_total"), "Lanner's names stay");
        assert!(text.trim_end().ends_with("# EOF"), "{text}");
    }

    use super::*;

    #[test]
    fn health_tells_the_truth() {
        let m = Metrics::new();
        assert!(m.health(0.0, 0.01).is_ok(), "no capture, nothing to judge");
        m.capture_on.store(true, Ordering::Relaxed);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let err = m.health(0.01, 0.01).unwrap_err();
        assert!(err.starts_with("no event captured for"), "{err}");
        m.saw_events();
        assert!(m.health(10.0, 0.01).is_ok());
        m.window_add(900, 100);
        let err = m.health(10.0, 0.01).unwrap_err();
        assert_eq!(err, "10.00% of recent records were dropped (limit 1.00%)");
        assert!(m.health(10.0, 0.5).is_ok());
        // A drop storm is not a stuck loop: liveness holds while the loop turns.
        m.loop_alive();
        assert!(m.liveness(1.0).is_ok());
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(m.liveness(0.01).unwrap_err().starts_with("the event loop has not turned"));
    }

    #[test]
    fn metrics_are_exposed_in_prometheus_text() {
        let m = Metrics::new();
        m.alerts.get_or_create(&AlertLabels { rule: "R".into(), priority: "Warning".into() }).inc();
        m.processed.get_or_create(&SourceLabels { source: "syscall".into() }).inc_by(5);
        let text = m.encode();
        assert!(text.contains(r#"lanner_alerts_total{rule="R",priority="Warning"} 1"#), "{text}");
        assert!(text.contains(r#"lanner_events_processed_total{source="syscall"} 5"#), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
