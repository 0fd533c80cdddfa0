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
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let drops = config.alert_limits().drops;
    if !(drops.log || drops.alert || drops.exit) {
        tracing::warn!(
            "syscall_event_drops.actions has no log, alert or exit: records the kernel drops are \
             only counted (lanner_capture_drops_total) and summed up at exit"
        );
    }
    match crate::node::hostname_override() {
        Some((var, value)) if value.is_empty() => {
            tracing::warn!("{var} is set but empty: alerts carry an empty hostname (as Falco's do)")
        }
        Some((var, value)) => tracing::info!("the alerts' hostname is {value}, from {var}"),
        None => {}
    }
    let plugins = load_plugins(&config)?;
    let detection = build_detection(&config, &plugins)?;
    let metrics = Arc::new(Metrics::new());
    falcosecurity_flags(&metrics, &loaded);
    metrics.set_plugins(plugins.plugins());
    metrics.rules_loaded.set(enabled_rules(&detection) as i64);
    let console = start_console(&config, &metrics, &detection)?;
    if config.webserver.enabled {
        start_webserver(&config, metrics.clone(), console)?;
    }
    if config.engine.kind == EngineKind::Replay {
        return replay(&config, &plugins, &detection, metrics, duration);
    }
    let (tx, rx) = channel();
    let (source_tx, source_rx) = std::sync::mpsc::sync_channel(crate::sources::QUEUED_BATCHES);
    // Set by the sources and the reloads: the live loop looks at once.
    let source_wake = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut runner = SourceRunner::new(source_tx, source_wake.clone());
    runner.sync(&plugins);
    start_plugin_watch(metrics.clone(), tx.clone(), source_wake.clone())?;
    if config.metrics.enabled {
        let snapshots = tx.clone();
        let hostname = crate::node::hostname();
        crate::falco_metrics::start(
            config.metrics.clone(),
            metrics.clone(),
            hostname.clone(),
            move |fields| {
                let alert = snapshot_alert(fields, &hostname);
                snapshots.send(Control::Emit(Box::new(alert))).is_ok()
            },
        )?;
    }
    start_watcher(sources, &loaded.files, &config, plugins, runner, tx, metrics.clone())?;
    let opts = RunOptions {
        filter: detection.filter.clone(),
        duration,
        ring_bytes: Some(config.engine.ebpf.ring_buffer_bytes),
        poll_interval: Some(config.poll_interval()),
        idle_poll_interval: Some(config.idle_poll_interval()),
        attach: config.engine.ebpf.attach.into(),
        metrics: Some(metrics.clone()),
        control: Some(rx),
        sources: detection.plugin_fields.clone().map(|f| (source_rx, f)),
        wake: Some(source_wake),
        host_root: (config.host_root != Path::new("/")).then(|| config.host_root.clone()),
        limits: config.alert_limits(),
        state_limits: config.state_limits(),
        reconcile_interval: config.reconcile_interval(),
    };
    let (outputs, sink_plugins) = build_outputs(&config)?;
    metrics.set_outputs(outputs.stats());
    metrics.set_sink_plugins(sink_plugins);
    let sink = Sink::Alerts {
        ruleset: detection.ruleset,
        target: AlertTarget::Outputs(outputs),
        hostname: crate::node::hostname(),
    };
    let finished = live::run(opts, Output::Process(sink), &mut std::io::sink())?;
    // Capture has stopped; the outputs get the deadline to deliver what is queued.
    let lost_alerts = finished.outputs.map_or(0, |o| shut_down_outputs(o, &config));
    if finished.dropped > 0 {
        tracing::warn!("{} syscall records were dropped in all", finished.dropped);
    }
    if finished.drop_exit {
        tracing::error!("stopped by syscall_event_drops.actions: exit");
        return Ok(ExitCode::from(1));
    }
    if finished.dropped > 0 || lost_alerts > 0 {
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

/// `engine.kind: replay` (`lanner run --events FILE`): the file's events, then those of the
/// configured source plugins (opened as a live run opens them) until every one has ended,
/// through the rules to every configured output, as a live run delivers them. With a
/// duration, it runs until that has passed (serving its endpoint), else until the sources
/// are done; a signal ends it sooner. The outputs then get their shutdown deadline, and
/// alerts they could not deliver make the exit status 3, as in a live run; otherwise a
/// plugin that failed (or a bad line of the file) makes it 1, as `lanner replay` does.
fn replay(
    config: &Config,
    plugins: &PluginSet,
    detection: &Detection,
    metrics: Arc<Metrics>,
    duration: Option<Duration>,
) -> Result<ExitCode> {
    use crate::replay::Delivery;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::RecvTimeoutError;
    let (outputs, sink_plugins) = build_outputs(config)?;
    metrics.set_outputs(outputs.stats());
    metrics.set_sink_plugins(sink_plugins);
    metrics.update_plugin_states();
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone())?;
    let until = duration.map(|d| std::time::Instant::now() + d);
    let (control_tx, control) = channel();
    let wake = Arc::new(AtomicBool::new(false));
    start_plugin_watch(metrics.clone(), control_tx, wake.clone())?;
    // A file can wait for its outputs (live capture cannot): a full queue holds the replay
    // back, up to the shutdown deadline per alert, instead of dropping what came too fast.
    let target = AlertTarget::Waiting(outputs, config.shutdown_deadline());
    let mut delivery = Delivery::new(target, detection.limits, Some(metrics.clone()));
    let mut out = std::io::sink();
    let host = crate::node::hostname();
    let code =
        crate::replay::replay_file(&config.engine.replay.capture_file, detection, &mut delivery, &mut out)?;
    let (source_tx, source_rx) = std::sync::mpsc::sync_channel(crate::sources::QUEUED_BATCHES);
    let mut runner = SourceRunner::new(source_tx, wake);
    runner.sync(plugins);
    // Whether a plugin failed: a disabled one (its alert), a source that gave up, an
    // extractor's failed call.
    let mut failed = false;
    let internal = |delivery: &mut Delivery, out: &mut std::io::Sink, msg: Control| {
        if let Control::Internal { rule, output, .. } = msg {
            delivery.internal(rule, output, &host, out);
            true
        } else {
            false
        }
    };
    while !stop.load(Ordering::Relaxed) && !delivery.stopped() {
        while let Ok(msg) = control.try_recv() {
            failed |= internal(&mut delivery, &mut out, msg);
        }
        match source_rx.recv_timeout(Duration::from_millis(50)) {
            Ok(msg) => {
                failed |= crate::replay::source_message(msg, detection, &mut delivery, &host, &mut out);
                continue;
            }
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {}
        }
        if runner.finished() {
            // What a source sent between the last wait and its end.
            while let Ok(msg) = source_rx.try_recv() {
                failed |= crate::replay::source_message(msg, detection, &mut delivery, &host, &mut out);
            }
            if until.is_none_or(|u| std::time::Instant::now() >= u) {
                break;
            }
        }
    }
    runner.stop_all();
    // A plugin disabled in the last moments is still told, on the outputs still running.
    for msg in plugin_incidents(&metrics).into_iter().chain(control.try_iter()) {
        failed |= internal(&mut delivery, &mut out, msg);
    }
    delivery.finish()?;
    let lost = match delivery.target {
        AlertTarget::Waiting(outputs, _) | AlertTarget::Outputs(outputs) => {
            shut_down_outputs(outputs, config)
        }
        AlertTarget::Write(_) => 0,
    };
    Ok(if lost > 0 {
        ExitCode::from(3)
    } else if failed {
        ExitCode::from(1)
    } else {
        code
    })
}

