//! Live capture: the probe's records applied to the state tables and evaluated, until
//! SIGINT or SIGTERM; and `lanner capture`, which writes them as an event file.

use crate::deferred::PluginSyscalls;
use crate::metrics::{
    AlertLabels, AttachLabels, CpuLabels, Metrics, RuleLabels, SourceLabels, UncapturedLabels,
};
use crate::sources::SourceMsg;
use anyhow::{Context, Result};
use lanner_capture::record::{RawEvent, RecordKind};
use lanner_capture::{Capture, CaptureConfig, rawfile, syscalls};
use lanner_engine::Ruleset;
use lanner_event::{
    Alert, Event, EventTypeId, FieldArg, FieldId, FieldRef, FieldRegistry, OutputField, Priority,
    SYSCALL_SOURCE, Value, evttype,
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
    /// Handed to the outputs, waiting up to this long for room in a full queue: a replayed
    /// file can wait for its outputs, live capture cannot.
    Waiting(Outputs, Duration),
}

impl AlertTarget {
    pub(crate) fn emit(&self, alert: &Alert, out: &mut dyn Write) -> std::io::Result<()> {
        match self {
            AlertTarget::Write(format) => writeln!(out, "{}", format.line(alert)),
            AlertTarget::Outputs(outputs) => {
                outputs.send(alert);
                Ok(())
            }
            AlertTarget::Waiting(outputs, wait) => {
                outputs.send_waiting(alert, *wait);
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
    /// How repeated alerts are held back.
    pub limits: AlertLimits,
}

/// Messages to a running loop.
pub enum Control {
    /// A reload succeeded: use this from the next event on, and these outputs when the
    /// outputs' configuration changed (the old ones drain in the background).
    Swap(Box<Detection>, Option<Outputs>),
    /// A reload failed (the message says why): keep the running rules, raise Lanner's
    /// internal alert.
    Failed(String),
    /// Raise one of Lanner's own alerts (CRITICAL): `rule` from [`crate::internal`], about
    /// `subject` (a plugin, or empty), with this text.
    Internal { rule: &'static str, subject: String, output: String },
    /// Deliver this alert as it is (a metrics snapshot: periodic by design, never held back).
    Emit(Box<Alert>),
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
    /// Whether events deferred for plugin fields wait for a new container's metadata (live
    /// capture: the container plugin's lookup of a container started a moment ago).
    hold_for_containers: bool,
    /// New containers (their container events pending) with events deferred: the deferred
    /// events are evaluated once each is known or has waited [`CONTAINER_EVENT_WAIT`].
    held_for: Vec<Arc<str>>,
    /// At most one internal alert per kind per interval.
    internal: InternalLimiter,
    /// Rule alerts' deduplication, when configured.
    dedup: Option<RuleDedup>,
    /// Records dropped since the last drop alert sent.
    drops_unsaid: u64,
    /// What drops lead to, and how often.
    drop_policy: DropPolicy,
    falco_names: bool,
    drop_bucket: TokenBucket,
    /// `syscall_event_drops.actions` has `exit` and drops called for it: the loop stops.
    drop_exit: bool,
    /// What the state's bounds removed, as last reported.
    bounds: BoundsReport,
}

/// What the state's bounds removed, as last put in the metrics and as last alerted about.
#[derive(Default)]
struct BoundsReport {
    metrics: [u64; EVICTION_KINDS.len()],
    alerted: [u64; EVICTION_KINDS.len()],
    reconciled: [u64; 2],
    last_alert: Option<Instant>,
}

/// The tables whose entries the bounds remove, in the order of [`eviction_counts`].
const EVICTION_KINDS: [&str; 9] = [
    "processes",
    "threads",
    "fds",
    "cgroups",
    "paths",
    "containers_seen",
    "containers_pending",
    "processes_not_seeded",
    "fds_not_seeded",
];

/// At most one "state tables full" alert per this long; the next one counts what was
/// evicted in between.
const STATE_ALERT_INTERVAL: Duration = Duration::from_secs(60);

/// At most this many events wait for new containers' metadata; past it they are evaluated
/// with what the plugins know (a storm of events from new containers cannot grow the queue).
fn max_held() -> usize {
    8 * crate::deferred::batch_limit()
}

use crate::throttle::{AlertLimits, DropPolicy, InternalLimiter, RuleDedup, TokenBucket, Verdict};

/// Counts a rule alert and hands it to the target, unless the deduplication window holds
/// it back (then it is counted as suppressed, and the next one delivered says so).
fn deliver(
    mut alert: Alert,
    target: &mut AlertTarget,
    alerts: &mut u64,
    metrics: Option<&Metrics>,
    dedup: &mut Option<RuleDedup>,
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
    if let Some(d) = dedup {
        match d.check(&alert) {
            Verdict::Hold => {
                if let Some(m) = metrics {
                    m.suppressed.get_or_create(&RuleLabels { rule: alert.rule }).inc();
                }
                return Ok(());
            }
            Verdict::Deliver(n) => {
                crate::throttle::mark_suppressed(&mut alert, n);
                if let (true, Some(m)) = (d.untracked(), metrics) {
                    m.dedup_untracked.inc();
                }
            }
        }
    }
    target.emit(&alert, out)
}

/// Evaluates the rules on one event and hands each alert to the target.
#[allow(clippy::too_many_arguments)]
fn evaluate<E: Event + ?Sized>(
    ruleset: &Ruleset,
    ev: &E,
    target: &mut AlertTarget,
    hostname: &str,
    alerts: &mut u64,
    metrics: Option<&Metrics>,
    dedup: &mut Option<RuleDedup>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut err = None;
    ruleset.evaluate(ev, |rule| {
        if let Err(e) = deliver(rule.alert(ev, hostname), target, alerts, metrics, dedup, out) {
            err = Some(e);
        }
    });
    err.map_or(Ok(()), Err)
}

impl<'a> Processor<'a> {
    fn new(sink: Sink<'a>, metrics: Option<Arc<Metrics>>, limits: AlertLimits) -> Self {
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
            hold_for_containers: false,
            held_for: Vec::new(),
            internal: InternalLimiter::new(limits.internal_interval),
            dedup: limits.dedup.map(RuleDedup::new),
            drops_unsaid: 0,
            drop_policy: limits.drops,
            falco_names: limits.falco_names,
            drop_bucket: TokenBucket::new(limits.drops.rate, limits.drops.max_burst, Instant::now()),
            drop_exit: false,
            bounds: BoundsReport::default(),
        }
    }

    /// Applies new limits (a reload); a deduplication whose settings did not change keeps its
    /// windows.
    fn set_limits(&mut self, limits: AlertLimits) {
        self.internal.set_interval(limits.internal_interval);
        if (self.drop_policy.rate, self.drop_policy.max_burst) != (limits.drops.rate, limits.drops.max_burst)
        {
            self.drop_bucket = TokenBucket::new(limits.drops.rate, limits.drops.max_burst, Instant::now());
        }
        self.drop_policy = limits.drops;
        self.falco_names = limits.falco_names;
        if self.dedup.as_ref().map(RuleDedup::settings) != limits.dedup {
            self.dedup = limits.dedup.map(RuleDedup::new);
        }
    }

    /// What the bounds removed so far, per [`EVICTION_KINDS`].
    fn eviction_counts(&self) -> [u64; EVICTION_KINDS.len()] {
        let st = self.state.stats();
        let r = st.removed;
        [
            r.processes_evicted,
            r.threads_evicted,
            r.fds_evicted,
            st.cgroups_evicted,
            st.paths_reset,
            self.containers.evicted,
            self.containers.pending_evicted,
            r.processes_not_seeded,
            r.fds_not_seeded,
        ]
    }

    /// Puts the tables' sizes and what their bounds removed in the metrics, and raises the
    /// internal alert when entries were evicted (at most once per [`STATE_ALERT_INTERVAL`],
    /// with the counts since the last one). Called once a second.
    fn report_state(&mut self, out: &mut dyn Write) -> Result<()> {
        let counts = self.eviction_counts();
        if let Some(m) = &self.metrics {
            let st = self.state.stats();
            let (dns_names, dns_addresses) = self.state.dns.sizes();
            for (table, n) in [
                ("processes", st.processes),
                ("threads", st.threads),
                ("fds", st.fds),
                ("fds_held", st.fds_held),
                ("paths", st.paths),
                ("cgroups", st.cgroups),
                ("containers_seen", self.containers.seen.len()),
                ("containers_pending", self.pending_containers.len()),
                ("dns_names", dns_names),
                ("dns_addresses", dns_addresses),
            ] {
                m.set_entries(table, n);
            }
            for (i, kind) in EVICTION_KINDS.iter().enumerate() {
                let new = counts[i] - self.bounds.metrics[i];
                // Touched even at 0, so that the series exist from the start.
                let (family, table) = match kind.strip_suffix("_not_seeded") {
                    Some(t) => (&m.state_not_seeded, t),
                    None => (&m.state_evicted, *kind),
                };
                family.get_or_create(&crate::metrics::TableLabels { table: table.into() }).inc_by(new);
            }
            let r = st.removed;
            for (i, (table, n)) in [("processes", r.processes_reconciled), ("threads", r.threads_reconciled)]
                .into_iter()
                .enumerate()
            {
                m.state_reconciled
                    .get_or_create(&crate::metrics::TableLabels { table: table.into() })
                    .inc_by(n - self.bounds.reconciled[i]);
                self.bounds.reconciled[i] = n;
            }
        }
        self.bounds.metrics = counts;
        let since: Vec<String> = EVICTION_KINDS
            .iter()
            .zip(counts.iter().zip(self.bounds.alerted))
            .filter(|(_, (now, before))| **now > *before)
            .map(|(kind, (now, before))| format!("{} {kind}", now - before))
            .collect();
        if since.is_empty() || self.bounds.last_alert.is_some_and(|t| t.elapsed() < STATE_ALERT_INTERVAL) {
            return Ok(());
        }
        self.bounds.last_alert = Some(Instant::now());
        self.bounds.alerted = counts;
        let limits = self.state.table.limits;
        let why = format!(
            "Lanner internal: state tables full, least recently used entries evicted: {} (thread_table_size {}, fd_table_size {}, fd_total_size {}); rules may miss what the evicted entries held",
            since.join(", "),
            limits.max_threads,
            limits.max_fds,
            limits.max_fds_total
        );
        tracing::warn!("{why}");
        self.internal_alert_at(crate::internal::STATE_FULL_RULE, "", Priority::Error, why, out)?;
        Ok(())
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
                            let dedup = &mut self.dedup;
                            let mut err = None;
                            let before = ps.pending_len();
                            full = ps.evaluate(ruleset, ev, hostname, &mut |a| {
                                if let Err(e) = deliver(a, target, alerts, metrics, dedup, out) {
                                    err = Some(e);
                                }
                            });
                            err.map_or(Ok(()), Err)?;
                            // Deferred, from a container whose metadata is on its way: its
                            // alerts wait for it, so the first alert names the container.
                            if self.hold_for_containers
                                && ps.pending_len() > before
                                && let Some(field) = &self.containers.id_field
                                && let Some(Value::Str(id)) = ev.field(field)
                                && let Some(c) = self.pending_containers.iter().find(|c| *c.id == *id)
                                && !self.held_for.contains(&c.id)
                            {
                                self.held_for.push(c.id.clone());
                            }
                        }
                        None => evaluate(
                            ruleset,
                            ev,
                            target,
                            hostname,
                            &mut self.alerts,
                            self.metrics.as_deref(),
                            &mut self.dedup,
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
        let pending = &self.pending_containers;
        self.held_for.retain(|id| pending.iter().any(|c| c.id == *id));
        if !self.held_for.is_empty() && ps.pending_len() < max_held() {
            return Ok(());
        }
        self.held_for.clear();
        let (alerts, metrics) = (&mut self.alerts, self.metrics.as_deref());
        let dedup = &mut self.dedup;
        let mut err = None;
        let failures = ps.flush(ruleset, hostname, &mut |a| {
            if let Err(e) = deliver(a, target, alerts, metrics, dedup, out) {
                err = Some(e);
            }
        });
        for e in failures.into_iter().filter(|e| !e.logged()) {
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
        if self.pending_containers.len() >= MAX_PENDING_CONTAINERS {
            // A burst of containers: the oldest waiting event goes now, without metadata.
            let c = self.pending_containers.remove(0);
            self.containers.pending_evicted += 1;
            tracing::warn!(container = %c.id, "{MAX_PENDING_CONTAINERS} container events waiting for metadata: this one goes without it");
            if self.rules_in(&c.raw, &c.prep, Some(&c.id), out)? {
                self.flush_deferred(out)?;
            }
        }
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
                let output = format!("Lanner internal: source plugin {plugin} stopped: {why}");
                self.internal_alert(crate::internal::PLUGIN_DISABLED_RULE, &plugin, output, out)?;
                return Ok(());
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
            evaluate(
                ruleset,
                &ev,
                target,
                hostname,
                &mut self.alerts,
                self.metrics.as_deref(),
                &mut self.dedup,
                out,
            )?;
        }
        if let Some(m) = &self.metrics {
            m.processed.get_or_create(&SourceLabels { source }).inc_by(n);
        }
        // The runtime logged its failures once each.
        for e in batch.take_errors().into_iter().filter(|e| !e.logged()) {
            tracing::warn!("{e}");
        }
        Ok(())
    }

    /// Falco's `syscall_event_drops` check, once a second: `new_drops` records lost while
    /// `read` were read. When the share lost is above the threshold and the token bucket
    /// allows, the configured actions run (log, alert, exit). Drops whose actions the bucket
    /// held back are told in the next message. `checked` is when the check began: the bucket
    /// counts time from one check to the next, so a check that ran a little late cannot make
    /// the next one, a second later by the clock, look early and lose its token.
    fn drop_alert(&mut self, new_drops: u64, read: u64, checked: Instant, out: &mut dyn Write) -> Result<()> {
        let policy = self.drop_policy;
        let mut drops = new_drops;
        if policy.simulate {
            tracing::info!("simulating a syscall event drop (syscall_event_drops.simulate_drops)");
            drops += 1;
        }
        if drops == 0 {
            return Ok(());
        }
        // As Falco: the events counted include the lost ones; a simulated drop ignores the
        // threshold.
        let n_evts = read + new_drops;
        let ratio = if n_evts == 0 { f64::INFINITY } else { drops as f64 / n_evts as f64 };
        let threshold = if policy.simulate { 0.0 } else { policy.threshold };
        if ratio <= threshold {
            tracing::debug!(
                "{drops} of {n_evts} records dropped in the last second: not above syscall_event_drops.threshold {threshold}"
            );
            return Ok(());
        }
        self.drops_unsaid += drops;
        if !self.drop_bucket.claim(checked) {
            tracing::debug!("syscall event drop, but the token bucket is empty: no action this time");
            return Ok(());
        }
        let rule = if self.falco_names { crate::internal::FALCO_DROP_RULE } else { DROP_RULE };
        let output = if self.drops_unsaid == drops {
            format!("{rule}. {drops} system calls dropped in last second.")
        } else {
            format!(
                "{rule}. {} system calls dropped since the last drop alert, {drops} in last second.",
                self.drops_unsaid
            )
        };
        if policy.log {
            tracing::warn!("{output}");
        }
        let mut told = !policy.alert;
        if policy.alert {
            // Falco's fields, as Falco writes them (text); Lanner's ring buffer is the only
            // place it loses records, so every drop is a buffer drop.
            let (priority, value): (Priority, fn(u64) -> Value<'static>) = if self.falco_names {
                (Priority::Debug, |n| Value::Str(n.to_string().into()))
            } else {
                (Priority::Critical, Value::UInt)
            };
            let fields = [("n_evts", n_evts), ("n_drops", drops), ("n_drops_buffer_total", drops)]
                .into_iter()
                .map(|(name, n)| OutputField { name: name.into(), value: Some(value(n)) })
                .chain(std::iter::once(OutputField { name: "ebpf_enabled".into(), value: Some(value(1)) }))
                .collect();
            told = self.internal_alert_with(rule, "", priority, output.clone(), fields, out)?;
        }
        if told {
            self.drops_unsaid = 0;
        }
        if policy.exit {
            tracing::error!("{output} Exiting (syscall_event_drops.actions has exit).");
            self.drop_exit = true;
        }
        Ok(())
    }

    /// Raises one of Lanner's own alerts (source `internal`, CRITICAL), where rule alerts
    /// go: at most one per kind (`rule` about `subject`) per interval, the next one saying
    /// how many were held back. Whether it was sent.
    fn internal_alert(
        &mut self,
        rule: &str,
        subject: &str,
        output: String,
        out: &mut dyn Write,
    ) -> Result<bool> {
        self.internal_alert_at(rule, subject, Priority::Critical, output, out)
    }

    /// [`Processor::internal_alert`] at another priority.
    fn internal_alert_at(
        &mut self,
        rule: &str,
        subject: &str,
        priority: Priority,
        output: String,
        out: &mut dyn Write,
    ) -> Result<bool> {
        self.internal_alert_with(rule, subject, priority, output, Vec::new(), out)
    }

    /// [`Processor::internal_alert_at`] with output fields.
    fn internal_alert_with(
        &mut self,
        rule: &str,
        subject: &str,
        priority: Priority,
        output: String,
        output_fields: Vec<OutputField>,
        out: &mut dyn Write,
    ) -> Result<bool> {
        if let Sink::Alerts { target, hostname, .. } = &self.sink {
            if let Some(m) = &self.metrics {
                m.alerts
                    .get_or_create(&AlertLabels { rule: rule.into(), priority: priority.as_str().into() })
                    .inc();
            }
            let Some(held) = self.internal.admit(rule, subject, Instant::now()) else {
                tracing::info!(
                    rule,
                    subject,
                    "internal alert held back (one per kind per interval): {output}"
                );
                if let Some(m) = &self.metrics {
                    m.suppressed.get_or_create(&RuleLabels { rule: rule.into() }).inc();
                }
                return Ok(false);
            };
            let mut alert = Alert {
                time_ns: wall_now(),
                rule: rule.into(),
                priority,
                output,
                output_fields,
                source: "internal".into(),
                tags: Vec::new(),
                hostname: hostname.clone(),
            };
            crate::throttle::mark_suppressed(&mut alert, held);
            target.emit(&alert, out)?;
            return Ok(true);
        }
        Ok(false)
    }
}

/// Where `run` puts what it captures.
pub enum Output<'a> {
    /// Processed: state, then rules or event lines.
    Process(Sink<'a>),
    /// Written undecoded to a raw capture file.
    Raw(&'a mut rawfile::Writer<Box<dyn Write>>),
    /// Decoded and written as a scap file, with its own state tables.
    Scap(&'a mut crate::scap_capture::ScapCapture),
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
    /// How long they may wait once the node has been quiet.
    pub idle_poll_interval: Option<Duration>,
    /// How the probe's syscall programs are attached (`engine.ebpf.attach`).
    pub attach: lanner_capture::AttachMode,
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
    /// How repeated alerts are held back.
    pub limits: AlertLimits,
    /// The state tables' bounds.
    pub state_limits: lanner_state::table::Limits,
    /// How often the state tables are reconciled with /proc (`None`: never).
    pub reconcile_interval: Option<Duration>,
}

impl RunOptions {
    /// Just a filter: no metrics, no reloads.
    pub fn simple(filter: SyscallFilter, duration: Option<Duration>, ring_bytes: Option<u32>) -> Self {
        Self {
            filter,
            duration,
            ring_bytes,
            poll_interval: None,
            idle_poll_interval: None,
            attach: lanner_capture::AttachMode::default(),
            metrics: None,
            control: None,
            sources: None,
            wake: None,
            host_root: None,
            limits: AlertLimits::default(),
            state_limits: Default::default(),
            reconcile_interval: Some(Duration::from_secs(60)),
        }
    }
}

/// Lists /proc on a thread of its own when asked, so that the event loop never waits on it,
/// and hands the thread ids back for [`State::reconcile`].
struct Reconciler {
    ask: std::sync::mpsc::Sender<u64>,
    answers: Receiver<(u64, lanner_state::seed::Alive)>,
    interval: Duration,
    asked: Option<Instant>,
    /// The record count of the previous listing: a process must have been idle since then.
    previous: Option<u64>,
}

impl Reconciler {
    fn start(interval: Duration) -> Result<Self> {
        let (ask, asks) = std::sync::mpsc::channel::<u64>();
        let (tell, answers) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("lanner-reconcile".into())
            .spawn(move || {
                for mark in asks {
                    let alive = lanner_state::seed::alive_threads(Path::new("/proc"));
                    if tell.send((mark, alive)).is_err() {
                        return;
                    }
                }
            })
            .context("starting the /proc reconciliation thread")?;
        Ok(Reconciler { ask, answers, interval, asked: None, previous: None })
    }

    /// Applies a listing that came back, and asks for the next one when it is time.
    fn poll(&mut self, state: &mut State) {
        if let Ok((mark, alive)) = self.answers.try_recv() {
            if let Some(idle_since) = self.previous {
                let gone = state.reconcile(&alive, idle_since);
                if gone > 0 {
                    tracing::info!(
                        "{gone} processes no longer in /proc dropped from the tables (their exit was not seen)"
                    );
                }
            }
            self.previous = Some(mark);
        }
        let due = self.asked.is_none_or(|t| t.elapsed() >= self.interval);
        if due && self.ask.send(state.records()).is_ok() {
            self.asked = Some(Instant::now());
        }
    }
}

/// Runs capture until a signal or the deadline. Returns how many records were lost.
pub fn run(opts: RunOptions, output: Output<'_>, out: &mut dyn Write) -> Result<Finished> {
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone())?;
    let metrics = opts.metrics.clone();
    let (mut proc, mut raw_file, mut scap_file) = match output {
        Output::Process(sink) => {
            let mut p = Processor::new(sink, metrics.clone(), opts.limits);
            p.hold_for_containers = true;
            (Some(p), None, None)
        }
        Output::Raw(w) => (None, Some(w), None),
        Output::Scap(w) => (None, None, Some(w)),
    };
    if let (Some(root), Some(p)) = (&opts.host_root, &mut proc) {
        p.state.users = lanner_state::users::Users::under(root);
    }
    if let Some(p) = &mut proc {
        p.state.set_limits(opts.state_limits);
    }
    let seeded = proc.as_mut().map_or(0, |p| p.state.seed());
    if let Some(p) = &proc {
        let r = p.state.table.removed;
        if r.processes_not_seeded + r.fds_not_seeded > 0 {
            tracing::warn!(
                "/proc held more than the tables' bounds: {} processes and {} fds left out",
                r.processes_not_seeded,
                r.fds_not_seeded
            );
        }
    }
    let mut reconciler = match (&proc, opts.reconcile_interval) {
        (Some(_), Some(every)) => Some(Reconciler::start(every)?),
        _ => None,
    };
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
        idle_poll_interval: opts.idle_poll_interval.unwrap_or(lanner_capture::DEFAULT_IDLE_POLL_INTERVAL),
        attach: opts.attach,
        ..CaptureConfig::default()
    })
    .context("starting live capture (needs root and a kernel with BTF)")?;
    let source_wake = opts.wake.clone();
    if let Some(wake) = opts.wake {
        capture.wake_on(wake);
    }
    if let Some(m) = &metrics {
        m.loop_alive();
        m.capture_on.store(true, Ordering::Relaxed);
        publish_attach(&capture, m);
    }
    tracing::info!(
        "capturing {n_syscalls} syscalls; {seeded} processes known from /proc; stop with SIGINT or SIGTERM"
    );
    release_freed_heap();
    let started = Instant::now();
    let mut batch = Vec::with_capacity(4096);
    let mut per_cpu: Vec<u64> = Vec::new();
    let mut drops_seen = 0u64;
    let mut compat = CompatReport::default();
    let mut drops_per_cpu: Vec<u64> = Vec::new();
    let (mut raw_records, mut window_records) = (0u64, 0u64);
    let mut last_drop_check = Instant::now();
    while !stop.load(Ordering::Relaxed) && opts.duration.is_none_or(|d| started.elapsed() < d) {
        if let Some(m) = &metrics {
            m.loop_alive();
        }
        if let (Some(rx), Some(p)) = (&opts.control, &mut proc) {
            while let Ok(msg) = rx.try_recv() {
                apply_control(msg, p, &mut capture, out)?;
                if let Some(m) = &metrics {
                    publish_attach(&capture, m);
                }
            }
        }
        // After the reloads: a source opened by a reload is sent its rules first. A bounded
        // share per round, so that the ring buffer is drained between them however fast the
        // sources send (a source that outruns the rules drops, and counts, its own batches).
        if let (Some(rx), Some(p)) = (&sources, &mut proc) {
            let round = Instant::now();
            let mut taken = 0;
            let more = loop {
                if taken == SOURCE_BATCHES_PER_ROUND || round.elapsed() >= SOURCE_TIME_PER_ROUND {
                    break true;
                }
                let Ok(msg) = rx.try_recv() else { break false };
                p.process_source(msg, out)?;
                taken += 1;
            };
            // Batches left for the next round: it must not wait for syscall records first.
            if more && let Some(w) = &source_wake {
                w.store(true, Ordering::Release);
            }
        }
        let n = match (&mut proc, &mut raw_file) {
            (None, None) if let Some(w) = &mut scap_file => {
                batch.clear();
                let n = capture.next_batch(&mut batch, Some(Duration::from_millis(200)))?;
                for raw in &batch {
                    w.write(raw)?;
                }
                n
            }
            (Some(p), _) => {
                batch.clear();
                let n = capture.next_batch(&mut batch, Some(Duration::from_millis(200)))?;
                let t = Instant::now();
                for raw in &batch {
                    p.process(raw, out)?;
                }
                p.poll_containers(out, false)?;
                p.flush_deferred(out)?;
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
            let read = std::mem::take(&mut window_records);
            if let Some(p) = &mut proc {
                p.drop_alert(new_drops, read, last_drop_check, out)?;
                if p.drop_exit {
                    break;
                }
                if let Some(r) = &mut reconciler {
                    r.poll(&mut p.state);
                }
                p.report_state(out)?;
            }
        }
    }
    if let Some(p) = &mut proc {
        p.poll_containers(out, true)?;
        p.flush_deferred(out)?;
    }
    // Drops since the last check are reported too, so none pass unsaid at shutdown.
    let new_drops = report_drops(&capture, &mut drops_seen, &mut drops_per_cpu, metrics.as_deref())?;
    report_compat(&capture, &mut compat, metrics.as_deref())?;
    if let Some(p) = &mut proc
        && !p.drop_exit
    {
        p.drop_alert(new_drops, window_records, Instant::now(), out)?;
    }
    if let Some(p) = &mut proc {
        for (rule, subject, n) in p.internal.pending() {
            tracing::warn!(rule, subject, "{n} internal alerts were held back since the last one sent");
        }
    }
    out.flush()?;
    let dropped = capture.drops()?.iter().sum();
    let alerts = proc.as_ref().map_or(0, |p| p.alerts);
    let drop_exit = proc.as_ref().is_some_and(|p| p.drop_exit);
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
    Ok(Finished { dropped, outputs, drop_exit })
}

/// How a run ended.
pub struct Finished {
    /// Records the kernel dropped.
    pub dropped: u64,
    /// Capture stopped because of `syscall_event_drops.actions: [exit]`.
    pub drop_exit: bool,
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
            // Events waiting for plugin fields are evaluated by the rules they met, now, even
            // those waiting for a new container's metadata.
            p.held_for.clear();
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
            p.set_limits(d.limits);
            if let Some(fields) = d.plugin_fields.or_else(|| p.plugin_fields.clone()) {
                p.set_plugin_fields(fields);
            }
            watch_host_names(p);
            // The old rules' trees and the loader's work are free now.
            release_freed_heap();
            tracing::info!(syscalls = d.filter.syscalls.len(), "reloaded: new rules in effect");
        }
        Control::Failed(why) => {
            p.internal_alert(
                RELOAD_RULE,
                "",
                format!("Lanner internal: reload failed, the running rules stay in effect. {why}"),
                out,
            )?;
            out.flush()?;
        }
        Control::Emit(alert) => {
            if let Sink::Alerts { target, .. } = &mut p.sink {
                if let Some(m) = &p.metrics {
                    m.alerts
                        .get_or_create(&AlertLabels {
                            rule: alert.rule.clone(),
                            priority: alert.priority.as_str().into(),
                        })
                        .inc();
                }
                target.emit(&alert, out)?;
            }
        }
        Control::Internal { rule, subject, output } => {
            p.internal_alert(rule, &subject, output, out)?;
            out.flush()?;
        }
    }
    Ok(())
}

/// Replays a raw capture file through decoding, the state tables and the sink, as a live
/// run would have processed it. Prints the records per second to stderr. Returns how many
/// records could not be read (the file's end may be cut: what came before still counts), and
/// the sink, whose outputs the caller drains.
pub fn replay_raw<'a>(
    path: &Path,
    sink: Sink<'a>,
    plugin_fields: Option<Arc<lanner_plugin_runtime::FieldMap>>,
    out: &mut dyn Write,
    metrics: Option<Arc<Metrics>>,
    limits: AlertLimits,
) -> Result<(u64, Sink<'a>)> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = rawfile::Reader::new(std::io::BufReader::with_capacity(1 << 20, file))
        .with_context(|| format!("reading {}", path.display()))?;
    let mut proc = Processor::new(sink, metrics, limits);
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
    proc.flush_deferred(out)?;
    out.flush()?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "lanner: replayed {} records in {secs:.3} s ({:.0} records/s): {} alerts",
        proc.records,
        proc.records as f64 / secs.max(1e-9),
        proc.alerts
    );
    Ok((bad, proc.sink))
}

