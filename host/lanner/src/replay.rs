//! Recorded sessions through the rules: raw captures (decoded and tracked as live capture
//! does) and event files, with the same deferred plugin extraction as live.

use crate::live;
use anyhow::{Context, Result};
use lanner_event::Event;
use lanner_plugin_runtime::{EventBatch, FieldMap, RawEvent};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::ExitCode;

/// Whether `path` is a raw capture file (by its magic), rather than an event file.
fn is_raw_capture(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut magic = [0u8; 8];
    let n = f.read(&mut magic).with_context(|| format!("reading {}", path.display()))?;
    Ok(lanner_capture::rawfile::is_raw(&magic[..n]))
}

/// Where a replay's alerts go, counted and held back by the deduplication as a live run's
/// are.
pub(crate) struct Delivery {
    pub target: live::AlertTarget,
    dedup: Option<crate::throttle::RuleDedup>,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    /// The first failure to write (standard output closed): the replay stops there.
    failed: Option<std::io::Error>,
}

impl Delivery {
    pub(crate) fn new(
        target: live::AlertTarget,
        limits: crate::throttle::AlertLimits,
        metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    ) -> Self {
        Delivery { target, dedup: limits.dedup.map(crate::throttle::RuleDedup::new), metrics, failed: None }
    }

    /// A rule's alert.
    pub(crate) fn alert(&mut self, mut alert: lanner_event::Alert, out: &mut dyn Write) {
        if let Some(m) = &self.metrics {
            m.alerts
                .get_or_create(&crate::metrics::AlertLabels {
                    rule: alert.rule.clone(),
                    priority: alert.priority.as_str().into(),
                })
                .inc();
        }
        if let Some(dd) = &mut self.dedup {
            match dd.check(&alert) {
                crate::throttle::Verdict::Hold => {
                    if let Some(m) = &self.metrics {
                        m.suppressed.get_or_create(&crate::metrics::RuleLabels { rule: alert.rule }).inc();
                    }
                    return;
                }
                crate::throttle::Verdict::Deliver(n) => crate::throttle::mark_suppressed(&mut alert, n),
            }
        }
        self.emit(&alert, out);
    }

    /// One of Lanner's own alerts (CRITICAL, source `internal`), never held back: a replay
    /// raises few.
    pub(crate) fn internal(&mut self, rule: &str, output: String, hostname: &str, out: &mut dyn Write) {
        let alert = lanner_event::Alert {
            time_ns: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            rule: rule.into(),
            priority: lanner_event::Priority::Critical,
            output,
            output_fields: Vec::new(),
            source: "internal".into(),
            tags: Vec::new(),
            hostname: hostname.to_string(),
        };
        if let Some(m) = &self.metrics {
            m.alerts
                .get_or_create(&crate::metrics::AlertLabels {
                    rule: alert.rule.clone(),
                    priority: alert.priority.as_str().into(),
                })
                .inc();
        }
        self.emit(&alert, out);
    }

    fn emit(&mut self, alert: &lanner_event::Alert, out: &mut dyn Write) {
        if self.failed.is_none()
            && let Err(e) = self.target.emit(alert, out)
        {
            self.failed = Some(e);
        }
    }

    /// Whether writing failed (the replay stops).
    pub(crate) fn stopped(&self) -> bool {
        self.failed.is_some()
    }

