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

/// Evaluates a recorded session: a raw capture file (through decoding and state, as live
/// capture) or an event file (JSON lines; `-` for standard input).
pub(crate) fn replay_file(
    events: &Path,
    d: &live::Detection,
    out: &mut dyn Write,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
) -> Result<ExitCode> {
    if events != Path::new("-") && is_raw_capture(events)? {
        let sink = live::Sink::Alerts {
            ruleset: d.ruleset.clone(),
            target: live::AlertTarget::Write(d.format),
            hostname: crate::node::hostname(),
        };
        let bad = live::replay_raw(events, sink, d.plugin_fields.clone(), out, metrics.clone(), d.limits)?;
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
    let write_err: std::cell::RefCell<Option<std::io::Error>> = std::cell::RefCell::new(None);
    let mut dedup = d.limits.dedup.map(crate::throttle::RuleDedup::new);
    let mut on_alert = |mut alert: lanner_event::Alert| {
        if let Some(m) = &metrics {
            m.alerts
                .get_or_create(&crate::metrics::AlertLabels {
                    rule: alert.rule.clone(),
                    priority: alert.priority.as_str().into(),
                })
                .inc();
        }
        if let Some(dd) = &mut dedup {
            match dd.check(&alert) {
                crate::throttle::Verdict::Hold => {
                    if let Some(m) = &metrics {
                        m.suppressed.get_or_create(&crate::metrics::RuleLabels { rule: alert.rule }).inc();
                    }
                    return;
                }
                crate::throttle::Verdict::Deliver(n) => crate::throttle::mark_suppressed(&mut alert, n),
            }
        }
        if write_err.borrow().is_none()
            && let Err(e) = writeln!(out, "{}", d.format.line(&alert))
        {
            *write_err.borrow_mut() = Some(e);
        }
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
                report_plugin_failures(ps.flush(&d.ruleset, &host, &mut on_alert));
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
                    report_plugin_failures(ps.flush(&d.ruleset, &host, &mut on_alert));
                }
            }
            None => d.ruleset.evaluate(&ev, |rule| on_alert(rule.alert(&ev, &host))),
        }
        if write_err.borrow().is_some() {
            break;
        }
    }
    bad += evaluate_payloads(map, &mut payloads, &d.ruleset, &host, &mut on_alert);
    if let Some(ps) = &mut deferred {
        report_plugin_failures(ps.flush(&d.ruleset, &host, &mut on_alert));
    }
    if let Some(e) = write_err.into_inner() {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(e.into());
    }
    out.flush()?;
    Ok(if bad > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
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
    if is_raw_capture(path)? {
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

pub(crate) fn report_plugin_failures(errors: Vec<lanner_plugin_runtime::PluginError>) {
    // The runtime logged its failures once each.
    for e in errors.into_iter().filter(|e| !e.logged()) {
        eprintln!("lanner: syscall rules: {e}");
    }
}
