//! `lanner run` as a daemon: the configuration, logging, the HTTP endpoint, and reloads of
//! configuration and rules (files watched, SIGHUP) swapped into the running loop without
//! stopping capture.

use crate::config::{Config, EngineKind, LogFormat, Sources};
use crate::live::{
    self, AlertFormat, AlertTarget, Control, Detection, Output, RunOptions, Sink, SyscallFilter,
};
use crate::metrics::{Metrics, ResultLabels};
use crate::sources::SourceRunner;
use anyhow::{Context, Result, bail};
use lanner_outputs::{OutputSpec, Outputs, ProgramSink, RetryPolicy, StdoutSink};
use lanner_plugin_runtime::PluginSet;
use std::collections::BTreeSet;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{Sender, channel};
use std::time::Duration;

/// Runs the daemon until SIGINT or SIGTERM (or `duration`). Exit status 3 when records were
/// dropped.
pub fn run(sources: Sources, duration: Option<Duration>) -> Result<ExitCode> {
    let loaded = sources.load()?;
    let config = loaded.config.clone();
    init_logging(&config)?;
    for f in &loaded.files {
        tracing::info!(file = %f.display(), "configuration read");
    }
    let plugins = load_plugins(&config)?;
    let detection = build_detection(&config, &plugins)?;
    let metrics = Arc::new(Metrics::new());
    metrics.set_plugins(plugins.plugins());
    metrics.rules_loaded.set(enabled_rules(&detection) as i64);
    if config.webserver.enabled {
        start_webserver(&config, metrics.clone());
    }
    if config.engine.kind == EngineKind::Replay {
        let mut out = BufWriter::new(std::io::stdout().lock());
        // A file has an end: no reloads. The same processing as live capture. With a
        // duration, the daemon stays up until it passes (or a signal), serving /metrics.
        let code = crate::replay::replay_file(
            &config.engine.replay.capture_file,
            &detection,
            &mut out,
            Some(metrics),
        )?;
        out.flush()?;
        if let Some(d) = duration {
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())?;
            signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone())?;
            let until = std::time::Instant::now() + d;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        return Ok(code);
    }
    let (tx, rx) = channel();
    let (source_tx, source_rx) = std::sync::mpsc::sync_channel(crate::sources::QUEUED_BATCHES);
    // Set by the sources and the reloads: the live loop looks at once.
    let source_wake = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut runner = SourceRunner::new(source_tx, source_wake.clone());
    runner.sync(&plugins);
    start_watcher(sources, &loaded.files, &config, plugins, runner, tx, metrics.clone())?;
    let opts = RunOptions {
        filter: detection.filter.clone(),
        duration,
        ring_bytes: Some(config.engine.ebpf.ring_buffer_bytes),
        poll_interval: Some(config.poll_interval()),
        metrics: Some(metrics.clone()),
        control: Some(rx),
        sources: detection.plugin_fields.clone().map(|f| (source_rx, f)),
        wake: Some(source_wake),
        host_root: (config.host_root != Path::new("/")).then(|| config.host_root.clone()),
        state_limits: config.state_limits(),
        reconcile_interval: config.reconcile_interval(),
    };
    let outputs = build_outputs(&config)?;
    metrics.set_outputs(outputs.stats());
    let sink = Sink::Alerts {
        ruleset: detection.ruleset,
        target: AlertTarget::Outputs(outputs),
        hostname: crate::node::hostname(),
    };
    let finished = live::run(opts, Output::Process(sink), &mut std::io::sink())?;
    // Capture has stopped; the outputs get the deadline to deliver what is queued.
    let report = finished.outputs.map(|o| o.shutdown(config.shutdown_deadline())).unwrap_or_default();
    for name in &report.unfinished {
        tracing::warn!(output = %name, "output still had alerts queued at the shutdown deadline");
    }
    let lost_alerts = report.total_dropped();
    if lost_alerts > 0 {
        tracing::warn!("{lost_alerts} alerts were dropped by outputs in all");
    }
    if finished.dropped > 0 {
        tracing::warn!("{} syscall records were dropped in all", finished.dropped);
    }
    if finished.dropped > 0 || lost_alerts > 0 {
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

/// Starts the outputs a configuration enables.
pub fn build_outputs(config: &Config) -> Result<Outputs> {
    use crate::config::parse_priority;
    let format = AlertFormat {
        json: config.json_output,
        include_output: config.json_include_output_property,
        include_tags: config.json_include_tags_property,
    };
    let spec = |name: &str, priority: &str, key: &str| -> Result<OutputSpec> {
        Ok(OutputSpec {
            min_priority: parse_priority(key, priority)?,
            queue_capacity: config.outputs_queue.capacity,
            retry: RetryPolicy {
                attempts: config.outputs_queue.retry_attempts.max(1),
                ..RetryPolicy::default()
            },
            ..OutputSpec::new(name)
        })
    };
    let mut outputs = Outputs::new();
    if config.stdout_output.enabled {
        let s = spec("stdout", &config.stdout_output.priority, "stdout_output.priority")?;
        outputs.add(s, Box::new(StdoutSink::new(format))).context("starting the stdout output")?;
    }
    let p = &config.program_output;
    if p.enabled {
        let s = spec("program", &p.priority, "program_output.priority")?;
        outputs
            .add(s, Box::new(ProgramSink::new(p.program.clone(), p.keep_alive, format)))
            .context("starting the program output")?;
    }
    // file_output and plugin_outputs: sink plugins, each output its own instance.
    for o in crate::sinks::outputs(config)? {
        let s = spec(&o.name, &o.priority, &o.key)?;
        outputs.add(s, o.sink).with_context(|| format!("starting the {} output", o.name))?;
    }
    Ok(outputs)
}

/// The plugins of the configured folder (none when it does not exist).
fn load_plugins(config: &Config) -> Result<PluginSet> {
    let dir = config.plugins_dir.is_dir().then_some(config.plugins_dir.as_path());
    let set = crate::plugins::load(dir)?;
    for p in set.plugins() {
        tracing::info!(plugin = p.name(), version = p.version(), "plugin loaded");
    }
    Ok(set)
}

/// Loads the rules a configuration names, with the plugins' fields, sources and versions;
/// any rule error rejects the whole configuration.
pub fn build_detection(config: &Config, plugins: &PluginSet) -> Result<Detection> {
    let mut engine = config.engine_config()?;
    let plugin_fields = crate::plugins::configure(plugins, &mut engine)?;
    let paths = config.rules_paths()?;
    let outcome = crate::rules::load(&paths, &engine);
    let errors: Vec<String> = outcome.diagnostics().filter(|d| d.is_error()).map(|d| d.to_string()).collect();
    if !errors.is_empty() {
        bail!("the rules did not load:\n{}", errors.join("\n"));
    }
    for w in outcome.diagnostics().filter(|d| !d.is_error()) {
        tracing::warn!("{w}");
    }
    let ruleset = outcome.into_result().context("the rules did not load")?;
    Ok(Detection {
        registry: engine.registry.clone(),
        plugin_fields: Some(Arc::new(plugin_fields)),
        filter: SyscallFilter::for_ruleset(&ruleset),
        ruleset: Arc::new(ruleset),
        format: AlertFormat {
            json: config.json_output,
            include_output: config.json_include_output_property,
            include_tags: config.json_include_tags_property,
        },
    })
}

fn enabled_rules(d: &Detection) -> usize {
    d.ruleset.rules().iter().filter(|r| r.enabled).count()
}

fn init_logging(config: &Config) -> Result<()> {
    use tracing_subscriber::EnvFilter;
    // RUST_LOG, when set, refines the configured level.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(config.log_filter().unwrap_or("info")));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let r = match config.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // Already set (a second run in one process, as tests do): keep the first.
    let _ = r;
    Ok(())
}

/// Starts `/healthz` and `/metrics`. A failure to bind is logged, and detection goes on
/// without the endpoint: losing the metrics must not stop detection.
fn start_webserver(config: &Config, metrics: Arc<Metrics>) {
    let w = &config.webserver;
    let addr = match format!("{}:{}", w.listen_address, w.listen_port).parse() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("webserver: listen address {}:{}: {e}", w.listen_address, w.listen_port);
            return;
        }
    };
    match crate::metrics::serve(metrics, addr, w.health.max_event_gap_seconds, w.health.max_drop_ratio) {
        Ok(bound) => tracing::info!("webserver listening on http://{bound} (/healthz, /metrics)"),
        Err(e) => tracing::error!("{e:#}; going on without /healthz and /metrics"),
    }
}

