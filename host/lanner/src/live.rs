//! Live capture: the probe's records applied to the state tables and evaluated, until
//! SIGINT or SIGTERM; and `lanner capture`, which writes them as an event file.

use crate::deferred::PluginSyscalls;
use crate::metrics::{AlertLabels, CpuLabels, Metrics, SourceLabels};
use crate::sources::SourceMsg;
use anyhow::{Context, Result};
use lanner_capture::record::{RawEvent, RecordKind};
use lanner_capture::{Capture, CaptureConfig, rawfile, syscalls};
use lanner_engine::Ruleset;
use lanner_event::{
    Alert, Event, EventTypeId, FieldArg, FieldId, FieldRef, FieldRegistry, Priority, SYSCALL_SOURCE, Value,
    evttype,
};
use lanner_outputs::Outputs;
use lanner_state::{FieldMap, LiveEvent, State};
use prometheus_client::metrics::counter::Counter;
use serde_json::{Map, Value as Json, json};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// What capture delivers: syscall numbers, and those among them delivered only with a
/// socket address.
#[derive(Debug, Clone, Default)]
pub struct SyscallFilter {
    /// Syscalls to deliver.
    pub syscalls: Vec<u32>,
    /// Of those, the ones delivered only when they pass a socket address.
    pub address_required: Vec<u32>,
    /// Of those, the ones whose data the probe keeps (a loaded rule reads it).
    pub data: Vec<u32>,
}

impl SyscallFilter {
    /// Every captured syscall, in full (for `lanner capture` without rules).
    pub fn everything() -> Self {
        let data = syscalls::DATA_SYSCALLS.iter().filter_map(|n| syscalls::number(n)).collect();
        Self {
            syscalls: syscalls::CAPTURED.iter().map(|s| s.nr).collect(),
            address_required: Vec::new(),
            data,
        }
    }

    /// What the ruleset and the state tables need.
    pub fn for_ruleset(ruleset: &Ruleset) -> Self {
        let mut nrs = syscalls::numbers_for_event_types(ruleset.needed_event_types());
        nrs.extend(lanner_state::NEEDED_SYSCALLS.iter().filter_map(|n| syscalls::number(n)));
        nrs.retain(|nr| syscalls::spec(*nr).is_some());
        nrs.sort_unstable();
        nrs.dedup();
        // A send without a destination address (a connected socket's) changes no state, and
        // the fd's name did not change with it: when that alone rules out every rule, the
        // kernel keeps it. They are most of a network server's syscalls.
        let registry = FieldRegistry::with_syscall_fields();
        let changed = registry.get("fd.name_changed").expect("fd.name_changed is a syscall field");
        let address_required = ["sendto", "sendmsg"]
            .iter()
            .filter_map(|n| Some((syscalls::number(n)?, evttype::id_of(n)?)))
            .filter(|(nr, etype)| {
                nrs.contains(nr)
                    && !ruleset.may_match(&AddresslessSend { etype: *etype, changed }, &|f| f.id == changed)
            })
            .map(|(nr, _)| nr)
            .collect();
        // Data is copied only for the syscalls of rules that read it (Falco's evt.buffer,
        // the data argument, or every argument): it costs every such call.
        let reads_data = |f: &String| {
            f == "evt.buffer"
                || f == "evt.args"
                || f.starts_with("evt.arg.data")
                || f.starts_with("evt.rawarg.data")
        };
        let data = syscalls::DATA_SYSCALLS
            .iter()
            .filter(|name| {
                ruleset.rules().iter().any(|r| {
                    r.enabled
                        && r.condition_fields.iter().chain(&r.output_fields).any(reads_data)
                        && r.event_types().is_some_and(|t| t.iter().any(|t| t == *name))
                })
            })
            .filter_map(|n| syscalls::number(n))
            .filter(|nr| nrs.contains(nr))
            .collect();
        Self { syscalls: nrs, address_required, data }
    }
}

/// A `sendto`/`sendmsg` without a destination address, as far as it is known before
/// capture: its fd's name did not change (the state tables change names only from
/// addresses).
struct AddresslessSend {
    etype: EventTypeId,
    changed: FieldId,
}

impl Event for AddresslessSend {
    fn source(&self) -> &str {
        SYSCALL_SOURCE
    }
    fn event_type(&self) -> EventTypeId {
        self.etype
    }
    fn timestamp_ns(&self) -> u64 {
        0
    }
    fn field(&self, field: &FieldRef) -> Option<Value<'_>> {
        (field.id == self.changed).then_some(Value::Bool(false))
    }
}

pub use lanner_outputs::AlertFormat;

/// Where a run's alerts go.
pub enum AlertTarget {
    /// Written at once to the run's writer (`lanner replay`).
    Write(AlertFormat),
    /// Handed to the outputs, each with its own queue (the daemon).
    Outputs(Outputs),
}