/// Gives the outputs the shutdown deadline to deliver what is queued, and says which lost
/// alerts (delivery failures, full queues, the deadline): how many in all.
fn shut_down_outputs(outputs: lanner_outputs::Outputs, config: &Config) -> u64 {
    let report = outputs.shutdown(config.shutdown_deadline());
    for name in &report.unfinished {
        tracing::warn!(output = %name, "output still had alerts queued at the shutdown deadline");
    }
    for (name, n) in report.dropped.iter().filter(|(_, n)| *n > 0) {
        tracing::error!(
            output = %name,
            "output {name}: {n} alerts were not delivered (lanner_output_dropped_total; the delivery errors are logged above)"
        );
    }
    let lost = report.total_dropped();
    if lost > 0 {
        tracing::warn!("{lost} alerts were dropped by outputs in all");
    }
    lost
}

/// A sink plugin of a running output, by the output's name.
type SinkPlugin = (String, Arc<lanner_plugin_runtime::Plugin>);

/// Starts the outputs a configuration enables; also the sink plugins behind them, to watch.
pub fn build_outputs(config: &Config) -> Result<(Outputs, Vec<SinkPlugin>)> {
    use crate::config_read::parse_priority;
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
    if config.syslog_output.enabled {
        let s = spec("syslog", &config.syslog_output.priority, "syslog_output.priority")?;
        outputs.add(s, Box::new(config.syslog_output.sink(format))).context("starting the syslog output")?;
    }
    if let Some(hub) = crate::console::hub() {
        // Every alert, whatever its priority: the page filters. One attempt: the hub never
        // fails a delivery.
        let s = OutputSpec {
            queue_capacity: config.outputs_queue.capacity,
            retry: RetryPolicy { attempts: 1, ..RetryPolicy::default() },
            ..OutputSpec::new("console")
        };
        outputs.add(s, Box::new(crate::console::ConsoleSink(hub))).context("starting the console output")?;
    }
    // file_output and plugin_outputs: sink plugins, each output its own instance.
    let mut plugins = Vec::new();
    for o in crate::sinks::outputs(config)? {
        let s = spec(&o.name, &o.priority, &o.key)?;
        outputs.add(s, o.sink).with_context(|| format!("starting the {} output", o.name))?;
        plugins.push((o.name, o.plugin));
    }
    Ok((outputs, plugins))
}