    /// The failure to write, unless it was a closed pipe (`| head`), which ends a replay
    /// quietly.
    pub(crate) fn finish(&mut self) -> Result<()> {
        match self.failed.take() {
            Some(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// Evaluates a recorded session: a raw capture file (through decoding and state, as live
/// capture) or an event file (JSON lines; `-` for standard input). Alerts go to
/// `delivery`'s target (written to `out`, or handed to the outputs).
pub(crate) fn replay_file(
    events: &Path,
    d: &live::Detection,
    delivery: &mut Delivery,
    out: &mut dyn Write,
) -> Result<ExitCode> {
    let metrics = delivery.metrics.clone();
    let scap = events != Path::new("-")
        && lanner_scap::is_scap_file(events).with_context(|| format!("reading {}", events.display()))?;
    if scap || (events != Path::new("-") && is_raw_capture(events)?) {
        // The raw path applies the deduplication itself, as live capture does.
        let placeholder = live::AlertTarget::Write(d.format);
        let sink = live::Sink::Alerts {
            ruleset: d.ruleset.clone(),
            target: std::mem::replace(&mut delivery.target, placeholder),
            hostname: crate::node::hostname(),
        };
        let replayed = if scap {
            live::replay_scap(events, sink, d.plugin_fields.clone(), out, metrics, d.limits)
        } else {
            live::replay_raw(events, sink, d.plugin_fields.clone(), out, metrics, d.limits)
        };
        let (bad, sink) = replayed?;
        if let live::Sink::Alerts { target, .. } = sink {
            delivery.target = target;
        }
        return Ok(if bad > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS });
    }
    let input: Box<dyn BufRead> = if events == Path::new("-") {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(events)
            .with_context(|| format!("opening event file {}", events.display()))?;
        Box::new(BufReader::new(f))
    };
    let host = crate::node::hostname();
    let reader = lanner_replay::Reader::new(input, &d.registry);
    let mut bad = 0usize;
    let mut deferred = d
        .plugin_fields
        .clone()
        .and_then(|map| crate::deferred::PluginSyscalls::new(&d.ruleset, &d.registry, map));
    let shared = std::cell::RefCell::new((delivery, out));
    let mut on_alert = |alert: lanner_event::Alert| {
        let (delivery, out) = &mut *shared.borrow_mut();
        delivery.alert(alert, &mut **out);
    };
    // Payload events (`data`) go to the extractors in batches, as a source plugin's would.
    let empty_map;
    let map = match &d.plugin_fields {
        Some(m) => m.as_ref(),
        None => {
            empty_map = lanner_plugin_runtime::FieldMap::register(&[], &mut d.registry.clone())?;
            &empty_map
        }
    };
    let mut payloads: Vec<RawEvent> = Vec::new();
    for ev in reader {
        let mut ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                // A bad line is reported and skipped: one typo must not hide later events.
                eprintln!("lanner: {}: {e}", events.display());
                bad += 1;
                continue;
            }
        };
        if let Some(m) = &metrics {
            m.processed
                .get_or_create(&crate::metrics::SourceLabels { source: ev.source().to_string() })
                .inc();
        }
        if let Some(data) = ev.take_payload() {
            // Alerts keep the order of their events: the syscall events deferred before this
            // one are decided first.
            if let Some(ps) = &mut deferred {
                bad += report_plugin_failures(ps.flush(&d.ruleset, &host, &mut on_alert));
            }
            payloads.push(RawEvent {
                source: ev.source().to_string(),
                timestamp_ns: ev.timestamp_ns(),
                data,
            });
            if payloads.len() >= crate::sources::SOURCE_BATCH as usize {
                bad += evaluate_payloads(map, &mut payloads, &d.ruleset, &host, &mut on_alert);
            }
            continue;
        }
        bad += evaluate_payloads(map, &mut payloads, &d.ruleset, &host, &mut on_alert);
        match &mut deferred {
            Some(ps) => {
                if ps.evaluate(&d.ruleset, &ev, &host, &mut on_alert) {
                    bad += report_plugin_failures(ps.flush(&d.ruleset, &host, &mut on_alert));
                }
            }
            None => d.ruleset.evaluate(&ev, |rule| on_alert(rule.alert(&ev, &host))),
        }
        if shared.borrow().0.stopped() {
            break;
        }
    }
    bad += evaluate_payloads(map, &mut payloads, &d.ruleset, &host, &mut on_alert);
    if let Some(ps) = &mut deferred {
        bad += report_plugin_failures(ps.flush(&d.ruleset, &host, &mut on_alert));
    }
    let (delivery, out) = shared.into_inner();
    if delivery.stopped() {
        delivery.finish()?;
        return Ok(ExitCode::SUCCESS);
    }
    out.flush()?;
    Ok(if bad > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Runs what a source plugin sent through the rules of its source, in a replay (the daemon
/// opens the configured source plugins in a replay as in a live run). A source that gave up
/// raises Lanner's plugin alert, as live. Whether a plugin failed (the source, or an
/// extractor on its events).
pub(crate) fn source_message(
    msg: crate::sources::SourceMsg,
    d: &live::Detection,
    delivery: &mut Delivery,
    host: &str,
    out: &mut dyn Write,
) -> bool {
    use crate::sources::SourceMsg;
    let events = match msg {
        SourceMsg::Events(events) => events,
        SourceMsg::Ended { failure: None, .. } => return false,
        SourceMsg::Ended { plugin, failure: Some(why) } => {
            let output = format!("Lanner internal: source plugin {plugin} stopped: {why}");
            delivery.internal(crate::internal::PLUGIN_DISABLED_RULE, output, host, out);
            return true;
        }
    };
    let Some(map) = &d.plugin_fields else { return false };
    let source = events.first().map(|e| e.source.clone()).unwrap_or_default();
    let batch = lanner_plugin_runtime::EventBatch::new(map, events);
    let mut n = 0;
    for ev in batch.iter() {
        n += 1;
        d.ruleset.evaluate(&ev, |rule| delivery.alert(rule.alert(&ev, host), out));
    }
    if let Some(m) = &delivery.metrics {
        m.processed.get_or_create(&crate::metrics::SourceLabels { source }).inc_by(n);
    }
    let errors = batch.take_errors();
    // The runtime logged its own failures once each.
    for e in errors.iter().filter(|e| !e.logged()) {
        tracing::warn!("{e}");
    }
    !errors.is_empty()
}

/// Runs the payload events gathered so far through the rules, their plugin fields extracted
/// with one call per plugin, exactly as a source plugin's batch. Returns how many plugin
/// errors were met: as with `replay --open`, they make the exit status 1.
fn evaluate_payloads(
    map: &FieldMap,
    payloads: &mut Vec<RawEvent>,
    ruleset: &lanner_engine::Ruleset,
    host: &str,
    on_alert: &mut dyn FnMut(lanner_event::Alert),
) -> usize {
    if payloads.is_empty() {
        return 0;
    }
    let batch = EventBatch::new(map, std::mem::take(payloads));
    for ev in batch.iter() {
        ruleset.evaluate(&ev, |rule| on_alert(rule.alert(&ev, host)));
    }
    let errors = batch.take_errors();
    // The runtime logged its failures once each.
    for e in errors.iter().filter(|e| !e.logged()) {
        eprintln!("lanner: payload events: {e}");
    }
    errors.len()
}

/// The event sources an event file's rules may be written for, beyond the loaded source
/// plugins': the sources its payload events name (read ahead from a file; standard input
/// cannot be read twice) and those the extractors say they read. Without them a rule for a
/// plugin source whose plugin is not loaded would be skipped as of an unknown source, and an
/// extractor could not be tried on recorded payloads.
pub(crate) fn add_event_sources(
    events: Option<&Path>,
    plugins: &lanner_plugin_runtime::PluginSet,
    cfg: &mut lanner_engine::EngineConfig,
) -> Result<()> {
    let mut add = |s: &str| {
        if !cfg.sources.iter().any(|k| k == s) {
            cfg.sources.push(s.to_string());
        }
    };
    for p in plugins.plugins() {
        if p.kind() == lanner_plugin_runtime::PluginKind::Sink {
            continue;
        }
        p.event_sources().iter().for_each(|s| add(s));
    }
    let Some(path) = events.filter(|p| *p != Path::new("-")) else { return Ok(()) };
    if is_raw_capture(path)? || lanner_scap::is_scap_file(path).unwrap_or(false) {
        return Ok(());
    }
    let f = std::fs::File::open(path).with_context(|| format!("opening event file {}", path.display()))?;
    for line in BufReader::new(f).lines() {
        let line = line.with_context(|| format!("reading event file {}", path.display()))?;
        // Most lines are syscall events without a source: they are not parsed twice.
        if !line.contains("\"source\"") {
            continue;
        }
        // A bad line is reported when the events are read.
        if let Ok(serde_json::Value::Object(o)) = serde_json::from_str::<serde_json::Value>(&line)
            && let Some(serde_json::Value::String(s)) = o.get("source")
        {
            add(s);
        }
    }
    Ok(())
}

/// Says the failures the runtime has not logged itself; returns how many plugin failures there
/// were, which make a replay's exit status 1.
pub(crate) fn report_plugin_failures(errors: Vec<lanner_plugin_runtime::PluginError>) -> usize {
    let n = errors.len();
    // The runtime logged its failures once each.
    for e in errors.into_iter().filter(|e| !e.logged()) {
        eprintln!("lanner: syscall rules: {e}");
    }
    n
}