impl AlertTarget {
    fn emit(&self, alert: &Alert, out: &mut dyn Write) -> std::io::Result<()> {
        match self {
            AlertTarget::Write(format) => writeln!(out, "{}", format.line(alert)),
            AlertTarget::Outputs(outputs) => {
                outputs.send(alert);
                Ok(())
            }
        }
    }
}

/// What to do with each event.
pub enum Sink<'a> {
    /// Evaluate rules and print alerts.
    Alerts { ruleset: Arc<Ruleset>, target: AlertTarget, hostname: String },
    /// Write every event as an event-file line.
    Events { registry: &'a FieldRegistry },
}

/// A checked configuration's effect on a running loop: swapped in at once by a reload.
pub struct Detection {
    /// The rules.
    pub ruleset: Arc<Ruleset>,
    /// What capture must deliver for them.
    pub filter: SyscallFilter,
    /// How alerts are written.
    pub format: AlertFormat,
    /// The fields the rules were compiled against (event files are read with it).
    pub registry: FieldRegistry,
    /// The plugins' fields in that registry, for source plugins' events (the daemon).
    pub plugin_fields: Option<Arc<lanner_plugin_runtime::FieldMap>>,
}

/// Messages to a running loop.
pub enum Control {
    /// A reload succeeded: use this from the next event on, and these outputs when the
    /// outputs' configuration changed (the old ones drain in the background).
    Swap(Box<Detection>, Option<Outputs>),
    /// A reload failed (the message says why): keep the running rules, raise Lanner's
    /// internal alert.
    Failed(String),
}

/// Applies records to the state tables and hands each event to the sink: what a live run
/// and a raw replay share.
struct Processor<'a> {
    state: State,
    map: FieldMap,
    sink: Sink<'a>,
    records: u64,
    alerts: u64,
    metrics: Option<Arc<Metrics>>,
    processed: Option<Counter>,
    /// The plugins' fields, for source plugins' events.
    plugin_fields: Option<Arc<lanner_plugin_runtime::FieldMap>>,
    /// Containers already seen, for Falco's `container` event.
    containers: NewContainers,
    /// Container events waiting for the container plugin's metadata.
    pending_containers: Vec<PendingContainer>,
    /// Syscall rules that read plugin fields, when there are any.
    plugin_syscalls: Option<PluginSyscalls>,
}

/// Counts an alert and hands it to the target.
fn deliver(
    alert: &Alert,
    target: &mut AlertTarget,
    alerts: &mut u64,
    metrics: Option<&Metrics>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    *alerts += 1;
    if let Some(m) = metrics {
        m.alerts
            .get_or_create(&AlertLabels {
                rule: alert.rule.clone(),
                priority: alert.priority.as_str().into(),
            })
            .inc();
    }
    target.emit(alert, out)
}

/// Evaluates the rules on one event and hands each alert to the target.
fn evaluate<E: Event + ?Sized>(
    ruleset: &Ruleset,
    ev: &E,
    target: &mut AlertTarget,
    hostname: &str,
    alerts: &mut u64,
    metrics: Option<&Metrics>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut err = None;
    ruleset.evaluate(ev, |rule| {
        if let Err(e) = deliver(&rule.alert(ev, hostname), target, alerts, metrics, out) {
            err = Some(e);
        }
    });
    err.map_or(Ok(()), Err)
}

impl<'a> Processor<'a> {
    fn new(sink: Sink<'a>, metrics: Option<Arc<Metrics>>) -> Self {
        let registry = FieldRegistry::with_syscall_fields();
        let processed = metrics
            .as_ref()
            .map(|m| m.processed.get_or_create(&SourceLabels { source: SYSCALL_SOURCE.into() }).clone());
        Self {
            state: State::new(syscalls::name),
            map: FieldMap::new(&registry),
            sink,
            records: 0,
            alerts: 0,
            metrics,
            processed,
            plugin_fields: None,
            containers: NewContainers::new(&registry),
            pending_containers: Vec::new(),
            plugin_syscalls: None,
        }
    }

    /// Sets the plugins' fields the rules were compiled with, and prepares the syscall
    /// rules that read them.
    fn set_plugin_fields(&mut self, fields: Arc<lanner_plugin_runtime::FieldMap>) {
        self.plugin_syscalls = match &self.sink {
            Sink::Alerts { ruleset, .. } => {
                PluginSyscalls::new(ruleset, &FieldRegistry::with_syscall_fields(), fields.clone())
            }
            Sink::Events { .. } => None,
        };
        self.plugin_fields = Some(fields);
    }

    fn process(&mut self, raw: &RawEvent, out: &mut dyn Write) -> Result<()> {
        self.records += 1;
        let prep = self.state.apply(raw);
        // Rules only: an event dump (`Sink::Events`) lists records, not the events raised.
        if matches!(self.sink, Sink::Alerts { .. })
            && let Some(container) =
                self.containers.started(&self.state.view(raw, &prep, &self.map), prep.num)
        {
            self.container_event(raw, container, out)?;
        }
        let full = self.rules(raw, &prep, out)?;
        self.state.finish(&prep);
        if full {
            self.flush_deferred(out)?;
        }
        Ok(())
    }