/// What /metrics serves under Falco's names; a reload applies it at once.
fn falcosecurity_flags(metrics: &Metrics, loaded: &crate::config::Loaded) {
    use std::sync::atomic::Ordering::Relaxed;
    let config = &loaded.config;
    let rules = config.rules_paths().map(|(p, _)| p).unwrap_or_default();
    *metrics.falco_loaded.lock().unwrap_or_else(|e| e.into_inner()) =
        crate::metrics::FalcoLoaded::new(crate::node::hostname(), &loaded.files, &rules);
    metrics.falcosecurity_names.store(config.webserver.prometheus_falcosecurity_names, Relaxed);
    metrics.falcosecurity_resources.store(config.metrics.resource_utilization_enabled, Relaxed);
    metrics.falcosecurity_state.store(config.metrics.state_counters_enabled, Relaxed);
    metrics.falcosecurity_rules.store(config.metrics.rules_counters_enabled, Relaxed);
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
    if config.engine.kind == EngineKind::Replay {
        crate::replay::add_event_sources(Some(&config.engine.replay.capture_file), plugins, &mut engine)?;
    }
    let plugin_fields = crate::plugins::configure(plugins, &mut engine, &config.append_output)?;
    let (paths, missing) = config.rules_paths()?;
    for w in &missing {
        tracing::warn!("{w}");
    }
    let outcome = crate::rules::load(&paths, &engine);
    let errors: Vec<String> = outcome.diagnostics().filter(|d| d.is_error()).map(|d| d.to_string()).collect();
    if !errors.is_empty() {
        bail!("the rules did not load:\n{}", errors.join("\n"));
    }
    for w in outcome.diagnostics().filter(|d| !d.is_error()) {
        tracing::warn!("{w}");
    }
    let mut ruleset = outcome.into_result().context("the rules did not load")?;
    let applied = crate::rule_selection::apply(&config.rules, &mut ruleset);
    for line in &applied.info {
        tracing::info!("{line}");
    }
    for line in &applied.warnings {
        tracing::warn!("{line}");
    }
    // Falco 0.41's per-rule capture is not there: the rules run, and asking for it is said.
    let capturing: Vec<&str> =
        ruleset.rules().iter().filter(|r| r.capture && r.enabled).map(|r| r.name.as_str()).collect();
    if !capturing.is_empty() {
        tracing::warn!(
            "capture: true in {} enabled rule(s) ({}): Lanner does not implement Falco's per-rule \
             capture; their alerts are raised but no capture file is written",
            capturing.len(),
            capturing.join(", ")
        );
    }
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
        limits: config.alert_limits(),
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

/// Starts the HTTP endpoint (health, metrics, plugins). Any failure stops the start: an
/// endpoint that did not bind would leave the probes and the scrapes to whatever else holds
/// the port, and serving metrics openly, or over plain HTTP, when the operator asked
/// otherwise would be worse. `webserver.enabled: false` is the way to run without it.
/// The console's hub and routes when `console.enabled`; the token is resolved here so that a
/// bad token file stops the start, as a bad metrics token file does.
fn start_console(
    config: &Config,
    metrics: &Arc<Metrics>,
    detection: &Detection,
) -> Result<Option<(axum::Router, String)>> {
    let c = &config.console;
    if !c.enabled {
        return Ok(None);
    }
    if !config.webserver.enabled {
        tracing::warn!(
            "console.enabled is true but webserver.enabled is false: the console is not served \
             (enable the webserver to use it)"
        );
        return Ok(None);
    }
    if c.max_alerts == 0 {
        bail!(
            "console.max_alerts: 0 would keep no alert for the page; give at least 1 (the default is 10000)"
        );
    }
    let (token, origin, ignored) =
        crate::console::resolve_token(c, std::env::var(crate::console::TOKEN_ENV).ok())?;
    for w in ignored {
        tracing::warn!("{w}");
    }
    if origin == crate::console::TokenOrigin::Generated {
        tracing::info!(
            "console: no token configured (console.token, {}, console.token_file): a new one was made for this run",
            crate::console::TOKEN_ENV
        );
    }
    let hub = crate::console::install(c.max_alerts, metrics.clone());
    hub.set_rules(&detection.ruleset);
    let router = crate::console::router(hub, token.clone(), config.webserver.tls.enabled);
    Ok(Some((router, token)))
}

fn start_webserver(
    config: &Config,
    metrics: Arc<Metrics>,
    console: Option<(axum::Router, String)>,
) -> Result<()> {
    let w = &config.webserver;
    let addr = crate::web::listen_addr(&w.listen_address, w.listen_port)?;
    let token = (!w.metrics_token_file.as_os_str().is_empty())
        .then(|| crate::web::read_token(&w.metrics_token_file))
        .transpose()?;
    let tls = w.tls.enabled.then(|| crate::web::tls_config(&w.tls.cert_file, &w.tls.key_file)).transpose()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let opts = crate::web::WebOptions {
        addr,
        max_gap_secs: w.health.max_event_gap_seconds,
        max_drop_ratio: w.health.max_drop_ratio,
        token,
        tls,
        console: console.as_ref().map(|(r, _)| r.clone()),
    };
    let bound = crate::web::serve(metrics, opts)?;
    tracing::info!(
        "webserver listening on {scheme}://{bound} (/healthz/live, /healthz/ready, /metrics, /plugins{})",
        if w.metrics_token_file.as_os_str().is_empty() { "" } else { " with a bearer token" }
    );
    if let Some((_, token)) = console {
        // The one time the token is shown, as Jupyter does: the operator opens this URL.
        let url = crate::console::url(bound, w.tls.enabled, &token);
        tracing::info!("alert console: {url}");
    }
    Ok(())
}

/// Files and directories whose change triggers a reload.
fn watched_paths(files: &[PathBuf], config: &Config) -> BTreeSet<PathBuf> {
    let mut set: BTreeSet<PathBuf> = files.iter().cloned().collect();
    // A plugin dropped in (or removed, or replaced) reloads too.
    set.insert(config.plugins_dir.clone());
    set.extend(config.config_files.iter().map(|c| c.path.clone()));
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

/// Whether a kind of notify event may change what a file or folder holds. Opens, reads and
/// closes after reading do not: reloading on them made `cat`, `ls` or a reload's own reads
/// of the watched files start the next reload, forever. A close after writing may end a
/// write whose earlier events came before the file was complete.
fn may_change(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// What the watched paths hold: each file's content, and each watched folder's entries with
/// theirs. A reload is made only when this changed since the last one: a `touch`, a
/// `chmod` or a file written back unchanged is no reason to reload, and a rejected reload is
/// not retried until something changes again.
fn fingerprint(paths: &BTreeSet<PathBuf>) -> u64 {
    use std::hash::{Hash, Hasher};
    // Fixed keys: the same content must give the same value from one call to the next.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let content = |p: &Path, h: &mut std::collections::hash_map::DefaultHasher| {
        p.hash(h);
        match std::fs::read(p) {
            Ok(bytes) => bytes.hash(h),
            // A folder, or gone, or unreadable: which of them.
            Err(e) => (p.is_dir(), e.kind().to_string()).hash(h),
        }
    };
    for p in paths {
        content(p, &mut h);
        if let Ok(entries) = std::fs::read_dir(p) {
            let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            entries.sort();
            for e in entries {
                content(&e, &mut h);
            }
        }
    }
    h.finish()
}

/// Why a reload was asked for, when a file changed (SIGHUP reloads whatever the files hold).
const FILE_CHANGED: &str = "a watched file changed";

/// How long the files may settle after the first change notify reports (a file copied in
/// arrives in several writes), before they are read.
const SETTLE: Duration = Duration::from_millis(300);

/// Watches the plugins, every second: a plugin disabled after repeated failures (an
/// extractor, a source or a sink) raises the CRITICAL internal alert; every failure the
/// runtime kept for the host is taken, so none accumulate; the plugin-state gauge follows.
/// A thread of its own: asking a plugin waits for its running call.
fn start_plugin_watch(
    metrics: Arc<Metrics>,
    tx: Sender<Control>,
    wake: Arc<std::sync::atomic::AtomicBool>,
) -> Result<()> {
    std::thread::Builder::new().name("lanner-plugin-watch".into()).spawn(move || {
        loop {
            metrics.update_plugin_states();
            for msg in plugin_incidents(&metrics) {
                if tx.send(msg).is_err() {
                    return;
                }
                wake.store(true, std::sync::atomic::Ordering::Release);
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    })?;
    Ok(())
}

/// The internal alerts for the watched plugins disabled since the last call; every other
/// failure the runtime kept for the host is taken too (each was logged when it happened).
fn plugin_incidents(metrics: &Metrics) -> Vec<Control> {
    let mut alerts = Vec::new();
    for (name, plugin, sink) in metrics.watched_plugins() {
        for i in plugin.take_incidents().into_iter().filter(|i| i.disabled) {
            let what = if sink {
                format!("sink plugin {} of output {name}", plugin.name())
            } else {
                format!("plugin {name}")
            };
            let output = format!(
                "Lanner internal: {what} disabled after repeated failures ({}); a reload enables it again",
                i.message
            );
            alerts.push(Control::Internal {
                rule: crate::internal::PLUGIN_DISABLED_RULE,
                subject: name.clone(),
                output,
            });
        }
    }
    alerts
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
    // What the files held when they were loaded (read before this point: a change in
    // between is a change still to reload).
    let mut loaded_fp = fingerprint(&paths);
    let relevant = Arc::new(std::sync::Mutex::new(paths.clone()));
    let mut outputs_now = config.outputs_section();
    // The snapshots' thread is set up once: a reload that changes `metrics` is told so.
    let mut metrics_section = config.metrics.clone();
    let mut console_section = config.console.clone();
    std::thread::Builder::new().name("lanner-reload".into()).spawn(move || {
        let file_tx = trigger_tx.clone();
        let filter = Arc::clone(&relevant);
        let mut watcher = if watch {
            match notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
                Ok(e) => {
                    if may_change(&e.kind) {
                        let paths = filter.lock().unwrap_or_else(|p| p.into_inner());
                        if e.paths.iter().any(|p| is_watched(p, &paths)) {
                            let _ = file_tx.send(FILE_CHANGED);
                        }
                    }
                }
                Err(e) => tracing::warn!("watching configuration files: {e}"),
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
        let rewatch = |w: &mut Option<notify::RecommendedWatcher>,
                       paths: &BTreeSet<PathBuf>,
                       watching: &mut BTreeSet<PathBuf>| {
            use notify::Watcher;
            let Some(w) = w else { return };
            // The directories that hold the files: editors replace files by renaming, which
            // a watch on the file itself would lose.
            let dirs: BTreeSet<PathBuf> = paths
                .iter()
                .filter_map(|p| if p.is_dir() { Some(p.clone()) } else { p.parent().map(Path::to_path_buf) })
                .filter(|d| d.is_dir())
                .collect();
            for d in watching.difference(&dirs) {
                let _ = w.unwatch(d);
            }
            for d in dirs.difference(watching) {
                if let Err(e) = w.watch(d, notify::RecursiveMode::NonRecursive) {
                    tracing::warn!("watching {}: {e}", d.display());
                }
            }
            *watching = dirs;
        };
        rewatch(&mut watcher, &paths, &mut watching);
        while let Ok(first) = trigger_rx.recv() {
            // Coalesce a burst of triggers into one reload, saying what they were.
            std::thread::sleep(if first == FILE_CHANGED { SETTLE } else { Duration::from_millis(100) });
            let mut why = BTreeSet::from([first]);
            while let Ok(more) = trigger_rx.try_recv() {
                why.insert(more);
            }
            let now_fp = fingerprint(&paths);
            if !why.contains("SIGHUP") && now_fp == loaded_fp {
                tracing::debug!("watched files changed back or only in their metadata: no reload");
                continue;
            }
            loaded_fp = now_fp;
            tracing::info!("reloading: {}", why.into_iter().collect::<Vec<_>>().join(", "));
            let rebuilt = sources.load().and_then(|l| {
                for w in &l.warnings {
                    tracing::warn!("{w}");
                }
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
                    let outputs = outputs.map(|(o, sinks)| {
                        metrics.set_outputs(o.stats());
                        metrics.set_sink_plugins(sinks);
                        outputs_now = loaded.config.outputs_section();
                        o
                    });
                    // Plugins disabled after repeated failures get another chance: the
                    // operator's reload is the sign that the cause may be fixed.
                    for (name, plugin, _) in metrics.watched_plugins() {
                        if plugin.reenable() {
                            tracing::warn!(plugin = %name, "plugin re-enabled by the reload");
                        }
                    }
                    if loaded.config.metrics != metrics_section {
                        tracing::warn!(
                            "metrics: the reloaded section differs from the running one; metrics \
                             snapshots keep the settings they started with until lanner restarts"
                        );
                        metrics_section = loaded.config.metrics.clone();
                    }
                    falcosecurity_flags(&metrics, &loaded);
                    metrics.reloads.get_or_create(&ResultLabels { result: "ok".into() }).inc();
                    if let Some(hub) = crate::console::hub() {
                        hub.set_rules(&detection.ruleset);
                        hub.reloaded(true, None);
                    }
                    if loaded.config.console != console_section {
                        tracing::warn!(
                            "console: the reloaded section differs from the running one; the console \
                             keeps the settings it started with until lanner restarts"
                        );
                        console_section = loaded.config.console.clone();
                    }
                    metrics.rules_loaded.set(enabled_rules(&detection) as i64);
                    let before = std::mem::replace(&mut paths, watched_paths(&loaded.files, &loaded.config));
                    if before != paths {
                        loaded_fp = fingerprint(&paths);
                    }
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
                    if let Some(hub) = crate::console::hub() {
                        hub.reloaded(false, Some(why.clone()));
                    }
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

/// Falco's metrics snapshot alert: fractional values become text (alert fields have no
/// fractional type); the output file keeps them as numbers.
fn snapshot_alert(fields: serde_json::Map<String, serde_json::Value>, hostname: &str) -> lanner_event::Alert {
    use lanner_event::{OutputField, Value};
    let time_ns = fields.get("evt.time").and_then(serde_json::Value::as_u64).unwrap_or_default();
    let output_fields = fields
        .into_iter()
        .map(|(name, v)| {
            let value = match &v {
                serde_json::Value::Number(n) if n.is_u64() => Value::UInt(n.as_u64().unwrap_or_default()),
                serde_json::Value::String(s) => Value::Str(s.clone().into()),
                other => Value::Str(other.to_string().into()),
            };
            OutputField { name, value: Some(value) }
        })
        .collect();
    lanner_event::Alert {
        time_ns,
        rule: crate::falco_metrics::SNAPSHOT_RULE.into(),
        priority: lanner_event::Priority::Informational,
        output: "Falco metrics snapshot".into(),
        output_fields,
        source: "internal".into(),
        tags: Vec::new(),
        hostname: hostname.to_string(),
    }
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

    #[test]
    fn reads_are_no_change_and_the_fingerprint_follows_content_and_entries() {
        use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind};
        assert!(!may_change(&EventKind::Access(AccessKind::Open(AccessMode::Any))));
        assert!(!may_change(&EventKind::Access(AccessKind::Close(AccessMode::Read))));
        assert!(may_change(&EventKind::Access(AccessKind::Close(AccessMode::Write))));
        assert!(may_change(&EventKind::Modify(ModifyKind::Any)));
        assert!(may_change(&EventKind::Create(CreateKind::File)));
        let dir = std::env::temp_dir().join(format!("lanner-fp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("rules.d")).unwrap();
        let file = dir.join("lanner.yaml");
        std::fs::write(&file, "a: 1\n").unwrap();
        let paths: BTreeSet<PathBuf> = [file.clone(), dir.join("rules.d")].into_iter().collect();
        let fp = fingerprint(&paths);
        assert_eq!(fingerprint(&paths), fp, "reading changes nothing");
        std::fs::write(&file, "a: 1\n").unwrap();
        assert_eq!(fingerprint(&paths), fp, "the same content written back");
        std::fs::write(&file, "a: 2\n").unwrap();
        let fp2 = fingerprint(&paths);
        assert_ne!(fp2, fp);
        std::fs::write(dir.join("rules.d/x.yaml"), "").unwrap();
        let fp3 = fingerprint(&paths);
        assert_ne!(fp3, fp2, "an entry added");
        std::fs::write(dir.join("rules.d/x.yaml"), "- list: l\n  items: []\n").unwrap();
        assert_ne!(fingerprint(&paths), fp3, "an entry's content");
        std::fs::remove_file(dir.join("rules.d/x.yaml")).unwrap();
        assert_eq!(fingerprint(&paths), fp2, "the entry removed again");
        std::fs::remove_dir_all(&dir).ok();
    }
}