/// Files and directories whose change triggers a reload.
fn watched_paths(files: &[PathBuf], config: &Config) -> BTreeSet<PathBuf> {
    let mut set: BTreeSet<PathBuf> = files.iter().cloned().collect();
    // A plugin dropped in (or removed, or replaced) reloads too.
    set.insert(config.plugins_dir.clone());
    set.extend(config.config_files.iter().cloned());
    set.extend(config.rules_files.iter().cloned());
    // Absolute, as notify reports them: a relative `-r rules.yaml` has no parent to watch.
    set.into_iter().map(|p| std::path::absolute(&p).unwrap_or(p)).collect()
}

/// Whether a change notify reported at `path` concerns what Lanner loaded: one of the
/// files, or an entry of a watched directory (rules, plugins, config drop-ins). The
/// directories watched hold unrelated files too (rules in /tmp, a config beside logs),
/// whose changes must not reload.
fn is_watched(path: &Path, paths: &BTreeSet<PathBuf>) -> bool {
    paths.contains(path) || path.parent().is_some_and(|d| paths.contains(d))
}

/// Reloads on SIGHUP, and on changes to the configuration and rules when
/// `watch_config_files` is on. Each reload is checked in full on this side; the loop gets
/// either the new detection or the reason it was rejected.
fn start_watcher(
    sources: Sources,
    files: &[PathBuf],
    config: &Config,
    mut plugins: PluginSet,
    mut runner: SourceRunner,
    tx: Sender<Control>,
    metrics: Arc<Metrics>,
) -> Result<()> {
    let (trigger_tx, trigger_rx) = channel::<&'static str>();
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])?;
    let hup = trigger_tx.clone();
    std::thread::Builder::new().name("lanner-sighup".into()).spawn(move || {
        for _ in signals.forever() {
            if hup.send("SIGHUP").is_err() {
                break;
            }
        }
    })?;
    let watch = config.watch_config_files;
    let mut paths = watched_paths(files, config);
    let relevant = Arc::new(std::sync::Mutex::new(paths.clone()));
    let mut outputs_now = config.outputs_section();
    std::thread::Builder::new().name("lanner-reload".into()).spawn(move || {
        let file_tx = trigger_tx.clone();
        let filter = Arc::clone(&relevant);
        let mut watcher = if watch {
            match notify_debouncer_mini::new_debouncer(Duration::from_millis(300), move |res| {
                if let Ok(events) = res {
                    let events: Vec<notify_debouncer_mini::DebouncedEvent> = events;
                    let paths = filter.lock().unwrap_or_else(|p| p.into_inner());
                    if events.iter().any(|e| is_watched(&e.path, &paths)) {
                        let _ = file_tx.send("a watched file changed");
                    }
                }
            }) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::error!("watching configuration files: {e}; reload with SIGHUP");
                    None
                }
            }
        } else {
            None
        };
        let mut watching: BTreeSet<PathBuf> = BTreeSet::new();
        let rewatch = |w: &mut Option<notify_debouncer_mini::Debouncer<notify::RecommendedWatcher>>,
                       paths: &BTreeSet<PathBuf>,
                       watching: &mut BTreeSet<PathBuf>| {
            let Some(w) = w else { return };
            // The directories that hold the files: editors replace files by renaming, which
            // a watch on the file itself would lose.
            let dirs: BTreeSet<PathBuf> = paths
                .iter()
                .filter_map(|p| if p.is_dir() { Some(p.clone()) } else { p.parent().map(Path::to_path_buf) })
                .filter(|d| d.is_dir())
                .collect();
            for d in watching.difference(&dirs) {
                let _ = w.watcher().unwatch(d);
            }
            for d in dirs.difference(watching) {
                if let Err(e) = w.watcher().watch(d, notify::RecursiveMode::NonRecursive) {
                    tracing::warn!("watching {}: {e}", d.display());
                }
            }
            *watching = dirs;
        };
        rewatch(&mut watcher, &paths, &mut watching);
        while let Ok(first) = trigger_rx.recv() {
            // Coalesce a burst of triggers into one reload, saying what they were.
            std::thread::sleep(Duration::from_millis(100));
            let mut why = BTreeSet::from([first]);
            while let Ok(more) = trigger_rx.try_recv() {
                why.insert(more);
            }
            tracing::info!("reloading: {}", why.into_iter().collect::<Vec<_>>().join(", "));
            let rebuilt = sources.load().and_then(|l| {
                // The plugins folder first: new, changed and removed plugins, so that rules
                // can use a plugin dropped in since the last load.
                if l.config.plugins_dir.is_dir() {
                    let report = plugins.sync_dir(&l.config.plugins_dir);
                    for name in &report.loaded {
                        tracing::info!(plugin = %name, "plugin loaded");
                    }
                    for name in &report.unloaded {
                        tracing::info!(plugin = %name, "plugin unloaded");
                    }
                    for e in &report.errors {
                        tracing::error!("{e}");
                    }
                    metrics.set_plugins(plugins.plugins());
                }
                let d = build_detection(&l.config, &plugins)?;
                // New outputs only when their configuration changed: the running ones keep
                // their queues otherwise.
                let outputs = if l.config.outputs_section() == outputs_now {
                    None
                } else {
                    Some(build_outputs(&l.config)?)
                };
                Ok((l, d, outputs))
            });
            match rebuilt {
                Ok((loaded, detection, outputs)) => {
                    if let Some(o) = &outputs {
                        metrics.set_outputs(o.stats());
                        outputs_now = loaded.config.outputs_section();
                    }
                    metrics.reloads.get_or_create(&ResultLabels { result: "ok".into() }).inc();
                    metrics.rules_loaded.set(enabled_rules(&detection) as i64);
                    paths = watched_paths(&loaded.files, &loaded.config);
                    *relevant.lock().unwrap_or_else(|p| p.into_inner()) = paths.clone();
                    rewatch(&mut watcher, &paths, &mut watching);
                    if tx.send(Control::Swap(Box::new(detection), outputs)).is_err() {
                        runner.stop_all();
                        break;
                    }
                    runner.wake_loop();
                    // After the swap: a new source's first events meet the rules for it.
                    runner.sync(&plugins);
                }
                Err(e) => {
                    let why = format!("{e:#}");
                    tracing::error!("reload rejected, the running configuration and rules stay: {why}");
                    metrics.reloads.get_or_create(&ResultLabels { result: "failed".into() }).inc();
                    if tx.send(Control::Failed(why)).is_err() {
                        break;
                    }
                    runner.wake_loop();
                }
            }
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod watch_tests {
    use super::*;

    #[test]
    fn only_loaded_files_and_entries_of_watched_folders_reload() {
        let paths: BTreeSet<PathBuf> = ["/etc/lanner/lanner.yaml", "/etc/lanner/rules.d", "/tmp/r.yaml"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert!(is_watched(Path::new("/tmp/r.yaml"), &paths));
        assert!(is_watched(Path::new("/etc/lanner/rules.d/new.yaml"), &paths));
        assert!(is_watched(Path::new("/etc/lanner/rules.d"), &paths));
        assert!(!is_watched(Path::new("/tmp/alerts.log"), &paths));
        assert!(!is_watched(Path::new("/etc/lanner/other.yaml"), &paths));
    }
}