/// Evaluates a `.scap` capture (Falco, sysdig) as [`replay_raw`] does a raw one: its events
/// become records for the same state and rules, the state seeded from the file's process and
/// fd tables. Events before a truncated or corrupt block are evaluated; the error then names
/// the block and its offset. Returns how many errors there were, and the sink.
pub fn replay_scap<'a>(
    path: &Path,
    sink: Sink<'a>,
    plugin_fields: Option<Arc<lanner_plugin_runtime::FieldMap>>,
    out: &mut dyn Write,
    metrics: Option<Arc<Metrics>>,
    limits: AlertLimits,
) -> Result<(u64, Sink<'a>)> {
    use crate::scap_source::{Item, ScapSource};
    let mut source = ScapSource::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut proc = Processor::new(sink, metrics, limits);
    if let Some(fields) = plugin_fields {
        proc.set_plugin_fields(fields);
    }
    let seeded = crate::scap_source::seed(&mut proc.state, source.tables());
    let started = Instant::now();
    let mut bad = 0;
    loop {
        match source.next_item() {
            Ok(Some(Item::Record(raw))) => proc.process(&raw, out)?,
            Ok(Some(Item::Cwd { pid, cwd })) => proc.state.table.entry(pid).cwd = cwd,
            Ok(None) => break,
            Err(e) => {
                eprintln!("lanner: {}: {e}", path.display());
                bad += 1;
                break;
            }
        }
    }
    proc.flush_deferred(out)?;
    proc.poll_containers(out, true)?;
    proc.flush_deferred(out)?;
    out.flush()?;
    if let Some(w) = crate::scap_source::skipped_warning(path, &source.skipped) {
        tracing::warn!("{w}");
    }
    if let Some(n) = crate::scap_source::unmapped_note(path, &source.skipped) {
        eprintln!("lanner: {n}");
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "lanner: replayed {} scap events ({} records, {seeded} processes from the file's tables) in {secs:.3} s ({:.0} events/s): {} alerts",
        source.events,
        proc.records,
        source.events as f64 / secs.max(1e-9),
        proc.alerts
    );
    Ok((bad, proc.sink))
}