    /// The rules (or the event line) for one record as `prep` presents it; whether events
    /// deferred for plugin fields should be flushed.
    fn rules(&mut self, raw: &RawEvent, prep: &lanner_state::Prepared, out: &mut dyn Write) -> Result<bool> {
        self.rules_in(raw, prep, None, out)
    }

    /// [`Processor::rules`], the event's container being `container` when given (a container
    /// event raised after its first process may have gone).
    fn rules_in(
        &mut self,
        raw: &RawEvent,
        prep: &lanner_state::Prepared,
        container: Option<&Arc<str>>,
        out: &mut dyn Write,
    ) -> Result<bool> {
        let mut full = false;
        if prep.etype.is_some() {
            let live = self.state.view(raw, prep, &self.map);
            let wrapped;
            let ev: &dyn Event = match (container, &self.containers.id_field) {
                (Some(id), Some(field)) => {
                    wrapped = InContainer { inner: &live, field: field.id, id };
                    &wrapped
                }
                _ => &live,
            };
            match &mut self.sink {
                Sink::Alerts { ruleset, target, hostname } => {
                    if let Some(c) = &self.processed {
                        c.inc();
                    }
                    match &mut self.plugin_syscalls {
                        Some(ps) => {
                            let (alerts, metrics) = (&mut self.alerts, self.metrics.as_deref());
                            let mut err = None;
                            full = ps.evaluate(ruleset, ev, hostname, &mut |a| {
                                if let Err(e) = deliver(&a, target, alerts, metrics, out) {
                                    err = Some(e);
                                }
                            });
                            err.map_or(Ok(()), Err)?;
                        }
                        None => evaluate(
                            ruleset,
                            ev,
                            target,
                            hostname,
                            &mut self.alerts,
                            self.metrics.as_deref(),
                            out,
                        )?,
                    }
                }
                Sink::Events { registry } => {
                    writeln!(out, "{}", event_line(&live, raw, &self.state, registry))?
                }
            }
        }
        Ok(full)
    }

    /// Evaluates the syscall events waiting for plugin fields (one call per plugin for all
    /// of them), and delivers the alerts held behind them.
    fn flush_deferred(&mut self, out: &mut dyn Write) -> Result<()> {
        let (Some(ps), Sink::Alerts { ruleset, target, hostname }) =
            (&mut self.plugin_syscalls, &mut self.sink)
        else {
            return Ok(());
        };
        if let Some(m) = &self.metrics {
            let (deferred, decided) = ps.take_counts();
            m.syscall_deferred.inc_by(deferred);
            m.syscall_decided.inc_by(decided);
        }
        if !ps.has_pending() {
            return Ok(());
        }
        let (alerts, metrics) = (&mut self.alerts, self.metrics.as_deref());
        let mut err = None;
        let failures = ps.flush(ruleset, hostname, &mut |a| {
            if let Err(e) = deliver(&a, target, alerts, metrics, out) {
                err = Some(e);
            }
        });
        for e in failures {
            tracing::warn!("syscall rules: {e}");
        }
        err.map_or(Ok(()), |e| Err(e.into()))
    }

    /// Falco's `container` event for a container first seen at `raw`. Falco raises it when
    /// the runtime's metadata has arrived, so it carries the container's name and image: the
    /// `container` plugin is asked at once (its lookup starts now), and the event waits,
    /// without holding the loop, until the plugin knows the container or
    /// [`CONTAINER_EVENT_WAIT`] has passed ([`Processor::poll_containers`]).
    fn container_event(
        &mut self,
        raw: &RawEvent,
        (id, prep): (Arc<str>, lanner_state::Prepared),
        out: &mut dyn Write,
    ) -> Result<()> {
        tracing::debug!(container = %id, "new container: its container event waits for the container plugin");
        self.pending_containers.push(PendingContainer { id, raw: raw.clone(), prep, since: Instant::now() });
        self.poll_containers(out, false)
    }

