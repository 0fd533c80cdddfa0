//! What the daemon counts, and the HTTP endpoint that shows it: `/metrics` in Prometheus
//! text format and `/healthz`, which answers 503 with the reason when capture has gone quiet
//! or drops too much (so that a Kubernetes probe restarts a blind agent).
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
pub struct ResultLabels {
    pub result: String,
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
    /// Events evaluated against the rules, per source.
    pub processed: Family<SourceLabels, Counter>,
    /// Alerts raised, per rule and priority.
    pub alerts: Family<AlertLabels, Counter>,
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
    /// The loaded plugins, read at each scrape, with what was read last.
    plugins: Mutex<Vec<WatchedPlugin>>,
    /// Whether live capture is running (health applies to it).
    pub capture_on: AtomicBool,
    started: Instant,
    /// When the last event arrived, in microseconds since start (0: none yet).
    last_event_us: AtomicU64,
    /// Drop ratio of the last window, as f64 bits.
    drop_ratio: AtomicU64,
    window: Mutex<Window>,
}

/// An output's name, its counters, and their values at the last scrape (delivered,
/// dropped, failed attempts).
type WatchedOutput = (String, Arc<OutputStats>, [u64; 3]);

/// A plugin and its counters at the last scrape (calls, failures, restarts).
type WatchedPlugin = (Arc<lanner_plugin_runtime::Plugin>, [u64; 3]);

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
            processed: Family::default(),
            alerts: Family::default(),
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
            plugins: Mutex::new(Vec::new()),
            capture_on: AtomicBool::new(false),
            started: Instant::now(),
            last_event_us: AtomicU64::new(0),
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
            "events_processed",
            "Events evaluated against the rules, per source",
            m.processed.clone(),
        );
        registry.register("alerts", "Alerts raised, per rule and priority", m.alerts.clone());
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
        Metrics { registry, ..m }
    }

    /// Notes that events arrived now.
    pub fn saw_events(&self) {
        let us = self.started.elapsed().as_micros() as u64;
        self.last_event_us.store(us.max(1), Ordering::Relaxed);
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
        *p = plugins.into_iter().map(|pl| (pl, [0; 3])).collect();
    }

    fn sync_plugins(&self) {
        let mut plugins = self.plugins.lock().unwrap_or_else(|e| e.into_inner());
        for (plugin, last) in plugins.iter_mut() {
            let labels = PluginLabels { plugin: plugin.name().to_string() };
            let s = &plugin.stats;
            let now = [
                s.calls.load(Ordering::Relaxed),
                s.failures.load(Ordering::Relaxed),
                s.restarts.load(Ordering::Relaxed),
            ];
            carry([&self.plugin_calls, &self.plugin_failures, &self.plugin_restarts], &labels, now, last);
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
        out
    }
}

/// Adds to three labelled counters what another component's own counters gained since
/// `last`, and remembers `now`.
fn carry<L>(counters: [&Family<L, Counter>; 3], labels: &L, now: [u64; 3], last: &mut [u64; 3])
where
    L: Clone + std::hash::Hash + Eq,
{
    for ((family, n), l) in counters.into_iter().zip(now).zip(last.iter()) {
        family.get_or_create(labels).inc_by(n.saturating_sub(*l));
    }
    *last = now;
}

/// Serves `/healthz` and `/metrics` on `addr` from a thread of its own, until the process
/// ends. Returns the address bound (the port may be 0 in the configuration).
pub fn serve(
    metrics: std::sync::Arc<Metrics>,
    addr: std::net::SocketAddr,
    max_gap_secs: f64,
    max_drop_ratio: f64,
) -> anyhow::Result<std::net::SocketAddr> {
    use anyhow::Context;
    use axum::{Router, http::StatusCode, routing::get};
    let listener = std::net::TcpListener::bind(addr).with_context(|| format!("webserver: binding {addr}"))?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("lanner-web".into()).spawn(move || {
        rt.block_on(async move {
            let m1 = metrics.clone();
            let app = Router::new()
                .route(
                    "/healthz",
                    get(move || {
                        let m = m1.clone();
                        async move {
                            match m.health(max_gap_secs, max_drop_ratio) {
                                Ok(()) => (StatusCode::OK, "ok\n".to_string()),
                                Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
                            }
                        }
                    }),
                )
                .route(
                    "/metrics",
                    get(move || {
                        let m = metrics.clone();
                        async move {
                            (
                                [(
                                    "content-type",
                                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                                )],
                                m.encode(),
                            )
                        }
                    }),
                );
            match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => {
                    if let Err(e) = axum::serve(l, app).await {
                        tracing::error!(error = %e, "webserver stopped");
                    }
                }
                Err(e) => tracing::error!(error = %e, "webserver: listener"),
            }
        })
    })?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
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