/// Puts how the probe is attached, and the watched syscalls it does not capture, in the
/// metrics (after start and after every filter change).
fn publish_attach(capture: &Capture, m: &Metrics) {
    let labels =
        AttachLabels { mode: capture.attach_mode().to_string(), compat: capture.compat_path().into() };
    m.capture_attach.clear();
    m.capture_attach.get_or_create(&labels).set(1);
    m.capture_uncaptured.clear();
    for name in capture.unimplemented_syscalls() {
        m.capture_uncaptured
            .get_or_create(&UncapturedLabels { syscall: name.into(), reason: "not_in_kernel".into() })
            .set(1);
    }
    m.capture_syscall_tracepoints.set(capture.attached_tracepoints() as i64);
    m.capture_raw_tracepoints.set(i64::from(capture.raw_attached()));
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
    // Said by `syscall_event_drops.actions` (log), as often as its token bucket allows.
    tracing::debug!("{lost} syscall records dropped (ring buffer full)");
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
    /// Containers forgotten when the set started over.
    evicted: u64,
    /// Container events raised before their metadata came, to make room.
    pending_evicted: u64,
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
/// Source plugins' batches (each of up to `sources::SOURCE_BATCH` events) the live loop runs
/// through the rules per round, at most, and the time after which it takes no more: the rest
/// wait in the bounded queue while the ring buffer is drained.
const SOURCE_BATCHES_PER_ROUND: usize = 8;
const SOURCE_TIME_PER_ROUND: Duration = Duration::from_millis(20);

const CONTAINER_EVENT_WAIT: Duration = Duration::from_secs(2);

/// Containers remembered; past it the set starts over (a container seen again then gets a
/// second event).
const MAX_CONTAINERS_SEEN: usize = 65_536;

/// Container events waiting for metadata at most; past it the oldest goes without.
const MAX_PENDING_CONTAINERS: usize = 1024;

impl NewContainers {
    fn new(reg: &FieldRegistry) -> Self {
        NewContainers {
            seen: Default::default(),
            evicted: 0,
            pending_evicted: 0,
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
            self.evicted += self.seen.len() as u64;
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

/// Start-up parses the kernel's BTF (several MiB, for the probe's typed tracepoints and the
/// 32-bit dispatch check), the rules' syntax trees and /proc; all of it is freed before
/// capture, but glibc keeps freed heap mapped. Handing it back keeps the daemon's resident
/// memory to what it uses: with the upstream rules, 60 → 42 MiB at start (raw attach) and
/// 66 → 43 MiB (per syscall) on this project's 6.18 test kernel. A rules reload frees the old
/// rules the same way, and is followed by the same call.
fn release_freed_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free heap pages to the system.
    unsafe {
        libc::malloc_trim(0);
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