    /// Raises the container events whose metadata the plugin now knows, or that waited long
    /// enough (said in the log: the event goes without the metadata); all of them when
    /// `now` (the run ends).
    fn poll_containers(&mut self, out: &mut dyn Write, now: bool) -> Result<()> {
        if self.pending_containers.is_empty() {
            return Ok(());
        }
        let plugin = self.plugin_fields.as_ref().and_then(|f| {
            f.plugins().iter().find(|p| p.name() == lanner_event::syscall_fields::CONTAINER_PLUGIN).cloned()
        });
        let name = plugin.as_ref().and_then(|p| p.fields().iter().position(|f| f.name == "container.name"));
        let mut i = 0;
        while i < self.pending_containers.len() {
            let c = &self.pending_containers[i];
            let known = match (&plugin, name) {
                (Some(plugin), Some(name)) => {
                    let data =
                        format!(r#"{{"v":1,"type":"container","thread":{{"container_id":"{}"}}}}"#, c.id);
                    let ev = lanner_plugin_runtime::RawEvent {
                        source: SYSCALL_SOURCE.into(),
                        timestamp_ns: c.raw.ts_ns,
                        data: data.into_bytes(),
                    };
                    match plugin.extract(&[ev], &[(name as u32, None)]) {
                        Ok(v) => v.first().is_some_and(Option::is_some),
                        Err(e) => {
                            tracing::warn!("container {}: the container plugin: {e}", c.id);
                            true
                        }
                    }
                }
                // Without the plugin there is nothing to wait for.
                _ => true,
            };
            let waited = c.since.elapsed();
            tracing::trace!(container = %c.id, known, ms = waited.as_millis() as u64, "container event");
            if !known && !now && waited < CONTAINER_EVENT_WAIT {
                i += 1;
                continue;
            }
            if !known {
                tracing::warn!(
                    container = %c.id,
                    "the container plugin had no metadata for the container after {} ms: its container event goes without it",
                    waited.as_millis()
                );
            }
            let c = self.pending_containers.swap_remove(i);
            let full = self.rules_in(&c.raw, &c.prep, Some(&c.id), out)?;
            if full {
                self.flush_deferred(out)?;
            }
        }
        Ok(())
    }

    /// Runs what a source plugin sent through the rules (nothing else has its events).
    fn process_source(&mut self, msg: SourceMsg, out: &mut dyn Write) -> Result<()> {
        let events = match msg {
            SourceMsg::Events(events) => events,
            SourceMsg::Ended { failure: None, .. } => return Ok(()),
            SourceMsg::Ended { plugin, failure: Some(why) } => {
                return self.internal_alert(
                    crate::internal::PLUGIN_DISABLED_RULE,
                    Priority::Critical,
                    format!("Lanner internal: source plugin {plugin} stopped: {why}"),
                    out,
                );
            }
        };
        let (Some(map), Sink::Alerts { ruleset, target, hostname }) = (&self.plugin_fields, &mut self.sink)
        else {
            return Ok(());
        };
        let source = events.first().map(|e| e.source.clone()).unwrap_or_default();
        let batch = lanner_plugin_runtime::EventBatch::new(map, events);
        let mut n = 0;
        for ev in batch.iter() {
            n += 1;
            evaluate(ruleset, &ev, target, hostname, &mut self.alerts, self.metrics.as_deref(), out)?;
        }
        if let Some(m) = &self.metrics {
            m.processed.get_or_create(&SourceLabels { source }).inc_by(n);
        }
        for e in batch.take_errors() {
            tracing::warn!("{e}");
        }
        Ok(())
    }

    /// Raises Falco's drop alert when the kernel dropped records since the last report.
    fn drop_alert(&mut self, new_drops: u64, out: &mut dyn Write) -> Result<()> {
        if new_drops == 0 {
            return Ok(());
        }
        self.internal_alert(
            DROP_RULE,
            Priority::Critical,
            format!("Lanner internal: syscall event drop. {new_drops} system calls dropped in last second."),
            out,
        )
    }

    /// Raises one of Lanner's own alerts (source `internal`), where rule alerts go.
    fn internal_alert(
        &mut self,
        rule: &str,
        priority: Priority,
        output: String,
        out: &mut dyn Write,
    ) -> Result<()> {
        if let Sink::Alerts { target, hostname, .. } = &self.sink {
            let alert = Alert {
                time_ns: wall_now(),
                rule: rule.into(),
                priority,
                output,
                output_fields: Vec::new(),
                source: "internal".into(),
                tags: Vec::new(),
                hostname: hostname.clone(),
            };
            if let Some(m) = &self.metrics {
                m.alerts
                    .get_or_create(&AlertLabels { rule: rule.into(), priority: priority.as_str().into() })
                    .inc();
            }
            target.emit(&alert, out)?;
        }
        Ok(())
    }
}

/// Where `run` puts what it captures.
pub enum Output<'a> {
    /// Processed: state, then rules or event lines.
    Process(Sink<'a>),
    /// Written undecoded to a raw capture file.
    Raw(&'a mut rawfile::Writer<Box<dyn Write>>),
}

/// How a live run is set up and steered.
pub struct RunOptions {
    /// What capture delivers at the start.
    pub filter: SyscallFilter,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Ring buffer size.
    pub ring_bytes: Option<u32>,
    /// How long records may wait in the ring buffer.
    pub poll_interval: Option<Duration>,
    /// Counters and health, when the daemon exposes them.
    pub metrics: Option<Arc<Metrics>>,
    /// Reloads, when the daemon watches for them.
    pub control: Option<Receiver<Control>>,
    /// Source plugins' events, and the plugins' fields the rules were compiled with.
    pub sources: Option<(Receiver<SourceMsg>, Arc<lanner_plugin_runtime::FieldMap>)>,
    /// Set when a reload or a source has sent something: the wait for syscall records ends.
    pub wake: Option<Arc<AtomicBool>>,
    /// Where the host's file system is seen (user names from its /etc), when not at /.
    pub host_root: Option<std::path::PathBuf>,
}

impl RunOptions {
    /// Just a filter: no metrics, no reloads.
    pub fn simple(filter: SyscallFilter, duration: Option<Duration>, ring_bytes: Option<u32>) -> Self {
        Self {
            filter,
            duration,
            ring_bytes,
            poll_interval: None,
            metrics: None,
            control: None,
            sources: None,
            wake: None,
            host_root: None,
        }
    }
}

/// Runs capture until a signal or the deadline. Returns how many records were lost.
pub fn run(opts: RunOptions, output: Output<'_>, out: &mut dyn Write) -> Result<Finished> {
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone())?;
    let metrics = opts.metrics.clone();
    let (mut proc, mut raw_file) = match output {
        Output::Process(sink) => (Some(Processor::new(sink, metrics.clone())), None),
        Output::Raw(w) => (None, Some(w)),
    };
    if let (Some(root), Some(p)) = (&opts.host_root, &mut proc) {
        p.state.users = lanner_state::users::Users::under(root);
    }
    let seeded = proc.as_mut().map_or(0, |p| p.state.seed());
    proc.iter().for_each(watch_host_names);
    let sources = opts.sources.map(|(rx, fields)| {
        if let Some(p) = &mut proc {
            p.set_plugin_fields(fields);
        }
        rx
    });
    let n_syscalls = opts.filter.syscalls.len();
    let mut capture = Capture::start(CaptureConfig {
        syscalls: opts.filter.syscalls,
        address_required: opts.filter.address_required,
        data_syscalls: opts.filter.data,
        ignore_tgid: Some(std::process::id()),
        ring_bytes: opts.ring_bytes.unwrap_or(CaptureConfig::default().ring_bytes),
        poll_interval: opts.poll_interval.unwrap_or(lanner_capture::DEFAULT_POLL_INTERVAL),
        ..CaptureConfig::default()
    })
    .context("starting live capture (needs root and a kernel with BTF)")?;
    if let Some(wake) = opts.wake {
        capture.wake_on(wake);
    }
    if let Some(m) = &metrics {
        m.capture_on.store(true, Ordering::Relaxed);
    }
    tracing::info!(
        "capturing {n_syscalls} syscalls; {seeded} processes known from /proc; stop with SIGINT or SIGTERM"
    );
    let started = Instant::now();
    let mut batch = Vec::with_capacity(4096);
    let mut per_cpu: Vec<u64> = Vec::new();
    let mut drops_seen = 0u64;
    let mut compat = CompatReport::default();
    let mut drops_per_cpu: Vec<u64> = Vec::new();
    let (mut raw_records, mut window_records) = (0u64, 0u64);
    let mut last_drop_check = Instant::now();
    while !stop.load(Ordering::Relaxed) && opts.duration.is_none_or(|d| started.elapsed() < d) {
        if let (Some(rx), Some(p)) = (&opts.control, &mut proc) {
            while let Ok(msg) = rx.try_recv() {
                apply_control(msg, p, &mut capture, out)?;
            }
        }
        // After the reloads: a source opened by a reload is sent its rules first.
        if let (Some(rx), Some(p)) = (&sources, &mut proc) {
            while let Ok(msg) = rx.try_recv() {
                p.process_source(msg, out)?;
            }
        }
        let n = match (&mut proc, &mut raw_file) {
            (Some(p), _) => {
                batch.clear();
                let n = capture.next_batch(&mut batch, Some(Duration::from_millis(200)))?;
                let t = Instant::now();
                for raw in &batch {
                    p.process(raw, out)?;
                }
                p.flush_deferred(out)?;
                p.poll_containers(out, false)?;
                if let Some(m) = &metrics {
                    m.rule_eval_ns.inc_by(t.elapsed().as_nanos() as u64);
                    // Counted per CPU here, then one labelled update per CPU per batch: a
                    // label lookup per record would cost more than the rest of this loop.
                    per_cpu.clear();
                    for raw in &batch {
                        let cpu = raw.cpu as usize;
                        if per_cpu.len() <= cpu {
                            per_cpu.resize(cpu + 1, 0);
                        }
                        per_cpu[cpu] += 1;
                    }
                    for (cpu, &count) in per_cpu.iter().enumerate().filter(|(_, c)| **c > 0) {
                        m.captured.get_or_create(&CpuLabels { cpu: cpu.to_string() }).inc_by(count);
                    }
                }
                out.flush()?;
                n
            }
            (None, Some(w)) => capture.next_raw_batch(&mut **w, Some(Duration::from_millis(200)))?,
            (None, None) => unreachable!("an output is always set"),
        };
        raw_records += n as u64;
        window_records += n as u64;
        if n > 0
            && let Some(m) = &metrics
        {
            m.saw_events();
        }
        if last_drop_check.elapsed() >= Duration::from_secs(1) {
            last_drop_check = Instant::now();
            let new_drops = report_drops(&capture, &mut drops_seen, &mut drops_per_cpu, metrics.as_deref())?;
            report_compat(&capture, &mut compat, metrics.as_deref())?;
            if let Some(m) = &metrics {
                m.window_add(window_records, new_drops);
            }
            window_records = 0;
            if let Some(p) = &mut proc {
                p.drop_alert(new_drops, out)?;
            }
        }
    }
    if let Some(p) = &mut proc {
        p.poll_containers(out, true)?;
    }
    // Drops since the last check are reported too, so none pass unsaid at shutdown.
    let new_drops = report_drops(&capture, &mut drops_seen, &mut drops_per_cpu, metrics.as_deref())?;
    report_compat(&capture, &mut compat, metrics.as_deref())?;
    if let Some(p) = &mut proc {
        p.drop_alert(new_drops, out)?;
    }
    out.flush()?;
    let dropped = capture.drops()?.iter().sum();
    let alerts = proc.as_ref().map_or(0, |p| p.alerts);
    tracing::info!(
        "stopped after {:.1} s: {raw_records} records read, {alerts} alerts, {dropped} records dropped",
        started.elapsed().as_secs_f64()
    );
    // Capture stops here (dropping it detaches the probe); the outputs go back to the
    // caller to drain.
    drop(capture);
    let outputs = proc.and_then(|p| match p.sink {
        Sink::Alerts { target: AlertTarget::Outputs(o), .. } => Some(o),
        _ => None,
    });
    Ok(Finished { dropped, outputs })
}

/// How a run ended.
pub struct Finished {
    /// Records the kernel dropped.
    pub dropped: u64,
    /// The outputs, still holding queued alerts: shut them down with a deadline.
    pub outputs: Option<Outputs>,
}

use crate::internal::DROP_RULE;

/// Hands the host names the rules compare with `fd.*ip.name` to the state's background
/// resolver (a reload replaces them).
fn watch_host_names(p: &Processor<'_>) {
    if let Sink::Alerts { ruleset, .. } = &p.sink {
        let names =
            lanner_state::dns::FIELDS.iter().flat_map(|f| lanner_engine::compared_constants(ruleset, f));
        p.state.dns.watch(names);
    }
}

use crate::internal::RELOAD_RULE;

/// Swaps in a reloaded detection, or reports a failed reload.
fn apply_control(
    msg: Control,
    p: &mut Processor<'_>,
    capture: &mut Capture,
    out: &mut dyn Write,
) -> Result<()> {
    match msg {
        Control::Swap(d, outputs) => {
            capture
                .set_filter(&d.filter.syscalls, &d.filter.address_required, &d.filter.data)
                .context("updating the kernel's syscall filter")?;
            // Events waiting for plugin fields are evaluated by the rules they met.
            p.flush_deferred(out)?;
            if let Sink::Alerts { ruleset, target, .. } = &mut p.sink {
                *ruleset = d.ruleset;
                match (target, outputs) {
                    (AlertTarget::Outputs(current), Some(new)) => {
                        let old = std::mem::replace(current, new);
                        std::thread::spawn(move || old.shutdown(Duration::from_secs(10)));
                    }
                    (AlertTarget::Write(format), _) => *format = d.format,
                    _ => {}
                }
            }
            if let Some(fields) = d.plugin_fields.or_else(|| p.plugin_fields.clone()) {
                p.set_plugin_fields(fields);
            }
            watch_host_names(p);
            tracing::info!(syscalls = d.filter.syscalls.len(), "reloaded: new rules in effect");
        }
        Control::Failed(why) => {
            p.internal_alert(
                RELOAD_RULE,
                Priority::Critical,
                format!("Lanner internal: reload failed, the running rules stay in effect. {why}"),
                out,
            )?;
            out.flush()?;
        }
    }
    Ok(())
}

/// Replays a raw capture file through decoding, the state tables and the sink, as a live
/// run would have processed it. Prints the records per second to stderr. Returns how many
/// records could not be read (the file's end may be cut: what came before still counts).
pub fn replay_raw(
    path: &Path,
    sink: Sink<'_>,
    plugin_fields: Option<Arc<lanner_plugin_runtime::FieldMap>>,
    out: &mut dyn Write,
    metrics: Option<Arc<Metrics>>,
) -> Result<u64> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = rawfile::Reader::new(std::io::BufReader::with_capacity(1 << 20, file))
        .with_context(|| format!("reading {}", path.display()))?;
    let mut proc = Processor::new(sink, metrics);
    if let Some(fields) = plugin_fields {
        proc.set_plugin_fields(fields);
    }
    let started = Instant::now();
    let mut bad = 0;
    while let Some(ev) = reader.next_event() {
        match ev {
            Ok(raw) => proc.process(&raw, out)?,
            Err(e @ rawfile::ReadError::Decode { .. }) => {
                eprintln!("lanner: {}: {e}", path.display());
                bad += 1;
            }
            Err(e) => {
                eprintln!("lanner: {}: {e}", path.display());
                bad += 1;
                break;
            }
        }
    }
    proc.flush_deferred(out)?;
    proc.poll_containers(out, true)?;
    out.flush()?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "lanner: replayed {} records in {secs:.3} s ({:.0} records/s): {} alerts",
        proc.records,
        proc.records as f64 / secs.max(1e-9),
        proc.alerts
    );
    Ok(bad)
}

/// The 32-bit syscalls the probe could not deliver: counted, and logged at most once a minute
/// (an old 32-bit program may make them all the time).
#[derive(Default)]
struct CompatReport {
    seen: u64,
    unlogged: u64,
    logged_at: Option<Instant>,
}

/// Counts the 32-bit syscalls the probe could not deliver since the last report, and logs
/// them: a 32-bit call with no x86_64 equivalent is not seen by the rules, and operators are
/// told.
fn report_compat(capture: &Capture, r: &mut CompatReport, metrics: Option<&Metrics>) -> Result<()> {
    let now = capture.stats()?.compat_unmapped;
    if now > r.seen {
        let new = now - r.seen;
        r.seen = now;
        r.unlogged += new;
        if let Some(m) = metrics {
            m.compat_unmapped.inc_by(new);
        }
    }
    if r.unlogged > 0 && r.logged_at.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
        tracing::warn!(
            "{} 32-bit syscalls with no x86_64 equivalent were not delivered to the rules \
             (lanner_capture_compat_unmapped; see docs/limits.md)",
            r.unlogged
        );
        r.unlogged = 0;
        r.logged_at = Some(Instant::now());
    }
    Ok(())
}

/// Logs records lost since the last report and counts them per CPU; returns how many.
fn report_drops(
    capture: &Capture,
    seen: &mut u64,
    per_cpu_seen: &mut Vec<u64>,
    metrics: Option<&Metrics>,
) -> Result<u64> {
    let per_cpu = capture.drops()?;
    if let Some(m) = metrics {
        per_cpu_seen.resize(per_cpu.len(), 0);
        for (cpu, (&now, before)) in per_cpu.iter().zip(per_cpu_seen.iter_mut()).enumerate() {
            if now > *before {
                m.dropped.get_or_create(&CpuLabels { cpu: cpu.to_string() }).inc_by(now - *before);
                *before = now;
            }
        }
    }
    let drops: u64 = per_cpu.iter().sum();
    if drops <= *seen {
        return Ok(0);
    }
    let lost = drops - *seen;
    *seen = drops;
    tracing::warn!("{lost} syscall records dropped (ring buffer full)");
    Ok(lost)
}

fn wall_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

fn json_of(v: Value<'_>) -> Json {
    match v {
        Value::Str(s) => Json::String(s.into_owned()),
        Value::Int(i) => json!(i),
        Value::UInt(u) => json!(u),
        Value::Bool(b) => json!(b),
        Value::Ip(ip) => Json::String(ip.to_string()),
        Value::Bytes(b) => Json::String(String::from_utf8_lossy(&b).into_owned()),
        Value::List(items) => Json::Array(items.into_iter().map(json_of).collect()),
    }
}

/// One live event as an event-file line: every field state answers, so that replaying the
/// file gives the same alerts as the live run.
fn event_line(ev: &LiveEvent<'_>, raw: &RawEvent, state: &State, reg: &FieldRegistry) -> String {
    let mut fields = Map::new();
    let get = |name: &str, arg: FieldArg| -> Option<Json> {
        let id = reg.get(name)?;
        ev.field(&FieldRef { id, arg }).map(json_of)
    };
    for name in FieldMap::supported() {
        let def = reg.get(name).map(|id| reg.def(id));
        match (name, def.map(|d| d.arg.required)) {
            ("evt.type" | "evt.num" | "evt.rawtime" | "evt.time" | "evt.source" | "evt.dir", _) => {}
            ("proc.aname" | "proc.apid" | "proc.aexe" | "proc.aexepath", _) => {
                let list: Vec<Json> = (0..64).map_while(|i| get(name, FieldArg::Index(i))).collect();
                if !list.is_empty() {
                    fields.insert(name.into(), Json::Array(list));
                }
            }
            ("evt.arg", _) => {
                if let RecordKind::Syscall { nr } = raw.kind {
                    let mut args = Map::new();
                    for (arg, _, _) in lanner_state::args::defs(nr) {
                        if let Some(v) = get(name, FieldArg::Key((*arg).into())) {
                            args.insert((*arg).into(), v);
                        }
                    }
                    fields.insert(name.into(), Json::Object(args));
                }
            }
            ("proc.env", _) => {
                if let Some(p) = state.table.process_of(raw.tid) {
                    let env: Map<String, Json> = p
                        .env
                        .iter()
                        .filter_map(|e| e.split_once('='))
                        .map(|(k, v)| (k.to_string(), Json::String(v.to_string())))
                        .collect();
                    fields.insert(name.into(), Json::Object(env));
                }
            }
            (_, Some(true)) => {}
            _ => {
                if let Some(v) = get(name, FieldArg::None) {
                    fields.insert(name.into(), v);
                }
            }
        }
    }
    json!({"ts": raw.ts_ns, "type": ev_type_name(ev, reg), "fields": fields}).to_string()
}

fn ev_type_name(ev: &LiveEvent<'_>, reg: &FieldRegistry) -> String {
    reg.get("evt.type")
        .and_then(|id| ev.field(&FieldRef { id, arg: FieldArg::None }))
        .map_or_else(|| "unknown".to_string(), |v| v.to_string())
}

/// Falco's `container` event (`evt.type = container`): raised once per container, when the
/// state first sees one of its processes, before that record's own rules. Containers running
/// when capture starts get theirs at their first record. The `container` plugin, when
/// loaded, is asked about the container at that moment, so that its metadata lookup starts
/// with the container.
struct NewContainers {
    seen: std::collections::HashSet<Arc<str>>,
    id_field: Option<lanner_event::FieldRef>,
    etype: Option<lanner_event::EventTypeId>,
}

/// An event whose container is known even when its process is gone: a container event
/// raised once the container's metadata came, after its first process may have exited.
struct InContainer<'a, E: Event> {
    inner: &'a E,
    field: lanner_event::FieldId,
    id: &'a Arc<str>,
}

impl<E: Event> Event for InContainer<'_, E> {
    fn source(&self) -> &str {
        self.inner.source()
    }
    fn event_type(&self) -> lanner_event::EventTypeId {
        self.inner.event_type()
    }
    fn timestamp_ns(&self) -> u64 {
        self.inner.timestamp_ns()
    }
    fn param_names(&self) -> Vec<std::borrow::Cow<'_, str>> {
        self.inner.param_names()
    }
    fn field(&self, f: &FieldRef) -> Option<Value<'_>> {
        if f.id == self.field {
            return Some(Value::Str(std::borrow::Cow::Borrowed(self.id)));
        }
        self.inner.field(f)
    }
}

/// A container event waiting for its metadata: the container's first record, as it was.
struct PendingContainer {
    id: Arc<str>,
    raw: RawEvent,
    prep: lanner_state::Prepared,
    since: Instant,
}

/// How long a container event waits for the `container` plugin's metadata. Podman answers
/// about a container only once its start has finished, 150-200 ms after its first process
/// runs on this machine.
const CONTAINER_EVENT_WAIT: Duration = Duration::from_secs(2);

/// Containers remembered; past it the set starts over (a container seen again then gets a
/// second event).
const MAX_CONTAINERS_SEEN: usize = 65_536;

impl NewContainers {
    fn new(reg: &FieldRegistry) -> Self {
        NewContainers {
            seen: Default::default(),
            id_field: reg
                .get("container.id")
                .map(|id| lanner_event::FieldRef { id, arg: lanner_event::FieldArg::None }),
            etype: lanner_event::evttype::id_of("container"),
        }
    }

    /// The container event to raise before `ev`, when `ev` is its container's first record.
    fn started(
        &mut self,
        ev: &lanner_state::LiveEvent<'_>,
        num: u64,
    ) -> Option<(Arc<str>, lanner_state::Prepared)> {
        let id = match ev.field(self.id_field.as_ref()?)? {
            Value::Str(s) if !s.is_empty() && s != "host" => s,
            _ => return None,
        };
        if self.seen.contains(id.as_ref()) {
            return None;
        }
        if self.seen.len() >= MAX_CONTAINERS_SEEN {
            self.seen.clear();
        }
        let id: Arc<str> = Arc::from(id.as_ref());
        self.seen.insert(id.clone());
        let prep = lanner_state::Prepared {
            etype: Some(self.etype?),
            type_name: "container",
            nr: None,
            fd: lanner_state::FdView::None,
            num,
            remove: None,
        };
        Some((id, prep))
    }
}

#[cfg(test)]
mod data_filter_tests {
    use super::SyscallFilter;
    use lanner_capture::syscalls::number;
    use lanner_engine::{EngineConfig, RulesSource};

    fn filter(rules: &str) -> SyscallFilter {
        let rs = lanner_engine::load(
            &EngineConfig::syscall(),
            &[RulesSource { name: "r".into(), content: rules.into() }],
        )
        .into_result()
        .unwrap();
        SyscallFilter::for_ruleset(&rs)
    }

    #[test]
    fn data_is_kept_only_for_the_syscalls_of_rules_that_read_it() {
        let f = filter(
            "- rule: Secret written\n  desc: d\n  condition: evt.type = write and evt.buffer contains SECRET\n  output: o\n  priority: WARNING\n\
             - rule: Any read\n  desc: d\n  condition: evt.type = read and proc.name = cat\n  output: o\n  priority: WARNING\n",
        );
        let (write, read) = (number("write").unwrap(), number("read").unwrap());
        assert!(f.syscalls.contains(&write) && f.syscalls.contains(&read));
        assert_eq!(f.data, vec![write], "read is delivered, its data is not copied");
        let none = filter(
            "- rule: Shadow\n  desc: d\n  condition: evt.type = openat and fd.name = /etc/shadow\n  output: o\n  priority: WARNING\n",
        );
        assert!(none.data.is_empty());
    }
}
